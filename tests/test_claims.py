"""A sweep's claims: published findings tested as paired differences on the sweep's runs."""

import csv
import math

import pytest

from imagelab.cli import main
from imagelab.config import load_config
from imagelab.experiments.claims import AGREED, CONTRADICTED, NOT_SHOWN, Claim, verdict
from imagelab.experiments.sweep import load_sweep
from tests.test_sweep import write_sweep

GRID = {"loop.regime": ["replace", "accumulate"], "seed": [0, 1]}


def claim(**fields):
    entry = {"direction": "(x) accumulate grows the pool", "claim": "an accumulated pool is larger",
             "A": {"loop.regime": "replace"}, "B": {"loop.regime": "accumulate"},
             "metric": "pool_size", "generation": 2, "expect": "higher"}
    entry.update(fields)
    return entry


def test_claims_are_measured_on_the_runs_seed_by_seed(tiny_overrides, tmp_path, capsys):
    claims = [claim(), claim(expect="lower"), claim(generation=1), claim(since=1)]
    sweep_file = write_sweep(tmp_path / "claims.yaml", tiny_overrides, GRID, claims=claims)
    out = tmp_path / "out"
    assert main(["sweep", str(sweep_file), "--out", str(out)]) == 0
    assert "Claims, B - A paired over seeds" in capsys.readouterr().out
    with open(out / "claims.csv") as handle:
        rows = list(csv.DictReader(handle))
    with open(out / "regime-replace_seed-0" / "metrics.csv") as handle:
        real_pool = int(float(next(csv.DictReader(handle))["pool_size"]))  # generation 0: the real pool
    # Generation 2 of accumulate learns the real pool and generation 1's samples (as many): one real pool
    # more than replace, in every seed, so the interval is that one value.
    grows, shrinks, first, change = rows
    assert (grows["seeds"], grows["paired_seeds"], grows["per_seed"]) == ("2", "0;1", f"{real_pool};{real_pool}")
    assert float(grows["difference_ci95_low"]) == float(grows["difference_ci95_high"]) == real_pool
    assert (grows["verdict"], grows["seeds_in_direction"]) == (AGREED, "2")
    assert (shrinks["verdict"], shrinks["seeds_in_direction"]) == (CONTRADICTED, "0")
    assert (first["per_seed"], first["verdict"]) == ("0;0", NOT_SHOWN)  # generation 1: both learn the real pool
    assert (change["per_seed"], change["verdict"]) == (f"{real_pool};{real_pool}", AGREED)  # since 1: the same
    assert (out / "claims.png").stat().st_size > 0


def test_the_verdict_follows_the_interval_and_the_margin():
    def of(expect, margin=0.0):
        return Claim("d", "", "c", {"k": "a"}, {"k": "b"}, "m", 1, None, expect, margin)

    assert verdict(of("lower"), -0.3, -0.1, 5) == AGREED
    assert verdict(of("lower"), -0.3, 0.1, 5) == NOT_SHOWN
    assert verdict(of("lower"), 0.1, 0.3, 5) == CONTRADICTED
    assert verdict(of("higher"), 0.1, 0.3, 5) == AGREED
    assert verdict(of("not_lower", 0.01), -0.005, 0.02, 5) == AGREED  # within the margin
    assert verdict(of("not_lower", 0.01), -0.02, 0.02, 5) == NOT_SHOWN
    assert verdict(of("not_lower", 0.01), -0.05, -0.02, 5) == CONTRADICTED
    assert verdict(of("lower"), -0.3, -0.1, 1) == NOT_SHOWN  # one seed: no interval
    assert verdict(of("lower"), math.nan, math.nan, 3) == NOT_SHOWN


@pytest.mark.parametrize("change, message", [
    ({"expect": "smaller"}, "'expect' must be one of lower, higher, not_lower"),
    ({"A": {"seed": 0}}, "'A' picks both"),
    ({"B": {"loop.regime": "mix"}}, "'A' and 'B' share no seed"),
    ({"since": 2}, "'since' must be an earlier generation than 2"),
    ({"colour": "red"}, "unknown key 'colour'"),
    ({"metric": "fidelity"}, "'metric' 'fidelity' is not a built-in metrics.csv column"),
    ({"metric": None, "generation": None}, None),
])
def test_bad_claims_exit_2_naming_the_claim(tiny_overrides, tmp_path, capsys, change, message):
    entry = {key: value for key, value in claim(**change).items() if value is not None}
    sweep_file = write_sweep(tmp_path / "bad.yaml", tiny_overrides, GRID, claims=[entry])
    assert main(["sweep", str(sweep_file), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "claim 1" in error and (message or "'metric' is missing") in error and not (tmp_path / "out").exists()


def test_the_published_directions_sweep_tests_five_directions_on_shared_seeds():
    sweep = load_sweep("published-directions")
    directions = {entry.direction[:3] for entry in sweep.claims}
    assert directions == {"(a)", "(b)", "(c)", "(d)", "(e)"}
    seeds = {run.values["seed"] for run in sweep.runs}
    assert len(seeds) >= 5
    assert all(run.overrides[-2:] == [f"data.seed={run.values['seed']}", f"judge.seed={run.values['seed']}"]
               for run in sweep.runs)  # each seed its own data draw and judge
    assert load_config(sweep.config, sweep.runs[-1].overrides).generator.name == "vae"  # the default generator
