"""Is the judge good enough to count breeds? Warnings for a weak instrument, naming the settings to raise.

A judge trained too little still labels every image, and a run on it looks like any
other: breeds "die" because the judge cannot tell them apart, and real images fall
into ``unrecognized``. Two signs give it away, checked once the real pool
(generation 0) has been judged (docs/reliability.md):

- held-out accuracy less than half-way from chance to perfect,
  ``accuracy < 1/K + MIN_SKILL * (1 - 1/K)`` for K breeds (75% for 2 breeds, 62.5% for
  4, 55% for 10): the judge gets fewer than half of the images right that guessing
  gets wrong (a Cohen's kappa below 0.5 on balanced data);
- more than ``MAX_REAL_UNRECOGNIZED`` (5%) of the real pool unrecognized: the
  threshold is set so that only ``judge.real_reject_rate`` (0.5%) of real held-out
  images fall below it, so a tenfold share of real images means the judge has not
  learnt what a real image of a breed looks like. On a small pool one image is
  already several percent, so the share must also be clearly above
  ``judge.real_reject_rate``: the one-sided 95% Clopper-Pearson lower bound of the
  rate above it (1 of 14 images is not, 2 of 14 are).

The default judge on the default data (99.5-99.9% accuracy, about 0.3% of the real
pool unrecognized) passes both with a wide margin.
"""

from __future__ import annotations

from imagelab.judge.calibration import clopper_pearson_lower
from imagelab.judge.model import Judge

MIN_SKILL = 0.5  # share of the way from chance to perfect accuracy below which the judge is weak
MAX_REAL_UNRECOGNIZED = 0.05  # share of the real pool a usable judge may leave unrecognized
WARNING_SOURCE = "judge"  # the "source" of these warnings in the manifest's "warnings" list


def accuracy_floor(num_breeds: int) -> float:
    """The held-out accuracy below which a judge of ``num_breeds`` breeds counts as weak."""
    chance = 1.0 / num_breeds
    return chance + MIN_SKILL * (1.0 - chance)


def judge_warnings(judge: Judge, real_unrecognized: float, pool_size: int,
                   train_per_breed: int) -> list[dict[str, str]]:
    """The warnings about ``judge`` (each {"source", "check", "message"}); empty when it passes both checks.

    ``real_unrecognized``: the share of the real pool of ``pool_size`` images it leaves
    unrecognized (generation 0's ``share_unrecognized``); ``train_per_breed``: the real
    images per breed it learnt from.
    """
    config = judge.config
    steps = ""
    if judge.training:
        steps = f" in {_count(judge.training['steps'], 'optimiser step')} ({_count(judge.training['epochs'], 'epoch')})"
    to_raise = (f"it learnt from {train_per_breed} images per breed{steps}: raise data.judge_train_per_breed, "
                f"judge.epochs (now {config.epochs}) or judge.min_steps (now {config.min_steps})")
    breeds = len(judge.breeds)
    floor = accuracy_floor(breeds)
    warnings = []  # (check, message)
    if judge.accuracy < floor:
        warnings.append(("judge_accuracy",
                         f"the judge is weak: held-out accuracy {judge.accuracy:.1%} for {breeds} breeds "
                         f"(chance {1 / breeds:.1%}, warning below {floor:.1%}), so breed shares and losses say "
                         f"little; {to_raise}; judge/judge.json has its confusion matrix"))
    rejected = round(real_unrecognized * pool_size)
    if (real_unrecognized > MAX_REAL_UNRECOGNIZED
            and clopper_pearson_lower(rejected, pool_size) > config.real_reject_rate):
        fixed = (f", or lower judge.confidence_threshold (now {config.confidence_threshold})"
                 if config.confidence_threshold is not None else "")
        warnings.append(("real_unrecognized",
                         f"the judge leaves {real_unrecognized:.1%} of the real pool (generation 0, {rejected} "
                         f"of {pool_size} images) unrecognized "
                         f"(warning above {MAX_REAL_UNRECOGNIZED:.0%}), so unrecognized shares and breed losses "
                         f"say little; {to_raise}{fixed}"))
    return [{"source": WARNING_SOURCE, "check": check, "message": message} for check, message in warnings]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
