"""Custom `autograd.Function`s shared by the tests of Function, gradcheck and check_graph."""

from __future__ import annotations

import numpy as np

import autograd
from autograd import Function


class Softplus(Function):
    """log(1 + e^x) without overflow; d softplus = sigmoid, written with Tensor ops (differentiable again)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return autograd.tensor(np.logaddexp(0, x.data))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x.sigmoid()


class MulAdd(Function):
    """Two outputs: (x * y, x + y)."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y, x + y

    @staticmethod
    def backward(ctx, g_prod, g_sum):
        x, y = ctx.saved_tensors
        return g_prod * y + g_sum, g_prod * x + g_sum
