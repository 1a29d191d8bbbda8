"""The architecture's boundaries, checked: what imports what, and that every primitive is registered whole."""

from __future__ import annotations

import ast
import dis
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np

import autograd
from autograd import numpy_dispatch, ops
from autograd.core import Primitive

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


# --------------------------------------------------------------------------------------------------------------
# One place to add an op: a primitive registered in ops.py gets its export, method and numpy entry from there
# --------------------------------------------------------------------------------------------------------------
def _vjps(op: Primitive) -> list[Callable]:
    found = [v for v in (op.vjps or ()) if v is not None]
    for attr in ("vjp_argnum", "joint"):
        fn = getattr(op, attr, None)
        if fn is not None:
            found.append(fn)
    return found


def _numpy_names_called(fn: Callable) -> set[str]:
    """The `np.<name>` a function of ops.py uses, with those of the ops.py helpers it calls (transitively)."""
    names, seen, todo = set(), set(), [fn]
    while todo:
        fn = todo.pop()
        if fn in seen or not hasattr(fn, "__code__"):
            continue
        seen.add(fn)
        codes = [fn.__code__]
        while codes:
            code = codes.pop()
            codes += [c for c in code.co_consts if isinstance(c, types.CodeType)]
            instructions = list(dis.get_instructions(code))
            for i, ins in enumerate(instructions[:-1]):
                if ins.opname == "LOAD_GLOBAL" and ins.argval == "np":
                    names.add(instructions[i + 1].argval)
                elif ins.opname == "LOAD_GLOBAL":
                    helper = fn.__globals__.get(ins.argval)
                    if isinstance(helper, types.FunctionType) and helper.__module__ == ops.__name__:
                        todo.append(helper)
    return names


# numpy functions a VJP may call without a dispatch entry: they build arrays from shapes, never take a tensor
NEVER_GIVEN_TENSORS = {"zeros", "empty", "ones", "eye", "arange", "full", "ndindex", "errstate", "argsort", "dtype",
                       "float64", "float32", "bool_", "int8", "intp", "ndarray", "generic", "iinfo", "inf", "nan",
                       "ufunc"}


def missing_dispatch(op: Primitive, ufuncs: dict, functions: dict) -> set[str]:
    """The numpy functions `op`'s VJPs call that would refuse tensors under create_graph: no entry in the ufunc
    table (np.cosh must map to a primitive) or the function table (np.where, np.sum, ...)."""
    missing = set()
    for vjp in _vjps(op):
        for name in _numpy_names_called(vjp):
            f = getattr(np, name, None)
            if name in NEVER_GIVEN_TENSORS or f is None:
                continue
            if isinstance(f, np.ufunc):
                if f not in ufuncs:
                    missing.add(name)
            elif callable(f) and f not in functions:
                missing.add(name)
    return missing


def test_every_vjp_calls_only_numpy_functions_that_dispatch_tensors() -> None:
    # A VJP that calls np.cosh passes a plain backward (arrays) and fails under create_graph (tensors) when
    # np.cosh has no entry: caught here for every primitive, whatever its test table covers
    problems = {name: missing_dispatch(op, numpy_dispatch.UFUNCS, numpy_dispatch.FUNCTIONS)
                for name, op in ops.PRIMITIVES.items()}
    assert {name: calls for name, calls in problems.items() if calls} == {}


def test_a_vjp_calling_an_unregistered_ufunc_is_caught() -> None:
    op = Primitive(np.sinh, "sinh_for_this_test").defvjp(lambda g, out, x: g * np.cosh(x))
    table_without_cosh = {u: f for u, f in numpy_dispatch.UFUNCS.items() if u is not np.cosh}
    assert missing_dispatch(op, table_without_cosh, numpy_dispatch.FUNCTIONS) == {"cosh"}
    assert missing_dispatch(op, {**table_without_cosh, np.cosh: op}, numpy_dispatch.FUNCTIONS) == set()


