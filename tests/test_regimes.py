"""Each regime builds the pool it promises, on constructed image sets (no training)."""

import pytest
import torch

from imagelab.config import load_config
from imagelab.data import build_real_data
from imagelab.data.imageset import REAL, ImageSet
from imagelab.errors import ConfigError
from imagelab.judge.judgement import Judgement
from imagelab.pools.filters import FILTERS
from imagelab.pools.regimes import (
    REGIMES,
    MixConfig,
    PoolHistory,
    build_regime,
    compose_pool,
    next_pool,
    pool_composition,
    reservoir_pools,
)


def tagged(first_id: int, count: int, provenance: int, labels=None) -> ImageSet:
    """``count`` 1x1 images whose two first channels spell a unique id (first_id, first_id + 1, ...)."""
    ids = torch.arange(first_id, first_id + count)
    images = torch.zeros(count, 3, 1, 1, dtype=torch.uint8)
    images[:, 0, 0, 0], images[:, 1, 0, 0] = ids // 256, ids % 256
    labels = torch.zeros(count, dtype=torch.int64) if labels is None else torch.as_tensor(labels)
    return ImageSet(images, labels, torch.full((count,), provenance))


def ids(images: ImageSet) -> set[int]:
    return set((images.images[:, 0, 0, 0].long() * 256 + images.images[:, 1, 0, 0].long()).tolist())


REAL_POOL = tagged(0, 100, REAL)
RESERVOIR = tuple(tagged(1000 + 100 * block, 100, REAL) for block in range(3))  # blocks for generations 2, 3, 4
SAMPLES = [tagged(5000 + 1000 * k, 100, k + 1) for k in range(3)]  # samples of generations 1, 2, 3


def judged(labels: torch.Tensor, confidence: torch.Tensor) -> Judgement:
    """A Judgement with the given labels and confidences (features unused by the pools)."""
    return Judgement(labels, labels, confidence, torch.zeros(len(labels), 4))


def history(generation: int, seed: int = 0, judgements=None) -> PoolHistory:
    samples = SAMPLES[: generation - 1]
    judgements = judgements or [judged(s.labels, torch.ones(len(s))) for s in samples]
    return PoolHistory(REAL_POOL, samples, seed=1000 + generation, run_seed=seed, judgements=judgements,
                       reservoir=RESERVOIR, num_breeds=1)


def regime(name: str, **settings):
    """The regime ``name`` with its Config's defaults, changed by ``settings``."""
    chosen = REGIMES.get(name)
    return chosen(chosen.Config(**settings))


def mix(fraction: float, source: str = "fixed"):
    return regime("mix", real_fraction=fraction, real_source=source)


KEEP_ALL = FILTERS.get("none")(FILTERS.get("none").Config())


@pytest.mark.parametrize("name", REGIMES.names())
def test_generation_one_learns_the_real_pool_under_every_regime(name):
    assert ids(REGIMES.get(name)(REGIMES.get(name).Config()).compose(history(1))) == ids(REAL_POOL)


def test_replace_is_the_latest_samples():
    assert ids(regime("replace").compose(history(3))) == ids(SAMPLES[1])


@pytest.mark.parametrize("fraction, real", [(0.0, 0), (0.3, 30), (0.5, 50), (1.0, 100)])
def test_mix_holds_the_real_fraction_of_a_pool_of_the_real_pools_size(fraction, real):
    pool = mix(fraction).compose(history(3))
    assert len(pool) == 100 and len(ids(pool)) == 100
    assert int((pool.provenance == REAL).sum()) == real
    assert int((pool.provenance == 2).sum()) == 100 - real  # the rest: generation 2's samples, only
    assert ids(pool.subset(pool.provenance == REAL)) <= ids(REAL_POOL)


def test_mix_fixed_reuses_the_same_real_images_every_generation():
    real = [ids(next_pool(mix(0.3), KEEP_ALL, history(g)).subset(slice(0, 30))) for g in (2, 3, 4)]
    assert real[0] == real[1] == real[2] and real[0] <= ids(REAL_POOL)
    smaller = ids(mix(0.1).compose(history(3)).subset(slice(0, 10)))
    assert smaller < real[0]  # a smaller fraction takes a subset of the same images
    other_seed = ids(mix(0.3).compose(history(3, seed=1)).subset(slice(0, 30)))
    assert other_seed != real[0]


def test_mix_fresh_draws_new_real_images_each_generation_from_its_reservoir_block():
    real = [mix(0.4, "fresh").compose(history(g)).subset(slice(0, 40)) for g in (2, 3, 4)]
    for generation, drawn in zip((2, 3, 4), real):
        assert (drawn.provenance == REAL).all() and len(ids(drawn)) == 40
        assert ids(drawn) <= ids(RESERVOIR[generation - 2])
    assert not ids(real[0]) & ids(real[1]) and not ids(real[1]) & ids(real[2])
    assert not ids(REAL_POOL) & set().union(*map(ids, real))


