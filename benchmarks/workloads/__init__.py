"""The benchmark workloads W1-W8, each written once per engine.

A workload module (`w1_chain.py`, ...) builds a `Case` for an engine and a variant (a shape, a parameter
count). A `Case` has two entry points:

- `step()`: the unit of work that is timed (one forward+backward, or one training step);
- `gradients()`: one forward+backward from the initial state, returning the loss and every gradient as numpy
  arrays under engine-independent names. The harness compares these between engines in the same run, so a
  fast floor that computes the wrong thing cannot hide (and neither can a wrong engine).

Every engine starts from the same numpy data and parameters (built by the workload's `data` function from a
fixed seed), so their gradients can be compared entry by entry. Engines that are not installed (PyTorch,
micrograd) are simply not built: their imports happen inside the builder.

Engines: "glassgrad" (this project, written as a user would write it: `nn` layers, losses and optimisers),
"numpy" (a hand-written forward and backward: the floor, no autodiff at all), "torch" (PyTorch eager on the
CPU), "micrograd" (Karpathy's scalar engine, W1 and W5 only), "finite-diff" (W6: central differences).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FLOOR = "numpy"
ENGINES = ("glassgrad", "numpy", "torch", "micrograd", "finite-diff")
OPTIONAL = {"torch": "torch", "micrograd": "micrograd"}  # engine -> the package it needs


@dataclass
class Case:
    """One workload, variant and engine, ready to run.

    step       the timed unit of work
    gradients  one forward+backward from the initial parameters: {"loss": ..., name: gradient array, ...}
    scale      what one step counts as in the reported unit: time per step * scale is reported
               (W1 reports microseconds per op: scale = 1/200; W6's finite differences time a sample of
               coordinates and scale up to all of them: scale = P / sample)
    """

    step: Callable[[], object]
    gradients: Callable[[], dict[str, np.ndarray]]
    scale: float = 1.0
    notes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    unit: str                 # "us/op" or "ms/step" (the harness converts seconds)
    variants: tuple[str, ...]
    engines: tuple[str, ...]  # in display order; the floor is among them
    module: str               # the module that builds the cases

    def build(self, engine: str, variant: str, small: bool = False) -> Case:
        """The Case for `engine` on `variant`; `small` shrinks the sizes (tests), keeping the structure."""
        module = importlib.import_module(f"benchmarks.workloads.{self.module}")
        return module.BUILDERS[engine](variant, small=small)

    def engines_for(self, variant: str) -> tuple[str, ...]:
        module = importlib.import_module(f"benchmarks.workloads.{self.module}")
        only = getattr(module, "VARIANT_ENGINES", {}).get(variant)
        return tuple(e for e in self.engines if only is None or e in only)


WORKLOADS = {w.key: w for w in (
    Workload("W1", "chain of 200 elementwise ops (+c, *leaf, tanh, exp), forward+backward", "us/op",
             ("0-d", "(16,)"), ("glassgrad", "numpy", "torch", "micrograd"), "w1_chain"),
    Workload("W2", "MLP 784-512-256-10 ReLU, cross-entropy, batch 128, float32, SGD step", "ms/step",
             ("batch 128",), ("glassgrad", "numpy", "torch"), "w2_mlp"),
    Workload("W3", "MLP 2-16-16-1 tanh, 100 two-moons points, float64, SGD step", "ms/step",
             ("100 points",), ("glassgrad", "numpy", "torch"), "w3_moons"),
    Workload("W4", "CNN conv8-pool-conv16-pool-linear, batch 64x1x28x28, float32, SGD step", "ms/step",
             ("batch 64",), ("glassgrad", "numpy", "torch"), "w4_cnn"),
    Workload("W5", "2-16-16-1 ReLU MLP of 0-d tensors built neuron by neuron, one sample, forward+backward",
             "ms/step", ("337 scalars",), ("glassgrad", "numpy", "torch", "micrograd"), "w5_scalar_mlp"),
    Workload("W6", "gradient of an MLP 16-h-h-1 tanh (batch 64, float64): reverse mode vs central differences",
             "ms/step", ("P=1e2", "P=1e3", "P=1e4", "P=1e5"), ("glassgrad", "numpy", "torch", "finite-diff"),
             "w6_finite_diff"),
    Workload("W7", "decoder-only transformer (the GPT of nn.examples.transformer): B=32, T=64, d=128, 4 heads, "
             "2 blocks, vocabulary 64, float32, AdamW step", "ms/step", ("B=32 T=64",), ("glassgrad", "torch"),
             "w7_transformer"),
    Workload("W8", "nn.LSTM(64, 128, batch_first=True) on (32, 50, 64), MSE, float32, SGD step", "ms/step",
             ("(32, 50, 64)",), ("glassgrad", "torch"), "w8_lstm"),
)}


def available(engine: str) -> bool:
    """Whether the engine's package is installed (glassgrad, numpy and finite-diff always are)."""
    package = OPTIONAL.get(engine)
    return package is None or importlib.util.find_spec(package) is not None


