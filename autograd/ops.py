"""The derivative table: every primitive's numpy forward, followed by its vector-Jacobian products.

Read a VJP as "given g = dL/d(out), return dL/d(input)". VJPs are written in plain numpy on purpose: in an
ordinary backward they run on arrays, and with `create_graph=True` they run on Tensors, which numpy hands back
to us through `__array_ufunc__`/`__array_function__`, so the backward pass is recorded and differentiable too.

Two rules keep the table short:
- Broadcasting is undone by the engine (`engine.sum_to`) for every primitive flagged `broadcasts=True`; no VJP
  reduces a broadcast gradient by hand.
- Everything else (softmax, var, logsumexp, max(dim), stack, conv, ...) is composed from these primitives in
  `functions.py` and `nn`. A new primitive is added only for numerical stability or speed, and says which.
"""

from __future__ import annotations

import math
import operator
import string
from builtins import sum as _builtin_sum
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _special, engine
from .core import Primitive, Tensor
from .errors import OpError


def primitive(name: str | None = None, symbol: str | None = None, broadcasts: bool = False,
              saves_output: bool = False, reads_inputs: bool = True) -> Any:
    """Decorator turning a numpy forward function into a Primitive; add its VJPs with `.defvjp(...)`."""
    def make(forward: Any) -> Primitive:
        return Primitive(forward, name, symbol, broadcasts, saves_output, reads_inputs)
    return make


def native(function: Callable, name: str | None = None, **options: Any) -> Primitive:
    """A primitive whose forward is a function written in C, a numpy ufunc (np.exp) or an operator
    (operator.add): no Python frame between the engine and numpy, a tenth of the cost of an elementwise op on a
    small array. Arithmetic uses `operator`, not np.add: on numpy scalars `x + y` takes numpy's fast scalar path
    and the ufunc does not."""
    return Primitive(function, name or function.__name__, **options)


def either(op: Primitive, *args: Any, **params: Any) -> Any:
    """Call one of our primitives from inside a VJP: arrays in give arrays out (plain backward), tensors in
    give a recorded tensor out (create_graph=True)."""
    if any(isinstance(a, Tensor) for a in args):
        return op(*args, **params)
    return op.forward(*args, **params)


# ---------------------------------------------------------------------------------------------------------------
# Arithmetic (broadcasting)
# ---------------------------------------------------------------------------------------------------------------
add = native(operator.add, symbol="+", broadcasts=True, reads_inputs=False)
add.defvjp(lambda g, out, x, y: g,
           lambda g, out, x, y: g)


sub = native(operator.sub, symbol="-", broadcasts=True, reads_inputs=False)
sub.defvjp(lambda g, out, x, y: g,
           lambda g, out, x, y: -g)


mul = native(operator.mul, symbol="*", broadcasts=True)
mul.defvjp(lambda g, out, x, y: g * y,
           lambda g, out, x, y: g * x)


div = native(operator.truediv, "div", symbol="/", broadcasts=True, saves_output=True)
div.defvjp(lambda g, out, x, y: g / y,
           lambda g, out, x, y: -g * out / y)        # d(x/y)/dy = -x/y^2 = -out/y


@primitive(symbol="**", broadcasts=True, saves_output=True)
def pow(x, y):
    return x ** y


def _pow_vjp_base(g, out, x, y):
    # d(x^y)/dx = y x^(y-1). At x = 0 with y = 0 that is 0 * inf; PyTorch's convention makes it 0 (x**0 has
    # gradient 0 at 0), even for an infinite g. The masked places compute with x = 1 so that no inf or nan
    # leaks into higher orders.
    if isinstance(y, (int, float)):
        return np.zeros_like(x) if y == 0 else g * (y * x ** (y - 1))
    corner = (y == 0) & (x == 0)
    return select(corner, 0, g) * (y * np.where(corner, 1.0, x) ** (y - 1))


def _pow_vjp_exponent(g, out, x, y):
    # d(x^y)/dy = x^y log x; 0 where x == 0 and y >= 0 (the limit there), computed with log(1) at those places
    corner = (x == 0) & (y >= 0)
    return select(corner, 0, g) * (out * np.log(np.where(corner, 1.0, x)))


pow.defvjp(_pow_vjp_base, _pow_vjp_exponent)


@primitive(broadcasts=True)
def maximum(x, y):
    return np.maximum(x, y)
maximum.defvjp(lambda g, out, x, y: select(x == y, 0.5 * g, gate(x > y, g)),   # ties split the gradient evenly
               lambda g, out, x, y: select(x == y, 0.5 * g, gate(y > x, g)))


@primitive(broadcasts=True)
def minimum(x, y):
    return np.minimum(x, y)
minimum.defvjp(lambda g, out, x, y: select(x == y, 0.5 * g, gate(x < y, g)),
               lambda g, out, x, y: select(x == y, 0.5 * g, gate(y < x, g)))


_BITS = {2: np.int16, 4: np.int32, 8: np.int64}  # an integer of a float's width, to select its bits
_SELECT_FROM = 8192  # elements; below this np.where is as fast (its branches are cheaper while the data is in cache)


def select(condition, x, y):
    """np.where(condition, x, y), exactly, and 3x faster on large float operands. np.where branches on every
    element, and on an unpredictable mask each branch costs a mispredict (~5 ns an element). With m all ones
    where the condition holds, (x & m) | (y & ~m) on the bit patterns makes the same choice, inf, nan and -0.0
    included, branch-free; a branch that is the number 0 (+0.0, all bits clear) drops its half, so that
    select(mask, g, 0), the gradient through a mask, is one `and`. Tensors (create_graph) go to np.where, which
    records the selection."""
    if isinstance(x, Tensor) or isinstance(y, Tensor) or isinstance(condition, Tensor):
        return np.where(condition, x, y)
    if condition.__class__ is np.bool_ and np.ndim(x) == 0 and np.ndim(y) == 0:  # 0-d: a tenth of np.where's cost
        return np.result_type(x, y).type(x if condition else y)
    dtype = np.result_type(x, y)
    if (dtype.kind != "f" or dtype.itemsize not in _BITS or np.size(condition) < _SELECT_FROM
            or getattr(condition, "dtype", None) != np.bool_):
        return np.where(condition, x, y)
    bits = _BITS[dtype.itemsize]
    mask = _all_ones_where(condition, bits)
    if _is_plus_zero(y):
        return _masked(x, mask, dtype, bits).view(dtype)
    if _is_plus_zero(x):
        return _masked(y, np.invert(mask, out=mask), dtype, bits).view(dtype)
    chosen = np.bitwise_and(np.asarray(x, dtype).view(bits), mask)  # a Python number (weak) becomes 0-d
    other = _masked(y, np.invert(mask, out=mask), dtype, bits)
    full = chosen.shape if chosen.shape == other.shape else np.broadcast_shapes(chosen.shape, other.shape)
    into = chosen if chosen.shape == full else other if other.shape == full else None  # both are ours to write
    return np.bitwise_or(chosen, other, out=into).view(dtype)


def _all_ones_where(condition, bits):
    """The integers (of type `bits`) that are all ones where `condition` holds and 0 elsewhere: the booleans
    negated as bytes (True -> -1) and widened, which extends the sign. Bytes first, then one widening cast: 1.2x
    faster than negating the wide integers, and what brings relu's gradient, select(mask, g, 0), to the speed of
    g * mask (measured on W2/W4's arrays, 32k-400k float32)."""
    return np.negative(condition.view(np.int8)).astype(bits)


