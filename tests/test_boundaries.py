"""The architecture's boundaries, checked: what imports what, and that every primitive is registered whole."""

from __future__ import annotations

import ast
from pathlib import Path

AUTOGRAD = Path(__file__).resolve().parent.parent / "autograd"


def _autograd_imports(module: str) -> set[str]:
    """The autograd modules `module` imports anywhere in its source (deferred imports inside functions too)."""
    tree = ast.parse((AUTOGRAD / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:  # from . import x / from .x import y
                found |= {node.module} if node.module else {alias.name for alias in node.names}
            elif node.module and node.module.split(".")[0] == "autograd":
                found.add(node.module.split(".")[1] if "." in node.module else "autograd")
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("autograd.")}
    return found


def test_the_kernels_know_nothing_of_tensor() -> None:
    tree = ast.parse((AUTOGRAD / "kernels.py").read_text())
    assert _autograd_imports("kernels") == set()
    assert not [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == "Tensor"]


def test_the_derivative_table_does_not_import_the_engine() -> None:
    # the engine calls the table (unbroadcast), never the other way round: no import loop between them
    assert "engine" not in _autograd_imports("ops")
    assert "ops" in _autograd_imports("engine")
