"""`nn.functional` (imported as `F`): the functional forms of every layer, activation and loss.

Everything here is a composition of autograd operations, so every gradient comes from the engine and nothing
has a hand-written backward. Convolution is the clearest example: pad, take every window as a strided view
(`unfold`), copy the windows into columns (im2col) with one reshape, and multiply by the weight reshaped to
(out_channels, in_channels * kernel). Its gradient is the engine's: the matmul's two VJPs, and `fold` (col2im)
as the adjoint of `unfold`. For speed, a convolution with short output rows works on its input transposed to
(C, *spatial, N) ("batch-last"), so that numpy's loops run over long rows (see `_conv`); its output is the usual
(N, C, *spatial) tensor, a view of that memory. Pooling reduces the same windows with a max or a mean.

Names, argument orders and defaults are PyTorch's:

    >>> import autograd, nn.functional as F
    >>> logits = autograd.tensor([[2.0, 0.5, -1.0]], requires_grad=True)
    >>> loss = F.cross_entropy(logits, autograd.tensor([0]))
    >>> loss.backward()
    >>> logits.grad                          # softmax(logits) - one_hot(target)
    tensor([[-0.2144,  0.1753,  0.0391]])
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

import autograd
from autograd import Tensor
from autograd.errors import OpError, OpIndexError

__all__ = [
    # layers
    "linear", "bilinear", "conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "max_pool1d", "max_pool2d",
    "max_unpool1d", "max_unpool2d",
    "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
    "batch_norm", "layer_norm", "dropout", "embedding", "one_hot", "pad", "pixel_shuffle", "pixel_unshuffle",
    "normalize", "cosine_similarity", "pairwise_distance", "interpolate",
    # activations
    "relu", "leaky_relu", "elu", "silu", "swish", "gelu", "sigmoid", "tanh", "softmax", "log_softmax",
    "softplus", "logsigmoid", "hardtanh", "relu6", "selu", "celu", "softsign", "hardsigmoid", "hardswish", "mish",
    "glu", "softmin", "tanhshrink", "threshold",
    # losses
    "mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "log_cosh_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "cross_entropy", "nll_loss", "kl_div",
]


# ---------------------------------------------------------------------------------------------------------------
# Argument helpers
# ---------------------------------------------------------------------------------------------------------------
def _ntuple(value: Any, n: int, name: str, op: str) -> tuple[int, ...]:
    """An int or a length-n sequence of ints as an n-tuple (PyTorch's `_pair`)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value),) * n
    try:
        values = tuple(int(v) for v in value)
    except TypeError:
        raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}") from None
    if len(values) != n:
        raise OpError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    return values


def _positive(values: tuple, name: str, op: str, allow_zero: bool = False) -> None:
    low = 0 if allow_zero else 1
    if any(v < low for v in values):
        raise OpError(f"{op}: {name} must be {'non-negative' if allow_zero else 'positive'}, got {values}")


def _groups(groups: Any, op: str) -> int:
    """`groups` as a positive int (PyTorch: 'non-positive groups is not supported')."""
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise OpError(f"{op}: groups must be a positive integer, got {groups!r}")
    return int(groups)


def _pool_arguments(kernel_size: Any, stride: Any, padding: Any, dilation: Any, nd: int, op: str
                   ) -> tuple[tuple, tuple, tuple, tuple]:
    """A pooling's kernel_size, stride (None: the kernel size), padding and dilation as nd-tuples, checked as
    PyTorch checks them: kernel, stride and dilation at least 1, padding at least 0 and at most half the
    kernel. The pooling layers call it when they are built, so a bad argument fails there."""
    kernel = _ntuple(kernel_size, nd, "kernel_size", op)
    stride = kernel if stride is None or (not isinstance(stride, int) and len(stride) == 0) else \
        _ntuple(stride, nd, "stride", op)
    pads = _ntuple(padding, nd, "padding", op)
    dilation = _ntuple(dilation, nd, "dilation", op)
    _positive(kernel, "kernel_size", op)
    _positive(stride, "stride", op)
    _positive(dilation, "dilation", op)
    _positive(pads, "padding", op, allow_zero=True)
    if any(2 * p > k for p, k in zip(pads, kernel)):
        raise OpError(f"{op}: padding {pads} must be at most half the kernel size {kernel}")
    return kernel, stride, pads, dilation


def _tensor(x: Any) -> Tensor:
    """`x` as a tensor: a tensor as it is, anything else through autograd.as_tensor (arrays are not copied)."""
    return x if isinstance(x, Tensor) else autograd.as_tensor(x)


