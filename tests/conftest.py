"""Shared fixtures: a private judge cache for the whole session, tiny configs, a fresh thread choice."""

from __future__ import annotations

import pytest
import torch

from imagelab.runtime import threads

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


@pytest.fixture
def fresh_thread_choice(monkeypatch):
    """Each test starts as a fresh process would: no run has set threads, torch's count is the import-time one.

    (A run earlier in the suite, under a fixture's torch.set_num_threads, leaves its choice behind.)
    torch's count is restored afterwards.
    """
    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "_applied", None)
    monkeypatch.setattr(threads, "_TORCH_THREADS_AT_IMPORT", before)
    yield
    torch.set_num_threads(before)
