"""Many seeds: the aggregate's means and intervals, and `imagelab run --seeds` end to end."""

import csv
import json
import math

import pytest

import imagelab
from imagelab.cli import main
from imagelab.errors import ConfigError
from imagelab.experiments.seeds import aggregate, check_seeds, parse_seeds
from imagelab.metrics.intervals import bootstrap_interval


def test_mean_and_bootstrap_interval_over_seeds():
    mean, low, high = bootstrap_interval([1.0, 2.0, 3.0])
    # The percentile bootstrap of a mean lies within the values, and is the same every time.
    assert mean == 2.0 and 1.0 <= low < mean < high <= 3.0
    assert (mean, low, high) == bootstrap_interval([1.0, 2.0, 3.0])
    single = bootstrap_interval([5.0])
    assert single[0] == 5.0 and math.isnan(single[1]) and math.isnan(single[2])


def test_aggregate_uses_generations_every_seed_reached_and_numeric_columns_only():
    rows_by_seed = {
        0: [{"generation": 0, "fid": 1.0, "note": "x"}, {"generation": 1, "fid": 4.0}, {"generation": 2, "fid": 9.0}],
        1: [{"generation": 0, "fid": 3.0, "note": "y"}, {"generation": 1, "fid": 6.0}],  # stopped early
    }
    table = aggregate(rows_by_seed)
    assert [row["generation"] for row in table] == [0, 1]
    assert table[0]["seeds"] == 2 and table[0]["fid_mean"] == 2.0 and table[1]["fid_mean"] == 5.0
    assert "note_mean" not in table[0]
    # Two seeds: the resampled means are 4, 5 or 6, so the 95% interval is [4, 6]; each seed's value is listed.
    assert (table[1]["fid_ci95_low"], table[1]["fid_ci95_high"]) == (4.0, 6.0)
    assert table[1]["fid_seeds"] == "4;6"


def test_seed_lists_are_checked():
    assert parse_seeds("0,1, 2") == [0, 1, 2]
    for bad in ("0,x", "1,1", "", "-1"):
        with pytest.raises(ConfigError, match="--seeds"):
            parse_seeds(bad)
    assert check_seeds(range(3)) == [0, 1, 2]
    for bad in ([], [1, 1], [-1], [0.5], [True]):
        with pytest.raises(ConfigError, match="--seeds"):
            check_seeds(bad)


def test_run_with_seeds_writes_a_folder_per_seed_and_their_aggregate(tiny_overrides, tmp_path, capsys):
    out = tmp_path / "seeds"
    # The resample generator (the fastest) has no generator.epochs.
    overrides = [o for o in tiny_overrides if not o.startswith("generator.")] + ["generator.name=resample",
                                                                                 "loop.generations=1"]
    # Options between the overrides: the CLI takes them in any order.
    assert main(["run", *overrides[:3], "--seeds", "3,4", "--out", str(out), *overrides[3:]]) == 0
    runs = []
    for seed in (3, 4):
        with open(out / f"seed_{seed}" / "metrics.csv") as handle:
            runs.append(list(csv.DictReader(handle)))
        assert f"seed: {seed}\n" in (out / f"seed_{seed}" / "config.yaml").read_text()
    with open(out / "aggregate.csv") as handle:
        table = list(csv.DictReader(handle))
    assert [row["generation"] for row in table] == ["0", "1"] and table[1]["seeds"] == "2"
    fids = [float(run[1]["fid"]) for run in runs]
    assert float(table[1]["fid_mean"]) == pytest.approx(sum(fids) / 2)
    assert float(table[1]["fid_ci95_low"]) <= min(fids) and float(table[1]["fid_ci95_high"]) >= max(fids)
    assert "Mean over 2 seeds at generation 1" in capsys.readouterr().out
    # The folder compares like a run (its means).
    assert main(["compare", str(out), str(out / "seed_3"), "--out", str(tmp_path / "cmp")]) == 0
    assert "mean of 2 seeds" in (tmp_path / "cmp" / "index.html").read_text()
    assert main(["run", "--out", str(out), "--seeds", "3,4", *overrides, "seed=1"]) == 2
    assert "conflicts with a seed=" in capsys.readouterr().err


