"""The functional API (`autograd.sum`, `autograd.softmax`, ...): argument checking, PyTorch's conventions,
and composite operations built from the primitives in `ops.py`. Tensor methods call these.

Nothing here has a VJP of its own; gradients come from the primitives each function is made of.
"""

from __future__ import annotations

import builtins
import math
from collections import namedtuple
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import ops
from .core import Tensor, TensorLike, as_constant
from .errors import OpError, OpIndexError

# The primitives registered with export=True in ops.py (add, exp, tanh, tan, atan2, ...) are public as they are,
# with their Tensor methods and numpy entries: nothing to write here for them. These are other names for some.
multiply, subtract, negative = ops.mul, ops.sub, ops.neg
arcsin, arccos, arctan, arctan2 = ops.asin, ops.acos, ops.atan, ops.atan2
arcsinh, arccosh, arctanh = ops.asinh, ops.acosh, ops.atanh

MaxMin = namedtuple("MaxMin", ["values", "indices"])  # what max(dim)/min(dim) return, like torch.return_types


# ---------------------------------------------------------------------------------------------------------------
# Argument normalisation
# ---------------------------------------------------------------------------------------------------------------
def _tensor(x: TensorLike) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor._wrap(np.asarray(as_constant(x))[()])


def normalize_dim(dim: int, ndim: int, op: str, extra: int = 0) -> int:
    """A non-negative axis for `dim`, or an error naming the op and the valid range.
    `extra` widens the range for ops that insert an axis (unsqueeze, stack)."""
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    size = builtins.max(ndim + extra, 1)
    if not -size <= dim < size:
        raise OpIndexError(f"{op}: dim {dim} is out of range for a tensor with {ndim} dimension"
                         f"{'s' if ndim != 1 else ''} (expected a dim in [{-size}, {size - 1}])")
    return int(dim) % size


def normalize_dims(dim: int | Sequence[int] | None, ndim: int, op: str) -> tuple[int, ...] | None:
    """None (all axes) or a sorted tuple of distinct non-negative axes."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    axes = tuple(normalize_dim(d, ndim, op) for d in dims)
    if len(set(axes)) != len(axes):
        raise OpError(f"{op}: dim {dim!r} names the same axis twice")
    if ndim == 0:
        return ()
    return tuple(sorted(axes))


def _shape_arg(shape: tuple) -> tuple:
    """Accept f(2, 3) and f((2, 3)) alike."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(int(s) for s in shape)


def normalize_index(index: Any) -> tuple:
    """A numpy index tuple: tensors and lists become integer or boolean arrays."""
    if not isinstance(index, tuple):
        index = (index,)
    out = []
    for i in index:
        if isinstance(i, Tensor):
            i = np.asarray(i._data)
        elif isinstance(i, (list, range)):
            i = np.asarray(i)
            if i.dtype == np.float64 and i.size == 0:
                i = i.astype(np.int64)
        if isinstance(i, np.ndarray):
            if i.dtype.kind not in "iub":
                raise OpIndexError(f"indexing: index arrays must be integers or booleans, got dtype {i.dtype}")
            if i.ndim == 0 and i.dtype.kind != "b":
                i = int(i)
        out.append(i)
    return tuple(out)


# ---------------------------------------------------------------------------------------------------------------
# Elementwise
# ---------------------------------------------------------------------------------------------------------------
def square(x: TensorLike) -> Tensor:
    return ops.mul(x, x)


def reciprocal(x: TensorLike) -> Tensor:
    return ops.div(1.0, x)


def rsqrt(x: TensorLike) -> Tensor:
    return ops.div(1.0, ops.sqrt(x))


def clamp(x: TensorLike, min: TensorLike | None = None, max: TensorLike | None = None) -> Tensor:
    """Limit values to [min, max]; the gradient passes where min <= x <= max (boundaries included)."""
    if min is None and max is None:
        raise OpError("clamp: at least one of 'min' or 'max' must not be None (as in PyTorch)")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = _tensor(x)
        if min is not None:
            out = where(out >= min, out, min)
        if max is not None:
            out = where(out <= max, out, max)
        return out
    return ops.clamp(x, min=min, max=max)


clip = clamp


def where(condition: TensorLike, x: TensorLike, y: TensorLike) -> Tensor:
    """x where condition holds, else y (all three broadcast together)."""
    cond = condition._data if isinstance(condition, Tensor) else np.asarray(condition)
    if cond.dtype != bool:
        cond = cond.astype(bool)
    return ops.where(cond, x, y)


def masked_fill(x: TensorLike, mask: TensorLike, value: Any) -> Tensor:
    return where(mask, value, x)


def astype(x: TensorLike, dtype: Any) -> Tensor:
    """Cast to `dtype`. Casting to a non-float type leaves the graph (integers carry no gradient)."""
    x = _tensor(x)
    dtype = np.dtype(dtype)
    if x.dtype == dtype:
        return x
    if dtype.kind not in "fc":
        return Tensor._wrap(x._data.astype(dtype))
    return ops.astype(x, dtype=dtype)


_ROUNDING_MODES = (None, "trunc", "floor")


