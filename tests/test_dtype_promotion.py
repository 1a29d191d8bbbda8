"""PyTorch's type promotion with 0-d tensors (torch docs, "Type promotion"): the dimensioned tensors decide the
dtype, and a 0-d tensor counts only when its category (bool < integer < floating < complex) is higher than
theirs. numpy (NEP 50) lets a 0-d array widen like any other: `float32 vector * float64 0-d` is float64 there,
float32 here and in PyTorch. Each case is checked against a hard-coded dtype and, when torch is importable,
against torch itself; gradients come back in each input's own dtype."""

from __future__ import annotations

import numpy as np
import pytest

import autograd as ag

try:
    import torch
except ImportError:  # the hard-coded dtypes still run
    torch = None

V, S = (3,), ()  # a dimensioned operand, a 0-d one

# (operation, dtype of x, shape of x, dtype of y, shape of y, PyTorch's result dtype)
BINARY = [
    ("mul", "float32", V, "float64", S, "float32"),
    ("mul", "float64", S, "float32", V, "float32"),
    ("add", "float16", V, "float64", S, "float16"),
    ("add", "int32", V, "int64", S, "int32"),
    ("add", "int64", S, "int32", V, "int32"),
    ("add", "uint8", V, "int64", S, "uint8"),
    ("sub", "int8", V, "int64", S, "int8"),
    ("add", "int8", V, "uint8", S, "int8"),
    ("mul", "int64", V, "float64", S, "float64"),  # a higher category: the 0-d operand counts
    ("mul", "int64", V, "float32", S, "float32"),
    ("mul", "int32", V, "float64", S, "float64"),
    ("add", "bool", V, "int64", S, "int64"),
    ("add", "bool", V, "float64", S, "float64"),
    ("mul", "float32", V, "int64", S, "float32"),
    ("mul", "float64", V, "float32", S, "float64"),
    ("mul", "float32", S, "float64", S, "float64"),  # two 0-d tensors: ordinary promotion
    ("add", "int32", S, "int64", S, "int64"),
    ("mul", "float32", V, "float64", V, "float64"),  # two dimensioned ones: ordinary promotion
    ("div", "float32", V, "float64", S, "float32"),
    ("div", "int32", V, "int64", S, "float32"),
    ("floor_divide", "int32", V, "int64", S, "int32"),
    ("remainder", "int32", V, "int64", S, "int32"),
    ("maximum", "float32", V, "float64", S, "float32"),
    ("maximum", "int32", V, "float64", S, "float64"),
    ("pow", "float32", V, "float64", S, "float32"),
    ("atan2", "float32", V, "float64", S, "float32"),
    ("mul", "float32", V, "complex128", S, "complex64"),
    ("mul", "float64", V, "complex64", S, "complex128"),
]


def _data(dtype: str, shape: tuple) -> np.ndarray:
    return np.arange(1, 4).astype(dtype) if shape else np.array(2).astype(dtype)


def _ours(name: str, *operands: tuple) -> ag.Tensor:
    return getattr(ag, name)(*[ag.tensor(_data(d, s)) for d, s in operands])


def _torchs(name: str, *operands: tuple) -> str:
    return str(getattr(torch, name)(*[torch.tensor(_data(d, s)) for d, s in operands]).dtype).replace("torch.", "")


@pytest.mark.parametrize("case", BINARY, ids=lambda c: f"{c[0]}-{c[1]}{list(c[2])}-{c[3]}{list(c[4])}")
def test_binary_dtype(case):
    name, dx, sx, dy, sy, expected = case
    out = _ours(name, (dx, sx), (dy, sy))
    assert str(out.dtype) == expected
    assert out.shape == np.broadcast_shapes(sx, sy)
    if torch is not None:
        assert _torchs(name, (dx, sx), (dy, sy)) == expected


