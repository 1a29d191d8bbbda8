"""nn.utils: gradient clipping, parameter vectors, L1/L2 penalties, early stopping."""

from __future__ import annotations

import numpy as np
import pytest

import autograd
import nn
from nn.utils import (
    EarlyStopping,
    clip_grad_norm_,
    clip_grad_value_,
    l1_penalty,
    l2_penalty,
    parameters_to_vector,
    vector_to_parameters,
)


def params_with_grads(grads, dtype=np.float64):
    params = []
    for g in grads:
        p = nn.Parameter(np.zeros(np.shape(g), dtype=dtype))
        p.grad = autograd.tensor(np.array(g, dtype=dtype))
        params.append(p)
    return params


def test_clip_grad_norm_scales_to_max_norm_and_returns_the_old_norm():
    params = params_with_grads([[3.0, 0.0], [[0.0], [4.0]]])  # total 2-norm 5
    grad_objects = [p.grad for p in params]
    total = clip_grad_norm_(params, max_norm=1.0)
    assert total.item() == pytest.approx(5.0)
    np.testing.assert_allclose(params[0].grad.data, [3 / (5 + 1e-6), 0])
    np.testing.assert_allclose(params[1].grad.data, [[0], [4 / (5 + 1e-6)]])
    assert [p.grad for p in params] == grad_objects  # in place: the same gradient tensors


def test_clip_grad_norm_leaves_small_gradients_alone():
    params = params_with_grads([[0.3, 0.4]])
    clip_grad_norm_(params, max_norm=1.0)
    np.testing.assert_allclose(params[0].grad.data, [0.3, 0.4])


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, float("inf")])
def test_clip_grad_norm_matches_pytorch(norm_type):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=(3, 4)), rng.normal(size=5), rng.normal(size=())]
    ours = params_with_grads(grads, np.float32)
    theirs = [torch.zeros(np.shape(g), requires_grad=True) for g in grads]
    for t, g in zip(theirs, grads):
        t.grad = torch.tensor(np.array(g, dtype=np.float32))
    a = clip_grad_norm_(ours, 0.5, norm_type=norm_type)
    b = torch.nn.utils.clip_grad_norm_(theirs, 0.5, norm_type=norm_type)
    assert a.item() == pytest.approx(b.item(), rel=1e-5) and a.dtype == np.float32
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.data, t.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_clip_grad_norm_nonfinite_and_empty():
    params = params_with_grads([[np.inf, 1.0]])
    with pytest.raises(RuntimeError, match="total norm of order 2.0 of the gradients is inf"):
        clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    assert clip_grad_norm_([nn.Parameter(np.zeros(2))], 1.0).item() == 0.0  # no gradients at all


def test_clip_grad_value():
    params = params_with_grads([[-3.0, 0.2, 5.0]])
    clip_grad_value_(params, 1.0)
    np.testing.assert_array_equal(params[0].grad.data, [-1.0, 0.2, 1.0])
    with pytest.raises(ValueError, match="clip_value must be >= 0"):
        clip_grad_value_(params, -1)


def test_parameters_to_vector_and_back():
    model = nn.Sequential(nn.Linear(3, 2), nn.Tanh(), nn.Linear(2, 1))
    vec = parameters_to_vector(model.parameters())
    assert vec.shape == (3 * 2 + 2 + 2 + 1,) and vec.requires_grad
    (vec * vec).sum().backward()  # differentiable: the gradient reaches every parameter
    for p in model.parameters():
        np.testing.assert_allclose(p.grad.data, 2 * p.data, rtol=1e-6)
    arrays = [p.data for p in model.parameters()]
    vector_to_parameters(autograd.arange(11).float(), model.parameters())
    assert [p.data is a for p, a in zip(model.parameters(), arrays)] == [True] * 4  # written in place
    np.testing.assert_array_equal(parameters_to_vector(model.parameters()).data, np.arange(11))


