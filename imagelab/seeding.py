"""Seeds derived from names, so every stage and every sample has its own.

A stage's randomness comes from ``derive_seed(run_seed, "fit", generation)``
rather than from a global RNG stream: a resumed run, a run with another batch
size or a run sharded across processes reaches the same numbers.
"""

from __future__ import annotations

import hashlib

import torch


def derive_seed(*parts: object) -> int:
    """A 63-bit seed determined by ``parts`` (ints and strings)."""
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def sample_seeds(seed: int, count: int, start: int = 0) -> list[int]:
    """Per-sample seeds: sample ``i`` always gets the same seed, whatever the batch or shard."""
    return [derive_seed(seed, "sample", i) for i in range(start, start + count)]


def per_sample_randn(shape: tuple[int, ...], seeds: list[int], device: torch.device | str = "cpu") -> torch.Tensor:
    """(len(seeds), *shape) standard normal noise, row ``i`` drawn from ``seeds[i]`` alone."""
    generator = torch.Generator()
    rows = [torch.randn(shape, generator=generator.manual_seed(s)) for s in seeds]
    return torch.stack(rows).to(device) if rows else torch.empty((0, *shape), device=device)


def torch_generator(seed: int) -> torch.Generator:
    """A CPU generator seeded with ``seed`` (CPU so results match across devices)."""
    return torch.Generator().manual_seed(seed)
