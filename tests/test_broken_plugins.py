"""Broken plugin generators, installed as a package and run through `imagelab run`.

Each mistake of tests/broken_plugins/ gets its promised exit status and one-line message;
log.txt holds the traceback; nothing the broken code made is kept or marked complete; and
once the plugin is fixed (its entry point pointed at the correct class, as an upgrade
would) the same command resumes the same folder to the metrics.csv of a clean run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from imagelab import lab
from imagelab.cli import main
from imagelab.errors import ConfigError
from imagelab.generators import GENERATORS
from imagelab.registry import DISABLE_AUTOLOAD_ENV
from imagelab.runtime.tracebacks import DEBUG_ENV
from tests.broken_plugins.tiny import Tiny
from tests.test_plugins import install_metadata

PLUGINS = Path(__file__).parent / "broken_plugins"
DISTRIBUTION = "imagelab-broken-plugins"
FIXED = "tests.broken_plugins.tiny:Tiny"
ENTRY_POINTS = {
    "tiny": FIXED,
    "wrong-dtype": "tests.broken_plugins.faults:WrongDtype",
    "wrong-shape": "tests.broken_plugins.faults:WrongShape",
    "wrong-count": "tests.broken_plugins.faults:WrongCount",
    "nan-losses": "tests.broken_plugins.faults:NanLosses",
    "nan-weights": "tests.broken_plugins.faults:NanWeights",
    "all-black": "tests.broken_plugins.faults:AllBlack",
    "labels-out-of-range": "tests.broken_plugins.faults:LabelsOutOfRange",
    "raises-in-fit": "tests.broken_plugins.faults:RaisesInFit",
    "import-error": "tests.broken_plugins.import_error:Scaled",
    "not-a-class": "tests.broken_plugins.not_a_class:make_generator",
}
# The tiniest lab: 3 breeds at 16 px (an 85-image pool, so 85 samples), one generation, the session's judge.
OVERRIDES = [
    "data.resolution=16",
    "data.breeds=[golden_retriever,dachshund,petit_basset_griffon_vendeen]",
    "data.imbalance.max_count=60",
    "data.imbalance.ratio=10",
    "data.judge_train_per_breed=40",
    "data.eval_per_breed=20",
    "judge.epochs=1",
    "judge.min_steps=0",
    "loop.generations=1",
    "eval.grid_samples=16",
    "device=cpu",
]
STOPPED = "; earlier generations are intact in the run folder"


def raises_here(module: str, name: str) -> str:
    """``file:line`` of the line marked ``# raises here: <name>`` in tests/broken_plugins/<module>.py."""
    path = PLUGINS / f"{module}.py"
    lines = path.read_text().splitlines()
    return f"{path}:{next(number for number, line in enumerate(lines, 1) if line.endswith(f'# raises here: {name}'))}"


IMPORT_ERROR_AT = raises_here("import_error", "import-error")

class PluginSite:
    """The package 'installed' on a site directory, and the generator registry made to look again."""

    def __init__(self, site: Path) -> None:
        self.site = site
        self.builtins = dict(GENERATORS._entries)

    def install(self, **changed: str) -> None:
        """(Re)install the distribution, entry points changed as given; the registry forgets what it loaded."""
        for old in self.site.glob("*.dist-info"):
            shutil.rmtree(old)
        install_metadata(self.site, DISTRIBUTION, {**ENTRY_POINTS, **changed})
        GENERATORS._entries = dict(self.builtins)
        GENERATORS._plugins_loaded = False
        GENERATORS.broken, GENERATORS.load_errors = {}, {}

    def fix(self, name: str) -> None:
        """What upgrading the plugin does: ``name`` now names the correct generator."""
        self.install(**{name: FIXED})


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        site = tmp_path_factory.mktemp("site")
        patch.syspath_prepend(str(site))
        patch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
        patch.delenv(DEBUG_ENV, raising=False)
        patch.setattr(lab, "build_report", lambda run_dir: 0.0)  # the report is not what these tests are about
        for attribute in ("_entries", "_plugins_loaded", "broken", "load_errors"):
            patch.setattr(GENERATORS, attribute, getattr(GENERATORS, attribute))  # restored afterwards
        yield PluginSite(site)


