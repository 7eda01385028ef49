import json

import pytest

from imagelab.errors import RunFolderError
from imagelab.runs.atomic import atomic_directory, atomic_write_text
from imagelab.runs.folder import RunFolder

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


def test_a_folder_of_runs_is_claimed_only_when_new_empty_or_made_by_the_same_command(tmp_path):
    from imagelab.experiments.sweep import SweepError
    from imagelab.runs.folder import claim_folder_of_runs

    claim_folder_of_runs(tmp_path / "new", ".marker", "sweep", "note\n")
    assert (tmp_path / "new" / ".marker").read_text() == "note\n"
    (tmp_path / "new" / "run_a").mkdir()
    claim_folder_of_runs(tmp_path / "new", ".marker", "sweep", "again\n")  # an earlier one: taken again
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("keep me")
    with pytest.raises(RunFolderError, match="is not empty and holds no earlier sweep"):
        claim_folder_of_runs(foreign, ".marker", "sweep", "note\n")
    assert sorted(p.name for p in foreign.iterdir()) == ["thesis.tex"]  # nothing written
    (tmp_path / "file").write_text("")
    with pytest.raises(SweepError, match="is a file; choose a folder"):  # the caller's own error class
        claim_folder_of_runs(tmp_path / "file", ".marker", "sweep", "note\n", error=SweepError)
