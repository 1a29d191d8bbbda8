"""Issue 15's structure ops beyond the gradient table: numpy dispatch, PyTorch's argument forms, errors."""

from __future__ import annotations

import numpy as np
import pytest

import autograd as ag

A = np.arange(24.0).reshape(2, 3, 4)


@pytest.mark.parametrize(("name", "call"), [
    ("tril", lambda a: np.tril(a[0], 1)),
    ("triu", lambda a: np.triu(a[0], k=-1)),
    ("diagonal", lambda a: np.diagonal(a, 1, 2, 0)),
    ("diag_vector", lambda a: np.diag(a[0, 0], -1)),
    ("diag_matrix", lambda a: np.diag(a[0], 1)),
    ("trace", lambda a: np.trace(a, 1, 1, 2)),
    ("roll_flat", lambda a: np.roll(a, 5)),
    ("roll_axes", lambda a: np.roll(a, (1, -2), axis=(0, 2))),
    ("rot90", lambda a: np.rot90(a, 3, axes=(2, 1))),
    ("meshgrid_xy", lambda a: np.meshgrid(a[0, 0], a[0, :, :2])),
    ("meshgrid_ij", lambda a: np.meshgrid(a[0, 0], a[1, 1], indexing="ij")),
    ("repeat_flat", lambda a: np.repeat(a, 2)),
    ("repeat_counts", lambda a: np.repeat(a, [1, 0, 2], axis=1)),
    ("moveaxis", lambda a: np.moveaxis(a, [0, 1], [-1, 0])),
    ("tile", lambda a: np.tile(a, (2, 1))),
    ("atleast_2d", lambda a: np.atleast_2d(a[0, 0])),
    ("atleast_3d", lambda a: np.atleast_3d(a[0])),
    ("outer", lambda a: np.outer(a[0, :2], a[1])),
    ("kron", lambda a: np.kron(a[0], a[1, :2])),
    ("cross", lambda a: np.cross(a[0, :, :3], a[1, :, 1:])),
    ("cross_axes", lambda a: np.cross(a[0, :, :3], a[1, :, 1:], axisa=1, axisb=-1, axisc=0)),
])
def test_numpy_functions_on_tensors_are_autograd_operations(name, call):
    x = ag.tensor(A, requires_grad=True)
    got, expected = call(x), call(A)
    got = got if isinstance(got, (tuple, list)) else (got,)
    expected = expected if isinstance(expected, (tuple, list)) else (expected,)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert isinstance(g, ag.Tensor) and g.requires_grad
        np.testing.assert_array_equal(g.numpy(), e)
    sum(g.sum() for g in got).backward()
    assert x.grad.shape == A.shape


def test_tril_keeps_dtype_and_selects_instead_of_multiplying():
    x = ag.tensor([[1.0, np.inf], [np.nan, 2.0]], requires_grad=True)
    y = x.tril()
    assert y.tolist()[0] == [1.0, 0.0] and y.dtype == np.float32  # inf above the diagonal: 0, not nan
    y.sum().backward()
    assert x.grad.tolist() == [[1.0, 0.0], [1.0, 1.0]]
    assert ag.tensor([[True, True], [True, True]]).triu().tolist() == [[True, True], [False, True]]
    assert ag.tensor([[1, 2], [3, 4]]).tril().dtype == np.int64


