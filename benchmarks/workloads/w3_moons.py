"""W3: one SGD step of a small MLP 2-16-16-1 with tanh on 100 two-moons points, float64, with binary
cross-entropy on the logits. The arrays are tiny (at most 100 x 16), so this measures the engine's fixed cost
per operation at the sizes of a classroom example, next to numpy doing the same maths by hand.
"""

from __future__ import annotations

import numpy as np

from . import Case, framework, linear_params, numpy_sgd_case, training_case, two_moons

LR = 0.05


def data(small: bool) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(3)
    x, y = two_moons(20 if small else 100, 0.1, rng)
    return x, y, linear_params(rng, (2, 16, 16, 1), np.float64)


def _tensor_engine_case(name: str, small: bool) -> Case:
    fw = framework(name)
    nn, dtype = fw.nn, fw.float64
    x_data, y_data, params = data(small)
    model = nn.Sequential(nn.Linear(2, 16, dtype=dtype), nn.Tanh(), nn.Linear(16, 16, dtype=dtype), nn.Tanh(),
                          nn.Linear(16, 1, dtype=dtype))
    return training_case(name, model, params, LR, x_data, y_data, fw.F.binary_cross_entropy_with_logits)


def build_glassgrad(variant: str, small: bool = False) -> Case:
    return _tensor_engine_case("glassgrad", small)


def build_torch(variant: str, small: bool = False) -> Case:
    return _tensor_engine_case("torch", small)


def build_numpy(variant: str, small: bool = False) -> Case:
    """The floor: forward, the hand-derived backward and the update in plain numpy."""
    x, y, params = data(small)
    w1, b1, w2, b2, w3, b3 = params.values()
    n = len(x)

    def forward_backward() -> tuple[float, list[np.ndarray]]:
        a1 = np.tanh(x @ w1.T + b1)
        a2 = np.tanh(a1 @ w2.T + b2)
        z = a2 @ w3.T + b3
        # BCE with logits: softplus(z) - y z, whose derivative is sigmoid(z) - y
        loss = float(np.mean(np.logaddexp(0, z) - y * z))
        dz = (0.5 * (1 + np.tanh(0.5 * z)) - y) / n
        d2 = (dz @ w3) * (1 - a2 * a2)
        d1 = (d2 @ w2) * (1 - a1 * a1)
        return loss, [d1.T @ x, d1.sum(0), d2.T @ a1, d2.sum(0), dz.T @ a2, dz.sum(0)]

    return numpy_sgd_case(forward_backward, params, LR)


BUILDERS = {"glassgrad": build_glassgrad, "numpy": build_numpy, "torch": build_torch}
