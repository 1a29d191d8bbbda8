"""W4: one SGD step of a small CNN on a batch of 64 MNIST-sized images (float32):

    conv 1->8 3x3 pad 1, ReLU, maxpool 2, conv 8->16 3x3 pad 1, ReLU, maxpool 2, flatten, linear 784->10,
    softmax cross-entropy on integer labels.

The numpy floor is what a competent numpy user writes for speed: padding, the windows as a strided view,
one im2col copy per convolution and one matrix product per direction, pooling as the maximum of four strided
quarter-images, and col2im as a loop over the 9 kernel offsets. PyTorch runs oneDNN's direct convolution kernels.
"""

from __future__ import annotations

import numpy as np

from . import Case, framework, linear_params, numpy_sgd_case, training_case

LR = 0.01
NAMES = ("0", "3", "7")  # nn.Sequential positions of the two convolutions and the linear layer


def data(small: bool) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    batch = 4 if small else 64
    rng = np.random.default_rng(4)
    x = rng.standard_normal((batch, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, batch)
    params = {}
    for name, (cout, cin) in zip(NAMES[:2], ((8, 1), (16, 8))):
        bound = 1 / np.sqrt(cin * 9)  # PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        params[f"{name}.weight"] = rng.uniform(-bound, bound, (cout, cin, 3, 3)).astype(np.float32)
        params[f"{name}.bias"] = rng.uniform(-bound, bound, cout).astype(np.float32)
    params.update(linear_params(rng, (784, 10), np.float32, names=NAMES[2:]))
    return x, labels, params


def _tensor_engine_case(name: str, small: bool) -> Case:
    fw = framework(name)
    nn = fw.nn
    x_data, labels, params = data(small)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(784, 10))
    return training_case(name, model, params, LR, x_data, labels, fw.F.cross_entropy)


def build_glassgrad(variant: str, small: bool = False) -> Case:
    return _tensor_engine_case("glassgrad", small)


def build_torch(variant: str, small: bool = False) -> Case:
    return _tensor_engine_case("torch", small)


# ---------------------------------------------------------------------------------------------------------------
# The floor
# ---------------------------------------------------------------------------------------------------------------
def im2col(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> columns (N, C*9, H*W) of every 3x3 window of x padded by 1: one copy from a view."""
    n, c, h, w = x.shape
    padded = np.zeros((n, c, h + 2, w + 2), x.dtype)
    padded[:, :, 1:-1, 1:-1] = x
    s = padded.strides
    windows = np.lib.stride_tricks.as_strided(padded, (n, c, 3, 3, h, w), (*s, s[2], s[3]), writeable=False)
    return windows.reshape(n, c * 9, h * w)


def col2im(cols: np.ndarray, c: int, h: int, w: int) -> np.ndarray:
    """The adjoint of im2col: add each window's column back onto the (padded) image, then crop the padding."""
    n = cols.shape[0]
    cols = cols.reshape(n, c, 3, 3, h, w)
    padded = np.zeros((n, c, h + 2, w + 2), cols.dtype)
    for i in range(3):
        for j in range(3):
            padded[:, :, i:i + h, j:j + w] += cols[:, :, i, j]
    return padded[:, :, 1:-1, 1:-1]


def maxpool(y: np.ndarray) -> np.ndarray:
    """2x2 max pooling of (N, C, H, W): the maximum of the four strided quarter-images (a reduction over
    the 2x2 block axes of a reshaped view is 30x slower: numpy's inner loop would run over 2 elements)."""
    return np.maximum(np.maximum(y[:, :, ::2, ::2], y[:, :, ::2, 1::2]),
                      np.maximum(y[:, :, 1::2, ::2], y[:, :, 1::2, 1::2]))


def maxpool_backward(g: np.ndarray, y: np.ndarray, pooled: np.ndarray) -> np.ndarray:
    """Route each pooled gradient to the position(s) of its block's maximum (ties between positive values
    have probability zero; tied zeros are cut by the ReLU mask that follows)."""
    out = np.empty_like(y)
    for a in (0, 1):
        for b in (0, 1):
            np.multiply(g, y[:, :, a::2, b::2] == pooled, out=out[:, :, a::2, b::2])
    return out


def build_numpy(variant: str, small: bool = False) -> Case:
    x, labels, params = data(small)
    k1, b1, k2, b2, w3, b3 = params.values()
    n = len(x)
    rows = np.arange(n)

    def conv_relu(inp: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cols = im2col(inp)
        y = kernel.reshape(len(kernel), -1) @ cols      # (N, C_out, H*W): already NCHW
        y += bias[:, None]
        np.maximum(y, 0, out=y)
        return y.reshape(n, len(kernel), *inp.shape[2:]), cols

    def forward_backward() -> tuple[float, list[np.ndarray]]:
        y1, cols1 = conv_relu(x, k1, b1)                 # (N, 8, 28, 28)
        p1 = maxpool(y1)                                 # (N, 8, 14, 14)
        y2, cols2 = conv_relu(p1, k2, b2)                # (N, 16, 14, 14)
        p2 = maxpool(y2)                                 # (N, 16, 7, 7)
        flat = p2.reshape(n, -1)
        z = flat @ w3.T + b3
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        total = e.sum(axis=1, keepdims=True)
        loss = float(np.log(total).mean() - z[rows, labels].mean())
        dz = e / total
        dz[rows, labels] -= 1
        dz /= n
        dy2 = maxpool_backward((dz @ w3).reshape(p2.shape), y2, p2).reshape(n, 16, -1)
        dy2 *= y2.reshape(n, 16, -1) > 0                 # ReLU
        dp1 = col2im(k2.reshape(16, -1).T @ dy2, 8, 14, 14)
        dy1 = maxpool_backward(dp1, y1, p1).reshape(n, 8, -1)
        dy1 *= y1.reshape(n, 8, -1) > 0
        # weight gradients: one small product per image, summed (faster than one tensordot, which would
        # first copy both operands into (C, N*H*W) layouts)
        grads = [np.matmul(dy1, cols1.transpose(0, 2, 1)).sum(0).reshape(k1.shape), dy1.sum((0, 2)),
                 np.matmul(dy2, cols2.transpose(0, 2, 1)).sum(0).reshape(k2.shape), dy2.sum((0, 2)),
                 dz.T @ flat, dz.sum(0)]
        return loss, grads

    return numpy_sgd_case(forward_backward, params, LR)


BUILDERS = {"glassgrad": build_glassgrad, "numpy": build_numpy, "torch": build_torch}