def test_the_operators_follow_the_rule_and_compute_in_the_result_dtype():
    """`x * s` computes as PyTorch does: the 0-d operand cast to the result's dtype first (bit for bit)."""
    x = np.random.default_rng(0).standard_normal(200).astype(np.float32)
    for s in (0.1, 1 / 3, np.pi):
        for name in ("mul", "add", "sub", "div"):
            out = getattr(ag, name)(ag.tensor(x), ag.tensor(np.float64(s)))
            expected = getattr(np, {"mul": "multiply", "add": "add", "sub": "subtract", "div": "divide"}[name])(
                x, np.float32(s))
            assert out.dtype == np.float32
            np.testing.assert_array_equal(out.numpy(), expected)
            if torch is not None:
                np.testing.assert_array_equal(
                    out.numpy(), getattr(torch, name)(torch.tensor(x), torch.tensor(np.float64(s))).numpy())
    t = ag.tensor(x)
    assert (t * ag.tensor(np.float64(2))).dtype == np.float32
    assert (ag.tensor(np.float64(2)) * t).dtype == np.float32
    assert (ag.tensor(np.array([1, 2], np.int32)) + ag.tensor(np.int64(5))).dtype == np.int32


# where, clamp and lerp: three operands
def _c():
    return np.array([True, False, True])


TERNARY = [
    ("where dims, dims, 0-d float64", lambda L, T: L.where(T(_c()), T(np.ones(3, np.float32)), T(np.float64(2))),
     "float32"),
    ("where dims, 0-d float64, 0-d float32", lambda L, T: L.where(T(_c()), T(np.float64(2)), T(np.float32(1))),
     "float64"),
    ("where 0-d, dims, 0-d float64", lambda L, T: L.where(T(np.bool_(True)), T(np.ones(3, np.float32)),
                                                          T(np.float64(2))), "float32"),
    ("where dims, 0-d int64, 0-d float32", lambda L, T: L.where(T(_c()), T(np.int64(2)), T(np.float32(1))),
     "float32"),
    ("clamp min float64 0-d", lambda L, T: L.clamp(T(np.array([0.5, -1, 2], np.float32)), min=T(np.float64(0))),
     "float32"),
    ("clamp min float32 0-d, max float64 0-d",
     lambda L, T: L.clamp(T(np.array([0.5, -1, 2], np.float32)), min=T(np.float32(0)), max=T(np.float64(1))),
     "float32"),
    ("lerp weight float64 0-d", lambda L, T: L.lerp(T(np.ones(3, np.float32)), T(np.zeros(3, np.float32)),
                                                    T(np.float64(0.25))), "float32"),
]


@pytest.mark.parametrize("case", TERNARY, ids=lambda c: c[0])
def test_ternary_dtype(case):
    _, fn, expected = case
    assert str(fn(ag, ag.tensor).dtype) == expected
    if torch is not None:
        assert str(fn(torch, torch.tensor).dtype) == "torch." + expected


def test_clamp_values_with_a_float64_bound():
    x = np.array([0.5, -1, 2], np.float32)
    out = ag.clamp(ag.tensor(x), min=ag.tensor(np.float64(0)), max=ag.tensor(np.float64(1)))
    np.testing.assert_array_equal(out.numpy(), np.array([0.5, 0, 1], np.float32))


# --- gradients: each in its input's own dtype ------------------------------------------------------------------
def test_a_float64_0d_leaf_times_a_float32_vector_gets_a_float64_grad():
    x = np.array([0.1, 0.7, -1.3], np.float32)
    s = ag.tensor(np.float64(0.3), requires_grad=True)
    v = ag.tensor(x, requires_grad=True)
    y = v * s
    assert y.dtype == np.float32
    y.sum().backward()
    assert s.grad.dtype == np.float64 and s.grad.shape == ()
    s32 = ag.tensor(np.float32(0.3), requires_grad=True)  # the same product with a float32 0-d: the same sum
    (ag.tensor(x) * s32).sum().backward()
    assert s.grad.item() == float(s32.grad.item())  # the sum of g * v, in float32, then widened
    np.testing.assert_allclose(s.grad.item(), x.sum(dtype=np.float64), rtol=1e-6)
    assert v.grad.dtype == np.float32
    np.testing.assert_array_equal(v.grad.numpy(), np.full(3, np.float32(0.3)))
    if torch is not None:
        ts = torch.tensor(np.float64(0.3), requires_grad=True)
        tv = torch.tensor(x, requires_grad=True)
        (tv * ts).sum().backward()
        assert ts.grad.dtype == torch.float64
        np.testing.assert_allclose(s.grad.item(), ts.grad.item(), rtol=1e-6)  # (float32 sums, in any order)
        np.testing.assert_array_equal(v.grad.numpy(), tv.grad.numpy())


