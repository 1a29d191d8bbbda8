"""Primitives added to autograd for nn (`softplus`): values, first and second order gradients in float64 over
hypothesis shapes, stability, dtype."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autograd
from autograd import ops


@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3),
                    elements=st.floats(-20, 20)))
def test_softplus_gradients(x):
    t = autograd.tensor(x, requires_grad=True)
    assert autograd.gradcheck(ops.softplus, t)
    assert autograd.gradgradcheck(ops.softplus, t)


def test_softplus_values_and_stability():
    x = np.array([-1000.0, -30.0, 0.0, 1.0, 30.0, 1000.0])
    t = autograd.tensor(x, requires_grad=True)
    y = ops.softplus(t)
    np.testing.assert_allclose(y.data, [0.0, math.log1p(math.exp(-30)), math.log(2), math.log1p(math.e),
                                        30 + math.log1p(math.exp(-30)), 1000.0], rtol=1e-15)
    y.sum().backward()
    with np.errstate(over="ignore", invalid="ignore"):
        sigmoid = np.where(x < 0, np.exp(x) / (1 + np.exp(x)), 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(t.grad.data, sigmoid, rtol=1e-14)  # accurate even where sigmoid is tiny
    assert t.grad.data[2] == 0.5
    assert ops.softplus(autograd.tensor([1.0])).dtype == np.float32