def test_run_seeds_from_python_returns_each_seed_s_run_and_the_aggregate(tiny_overrides, tmp_path, capsys):
    overrides = [o for o in tiny_overrides if not o.startswith("generator.")] + ["generator.name=resample",
                                                                                 "loop.generations=1"]
    seeds = imagelab.run_seeds(None, seeds=[5, 2], out=tmp_path / "api", overrides=overrides)
    assert seeds.root == (tmp_path / "api").resolve() and list(seeds.runs) == [5, 2]
    assert all(run.status == "complete" and run.config.seed == seed for seed, run in seeds.runs.items())
    with open(seeds.root / "aggregate.csv") as handle:
        table = list(csv.DictReader(handle))
    assert [row["generation"] for row in seeds.aggregate] == [0, 1] and len(table) == 2
    fids = [run.rows[1]["fid"] for run in seeds.runs.values()]
    assert seeds.aggregate[1]["fid_mean"] == pytest.approx(sum(fids) / 2) == float(table[1]["fid_mean"])
    assert "Mean over 2 seeds at generation 1" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="conflicts with a seed="):
        imagelab.run_seeds(None, seeds="0,1", out=tmp_path / "other", overrides=[*overrides, "seed=1"])
    assert not (tmp_path / "other").exists()


def test_vary_data_draws_other_real_data_per_seed_and_generator_keeps_one(tiny_overrides, tmp_path, capsys):
    # Generation 0 (the real pool) is all this needs.
    overrides = [o for o in tiny_overrides if not o.startswith("generator.")] + ["generator.name=resample",
                                                                                 "loop.generations=0"]
    first_rows = {}
    for vary in ("generator", "data"):
        runs = imagelab.run_seeds(None, seeds=[0, 1], out=tmp_path / vary, overrides=overrides, vary=vary)
        first_rows[vary] = [{k: repr(v) for k, v in run.rows[0].items()} for run in runs.runs.values()]  # nan == nan
        for seed, run in runs.runs.items():
            assert run.config.data.seed == (seed if vary == "data" else None) and run.config.judge.seed is None
        info = json.loads((runs.root / "aggregate.json").read_text())
        assert info["vary"] == vary and info["seeds"] == [0, 1]
        assert (runs.root / "survival.csv").is_file() and "surviving_dachshund" in runs.aggregate[-1]
        assert 'id="survival-plot"' in (runs.root / "report" / "index.html").read_text()
    # The real pool (generation 0) is one draw for every seed unless the data vary with it.
    assert first_rows["generator"][0] == first_rows["generator"][1]
    assert first_rows["data"][0] != first_rows["data"][1]
    assert first_rows["data"][0]["fid"] != first_rows["data"][1]["fid"]  # another reference and pool
    with pytest.raises(ConfigError, match="--vary"):
        imagelab.run_seeds(None, seeds=[0, 1], out=tmp_path / "bad", overrides=[*overrides, "data.seed=3"], vary="data")
    capsys.readouterr()
    assert main(["run", "--vary", "data", "--out", str(tmp_path / "single"), *overrides]) == 2
    assert "--vary" in capsys.readouterr().err and not (tmp_path / "single").exists()


def test_the_judge_cache_key_follows_data_seed_and_judge_seed_only_when_set():
    from imagelab.config import load_config
    from imagelab.judge.cache import judge_key, judge_seed

    default = load_config()
    assert judge_key(default) == judge_key(load_config(overrides=["data.seed=null", "judge.seed=null"]))
    keys = {judge_key(load_config(overrides=[o])) for o in ("data.seed=0", "data.seed=1", "judge.seed=0")}
    assert len(keys) == 3 and judge_key(default) not in keys
    assert judge_seed(default.judge) == 0 and judge_seed(load_config(overrides=["judge.seed=4"]).judge) == 4
