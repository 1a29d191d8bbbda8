"""Dtypes at the edges: which tensors may require grad (floats only: no integers, no complex), what
`autograd.tensor` accepts (numbers only, integers within int64), `view(dtype)`, integer `linspace` and
`clamp` without bounds, against PyTorch where it defines the answer."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd as ag
import nn
from autograd import Function

# --- only floating-point tensors can require grad -------------------------------------------------------------


def test_the_requires_grad_setter_checks_the_dtype():
    t = ag.tensor([1, 2, 3])
    with pytest.raises(TypeError, match="int64"):
        t.requires_grad = True
    assert not t.requires_grad
    b = ag.tensor([True, False])
    with pytest.raises(TypeError, match="bool"):
        b.requires_grad = True
    f = ag.tensor([1.0, 2.0])
    f.requires_grad = True
    assert f.requires_grad and f.is_leaf
    (f * f).sum().backward()
    np.testing.assert_array_equal(f.grad.numpy(), [2.0, 4.0])
    f.requires_grad = False
    assert not f.requires_grad


def test_the_setter_refuses_to_take_a_non_leaf_out_of_the_graph():
    y = ag.tensor([1.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="non-leaf"):
        y.requires_grad = False
    y.requires_grad = True  # already true: allowed, as in PyTorch


@pytest.mark.parametrize("make", [
    lambda: ag.tensor([1 + 2j], requires_grad=True),
    lambda: ag.tensor([1 + 2j]).requires_grad_(),
    lambda: setattr(ag.tensor([1 + 2j], dtype=np.complex64), "requires_grad", True),
    lambda: nn.Parameter(np.array([1 + 2j])),
    lambda: ag.zeros(2, dtype=np.complex64, requires_grad=True),
    lambda: ag.ones(2, dtype=np.complex128, requires_grad=True),
    lambda: ag.full((2,), 1j, requires_grad=True),
    lambda: ag.randn(2, dtype=np.complex64, requires_grad=True),
], ids=["tensor", "requires_grad_", "setter", "Parameter", "zeros", "ones", "full", "randn"])
def test_complex_tensors_cannot_require_grad(make):
    with pytest.raises(TypeError, match="complex autograd is not supported"):
        make()


def test_complex_tensors_still_compute_outside_the_graph():
    z = ag.tensor([1 + 2j, 3 - 1j])
    np.testing.assert_allclose((z * z).numpy(), np.array([1 + 2j, 3 - 1j]) ** 2)


@pytest.mark.parametrize("op", [
    lambda x: x * 1j,
    lambda x: 1j + x,
    lambda x: ag.where(x > 0, x, ag.tensor(2j)),
    lambda x: x.astype(np.complex64),
    lambda x: x @ ag.tensor([[1j], [1.0]]),
    lambda x: np.exp(x * ag.tensor([1j, 1.0])),
], ids=["mul", "radd", "where", "astype", "matmul", "numpy"])
def test_a_complex_constant_cannot_enter_a_real_graph(op):
    """Without the refusal, |x * c| backpropagated `x c^2 / |x c|` (a wrong real gradient, imaginary part dropped)."""
    x = ag.tensor([1.0, -2.0], requires_grad=True)
    with pytest.raises(TypeError, match="complex autograd is not supported"):
        op(x)
    with ag.no_grad():
        assert op(x).dtype.kind == "c"  # outside the graph complex values are fine
    assert op(x.detach()).dtype.kind == "c"


def test_a_custom_function_cannot_return_a_complex_output_into_the_graph():
    class ToComplex(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1j

        @staticmethod
        def backward(ctx, g):
            return g

    x = ag.tensor([1.0], requires_grad=True)
    with pytest.raises(TypeError, match="ToComplex: output 0 is complex"):
        ToComplex.apply(x)


# --- what autograd.tensor accepts ------------------------------------------------------------------------------
@pytest.mark.parametrize("data, words", [
    (np.array([1, None], dtype=object), "Python objects.*dtype object"),
    (np.array(["a", "b"]), "strings.*<U1"),
    (np.array([b"a"]), "bytes"),
    (np.array(["2020-01-01"], dtype="datetime64[D]"), "dates"),
    ([1.0, None], "None.*NoneType"),
    ([1, "a"], "'a'.*str"),
    ([[1.0, 2.0], [3.0, object()]], "of type object"),
    ("abc", "str"),
    (None, "NoneType"),
    ({"a": 1}, "dict"),
])
def test_tensor_refuses_data_that_is_not_numbers_at_once(data, words):
    with pytest.raises(TypeError, match=words):
        ag.tensor(data)


def test_from_numpy_and_as_tensor_refuse_object_arrays():
    for make in (ag.from_numpy, ag.as_tensor):
        with pytest.raises(TypeError, match="dtype object"):
            make(np.array([1.0, None], dtype=object))


@pytest.mark.parametrize("data, dtype", [
    ([2**63, -1], None), (2**63, None), ([2**64], None), ([-(2**63) - 1], None), ([[1, 2], [3, 2**70]], None),
    (300, np.uint8), ([2**40], np.int32), ([-129], np.int8), ([1e20], np.int64),
])
def test_integers_out_of_range_are_refused(data, dtype):
    """PyTorch raises for these; `tensor([2**63, -1])` used to become float32 silently."""
    torch = pytest.importorskip("torch")
    with pytest.raises(OverflowError):
        ag.tensor(data, dtype=dtype)
    with pytest.raises((RuntimeError, ValueError, OverflowError)):
        torch.tensor(data, dtype=None if dtype is None else getattr(torch, np.dtype(dtype).name))


@pytest.mark.parametrize("data", [[-(2**63), 2**63 - 1], [True, 2], [2**70, 1.5], [1.5, 2**63], [2.0**63, -1]])
def test_values_in_range_are_built_as_pytorch_builds_them(data):
    torch = pytest.importorskip("torch")
    ours, theirs = ag.tensor(data), torch.tensor(data)
    assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


# --- view(dtype) -------------------------------------------------------------------------------------------------
DTYPES = [np.float32, np.float64, np.float16, np.int64, np.int32, np.int16, np.uint8, np.bool_]


@pytest.mark.parametrize("target", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("source", [np.float32, np.float64, np.int16, np.uint8, np.bool_],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", [(), (4,), (3, 4), (2, 3, 8), (5,), (0, 4), (3, 1)], ids=str)
@pytest.mark.parametrize("transposed", [False, True], ids=["", "T"])
def test_view_dtype_reinterprets_bits_as_pytorch_does(source, target, shape, transposed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(sum(shape) + len(shape))
    base = rng.standard_normal(shape) * 100
    data = np.asarray(base > 0 if source is np.bool_ else base.astype(source))
    ours, theirs = ag.tensor(data), torch.from_numpy(data.copy())
    if transposed and data.ndim >= 2:
        ours, theirs = ours.permute(*reversed(range(data.ndim))), theirs.permute(*reversed(range(data.ndim)))
    try:
        expected = theirs.view(getattr(torch, "bool" if target is np.bool_ else np.dtype(target).name)).numpy()
    except RuntimeError:
        with pytest.raises(ValueError, match=r"view\("):
            ours.view(target)
        return
    got = ours.view(target)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    if target is np.bool_ and not shape:  # a 0-d tensor holds a numpy bool, which is 0 or 1: the truth value
        assert bool(got) == bool(expected)
    else:
        assert got.numpy().tobytes() == expected.tobytes()


def test_view_dtype_shares_memory_and_leaves_the_graph_as_in_pytorch():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    bits = x.view(ag.int32)
    np.testing.assert_array_equal(bits.numpy(), np.array([1.0, 2.0], np.float32).view(np.int32))
    assert np.shares_memory(bits.numpy(), x.numpy())
    assert not bits.requires_grad and not x.view(ag.float32).requires_grad  # PyTorch: no grad_fn either
    assert x.view(-1).requires_grad and x.view(2, 1).shape == (2, 1)  # shapes still reshape
    np.testing.assert_array_equal(ag.view(x, ag.int16).numpy(), np.array([1.0, 2.0], np.float32).view(np.int16))


# --- linspace ----------------------------------------------------------------------------------------------------
INTEGER_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8]


@given(start=st.one_of(st.integers(-300, 300), st.floats(-300, 300)),
       end=st.one_of(st.integers(-300, 300), st.floats(-300, 300)),
       steps=st.sampled_from([0, 1, 2, 3, 7, 20, 33, 100, 1000, 40_000]),
       dtype=st.sampled_from(INTEGER_DTYPES))
def test_integer_linspace_is_pytorchs_exactly(start, end, steps, dtype):
    torch = pytest.importorskip("torch")
    try:
        expected = torch.linspace(start, end, steps, dtype=getattr(torch, np.dtype(dtype).name)).numpy()
    except RuntimeError:  # start or end out of the dtype's range
        with pytest.raises(OverflowError, match="linspace"):
            ag.linspace(start, end, steps, dtype=dtype)
        return
    got = ag.linspace(start, end, steps, dtype=dtype)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got.numpy(), expected)


def test_integer_linspace_truncates_toward_zero():
    """PyTorch's values; numpy's linspace(dtype=int32) rounds toward minus infinity instead."""
    expected = [5, 4, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, -1, -1, -2, -2, -3, -3, -4, -5]
    np.testing.assert_array_equal(ag.linspace(5, -5, 20, dtype=ag.int32).numpy(), expected)


def test_linspace_refuses_bool_and_negative_steps():
    with pytest.raises(TypeError, match="bool"):
        ag.linspace(0, 1, 5, dtype=ag.bool_)
    with pytest.raises(ValueError, match="non-negative"):
        ag.linspace(0, 1, -1)
    with pytest.raises(TypeError):
        ag.linspace(0, 1, 2.0)
    np.testing.assert_allclose(ag.linspace(0, 1, 5).numpy(), [0, 0.25, 0.5, 0.75, 1])  # floats unchanged


# --- clamp -------------------------------------------------------------------------------------------------------
def test_clamp_needs_a_bound():
    x = ag.tensor([1.0, 2.0])
    for call in (lambda: x.clip(None, None), lambda: x.clamp(), lambda: ag.clamp(x)):
        with pytest.raises(ValueError, match="at least one of 'min' or 'max'"):
            call()
    np.testing.assert_array_equal(x.clamp(max=1.5).numpy(), [1.0, 1.5])
