"""The lab's errors: the user's to fix (UserError, exit status 2) and failed stages (StageFailedError, exit 1).

The CLI prints either in one line; the run's log.txt holds the traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input (config, data, files, run folder): one clear message, no traceback."""


class ConfigError(UserError):
    """A config key with a bad value; the message names the key and what is allowed."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


class DataError(UserError):
    """Data that cannot be used: a missing root, an empty breed, an unreadable file."""


class RunFolderError(UserError):
    """A run folder that cannot be used as asked (another config, locked, unwritable)."""


class StageFailedError(RuntimeError):
    """A stage of the loop failed: the run stops (exit status 1), nothing of the stage is kept or marked
    complete, and earlier generations stay, so once the cause is fixed the same command resumes."""


class GeneratorOutputError(StageFailedError):
    """A generator returned what the loop cannot use (wrong dtype, shape, count or labels, non-finite
    losses or weights, all samples one colour); the message names the generator, generation and stage."""


class NonFiniteLossError(StageFailedError):
    """Training produced a NaN or infinite loss; the run stops (exit status 1), earlier generations stay."""


class DivergedLossError(StageFailedError):
    """Training blew up without a NaN: its last epoch's loss is far above its first step's (exit status 1)."""


class DiskSpaceError(UserError):
    """Too little free disk for what a generation will write; the run stops before writing and resumes later."""


class RunsFailedError(RuntimeError):
    """Runs started side by side (--jobs) that failed; each is named with its exit status and log (exit status 1)."""


class DeviceOutOfMemoryError(StageFailedError):
    """A stage ran out of device memory; the run stops (exit status 1), earlier generations stay."""