def _is_plus_zero(value) -> bool:
    return (value.__class__ is int or value.__class__ is float) and value == 0 and math.copysign(1, value) > 0


def _masked(value, mask, dtype, bits):
    """The bits of `value` (in `dtype`) where `mask` is all ones, zero elsewhere; in `mask` when it is large
    enough to hold the result."""
    value = np.asarray(value, dtype).view(bits)
    if value.shape == mask.shape or np.broadcast_shapes(value.shape, mask.shape) == mask.shape:
        return np.bitwise_and(mask, value, out=mask)
    return np.bitwise_and(mask, value)


def gate_into(target, mask, g):
    """target[...] = gate(mask, g), in place (target may be a strided view): for floats, the mask's bits
    written straight into target, then `and`ed with g's, two passes and no temporary."""
    bits = _BITS.get(target.dtype.itemsize)
    if target.dtype.kind != "f" or bits is None or g.dtype != target.dtype or mask.dtype != np.bool_:
        target[...] = gate(mask, g)
        return
    target_bits = target.view(bits)
    np.copyto(target_bits, np.negative(mask.view(np.int8)))  # True -> all ones (-1, its sign extended)
    np.bitwise_and(target_bits, g.view(bits), out=target_bits)


def gate(mask, g):
    """g where `mask` holds, 0 elsewhere: the gradient through an op that passes its input on a mask and is
    flat off it (relu, clamp, max, pooling's routing). Never g * mask: an infinite g (say from sqrt at 0
    further down) would give inf * 0 = nan where the true gradient is 0."""
    if mask.__class__ is np.bool_ or mask.__class__ is bool:  # 0-d in a plain backward: no array machinery
        if mask:
            return g
        return g.dtype.type(0) if isinstance(g, np.generic) else np.zeros_like(g)
    return select(mask, g, 0)


@primitive(broadcasts=True)
def where(condition, x, y):
    return select(condition, x, y)
where.defvjp(None,
             lambda g, out, c, x, y: select(c, g, 0),
             lambda g, out, c, x, y: select(c, 0, g))


# ---------------------------------------------------------------------------------------------------------------
# Elementwise functions
# ---------------------------------------------------------------------------------------------------------------
neg = native(operator.neg, symbol="neg", reads_inputs=False)
neg.defvjp(lambda g, out, x: -g)


exp = native(np.exp, saves_output=True, reads_inputs=False)
exp.defvjp(lambda g, out, x: g * out)                  # d e^x = e^x


log = native(np.log)
log.defvjp(lambda g, out, x: g / x)


log1p = native(np.log1p)
log1p.defvjp(lambda g, out, x: g / (1 + x))


expm1 = native(np.expm1, saves_output=True, reads_inputs=False)
expm1.defvjp(lambda g, out, x: g * (out + 1))


sqrt = native(np.sqrt, saves_output=True, reads_inputs=False)
sqrt.defvjp(lambda g, out, x: g / (2 * out))           # d sqrt(x) = 1 / (2 sqrt(x))


sin = native(np.sin)
sin.defvjp(lambda g, out, x: g * np.cos(x))


cos = native(np.cos)
cos.defvjp(lambda g, out, x: -g * np.sin(x))


tanh = native(np.tanh, saves_output=True, reads_inputs=False)
tanh.defvjp(lambda g, out, x: g * (1 - out * out))     # d tanh = 1 - tanh^2


@primitive(saves_output=True, reads_inputs=False)
def sigmoid(x):
    # A primitive for stability: 1/(1+exp(-x)) overflows for large -x. With e = exp(-|x|) <= 1, sigmoid is
    # 1/(1+e) for x >= 0 and e/(1+e) below: no overflow, and full relative accuracy far into the tail.
    e = np.exp(-np.abs(x))
    numerator = np.maximum(e, x >= 0)  # 1 for x >= 0 (as e <= 1), e below: a branch-free np.where(x >= 0, 1, e)
    numerator /= 1 + e
    return numerator
sigmoid.defvjp(lambda g, out, x: g * out * (1 - out))  # d sigmoid = s (1 - s)


@primitive(saves_output=True, reads_inputs=False)
def relu(x):
    return np.maximum(x, 0)
relu.defvjp(lambda g, out, x: gate(out > 0, g))        # relu'(0) = 0, as in PyTorch


@primitive(symbol="abs")
def abs(x):
    return np.abs(x)
abs.defvjp(lambda g, out, x: gate(x != 0, g) * np.sign(x))  # abs'(0) = sign(0) = 0, even for an infinite g


@primitive(reads_inputs=False)
def sign(x):
    return np.sign(x)
sign.defvjp(lambda g, out, x: np.zeros_like(g))        # piecewise constant: zero gradient, stays in the graph


@primitive()
def erf(x):
    # A primitive because numpy has no erf (the exact GELU needs it): ours, in plain numpy and float64, so that
    # results do not depend on whether scipy is installed.
    return _special.erf(x).astype(np.result_type(x, np.float32))[()]
erf.defvjp(lambda g, out, x: g * (2 / math.sqrt(math.pi)) * np.exp(-x * x))


@primitive()
def clamp(x, min=None, max=None):
    if min is None and max is None:
        return x.copy()
    return np.clip(x, min, max)


def _clamp_vjp(g, out, x, min=None, max=None):
    inside = True                                      # the boundaries count as inside, as in PyTorch
    if min is not None:
        inside = inside & (x >= min)
    if max is not None:
        inside = inside & (x <= max)
    return gate(inside, g)


clamp.defvjp(_clamp_vjp)


@primitive(reads_inputs=False)
def clone(x):
    return x.copy()
clone.defvjp(lambda g, out, x: g)


@primitive(reads_inputs=False)
def astype(x, dtype):
    return x.astype(dtype)
astype.defvjp(lambda g, out, x, dtype: g.astype(x.dtype))


# ---------------------------------------------------------------------------------------------------------------
# Reductions. `axis` is None or a tuple of non-negative axes (functions.py normalises the user's `dim`).
# ---------------------------------------------------------------------------------------------------------------
def unreduce(g: Any, shape: tuple, axis: tuple | None, keepdims: bool) -> Any:
    """Put back the reduced axes of `g` as size-1 axes, ready to broadcast against the input."""
    if keepdims:
        return g
    return g.reshape(tuple(1 if axis is None or i in axis else n for i, n in enumerate(shape)))


def expand_to(g: Any, shape: tuple) -> Any:
    """np.broadcast_to(g, shape): a read-only view. For arrays it is built directly (np.broadcast_to costs
    several microseconds of argument checking, which dominates small backward passes)."""
    if g.__class__ is np.ndarray and g.ndim == len(shape) and g.flags.c_contiguous:
        strides = tuple(0 if n == 1 and m != 1 else st for n, m, st in zip(g.shape, shape, g.strides))
        view = np.ndarray(shape, g.dtype, g, 0, strides)
        view.flags.writeable = False
        return view
    return np.broadcast_to(g, shape)


@primitive(reads_inputs=False)
def sum(x, axis=None, keepdims=False):
    return x.sum(axis=axis, keepdims=keepdims)
sum.defvjp(lambda g, out, x, axis, keepdims: expand_to(unreduce(g, x.shape, axis, keepdims), x.shape))


