"""The real data of a run: a long-tailed pool and balanced, disjoint judge splits."""

import torch

from imagelab.config import load_config
from imagelab.data import build_real_data

OVERRIDES = ["data.resolution=16", "data.imbalance.max_count=40", "data.imbalance.ratio=8",
             "data.judge_train_per_breed=12", "data.eval_per_breed=5",
             "data.breeds=[beagle,golden_retriever,dalmatian,basset_hound]"]


def test_splits_are_balanced_disjoint_and_the_pool_follows_the_profile():
    data = build_real_data(load_config(None, OVERRIDES).data)
    assert data.breeds == ("beagle", "golden_retriever", "dalmatian", "basset_hound")  # the order asked for
    assert data.judge_train.label_counts(4).tolist() == [12] * 4
    assert data.judge_eval.label_counts(4).tolist() == [5] * 4
    assert data.pool.label_counts(4).tolist() == [40, 20, 10, 5]  # exponential 40 * 8^(-i/3)
    assert data.reference.label_counts(4).tolist() == data.pool.label_counts(4).tolist()
    # No image appears in two splits (every image is its own row of bytes).
    seen = {}
    for name in ("pool", "judge_train", "judge_eval", "reference"):
        for row in getattr(data, name).images.flatten(1):
            key = row.numpy().tobytes()
            assert key not in seen, f"an image of {name} is also in {seen.get(key)}"
            seen[key] = name
    # Splits depend on the data config only, not on the run seed.
    other_seed = build_real_data(load_config(None, [*OVERRIDES, "seed=7"]).data)
    assert torch.equal(other_seed.pool.images, data.pool.images)
    assert torch.equal(other_seed.judge_train.images, data.judge_train.images)