@pytest.fixture
def plugins(plugin_site) -> PluginSite:
    plugin_site.install()
    return plugin_site


@pytest.fixture(scope="module")
def clean_metrics(plugin_site, tmp_path_factory) -> bytes:
    """metrics.csv of an uninterrupted run of the correct plugin."""
    plugin_site.install()
    run = tmp_path_factory.mktemp("clean") / "run"
    assert main(["run", "--out", str(run), *OVERRIDES, "generator.name=tiny"]) == 0
    return (run / "metrics.csv").read_bytes()


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


# --- plugins that cannot be used at all: exit 2 before any folder is written ------------------------


def test_an_import_error_and_a_function_are_listed_as_broken_with_where_and_why(plugins, capsys):
    assert main(["list", "generators"]) == 0
    out, err = capsys.readouterr()
    names = out.split()
    assert {"tiny", "wrong-count", "vae"} <= set(names)
    assert "import-error" not in names and "not-a-class" not in names
    assert (f"imagelab: warning: generator plugin 'import-error' failed to load: "
            f"tests.broken_plugins.import_error:Scaled: KeyError: 'b' (raised at {IMPORT_ERROR_AT}; "
            f"--debug (or IMAGELAB_DEBUG=1) prints the traceback)") in err.splitlines()
    assert ("imagelab: warning: generator plugin 'not-a-class' failed to load: "
            "tests.broken_plugins.not_a_class:make_generator: names a function, not a generator class "
            "(a subclass of imagelab.plugin.Generator)") in err.splitlines()
    assert "Traceback" not in err


@pytest.mark.parametrize("how", [["--debug", "list", "generators"], ["list", "generators", "--debug"], "env"])
def test_debug_prints_the_traceback_of_an_import_error(plugins, capsys, monkeypatch, how):
    if how == "env":
        monkeypatch.setenv(DEBUG_ENV, "1")
        how = ["list", "generators"]
    assert main(how) == 0
    err = capsys.readouterr().err
    path, line = IMPORT_ERROR_AT.rsplit(":", 1)
    assert "Traceback (most recent call last)" in err and f'File "{path}", line {line}' in err
    assert "KeyError: 'b'" in err


@pytest.mark.parametrize("name, why", [
    ("import-error", "KeyError: 'b' (raised at {import_error}; --debug (or IMAGELAB_DEBUG=1) prints the traceback)"),
    ("not-a-class", "names a function, not a generator class (a subclass of imagelab.plugin.Generator)"),
])
def test_running_an_unusable_plugin_is_a_user_error_naming_it(plugins, tmp_path, capsys, name, why):
    run = tmp_path / "run"
    assert main(["run", "--out", str(run), *OVERRIDES, f"generator.name={name}"]) == 2
    err = capsys.readouterr().err
    target = ENTRY_POINTS[name]
    assert err.strip() == (f"imagelab: error: generator.name: generator plugin '{name}' failed to load: {target}: "
                           + why.format(import_error=IMPORT_ERROR_AT))
    assert not run.exists()


def test_a_module_path_to_a_function_is_a_user_error(plugins, tmp_path, capsys):
    path = ENTRY_POINTS["not-a-class"]
    assert main(["run", "--out", str(tmp_path / "run"), *OVERRIDES, f"generator.name={path}"]) == 2
    assert capsys.readouterr().err.strip() == (f"imagelab: error: generator.name: generator '{path}': names a "
                                               "function, not a generator class (a subclass of "
                                               "imagelab.plugin.Generator)")


