"""Losses between distributions: F.gaussian_nll_loss / nn.GaussianNLLLoss against PyTorch 2.13 (values, gradients,
the variance-shape rules, the clamp at eps), and F.wasserstein_distance against scipy.stats.wasserstein_distance
(values) and finite differences (its gradient in the values).
"""

from __future__ import annotations

import numpy as np
import pytest

import autograd
import nn
import nn.functional as F


# ---------------------------------------------------------------------------------------------------------------
# Gaussian negative log-likelihood
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("var_shape", [(4, 3), (4,), (4, 1), (1, 3), "float"])
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gaussian_nll_loss_matches_pytorch(var_shape, full, reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    ours_x, theirs_x = autograd.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    if var_shape == "float":
        ours_var = theirs_var = 0.7
    else:
        var = rng.uniform(0.1, 2.0, var_shape)
        var.flat[0] = 1e-8  # below eps: clamped in value, and the gradient still flows as in PyTorch
        ours_var, theirs_var = autograd.tensor(var, requires_grad=True), torch.tensor(var, requires_grad=True)
    ours = F.gaussian_nll_loss(ours_x, autograd.tensor(y), ours_var, full=full, reduction=reduction)
    theirs = torch.nn.functional.gaussian_nll_loss(theirs_x, torch.tensor(y), theirs_var, full=full,
                                                   reduction=reduction)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12)
    g = rng.standard_normal(theirs.shape)
    ours.backward(autograd.tensor(g))
    theirs.backward(torch.tensor(g))
    np.testing.assert_allclose(ours_x.grad.data, theirs_x.grad.numpy(), rtol=1e-12)
    if var_shape != "float":
        np.testing.assert_allclose(ours_var.grad.data, theirs_var.grad.numpy(), rtol=1e-12)
    module = nn.GaussianNLLLoss(full=full, reduction=reduction)
    np.testing.assert_allclose(module(ours_x, y, ours_var).data, ours.data)


def test_gaussian_nll_loss_formula_and_gradcheck():
    # one prediction: 0.5 (log 4 + (1 - 3)^2 / 4) = 0.5 log 4 + 0.5
    loss = F.gaussian_nll_loss(autograd.tensor([1.0]), autograd.tensor([3.0]), autograd.tensor([4.0]), full=True)
    assert loss.item() == pytest.approx(0.5 * np.log(4) + 0.5 + 0.5 * np.log(2 * np.pi), rel=1e-6)
    rng = np.random.default_rng(1)
    mean = autograd.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    var = autograd.tensor(rng.uniform(0.5, 2, (3, 1)), requires_grad=True)
    target = autograd.tensor(rng.standard_normal((3, 2)))
    assert autograd.gradcheck(lambda m, v: F.gaussian_nll_loss(m, target, v, reduction="none"), [mean, var])
    assert autograd.gradgradcheck(lambda m, v: F.gaussian_nll_loss(m, target, v), [mean, var])
    assert F.gaussian_nll_loss(autograd.zeros(2, 3), autograd.ones(2, 3), autograd.ones(2, 3)).dtype == np.float32


def test_gaussian_nll_loss_errors():
    x = autograd.zeros(4, 3)
    with pytest.raises(ValueError, match="var has negative entry"):
        F.gaussian_nll_loss(x, x, -autograd.ones(4, 3))
    with pytest.raises(ValueError, match="var has negative entry"):
        F.gaussian_nll_loss(x, x, -1.0)
    with pytest.raises(ValueError, match=r"var of shape \(2, 3\) does not fit the input's shape \(4, 3\)"):
        F.gaussian_nll_loss(x, x, autograd.ones(2, 3))
    with pytest.raises(ValueError, match="reduction must be"):
        F.gaussian_nll_loss(x, x, autograd.ones(4, 3), reduction="batchmean")
    with pytest.raises(TypeError):
        nn.GaussianNLLLoss(True)  # keyword-only options, as in PyTorch


# ---------------------------------------------------------------------------------------------------------------
# Wasserstein distance
# ---------------------------------------------------------------------------------------------------------------
def test_wasserstein_distance_known_values():
    # shifting every sample by 5 moves every unit of mass 5: W1 = 5 (the course's example)
    assert F.wasserstein_distance(autograd.tensor([0.0, 1.0, 3.0]), autograd.tensor([5.0, 6.0, 8.0])).item() == 5.0
    assert F.wasserstein_distance([0.0, 1.0], [0.0, 1.0]).item() == 0.0
    # scipy's documented examples
    assert F.wasserstein_distance([0, 1, 3], [5, 6, 8]).item() == pytest.approx(5.0)
    assert F.wasserstein_distance([0, 1], [0, 1], [3, 1], [2, 2]).item() == pytest.approx(0.25)
    assert F.wasserstein_distance([3.4, 3.9, 7.5, 7.8], [4.5, 1.4], [1.4, 0.9, 3.1, 7.2],
                                  [3.2, 3.5]).item() == pytest.approx(4.0781331438047861)