def _window_counts(spatial: tuple, kernel: tuple, stride: tuple, dilation: tuple) -> tuple:
    """How many windows fit along each axis: floor((n - dilation (k - 1) - 1) / stride) + 1."""
    return tuple((n - d * (k - 1) - 1) // s + 1 for n, k, s, d in zip(spatial, kernel, stride, dilation))


def _float_tensor(x: Any) -> Tensor:
    """A tensor of a floating dtype (integer data is converted to float32, as a loss target may be)."""
    x = _tensor(x)
    return x if x.dtype.kind == "f" else x.astype(np.float32)


# ---------------------------------------------------------------------------------------------------------------
# Linear layers
# ---------------------------------------------------------------------------------------------------------------
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x W^T + b, for x of shape (*, in_features) and W of shape (out_features, in_features)."""
    x = _tensor(input)
    in_features = weight.shape[1]
    if x.ndim == 0 or x.shape[-1] != in_features:
        raise OpError(f"linear: the input of shape {x.shape} has {x.shape[-1] if x.ndim else 0} features in its "
                         f"last dim, but the weight of shape {tuple(weight.shape)} expects {in_features}")
    return autograd.linear(x, weight, bias)  # one node: see autograd.linear


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y_k = x1^T A_k x2 + b_k, with A of shape (out_features, in1_features, in2_features); the inputs are
    (*, in1_features) and (*, in2_features) with the same batch dims *, as in PyTorch."""
    a, b = _tensor(input1), _tensor(input2)
    w_shape, a_shape, b_shape = tuple(np.shape(weight)), a.shape, b.shape
    shapes = f"(input1 {a_shape}, input2 {b_shape}, weight {w_shape})"
    # checked here, so that a mismatch names bilinear and its shapes, not the einsum it is computed by
    if len(w_shape) != 3:
        raise OpError(f"bilinear: the weight must be 3-d (out_features, in1_features, in2_features) {shapes}")
    if not a.ndim or a.ndim != b.ndim or a_shape[:-1] != b_shape[:-1]:
        raise OpError(f"bilinear: the inputs must have the same batch dims, (*, in1_features) and "
                      f"(*, in2_features) {shapes}")
    if a_shape[-1] != w_shape[1] or b_shape[-1] != w_shape[2]:
        raise OpError(f"bilinear: the inputs' last dims ({a_shape[-1]}, {b_shape[-1]}) must be the weight's "
                      f"in1_features and in2_features ({w_shape[1]}, {w_shape[2]}) {shapes}")
    if bias is not None and tuple(np.shape(bias)) != w_shape[:1]:
        raise OpError(f"bilinear: the bias of shape {tuple(np.shape(bias))} must have shape (out_features,) = "
                      f"{w_shape[:1]} {shapes}")
    y = autograd.einsum("...i,kij,...j->...k", a, weight, b)
    return y if bias is None else y + bias


# ---------------------------------------------------------------------------------------------------------------
# Convolution and pooling: windows from `unfold`, reduced by one matmul (conv) or by amax/sum (pooling)
# ---------------------------------------------------------------------------------------------------------------
def _padding_amounts(padding: Any, kernel: tuple, stride: tuple, dilation: tuple, op: str
                     ) -> list[tuple[int, int]]:
    """(before, after) per spatial dim for an int, a tuple, 'valid', 'same' or 'full'."""
    n = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0)] * n
        if padding == "same":
            if any(s != 1 for s in stride):
                raise OpError(f"{op}: padding='same' is not supported for strided convolutions "
                                 f"(stride={stride}); give the padding explicitly")
            # total d(k-1); an odd total puts the extra element on the right, as PyTorch does
            totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
            return [(t // 2, t - t // 2) for t in totals]
        if padding == "full":
            return [(d * (k - 1),) * 2 for k, d in zip(kernel, dilation)]
        raise OpError(f"{op}: padding must be an int, a tuple, 'valid', 'same' or 'full', got {padding!r}")
    amounts = _ntuple(padding, n, "padding", op)
    _positive(amounts, "padding", op, allow_zero=True)
    return [(p, p) for p in amounts]


def _batch_last(x: Tensor, out_shape: tuple, one_by_one: bool) -> bool:
    """Whether a convolution runs in the batch-last layout (see _conv): for output rows shorter than 48
    elements, where it measured 1.0x-1.7x faster on conv + ReLU + max-pool blocks (its single matrix product
    over the batch is slower than NCHW's per-image products, which wins on long rows). A 1x1 convolution
    takes the layout its input already has: either way its input is its columns, with no copy."""
    if one_by_one:
        return x.ndim > 2 and _is_batch_last(x.data)
    return out_shape[-1] < 48


def _is_batch_last(a: np.ndarray) -> bool:
    """Whether (N, C, *spatial) lies in memory as (C, *spatial, N) (with N > 1: else either layout is)."""
    return a.shape[0] > 1 and a.transpose(*range(1, a.ndim), 0).flags.c_contiguous


def _conv_input(input: Any, weight: Tensor, nd: int, op: str, layout: str) -> tuple[Tensor, bool]:
    """A convolution's input as (N, C, *spatial), and whether it came without the batch dim; errors name the op,
    the weight's expected `layout` and the shapes."""
    x = _tensor(input)
    if weight.ndim != nd + 2:
        raise OpError(f"{op}: the weight must have {nd + 2} dims ({layout}, "
                      f"{'kernel' if nd == 1 else 'kH, kW'}), got shape {tuple(weight.shape)}")
    unbatched = x.ndim == nd + 1
    if unbatched:
        x = x.unsqueeze(0)
    if x.ndim != nd + 2:
        spatial = "L" if nd == 1 else "H, W"
        raise OpError(f"{op}: expected an input of shape (N, C, {spatial}) or (C, {spatial}), got {input.shape}")
    return x, unbatched


def _conv(input: Tensor, weight: Tensor, bias: Tensor | None, stride: Any, padding: Any, dilation: Any,
          groups: int, nd: int, op: str) -> Tensor:
    x, unbatched = _conv_input(input, weight, nd, op, "out_channels, in_channels/groups")
    out_channels, group_channels = weight.shape[:2]
    kernel = tuple(weight.shape[2:])
    groups = _groups(groups, op)
    if any(k < 1 for k in kernel):
        raise OpError(f"{op}: the weight of shape {tuple(weight.shape)} has the kernel size {kernel}; every "
                         "kernel size must be at least 1")
    if x.shape[1] != group_channels * groups:
        raise OpError(f"{op}: the input of shape {tuple(input.shape)} has {x.shape[1]} channels, but the weight "
                         f"of shape {tuple(weight.shape)} (groups={groups}) expects {group_channels * groups}")
    if out_channels % groups:
        raise OpError(f"{op}: out_channels {out_channels} must be divisible by groups={groups}")
    stride = _ntuple(stride, nd, "stride", op)
    dilation = _ntuple(dilation, nd, "dilation", op)
    _positive(stride, "stride", op)
    _positive(dilation, "dilation", op)
    pads = _padding_amounts(padding, kernel, stride, dilation, op)
    n = x.shape[0]
    padded = tuple(size + before + after for size, (before, after) in zip(x.shape[2:], pads))
    if any(size < d * (k - 1) + 1 for size, k, d in zip(padded, kernel, dilation)):
        raise OpError(f"{op}: the input's spatial size {padded} (after padding) is smaller than the "
                         f"kernel {kernel} with dilation {dilation}")
    out_shape = _window_counts(padded, kernel, stride, dilation)
    length = math.prod(out_shape)
    depth = group_channels * math.prod(kernel)  # rows of a group's im2col matrix (sizes, not -1: N or C may be 0)
    kernel_axes, out_axes = tuple(range(2 + nd, 2 + 2 * nd)), tuple(range(2, 2 + nd))
    padded_at_all = any(p for pair in pads for p in pair)
    one_by_one = kernel == (1,) * nd and stride == (1,) * nd and not padded_at_all
    if _batch_last(x, out_shape, one_by_one):
        # Batch-last layout, (C, *spatial, N): each window offset's copy (im2col) and its gradient's add
        # (col2im) run over rows of W*N contiguous elements instead of the image's rows of W: numpy's inner
        # loop runs over one row at a time, and on short rows its overhead per row dominates. The output
        # (N, C_out, *out) is a view of (C_out, *out, N) memory, so the ReLU and the pooling that follow
        # run over long rows too.
        x = x.permute(1, *range(2, 2 + nd), 0)
        if padded_at_all:
            x = autograd.pad(x, pad_width=((0, 0), *pads, (0, 0)), value=0)
        # unfold takes the trailing axes: the windows of (C, N, *spatial) are (C, N, *out, *kernel)
        windows = autograd.unfold(x.permute(0, nd + 1, *range(1, nd + 1)), kernel_size=kernel, stride=stride,
                             dilation=dilation)
        cols = windows.permute(0, *kernel_axes, *out_axes, 1)  # (C, *kernel, *out, N)
        if groups == 1:  # matrices: their products take the fastest form (autograd's blocked gemm)
            y = weight.reshape(out_channels, depth) @ cols.reshape(depth, length * n)  # im2col: one copy
        else:
            y = (weight.reshape(groups, out_channels // groups, depth) @ cols.reshape(groups, depth, length * n)
                 ).reshape(out_channels, length * n)
        if bias is not None:
            y = y + bias.reshape(out_channels, 1)
        y = y.reshape(out_channels, *out_shape, n).permute(nd + 1, 0, *range(1, nd + 1))
        return y.squeeze(0) if unbatched else y
    # NCHW: (N, C, *kernel, *out) columns, one product per image (cache-sized); the output is NCHW already
    if one_by_one:
        cols = x.reshape(n, groups, depth, length)  # a 1x1 convolution: the input already is the columns
    else:
        if padded_at_all:
            x = autograd.pad(x, pad_width=((0, 0), (0, 0), *pads), value=0)
        windows = autograd.unfold(x, kernel_size=kernel, stride=stride, dilation=dilation)  # (N, C, *out, *kernel)
        cols = windows.permute(0, 1, *kernel_axes, *out_axes).reshape(n, groups, depth, length)  # im2col: one copy
    y = (weight.reshape(groups, out_channels // groups, depth) @ cols).reshape(n, out_channels, length)
    if bias is not None:  # added while the spatial dims are still one long axis: numpy's inner loop runs longer
        y = y + bias.reshape(out_channels, 1)
    y = y.reshape(n, out_channels, *out_shape)
    return y.squeeze(0) if unbatched else y


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:
    """1-D cross-correlation (what deep learning calls convolution) of (N, C_in, L) with (C_out, C_in/groups, k).

    Output length: floor((L + 2 padding - dilation (k - 1) - 1) / stride) + 1.
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:
    """2-D cross-correlation of (N, C_in, H, W) with a weight (C_out, C_in/groups, kH, kW), plus bias (C_out,).

    out[n, o, i, j] = bias[o] + sum_{c, p, q} weight[o, c, p, q] x_padded[n, c, i s + p d, j s + q d];
    output size per spatial dim: floor((n + 2 padding - dilation (k - 1) - 1) / stride) + 1.
    `padding` may be an int, a tuple, 'valid' (0), 'same' (output size = input size; stride 1 only) or
    'full' (dilation (k - 1) on each side).
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def _conv_transpose(input: Tensor, weight: Tensor, bias: Tensor | None, stride: Any, padding: Any,
                    output_padding: Any, groups: int, dilation: Any, nd: int, op: str) -> Tensor:
    """The transposed convolution: the adjoint (input gradient) of conv with the same weight, as the matmul
    of im2col run backwards. Each input position's channels, multiplied by the weight, give a whole kernel
    window of output values (a matmul: (C_out/g * K, C_in/g) @ (C_in/g, L) per group), and col2im (ops.fold,
    the adjoint of unfold) adds every window into the output at stride s and dilation d. The full result has
    (n - 1) s + d (k - 1) + 1 elements per dim; `padding` crops p from both ends and `output_padding` adds
    back that many at the end. Its gradient is the engine's: unfold and two matmuls, i.e. a convolution.
    The textbook form (zeros inserted between the inputs, then conv2d with the flipped weight) multiplies
    the zeros too: on (16, 32, 8, 8) with a 4x4 kernel and stride 2, forward and backward, callgrind counts
    58.2M instructions for it against 22.5M for this one."""
    x, unbatched = _conv_input(input, weight, nd, op, "in_channels, out_channels/groups")
    in_channels, group_out = weight.shape[:2]
    kernel = tuple(weight.shape[2:])
    groups = _groups(groups, op)
    if x.shape[1] != in_channels:
        raise ValueError(f"{op}: the input of shape {tuple(input.shape)} has {x.shape[1]} channels, but the weight "
                         f"of shape {tuple(weight.shape)} expects {in_channels} (its first dim)")
    if in_channels % groups:
        raise ValueError(f"{op}: in_channels {in_channels} must be divisible by groups={groups}")
    stride = _ntuple(stride, nd, "stride", op)
    dilation = _ntuple(dilation, nd, "dilation", op)
    pads = _ntuple(padding, nd, "padding", op)
    extra = _ntuple(output_padding, nd, "output_padding", op)
    _positive(stride, "stride", op)
    _positive(dilation, "dilation", op)
    _positive(pads, "padding", op, allow_zero=True)
    _positive(extra, "output_padding", op, allow_zero=True)
    if any(e >= s and e >= d for e, s, d in zip(extra, stride, dilation)):
        raise ValueError(f"{op}: output_padding {extra} must be smaller than either stride {stride} or dilation "
                         f"{dilation}")
    n, spatial = x.shape[0], x.shape[2:]
    full = tuple((size - 1) * s + d * (k - 1) + 1 for size, k, s, d in zip(spatial, kernel, stride, dilation))
    out_shape = tuple(f - 2 * p + e for f, p, e in zip(full, pads, extra))
    if any(size < 1 for size in out_shape) or any(size < 1 for size in spatial):
        raise ValueError(f"{op}: the input's spatial size {tuple(spatial)} with kernel {kernel}, stride {stride}, "
                         f"padding {pads}, dilation {dilation} and output_padding {extra} gives the output size "
                         f"{out_shape}, which is too small")
    out_channels = group_out * groups
    length, size = math.prod(spatial), math.prod(kernel)
    per_group = in_channels // groups
    columns = (weight.reshape(groups, per_group, group_out * size).transpose(-1, -2)
               @ x.reshape(n, groups, per_group, length))  # (N, g, C_out/g * K, L)
    windows = columns.reshape(n, out_channels, *kernel, *spatial).permute(
        0, 1, *range(2 + nd, 2 + 2 * nd), *range(2, 2 + nd))  # (N, C_out, *spatial, *kernel)
    y = autograd.fold(windows, shape=(n, out_channels, *full), kernel_size=kernel, stride=stride, dilation=dilation)
    beyond = [(0, max(e - p, 0)) for e, p in zip(extra, pads)]  # output_padding past the cropped padding
    if any(b for _, b in beyond):
        y = autograd.pad(y, ((0, 0), (0, 0), *beyond), value=0)
    if any(pads) or any(extra):
        y = y[(slice(None), slice(None), *(slice(p, p + size) for p, size in zip(pads, out_shape)))]
    if bias is not None:
        y = y + bias.reshape(out_channels, *(1,) * nd)
    return y.squeeze(0) if unbatched else y


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Tensor:
    """1-D transposed convolution of (N, C_in, L) with a weight (C_in, C_out/groups, k): the gradient of
    conv1d with respect to its input. Output length (L - 1) stride - 2 padding + dilation (k - 1) +
    output_padding + 1."""
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, 1,
                           "conv_transpose1d")


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Tensor:
    """2-D transposed convolution ("deconvolution") of (N, C_in, H, W) with a weight (C_in, C_out/groups, kH,
    kW), plus bias (C_out,). Each output size: (n - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1.

    >>> import autograd, nn.functional as F
    >>> F.conv_transpose2d(autograd.ones(1, 1, 2, 2), autograd.ones(1, 1, 2, 2), stride=2).shape
    (1, 1, 4, 4)
    """
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, 2,
                           "conv_transpose2d")


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """(*, C r^2, H, W) -> (*, C, H r, W r): channel c r^2 + i r + j becomes the pixel offset (i, j) of
    channel c (a reshape, a permutation, a reshape)."""
    x = _tensor(input)
    r = int(upscale_factor)
    if x.ndim < 3 or r < 1 or x.shape[-3] % (r * r):
        raise ValueError(f"pixel_shuffle: expected (*, C * {r}^2, H, W) with upscale_factor {r} >= 1, got shape "
                         f"{x.shape}")
    *lead, c, h, w = x.shape
    lead, k = tuple(lead), len(lead)
    y = x.reshape(*lead, c // (r * r), r, r, h, w).permute(*range(k), k, k + 3, k + 1, k + 4, k + 2)
    return y.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """(*, C, H r, W r) -> (*, C r^2, H, W), the inverse of pixel_shuffle."""
    x = _tensor(input)
    r = int(downscale_factor)
    if x.ndim < 3 or r < 1 or x.shape[-2] % r or x.shape[-1] % r:
        raise ValueError(f"pixel_unshuffle: expected (*, C, H * {r}, W * {r}) with downscale_factor {r} >= 1, got "
                         f"shape {x.shape}")
    *lead, c, h, w = x.shape
    lead, k = tuple(lead), len(lead)
    y = x.reshape(*lead, c, h // r, r, w // r, r).permute(*range(k), k, k + 2, k + 4, k + 1, k + 3)
    return y.reshape(*lead, c * r * r, h // r, w // r)


_INTERPOLATE_DIMS = {"linear": 1, "bilinear": 2, "trilinear": 3}


def interpolate(input: Tensor, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resample the spatial dims of (N, C, *spatial) to `size`, or to floor(n * scale_factor), as PyTorch does.

    - 'nearest': source index floor(i * in / out) (or i / scale_factor when that was given; PyTorch's legacy
      rule, which shifts the image by half a pixel); 'nearest-exact': floor((i + 1/2) * in / out), the centred
      rule (scikit-image's, PIL's). A gather: the gradient adds up in the picked elements.
    - 'linear', 'bilinear', 'trilinear' (3-D, 4-D, 5-D inputs): separable linear interpolation between the two
      neighbours at source position (i + 1/2) in / out - 1/2 (clamped at 0), or i (in - 1) / (out - 1) with
      align_corners=True; weights in the input's dtype, as PyTorch computes them.
    - 'area': adaptive average pooling (1-D and 2-D).
    """
    x = _tensor(input)
    nd = x.ndim - 2
    if nd < 1:
        raise ValueError(f"interpolate: expected an input of shape (N, C, *spatial), got {x.shape}")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported")
    linear_modes = tuple(_INTERPOLATE_DIMS)
    if mode in linear_modes:
        if nd != _INTERPOLATE_DIMS[mode]:
            raise ValueError(f"interpolate: mode {mode!r} expects a {_INTERPOLATE_DIMS[mode] + 2}-D input, got shape "
                             f"{x.shape}")
        align = bool(align_corners)
    elif mode in ("nearest", "nearest-exact", "area"):
        if align_corners is not None:
            raise ValueError("interpolate: align_corners can only be set with the interpolating modes 'linear', "
                             f"'bilinear' and 'trilinear', not {mode!r}")
        align = False
    else:
        raise NotImplementedError(f"interpolate: mode {mode!r} is not supported (use 'nearest', 'nearest-exact', "
                                  "'linear', 'bilinear', 'trilinear' or 'area')")
    spatial = x.shape[2:]
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    if size is not None:
        out = _ntuple(size, nd, "size", "interpolate")
        scales: tuple = (None,) * nd
    else:
        factors = (float(scale_factor),) * nd if isinstance(scale_factor, (int, float)) else \
            tuple(float(f) for f in scale_factor)
        if len(factors) != nd:
            raise ValueError(f"interpolate: scale_factor must be a number or a tuple of {nd}, got {scale_factor!r}")
        out = tuple(math.floor(n * f) for n, f in zip(spatial, factors))
        scales = (None,) * nd if recompute_scale_factor else factors
    if any(o <= 0 for o in out):
        raise ValueError(f"interpolate: the output size {out} must be positive (input of shape {x.shape})")
    if mode == "area":
        if nd == 1:
            return adaptive_avg_pool1d(x, out)
        if nd == 2:
            return adaptive_avg_pool2d(x, out)
        raise NotImplementedError("interpolate: mode 'area' supports 3-D and 4-D inputs")
    if mode in ("nearest", "nearest-exact"):
        index = [_nearest_source(n, o, sc, mode == "nearest-exact") for n, o, sc in zip(spatial, out, scales)]
        factors = [o // n if n and o % n == 0 else 0 for n, o in zip(spatial, out)]
        if all(f and np.array_equal(i, np.arange(o) // f) for i, o, f in zip(index, out, factors)):
            # each element repeated f times along each axis: a broadcast, whose gradient is a sum, where the
            # gather's gradient scatter-adds element by element (np.add.at). Callgrind, scale_factor=2 on
            # (16, 32, 16, 16) float32, forward and backward: 21.9M instructions against the gather's 75.5M.
            lead = x.shape[:2]
            wide = x.reshape(*lead, *(v for n in spatial for v in (n, 1))).expand(
                *lead, *(v for n, f in zip(spatial, factors) for v in (n, f)))
            return wide.reshape(*lead, *out)
        return x[(slice(None), slice(None), *np.ix_(*index))]
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
    for axis, (n, o, sc) in enumerate(zip(spatial, out, scales), start=2):
        low, high, weight = _linear_source(n, o, sc, align, dtype)
        shape = (o,) + (1,) * (x.ndim - axis - 1)
        lead = (slice(None),) * axis
        x = x[(*lead, low)] * (1 - weight).reshape(shape) + x[(*lead, high)] * weight.reshape(shape)
    return x


def _nearest_source(n: int, out: int, scale: float | None, exact: bool) -> np.ndarray:
    """PyTorch's nearest source indices, computed as it does in float32 (its `nearest_idx`)."""
    if not exact and out == n:
        return np.arange(out)
    if not exact and out == 2 * n:
        return np.arange(out) >> 1
    step = np.float32(1.0 / scale) if scale else np.float32(n) / np.float32(out)
    position = np.arange(out, dtype=np.float32) + np.float32(0.5) if exact else np.arange(out, dtype=np.float32)
    return np.minimum(np.floor(position * step).astype(np.int64), n - 1)


def _linear_source(n: int, out: int, scale: float | None, align_corners: bool, dtype: Any
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The two neighbours and the weight of the upper one, for each output position (PyTorch's
    area_pixel_compute_source_index and guard_index_and_lambda, in `dtype`)."""
    one = dtype.type(1)
    destination = np.arange(out, dtype=dtype)
    if align_corners:
        step = dtype.type(n - 1) / dtype.type(out - 1) if out > 1 else dtype.type(0)
        source = step * destination
    else:
        step = dtype.type(1.0 / scale) if scale else dtype.type(n) / dtype.type(out)
        source = np.maximum(step * (destination + dtype.type(0.5)) - dtype.type(0.5), 0)
    low = np.minimum(np.floor(source).astype(np.int64), n - 1)
    weight = np.clip(source - low, 0, one).astype(dtype)
    high = low + (low < n - 1)
    return low, high, weight


def _pool_windows(x: Tensor, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool,
                  pad_value: float, nd: int, op: str) -> tuple[Tensor, tuple, tuple, tuple, tuple, list]:
    """x padded with `pad_value` so that its windows are exactly the pooling windows, with the output's
    spatial shape, the kernel, stride and dilation, and the (before, after) pads used (`after` includes the
    overhang that ceil_mode adds)."""
    kernel, stride, pads, dilation = _pool_arguments(kernel_size, stride, padding, dilation, nd, op)
    if x.ndim != nd + 2:
        spatial = "L" if nd == 1 else "H, W"
        raise OpError(f"{op}: expected an input of shape (N, C, {spatial}) or (C, {spatial}), got {x.shape}")
    spatial = x.shape[2:]
    widths, counts = [], []
    for n, k, s, p, d in zip(spatial, kernel, stride, pads, dilation):
        span = n + 2 * p - d * (k - 1) - 1
        if span < 0:
            raise OpError(f"{op}: the input's spatial size {tuple(spatial)} (padding {pads}) is smaller than "
                             f"the window {kernel} (dilation {dilation})")
        count = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (count - 1) * s >= n + p:  # PyTorch: the last window must start inside the input
            count -= 1
        counts.append(count)
        widths.append((p, max((count - 1) * s + d * (k - 1) + 1 - n - p, p)))
    if any(a or b for a, b in widths):
        x = autograd.pad(x, pad_width=((0, 0), (0, 0), *widths), value=pad_value)
    return x, tuple(counts), kernel, stride, dilation, widths


def _pool_columns(x: Tensor, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool,
                  pad_value: float, nd: int, op: str) -> tuple[Tensor, tuple, tuple, tuple, list]:
    """Every pooling window of x (padded with `pad_value`) as the columns of an (N, C, K, L) tensor, K the
    window size and L the number of windows; also the output's spatial shape, the kernel, the stride, and the
    (before, after) pads used (`after` includes the overhang that ceil_mode adds).

    Why columns: numpy reduces a short trailing axis of a strided view very slowly (an inner loop of 4
    elements per output); with the window positions as a middle axis and the output positions contiguous after
    it, amax and sum become elementwise passes over long rows, 20-50x faster, and so do their VJPs."""
    x, counts, kernel, stride, dilation, widths = _pool_windows(x, kernel_size, stride, padding, dilation,
                                                                ceil_mode, pad_value, nd, op)
    n, c = x.shape[:2]
    if stride == kernel and dilation == (1,) * nd:
        # Windows that tile the input: a reshape finds them, with no strided view and no fold in the backward.
        used = tuple(slice(0, count * k) for count, k in zip(counts, kernel))
        if any(count * k != size for count, k, size in zip(counts, kernel, x.shape[2:])):
            x = x[(slice(None), slice(None), *used)]
        tiles = x.reshape(n, c, *(v for count, k in zip(counts, kernel) for v in (count, k)))
        order = (0, 1, *range(3, 2 + 2 * nd, 2), *range(2, 2 + 2 * nd, 2))  # kernel axes, then window axes
    else:
        tiles = autograd.unfold(x, kernel_size=kernel, stride=stride, dilation=dilation)  # (N, C, *out, *kernel)
        order = (0, 1, *range(2 + nd, 2 + 2 * nd), *range(2, 2 + nd))
    columns = tiles.permute(order).reshape(n, c, math.prod(kernel), math.prod(counts))  # im2col: one copy
    return columns, tuple(counts), kernel, stride, widths


def _max_pool(input: Tensor, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool,
              nd: int, op: str, return_indices: bool = False) -> Any:
    x = _tensor(input)
    unbatched = x.ndim == nd + 1
    if unbatched:
        x = x.unsqueeze(0)
    lowest = autograd.max_pool_pad_value(x.dtype)  # padding never wins a window
    padded, _, kernel, stride, dilation, widths = _pool_windows(x, kernel_size, stride, padding, dilation,
                                                                ceil_mode, lowest, nd, op)
    # The primitive sends each window's gradient to the element PyTorch picks: the first maximum (ties), the
    # last NaN, or for a window of -inf only its first element inside the input, which is why it is told the
    # padding; an element picked by several overlapping windows receives the sum. The indices name the same
    # elements (autograd.max_pool_choice), so the two paths agree.
    widths = tuple((before, after) for before, after in widths)
    y = autograd.max_pool(padded, kernel_size=kernel, stride=stride, dilation=dilation, padding=widths)
    if return_indices:
        chosen = autograd.max_pool_choice(padded.data, y.data, kernel, stride, dilation, widths)
        indices = autograd.from_numpy(_max_pool_indices(chosen, x.shape[2:], kernel, stride, dilation, widths))
        return (y.squeeze(0), indices.squeeze(0)) if unbatched else (y, indices)
    return y.squeeze(0) if unbatched else y


def _max_pool_indices(chosen: np.ndarray, spatial: tuple, kernel: tuple, stride: tuple, dilation: tuple,
                      widths: tuple) -> np.ndarray:
    """int64 (N, C, *counts): for each window, the flat index into its (unpadded) input plane of the element
    at kernel offset `chosen` (row-major; autograd.max_pool_choice). Integer results, computed with numpy."""
    counts = chosen.shape[2:]
    total = math.prod(kernel)
    # Input coordinates along each axis: window start * stride + offset * dilation - padding; the flat index
    # sums coordinate * the axis's stride within a plane
    offsets = np.array(list(np.ndindex(*kernel)), dtype=np.int64).reshape(-1, len(kernel))
    nowhere = chosen == total  # windows with no tap inside the input (a dilated window over a 1-element input)
    missing = bool(nowhere.any())
    indices = np.zeros(chosen.shape, dtype=np.int64)
    for i, (count, s, d, (before, _)) in enumerate(zip(counts, stride, dilation, widths)):
        start = (np.arange(count) * s - before).reshape((-1,) + (1,) * (len(counts) - 1 - i))
        coordinate = start + np.take(offsets[:, i] * d, np.minimum(chosen, total - 1))
        if missing:
            # PyTorch's index there: its loop's start, the first tap at or after 0 along each axis (the
            # value is -inf and the index is past the input's end; no gradient goes anywhere)
            coordinate = np.where(nowhere, np.where(start < 0, start + (-start + d - 1) // d * d, start), coordinate)
        indices += coordinate * math.prod(spatial[i + 1:])
    return indices


def max_pool1d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """The maximum over each window along the last axis of (N, C, L); padding counts as -inf.
    With return_indices=True, `(output, indices)`: indices (int64, no gradient) of the chosen elements along L,
    for `max_unpool1d`."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, 1, "max_pool1d", return_indices)


def max_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """The maximum over each kH x kW window of (N, C, H, W); stride defaults to the kernel size and padding
    counts as -inf (it is never the maximum).

    With return_indices=True, `(output, indices)`: indices (int64, no gradient) of the chosen elements as flat
    positions `h * W + w` in each (unpadded) input plane, the first maximum of each window, as PyTorch gives
    them to `max_unpool2d`:

        >>> import autograd
        >>> x = autograd.tensor([[[[1.0, 3.0], [3.0, 2.0]]]])
        >>> max_pool2d(x, 2, return_indices=True)[1].tolist()
        [[[[1]]]]
    """
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, 2, "max_pool2d", return_indices)


def _max_unpool(input: Tensor, indices: Any, kernel_size: Any, stride: Any, padding: Any, output_size: Any,
                nd: int, op: str) -> Tensor:
    x = _tensor(input)
    idx = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
    if x.ndim not in (nd + 1, nd + 2):
        spatial = "L" if nd == 1 else "H, W"
        raise OpError(f"{op}: expected an input of shape (N, C, {spatial}) or (C, {spatial}), got {x.shape}")
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must be integers (from max_pool{nd}d(..., return_indices=True)), got "
                        f"dtype {idx.dtype}")
    if idx.shape != x.shape:
        raise OpError(f"{op}: indices of shape {idx.shape} do not match the input of shape {x.shape}")
    kernel = _ntuple(kernel_size, nd, "kernel_size", op)
    stride = kernel if stride is None else _ntuple(stride, nd, "stride", op)
    pads = _ntuple(padding, nd, "padding", op)
    _positive(kernel, "kernel_size", op)
    _positive(stride, "stride", op)
    _positive(pads, "padding", op, allow_zero=True)
    default = tuple((n - 1) * s + k - 2 * p for n, k, s, p in zip(x.shape[-nd:], kernel, stride, pads))
    if output_size is None:
        size = default
    else:
        size = tuple(int(v) for v in output_size)
        if len(size) == nd + 2:
            size = size[-nd:]
        if len(size) != nd:
            raise OpError(f"{op}: output_size must have {nd} or {nd + 2} elements, got {output_size!r}")
        for d, (got, want, s) in enumerate(zip(size, default, stride)):
            if not want - s < got < want + s:
                raise OpError(f"{op}: invalid output_size {size}: dim {d} must be between {want - s} and "
                                 f"{want + s} (exclusive) for an input of shape {x.shape} with kernel_size "
                                 f"{kernel}, stride {stride}, padding {pads}")
    if any(v <= 0 for v in size):
        raise OpError(f"{op}: the output size {size} must be positive (input shape {x.shape}, kernel_size "
                         f"{kernel}, stride {stride}, padding {pads})")
    unbatched = x.ndim == nd + 1
    if unbatched:
        x, idx = x.unsqueeze(0), idx[None]
    n, c = x.shape[:2]
    plane = math.prod(size)
    flat = idx.reshape(n, c, math.prod(idx.shape[2:]))
    if flat.size and (flat.min() < 0 or flat.max() >= plane):
        bad = flat[(flat < 0) | (flat >= plane)].flat[0]
        raise OpIndexError(f"{op}: index {bad} is out of range for an output plane of size {size} "
                         f"(expected 0 <= index < {plane}); check output_size")
    # out[n, c, indices[n, c, k]] = input[n, c, k]: an assignment into zeros, differentiable in the input (a
    # repeated index is written twice and only the last write, which lands, receives the gradient)
    target = (np.arange(n)[:, None, None], np.arange(c)[None, :, None], flat)
    out = autograd.zeros(n, c, plane, dtype=x.dtype)
    out[target] = x.reshape(n, c, flat.shape[2])
    out = out.reshape(n, c, *size)
    return out.squeeze(0) if unbatched else out


def max_unpool1d(input: Tensor, indices: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 output_size: Any = None) -> Tensor:
    """The partial inverse of max_pool1d: zeros of length `(L - 1) * stride - 2 * padding + kernel_size` (or
    `output_size`), with each input value put back at its index from `max_pool1d(..., return_indices=True)`."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 1, "max_unpool1d")


def max_unpool2d(input: Tensor, indices: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 output_size: Any = None) -> Tensor:
    """The partial inverse of max_pool2d: a zero (N, C, H_out, W_out) plane with each input value put back at
    the flat index `h * W_out + w` that `max_pool2d(..., return_indices=True)` returned; the output size is
    `(H - 1) * stride - 2 * padding + kernel_size` per axis, or `output_size` (which picks among the sizes a
    pooling could have come from).

        >>> import autograd
        >>> y, i = max_pool2d(autograd.tensor([[[[1.0, 3.0], [3.0, 2.0]]]]), 2, return_indices=True)
        >>> max_unpool2d(y, i, 2).tolist()
        [[[[0.0, 3.0], [0.0, 0.0]]]]
    """
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 2, "max_unpool2d")


def _avg_pool(input: Tensor, kernel_size: Any, stride: Any, padding: Any, ceil_mode: bool,
              count_include_pad: bool, divisor_override: int | None, nd: int, op: str) -> Tensor:
    x = _tensor(input)
    unbatched = x.ndim == nd + 1
    if unbatched:
        x = x.unsqueeze(0)
    spatial = x.shape[2:]
    columns, out_shape, kernel, step, widths = _pool_columns(x, kernel_size, stride, padding, 1, ceil_mode, 0.0,
                                                             nd, op)
    total = columns.sum(dim=2).reshape(*columns.shape[:2], *out_shape)
    if divisor_override is not None:
        if not isinstance(divisor_override, (int, np.integer)) or divisor_override == 0:
            raise OpError(f"{op}: divisor_override must be a nonzero integer, got {divisor_override!r}")
        y = total / divisor_override
    else:
        # How many elements each window averages: the declared padding counts when count_include_pad, the
        # extra overhang of ceil_mode never does (PyTorch's rule). A small constant, built with numpy.
        declared = _ntuple(padding, nd, "padding", op)
        counted = np.zeros(tuple(n + a + b for n, (a, b) in zip(spatial, widths)), dtype=x.dtype)
        inner = tuple(slice(a - p, a + n + p) if count_include_pad else slice(a, a + n)
                      for n, (a, _), p in zip(spatial, widths, declared))
        counted[inner] = 1
        counts = autograd.unfold.forward(counted, kernel_size=kernel, stride=step, dilation=(1,) * nd)
        counts = counts.sum(axis=tuple(range(-nd, 0)))
        y = total / counts if np.any(counts != math.prod(kernel)) else total / math.prod(kernel)
    return y.squeeze(0) if unbatched else y


def avg_pool1d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """The mean over each window along the last axis of (N, C, L)."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1, "avg_pool1d")


def avg_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """The mean over each kH x kW window of (N, C, H, W); zero padding counts in the mean by default
    (count_include_pad=True, as in PyTorch)."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 2,
                     "avg_pool2d")


def _adaptive_avg_pool(input: Tensor, output_size: Any, nd: int, op: str) -> Tensor:
    x = _tensor(input)
    if x.ndim not in (nd + 1, nd + 2):
        spatial = "L" if nd == 1 else "H, W"
        raise OpError(f"{op}: expected an input of shape (N, C, {spatial}) or (C, {spatial}), got {x.shape}")
    sizes = (output_size,) * nd if isinstance(output_size, int) or output_size is None else tuple(output_size)
    if len(sizes) != nd:
        raise OpError(f"{op}: output_size must be an int or a tuple of {nd}, got {output_size!r}")
    spatial = x.shape[-nd:]
    sizes = tuple(n if s is None else int(s) for s, n in zip(sizes, spatial))
    _positive(sizes, "output_size", op, allow_zero=True)
    if 0 in spatial:
        raise OpError(f"{op}: the input of shape {x.shape} is empty in a pooled dim: a window would average "
                         "nothing (only the batch and channel dims may be empty)")
    # Separable: average over the windows of one axis at a time. (Not a product with a constant averaging
    # matrix: its zeros would turn an infinite gradient into inf * 0 = nan outside the windows.)
    for axis, (n, out) in enumerate(zip(spatial, sizes)):
        dim = x.ndim - nd + axis
        if n == out:
            continue
        if out == 0:  # no windows (PyTorch allows an output size of 0)
            x = x[(slice(None),) * dim + (slice(0, 0),)]
            continue
        if n % out == 0:  # windows of n / out that tile the axis
            x = x.reshape(*x.shape[:dim], out, n // out, *x.shape[dim + 1:]).mean(dim=dim + 1)
            continue
        # window i covers positions floor(i n / out) .. ceil((i + 1) n / out) - 1, PyTorch's windows (they may
        # overlap): gathered as (out, width), the positions past a shorter window's end selected away
        starts = np.arange(out) * n // out
        ends = -(-(np.arange(out) + 1) * n // out)
        positions = starts[:, None] + np.arange(int((ends - starts).max()))
        inside = (positions < ends[:, None]).reshape(positions.shape + (1,) * (x.ndim - dim - 1))
        windows = x[(slice(None),) * dim + (np.minimum(positions, n - 1),)]
        total = autograd.where(inside, windows, 0.0).sum(dim=dim + 1)
        x = total / (ends - starts).astype(x.dtype).reshape((out,) + (1,) * (x.ndim - dim - 1))
    return x


def adaptive_avg_pool1d(input: Tensor, output_size: Any) -> Tensor:
    """Average pooling to a fixed output length: output i averages input positions floor(i L / out) to
    ceil((i + 1) L / out) (PyTorch's windows)."""
    return _adaptive_avg_pool(input, output_size, 1, "adaptive_avg_pool1d")


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """Average pooling to a fixed output size (H_out, W_out) whatever the input size; `(1, 1)` is global
    average pooling. An entry None keeps that input size."""
    return _adaptive_avg_pool(input, output_size, 2, "adaptive_avg_pool2d")


# ---------------------------------------------------------------------------------------------------------------
# Normalisation, dropout, embedding
# ---------------------------------------------------------------------------------------------------------------
def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel (dim 1) of (N, C, *) with its statistics, then scale and shift:

        y = (x - mean) / sqrt(var + eps) * weight + bias

    In training (or without running statistics) mean and var are the batch's, the variance biased (/ n); the
    running estimates are updated in place with the unbiased variance (/ (n - 1)):
    running = (1 - momentum) running + momentum batch. In evaluation the running estimates are used.
    """
    x = _tensor(input)
    if x.ndim < 2:
        raise OpError(f"batch_norm: expected an input with at least 2 dims (N, C, ...), got shape {x.shape}")
    channels = x.shape[1]
    shape = (1, channels) + (1,) * (x.ndim - 2)
    axes = (0, *range(2, x.ndim))
    use_batch = training or running_mean is None or running_var is None
    if use_batch and x.data.size == 0:
        # an empty batch: nothing to normalise, and the running statistics stay as they are (PyTorch's rule)
        y = x
    elif use_batch:
        count = x.data.size // channels
        if count <= 1:
            raise OpError(f"batch_norm: expected more than 1 value per channel when training, got input of "
                             f"shape {x.shape}")
        mean = x.mean(dim=axes, keepdim=True)
        centered = x - mean
        var = (centered * centered).mean(dim=axes, keepdim=True)
        if training and running_mean is not None and running_var is not None:
            factor = momentum
            with autograd.no_grad():
                batch_mean = mean.data.reshape(channels)
                unbiased = var.data.reshape(channels) * (count / (count - 1))
                running_mean.mul_(1 - factor).add_(np.asarray(batch_mean * factor, dtype=running_mean.dtype))
                running_var.mul_(1 - factor).add_(np.asarray(unbiased * factor, dtype=running_var.dtype))
        y = centered * (var + eps).rsqrt()
    else:
        y = (x - running_mean.reshape(shape)) * (running_var.reshape(shape) + eps).rsqrt()
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def layer_norm(input: Tensor, normalized_shape: Any, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise over the last len(normalized_shape) dims of each sample (biased variance), then scale and
    shift elementwise: y = (x - mean) / sqrt(var + eps) * weight + bias."""
    x = _tensor(input)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if x.shape[x.ndim - len(shape):] != shape or x.ndim < len(shape):
        raise OpError(f"layer_norm: the input of shape {x.shape} does not end with normalized_shape {shape}")
    if weight is not None and bias is not None and len(shape) and tuple(weight.shape) == tuple(bias.shape) == shape:
        return autograd.layer_norm(x, weight, bias, eps=eps)  # one node (autograd.ops.layer_norm)
    axes = tuple(range(-len(shape), 0))
    mean = x.mean(dim=axes, keepdim=True)
    centered = x - mean
    var = (centered * centered).mean(dim=axes, keepdim=True)
    y = centered * (var + eps).rsqrt()
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False, *,
            generator: autograd.Generator | None = None) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) (inverted dropout), so the
    expectation is unchanged and evaluation needs no rescaling. A fresh mask is drawn on every call, from
    `generator` (ours: PyTorch's F.dropout has none), else from the global generator (autograd.manual_seed)."""
    if not 0 <= p <= 1:
        raise OpError(f"dropout: p must be a probability in [0, 1], got {p}")
    x = _tensor(input)
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0.0
    keep = autograd.rand(x.shape, generator=generator, dtype=autograd.float64) >= p  # (float64: p exactly)
    # selected, not multiplied by a 0/1 mask: a dropped element is 0 and gets gradient 0 even when it (or its
    # gradient) is infinite, where inf * 0 would make a nan
    return autograd.where(keep, x * (1.0 / (1.0 - p)), 0.0)


def embedding(input: Any, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of `weight` picked by integer indices: out[..., :] = weight[input[...], :]. The gradient adds up
    in the rows that were picked (several times for a repeated index); the `padding_idx` row gets none.

    `max_norm`: before the lookup, every row that is looked up and whose `norm_type`-norm exceeds max_norm is
    rescaled *in place in weight* (outside the graph) by `max_norm / (norm + 1e-7)`, as PyTorch does; weight
    must then not be needed by a backward pass recorded earlier. `scale_grad_by_freq`: each row's gradient is
    divided by how often its index occurs in `input`. `sparse=True` (sparse gradients) is not supported.

        >>> import autograd
        >>> w = autograd.tensor([[3.0, 4.0], [0.3, 0.4]])
        >>> embedding(autograd.tensor([0]), w, max_norm=1.0).tolist(), w[0].tolist()  # row 0 had norm 5
        ([[0.6000000238418579, 0.800000011920929]], [0.6000000238418579, 0.800000011920929])
    """
    if sparse:
        raise NotImplementedError("embedding: sparse=True (sparse gradients) is not supported; gradients are "
                                  "always dense, use sparse=False")
    idx = np.asarray(input.data if isinstance(input, Tensor) else input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {idx.dtype}")
    if weight.ndim != 2:
        raise OpError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape {weight.shape}")
    num = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= num):
        bad = idx[(idx < 0) | (idx >= num)].flat[0]
        raise OpIndexError(f"embedding: index {bad} is out of range for an embedding with {num} rows "
                         f"(expected 0 <= index < {num})")
    if padding_idx is not None and not -num <= padding_idx < num:
        raise OpError(f"embedding: padding_idx {padding_idx} must be within num_embeddings ({num})")
    if max_norm is not None:
        _embedding_renorm_(weight, idx, max_norm, norm_type)
    out = weight[idx]
    if scale_grad_by_freq and idx.size:
        _, where, counts = np.unique(idx, return_inverse=True, return_counts=True)
        if counts.max() > 1:
            # same values, gradient divided by the index's frequency: out + (out - out) / count, the difference
            # being exactly zero but carrying the scaled gradient
            scale = (1.0 / counts)[where].reshape(*idx.shape, 1).astype(out.dtype)
            fixed = out.detach()
            out = fixed + (out - fixed) * scale
    if padding_idx is not None:
        padding_idx = padding_idx % num
        mask = (idx == padding_idx)[..., None]
        if mask.any():
            out = autograd.where(mask, out.detach(), out)  # same values, no gradient to the padding row
    return out


def _embedding_renorm_(weight: Tensor, idx: np.ndarray, max_norm: float, norm_type: float) -> None:
    """Rescale in place (no gradient) the rows of weight picked by idx whose norm exceeds max_norm."""
    if not max_norm >= 0:
        raise OpError(f"embedding: max_norm must be a non-negative number, got {max_norm}")
    rows = np.unique(idx)
    if not rows.size:
        return
    values = weight.data[rows]
    norms = np.linalg.norm(values, ord=norm_type, axis=1).astype(np.float64)
    over = norms > max_norm
    if over.any():
        rows, values, norms = rows[over], values[over], norms[over]
        scale = (max_norm / (norms + 1e-7)).astype(weight.dtype)[:, None]
        with autograd.no_grad():
            weight[rows] = values * scale


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """int64 one-hot encoding with a new last dim of size num_classes (max + 1 when -1)."""
    idx = np.asarray(tensor.data if isinstance(tensor, Tensor) else tensor)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expected an integer tensor, got dtype {idx.dtype}")
    if num_classes == -1:
        num_classes = int(idx.max()) + 1 if idx.size else 0
    if idx.size and (idx.min() < 0 or idx.max() >= num_classes):
        bad = idx[(idx < 0) | (idx >= num_classes)].flat[0]
        raise OpError(f"one_hot: class {bad} is out of range for num_classes={num_classes}")
    return autograd.from_numpy((idx[..., None] == np.arange(num_classes)).astype(np.int64))


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad with PyTorch's flat tuple, last dim first: (left, right) pads the last dim, (left, right, top,
    bottom) the last two, and so on. Modes: 'constant' (with `value`, default 0; negative amounts crop),
    'reflect', 'replicate' and 'circular' (the last three are gathers, so their gradient adds up where an
    element was copied several times)."""
    x = _tensor(input)
    pad = [int(p) for p in pad]
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise OpError(f"pad: the padding must have an even length of at most 2 * {x.ndim} for a tensor of "
                         f"shape {x.shape}, got {tuple(pad)}")
    pairs = [(pad[2 * i], pad[2 * i + 1]) for i in range(len(pad) // 2)]  # last dim first
    widths = [(0, 0)] * (x.ndim - len(pairs)) + pairs[::-1]
    if mode == "constant":
        crop = tuple(slice(-min(a, 0), n + min(b, 0)) for (a, b), n in zip(widths, x.shape))
        if any(a < 0 or b < 0 for a, b in widths):
            x = x[crop]
        positive = tuple((max(a, 0), max(b, 0)) for a, b in widths)
        if any(a or b for a, b in positive):
            x = autograd.pad(x, pad_width=positive, value=0.0 if value is None else value)
        return x
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', "
                                  f"got {mode!r}")
    # Negative amounts crop, as in PyTorch: reflect and replicate read positions -before ... n + after - 1
    # of the original dim (a crop on one side does not change what the other side mirrors or repeats);
    # circular crops first and wraps around what is left.
    for axis, (before, after) in enumerate(widths):
        if not before and not after:
            continue
        n = x.shape[axis]
        if mode == "circular":
            start, kept = -min(before, 0), n + min(before, 0) + min(after, 0)
            if kept < 0 or max(before, 0) > kept or max(after, 0) > kept:
                raise OpError(f"pad: circular padding {(before, after)} of a dim of size {n} needs at least "
                                 f"as many elements left after cropping as it wraps around ({max(kept, 0)} left)")
            source = start + np.arange(-max(before, 0), kept + max(after, 0)) % max(kept, 1)
        else:
            if n + before + after < 1:
                raise OpError(f"pad: {mode} padding {(before, after)} leaves nothing of a dim of size {n}")
            positions = np.arange(-before, n + after)
            if mode == "replicate":
                source = np.clip(positions, 0, n - 1)
            else:  # reflect: mirror without repeating the edge element
                if before >= n or after >= n:
                    raise OpError(f"pad: reflect padding {(before, after)} must be smaller than the dim of "
                                     f"size {n}")
                period = 2 * (n - 1)
                source = np.abs(positions) % period if period else np.zeros_like(positions)
                source = np.where(source >= n, period - source, source)
        if len(source) == n and (source == np.arange(n)).all():
            continue
        x = x[(slice(None),) * axis + (source,)]
    return x


# ---------------------------------------------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------------------------------------------
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0); relu'(0) = 0 as in PyTorch."""
    return autograd.relu(_tensor(input))


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x for x > 0, negative_slope * x otherwise."""
    x = _tensor(input)
    return autograd.where(x.data > 0, x, x * negative_slope)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, alpha (e^x - 1) otherwise."""
    x = _tensor(input)
    positive = ~(x.data <= 0)  # NaN counts as positive: its gradient passes (PyTorch's elu_backward: x <= 0 ? ...)
    # expm1 only sees the non-positive part: e^x of a large unused x would overflow and poison the gradient
    return autograd.where(positive, x, alpha * autograd.where(positive, 0.0, x).expm1())


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x) (also called Swish)."""
    x = _tensor(input)
    return x * x.sigmoid()


swish = silu


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x Phi(x) with Phi the standard normal CDF: 0.5 x (1 + erf(x / sqrt 2)); with approximate='tanh',
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    x = _tensor(input)
    if approximate in ("none", "tanh"):
        return autograd.gelu(x, approximate=approximate)  # one node (autograd.ops.gelu)
    raise OpError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + e^-x), computed without overflow."""
    return autograd.sigmoid(_tensor(input))


def tanh(input: Tensor) -> Tensor:
    return autograd.tanh(_tensor(input))


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + e^(beta x)) / beta, exact for every x (PyTorch switches to x above `threshold`; the
    difference is below e^-threshold)."""
    x = _tensor(input)
    return autograd.softplus(x) if beta == 1 else autograd.softplus(x * beta) / beta


def logsigmoid(input: Tensor) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), finite for any x."""
    return -autograd.softplus(-_tensor(input))


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """x clipped to [min_val, max_val]. The gradient passes strictly inside (PyTorch's rule: 0 at the bounds,
    where clamp's passes): one `where` between x and its clipped values, held constant."""
    x = _tensor(input)
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) must not be greater than max_val ({max_val})")
    d = x.data
    # "not at or beyond a bound", not "strictly inside": a NaN input passes its gradient, as in PyTorch
    # (hardtanh_backward: x <= min || x >= max ? 0 : g); its output is NaN either way
    return autograd.where(~((d <= min_val) | (d >= max_val)), x, np.clip(d, min_val, max_val))


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6): hardtanh(x, 0, 6), with its gradient (0 at 0 and at 6)."""
    return hardtanh(input, 0.0, 6.0)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """scale * elu(x, alpha) with Klambauer et al.'s self-normalising constants (alpha 1.6733, scale 1.0507)."""
    return _SELU_SCALE * elu(input, _SELU_ALPHA)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, alpha (e^(x / alpha) - 1) otherwise (continuously differentiable for any alpha)."""
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0 (the negative part divides by it)")
    x = _tensor(input)
    positive = ~(x.data <= 0)  # NaN counts as positive, as in elu
    return autograd.where(positive, x, alpha * (autograd.where(positive, 0.0, x) / alpha).expm1())


def softsign(input: Tensor) -> Tensor:
    """x / (1 + |x|)."""
    x = _tensor(input)
    return x / (1 + x.abs())


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """relu6(x + 3) / 6: 0 below -3, 1 above 3, linear between; gradient 1/6 strictly between (PyTorch's)."""
    x = _tensor(input)
    d = x.data
    # outside (-3, 3) a constant: 0 or 1, and NaN at a NaN input (PyTorch's; d >= 3 would give 0 there)
    return autograd.where((d > -3) & (d < 3), (x + 3) / 6, np.clip((d + 3) / 6, 0, 1).astype(x.dtype))


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """x relu6(x + 3) / 6 (MobileNetV3). PyTorch's gradient: 0 up to -3, x/3 + 1/2 strictly between -3 and 3,
    1 from 3 on."""
    x = _tensor(input)
    d = x.data
    # The quadratic only sees x strictly between -3 and 3: an inf or NaN in its unused branch would turn the 0
    # gradient there into 0 * inf = nan. A NaN input takes the branch x (its gradient passes, as in PyTorch).
    middle = (d > -3) & (d < 3)
    inner = autograd.where(middle, x, 0.0)
    return autograd.where(d <= -3, 0.0, autograd.where(middle, inner * (inner + 3) / 6, x))


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x tanh(softplus(x)) (Misra 2019), softplus computed without overflow."""
    x = _tensor(input)
    return x * autograd.softplus(x).tanh()


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """The gated linear unit: a * sigmoid(b), with a and b the two halves of x along dim."""
    x = _tensor(input)
    if x.ndim == 0:
        raise ValueError("glu: a 0-d tensor cannot be halved")
    if not -x.ndim <= dim < x.ndim:
        raise IndexError(f"glu: dim {dim} is out of range for a tensor with {x.ndim} dims")
    n = x.shape[dim]
    if n % 2:
        raise ValueError(f"glu: the halved dim must have an even size, but dim {dim} has size {n} (shape {x.shape})")
    a, b = x.narrow(dim, 0, n // 2), x.narrow(dim, n // 2, n // 2)
    return a * b.sigmoid()


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    """softmax(-x) along dim: the smallest entries get the most weight."""
    x = _tensor(input)
    if dtype is not None:
        x = x.astype(dtype)
    return autograd.softmax(-x, _softmax_dim(x, dim, "softmin"))


def tanhshrink(input: Tensor) -> Tensor:
    """x - tanh(x)."""
    x = _tensor(input)
    return x - x.tanh()


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """x where x > threshold, else value (the gradient passes where x > threshold)."""
    x = _tensor(input)
    return autograd.where(x.data > threshold, x, value)


def _softmax_dim(x: Tensor, dim: int | None, op: str) -> int:
    if dim is None:  # PyTorch's legacy implicit choice, with its warning
        warnings.warn(f"{op}: implicit dimension choice is deprecated; pass dim=... explicitly", stacklevel=3)
        return 0 if x.ndim in (0, 1, 3) else 1
    return dim


def softmax(input: Tensor, dim: int | None = None) -> Tensor:
    """exp(x_i) / sum_j exp(x_j) along `dim`, shifted by the max for stability."""
    x = _tensor(input)
    return autograd.softmax(x, _softmax_dim(x, dim, "softmax"))


def log_softmax(input: Tensor, dim: int | None = None) -> Tensor:
    """x_i - logsumexp(x) along `dim`: finite even for logits of magnitude 1000."""
    x = _tensor(input)
    return autograd.log_softmax(x, _softmax_dim(x, dim, "log_softmax"))


# ---------------------------------------------------------------------------------------------------------------
# Distances and normalisation
# ---------------------------------------------------------------------------------------------------------------
def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out: Any = None) -> Tensor:
    """x / max(||x||_p, eps) along dim (PyTorch's: the norm is clamped, with clamp's gradient)."""
    if out is not None:
        raise TypeError("normalize: out= is not supported")
    x = _tensor(input)
    return x / autograd.norm(x, p, dim, keepdim=True).clamp(min=eps)


def _at_least_no_grad(norm: Tensor, eps: float) -> Tensor:
    """max(norm, eps) in value, with the gradient of norm itself: PyTorch clamps these norms in place under
    no_grad, so that a tiny norm is floored without cutting its gradient."""
    floor = np.maximum(norm.data, eps) - norm.data
    return norm + floor if floor.any() else norm


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 x2) / (max(||x1||, eps) max(||x2||, eps)) along dim (the inputs broadcast). Each input is divided
    by its norm first, as PyTorch does: the result stays within [-1, 1]."""
    a, b = _tensor(x1), _tensor(x2)
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise OpError(f"cosine_similarity: shapes {a.shape} and {b.shape} cannot be broadcast together") from None
    a, b = a.broadcast_to(shape), b.broadcast_to(shape)
    na = _at_least_no_grad(autograd.norm(a, 2, dim, keepdim=True), eps)
    nb = _at_least_no_grad(autograd.norm(b, 2, dim, keepdim=True), eps)
    return ((a / na) * (b / nb)).sum(dim)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """||x1 - x2 + eps||_p over the last dim (the inputs broadcast; eps keeps the norm away from its kink)."""
    a, b = _tensor(x1), _tensor(x2)
    difference = a - b + eps
    if difference.ndim == 0:
        return autograd.norm(difference, p)
    return autograd.norm(difference, p, -1, keepdim)


# ---------------------------------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------------------------------
def _reduce(loss: Tensor, reduction: str, op: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise OpError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _pair_up(input: Any, target: Any, op: str) -> tuple[Tensor, Tensor]:
    """Input and target as float tensors; warn as PyTorch does when broadcasting will pair them up oddly."""
    x, y = _float_tensor(input), _float_tensor(target)
    if x.shape != y.shape:
        try:
            np.broadcast_shapes(x.shape, y.shape)
        except ValueError:
            raise OpError(f"{op}: the input of shape {x.shape} and the target of shape {y.shape} cannot be "
                             "broadcast together") from None
        warnings.warn(f"{op}: the target's shape {y.shape} differs from the input's shape {x.shape}; they will be "
                      "broadcast together, which is likely not what you want (reshape one of them)", stacklevel=3)
    return x, y


def _class_weights(weight: Any, x: Tensor, class_dim: int, op: str) -> np.ndarray | None:
    """A loss's class weights as an array in x's dtype, checked: a vector of one weight per class (PyTorch's
    rule). Too short a vector used to fail as a bare numpy IndexError, too long a one went unnoticed."""
    if weight is None:
        return None
    w = np.asarray(weight.data if isinstance(weight, Tensor) else weight)
    classes = x.shape[class_dim]
    if w.shape != (classes,):
        count = f"{w.shape[0]} entries" if w.ndim == 1 else f"shape {w.shape}"
        raise OpError(f"{op}: weight must hold one entry per class, but it has {count} and the input of shape "
                         f"{x.shape} has {classes} classes (dim {class_dim})")
    return w.astype(x.dtype, copy=False)


def _elementwise_weight(weight: Any, x: Tensor, name: str, op: str) -> Any:
    """`weight` (or `pos_weight`), checked to broadcast to the input's shape, as PyTorch requires."""
    if weight is None:
        return None
    shape = weight.shape if isinstance(weight, Tensor) else np.shape(weight)
    try:
        fits = np.broadcast_shapes(shape, x.shape) == x.shape
    except ValueError:
        fits = False
    if not fits:
        raise OpError(f"{op}: {name} of shape {tuple(shape)} cannot be broadcast to the input's shape {x.shape} "
                         "(its dims must match the input's trailing dims, or be 1)")
    return weight


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error: mean((x - y)^2)."""
    x, y = _pair_up(input, target, "mse_loss")
    if reduction not in ("mean", "sum", "none"):
        _reduce(x, reduction, "mse_loss")  # (raises, naming the op)
    return autograd.mse_loss(x, y, reduction=reduction)  # one node, loss and reduction


def l1_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean absolute error: mean(|x - y|)."""
    x, y = _pair_up(input, target, "l1_loss")
    return _reduce((x - y).abs(), reduction, "l1_loss")


def huber_loss(input: Tensor, target: Any, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """0.5 d^2 where |d| < delta, delta (|d| - delta/2) elsewhere, for d = x - y."""
    if delta <= 0:
        raise OpError(f"huber_loss: delta must be positive, got {delta}")
    x, y = _pair_up(input, target, "huber_loss")
    d = x - y
    a = d.abs()
    # The quadratic only sees d where it is used (|d| < delta), 0 elsewhere: its unused gradient there is 0,
    # and 0 * d would be 0 * inf = nan at d = +-inf (PyTorch's gradient is delta sign(d)). As hardswish; a NaN d
    # takes the quadratic, whose gradient d passes the NaN on, as PyTorch's (its backward's last case is g d).
    small = ~(a.data >= delta)
    q = autograd.where(small, d, 0.0)
    linear = a - 0.5 * delta
    loss = autograd.where(small, 0.5 * q * q, linear if delta == 1 else delta * linear)  # (delta = 1: one node less)
    return _reduce(loss, reduction, "huber_loss")


def smooth_l1_loss(input: Tensor, target: Any, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, |d| - beta/2 elsewhere (Huber divided by beta; L1 when beta = 0)."""
    if beta < 0:
        raise OpError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    x, y = _pair_up(input, target, "smooth_l1_loss")
    d = x - y
    a = d.abs()
    if beta == 0:
        return _reduce(a, reduction, "smooth_l1_loss")
    small = ~(a.data >= beta)  # (NaN takes the quadratic, as in huber_loss)
    q = autograd.where(small, d, 0.0)  # the quadratic sees only its own d: no 0 * inf = nan (see huber_loss)
    loss = autograd.where(small, (0.5 / beta) * q * q, a - 0.5 * beta)
    return _reduce(loss, reduction, "smooth_l1_loss")


def log_cosh_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """mean(log(cosh(x - y))), computed as d + softplus(-2d) - log 2, which never overflows
    (cosh(d) itself overflows float64 for |d| > 710); its gradient is tanh(d)."""
    x, y = _pair_up(input, target, "log_cosh_loss")
    d = x - y
    return _reduce(d + autograd.softplus(-2.0 * d) - math.log(2.0), reduction, "log_cosh_loss")


def binary_cross_entropy(input: Tensor, target: Any, weight: Any = None, reduction: str = "mean") -> Tensor:
    """-(y log p + (1 - y) log(1 - p)) for probabilities p in [0, 1]; each log is clamped at -100 as in
    PyTorch, so p = 0 or 1 gives a finite loss, and the gradient there is PyTorch's,
    (p - y) / max(p (1 - p), 1e-12) (see autograd.binary_cross_entropy)."""
    p, y = _float_tensor(input), _float_tensor(target)
    if p.shape != y.shape:
        raise OpError(f"binary_cross_entropy: the target's shape {y.shape} must match the input's shape "
                         f"{p.shape}")
    if p.data.size and not (np.min(p.data) >= 0 and np.max(p.data) <= 1):  # (NaN fails too)
        raise OpError("binary_cross_entropy: all elements of the input must be probabilities in [0, 1] "
                         f"(got values from {np.min(p.data):.4g} to {np.max(p.data):.4g}); for logits use "
                         "binary_cross_entropy_with_logits")
    weight = _elementwise_weight(weight, p, "weight", "binary_cross_entropy")
    loss = autograd.binary_cross_entropy(p, y)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(input: Tensor, target: Any, weight: Any = None, reduction: str = "mean",
                                     pos_weight: Any = None) -> Tensor:
    """Binary cross-entropy of sigmoid(x), computed from the logits x without ever forming sigmoid(x):

        loss = (1 - y) x + (1 + (pos_weight - 1) y) softplus(-x)

    since -log sigmoid(x) = softplus(-x) and -log(1 - sigmoid(x)) = x + softplus(-x). Finite for any x."""
    x, y = _float_tensor(input), _float_tensor(target)
    if x.shape != y.shape:
        raise OpError(f"binary_cross_entropy_with_logits: the target's shape {y.shape} must match the input's "
                         f"shape {x.shape}")
    if weight is None and pos_weight is None and reduction in ("mean", "sum", "none"):
        return autograd.binary_cross_entropy_with_logits(x, y, reduction=reduction)  # one node, loss and reduction
    weight = _elementwise_weight(weight, x, "weight", "binary_cross_entropy_with_logits")
    pos_weight = _elementwise_weight(pos_weight, x, "pos_weight", "binary_cross_entropy_with_logits")
    if pos_weight is None:
        loss = autograd.binary_cross_entropy_with_logits(x, y, reduction="none")
    else:
        loss = (1 - y) * x + (1 + (pos_weight - 1) * y) * autograd.softplus(-x)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def _class_targets(input: Tensor, target: Any, ignore_index: int, op: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Class indices as an int64 array, checked against the input's shape and number of classes, and the mask of
    the counted targets (those != ignore_index), or None when all of them count. The common case costs one
    min/max: every target in [0, classes) and ignore_index outside [min, max] means nothing is ignored."""
    idx = np.asarray(target.data if isinstance(target, Tensor) else target)
    if idx.dtype.kind not in "iu":
        hint = (f" (for class probabilities the target must have the input's shape {input.shape})"
                if op == "cross_entropy" else "")
        raise TypeError(f"{op}: class-index targets must be integers, got dtype {idx.dtype}{hint}")
    classes = input.shape[0 if input.ndim == 1 else 1]
    expected = () if input.ndim == 1 else (input.shape[0], *input.shape[2:])
    if idx.shape != expected:
        raise OpError(f"{op}: for an input of shape {input.shape} ({classes} classes in dim "
                         f"{0 if input.ndim == 1 else 1}) the class-index target must have shape {expected}, "
                         f"got {idx.shape}")
    idx = idx.astype(np.int64, copy=False)
    if not idx.size:
        return idx, None
    low, high = idx.min(), idx.max()
    if low >= 0 and high < classes and not low <= ignore_index <= high:
        return idx, None
    counted = idx != ignore_index
    bad = ((idx < 0) | (idx >= classes)) & counted
    if bad.any():
        position = tuple(int(i) for i in np.argwhere(bad)[0])
        raise OpIndexError(f"{op}: target {int(idx[position] if idx.ndim else idx)} at position {position} is out "
                         f"of range for {classes} classes (expected 0 <= target < {classes}, or "
                         f"ignore_index={ignore_index})")
    return idx, counted


def _sample_weights(idx: np.ndarray, counted: np.ndarray | None, weight: Any, reduction: str, dtype: np.dtype,
                    op: str) -> tuple[np.ndarray, float | np.ndarray, float]:
    """How PyTorch weighs the per-sample losses l_n of class-index targets, as coefficients s_n: the loss is
    sum_n s_n l_n ('mean', 'sum') or s_n l_n ('none'), with s_n = weight[t_n] (1 without weights), 0 for an
    ignored target, and for 'mean' divided by the sum of the counted weights, D = sum_n weight[t_n] [t_n counted].

    Returns the targets with ignored ones replaced by class 0 (their s_n is 0, so any class will do), the
    coefficients (one number when they are all equal), and the divisor D ('mean') or 1 ('sum', 'none'). D = 0
    (nothing counted) leaves the s_n undivided: they are all 0, and the caller makes the loss 0/0 = nan."""
    if reduction not in ("mean", "sum", "none"):
        raise OpError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    mean = reduction == "mean"
    if counted is None and weight is None:  # the common case: a plain mean or sum
        return idx, (1.0 / idx.size if mean and idx.size else 1.0), (idx.size if mean else 1)
    safe = idx if counted is None else np.where(counted, idx, 0)
    if weight is None:
        w = counted.astype(dtype)
    else:
        w = np.asarray(weight.data if isinstance(weight, Tensor) else weight, dtype=dtype)[safe]
        w = w if counted is None else w * counted
    if not mean:
        return safe, w, 1
    total = w.sum()
    return safe, (w / total if total else w), total


def nll_loss(input: Tensor, target: Any, weight: Any = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class indices given log-probabilities (N, C) or (N, C, d1, ...):
    loss_n = -weight[t_n] input[n, t_n]; 'mean' divides by the summed weights of the non-ignored targets."""
    x = _float_tensor(input)
    if x.ndim == 0:
        raise OpError("nll_loss: the input must have a class dimension, got a 0-d tensor")
    weight = _class_weights(weight, x, 0 if x.ndim == 1 else 1, "nll_loss")
    idx, counted = _class_targets(x, target, ignore_index, "nll_loss")
    safe, scale, divisor = _sample_weights(idx, counted, weight, reduction, x.dtype, "nll_loss")
    loss = autograd.nll(x, target=safe, scale=scale, axis=0 if x.ndim == 1 else 1, reduce=reduction != "none")
    return loss if divisor else loss + math.nan  # a mean over nothing counted: 0/0 (its gradient is still 0)


def cross_entropy(input: Tensor, target: Any, weight: Any = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between logits (N, C) or (N, C, d1, ...) (or unbatched (C,)) and either class indices
    (N,) / (N, d1, ...) or class probabilities of the input's shape.

    With indices: loss_n = -weight[t_n] log_softmax(x_n)[t_n], and with label_smoothing e the target becomes
    (1 - e) one_hot(t) + e / C. Computed from log_softmax (x - logsumexp(x)), so finite for logits of any size.

    >>> round(cross_entropy(autograd.tensor([[2.0, 0.0], [0.0, 2.0]]), [0, 0]).item(), 4)  # (0.1269 + 2.1269) / 2
    1.1269
    """
    x = _float_tensor(input)
    if not 0.0 <= label_smoothing <= 1.0:
        raise OpError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    if x.ndim == 0:
        raise OpError("cross_entropy: the input must have a class dimension, got a 0-d tensor")
    class_dim = 0 if x.ndim == 1 else 1
    classes = x.shape[class_dim]
    w = _class_weights(weight, x, class_dim, "cross_entropy")
    weight_shape = [1] * x.ndim
    weight_shape[class_dim] = classes
    target_data = target.data if isinstance(target, Tensor) else np.asarray(target)
    if np.asarray(target_data).dtype.kind == "f":  # class probabilities
        t = _float_tensor(target)
        if t.shape != x.shape:
            raise OpError(f"cross_entropy: a probability target must have the input's shape {x.shape}, got "
                             f"{t.shape} (class-index targets must be integers)")
        if label_smoothing > 0:
            t = t * (1 - label_smoothing) + label_smoothing / classes
        logp = autograd.log_softmax(x, class_dim)
        terms = logp * t if w is None else logp * t * w.reshape(weight_shape)
        if reduction == "mean":
            count = x.data.size // classes
            return -terms.sum() / count if count else -terms.sum() * np.nan
        return _reduce(-terms.sum(dim=class_dim), reduction, "cross_entropy")
    idx, counted = _class_targets(x, target_data, ignore_index, "cross_entropy")  # (read target.data once)
    safe, scale, divisor = _sample_weights(idx, counted, w, reduction, x.dtype, "cross_entropy")
    # two nodes: log_softmax and nll, both primitives (see autograd.nll for why they are not fused)
    logp = autograd.log_softmax(x, class_dim)
    loss = autograd.nll(logp, target=safe, scale=scale, axis=class_dim, reduce=reduction != "none")
    if label_smoothing:
        # PyTorch's smoothing term: -sum_c weight_c logp_c / C per sample, ignored samples zeroed, and 'mean'
        # divided by the same D as the nll term (the summed weights of the counted targets)
        smooth = -(logp if w is None else logp * w.reshape(weight_shape)).sum(dim=class_dim)
        if counted is not None:  # (selected: an ignored sample passes no gradient, not even inf * 0 = nan)
            smooth = autograd.where(counted, smooth, 0.0)
        if reduction != "none":
            smooth = smooth.sum() / divisor if divisor else smooth.sum()
        loss = (1 - label_smoothing) * loss + (label_smoothing / classes) * smooth
    return loss if divisor else loss + math.nan  # a mean over nothing counted: 0/0 (its gradient is still 0)


def kl_div(input: Tensor, target: Any, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """Kullback-Leibler divergence with `input` = log q and `target` = p (or log p with log_target=True):
    pointwise p (log p - log q), taken as 0 where p = 0. Use reduction='batchmean' for the true KL
    divergence per sample ('mean' also divides by the number of classes, as in PyTorch)."""
    x, t = _float_tensor(input), _float_tensor(target)
    if x.shape != t.shape:  # broadcast, silently, as PyTorch does; but an error here names kl_div, not `mul`
        try:
            np.broadcast_shapes(x.shape, t.shape)
        except ValueError:
            raise OpError(f"kl_div: the input of shape {x.shape} and the target of shape {t.shape} cannot be "
                             "broadcast together") from None
    if log_target:
        loss = t.exp() * (t - x)
    else:
        positive = t.data > 0
        safe = autograd.where(positive, t, 1.0)   # log only sees positive values: no -inf * 0 in the gradient
        loss = autograd.where(positive, t * safe.log(), 0.0) - t * x
    if reduction == "batchmean":
        return loss.sum() / (x.shape[0] if x.ndim else 1)
    if reduction == "mean":
        warnings.warn("kl_div: reduction='mean' divides the total by the number of elements, not the batch "
                      "size; use reduction='batchmean' for the KL divergence", stacklevel=2)
    return _reduce(loss, reduction, "kl_div")



def _as_float(x: Any) -> Tensor:
    t = x if isinstance(x, Tensor) else autograd.as_tensor(x)
    return t if t.dtype.kind == "f" else t.astype(np.float32)


def gaussian_nll_loss(input: Tensor, target: Any, var: Any, full: bool = False, eps: float = 1e-6,
                      reduction: str = "mean") -> Tensor:
    """The negative log-likelihood of `target` under Gaussians of mean `input` and variance `var` (PyTorch's):

        loss = 0.5 * (log(max(var, eps)) + (input - target)^2 / max(var, eps))   (+ 0.5 log(2 pi) if full)

    `var` has the input's shape (one variance per prediction), or one dim fewer, or size 1 in one dim (shared
    along it), or is a number. As in PyTorch the clamp at eps only changes the value: the gradient with respect
    to var is that of the formula at the clamped value, even below eps (PyTorch clamps in place outside the graph).
    Negative variances are an error."""
    op = "gaussian_nll_loss"
    x, y = _as_float(input), _as_float(target)
    if x.shape != y.shape:  # broadcast silently, as PyTorch does; an error names the loss, not `sub`
        try:
            np.broadcast_shapes(x.shape, y.shape)
        except ValueError:
            raise OpError(f"{op}: the input of shape {x.shape} and the target of shape {y.shape} cannot be "
                             "broadcast together") from None
    if isinstance(var, (int, float)) and not isinstance(var, bool):
        if var < 0:
            raise OpError(f"{op}: var has negative entry/entries (got {var})")
        v = autograd.full(x.shape, float(var), dtype=x.dtype)
    else:
        v = _as_float(var)
        if (v.data < 0).any():
            raise OpError(f"{op}: var has negative entry/entries")
    if v.shape != x.shape:
        if x.shape[:-1] == v.shape:  # one variance per sample, shared by its last dim
            v = v.unsqueeze(-1)
        elif not (x.ndim == v.ndim and sum(b for a, b in zip(x.shape, v.shape) if a != b) == 1):
            raise OpError(f"{op}: var of shape {v.shape} does not fit the input's shape {x.shape} (expected the "
                             "input's shape, its shape without the last dim, or size 1 in one dim)")
    if reduction not in ("mean", "sum", "none"):
        raise OpError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    # value max(var, eps), gradient the identity: (v - c) is exactly 0 for c = v.data and carries v's gradient;
    # c is 0 at var = inf, where inf - inf would make the loss nan (PyTorch's is inf, its gradients 0)
    c = np.where(np.isinf(v.data), 0, v.data)
    clamped = (v - c) + np.maximum(v.data, eps)
    d = x - y
    loss = 0.5 * (clamped.log() + d * d / clamped)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction, op)


def wasserstein_distance(u_values: Any, v_values: Any, u_weights: Any = None, v_weights: Any = None) -> Tensor:
    """The 1-D Wasserstein-1 (earth mover's) distance between two empirical distributions, with the values of
    scipy.stats.wasserstein_distance: the area between their cumulative distribution functions,

        W1(u, v) = integral |U(t) - V(t)| dt = sum_k |U(t_k) - V(t_k)| (t_(k+1) - t_k)

    over the sorted pooled values t_k (weights, if given, make the CDFs weighted). Differentiable in the values:
    the sort is the data's argsort followed by indexing, which is exactly sort's gradient (the order itself is
    piecewise constant), and the CDFs depend on the order only. Differentiable in the weights too: a weighted
    CDF is a cumulative sum of the sorted weights over their total, U(t) = cumsum(w_sorted)[count(u <= t)] / sum w.

    >>> import autograd
    >>> float(wasserstein_distance(autograd.tensor([0.0, 1.0, 3.0]), autograd.tensor([5.0, 6.0, 8.0])))
    5.0
    """
    op = "wasserstein_distance"
    u, v = _as_float(u_values), _as_float(v_values)
    if u.ndim != 1 or v.ndim != 1:
        raise OpError(f"{op}: expected 1-D values, got shapes {u.shape} and {v.shape}")
    if u.shape[0] == 0 or v.shape[0] == 0:
        raise OpError(f"{op}: a distribution cannot be empty (got {u.shape[0]} and {v.shape[0]} values)")
    dtype = np.result_type(u.dtype, v.dtype)
    u, v = u.astype(dtype), v.astype(dtype)
    pooled = autograd.cat([u, v])
    order = np.argsort(pooled.data, kind="mergesort")
    t = pooled[order]                      # the pooled values, sorted: differentiable through the indexing
    widths = t[1:] - t[:-1]
    points = t.data[:-1]
    difference = _cdf(u.data, u_weights, points, op, dtype) - _cdf(v.data, v_weights, points, op, dtype)
    return (widths * autograd.abs(difference)).sum()


def _cdf(values: np.ndarray, weights: Any, points: np.ndarray, op: str, dtype: Any) -> Tensor:
    """The (weighted) empirical CDF of `values` at `points`: the share of the weight at values <= each point
    (differentiable in the weights)."""
    order = np.argsort(values, kind="mergesort")
    count = np.searchsorted(values[order], points, side="right")
    if weights is None:
        return autograd.from_numpy((count / values.size).astype(dtype))
    w = weights if isinstance(weights, Tensor) else autograd.as_tensor(np.asarray(weights, dtype=np.float64))
    w = w.astype(dtype) if w.dtype.kind == "f" else w.astype(np.float64)
    if w.shape != values.shape:
        raise OpError(f"{op}: the weights of shape {w.shape} must match the values' shape {values.shape}")
    if (w.data < 0).any():
        raise OpError(f"{op}: all weights must be non-negative")
    cumulative = autograd.cat([autograd.zeros(1, dtype=w.dtype), autograd.cumsum(w[order], 0)])
    total = cumulative.data[-1]
    if not 0 < total < np.inf:
        raise OpError(f"{op}: the weights must sum to a positive finite value, got {total}")
    return (cumulative[count] / cumulative[-1]).astype(dtype)


# ---------------------------------------------------------------------------------------------------------------
# Attention (issue 16): defined in nn/attention.py, where MultiheadAttention uses them
# ---------------------------------------------------------------------------------------------------------------
from .attention import multi_head_attention_forward, scaled_dot_product_attention  # noqa: E402

__all__ += ["scaled_dot_product_attention", "multi_head_attention_forward", "gaussian_nll_loss",
            "wasserstein_distance"]
