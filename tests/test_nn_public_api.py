"""nn is autograd's first user: it reaches autograd through the public API only.

The rule, checked on the source of every module under nn/ (examples included) with `ast`:

1. Modules: nn imports `autograd` and its documented public submodules (PUBLIC_SUBMODULES) and nothing else of
   it: not `autograd.core`, `autograd.ops`, `autograd.functions`, ... (their layout is autograd's own business;
   everything public is exported from the package itself). This holds for `import`, `from ... import` and
   attribute chains such as `autograd.ops.nll`.
2. Names: a name taken from `autograd` (or from a public submodule) must not start with an underscore, and must
   exist there.
3. Attributes: `obj._name` (read, write, delete, or `getattr(obj, "_name")` and its relatives) is allowed only for
   nn's own private names: `_name` must be defined somewhere in nn and must not be a private attribute of any
   autograd class (`Tensor._data`, `Tensor._wrap`, `Node._where`, ...), since an nn object cannot be told from an
   autograd one by reading the source. Dunder names (`__class__`) are not private.

A layer written outside nn has everything nn has exactly when these hold.
"""

from __future__ import annotations

import ast
import importlib
import pathlib
import types

import pytest

import autograd

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Submodules that are public API, documented as such (autograd.functional as torch.autograd.functional, viz,
# autograd.graph as torch.autograd.graph). Any other submodule is an implementation detail.
PUBLIC_SUBMODULES = frozenset({"functional", "viz", "graph", "random", "device", "errors"})
ACCESSORS = frozenset({"getattr", "setattr", "hasattr", "delattr"})


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__")) and name != "_"


def _sources(package: str) -> list[pathlib.Path]:
    return sorted((ROOT / package).rglob("*.py"))


def autograd_private_attributes() -> frozenset[str]:
    """Every private name an autograd object can carry: names defined in a class body (methods, class
    attributes, `__slots__` entries) and attributes assigned anywhere (`t._data = ...`)."""
    names = set()
    for path in _sources("autograd"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for stmt in node.body:
                    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                        names.add(stmt.name)
                    targets = stmt.targets if isinstance(stmt, ast.Assign) else (
                        [stmt.target] if isinstance(stmt, ast.AnnAssign) else [])
                    for target in targets:
                        if isinstance(target, ast.Name):
                            names.add(target.id)
                            if target.id == "__slots__" and stmt.value is not None:
                                names.update(c.value for c in ast.walk(stmt.value)
                                             if isinstance(c, ast.Constant) and isinstance(c.value, str))
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, (ast.Store, ast.Del)):
                names.add(node.attr)
    return frozenset(n for n in names if _private(n))


def defined_names(paths: list[pathlib.Path]) -> frozenset[str]:
    """Every name the given sources define: functions, classes, variables, attributes assigned, import aliases,
    and string constants (`__slots__` entries, names set through setattr)."""
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, (ast.Store, ast.Del)):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.alias):
                names.add(node.asname or node.name)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
                names.add(node.value)
    return frozenset(names)


def _check_public(module: str, name: str) -> str | None:
    """Why `module.name` (module: 'autograd' or a public submodule's dotted name) is not public, or None."""
    if _private(name):
        return f"{module}.{name} is private"
    value = getattr(importlib.import_module(module), name, None)
    if value is None and module == "autograd":
        try:
            value = importlib.import_module(f"autograd.{name}")
        except ImportError:
            return f"{module}.{name} does not exist"
    if value is None:
        return f"{module}.{name} does not exist"
    if isinstance(value, types.ModuleType) and (module != "autograd" or name not in PUBLIC_SUBMODULES):
        return f"{module}.{name} is an implementation module (public: autograd, {sorted(PUBLIC_SUBMODULES)})"
    return None


def _module_ok(dotted: str) -> str | None:
    """Why importing the module `dotted` ('autograd', 'autograd.core', ...) is not allowed, or None."""
    parts = dotted.split(".")
    if parts[0] != "autograd" or len(parts) == 1:
        return None
    if len(parts) > 2 or parts[1] not in PUBLIC_SUBMODULES:
        return f"module {dotted} is not public (public: autograd, {sorted(f'autograd.{m}' for m in PUBLIC_SUBMODULES)})"
    return None


