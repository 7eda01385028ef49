"""Shared fixtures: a private judge cache for the whole session, and tiny configs."""

from __future__ import annotations

import pytest

TINY_OVERRIDES = [
    # Three breeds at 16 px, a small long tail, a judge and a VAE that train in seconds.
    "data.resolution=16",
    "data.breeds=[golden_retriever,dachshund,petit_basset_griffon_vendeen]",
    "data.imbalance.max_count=60",
    "data.imbalance.ratio=10",
    "data.judge_train_per_breed=40",
    "data.eval_per_breed=20",
    "judge.epochs=1",
    "judge.min_steps=0",  # one epoch means one step here: fast, and a weak judge (tests that need a good one say so)
    "generator.epochs=1",
    "loop.generations=2",
    "eval.grid_samples=16",
    "device=cpu",
]


@pytest.fixture(autouse=True, scope="session")
def _private_judge_cache(tmp_path_factory: pytest.TempPathFactory):
    """Judges trained by tests go to a temporary cache shared by the session, not ~/.cache."""
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("IMAGELAB_CACHE", str(tmp_path_factory.mktemp("imagelab-cache")))
    monkeypatch.setenv("IMAGELAB_DISABLE_PLUGIN_AUTOLOAD", "1")
    yield
    monkeypatch.undo()


@pytest.fixture
def tiny_overrides() -> list[str]:
    return list(TINY_OVERRIDES)
