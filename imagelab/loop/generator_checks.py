"""What the loop checks of a generator before it keeps anything the generator made.

A generator is the lab's one piece of third-party code, and a bad result it returns would
otherwise be saved, marked complete and measured: NaN weights sampled into black images
judged as a generation, or 16 px samples that fail only inside the judge, after they were
saved, so the run could not resume. So each ``fit`` and ``sample`` is checked as it returns,
before its files are written and before its stage is marked complete:

- fit: a ``FitReport`` with finite losses; ``state_tensors()`` finite (before saving);
- sample: an ``ImageSet`` of uint8 images ``(count, 3, R, R)`` with R = ``data.resolution``,
  exactly the requested count, labels in ``[0, num_classes)`` or ``UNLABELED``, and not
  all of them one flat colour.

A violation raises GeneratorOutputError, and an ordinary exception raised by the generator
becomes StageFailedError: one line that names the generator (with the package of a plugin),
the generation, the stage, and what was expected against what came; the traceback goes to
log.txt. The stage stays unmarked and nothing of it is on disk, so once the generator is
fixed the same command resumes the same folder.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import torch

from imagelab.data.imageset import UNLABELED, ImageSet
from imagelab.errors import (
    DivergedLossError,
    GeneratorOutputError,
    NonFiniteLossError,
    StageFailedError,
    UserError,
)
from imagelab.generators import GENERATORS, DataSpec, FitReport, Generator
from imagelab.loop.health import is_out_of_memory
from imagelab.runtime.code_versions import LAB_DISTRIBUTION, code_source
from imagelab.runtime.tracebacks import raised_at


class GeneratorChecks:
    """The checks on one run's generator, named ``name`` in the config, learning data described by ``spec``."""

    def __init__(self, name: str, spec: DataSpec) -> None:
        self.name = name
        self.spec = spec

    @cached_property
    def label(self) -> str:
        """``generator 'NAME'``, plus ``(package DIST VERSION)`` for a plugin whose package is known."""
        package = plugin_package(self.name)
        return f"generator '{self.name}'" + (f" (package {package})" if package else "")

    @cached_property
    def code_root(self) -> str | None:
        """The folder (or file) of the package that defines the generator: its lines are the ones to point at."""
        try:
            generator_class = GENERATORS.get(self.name)
        except LookupError:
            return None
        top = sys.modules.get(generator_class.__module__.split(".")[0])
        file = getattr(top, "__file__", None)
        if not file:
            return None
        return str(Path(file).parent) if Path(file).name == "__init__.py" else file

    def where(self, generation: int, stage: str) -> str:
        return f"{self.label}, generation {generation}, stage {stage}"

    @contextmanager
    def call(self, generation: int, stage: str) -> Iterator[None]:
        """Run a call into the generator; what it raises comes out naming the generator, generation and stage.

        User errors (exit 2), out-of-memory errors (named by the stage, health.py) and the
        loop's own stage failures pass unchanged; a NaN or diverged loss keeps its type.
        """
        try:
            yield
        except (NonFiniteLossError, DivergedLossError) as error:
            raise type(error)(f"{self.where(generation, stage)}: {error}") from error
        except (UserError, StageFailedError):
            raise
        except Exception as error:
            if isinstance(error, MemoryError) or is_out_of_memory(error):
                raise
            at = raised_at(error, within=self.code_root)
            raise StageFailedError(f"{self.where(generation, stage)}: raised {type(error).__name__}: {error}"
                                   + (f" (at {at})" if at else "")) from error

    # --- fit --------------------------------------------------------------------------------------

    def fitted(self, generation: int, report: object, generator: Generator) -> None:
        """Check what ``fit`` returned and learned, before the generator is saved."""
        where = self.where(generation, "fit")
        if not isinstance(report, FitReport):
            raise GeneratorOutputError(f"{where}: expected fit() to return a FitReport, got {_kind(report)}")
        bad = [(step, loss) for step, loss in enumerate(report.losses, 1) if not _finite_number(loss)]
        if bad:
            step, loss = bad[0]
            raise GeneratorOutputError(
                f"{where}: expected finite losses in its FitReport, got {loss!r} at loss {step} of "
                f"{len(report.losses)} ({len(bad)} not finite); pass each loss through check_finite to stop "
                f"at the step where it happens")
        self._check_extra(where, report, type(generator).fit_columns)
        tensors = generator.state_tensors()
        if not isinstance(tensors, dict) or not all(isinstance(t, torch.Tensor) for t in tensors.values()):
            raise GeneratorOutputError(f"{where}: expected state_tensors() to return a dict of named tensors, "
                                       f"got {_kind(tensors)}")
        for name, tensor in tensors.items():
            if tensor.is_floating_point() or tensor.is_complex():
                not_finite = int((~torch.isfinite(tensor)).sum())
                if not_finite:
                    raise GeneratorOutputError(
                        f"{where}: expected finite weights, got {not_finite} of {tensor.numel()} values of "
                        f"state tensor '{name}' NaN or infinite; nothing was saved")

    @staticmethod
    def _check_extra(where: str, report: FitReport, declared: tuple[str, ...]) -> None:
        """FitReport.extra holds a finite number for exactly the names the class lists in ``fit_columns``."""
        extra = report.extra if isinstance(report.extra, dict) else None
        if extra is None or set(extra) != set(declared):
            got = sorted(extra) if extra is not None else _kind(report.extra)
            raise GeneratorOutputError(f"{where}: expected FitReport.extra to hold the numbers its class lists in "
                                       f"fit_columns {sorted(declared)}, got {got}")
        bad = [name for name, value in extra.items() if not _finite_number(value)]
        if bad:
            raise GeneratorOutputError(f"{where}: expected finite numbers in FitReport.extra, got "
                                       f"{extra[bad[0]]!r} for '{bad[0]}'")

    # --- sample -----------------------------------------------------------------------------------

    def sampled(self, generation: int, made: object, count: int) -> None:
        """Check one process's ``sample_range`` result: an ImageSet of ``count`` uint8 images of the data's size."""
        where = self.where(generation, "sample")
        if not isinstance(made, ImageSet):
            raise GeneratorOutputError(f"{where}: expected an ImageSet, got {_kind(made)}")
        side = self.spec.resolution
        images, labels = made.images, made.labels
        if images.dtype != torch.uint8:
            raise GeneratorOutputError(f"{where}: expected uint8 images in [0, 255], got {images.dtype} "
                                       "(to_uint8 turns images in [-1, 1] into uint8)")
        if tuple(images.shape[1:]) != (3, side, side):
            raise GeneratorOutputError(f"{where}: expected images of shape (N, 3, {side}, {side}) "
                                       f"(data.resolution={side}), got {tuple(images.shape)}")
        if len(made) != count:
            raise GeneratorOutputError(f"{where}: expected {count} images, got {len(made)}")
        if labels.is_floating_point() or labels.dtype == torch.bool:
            raise GeneratorOutputError(f"{where}: expected integer labels, got {labels.dtype}")
        classes = self.spec.num_classes
        outside = labels[(labels != UNLABELED) & ((labels < 0) | (labels >= classes))]
        if len(outside):
            raise GeneratorOutputError(
                f"{where}: expected labels in [0, {classes}) or UNLABELED ({UNLABELED}), got "
                f"{len(outside)} outside, e.g. {int(outside[0])}")

    def not_one_colour(self, generation: int, images: torch.Tensor) -> None:
        """Check that the whole sample, ``(N, 3, H, W)`` uint8, is not a single flat colour (dead weights)."""
        per_channel = images.transpose(0, 1).reshape(images.shape[1], -1)  # (3, N*H*W)
        low, high = per_channel.amin(dim=1), per_channel.amax(dim=1)
        if len(images) > 1 and torch.equal(low, high):
            colour = tuple(int(value) for value in low)
            raise GeneratorOutputError(
                f"{self.where(generation, 'sample')}: expected images that vary, got all {len(images)} samples "
                f"one flat colour (RGB {colour}); NaN or dead weights sample like this")


def plugin_package(name: str) -> str | None:
    """``DIST VERSION`` of the installed package that provides generator ``name``; None for a built-in."""
    source = code_source("generator", name, GENERATORS)
    if source.distribution in (None, LAB_DISTRIBUTION):
        return None
    return " ".join(part for part in (source.distribution, source.version) if part)


def _finite_number(value: object) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _kind(value: object) -> str:
    return "None" if value is None else f"a {type(value).__name__}"
