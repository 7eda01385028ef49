"""Artifacts hold no code: weights are safetensors, and the package never unpickles or loads unsafe YAML."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from safetensors import safe_open

import imagelab
from imagelab.cli import main
from imagelab.runtime.cache import cache_root

PACKAGE = Path(imagelab.__file__).resolve().parent
PICKLE_SUFFIXES = {".pt", ".pth", ".bin", ".pkl", ".pickle", ".ckpt", ".joblib", ".npy", ".npz"}
# What a run folder (and the judge cache) may hold; a new kind of file has to be added here on purpose.
ALLOWED_SUFFIXES = {".safetensors", ".json", ".yaml", ".csv", ".txt", ".png", ".gif", ".html", ".lock"}

# Calls that can run code stored in a file, by fully qualified name. torch.load is allowed with weights_only=True.
UNSAFE_CALLS = {
    "pickle.load", "pickle.loads", "pickle.Unpickler", "_pickle.load", "_pickle.loads", "dill.load", "dill.loads",
    "cloudpickle.load", "cloudpickle.loads", "joblib.load", "marshal.load", "marshal.loads", "shelve.open",
    "yaml.load", "yaml.load_all", "yaml.unsafe_load", "yaml.unsafe_load_all", "yaml.full_load", "yaml.full_load_all",
}


def unsafe_loads(source: str) -> list[str]:
    """``line: call`` for every call in ``source`` that could unpickle or build arbitrary objects.

    Names are resolved through the module's imports (``import torch as t``, ``from pickle import
    load``), so aliases are caught, and comments and strings are not code.
    """
    tree = ast.parse(source)
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases.update({a.asname or a.name.split(".")[0]: a.name if a.asname else a.name.split(".")[0]
                            for a in node.names})
        elif isinstance(node, ast.ImportFrom) and node.module:
            aliases.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names})
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _qualified(node.func, aliases)
        keywords = {k.arg: k.value for k in node.keywords}
        if name in UNSAFE_CALLS:
            found.append(f"{node.lineno}: {name}")
        elif name == "torch.load" and not _is_true(keywords.get("weights_only")):
            found.append(f"{node.lineno}: torch.load without weights_only=True")
        elif name == "numpy.load" and "allow_pickle" in keywords and not _is_false(keywords["allow_pickle"]):
            found.append(f"{node.lineno}: numpy.load with allow_pickle")
    return found


def _qualified(func: ast.expr, aliases: dict[str, str]) -> str | None:
    parts = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if not isinstance(func, ast.Name):
        return None
    return ".".join([aliases.get(func.id, func.id), *reversed(parts)])


def _is_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _is_false(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is False


def test_the_scan_sees_through_comments_and_aliases():
    assert unsafe_loads("# torch.load(path)\nx = 'pickle.load(f)'\nimport yaml\nyaml.safe_load(s)\n") == []
    assert unsafe_loads("import torch\ntorch.load(p, weights_only=True)\n") == []
    assert unsafe_loads("import torch as t\nt.load(p)\n") == ["2: torch.load without weights_only=True"]
    assert unsafe_loads("import torch\ntorch.load(p, weights_only=False)\n") == [
        "2: torch.load without weights_only=True"]
    assert unsafe_loads("from torch import load\nload(p, map_location='cpu')\n") == [
        "2: torch.load without weights_only=True"]
    assert unsafe_loads("from pickle import loads as restore\nrestore(b)\n") == ["2: pickle.loads"]
    assert unsafe_loads("import yaml\nyaml.load(s, Loader=yaml.Loader)\nyaml.unsafe_load(s)\n") == [
        "2: yaml.load", "3: yaml.unsafe_load"]
    assert unsafe_loads("import numpy as np\nnp.load(p)\nnp.load(p, allow_pickle=True)\n") == [
        "3: numpy.load with allow_pickle"]


def test_the_package_source_never_loads_pickles_or_unsafe_yaml():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 20 and PACKAGE / "loop" / "collapse.py" in files
    found = [f"{path.relative_to(PACKAGE.parent)}:{hit}" for path in files for hit in unsafe_loads(path.read_text())]
    assert found == []


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from tests.conftest import TINY_OVERRIDES

    out = tmp_path_factory.mktemp("safe") / "run"
    assert main(["run", "--out", str(out), *TINY_OVERRIDES]) == 0
    return out


@pytest.mark.parametrize("where", ["run folder", "judge cache"])
def test_a_run_writes_weights_only_as_safetensors(where, finished_run):
    folder = finished_run if where == "run folder" else cache_root() / "judges"  # trained judges, reused by runs
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert not [p for p in files if p.suffix in PICKLE_SUFFIXES]
    assert not [p for p in files if p.suffix not in ALLOWED_SUFFIXES]
    weights = [p for p in files if p.suffix == ".safetensors"]
    assert weights
    for path in weights:  # every one is a real safetensors file (a header of named tensors, no code)
        with safe_open(str(path), framework="pt") as handle:
            assert list(handle.keys())
    if where == "run folder":
        names = {str(p.relative_to(finished_run)) for p in weights}
        assert {"judge/model.safetensors", "gen_001/generator/model.safetensors",
                "gen_002/generator/model.safetensors"} <= names