# ---------------------------------------------------------------------------------------------------------------
# Shared data: parameters and inputs every engine starts from
# ---------------------------------------------------------------------------------------------------------------
def linear_params(rng: np.random.Generator, sizes: tuple[int, ...], dtype: type,
                  names: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """Weights (out, in) and biases (out,) of a stack of linear layers, PyTorch's default initialisation
    U(-1/sqrt(in), 1/sqrt(in)). Named as nn.Sequential names them when the layers alternate with
    activations: '0.weight', '0.bias', '2.weight', ... (or by `names`)."""
    names = names or tuple(str(2 * i) for i in range(len(sizes) - 1))
    params = {}
    for name, fan_in, fan_out in zip(names, sizes[:-1], sizes[1:]):
        bound = 1 / np.sqrt(fan_in)
        params[f"{name}.weight"] = rng.uniform(-bound, bound, (fan_out, fan_in)).astype(dtype)
        params[f"{name}.bias"] = rng.uniform(-bound, bound, fan_out).astype(dtype)
    return params


def two_moons(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n points on two interleaved half circles (scikit-learn's make_moons), labels 0/1 as float64 (n, 1)."""
    outer, inner = n // 2, n - n // 2
    angles_outer = np.linspace(0, np.pi, outer)
    angles_inner = np.linspace(0, np.pi, inner)
    x = np.concatenate([np.stack([np.cos(angles_outer), np.sin(angles_outer)], 1),
                        np.stack([1 - np.cos(angles_inner), 0.5 - np.sin(angles_inner)], 1)])
    x += rng.normal(0, noise, x.shape)
    y = np.concatenate([np.zeros(outer), np.ones(inner)])[:, None]
    return x, y


def load_parameters(named_parameters: object, params: dict[str, np.ndarray], framework: str) -> None:
    """Copy the shared initial values into a glassgrad or torch module (names must match exactly)."""
    named = dict(named_parameters)
    if set(named) != set(params):
        raise KeyError(f"parameter names differ: module has {sorted(named)}, data has {sorted(params)}")
    if framework == "torch":
        import torch
        with torch.no_grad():
            for name, p in named.items():
                p.copy_(torch.from_numpy(params[name]))
    else:
        import autograd
        with autograd.no_grad():
            for name, p in named.items():
                p.copy_(autograd.from_numpy(params[name]))


def grads_of(named_parameters: object, loss: object) -> dict[str, np.ndarray]:
    """{"loss": loss, name: copy of the gradient} for a glassgrad or torch module after backward."""
    out = {"loss": np.asarray(float(loss.detach()))}
    for name, p in named_parameters:
        out[name] = np.array(p.grad.numpy() if hasattr(p.grad, "numpy") else p.grad, copy=True)
    return out


@dataclass(frozen=True)
class Framework:
    """What user code needs from glassgrad or PyTorch: the same model code then runs on either."""

    nn: Any
    F: Any            # the functional module
    optim: Any
    as_tensor: Callable[[np.ndarray], Any]
    float64: Any


def framework(name: str) -> Framework:
    if name == "torch":
        import torch
        import torch.nn.functional as torch_functional
        from torch import nn as torch_nn
        return Framework(torch_nn, torch_functional, torch.optim, torch.from_numpy, torch.float64)
    import autograd
    import nn
    from nn import functional
    return Framework(nn, functional, nn.optim, autograd.from_numpy, autograd.float64)


def training_case(name: str, model: object, params: dict[str, np.ndarray], lr: float, inputs: np.ndarray,
                  targets: np.ndarray, loss_fn: Callable[[object, object], object], optimizer: str = "SGD") -> Case:
    """The Case of a framework with autograd (glassgrad or PyTorch, by `name`): the model starts from the shared
    `params`; a step is zero_grad, loss_fn(model(inputs), targets), backward and a step of `optimizer` (the
    name of a class in both nn.optim and torch.optim; plain SGD by default)."""
    fw = framework(name)
    load_parameters(model.named_parameters(), params, name)
    opt = getattr(fw.optim, optimizer)(model.parameters(), lr=lr)
    x, y = fw.as_tensor(inputs), fw.as_tensor(targets)

    def forward_backward() -> object:
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        return loss

    def step() -> None:
        forward_backward()
        opt.step()

    return Case(step, lambda: grads_of(model.named_parameters(), forward_backward()))


def numpy_sgd_case(forward_backward: Callable[[], tuple], params: dict[str, np.ndarray], lr: float) -> Case:
    """The Case of a hand-written floor: `forward_backward()` returns (loss, gradients in the order of
    `params`), and the step updates the parameter arrays in place with plain SGD."""
    arrays = list(params.values())

    def step() -> None:
        _, grads = forward_backward()
        for p, g in zip(arrays, grads):
            p -= lr * g

    def gradients() -> dict[str, np.ndarray]:
        loss, grads = forward_backward()
        return {"loss": np.asarray(loss), **dict(zip(params, grads))}

    return Case(step, gradients)


# ---------------------------------------------------------------------------------------------------------------
# Checking that engines compute the same thing
# ---------------------------------------------------------------------------------------------------------------
def gradient_error(reference: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> dict[str, float]:
    """Per entry of `other`, the largest absolute difference to `reference` divided by the reference entry's
    largest magnitude (a scale-aware relative error). A finite-difference result ({"fd.index", "fd.values"}:
    sampled coordinates of the flattened gradient) is compared with the same coordinates of the reference."""
    errors = {}
    if "fd.index" in other:
        flat = np.concatenate([np.ravel(v) for k, v in reference.items() if k != "loss"])
        expected, got = flat[other["fd.index"]], other["fd.values"]
        errors["fd.values"] = _relative_error(expected, got)
        keys = ["loss"]
    else:
        if set(other) != set(reference):
            raise KeyError(f"gradient names differ: {sorted(other)} vs {sorted(reference)}")
        keys = list(reference)
    for key in keys:
        ref, got = np.asarray(reference[key]), np.asarray(other[key])
        if ref.shape != got.shape:
            raise ValueError(f"{key}: shape {got.shape} differs from the reference's {ref.shape}")
        errors[key] = _relative_error(ref, got)
    return errors


def _relative_error(expected: np.ndarray, got: np.ndarray) -> float:
    expected, got = np.asarray(expected, np.float64), np.asarray(got, np.float64)
    if not np.all(np.isfinite(got)):
        return float("inf")
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1e-30)
    return float(np.max(np.abs(expected - got), initial=0.0)) / scale


def tolerance(reference: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> float:
    """How close two engines must agree: float32 rounding if either computed in float32, else float64's;
    finite differences are accurate to about eps^2 and roundoff / eps."""
    if "fd.index" in other:
        return 1e-5
    single = any(np.asarray(v).dtype == np.float32 for d in (reference, other) for v in d.values())
    return 2e-4 if single else 1e-9
