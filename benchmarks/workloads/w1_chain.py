"""W1: a chain of 200 elementwise operations, forward and backward: what one recorded operation costs.

    y = x;  50 times:  y = exp(tanh((y + 0.5) * w))          (x and w are leaves that require grad)

on a 0-d tensor and on a shape-(16,) tensor (float32; w has x's shape, so no broadcasting is involved).
The vector case ends with `y.sum().backward()`. Reported in microseconds per op: the time of one whole
forward+backward divided by the 200 chain operations. At these sizes the arithmetic is nothing and the
time is all per-operation bookkeeping: recording a node, dispatching to numpy, walking the graph back.
"""

from __future__ import annotations

import math

import numpy as np

from . import Case

OPS_PER_REPEAT = 4
VARIANT_ENGINES = {"(16,)": ("glassgrad", "numpy", "torch")}  # micrograd's Value is a scalar


def data(variant: str, small: bool) -> tuple[np.ndarray, np.ndarray, int]:
    repeats = 5 if small else 50
    if variant == "0-d":
        return np.array(0.3, np.float32), np.array(0.8, np.float32), repeats
    return np.linspace(-1, 1, 16, dtype=np.float32), np.linspace(0.5, 1.0, 16, dtype=np.float32), repeats


def _tensor_engine_case(framework: str, variant: str, small: bool) -> Case:
    """glassgrad and torch: the same user code, only the tensor type differs."""
    if framework == "torch":
        import torch as lib
        tensor = lib.tensor
    else:
        import autograd as lib
        tensor = lib.tensor
    x0, w0, repeats = data(variant, small)
    x = tensor(x0, requires_grad=True)
    w = tensor(w0, requires_grad=True)
    vector = x.ndim > 0

    def forward_backward() -> object:
        x.grad = None
        w.grad = None
        y = x
        for _ in range(repeats):
            y = ((y + 0.5) * w).tanh().exp()
        out = y.sum() if vector else y
        out.backward()
        return out

    def gradients() -> dict[str, np.ndarray]:
        out = forward_backward()
        return {"loss": np.asarray(float(out.detach())), "x": np.array(x.grad.numpy()), "w": np.array(w.grad.numpy())}

    return Case(forward_backward, gradients, scale=1 / (OPS_PER_REPEAT * repeats))


def build_glassgrad(variant: str, small: bool = False) -> Case:
    return _tensor_engine_case("glassgrad", variant, small)


def build_torch(variant: str, small: bool = False) -> Case:
    return _tensor_engine_case("torch", variant, small)


def build_numpy(variant: str, small: bool = False) -> Case:
    """The floor: the same chain with its derivative written out by hand (numpy scalars for the 0-d case)."""
    x0, w0, repeats = data(variant, small)
    x, w = x0[()], w0[()]  # 0-d: numpy scalars, as cheap as numpy gets

    def forward_backward() -> tuple:
        saved = []
        y = x
        for _ in range(repeats):
            a = y + 0.5
            t = np.tanh(a * w)
            y = np.exp(t)
            saved.append((a, t, y))
        g = np.ones_like(y)[()]
        gw = 0
        for a, t, e in reversed(saved):
            g = g * e                # d exp(u) = exp(u)
            g = g * (1 - t * t)      # d tanh(u) = 1 - tanh(u)^2
            gw = gw + g * a          # d (a w) / dw = a
            g = g * w                # d (a w) / da = w; the + 0.5 passes g through
        return y, g, gw

    def gradients() -> dict[str, np.ndarray]:
        y, gx, gw = forward_backward()
        return {"loss": np.asarray(np.sum(y)), "x": np.asarray(gx), "w": np.asarray(gw)}

    return Case(forward_backward, gradients, scale=1 / (OPS_PER_REPEAT * repeats))


def micrograd_value() -> type:
    """micrograd's Value, with tanh and exp added in micrograd's own style (the PyPI release 0.1.0 has only
    +, *, ** and relu; the lecture version has these two, written like this)."""
    from micrograd.engine import Value

    if not hasattr(Value, "exp"):
        def tanh(self: Value) -> Value:
            t = math.tanh(self.data)
            out = Value(t, (self,), "tanh")

            def _backward() -> None:
                self.grad += (1 - t * t) * out.grad
            out._backward = _backward
            return out

        def exp(self: Value) -> Value:
            e = math.exp(self.data)
            out = Value(e, (self,), "exp")

            def _backward() -> None:
                self.grad += e * out.grad
            out._backward = _backward
            return out

        Value.tanh = tanh
        Value.exp = exp
    return Value


def build_micrograd(variant: str, small: bool = False) -> Case:
    if variant != "0-d":
        raise ValueError("micrograd works on scalars only")
    value = micrograd_value()
    x0, w0, repeats = data(variant, small)
    x, w = value(float(x0)), value(float(w0))

    def forward_backward() -> object:
        x.grad = 0
        w.grad = 0
        y = x
        for _ in range(repeats):
            y = ((y + 0.5) * w).tanh().exp()
        y.backward()
        return y

    def gradients() -> dict[str, np.ndarray]:
        y = forward_backward()
        return {"loss": np.asarray(y.data), "x": np.asarray(x.grad), "w": np.asarray(w.grad)}

    return Case(forward_backward, gradients, scale=1 / (OPS_PER_REPEAT * repeats))


BUILDERS = {"glassgrad": build_glassgrad, "numpy": build_numpy, "torch": build_torch, "micrograd": build_micrograd}
