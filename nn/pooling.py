"""Pooling layers: `MaxPool1d/2d` and `AvgPool1d/2d` (windows from `unfold`, reduced by amax or mean), and
`MaxUnpool1d/2d`, which put pooled values back where `MaxPool*d(return_indices=True)` found them."""

from __future__ import annotations

from numbers import Integral
from typing import Any

from autograd import Tensor

from . import functional as F
from .module import Module, ShapeError

__all__ = ["MaxPool1d", "MaxPool2d", "MaxUnpool1d", "MaxUnpool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d",
           "AdaptiveAvgPool2d"]


def _check(module: Module, input: Tensor, nd: int) -> None:
    shape = input.shape
    if len(shape) not in (nd + 1, nd + 2):
        spatial = "L" if nd == 1 else "H, W"
        raise ShapeError(module, f"(N, C, {spatial}) or (C, {spatial})", shape, f"got {len(shape)} dims")


class _MaxPoolNd(Module):
    _nd = 0

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        F._pool_arguments(kernel_size, stride, padding, dilation, self._nd, type(self).__name__)  # fail here
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, input: Tensor) -> Any:
        _check(self, input, self._nd)
        return F._max_pool(input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                           self._nd, type(self).__name__, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """The maximum over each window of (N, C, L); with return_indices=True also the int64 positions along L of
    the chosen elements (for MaxUnpool1d)."""

    _nd = 1


class MaxPool2d(_MaxPoolNd):
    """The maximum over each window of (N, C, H, W); stride defaults to kernel_size, padding is -inf.
    With return_indices=True, `(output, indices)`: int64 flat positions `h * W + w` of each window's first
    maximum in its input plane (PyTorch's convention, for MaxUnpool2d).

    >>> import autograd
    >>> MaxPool2d(2)(autograd.zeros(1, 3, 8, 8)).shape
    (1, 3, 4, 4)
    """

    _nd = 2


class _MaxUnpoolNd(Module):
    _nd = 0

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        name, nd = type(self).__name__, self._nd  # stored as tuples, as PyTorch does
        self.kernel_size = F._ntuple(kernel_size, nd, "kernel_size", name)
        self.stride = F._ntuple(stride if stride is not None else kernel_size, nd, "stride", name)
        self.padding = F._ntuple(padding, nd, "padding", name)
        F._positive(self.kernel_size, "kernel_size", name)
        F._positive(self.stride, "stride", name)
        F._positive(self.padding, "padding", name, allow_zero=True)

    def forward(self, input: Tensor, indices: Any, output_size: Any = None) -> Tensor:
        _check(self, input, self._nd)
        return F._max_unpool(input, indices, self.kernel_size, self.stride, self.padding, output_size, self._nd,
                             type(self).__name__)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """The partial inverse of MaxPool1d: `unpool(y, indices)` puts each value of y back at its index along L,
    zeros elsewhere; pass `output_size` when several input lengths pool to the same length."""

    _nd = 1


class MaxUnpool2d(_MaxUnpoolNd):
    """The partial inverse of MaxPool2d: `unpool(y, indices)` puts each value of y back at its index in the
    (H_out, W_out) plane, zeros elsewhere; pass `output_size` when several input sizes pool to the same size.

    >>> import autograd
    >>> pool, unpool = MaxPool2d(2, return_indices=True), MaxUnpool2d(2)
    >>> y, indices = pool(autograd.tensor([[[[1.0, 2.0], [4.0, 3.0]]]]))
    >>> unpool(y, indices).tolist()
    [[[[0.0, 0.0], [4.0, 0.0]]]]
    """

    _nd = 2


class _AvgPoolNd(Module):
    _nd = 0

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__()
        name = type(self).__name__
        F._pool_arguments(kernel_size, stride, padding, 1, self._nd, name)  # fail here, not at the first forward
        if divisor_override is not None and (not isinstance(divisor_override, Integral) or divisor_override == 0):
            raise ValueError(f"{name}: divisor_override must be a nonzero integer, got {divisor_override!r}")
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
        nd, name = self._nd, type(self).__name__
        sizes = (output_size,) * nd if output_size is None or isinstance(output_size, int) else tuple(output_size)
        if len(sizes) != nd or any(s is not None and (not isinstance(s, Integral) or s < 0) for s in sizes):
            raise ValueError(f"{name}: output_size must be a non-negative int, None (keep the input's size) or a "
                             f"tuple of {nd} of them, got {output_size!r}")
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
