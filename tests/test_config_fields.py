"""Bounds declared with ``bounded`` are the one check of a setting's range, whoever owns the dataclass."""

from dataclasses import dataclass, field

import pytest

from imagelab.config import parse_dataclass
from imagelab.config_fields import Bounds, bounded, check_bounds
from imagelab.errors import ConfigError


@dataclass
class Settings:
    share: float = bounded(0.5, ge=0.0, le=1.0)
    rate: float = bounded(1e-3, gt=0.0)
    steps: int = bounded(4, ge=1)
    mode: str = bounded("soft", choices=("soft", "hard"))
    sizes: list[int] = bounded(default_factory=lambda: [4, 8], ge=1)
    floor: float | None = bounded(None, ge=0.0)
    legacy: int = field(default=3, metadata={"min": 1, "max": 9})  # the plain dict of earlier plugins
    free: str = "anything"


@pytest.mark.parametrize("tree, message", [
    ({"share": 1.5}, r"section\.share: must be between 0.0 and 1.0, got 1.5"),
    ({"rate": 0}, r"section\.rate: must be > 0.0, got 0.0"),
    ({"steps": 0}, r"section\.steps: must be >= 1, got 0"),
    ({"mode": "medium"}, r"section\.mode: must be one of soft, hard; got 'medium'"),
    ({"sizes": [4, 0]}, r"section\.sizes\[1\]: must be >= 1, got 0"),
    ({"floor": -1}, r"section\.floor: must be >= 0.0, got -1.0"),
    ({"legacy": 10}, r"section\.legacy: must be between 1 and 9, got 10"),
    ({"steps": 2.5}, r"section\.steps: must be an integer, got 2.5"),
])
def test_the_parser_refuses_a_value_outside_its_bounds_naming_the_key(tree, message):
    with pytest.raises(ConfigError, match=message):
        parse_dataclass(Settings, tree, "section.")


def test_values_within_bounds_pass_and_none_passes_an_optional_field():
    tree = {"share": 1, "rate": "1e-4", "sizes": [1], "floor": None, "legacy": 9}
    parsed = parse_dataclass(Settings, tree, "s.")
    assert parsed == Settings(share=1.0, rate=1e-4, sizes=[1], floor=None, legacy=9)


def test_check_bounds_applies_the_same_rules_to_a_directly_built_config():
    check_bounds(Settings())
    with pytest.raises(ConfigError, match=r"generator\.sizes\[0\]: must be >= 1, got -2"):
        check_bounds(Settings(sizes=[-2]), "generator.")
    with pytest.raises(ConfigError, match=r"generator\.legacy: must be between 1 and 9, got 0"):
        check_bounds(Settings(legacy=0), "generator.")


def test_bounds_describe_themselves():
    assert Bounds(ge=0.0, le=1.0).describe() == "between 0.0 and 1.0"
    assert Bounds(gt=0.0, le=1.0).describe() == "> 0.0 and <= 1.0"
    assert Bounds(lt=5).describe() == "< 5"