def test_every_exported_primitive_has_its_method_numpy_entry_and_test_case() -> None:
    from test_ops import CASES
    cases = {case.name for case in CASES}
    assert ops.EXPORTS, "nothing registered with export=True"
    for name, op in ops.EXPORTS.items():
        assert getattr(autograd, name) is op, f"autograd.{name}"
        assert ops.METHODS.get(name) is op and callable(getattr(autograd.Tensor, name)), f"Tensor.{name}"
        same_name = getattr(np, name, None)
        if isinstance(same_name, np.ufunc):  # numpy has this op: np.<name>(tensor) must run ours
            assert numpy_dispatch.UFUNCS.get(same_name) is op, f"numpy.{name}: register with numpy=np.{name}"
        assert name in cases, f"{name}: add a line to CASES in tests/test_ops.py"
    for ufunc, op in ops.UFUNCS.items():
        assert numpy_dispatch.UFUNCS[ufunc] is op


# exported primitives of three or more inputs with shapes of their own
SEVERAL_INPUTS = {"fused_lstm", "layer_norm", "fused_attention"}


def test_registered_methods_record_their_primitive() -> None:
    x, y = autograd.tensor([0.5, 1.5], requires_grad=True), autograd.tensor([2.0, 0.25])
    for name, op in ops.METHODS.items():
        if name in SEVERAL_INPUTS:
            continue  # inputs of shapes of their own: their method is tested with their CASES line (test_ops)
        others = (y,) * ((ops._arity(op.forward) or 1) - 1)  # lerp(x, end, weight): three inputs
        got, want = getattr(x, name)(*others), op(x, *others)
        np.testing.assert_array_equal(got.detach().numpy(), want.detach().numpy())
        assert got.grad_fn.op is op


# --------------------------------------------------------------------------------------------------------------
# One node protocol: every node's op is a core.Op, whatever made it
# --------------------------------------------------------------------------------------------------------------
NODE_FIELDS = ("op", "edges", "args", "out", "params", "seq", "hooks")


def test_primitives_and_custom_functions_make_nodes_alike() -> None:
    from custom_functions import MulAdd

    from autograd import core

    x = autograd.tensor([1.0, 2.0], requires_grad=True)
    made = {"primitive": (x * 2).grad_fn, "params": x.sum(0).grad_fn, "joint": autograd.cat([x, x]).grad_fn,
            "function": MulAdd.apply(x, x)[0].grad_fn.edges[0], "selector": MulAdd.apply(x, x)[1].grad_fn,
            "new_node": core.new_node(ops.mul, (x, None), (x.data, 2.0), None, None, False)}
    for kind, node in made.items():
        assert isinstance(node.op, core.Op), kind
        assert all(hasattr(node, field) for field in NODE_FIELDS), kind
    assert made["new_node"].seq > made["selector"].seq > made["function"].seq > made["primitive"].seq  # one counter
    assert not made["selector"].op.rerunnable and made["function"].op.runs_user_code


def test_the_scalar_fast_paths_of_operator_methods_make_what_result_makes() -> None:
    # core.binary_method / unary_method write _result out for float32 scalars in the default modes
    import numpy as np

    from autograd import core

    x, y = autograd.tensor(1.5, requires_grad=True), autograd.tensor(0.25, requires_grad=True)
    z = x * 2.0
    xd, yd, zd = x._data, y._data, z._data
    pairs = [(x * y, lambda: core._result(ops.mul, xd * yd, (xd, yd), (x, y), None)),
             (z * 2.0, lambda: core._result(ops.mul, zd * 2.0, (zd, 2.0), (z.grad_fn, None), None)),
             (y - z, lambda: core._result(ops.sub, yd - zd, (yd, zd), (y, z.grad_fn), None)),
             (z.exp(), lambda: core._result(ops.exp, np.exp(zd), (zd,), (z.grad_fn,), None)),
             (x.relu(), lambda: core._result(ops.relu, ops.relu.forward(xd), (xd,), (x,), None))]
    for made, result in pairs:
        want = result()
        assert made._data.__class__ is np.float32 and made._data == want._data
        assert (made.grad, made._requires_grad) == (want.grad, want._requires_grad) == (None, True)
        assert [hasattr(made, s) for s in made.__slots__] == [hasattr(want, s) for s in want.__slots__]
        assert [hasattr(made.grad_fn, s) for s in core.Node.__slots__] == \
            [hasattr(want.grad_fn, s) for s in core.Node.__slots__]
        for field in NODE_FIELDS:
            if field == "edges":
                assert all(a is b for a, b in zip(made.grad_fn.edges, want.grad_fn.edges, strict=True))
            elif field != "seq":
                assert getattr(made.grad_fn, field) == getattr(want.grad_fn, field), field
        assert made.grad_fn.seq < want.grad_fn.seq == core._seq  # one counter


