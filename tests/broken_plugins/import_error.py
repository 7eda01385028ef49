"""A plugin module with a plain bug at import time: a KeyError before any class is defined."""

from tests.broken_plugins.tiny import Tiny

DEFAULTS = {"a": 1.0}
SCALE = DEFAULTS["b"]  # raises here: import-error


class Scaled(Tiny):
    """Never defined: the module fails above."""
