"""Errors that are the user's to fix: the CLI prints them in one line and exits with status 2."""

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


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss; the run stops (exit status 1), earlier generations stay."""


class DiskSpaceError(UserError):
    """Too little free disk for what a generation will write; the run stops before writing and resumes later."""


class RunsFailedError(RuntimeError):
    """Runs started side by side (--jobs) that failed; each is named with its exit status and log (exit status 1)."""


class DeviceOutOfMemoryError(RuntimeError):
    """A stage ran out of device memory; the run stops (exit status 1), earlier generations stay."""
