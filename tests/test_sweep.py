"""`imagelab sweep`: the grid, --list, bad files, and a resume after an interruption."""

import csv
import json

import pytest
import yaml

from imagelab.cli import main
from imagelab.experiments.sweep import SweepError, load_sweep
from imagelab.loop.collapse import CollapseLoop


def write_sweep(path, tiny_overrides, grid, **extra):
    overrides = dict(item.split("=", 1) for item in tiny_overrides if not item.startswith("generator."))
    overrides = {key: yaml.safe_load(value) for key, value in overrides.items()}
    overrides.update({"generator.name": "resample", "loop.generations": 2})
    path.write_text(yaml.safe_dump({"overrides": overrides, "grid": grid, **extra}, sort_keys=False))
    return path


def test_the_grid_names_its_runs_and_lists_their_commands(tiny_overrides, tmp_path, capsys):
    grid = [{"loop.regime": ["replace", "accumulate"], "seed": [0, 1]},
            {"loop.regime": ["mix"], "loop.real_fraction": [0.25], "loop.real_source": ["fresh"]}]
    sweep = load_sweep(str(write_sweep(tmp_path / "grid.yaml", tiny_overrides, grid)))
    assert [run.name for run in sweep.runs] == ["regime-replace_seed-0", "regime-replace_seed-1",
                                                "regime-accumulate_seed-0", "regime-accumulate_seed-1",
                                                "regime-mix_real_fraction-0.25_real_source-fresh"]
    assert main(["sweep", str(tmp_path / "grid.yaml"), "--out", str(tmp_path / "out"), "--list"]) == 0
    commands = capsys.readouterr().out.splitlines()
    assert len(commands) == 5 and not (tmp_path / "out").exists()  # listing runs nothing
    assert commands[4].startswith("imagelab run data.resolution=16 ")
    assert commands[4].endswith("loop.regime=mix loop.real_fraction=0.25 loop.real_source=fresh "
                                f"--out {tmp_path / 'out' / sweep.runs[4].name}")