def _extreme_vjp(g, out, x, axis, keepdims):
    # The gradient goes to the elements equal to the extreme value; ties share it equally (PyTorch's rule)
    hit = x == unreduce(out, x.shape, axis, keepdims)
    ties = hit.sum(axis=axis, keepdims=True, dtype=x.dtype)  # in x's dtype: float32 stays float32
    return gate(hit, unreduce(g, x.shape, axis, keepdims) / ties)


@primitive(saves_output=True)
def amax(x, axis=None, keepdims=False):
    return x.max(axis=axis, keepdims=keepdims)
amax.defvjp(_extreme_vjp)


@primitive(saves_output=True)
def amin(x, axis=None, keepdims=False):
    return x.min(axis=axis, keepdims=keepdims)
amin.defvjp(_extreme_vjp)


@primitive()
def prod(x, axis=None, keepdims=False):
    return np.prod(x, axis=axis, keepdims=keepdims)


def _prod_vjp(g, out, x, axis, keepdims):
    # d prod / dx_i = product of the other elements of x_i's group: exact even when x contains zeros
    axes = tuple(range(x.ndim)) if axis is None else axis
    kept = [i for i in range(x.ndim) if i not in axes]
    order = kept + list(axes)
    moved = np.transpose(x, order)
    groups = np.reshape(moved, moved.shape[:len(kept)] + (math.prod(moved.shape[len(kept):]),))
    others = np.transpose(np.reshape(either(exclusive_prod, groups), moved.shape), np.argsort(order))
    return unreduce(g, x.shape, axis, keepdims) * others


prod.defvjp(_prod_vjp)


