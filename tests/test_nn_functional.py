"""nn.functional: activations and losses gradchecked (first and second order, float64, with hypothesis
shapes), numerical stability at extreme inputs, closed forms, reductions, and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autograd
import nn
import nn.functional as F

shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)


def _away_from_kinks(x: np.ndarray, points=(0.0,), margin=1e-3) -> np.ndarray:
    """Move values off the points where a function is not differentiable (finite differences straddle them)."""
    for p in points:
        near = np.abs(x - p) < margin
        x = np.where(near, p + 0.1, x)
    return x


ACTIVATIONS = {
    "relu": (F.relu, (0.0,)),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), (0.0,)),
    "elu": (lambda x: F.elu(x, 0.8), (0.0,)),
    "silu": (F.silu, ()),
    "gelu": (F.gelu, ()),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), ()),
    "sigmoid": (F.sigmoid, ()),
    "tanh": (F.tanh, ()),
    "softplus": (lambda x: F.softplus(x, beta=1.5), ()),
    "logsigmoid": (F.logsigmoid, ()),
    "softmax": (lambda x: F.softmax(x, dim=-1), ()),
    "log_softmax": (lambda x: F.log_softmax(x, dim=0), ()),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@given(shape=shapes, seed=st.integers(0, 2 ** 16))
def test_activation_gradients(name, shape, seed):
    fn, kinks = ACTIVATIONS[name]
    if name in ("softmax", "log_softmax") and not shape:
        shape = (2,)
    x = _away_from_kinks(np.random.default_rng(seed).standard_normal(shape) * 2, kinks)
    t = autograd.tensor(x, requires_grad=True)
    assert autograd.gradcheck(fn, t)
    assert autograd.gradgradcheck(fn, t)


def test_activation_closed_forms():
    x = np.linspace(-4, 4, 17)
    t = autograd.tensor(x)
    np.testing.assert_allclose(F.relu(t).data, np.maximum(x, 0))
    np.testing.assert_allclose(F.leaky_relu(t, 0.2).data, np.where(x > 0, x, 0.2 * x))
    np.testing.assert_allclose(F.elu(t, 0.5).data, np.where(x > 0, x, 0.5 * np.expm1(x)))
    np.testing.assert_allclose(F.silu(t).data, x / (1 + np.exp(-x)))
    erf = np.vectorize(math.erf)
    np.testing.assert_allclose(F.gelu(t).data, 0.5 * x * (1 + erf(x / math.sqrt(2))))
    np.testing.assert_allclose(F.softplus(t).data, np.log1p(np.exp(x)))
    assert nn.Swish is nn.SiLU


def test_activation_gradients_at_kinks_follow_pytorch():
    x = autograd.tensor([0.0, 0.0, 0.0], dtype=np.float64, requires_grad=True)
    (F.relu(x[0]) + F.leaky_relu(x[1], 0.2) + F.elu(x[2], 0.5)).backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.2, 0.5])
    y = autograd.tensor(0.0, dtype=np.float64, requires_grad=True)
    F.softplus(y).backward()
    assert y.grad.item() == 0.5  # the exact sigmoid(0), not relu'(0) + ... = 0


def test_activations_are_stable_at_extremes():
    x = autograd.tensor([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=np.float64, requires_grad=True)
    for fn in (F.sigmoid, F.softplus, F.logsigmoid, F.silu, F.elu, F.gelu, lambda v: F.softmax(v, 0),
               lambda v: F.log_softmax(v, 0)):
        x.grad = None
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            out = fn(x)
            out.sum().backward()
        assert np.all(np.isfinite(out.data)) and np.all(np.isfinite(x.grad.data)), fn


# ---------------------------------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------------------------------
def _regression(fn):
    def make(rng, shape):
        x = rng.standard_normal(shape) * 2
        y = rng.standard_normal(shape) * 2
        return fn, x, y
    return make


LOSSES = {
    "mse": (F.mse_loss, "real"),
    "l1": (F.l1_loss, "real"),
    "huber": (lambda x, y, **k: F.huber_loss(x, y, delta=0.8, **k), "real"),
    "smooth_l1": (lambda x, y, **k: F.smooth_l1_loss(x, y, beta=0.6, **k), "real"),
    "log_cosh": (F.log_cosh_loss, "real"),
    "bce": (F.binary_cross_entropy, "prob"),
    "bce_logits": (F.binary_cross_entropy_with_logits, "logit"),
    "bce_logits_pos_weight": (lambda x, y, **k: F.binary_cross_entropy_with_logits(
        x, y, pos_weight=autograd.tensor(2.5, dtype=np.float64), **k), "logit"),
    "kl_div": (F.kl_div, "logprob"),
}


def _loss_inputs(kind, shape, seed):
    rng = np.random.default_rng(seed)
    if kind == "real":
        x, y = rng.standard_normal(shape) * 2, rng.standard_normal(shape) * 2
        d = x - y
        x = np.where(np.abs(np.abs(d) - 0.8) < 1e-3, x + 0.05, x)  # keep off the huber/smooth-l1 seams
        x = np.where(np.abs(d) < 1e-3, x + 0.05, x)
        return x, y
    if kind == "prob":
        return rng.uniform(0.05, 0.95, shape), rng.uniform(0, 1, shape)
    if kind == "logit":
        return rng.standard_normal(shape) * 3, rng.uniform(0, 1, shape)
    p = rng.uniform(0.1, 1, shape)
    return np.log(rng.uniform(0.1, 1, shape)), p


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", sorted(LOSSES))
@given(shape=shapes, seed=st.integers(0, 2 ** 16))
def test_loss_gradients(name, reduction, shape, seed):
    fn, kind = LOSSES[name]
    x, y = _loss_inputs(kind, shape, seed)
    xt, yt = autograd.tensor(x, requires_grad=True), autograd.tensor(y, requires_grad=True)
    wrapped = lambda a, b: fn(a, b, reduction=reduction)
    assert autograd.gradcheck(wrapped, (xt, yt))
    assert autograd.gradgradcheck(wrapped, (xt, yt))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(n=st.integers(1, 3), classes=st.integers(2, 4), extra=st.sampled_from([(), (2,)]), seed=st.integers(0, 99),
       smoothing=st.sampled_from([0.0, 0.25]))
def test_cross_entropy_gradients(reduction, n, classes, extra, seed, smoothing):
    rng = np.random.default_rng(seed)
    x = autograd.tensor(rng.standard_normal((n, classes, *extra)), requires_grad=True)
    target = rng.integers(0, classes, (n, *extra))
    weight = autograd.tensor(rng.uniform(0.5, 2, classes))
    fn = lambda v: F.cross_entropy(v, target, weight=weight, reduction=reduction, label_smoothing=smoothing)
    assert autograd.gradcheck(fn, x)
    assert autograd.gradgradcheck(fn, x)
    probs = np.ascontiguousarray(rng.dirichlet(np.ones(classes), (n, *extra)).swapaxes(1, -1))
    probs = autograd.tensor(probs, requires_grad=True)
    fn2 = lambda v, p: F.cross_entropy(v, p, reduction=reduction, label_smoothing=smoothing)
    assert autograd.gradcheck(fn2, (x, probs))
    logp = autograd.tensor(np.log(rng.dirichlet(np.ones(classes), n)), requires_grad=True)
    assert autograd.gradcheck(lambda v: F.nll_loss(v, target[:, 0] if extra else target, reduction=reduction), logp)


def test_loss_closed_forms_and_reductions():
    x = autograd.tensor([[0.5, -1.0], [2.0, 3.0]], dtype=np.float64)
    y = autograd.tensor([[0.0, 1.0], [2.5, 0.0]], dtype=np.float64)
    d = x.data - y.data
    assert F.mse_loss(x, y).item() == pytest.approx((d ** 2).mean())
    assert F.mse_loss(x, y, reduction="sum").item() == pytest.approx((d ** 2).sum())
    np.testing.assert_allclose(F.mse_loss(x, y, reduction="none").data, d ** 2)
    assert F.l1_loss(x, y).item() == pytest.approx(np.abs(d).mean())
    huber = np.where(np.abs(d) < 1, 0.5 * d ** 2, np.abs(d) - 0.5)
    assert F.huber_loss(x, y).item() == pytest.approx(huber.mean())
    huber2 = np.where(np.abs(d) < 2, 0.5 * d ** 2, 2 * (np.abs(d) - 1))
    assert F.huber_loss(x, y, delta=2.0).item() == pytest.approx(huber2.mean())
    smooth = np.where(np.abs(d) < 2, 0.5 * d ** 2 / 2, np.abs(d) - 1)
    assert F.smooth_l1_loss(x, y, beta=2.0).item() == pytest.approx(smooth.mean())
    assert F.log_cosh_loss(x, y).item() == pytest.approx(np.log(np.cosh(d)).mean())
    logits = autograd.tensor([[2.0, 0.0, -1.0]], dtype=np.float64)
    p = np.exp([2.0, 0.0, -1.0]) / np.exp([2.0, 0.0, -1.0]).sum()
    assert F.cross_entropy(logits, [0]).item() == pytest.approx(-np.log(p[0]))
    smoothed = 0.9 * -np.log(p[0]) + 0.1 * -np.log(p).mean()
    assert F.cross_entropy(logits, [0], label_smoothing=0.1).item() == pytest.approx(smoothed)
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none'"):
        F.mse_loss(x, y, reduction="avg")
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="avg")


def test_loss_modules_match_functions():
    rng = np.random.default_rng(0)
    x = autograd.tensor(rng.standard_normal((4, 3)))
    y = autograd.tensor(rng.standard_normal((4, 3)))
    p = autograd.tensor(rng.uniform(0.1, 0.9, (4, 3)))
    t = autograd.tensor(rng.integers(0, 2, (4, 3)).astype(np.float32))
    labels = autograd.tensor([0, 2, 1, 1])
    w = autograd.tensor([1.0, 2.0, 0.5])
    pairs = [(nn.MSELoss(reduction="sum")(x, y), F.mse_loss(x, y, reduction="sum")),
             (nn.L1Loss()(x, y), F.l1_loss(x, y)),
             (nn.HuberLoss(delta=0.5)(x, y), F.huber_loss(x, y, delta=0.5)),
             (nn.SmoothL1Loss(beta=0.5)(x, y), F.smooth_l1_loss(x, y, beta=0.5)),
             (nn.LogCoshLoss()(x, y), F.log_cosh_loss(x, y)),
             (nn.BCELoss(weight=w)(p, t), F.binary_cross_entropy(p, t, weight=w)),
             (nn.BCEWithLogitsLoss(pos_weight=w)(x, t), F.binary_cross_entropy_with_logits(x, t, pos_weight=w)),
             (nn.CrossEntropyLoss(weight=w, label_smoothing=0.1)(x, labels),
              F.cross_entropy(x, labels, weight=w, label_smoothing=0.1)),
             (nn.NLLLoss(ignore_index=1)(x, labels), F.nll_loss(x, labels, ignore_index=1)),
             (nn.KLDivLoss(reduction="batchmean")(x, p), F.kl_div(x, p, reduction="batchmean"))]
    for module_value, function_value in pairs:
        np.testing.assert_allclose(module_value.data, function_value.data)
    assert list(nn.CrossEntropyLoss(weight=w).state_dict()) == ["weight"]
    assert list(nn.BCEWithLogitsLoss(pos_weight=w).state_dict()) == ["pos_weight"]


def test_cross_entropy_is_finite_for_huge_logits():
    logits = autograd.tensor([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]], requires_grad=True)
    for target in ([0, 2], autograd.tensor([[0.0, 1.0, 0.0], [0.5, 0.0, 0.5]])):
        logits.grad = None
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            loss = F.cross_entropy(logits, target, label_smoothing=0.1)
            loss.backward()
        assert np.isfinite(loss.item()) and np.all(np.isfinite(logits.grad.data))
    loss = F.cross_entropy(logits, [1, 1])
    assert loss.item() == pytest.approx((2000.0 + math.log1p(math.exp(-1))) / 2, rel=1e-5)
    log_p = F.log_softmax(logits, dim=1)
    assert np.all(np.isfinite(log_p.data)) and log_p.data[0, 1] == pytest.approx(-2000.0)


def test_bce_with_logits_is_finite_for_huge_logits():
    x = autograd.tensor([1000.0, -1000.0, 0.0, 30.0], dtype=np.float64, requires_grad=True)
    y = autograd.tensor([0.0, 1.0, 1.0, 1.0], dtype=np.float64)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = F.binary_cross_entropy_with_logits(x, y, reduction="none")
        loss.sum().backward()
    np.testing.assert_allclose(loss.data, [1000.0, 1000.0, math.log(2), math.log1p(math.exp(-30))])
    with np.errstate(over="ignore"):
        expected = 1 / (1 + np.exp(-x.data)) - y.data  # sigmoid(x) - y (ours is the more accurate at x = 30)
    np.testing.assert_allclose(x.grad.data, expected, atol=1e-15)


def test_log_cosh_does_not_overflow():
    x = autograd.tensor([1e4, -1e4, 800.0, 1e-8], dtype=np.float64, requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = F.log_cosh_loss(x, autograd.zeros(4, dtype=np.float64), reduction="none")
        loss.sum().backward()
    np.testing.assert_allclose(loss.data, [1e4 - math.log(2), 1e4 - math.log(2), 800 - math.log(2), 5e-17],
                               rtol=1e-12, atol=1e-15)  # absolute accuracy near 0: d + softplus(-2d) - log 2
    np.testing.assert_allclose(x.grad.data, np.tanh(x.data))
    small = autograd.tensor([3.0], dtype=np.float32)
    assert F.log_cosh_loss(small * 1e6, autograd.zeros(1)).dtype == np.float32


def test_bce_clamps_its_logs_like_pytorch():
    p = autograd.tensor([0.0, 1.0, 0.5], dtype=np.float64, requires_grad=True)
    y = autograd.tensor([1.0, 0.0, 1.0], dtype=np.float64)
    loss = F.binary_cross_entropy(p, y, reduction="none")
    np.testing.assert_allclose(loss.data, [100.0, 100.0, math.log(2)])
    loss.sum().backward()
    assert np.all(np.isfinite(p.grad.data))
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        F.binary_cross_entropy(autograd.tensor([1.5]), autograd.tensor([1.0]))
    with pytest.raises(ValueError, match="must match the input's shape"):
        F.binary_cross_entropy(autograd.tensor([0.5, 0.5]), autograd.tensor([1.0]))


def test_cross_entropy_ignore_index_and_errors():
    logits = autograd.tensor(np.random.default_rng(0).standard_normal((4, 3)), requires_grad=True)
    loss = F.cross_entropy(logits, [0, -100, 2, -100])
    expected = F.cross_entropy(logits[[0, 2]], [0, 2])
    assert loss.item() == pytest.approx(expected.item())
    loss.backward()
    assert not np.any(logits.grad.data[[1, 3]])
    with pytest.raises(IndexError, match=r"cross_entropy: target 3 at position \(1,\) is out of range for 3 classes"):
        F.cross_entropy(logits, [0, 3, 1, 1])
    with pytest.raises(IndexError, match="target -1 at position"):
        F.cross_entropy(logits, [0, -1, 1, 1])
    with pytest.raises(ValueError, match=r"must have shape \(4,\), got \(4, 1\)"):
        F.cross_entropy(logits, np.zeros((4, 1), dtype=np.int64))
    with pytest.raises(ValueError, match="class-index targets must be integers"):
        F.cross_entropy(logits, np.zeros(4))
    with pytest.raises(IndexError, match="nll_loss: target 5"):
        F.nll_loss(logits, [5, 0, 0, 0])
    assert np.isnan(F.cross_entropy(logits, [-100, -100, -100, -100]).item())  # nothing counted: 0/0, as PyTorch


def test_regression_losses_warn_about_broadcasting():
    with pytest.warns(UserWarning, match=r"target's shape \(4,\) differs from the input's shape \(4, 1\)"):
        F.mse_loss(autograd.zeros(4, 1), autograd.zeros(4))
    with pytest.raises(ValueError, match="cannot be broadcast"):
        F.l1_loss(autograd.zeros(4, 2), autograd.zeros(3))


def test_kl_div_zero_target_terms_vanish():
    logq = autograd.tensor(np.log([[0.2, 0.3, 0.5]]), requires_grad=True)
    p = autograd.tensor([[0.0, 0.4, 0.6]])
    expected = 0.4 * math.log(0.4 / 0.3) + 0.6 * math.log(0.6 / 0.5)
    assert F.kl_div(logq, p, reduction="batchmean").item() == pytest.approx(expected, rel=1e-5)
    with pytest.warns(UserWarning, match="batchmean"):
        F.kl_div(logq, p)


def test_one_hot_and_pad():
    np.testing.assert_array_equal(F.one_hot(autograd.tensor([0, 2]), 4).data, [[1, 0, 0, 0], [0, 0, 1, 0]])
    assert F.one_hot(autograd.tensor([[1], [3]])).shape == (2, 1, 4)
    with pytest.raises(ValueError, match="class 4 is out of range"):
        F.one_hot(autograd.tensor([4]), 3)
    x = autograd.tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(F.pad(x, (1, 0)).data, [[0, 0, 1, 2], [0, 3, 4, 5]])
    np.testing.assert_array_equal(F.pad(x, (0, 0, 1, 1), value=9).data[0], [9, 9, 9])
    np.testing.assert_array_equal(F.pad(x, (1, 1), mode="reflect").data[0], [1, 0, 1, 2, 1])
    np.testing.assert_array_equal(F.pad(x, (2, 1), mode="replicate").data[1], [3, 3, 3, 4, 5, 5])
    np.testing.assert_array_equal(F.pad(x, (1, 1), mode="circular").data[0], [2, 0, 1, 2, 0])
    with pytest.raises(ValueError, match="even length"):
        F.pad(x, (1, 2, 3))
    with pytest.raises(ValueError, match="reflect padding"):
        F.pad(x, (3, 0), mode="reflect")


def test_embedding_and_dropout_functions():
    w = autograd.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    out = F.embedding(autograd.tensor([2, 0, 2]), w)
    np.testing.assert_array_equal(out.data, [[4, 5], [0, 1], [4, 5]])
    with pytest.raises(IndexError, match="index 3 is out of range"):
        F.embedding([3], w)
    x = autograd.ones(10)
    assert F.dropout(x, 0.5, training=False) is x
    with pytest.raises(ValueError, match="probability"):
        F.dropout(x, -0.1)


# ---------------------------------------------------------------------------------------------------------------
# Max pooling with indices and max unpooling
# ---------------------------------------------------------------------------------------------------------------
def _pooled(shape, kernel, stride, padding, nd, seed=0):
    """A float64 pooled tensor and its indices (distinct input values: no ties)."""
    x = np.random.default_rng(seed).permutation(math.prod(shape)).reshape(shape).astype(np.float64)
    pool = F.max_pool1d if nd == 1 else F.max_pool2d
    out, indices = pool(autograd.tensor(x), kernel, stride, padding, return_indices=True)
    return autograd.tensor(out.data * 0.1, requires_grad=True), indices


# (input shape before pooling, kernel, stride, padding); the overlapping ones make repeated indices
UNPOOL_GRADCHECK = {
    "1d": ((2, 2, 6), 2, None, 0),
    "1d-overlap-pad": ((1, 2, 7), 3, 2, 1),
    "2d": ((1, 2, 4, 4), 2, None, 0),
    "2d-unbatched-overlap": ((2, 5, 5), 3, 2, 1),
}


@pytest.mark.parametrize("case", sorted(UNPOOL_GRADCHECK))
def test_max_unpool_gradients(case):
    shape, kernel, stride, padding = UNPOOL_GRADCHECK[case]
    nd = 1 if case.startswith("1d") else 2
    y, indices = _pooled(shape, kernel, stride, padding, nd)
    unpool = F.max_unpool1d if nd == 1 else F.max_unpool2d

    def fn(v):
        return unpool(v, indices, kernel, stride, padding, output_size=shape[-nd:])

    assert fn(y).shape == shape
    assert autograd.gradcheck(fn, (y,))
    assert autograd.gradgradcheck(fn, (y,))


def test_max_pool_with_indices_gradients():
    x = np.random.default_rng(1).permutation(50).reshape(1, 2, 5, 5) * 0.1
    xt = autograd.tensor(x, requires_grad=True)
    assert autograd.gradcheck(lambda v: F.max_pool2d(v, 3, 2, 1, return_indices=True)[0], (xt,))
    assert autograd.gradgradcheck(lambda v: F.max_pool1d(v.flatten(2), 4, 3, 2, ceil_mode=True,
                                                         return_indices=True)[0], (xt,))


def test_max_pool_of_booleans_pads_with_false():
    x = autograd.tensor(np.array([[[[True, False], [False, False]]]]))
    out, indices = F.max_pool2d(x, 2, padding=1, return_indices=True)
    assert out.dtype == np.bool_
    np.testing.assert_array_equal(out.data, [[[[True, False], [False, False]]]])
    np.testing.assert_array_equal(indices.data, [[[[0, 1], [2, 3]]]])  # an all-False window: its element inside


def test_max_pool_indices_closed_form():
    x = autograd.tensor([[[[1.0, 3.0, 3.0, 0.0], [2.0, 3.0, 4.0, 4.0], [0.0, 0.0, 5.0, 1.0]]]])
    out, indices = F.max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(out.data, [[[[3, 4]]]])
    np.testing.assert_array_equal(indices.data, [[[[1, 6]]]])  # ties: the first maximum in row-major order
    out, indices = F.max_pool2d(x, 2, padding=1, return_indices=True)  # padding never wins; indices unpadded
    np.testing.assert_array_equal(indices.data, [[[[0, 1, 3], [4, 10, 7]]]])
    out, indices = F.max_pool1d(x[0, 0], 3, 1, dilation=1, return_indices=True)  # unbatched (C, L)
    np.testing.assert_array_equal(indices.data, [[1, 1], [2, 2], [2, 2]])
    unpooled = F.max_unpool1d(out, indices, 3, 1)
    np.testing.assert_array_equal(unpooled.data, [[0, 3, 0, 0], [0, 0, 4, 0], [0, 0, 5, 0]])


def test_max_pool_of_nan_and_minus_inf_closed_form():
    """As PyTorch: a NaN window is NaN and its gradient goes to its last NaN; a window of -inf only is -inf
    and its gradient goes to its first element inside the input (here after the padding); with or without
    return_indices."""
    nan, inf = np.nan, np.inf
    x = np.array([[[[nan, 1.0, nan, -inf], [2.0, 0.0, -inf, -inf], [-inf, -inf, 3.0, nan]]]])
    for return_indices in (False, True):
        xt = autograd.tensor(x, requires_grad=True)
        out = F.max_pool2d(xt, 2, padding=1, return_indices=return_indices)
        if return_indices:
            out, indices = out
            np.testing.assert_array_equal(indices.data, [[[[0, 2, 3], [4, 10, 11]]]])
        np.testing.assert_array_equal(out.data, [[[[nan, nan, -inf], [2.0, 3.0, nan]]]])
        out.backward(autograd.tensor([[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]]]))
        np.testing.assert_array_equal(xt.grad.data, [[[[1, 0, 2, 3], [4, 0, 0, 0], [0, 0, 5, 6]]]])


def test_max_unpool_errors():
    y, indices = _pooled((1, 1, 4, 4), 2, None, 0, 2)
    with pytest.raises(ValueError, match=r"max_unpool2d: invalid output_size \(6, 4\): dim 0 must be between 2 and "
                                         r"6 \(exclusive\)"):
        F.max_unpool2d(y, indices, 2, output_size=(6, 4))
    with pytest.raises(ValueError, match="output_size must have 2 or 4 elements, got"):
        F.max_unpool2d(y, indices, 2, output_size=(1, 4, 4))
    with pytest.raises(ValueError, match=r"indices of shape \(1, 1, 2, 1\) do not match the input of shape "
                                         r"\(1, 1, 2, 2\)"):
        F.max_unpool2d(y, indices[..., :1], 2)
    with pytest.raises(TypeError, match="indices must be integers"):
        F.max_unpool2d(y, indices.astype(np.float32), 2)
    with pytest.raises(IndexError, match=r"index 13 is out of range for an output plane of size \(3, 3\)"):
        F.max_unpool2d(y, autograd.tensor([[[[0, 1], [4, 13]]]]), 2, output_size=(3, 3))
    with pytest.raises(ValueError, match=r"expected an input of shape \(N, C, L\) or \(C, L\)"):
        F.max_unpool1d(y, indices, 2)
    with pytest.raises(ValueError, match="kernel_size must be positive"):
        nn.MaxUnpool2d(0)


# ---------------------------------------------------------------------------------------------------------------
# Embedding: max_norm, scale_grad_by_freq
# ---------------------------------------------------------------------------------------------------------------
def test_embedding_max_norm_renormalises_the_rows_looked_up_in_place():
    w = autograd.tensor([[3.0, 4.0], [0.6, 0.8], [6.0, 8.0]], dtype=np.float64, requires_grad=True)
    array = w.data
    out = F.embedding(autograd.tensor([0, 0, 1]), w, max_norm=2.0)
    scale = 2.0 / (5.0 + 1e-7)
    np.testing.assert_allclose(out.data, [[3 * scale, 4 * scale]] * 2 + [[0.6, 0.8]], rtol=1e-15)
    np.testing.assert_allclose(w.data, [[3 * scale, 4 * scale], [0.6, 0.8], [6, 8]], rtol=1e-15)  # row 2: not used
    assert w.data is array and w.grad_fn is None and w.is_leaf  # changed in place, outside the graph
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.data, [[2, 2], [1, 1], [0, 0]])  # the lookup's gradient, no renorm term
    np.testing.assert_allclose(np.abs(F.embedding([2], w, max_norm=1.0, norm_type=1).data).sum(), 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="max_norm must be a non-negative number, got -1"):
        F.embedding([0], w, max_norm=-1)
    with pytest.raises(IndexError, match="index 3 is out of range"):  # checked before anything is renormalised
        F.embedding([2, 3], w, max_norm=0.1)
    assert np.linalg.norm(w.data[2], ord=1) == pytest.approx(1.0)


def test_embedding_scale_grad_by_freq_and_sparse():
    w = autograd.tensor(np.arange(8.0).reshape(4, 2), requires_grad=True)
    out = F.embedding(autograd.tensor([[1, 1, 3], [1, 0, 3]]), w, scale_grad_by_freq=True)
    np.testing.assert_array_equal(out.data, w.data[[[1, 1, 3], [1, 0, 3]]])
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.data, [[1, 1], [1, 1], [0, 0], [1, 1]])
    w.grad = None
    F.embedding(autograd.tensor([[1, 1, 3, 3, 3]]), w, padding_idx=3, scale_grad_by_freq=True).sum().backward()
    np.testing.assert_array_equal(w.grad.data, [[0, 0], [1, 1], [0, 0], [0, 0]])
    with pytest.raises(NotImplementedError, match="sparse=True"):
        F.embedding([0], w, sparse=True)
    with pytest.raises(NotImplementedError, match="sparse=True"):
        nn.Embedding(3, 2, sparse=True)
