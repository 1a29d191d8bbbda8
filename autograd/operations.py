"""The functional API (`autograd.sum`, `autograd.softmax`, ...): argument checking, PyTorch's conventions,
and composite operations built from the primitives in `ops.py`. Tensor methods call these.

Nothing here has a VJP of its own; gradients come from the primitives each function is made of.
"""

from __future__ import annotations

import builtins
import math
import warnings
from collections import namedtuple
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import kernels, ops
from .core import Tensor, TensorLike, as_constant, pytorch_result_dtype
from .errors import OpError, OpIndexError
from .kernels import as_ndarray, as_stored
from .out import write_out

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
    return x if isinstance(x, Tensor) else Tensor._wrap(as_stored(np.asarray(as_constant(x))))


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
        # Where x or the bound is NaN, neither x >= min nor x < min holds: the result is NaN and no gradient
        # passes, as in PyTorch (where(x >= min, x, min) alone gave min there, and min the gradient)
        out = _tensor(x)
        # PyTorch's dtype (a float64 0-d bound leaves a float32 x float32): bounds of a float type other than the
        # result's are cast to it first (in the graph: their gradients come back in their own dtypes)
        dtype = pytorch_result_dtype(out, min, max)
        min, max = (astype(b, dtype) if isinstance(b, Tensor) and b.dtype != dtype and b.dtype.kind == "f"
                    and dtype.kind == "f" else b for b in (min, max))
        if min is not None:
            out = where(out >= min, out, where(out < min, min, math.nan))
        if max is not None:
            out = where(out <= max, out, where(out > max, max, math.nan))
        return out
    return ops.clamp(x, min=min, max=max)


clip = clamp


def where(condition: TensorLike, x: TensorLike, y: TensorLike, *, out: Tensor | None = None) -> Tensor:
    """x where condition holds, else y (all three broadcast together)."""
    if out is not None:  # (out= is a keyword here, not a wrapper as for other functions: nn calls where a lot)
        return write_out("where", out, lambda: where(condition, x, y), (x, y))
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
    # PyTorch compares in the promoted dtype (_in_common_dtype). Operands of one dtype need nothing; Python numbers
    # are told by their class (getattr(0.5, "dtype", None) raises and catches: +60% on `x > 0.5`, callgrind)
    ka, kb = a.__class__, b.__class__
    if kb in _PLAIN:  # only a float or complex number meeting integers or booleans changes their dtype
        if (kb is float or kb is complex) and ka not in _PLAIN and a.dtype.kind in "biu":
            a, b = _in_common_dtype(a, b)
    elif ka in _PLAIN:
        if (ka is float or ka is complex) and b.dtype.kind in "biu":
            a, b = _in_common_dtype(a, b)
    elif a.dtype is not b.dtype and a.dtype != b.dtype:
        a, b = _in_common_dtype(a, b)
    try:
        return Tensor._wrap(fn(a, b))
    except ValueError:
        raise OpError(f"{name}: shapes {np.shape(a)} and {np.shape(b)} cannot be broadcast together") from None


_PLAIN = frozenset((bool, int, float, complex, type(None)))  # operands without a dtype


def _in_common_dtype(a: Any, b: Any) -> tuple[Any, Any]:
    """`a` and `b` cast to the dtype PyTorch compares them in: it casts both operands to the promoted dtype first
    (pytorch_result_dtype: a 0-d operand of the same category does not widen), where numpy compares in its own
    wider type. So `float32 [0.1] == float64 0-d 0.1` is True (0.1 rounded to float32 on both sides; numpy:
    False), `int64 [2**24 + 1] == float32 [2**24]` True (both float32; numpy compares in float64), and
    `logical_and(float32 [1], float64 0-d 1e-50)` False (1e-50 is 0 in float32). A Python float or complex
    meeting integers or booleans makes them float32 or complex64 (numpy: float64, complex128); other Python
    numbers are weak in both and stay as they are (an int may not fit the tensor's dtype: `uint8 == 300`)."""
    da = None if a.__class__ in _PLAIN else a.dtype
    db = None if b.__class__ in _PLAIN else b.dtype
    if da is None or db is None:
        if da is db:  # two Python numbers
            return a, b
        number, dtype = (a, db) if da is None else (b, da)
        if (number.__class__ is not float and number.__class__ is not complex) or dtype.kind not in "biu":
            return a, b
    elif da.kind not in "biufc" or db.kind not in "biufc":  # strings, objects: numpy's business
        return a, b
    target = pytorch_result_dtype(a, b)
    with np.errstate(over="ignore"):  # a float64 beyond float32's range is inf in float32, as in PyTorch
        a = a.astype(target) if da is not None else target.type(a)  # (the number too: numpy would warn)
        b = b.astype(target) if db is not None else target.type(b)
    return a, b


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
            data = as_stored(np.array(data & (2**64 - 1), np.uint64).astype(kind))  # two's complement wrap-around
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
    v = var(x, dim, unbiased, keepdim, correction=correction, axis=axis, keepdims=keepdims, ddof=ddof)
    # std of a constant: sqrt'(0) is infinite and the variance's gradient 0, so the composition gave 0 * inf = NaN
    # (with a warning); PyTorch's std_backward gives 0 there (masked_fill(result == 0, 0)): the detour of norm
    is_zero = v._data == 0
    return where(is_zero, 0.0, ops.sqrt(where(is_zero, 1.0, v)))


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
    return MaxMin(values, Tensor._wrap(as_stored(np.asarray(indices, dtype=np.int64))))


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
    return Tensor._wrap(as_stored(np.argmax(x._data, axis=axis, keepdims=keepdim).astype(np.int64)))


def argmin(x: TensorLike, dim: int | None = None, keepdim: bool = False, *, axis: Any = None,
           keepdims: bool | None = None) -> Tensor:
    x = _tensor(x)
    dim, keepdim = _numpy_aliases(dim, keepdim, axis, keepdims)
    if dim is None:
        return Tensor._wrap(np.int64(np.argmin(x._data)))
    axis = normalize_dim(dim, x.ndim, "argmin")
    return Tensor._wrap(as_stored(np.argmin(x._data, axis=axis, keepdims=keepdim).astype(np.int64)))


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
        viewed = as_stored(as_ndarray(data).view(target))
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


def t(x: TensorLike) -> Tensor:
    """The transpose of a matrix (PyTorch's `t`): dims 0 and 1 swapped; a 0-d or 1-d tensor is returned as is.

        >>> autograd.t(autograd.ones(2, 3)).shape
        (3, 2)
    """
    x = _tensor(x)
    if x.ndim > 2:
        raise OpError(f"t: expects a tensor with <= 2 dimensions, but it has {x.ndim} (shape {x.shape}); "
                      "use transpose(dim0, dim1) or permute(...) for more")
    return x if x.ndim < 2 else permute(x, (1, 0))


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
def cat(tensors: Sequence[TensorLike], dim: int = 0, *, axis: int | None = None,
        out: Tensor | None = None) -> Tensor:
    if out is not None:
        return write_out("cat", out, lambda: cat(tensors, dim, axis=axis), tuple(tensors))
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


def stack(tensors: Sequence[TensorLike], dim: int = 0, *, axis: int | None = None,
          out: Tensor | None = None) -> Tensor:
    if out is not None:
        return write_out("stack", out, lambda: stack(tensors, dim, axis=axis), tuple(tensors))
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
    return ops.split_pieces(x, axis, sizes)  # one node for all pieces: a backward linear in their number


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
    return ops.split_pieces(x, axis, [1] * x.shape[axis], squeeze=True)  # (see split)


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
        raise OpError(f"gather: index has {idx.ndim} dims (shape {idx.shape}) but the input (shape {x.shape}) has "
                      f"{x.ndim}")
    _check_indices("gather", idx, dim, x.shape[axis])  # negative ones too: PyTorch's gather does not wrap them
    grids = np.ogrid[tuple(slice(n) for n in idx.shape)] if idx.ndim else []
    full = tuple(idx if d == axis else grids[d] for d in range(x.ndim))
    return ops.getitem(x, index=full)