def test_an_intermediate_0d_float64_gets_its_gradient_in_float64():
    """Not only leaves: the cast sits in the graph (an astype node), so a non-leaf's gradient (retain_grad, hooks)
    and everything behind it stays in float64, as in PyTorch."""
    x = np.array([0.5, 2.0, -1.0], np.float32)
    a = ag.tensor(np.float64(0.3), requires_grad=True)
    v = ag.tensor(x, requires_grad=True)
    w = a * 3.0
    w.retain_grad()
    seen = []
    w.register_hook(lambda g: seen.append(g.dtype))
    y = (v * w + v).sum()
    assert y.dtype == np.float32
    y.backward()
    assert seen == [np.float64]
    assert w.grad.dtype == np.float64 and w.grad.item() == 1.5
    assert a.grad.dtype == np.float64 and a.grad.item() == 4.5
    np.testing.assert_array_equal(v.grad.numpy(), np.full(3, np.float32(0.9)) + 1)
    if torch is not None:
        ta = torch.tensor(np.float64(0.3), requires_grad=True)
        tv = torch.tensor(x, requires_grad=True)
        tw = ta * 3.0
        tw.retain_grad()
        (tv * tw + tv).sum().backward()
        assert tw.grad.item() == w.grad.item() and ta.grad.item() == a.grad.item()
        np.testing.assert_array_equal(v.grad.numpy(), tv.grad.numpy())


def test_clamp_with_a_float64_bound_sends_it_a_float64_gradient():
    lo = ag.tensor(np.float64(0.0), requires_grad=True)
    x = ag.tensor(np.array([0.5, -1, -2], np.float32), requires_grad=True)
    ag.clamp(x, min=lo).sum().backward()
    assert lo.grad.dtype == np.float64 and lo.grad.item() == 2.0
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), np.array([1, 0, 0], np.float32))


def test_mixed_dtypes_gradcheck_in_the_widest_operand():
    """The promoted primitive stays differentiable at first and second order: a float64 vector with a float64
    0-d (nothing cast), and the cast path checked against float64 finite differences through a float64 graph."""
    s = ag.tensor(np.float64(0.7), requires_grad=True)
    v = ag.tensor(np.array([0.3, -0.4, 1.1]), requires_grad=True)
    assert ag.gradcheck(lambda a, b: (a * b).exp(), [v, s])
    assert ag.gradgradcheck(lambda a, b: (a * b).exp(), [v, s])


def test_in_place_keeps_the_target_dtype():
    t = ag.tensor(np.ones(3, np.float32))
    t += ag.tensor(np.float64(0.5))
    assert t.dtype == np.float32
    i = ag.tensor(np.ones(3, np.int32))
    i += ag.tensor(np.int64(2))
    assert i.dtype == np.int32 and i.tolist() == [3, 3, 3]


def test_second_order_through_the_cast():
    """create_graph through a promoted product: the cast nodes are ordinary graph nodes, so the gradient of the
    gradient works and keeps each dtype (d2/ds2 of sum(v s^2) = 2 sum(v))."""
    x = np.array([0.5, 2.0, -1.0], np.float32)
    s = ag.tensor(np.float64(0.3), requires_grad=True)
    v = ag.tensor(x, requires_grad=True)
    (gs,) = ag.grad((v * s * s).sum(), [s], create_graph=True)
    assert gs.dtype == np.float64
    np.testing.assert_allclose(gs.item(), 2 * 0.3 * x.sum(), rtol=1e-6)
    gs.backward()
    assert s.grad.dtype == np.float64 and s.grad.item() == 3.0
    assert v.grad.dtype == np.float32
    np.testing.assert_allclose(v.grad.numpy(), np.full(3, 0.6), rtol=1e-6)


ALL = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64", "complex64", "complex128"]


