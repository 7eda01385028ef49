"""Work shared by the processes of a run: each does its shard of the rows, every one gets all rows back.

Sampling and judging are split this way (see runtime/distributed.py): ``count`` rows,
done ``chunk`` at a time, are dealt out in whole chunks, so each process's passes are
exactly the passes one process would make, and the gathered rows are in index order.
In a run of one process the shard is every row and gathering returns it unchanged.
"""

from __future__ import annotations

import torch

from imagelab.runtime.distributed import Processes


class Shards:
    """How ``count`` rows, ``chunk`` per pass, are split between ``processes``."""

    def __init__(self, processes: Processes, count: int, chunk: int) -> None:
        self.processes = processes
        self.count = count
        self.chunk = chunk
        self.mine: range = processes.shard(count, chunk)  # this process's row indices

    def take(self, rows: torch.Tensor) -> torch.Tensor:
        """This process's rows of a tensor that holds all ``count`` of them."""
        return rows[self.mine.start:self.mine.stop]

    def gather(self, part: torch.Tensor) -> torch.Tensor:
        """Every process's ``part`` (its shard's rows), concatenated in index order, on every process."""
        return self.processes.gather(part, self.count, self.chunk)