def index_add(x: TensorLike, dim: int | None = None, index: TensorLike | None = None,
              source: TensorLike | None = None, *, alpha: Any = 1, axis: int | None = None) -> Tensor:
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
    _check_indices("index_add", idx, dim, x.shape[axis] if x.ndim else 1)
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
    if x.shape != y.shape:  # checked here: matmul's error would name matmul, not the function called
        raise OpError(f"dot: the two vectors must have the same size, got shapes {x.shape} and {y.shape}")
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


# ---------------------------------------------------------------------------------------------------------------
# Structure (issue 15): triangles and diagonals, rolls and rotations, grids, tiling, products that build
# structure. All are compositions of the primitives above (reshape, transpose, getitem, cat, flip, where, mul),
# except the diagonals, which sit on ops.diagonal and its adjoint ops.embed_diagonal (ops.py says why).
# ---------------------------------------------------------------------------------------------------------------
def _need_dims(x: Tensor, n: int, op: str) -> None:
    if x.ndim < n:
        raise OpError(f"{op}: expected a tensor with at least {n} dims, got shape {x.shape}")


def _int_arg(value: Any, name: str, op: str) -> int:
    if isinstance(value, Tensor) and value.ndim == 0:
        value = value.item()
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{op}: {name} must be an int, got {value!r}")
    return int(value)


def _two_dims(dim1: int, dim2: int, ndim: int, op: str) -> tuple[int, int]:
    a, b = normalize_dim(dim1, ndim, op), normalize_dim(dim2, ndim, op)
    if a == b:
        raise OpError(f"{op}: dim1 and dim2 name the same dim ({dim1} and {dim2}) of a tensor with {ndim} dims")
    return a, b


def _triangle(x: TensorLike, diagonal: int, lower: bool, op: str) -> Tensor:
    x = _tensor(x)
    _need_dims(x, 2, op)
    k = _int_arg(diagonal, "diagonal", op)
    rows, cols = x.shape[-2:]
    keep = np.tri(rows, cols, k, dtype=bool) if lower else ~np.tri(rows, cols, k - 1, dtype=bool)
    # selected, not multiplied by the mask: an inf above the diagonal gives 0 in tril, not nan
    return ops.where(keep, x, x.dtype.type(0))