def test_the_engine_and_gradcheck_know_one_kind_of_op() -> None:
    # no special cases for custom Functions or their selector nodes: both call the protocol (core.Op)
    for module in ("engine", "gradcheck"):
        assert "function" not in _autograd_imports(module), module
        assert "joint_vjp" not in (AUTOGRAD / f"{module}.py").read_text(), module


# --------------------------------------------------------------------------------------------------------------
# The 0-d rule in one place: a 0-d tensor stores a numpy scalar, made by kernels.as_stored
# --------------------------------------------------------------------------------------------------------------
EMPTY_INDEX_ALLOWED = {
    "autograd/kernels.py": 1,  # as_stored itself
    "nn/serialization.py": 1,  # a saved numpy scalar (not a tensor) read back from its 0-d array
}


def _empty_index_counts() -> dict[str, int]:
    """`x[()]` per module of autograd and nn."""
    root = AUTOGRAD.parent
    counts = {}
    for path in sorted([*AUTOGRAD.glob("*.py"), *(root / "nn").rglob("*.py")]):
        tree = ast.parse(path.read_text())
        n = sum(isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Tuple) and not node.slice.elts
                for node in ast.walk(tree))
        if n:
            counts[str(path.relative_to(root))] = n
    return counts


def test_the_0d_rule_is_applied_by_its_helpers_only() -> None:
    # `[()]` turns a 0-d array into what a 0-d tensor stores: written out by hand it was 43 copies of the rule
    # (and of its exceptions); use kernels.as_stored (or add a genuine use to the list above, saying why)
    assert _empty_index_counts() == EMPTY_INDEX_ALLOWED


# --------------------------------------------------------------------------------------------------------------
# Tensor's methods delegate one way per kind (see the comment over them in core.py)
# --------------------------------------------------------------------------------------------------------------
# the methods that call core's fast paths themselves: the reflected operators swap the operands, the primitive div
# has no method (Tensor.div takes rounding_mode), and contiguous() may return self
CALLS_PRIMITIVES_ITSELF = {"__radd__", "__rsub__", "__rmul__", "__truediv__", "__rtruediv__", "__rfloordiv__",
                           "__rmod__", "__rpow__", "contiguous"}
OPERATOR_OF = {"add": "__add__", "sub": "__sub__", "mul": "__mul__", "pow": "__pow__", "floor_divide": "__floordiv__",
               "remainder": "__mod__", "neg": "__neg__", "abs": "__abs__"}


def test_operators_of_registered_primitives_are_their_methods() -> None:
    for name, operator in OPERATOR_OF.items():
        assert name in ops.METHODS, name
        assert getattr(autograd.Tensor, operator) is getattr(autograd.Tensor, name), operator
    for named, operator in (("eq", "__eq__"), ("ne", "__ne__"), ("lt", "__lt__"), ("le", "__le__"),
                            ("gt", "__gt__"), ("ge", "__ge__"), ("matmul", "__matmul__"),
                            ("true_divide", "__truediv__"), ("bitwise_and", "__and__")):
        assert getattr(autograd.Tensor, named) is getattr(autograd.Tensor, operator), named


def test_hand_written_methods_call_the_primitives_only_where_they_must() -> None:
    tree = ast.parse((AUTOGRAD / "core.py").read_text())
    tensor = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Tensor")
    direct = {method.name for method in tensor.body if isinstance(method, ast.FunctionDef)
              for node in ast.walk(method)
              if isinstance(node, ast.Name) and node.id in ("apply", "apply_unary", "apply_binary")}
    assert direct == CALLS_PRIMITIVES_ITSELF
