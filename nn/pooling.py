"""Pooling layers: `MaxPool1d/2d` and `AvgPool1d/2d` (windows from `unfold`, reduced by amax or mean)."""

from __future__ import annotations

from typing import Any

from autograd import Tensor

from . import functional as F
from .module import Module, ShapeError

__all__ = ["MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d"]


def _check(module: Module, input: Tensor, nd: int) -> None:
    shape = input.shape
    if len(shape) not in (nd + 1, nd + 2):
        spatial = "L" if nd == 1 else "H, W"
        raise ShapeError(module, f"(N, C, {spatial}) or (C, {spatial})", shape, f"got {len(shape)} dims")


class _MaxPoolNd(Module):
    _nd = 0

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation, self.ceil_mode = padding, dilation, ceil_mode

    def forward(self, input: Tensor) -> Tensor:
        _check(self, input, self._nd)
        return F._max_pool(input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                           self._nd, type(self).__name__)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """The maximum over each window of (N, C, L)."""

    _nd = 1


class MaxPool2d(_MaxPoolNd):
    """The maximum over each window of (N, C, H, W); stride defaults to kernel_size, padding is -inf.

    >>> import autograd
    >>> MaxPool2d(2)(autograd.zeros(1, 3, 8, 8)).shape
    (1, 3, 4, 4)
    """

    _nd = 2


class _AvgPoolNd(Module):
    _nd = 0

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, input: Tensor) -> Tensor:
        _check(self, input, self._nd)
        return F._avg_pool(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                           self.count_include_pad, self.divisor_override, self._nd, type(self).__name__)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    """The mean over each window of (N, C, L)."""

    _nd = 1

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)


class AvgPool2d(_AvgPoolNd):
    """The mean over each window of (N, C, H, W); zero padding counts in the mean unless
    count_include_pad=False."""

    _nd = 2


class _AdaptiveAvgPoolNd(Module):
    _nd = 0

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        _check(self, input, self._nd)
        return F._adaptive_avg_pool(input, self.output_size, self._nd, type(self).__name__)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """Average pooling of (N, C, L) to a fixed output length."""

    _nd = 1


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """Average pooling of (N, C, H, W) to a fixed output size; AdaptiveAvgPool2d(1) is global average pooling."""

    _nd = 2
