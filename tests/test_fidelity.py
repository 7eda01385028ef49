"""Fidelity first (DESIGN.md): the default generator's generation 1 must look like generation 0.

Runs the embedded default lab for one generation (default data, judge and VAE; about
a minute on 2 CPU cores) and holds it to the binding targets: breed shares within
total-variation distance 0.10 of the real pool, at most 5% unrecognized.
"""

import csv

from imagelab.cli import main


def test_default_generation_one_reproduces_the_real_pool(tmp_path):
    assert main(["run", "--out", str(tmp_path / "run"), "loop.generations=1", "device=cpu"]) == 0
    with open(tmp_path / "run" / "metrics.csv") as handle:
        real, first = list(csv.DictReader(handle))
    assert float(real["share_unrecognized"]) <= 0.01  # the judge recognizes the real pool
    assert float(first["tv_to_real"]) <= 0.10
    assert float(first["share_unrecognized"]) <= 0.05
    assert int(first["breeds_alive"]) == 10  # no breed is lost in the first step
