"""Issue 15, point 5 and "Semantics to align with PyTorch": dtype names and casts, numpy's `axis=`/`keepdims=`
wherever PyTorch accepts them, an integer mixed with an integer-array index as PyTorch reads it, and errors that
code written for PyTorch (RuntimeError) or for numpy (ValueError, IndexError) catches alike."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import autograd as ag
import nn
import nn.functional as F
from autograd.errors import OpError, OpIndexError


# --- dtypes ----------------------------------------------------------------------------------------------------
def test_dtype_names_are_pytorchs() -> None:
    assert ag.int == np.int32 and ag.long == np.int64 and ag.bool == np.bool_
    assert ag.half == ag.float16 == np.float16 and ag.float == np.float32 and ag.double == np.float64
    assert ag.zeros(2, dtype=ag.int).dtype == np.int32


def test_bfloat16_is_refused_with_a_reason() -> None:
    with pytest.raises(AttributeError, match="numpy has no bfloat16 type"):
        ag.bfloat16  # noqa: B018
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        ag.no_such_name  # noqa: B018


@pytest.mark.parametrize(("method", "dtype"), [("half", np.float16), ("long", np.int64), ("int", np.int32),
                                               ("bool", np.bool_), ("float", np.float32), ("double", np.float64)])
def test_cast_methods(method: str, dtype: type) -> None:
    out = getattr(ag.tensor([0.0, 1.5, -2.0]), method)()
    assert out.dtype == dtype
    np.testing.assert_array_equal(out.data, np.array([0.0, 1.5, -2.0]).astype(dtype))


def test_half_keeps_the_gradient_path() -> None:
    x = ag.tensor([1.5, 2.0], requires_grad=True)
    y = x.half()
    assert y.dtype == np.float16 and y.requires_grad
    y.sum().backward()
    assert x.grad.dtype == np.float32 and (x.grad.data == 1).all()


# --- axis= and keepdims= ---------------------------------------------------------------------------------------
X = ag.tensor(np.arange(24.0).reshape(2, 3, 4) % 7)
INDEX = ag.tensor(np.zeros((2, 1, 4), dtype=np.int64))
ALIASES: dict[str, tuple[Callable, Callable]] = {
    "sum": (lambda: X.sum(axis=1, keepdims=True), lambda: X.sum(dim=1, keepdim=True)),
    "mean": (lambda: ag.mean(X, axis=-1), lambda: ag.mean(X, dim=-1)),
    "var": (lambda: X.var(axis=1), lambda: X.var(dim=1)),
    "std": (lambda: ag.std(X, axis=(0, 2)), lambda: ag.std(X, dim=(0, 2))),
    "prod": (lambda: X.prod(axis=2, keepdims=True), lambda: X.prod(2, True)),
    "amax": (lambda: X.amax(axis=1, keepdims=True), lambda: X.amax(1, True)),
    "amin": (lambda: ag.amin(X, axis=(0, 1)), lambda: ag.amin(X, (0, 1))),
    "max": (lambda: X.max(axis=1).values, lambda: X.max(1).values),
    "max_keepdims": (lambda: ag.max(X, axis=1, keepdims=True).indices, lambda: ag.max(X, 1, True).indices),
    "min": (lambda: ag.min(X, axis=2).values, lambda: ag.min(X, 2).values),
    "argmax": (lambda: X.argmax(axis=1), lambda: X.argmax(1)),
    "argmin": (lambda: ag.argmin(X, axis=2, keepdims=True), lambda: ag.argmin(X, 2, True)),
    "any": (lambda: (X > 5).any(axis=1), lambda: (X > 5).any(1)),
    "all": (lambda: ag.all(X > 0, axis=2, keepdims=True), lambda: ag.all(X > 0, 2, True)),
    "logsumexp": (lambda: X.logsumexp(axis=0), lambda: X.logsumexp(0)),
    "softmax": (lambda: X.softmax(axis=1), lambda: X.softmax(1)),
    "log_softmax": (lambda: ag.log_softmax(X, axis=0), lambda: ag.log_softmax(X, 0)),
    "cat": (lambda: ag.cat([X, X], axis=1), lambda: ag.cat([X, X], 1)),
    "stack": (lambda: ag.stack([X, X], axis=-1), lambda: ag.stack([X, X], -1)),
    "squeeze": (lambda: X[:, :1].squeeze(axis=1), lambda: X[:, :1].squeeze(1)),
    "unsqueeze": (lambda: X.unsqueeze(axis=1), lambda: X.unsqueeze(1)),
    "gather": (lambda: X.gather(axis=1, index=INDEX), lambda: X.gather(1, INDEX)),
    "chunk": (lambda: X.chunk(2, axis=2)[1], lambda: X.chunk(2, 2)[1]),
    "unbind": (lambda: ag.stack(X.unbind(axis=2)), lambda: ag.stack(X.unbind(2))),
    "index_add": (lambda: X.index_add(axis=0, index=ag.tensor([1]), source=X[:1]),
                  lambda: X.index_add(0, ag.tensor([1]), X[:1])),
    "size": (lambda: ag.tensor(X.size(axis=2)), lambda: ag.tensor(X.size(2))),
}


@pytest.mark.parametrize("name", list(ALIASES))
def test_axis_is_an_alias_of_dim(name: str) -> None:
    with_axis, with_dim = ALIASES[name]
    out, expected = with_axis(), with_dim()
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out.data, expected.data)


def test_a_required_dim_can_come_as_axis_but_must_come() -> None:
    with pytest.raises(TypeError, match="unsqueeze: missing the argument 'dim' \\(or its alias 'axis'\\)"):
        X.unsqueeze()
    with pytest.raises(TypeError, match="gather: missing the argument 'index'"):
        X.gather(1)


# --- indexing: an integer mixed with an integer-array index ------------------------------------------------------
def test_the_issues_example_has_pytorchs_shape() -> None:
    x = ag.arange(24).reshape(2, 3, 4)
    out = x[0, :, ag.tensor([0, 1])]
    assert out.shape == (3, 2)  # numpy: (2, 3)
    np.testing.assert_array_equal(out.data, np.arange(24).reshape(2, 3, 4)[0][:, [0, 1]])


INDICES = [
    lambda a: (0, slice(None), a([0, 1])),
    lambda a: (slice(None), a([2, 0, 1]), -1),
    lambda a: (a([1, 0]), slice(None), 3),
    lambda a: (1, Ellipsis, a([[0, 3], [1, 2]])),
    lambda a: (1, None, slice(None), a([True, False, True, True])),
    lambda a: (a([True, False]), 2, a([0, 1])),
    lambda a: (slice(1, None), 1, a([3, 0])),
    lambda a: (a([0, 1]), 1, a([2, 3])),
]


@pytest.mark.parametrize("make", INDICES)
def test_mixed_indices_read_and_write_as_in_pytorch(make: Callable) -> None:
    torch = pytest.importorskip("torch")
    data = np.arange(24.0).reshape(2, 3, 4)
    x = ag.tensor(data, dtype=ag.float64, requires_grad=True)
    t = torch.tensor(data, requires_grad=True)
    index = make(lambda v: ag.tensor(v))
    tindex = make(lambda v: torch.tensor(v))
    out, expected = x[index], t[tindex]
    np.testing.assert_array_equal(out.data, expected.detach().numpy())
    weights = np.random.default_rng(0).standard_normal(out.shape)
    (out * ag.tensor(weights)).sum().backward()
    (expected * torch.tensor(weights)).sum().backward()
    np.testing.assert_array_equal(x.grad.data, t.grad.numpy())
    # assignment: on plain data (in place) and inside the graph (out of place), the same places as PyTorch
    plain, tplain = ag.tensor(data), torch.tensor(data)
    plain[index] = -1.0
    tplain[tindex] = -1.0
    np.testing.assert_array_equal(plain.data, tplain.numpy())
    value = ag.tensor(np.full(out.shape, 5.0), requires_grad=True)
    y = x * 1.0
    y[index] = value
    np.testing.assert_array_equal(y.data, np.where(tplain.numpy() == -1.0, 5.0, data))
    (y * y).sum().backward()
    np.testing.assert_allclose(value.grad.data, 10.0)  # every value element lands once (no repeats here)


# --- errors: RuntimeError for PyTorch's code, ValueError/IndexError for numpy's ---------------------------------
ERRORS: dict[str, tuple[Callable, type]] = {
    "matmul": (lambda: ag.ones(2, 3) @ ag.ones(4, 2), OpError),
    "einsum": (lambda: ag.einsum("ij,jk->ik", ag.ones(2, 3), ag.ones(4, 2, 1)), OpError),
    "conv2d": (lambda: F.conv2d(ag.ones(1, 2, 5, 5), ag.ones(3, 4, 3, 3)), OpError),
    "Conv2d": (lambda: nn.Conv2d(2, 3, 3)(ag.ones(1, 4, 5, 5)), nn.ShapeError),
    "permute": (lambda: ag.ones(2, 3).permute(0, 0), OpError),
    "flip": (lambda: ag.ones(2, 3).flip((0, 0)), OpError),
    "reshape": (lambda: ag.ones(2, 3).reshape(4, 2), OpError),
    "gather_shape": (lambda: ag.ones(2, 3).gather(1, ag.tensor([0])), OpError),
    "gather_index": (lambda: ag.ones(2, 3).gather(1, ag.tensor([[5]])), OpIndexError),
    "cross_entropy_class": (lambda: F.cross_entropy(ag.ones(2, 3), ag.tensor([0, 7])), OpIndexError),
    "cross_entropy_shape": (lambda: F.cross_entropy(ag.ones(2, 3), ag.tensor([0, 1, 1])), OpError),
    "int_negative_power": (lambda: ag.tensor([2, 3]) ** -2, OpError),
    "broadcast": (lambda: ag.ones(2, 3) + ag.ones(4), OpError),
    "dim_out_of_range": (lambda: ag.ones(2).sum(3), OpIndexError),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_errors_are_runtime_errors_too(name: str) -> None:
    fn, kind = ERRORS[name]
    with pytest.raises(RuntimeError) as caught:
        fn()
    assert isinstance(caught.value, kind)
    assert isinstance(caught.value, ValueError if issubclass(kind, ValueError) else IndexError)
    assert str(caught.value).split(":")[0]  # the message still names the op


def test_int_negative_power_says_what_happened() -> None:
    with pytest.raises(ValueError, match="pow: Integers to negative integer powers are not allowed"):
        ag.tensor([2]) ** -2


def test_pad_with_an_unknown_mode_is_not_implemented_as_in_pytorch() -> None:
    with pytest.raises(NotImplementedError, match="pad: mode must be 'constant', 'reflect', 'replicate' or "
                                                  "'circular', got 'typo'"):
        F.pad(ag.ones(1, 2, 3), (1, 1), mode="typo")
