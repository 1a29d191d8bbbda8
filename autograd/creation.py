"""Creating tensors: `tensor` and the deterministic factories (`zeros`, `arange`, ...); the random ones
(`rand`, `randn`, `randint`, ...) and the generators live in random.py.

Float factories give float32 (PyTorch's default); integer `arange` gives int64.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from .core import Tensor, TensorLike, check_numeric_dtype, to_array
from .device import check_device
from .errors import OpError
from .kernels import as_stored

float16, float32, float64 = np.float16, np.float32, np.float64
int8, int16, int32, int64, uint8 = np.int8, np.int16, np.int32, np.int64, np.uint8
bool_ = np.bool_
_to_float = float  # (the name `float` is autograd.float, float32, from here on)
half, float, double, long = float16, float32, float64, int64

def _shape(size: tuple) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    return tuple(int(s) for s in size)


def _make(data: Any, requires_grad: bool) -> Tensor:
    t = Tensor._wrap(as_stored(data))
    return t.requires_grad_(True) if requires_grad else t


def tensor(data: TensorLike, dtype: Any = None, device: Any = None, requires_grad: bool = False,
           label: str | None = None) -> Tensor:
    """A new leaf tensor holding a copy of `data` (Python floats become float32, ints int64).
    `label` names it in drawings (autograd.viz.draw)."""
    if device is not None:  # (the call costs 300 instructions; None is the common case)
        check_device(device, "tensor")
    return Tensor(data, dtype=dtype, requires_grad=requires_grad, label=label)


def as_tensor(data: TensorLike, dtype: Any = None, device: Any = None) -> Tensor:
    """`data` as a tensor, sharing memory with a numpy array when no conversion is needed."""
    if device is not None:
        check_device(device, "as_tensor")
    if isinstance(data, Tensor):
        return data if dtype is None or data.dtype == np.dtype(dtype) else data.astype(dtype)
    if isinstance(data, np.ndarray) and (dtype is None or data.dtype == np.dtype(dtype)):
        return from_numpy(data)
    return Tensor(data, dtype=dtype)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with `array` (no copy)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    check_numeric_dtype("from_numpy", array.dtype)
    return Tensor._wrap(as_stored(array))


def _float_dtype(dtype: Any) -> np.dtype:
    return np.dtype(np.float32 if dtype is None else dtype)


def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    if device is not None:
        check_device(device, "zeros")
    return _make(np.zeros(_shape(size), _float_dtype(dtype)), requires_grad)


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    if device is not None:
        check_device(device, "ones")
    return _make(np.ones(_shape(size), _float_dtype(dtype)), requires_grad)


def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    if device is not None:
        check_device(device, "empty")
    return zeros(*size, dtype=dtype, requires_grad=requires_grad)


def full(size: Any, fill_value: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    if device is not None:
        check_device(device, "full")
    if dtype is None:
        dtype = to_array(fill_value).dtype
    return _make(np.full(_shape((size,)), fill_value, np.dtype(dtype)), requires_grad)


def zeros_like(t: TensorLike, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    if device is not None:
        check_device(device, "zeros_like")
    return _make(np.zeros(np.shape(_data(t)), dtype or _dtype(t)), requires_grad)


def ones_like(t: TensorLike, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    if device is not None:
        check_device(device, "ones_like")
    return _make(np.ones(np.shape(_data(t)), dtype or _dtype(t)), requires_grad)


def full_like(t: TensorLike, fill_value: Any, dtype: Any = None, device: Any = None,
              requires_grad: bool = False) -> Tensor:
    if device is not None:
        check_device(device, "full_like")
    return _make(np.full(np.shape(_data(t)), fill_value, dtype or _dtype(t)), requires_grad)


def _data(t: TensorLike) -> Any:
    return t._data if isinstance(t, Tensor) else to_array(t)


def _dtype(t: TensorLike) -> np.dtype:
    return np.result_type(_data(t))


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None,
           device: Any = None, requires_grad: bool = False) -> Tensor:
    """Values from start (inclusive) to end (exclusive); int64 for integer arguments, else float32."""
    if device is not None:
        check_device(device, "arange")
    if end is None:
        start, end = 0, start
    if dtype is None:
        integral = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = np.int64 if integral else np.float32
    return _make(np.arange(start, end, step, dtype=np.dtype(dtype)), requires_grad)


def linspace(start: float, end: float, steps: int, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:
    """`steps` evenly spaced values from start to end, both included (float32 unless `dtype` says otherwise).
    For an integer dtype the values are PyTorch's, exactly (see `_linspace_integers`)."""
    if device is not None:
        check_device(device, "linspace")
    steps = operator.index(steps)
    if steps < 0:
        raise OpError(f"linspace: the number of steps must be non-negative, got {steps}")
    dtype = _float_dtype(dtype)
    if dtype.kind == "b":
        raise TypeError("linspace: dtype bool is not supported (as in PyTorch); make the values in a numeric "
                        "dtype and compare them")
    if dtype.kind in "iu":
        return _make(_linspace_integers(start, end, steps, dtype), requires_grad)
    start, end = (v.item() if isinstance(v, Tensor) else v for v in (start, end))
    return _make(np.linspace(start, end, steps, dtype=dtype), requires_grad)