def div(x: TensorLike, y: TensorLike, *, rounding_mode: str | None = None) -> Tensor:
    """x / y; with `rounding_mode='trunc'` rounded towards zero, with 'floor' down (`x // y`), as PyTorch. The
    rounded quotients are piecewise constant: zero gradient (PyTorch's). Integers divided with a rounding mode
    stay integers, and dividing them by zero raises ZeroDivisionError (numpy would give 0)."""
    if rounding_mode is None:
        return ops.div(x, y)
    if rounding_mode == "floor":
        return ops.floor_divide(x, y)
    if rounding_mode == "trunc":
        return ops.trunc_divide(x, y)
    raise OpError(f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")


true_divide = divide = ops.div  # without a rounding mode: the primitive itself, no Python frame


def _integer_like(x: Tensor) -> bool:
    return x.dtype.kind in "iub"


def _rounding(name: str, op: Any, x: TensorLike) -> Tensor:
    """floor/ceil/trunc: integers are already whole (a copy, in their dtype, as PyTorch; numpy would make floats)."""
    x = _tensor(x)
    if _integer_like(x):
        if x.dtype.kind == "b":
            raise TypeError(f"{name}: not defined for booleans (as in PyTorch); convert first (t.long())")
        return Tensor._wrap(x._data.copy())
    return op(x)


def floor(x: TensorLike) -> Tensor:
    """The largest integer <= x, elementwise (zero gradient, in the graph)."""
    return _rounding("floor", ops.floor, x)


def ceil(x: TensorLike) -> Tensor:
    """The smallest integer >= x, elementwise (zero gradient)."""
    return _rounding("ceil", ops.ceil, x)


def trunc(x: TensorLike) -> Tensor:
    """x rounded towards zero (zero gradient)."""
    return _rounding("trunc", ops.trunc, x)


fix = trunc


def round(x: TensorLike, *, decimals: int = 0) -> Tensor:
    """x rounded to `decimals` decimal places (negative: to tens, hundreds...), halves to even, as PyTorch
    (zero gradient)."""
    x = _tensor(x)
    if _integer_like(x) and decimals >= 0:
        return _rounding("round", None, x)
    return ops.round(x, decimals=int(decimals)) if decimals else _rounding("round", ops.round, x)


def nan_to_num(x: TensorLike, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None) -> Tensor:
    """x with nan, inf and -inf replaced (by 0 and the dtype's largest and lowest finite values by default);
    the replaced elements get zero gradient, as in PyTorch."""
    x = _tensor(x)
    if _integer_like(x):
        return Tensor._wrap(x._data.copy())
    return ops.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)


# ---------------------------------------------------------------------------------------------------------------
# Comparisons and logic: boolean results outside the graph
# ---------------------------------------------------------------------------------------------------------------
def _compare(name: str, fn: np.ufunc, x: TensorLike, y: TensorLike) -> Tensor:
    a = x._data if isinstance(x, Tensor) else as_constant(x)
    b = y._data if isinstance(y, Tensor) else as_constant(y)
    try:
        return Tensor._wrap(fn(a, b))
    except ValueError:
        raise OpError(f"{name}: shapes {np.shape(a)} and {np.shape(b)} cannot be broadcast together") from None


def eq(x: TensorLike, y: TensorLike) -> Tensor:
    return _compare("eq (==)", np.equal, x, y)


def ne(x: TensorLike, y: TensorLike) -> Tensor:
    return _compare("ne (!=)", np.not_equal, x, y)


def lt(x: TensorLike, y: TensorLike) -> Tensor:
    return _compare("lt (<)", np.less, x, y)


def le(x: TensorLike, y: TensorLike) -> Tensor:
    return _compare("le (<=)", np.less_equal, x, y)


def gt(x: TensorLike, y: TensorLike) -> Tensor:
    return _compare("gt (>)", np.greater, x, y)


def ge(x: TensorLike, y: TensorLike) -> Tensor:
    return _compare("ge (>=)", np.greater_equal, x, y)


def logical_and(x: TensorLike, y: TensorLike) -> Tensor:
    """Elementwise `x and y` of the truth values (nonzero is True), as booleans, for any dtypes."""
    return _compare("logical_and", np.logical_and, x, y)


def logical_or(x: TensorLike, y: TensorLike) -> Tensor:
    return _compare("logical_or", np.logical_or, x, y)


def logical_xor(x: TensorLike, y: TensorLike) -> Tensor:
    return _compare("logical_xor", np.logical_xor, x, y)


def logical_not(x: TensorLike) -> Tensor:
    return Tensor._wrap(np.logical_not(_tensor(x)._data))


# Bitwise operators, as PyTorch has them: on integers bitwise, on booleans logical (the same thing on one bit),
# on floats an error. Outside the graph: integers carry no gradient.
def _bit_operand(name: str, value: Any, other: Any) -> Any:
    """An operand's data. A Python int meeting an integer tensor takes the tensor's dtype, wrapping around as
    in PyTorch (`uint8_tensor & -1` masks with 255; numpy would raise), so that masks like 0xFFFFFFFF work."""
    if isinstance(value, Tensor):
        data = value._data
    elif isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        data = int(value)
        kind = other._data.dtype if isinstance(other, Tensor) else None
        if kind is not None and kind.kind in "iu":
            if not -(2**63) <= data < 2**64:
                raise OverflowError(f"{name}: the integer {data} does not fit in 64 bits")
            data = np.array(data & (2**64 - 1), np.uint64).astype(kind)[()]  # two's complement wrap-around
        return data
    else:
        data = as_constant(value)
    dtype = np.result_type(data)
    if dtype.kind not in "biu":
        raise TypeError(f"{name}: only integer and boolean tensors have bits to combine, got {dtype} (PyTorch "
                        "does not define bitwise operations on floats either); for truth values use "
                        "logical_and/logical_or/logical_xor, or compare first (x > 0)")
    return data


