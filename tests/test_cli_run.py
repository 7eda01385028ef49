"""End to end: `imagelab run` with a tiny config in a temp folder, its artifacts, resume and refusal."""

import csv
import json
import shutil
import subprocess
import sys

import pytest
from PIL import Image

from imagelab.cli import main
from imagelab.config import load_config

BREEDS = ("golden_retriever", "dachshund", "petit_basset_griffon_vendeen")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One uninterrupted tiny run, shared by the tests below."""
    from tests.conftest import TINY_OVERRIDES

    out = tmp_path_factory.mktemp("runs") / "tiny"
    # Overrides before and after an option, as the CLI contract allows.
    assert main(["run", *TINY_OVERRIDES[:4], "--out", str(out), *TINY_OVERRIDES[4:]]) == 0
    return out


def read_metrics(run_dir):
    with open(run_dir / "metrics.csv") as handle:
        return list(csv.DictReader(handle))


def test_every_artifact_of_the_run_folder_is_there(finished_run):
    run = finished_run
    for name in ("config.yaml", "manifest.json", "metrics.csv", "log.txt", "judge/judge.json",
                 "judge/model.safetensors"):
        assert (run / name).is_file(), name
    for generation in range(3):
        folder = run / f"gen_{generation:03d}"
        for name in ("grid.png", "breeds.png", "metrics.json", "samples.safetensors", "judgement.safetensors"):
            assert (folder / name).is_file(), f"{folder.name}/{name}"
        assert Image.open(folder / "grid.png").size[0] >= 4 * 64  # a 4x4 grid of enlarged 16 px images
        assert Image.open(folder / "breeds.png").size[1] >= 4 * 64  # a row per breed + unrecognized
        if generation > 0:
            assert {p.name for p in (folder / "generator").iterdir()} == {"config.json", "model.safetensors"}
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["report"]["seconds"] > 0
    assert set(manifest["generations"]["1"]["stages"]) == {"fit", "sample", "judge", "metrics"}
    # What the fit actually ran with on this CPU: the defaults (auto) leave every CUDA path off.
    runtime = manifest["generations"]["1"]["stages"]["fit"]["runtime"]
    assert runtime == {"precision": "fp32", "channels_last": False, "compiled": False}
    assert "imagelab: " not in (run / "log.txt").read_text()  # no error was logged


def test_metrics_csv_has_the_contract_columns(finished_run):
    rows = read_metrics(finished_run)
    assert [int(r["generation"]) for r in rows] == [0, 1, 2]
    columns = set(rows[0])
    assert {"generation", "fid", "breeds_alive", "share_unrecognized"} <= columns
    assert {f"share_{b}" for b in BREEDS} <= columns
    for row in rows:
        total = sum(float(row[f"share_{b}"]) for b in BREEDS) + float(row["share_unrecognized"])
        assert total == pytest.approx(1.0)
        assert float(row["fid"]) >= 0
    assert json.loads((finished_run / "gen_002" / "metrics.json").read_text())["generation"] == 2


def test_a_killed_run_resumes_to_the_same_metrics(finished_run, tmp_path):
    from tests.conftest import TINY_OVERRIDES

    run = tmp_path / "resumed"
    shutil.copytree(finished_run, run)
    # Pretend the run died during generation 2's sampling: its later stages never happened.
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["generations"]["2"]["stages"] = {"fit": manifest["generations"]["2"]["stages"]["fit"]}
    (run / "manifest.json").write_text(json.dumps(manifest))
    for name in ("samples.safetensors", "judgement.safetensors", "metrics.json", "grid.png"):
        (run / "gen_002" / name).unlink()
    assert main(["run", "--out", str(run), *TINY_OVERRIDES]) == 0
    assert (run / "metrics.csv").read_text() == (finished_run / "metrics.csv").read_text()
    assert (run / "gen_002" / "grid.png").exists()


def test_the_same_seed_gives_identical_metrics(finished_run, tmp_path):
    from tests.conftest import TINY_OVERRIDES

    assert main(["run", "--out", str(tmp_path / "again"), *TINY_OVERRIDES]) == 0
    assert (tmp_path / "again" / "metrics.csv").read_text() == (finished_run / "metrics.csv").read_text()


def test_another_config_on_the_same_folder_is_refused_and_nothing_changes(finished_run, capsys):
    from tests.conftest import TINY_OVERRIDES

    before = {p: p.read_bytes() for p in finished_run.rglob("*") if p.is_file()}
    code = main(["run", "--out", str(finished_run), *TINY_OVERRIDES, "loop.generations=3"])
    assert code == 2
    assert "loop.generations: 2 -> 3" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in finished_run.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("order", [
    ["toy-ddpm", "--out", "OUT", "loop.generations=2", "seed=3"],  # the contract's own example
    ["--out", "OUT", "toy-ddpm", "loop.generations=2", "seed=3"],
    ["loop.generations=2", "--out", "OUT", "seed=3", "toy-ddpm"],
    ["loop.generations=2", "toy-ddpm", "seed=3", "--out", "OUT"],
])
def test_options_config_and_overrides_come_in_any_order(order, tmp_path, capsys):
    argv = ["run", *[str(tmp_path / "x") if item == "OUT" else item for item in order], "--print-config"]
    assert main(argv) == 0
    assert capsys.readouterr().out == load_config("toy-ddpm", ["loop.generations=2", "seed=3"]).to_yaml()
    assert not (tmp_path / "x").exists()  # --print-config runs nothing


def test_later_overrides_win_wherever_they_stand(capsys):
    assert main(["run", "loop.generations=2", "--print-config", "loop.generations=5"]) == 0
    assert "generations: 5\n" in capsys.readouterr().out


def test_two_configs_or_an_unknown_option_are_user_errors(tmp_path, capsys):
    assert main(["run", "toy-ddpm", "--out", str(tmp_path / "x"), "toy-vae"]) == 2
    assert capsys.readouterr().err.strip() == ("imagelab: error: CONFIG: give at most one config (a YAML path "
                                               "or a preset), got toy-ddpm, toy-vae; overrides look like "
                                               "KEY=VALUE")
    with pytest.raises(SystemExit) as leaving:
        main(["run", "loop.generations=2", "--out", str(tmp_path / "x"), "--bogus", "seed=1"])
    assert leaving.value.code == 2 and "unrecognized arguments: --bogus" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["report", str(tmp_path), "stray"])  # a command without a list of positionals takes no extra
    assert not (tmp_path / "x").exists()


def test_list_commands(capsys):
    assert main(["list", "generators"]) == 0
    assert {"vae", "resample"} <= set(capsys.readouterr().out.split())
    assert main(["list", "presets"]) == 0
    assert "toy-vae" in capsys.readouterr().out.split()


def test_a_nan_loss_stops_the_run_clearly_and_keeps_earlier_generations(tmp_path, capsys):
    from tests.conftest import TINY_OVERRIDES

    run = tmp_path / "exploding"
    code = main(["run", "--out", str(run), *TINY_OVERRIDES, "generator.lr=1e12", "generator.epochs=3"])
    assert code == 1
    error = capsys.readouterr().err
    assert "imagelab: stopped: generator 'vae', generation 1, stage fit: vae epoch" in error and "loss became" in error
    assert (run / "gen_000" / "metrics.json").exists() and (run / "metrics.csv").exists()
    manifest = json.loads((run / "manifest.json").read_text())
    assert (manifest["status"].startswith("failed")
            and "fit" not in manifest["generations"].get("1", {}).get("stages", {}))


def test_a_report_can_be_built_while_a_run_holds_the_folder(finished_run):
    from tests.test_run_lock import hold_lock_in_another_process

    holder = hold_lock_in_another_process(finished_run)
    try:
        (finished_run / "report" / "index.html").unlink()
        assert main(["report", str(finished_run)]) == 0  # readers take no lock
        assert (finished_run / "report" / "index.html").is_file()
    finally:
        holder.kill()
        holder.wait()


def test_the_installed_command_freezes_the_start_up_heap_and_exits_with_mains_status():
    # entry_point (the `imagelab` script and `python -m imagelab`) freezes what the imports left, so the
    # collections at exit skip it; main() itself, which this process calls, leaves the collector alone.
    probe = ("import gc, sys\nfrom imagelab import cli\nsys.argv = ['imagelab', 'list', 'presets']\n"
             "try:\n    cli.entry_point()\nexcept SystemExit as stop:\n"
             "    print('exit', stop.code, 'frozen', gc.get_freeze_count())\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    *listing, last = result.stdout.split("\n")[:-1]
    assert "toy-vae" in listing
    status, frozen = last.split()[1], int(last.split()[3])
    assert status == "0" and frozen > 100_000, result.stdout