@pytest.mark.parametrize("content, message", [
    ("grid: [", "not readable YAML"),
    ("grid:\n  seed: 3\n", "grid key 'seed' must have a non-empty list of values"),
    ("overrides: {}\n", "'grid' must map dotted keys to lists of values"),
    ("grid: {seed: [0]}\nruns: 3\n", "unknown key 'runs'; allowed: config, overrides, grid"),
    ("grid: {loop.regime: [replace, recycle]}\n", "run 'regime-recycle': loop.regime: unknown regime 'recycle'"),
    ("grid: {loop.real_fraction: [0.5]}\n", "loop.real_fraction: is only used by regime mix"),
    ("overrides: {seed: 1}\ngrid: {seed: [0]}\n", "'seed' is both in 'overrides' and in 'grid'"),
])
def test_bad_sweep_files_exit_2_with_one_clear_line(tmp_path, capsys, content, message):
    (tmp_path / "bad.yaml").write_text(content)
    assert main(["sweep", str(tmp_path / "bad.yaml"), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1 and not (tmp_path / "out").exists()


def test_an_interrupted_sweep_skips_finished_runs_and_resumes_the_partial_one(
        tiny_overrides, tmp_path, monkeypatch, capsys):
    sweep_file = write_sweep(tmp_path / "regimes.yaml", tiny_overrides, {"loop.regime": ["replace", "accumulate"]})
    out = tmp_path / "out"
    generate = CollapseLoop._generate

    def interrupted(self, generation, pool, previous):
        if self.folder.root.name == "regime-accumulate" and generation == 2:
            raise KeyboardInterrupt
        return generate(self, generation, pool, previous)

    monkeypatch.setattr(CollapseLoop, "_generate", interrupted)
    assert main(["sweep", str(sweep_file), "--out", str(out)]) == 130
    assert json.loads((out / "regime-replace" / "manifest.json").read_text())["status"] == "complete"
    assert json.loads((out / "regime-accumulate" / "manifest.json").read_text())["status"] == "interrupted"
    assert not (out / "summary.csv").exists()
    finished = {p: p.stat().st_mtime_ns for p in (out / "regime-replace").rglob("*") if p.is_file()}
    first_samples = (out / "regime-accumulate" / "gen_001" / "samples.safetensors").stat().st_mtime_ns
    capsys.readouterr()

    monkeypatch.setattr(CollapseLoop, "_generate", generate)
    assert main(["sweep", str(sweep_file), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert "regime-replace: complete, skipped" in printed and "regime-accumulate on cpu" in captured.err
    assert "resuming run in" in captured.err and "regime-replace on cpu" not in captured.err
    assert {p: p.stat().st_mtime_ns for p in (out / "regime-replace").rglob("*") if p.is_file()} == finished
    assert (out / "regime-accumulate" / "gen_001" / "samples.safetensors").stat().st_mtime_ns == first_samples
    with open(out / "summary.csv") as handle:
        summary = list(csv.DictReader(handle))
    assert [(row["run"], row["loop.regime"], row["status"], row["generation"]) for row in summary] == [
        ("regime-replace", "replace", "complete", "2"), ("regime-accumulate", "accumulate", "complete", "2")]
    assert float(summary[1]["pool_real_share"]) == 0.5  # generation 2 learnt the real pool and generation 1's samples
    assert "regime-accumulate" in printed and "pool_real_share" in printed


def test_bundled_sweeps_resolve_every_run():
    from imagelab.experiments.sweep import sweep_dir

    names = sorted(path.stem for path in sweep_dir().glob("*.yaml"))
    assert "gerstgrasser-replace-vs-accumulate" in names and "regimes-toy" in names
    for name in names:
        assert load_sweep(name).runs  # every run's config resolves


def test_final_metrics_are_averaged_over_seeds_per_group():
    from imagelab.experiments.sweep import SUMMARY_METRICS, over_seeds

    # As write_summary makes them: every summary metric, here 0 unless set.
    rows = [{"run": f"r{i}", "loop.regime": regime, "seed": seed, "status": "complete", "generation": 2,
             **dict.fromkeys(SUMMARY_METRICS, 0.0),
             "fid": fid, "breeds_alive": 3, "share_unrecognized": 0.0, "tv_to_real": 0.1, "pool_real_share": 0.0}
            for i, (regime, seed, fid) in enumerate([("replace", 0, 1.0), ("replace", 1, 3.0), ("mix", 0, 5.0)])]
    rows.append({**rows[0], "run": "r3", "seed": 2, "status": "interrupted", "fid": 100.0})  # not counted
    groups = over_seeds(rows, ["loop.regime", "seed"])
    assert [(g["loop.regime"], g["seeds"], g["fid_mean"]) for g in groups] == [("replace", 2, 2.0), ("mix", 1, 5.0)]
    # The bootstrap over two seeds (1 and 3): resampled means 1, 2 or 3, so [1, 3]; each seed's value listed.
    assert (groups[0]["fid_ci95_low"], groups[0]["fid_ci95_high"], groups[0]["fid_seeds"]) == (1.0, 3.0, "1;3")
    assert over_seeds(rows, ["loop.regime"]) == []


def test_runs_that_differ_in_one_grid_key_are_compared_seed_by_seed():
    from imagelab.experiments.sweep import SUMMARY_METRICS, paired_over_seeds

    known = {("replace", "0"): 1.0, ("replace", "1"): 3.0, ("replace", "2"): 2.0,
             ("accumulate", "0"): 1.5, ("accumulate", "1"): 2.0, ("accumulate", "2"): 4.0}
    rows = [{"run": f"{regime}-{seed}", "loop.regime": regime, "seed": seed, "status": "complete", "generation": 2,
             **dict.fromkeys(SUMMARY_METRICS, 0.0), "fid": fid} for (regime, seed), fid in known.items()]
    rows.append({**rows[-1], "run": "extra", "seed": "3", "fid": 50.0})  # no replace run with seed 3: unpaired
    paired = [row for row in paired_over_seeds(rows, ["loop.regime", "seed"]) if row["metric"] == "fid"]
    assert len(paired) == 1
    (fid,) = paired
    assert (fid["setting"], fid["A"], fid["B"], fid["seeds"], fid["paired_seeds"]) == (
        "loop.regime", "replace", "accumulate", 3, "0;1;2")
    assert fid["per_seed"] == "0.5;-1;2"  # B - A for seeds 0, 1, 2, exactly
    assert fid["difference_mean"] == pytest.approx(0.5)
    assert -1.0 <= fid["difference_ci95_low"] < 0.5 < fid["difference_ci95_high"] <= 2.0
    assert paired_over_seeds(rows, ["loop.regime"]) == []  # no seeds, no pairs


def test_a_sweep_can_vary_the_data_with_the_seed(tmp_path):
    sweep = tmp_path / "vary.yaml"
    sweep.write_text("vary: data\ngrid:\n  loop.regime: [replace, accumulate]\n  seed: [0, 1]\n")
    runs = load_sweep(str(sweep)).runs
    assert [run.overrides[-1] for run in runs] == ["data.seed=0", "data.seed=1"] * 2
    sweep.write_text("vary: all\ngrid:\n  seed: [3]\n")
    assert load_sweep(str(sweep)).runs[0].overrides[-2:] == ["data.seed=3", "judge.seed=3"]
    for text, message in (("vary: some\ngrid:\n  seed: [0]\n", "'vary' must be"),
                          ("vary: data\ngrid:\n  loop.regime: [replace]\n", "make seed a grid key"),
                          ("vary: data\noverrides:\n  data.seed: 1\ngrid:\n  seed: [0]\n", "remove data.seed")):
        sweep.write_text(text)
        with pytest.raises(SweepError, match=message):
            load_sweep(str(sweep))
