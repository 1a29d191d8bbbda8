"""Convolution layers: `Conv1d` and `Conv2d` (the maths lives in `nn.functional.conv2d`: im2col and a matmul)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from autograd import Tensor

from . import functional as F
from . import init
from ._factory import factory_dtype
from .module import Module, ShapeError
from .parameter import Parameter

__all__ = ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d"]



def _checked_groups(name: str, in_channels: Any, out_channels: Any, groups: Any) -> int:
    """`groups` as an int, once both channel counts are non-negative integers that it divides."""
    for arg, value in (("in_channels", in_channels), ("out_channels", out_channels)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name}: {arg} must be a non-negative integer, got {value!r}")
    groups = F._groups(groups, name)
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels ({out_channels}) must be "
                         f"divisible by groups ({groups})")
    return groups


def _reset_like_pytorch(layer: Module) -> None:
    """PyTorch's default for convolutions: kaiming_uniform_ with a = sqrt(5), i.e. U(-1/sqrt(fan_in),
    1/sqrt(fan_in)) with fan_in = the weight's dim 1 * prod(kernel_size), and the bias with the same bound."""
    init.kaiming_uniform_(layer.weight, a=math.sqrt(5))
    if layer.bias is not None:
        fan_in = layer.weight.shape[1] * math.prod(layer.kernel_size)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(layer.bias, -bound, bound)