def test_vector_to_parameters_errors():
    params = [nn.Parameter(np.zeros(3))]
    with pytest.raises(ValueError, match="has 4 entries but the parameters have 3"):
        vector_to_parameters(autograd.zeros(4), params)
    with pytest.raises(TypeError, match="expected a Tensor"):
        vector_to_parameters(np.zeros(3), params)


def test_penalties_values_and_gradients():
    w = nn.Parameter(np.array([[1.0, -2.0], [0.0, 3.0]]))
    b = nn.Parameter(np.array([-0.5]))
    assert l1_penalty([w, b]).item() == pytest.approx(6.5)
    assert l2_penalty([w, b]).item() == pytest.approx(14.25)
    (l1_penalty(w) + l2_penalty(b)).backward()
    np.testing.assert_array_equal(w.grad.data, [[1, -1], [0, 1]])  # sign, with |x|'(0) = 0
    np.testing.assert_array_equal(b.grad.data, [-1.0])
    assert l2_penalty([]).item() == 0.0


def test_l2_penalty_equals_sgd_weight_decay_of_twice_lambda():
    lam = 0.01

    def train(use_penalty):
        autograd.manual_seed(0)
        model = nn.Linear(3, 1).double()
        opt = nn.optim.SGD(model.parameters(), lr=0.1, weight_decay=0 if use_penalty else 2 * lam)
        x = autograd.tensor(np.random.default_rng(0).normal(size=(8, 3)))
        for _ in range(20):
            opt.zero_grad()
            loss = (model(x) ** 2).mean()
            if use_penalty:
                loss = loss + lam * l2_penalty(model.parameters())
            loss.backward()
            opt.step()
        return [p.data for p in model.parameters()]

    for a, b in zip(train(True), train(False)):
        np.testing.assert_allclose(a, b, rtol=1e-12)


# --------------------------------------------------------------------------------------------------------------
# Early stopping
# --------------------------------------------------------------------------------------------------------------
def test_early_stopping_counts_epochs_without_improvement():
    stopper = EarlyStopping(patience=2, min_delta=0.1)
    decisions = [stopper.step(v) for v in [1.0, 0.8, 0.75, 0.72, 0.5, 0.6, 0.55]]
    # 0.75 and 0.72 do not beat 0.8 by more than 0.1: two bad epochs, stop
    assert decisions == [False, False, False, True, False, False, True]
    assert stopper.best == 0.5 and stopper.best_epoch == 4


def test_early_stopping_restores_the_best_weights():
    model = nn.Linear(2, 1)
    stopper = EarlyStopping(patience=1, mode="max")
    for epoch, accuracy in enumerate([0.5, 0.9, 0.7]):
        with autograd.no_grad():
            model.weight.fill_(float(epoch))
        stop = stopper.step(accuracy, model)
    assert stop and stopper.best_epoch == 1
    np.testing.assert_array_equal(model.weight.data, [[1.0, 1.0]])  # the weights of epoch 1


def test_early_stopping_restore_by_hand_and_nan():
    model = nn.Linear(2, 1)
    stopper = EarlyStopping(patience=5, restore_best_weights=False)
    with pytest.raises(RuntimeError, match="no weights were recorded"):
        stopper.restore(model)
    stopper(1.0, model)
    with autograd.no_grad():
        model.weight.fill_(7.0)
    assert not stopper(float("nan"), model) and stopper.num_bad_epochs == 1  # NaN never counts as better
    stopper.restore(model)
    assert not np.any(model.weight.data == 7.0)
    assert "best=1" in repr(stopper)


@pytest.mark.parametrize("kwargs, message", [
    ({"patience": -1}, "patience must be a non-negative integer"),
    ({"min_delta": -0.1}, "min_delta must be >= 0"),
    ({"mode": "down"}, "mode must be 'min' or 'max'"),
])
def test_early_stopping_argument_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EarlyStopping(**kwargs)
