"""This process's share of a run when `accelerate launch` (or torchrun) starts several.

    accelerate launch --multi_gpu --num_processes 4 -m imagelab run ...

Every process runs the whole loop on the same data with the same seeds. Three
things are split between them, and put back together so that the numbers are those
of one process:

- training: each global batch is cut into one contiguous part per process, the
  model is wrapped in DistributedDataParallel, and each part's loss is scaled so
  that the averaged gradient is the gradient of the whole batch's loss;
- sampling and judging: each process takes a contiguous range of sample indices
  that starts and ends on the boundary of a sampling (or judging) pass, so every
  pass sees exactly the rows it sees in one process, and the ranges are gathered;
- files: only the main process writes the run folder (see RunFolder.follow).

Without a launcher (no WORLD_SIZE in the environment) nothing is initialised and
every helper here is the identity: one process, no torch.distributed.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn


@dataclass(frozen=True)
class Processes:
    """Where this process stands: ``index`` of ``count`` (the main process is index 0)."""

    index: int = 0
    count: int = 1
    device: torch.device | None = None  # the device accelerate assigned (cuda:LOCAL_RANK), None when not launched

    @property
    def is_main(self) -> bool:
        return self.index == 0

    @property
    def launched(self) -> bool:
        return self.count > 1

    # --- splitting work ------------------------------------------------------------------------

    def shard(self, count: int, chunk: int, index: int | None = None) -> range:
        """The sample indices of process ``index`` (default: this one) out of ``count``, in whole chunks.

        The ``ceil(count / chunk)`` chunks are dealt out contiguously, so a process's
        range starts on a chunk boundary and its passes are the passes of one process.
        """
        index = self.index if index is None else index
        chunks = -(-count // chunk)
        first, last = chunks * index // self.count, chunks * (index + 1) // self.count
        return range(min(first * chunk, count), min(last * chunk, count))

    def batch_part(self, size: int) -> slice:
        """This process's rows of a global batch of ``size`` rows (contiguous; may be empty)."""
        return slice(size * self.index // self.count, size * (self.index + 1) // self.count)

    # --- putting it back together --------------------------------------------------------------

    def gather(self, part: torch.Tensor, count: int, chunk: int) -> torch.Tensor:
        """The rows of all processes' shards (see ``shard``) in index order, on every process."""
        if not self.launched:
            return part
        import torch.distributed as dist

        sizes = [len(self.shard(count, chunk, i)) for i in range(self.count)]
        if len(part) != sizes[self.index]:
            raise RuntimeError(f"process {self.index} holds {len(part)} rows of its shard, "
                               f"expected {sizes[self.index]}")
        home = part.device
        wire = self._wire_device()
        padded = part.new_zeros((max(sizes), *part.shape[1:]), device=wire)
        padded[: len(part)] = part.to(wire)
        pieces = [torch.empty_like(padded) for _ in range(self.count)]
        dist.all_gather(pieces, padded)
        return torch.cat([piece[:size] for piece, size in zip(pieces, sizes)]).to(home)

    def sum(self, value: torch.Tensor) -> torch.Tensor:
        """``value`` summed over the processes (the value itself in one process)."""
        if not self.launched:
            return value
        import torch.distributed as dist

        total = value.detach().to(self._wire_device()).clone()
        dist.all_reduce(total)
        return total.to(value.device)

    def broadcast(self, value: object) -> object:
        """The main process's ``value``, on every process (picklable values only; used for messages)."""
        if not self.launched:
            return value
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def wait(self) -> None:
        if self.launched:
            import torch.distributed as dist

            dist.barrier()

    @contextmanager
    def main_first(self) -> Iterator[None]:
        """The main process runs the body first (filling caches and the run folder), then the others."""
        if not self.is_main:
            self.wait()
        yield
        if self.is_main:
            self.wait()

    def data_parallel(self, model: nn.Module) -> nn.Module:
        """``model`` wrapped in DistributedDataParallel when launched (gradients averaged over processes)."""
        if not self.launched:
            return model
        device_ids = [self.device.index] if self.device is not None and self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)

    def _wire_device(self) -> torch.device:
        # NCCL moves CUDA tensors only; gloo moves CPU tensors.
        return self.device if self.device is not None and self.device.type == "cuda" else torch.device("cpu")


_current = Processes()


def current() -> Processes:
    """This process's place; one process unless ``start`` found a launcher."""
    return _current


def start(cpu: bool) -> Processes:
    """Join the other processes if a launcher started several (WORLD_SIZE > 1); ``cpu``: use gloo on the CPU."""
    global _current
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or _current.launched:
        return _current
    from accelerate import PartialState

    state = PartialState(cpu=cpu)
    device = torch.device("cpu") if state.device.type == "cpu" else state.device
    _current = Processes(index=state.process_index, count=state.num_processes, device=device)
    if not _current.is_main:
        os.environ["TQDM_DISABLE"] = "1"  # one set of progress bars, the main process's
    return _current


def finish() -> None:
    """Leave the process group at the end of the command (every collective is behind us by then)."""
    global _current
    if _current.launched:
        import torch.distributed as dist

        dist.destroy_process_group()
        _current = Processes()