def _bitwise(name: str, ufunc: np.ufunc, x: Any, y: Any) -> Tensor:
    a, b = _bit_operand(name, x, y), _bit_operand(name, y, x)
    if ufunc in (np.left_shift, np.right_shift) and np.result_type(a).kind == "b" and np.result_type(b).kind == "b":
        raise TypeError(f"{name}: cannot shift booleans by booleans; convert one to an integer (t.long())")
    try:
        return Tensor._wrap(ufunc(a, b))
    except ValueError:
        raise OpError(f"{name}: shapes {np.shape(a)} and {np.shape(b)} cannot be broadcast together") from None


def bitwise_and(x: TensorLike, y: TensorLike) -> Tensor:
    """`x & y`: bitwise AND of integers, logical AND of booleans (outside the graph)."""
    return _bitwise("bitwise_and (&)", np.bitwise_and, x, y)


def bitwise_or(x: TensorLike, y: TensorLike) -> Tensor:
    """`x | y`: bitwise OR of integers, logical OR of booleans."""
    return _bitwise("bitwise_or (|)", np.bitwise_or, x, y)


def bitwise_xor(x: TensorLike, y: TensorLike) -> Tensor:
    """`x ^ y`: bitwise XOR of integers, logical XOR of booleans."""
    return _bitwise("bitwise_xor (^)", np.bitwise_xor, x, y)


def bitwise_not(x: TensorLike) -> Tensor:
    """`~x`: bitwise NOT of integers (-x - 1 for signed ones), logical NOT of booleans."""
    return Tensor._wrap(np.invert(_bit_operand("bitwise_not (~)", _tensor(x), None)))


def bitwise_left_shift(x: TensorLike, y: TensorLike) -> Tensor:
    """`x << y`: x times 2**y, in x's integer type (bits shifted out are lost; a shift by the width or more,
    or by a negative amount, gives 0, as in PyTorch)."""
    return _bitwise("bitwise_left_shift (<<)", np.left_shift, x, y)


def bitwise_right_shift(x: TensorLike, y: TensorLike) -> Tensor:
    """`x >> y`: arithmetic shift (floor division by 2**y; the sign is kept), as in PyTorch."""
    return _bitwise("bitwise_right_shift (>>)", np.right_shift, x, y)


def isnan(x: TensorLike) -> Tensor:
    return Tensor._wrap(np.isnan(_tensor(x)._data))


def isinf(x: TensorLike) -> Tensor:
    return Tensor._wrap(np.isinf(_tensor(x)._data))


def isfinite(x: TensorLike) -> Tensor:
    return Tensor._wrap(np.isfinite(_tensor(x)._data))


