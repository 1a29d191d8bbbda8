"""Fully connected layers and shape helpers: `Identity`, `Linear`, `Bilinear`, `Maxout`, `Flatten`, `Unflatten`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import autograd
from autograd import Tensor

from . import functional as F
from . import init
from ._factory import factory_dtype
from .module import Module, ShapeError
from .parameter import Parameter

__all__ = ["Identity", "Linear", "Bilinear", "Maxout", "Flatten", "Unflatten"]


def _empty(shape: tuple, dtype: np.dtype) -> Parameter:
    return Parameter(np.zeros(shape, dtype=dtype))


class Identity(Module):
    """Returns its input unchanged (any constructor arguments are ignored, as in PyTorch)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Any) -> Any:
        return input


class Linear(Module):
    """y = x W^T + b, with `weight` of shape (out_features, in_features) and `bias` of shape (out_features,).

    Initialised as in PyTorch: weight and bias from U(-1/sqrt(in_features), 1/sqrt(in_features)).

    >>> import autograd
    >>> layer = Linear(3, 2)
    >>> layer(autograd.ones(5, 3)).shape
    (5, 2)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        dtype = factory_dtype(self, device, dtype)
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = _empty((out_features, in_features), dtype)
        if bias:
            self.bias = _empty((out_features,), dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # = U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        shape = input.shape
        if not shape or shape[-1] != self.in_features:
            raise ShapeError(self, f"(*, {self.in_features})", shape,
                             f"in_features is {self.in_features}, the input's last dim is "
                             f"{shape[-1] if shape else 'missing (0-d input)'}")
        # autograd.linear itself, not F.linear: the check above is F.linear's, and skipping its repeat (a call,
        # three shape reads), with autograd.linear's dtype check by identity, takes a W3 step (MLP 2-16-16-1,
        # 100 points) from 1,068k to 1,050k instructions (-1.7%, callgrind)
        return autograd.linear(input if isinstance(input, Tensor) else autograd.as_tensor(input), self.weight,
                               self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Bilinear(Module):
    """y = x1^T A x2 + b, with `weight` A of shape (out_features, in1_features, in2_features)."""

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        dtype = factory_dtype(self, device, dtype)
        super().__init__()
        self.in1_features, self.in2_features, self.out_features = in1_features, in2_features, out_features
        self.weight = _empty((out_features, in1_features, in2_features), dtype)
        if bias:
            self.bias = _empty((out_features,), dtype)
        else:
            self.register_parameter("bias", None)
        bound = 1 / math.sqrt(in1_features)
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1: Tensor, input2: Tensor) -> Tensor:
        if input1.shape[-1:] != (self.in1_features,) or input2.shape[-1:] != (self.in2_features,) \
                or input1.shape[:-1] != input2.shape[:-1]:
            raise ShapeError(self, f"(*, {self.in1_features}) and (*, {self.in2_features})",
                             (tuple(input1.shape), tuple(input2.shape)))
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class Maxout(Module):
    """Maxout units (Goodfellow et al., 2013): one affine map to out_features * pool_size units, then the
    maximum over each group of pool_size consecutive units:

        y_j = max_{k < pool_size} (x W^T + b)_{j * pool_size + k}

    `weight` has shape (out_features * pool_size, in_features); initialised like Linear.
    """

    def __init__(self, in_features: int, out_features: int, pool_size: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        dtype = factory_dtype(self, device, dtype)
        super().__init__()
        if pool_size < 1:
            raise ValueError(f"Maxout: pool_size must be positive, got {pool_size}")
        self.in_features, self.out_features, self.pool_size = in_features, out_features, pool_size
        self.weight = _empty((out_features * pool_size, in_features), dtype)
        if bias:
            self.bias = _empty((out_features * pool_size,), dtype)
        else:
            self.register_parameter("bias", None)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(in_features) if in_features > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        shape = input.shape
        if not shape or shape[-1] != self.in_features:
            raise ShapeError(self, f"(*, {self.in_features})", shape)
        units = F.linear(input, self.weight, self.bias)
        return units.reshape(*shape[:-1], self.out_features, self.pool_size).amax(dim=-1)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, pool_size={self.pool_size}, "
                f"bias={self.bias is not None}")


class Flatten(Module):
    """Flatten dims start_dim..end_dim into one (by default everything but the batch dim)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: Tensor) -> Tensor:
        ndim = len(input.shape)
        start = self.start_dim + ndim if self.start_dim < 0 else self.start_dim
        end = self.end_dim + ndim if self.end_dim < 0 else self.end_dim
        if ndim and not (0 <= start < ndim and 0 <= end < ndim):
            raise ShapeError(self, f"at least {max(self.start_dim + 1, -self.start_dim, -self.end_dim)} dims",
                             input.shape, f"start_dim={self.start_dim}, end_dim={self.end_dim}")
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim `dim` into `unflattened_size`: the inverse of Flatten."""

    def __init__(self, dim: int, unflattened_size: tuple) -> None:
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, input: Tensor) -> Tensor:
        shape = tuple(input.shape)
        dim = self.dim % len(shape) if shape else 0
        known = math.prod(s for s in self.unflattened_size if s != -1)
        if not shape or shape[dim] % max(known, 1) or (-1 not in self.unflattened_size and known != shape[dim]):
            raise ShapeError(self, f"a dim {self.dim} of size {known}", shape)
        return input.reshape(*shape[:dim], *self.unflattened_size, *shape[dim + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