def _linspace_integers(start: Any, end: Any, steps: int, dtype: np.dtype) -> np.ndarray:
    """PyTorch's integer linspace: start and end are converted to the dtype first (truncated toward zero), the
    step is (end - start) / (steps - 1) in float64, the first half counts up from start and the second half
    down from end, each value computed with one fused multiply-add (PyTorch's kernel is compiled with FMA
    contraction: without it 22 + (-2/3) * 36 rounds to exactly -2, with it to -1.9999999999999987, which
    truncates to -1), then truncated toward zero."""
    if steps <= 1:  # (PyTorch converts neither end for no step, only start for one)
        return np.full(steps, _integer_endpoint(start, dtype) if steps else 0, dtype)
    first, last = _integer_endpoint(start, dtype), _integer_endpoint(end, dtype)
    step = (_to_float(last) - _to_float(first)) / (steps - 1)
    index = np.arange(steps, dtype=np.float64)
    half = steps // 2
    rising = _fma(np.full(half, step), index[:half], _to_float(first))
    falling = _fma(np.full(steps - half, -step), (steps - 1) - index[half:], _to_float(last))
    return np.trunc(np.concatenate([rising, falling])).astype(dtype)


def _integer_endpoint(value: Any, dtype: np.dtype) -> int:
    """`value` converted to an integer dtype as PyTorch converts linspace's start and end: floats must lie in
    the dtype's range and are truncated; integers too, except that unsigned types take negative ones down to
    -max and wrap them around (uint8: -5 becomes 251)."""
    if isinstance(value, Tensor):
        value = value.item()
    info = np.iinfo(dtype)
    if isinstance(value, (int, np.integer)):  # bool included
        v = int(value)
        if (info.min if info.min < 0 else -info.max) <= v <= info.max:
            return v % (1 << info.bits) if info.min == 0 else v
    else:
        f = _to_float(value)
        if info.min <= f <= info.max:  # (False for nan)
            return int(f)
    raise OverflowError(f"linspace: {value!r} cannot be converted to {dtype} without overflow (its range is "
                        f"{info.min} to {info.max})")


def _fma(a: np.ndarray, b: np.ndarray, c: float) -> np.ndarray:
    """a * b + c rounded once, as a fused multiply-add does (math.fma is Python 3.13+): the product split
    exactly into p + e (Dekker), p + c into s + t (Knuth's two-sum), then s + (t + e). Exact unless t + e
    rounds, which needs both to be within an ulp of each other's last bits; checked against the exact
    rational result and against PyTorch on thousands of random linspaces."""
    p = a * b
    split_a, split_b = a * 134217729.0, b * 134217729.0  # 2**27 + 1: halves of 26 bits
    a_hi = split_a - (split_a - a)
    b_hi = split_b - (split_b - b)
    a_lo, b_lo = a - a_hi, b - b_hi
    e = ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo  # p + e == a * b exactly
    s = p + c
    back = s - p
    t = (p - (s - back)) + (c - back)  # s + t == p + c exactly
    return s + (t + e)


def eye(n: int, m: int | None = None, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    if device is not None:
        check_device(device, "eye")
    return _make(np.eye(n, m, dtype=_float_dtype(dtype)), requires_grad)
