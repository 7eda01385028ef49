"""A run records which distribution and version made it; a resume with another plugin version is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from imagelab.cli import main
from imagelab.errors import RunFolderError
from imagelab.generators import GENERATORS
from imagelab.registry import DISABLE_AUTOLOAD_ENV
from imagelab.runs.folder import RunFolder
from imagelab.runtime.code_versions import CodeSource, code_changes, code_source, installed_version
from tests.test_plugins import EXAMPLE_PATH, EXAMPLE_SRC, install_metadata

DISTRIBUTION = "imagelab-example-generator"
METADATA = "imagelab_example_generator-0.1.0.dist-info/METADATA"


@pytest.fixture
def versioned_plugin(tmp_path, monkeypatch) -> Path:
    """The example generator 'installed' as version 0.1.0 of its distribution, with its entry point."""
    site = tmp_path / "site"
    install_metadata(site, DISTRIBUTION, {"pixel-gaussian": EXAMPLE_PATH})
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(EXAMPLE_SRC))
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    monkeypatch.setattr(GENERATORS, "_entries", dict(GENERATORS._entries))
    monkeypatch.setattr(GENERATORS, "_plugins_loaded", False)
    monkeypatch.setattr(GENERATORS, "broken", {})
    return site


def set_version(site: Path, version: str) -> None:
    """What upgrading the plugin leaves behind: the same distribution, another version in its metadata."""
    (site / METADATA).write_text(f"Metadata-Version: 2.1\nName: {DISTRIBUTION}\nVersion: {version}\n")


def plugin_run(tiny_overrides: list[str], out: Path, *extra: str) -> int:
    overrides = [o for o in tiny_overrides if not o.startswith(("generator.", "loop.generations"))]
    return main(["run", "--out", str(out), *overrides, "generator.name=pixel-gaussian", "loop.generations=1", *extra])


def test_a_plugin_upgrade_is_refused_on_resume_unless_allowed_and_then_recorded(versioned_plugin, tmp_path,
                                                                                tiny_overrides, capsys):
    out = tmp_path / "run"
    assert plugin_run(tiny_overrides, out) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    code = {entry["role"]: entry for entry in manifest["code"]}
    assert code["generator"] == {"role": "generator", "name": "pixel-gaussian", "module": "imagelab_example_generator",
                                 "distribution": DISTRIBUTION, "version": "0.1.0"}
    assert code["regime"]["distribution"] == "imagelab" and code["regime"]["version"] == installed_version("imagelab")
    assert {"filter", "dataset"} <= set(code) and "code_changes" not in manifest

    set_version(versioned_plugin, "0.2.0")
    before = (out / "manifest.json").read_bytes()
    capsys.readouterr()
    assert plugin_run(tiny_overrides, out) == 2
    error = capsys.readouterr().err
    assert f"was made with {DISTRIBUTION} 0.1.0 (generator pixel-gaussian), and 0.2.0 is installed now" in error
    assert f"pip install '{DISTRIBUTION}==0.1.0'" in error and "--allow-code-change" in error
    assert "Traceback" not in error
    assert (out / "manifest.json").read_bytes() == before  # refused: nothing written

    assert plugin_run(tiny_overrides, out, "--allow-code-change") == 0
    manifest = json.loads((out / "manifest.json").read_text())
    (change,) = manifest["code_changes"]
    assert change.pop("at") and change == {"distribution": DISTRIBUTION, "recorded": "0.1.0", "installed": "0.2.0",
                                           "provides": ["generator pixel-gaussian"]}
    assert {entry["role"]: entry for entry in manifest["code"]}["generator"]["version"] == "0.2.0"
    assert f"code changed since this run was made: {DISTRIBUTION} 0.1.0 -> 0.2.0" in (out / "log.txt").read_text()
    # The change is accepted once: the folder now records 0.2.0 and resumes without the flag.
    assert plugin_run(tiny_overrides, out) == 0
    assert len(json.loads((out / "manifest.json").read_text())["code_changes"]) == 1


def test_a_module_path_is_credited_to_the_distribution_that_installed_its_package(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE_SRC))
    assert code_source("generator", EXAMPLE_PATH, GENERATORS).distribution is None  # on sys.path, installed by none
    info = tmp_path / "example_dist-3.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: example-dist\nVersion: 3.1\n")
    (info / "top_level.txt").write_text("imagelab_example_generator\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    source = code_source("generator", EXAMPLE_PATH, GENERATORS)
    assert (source.module, source.distribution, source.version) == ("imagelab_example_generator", "example-dist", "3.1")
    built_in = code_source("generator", "vae", GENERATORS)
    assert (built_in.module, built_in.distribution) == ("imagelab.generators.vae", "imagelab")


def test_imagelab_and_package_upgrades_are_recorded_not_refused(tmp_path):
    def sources(generator_version: str, lab_version: str) -> list[CodeSource]:
        return [CodeSource("generator", "vae", "imagelab.generators.vae", "imagelab", lab_version),
                CodeSource("metric", "mine", "mine", "mine-dist", generator_version)]

    versions = {"imagelab": "0.1.0", "torch": "2.0"}
    RunFolder.open(tmp_path, {"seed": 0}, versions, code=sources("1.0", "0.1.0")).close()
    folder = RunFolder.open(tmp_path, {"seed": 0}, {"imagelab": "0.2.0", "torch": "2.1"},
                            code=sources("1.0", "0.2.0"))
    folder.close()
    assert [(c.distribution, c.recorded, c.installed, c.is_plugin) for c in folder.code_changes] == [
        ("imagelab", "0.1.0", "0.2.0", False), ("torch", "2.0", "2.1", False)]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [c["distribution"] for c in manifest["code_changes"]] == ["imagelab", "torch"]
    assert manifest["versions"] == {"imagelab": "0.2.0", "torch": "2.1"}

    with pytest.raises(RunFolderError, match=r"mine-dist 1\.0 \(metric mine\), and 1\.1 is installed now"):
        RunFolder.open(tmp_path, {"seed": 0}, versions, code=sources("1.1", "0.2.0"))
    RunFolder.open(tmp_path, {"seed": 0}, versions, code=sources("1.0", "0.2.0")).close()  # the lock was released


def test_a_plugin_that_moved_to_another_distribution_counts_as_a_change():
    # (changes come sorted by distribution name)
    recorded = [{"role": "filter", "name": "f", "module": "a", "distribution": "old-dist", "version": "1"}]
    new, old = code_changes(recorded, [CodeSource("filter", "f", "b", "new-dist", "2")], {}, {})
    assert (old.distribution, old.recorded, old.installed) == ("old-dist", "1", None)
    assert (new.distribution, new.recorded, new.installed, new.provides) == ("new-dist", None, "2", ("filter f",))


def test_a_sweep_resumes_across_a_plugin_upgrade_only_with_allow_code_change(versioned_plugin, tmp_path,
                                                                              tiny_overrides, capsys):
    overrides = dict(o.split("=", 1) for o in tiny_overrides if not o.startswith(("generator.", "loop.generations")))
    overrides = {key: yaml.safe_load(value) for key, value in overrides.items()}
    sweep = tmp_path / "upgrade.yaml"
    sweep.write_text(yaml.safe_dump({"overrides": {**overrides, "generator.name": "pixel-gaussian",
                                                   "loop.generations": 1}, "grid": {"seed": [0]}}))
    out = tmp_path / "sweep"
    assert main(["sweep", str(sweep), "--out", str(out)]) == 0

    set_version(versioned_plugin, "0.2.0")
    manifest = out / "seed-0" / "manifest.json"
    # A finished run is skipped, so make it unfinished as an interrupted sweep would leave it.
    manifest.write_text(json.dumps(json.loads(manifest.read_text()) | {"status": "interrupted"}))
    before = manifest.read_bytes()
    capsys.readouterr()
    assert main(["sweep", str(sweep), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert f"was made with {DISTRIBUTION} 0.1.0" in error and "--allow-code-change" in error
    assert manifest.read_bytes() == before  # refused: nothing written

    assert main(["sweep", str(sweep), "--out", str(out), "--allow-code-change"]) == 0
    recorded = json.loads(manifest.read_text())
    assert recorded["status"] == "complete"
    assert [(c["recorded"], c["installed"]) for c in recorded["code_changes"]] == [("0.1.0", "0.2.0")]
