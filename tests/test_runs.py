import json

import pytest

from imagelab.errors import RunFolderError
from imagelab.runs import RunFolder, atomic_directory, atomic_write_text

VERSIONS = {"torch": "test"}


def test_a_new_folder_gets_config_and_manifest(tmp_path):
    folder = RunFolder.open(tmp_path / "run", {"seed": 0, "loop": {"generations": 2}}, VERSIONS)
    assert (folder.root / "config.yaml").exists()
    manifest = json.loads((folder.root / "manifest.json").read_text())
    assert manifest["status"] == "running" and manifest["versions"] == VERSIONS


def test_reopening_with_the_same_config_keeps_completed_stages(tmp_path):
    config = {"seed": 0, "loop": {"generations": 2}}
    folder = RunFolder.open(tmp_path / "run", config, VERSIONS)
    folder.mark_stage(1, "fit", 1.5, final_loss=0.1)
    again = RunFolder.open(tmp_path / "run", config, VERSIONS)
    assert again.stage_done(1, "fit") and not again.stage_done(1, "sample")


def test_another_config_is_refused_naming_the_key_and_nothing_changes(tmp_path):
    RunFolder.open(tmp_path / "run", {"seed": 0, "loop": {"generations": 2}}, VERSIONS)
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}
    with pytest.raises(RunFolderError, match=r"loop\.generations: 2 -> 5"):
        RunFolder.open(tmp_path / "run", {"seed": 0, "loop": {"generations": 5}}, VERSIONS)
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()} == before


def test_a_foreign_non_empty_folder_is_refused(tmp_path):
    (tmp_path / "thesis.tex").write_text("precious")
    with pytest.raises(RunFolderError, match="holds no imagelab run"):
        RunFolder.open(tmp_path, {"seed": 0}, VERSIONS)
    assert (tmp_path / "thesis.tex").read_text() == "precious"


def test_atomic_writes_leave_the_old_version_when_writing_fails(tmp_path):
    target = tmp_path / "metrics.json"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_directory(tmp_path / "weights") as temp:
            (temp / "half.bin").write_text("partial")
            raise RuntimeError("killed")
    assert not (tmp_path / "weights").exists()
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temporary left behind


def test_metrics_csv_has_the_union_of_columns_in_order(tmp_path):
    folder = RunFolder.open(tmp_path / "run", {"seed": 0}, VERSIONS)
    folder.write_metrics_csv([{"generation": 0, "fid": 1.0}, {"generation": 1, "fid": 2.0, "extra": 3}])
    lines = (folder.root / "metrics.csv").read_text().splitlines()
    assert lines == ["generation,fid,extra", "0,1.0,", "1,2.0,3"]
