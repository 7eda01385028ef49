"""What a plugin logs through its own package's logger reaches the run's log.txt, and only while the run goes."""

from __future__ import annotations

import logging

from imagelab import lab
from imagelab.cli import main
from tests.broken_plugins.tiny import Tiny
from tests.test_broken_plugins import OVERRIDES

plugin_log = logging.getLogger(__name__)  # "tests.test_plugin_logging": the package "tests" is the plugin's


class Chatty(Tiny):
    """The tiny generator, saying how many images it learnt (at INFO) through its module's logger."""

    def fit(self, pool, *, seed, warm_start=None):
        plugin_log.info(f"chatty learnt {len(pool)} images")
        return super().fit(pool, seed=seed, warm_start=warm_start)


def test_a_plugins_own_log_lines_go_to_log_txt(tmp_path, monkeypatch):
    monkeypatch.setattr(lab, "build_report", lambda run_dir: 0.0)
    run = tmp_path / "run"
    assert main(["run", "--out", str(run), *OVERRIDES, "generator.name=tests.test_plugin_logging:Chatty"]) == 0
    assert "INFO chatty learnt 85 images" in (run / "log.txt").read_text()
    package = logging.getLogger("tests")
    assert package.level == logging.NOTSET and not package.handlers  # put back as it was