def isclose(x: TensorLike, y: TensorLike, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> Tensor:
    """|x - y| <= atol + rtol |y| elementwise (infinities equal when equal and of one sign), as booleans outside
    the graph; nan equals nan only with `equal_nan`."""
    return Tensor._wrap(np.isclose(_tensor(x)._data, _tensor(y)._data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def allclose(x: TensorLike, y: TensorLike, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
    """Whether isclose holds everywhere: a Python bool."""
    return bool(np.allclose(_tensor(x)._data, _tensor(y)._data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def all(x: TensorLike, dim: int | None = None, keepdim: bool = False, *, axis: Any = None,
        keepdims: bool | None = None) -> Tensor:
    x = _tensor(x)
    dim, keepdim = _numpy_aliases(dim, keepdim, axis, keepdims)
    return Tensor._wrap(np.all(x._data, axis=normalize_dims(dim, x.ndim, "all"), keepdims=keepdim))


def any(x: TensorLike, dim: int | None = None, keepdim: bool = False, *, axis: Any = None,
        keepdims: bool | None = None) -> Tensor:
    x = _tensor(x)
    dim, keepdim = _numpy_aliases(dim, keepdim, axis, keepdims)
    return Tensor._wrap(np.any(x._data, axis=normalize_dims(dim, x.ndim, "any"), keepdims=keepdim))


# ---------------------------------------------------------------------------------------------------------------
# Reductions
# ---------------------------------------------------------------------------------------------------------------
def sum(x: TensorLike, dim: int | Sequence[int] | None = None, keepdim: bool = False, *,
        axis: Any = None, keepdims: bool | None = None, dtype: Any = None) -> Tensor:
    """Sum over `dim` (an int, a tuple, or None for all). `axis`/`keepdims` are accepted as numpy spells them."""
    x = _tensor(x)
    dim, keepdim = _numpy_aliases(dim, keepdim, axis, keepdims)
    if dtype is not None:
        x = astype(x, dtype)
    if x.dtype == bool:
        x = astype(x, np.int64)
    return ops.sum(x, axis=normalize_dims(dim, x.ndim, "sum"), keepdims=keepdim)


def _numpy_aliases(dim: Any, keepdim: bool, axis: Any, keepdims: bool | None) -> tuple[Any, bool]:
    """`axis` and `keepdims`, numpy's names, are aliases of `dim` and `keepdim` wherever PyTorch takes a dim."""
    return (dim if axis is None else axis), (keepdim if keepdims is None else keepdims)


def _required_dim(dim: Any, axis: Any, op: str) -> Any:
    """The dim of an op that requires one, given as `dim` or as its alias `axis`."""
    if axis is not None:
        return axis
    if dim is None:
        raise TypeError(f"{op}: missing the argument 'dim' (or its alias 'axis')")
    return dim


def mean(x: TensorLike, dim: int | Sequence[int] | None = None, keepdim: bool = False, *,
         axis: Any = None, keepdims: bool | None = None, dtype: Any = None) -> Tensor:
    x = _tensor(x)
    dim, keepdim = _numpy_aliases(dim, keepdim, axis, keepdims)
    if dtype is not None or x.dtype.kind not in "fc":
        x = astype(x, dtype or np.float32)
    axes = normalize_dims(dim, x.ndim, "mean")
    count = x._data.size if axes is None else math.prod(x.shape[a] for a in axes)
    return ops.div(ops.sum(x, axis=axes, keepdims=keepdim), count) if count else \
        ops.sum(x, axis=axes, keepdims=keepdim) * np.nan


def var(x: TensorLike, dim: int | Sequence[int] | None = None, unbiased: bool | None = None,
        keepdim: bool = False, *, correction: int | None = None, axis: Any = None,
        keepdims: bool | None = None, ddof: int | None = None) -> Tensor:
    """Variance sum((x - mean)^2) / (n - correction); `unbiased=True` (the default) means correction=1."""
    x = _tensor(x)
    dim, keepdim = _numpy_aliases(dim, keepdim, axis, keepdims)
    if correction is None:
        correction = ddof if ddof is not None else (0 if unbiased is False else 1)
    axes = normalize_dims(dim, x.ndim, "var")
    count = x._data.size if axes is None else math.prod(x.shape[a] for a in axes)
    centered = x - mean(x, axes, keepdim=True)
    return ops.div(ops.sum(centered * centered, axis=axes, keepdims=keepdim), builtins.max(count - correction, 0))


def std(x: TensorLike, dim: int | Sequence[int] | None = None, unbiased: bool | None = None,
        keepdim: bool = False, *, correction: int | None = None, axis: Any = None,
        keepdims: bool | None = None, ddof: int | None = None) -> Tensor:
    return ops.sqrt(var(x, dim, unbiased, keepdim, correction=correction, axis=axis, keepdims=keepdims, ddof=ddof))


def amax(x: TensorLike, dim: int | Sequence[int] | None = None, keepdim: bool = False, *,
         axis: Any = None, keepdims: bool | None = None) -> Tensor:
    """Largest value over `dim`; tied maxima share the gradient equally."""
    x = _tensor(x)
    dim, keepdim = _numpy_aliases(dim, keepdim, axis, keepdims)
    _check_not_empty(x, dim, "amax")
    return ops.amax(x, axis=normalize_dims(dim, x.ndim, "amax"), keepdims=keepdim)


def amin(x: TensorLike, dim: int | Sequence[int] | None = None, keepdim: bool = False, *,
         axis: Any = None, keepdims: bool | None = None) -> Tensor:
    x = _tensor(x)
    dim, keepdim = _numpy_aliases(dim, keepdim, axis, keepdims)
    _check_not_empty(x, dim, "amin")
    return ops.amin(x, axis=normalize_dims(dim, x.ndim, "amin"), keepdims=keepdim)


def _check_not_empty(x: Tensor, dim: Any, op: str) -> None:
    axes = normalize_dims(dim, x.ndim, op)
    if (axes is None and x._data.size == 0) or (axes and builtins.any(x.shape[a] == 0 for a in axes)):
        raise OpError(f"{op}: cannot reduce an empty dimension (tensor of shape {x.shape}, dim={dim})")


def _max_min(name: str, extreme: Any, arg: Any, pairwise: Any, x: TensorLike, dim: Any, keepdim: bool) -> Any:
    x = _tensor(x)
    if dim is None:
        return extreme(x)
    if isinstance(dim, Tensor):
        return pairwise(x, dim)
    _check_not_empty(x, dim, name)
    axis = normalize_dim(dim, x.ndim, name)
    if x.ndim == 0:
        return MaxMin(ops.clone(x), Tensor._wrap(np.int64(0)))
    indices = arg(x._data, axis=axis, keepdims=True)
    values = gather(x, axis, Tensor._wrap(indices))  # the gradient goes to the returned index only
    if not keepdim:
        values, indices = squeeze(values, axis), np.squeeze(indices, axis)
    return MaxMin(values, Tensor._wrap(np.asarray(indices, dtype=np.int64)[()]))


def max(x: TensorLike, dim: int | Tensor | None = None, keepdim: bool = False, *, axis: Any = None,
        keepdims: bool | None = None) -> Any:
    """max(x): the largest value (0-d; ties share the gradient). max(x, dim): (values, indices).
    max(x, other): elementwise maximum."""
    dim, keepdim = _numpy_aliases(dim, keepdim, axis, keepdims)
    return _max_min("max", amax, np.argmax, ops.maximum, x, dim, keepdim)


def min(x: TensorLike, dim: int | Tensor | None = None, keepdim: bool = False, *, axis: Any = None,
        keepdims: bool | None = None) -> Any:
    dim, keepdim = _numpy_aliases(dim, keepdim, axis, keepdims)
    return _max_min("min", amin, np.argmin, ops.minimum, x, dim, keepdim)


def argmax(x: TensorLike, dim: int | None = None, keepdim: bool = False, *, axis: Any = None,
           keepdims: bool | None = None) -> Tensor:
    """Index of the largest value (of the flattened tensor when dim is None); int64, outside the graph."""
    x = _tensor(x)
    dim, keepdim = _numpy_aliases(dim, keepdim, axis, keepdims)
    if dim is None:
        return Tensor._wrap(np.int64(np.argmax(x._data)))
    axis = normalize_dim(dim, x.ndim, "argmax")
    return Tensor._wrap(np.argmax(x._data, axis=axis, keepdims=keepdim).astype(np.int64)[()])


def argmin(x: TensorLike, dim: int | None = None, keepdim: bool = False, *, axis: Any = None,
           keepdims: bool | None = None) -> Tensor:
    x = _tensor(x)
    dim, keepdim = _numpy_aliases(dim, keepdim, axis, keepdims)
    if dim is None:
        return Tensor._wrap(np.int64(np.argmin(x._data)))
    axis = normalize_dim(dim, x.ndim, "argmin")
    return Tensor._wrap(np.argmin(x._data, axis=axis, keepdims=keepdim).astype(np.int64)[()])


def prod(x: TensorLike, dim: int | Sequence[int] | None = None, keepdim: bool = False, *,
         axis: Any = None, keepdims: bool | None = None) -> Tensor:
    """Product over `dim`; the gradient is exact even where elements are zero."""
    x = _tensor(x)
    dim, keepdim = _numpy_aliases(dim, keepdim, axis, keepdims)
    return ops.prod(x, axis=normalize_dims(dim, x.ndim, "prod"), keepdims=keepdim)


def logsumexp(x: TensorLike, dim: int | Sequence[int] | None = None, keepdim: bool = False, *, axis: Any = None,
              keepdims: bool | None = None) -> Tensor:
    """log(sum(exp(x))) computed as m + log(sum(exp(x - m))) with m the (constant) max: no overflow."""
    x = _tensor(x)
    dim, keepdim = _numpy_aliases(dim, keepdim, axis, keepdims)
    axes = normalize_dims(dim, x.ndim, "logsumexp")
    m = np.amax(x._data, axis=axes, keepdims=True) if x._data.size else np.zeros((1,) * x.ndim, x.dtype)
    m = np.where(np.isfinite(m), m, 0)  # all -inf (or inf) rows: leave them to exp/log
    out = ops.log(ops.sum(ops.exp(x - m), axis=axes, keepdims=True)) + m
    return out if keepdim else squeeze(out, axes if axes is not None else tuple(range(x.ndim)))


def softmax(x: TensorLike, dim: int = -1, *, axis: int | None = None) -> Tensor:
    """exp(x) / sum(exp(x)) along `dim`, computed as exp(log_softmax(x)): stable for any logits."""
    return ops.exp(log_softmax(x, dim if axis is None else axis))


def log_softmax(x: TensorLike, dim: int = -1, *, axis: int | None = None) -> Tensor:
    """x - logsumexp(x) along `dim`: finite even for logits of magnitude 1000."""
    x = _tensor(x)
    dim = dim if axis is None else axis
    return ops.log_softmax(x, axis=normalize_dim(dim, x.ndim, "log_softmax") if x.ndim else None)


def norm(x: TensorLike, p: float | str = 2, dim: int | Sequence[int] | None = None,
         keepdim: bool = False) -> Tensor:
    """Vector p-norm (sum |x|^p)^(1/p) over `dim` (all elements by default); p may also be inf (max |x|), -inf
    (min |x|) and 0 (the count of nonzeros, gradient 0). Its gradient at 0 is 0, as in PyTorch."""
    x = _tensor(x)
    if p in ("fro", 2):
        squares = sum(x * x, dim, keepdim)
        is_zero = squares._data == 0
        # sqrt'(0) is infinite; route zeros around it so the gradient there is 0 instead of nan
        return where(is_zero, 0.0, ops.sqrt(where(is_zero, 1.0, squares)))
    if p == 1:
        return sum(ops.abs(x), dim, keepdim)
    if p in (math.inf, "inf"):
        return amax(ops.abs(x), dim, keepdim)
    if p in (-math.inf, "-inf"):
        return amin(ops.abs(x), dim, keepdim)
    if p == 0:
        return sum(ops.sign(ops.abs(x)), dim, keepdim)  # sign has gradient 0 and stays in the graph
    total = sum(ops.abs(x) ** p, dim, keepdim)
    is_zero = total._data == 0
    # (total)^(1/p) has an infinite derivative at 0 for p > 1: the same detour as for p = 2
    return where(is_zero, 0.0, where(is_zero, 1.0, total) ** (1.0 / p))


# ---------------------------------------------------------------------------------------------------------------
# Shape
# ---------------------------------------------------------------------------------------------------------------
def reshape(x: TensorLike, *shape: Any) -> Tensor:
    x = _tensor(x)
    shape = _shape_arg(shape)
    if shape == x.shape:
        return x
    known = math.prod(s for s in shape if s != -1)
    if shape.count(-1) > 1 or (-1 not in shape and known != x._data.size) or \
            (-1 in shape and (known == 0 or x._data.size % known)):
        raise OpError(f"reshape: cannot reshape a tensor of shape {x.shape} ({x._data.size} elements) "
                         f"into shape {shape}")
    return ops.reshape(x, shape=shape)


def view(x: TensorLike, *shape_or_dtype: Any) -> Tensor:
    """`view(*shape)` is `reshape`; `view(dtype)` reinterprets the bytes as another dtype (see `view_as_dtype`)."""
    if len(shape_or_dtype) == 1 and _is_dtype(shape_or_dtype[0]):
        return view_as_dtype(x, shape_or_dtype[0])
    return reshape(x, *shape_or_dtype)


def _is_dtype(value: Any) -> bool:
    return isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic))


def view_as_dtype(x: TensorLike, dtype: Any) -> Tensor:
    """The same memory read as `dtype` (`t.view(autograd.int32)` gives the bits of float32 values), as PyTorch's
    `Tensor.view(dtype)`: with an equal item size the shape stays; with a different one the last dim is
    rescaled (float32 (2, 4) viewed as float16 is (2, 8)), which needs a last dim with unit stride, of a size
    divisible by the ratio when the item grows, and a tensor with at least one dim. Outside the graph, as in
    PyTorch: the result never requires grad, even between float types (bits have no derivative)."""
    x = _tensor(x)
    target = np.dtype(dtype)
    data, source = x._data, x.dtype
    if target == source:
        return Tensor._wrap(data)
    name = f"view({target})"
    if target.itemsize != source.itemsize:
        if data.ndim == 0:
            raise OpError(f"{name}: a 0-d tensor of {source} cannot be viewed as {target}, whose items have a "
                             f"different size ({source.itemsize} and {target.itemsize} bytes)")
        if data.strides[-1] != source.itemsize and data.shape[-1] != 1:
            raise OpError(f"{name}: the last dim must be contiguous (stride 1) to view {source} as {target} "
                             f"(items of different sizes), but its stride is {data.strides[-1] // source.itemsize}; "
                             "use .contiguous() first")
        if target.itemsize > source.itemsize and data.shape[-1] * source.itemsize % target.itemsize:
            raise OpError(f"{name}: the last dim ({data.shape[-1]}) must be divisible by "
                             f"{target.itemsize // source.itemsize} to view {source} as {target}")
    try:
        viewed = data.view(target) if data.ndim else np.asarray(data).view(target)[()]
    except ValueError as err:  # offsets or strides numpy cannot reinterpret
        raise OpError(f"{name}: cannot view this {source} tensor of shape {x.shape} as {target}: {err}") from None
    return Tensor._wrap(viewed)


def flatten(x: TensorLike, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    x = _tensor(x)
    if x.ndim == 0:
        return reshape(x, (1,))
    start = normalize_dim(start_dim, x.ndim, "flatten")
    end = normalize_dim(end_dim, x.ndim, "flatten")
    if start > end:
        raise OpError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    return reshape(x, x.shape[:start] + (math.prod(x.shape[start:end + 1]),) + x.shape[end + 1:])


def squeeze(x: TensorLike, dim: int | Sequence[int] | None = None, *, axis: Any = None) -> Tensor:
    """Remove size-1 axes (only those in `dim` when given; other sizes there are left alone, as in PyTorch)."""
    x = _tensor(x)
    dim = dim if axis is None else axis
    axes = range(x.ndim) if dim is None else normalize_dims(dim, x.ndim, "squeeze")
    drop = {a for a in axes if x.shape[a] == 1}
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in drop))


def unsqueeze(x: TensorLike, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    x = _tensor(x)
    dim = _required_dim(dim, axis, "unsqueeze")
    axis = normalize_dim(dim, x.ndim, "unsqueeze", extra=1)
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


def permute(x: TensorLike, *dims: Any) -> Tensor:
    x = _tensor(x)
    axes = tuple(normalize_dim(d, x.ndim, "permute") for d in _shape_arg(dims))
    if sorted(axes) != list(range(x.ndim)):
        raise OpError(f"permute: {dims} is not a permutation of the {x.ndim} dims of shape {x.shape}")
    if axes == tuple(range(x.ndim)):
        return x
    return ops.transpose(x, axes=axes)


def transpose(x: TensorLike, dim0: int = -2, dim1: int = -1) -> Tensor:
    """Swap two dims (PyTorch's meaning, not numpy's full permutation)."""
    x = _tensor(x)
    axes = list(range(x.ndim))
    a, b = normalize_dim(dim0, x.ndim, "transpose"), normalize_dim(dim1, x.ndim, "transpose")
    axes[a], axes[b] = axes[b], axes[a]
    return permute(x, tuple(axes))


def swapaxes(x: TensorLike, axis1: int, axis2: int) -> Tensor:
    return transpose(x, axis1, axis2)


def broadcast_to(x: TensorLike, *shape: Any) -> Tensor:
    x = _tensor(x)
    shape = _shape_arg(shape)
    if shape == x.shape:
        return x
    try:
        np.broadcast_shapes(x.shape, shape)
        if len(shape) < x.ndim or np.broadcast_shapes(x.shape, shape) != shape:
            raise ValueError
    except ValueError:
        raise OpError(f"expand: a tensor of shape {x.shape} cannot be expanded to shape {shape} (only size-1 "
                         "dims can grow, and new dims go in front)") from None
    return ops.broadcast_to(x, shape=shape)


def expand(x: TensorLike, *sizes: Any) -> Tensor:
    """Broadcast to `sizes` without copying; -1 keeps a dim's size."""
    x = _tensor(x)
    sizes = _shape_arg(sizes)
    lead = len(sizes) - x.ndim
    shape = tuple(x.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(sizes))
    return broadcast_to(x, shape)


def expand_as(x: TensorLike, other: Tensor) -> Tensor:
    return broadcast_to(x, other.shape)


def repeat(x: TensorLike, *repeats: Any) -> Tensor:
    """Tile the tensor `repeats[i]` times along dim i (PyTorch's repeat, numpy's tile)."""
    x = _tensor(x)
    reps = _shape_arg(repeats)
    if len(reps) < x.ndim:
        raise OpError(f"repeat: {len(reps)} repeat counts given for a tensor with {x.ndim} dims")
    shape = (1,) * (len(reps) - x.ndim) + x.shape
    interleaved = reshape(x, tuple(v for n in shape for v in (1, n)))
    tiled = broadcast_to(interleaved, tuple(v for r, n in zip(reps, shape) for v in (r, n)))
    return reshape(tiled, tuple(r * n for r, n in zip(reps, shape)))


def flip(x: TensorLike, dims: int | Sequence[int]) -> Tensor:
    x = _tensor(x)
    return ops.flip(x, axis=normalize_dims(dims, x.ndim, "flip"))


def pad(x: TensorLike, pad_width: Any, value: float = 0) -> Tensor:
    """Constant padding with numpy's per-axis `pad_width`: an int, a (before, after) pair, or one pair per axis."""
    x = _tensor(x)
    try:
        widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64).reshape(-1, 2)
                                 if np.ndim(pad_width) else np.int64(pad_width), (x.ndim, 2))
    except ValueError:
        raise OpError(f"pad: pad_width {pad_width!r} does not fit a tensor with {x.ndim} dims") from None
    if (widths < 0).any():
        raise OpError(f"pad: pad widths must be non-negative, got {pad_width!r}")
    return ops.pad(x, pad_width=tuple(map(tuple, widths.tolist())), value=value)


# ---------------------------------------------------------------------------------------------------------------
# Joining, slicing, indexing
# ---------------------------------------------------------------------------------------------------------------
def cat(tensors: Sequence[TensorLike], dim: int = 0, *, axis: int | None = None) -> Tensor:
    tensors = [_tensor(t) for t in tensors]
    dim = dim if axis is None else axis
    if not tensors:
        raise OpError("cat: expected a non-empty sequence of tensors")
    first = tensors[0].shape
    axis = normalize_dim(dim, len(first), "cat")
    before, after = first[:axis], first[axis + 1:]
    for i, t in enumerate(tensors):
        shape = t.shape
        if len(shape) != len(first) or shape[:axis] != before or shape[axis + 1:] != after:
            raise OpError(f"cat: tensor {i} has shape {shape}, which does not match tensor 0's shape "
                             f"{first} outside dim {dim}")
    return ops.cat(*tensors, axis=axis)


concatenate = cat


def stack(tensors: Sequence[TensorLike], dim: int = 0, *, axis: int | None = None) -> Tensor:
    tensors = [_tensor(t) for t in tensors]
    dim = dim if axis is None else axis
    if not tensors:
        raise OpError("stack: expected a non-empty sequence of tensors")
    first = tensors[0].shape
    for i, t in enumerate(tensors):
        if t.shape != first:
            raise OpError(f"stack: all tensors must have the same shape; tensor {i} has {t.shape}, "
                             f"tensor 0 has {first}")
    axis = normalize_dim(dim, len(first), "stack", extra=1)
    return cat([unsqueeze(t, axis) for t in tensors], axis)


def split(x: TensorLike, split_size_or_sections: int | Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces of `split_size` along dim (the last may be smaller), or of the listed sizes."""
    x = _tensor(x)
    axis = normalize_dim(dim, x.ndim, "split")
    n = x.shape[axis]
    if isinstance(split_size_or_sections, (int, np.integer)):
        size = int(split_size_or_sections)
        if size <= 0:
            raise OpError(f"split: split_size must be positive, got {size}")
        sizes = [builtins.min(size, n - s) for s in range(0, n, size)] or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if builtins.sum(sizes) != n:
            raise OpError(f"split: sections {sizes} add up to {builtins.sum(sizes)}, but dim {dim} has size {n}")
    pieces, start = [], 0
    for s in sizes:
        pieces.append(getitem(x, (slice(None),) * axis + (slice(start, start + s),)))
        start += s
    return tuple(pieces)


def chunk(x: TensorLike, chunks: int, dim: int = 0, *, axis: int | None = None) -> tuple[Tensor, ...]:
    """Split into `chunks` pieces of ceil(n / chunks) (PyTorch's rule: possibly fewer pieces)."""
    x = _tensor(x)
    dim = dim if axis is None else axis
    if chunks <= 0:
        raise OpError(f"chunk: chunks must be positive, got {chunks}")
    n = x.shape[normalize_dim(dim, x.ndim, "chunk")]
    return split(x, builtins.max(-(-n // chunks), 1), dim)


def unbind(x: TensorLike, dim: int = 0, *, axis: int | None = None) -> tuple[Tensor, ...]:
    x = _tensor(x)
    dim = dim if axis is None else axis
    axis = normalize_dim(dim, x.ndim, "unbind")
    return tuple(getitem(x, (slice(None),) * axis + (i,)) for i in range(x.shape[axis]))


def getitem(x: TensorLike, index: Any) -> Tensor:
    """numpy indexing: ints, slices (any step), None, Ellipsis, boolean masks and integer arrays, with PyTorch's
    rule where the two differ (`integers_first`). The gradient scatter-adds into the selected places, so a
    repeated index receives the sum."""
    x = _tensor(x)
    index = normalize_index(index)
    steps = integers_first(index)
    try:
        if steps is not None:
            return ops.getitem(ops.getitem(x, index=steps[0]), index=steps[1])
        return ops.getitem(x, index=index)
    except IndexError as err:
        raise OpIndexError(f"indexing: {err} (tensor of shape {x.shape})") from None


def _is_int(i: Any) -> bool:
    return isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_))


def integers_first(index: tuple) -> tuple[tuple, tuple] | None:
    """PyTorch's rule for an index that mixes Python integers with integer or boolean arrays: the integers are
    basic indexing, applied first, and the arrays then index what is left. numpy counts the integers among the
    advanced indices instead, which moves the broadcast dims to the front when they are not next to the arrays:
    for x of shape (2, 3, 4), x[0, :, [0, 1]] is (3, 2) in PyTorch, (2, 3) in numpy.

    None when the index does not mix them (numpy's rule is PyTorch's); otherwise the two steps, (the integers,
    every other dim taken whole) and (the index without the integers)."""
    if not builtins.any(_is_int(i) for i in index) or \
            not builtins.any(isinstance(i, np.ndarray) and i.ndim > 0 for i in index):
        return None
    first = []
    for i in index:
        if _is_int(i) or i is Ellipsis:
            first.append(i)
        elif isinstance(i, np.ndarray) and i.dtype == bool:
            first.extend([slice(None)] * i.ndim)   # a mask spans as many dims as it has (0-d: none)
        elif i is not None and not isinstance(i, (bool, np.bool_)):
            first.append(slice(None))              # a slice or an integer array: one dim, whole
    return tuple(first), tuple(i for i in index if not _is_int(i))


def index_put(x: TensorLike, value: TensorLike, index: tuple) -> Tensor:
    """x with x[index] = value, out of place and differentiable in both x and value."""
    steps = integers_first(index)
    if steps is not None:  # PyTorch's rule (integers_first): write into the part the integers select
        return ops.index_put(x, ops.index_put(ops.getitem(x, index=steps[0]), value, index=steps[1]),
                             index=steps[0])
    return ops.index_put(x, value, index=index)


def gather(x: TensorLike, dim: int | None = None, index: TensorLike | None = None, *,
           axis: int | None = None) -> Tensor:
    """out[i][j][k] = x[index[i][j][k]][j][k] for dim=0 (and so on): PyTorch's gather."""
    x = _tensor(x)
    dim = _required_dim(dim, axis, "gather")
    if index is None:
        raise TypeError("gather: missing the argument 'index'")
    axis = normalize_dim(dim, x.ndim, "gather")
    idx = np.asarray(index._data if isinstance(index, Tensor) else index)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"gather: index must be an integer tensor, got dtype {idx.dtype}")
    if idx.ndim != x.ndim:
        raise OpError(f"gather: index has {idx.ndim} dims but the input (shape {x.shape}) has {x.ndim}")
    if idx.size and (idx.min() < -x.shape[axis] or idx.max() >= x.shape[axis]):
        bad = idx[(idx < -x.shape[axis]) | (idx >= x.shape[axis])].flat[0]
        raise OpIndexError(f"gather: index {bad} is out of range for dim {dim} of size {x.shape[axis]}")
    grids = np.ogrid[tuple(slice(n) for n in idx.shape)] if idx.ndim else []
    full = tuple(idx if d == axis else grids[d] for d in range(x.ndim))
    return ops.getitem(x, index=full)


take_along_dim = gather


def index_add(x: TensorLike, dim: int | None = None, index: TensorLike | None = None,
              source: TensorLike | None = None, alpha: Any = 1, *, axis: int | None = None) -> Tensor:
    """x with alpha * source added along `dim` at the positions `index` names (PyTorch's index_add, out of place):
    out[..., index[i], ...] = x[..., index[i], ...] + alpha * source[..., i, ...], a repeated index receiving the
    sum of its rows (a scatter-add: graph networks sum their messages into nodes with it). Differentiable in x
    (the identity) and in source (the gradient gathered back at `index`).

    >>> import autograd
    >>> autograd.index_add(autograd.zeros(3), 0, autograd.tensor([0, 2, 2]), autograd.tensor([1.0, 2.0, 3.0]))
    tensor([1., 0., 5.])
    """
    dim = _required_dim(dim, axis, "index_add")
    if index is None or source is None:
        raise TypeError("index_add: missing the argument 'index' or 'source'")
    x, src = _tensor(x), _tensor(source)
    axis = normalize_dim(dim, x.ndim, "index_add")
    idx = np.asarray(index._data if isinstance(index, Tensor) else index)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"index_add: the index must be an integer tensor, got dtype {idx.dtype}")
    if idx.ndim > 1:
        raise OpIndexError(f"index_add: the index must be a vector, got shape {idx.shape}")
    idx = idx.reshape(-1)
    if src.dtype != x.dtype:
        raise TypeError(f"index_add: the input ({x.dtype}) and the source ({src.dtype}) must have the same dtype")
    expected = x.shape[:axis] + (idx.size,) + x.shape[axis + 1:] if x.ndim else ()
    if src.shape != expected or (x.ndim == 0 and idx.size != 1):
        raise OpError(f"index_add: the source of shape {src.shape} does not fit the input of shape {x.shape} "
                         f"with {idx.size} indices along dim {dim} (expected a source of shape {expected})")
    size = x.shape[axis] if x.ndim else 1
    if idx.size and (idx.min() < 0 or idx.max() >= size):
        bad = idx[(idx < 0) | (idx >= size)][0]
        raise OpIndexError(f"index_add: index {bad} is out of range for dim {dim} of size {size}")
    if alpha != 1:
        src = src * alpha
    if x.ndim == 0:
        return x + src
    return x + ops.index_add(src, shape=x.shape, index=(slice(None),) * axis + (idx.astype(np.intp),))


# ---------------------------------------------------------------------------------------------------------------
# Linear algebra and softmax family
# ---------------------------------------------------------------------------------------------------------------
def matmul(x: TensorLike, y: TensorLike) -> Tensor:
    """Matrix product with numpy's rules: batch dims broadcast, 1-D operands are vectors."""
    return ops.matmul(x, y)


def dot(x: TensorLike, y: TensorLike) -> Tensor:
    x, y = _tensor(x), _tensor(y)
    if x.ndim != 1 or y.ndim != 1:
        raise OpError(f"dot: expected two 1-D tensors, got shapes {x.shape} and {y.shape}")
    return ops.matmul(x, y)


def einsum(subscripts: str, *operands: Any) -> Tensor:
    """Einstein summation, as numpy.einsum (ellipsis and repeated labels included)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    tensors = [_tensor(o) for o in operands]
    try:  # clear errors for label/shape mismatches (the kernel raises ValueError: it knows nothing of ours)
        ops.parse_einsum(subscripts, [t.shape for t in tensors])
    except ValueError as err:
        raise OpError(str(err)) from None
    return ops.einsum(*tensors, subscripts=subscripts)