def test_with_plugins_switched_off_an_unknown_name_says_so(plugins, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    assert main(["run", "--out", str(tmp_path / "run"), *OVERRIDES, "generator.name=tiny"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("imagelab: error: generator.name: unknown generator 'tiny'; available: ddpm, ")
    assert err.endswith("; plugins are switched off (IMAGELAB_DISABLE_PLUGIN_AUTOLOAD=1): unset it to use an "
                        "installed plugin, or name the class as package.module:Class")


# --- plugins that run but return what the loop cannot use: exit 1, nothing kept, resumable ----------

FAULTS = [
    ("wrong-dtype", "sample", "raised ValueError: images must be uint8 (N, 3, H, W), got torch.float32 "
                              "(85, 3, 16, 16) (at {faults})"),
    ("wrong-shape", "sample", "expected images of shape (N, 3, 16, 16) (data.resolution=16), got (85, 3, 8, 8)"),
    ("wrong-count", "sample", "expected 85 images, got 42"),
    ("nan-losses", "fit", "expected finite losses in its FitReport, got nan at loss 1 of 1 (1 not finite); "
                          "pass each loss through check_finite to stop at the step where it happens"),
    ("nan-weights", "fit", "expected finite weights, got 1 of 1 values of state tensor 'gain' NaN or infinite; "
                           "nothing was saved"),
    ("all-black", "sample", "expected images that vary, got all 85 samples one flat colour (RGB (0, 0, 0)); "
                            "NaN or dead weights sample like this"),
    ("labels-out-of-range", "sample", "expected labels in [0, 3) or UNLABELED (-1), got "),
    ("raises-in-fit", "fit", "raised ZeroDivisionError: division by zero (at {faults})"),
]


@pytest.mark.parametrize("name, stage, detail", FAULTS, ids=[fault[0] for fault in FAULTS])
def test_a_bad_generator_stops_the_stage_and_the_fixed_plugin_resumes_it(plugins, clean_metrics, tmp_path, capsys,
                                                                          name, stage, detail):
    plugins.install()
    run = tmp_path / "run"
    command = ["run", "--out", str(run), *OVERRIDES, f"generator.name={name}"]
    assert main(command) == 1
    err = capsys.readouterr().err
    line = last_line(err)
    where = f"imagelab: stopped: generator '{name}' (package {DISTRIBUTION} 0.1.0), generation 1, stage {stage}: "
    raised = "{faults}" in detail  # the plugin raised, rather than returned a bad result
    if raised:
        detail = detail.format(faults=raises_here("faults", name))
    assert line.startswith(where + detail) and line.endswith(STOPPED)
    assert "Traceback" not in err  # the terminal gets the line, log.txt the traceback

    log = (run / "log.txt").read_text()
    assert "Traceback (most recent call last)" in log and line.removeprefix("imagelab: stopped: ")[:80] in log
    if raised:  # the plugin's own frame is in the log
        path, number = raises_here("faults", name).rsplit(":", 1)
        assert f'File "{path}", line {number}' in log
    manifest = json.loads((run / "manifest.json").read_text())
    stages = manifest["generations"].get("1", {}).get("stages", {})
    assert manifest["status"].startswith("failed") and stage not in stages and "sample" not in stages
    generation = run / "gen_001"
    assert not (generation / "samples.safetensors").exists()
    assert (generation / "generator").is_dir() == (stage == "sample")  # a bad fit saved nothing
    assert [row.split(",")[0] for row in (run / "metrics.csv").read_text().splitlines()] == ["generation", "0"]

    plugins.fix(name)
    assert main(command) == 0
    assert "resuming run in" in capsys.readouterr().err
    assert (run / "metrics.csv").read_bytes() == clean_metrics



@pytest.mark.parametrize("raised, code, recorded", [
    (KeyboardInterrupt(), 130, "ERROR interrupted\n"),
    (ConfigError("generator.depth", "must be at most 4, got 9"), 2,
     "ERROR stopped by a user error: generator.depth: must be at most 4, got 9\n"),
])
def test_every_stop_is_recorded_in_the_log_with_its_traceback(plugins, tmp_path, monkeypatch, capsys,
                                                              raised, code, recorded):
    def fit(*args, **kwargs):
        raise raised

    monkeypatch.setattr(Tiny, "fit", fit)
    run = tmp_path / "run"
    assert main(["run", "--out", str(run), *OVERRIDES, "generator.name=tiny"]) == code
    assert "Traceback" not in capsys.readouterr().err
    log = (run / "log.txt").read_text()
    assert recorded in log and "Traceback (most recent call last)" in log.split(recorded)[1]
    assert f'File "{__file__}", line' in log  # down to the frame that raised