def test_accumulate_keeps_everything_and_subsample_keeps_the_pool_size():
    pool = regime("accumulate").compose(history(4))
    assert len(pool) == 400 and ids(pool) == ids(REAL_POOL) | ids(SAMPLES[0]) | ids(SAMPLES[1]) | ids(SAMPLES[2])
    assert torch.bincount(pool.provenance).tolist() == [100, 100, 100, 100]
    subset = regime("accumulate-subsample").compose(history(4))
    assert len(subset) == 100 and len(ids(subset)) == 100 and ids(subset) <= ids(pool)
    assert len(set(subset.provenance.tolist())) == 4  # a random draw over all generations, not the newest
    assert ids(regime("accumulate-subsample").compose(history(4))) == ids(subset)  # pure: same history, same pool


def test_a_filter_that_leaves_fewer_samples_shrinks_the_mix_but_keeps_its_fraction():
    judgements = [judged(torch.zeros(100, dtype=torch.int64), torch.linspace(0, 1, 100)) for _ in SAMPLES[:2]]
    confident = FILTERS.get("confident")(FILTERS.get("confident").Config(threshold=0.8))
    pool = next_pool(mix(0.5), confident, history(3, judgements=judgements))
    synthetic = pool.subset(pool.provenance != REAL)
    assert len(synthetic) == 20  # confidence >= 0.8: the top 20 of 100
    assert pool_composition(pool) == {"pool_size": 40, "pool_real_share": 0.5}


def test_the_real_fraction_schedule_and_its_checks():
    overrides = ["loop.regime=mix", "loop.generations=5", "loop.real_fraction_schedule=[0.5,0.25]"]
    config = load_config(None, overrides)
    assert config.regime == MixConfig(real_fraction_schedule=[0.5, 0.25])
    assert [build_regime(config).real_fraction(g) for g in range(1, 6)] == [1.0, 0.5, 0.25, 0.25, 0.25]
    with pytest.raises(ConfigError, match="only used by regime mix"):
        load_config(None, ["loop.real_fraction=0.5"])
    with pytest.raises(ConfigError, match="lists 5 fractions but only 4 pools"):
        load_config(None, [*overrides, "loop.real_fraction_schedule=[1,1,1,1,1]"])
    with pytest.raises(ConfigError, match=r"real_fraction_schedule\[1\]: must be between 0.0 and 1.0"):
        load_config(None, [*overrides, "loop.real_fraction_schedule=[0.5,2]"])
    with pytest.raises(ConfigError, match="either regime.real_fraction or a schedule"):
        load_config(None, [*overrides, "loop.real_fraction=0.5"])
    with pytest.raises(ConfigError, match="unknown filter 'confidnet'; available: confident"):
        load_config(None, ["loop.filter=confidnet"])


def test_the_reservoir_is_built_only_for_fresh_real_data_and_is_disjoint_from_the_other_splits():
    overrides = ["data.resolution=8", "data.breeds=[beagle,dalmatian]", "data.imbalance.max_count=12",
                 "data.imbalance.ratio=4", "data.judge_train_per_breed=3", "data.eval_per_breed=2",
                 "loop.generations=3"]
    assert reservoir_pools(load_config(None, [*overrides, "loop.regime=mix"])) == 0
    config = load_config(None, [*overrides, "loop.regime=mix", "loop.real_source=fresh", "loop.real_fraction=0.5"])
    data = build_real_data(config.data, reservoir_pools(config))
    assert len(data.reservoir) == 2  # generations 2 and 3
    for block in data.reservoir:
        assert block.label_counts(2).tolist() == data.pool.label_counts(2).tolist() == [12, 3]
    seen = set()
    for images in (data.pool, data.judge_train, data.judge_eval, data.reference, *data.reservoir):
        rows = {row.numpy().tobytes() for row in images.images.flatten(1)}
        assert len(rows) == len(images) and not rows & seen
        seen |= rows
    synthetic = ImageSet(torch.zeros(15, 3, 8, 8, dtype=torch.uint8), torch.zeros(15, dtype=torch.int64),
                         torch.ones(15, dtype=torch.int64))
    pool = compose_pool(config, data.pool, data.reservoir, [synthetic],
                        [judged(torch.zeros(15, dtype=torch.int64), torch.ones(15))], num_breeds=2)
    assert pool_composition(pool) == {"pool_size": 15, "pool_real_share": 8 / 15}
    real = {row.numpy().tobytes() for row in pool.subset(pool.provenance == REAL).images.flatten(1)}
    assert real <= {row.numpy().tobytes() for row in data.reservoir[0].images.flatten(1)}