def test_wasserstein_distance_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    for n, m in [(1, 1), (5, 7), (1, 9), (30, 4)]:
        u, v = rng.standard_normal(n), rng.standard_normal(m) * 2 + 0.5
        uw, vw = rng.uniform(0, 1, n), rng.uniform(0, 1, m)
        assert F.wasserstein_distance(u, v).item() == pytest.approx(stats.wasserstein_distance(u, v), rel=1e-12)
        assert F.wasserstein_distance(u, v, uw, vw).item() == pytest.approx(
            stats.wasserstein_distance(u, v, uw, vw), rel=1e-12)
    ties_u, ties_v = np.array([0.0, 0.0, 1.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0, 2.0])
    assert F.wasserstein_distance(ties_u, ties_v).item() == pytest.approx(stats.wasserstein_distance(ties_u, ties_v))


def test_wasserstein_distance_is_differentiable_in_the_values():
    rng = np.random.default_rng(1)
    u = autograd.tensor(rng.standard_normal(6), requires_grad=True)
    v = autograd.tensor(rng.standard_normal(4) + 1, requires_grad=True)
    weights = rng.uniform(0.2, 1.0, 6)
    assert autograd.gradcheck(F.wasserstein_distance, [u, v])
    assert autograd.gradcheck(lambda a, b: F.wasserstein_distance(a, b, weights), [u, v])
    # moving every sample of u to the right by t changes W1(u, u + 5) = 5 at rate -1 per unit of mass
    a = autograd.tensor([0.0, 1.0, 3.0], requires_grad=True)
    F.wasserstein_distance(a, autograd.tensor([5.0, 6.0, 8.0])).backward()
    np.testing.assert_allclose(a.grad.data, [-1 / 3, -1 / 3, -1 / 3])
    x32 = autograd.tensor([0.5, 1.5], dtype=autograd.float32, requires_grad=True)
    d = F.wasserstein_distance(x32, autograd.tensor([1.0], dtype=autograd.float32))
    assert d.dtype == np.float32
    d.backward()
    assert x32.grad.dtype == np.float32


def test_wasserstein_distance_errors():
    with pytest.raises(ValueError, match="cannot be empty"):
        F.wasserstein_distance([], [1.0])
    with pytest.raises(ValueError, match=r"expected 1-D values, got shapes \(2, 2\) and \(3,\)"):
        F.wasserstein_distance(np.zeros((2, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="non-negative"):
        F.wasserstein_distance([0.0, 1.0], [1.0], [1.0, -1.0])
    with pytest.raises(ValueError, match="positive finite"):
        F.wasserstein_distance([0.0, 1.0], [1.0], [0.0, 0.0])
    with pytest.raises(ValueError, match=r"weights of shape \(3,\) must match the values' shape \(2,\)"):
        F.wasserstein_distance([0.0, 1.0], [1.0], [1.0, 1.0, 1.0])


def test_wasserstein_distance_is_differentiable_in_the_weights():
    # (this raised "differentiable in the values only" before cumsum existed)
    rng = np.random.default_rng(2)
    u, v = autograd.tensor(rng.standard_normal(5)), autograd.tensor(rng.standard_normal(3) + 0.5)
    uw = autograd.tensor(rng.uniform(0.2, 1.0, 5), requires_grad=True)
    vw = autograd.tensor(rng.uniform(0.2, 1.0, 3), requires_grad=True)
    assert autograd.gradcheck(lambda a, b: F.wasserstein_distance(u, v, a, b), [uw, vw])
    assert autograd.gradgradcheck(lambda a, b: F.wasserstein_distance(u, v, a, b), [uw, vw])
    values = autograd.tensor(u.data, requires_grad=True)
    assert autograd.gradcheck(lambda x, a: F.wasserstein_distance(x, v, a, vw.detach()), [values, uw])
    # against scipy's formula, differentiated by central differences (torch-free reference)
    stats = pytest.importorskip("scipy.stats")
    F.wasserstein_distance(u, v, uw, vw).backward()
    eps = 1e-6
    for k in range(5):
        step = np.zeros(5)
        step[k] = eps
        slope = (stats.wasserstein_distance(u.data, v.data, uw.data + step, vw.data)
                 - stats.wasserstein_distance(u.data, v.data, uw.data - step, vw.data)) / (2 * eps)
        assert uw.grad.data[k] == pytest.approx(slope, rel=1e-6, abs=1e-9)
