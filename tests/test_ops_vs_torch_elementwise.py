"""Issue 15's elementwise operations against PyTorch in float64: forward values and gradients (gradients of a
random weighting of the outputs), on broadcasting shapes, plus PyTorch's rules for `//`, `%`, `div(rounding_mode=)`
on integers and Python numbers, and the predicates outside the graph."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import autograd as ag

torch = pytest.importorskip("torch")

SHAPES = [((), ()), ((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 4)), ((0, 3), (3,)), ((2, 3, 2), ())]


def _uniform(rng: np.random.Generator, shape: tuple, low: float, high: float, gap: float = 0.0) -> np.ndarray:
    a = rng.uniform(low, high, shape)
    if gap:
        a = np.where(np.abs(a) < gap, np.copysign(gap, a) + a, a)
    return a


# name -> (ours, PyTorch's, per-input (low, high, gap)); inputs drawn in the op's domain, off its kinks
UNARY: dict[str, tuple[Callable, Callable, tuple]] = {
    "floor": (ag.floor, torch.floor, (-3, 3, 0)),
    "ceil": (lambda x: x.ceil(), torch.ceil, (-3, 3, 0)),
    "trunc": (ag.trunc, torch.trunc, (-3, 3, 0)),
    "fix": (ag.fix, torch.fix, (-3, 3, 0)),
    "round": (ag.round, torch.round, (-3, 3, 0)),
    "round_decimals": (lambda x: x.round(decimals=2), lambda x: torch.round(x, decimals=2), (-3, 3, 0)),
    "round_decimals_negative": (lambda x: ag.round(x * 100, decimals=-1),
                                lambda x: torch.round(x * 100, decimals=-1), (-3, 3, 0)),
    "frac": (lambda x: x.frac(), torch.frac, (-3, 3, 0)),
    "tan": (ag.tan, torch.tan, (-1.2, 1.2, 0)),
    "asin": (ag.asin, torch.asin, (-0.95, 0.95, 0)),
    "arcsin": (ag.arcsin, torch.arcsin, (-0.95, 0.95, 0)),
    "acos": (lambda x: x.acos(), torch.acos, (-0.95, 0.95, 0)),
    "atan": (ag.atan, torch.atan, (-3, 3, 0)),
    "sinh": (ag.sinh, torch.sinh, (-3, 3, 0)),
    "cosh": (ag.cosh, torch.cosh, (-3, 3, 0)),
    "asinh": (ag.asinh, torch.asinh, (-3, 3, 0)),
    "acosh": (lambda x: x.acosh(), torch.acosh, (1.05, 4, 0)),
    "atanh": (ag.atanh, torch.atanh, (-0.95, 0.95, 0)),
    "log2": (ag.log2, torch.log2, (0.05, 5, 0)),
    "log10": (lambda x: x.log10(), torch.log10, (0.05, 5, 0)),
    "exp2": (ag.exp2, torch.exp2, (-5, 5, 0)),
    "erfinv": (ag.erfinv, torch.erfinv, (-0.999, 0.999, 0)),
    "sinc": (ag.sinc, torch.sinc, (-3, 3, 0.01)),
    "nan_to_num": (ag.nan_to_num, torch.nan_to_num, (-3, 3, 0)),
}

BINARY: dict[str, tuple[Callable, Callable, tuple, tuple]] = {
    "atan2": (ag.atan2, torch.atan2, (-3, 3, 0.1), (-3, 3, 0)),
    "arctan2": (ag.arctan2, torch.arctan2, (-3, 3, 0.1), (-3, 3, 0)),
    "logaddexp": (ag.logaddexp, torch.logaddexp, (-30, 30, 0), (-30, 30, 0)),
    "logaddexp2": (lambda x, y: x.logaddexp2(y), torch.logaddexp2, (-30, 30, 0), (-30, 30, 0)),
    "hypot": (ag.hypot, torch.hypot, (-3, 3, 0.1), (-3, 3, 0)),
    "copysign": (ag.copysign, torch.copysign, (-3, 3, 0.01), (-3, 3, 0.01)),
    "fmod": (ag.fmod, torch.fmod, (-5, 5, 0), (-2, 2, 0.3)),
    "remainder": (ag.remainder, torch.remainder, (-5, 5, 0), (-2, 2, 0.3)),
    "%": (lambda x, y: x % y, lambda x, y: x % y, (-5, 5, 0), (-2, 2, 0.3)),
    "floor_divide": (ag.floor_divide, lambda x, y: torch.div(x, y, rounding_mode="floor"), (-5, 5, 0), (-2, 2, 0.3)),
    "//": (lambda x, y: x // y, lambda x, y: torch.div(x, y, rounding_mode="floor"), (-5, 5, 0), (-2, 2, 0.3)),
    "div_trunc": (lambda x, y: ag.div(x, y, rounding_mode="trunc"),
                  lambda x, y: torch.div(x, y, rounding_mode="trunc"), (-5, 5, 0), (-2, 2, 0.3)),
    "div_floor": (lambda x, y: x.div(y, rounding_mode="floor"),
                  lambda x, y: torch.div(x, y, rounding_mode="floor"), (-5, 5, 0), (-2, 2, 0.3)),
    "div_none": (lambda x, y: ag.div(x, y, rounding_mode=None), torch.div, (-5, 5, 0), (-2, 2, 0.3)),
    "xlogy": (ag.xlogy, torch.xlogy, (-3, 3, 0), (0.05, 4, 0)),
    "lerp_scalar": (lambda x, y: ag.lerp(x, y, 0.3), lambda x, y: torch.lerp(x, y, 0.3), (-3, 3, 0), (-3, 3, 0)),
    "lerp_scalar_far": (lambda x, y: x.lerp(y, 0.8), lambda x, y: torch.lerp(x, y, 0.8), (-3, 3, 0), (-3, 3, 0)),
}


def _compare(ours: Callable, theirs: Callable, arrays: list[np.ndarray], rng: np.random.Generator) -> None:
    mine = [ag.tensor(a, dtype=ag.float64, requires_grad=True) for a in arrays]
    ref = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    out, expected = ours(*mine), theirs(*ref)
    assert out.shape == tuple(expected.shape)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    weights = rng.standard_normal(out.shape)
    (out * ag.tensor(weights)).sum().backward()
    (expected * torch.tensor(weights)).sum().backward()
    for m, r in zip(mine, ref):
        torch_grad = np.zeros(m.shape) if r.grad is None else r.grad.numpy()
        np.testing.assert_allclose(m.grad.data, torch_grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(UNARY))
@pytest.mark.parametrize("shape", [(), (5,), (2, 3), (0, 2)])
def test_unary_forward_and_gradient_match_pytorch(name: str, shape: tuple) -> None:
    ours, theirs, (low, high, gap) = UNARY[name]
    rng = np.random.default_rng(abs(hash((name, shape))) % 2**32)
    _compare(ours, theirs, [_uniform(rng, shape, low, high, gap)], rng)


@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_binary_forward_and_gradient_match_pytorch(name: str, shapes: tuple) -> None:
    ours, theirs, first, second = BINARY[name]
    rng = np.random.default_rng(abs(hash((name, shapes))) % 2**32)
    _compare(ours, theirs, [_uniform(rng, shapes[0], *first), _uniform(rng, shapes[1], *second)], rng)


@pytest.mark.parametrize("shapes", [((3,), (3,), (3,)), ((2, 1), (1, 3), (2, 3)), ((), (4,), ()), ((0,), (0,), ())],
                         ids=str)
def test_lerp_with_a_tensor_weight_matches_pytorch(shapes: tuple) -> None:
    rng = np.random.default_rng(0)
    arrays = [rng.uniform(-2, 2, shapes[0]), rng.uniform(-2, 2, shapes[1]), rng.uniform(-0.5, 1.5, shapes[2])]
    _compare(ag.lerp, torch.lerp, arrays, rng)


SPECIAL = np.array([0.0, -0.0, 0.5, -0.5, 1.5, 2.5, -2.5, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e300, -1e-300])


@pytest.mark.parametrize("name", ["floor", "ceil", "trunc", "round", "frac", "tan", "atan", "sinh", "cosh", "asinh",
                                  "exp2", "sinc", "nan_to_num", "erfinv", "asin", "acosh", "atanh", "log2"])
def test_unary_special_values_match_pytorch(name: str) -> None:
    ours, theirs, _ = UNARY[name]
    with np.errstate(all="ignore"):
        out = ours(ag.tensor(SPECIAL, dtype=ag.float64)).data
    np.testing.assert_allclose(out, theirs(torch.tensor(SPECIAL, dtype=torch.float64)).numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", ["atan2", "logaddexp", "logaddexp2", "hypot", "copysign", "fmod", "remainder",
                                  "floor_divide", "div_trunc", "xlogy"])
def test_binary_special_values_match_pytorch(name: str) -> None:
    ours, theirs, _, _ = BINARY[name]
    x, y = np.meshgrid(SPECIAL, SPECIAL)
    with np.errstate(all="ignore"):
        out = ours(ag.tensor(x, dtype=ag.float64), ag.tensor(y, dtype=ag.float64)).data
    expected = theirs(torch.tensor(x, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-15)


def test_nan_to_num_replacements_and_gradient_match_pytorch() -> None:
    data = np.array([1.0, np.nan, np.inf, -np.inf, -2.0])
    x, t = ag.tensor(data, requires_grad=True, dtype=ag.float64), torch.tensor(data, requires_grad=True)
    for kwargs in ({}, {"nan": 1.5, "posinf": 9.0, "neginf": -9.0}, {"posinf": 3.0}):
        out, expected = ag.nan_to_num(x, **kwargs), torch.nan_to_num(t, **kwargs)
        np.testing.assert_array_equal(out.data, expected.detach().numpy())
    ag.nan_to_num(x).sum().backward()
    torch.nan_to_num(t).sum().backward()
    np.testing.assert_array_equal(x.grad.data, t.grad.numpy())  # 0 at the replaced elements


# --- integers and Python numbers: PyTorch's dtypes and values --------------------------------------------------
INTEGERS = np.array([7, -7, 3, -3, 0, 5, -1])
DIVISORS = np.array([2, 2, -2, -2, 3, -5, 4])
OPERATORS = {
    "//": (lambda a, b: a // b, lambda a, b: torch.div(a, b, rounding_mode="floor")),
    "%": (lambda a, b: a % b, lambda a, b: a % b),
    "trunc": (lambda a, b: ag.div(a, b, rounding_mode="trunc"), lambda a, b: torch.div(a, b, rounding_mode="trunc")),
    "floor": (lambda a, b: ag.div(a, b, rounding_mode="floor"), lambda a, b: torch.div(a, b, rounding_mode="floor")),
    "fmod": (ag.fmod, torch.fmod),
    "remainder": (ag.remainder, torch.remainder),
}


def _same(ours: ag.Tensor, theirs: Any) -> None:
    assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch."), (ours.dtype, theirs.dtype)
    np.testing.assert_array_equal(ours.data, theirs.numpy())


@pytest.mark.parametrize("op", list(OPERATORS))
def test_integer_division_family_matches_pytorch(op: str) -> None:
    ours, theirs = OPERATORS[op]
    a, b = ag.tensor(INTEGERS), ag.tensor(DIVISORS)
    ta, tb = torch.tensor(INTEGERS), torch.tensor(DIVISORS)
    _same(ours(a, b), theirs(ta, tb))
    _same(ours(a, 3), theirs(ta, 3))          # a Python int on the right
    _same(ours(a, -3), theirs(ta, -3))
    _same(ours(a, 2.5), theirs(ta, 2.5))      # a Python float: float32, as PyTorch
    _same(ours(a.int(), b.int()), theirs(ta.int(), tb.int()))
    _same(ours(a.float(), b), theirs(ta.float(), tb))


@pytest.mark.parametrize("op", ["//", "%"])
@pytest.mark.parametrize("left", [7, -7, 7.5, -2.25])
def test_python_number_on_the_left_of_floordiv_and_mod(op: str, left: Any) -> None:
    ours, theirs = OPERATORS[op]
    for data in (DIVISORS, DIVISORS * 0.75):
        _same(ours(left, ag.tensor(data)), theirs(left, torch.tensor(data)))
    x = ag.tensor([1.5, -2.0], dtype=ag.float64, requires_grad=True)
    out = ours(left, x)
    assert out.requires_grad
    out.sum().backward()
    t = torch.tensor([1.5, -2.0], dtype=torch.float64, requires_grad=True)
    theirs(torch.tensor(left, dtype=torch.float64), t).sum().backward()  # (PyTorch has no gradient for `7 % t`)
    np.testing.assert_allclose(x.grad.data, t.grad.numpy())


@pytest.mark.parametrize("op", ["//", "%", "trunc", "floor", "fmod", "remainder"])
def test_integer_division_by_zero_raises_as_in_pytorch(op: str) -> None:
    ours, theirs = OPERATORS[op]
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        theirs(torch.tensor(INTEGERS), torch.tensor(0))
    with pytest.raises(ZeroDivisionError, match="division by zero"):
        ours(ag.tensor(INTEGERS), ag.tensor(0))
    with pytest.raises(ZeroDivisionError):
        ours(ag.tensor(INTEGERS), 0)


def test_float_division_by_zero_gives_infinities_and_nans_as_in_pytorch() -> None:
    x = np.array([1.0, -1.0, 0.0])
    with np.errstate(all="ignore"):
        for ours, theirs in OPERATORS.values():
            np.testing.assert_array_equal(ours(ag.tensor(x, dtype=ag.float64), 0.0).data,
                                          theirs(torch.tensor(x, dtype=torch.float64), 0.0).numpy())


def test_in_place_floordiv_and_mod() -> None:
    a, ta = ag.tensor(INTEGERS), torch.tensor(INTEGERS)
    a //= 2
    ta //= 2
    _same(a, ta)
    a %= 3
    ta %= 3
    _same(a, ta)
    x = ag.tensor([3.5, -1.5], dtype=ag.float64, requires_grad=True)
    y = x * 1
    y %= 2.0
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 1.0])


def test_rounding_functions_keep_integer_dtypes_as_pytorch() -> None:
    for fn, tfn in [(ag.floor, torch.floor), (ag.ceil, torch.ceil), (ag.trunc, torch.trunc),
                    (ag.round, torch.round)]:
        _same(fn(ag.tensor(INTEGERS)), tfn(torch.tensor(INTEGERS)))
        _same(fn(ag.tensor(INTEGERS, dtype=ag.int32)), tfn(torch.tensor(INTEGERS, dtype=torch.int32)))
    with pytest.raises(TypeError, match="floor: not defined for booleans"):
        ag.floor(ag.tensor([True]))


def test_float_functions_of_integers_give_float32_as_pytorch() -> None:
    for name in ["tan", "asinh", "exp2", "log2", "sinc", "erfinv"]:
        ours, theirs, _ = UNARY[name]
        out, expected = ours(ag.tensor([0, 1])), theirs(torch.tensor([0, 1]))
        assert out.dtype == np.float32 and expected.dtype == torch.float32
        np.testing.assert_allclose(out.data, expected.numpy(), atol=1e-7)  # (sinc(1) is 0 to within float32)
    _same(ag.atan2(ag.tensor([1, 2]), ag.tensor([3, 4])), torch.atan2(torch.tensor([1, 2]), torch.tensor([3, 4])))


def test_rounded_quotients_have_zero_gradient_and_stay_in_the_graph() -> None:
    x = ag.tensor([3.5, -2.0], dtype=ag.float64, requires_grad=True)
    y = ag.tensor([0.0, 1.5], dtype=ag.float64, requires_grad=True)  # even at a zero divisor: 0, not nan
    for out in (x // y, ag.div(x, y, rounding_mode="trunc"), x.floor(), x.round(decimals=1)):
        assert out.requires_grad and out.grad_fn is not None
        x.grad = y.grad = None
        with np.errstate(all="ignore"):
            out.sum().backward()
        np.testing.assert_array_equal(x.grad.data, [0.0, 0.0])
        assert y.grad is None or (y.grad.data == 0).all()


def test_div_refuses_an_unknown_rounding_mode() -> None:
    with pytest.raises(ValueError, match="rounding_mode must be None, 'trunc' or 'floor', got 'round'"):
        ag.div(ag.tensor([1.0]), 2.0, rounding_mode="round")


def test_predicates_give_booleans_outside_the_graph() -> None:
    data = np.array([1.0, np.nan, np.inf, -np.inf, 1.0 + 1e-9])
    x = ag.tensor(data, dtype=ag.float64, requires_grad=True)
    t = torch.tensor(data)
    for ours, theirs in [(x.isnan(), t.isnan()), (ag.isinf(x), torch.isinf(t)), (x.isfinite(), t.isfinite()),
                         (ag.isclose(x, 1.0), torch.isclose(t, torch.tensor(1.0, dtype=torch.float64))),
                         (x.isclose(x, equal_nan=True), t.isclose(t, equal_nan=True)),
                         (np.isclose(x, x), torch.isclose(t, t))]:
        assert isinstance(ours, ag.Tensor) and ours.dtype == np.bool_ and not ours.requires_grad
        np.testing.assert_array_equal(ours.data, theirs.numpy())
    assert ag.allclose(x, x, equal_nan=True) is True and x.allclose(x) is False
    assert torch.allclose(t, t, equal_nan=True) and not torch.allclose(t, t)


# --- numpy dispatch: numpy's spelling of each function is differentiable --------------------------------------
NUMPY = {
    np.floor: ag.floor, np.ceil: ag.ceil, np.trunc: ag.trunc, np.fix: ag.trunc, np.rint: ag.round,
    np.round: ag.round, np.tan: ag.tan, np.arcsin: ag.asin, np.arccos: ag.acos, np.arctan: ag.atan,
    np.sinh: ag.sinh, np.cosh: ag.cosh, np.arcsinh: ag.asinh, np.arctanh: ag.atanh, np.log2: ag.log2,
    np.log10: ag.log10, np.exp2: ag.exp2, np.sinc: ag.sinc, np.nan_to_num: ag.nan_to_num,
}
NUMPY_BINARY = {
    np.arctan2: ag.atan2, np.logaddexp: ag.logaddexp, np.logaddexp2: ag.logaddexp2, np.hypot: ag.hypot,
    np.copysign: ag.copysign, np.fmod: ag.fmod, np.remainder: ag.remainder, np.floor_divide: ag.floor_divide,
}


@pytest.mark.parametrize("fn", list(NUMPY), ids=lambda f: f.__name__)
def test_numpy_unary_functions_dispatch_to_autograd(fn: Callable) -> None:
    x = ag.tensor([0.3, -0.7, 0.55], dtype=ag.float64, requires_grad=True)
    out = fn(x)
    assert isinstance(out, ag.Tensor) and out.grad_fn is not None
    np.testing.assert_array_equal(out.data, NUMPY[fn](x).data)


@pytest.mark.parametrize("fn", list(NUMPY_BINARY), ids=lambda f: f.__name__)
def test_numpy_binary_functions_dispatch_to_autograd(fn: Callable) -> None:
    x = ag.tensor([0.3, -2.7, 1.55], dtype=ag.float64, requires_grad=True)
    out = fn(x, 0.6)
    assert isinstance(out, ag.Tensor) and out.grad_fn is not None
    np.testing.assert_array_equal(out.data, NUMPY_BINARY[fn](x, 0.6).data)


def test_erfinv_is_accurate_to_the_tails() -> None:
    x = np.concatenate([np.linspace(-1, 1, 4001)[1:-1], 1 - np.logspace(-16, -1, 60), -1 + np.logspace(-16, -1, 60)])
    for data in (x, x[:200]):  # the vectorised erf, and the loop over math.erf for small inputs
        out = ag.erfinv(ag.tensor(data, dtype=ag.float64)).data
        np.testing.assert_allclose(out, torch.erfinv(torch.tensor(data)).numpy(), rtol=1e-14)
    assert math.isinf(ag.erfinv(ag.tensor(1.0)).item()) and math.isnan(ag.erfinv(ag.tensor(1.5)).item())
