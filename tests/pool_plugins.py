"""A regime and a filter written as a third party would: no edit of imagelab, each with its own Config.

tests/test_pool_plugins.py finds them by ``module:Class`` path and through entry points.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from imagelab.config_fields import bounded
from imagelab.data.imageset import ImageSet
from imagelab.pools.filters import SAMPLES, Filter, FilterConfig
from imagelab.pools.regimes import PoolHistory, Regime, RegimeConfig


@dataclass
class ThinnedConfig(RegimeConfig):
    keep_every: int = bounded(2, ge=1)  # the pool keeps images 0, k, 2k, ... of its source


class Thinned(Regime):
    """Every k-th image of the real pool (generation 1) or of the latest samples."""

    Config = ThinnedConfig

    def compose(self, history: PoolHistory) -> ImageSet:
        source = history.samples[-1] if history.samples else history.real_pool
        return source.subset(slice(0, None, self.config.keep_every))


@dataclass
class MostConfidentConfig(FilterConfig):
    count: int = bounded(30, ge=1)  # samples kept of each generation's set


class MostConfident(Filter):
    """The ``count`` samples of each set that the judge is most confident about, most confident first."""

    Config = MostConfidentConfig
    stage = SAMPLES

    def select(self, images, judgement, *, real_shares, generator):
        order = torch.argsort(judgement.confidence, descending=True, stable=True)
        return order[: self.config.count]
