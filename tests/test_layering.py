"""The package's imports point one way: down the stages of the data flow to the plumbing.

Each module belongs to a layer; it may import its own layer and lower ones, never a higher one,
and never from inside a function (a function-local import usually hides a cycle).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "imagelab"

# Lowest first. A module's layer is that of the longest prefix of its dotted name listed here.
LAYERS = [
    ("imagelab.errors", "imagelab.registry", "imagelab.seeding", "imagelab.config_fields", "imagelab.config_parsing",
     "imagelab.runtime", "imagelab.runs"),
    ("imagelab.data",),
    ("imagelab.judge",),
    ("imagelab.generators",),
    ("imagelab.pools",),
    ("imagelab.metrics",),
    ("imagelab.report",),
    ("imagelab.config", "imagelab.preflight"),
    ("imagelab.loop",),
    ("imagelab.lab", "imagelab.run_reader"),
    ("imagelab.experiments",),
    ("imagelab.cli", "imagelab.plugin", "imagelab.__main__", "imagelab"),
]


def layer_of(module: str) -> int:
    matches = [(len(prefix), rank) for rank, prefixes in enumerate(LAYERS) for prefix in prefixes
               if module == prefix or module.startswith(prefix + ".")]
    if not matches:
        raise AssertionError(f"{module} belongs to no layer; add it to LAYERS in {Path(__file__).name}")
    return max(matches)[1]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imagelab_imports(tree: ast.AST) -> list[ast.ImportFrom | ast.Import]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "imagelab":
            found.append(node)
        elif isinstance(node, ast.Import) and any(a.name.split(".")[0] == "imagelab" for a in node.names):
            found.append(node)
    return found


def imported_modules(node: ast.ImportFrom | ast.Import) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "imagelab"]
    # `from imagelab.runtime import distributed` imports the module imagelab.runtime.distributed.
    return [f"{node.module}.{a.name}" if (PACKAGE.parent / f"{node.module}.{a.name}".replace(".", "/")).exists()
            or (PACKAGE.parent / (f"{node.module}.{a.name}".replace(".", "/") + ".py")).exists()
            else node.module for a in node.names]


SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down_the_layers(path: Path):
    module = module_name(path)
    tree = ast.parse(path.read_text())
    upward = [f"line {node.lineno}: {target}" for node in imagelab_imports(tree) for target in imported_modules(node)
              if layer_of(target) > layer_of(module)]
    assert not upward, f"{module} (layer {layer_of(module)}) imports higher layers: {upward}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_function_local_imports_of_the_package(path: Path):
    tree = ast.parse(path.read_text())
    local = [f"line {node.lineno}" for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
             for node in imagelab_imports(fn)]
    assert not local, f"{path.relative_to(PACKAGE)} imports imagelab inside functions at {local}"


def test_the_layer_check_sees_an_upward_import():
    assert layer_of("imagelab.data.splits") < layer_of("imagelab.loop.collapse")
    tree = ast.parse("from imagelab.loop.collapse import CollapseLoop\n")
    (node,) = imagelab_imports(tree)
    assert layer_of(imported_modules(node)[0]) > layer_of("imagelab.data.splits")