@primitive()
def exclusive_prod(x):
    """Along the last axis, each element replaced by the product of all the others.

    A primitive for exactness: out/x fails at zeros, so this multiplies the cumulative products from the left
    and from the right instead; prod's gradient is built on it."""
    ones = np.ones_like(x[..., :1])
    left = np.cumprod(np.concatenate([ones, x[..., :-1]], axis=-1), axis=-1)
    right = np.cumprod(np.concatenate([ones, x[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    return left * right


def _exclusive_prod_vjp(g, out, x):
    # d(prod_{j != i} x_j)/dx_k = prod_{j not in {i, k}} x_j for k != i (and 0 for k == i)
    eye = np.eye(x.shape[-1], dtype=bool)
    others = np.where(eye, 1, np.expand_dims(x, -2))  # row i: x with x_i replaced by 1
    pairs = either(exclusive_prod, others)              # pairs[..., i, k] = prod_{j not in {i, k}} x_j
    return np.sum(np.where(eye, 0, np.expand_dims(g, -1) * pairs), axis=-2)


exclusive_prod.defvjp(_exclusive_prod_vjp)


# ---------------------------------------------------------------------------------------------------------------
# Shape and layout
# ---------------------------------------------------------------------------------------------------------------
@primitive(reads_inputs=False)
def reshape(x, shape):
    return x.reshape(shape)
reshape.defvjp(lambda g, out, x, shape: g.reshape(x.shape))


@primitive(reads_inputs=False)
def transpose(x, axes):
    return x.transpose(axes)
transpose.defvjp(lambda g, out, x, axes: np.transpose(g, tuple(np.argsort(axes))))


@primitive(symbol="broadcast", reads_inputs=False)
def broadcast_to(x, shape):
    return np.broadcast_to(x, shape)
broadcast_to.defvjp(lambda g, out, x, shape: engine.sum_to(g, x.shape))


@primitive(reads_inputs=False)
def sum_to(x, shape):
    """Sum a broadcast array back to `shape` (the adjoint of broadcast_to; the engine's unbroadcast)."""
    return engine.sum_to(x, shape)
sum_to.defvjp(lambda g, out, x, shape: np.broadcast_to(g, x.shape))  # the adjoint's adjoint: broadcast


@primitive(reads_inputs=False)
def flip(x, axis):
    return np.flip(x, axis)
flip.defvjp(lambda g, out, x, axis: np.flip(g, axis))


@primitive(reads_inputs=False)
def pad(x, pad_width, value=0):
    # a filled array with x copied in: half the time of np.pad, which dispatches through generic machinery
    out = (np.zeros if value == 0 else np.empty)(
        tuple(n + before + after for n, (before, after) in zip(np.shape(x), pad_width)), dtype=np.result_type(x))
    if value != 0:
        out.fill(value)
    out[tuple(slice(before, before + n) for n, (before, _) in zip(np.shape(x), pad_width))] = x
    return out
pad.defvjp(lambda g, out, x, pad_width, value=0:
           g[tuple(slice(before, n - after) for (before, after), n in zip(pad_width, g.shape))])


class JointPrimitive(Primitive):
    """A primitive whose VJP gives every input's gradient in one call, `vjp(g, out, args, **params)` -> a list:
    for ops of any number of inputs whose gradients share work (cat's offsets). One call per input would redo
    that work for each input, and pass it all n inputs each time: quadratic in n."""

    __slots__ = ("joint",)

    def defvjp_joint(self, vjp: Callable) -> JointPrimitive:
        self.joint = vjp
        return self

    def joint_vjp(self, node: Any, g: Any, out: Any, args: tuple) -> list:  # the engine's entry point
        return self.joint(g, out, args, **(node.params or {}))

    def vjp(self, i: int, g: Any, out: Any, args: tuple, params: dict | None) -> Any:
        return self.joint(g, out, args, **(params or {}))[i]


def _concatenate(*xs, axis):
    return np.concatenate(xs, axis=axis)


cat = JointPrimitive(_concatenate, "cat", reads_inputs=False)


def _cat_vjp(g, out, xs, axis):
    # input i's gradient is g's slice at input i's offset along `axis`: the offsets in one pass (linear in the
    # number of inputs; a stack of 100,000 tensors is an RNN's outputs over a long sequence)
    grads, start = [], 0
    lead = (slice(None),) * axis
    for x in xs:
        size = x.shape[axis]
        grads.append(g[lead + (slice(start, start + size),)])
        start += size
    return grads


cat.defvjp_joint(_cat_vjp)


# ---------------------------------------------------------------------------------------------------------------
# Indexing: getitem and its adjoint, index_add (scatter-add into zeros); index_put for assignment
# ---------------------------------------------------------------------------------------------------------------
def is_basic_index(index: tuple) -> bool:
    """Only ints, slices, None and Ellipsis: no element can be selected twice."""
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice, np.integer)) for i in index)


def selects_once(index: tuple) -> bool:
    """No element can be selected twice: a basic index, or boolean masks only (integer arrays may repeat)."""
    return is_basic_index(index) or all(isinstance(i, np.ndarray) and i.dtype == bool for i in index)


@primitive(symbol="[]", reads_inputs=False)
def getitem(x, index):
    return x[index]
getitem.defvjp(lambda g, out, x, index: either(index_add, g, shape=x.shape, index=index))


@primitive(reads_inputs=False)
def index_add(g, shape, index):
    """zeros(shape) with g added at `index`; repeated integer indices add up (the adjoint of getitem)."""
    out = np.zeros(shape, dtype=g.dtype)
    if selects_once(index):
        out[index] = g
    else:
        np.add.at(out, index, g)
    return out
index_add.defvjp(lambda gg, out, g, shape, index: gg[index])


@primitive(broadcasts=True, reads_inputs=False)
def index_put(x, value, index):
    """A copy of x with x[index] = value (assignment inside the graph: t[mask] = 0)."""
    out = x.copy() if isinstance(x, np.ndarray) else np.array(x)
    out[index] = value
    return out[()]


def _index_put_vjp_value(g, out, x, value, index):
    picked = g[index]
    if selects_once(index):
        return picked
    # A repeated index is written several times and only the last write lands: only it gets the gradient.
    shape = np.shape(picked)
    order = np.arange(math.prod(shape)).reshape(shape)
    slots = np.full(np.shape(x), -1)
    slots[index] = order
    return np.where(slots[index] == order, picked, 0)


index_put.defvjp(lambda g, out, x, value, index: either(index_put, g, 0, index=index),
                 _index_put_vjp_value)


# ---------------------------------------------------------------------------------------------------------------
# Sliding windows (convolution and pooling are built on these in nn) and their adjoint
# ---------------------------------------------------------------------------------------------------------------
def window_counts(spatial: tuple, kernel: tuple, stride: tuple, dilation: tuple) -> tuple:
    return tuple((n - d * (k - 1) - 1) // s + 1 for n, k, s, d in zip(spatial, kernel, stride, dilation))


@primitive(reads_inputs=False)
def unfold(x, kernel_size, stride, dilation):
    """All sliding windows over the last len(kernel_size) axes, as a view: shape (..., *counts, *kernel_size).
    No copy is made; a following reshape or matmul materialises the windows (im2col) once."""
    x = np.asarray(x)
    k = len(kernel_size)
    counts = window_counts(x.shape[-k:], kernel_size, stride, dilation)
    if any(c <= 0 for c in counts):
        raise OpError(f"the window {kernel_size} (dilation {dilation}) does not fit in the input's last "
                         f"axes {x.shape[-k:]}")
    strides = x.strides[-k:]
    return np.lib.stride_tricks.as_strided(
        x, x.shape[:-k] + counts + tuple(kernel_size),
        x.strides[:-k] + tuple(st * s for st, s in zip(strides, stride))
        + tuple(st * d for st, d in zip(strides, dilation)), writeable=False)
unfold.defvjp(lambda g, out, x, kernel_size, stride, dilation:
              either(fold, g, shape=x.shape, kernel_size=kernel_size, stride=stride, dilation=dilation))


def zeros_in_layout(shape: tuple, dtype: Any, like: np.ndarray) -> np.ndarray:
    """Zeros of `shape` whose axes lie in memory in the order of `like`'s (an array of as many axes), so that
    elementwise passes between the two run over memory in one order (numpy's order='K', for another shape)."""
    order = _axis_order(like)
    return np.zeros([shape[axis] for axis in order], dtype=dtype).transpose(np.argsort(order))


def in_layout_of(a: np.ndarray, like: np.ndarray) -> np.ndarray:
    """a, or a copy of it whose axes lie in memory in the order of like's: the passes that mix the two then run
    over memory in one order, not one of them across its strides (one copy instead of several slow passes)."""
    if a.ndim < 2 or _axis_order(a, skip_single=True) == _axis_order(like, skip_single=True):
        return a
    copy = np.empty_like(like, dtype=a.dtype)
    copy[...] = a
    return copy


def _axis_order(a: np.ndarray, skip_single: bool = False) -> list:
    """a's axes from the outermost in memory to the innermost (skip_single: without its axes of length 1,
    whose strides say nothing)."""
    order = sorted(range(a.ndim), key=lambda axis: -abs(a.strides[axis]))
    return [axis for axis in order if a.shape[axis] != 1] if skip_single else order


@primitive(reads_inputs=False)
def fold(windows, shape, kernel_size, stride, dilation):
    """The adjoint of unfold: add every window back to where it came from (col2im)."""
    k = len(kernel_size)
    counts = windows.shape[-2 * k:-k]
    out = zeros_in_layout(shape, windows.dtype, windows[(Ellipsis,) + (0,) * k])
    for offset in np.ndindex(*kernel_size):
        target = tuple(slice(o * d, o * d + s * (c - 1) + 1, s)
                       for o, d, s, c in zip(offset, dilation, stride, counts))
        out[(Ellipsis, *target)] += windows[(Ellipsis, *offset)]
    return out
fold.defvjp(lambda g, out, w, shape, kernel_size, stride, dilation:
            either(unfold, g, kernel_size=kernel_size, stride=stride, dilation=dilation))


# ---------------------------------------------------------------------------------------------------------------
# Linear algebra
# ---------------------------------------------------------------------------------------------------------------
@primitive(symbol="@", broadcasts=True)
def matmul(x, y):
    if x.__class__ is np.ndarray and y.__class__ is np.ndarray and x.ndim == 2 and y.ndim == 2:
        return gemm(x, y)
    return np.matmul(x, y)


GEMM_BLOCK_ELEMENTS = 98304  # elements of both operands in one block: 384 KB of float32, cache-sized


def gemm(a: Any, b: Any) -> Any:
    """a @ b for matrices. OpenBLAS (1 thread) is slow on a product with two short sides and a very long one:
    a convolution over a whole batch at once, in the batch-last layout (nn.functional._conv), where a first
    layer's 16 x 9 weights meet 50,176 columns. Cut into blocks that stay in cache, such products run up to 2x
    faster (measured): blocks of columns for the product itself, blocks of the contraction, added up, for its
    weight gradient. Otherwise one call, with the operand of more rows first when the result is small next to
    the contraction (up to 1.6x faster on a convolution's weight gradient, C_out x C_in*k*k)."""
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):  # tensors, when differentiating a VJP
        return a @ b
    (m, k), n = a.shape, b.shape[1]
    if not (m and k and n):  # an empty operand: nothing to block (zeros of (m, n), numpy's answer)
        return a @ b
    if m + k <= 64 and n >= 4 * _gemm_block(m + k):  # few rows, a short contraction: by blocks of columns
        block = _gemm_block(m + k)
        out = np.empty((m, n), dtype=np.result_type(a, b))
        for start in range(0, n, block):
            np.matmul(a, b[:, start:start + block], out=out[:, start:start + block])
        return out
    if m + n <= 64 and k >= 4 * _gemm_block(m + n):  # a long contraction into a small result: add up blocks
        block = _gemm_block(m + n)
        out = a[:, :block] @ b[:block]
        for start in range(block, k, block):
            out += a[:, start:start + block] @ b[start:start + block]
        return out
    if n > m and k > 8 * n:  # a small result of a long contraction: the operand of more rows first
        return (b.T @ a.T).T
    return a @ b


def _gemm_block(rows: int) -> int:
    """Columns per block when both operands have `rows` rows in all: a power of two near the cache size."""
    return 1 << max(9, (GEMM_BLOCK_ELEMENTS // rows).bit_length() - 1)


def _swap_last(a):
    return a.T if a.ndim == 2 else np.swapaxes(a, -1, -2)


def _as_matrices(g, x, y):
    """Treat 1-D operands as matrices (a row for x, a column for y) and give g the matching axes."""
    if x.ndim == 1:
        x, g = np.expand_dims(x, 0), np.expand_dims(g, -2)
    if y.ndim == 1:
        y, g = np.expand_dims(y, 1), np.expand_dims(g, -1)
    return g, x, y


def _matmul_vjp_x(g, out, x, y):               # d(x @ y)/dx: g @ y^T
    if x.ndim == 2 and y.ndim == 2:
        return gemm(g, y.T)
    if x.ndim >= 2 and y.ndim >= 2:
        return g @ _swap_last(y)
    if x.ndim == 1 and y.ndim == 1:             # a dot product
        return g * y
    g2, _, y2 = _as_matrices(g, x, y)
    gx = g2 @ _swap_last(y2)
    return gx[..., 0, :] if x.ndim == 1 else gx


def _matmul_vjp_y(g, out, x, y):               # d(x @ y)/dy: x^T @ g
    if x.ndim == 2 and y.ndim == 2:
        return gemm(x.T, g)
    if x.ndim >= 2 and y.ndim >= 2:
        return _swap_last(x) @ g
    if x.ndim == 1 and y.ndim == 1:
        return g * x
    g2, x2, _ = _as_matrices(g, x, y)
    gy = _swap_last(x2) @ g2
    return gy[..., 0] if y.ndim == 1 else gy


matmul.defvjp(_matmul_vjp_x, _matmul_vjp_y)


def parse_einsum(subscripts: str, shapes: list[tuple]) -> tuple[list[str], str]:
    """Explicit labels for every operand and the output, with '...' spelled out as fresh letters."""
    subscripts = subscripts.replace(" ", "")
    inputs, arrow, output = subscripts.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(shapes):
        raise OpError(f"einsum: '{subscripts}' names {len(terms)} operands but {len(shapes)} were given")
    used = set(subscripts) - set(".,->")
    spare = [c for c in string.ascii_letters if c not in used]
    widths = [len(shape) - (len(term) - 3) for term, shape in zip(terms, shapes) if "..." in term]
    ellipsis = "".join(spare[:max(widths, default=0)])
    labels = []
    for term, shape in zip(terms, shapes):
        if "..." in term:
            width = len(shape) - (len(term) - 3)
            term = term.replace("...", ellipsis[len(ellipsis) - width:] if width else "")
        if len(term) != len(shape):
            raise OpError(f"einsum: '{term}' has {len(term)} labels for an operand of shape {shape}")
        labels.append(term)
    if arrow:
        output = output.replace("...", ellipsis)
    else:  # implicit output: the broadcast axes, then the labels used once, alphabetically (numpy's rule)
        counts = "".join(labels)
        output = ellipsis + "".join(sorted(c for c in set(counts) if counts.count(c) == 1 and c not in ellipsis))
    return labels, output


def _einsum_forward(*operands, subscripts):
    large = len(operands) > 2 or _builtin_sum(np.size(o) for o in operands) > 4096
    return np.einsum(subscripts, *operands, optimize=large)


einsum = Primitive(_einsum_forward, "einsum", broadcasts=True)


def _einsum_vjp(i, g, out, *operands, subscripts):
    # dL/d(operand i) contracts g with all the other operands onto operand i's labels. Two fix-ups keep it a
    # single einsum: a label repeated in operand i (a diagonal, 'ii') gets a fresh name tied back by an
    # identity matrix, and a label summed away by operand i alone comes back through a vector of ones.
    labels, output = parse_einsum(subscripts, [np.shape(o) for o in operands])
    sizes: dict[str, int] = {}
    for term, operand in zip(labels, operands):
        for c, n in zip(term, np.shape(operand)):
            sizes[c] = n if sizes.get(c, 1) == 1 else sizes[c]
    free = iter(c for c in string.ascii_letters if c not in sizes)
    terms, values, target = [output], [g], ""
    for j, (term, operand) in enumerate(zip(labels, operands)):
        if j != i:
            full = tuple(sizes[c] for c in term)
            terms.append(term)
            values.append(operand if np.shape(operand) == full else np.broadcast_to(operand, full))
    diagonals = []
    for c in labels[i]:
        if c in target:                      # repeated label: a diagonal
            fresh = next(free)
            terms.append(c + fresh)
            values.append(np.eye(sizes[c], dtype=bool))
            diagonals.append((target.index(c), len(target)))
            target += fresh
        else:
            target += c
    available = set("".join(terms))
    for c in set(labels[i]) - available:     # summed away by operand i alone
        terms.append(c)
        values.append(np.ones(sizes[c], dtype=bool))
    grad = np.einsum(",".join(terms) + "->" + target, *values)
    if not diagonals:
        return grad
    # Off the diagonal the identity matrix multiplies g by 0: an infinite g would leave nan there, where the
    # gradient is 0. Select the diagonal instead.
    on_diagonal = np.ones((1,) * len(target), dtype=bool)
    for first, repeat in diagonals:
        n = sizes[labels[i][first]]
        shape = [1] * len(target)
        shape[first] = shape[repeat] = n
        on_diagonal = on_diagonal & np.eye(n, dtype=bool).reshape(shape)
    return select(on_diagonal, grad, 0)


einsum.defvjp_argnum(_einsum_vjp)


# ---------------------------------------------------------------------------------------------------------------
# Fused primitives. Each could be composed from the ones above; each says why it is not.
# ---------------------------------------------------------------------------------------------------------------
@primitive(saves_output=True)
def softplus(x):
    """log(1 + e^x), the smooth ReLU. A primitive for stability: log1p(exp(x)) overflows for large x, and the
    usual fix relu(x) + log1p(exp(-|x|)) has the wrong gradient at x = 0 (relu'(0) = abs'(0) = 0, not 1/2).
    numpy's logaddexp(0, x) is exact everywhere; binary_cross_entropy_with_logits and log_cosh are built on it."""
    return np.logaddexp(0, x)
# d softplus = sigmoid(x) = e^x / (1 + e^x) = exp(x - softplus(x)): accurate to the last bit even where
# sigmoid(x) is tiny (x << 0), and differentiable again through both x and the saved output.
softplus.defvjp(lambda g, out, x: g * np.exp(x - out))


@primitive()
def binary_cross_entropy(p, y):
    """-(y log p + (1 - y) log(1 - p)) elementwise, each log clamped at -100 as PyTorch does (a finite loss at
    p = 0 or 1). A primitive for PyTorch's gradient at the clamp: composed, a clamped log passes no gradient, so
    a probability stuck at 1 for a target 0 gets 0 (or, for a soft target, a push the wrong way), where
    PyTorch's (p - y) / max(p (1 - p), 1e-12) pushes it back hard."""
    return -(y * _clamped_log(p, np.log, 1) + (1 - y) * _clamped_log(-p, np.log1p, 0))


def _clamped_log(v, log, safe):
    """max(log(v), -100) (log is np.log or np.log1p). Its derivative is 0 where it clamps; on Tensors (a VJP
    differentiated again) the log there is taken of `safe`, so that no 0 * inf = nan comes back from it."""
    with np.errstate(divide="ignore"):
        unclamped = log(v)
    if not isinstance(unclamped, Tensor):
        return np.maximum(unclamped, -100)
    kept = unclamped > -100
    return np.where(kept, log(np.where(kept, v, safe)), -100)


# d/dp: (p - y) / (p (1 - p)), with PyTorch's floor of 1e-12 under the denominator; d/dy: the difference of the
# clamped logs (exactly the derivative of the clamped loss; PyTorch's -logit(p) is infinite at p = 0 or 1)
binary_cross_entropy.defvjp(
    lambda g, out, p, y: g * (p - y) / np.maximum(p * (1 - p), 1e-12),
    lambda g, out, p, y: g * (_clamped_log(-p, np.log1p, 0) - _clamped_log(p, np.log, 1)))


@primitive(saves_output=True, reads_inputs=False)
def log_softmax(x, axis):
    """x - logsumexp(x) along `axis`. A primitive for speed: one node and two passes instead of eight nodes
    (cross-entropy sits on it in every classifier), and stable for any logits (shifted by the max)."""
    top = x.max(axis=axis, keepdims=True) if x.size else np.zeros_like(x)
    shifted = x - np.where(np.isfinite(top), top, 0)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
# d log_softmax: g - softmax * sum(g), with softmax = exp(out); differentiable again through the saved output
log_softmax.defvjp(lambda g, out, x, axis: g - np.exp(out) * g.sum(axis=axis, keepdims=True))


def class_index(target: np.ndarray, axis: int) -> tuple:
    """The index picking x[n, t_n, d1, ...] for integer targets t of shape (N, d1, ...) and classes on `axis`:
    the targets at `axis`, and an arange (shaped to broadcast with them) for every other axis."""
    grids = [np.arange(n).reshape((n,) + (1,) * (target.ndim - 1 - i)) for i, n in enumerate(target.shape)]
    grids.insert(axis, target)
    return tuple(grids)


@primitive(reads_inputs=False)
def nll(logp, target, scale, axis, reduce):
    """The negative log-likelihood of integer class targets t (classes on `axis`): loss_n = -scale_n logp[n, t_n],
    summed over the samples when `reduce`. `scale` (a number, or one per sample in logp's dtype) carries the class
    weights, the zeros of ignored targets and the 1/count of a mean. cross_entropy is nll(log_softmax(x)).
    A primitive for speed: composed it is a gather, a product and a sum (three nodes, or a one-hot mask and
    `where` instead of the gather), for a loss that ends every classifier's step. Kept apart from log_softmax,
    not fused with it: log_softmax's VJP reuses its saved output, where a fused VJP would recompute the softmax
    (a row-wise max, exp and sum) from the logits."""
    losses = logp[class_index(target, axis)] * -scale
    return losses.sum() if reduce else losses


def _nll_vjp(g, out, logp, target, scale, axis, reduce):
    # d loss / d logp[n, c] = -scale_n [c == t_n] g_n (g is one number when reduced): -scale g selected at the
    # targets, never multiplied by a one-hot mask (an infinite g would make nan at the other classes and at
    # ignored targets); with create_graph the selection is recorded and the gradient stays differentiable in g
    one_hot = np.zeros(logp.shape, dtype=bool)
    one_hot[class_index(target, axis)] = True
    if np.ndim(scale):  # per-sample coefficients: a 0 (an ignored target, a class of weight 0) passes nothing
        g = select(scale == 0, 0, g)
    gs = g * scale
    if gs.ndim:  # one coefficient per sample: give it back the class axis, to broadcast along it
        gs = gs.reshape(logp.shape[:axis] + (1,) + logp.shape[axis + 1:])
    return select(one_hot, -gs, 0)


nll.defvjp(_nll_vjp)


@primitive(symbol="linear")
def linear(x, weight, bias=None):
    """x @ weight.T + bias for x of shape (..., in_features): nn.Linear as one node. A primitive for speed:
    composed as x @ weight.T, the weight's gradient arrives as a transposed view that must be copied for the
    leaf, and the bias adds a node; here the weight gradient is one contiguous BLAS product."""
    out = x @ weight.T
    if bias is None:
        return out
    if out.dtype == np.result_type(out, bias):
        out += bias  # a fresh array: add in place
        return out
    return out + bias


def _linear_vjp_weight(g, out, x, weight, bias=None):   # d/dW = g^T x, summed over every batch dim
    rows = math.prod(x.shape[:-1])
    return g.reshape(rows, weight.shape[0]).T @ x.reshape(rows, weight.shape[1])


linear.defvjp(lambda g, out, x, weight, bias=None: g @ weight,
              _linear_vjp_weight,
              lambda g, out, x, weight, bias=None: engine.sum_to(g, bias.shape))


def window_slices(shape: tuple, kernel_size: tuple, stride: tuple, dilation: tuple) -> list[tuple]:
    """For each kernel offset, the strided slice of the last axes that holds that offset of every window."""
    k = len(kernel_size)
    counts = window_counts(shape[-k:], kernel_size, stride, dilation)
    return [(Ellipsis, *(slice(o * d, o * d + s * (c - 1) + 1, s)
                         for o, d, s, c in zip(offset, dilation, stride, counts)))
            for offset in np.ndindex(*kernel_size)]


def max_pool_pad_value(dtype: Any) -> Any:
    """What max pooling pads with: a value no element beats (-inf, an integer dtype's minimum, or False)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return False
    return np.iinfo(dtype).min if dtype.kind in "iu" else -np.inf


@primitive(saves_output=True)
def max_pool(x, kernel_size, stride, dilation, padding=None):
    """The maximum of each window over the last len(kernel_size) axes. The caller pads x with
    max_pool_pad_value and says how in `padding`, the (before, after) widths per pooled axis (None: no padding);
    the forward does not need them, the choice of the element that gets the gradient does (max_pool_choice).
    A NaN in a window makes its maximum NaN, and a window of -inf only has the maximum -inf, as in PyTorch.
    A primitive for speed: a running maximum over the kernel offsets reads every element once and allocates
    one output, where windows -> amax needs an im2col copy of the whole input and more in the backward."""
    slices = window_slices(x.shape, kernel_size, stride, dilation)
    out = x[slices[0]].copy(order="K")  # in x's memory order (a convolution's output is batch-last)
    for window in slices[1:]:
        np.maximum(out, x[window], out=out)  # propagates NaN
    return out


def _maxima_are_numbers(out: np.ndarray) -> bool:
    """Whether every window's maximum is a number above the padding value. Then the element PyTorch picks is
    the window's first maximum, an element of the input, and equality with the maximum finds it. One
    reduction over the output: min is NaN if any maximum is (numpy's min propagates NaN) and NaN > v is False."""
    return out.size == 0 or bool(out.min() > max_pool_pad_value(out.dtype))


def max_pool_choice(x: np.ndarray, out: np.ndarray, kernel_size: tuple, stride: tuple, dilation: tuple,
                    padding: tuple | None = None) -> np.ndarray:
    """For each window of max_pool(x) = out, the row-major kernel offset k of the element PyTorch picks (its
    index from return_indices, and the element that gets the window's gradient):

    - the first element equal to the maximum, when that is a number above the padding value;
    - otherwise PyTorch's CPU loop as is: over the taps inside the input in row-major order, from maxval =
      -inf and the first such tap, take a tap `if (val > maxval || isnan(val))`. So the LAST NaN of a window
      wins, and a window of -inf only (or of an integer dtype's minimum) keeps its first tap inside the input,
      even where the window starts in the padding. A window with no tap inside the input (a dilated window
      that steps over a 1-element input) gets K, the kernel size: no element.

    An integer array (int16 when K allows) shaped like `out`."""
    windows = window_slices(x.shape, kernel_size, stride, dilation)
    total = len(windows)
    small = np.int16 if total < 2 ** 15 else np.int64
    if _maxima_are_numbers(out):
        # the first offset that holds the maximum, as min over offsets of (k where equal, else K), in branch-free
        # integer passes (masked writes are slow on random masks)
        chosen = np.full(out.shape, total, dtype=small)
        hit = np.empty(out.shape, dtype=bool)
        for k, window in enumerate(windows):
            np.equal(x[window], out, out=hit)
            np.minimum(chosen, hit * small(k - total) + small(total), out=chosen)
        return chosen
    # The first tap inside the input, per axis: window start s*i (in padded coordinates) plus the first offset o
    # with s*i + o*d >= before, o = ceil((before - s*i) / d); it must also be a tap (o < k) before the trailing
    # padding. The flat row-major offset is sum_axis o * prod(later kernel sizes); K where some axis has none.
    nd = len(kernel_size)
    counts = out.shape[-nd:]
    widths = padding if padding is not None else ((0, 0),) * nd
    first, inside = 0, True
    for axis, (count, size, k, s, d, (before, after)) in enumerate(zip(counts, x.shape[-nd:], kernel_size, stride,
                                                                        dilation, widths)):
        start = (np.arange(count) * s).reshape((-1,) + (1,) * (nd - 1 - axis))  # along this axis of the output
        o = np.maximum(-((start - before) // d), 0)
        first = first + o * math.prod(kernel_size[axis + 1:])
        inside = inside & (o < k) & (start + o * d < size - after)
    chosen = np.broadcast_to(np.where(inside, first, total).astype(small), out.shape).copy()
    # padding never updates: it is the lowest value and no NaN
    best = np.full(out.shape, max_pool_pad_value(x.dtype), dtype=x.dtype)
    update = np.empty(out.shape, dtype=bool)
    for k, window in enumerate(windows):
        np.greater(x[window], best, out=update)
        if x.dtype.kind in "fc":
            update |= np.isnan(x[window])
        np.copyto(best, x[window], where=update)
        np.copyto(chosen, small(k), where=update)
    return chosen


def first_maxima(x, out, kernel_size, stride, dilation, padding=None):
    """(window slice, mask) per kernel offset: where that offset holds the element of its window that PyTorch
    picks (max_pool_choice); in the common case, every maximum a number, that is the window's first maximum."""
    if not _maxima_are_numbers(out):  # a NaN, or a window of -inf only: PyTorch's loop, rare, so kept simple
        chosen = max_pool_choice(x, out, kernel_size, stride, dilation, padding)
        for k, window in enumerate(window_slices(x.shape, kernel_size, stride, dilation)):
            yield window, chosen == k
        return
    taken = None  # (arrays only: to_maxima and from_maxima are primitives, their forwards see arrays)
    for window in window_slices(x.shape, kernel_size, stride, dilation):
        hit = np.equal(x[window], out)
        if taken is None:
            taken = hit
        else:
            np.greater(hit, taken, out=hit)  # for booleans: hit and not taken
            np.logical_or(taken, hit, out=taken)
        yield window, hit


def _windows_overlap(kernel_size, stride, dilation) -> bool:
    return any(s < d * (k - 1) + 1 for k, s, d in zip(kernel_size, stride, dilation))


# max_pool's VJP routes each window's gradient to the element PyTorch picks: the window's first maximum (PyTorch's
# rule for ties), the last NaN, or for -inf only the first element inside the input (max_pool_choice); an
# element picked by several overlapping windows receives their sum. That routing is linear in g,
# so it is a primitive of its own, with its adjoint (reading g back from the maxima) as its VJP: higher orders
# stay exact, and the plain backward gets an in-place numpy path.
max_pool.defvjp(lambda g, out, x, kernel_size, stride, dilation, padding=None:
                either(to_maxima, g, x, out, kernel_size=kernel_size, stride=stride, dilation=dilation,
                       padding=padding))


@primitive(reads_inputs=True)
def to_maxima(g, x, out, kernel_size, stride, dilation, padding=None):
    """zeros like x, with each window's g added at the element PyTorch picks (first_maxima)."""
    grad = np.zeros_like(x, dtype=g.dtype)
    g = in_layout_of(g, out)
    overlap = _windows_overlap(kernel_size, stride, dilation)
    # For a finite g, g * hit is exact (g or 0) and the fastest way to write each window's share in place; the
    # branch-free gate_into measured 1.35x slower here (+60 us on W4's 6 ms step), the check costs 10 us. An
    # infinite g must not make inf * 0 = nan at the elements no window picks: gate it then.
    finite = not overlap and bool(np.isfinite(g).all())
    for window, hit in first_maxima(x, out, kernel_size, stride, dilation, padding):
        if finite:
            np.multiply(g, hit, out=grad[window])  # each element belongs to one window: write in place
        elif overlap:
            grad[window] += gate(hit, g)
        else:
            gate_into(grad[window], hit, g)
    return grad


@primitive(reads_inputs=True)
def from_maxima(grad, x, out, kernel_size, stride, dilation, padding=None):
    """For each window, `grad` at the element PyTorch picks (the adjoint of to_maxima)."""
    picked = np.zeros_like(out, dtype=grad.dtype)
    grad = in_layout_of(grad, x)
    for window, hit in first_maxima(x, out, kernel_size, stride, dilation, padding):
        picked += gate(hit, grad[window])
    return picked


def _not_differentiable(*args, **params):  # the maxima's positions are piecewise constant in x
    return None


to_maxima.defvjp(lambda gg, o, g, x, out, **p: either(from_maxima, gg, x, out, **p),
                 _not_differentiable, _not_differentiable)
from_maxima.defvjp(lambda gg, o, grad, x, out, **p: either(to_maxima, gg, x, out, **p),
                   _not_differentiable, _not_differentiable)


# ---------------------------------------------------------------------------------------------------------------
# PyTorch's everyday elementwise surface (issue 15): rounding, inverse trigonometric and hyperbolic functions,
# logs and exponentials in other bases, the division family (//, %, fmod), and a few fused binary functions.
# Conventions are PyTorch's derivatives.yaml, cited per op where they are a choice rather than the calculus.
# ---------------------------------------------------------------------------------------------------------------
def _zero_vjp(g, out, *args, **params):
    # piecewise constant (floor, ceil, round, trunc; the quotients of // and div(rounding_mode=)): zero gradient,
    # and the output stays in the graph, as in PyTorch
    return np.zeros_like(g)


floor = native(np.floor, reads_inputs=False)
floor.defvjp(_zero_vjp)

ceil = native(np.ceil, reads_inputs=False)
ceil.defvjp(_zero_vjp)

trunc = native(np.trunc, reads_inputs=False)
trunc.defvjp(_zero_vjp)


@primitive(reads_inputs=False)
def round(x, decimals=0):
    # half to even, as PyTorch; with decimals, rint(x * 10^d) / 10^d (x / 10^-d for d < 0), PyTorch's formula
    return np.rint(x) if decimals == 0 else np.round(x, decimals)
round.defvjp(_zero_vjp)


@primitive(reads_inputs=False)
def frac(x):
    return x - np.trunc(x)                             # PyTorch's x - trunc(x): frac(inf) is nan, not 0
frac.defvjp(lambda g, out, x: g)


tan = native(np.tan, saves_output=True, reads_inputs=False)
tan.defvjp(lambda g, out, x: g * (1 + out * out))     # d tan = 1 + tan^2

asin = native(np.arcsin, "asin")
asin.defvjp(lambda g, out, x: g / np.sqrt(1 - x * x))

acos = native(np.arccos, "acos")
acos.defvjp(lambda g, out, x: -g / np.sqrt(1 - x * x))

atan = native(np.arctan, "atan")
atan.defvjp(lambda g, out, x: g / (1 + x * x))

sinh = native(np.sinh)
sinh.defvjp(lambda g, out, x: g * np.cosh(x))

cosh = native(np.cosh)
cosh.defvjp(lambda g, out, x: g * np.sinh(x))

asinh = native(np.arcsinh, "asinh")
asinh.defvjp(lambda g, out, x: g / np.sqrt(x * x + 1))

acosh = native(np.arccosh, "acosh")
acosh.defvjp(lambda g, out, x: g / np.sqrt(x * x - 1))

atanh = native(np.arctanh, "atanh")
atanh.defvjp(lambda g, out, x: g / (1 - x * x))

log2 = native(np.log2)
log2.defvjp(lambda g, out, x: g / (x * math.log(2)))

log10 = native(np.log10)
log10.defvjp(lambda g, out, x: g / (x * math.log(10)))

exp2 = native(np.exp2, saves_output=True, reads_inputs=False)
exp2.defvjp(lambda g, out, x: g * (out * math.log(2)))


@primitive(saves_output=True, reads_inputs=False)
def erfinv(x):
    # A primitive because numpy has none: ours, in float64 from erf (_special), as erf itself
    return _special.erfinv(x).astype(np.result_type(x, np.float32))[()]
erfinv.defvjp(lambda g, out, x: g * ((math.sqrt(math.pi) / 2) * np.exp(out * out)))  # 1 / erf'(erfinv(x))


@primitive(saves_output=True)
def sinc(x):
    return np.sinc(x)                                  # sin(pi x) / (pi x), 1 at 0 (numpy's and PyTorch's)


def _sinc_vjp(g, out, x):
    # d sinc = (cos(pi x) - sinc(x)) / x, and 0 at x = 0 (PyTorch's value there, the true one); the division is
    # done with x = 1 there, so that no 0/0 reaches a higher order
    at_zero = x == 0
    return select(at_zero, 0, g) * ((np.cos(math.pi * x) - out) / np.where(at_zero, 1, x))


sinc.defvjp(_sinc_vjp)


@primitive(broadcasts=True)
def atan2(y, x):
    return np.arctan2(y, x)
atan2.defvjp(lambda g, out, y, x: g * x / (x * x + y * y),      # d atan2(y, x) = (x dy - y dx) / (x^2 + y^2)
             lambda g, out, y, x: -g * y / (x * x + y * y))


@primitive(broadcasts=True, saves_output=True)
def logaddexp(x, y):
    return np.logaddexp(x, y)
logaddexp.defvjp(lambda g, out, x, y: g * np.exp(x - out),       # e^x / (e^x + e^y), never overflowing
                 lambda g, out, x, y: g * np.exp(y - out))


@primitive(broadcasts=True, saves_output=True)
def logaddexp2(x, y):
    return np.logaddexp2(x, y)
logaddexp2.defvjp(lambda g, out, x, y: g * np.exp2(x - out),     # 2^x / (2^x + 2^y)
                  lambda g, out, x, y: g * np.exp2(y - out))


@primitive(broadcasts=True, saves_output=True)
def hypot(x, y):
    return np.hypot(x, y)
hypot.defvjp(lambda g, out, x, y: g * x / out,                   # nan at (0, 0), as in PyTorch
             lambda g, out, x, y: g * y / out)


@primitive(broadcasts=True, saves_output=True)
def copysign(x, y):
    return np.copysign(x, y)
# d/dx: +-1 as the sign is kept or flipped, 0 at x = 0 (PyTorch); d/dy: 0. sign(x) sign(out) is that factor.
copysign.defvjp(lambda g, out, x, y: select(x == 0, 0, g) * (np.sign(x) * np.sign(out)),
                lambda g, out, x, y: np.zeros_like(g))


def _integer_division_by_zero(name: str, out: Any, y: Any) -> None:
    """PyTorch refuses an integer division by zero (numpy gives 0 with a warning)."""
    if getattr(out, "dtype", None) is not None and out.dtype.kind in "iu" and not np.all(y):
        raise ZeroDivisionError(f"{name}: integer division by zero")


@primitive(symbol="//", broadcasts=True, reads_inputs=False)
def floor_divide(x, y):
    """floor(x / y), as Python's // (and numpy's floor_divide, and PyTorch's div(rounding_mode='floor'))."""
    out = x // y
    _integer_division_by_zero("floor_divide (//)", out, y)
    return out
floor_divide.defvjp(_zero_vjp, _zero_vjp)  # PyTorch: div(rounding_mode='floor') has zero gradients ('//' none)


@primitive(symbol="div_trunc", broadcasts=True, reads_inputs=False)
def trunc_divide(x, y):
    """x / y rounded towards zero (PyTorch's div(rounding_mode='trunc')); integers exactly, as C does."""
    if np.result_type(x, y).kind in "iub":
        out = (x - np.fmod(x, y)) // y if np.all(y) else x // y  # exact: x - fmod(x, y) is a multiple of y
        _integer_division_by_zero("div(rounding_mode='trunc')", out, y)
        return out
    return np.trunc(x / y)
trunc_divide.defvjp(_zero_vjp, _zero_vjp)


@primitive(symbol="%", broadcasts=True)
def remainder(x, y):
    """x - floor(x / y) y: the sign of the divisor, as Python's % and PyTorch's remainder."""
    out = x % y
    _integer_division_by_zero("remainder (%)", out, y)
    return out
remainder.defvjp(lambda g, out, x, y: g,
                 lambda g, out, x, y: -g * (x // y))             # PyTorch's -g * div(x, y, rounding_mode='floor')


@primitive(broadcasts=True)
def fmod(x, y):
    """x - trunc(x / y) y: the sign of the dividend, as C's fmod."""
    out = np.fmod(x, y)
    _integer_division_by_zero("fmod", out, y)
    return out
fmod.defvjp(lambda g, out, x, y: g,
            lambda g, out, x, y: -g * np.trunc(x / y))          # PyTorch's -g * div(x, y, rounding_mode='trunc')


@primitive(broadcasts=True)
def xlogy(x, y):
    """x log(y), 0 where x == 0 (also for y = 0) unless y is nan, as PyTorch (and scipy.special.xlogy)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = x * np.log(y)
    return np.where((x == 0) & ~np.isnan(y), 0, out)[()]


def _xlogy_vjp_x(g, out, x, y):
    # d/dx = log y, but 0 where x == 0 and y <= 0 (PyTorch's mask; log there is -inf or nan); log taken of 1 there
    off = (x == 0) & (y <= 0)
    return select(off, 0, g) * np.log(np.where(off, 1, y))


xlogy.defvjp(_xlogy_vjp_x,
             lambda g, out, x, y: g * x / y)


@primitive(broadcasts=True)
def lerp(start, end, weight):
    """start + weight (end - start), computed from whichever end is nearer (PyTorch's formula: exact at both
    ends, weight 0 and weight 1)."""
    with np.errstate(invalid="ignore"):
        near_start = np.abs(weight) < 0.5
    return np.where(near_start, start + weight * (end - start), end - (end - start) * (1 - weight))[()]


lerp.defvjp(lambda g, out, start, end, weight: g * (1 - weight),
            lambda g, out, start, end, weight: g * weight,
            lambda g, out, start, end, weight: g * (end - start))


@primitive()
def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    return np.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)[()]
nan_to_num.defvjp(lambda g, out, x, **limits: gate(np.isfinite(x), g))  # replaced values get no gradient