def violations(source: str, filename: str, own: frozenset[str], autograd_private: frozenset[str]) -> list[str]:
    """Every use of a private part of autograd in `source` (see the module docstring for the rule)."""
    tree = ast.parse(source, filename)
    found: list[str] = []
    aliases: dict[str, str] = {}  # local name -> the autograd module it is bound to

    def report(node: ast.AST, why: str) -> None:
        found.append(f"{filename}:{node.lineno}: {why}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != "autograd":
                    continue
                why = _module_ok(alias.name)
                if why:
                    report(node, why)
                aliases[alias.asname or "autograd"] = alias.name if alias.asname else "autograd"
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            if node.module.split(".")[0] != "autograd":
                continue
            why = _module_ok(node.module)
            if why:
                report(node, why)
                continue
            for alias in node.names:
                why = _check_public(node.module, alias.name) if alias.name != "*" else None
                if why:
                    report(node, why)
                elif isinstance(getattr(importlib.import_module(node.module), alias.name, None), types.ModuleType):
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            base = node.value
            if isinstance(base, ast.Name) and base.id in aliases:
                why = _check_public(aliases[base.id], node.attr)
                if why:
                    report(node, why)
                    continue
            if _private(node.attr) and (node.attr in autograd_private or node.attr not in own):
                whose = "a private attribute of autograd's objects" if node.attr in autograd_private else \
                    "not one of nn's own names"
                report(node, f".{node.attr} ({whose})")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ACCESSORS \
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) \
                and isinstance(node.args[1].value, str) and _private(node.args[1].value) \
                and node.args[1].value in autograd_private:
            report(node, f"{node.func.id}(..., {node.args[1].value!r}) (a private attribute of autograd's objects)")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in autograd_private:
            report(node, f"def {node.name} overrides a private method of autograd's classes")
    return found


@pytest.fixture(scope="module")
def rule() -> tuple[frozenset[str], frozenset[str]]:
    return defined_names(_sources("nn")), autograd_private_attributes()


def test_nn_uses_only_the_public_api_of_autograd(rule: tuple[frozenset[str], frozenset[str]]) -> None:
    own, autograd_private = rule
    found = []
    for path in _sources("nn"):
        found += violations(path.read_text(), str(path.relative_to(ROOT)), own, autograd_private)
    assert not found, "nn reaches into autograd's internals:\n" + "\n".join(found)


@pytest.mark.parametrize("snippet, expected", [
    ("from autograd.core import record_write", "module autograd.core is not public"),
    ("from autograd import ops", "autograd.ops is an implementation module"),
    ("import autograd.ops", "module autograd.ops is not public"),
    ("import autograd.functions as F", "module autograd.functions is not public"),
    ("import autograd\nautograd.ops.nll", "autograd.ops is an implementation module"),
    ("import autograd as ag\nag.core", "autograd.core is an implementation module"),
    ("from autograd import _special", "autograd._special is private"),
    ("from autograd import no_such_name", "autograd.no_such_name does not exist"),
    ("from autograd import Tensor\nTensor._wrap(a)", "._wrap (a private attribute of autograd's objects)"),
    ("def f(t):\n    return t._data", "._data (a private attribute of autograd's objects)"),
    ("def f(t):\n    t._data = 1", "._data (a private attribute of autograd's objects)"),
    ("def f(t):\n    return getattr(t, '_hooks')", "getattr(..., '_hooks')"),
    ("def f(t):\n    return t._not_defined_anywhere", "._not_defined_anywhere (not one of nn's own names)"),
    ("class P:\n    def _inplace(self):\n        pass", "def _inplace overrides a private method"),
])
def test_the_rule_catches(snippet: str, expected: str, rule: tuple[frozenset[str], frozenset[str]]) -> None:
    own, autograd_private = rule
    found = violations(snippet, "snippet.py", own | {"_own_helper"}, autograd_private)
    assert len(found) == 1 and expected in found[0], found


