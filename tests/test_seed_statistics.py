"""Statistics over seeds: bounded intervals, the extinction summary, survival against the exact null, and
paired differences between runs that share seeds (synthetic rows and run folders with known values)."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import yaml
from scipy import stats

from imagelab.experiments.seed_aggregate import aggregate, write_aggregate
from imagelab.metrics.intervals import FEW_SEEDS, bootstrap_interval, column_range, paired_differences
from imagelab.metrics.metric import Column
from imagelab.metrics.survival import survival_table
from imagelab.metrics.wright_fisher import survival_from_pool, survival_probability
from imagelab.report.compare import build_comparison

BREEDS = ("common", "rare")


def test_bootstrap_intervals_never_leave_the_column_s_range():
    # Three seeds with shares near 0: a t-interval goes below 0, the bootstrap does not.
    shares = [0.0, 0.004, 0.0]
    mean = np.mean(shares)
    t_low = mean - stats.t.ppf(0.975, 2) * np.std(shares, ddof=1) / math.sqrt(3)
    assert t_low < 0
    _, low, high = bootstrap_interval(shares, column_range(Column("share_rare", style="percent"), "share_rare", 2))
    assert 0.0 <= low <= mean <= high <= 0.004
    # breeds_alive near its maximum: never above the number of breeds.
    alive = [10.0, 9.0, 10.0]
    assert np.mean(alive) + stats.t.ppf(0.975, 2) * np.std(alive, ddof=1) / math.sqrt(3) > 10
    _, low, high = bootstrap_interval(alive, column_range(None, "breeds_alive", 10))
    assert 9.0 <= low and high <= 10.0
    # Random values in random ranges: the bounds always lie in the range and around the mean.
    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(2, 8))
        values = rng.beta(0.3, 3.0, size=n)
        mean, low, high = bootstrap_interval(values, (0.0, 1.0))
        assert 0.0 <= low <= mean + 1e-12 and mean - 1e-12 <= high <= 1.0
    assert column_range(None, "kid_rare", 2) == (-math.inf, math.inf)


def test_aggregate_summarises_extinction_lists_each_seed_and_joins_survival():
    def rows(extinct_at: float, fid: float) -> list[dict]:
        return [{"generation": g, "fid": fid + g, "extinct_since_rare": extinct_at if g >= extinct_at else math.nan}
                for g in range(4)]

    # Seeds 0 and 1 lose the rare breed at generations 2 and 3; seed 2 never does.
    table = aggregate({0: rows(2, 1.0), 1: rows(3, 2.0), 2: rows(math.inf, 3.0)},
                      survival=[{"generation": g, "seeds": 3, "surviving_rare": 0.5} for g in range(4)])
    last = table[-1]
    assert last["extinct_since_rare_extinct"] == 2 and last["extinct_since_rare_median"] == 3.0
    assert last["extinct_since_rare_seeds"] == "2;3;nan"
    assert table[2]["extinct_since_rare_extinct"] == 1 and math.isnan(table[2]["extinct_since_rare_median"])
    assert "extinct_since_rare_mean" not in last  # blank while detectable: not a mean
    assert last["fid_seeds"] == "4;5;6" and last["surviving_rare"] == 0.5
    many = aggregate({seed: rows(math.inf, float(seed)) for seed in range(FEW_SEEDS)})
    assert "fid_seeds" not in many[-1] and "fid_ci95_low" in many[-1]


def test_survival_is_the_share_of_seeds_still_detecting_a_breed():
    def rows(detectable: list[int]) -> list[dict]:
        return [{"generation": g, "share_common": 0.9, "share_rare": 0.1, "detectable_common": 1,
                 "detectable_rare": d} for g, d in enumerate(detectable)]

    # Seed 1 misses the rare breed at generation 1 but detects it again: not extinct until it stays undetectable.
    table = survival_table({0: rows([1, 1, 0, 0]), 1: rows([1, 0, 1, 0]), 2: rows([1, 1, 1, 1])},
                           BREEDS, {"common": 0.01, "rare": 0.01})
    assert [row["surviving_rare"] for row in table] == [1.0, 1.0, 2 / 3, 1 / 3]
    assert all(row["surviving_common"] == 1.0 for row in table)
    # Older rows without a verdict: the share floor decides.
    old = [{"generation": g, "share_common": 0.99, "share_rare": share} for g, share in enumerate([0.1, 0.001])]
    assert [row["surviving_rare"] for row in survival_table({0: old}, BREEDS, {"common": 0.01, "rare": 0.01})] == [
        1.0, 0.0]


def test_null_survival_from_a_pool_is_the_exact_chain():
    assert np.allclose(survival_from_pool(3, 40, 40, 12), survival_probability(3, 40, 12), atol=1e-14)
    # Another population: generation 1 keeps the breed unless none of the N draws is of it.
    curve = survival_from_pool(3, 60, 40, 5)
    assert curve[0] == 1.0 and curve[1] == pytest.approx(1 - (1 - 3 / 60) ** 40)
    assert np.all(np.diff(curve) <= 1e-15)


def test_paired_differences_are_taken_seed_by_seed():
    paired = paired_differences({0: 0.5, 1: 0.2, 2: 0.1, 3: 0.4}, {0: 0.3, 1: 0.1, 2: 0.1, 5: 0.0}, (0.0, 1.0))
    assert paired["seeds"] == [0, 1, 2] and paired["differences"] == pytest.approx([-0.2, -0.1, 0.0])
    assert paired["mean"] == pytest.approx(-0.1) and -0.2 - 1e-12 <= paired["low"] <= paired["high"] <= 0.0


# --- run folders with known values ---------------------------------------------------------------


def write_run(root, seed: int, fid: list[float], alive: list[int], rare_detectable: list[int], regime="replace"):
    """A minimal run folder whose metrics are the given values (two breeds, 50 samples per generation)."""
    root.mkdir(parents=True)
    config = {"seed": seed, "data": {"name": "toydogs", "breeds": list(BREEDS), "seed": None},
              "generator": {"name": "resample"}, "loop": {"generations": len(fid) - 1, "regime": regime}}
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    manifest = {"status": "complete", "data": {"split_counts": {"pool": {"common": 45, "rare": 5}}}}
    (root / "manifest.json").write_text(json.dumps(manifest))
    rows = [{"generation": g, "fid": fid[g], "breeds_alive": alive[g], "share_unrecognized": 0.0,
             "share_common": 0.9, "share_rare": 0.1, "detectable_common": 1, "detectable_rare": rare_detectable[g],
             "samples": 50} for g in range(len(fid))]
    with open(root / "metrics.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


def seeds_folder(root, fids: dict[int, list[float]], lost_at: dict[int, int], regime="replace"):
    for seed, fid in fids.items():
        detectable = [int(g < lost_at[seed]) for g in range(len(fid))]
        write_run(root / f"seed_{seed}", seed, fid, [1 + d for d in detectable], detectable, regime)
    write_aggregate(root, list(fids))
    return root


def test_compare_pairs_two_seeds_folders_seed_by_seed_and_draws_survival(tmp_path):
    first = seeds_folder(tmp_path / "replace", {0: [1, 2, 4], 1: [1, 3, 5], 2: [1, 2, 3]}, {0: 2, 1: 9, 2: 9})
    second = seeds_folder(tmp_path / "accumulate", {0: [1, 2, 3], 1: [1, 2, 2], 2: [1, 2, 6], 7: [1, 1, 1]},
                          {0: 1, 1: 9, 2: 9, 7: 9}, regime="accumulate")
    survival = list(csv.DictReader(open(first / "survival.csv")))
    assert [float(row["surviving_rare"]) for row in survival] == [1.0, 1.0, 2 / 3]
    assert float(survival[2]["null_surviving_rare"]) == pytest.approx(survival_probability(5, 50, 2)[2])
    aggregate_rows = list(csv.DictReader(open(first / "aggregate.csv")))
    assert float(aggregate_rows[2]["surviving_rare"]) == pytest.approx(2 / 3)
    info = json.loads((first / "aggregate.json").read_text())
    assert info["vary"] == "generator" and info["seeds"] == [0, 1, 2] and "bootstrap" in info["interval"]

    out = tmp_path / "cmp"
    build_comparison([first, second], out)
    html = (out / "index.html").read_text()
    assert (out / "survival.png").stat().st_size > 5_000 and 'id="survival-plot"' in html
    paired = [row for row in csv.DictReader(open(out / "paired.csv")) if row["column"] == "fid"]
    last = next(row for row in paired if row["generation"] == "2")
    assert last["seeds"] == "0;1;2"  # seed 7 has no partner
    assert last["difference_per_seed"] == "-1;-3;3"  # accumulate - replace, seed by seed, exactly
    assert float(last["difference_mean"]) == pytest.approx(-1 / 3)
    assert -3 <= float(last["difference_ci95_low"]) <= float(last["difference_ci95_high"]) <= 3
    assert "loop.regime: replace → accumulate" in html
    assert "-1 · -3 · +3" in html


def test_compare_pairs_run_folders_that_differ_in_one_key_besides_the_seed(tmp_path):
    runs = [write_run(tmp_path / f"{regime}-{seed}", seed, fid, [2, 2], [1, 1], regime)
            for regime, seed, fid in [("replace", 0, [1, 2]), ("replace", 1, [1, 4]),
                                      ("accumulate", 0, [1, 1.5]), ("accumulate", 1, [1, 2.5])]]
    out = tmp_path / "cmp"
    build_comparison(runs, out)
    paired = [row for row in csv.DictReader(open(out / "paired.csv")) if row["column"] == "fid"]
    assert [(row["generation"], row["difference_per_seed"]) for row in paired] == [("0", "0;0"), ("1", "-0.5;-1.5")]
    # Runs whose configs differ in two keys are not paired.
    other = write_run(tmp_path / "other", 0, [1, 9], [2, 2], [1, 1], "accumulate")
    config = yaml.safe_load((other / "config.yaml").read_text())
    config["generator"]["name"] = "vae"
    (other / "config.yaml").write_text(yaml.safe_dump(config))
    build_comparison([runs[0], other], tmp_path / "cmp2")
    assert not (tmp_path / "cmp2" / "paired.csv").exists()
    assert "No paired comparison" in (tmp_path / "cmp2" / "index.html").read_text()