def test_functions_and_methods_take_pytorch_argument_forms():
    x = ag.arange(12.0).reshape(3, 4)
    assert x.tile(2).shape == (3, 8) and ag.tile(x, (2, 1, 1)).shape == (2, 3, 4)
    assert ag.repeat_interleave(ag.tensor([2, 0, 1])).tolist() == [0, 0, 2]
    assert x.repeat_interleave(ag.tensor([2]), dim=0).shape == (6, 4)  # one count for all, as a 1-element tensor
    assert x.narrow(0, ag.tensor(1), 2).tolist() == x[1:3].tolist()
    assert ag.atleast_2d([x, x])[1].shape == (3, 4) and isinstance(ag.atleast_1d(ag.tensor(1.0)), ag.Tensor)
    assert ag.meshgrid([ag.arange(2), ag.arange(3)])[0].shape == (2, 3)  # default 'ij', as PyTorch's
    assert ag.trace(ag.tensor([[1, 2], [3, 4]])).dtype == np.int64
    assert x.unfold(1, 2, 2).shape == (3, 2, 2) and x.unfold(0, 0, 1).shape == (4, 4, 0)
    assert ag.roll(ag.tensor(3.0), 1).item() == 3.0
    assert ag.diag_embed(ag.ones(2, 3), 1, 0, 2).shape == (4, 2, 4)
    with pytest.warns(UserWarning, match="dim"):
        assert ag.cross(ag.ones(2, 3), ag.ones(2, 3)).shape == (2, 3)


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: ag.tril(ag.ones(3)), ValueError, r"tril: expected a tensor with at least 2 dims, got shape \(3,\)"),
    (lambda: ag.diagonal(ag.ones(2, 2), 0, 1, -1), ValueError, "diagonal: dim1 and dim2 name the same dim"),
    (lambda: ag.diag(ag.ones(2, 2, 2)), ValueError, r"diag: expected a 1-D or 2-D tensor, got shape \(2, 2, 2\)"),
    (lambda: ag.trace(ag.ones(3)), ValueError, "trace: expected a 2-D tensor"),
    (lambda: ag.roll(ag.ones(3), (1, 2)), ValueError, "roll: without dims, shifts must be a single int"),
    (lambda: ag.roll(ag.ones(3), (1, 2), 0), ValueError, "roll: shifts .* and dims .* must have the same length"),
    (lambda: ag.rot90(ag.ones(2, 2), 1, (0,)), ValueError, "rot90: dims must name 2 dims"),
    (lambda: ag.meshgrid(ag.ones(2, 2)), ValueError, r"meshgrid: expected 0-d or 1-D tensors, got shape \(2, 2\)"),
    (lambda: ag.meshgrid(ag.ones(2), indexing="xx"), ValueError, "meshgrid: indexing must be 'ij' or 'xy'"),
    (lambda: ag.repeat_interleave(ag.ones(3), ag.tensor([1, 2]), 0), ValueError, "2 repeat counts for a dim of size 3"),
    (lambda: ag.repeat_interleave(ag.ones(3), -1), ValueError, "repeats must be non-negative"),
    (lambda: ag.unflatten(ag.ones(2, 6), 1, (4, -1)), ValueError, r"unflatten: sizes \(4, -1\) do not multiply"),
    (lambda: ag.movedim(ag.ones(2, 3), (0, 1), 0), ValueError, "movedim: source .* must have the same length"),
    (lambda: ag.movedim(ag.ones(2, 3), 3, 0), IndexError, "movedim: dim 3 is out of range"),
    (lambda: ag.narrow(ag.ones(4), 0, 2, 3), ValueError, r"narrow: start \(2\) \+ length \(3\) exceeds the size"),
    (lambda: ag.ones(4).unfold(0, 5, 1), ValueError, "unfold: size 5 must be between 0 and the size 4"),
    (lambda: ag.ones(4).unfold(0, 2, 0), ValueError, "unfold: step must be positive"),
    (lambda: ag.outer(ag.ones(2, 2), ag.ones(2)), ValueError, "outer: expected two 1-D tensors"),
    (lambda: ag.cross(ag.ones(2, 3), ag.ones(2, 3), 0), ValueError, "cross: dim 0 has size 2 .* expected 3"),
    (lambda: ag.cross(ag.ones(2, 3), ag.ones(4, 3), 1), ValueError, "cross: shapes .* cannot be broadcast"),
])
def test_bad_arguments_are_named(call, error, match):
    with pytest.raises(error, match=match):
        call()