@pytest.mark.parametrize("snippet", [
    "import autograd\nautograd.tensor(1.0)",
    "from autograd import Tensor, no_grad, from_numpy, nll, unfold",
    "from autograd.functional import jacobian",
    "import autograd.viz",
    "from autograd.graph import increment_version",
    "class M:\n    def _own_helper(self):\n        return self._own_helper",
    "def f(x):\n    return x.data, x.__class__",
])
def test_the_rule_allows(snippet: str, rule: tuple[frozenset[str], frozenset[str]]) -> None:
    own, autograd_private = rule
    assert violations(snippet, "snippet.py", own | {"_own_helper"}, autograd_private) == []


def test_the_rule_knows_autograd_internals(rule: tuple[frozenset[str], frozenset[str]]) -> None:
    _, autograd_private = rule
    assert {"_data", "_wrap", "_hooks", "_requires_grad", "_inplace"} <= autograd_private
    assert autograd.Tensor.__slots__  # the slots are what the rule reads; a Tensor without them would need a new rule


# --- the public names that replaced nn's private uses --------------------------------------------------------------
def test_fused_primitives_are_exported_as_the_tested_primitives() -> None:
    # test_ops.py's tables check these primitives (first and second order); the exports are the same objects
    from autograd import ops
    for name in ("linear", "softplus", "binary_cross_entropy", "nll", "unfold", "max_pool"):
        assert getattr(autograd, name) is getattr(ops, name), name


def test_data_and_from_numpy_share_memory() -> None:
    import numpy as np
    a = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    t = autograd.from_numpy(a)
    assert t.data is a and t.data is t.data  # no copy, and the same array every time
    t.data[0, 0] = 7.0
    assert t[0, 0].item() == 7.0


def test_increment_version_makes_a_stale_backward_fail() -> None:
    w = autograd.tensor([1.0, 2.0], requires_grad=True)
    y = (w * w).sum()  # saves w for its backward
    with autograd.no_grad():
        w.data[...] -= 0.1  # a write autograd cannot see
        autograd.graph.increment_version(w, op_name="my_update")
    with pytest.raises(RuntimeError, match="modified in place by 'my_update'"):
        y.backward()


def test_increment_version_takes_tensors_and_leaves_later_graphs_alone() -> None:
    a, b = autograd.ones(3, requires_grad=True), autograd.ones(2, requires_grad=True)
    with autograd.no_grad():
        a.data[...] = 2.0
        b.data[...] = 3.0
    autograd.graph.increment_version([a, b])  # an iterable, as in PyTorch
    loss = (a * a).sum() + (b * b).sum()  # built after the writes: nothing stale
    loss.backward()
    assert a.grad.tolist() == [4.0] * 3 and b.grad.tolist() == [6.0] * 2
    with pytest.raises(TypeError, match="increment_version: expected a Tensor"):
        autograd.graph.increment_version([a, a.data])


def test_a_layer_written_outside_nn_matches_nn_linear() -> None:
    """What nn.Linear does, with public names only: the same output and gradients."""
    import numpy as np

    import nn

    class MyLinear(nn.Module):
        def __init__(self, weight: autograd.Tensor, bias: autograd.Tensor) -> None:
            super().__init__()
            self.weight, self.bias = nn.Parameter(weight), nn.Parameter(bias)

        def forward(self, x: autograd.Tensor) -> autograd.Tensor:
            return autograd.linear(x, self.weight, self.bias)

    theirs = nn.Linear(4, 3)
    mine = MyLinear(theirs.weight, theirs.bias)
    x = autograd.randn(5, 4)
    for layer in (theirs, mine):
        autograd.nll(autograd.log_softmax(layer(x), dim=1), target=np.array([0, 1, 2, 0, 1]), scale=0.2, axis=1,
                     reduce=True).backward()
    assert np.array_equal(theirs(x).data, mine(x).data)
    assert np.array_equal(theirs.weight.grad.data, mine.weight.grad.data)
    assert np.array_equal(theirs.bias.grad.data, mine.bias.grad.data)
