"""The render cache: a later draw of the same toy dogs is read back, identical, and a stale or damaged one is not."""

import dataclasses
import types

import pytest
import torch

from imagelab.cli import main
from imagelab.config import DataConfig
from imagelab.data import render_cache
from imagelab.data.render_cache import cache_entry, renderer_version
from imagelab.data.toydogs_dataset import ToyDogs

BREEDS = [0, 3]
SIZES = {"pool": [5, 2], "judge_train": [3, 0]}


def draw(*, seed=None, resolution=16):
    return ToyDogs(dataclasses.replace(DataConfig(), seed=seed)).draw_splits(BREEDS, SIZES, resolution)


def refuse_rendering(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("rendered although the cache holds this draw")
    monkeypatch.setattr(ToyDogs, "draw", fail)


def assert_same(a, b):
    assert a.keys() == b.keys()
    for split in a:
        assert [t.shape for t in a[split]] == [t.shape for t in b[split]]
        assert all(torch.equal(x, y) for x, y in zip(a[split], b[split]))


def test_a_second_draw_is_read_from_the_cache_and_identical(monkeypatch):
    first = draw()
    assert first["judge_train"][1].shape == (0, 3, 16, 16)
    refuse_rendering(monkeypatch)
    assert_same(draw(), first)


def test_other_settings_are_other_entries(monkeypatch):
    entries = {cache_entry(BREEDS, SIZES, 16, None), cache_entry(BREEDS, SIZES, 32, None),
               cache_entry(BREEDS, SIZES, 16, 7), cache_entry([0, 4], SIZES, 16, None),
               cache_entry(BREEDS, {"pool": [5, 3], "judge_train": [3, 0]}, 16, None)}
    assert len(entries) == 5
    draw()
    refuse_rendering(monkeypatch)
    with pytest.raises(AssertionError, match="rendered although"):
        draw(seed=7)  # another data.seed is another draw: it must be rendered


def test_an_edit_to_the_renderer_changes_the_key(tmp_path, monkeypatch):
    source = tmp_path / "renderer.py"
    source.write_text("PAINT = 1\n")
    monkeypatch.setattr(render_cache, "RENDERER_SOURCES", (types.SimpleNamespace(__file__=str(source)),))
    before = (renderer_version(), cache_entry(BREEDS, SIZES, 16, None))
    source.write_text("PAINT = 2\n")
    assert renderer_version() != before[0] and cache_entry(BREEDS, SIZES, 16, None) != before[1]


@pytest.mark.parametrize("damage", ["truncated", "wrong shapes"])
def test_a_damaged_or_wrong_cache_file_is_rendered_again(damage, monkeypatch, caplog):
    first = draw()
    entry = cache_entry(BREEDS, SIZES, 16, None)
    if damage == "truncated":
        entry.write_bytes(entry.read_bytes()[:100])
    else:
        wrong = [torch.zeros(1, 3, 16, 16, dtype=torch.uint8) for _ in BREEDS]
        render_cache._write(entry, {"pool": wrong, "judge_train": []})
    assert_same(draw(), first)
    assert "ignoring the" in caplog.text and str(entry) in caplog.text
    refuse_rendering(monkeypatch)
    assert_same(draw(), first)  # the rendered draw replaced the bad file


def test_a_run_from_the_cache_has_the_metrics_of_a_run_that_rendered(tiny_overrides, tmp_path, monkeypatch):
    overrides = [*(o for o in tiny_overrides if not o.startswith("loop.")), "loop.generations=1", "data.seed=11"]
    assert main(["run", "--out", str(tmp_path / "rendered"), *overrides]) == 0
    refuse_rendering(monkeypatch)
    assert main(["run", "--out", str(tmp_path / "cached"), *overrides]) == 0
    assert (tmp_path / "cached" / "metrics.csv").read_bytes() == (tmp_path / "rendered" / "metrics.csv").read_bytes()
    assert "read from the cache" in (tmp_path / "cached" / "log.txt").read_text()