@pytest.mark.skipif(torch is None, reason="compares with torch.promote_types")
def test_promote_is_torch_promote_types():
    from autograd.core import _promote
    for a in ALL:
        for b in ALL:
            expected = str(torch.promote_types(getattr(torch, a), getattr(torch, b))).replace("torch.", "")
            assert str(_promote(np.dtype(a), np.dtype(b))) == expected, (a, b)


def test_promote_hard_coded():
    from autograd.core import _promote
    cases = [("int64", "float32", "float32"), ("int8", "uint8", "int16"), ("bool", "int32", "int32"),
             ("int64", "complex64", "complex64"), ("float64", "complex64", "complex128"),
             ("float16", "float32", "float32")]
    for a, b, expected in cases:
        assert str(_promote(np.dtype(a), np.dtype(b))) == expected


# --- comparisons: both operands cast to the promoted dtype first, as PyTorch compares ---------------------------
COMPARE = ["eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor"]
NUMPY_NAMES = {"eq": "equal", "ne": "not_equal", "lt": "less", "le": "less_equal", "gt": "greater",
               "ge": "greater_equal"}


def _compare_both(name: str, xa, xb):
    """Ours and, when torch is importable, PyTorch's result of `name(xa, xb)` (tensors of the numpy data)."""
    ours = getattr(ag, name)(ag.tensor(xa), ag.tensor(xb)).numpy()
    theirs = None if torch is None else getattr(torch, name)(torch.tensor(xa), torch.tensor(xb)).numpy()
    return ours, theirs


def test_a_float32_vector_equals_a_float64_0d_after_the_cast():
    """float32 [0.1] == float64 0-d 0.1 is True in PyTorch: the result dtype is float32, so 0.1 is rounded to
    float32 before comparing (numpy compares in float64: False). The operators and the named forms agree."""
    x, y0 = ag.tensor(np.array([0.1, 0.2], np.float32)), ag.tensor(np.float64(0.1))
    assert (x == y0).tolist() == [True, False] and (y0 == x).tolist() == [True, False]
    assert (x != y0).tolist() == [False, True]
    assert (x <= y0).tolist() == [True, False] and (x >= y0).tolist() == [True, True]
    assert (x < y0).tolist() == [False, False] and (x > y0).tolist() == [False, True]
    assert ag.eq(x, y0).tolist() == [True, False] and x.eq(y0).tolist() == [True, False]
    # a float64 beyond float32's range is inf there, quietly (numpy would warn about the cast)
    with np.errstate(over="raise"):
        assert (x < ag.tensor(np.float64(1e300))).tolist() == [True, True]
    assert ag.logical_and(ag.tensor(np.ones(2, np.float32)), ag.tensor(np.float64(1e-50))).tolist() == [False] * 2
    if torch is not None:
        tx, ty0 = torch.tensor(x.numpy()), torch.tensor(np.float64(0.1))
        assert (tx == ty0).tolist() == [True, False] and (tx <= ty0).tolist() == [True, False]
        assert (tx < torch.tensor(np.float64(1e300))).tolist() == [True, True]


@pytest.mark.parametrize("name", COMPARE)
@pytest.mark.parametrize("case", [("float32", V, "float64", S), ("float64", S, "float32", V),
                                  ("int64", V, "float32", V), ("int64", V, "float32", S),
                                  ("uint8", V, "int64", S), ("int8", V, "uint8", S), ("float16", V, "float64", S),
                                  ("bool", V, "float64", S), ("int32", V, "int64", S), ("float32", S, "float64", S)],
                         ids=lambda c: f"{c[0]}{list(c[1])}-{c[2]}{list(c[3])}" if isinstance(c, tuple) else c)
