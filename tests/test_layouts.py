"""Memory layouts: the convolution's two layouts (batch-last for short output rows, NCHW otherwise) agree to the
last bit of float64 in values and every gradient; ops that mix layouts keep results right; the blocked matrix
products (kernels.gemm) equal plain ones."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd
import nn
import nn.functional as F
from autograd import kernels, ops


def _conv_outputs_and_gradients(batch_last: bool, fn: Any, x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                                 **options: Any) -> list[np.ndarray]:
    xt, wt = autograd.tensor(x, requires_grad=True), autograd.tensor(w, requires_grad=True)
    bt = None if b is None else autograd.tensor(b, requires_grad=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(F, "_batch_last", lambda *args: batch_last)
        y = fn(xt, wt, bt, **options)
    g = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(autograd.tensor(g))
    return [y.numpy(), xt.grad.numpy(), wt.grad.numpy()] + ([] if bt is None else [bt.grad.numpy()])


@settings(max_examples=40, deadline=None)
@given(nd=st.sampled_from([1, 2]), batch=st.sampled_from([0, 1, 3]), groups=st.sampled_from([1, 2]),
       kernel=st.integers(1, 3), stride=st.integers(1, 2), dilation=st.integers(1, 2), padding=st.integers(0, 2),
       size=st.integers(3, 7), bias=st.booleans())
def test_conv_layouts_agree(nd, batch, groups, kernel, stride, dilation, padding, size, bias):
    """batch=0: an unbatched input (C, *spatial)."""
    rng = np.random.default_rng(0)
    spatial = (size,) * nd if nd == 1 else (size, size + 1)
    x = rng.standard_normal(((batch,) if batch else ()) + (2 * groups,) + spatial)
    w = rng.standard_normal((2 * groups, 2) + (kernel,) * nd)
    b = rng.standard_normal(2 * groups) if bias else None
    if any(n + 2 * padding < dilation * (kernel - 1) + 1 for n in spatial):
        return
    fn = F.conv1d if nd == 1 else F.conv2d
    options = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    nchw = _conv_outputs_and_gradients(False, fn, x, w, b, **options)
    batch_last = _conv_outputs_and_gradients(True, fn, x, w, b, **options)
    for a, c in zip(nchw, batch_last):
        np.testing.assert_allclose(c, a, rtol=1e-12, atol=1e-12)


def test_conv_layouts_agree_at_second_order(monkeypatch):
    rng = np.random.default_rng(2)
    x = autograd.tensor(rng.standard_normal((2, 2, 5, 4)), requires_grad=True)
    w = autograd.tensor(rng.standard_normal((3, 2, 2, 3)), requires_grad=True)
    for batch_last in (True, False):
        monkeypatch.setattr(F, "_batch_last", lambda *args, b=batch_last: b)
        assert autograd.gradgradcheck(lambda a, k: F.conv2d(a, k, padding=1, stride=(1, 2)), (x, w))


def _is_batch_last(a: np.ndarray) -> bool:
    return np.moveaxis(a, 0, -1).flags.c_contiguous


def test_which_layout_a_convolution_takes():
    x = autograd.randn(4, 2, 10, 10)
    short_rows = nn.Conv2d(2, 3, 3, padding=1)(x)
    assert _is_batch_last(short_rows.numpy()) and not short_rows.numpy().flags.c_contiguous
    long_rows = nn.Conv2d(2, 3, 3, padding=1)(autograd.randn(4, 2, 3, 60))
    assert long_rows.numpy().flags.c_contiguous
    # a 1x1 convolution keeps its input's layout: either way its input is its columns
    one_by_one = nn.Conv2d(3, 5, 1)
    assert _is_batch_last(one_by_one(short_rows).numpy())
    assert one_by_one(long_rows).numpy().flags.c_contiguous
    # a ReLU and a max pooling keep the batch-last layout, so that they too run over long rows
    pooled = nn.MaxPool2d(2)(nn.ReLU()(short_rows))
    assert _is_batch_last(pooled.numpy())


def test_contiguous_makes_a_batch_last_output_row_major():
    x = autograd.randn(4, 2, 10, 10, requires_grad=True)
    y = nn.Conv2d(2, 3, 3, padding=1)(x)
    assert not y.is_contiguous()
    row_major = y.contiguous()
    assert row_major.is_contiguous() and row_major.numpy().flags.c_contiguous
    np.testing.assert_array_equal(row_major.numpy(), y.numpy())
    assert row_major.contiguous() is row_major and autograd.tensor(2.0).is_contiguous()
    (row_major * row_major).sum().backward(retain_graph=True)  # in the graph: the gradient flows through the copy
    through_copy = x.grad.numpy().copy()
    x.grad = None
    (y * y).sum().backward()
    np.testing.assert_allclose(through_copy, x.grad.numpy(), rtol=1e-6)


def test_a_small_cnn_trains_the_same_in_both_layouts(monkeypatch):
    rng = np.random.default_rng(3)
    x, labels = rng.standard_normal((8, 1, 12, 12)), rng.integers(0, 4, 8)
    results = []
    for batch_last in (True, False):
        monkeypatch.setattr(F, "_batch_last", lambda *args, b=batch_last: b)
        autograd.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(4, 6, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(24, 4)).double()
        opt = nn.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(3):
            opt.zero_grad()
            loss = F.cross_entropy(model(autograd.tensor(x)), autograd.tensor(labels))
            loss.backward()
            opt.step()
        results.append([p.numpy().copy() for p in model.parameters()] + [loss.numpy()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


# --- ops that meet two layouts ----------------------------------------------------------------------------------
def test_max_pool_gradient_with_a_gradient_in_another_layout():
    rng = np.random.default_rng(4)
    x = np.moveaxis(rng.standard_normal((3, 6, 8, 5)), -1, 0)  # (5, 3, 6, 8) lying in memory batch-last
    x[0, 0, :2, :2] = 7.0  # a tie: the first maximum gets the gradient
    params = dict(kernel_size=(2, 2), stride=(2, 2), dilation=(1, 1))
    out = ops.max_pool.forward(x, **params)
    assert _is_batch_last(out)
    g = rng.standard_normal(out.shape)  # C-ordered
    plain = ops.to_maxima.forward(g, np.ascontiguousarray(x), np.ascontiguousarray(out), **params)
    mixed = ops.to_maxima.forward(g, x, out, **params)
    np.testing.assert_array_equal(mixed, plain)
    assert _is_batch_last(mixed)
    assert mixed[0, 0, 0, 0] == g[0, 0, 0, 0] and mixed[0, 0, 0, 1] == mixed[0, 0, 1, 0] == mixed[0, 0, 1, 1] == 0
    grad = rng.standard_normal(x.shape)
    np.testing.assert_array_equal(ops.from_maxima.forward(np.ascontiguousarray(grad), x, out, **params),
                                  ops.from_maxima.forward(grad, np.ascontiguousarray(x), np.ascontiguousarray(out),
                                                          **params))


def test_fold_adds_back_in_the_windows_layout():
    rng = np.random.default_rng(5)
    windows = np.moveaxis(rng.standard_normal((3, 4, 5, 2, 2, 6)), -1, 1)  # (3, 6, 4, 5, 2, 2), axis 1 innermost
    params = dict(shape=(3, 6, 5, 6), kernel_size=(2, 2), stride=(1, 1), dilation=(1, 1))
    folded = ops.fold.forward(windows, **params)
    np.testing.assert_array_equal(folded, ops.fold.forward(np.ascontiguousarray(windows), **params))
    assert np.moveaxis(folded, 1, -1).flags.c_contiguous


def test_in_layout_of():
    a = np.arange(24.0).reshape(2, 3, 4)
    like = np.empty((4, 2, 3)).transpose(1, 2, 0)  # (2, 3, 4), its last axis outermost
    copy = kernels.in_layout_of(a, like)
    np.testing.assert_array_equal(copy, a)
    assert copy.strides == like.strides
    assert kernels.in_layout_of(a, np.empty((2, 3, 4))) is a
    single = np.empty((1, 3, 4))
    assert kernels.in_layout_of(single, np.empty((3, 1, 4)).transpose(1, 0, 2)) is single  # length-1 axes don't count


# --- blocked matrix products ------------------------------------------------------------------------------------
GEMM_SHAPES = [
    ((8, 9), (9, 40077)),      # a short side against a very long one: blocks of columns
    ((8, 40077), (40077, 9)),  # a long contraction into 8 x 9: blocks added
    ((16, 3000), (3000, 72)),                     # a small result of a long contraction: the other orientation
    ((5, 7), (7, 3)),                             # one plain call
    ((0, 9), (9, 40000)),            # empty
]


@pytest.mark.parametrize("shapes", GEMM_SHAPES, ids=[f"{a}@{b}" for a, b in GEMM_SHAPES])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_gemm_equals_matmul(shapes, dtype):
    rng = np.random.default_rng(6)
    a, b = (rng.integers(-3, 4, shape).astype(dtype) for shape in shapes)
    out = kernels.gemm(a, b)
    assert out.dtype == np.result_type(a, b) and out.shape == (shapes[0][0], shapes[1][1])
    # small integers (products and sums far below 2**24): exact in every dtype and every order of summation
    np.testing.assert_array_equal(out, a @ b)


@pytest.mark.parametrize("shapes", GEMM_SHAPES[:3], ids=[f"{a}@{b}" for a, b in GEMM_SHAPES[:3]])
def test_matmul_gradients_through_the_blocked_forms(shapes):
    rng = np.random.default_rng(7)
    x, y = (autograd.tensor(rng.standard_normal(shape), requires_grad=True) for shape in shapes)
    out = x @ y
    g = rng.standard_normal(out.shape)
    out.backward(autograd.tensor(g))
    np.testing.assert_allclose(out.numpy(), x.numpy() @ y.numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), g @ y.numpy().T, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(y.grad.numpy(), x.numpy().T @ g, rtol=1e-12, atol=1e-9)
