"""W6: why reverse mode. The gradient of an MLP 16-h-h-1 (tanh, mean squared error, batch 64, float64)
for P from about 1e2 to 1e5 parameters, by reverse mode (glassgrad, PyTorch, the hand-written numpy
backward) and by central finite differences on the numpy forward pass:

    dL/dθ_i ~ (L(θ + ε e_i) - L(θ - ε e_i)) / 2ε,        ε = 1e-6

Reverse mode costs a small constant times one forward pass: O(P) in all. Finite differences need two forward
passes per parameter: O(P^2). To keep the run short the finite differences are timed on a fixed sample of
coordinates and the time is scaled to all P of them (each coordinate costs the same two forward passes).
"""

from __future__ import annotations

import numpy as np

from . import Case, grads_of, linear_params, load_parameters

WIDTHS = {"P=1e2": 4, "P=1e3": 23, "P=1e4": 91, "P=1e5": 307}  # P = h^2 + 19h + 1: 93, 967, 10011, 100083
SMALL_WIDTHS = {"P=1e2": 2, "P=1e3": 3, "P=1e4": 5, "P=1e5": 8}
INPUTS, EPS, SAMPLE = 16, 1e-6, 32


def data(variant: str, small: bool) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    h = (SMALL_WIDTHS if small else WIDTHS)[variant]
    rng = np.random.default_rng(6)
    batch = 8 if small else 64
    x = rng.standard_normal((batch, INPUTS))
    y = rng.standard_normal((batch, 1))
    return x, y, linear_params(rng, (INPUTS, h, h, 1), np.float64)


def parameter_count(variant: str, small: bool = False) -> int:
    return sum(p.size for p in data(variant, small)[2].values())


def _tensor_engine_case(framework: str, variant: str, small: bool) -> Case:
    if framework == "torch":
        import torch
        import torch.nn.functional as F
        from torch import nn
        dtype, as_tensor = torch.float64, torch.from_numpy
    else:
        import autograd
        import nn
        import nn.functional as F
        dtype, as_tensor = autograd.float64, autograd.from_numpy
    x_data, y_data, params = data(variant, small)
    h = params["0.weight"].shape[0]
    model = nn.Sequential(nn.Linear(INPUTS, h, dtype=dtype), nn.Tanh(), nn.Linear(h, h, dtype=dtype), nn.Tanh(),
                          nn.Linear(h, 1, dtype=dtype))
    load_parameters(model.named_parameters(), params, framework)
    x, y = as_tensor(x_data), as_tensor(y_data)

    def gradient() -> object:
        model.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        return loss

    return Case(gradient, lambda: grads_of(model.named_parameters(), gradient()),
                notes={"P": sum(p.size for p in params.values())})


def build_glassgrad(variant: str, small: bool = False) -> Case:
    return _tensor_engine_case("glassgrad", variant, small)


def build_torch(variant: str, small: bool = False) -> Case:
    return _tensor_engine_case("torch", variant, small)


def _numpy_model(variant: str, small: bool) -> tuple:
    """The parameters as views into one flat vector θ (finite differences nudge θ[i]), and the loss."""
    x, y, params = data(variant, small)
    theta = np.concatenate([p.ravel() for p in params.values()])
    views, start = [], 0
    for p in params.values():
        views.append(theta[start:start + p.size].reshape(p.shape))
        start += p.size
    w1, b1, w2, b2, w3, b3 = views

    def forward() -> tuple:
        a1 = np.tanh(x @ w1.T + b1)
        a2 = np.tanh(a1 @ w2.T + b2)
        diff = a2 @ w3.T + b3 - y
        return float(np.mean(diff * diff)), (a1, a2, diff)

    return theta, views, forward, x, list(params)


def build_numpy(variant: str, small: bool = False) -> Case:
    """The floor: reverse mode by hand."""
    _, views, forward, x, names = _numpy_model(variant, small)
    _, _, w2, _, w3, _ = views

    def gradient() -> tuple[float, list[np.ndarray]]:
        loss, (a1, a2, diff) = forward()
        dz = diff * (2 / diff.size)
        d2 = (dz @ w3) * (1 - a2 * a2)
        d1 = (d2 @ w2) * (1 - a1 * a1)
        return loss, [d1.T @ x, d1.sum(0), d2.T @ a1, d2.sum(0), dz.T @ a2, dz.sum(0)]

    def gradients() -> dict[str, np.ndarray]:
        loss, grads = gradient()
        return {"loss": np.asarray(loss), **dict(zip(names, grads))}

    return Case(gradient, gradients, notes={"P": sum(w.size for w in views)})


def build_finite_diff(variant: str, small: bool = False) -> Case:
    """Central differences of the numpy forward pass on a fixed sample of coordinates; the reported time is
    scaled by P / sample (every coordinate costs the same two forward passes)."""
    theta, _, forward, _, _ = _numpy_model(variant, small)
    count = min(SAMPLE, theta.size)
    sample = np.sort(np.random.default_rng(7).choice(theta.size, count, replace=False))

    def partials() -> np.ndarray:
        out = np.empty(count)
        for k, i in enumerate(sample):
            old = theta[i]
            theta[i] = old + EPS
            up = forward()[0]
            theta[i] = old - EPS
            down = forward()[0]
            theta[i] = old
            out[k] = (up - down) / (2 * EPS)
        return out

    def gradients() -> dict[str, np.ndarray]:
        # only the sampled coordinates of the flattened gradient (parameters in order, each raveled)
        return {"loss": np.asarray(forward()[0]), "fd.index": sample, "fd.values": partials()}

    return Case(partials, gradients, scale=theta.size / count, notes={"sample": count, "P": int(theta.size)})


BUILDERS = {"glassgrad": build_glassgrad, "numpy": build_numpy, "torch": build_torch,
            "finite-diff": build_finite_diff}