class _ConvNd(Module):
    _nd = 0

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device: Any = None, dtype: Any = None) -> None:
        dt = factory_dtype(self, device, dtype)
        super().__init__()
        nd, name = self._nd, type(self).__name__
        groups = _checked_groups(name, in_channels, out_channels, groups)
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(f"{name}: padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', got "
                             f"{padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = F._ntuple(kernel_size, nd, "kernel_size", name)
        self.stride = F._ntuple(stride, nd, "stride", name)
        self.dilation = F._ntuple(dilation, nd, "dilation", name)
        F._positive(self.kernel_size, "kernel_size", name)  # PyTorch refuses these at the first forward: here
        F._positive(self.stride, "stride", name)            # they fail when the layer is built
        F._positive(self.dilation, "dilation", name)
        self.padding = padding if isinstance(padding, str) else F._ntuple(padding, nd, "padding", name)
        # fail now, not at the first forward, on a bad padding string or 'same' with a stride
        self._pads = F._padding_amounts(self.padding, self.kernel_size, self.stride, self.dilation, name)
        self.padding_mode = padding_mode
        self.weight = Parameter(np.zeros((out_channels, in_channels // groups, *self.kernel_size), dtype=dt))
        if bias:
            self.bias = Parameter(np.zeros((out_channels,), dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset_like_pytorch(self)

    def forward(self, input: Tensor) -> Tensor:
        shape, nd = input.shape, self._nd
        spatial = "L" if nd == 1 else "H, W"
        if len(shape) not in (nd + 1, nd + 2) or shape[-nd - 1] != self.in_channels:
            got = f"{len(shape)} dims" if len(shape) not in (nd + 1, nd + 2) else \
                f"{shape[-nd - 1]} input channels"
            raise ShapeError(self, f"(N, {self.in_channels}, {spatial}) or ({self.in_channels}, {spatial})",
                             shape, f"in_channels is {self.in_channels}, the input has {got}")
        if any(n + a + b < d * (k - 1) + 1 for n, (a, b), k, d in
               zip(shape[-nd:], self._pads, self.kernel_size, self.dilation)):
            raise ShapeError(self, f"spatial size at least {self.kernel_size} after padding {self._pads}", shape,
                             "the input is smaller than the kernel")
        if self.padding_mode != "zeros":
            flat = [p for pair in reversed(self._pads) for p in pair]  # PyTorch's order: last dim first
            input = F.pad(input, flat, mode=self.padding_mode)
            return F._conv(input, self.weight, self.bias, self.stride, 0, self.dilation, self.groups, nd,
                           type(self).__name__.lower())
        return F._conv(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups, nd,
                       type(self).__name__.lower())

    def extra_repr(self) -> str:
        nd = self._nd
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * nd:
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) else f", padding={self.padding}"
        if self.dilation != (1,) * nd:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv1d(_ConvNd):
    """1-D convolution over (N, C_in, L): `weight` (C_out, C_in/groups, k), `bias` (C_out,).

    Output length floor((L + 2 padding - dilation (k - 1) - 1) / stride) + 1; padding may be an int,
    'valid', 'same' or 'full'.
    """

    _nd = 1


class Conv2d(_ConvNd):
    """2-D convolution over (N, C_in, H, W): `weight` (C_out, C_in/groups, kH, kW), `bias` (C_out,).

    Each output size is floor((n + 2 padding - dilation (k - 1) - 1) / stride) + 1. `kernel_size`, `stride`,
    `padding` and `dilation` take an int or a pair; padding also 'valid', 'same' (stride 1) or 'full'.

    >>> import autograd
    >>> conv = Conv2d(1, 8, 3, padding=1)
    >>> conv(autograd.zeros(64, 1, 28, 28)).shape
    (64, 8, 28, 28)
    """

    _nd = 2


class _ConvTransposeNd(Module):
    _nd = 0

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 output_padding: Any = 0, groups: int = 1, bias: bool = True, dilation: Any = 1,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        dt = factory_dtype(self, device, dtype)
        super().__init__()
        nd, name = self._nd, type(self).__name__
        groups = _checked_groups(name, in_channels, out_channels, groups)
        if padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported (as in PyTorch), got {padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = F._ntuple(kernel_size, nd, "kernel_size", name)
        self.stride = F._ntuple(stride, nd, "stride", name)
        self.padding = F._ntuple(padding, nd, "padding", name)
        self.output_padding = F._ntuple(output_padding, nd, "output_padding", name)
        self.dilation = F._ntuple(dilation, nd, "dilation", name)
        F._positive(self.kernel_size, "kernel_size", name)
        F._positive(self.stride, "stride", name)
        F._positive(self.dilation, "dilation", name)
        F._positive(self.padding, "padding", name, allow_zero=True)
        F._positive(self.output_padding, "output_padding", name, allow_zero=True)
        if any(e >= s and e >= d for e, s, d in zip(self.output_padding, self.stride, self.dilation)):
            raise ValueError(f"{name}: output_padding {self.output_padding} must be smaller than either stride "
                             f"{self.stride} or dilation {self.dilation}")
        self.padding_mode = padding_mode
        # PyTorch's layout: (in_channels, out_channels / groups, *kernel_size)
        self.weight = Parameter(np.zeros((in_channels, out_channels // groups, *self.kernel_size), dtype=dt))
        if bias:
            self.bias = Parameter(np.zeros((out_channels,), dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset_like_pytorch(self)  # (the weight's dim 1 here is out_channels / groups: PyTorch's fan-in too)

    def _output_padding(self, input: Tensor, output_size: Any) -> tuple:
        """The output_padding that gives `output_size` (PyTorch's rule: each size between the smallest output
        and that plus stride - 1)."""
        if output_size is None:
            return self.output_padding
        nd = self._nd
        sizes = tuple(int(v) for v in output_size)
        if len(sizes) not in (nd, nd + 1, nd + 2):
            raise ValueError(f"{type(self).__name__}: output_size must have {nd} or {nd + 2} elements, got {sizes}")
        sizes = sizes[-nd:]
        extra = []
        for size, n, k, s, p, d in zip(sizes, input.shape[-nd:], self.kernel_size, self.stride, self.padding,
                                       self.dilation):
            smallest = (n - 1) * s - 2 * p + d * (k - 1) + 1
            if not smallest <= size < smallest + s:
                raise ValueError(f"{type(self).__name__}: requested an output size of {sizes}, but valid sizes "
                                 f"range from {smallest} to {smallest + s - 1} (for an input of {input.shape})")
            extra.append(size - smallest)
        return tuple(extra)

    def forward(self, input: Tensor, output_size: Any = None) -> Tensor:
        shape, nd = input.shape, self._nd
        spatial = "L" if nd == 1 else "H, W"
        if len(shape) not in (nd + 1, nd + 2) or shape[-nd - 1] != self.in_channels:
            got = f"{len(shape)} dims" if len(shape) not in (nd + 1, nd + 2) else \
                f"{shape[-nd - 1]} input channels"
            raise ShapeError(self, f"(N, {self.in_channels}, {spatial}) or ({self.in_channels}, {spatial})",
                             shape, f"in_channels is {self.in_channels}, the input has {got}")
        return F._conv_transpose(input, self.weight, self.bias, self.stride, self.padding,
                                 self._output_padding(input, output_size), self.groups, self.dilation, nd,
                                 f"conv_transpose{nd}d")

    def extra_repr(self) -> str:
        nd = self._nd
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * nd:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * nd:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution over (N, C_in, L): `weight` (C_in, C_out/groups, k), `bias` (C_out,).

    Output length (L - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1; `forward(input,
    output_size)` may ask for a size instead of output_padding.
    """

    _nd = 1


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution over (N, C_in, H, W): `weight` (C_in, C_out/groups, kH, kW), `bias` (C_out,),
    PyTorch's layout (a PyTorch state_dict loads as is).

    >>> import autograd
    >>> up = ConvTranspose2d(8, 4, 2, stride=2)
    >>> up(autograd.zeros(1, 8, 7, 7)).shape
    (1, 4, 14, 14)
    """

    _nd = 2