def test_comparisons_in_pytorchs_dtype(name, case):
    """Values that tell the promoted dtype apart from numpy's: 0.1 and 1e-50 (float32 rounds them), 2**24 + 1
    (float32 rounds it to 2**24), 257 and 200 (uint8 and int8 wrap them: 1 and -56). Compared against the
    values cast by hand to PyTorch's result dtype (pytorch_result_dtype), and against torch itself."""
    from autograd.core import pytorch_result_dtype
    dx, sx, dy, sy = case
    values = np.array([0.1, 2**24 + 1, 1e-50, 257, 200, 2**24, 1, 0])
    with np.errstate(all="ignore"):
        xa = values.astype(dx) if sx else np.array(values[0]).astype(dx)
        cases = [np.array(v).astype(dy) for v in (0.1, 2**24, 0, 1, 257, 200)] if not sy else [
            values[::-1].astype(dy), values.astype(dy)]
    if not sx:
        xa = xa[()]
    for xb in cases:
        xb = xb[()] if not sy else xb
        target = pytorch_result_dtype(xa, xb)
        with np.errstate(all="ignore"):
            expected = getattr(np, NUMPY_NAMES.get(name, name))(np.asarray(xa).astype(target),
                                                                np.asarray(xb).astype(target))
        ours, theirs = _compare_both(name, xa, xb)
        np.testing.assert_array_equal(ours, expected)
        if theirs is not None:
            np.testing.assert_array_equal(ours, theirs)


def test_comparisons_with_python_floats_make_integers_float32():
    """int64 [2**24 + 1] == 16777216.0: PyTorch compares in float32 (its default float), where 2**24 + 1 rounds
    to 2**24: True (numpy: float64, False). Python ints and floats meeting floats stay weak in both."""
    i = ag.tensor(np.array([2**24 + 1, 3]))
    assert (i == 16777216.0).tolist() == [True, False]
    assert (i > 16777216.0).tolist() == [False, False]
    assert (i == np.float64(16777216.0)).tolist() == [True, False]  # a numpy scalar is a Python number here
    assert (i == 3).tolist() == [False, True]
    f = ag.tensor(np.array([0.1], np.float32))
    assert (f == 0.1).tolist() == [True]
    if torch is not None:
        ti = torch.tensor(i.numpy())
        assert (ti == 16777216.0).tolist() == [True, False] and (ti > 16777216.0).tolist() == [False, False]
        assert (ti == np.float64(16777216.0)).tolist() == [True, False]


def test_same_dtype_comparisons_unchanged():
    x = np.array([0.1, np.nan, -np.inf, 3], np.float32)
    t, u = ag.tensor(x), ag.tensor(x.copy())
    np.testing.assert_array_equal((t == u).numpy(), [True, False, True, True])
    np.testing.assert_array_equal((t < 0.5).numpy(), x < 0.5)
    assert ((t == u).dtype, (t < 0.5).dtype) == (np.bool_, np.bool_)


# --- numpy operands: PyTorch hands arithmetic with an ndarray to numpy, and compares (==) with it as a tensor ----
def test_numpy_operands_as_in_pytorch():
    """`torch_tensor * np.array(2.0)` is computed by numpy in PyTorch (Tensor.__mul__ gives NotImplemented, then
    ndarray.__rmul__ runs and wraps the result back): NEP 50 treats a 0-d array like any array, so a float32
    tensor times a float64 0-d array is float64, as here. A numpy scalar (np.float64(2.0)) is a Python number to
    PyTorch: float32. `==` converts the array to a tensor, so the 0-d rule applies: float32 [0.1] ==
    np.array(0.1) is True."""
    f = ag.tensor(np.array([1.5], np.float32))
    assert (f * np.array(2.0)).dtype == np.float64
    assert (f * np.float64(2.0)).dtype == np.float32
    assert (ag.tensor(np.array([1, 2], np.int32)) * np.array(2)).dtype == np.int64
    assert (ag.tensor(np.array([0.1], np.float32)) == np.array(0.1)).tolist() == [True]
    assert (ag.tensor(np.array([0.1], np.float32)) == np.array([0.1])).tolist() == [False]  # float64 vector
    if torch is not None:
        import warnings
        tf = torch.tensor(np.array([1.5], np.float32))
        with warnings.catch_warnings():  # numpy 2 warns about torch's __array_wrap__ signature
            warnings.simplefilter("ignore", DeprecationWarning)
            assert (tf * np.array(2.0)).dtype == torch.float64
            assert (torch.tensor(np.array([1, 2], np.int32)) * np.array(2)).dtype == torch.int64
        assert (tf * np.float64(2.0)).dtype == torch.float32
        assert (torch.tensor(np.array([0.1], np.float32)) == np.array(0.1)).tolist() == [True]
        assert (torch.tensor(np.array([0.1], np.float32)) == np.array([0.1])).tolist() == [False]
