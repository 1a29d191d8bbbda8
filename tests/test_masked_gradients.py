"""Gradients through masks: an op that passes its input on a mask and is flat off it (relu, clamp, max, pooling,
where, dropout, ...) gives exactly 0 off the mask, even when the upstream gradient there is infinite.

Written as `g * mask`, a VJP turns an infinite g into inf * 0 = nan: `relu(-1).sqrt()` would give a nan gradient
(sqrt'(0) is infinite) where the true gradient is 0, and one SGD step would destroy the weight. Each case below
feeds an infinite (or nan-free, huge) upstream gradient to the masked-out positions, checks the exact gradient,
and compares with PyTorch when it is installed: where PyTorch gives a number we give the same number; where its
own `g * mask` gives nan (abs at 0, a tensor exponent at 0 ** 0, l1_loss at 0), we give 0.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import autograd as ag
import nn.functional as F

INF = np.inf


@dataclass(frozen=True)
class Case:
    name: str
    fn: Callable[..., Any]          # fn(lib, *inputs) -> output, lib: a namespace (tensor, F, where, ...)
    inputs: tuple                   # input values (float64 unless dtype says otherwise)
    upstream: Any                   # the gradient of the output: infinite at the masked-out positions
    expected: tuple                 # the exact gradient of each input
    dtype: str = "float64"

    def __str__(self) -> str:
        return self.name


def _ours() -> Any:
    return types.SimpleNamespace(tensor=ag.tensor, F=F, where=ag.where, maximum=ag.maximum, minimum=ag.minimum,
                                 clamp=ag.clamp, einsum=ag.einsum, dtype=lambda name: getattr(ag, name))


def _torch() -> Any:
    torch = pytest.importorskip("torch")
    return types.SimpleNamespace(tensor=torch.tensor, F=torch.nn.functional, where=torch.where,
                                 maximum=torch.maximum, minimum=torch.minimum, clamp=torch.clamp,
                                 einsum=torch.einsum, dtype=lambda name: getattr(torch, name))


def _cond(lib: Any, values: list) -> Any:
    return lib.tensor(values)  # a boolean tensor in either library


CASES = [
    # --- primitives of autograd/ops.py ---
    Case("relu", lambda m, x: x.relu(), ([-1.0, 0.0, 2.0],), [INF, INF, 3.0], ([0.0, 0.0, 3.0],)),
    Case("relu_then_sqrt", lambda m, x: x.relu().sqrt(), ([-1.0, 4.0],), [1.0, 1.0], ([0.0, 0.25],)),
    Case("clamp", lambda m, x: m.clamp(x, -1.0, 1.0), ([-3.0, 0.5, 1.0, 3.0],), [INF, 2.0, 2.0, -INF],
         ([0.0, 2.0, 2.0, 0.0],)),
    Case("clamp_min", lambda m, x: x.clamp(min=0.0), ([-3.0, 0.5],), [INF, 2.0], ([0.0, 2.0],)),
    Case("clamp_max", lambda m, x: x.clamp(max=0.0), ([-3.0, 0.5],), [2.0, -INF], ([2.0, 0.0],)),
    Case("clamp_tensor_bounds", lambda m, x, lo: m.clamp(x, lo, m.tensor([1.0, 1.0], dtype=lo.dtype)),
         ([-3.0, 0.5], [-1.0, -1.0]), [INF, 2.0], ([0.0, 2.0], [INF, 0.0])),
    Case("maximum", lambda m, x, y: m.maximum(x, y), ([1.0, 3.0, 2.0], [2.0, 2.0, 2.0]), [INF, -INF, 4.0],
         ([0.0, -INF, 2.0], [INF, 0.0, 2.0])),
    Case("minimum", lambda m, x, y: m.minimum(x, y), ([1.0, 3.0, 2.0], [2.0, 2.0, 2.0]), [INF, -INF, 4.0],
         ([INF, 0.0, 2.0], [0.0, -INF, 2.0])),
    Case("abs_at_0", lambda m, x: x.abs(), ([0.0, -2.0],), [INF, 1.0], ([0.0, -1.0],)),
    Case("sign", lambda m, x: x.sign(), ([0.0, -2.0],), [INF, INF], ([0.0, 0.0],)),
    Case("pow_zero_scalar", lambda m, x: x ** 0, ([0.0, 2.0],), [INF, INF], ([0.0, 0.0],)),
    Case("pow_zero_tensor", lambda m, x, y: x ** y, ([0.0, 2.0], [0.0, 1.0]), [INF, 1.0],
         ([0.0, 1.0], [0.0, 2.0 * np.log(2.0)])),
    Case("where", lambda m, x, y: m.where(_cond(m, [True, False]), x, y), ([1.0, 2.0], [3.0, 4.0]), [INF, -INF],
         ([INF, 0.0], [0.0, -INF])),
    Case("masked_fill", lambda m, x: x.masked_fill(_cond(m, [True, False]), 0.0), ([1.0, 2.0],), [INF, 1.0],
         ([0.0, 1.0],)),
    Case("amax", lambda m, x: x.amax(), ([1.0, 3.0, 2.0],), INF, ([0.0, INF, 0.0],)),
    Case("amax_ties", lambda m, x: x.amax(dim=1), ([[1.0, 3.0, 3.0]],), [INF], ([[0.0, INF, INF]],)),
    Case("amin_dim", lambda m, x: x.amin(dim=0), ([[1.0, 3.0], [2.0, 0.0]],), [INF, -INF],
         ([[INF, 0.0], [0.0, -INF]],)),
    Case("max_dim", lambda m, x: x.max(dim=1)[0], ([[1.0, 3.0, 2.0]],), [INF], ([[0.0, INF, 0.0]],)),
    Case("getitem", lambda m, x: x[1:], ([1.0, 2.0, 3.0],), [INF, INF], ([0.0, INF, INF],)),
    Case("setitem", lambda m, x: _assign_first(x), ([1.0, 2.0],), [INF, 1.0], ([0.0, 1.0],)),
    Case("einsum_diagonal", lambda m, x: m.einsum("ii->i", x), ([[1.0, 2.0], [3.0, 4.0]],), [INF, 1.0],
         ([[INF, 0.0], [0.0, 1.0]],)),
    Case("einsum_trace", lambda m, x: m.einsum("ii->", x), ([[1.0, 2.0], [3.0, 4.0]],), INF,
         ([[INF, 0.0], [0.0, INF]],)),
    Case("norm_at_0", lambda m, x: x.norm(), ([0.0, 0.0],), INF, ([0.0, 0.0],)),
    Case("norm3_at_0", lambda m, x: x.norm(3), ([0.0, 0.0],), INF, ([0.0, 0.0],)),
    # --- nn.functional: activations, pooling, losses ---
    Case("F.relu", lambda m, x: m.F.relu(x), ([-1.0, 2.0],), [INF, 1.0], ([0.0, 1.0],)),
    Case("F.leaky_relu", lambda m, x: m.F.leaky_relu(x, 0.5), ([-1.0, 2.0],), [INF, 1.0], ([INF, 1.0],)),
    Case("F.elu_large", lambda m, x: m.F.elu(x), ([1000.0, -1.0],), [INF, 0.0], ([INF, 0.0],)),
    Case("F.max_pool2d", lambda m, x: m.F.max_pool2d(x, 2), ([[[[1.0, 4.0], [3.0, 2.0]]]],), [[[[INF]]]],
         ([[[[0.0, INF], [0.0, 0.0]]]],)),
    Case("F.max_pool2d_float32", lambda m, x: m.F.max_pool2d(x, 2), ([[[[1.0, 4.0], [3.0, 2.0]]]],),
         [[[[INF]]]], ([[[[0.0, INF], [0.0, 0.0]]]],), dtype="float32"),
    Case("F.max_pool1d_overlapping", lambda m, x: m.F.max_pool1d(x, 2, stride=1), ([[[1.0, 4.0, 3.0, 2.0]]],),
         [[[INF, 1.0, 2.0]]], ([[[0.0, INF, 2.0, 0.0]]],)),
    Case("F.adaptive_avg_pool1d", lambda m, x: m.F.adaptive_avg_pool1d(x, 3), ([[[1.0, 2.0, 3.0, 4.0, 5.0]]],),
         [[[INF, 0.0, 0.0]]], ([[[INF, INF, 0.0, 0.0, 0.0]]],)),
    Case("F.adaptive_avg_pool2d", lambda m, x: m.F.adaptive_avg_pool2d(x, (1, 2)), ([[[[1.0, 2.0], [3.0, 4.0]]]],),
         [[[[INF, 1.0]]]], ([[[[INF, 0.5], [INF, 0.5]]]],)),
    Case("F.l1_loss_at_0", lambda m, x, y: m.F.l1_loss(x, y, reduction="none"), ([1.0, 2.0], [1.0, 0.0]),
         [INF, 1.0], ([0.0, 1.0], [0.0, -1.0])),
    Case("F.nll_loss_ignored", lambda m, x: m.F.nll_loss(x, m.tensor([-100, 1]), reduction="none"),
         ([[-1.0, -2.0], [-0.5, -1.5]],), [INF, INF], ([[0.0, 0.0], [0.0, -INF]],)),
    Case("F.nll_loss_class_weight_0", lambda m, x: m.F.nll_loss(x, m.tensor([0, 1]), reduction="none",
                                                                 weight=m.tensor([0.0, 1.0], dtype=x.dtype)),
         ([[-1.0, -2.0], [-0.5, -1.5]],), [INF, 1.0], ([[0.0, 0.0], [0.0, -1.0]],)),
    Case("F.cross_entropy_ignored_smoothing",
         lambda m, x: m.F.cross_entropy(x, m.tensor([-100, 1]), reduction="none", label_smoothing=0.2),
         ([[1.0, 2.0], [0.5, 1.5]],), [INF, 0.0], ([[0.0, 0.0], [0.0, 0.0]],)),
    Case("F.embedding_padding", lambda m, w: m.F.embedding(m.tensor([0, 1]), w, padding_idx=0),
         ([[1.0, 2.0], [3.0, 4.0]],), [[INF, INF], [1.0, 2.0]], ([[0.0, 0.0], [1.0, 2.0]],)),
]


def _assign_first(x: Any) -> Any:
    y = x * 1.0
    y[0] = 5.0
    return y


def _run(lib: Any, case: Case) -> list[np.ndarray]:
    dtype = lib.dtype(case.dtype)
    inputs = [lib.tensor(v, dtype=dtype, requires_grad=True) for v in case.inputs]
    out = case.fn(lib, *inputs)
    out.backward(lib.tensor(case.upstream, dtype=dtype))
    return [np.asarray(x.grad.detach().numpy() if hasattr(x.grad, "detach") else x.grad.data) for x in inputs]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_an_infinite_upstream_gradient_gives_0_where_the_mask_is_off(case: Case) -> None:
    with np.errstate(all="ignore"):  # sqrt(0), inf - inf in the forward of some cases: not what is tested
        grads = _run(_ours(), case)
    for grad, expected in zip(grads, case.expected):
        assert grad.dtype == np.dtype(case.dtype)
        np.testing.assert_array_equal(grad, np.asarray(expected, dtype=case.dtype))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_masked_gradients_match_pytorch(case: Case) -> None:
    theirs = _run(_torch(), case)
    with np.errstate(all="ignore"):
        ours = _run(_ours(), case)
    for mine, reference in zip(ours, theirs):
        # where PyTorch's own g * mask makes a nan, the true gradient (and ours) is 0
        np.testing.assert_array_equal(mine, np.where(np.isnan(reference), 0.0, reference))


# --- binary cross-entropy at saturation -----------------------------------------------------------------------
def test_bce_of_a_saturated_sigmoid_in_float32_follows_pytorch():
    """sigmoid(20) is exactly 1 in float32 (and sigmoid(-200) exactly 0): the loss for the opposite target is
    PyTorch's clamp, -log(0) -> 100, and the logit's gradient is PyTorch's 0 (not nan: one SGD step with it
    would destroy the weight)."""
    x = ag.tensor([20.0, -200.0, 20.0, 3.0], requires_grad=True)
    y = ag.tensor([0.0, 1.0, 1.0, 0.0])
    loss = F.binary_cross_entropy(x.sigmoid(), y, reduction="none")
    assert loss.dtype == np.float32
    np.testing.assert_array_equal(loss.data[:3], [100.0, 100.0, 0.0])
    loss.sum().backward()
    assert np.all(np.isfinite(x.grad.data))
    np.testing.assert_array_equal(x.grad.data[:3], [0.0, 0.0, 0.0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bce_at_and_near_the_clamp_matches_pytorch(dtype):
    """The loss, the probability's gradient (p - y) / max(p (1 - p), 1e-12) and the logit's gradient, for
    probabilities at 0 and 1, next to them, and for saturated logits, against PyTorch."""
    torch = pytest.importorskip("torch")
    p = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 1e-7, 1e-7, 1e-30, 0.5, 1 - 1e-7, 1e-45])
    y = np.array([0.0, 1.0, 1.0, 0.0, 0.3, 0.0, 1.0, 1.0, 0.5, 0.0, 1.0])
    ours_p = ag.tensor(p, dtype=getattr(ag, dtype), requires_grad=True)
    theirs_p = torch.tensor(p, dtype=getattr(torch, dtype), requires_grad=True)
    ours = F.binary_cross_entropy(ours_p, ag.tensor(y, dtype=getattr(ag, dtype)), reduction="none")
    theirs = torch.nn.functional.binary_cross_entropy(theirs_p, torch.tensor(y, dtype=getattr(torch, dtype)),
                                                      reduction="none")
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-6)
    ours.sum().backward()
    theirs.sum().backward()
    np.testing.assert_allclose(ours_p.grad.data, theirs_p.grad.numpy(), rtol=1e-6)
    logits = np.array([20.0, -20.0, 17.0, -17.0, 30.0, -30.0, 3.0, 104.0, -104.0])
    for target in (0.0, 1.0, 0.25):
        ours_x = ag.tensor(logits, dtype=getattr(ag, dtype), requires_grad=True)
        theirs_x = torch.tensor(logits, dtype=getattr(torch, dtype), requires_grad=True)
        F.binary_cross_entropy(ours_x.sigmoid(), ag.full(logits.shape, target, dtype=getattr(ag, dtype))).backward()
        torch.nn.functional.binary_cross_entropy(
            theirs_x.sigmoid(), torch.full(logits.shape, target, dtype=getattr(torch, dtype))).backward()
        np.testing.assert_allclose(ours_x.grad.data, theirs_x.grad.numpy(), rtol=1e-5, atol=1e-30)


def test_dropout_gives_0_for_dropped_infinities():
    x = ag.tensor(np.full(1000, np.inf), requires_grad=True)
    out = F.dropout(x, 0.5)
    dropped = out.data == 0
    assert 300 < dropped.sum() < 700 and np.all(np.isinf(out.data[~dropped]))
    out.backward(ag.full((1000,), np.inf, dtype=ag.float32))
    np.testing.assert_array_equal(x.grad.data, np.where(dropped, 0.0, np.inf))


# --- large arrays take the branch-free path of kernels.select: the same answers ------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_masked_gradients_are_exact(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 160)).astype(dtype)  # more than kernels._SELECT_FROM elements
    g = rng.standard_normal(x.shape).astype(dtype)
    g[x <= 0] = np.inf
    t = ag.tensor(x, requires_grad=True)
    t.relu().backward(ag.tensor(g))
    np.testing.assert_array_equal(t.grad.data, np.where(x > 0, g, 0))
    t.grad = None
    t.clamp(-0.5, 0.5).backward(ag.tensor(np.where(np.abs(x) <= 0.5, 1.0, np.inf).astype(dtype)))
    np.testing.assert_array_equal(t.grad.data, (np.abs(x) <= 0.5).astype(dtype))
    t.grad = None
    pooled = F.max_pool2d(t.reshape(4, 4, 32, 40), 2)
    pooled.backward(ag.full(pooled.shape, np.inf, dtype=dtype))
    assert np.isinf(t.grad.data).sum() == pooled.numel() and not np.isnan(t.grad.data).any()



# --- create_graph: the selections are recorded, so the gradient stays differentiable ----------------------------
@pytest.mark.parametrize("op, upstream, slope", [
    (lambda x: x.relu(), [INF, INF, 1.0], [0.0, 0.0, 1.0]),
    (lambda x: x.clamp(-1.5, 1.5), [INF, 1.0, INF], [0.0, 1.0, 0.0]),
    (lambda x: ag.maximum(x, ag.zeros(3, dtype=ag.float64)), [INF, 1.0, 1.0], [0.0, 0.5, 1.0]),
    (lambda x: x.abs(), [1.0, INF, 1.0], [-1.0, 0.0, 1.0]),
], ids=["relu", "clamp", "maximum", "abs"])
def test_the_selection_is_recorded_under_create_graph(op, upstream, slope):
    """At x = (-2, 0, 3): the gradient with create_graph=True is slope * upstream, 0 (not nan) where the slope is
    0 and the upstream infinite; and it is differentiable again: its derivative with respect to the upstream
    gradient is the slope itself (a selection recorded by np.where, not a product with a mask)."""
    x = ag.tensor([-2.0, 0.0, 3.0], dtype=ag.float64, requires_grad=True)
    u = ag.tensor(upstream, dtype=ag.float64, requires_grad=True)
    (gx,) = ag.grad(op(x), x, grad_outputs=u, create_graph=True)
    assert gx.requires_grad
    np.testing.assert_array_equal(gx.data, [s * v if s else 0.0 for s, v in zip(slope, upstream)])
    (du,) = ag.grad(gx.sum(), u)
    np.testing.assert_array_equal(du.data, slope)
