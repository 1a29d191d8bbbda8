"""W8: one SGD step of `nn.LSTM(64, 128, batch_first=True)` on a batch of 32 sequences of 50 steps, float32, with
the mean squared error of the whole output sequence against a fixed target. The layer runs the sequence as one
node, `autograd.fused_lstm` (numpy: one BLAS product and a few elementwise passes per time step, forward and
backward), against PyTorch's fused LSTM (oneDNN's `mkldnn_rnn_layer` on the CPU, JIT-compiled kernels), so this
measures numpy's per-step costs against compiled ones.
"""

from __future__ import annotations

import numpy as np

from . import Case, framework, training_case

LR = 0.1


def data(small: bool) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    batch, steps, features, hidden = (3, 5, 4, 6) if small else (32, 50, 64, 128)
    rng = np.random.default_rng(8)
    x = rng.standard_normal((batch, steps, features), dtype=np.float32)
    target = rng.standard_normal((batch, steps, hidden), dtype=np.float32)
    bound = 1 / np.sqrt(hidden)  # PyTorch's recurrent init: every weight and bias from U(-1/sqrt(H), 1/sqrt(H))
    params = {name: rng.uniform(-bound, bound, shape).astype(np.float32) for name, shape in (
        ("weight_ih_l0", (4 * hidden, features)), ("weight_hh_l0", (4 * hidden, hidden)),
        ("bias_ih_l0", (4 * hidden,)), ("bias_hh_l0", (4 * hidden,)))}
    return x, target, params


def _case(name: str, small: bool) -> Case:
    fw = framework(name)
    x, target, params = data(small)
    model = fw.nn.LSTM(x.shape[-1], target.shape[-1], batch_first=True)
    return training_case(name, model, params, LR, x, target, lambda out, y: fw.F.mse_loss(out[0], y))


def build_glassgrad(variant: str, small: bool = False) -> Case:
    return _case("glassgrad", small)


def build_torch(variant: str, small: bool = False) -> Case:
    return _case("torch", small)


BUILDERS = {"glassgrad": build_glassgrad, "torch": build_torch}
