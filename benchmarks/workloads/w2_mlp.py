"""W2: one SGD step of an MLP 784-512-256-10 with ReLU and softmax cross-entropy on integer labels,
batch 128, float32: the shape of an MNIST training step. Here the matrix products dominate (about 0.4 GFLOP
per step), so the engine's bookkeeping should vanish next to them.
"""

from __future__ import annotations

import numpy as np

from . import Case, framework, linear_params, numpy_sgd_case, training_case

LR = 0.01


def data(small: bool) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    batch, sizes = (8, (20, 16, 12, 10)) if small else (128, (784, 512, 256, 10))
    rng = np.random.default_rng(2)
    x = rng.standard_normal((batch, sizes[0]), dtype=np.float32)
    labels = rng.integers(0, sizes[-1], batch)
    return x, labels, linear_params(rng, sizes, np.float32)


def _tensor_engine_case(name: str, small: bool) -> Case:
    fw = framework(name)
    x_data, labels, params = data(small)
    sizes = [params[f"{i}.weight"].shape[::-1] for i in (0, 2, 4)]
    nn = fw.nn
    model = nn.Sequential(nn.Linear(*sizes[0]), nn.ReLU(), nn.Linear(*sizes[1]), nn.ReLU(), nn.Linear(*sizes[2]))
    return training_case(name, model, params, LR, x_data, labels, fw.F.cross_entropy)


def build_glassgrad(variant: str, small: bool = False) -> Case:
    return _tensor_engine_case("glassgrad", small)


def build_torch(variant: str, small: bool = False) -> Case:
    return _tensor_engine_case("torch", small)


def build_numpy(variant: str, small: bool = False) -> Case:
    """The floor: forward, the hand-derived backward, and the update, in plain numpy."""
    x, labels, params = data(small)
    w1, b1, w2, b2, w3, b3 = params.values()  # updated in place by the step
    n = len(x)
    rows = np.arange(n)

    def forward_backward() -> tuple[float, list[np.ndarray]]:
        h1 = x @ w1.T
        h1 += b1
        np.maximum(h1, 0, out=h1)                      # ReLU in place: h1 is now the activation
        h2 = h1 @ w2.T
        h2 += b2
        np.maximum(h2, 0, out=h2)
        z = h2 @ w3.T
        z += b3
        z -= z.max(axis=1, keepdims=True)              # log-softmax, shifted for stability
        e = np.exp(z)
        total = e.sum(axis=1, keepdims=True)
        loss = float(np.log(total).mean() - z[rows, labels].mean())
        dz = e / total                                 # d loss / d logits = (softmax - one_hot) / n
        dz[rows, labels] -= 1
        dz /= n
        d2 = dz @ w3
        d2 *= h2 > 0                                   # relu'(0) = 0
        d1 = d2 @ w2
        d1 *= h1 > 0
        grads = [d1.T @ x, d1.sum(0), d2.T @ h1, d2.sum(0), dz.T @ h2, dz.sum(0)]
        return loss, grads

    return numpy_sgd_case(forward_backward, params, LR)


BUILDERS = {"glassgrad": build_glassgrad, "numpy": build_numpy, "torch": build_torch}
