"""nn.init: PyTorch's formulas (bounds and standard deviations), calculate_gain, reproducibility."""

from __future__ import annotations

import math

import numpy as np
import pytest

import autograd
import nn
from nn import init


def test_calculate_gain():
    assert init.calculate_gain("linear") == init.calculate_gain("conv2d") == init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


def test_fans_of_a_conv_weight():
    assert init._calculate_fan_in_and_fan_out(autograd.zeros(32, 16, 3, 5)) == (16 * 15, 32 * 15)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(autograd.zeros(5))


@pytest.mark.parametrize("name,fill,bound,std", [
    ("uniform", lambda t: init.uniform_(t, -0.3, 0.7), None, 1 / math.sqrt(12)),
    ("normal", lambda t: init.normal_(t, 2.0, 0.5), None, 0.5),
    ("xavier_uniform", lambda t: init.xavier_uniform_(t, gain=2.0), 2 * math.sqrt(6 / (200 + 300)), None),
    ("xavier_normal", lambda t: init.xavier_normal_(t), None, math.sqrt(2 / (200 + 300))),
    ("kaiming_uniform", lambda t: init.kaiming_uniform_(t, nonlinearity="relu"), math.sqrt(2) * math.sqrt(3 / 300),
     None),
    ("kaiming_uniform_fan_out", lambda t: init.kaiming_uniform_(t, a=0.1, mode="fan_out"),
     math.sqrt(2 / 1.01) * math.sqrt(3 / 200), None),
    ("kaiming_normal", lambda t: init.kaiming_normal_(t, mode="fan_out", nonlinearity="tanh"), None,
     5 / 3 / math.sqrt(200)),
    ("trunc_normal", lambda t: init.trunc_normal_(t, 0.0, 1.0, -1.0, 1.5), 1.5, None),
])
def test_random_initialisers_follow_the_formulas(name, fill, bound, std):
    autograd.manual_seed(0)
    t = autograd.zeros(200, 300)
    assert fill(t) is t
    data = t.data.astype(np.float64)
    assert t.dtype == np.float32
    if bound is not None:
        assert np.abs(data).max() <= bound * (1 + 1e-6)
        if name != "trunc_normal":  # uniform: the extremes are reached and the spread is bound / sqrt(3)
            assert np.abs(data).max() > 0.99 * bound
            assert data.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    if std is not None:
        assert data.std() == pytest.approx(std, rel=0.02)


def test_constant_initialisers_and_orthogonal():
    t = autograd.zeros(3, 4)
    np.testing.assert_array_equal(init.ones_(t).data, 1)
    np.testing.assert_array_equal(init.zeros_(t).data, 0)
    np.testing.assert_array_equal(init.constant_(t, 0.25).data, 0.25)
    np.testing.assert_array_equal(init.eye_(t).data, np.eye(3, 4))
    q = init.orthogonal_(autograd.zeros(4, 6, dtype=np.float64), gain=2.0).data
    np.testing.assert_allclose(q @ q.T, 4 * np.eye(4), atol=1e-12)


def test_initialisers_work_on_parameters_and_do_not_record():
    layer = nn.Linear(3, 2)
    init.xavier_uniform_(layer.weight)
    assert layer.weight.is_leaf and layer.weight.requires_grad and layer.weight.grad_fn is None


def test_seeding_makes_initialisation_reproducible():
    autograd.manual_seed(7)
    a = nn.Linear(5, 5).weight.data.copy()
    autograd.manual_seed(7)
    b = nn.Linear(5, 5).weight.data.copy()
    np.testing.assert_array_equal(a, b)
    g = np.random.default_rng(1)
    c = init.normal_(autograd.zeros(3), generator=g).data
    np.testing.assert_array_equal(c, np.random.default_rng(1).normal(0, 1, 3).astype(np.float32))


def test_default_layer_initialisation_bounds():
    """Layers default-initialise as PyTorch's: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for Linear and Conv weights
    and biases, U(-1/sqrt(hidden), 1/sqrt(hidden)) for recurrent layers, N(0, 1) for Embedding."""
    autograd.manual_seed(0)
    lin = nn.Linear(400, 300)
    for p in (lin.weight, lin.bias):
        assert np.abs(p.data).max() <= 1 / 20 and np.abs(p.data).max() > 0.95 / 20
    conv = nn.Conv2d(8, 16, 5, groups=2)
    bound = 1 / math.sqrt(4 * 25)
    assert np.abs(conv.weight.data).max() <= bound and np.abs(conv.bias.data).max() <= bound
    gru = nn.GRU(10, 64)
    assert all(np.abs(p.data).max() <= 1 / 8 for p in gru.parameters())
    emb = nn.Embedding(1000, 20)
    assert emb.weight.data.std() == pytest.approx(1.0, rel=0.05)
    bn = nn.BatchNorm2d(3)
    np.testing.assert_array_equal(bn.weight.data, 1)
    np.testing.assert_array_equal(bn.bias.data, 0)