def tril(x: TensorLike, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dims: elements (i, j) with j - i <= diagonal, zeros elsewhere.

    >>> import autograd
    >>> autograd.tril(autograd.ones(2, 3)).tolist()
    [[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]
    """
    return _triangle(x, diagonal, True, "tril")


def triu(x: TensorLike, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dims: elements (i, j) with j - i >= diagonal, zeros elsewhere."""
    return _triangle(x, diagonal, False, "triu")


def diagonal(x: TensorLike, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The elements x[..., i, i + offset, ...] of the plane (dim1, dim2), as a new last dim (a view, as in
    PyTorch and numpy). The gradient is embedded back on the diagonal of zeros."""
    x = _tensor(x)
    _need_dims(x, 2, "diagonal")
    a, b = _two_dims(dim1, dim2, x.ndim, "diagonal")
    return ops.diagonal(x, offset=_int_arg(offset, "offset", "diagonal"), axis1=a, axis2=b)


def diag_embed(x: TensorLike, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Matrices with x's last dim on their diagonal `offset`, in the new dims (dim1, dim2) of the result
    (which has one dim more than x): diagonal(diag_embed(x, o, d1, d2), o, d1, d2) == x."""
    x = _tensor(x)
    _need_dims(x, 1, "diag_embed")
    offset = _int_arg(offset, "offset", "diag_embed")
    a, b = _two_dims(dim1, dim2, x.ndim + 1, "diag_embed")
    n = x.shape[-1] + builtins.abs(offset)
    shape = list(x.shape[:-1])
    for axis in sorted((a, b)):
        shape.insert(axis, n)
    return ops.embed_diagonal(x, shape=tuple(shape), offset=offset, axis1=a, axis2=b)


def diag(x: TensorLike, diagonal: int = 0) -> Tensor:
    """A vector's square matrix (the vector on diagonal `diagonal`), or a matrix's diagonal as a vector."""
    x = _tensor(x)
    k = _int_arg(diagonal, "diagonal", "diag")
    if x.ndim == 1:
        n = x.shape[0] + builtins.abs(k)
        return ops.embed_diagonal(x, shape=(n, n), offset=k, axis1=0, axis2=1)
    if x.ndim == 2:
        return ops.diagonal(x, offset=k, axis1=0, axis2=1)
    raise OpError(f"diag: expected a 1-D or 2-D tensor, got shape {x.shape}")


def trace(x: TensorLike) -> Tensor:
    """The sum of a matrix's main diagonal (integers sum to int64, as in PyTorch)."""
    x = _tensor(x)
    if x.ndim != 2:
        raise OpError(f"trace: expected a 2-D tensor, got shape {x.shape}")
    return sum(ops.diagonal(x, offset=0, axis1=0, axis2=1))


def _axis_slice(axis: int, start: int | None, stop: int | None) -> tuple:
    return (slice(None),) * axis + (slice(start, stop),)


def roll(x: TensorLike, shifts: int | Sequence[int], dims: int | Sequence[int] | None = None) -> Tensor:
    """Shift elements along dims, wrapping around: out[(i + s) % n] = x[i]. Without dims, over the flattened
    tensor (its shape is kept)."""
    x = _tensor(x)
    shift_list = [shifts] if isinstance(shifts, (int, np.integer)) else list(shifts)
    if dims is None:
        if len(shift_list) != 1:
            raise OpError(f"roll: without dims, shifts must be a single int, got {shifts!r}")
        return reshape(roll(flatten(x), shift_list[0], 0), x.shape)
    dim_list = [dims] if isinstance(dims, (int, np.integer)) else list(dims)
    if len(shift_list) != len(dim_list):
        raise OpError(f"roll: shifts {shifts!r} and dims {dims!r} must have the same length")
    if x.ndim == 0:
        for d in dim_list:
            normalize_dim(d, 0, "roll")
        return ops.clone(x)
    out = x
    for shift, d in zip(shift_list, dim_list):
        axis = normalize_dim(d, x.ndim, "roll")
        n = x.shape[axis]
        s = _int_arg(shift, "shifts", "roll") % n if n else 0
        if s:  # the last s elements come first: two slices joined (the gradient is the same two slices back)
            out = cat([getitem(out, _axis_slice(axis, n - s, None)), getitem(out, _axis_slice(axis, None, n - s))],
                      axis)
    return out if out is not x else ops.clone(x)


def rot90(x: TensorLike, k: int = 1, dims: Sequence[int] = (0, 1)) -> Tensor:
    """Rotate by k quarter turns in the plane dims, from dims[0] towards dims[1] (PyTorch's and numpy's
    direction): a flip and a transpose."""
    x = _tensor(x)
    dims = tuple(dims)
    if len(dims) != 2:
        raise OpError(f"rot90: dims must name 2 dims, got {dims!r}")
    _need_dims(x, 2, "rot90")
    a, b = _two_dims(dims[0], dims[1], x.ndim, "rot90")
    k = _int_arg(k, "k", "rot90") % 4
    if k == 0:
        return ops.clone(x)
    if k == 2:
        return flip(x, (a, b))
    return transpose(flip(x, b if k == 1 else a), a, b)


def meshgrid(*tensors: Any, indexing: str = "ij") -> tuple[Tensor, ...]:
    """Coordinate grids from 0-d or 1-D tensors: with indexing='ij' output k varies along dim k; with 'xy'
    (numpy's default, Cartesian) the first two dims are swapped. Each grid is a broadcast view of its input
    (PyTorch's expand); its gradient sums over the grid."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise OpError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    ts = [_tensor(t) for t in tensors]
    for i, t in enumerate(ts):
        if t.ndim > 1:
            raise OpError(f"meshgrid: expected 0-d or 1-D tensors, got shape {t.shape} for tensor {i}")
    sizes = [t._data.size for t in ts]
    position = list(range(len(ts)))
    if indexing == "xy" and len(ts) >= 2:
        position[0], position[1] = 1, 0
    shape = [0] * len(ts)
    for i, p in enumerate(position):
        shape[p] = sizes[i]
    grids = []
    for i, t in enumerate(ts):
        lined = reshape(t, tuple(sizes[i] if j == position[i] else 1 for j in range(len(ts))))
        grids.append(broadcast_to(lined, tuple(shape)))
    return tuple(grids)


def repeat_interleave(x: TensorLike, repeats: Any = None, dim: int | None = None, *,
                      output_size: int | None = None) -> Tensor:
    """Repeat each element `repeats` times along dim (over the flattened tensor when dim is None): numpy's
    `repeat`. `repeats` is an int or one count per element of the dim. With a tensor alone,
    repeat_interleave(counts) gives each index i counts[i] times (outside the graph)."""
    if repeats is None:
        counts = np.asarray(_tensor(x)._data)
        if counts.ndim != 1 or counts.dtype.kind not in "iu":
            raise OpError(f"repeat_interleave: expected a 1-D integer tensor of counts, got {counts.dtype} "
                          f"of shape {counts.shape}")
        return Tensor._wrap(np.repeat(np.arange(counts.size, dtype=np.int64), counts))
    x = _tensor(x)
    if dim is None:
        x, axis = flatten(x), 0
    else:
        axis = normalize_dim(dim, x.ndim, "repeat_interleave")
        if x.ndim == 0:
            x = reshape(x, (1,))
    n = x.shape[axis]
    counts = np.asarray(repeats._data if isinstance(repeats, Tensor) else repeats)
    if counts.dtype.kind not in "iu" or counts.ndim > 1:
        raise TypeError(f"repeat_interleave: repeats must be an int or a 1-D integer tensor, got {repeats!r}")
    if (counts < 0).any():
        raise OpError(f"repeat_interleave: repeats must be non-negative, got {repeats!r}")
    if counts.ndim == 1 and counts.size != 1:
        if counts.size != n:
            raise OpError(f"repeat_interleave: {counts.size} repeat counts for a dim of size {n} (dim {axis} of "
                          f"shape {x.shape})")
        out = getitem(x, (slice(None),) * axis + (np.repeat(np.arange(n), counts),))
    else:  # one count for all: a new axis, expanded and merged (a broadcast, whose gradient is a sum)
        r = int(counts.reshape(-1)[0])
        wide = broadcast_to(unsqueeze(x, axis + 1), x.shape[:axis + 1] + (r,) + x.shape[axis + 1:])
        out = reshape(wide, x.shape[:axis] + (n * r,) + x.shape[axis + 1:])
    if output_size is not None and out.shape[axis] != output_size:
        raise OpError(f"repeat_interleave: output_size={output_size} but the repeats give {out.shape[axis]}")
    return out


def unflatten(x: TensorLike, dim: int, sizes: Sequence[int]) -> Tensor:
    """Split dim into several of the given sizes (one may be -1, inferred)."""
    x = _tensor(x)
    axis = normalize_dim(dim, x.ndim, "unflatten")
    sizes = tuple(int(s) for s in sizes)
    if not sizes:
        raise OpError(f"unflatten: sizes must not be empty (dim {dim} of shape {x.shape})")
    n = x.shape[axis]
    known = math.prod(s for s in sizes if s != -1)
    if sizes.count(-1) > 1 or builtins.any(s < -1 for s in sizes) or \
            (-1 not in sizes and known != n) or (-1 in sizes and (known == 0 or n % known)):
        raise OpError(f"unflatten: sizes {sizes} do not multiply to the size {n} of dim {dim} (shape {x.shape})")
    sizes = tuple(n // known if s == -1 else s for s in sizes)
    return reshape(x, x.shape[:axis] + sizes + x.shape[axis + 1:])


def movedim(x: TensorLike, source: int | Sequence[int], destination: int | Sequence[int]) -> Tensor:
    """Move dims to new positions, the others keeping their order (numpy's moveaxis)."""
    x = _tensor(x)
    src = [source] if isinstance(source, (int, np.integer)) else list(source)
    dst = [destination] if isinstance(destination, (int, np.integer)) else list(destination)
    if len(src) != len(dst):
        raise OpError(f"movedim: source {source!r} and destination {destination!r} must have the same length")
    src = [normalize_dim(d, x.ndim, "movedim") for d in src]
    dst = [normalize_dim(d, x.ndim, "movedim") for d in dst]
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise OpError(f"movedim: repeated dim in source {source!r} or destination {destination!r}")
    order = [d for d in range(x.ndim) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return permute(x, tuple(order)) if x.ndim else x


moveaxis = movedim
swapdims = swapaxes


def narrow(x: TensorLike, dim: int, start: Any, length: int) -> Tensor:
    """x's elements start, ..., start + length - 1 along dim (a slice; start may be negative)."""
    x = _tensor(x)
    _need_dims(x, 1, "narrow")
    axis = normalize_dim(dim, x.ndim, "narrow")
    n = x.shape[axis]
    begin, length = _int_arg(start, "start", "narrow"), _int_arg(length, "length", "narrow")
    if not -n <= begin <= n:
        raise OpIndexError(f"narrow: start {begin} is out of range for dim {dim} of size {n} (shape {x.shape})")
    begin %= n if n else 1
    if length < 0:
        raise OpError(f"narrow: length must be non-negative, got {length} (dim {dim} of shape {x.shape})")
    if begin + length > n:
        raise OpError(f"narrow: start ({begin}) + length ({length}) exceeds the size ({n}) of dim {dim} "
                      f"(shape {x.shape})")
    return getitem(x, _axis_slice(axis, begin, begin + length))


def unfold_dim(x: TensorLike, dimension: int, size: int, step: int) -> Tensor:
    """`Tensor.unfold(dimension, size, step)`: every slice of `size` elements along dimension, `step` apart,
    as a new last dim of that size; dimension's size becomes the number of slices. A view (ops.unfold), whose
    gradient adds the overlapping windows back up (ops.fold)."""
    x = _tensor(x)
    axis = normalize_dim(dimension, x.ndim, "unfold")
    size, step = _int_arg(size, "size", "unfold"), _int_arg(step, "step", "unfold")
    length = x.shape[axis] if x.ndim else 1
    if step <= 0:
        raise OpError(f"unfold: step must be positive, got {step}")
    if not 0 <= size <= length:
        raise OpError(f"unfold: size {size} must be between 0 and the size {length} of dim {dimension} "
                      f"(shape {x.shape})")
    if x.ndim == 0:  # PyTorch's rule: a 0-d tensor unfolds to its one window, of shape (size,)
        return reshape(x, (1,)) if size else getitem(reshape(x, (1,)), slice(0, 0))
    windows = ops.unfold(movedim(x, axis, -1), kernel_size=(size,), stride=(step,), dilation=(1,))
    return movedim(windows, -2, axis)


def tile(x: TensorLike, dims: Sequence[int]) -> Tensor:
    """Repeat the whole tensor dims[i] times along dim i; with fewer dims than the tensor's, 1s are put in
    front (numpy's tile)."""
    x = _tensor(x)
    reps = (int(dims),) if isinstance(dims, (int, np.integer)) else tuple(int(d) for d in dims)
    return repeat(x, (1,) * (x.ndim - len(reps)) + reps)


def _at_least(tensors: tuple, n: int, op: str) -> Any:
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
        many = True
    else:
        many = len(tensors) != 1
    out = []
    for t in tensors:
        t = _tensor(t)
        if t.ndim < n:  # numpy's rule: (n,) -> (1, n) -> (1, n, 1); (m, n) -> (m, n, 1)
            shape = (1,) * n if t.ndim == 0 else (1, *t.shape, 1)[:n] if t.ndim == 1 else (*t.shape, 1)
            t = reshape(t, shape)
        out.append(t)
    return tuple(out) if many else out[0]


def atleast_1d(*tensors: Any) -> Any:
    """A 0-d tensor as shape (1,); others unchanged. Several tensors give a tuple."""
    return _at_least(tensors, 1, "atleast_1d")


def atleast_2d(*tensors: Any) -> Any:
    """0-d as (1, 1), 1-D (n,) as (1, n); others unchanged. Several tensors give a tuple."""
    return _at_least(tensors, 2, "atleast_2d")


def atleast_3d(*tensors: Any) -> Any:
    """0-d as (1, 1, 1), (n,) as (1, n, 1), (m, n) as (m, n, 1) (numpy's rule); others unchanged."""
    return _at_least(tensors, 3, "atleast_3d")


def outer(x: TensorLike, y: TensorLike) -> Tensor:
    """The outer product of two vectors: out[i, j] = x[i] y[j]."""
    x, y = _tensor(x), _tensor(y)
    if x.ndim != 1 or y.ndim != 1:
        raise OpError(f"outer: expected two 1-D tensors, got shapes {x.shape} and {y.shape}")
    return ops.mul(reshape(x, (x.shape[0], 1)), reshape(y, (1, y.shape[0])))


ger = outer


def kron(x: TensorLike, y: TensorLike) -> Tensor:
    """The Kronecker product: out[i * m + k, ...] = x[i, ...] y[k, ...] (the shorter shape gets leading 1s).
    One broadcast product of x and y with their dims interleaved, reshaped."""
    x, y = _tensor(x), _tensor(y)
    nd = builtins.max(x.ndim, y.ndim)
    a = (1,) * (nd - x.ndim) + x.shape
    b = (1,) * (nd - y.ndim) + y.shape
    product = ops.mul(reshape(x, tuple(v for n in a for v in (n, 1))), reshape(y, tuple(v for n in b for v in (1, n))))
    return reshape(product, tuple(m * n for m, n in zip(a, b)))


def cross(x: TensorLike, y: TensorLike, dim: int | None = None) -> Tensor:
    """The cross product of 3-vectors along dim (batch dims broadcast). Without dim, the first dim of size 3,
    as PyTorch's torch.cross (which warns that this default is deprecated; linalg.cross uses dim=-1)."""
    x, y = _tensor(x), _tensor(y)
    try:
        shape = np.broadcast_shapes(x.shape, y.shape)
    except ValueError:
        raise OpError(f"cross: shapes {x.shape} and {y.shape} cannot be broadcast together") from None
    if dim is None:
        axis = next((i for i, n in enumerate(shape) if n == 3), None)
        if axis is None:
            raise OpError(f"cross: no dim of size 3 in shape {shape}")
        warnings.warn("cross: using cross without specifying dim is deprecated (as in PyTorch); the first dim of "
                      f"size 3 ({axis}) is used", UserWarning, stacklevel=2)
    else:
        if not shape:
            raise OpError(f"cross: expected tensors with at least 1 dim, got shapes {x.shape} and {y.shape}")
        axis = normalize_dim(dim, len(shape), "cross")
    if shape[axis] != 3:
        raise OpError(f"cross: dim {dim} has size {shape[axis]} in the broadcast shape {shape}, expected 3")
    x, y = broadcast_to(x, shape), broadcast_to(y, shape)
    a = [getitem(x, (slice(None),) * axis + (i,)) for i in range(3)]
    b = [getitem(y, (slice(None),) * axis + (i,)) for i in range(3)]
    return stack([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]], axis)
# Scans, orderings, gather/scatter (issue 15). An ordering (sort, topk, kthvalue, median, quantile, cummax) is
# an order computed on the data, followed by an indexing: the gradient goes to the returned indices, where
# PyTorch sends it (the order itself is piecewise constant).
# ---------------------------------------------------------------------------------------------------------------
def _return_type(name: str) -> Any:
    """A (values, indices) named tuple, as torch.return_types.NAME."""
    return namedtuple(name, ["values", "indices"])


SortResult, TopkResult, KthvalueResult = _return_type("sort"), _return_type("topk"), _return_type("kthvalue")
MedianResult, CummaxResult, CumminResult = _return_type("median"), _return_type("cummax"), _return_type("cummin")


def _data(x: Any) -> np.ndarray:
    return np.asarray(x._data if isinstance(x, Tensor) else as_constant(x))


def _integer_index(index: Any, op: str, name: str = "index") -> np.ndarray:
    idx = _data(index)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: {name} must be an integer tensor, got dtype {idx.dtype}")
    return idx


def _long(a: Any) -> Tensor:
    return Tensor._wrap(as_stored(np.asarray(a, dtype=np.int64)))


def _take(x: Tensor, axis: int, idx: np.ndarray) -> Tensor:
    """x gathered along `axis` at `idx` (same number of dims as x, in range): the gradient goes to idx."""
    grids = np.ogrid[tuple(slice(n) for n in idx.shape)] if idx.ndim else []
    return ops.getitem(x, index=tuple(idx if d == axis else grids[d] for d in range(x.ndim)))


def _scan(name: str, op: Any, x: TensorLike, dim: int, dtype: Any = None) -> Tensor:
    x = _tensor(x)
    axis = normalize_dim(dim, x.ndim, name)
    if dtype is not None:
        x = astype(x, dtype)
    elif x.dtype.kind in "biu":  # PyTorch: integers and booleans accumulate in int64
        x = astype(x, np.int64)
    if x.ndim == 0:  # a 0-d scan is the value itself
        return reshape(op(reshape(x, (1,)), axis=0), ())
    return op(x, axis=axis)


def cumsum(x: TensorLike, dim: int, *, dtype: Any = None) -> Tensor:
    """Cumulative sum along `dim`: out_j = sum_{i <= j} x_i. Integers and booleans sum in int64, as in PyTorch.

    >>> import autograd
    >>> autograd.cumsum(autograd.tensor([1.0, 2.0, 3.0]), 0)
    tensor([1., 3., 6.])
    """
    return _scan("cumsum", ops.cumsum, x, dim, dtype)


def cumprod(x: TensorLike, dim: int, *, dtype: Any = None) -> Tensor:
    """Cumulative product along `dim`: out_j = prod_{i <= j} x_i. The gradient is exact with zeros
    (no division by x): d out_j / d x_i = prod_{k <= j, k != i} x_k."""
    return _scan("cumprod", ops.cumprod, x, dim, dtype)


def logcumsumexp(x: TensorLike, dim: int) -> Tensor:
    """log(sum_{i <= j} exp(x_i)) along `dim`, without overflow (floating-point inputs only, as in PyTorch)."""
    x = _tensor(x)
    if x.dtype.kind not in "fc":
        raise TypeError(f"logcumsumexp: expected a floating-point tensor, got {x.dtype}")
    return _scan("logcumsumexp", ops.logcumsumexp, x, dim)


def _cumulative_extreme(name: str, result: Any, accumulate: np.ufunc, x: TensorLike, dim: int) -> Any:
    x = _tensor(x)
    axis = normalize_dim(dim, x.ndim, name)
    if x.ndim == 0:
        return result(ops.clone(x), _long(0))
    data = x._data
    running = accumulate.accumulate(data, axis=axis)
    # PyTorch's loop takes x_j when it ties the running extreme (>= for cummax) or is NaN: the index is the last
    # place where the running value was reached (a NaN stays the extreme, and each later NaN takes its place)
    taken = data == running
    if data.dtype.kind in "fc":
        taken |= np.isnan(data)
    position = np.arange(data.shape[axis]).reshape((-1,) + (1,) * (data.ndim - 1 - axis))
    indices = np.maximum.accumulate(np.where(taken, position, 0), axis=axis)
    return result(_take(x, axis, indices), _long(indices))


def cummax(x: TensorLike, dim: int) -> Any:
    """(values, indices) of the running maximum along `dim`; a tie takes the later index and a NaN stays the
    maximum, as in PyTorch. The gradient of values[j] goes to x[indices[j]]."""
    return _cumulative_extreme("cummax", CummaxResult, np.maximum, x, dim)


def cummin(x: TensorLike, dim: int) -> Any:
    """(values, indices) of the running minimum along `dim` (ties: the later index; NaN propagates)."""
    return _cumulative_extreme("cummin", CumminResult, np.minimum, x, dim)


def _sort_order(data: np.ndarray, axis: int, descending: bool) -> np.ndarray:
    """The stable order along `axis`, NaN counted as the largest value (PyTorch's rule). Descending keeps equal
    values in their original order: a stable ascending sort of the reversed data, reversed back."""
    if not descending:
        return np.argsort(data, axis=axis, kind="stable")
    n = data.shape[axis]
    flipped = np.argsort(np.flip(data, axis), axis=axis, kind="stable")
    return n - 1 - np.flip(flipped, axis)


def _ties_among_first(data: np.ndarray, order: np.ndarray, axis: int, count: int) -> np.ndarray:
    """Per line (shaped like the lines, without `axis`): whether two of the first `count` values of the sorted
    `order` are equal (NaN equal to NaN), the lines where PyTorch's algorithm chooses among equal values."""
    head = np.take_along_axis(data, order[(slice(None),) * axis + (slice(0, count),)], axis)
    later = head[(slice(None),) * axis + (slice(1, None),)]
    earlier = head[(slice(None),) * axis + (slice(None, -1),)]
    same = later == earlier
    if data.dtype.kind in "fc":
        same |= np.isnan(later) & np.isnan(earlier)
    return same.any(axis=axis)


def _replay(data: np.ndarray, order: np.ndarray, axis: int, lines: np.ndarray, replay: Any) -> np.ndarray:
    """`order` with each line where `lines` holds replaced by replay(that line of data) (kernels' replays of
    PyTorch's CPU algorithms)."""
    if not lines.any() or np.count_nonzero(lines) * data.shape[axis] > kernels.TIE_REPLAY_BUDGET:
        return order  # no ties, or too many to replay at Python's speed: the stable order
    values = np.moveaxis(data, axis, -1)
    result = np.moveaxis(order, axis, -1).copy()
    for row in np.argwhere(lines):
        result[tuple(row)] = replay(values[tuple(row)])
    return np.moveaxis(result, -1, axis)


def _pytorch_order(data: np.ndarray, axis: int, descending: bool, stable: bool) -> np.ndarray:
    """sort's indices as PyTorch's CPU sort gives them: the stable order, except for stable=False on lines of
    more than 16 elements holding equal values, where its std::sort is replayed (within TIE_REPLAY_BUDGET)."""
    order = _sort_order(data, axis, descending)
    n = data.shape[axis]
    if stable or n <= 16:  # up to 16 elements std::sort is an insertion sort: stable
        return order
    tied = _ties_among_first(data, order, axis, n)
    return _replay(data, order, axis, tied, lambda line: kernels.pytorch_sort_order(line, descending))


def sort(x: TensorLike, dim: int = -1, descending: bool = False, *, stable: bool = False) -> Any:
    """(values, indices) sorted along `dim`, NaN last (first when descending); values' gradient goes to
    x[indices]. Equal values come in PyTorch's CPU order: the original order with stable=True and on lines of up
    to 16 elements, otherwise its std::sort's, replayed (kernels.pytorch_sort_order) within TIE_REPLAY_BUDGET."""
    x = _tensor(x)
    axis = normalize_dim(dim, x.ndim, "sort")
    if x.ndim == 0:
        return SortResult(ops.clone(x), _long(0))
    order = _pytorch_order(x._data, axis, descending, stable)
    return SortResult(_take(x, axis, order), _long(order))


def argsort(x: TensorLike, dim: int = -1, descending: bool = False, *, stable: bool = False) -> Tensor:
    """The indices that sort x along `dim` (int64, outside the graph): sort(...).indices."""
    x = _tensor(x)
    axis = normalize_dim(dim, x.ndim, "argsort")
    if x.ndim == 0:
        return _long(0)
    return _long(_pytorch_order(x._data, axis, descending, stable))


def msort(x: TensorLike) -> Tensor:
    """x sorted along its first dim: sort(x, 0).values."""
    return sort(x, 0).values


def topk(x: TensorLike, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:
    """(values, indices) of the k largest (or smallest) elements along `dim`, in order (with sorted=False, in
    PyTorch's unsorted order); NaN counts as the largest. Among equal values the indices are those PyTorch's CPU
    topk returns (kernels.pytorch_topk_order). The gradient of values goes to x[indices]."""
    x = _tensor(x)
    axis = normalize_dim(dim, x.ndim, "topk")
    n = x.shape[axis] if x.ndim else 1
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 0 <= k <= n:
        raise OpIndexError(f"topk: k ({k!r}) is out of range for dim {dim} of size {n} (expected 0 <= k <= {n})")
    if x.ndim == 0:
        return TopkResult(ops.clone(x), _long(0))  # PyTorch's answer for k = 0 too
    data = x._data
    order = _sort_order(data, axis, largest)
    if k:
        # PyTorch's pick among equal values at the top (or at the k-th place); sorted=False: its unsorted order
        lines = _ties_among_first(data, order, axis, builtins.min(k + 1, n)) | (not sorted and k * 64 > n)
        order = _replay(data, order, axis, lines,
                        lambda line: _padded(kernels.pytorch_topk_order(line, k, largest, sorted), n))
    order = order[(slice(None),) * axis + (slice(0, k),)]
    return TopkResult(_take(x, axis, order), _long(order))


def _padded(head: np.ndarray, n: int) -> np.ndarray:
    """A line of n positions starting with `head` (only the head is kept afterwards)."""
    return np.concatenate([head, np.zeros(n - head.size, dtype=head.dtype)])


def _kth(name: str, result: Any, x: Tensor, k: int, axis: int, keepdim: bool, select: Any = None) -> Any:
    """The k-th smallest (0-based) along `axis` and its index: the stable order's, or on the lines where that
    value is tied, `select(line, k)`'s (an index among the equal values)."""
    data = x._data
    order = _sort_order(data, axis, False)
    picked = order[(slice(None),) * axis + (slice(k, k + 1),)]
    if select is not None:
        value = np.take_along_axis(data, picked, axis)
        same = data == value
        if data.dtype.kind in "fc":
            same |= np.isnan(data) & np.isnan(value)
        tied = np.squeeze(same.sum(axis=axis, keepdims=True) > 1, axis)
        picked = _replay(data, picked, axis, tied, lambda line: select(line, k))
    values = _take(x, axis, picked)
    if not keepdim:
        values, picked = squeeze(values, axis), np.squeeze(picked, axis)
    return result(values, _long(picked))


def kthvalue(x: TensorLike, k: int, dim: int = -1, keepdim: bool = False) -> Any:
    """(values, indices) of the k-th smallest element along `dim` (k counts from 1; NaN is the largest).
    Among equal values the index is the one PyTorch's CPU selection picks; the gradient goes to x[indices]."""
    x = _tensor(x)
    axis = normalize_dim(dim, x.ndim, "kthvalue")
    n = x.shape[axis] if x.ndim else 1
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= n:
        raise OpIndexError(f"kthvalue: k ({k!r}) is out of range for dim {dim} of size {n} (expected 1 <= k <= {n})")
    if x.ndim == 0:
        return KthvalueResult(ops.clone(x), _long(0))
    return _kth("kthvalue", KthvalueResult, x, int(k) - 1, axis, keepdim, kernels.pytorch_kthvalue_index)


def median(x: TensorLike, dim: int | None = None, keepdim: bool = False) -> Any:
    """The lower median: for n values, the ((n - 1) // 2)-th smallest (PyTorch's, not numpy's average of the
    two middle values). median(x) is a 0-d tensor whose gradient is shared evenly by the elements equal to it;
    median(x, dim) gives (values, indices), the gradient going to x[indices]. NaN propagates."""
    x = _tensor(x)
    if dim is None:
        data = x._data.reshape(-1)
        if data.size == 0:
            raise OpError(f"median: cannot take the median of an empty tensor (shape {x.shape})")
        flat = reshape(x, (-1,))
        nan = np.isnan(data) if data.dtype.kind in "fc" else np.zeros(data.shape, bool)
        if nan.any():  # NaN, its gradient shared by the NaNs (PyTorch's rule): their mean
            return ops.sum(where(nan, flat, 0), axis=None, keepdims=False) / int(nan.sum())
        hit = data == np.partition(data, (data.size - 1) // 2)[(data.size - 1) // 2]
        # the largest of the elements equal to the median is the median, and amax shares the gradient among them
        return ops.amax(where(hit, flat, kernels.max_pool_pad_value(flat.dtype)), axis=None, keepdims=False)
    axis = normalize_dim(dim, x.ndim, "median")
    n = x.shape[axis] if x.ndim else 1
    if n == 0:
        raise OpIndexError(f"median: cannot take the median of an empty dim {dim} (shape {x.shape})")
    if x.ndim == 0:
        return MedianResult(ops.clone(x), _long(0))
    data = x._data
    if data.dtype.kind in "fc" and np.isnan(data).any():
        # a slice holding a NaN has the median NaN, at its first NaN
        nan = np.isnan(data)
        first_nan = np.argmax(nan, axis=axis, keepdims=True)
        order = _sort_order(data, axis, False)
        middle = order[(slice(None),) * axis + (slice((n - 1) // 2, (n - 1) // 2 + 1),)]
        picked = np.where(nan.any(axis=axis, keepdims=True), first_nan, middle)
        values = _take(x, axis, picked)
        if not keepdim:
            values, picked = squeeze(values, axis), np.squeeze(picked, axis)
        return MedianResult(values, _long(picked))
    return _kth("median", MedianResult, x, (n - 1) // 2, axis, keepdim)


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def quantile(x: TensorLike, q: Any, dim: int | None = None, keepdim: bool = False, *,
             interpolation: str = "linear") -> Tensor:
    """The q-th quantiles along `dim` (of all elements when dim is None), q in [0, 1] a number or a 1-D tensor
    (then a leading dim of len(q) comes first). With n sorted values v, the rank q (n - 1) falls between
    v[floor] and v[ceil]; `interpolation` picks `linear` (lerp), `lower`, `higher`, `midpoint` or `nearest`
    (half to even). A slice holding a NaN gives NaN. Differentiable through the sort: the gradient goes to
    the (one or two) elements the quantile interpolates."""
    x = _tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"quantile: the input must be a floating-point tensor, got {x.dtype}")
    if interpolation not in _INTERPOLATIONS:
        raise OpError(f"quantile: interpolation must be one of {_INTERPOLATIONS}, got {interpolation!r}")
    qs = _data(q)
    if qs.ndim > 1:
        raise OpError(f"quantile: q must be a number or a 1-D tensor, got shape {qs.shape}")
    if isinstance(q, Tensor) and q.dtype != x.dtype:
        raise TypeError(f"quantile: q ({q.dtype}) must have the input's dtype ({x.dtype})")
    if qs.size and (np.isnan(qs).any() or qs.min() < 0 or qs.max() > 1):
        raise OpError(f"quantile: q values must be in the range [0, 1], got {qs.tolist()}")
    if x._data.size == 0:
        raise OpError(f"quantile: the input must be non-empty (shape {x.shape})")
    source_ndim = x.ndim
    if dim is None:
        x, axis = reshape(x, (-1,)), 0
    else:
        axis = normalize_dim(dim, x.ndim, "quantile")
        if x.ndim == 0:
            x = reshape(x, (1,))
        if x.shape[axis] == 0:
            raise OpError(f"quantile: cannot take quantiles of an empty dim {dim} (shape {x.shape})")
    values = sort(x, axis).values
    last = values.ndim - 1
    if axis != last:  # the sorted values along the last dim, the other dims in their order
        values = permute(values, (*(d for d in range(values.ndim) if d != axis), axis))
    n = values.shape[-1]
    rank = qs.astype(np.float64).reshape(-1) * (n - 1)
    data = values._data
    nan_row = np.isnan(data[..., -1:])  # NaN sorts last: a row with a NaN takes its last element (NaN)
    if interpolation == "lower":
        rank = np.floor(rank)
    elif interpolation == "higher":
        rank = np.ceil(rank)
    elif interpolation == "nearest":
        rank = np.round(rank)
    lower = np.where(nan_row, n - 1, np.floor(rank).astype(np.intp))
    upper = np.where(nan_row, n - 1, np.ceil(rank).astype(np.intp))
    low = _take(values, last, lower)
    high = _take(values, last, upper)
    weight = (np.full(rank.shape, 0.5) if interpolation == "midpoint" else rank - np.floor(rank)).astype(x.dtype)
    weight = np.broadcast_to(weight, low.shape)
    # torch.lerp: start + w (end - start) for w < 0.5, end - (1 - w)(end - start) above (exact at w = 1)
    difference = high - low
    out = where(weight < 0.5, low + weight * difference, high - (1 - weight) * difference)
    # (..., Q) -> (Q, ...) with the reduced dim removed or kept
    out = permute(out, (last, *range(last)))
    if keepdim:
        kept = (1,) * source_ndim if dim is None else tuple(1 if d == axis else s for d, s in
                                                            enumerate(x.shape))
        out = reshape(out, (out.shape[0], *kept))
    elif dim is not None and source_ndim:
        out = reshape(out, (out.shape[0], *(s for d, s in enumerate(x.shape) if d != axis)))
    else:
        out = reshape(out, (out.shape[0],))
    return reshape(out, out.shape[1:]) if qs.ndim == 0 else out


def unique(x: TensorLike, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False,
           dim: int | None = None) -> Any:
    """The distinct values, sorted (outside the graph: unique has no gradient, as in PyTorch). With dim, the
    distinct slices along dim. `return_inverse`: for each element (slice), its place in the result, in x's
    shape (along dim); `return_counts`: how often each occurs."""
    x = _tensor(x)
    data = x._data
    axis = None if dim is None else normalize_dim(dim, data.ndim, "unique")
    values, inverse, counts = np.unique(np.asarray(data), return_inverse=True, return_counts=True, axis=axis)
    result = [Tensor._wrap(values)]
    if return_inverse:
        result.append(_long(inverse.reshape(data.shape if axis is None else (-1,))))
    if return_counts:
        result.append(_long(counts))
    return result[0] if len(result) == 1 else tuple(result)


def searchsorted(sorted_sequence: TensorLike, values: Any, *, out_int32: bool = False, right: bool = False,
                 side: str | None = None, sorter: TensorLike | None = None) -> Tensor:
    """For each value, the index where it would be inserted into the innermost dim of sorted_sequence to keep it
    sorted: the first place whose element is >= the value (`right`/side='right': > the value). A 1-D sequence
    serves every value; otherwise the leading dims of the sequence and of the values must agree. int64 (int32
    with out_int32), outside the graph."""
    op = "searchsorted"
    if side is not None:
        if side not in ("left", "right"):
            raise OpError(f"{op}: side must be 'left' or 'right', got {side!r}")
        if right and side == "left":
            raise OpError(f"{op}: side='left' and right=True contradict each other")
        right = side == "right"
    seq = _data(sorted_sequence)
    vals = _data(values)
    if seq.ndim == 0:
        raise OpError(f"{op}: the sorted sequence must have at least 1 dim, got a 0-d tensor")
    if sorter is not None:
        order = _integer_index(sorter, op, "sorter")
        if order.shape != seq.shape:
            raise OpError(f"{op}: the sorter's shape {order.shape} must match the sequence's {seq.shape}")
        seq = np.take_along_axis(seq, order, axis=-1)
    how = "right" if right else "left"
    if seq.ndim == 1:
        out = np.searchsorted(seq, vals, side=how)
    else:
        if vals.ndim != seq.ndim or vals.shape[:-1] != seq.shape[:-1]:
            raise OpError(f"{op}: the sequence of shape {seq.shape} and the values of shape {vals.shape} must "
                          "agree in all dims but the last (or the sequence must be 1-D)")
        rows_seq, rows_val = seq.reshape(-1, seq.shape[-1]), vals.reshape(-1, vals.shape[-1])
        out = np.empty(rows_val.shape, dtype=np.int64)
        for row, (s, v) in enumerate(zip(rows_seq, rows_val)):
            out[row] = np.searchsorted(s, v, side=how)
        out = out.reshape(vals.shape)
    return Tensor._wrap(as_stored(np.asarray(out, dtype=np.int32 if out_int32 else np.int64)))


def bucketize(x: Any, boundaries: TensorLike, *, out_int32: bool = False, right: bool = False) -> Tensor:
    """The bucket of each element between 1-D increasing `boundaries`: i with boundaries[i-1] < x <=
    boundaries[i] (right=True: boundaries[i-1] <= x < boundaries[i]). Outside the graph."""
    bounds = _data(boundaries)
    if bounds.ndim != 1:
        raise OpError(f"bucketize: boundaries must be 1-D, got shape {bounds.shape}")
    return searchsorted(bounds, x, out_int32=out_int32, right=right)


def masked_select(x: TensorLike, mask: TensorLike) -> Tensor:
    """The elements of x where the boolean `mask` holds (the two broadcast together), as a 1-D tensor in
    row-major order; the gradient scatters back to them."""
    x = _tensor(x)
    m = _data(mask)
    if m.dtype != np.bool_:
        raise TypeError(f"masked_select: the mask must be a boolean tensor, got dtype {m.dtype}")
    try:
        shape = np.broadcast_shapes(x.shape, m.shape)
    except ValueError:
        raise OpError(f"masked_select: the input of shape {x.shape} and the mask of shape {m.shape} cannot be "
                      "broadcast together") from None
    x = broadcast_to(x, shape)
    if x.ndim == 0:
        x = reshape(x, (1,))
    return ops.getitem(x, index=(np.broadcast_to(m, x.shape),))


def nonzero(x: TensorLike, *, as_tuple: bool = False) -> Any:
    """The indices of the nonzero elements: an (n, ndim) int64 tensor, one row per element in row-major order;
    with as_tuple=True, one 1-D tensor per dim (a 0-d input counts as 1-D). Outside the graph."""
    data = _tensor(x)._data
    if as_tuple:
        return tuple(_long(i) for i in np.nonzero(np.atleast_1d(data)))
    return _long(np.argwhere(data))


def argwhere(x: TensorLike) -> Tensor:
    """nonzero(x): the indices of the nonzero elements, one row each."""
    return nonzero(x)


def count_nonzero(x: TensorLike, dim: int | Sequence[int] | None = None) -> Tensor:
    """The number of nonzero elements over `dim` (all by default); int64, outside the graph."""
    x = _tensor(x)
    axes = normalize_dims(dim, x.ndim, "count_nonzero")
    return _long(np.count_nonzero(x._data, axis=axes))


def _check_indices(op: str, idx: np.ndarray, dim: int | None, size: int, negative: bool = False) -> None:
    """Raise OpIndexError (an IndexError and PyTorch's RuntimeError) naming the op, the first bad index and the
    size, unless 0 <= idx < size (-size <= idx < size with negative=True). numpy's fancy indexing would wrap a
    negative index round silently, which PyTorch's gather, scatter and index ops refuse."""
    if idx.size and (idx.min() < (-size if negative else 0) or idx.max() >= size):
        bad = idx[(idx < (-size if negative else 0)) | (idx >= size)].flat[0]
        raise OpIndexError(f"{op}: index {bad} is out of range for dim {dim} of size {size}")


def index_select(x: TensorLike, dim: int, index: TensorLike) -> Tensor:
    """The entries of x at the positions `index` (a 1-D or 0-d integer tensor) along `dim`; the other dims are
    kept whole. Repeated indices are allowed, their gradients add up."""
    x = _tensor(x)
    axis = normalize_dim(dim, x.ndim, "index_select")
    idx = _integer_index(index, "index_select")
    if idx.ndim > 1:
        raise OpIndexError(f"index_select: the index must be a vector, got shape {idx.shape} (input of shape "
                           f"{x.shape})")
    idx = idx.reshape(-1)
    _check_indices("index_select", idx, dim, x.shape[axis] if x.ndim else 1)
    if x.ndim == 0:  # PyTorch: a 0-d result
        return ops.clone(x)
    return ops.getitem(x, index=(slice(None),) * axis + (idx.astype(np.intp),))


def _scatter_index(op: str, x: Tensor, dim: int, index: Any, src: Any) -> tuple:
    """The full numpy index (one array per axis, checked) of a scatter along dim: element
    index[i][j][k] of dim 0 (say) goes to out[index[i][j][k]][j][k]."""
    axis = normalize_dim(dim, x.ndim, op)
    idx = _integer_index(index, op)
    ndim = builtins.max(x.ndim, 1)
    if builtins.max(idx.ndim, 1) != ndim:
        raise OpError(f"{op}: the index has {idx.ndim} dims (shape {idx.shape}) but the input (shape {x.shape}) has "
                      f"{x.ndim}")
    idx = idx.reshape(idx.shape or (1,))
    shape = x.shape or (1,)
    for d in range(ndim):
        if d != axis and idx.shape[d] > shape[d]:
            raise OpError(f"{op}: the index of shape {idx.shape} is larger than the input of shape {x.shape} "
                          f"in dim {d}")
        if src is not None and idx.shape[d] > (src.shape or (1,))[d]:
            raise OpError(f"{op}: the index of shape {idx.shape} is larger than the source of shape "
                          f"{src.shape} in dim {d}")
    _check_indices(op, idx, dim, shape[axis])
    grids = np.ogrid[tuple(slice(n) for n in idx.shape)]
    return tuple(idx.astype(np.intp) if d == axis else grids[d] for d in range(ndim))


def _scatter_source(op: str, x: Tensor, src: Any, full: tuple) -> Tensor:
    """src (a tensor of x's dtype) cut to the index's shape, the part of it that is written."""
    src = _tensor(src)
    if src.dtype != x.dtype:
        raise TypeError(f"{op}: the input ({x.dtype}) and the source ({src.dtype}) must have the same dtype")
    if src.ndim == 0:
        src = reshape(src, (1,))
    shape = np.broadcast_shapes(*(np.shape(i) for i in full))
    if src.shape != shape:
        src = src[tuple(slice(0, n) for n in shape)]
    return src


def scatter(x: TensorLike, dim: int, index: TensorLike, src: Any = None, *, value: Any = None,
            reduce: str | None = None) -> Tensor:
    """x with src written along `dim` at `index` (out of place): for dim=0, out[index[i][j]][j] = src[i][j]
    (and so on); `src` may be a number (or pass `value=`). A repeated index keeps one of its writes (PyTorch:
    unspecified); every written source element gets the gradient at its place, the overwritten entries of x
    none. reduce='add'/'multiply' (deprecated in PyTorch) is scatter_reduce with 'sum'/'prod'."""
    x = _tensor(x)
    if src is None:
        src = value
    if src is None:
        raise TypeError("scatter: expected a source tensor `src` or a number `value`")
    if reduce is not None:
        kinds = {"add": "sum", "multiply": "prod"}
        if reduce not in kinds:
            raise OpError(f"scatter: reduce must be 'add' or 'multiply', got {reduce!r}")
        if not isinstance(src, Tensor):
            src = _full_like_index(x, index, src)
        return scatter_reduce(x, dim, index, src, kinds[reduce])
    source = src if isinstance(src, Tensor) else None
    full = _scatter_index("scatter", x, dim, index, source)
    flat_x = reshape(x, (1,)) if x.ndim == 0 else x
    if source is None:
        written = as_stored(np.asarray(as_constant(src)).astype(x.dtype))
    else:
        written = _scatter_source("scatter", x, source, full)
    out = ops.scatter(flat_x, written, index=full)
    return reshape(out, ()) if x.ndim == 0 else out


def _full_like_index(x: Tensor, index: Any, value: Any) -> Tensor:
    """A tensor of x's dtype filled with `value`, in the index's shape (scatter with a number and a reduce)."""
    return Tensor._wrap(np.full(_data(index).shape, value, dtype=x.dtype))


def scatter_add(x: TensorLike, dim: int, index: TensorLike, src: TensorLike) -> Tensor:
    """x with src added along `dim` at `index` (out of place): for dim=0, out[index[i][j]][j] += src[i][j];
    repeated indices add up. Differentiable in x (the identity) and src (g gathered at the index)."""
    x = _tensor(x)
    return _scatter_sum("scatter_add", x, dim, index, src, include_self=True)


def _scatter_sum(op: str, x: Tensor, dim: int, index: Any, src: Any, include_self: bool) -> Tensor:
    source = _tensor(src)
    full = _scatter_index(op, x, dim, index, source)
    flat_x = reshape(x, (1,)) if x.ndim == 0 else x
    added = ops.index_add(_scatter_source(op, x, source, full), shape=flat_x.shape, index=full)
    if not include_self:
        hit = np.zeros(flat_x.shape, dtype=bool)
        hit[full] = True
        flat_x = where(hit, 0, flat_x)
    out = flat_x + added
    return reshape(out, ()) if x.ndim == 0 else out


_SCATTER_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


def scatter_reduce(x: TensorLike, dim: int, index: TensorLike, src: TensorLike, reduce: str, *,
                   include_self: bool = True) -> Tensor:
    """x with the src elements sent along `dim` to `index` reduced into each place (out of place): `reduce` is
    'sum', 'prod', 'mean', 'amax' or 'amin', over the src elements sent there and, with include_self, the entry
    of x there; places no index names keep x. Gradients as in PyTorch: prod's is exact with zeros, amax/amin
    share it evenly among the elements equal to the result, mean's divides by the count.

    The elements sent to each place are laid out as the rows of a matrix padded with the reduction's identity
    (1, -inf, inf, 0) and reduced by prod/amax/amin/sum: the memory grows with (places written) x (the most
    elements sent to one place)."""
    x = _tensor(x)
    if reduce not in _SCATTER_REDUCTIONS:
        raise OpError(f"scatter_reduce: reduce must be one of {_SCATTER_REDUCTIONS}, got {reduce!r}")
    if reduce == "sum":
        return _scatter_sum("scatter_reduce", x, dim, index, src, include_self)
    source = _tensor(src)
    full = _scatter_index("scatter_reduce", x, dim, index, source)
    written = reshape(_scatter_source("scatter_reduce", x, source, full), (-1,))
    flat_x = reshape(x, (-1,))
    if written.shape[0] == 0:
        return ops.clone(x)
    shape = x.shape or (1,)
    target = np.ravel_multi_index(np.broadcast_arrays(*full), shape).reshape(-1)
    order = np.argsort(target, kind="stable")
    places, starts, counts = np.unique(target[order], return_index=True, return_counts=True)
    row = np.empty_like(order)
    row[order] = np.repeat(np.arange(places.size), counts)
    column = np.empty_like(order)
    column[order] = np.arange(order.size) - np.repeat(starts, counts)
    dtype = x.dtype
    if reduce == "amax":
        pad = kernels.max_pool_pad_value(dtype)
    elif reduce == "amin":
        pad = np.inf if dtype.kind == "f" else np.iinfo(dtype).max
    else:
        pad = 1 if reduce == "prod" else 0
    table = ops.index_put(np.full((places.size, int(counts.max())), pad, dtype=dtype), written,
                          index=(row, column))
    count = counts.astype(dtype) if dtype.kind == "f" else counts
    if include_self:
        table = cat([unsqueeze(flat_x[places], 1), table], 1)
        count = count + 1
    if reduce == "prod":
        reduced = ops.prod(table, axis=(1,), keepdims=False)
    elif reduce == "amax":
        reduced = ops.amax(table, axis=(1,), keepdims=False)
    elif reduce == "amin":
        reduced = ops.amin(table, axis=(1,), keepdims=False)
    else:  # mean; integers divide with floor, as in PyTorch
        total = ops.sum(table, axis=(1,), keepdims=False)
        reduced = total / count if dtype.kind == "f" else Tensor._wrap(total._data // count)
    return reshape(ops.index_put(flat_x, reduced, index=(places,)), x.shape)


def take_along_dim(x: TensorLike, indices: TensorLike, dim: int | None = None) -> Tensor:
    """x's elements at `indices` along `dim`: gather, with x and indices broadcast together in the other dims;
    with dim=None both are flattened first. The gradient scatter-adds back (repeated indices add up)."""
    x = _tensor(x)
    idx = _integer_index(indices, "take_along_dim", "indices")
    # PyTorch's take_along_dim (unlike its gather) takes -size <= index < 0 as counting from the end
    size = x._data.size if dim is None else x.shape[normalize_dim(dim, x.ndim, "take_along_dim")] if x.ndim else 1
    _check_indices("take_along_dim", idx, dim, size, negative=True)
    if idx.size and idx.min() < 0:
        idx = np.where(idx < 0, idx + size, idx)
    if dim is None:
        return gather(reshape(x, (-1,)), 0, idx.reshape(-1))
    axis = normalize_dim(dim, x.ndim, "take_along_dim")
    if idx.ndim != x.ndim:
        raise OpError(f"take_along_dim: the indices have {idx.ndim} dims (shape {idx.shape}) but the input (shape "
                      f"{x.shape}) has {x.ndim}")
    try:
        shape = list(np.broadcast_shapes(x.shape[:axis] + (1,) + x.shape[axis + 1:],
                                         idx.shape[:axis] + (1,) + idx.shape[axis + 1:]))
    except ValueError:
        raise OpError(f"take_along_dim: the input of shape {x.shape} and the indices of shape {idx.shape} "
                      f"cannot be broadcast together outside dim {dim}") from None
    x = broadcast_to(x, tuple(shape[:axis]) + (x.shape[axis],) + tuple(shape[axis + 1:]))
    idx = np.broadcast_to(idx, tuple(shape[:axis]) + (idx.shape[axis],) + tuple(shape[axis + 1:]))
    return gather(x, axis, idx)


def var_mean(x: TensorLike, dim: int | Sequence[int] | None = None, unbiased: bool | None = None,
             keepdim: bool = False, *, correction: int | None = None) -> tuple[Tensor, Tensor]:
    """(var(x, dim), mean(x, dim)) in one call, as PyTorch's var_mean (a plain tuple)."""
    return (var(x, dim, unbiased, keepdim, correction=correction), mean(x, dim, keepdim))


def std_mean(x: TensorLike, dim: int | Sequence[int] | None = None, unbiased: bool | None = None,
             keepdim: bool = False, *, correction: int | None = None) -> tuple[Tensor, Tensor]:
    """(std(x, dim), mean(x, dim)) in one call, as PyTorch's std_mean (a plain tuple)."""
    return (std(x, dim, unbiased, keepdim, correction=correction), mean(x, dim, keepdim))
