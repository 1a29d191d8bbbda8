"""W5: a micrograd-style graph. An MLP 2-16-16-1 (ReLU hidden layers, linear output) is built neuron by
neuron from scalar operations on 0-d tensors, for one sample, with the squared error as the loss:

    act = sum((w_i * x_i for each input i), b);   out = act.relu()        (per neuron)

The very same Python code runs on glassgrad 0-d tensors, on micrograd `Value`s and on PyTorch 0-d tensors;
about 640 scalar operations per forward pass. The 337 parameters are created once, outside the timed region,
for every engine. The numpy floor computes the same function with whole-layer matrix products instead of
scalars, which shows what scalar graphs cost.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import Case, linear_params

SIZES = (2, 16, 16, 1)
X = (0.7, -1.3)
TARGET = 0.5


def data(small: bool) -> dict[str, np.ndarray]:
    sizes = (2, 4, 4, 1) if small else SIZES
    return linear_params(np.random.default_rng(5), sizes, np.float32, names=("0", "1", "2"))


def mlp(layers: list[tuple[list[list], list]], x: list) -> object:
    """The micrograd way: each neuron sums w_i * x_i onto its bias with Python's sum; ReLU except at the end."""
    for depth, (weights, biases) in enumerate(layers):
        last = depth == len(layers) - 1
        out = []
        for w, b in zip(weights, biases):
            act = sum((wi * xi for wi, xi in zip(w, x)), b)
            out.append(act if last else act.relu())
        x = out
    return x[0]


def _scalar_case(make: Callable, zero: Callable, grad_of: Callable, value_of: Callable, dtype: type,
                 small: bool) -> Case:
    """Build the parameters once with `make(float)`; `zero(p)` resets a gradient, `grad_of(p)` reads it,
    `value_of(loss)` reads the loss as a float, and `dtype` is the precision the engine computes in."""
    params = data(small)
    layers = [([[make(float(v)) for v in row] for row in params[f"{i}.weight"]],
               [make(float(v)) for v in params[f"{i}.bias"]]) for i in range(3)]
    leaves = [p for weights, biases in layers for p in [*(v for row in weights for v in row), *biases]]

    def forward_backward() -> object:
        for p in leaves:
            zero(p)
        loss = (mlp(layers, list(X)) - TARGET) ** 2
        loss.backward()
        return loss

    def gradients() -> dict[str, np.ndarray]:
        loss = forward_backward()
        out = {"loss": np.asarray(value_of(loss), dtype)}
        for i, (weights, biases) in enumerate(layers):
            out[f"{i}.weight"] = np.array([[grad_of(v) for v in row] for row in weights], dtype)
            out[f"{i}.bias"] = np.array([grad_of(v) for v in biases], dtype)
        return out

    return Case(forward_backward, gradients)


def build_glassgrad(variant: str, small: bool = False) -> Case:
    import autograd

    def zero(p: autograd.Tensor) -> None:
        p.grad = None

    return _scalar_case(lambda v: autograd.tensor(v, requires_grad=True), zero, lambda p: p.grad.item(),
                        lambda loss: loss.item(), np.float32, small)


def build_torch(variant: str, small: bool = False) -> Case:
    import torch

    def zero(p: torch.Tensor) -> None:
        p.grad = None

    return _scalar_case(lambda v: torch.tensor(v, requires_grad=True), zero, lambda p: p.grad.item(),
                        lambda loss: loss.item(), np.float32, small)


def build_micrograd(variant: str, small: bool = False) -> Case:
    from micrograd.engine import Value

    def zero(p: Value) -> None:
        p.grad = 0

    return _scalar_case(Value, zero, lambda p: p.grad, lambda loss: loss.data, np.float64, small)


def build_numpy(variant: str, small: bool = False) -> Case:
    """The floor: the same network with whole-layer matrix products, forward and backward by hand."""
    w1, b1, w2, b2, w3, b3 = data(small).values()
    x = np.array(X, np.float32)

    def forward_backward() -> tuple[float, list[np.ndarray]]:
        a1 = np.maximum(w1 @ x + b1, 0)
        a2 = np.maximum(w2 @ a1 + b2, 0)
        out = w3 @ a2 + b3
        diff = out - TARGET
        dout = 2 * diff
        d2 = (w3.T @ dout) * (a2 > 0)
        d1 = (w2.T @ d2) * (a1 > 0)
        return float(diff @ diff), [np.outer(d1, x), d1, np.outer(d2, a1), d2, np.outer(dout, a2), dout]

    def gradients() -> dict[str, np.ndarray]:
        loss, grads = forward_backward()
        return {"loss": np.asarray(loss), **dict(zip(data(small), grads))}

    return Case(forward_backward, gradients)


BUILDERS = {"glassgrad": build_glassgrad, "numpy": build_numpy, "torch": build_torch, "micrograd": build_micrograd}
