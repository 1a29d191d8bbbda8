"""The numpy kernels under the derivative table: plain functions on arrays that know nothing of Tensor.

ops.py states each primitive's maths; the tricks that make it fast (a branch-free select, a blocked matrix
product, reductions through BLAS) and the bookkeeping it needs (window slices, memory layouts, einsum labels)
live here, each with the measurement that justified it. Nothing here records a graph: a kernel called on
tensors (a VJP differentiated again) hands them to numpy, whose dispatch routes them back into the engine.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable
from typing import Any

import numpy as np


# ---------------------------------------------------------------------------------------------------------------
# The 0-d rule: a 0-d tensor stores a numpy scalar, never a 0-d array
# ---------------------------------------------------------------------------------------------------------------
# numpy's arithmetic on two numpy scalars takes its scalar fast path; as soon as one operand is a 0-d array it goes
# through the ufunc machinery, ten times the cost (0.07 against 0.7 us for a float32 multiply here). A scalar graph
# (W1's 0-d chain, W5) is made of such operations, so every 0-d tensor, leaf or result, stores a scalar: storing
# 0-d arrays in the leaves alone puts 16% on W1's 0-d instruction count (callgrind). These two functions are the
# rule's two directions; `Tensor.data` (core.py) is how a user gets a writable array of a 0-d tensor.
def as_stored(result):
    """What a tensor stores for the numpy `result`: a numpy scalar when it is 0-d, the array itself otherwise.
    numpy gives 0-d arrays where a scalar is wanted (np.where, np.zeros_like, astype of a 0-d array, ...)."""
    return result[()] if result.ndim == 0 and isinstance(result, np.ndarray) else result


def as_ndarray(stored):
    """What a tensor stores, as an ndarray: the array itself (shared), or a new 0-d array holding a 0-d tensor's
    scalar (a copy: writing to it leaves the tensor alone)."""
    return np.asarray(stored)


# ---------------------------------------------------------------------------------------------------------------
# Selecting under a mask, branch-free: the gradients of where, relu, clamp, max and pooling
# ---------------------------------------------------------------------------------------------------------------
_BITS = {2: np.int16, 4: np.int32, 8: np.int64}  # an integer of a float's width, to select its bits
_SELECT_FROM = 8192  # elements; below this np.where is as fast (its branches are cheaper while the data is in cache)
_PLAIN = (np.ndarray, np.generic, int, float)  # what select computes on itself (bool is an int)


def select(condition, x, y):
    """np.where(condition, x, y), exactly, and 3x faster on large float operands. np.where branches on every
    element, and on an unpredictable mask each branch costs a mispredict (~5 ns an element). With m all ones
    where the condition holds, (x & m) | (y & ~m) on the bit patterns makes the same choice, inf, nan and -0.0
    included, branch-free; a branch that is the number 0 (+0.0, all bits clear) drops its half, so that
    select(mask, g, 0), the gradient through a mask, is one `and`. Anything but arrays, numpy scalars and numbers
    (Tensors, when a VJP is differentiated: create_graph) goes to np.where, which dispatches it (and records the
    selection)."""
    if not (isinstance(condition, _PLAIN) and isinstance(x, _PLAIN) and isinstance(y, _PLAIN)):
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


# ---------------------------------------------------------------------------------------------------------------
# Reductions and broadcasting
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


def sum_to(g: Any, shape: tuple) -> Any:
    """Undo broadcasting: sum the array `g` over the axes that broadcasting added to or stretched in `shape`."""
    lead = g.ndim - len(shape)
    stretched = tuple(lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    if not stretched:  # only leading axes were added (a bias)
        if not lead:
            return g
        if g.dtype.kind == "f" and g.flags.c_contiguous:
            # summing the rows of a C-ordered array is a matrix-vector product: BLAS does it 3x faster
            n = math.prod(g.shape[:lead])
            summed = np.dot(_ones(n, g.dtype), g if lead == 1 and g.ndim == 2 else g.reshape(n, math.prod(shape)))
            return summed if summed.shape == shape else summed.reshape(shape)
        return g.sum(axis=tuple(range(lead)))
    if g.dtype.kind == "f":
        # einsum's single-operand reduction runs 2-3x faster than ndarray.sum over non-trailing axes
        letters = string.ascii_letters[:g.ndim]
        kept = "".join(c for i, c in enumerate(letters) if i >= lead and i not in stretched)
        return np.einsum(f"{letters}->{kept}", g).reshape(shape)
    g = g.sum(axis=tuple(range(lead)) + stretched, keepdims=True)
    return g.reshape(shape) if lead else g


_ONES: dict[tuple, np.ndarray] = {}


def _ones(n: int, dtype: np.dtype) -> np.ndarray:
    """A cached, read-only vector of ones (np.ones costs a microsecond, more than the sum it serves)."""
    key = (n, dtype)
    ones = _ONES.get(key)
    if ones is None:
        if len(_ONES) > 64:
            _ONES.clear()
        ones = _ONES[key] = np.ones(n, dtype)
        ones.flags.writeable = False
    return ones


# ---------------------------------------------------------------------------------------------------------------
# Indexing
# ---------------------------------------------------------------------------------------------------------------

def is_basic_index(index: tuple) -> bool:
    """Only ints, slices, None and Ellipsis: no element can be selected twice."""
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice, np.integer)) for i in index)


def selects_once(index: tuple) -> bool:
    """No element can be selected twice: a basic index, or boolean masks only (integer arrays may repeat)."""
    return is_basic_index(index) or all(isinstance(i, np.ndarray) and i.dtype == bool for i in index)



def class_index(target: np.ndarray, axis: int) -> tuple:
    """The index picking x[n, t_n, d1, ...] for integer targets t of shape (N, d1, ...) and classes on `axis`:
    the targets at `axis`, and an arange (shaped to broadcast with them) for every other axis."""
    grids = [np.arange(n).reshape((n,) + (1,) * (target.ndim - 1 - i)) for i, n in enumerate(target.shape)]
    grids.insert(axis, target)
    return tuple(grids)


# ---------------------------------------------------------------------------------------------------------------
# Memory layout
# ---------------------------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------------------------
# Sliding windows and max pooling
# ---------------------------------------------------------------------------------------------------------------

def window_counts(spatial: tuple, kernel: tuple, stride: tuple, dilation: tuple) -> tuple:
    return tuple((n - d * (k - 1) - 1) // s + 1 for n, k, s, d in zip(spatial, kernel, stride, dilation))



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


def windows_overlap(kernel_size, stride, dilation) -> bool:
    return any(s < d * (k - 1) + 1 for k, s, d in zip(kernel_size, stride, dilation))


# ---------------------------------------------------------------------------------------------------------------
# Matrix products
# ---------------------------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------------------------
# einsum
# ---------------------------------------------------------------------------------------------------------------

def parse_einsum(subscripts: str, shapes: list[tuple]) -> tuple[list[str], str]:
    """Explicit labels for every operand and the output, with '...' spelled out as fresh letters."""
    subscripts = subscripts.replace(" ", "")
    inputs, arrow, output = subscripts.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: '{subscripts}' names {len(terms)} operands but {len(shapes)} were given")
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
            raise ValueError(f"einsum: '{term}' has {len(term)} labels for an operand of shape {shape}")
        labels.append(term)
    if arrow:
        output = output.replace("...", ellipsis)
    else:  # implicit output: the broadcast axes, then the labels used once, alphabetically (numpy's rule)
        counts = "".join(labels)
        output = ellipsis + "".join(sorted(c for c in set(counts) if counts.count(c) == 1 and c not in ellipsis))
    return labels, output


def cumprod_grad(g: np.ndarray, out: np.ndarray, x: np.ndarray, axis: int) -> np.ndarray:
    """The gradient of out = cumprod(x) along `axis`, grad_i = sum_{j >= i} g_j prod_{k <= j, k != i} x_k, exact
    with zeros (PyTorch's method). With z the first zero of a line, out_j = 0 for j >= z, so for i < z
    grad_i = sum_{j >= i} g_j out_j / x_i, a division by a nonzero; for i > z every product holds x_z = 0:
    grad_i = 0; and grad_z = prod_{k < z} x_k * sum_{j >= z} g_j prod_{z < k <= j} x_k. O(n) per line."""
    reverse = (slice(None),) * axis + (slice(None, None, -1),)
    zero = x == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        grad = np.cumsum((g * out)[reverse], axis=axis)[reverse] / x
    if not zero.any():
        return grad
    position = np.arange(x.shape[axis]).reshape((-1,) + (1,) * (x.ndim - 1 - axis))
    first = np.where(zero, position, x.shape[axis]).min(axis=axis, keepdims=True)  # the length if none
    # The terms j >= z2, a line's second zero, are exactly 0 (their products hold x_z2 = 0); summing them as
    # computed made 0 * inf = nan when an inf or NaN follows z2 ([0, 1e300, 1, -1, -0.0, nan] gave nan at z,
    # PyTorch 1e300). PyTorch sums j in [z, z2) only, as here: the products skip x_k from z2 on (a factor 1)
    # and g_j is zeroed there, so that, as in PyTorch, only products that overflowed before z2 give
    # inf * 0 = nan ([0, 1e300, 1e300, 0]). Runs only for arrays with a zero (the return above).
    between = np.cumsum(zero, axis=axis) == 1  # [z, z2): one zero so far
    after = np.cumprod(np.where(between & ~zero, x, 1), axis=axis)  # prod_{z < k <= min(j, z2 - 1)} x_k
    at_zero = np.sum(np.where(between, g, 0) * after, axis=axis, keepdims=True)
    before = np.prod(np.where(position < first, x, 1), axis=axis, keepdims=True)  # prod_{k < z} x_k
    return np.where(position < first, grad, np.where(position == first, before * at_zero, 0)).astype(grad.dtype)


# ---------------------------------------------------------------------------------------------------------------
# PyTorch's order among equal values. Its CPU kernels choose among tied elements by their algorithm: kthvalue by
# a quickselect, topk by std::nth_element/std::partial_sort then std::sort, sort (stable=False) by std::sort,
# all on (value, position) pairs compared by value. These replay those algorithms (libstdc++'s, the library
# PyTorch's Linux wheels are built with) on one line, in Python: the orderings run them only on lines where
# equal values make the choice, up to TIE_REPLAY_BUDGET elements in those lines per call (beyond, the stable
# order, at numpy's speed).
# ---------------------------------------------------------------------------------------------------------------
TIE_REPLAY_BUDGET = 16384  # elements: a replayed sort costs ~9 us an element (0.15 s at most), numpy's ~0.15 us


def _nan_last(largest: bool) -> Callable[[float, float], bool]:
    """PyTorch's comparators: `a` comes before `b`; NaN counts as the largest value."""
    if largest:
        return lambda a, b: (a != a and b == b) or a > b  # noqa: PLR0124 (a != a: a is NaN)
    return lambda a, b: (a == a and b != b) or a < b  # noqa: PLR0124


def _insertion_sort(a: list, first: int, last: int, before: Callable) -> None:
    for i in range(first + 1, last):
        value = a[i]
        if before(value[0], a[first][0]):
            a[first + 1:i + 1] = a[first:i]
            a[first] = value
        else:
            j = i
            while before(value[0], a[j - 1][0]):
                a[j] = a[j - 1]
                j -= 1
            a[j] = value


def _partition_pivot(a: list, first: int, last: int, before: Callable) -> int:
    """libstdc++'s __unguarded_partition_pivot: median of three moved to `first`, then Hoare's partition."""
    mid = first + (last - first) // 2
    x, y, z = a[first + 1][0], a[mid][0], a[last - 1][0]
    if before(x, y):
        pick = mid if before(y, z) else last - 1 if before(x, z) else first + 1
    else:
        pick = first + 1 if before(x, z) else last - 1 if before(y, z) else mid
    a[first], a[pick] = a[pick], a[first]
    pivot, low, high = a[first][0], first + 1, last
    while True:
        while before(a[low][0], pivot):
            low += 1
        high -= 1
        while before(pivot, a[high][0]):
            high -= 1
        if not low < high:
            return low
        a[low], a[high] = a[high], a[low]
        low += 1


def _adjust_heap(a: list, first: int, hole: int, length: int, value: tuple, before: Callable) -> None:
    top, child = hole, hole
    while child < (length - 1) // 2:
        child = 2 * (child + 1)
        if before(a[first + child][0], a[first + child - 1][0]):
            child -= 1
        a[first + hole] = a[first + child]
        hole = child
    if length % 2 == 0 and child == (length - 2) // 2:
        child = 2 * (child + 1)
        a[first + hole] = a[first + child - 1]
        hole = child - 1
    parent = (hole - 1) // 2
    while hole > top and before(a[first + parent][0], value[0]):
        a[first + hole] = a[first + parent]
        hole = parent
        parent = (hole - 1) // 2
    a[first + hole] = value


def _heap_select(a: list, first: int, middle: int, last: int, before: Callable) -> None:
    length = middle - first
    if length >= 2:
        for parent in range((length - 2) // 2, -1, -1):
            _adjust_heap(a, first, parent, length, a[first + parent], before)
    for i in range(middle, last):
        if before(a[i][0], a[first][0]):
            value, a[i] = a[i], a[first]
            _adjust_heap(a, first, 0, length, value, before)


def _sort_heap(a: list, first: int, last: int, before: Callable) -> None:
    while last - first > 1:
        last -= 1
        value, a[last] = a[last], a[first]
        _adjust_heap(a, first, 0, last - first, value, before)


def _lg(n: int) -> int:
    return n.bit_length() - 1


def _introsort(a: list, first: int, last: int, depth: int, before: Callable) -> None:
    while last - first > 16:
        if depth == 0:
            _heap_select(a, first, last, last, before)
            _sort_heap(a, first, last, before)
            return
        depth -= 1
        cut = _partition_pivot(a, first, last, before)
        _introsort(a, cut, last, depth, before)
        last = cut


def std_sort(a: list, first: int, last: int, before: Callable) -> None:
    """libstdc++'s std::sort: introsort, then insertion sort (unguarded past the first 16 elements)."""
    if last - first < 2:
        return
    _introsort(a, first, last, 2 * _lg(last - first), before)
    _insertion_sort(a, first, min(last, first + 16), before)
    for i in range(first + 16, last):  # __unguarded_linear_insert: a smaller element lies somewhere in front
        value, j = a[i], i
        while before(value[0], a[j - 1][0]):
            a[j] = a[j - 1]
            j -= 1
        a[j] = value


def std_nth_element(a: list, nth: int, before: Callable) -> None:
    """libstdc++'s std::nth_element (introselect)."""
    first, last = 0, len(a)
    depth = 2 * _lg(last) if last else 0
    while last - first > 3:
        if depth == 0:
            _heap_select(a, first, nth + 1, last, before)
            a[first], a[nth] = a[nth], a[first]
            return
        depth -= 1
        cut = _partition_pivot(a, first, last, before)
        if cut <= nth:
            first = cut
        else:
            last = cut
    _insertion_sort(a, first, last, before)


def pytorch_sort_order(line: np.ndarray, descending: bool) -> np.ndarray:
    """The positions in the order PyTorch's CPU sort (stable=False) returns them."""
    pairs = [(float(v), i) for i, v in enumerate(line.tolist())]
    std_sort(pairs, 0, len(pairs), _nan_last(descending))
    return np.array([i for _, i in pairs], dtype=np.int64)


def pytorch_topk_order(line: np.ndarray, k: int, largest: bool, sorted: bool = True) -> np.ndarray:
    """The positions PyTorch's CPU topk returns: the k first after std::partial_sort (k * 64 <= n) or
    std::nth_element at k - 1, followed (sorted=True) by std::sort of the k - 1 before it."""
    pairs = [(float(v), i) for i, v in enumerate(line.tolist())]
    before = _nan_last(largest)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    if k * 64 <= len(pairs):
        _heap_select(pairs, 0, k, len(pairs), before)
        _sort_heap(pairs, 0, k, before)
    else:
        std_nth_element(pairs, k - 1, before)
        if sorted:
            std_sort(pairs, 0, k - 1, before)
    return np.array([i for _, i in pairs[:k]], dtype=np.int64)


def pytorch_kthvalue_index(line: np.ndarray, k: int) -> int:
    """The position PyTorch's CPU kthvalue returns for the k-th smallest (0-based): its quickselect (Numerical
    Recipes': median-of-three pivot; NaN the largest) replayed on (value, position) pairs."""
    pairs = [(float(v), i) for i, v in enumerate(line.tolist())]
    above = _nan_last(True)  # a > b

    def swap(i: int, j: int) -> None:
        pairs[i], pairs[j] = pairs[j], pairs[i]

    low, high = 0, len(pairs) - 1
    while high > low:
        if high == low + 1:
            if above(pairs[low][0], pairs[high][0]):
                swap(low, high)
            break
        swap(low + (high - low) // 2, low + 1)
        if above(pairs[low + 1][0], pairs[high][0]):
            swap(low + 1, high)
        if above(pairs[low][0], pairs[high][0]):
            swap(low, high)
        if above(pairs[low + 1][0], pairs[low][0]):
            swap(low + 1, low)
        i, j, pivot = low + 1, high, pairs[low][0]
        while True:
            i += 1
            while above(pivot, pairs[i][0]):
                i += 1
            j -= 1
            while above(pairs[j][0], pivot):
                j -= 1
            if j < i:
                break
            swap(i, j)
        swap(low, j)
        if j <= k:
            low = i
        if j >= k:
            high = j - 1
    return pairs[k][1]


# ---------------------------------------------------------------------------------------------------------------
# Attention (ops.fused_attention): the probabilities forward, and the backward pass, in place on arrays
# ---------------------------------------------------------------------------------------------------------------
# The softmax's shift by the row maximum only guards exp against overflow (and a row against underflowing to all
# zeros). When every score lies within +-_EXP_SAFE[dtype], exp needs no guard: e^s stays a normal number, far from
# overflow even summed over a row, and softmax(s) = e^s / sum e^s equals the shifted e^(s - max) / sum e^(s - max)
# up to rounding. Two whole-array reductions (min and max, vectorised) then replace the row maxima and the pass
# subtracting them: numpy reduces a short row (64 keys in W7) at ~2.5 ns of overhead a row, the row maxima cost
# more than the exp. Otherwise (large scores, a float mask with -inf, nan) the rows are shifted as before.
_EXP_SAFE = {np.dtype(np.float32): 64.0, np.dtype(np.float64): 512.0}


def attention_probabilities(q: np.ndarray, k: np.ndarray, mask: Any, scale: float, causal: bool,
                            into: np.ndarray) -> None:
    """into[...] = softmax(scale q k^T + mask) over the last axis, in place: one product, then the mask, exp and
    the division as passes over `into` (..., L, S), which may be a strided view (the max-shift only when the
    scores are not all small, see _EXP_SAFE). A boolean mask keeps the True places; `causal` keeps j <= i. A row
    with every key masked out becomes zeros (not 0/0 = nan): its max is -inf, taken as 0, so that every exp is 0
    and the sum 0, divided as 1."""
    np.matmul(q, np.swapaxes(k, -1, -2), out=into)
    into *= scale
    if mask is not None and mask.dtype != np.bool_:
        into += mask
    limit = _EXP_SAFE.get(into.dtype)
    # (one comparison that is False for nan: a nan score takes the shifted path, and stays nan)
    shift = not (limit is not None and into.size and -limit <= into.min() and into.max() <= limit)
    keep = None if mask is None or mask.dtype != np.bool_ else mask
    if causal:
        length, source = into.shape[-2:]
        keep = np.arange(source) <= np.arange(length)[:, None]
    if shift:
        if keep is not None:
            np.copyto(into, -np.inf, where=~keep)
        top = into.max(axis=-1, keepdims=True, initial=-np.inf)
        top[top == -np.inf] = 0
        into -= top
        np.exp(into, out=into)
    else:  # every exp is finite: a masked place's e^s times 0 is the 0 that e^-inf would be (a product by the
        np.exp(into, out=into)  # mask as floats costs half the masked copy of -inf, W7's causal mask)
        if keep is not None:
            into *= keep.astype(into.dtype) if keep.size < into.size else keep
    total = np.einsum("...j->...", into)[..., None]  # (row sums in one pass; numpy's sum loops per short row)
    total[total == 0] = 1
    into /= total


def attention_backward(g_out: np.ndarray, g_p: np.ndarray | None, p: np.ndarray, q: np.ndarray, k: np.ndarray,
                       v: np.ndarray, keep: Any, keep_scale: float, scale: float, mask_grad: bool) -> list:
    """The gradients [dq, dk, dv, d mask or None] of ops.fused_attention, on arrays (its VJP states the maths),
    from the gradients of the attention (g_out) and of the probabilities (g_p; None: zero) and the
    probabilities p. dq, dk and dv are written in the memory layout of q, k and v when those have the full batch
    shape: the heads of multi-head attention are strided views of one projection, (N, L, H, d) in memory, and a
    gradient laid out the same way passes back through the head split's transpose and reshape as a view, not a
    copy (one copy of a (N, L, E) array per input saved; see W7 in benchmarks/README.md)."""
    d = p if keep is None else select(keep, p * keep_scale, 0)
    dv = _matmul_like(np.swapaxes(d, -1, -2), g_out, v)
    dp = np.matmul(g_out, np.swapaxes(v, -1, -2))
    if keep is not None:
        dp *= keep_scale
        dp = select(keep, dp, 0)
    if g_p is not None:
        dp += g_p
    # dz = p (dp - sum_j dp_j p_j): the softmax's VJP, in place in dp (einsum: the row sums with no temporary)
    dp -= np.einsum("...j,...j->...", dp, p)[..., None]
    dp *= p
    if not mask_grad:
        dp *= scale
    dq = _matmul_like(dp, k, q)
    dk = _matmul_like(np.swapaxes(dp, -1, -2), q, k)
    if mask_grad:
        dq *= scale
        dk *= scale
    return [dq, dk, dv, dp if mask_grad else None]


def _matmul_like(a: np.ndarray, b: np.ndarray, like: np.ndarray) -> np.ndarray:
    """a @ b, in `like`'s memory layout when the product has like's shape (numpy's order='K')."""
    shape = np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1])
    if shape != like.shape or like.flags.c_contiguous:
        return np.matmul(a, b)
    return np.matmul(a, b, out=np.empty_like(like, dtype=np.result_type(a, b)))


# ---------------------------------------------------------------------------------------------------------------
# Scatter-add of rows (index_add, the gradient of an embedding lookup w[idx])
# ---------------------------------------------------------------------------------------------------------------
_SORTED_SCATTER_FROM = 64  # indices; below this np.add.at's setup is cheaper than a sort


def scatter_add(out: np.ndarray, index: tuple, g: np.ndarray) -> None:
    """np.add.at(out, index, g): g's pieces added into out at index, a repeated index receiving the sum. For
    one integer array picking rows (an embedding's gradient: idx (N, L) into a (vocab, d) table) the rows of g
    are sorted by index and each run summed with np.add.reduceat: 2.5x faster than np.add.at on W7's
    (32, 64) tokens of width 128, which adds row by row through a generic inner loop (as PyTorch's embedding
    backward, which sorts too). Equal to np.add.at's sums up to the rounding of a different order of addition."""
    rows = index[0] if len(index) == 1 else None
    if (rows.__class__ is not np.ndarray or rows.dtype.kind not in "iu" or rows.size < _SORTED_SCATTER_FROM
            or out.ndim < 2 or g.shape != rows.shape + out.shape[1:]):
        np.add.at(out, index, g)
        return
    rows = rows.reshape(-1)
    if rows.dtype.kind == "i" and rows.min() < 0:
        rows = np.where(rows < 0, rows + out.shape[0], rows)
    order = np.argsort(rows, kind="stable")
    ordered = rows[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    sums = np.add.reduceat(g.reshape(rows.size, -1)[order], starts, axis=0)
    out[ordered[starts]] += sums.reshape((len(starts),) + out.shape[1:])


# ---------------------------------------------------------------------------------------------------------------
# Layer normalisation (ops.layer_norm): forward and gradients on rows
# ---------------------------------------------------------------------------------------------------------------
# The statistics are taken over rows (the normalised axes flattened). numpy reduces along a row in a loop per row
# (0.105 ms for W7's 2048 rows of 128), einsum in one pass (0.037 ms for the sums, 0.060 for the dot products of a
# row with itself, which need no squared temporary). einsum adds in float32 with a few vector accumulators, which
# is accurate for short rows; from _EINSUM_ROWS_UP_TO elements on numpy's pairwise sums are used (rounding error
# O(log n) instead of O(n)).
_EINSUM_ROWS_UP_TO = 1024


def _row_sums(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """sum_j a_ij (or a_ij b_ij) of 2-D arrays, as a column (rows, 1)."""
    if a.shape[1] <= _EINSUM_ROWS_UP_TO:
        return (np.einsum("ij->i", a) if b is None else np.einsum("ij,ij->i", a, b))[:, None]
    return (a if b is None else a * b).sum(axis=1, keepdims=True)


def _centered(x: np.ndarray, eps: float, centered: np.ndarray | None = None,
              rstd: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """x - mean and 1 / sqrt(var + eps) (biased variance) of the rows of a 2-D float x (into `centered` (rows, n)
    and `rstd` (rows, 1) when given)."""
    n = x.shape[1]
    mean = _row_sums(x)
    mean /= n
    centered = np.subtract(x, mean, out=centered)
    total = _row_sums(centered, centered)
    if rstd is None:
        rstd = total
    else:
        rstd[...] = total
    rstd /= n
    rstd += eps
    np.sqrt(rstd, out=rstd)
    np.divide(1, rstd, out=rstd)
    return centered, rstd


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float, keep: bool = False) -> np.ndarray:
    """(x - mean) / sqrt(var + eps) * weight + bias over the last weight.ndim axes of x: two row reductions and
    four passes, in place. With `keep`, the output is the front of a buffer that holds, behind it, the normalised
    x and 1 / sqrt(var + eps) of each row (layer_norm_kept), for layer_norm_grad: its backward then skips the
    statistics (two row reductions and two passes), the same numbers either way."""
    n = weight.size
    rows = math.prod(x.shape[:x.ndim - weight.ndim])
    dtype = np.result_type(x, weight, bias, 1.0)
    x2 = x.astype(dtype, copy=False).reshape(rows, n)
    if not keep:
        y, rstd = _centered(x2, eps)
        y *= rstd
        y *= weight.reshape(-1)
        y += bias.reshape(-1)
        return as_stored(y.reshape(x.shape))
    buffer = np.empty(2 * rows * n + rows, dtype)
    y, xh = buffer[:rows * n].reshape(rows, n), buffer[rows * n:2 * rows * n].reshape(rows, n)
    _centered(x2, eps, xh, buffer[2 * rows * n:].reshape(rows, 1))
    xh *= buffer[2 * rows * n:].reshape(rows, 1)
    np.multiply(xh, weight.reshape(-1), out=y)
    y += bias.reshape(-1)
    return y.reshape(x.shape)


def layer_norm_kept(out: Any, weight: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """(normalised x, 1 / sqrt(var + eps)) as (rows, n) and (rows, 1), kept behind a layer_norm(keep=True)
    output `out`, or None when `out` is not such an output."""
    buffer = getattr(out, "base", None)
    n = np.size(weight)
    rows = out.size // n if n else 0
    if (buffer is None or not n or buffer.ndim != 1 or buffer.size != 2 * out.size + rows or buffer.dtype != out.dtype
            or not out.flags.c_contiguous or out.ctypes.data != buffer.ctypes.data):
        return None
    return buffer[out.size:2 * out.size].reshape(rows, n), buffer[2 * out.size:].reshape(rows, 1)


def layer_norm_grad(g: np.ndarray, x: np.ndarray, weight: np.ndarray, eps: float,
                    kept: tuple[np.ndarray, np.ndarray] | None = None) -> list:
    """[dx, dweight, dbias] of layer_norm (ops.layer_norm's VJP states the maths), x and g floating arrays of
    one shape: the normalised x recomputed once (cheaper than keeping it when the output is not kept: a layer's
    input is alive anyway) or taken from `kept` (layer_norm_kept), four row reductions, and four passes for dx,
    in place."""
    n = weight.size
    rows = math.prod(x.shape[:x.ndim - weight.ndim])
    x2, g2 = x.reshape(rows, n), g.reshape(rows, n)
    if kept is None:
        xh, rstd = _centered(x2, eps)
        xh *= rstd
    else:
        xh, rstd = kept
    gh = g2 * weight.reshape(-1)
    mean_gh = _row_sums(gh)
    mean_gh /= n
    mean_ghxh = _row_sums(gh, xh)
    mean_ghxh /= n
    dweight = np.einsum("ij,ij->j", g2, xh)  # (down the rows in order, as np.sum(g2 * xh, axis=0) adds)
    dbias = g2.sum(axis=0)
    gh -= mean_gh
    if kept is None:
        xh *= mean_ghxh
    else:  # (the kept values stay as they are: a second backward reads them again)
        xh = np.multiply(xh, mean_ghxh)
    gh -= xh
    gh *= rstd
    return [as_stored(gh.reshape(x.shape)), as_stored(dweight.reshape(weight.shape)),
            as_stored(dbias.reshape(weight.shape))]


# ---------------------------------------------------------------------------------------------------------------
# GELU's tanh form (ops.gelu): forward and derivative, blocked, in place
# ---------------------------------------------------------------------------------------------------------------
# 0.5 x (1 + tanh(u)) = x sigmoid(2u) = x / (1 + e^(-2u)), u = s (x + c x^3), since 1 + tanh(u) = 2 sigmoid(2u):
# numpy's float32 exp costs half its tanh here, and the sigmoid form is the more accurate of the two where
# x << 0 (1 + tanh(u) cancels to 0 in float32 from x = -5 on, where GELU is still -2e-7). e^(-2u) overflows to inf
# for x below about -10 (float32), which gives the right limit: x / inf = -0, and the derivative's s = 0.
# The passes run over blocks of _GELU_BLOCK elements, so that a block's temporaries stay in the L2 cache while the
# dozen passes run over it: W7's (32, 64, 512) activation is 4 MB an array, and the unblocked derivative was
# 1.9x slower (10.3 against 5.5 ms, process time, interleaved rounds).
_GELU_BLOCK = 32768


def _pieces(*arrays: np.ndarray):
    """The arrays (of one shape) in corresponding blocks of _GELU_BLOCK elements when all are C-contiguous, else
    each whole, once."""
    if not all(a.flags.c_contiguous for a in arrays):
        yield arrays
        return
    flat = [a.reshape(-1) for a in arrays]
    for i in range(0, flat[0].size, _GELU_BLOCK):
        yield [a[i:i + _GELU_BLOCK] for a in flat]


def gelu_tanh(x: np.ndarray, s: float, c: float, keep: bool = False) -> np.ndarray:
    """x / (1 + exp(-2 s (x + c x^3))), GPT-2's GELU, for a floating array x: seven passes a block. With `keep`,
    the output is the front of a buffer that holds the denominators 1 + e^(-2u) behind it (gelu_denominators),
    for gelu_tanh_grad: the derivative then skips the five passes that recompute them, exp among them."""
    if keep:
        buffer = np.empty(2 * x.size, x.dtype)
        out, behind = buffer[:x.size].reshape(x.shape), buffer[x.size:].reshape(x.shape)
    else:
        out = behind = np.empty(x.shape, x.dtype)
    with np.errstate(over="ignore"):  # e^(-2u) = inf for x << 0: the intended limit (see above)
        for xb, o, t in _pieces(x, out, behind):
            np.multiply(xb, xb, out=t)
            t *= -2 * s * c
            t -= 2 * s
            t *= xb                     # -2u = x (-2s - 2sc x^2)
            np.exp(t, out=t)
            t += 1
            np.divide(xb, t, out=o)
    return out


def gelu_denominators(out: Any, x: Any) -> np.ndarray | None:
    """The denominators kept behind a gelu_tanh(keep=True) output `out` of input `x`, or None when `out` is not
    such an output (a copy, a narrowed dtype)."""
    buffer = getattr(out, "base", None)
    if (buffer is None or buffer.ndim != 1 or buffer.size != 2 * out.size or out.shape != np.shape(x)
            or buffer.dtype != out.dtype or not out.flags.c_contiguous or out.ctypes.data != buffer.ctypes.data):
        return None
    return buffer[out.size:].reshape(out.shape)


def gelu_tanh_grad(g: np.ndarray, x: np.ndarray, s: float, c: float, den: np.ndarray | None = None) -> np.ndarray:
    """g d/dx[x sigmoid(2u)] = g sig (1 + x (1 - sig) 2s (1 + 3c x^2)), sig = sigmoid(2u), u = s (x + c x^3), for
    g and x arrays of one shape: in blocks (see above) and in place, where the expression allocates a temporary
    per operation, a dozen arrays of the widest activation of a transformer, where PyTorch runs one fused loop.
    `den`: the forward's denominators 1 + e^(-2u) (gelu_denominators), the same numbers as recomputed here."""
    out = np.empty(x.shape, np.result_type(g, x))
    block = min(out.size, _GELU_BLOCK)
    sig, tail = np.empty(block, out.dtype), np.empty(block, out.dtype)  # scratch, reused by every block
    arrays = (g, x, out) if den is None else (g, x, out, den)
    with np.errstate(over="ignore"):
        for gb, xb, d, *kept in _pieces(*arrays):
            t, r = (sig[:d.size], tail[:d.size]) if d.ndim == 1 and d.size <= block else (np.empty_like(d),
                                                                                          np.empty_like(d))
            np.multiply(xb, xb, out=d)
            if kept:
                np.reciprocal(kept[0], out=t)
            else:
                np.multiply(d, -2 * s * c, out=t)
                t -= 2 * s
                t *= xb
                np.exp(t, out=t)
                t += 1
                np.reciprocal(t, out=t)     # sig = 1 / (1 + e^(-2u))
            d *= 6 * s * c
            d += 2 * s
            d *= xb                     # x 2s (1 + 3c x^2)
            np.subtract(1, t, out=r)
            d *= r
            d += 1
            d *= t
            d *= gb
    return out
