"""Conv2d forward + backward: nn.Conv2d (composed from autograd ops) against a hand-written numpy im2col layer.

The reference below is what one would write by hand for speed: pad, take the windows as a strided view,
copy them into columns (im2col), one matrix product per direction, and col2im (a loop over the kernel
offsets) for the input gradient. Before timing, its gradients are checked against the engine's.

    python benchmarks/conv2d.py            # prints a table; target: ratio <= 1.5
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import autograd
import nn


# ---------------------------------------------------------------------------------------------------------------
# The hand-written reference
# ---------------------------------------------------------------------------------------------------------------
def windows(xp: np.ndarray, k: int) -> np.ndarray:
    """(N, C, H, W) -> (N, C, k, k, OH, OW) strided view of every k x k window (stride 1)."""
    n, c, h, w = xp.shape
    s = xp.strides
    return np.lib.stride_tricks.as_strided(xp, (n, c, k, k, h - k + 1, w - k + 1), (s[0], s[1], s[2], s[3],
                                                                                       s[2], s[3]))


def reference_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, pad: int) -> tuple:
    n = x.shape[0]
    out_channels, _, k, _ = weight.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = windows(xp, k)
    oh, ow = win.shape[-2:]
    cols = win.reshape(n, -1, oh * ow)                       # im2col: (N, C*k*k, OH*OW), one copy
    y = ((weight.reshape(out_channels, -1) @ cols) + bias[:, None]).reshape(n, out_channels, oh, ow)
    return y, (xp.shape, cols)


def reference_backward(g: np.ndarray, weight: np.ndarray, cache: tuple, pad: int, need_input: bool) -> tuple:
    padded_shape, cols = cache
    n, out_channels = g.shape[:2]
    k = weight.shape[-1]
    g2 = g.reshape(n, out_channels, -1)
    grad_w = np.matmul(g2, cols.transpose(0, 2, 1)).sum(0).reshape(weight.shape)
    grad_b = g.sum(axis=(0, 2, 3))
    grad_x = None
    if need_input:
        gcols = (weight.reshape(out_channels, -1).T @ g2).reshape(n, weight.shape[1], k, k, *g.shape[2:])
        gxp = np.zeros(padded_shape, dtype=g.dtype)           # col2im
        oh, ow = g.shape[2:]
        for i in range(k):
            for j in range(k):
                gxp[:, :, i:i + oh, j:j + ow] += gcols[:, :, i, j]
        grad_x = gxp[:, :, pad:padded_shape[2] - pad, pad:padded_shape[3] - pad]
    return grad_w, grad_b, grad_x


# ---------------------------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------------------------
def run_ours(layer: nn.Conv2d, x: autograd.Tensor, g: np.ndarray) -> None:
    layer.zero_grad()
    y = layer(x)
    y.backward(g)


def run_reference(x: np.ndarray, w: np.ndarray, b: np.ndarray, g: np.ndarray, pad: int, need_input: bool) -> None:
    _, cache = reference_forward(x, w, b, pad)
    reference_backward(g, w, cache, pad, need_input)


def verify(layer: nn.Conv2d, x: np.ndarray, g: np.ndarray, pad: int, need_input: bool) -> None:
    xt = autograd.tensor(x, requires_grad=need_input)
    run_ours(layer, xt, g)
    w, b = layer.weight.data, layer.bias.data
    y, cache = reference_forward(x, w, b, pad)
    np.testing.assert_allclose(layer(autograd.tensor(x)).data, y, rtol=1e-4, atol=1e-4)
    gw, gb, gx = reference_backward(g, w, cache, pad, need_input)
    np.testing.assert_allclose(layer.weight.grad.data, gw, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(layer.bias.grad.data, gb, rtol=1e-4, atol=1e-3)
    if need_input:
        np.testing.assert_allclose(xt.grad.data, gx, rtol=1e-4, atol=1e-4)


def measure(batch: int, in_channels: int, out_channels: int, size: int, k: int, pad: int, need_input: bool,
            repeats: int) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, in_channels, size, size)).astype(np.float32)
    layer = nn.Conv2d(in_channels, out_channels, k, padding=pad)
    out = size + 2 * pad - k + 1
    g = rng.standard_normal((batch, out_channels, out, out)).astype(np.float32)
    verify(layer, x, g, pad, need_input)
    w, b = layer.weight.data, layer.bias.data
    xt = autograd.tensor(x, requires_grad=need_input)
    ours, reference = [], []
    for _ in range(repeats):  # interleaved, so that background load affects both alike
        t0 = time.perf_counter()
        run_ours(layer, xt, g)
        t1 = time.perf_counter()
        run_reference(x, w, b, g, pad, need_input)
        t2 = time.perf_counter()
        ours.append(t1 - t0)
        reference.append(t2 - t1)
    return float(np.median(ours)), float(np.median(reference))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    configs = [(64, 1, 8, 28, 3, 0, False), (64, 1, 16, 28, 3, 0, False), (64, 1, 8, 28, 3, 1, False),
               (64, 1, 16, 28, 3, 1, False), (64, 1, 16, 28, 3, 1, True), (64, 8, 16, 14, 3, 1, True)]
    print(f"{'input':>16} {'out':>4} {'k':>2} {'pad':>3} {'dx':>3} {'nn.Conv2d ms':>13} {'numpy im2col ms':>16} "
          f"{'ratio':>6}")
    worst = 0.0
    for batch, cin, cout, size, k, pad, need_input in configs:
        ours, ref = measure(batch, cin, cout, size, k, pad, need_input, args.repeats)
        worst = max(worst, ours / ref)
        print(f"{f'{batch}x{cin}x{size}x{size}':>16} {cout:>4} {k:>2} {pad:>3} {'yes' if need_input else 'no':>3} "
              f"{ours * 1e3:>13.2f} {ref * 1e3:>16.2f} {ours / ref:>6.2f}")
    print(f"worst ratio {worst:.2f} (target <= 1.5); gradients verified against the reference")


if __name__ == "__main__":
    main()
