"""Every differentiable operation, checked against central finite differences to first and second order.

The table below is the test: one `Case` per operation. Hypothesis draws the shapes (broadcast pairs, 0-d,
size-0 axes), the values (inside the op's domain, away from its kinks: the strategy avoids kinks, the
tolerances stay tight), and the parameters (negative and tuple dims, keepdim, every kind of index).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given

import autograd as ag
from autograd import core, kernels, ops

# --------------------------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------------------------
MAX_SIZE = 24  # elements per input: keeps the Jacobians (and second-order checks) small


def small(shape: tuple) -> bool:
    return math.prod(shape) <= MAX_SIZE


one_shape = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3).filter(small)
nonempty_shape = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3).filter(small)
matrix_shape = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3).filter(small)


def broadcast_shapes(n: int) -> st.SearchStrategy:
    return hnp.mutually_broadcastable_shapes(num_shapes=n, min_dims=0, max_dims=3, min_side=0, max_side=3).map(
        lambda r: r.input_shapes).filter(lambda shapes: all(small(s) for s in shapes))


def values(low: float, high: float, gap: float = 0.0) -> st.SearchStrategy:
    """Floats in [low, high] at least `gap` away from 0 (the kink of relu, abs, sign, ...)."""
    if gap:
        return st.floats(low, -gap) | st.floats(gap, high)
    return st.floats(low, high)


def dims(draw: Any, ndim: int, allow_none: bool = True, allow_tuple: bool = True) -> Any:
    """A `dim` argument: None, a (possibly negative) int, or a tuple of distinct dims."""
    choices = ["int"] + (["none"] if allow_none else []) + (["tuple"] if allow_tuple and ndim else [])
    kind = draw(st.sampled_from(choices))
    if kind == "none":
        return None
    if ndim == 0:
        return draw(st.sampled_from([0, -1]))
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    picked = draw(st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim))
    return tuple(draw(st.sampled_from([d, d - ndim])) for d in picked)


def reduced_count(shape: tuple, dim: Any) -> int:
    if dim is None:
        return math.prod(shape)
    axes = (dim,) if isinstance(dim, int) else dim
    return math.prod(shape[a] for a in axes) if shape else 1


def spread(arrays: list[np.ndarray], data: Any) -> list[np.ndarray]:
    """Replace values by distinct ones at least 0.1 apart (no ties for max/min/sort-like ops)."""
    out = []
    for a in arrays:
        ranks = np.argsort(np.argsort(a.reshape(-1), kind="stable"), kind="stable")
        out.append((ranks * 0.1 - 0.05 * a.size + 0.013).reshape(a.shape))
    return out


def with_zeros(arrays: list[np.ndarray], data: Any) -> list[np.ndarray]:
    """Set some entries exactly to zero (prod's gradient must stay exact there)."""
    out = []
    for a in arrays:
        mask = data.draw(hnp.arrays(bool, a.shape))
        out.append(np.where(mask, 0.0, a))
    return out


# --------------------------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    name: str
    fn: Callable[..., Any]
    shapes: Any = None                 # strategy of a tuple of input shapes (default: one shape)
    low: float = -2.0
    high: float = 2.0
    gap: float = 0.0
    elements: tuple = ()               # per-input element strategies, overriding low/high/gap
    params: Callable | None = None     # (draw, shapes) -> dict of keyword arguments for fn
    prepare: Callable | None = None    # (arrays, data) -> arrays
    second_order: bool = True
    tags: tuple = field(default=())

    def __str__(self) -> str:
        return self.name


def unary(name: str, fn: Callable, **kw: Any) -> Case:
    return Case(name, fn, **kw)


def binary(name: str, fn: Callable, **kw: Any) -> Case:
    return Case(name, fn, shapes=broadcast_shapes(2), **kw)


def reduction(name: str, fn: Callable, nonempty: bool = False, min_count: int = 0, **kw: Any) -> Case:
    def params(draw: Any, shapes: tuple) -> dict:
        shape = shapes[0]
        dim = dims(draw, len(shape))
        if reduced_count(shape, dim) < min_count:
            dim = None
        return {"dim": dim, "keepdim": draw(st.booleans())}
    shape = (nonempty_shape if nonempty else one_shape)
    if min_count:
        shape = shape.filter(lambda s: math.prod(s) >= min_count and all(n >= min_count for n in s))
    return Case(name, fn, shapes=shape.map(lambda s: (s,)), params=params, **kw)


def softmax_like(name: str, fn: Callable) -> Case:
    def params(draw: Any, shapes: tuple) -> dict:
        return {"dim": dims(draw, len(shapes[0]), allow_none=False, allow_tuple=False)}
    return Case(name, fn, shapes=nonempty_shape.map(lambda s: (s,)), params=params)


def index_params(draw: Any, shapes: tuple) -> dict:
    shape = shapes[0]
    kinds = ["basic", "mask"] + (["integer", "mixed"] if shape and all(shape) else [])
    kind = draw(st.sampled_from(kinds if shape else ["basic"]))
    if kind == "basic":
        index = draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    elif kind == "integer":  # integer arrays, repeats likely: the gradient must scatter-add
        index = draw(hnp.integer_array_indices(shape, result_shape=hnp.array_shapes(min_dims=1, max_dims=2,
                                                                                      max_side=4)))
    elif kind == "mask":
        index = draw(hnp.arrays(bool, shape))
    else:
        index = (draw(hnp.arrays(np.int64, st.integers(1, 5), elements=st.integers(-shape[0], shape[0] - 1))),
                 *[slice(None, None, -1)] * (len(shape) - 1))
    return {"index": index}


def getitem(x: ag.Tensor, index: Any) -> ag.Tensor:
    return x[index]


def assign(x: ag.Tensor, v: ag.Tensor, index: Any) -> ag.Tensor:
    y = x * 1.0                      # a non-leaf, so the assignment is recorded
    y[index] = v
    return y


def assign_params(draw: Any, shapes: tuple) -> dict:
    return index_params(draw, shapes)


def assign_shapes() -> st.SearchStrategy:
    return one_shape.filter(lambda s: len(s) > 0).map(lambda s: (s, ()))


def reshape_params(draw: Any, shapes: tuple) -> dict:
    shape = shapes[0]
    target = list(reversed(shape)) + draw(st.lists(st.just(1), max_size=1))
    if target and draw(st.booleans()) and math.prod(shape):
        target[draw(st.integers(0, len(target) - 1))] = -1
        if target.count(-1) == 1 and math.prod(t for t in target if t != -1) == 0:
            target = list(reversed(shape))
    return {"shape": tuple(target)}


def matmul_shapes(draw: Any) -> tuple:
    n, k, m = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["mm", "mv", "vm", "vv", "batch"]))
    if kind == "mm":
        return ((n, k), (k, m))
    if kind == "mv":
        return ((n, k), (k,))
    if kind == "vm":
        return ((k,), (k, m))
    if kind == "vv":
        return ((k,), (k,))
    b = draw(st.integers(1, 2))
    return draw(st.sampled_from([((b, n, k), (k, m)), ((n, k), (b, k, m)), ((b, 1, n, k), (2, k, m))]))


def linear_shapes(draw: Any) -> tuple:
    n_in, n_out = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    batch = draw(st.sampled_from([(), (2,), (2, 2), (0,)]))
    return ((*batch, n_in), (n_out, n_in), (n_out,))


EINSUMS = [
    ("ij,jk->ik", lambda d: ((2, 3), (3, 2))),
    ("ii->", lambda d: ((3, 3),)),
    ("ii->i", lambda d: ((3, 3),)),
    ("ij->ji", lambda d: ((2, 3),)),
    ("i,j->ij", lambda d: ((2,), (3,))),
    ("ij,ij->", lambda d: ((2, 3), (2, 3))),
    ("bij,bjk->bik", lambda d: ((2, 2, 3), (2, 3, 2))),
    ("...ij,...jk->...ik", lambda d: ((2, 1, 2, 3), (3, 3, 2))),
    ("ij,j", lambda d: ((2, 3), (3,))),
    ("ijk->j", lambda d: ((2, 3, 2),)),
    ("iij->j", lambda d: ((2, 2, 3),)),
    ("i,i,i->", lambda d: ((3,), (3,), (3,))),
]


def einsum_case(subscripts: str, shapes: Callable) -> Case:
    return Case(f"einsum[{subscripts}]", lambda *ts: ag.einsum(subscripts, *ts),
                shapes=st.builds(lambda: None).map(lambda _: shapes(None)))


def pad_params(draw: Any, shapes: tuple) -> dict:
    widths = [(draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in shapes[0]]
    return {"pad_width": widths, "value": draw(st.sampled_from([0.0, 1.5]))}


def unfold_params(draw: Any, shapes: tuple) -> dict:
    shape = shapes[0]
    k = draw(st.integers(1, 2))
    spatial = shape[-k:]
    kernel = tuple(draw(st.integers(1, n)) for n in spatial)
    dilation = tuple(draw(st.integers(1, max(1, (n - 1) // max(kk - 1, 1)))) if kk > 1 else 1
                     for n, kk in zip(spatial, kernel))
    stride = tuple(draw(st.integers(1, 2)) for _ in spatial)
    return {"kernel_size": kernel, "stride": stride, "dilation": dilation}


def unfold_shapes() -> st.SearchStrategy:
    return hnp.array_shapes(min_dims=2, max_dims=3, min_side=2, max_side=4).filter(small).map(lambda s: (s,))


def gather_params(draw: Any, shapes: tuple) -> dict:
    shape = shapes[0]
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    axis = dim % len(shape)
    index_shape = tuple(draw(st.integers(1, 3)) if i == axis else draw(st.integers(1, n))
                        for i, n in enumerate(shape))
    index = draw(hnp.arrays(np.int64, index_shape, elements=st.integers(0, shape[axis] - 1)))
    return {"dim": dim, "index": ag.tensor(index)}


@st.composite
def cat_shapes(draw: Any) -> tuple:
    """Shapes that agree everywhere except (possibly) along one dim."""
    base = draw(nonempty_shape.filter(lambda s: len(s) > 0))
    dim = draw(st.integers(0, len(base) - 1))
    sizes = draw(st.lists(st.integers(0, 2), min_size=1, max_size=3))
    return tuple(base[:dim] + (n,) + base[dim + 1:] for n in sizes)


def cat_params(draw: Any, shapes: tuple) -> dict:
    candidates = [i for i in range(len(shapes[0]))
                  if all(s[:i] + s[i + 1:] == shapes[0][:i] + shapes[0][i + 1:] for s in shapes)]
    dim = draw(st.sampled_from(candidates))
    return {"dim": draw(st.sampled_from([dim, dim - len(shapes[0])]))}


@st.composite
def index_add_shapes(draw: Any) -> tuple:
    """The input's shape and the source's: equal except along one dim, where the source has one entry per
    index (0 to 4 of them, so that indices repeat)."""
    shape = draw(matrix_shape)
    dim = draw(st.integers(0, len(shape) - 1))
    n = draw(st.integers(0, 4))
    return shape, shape[:dim] + (n,) + shape[dim + 1:]


def index_add_params(draw: Any, shapes: tuple) -> dict:
    x, src = shapes
    dim = draw(st.sampled_from([d for d in range(len(x)) if x[:d] + x[d + 1:] == src[:d] + src[d + 1:]]))
    index = draw(hnp.arrays(np.int64, (src[dim],), elements=st.integers(0, x[dim] - 1)))
    return {"dim": draw(st.sampled_from([dim, dim - len(x)])), "index": ag.tensor(index),
            "alpha": draw(st.sampled_from([1, -2.5]))}


def class_shapes() -> st.SearchStrategy:
    """Logits (C,), (N, C) or (N, C, d1, ...): at least one class, any other axis possibly empty."""
    return hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=3).filter(
        lambda s: small(s) and s[min(1, len(s) - 1)] > 0).map(lambda s: (s,))


def nll_params(draw: Any, shapes: tuple) -> dict:
    """Integer targets in range, and a scale: one number, or one per sample with some zeros (ignored targets)."""
    shape = shapes[0]
    axis = min(1, len(shape) - 1)
    target_shape = shape[:axis] + shape[axis + 1:]
    target = draw(hnp.arrays(np.int64, target_shape, elements=st.integers(0, shape[axis] - 1)))
    scale = draw(st.floats(0.1, 2) | hnp.arrays(np.float64, target_shape, elements=st.sampled_from([0.0, 0.5, 1.5])))
    return {"target": target, "scale": scale, "axis": axis, "reduce": draw(st.booleans())}


def nll(x: ag.Tensor, target: np.ndarray, scale: Any, axis: int, reduce: bool, log_softmax: bool = False) -> Any:
    scale = scale.astype(x.dtype) if isinstance(scale, np.ndarray) else scale  # in x's dtype, as nn passes it
    logp = ag.log_softmax(x, axis) if log_softmax else x
    return ops.nll(logp, target=target, scale=scale, axis=axis, reduce=reduce)


def off_jumps(step: float = 1.0, offset: float = 0.0) -> Callable:
    """A `prepare` moving values away from offset + k step, where floor, ceil, round, trunc and frac jump (finite
    differences across a jump would not see the zero gradient)."""
    def prepare(arrays: list[np.ndarray], data: Any) -> list[np.ndarray]:
        out = []
        for a in arrays:
            t = (a - offset) / step
            out.append(np.where(np.abs(t - np.round(t)) < 0.02, a + 0.05 * step, a))
        return out
    return prepare


def quotients_away_from_integers() -> tuple:
    """Element ranges for x // y, x % y, fmod(x, y): |x| in [2.2, 2.8] and |y| in [1, 1.05], so x / y stays in
    +-[2.09, 2.8], away from the integers where the quotient jumps (finite differences would see the jump)."""
    return (values(-2.8, 2.8, gap=2.2), values(-1.05, 1.05, gap=1.0))


multi_dim_shape = hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=3).filter(small)


def int_and_array_index(draw: Any, shapes: tuple) -> dict:
    """An index holding a Python int and an integer array (repeats likely) at two different dims, slices elsewhere,
    perhaps a None: where PyTorch's rule (the int first, as basic indexing) and numpy's differ."""
    shape = shapes[0]
    at_int, at_array = draw(st.permutations(range(len(shape))))[:2]
    index: list = [slice(None)] * len(shape)
    index[at_int] = draw(st.integers(-shape[at_int], shape[at_int] - 1))
    index[at_array] = draw(hnp.arrays(np.int64, st.integers(1, 4), elements=st.integers(0, shape[at_array] - 1)))
    if draw(st.booleans()):
        index.insert(draw(st.integers(0, len(index))), None)
    return {"index": tuple(index)}
@st.composite
def lstm_shapes(draw: Any) -> tuple:
    """fused_lstm's inputs: x (steps, batch, input_size), state (batch, 2H), weight_ih (4H, input_size), weight_hh
    (4H, H), bias (4H,); empty steps and batch included."""
    steps, batch, hidden = draw(st.integers(0, 3)), draw(st.integers(0, 2)), draw(st.integers(1, 2))
    features = draw(st.integers(1, 2))
    if steps * batch * hidden > 6:
        steps, batch = min(steps, 2), min(batch, 1 if hidden == 2 else 2)
    return ((steps, batch, features), (batch, 2 * hidden), (4 * hidden, features), (4 * hidden, hidden),
            (4 * hidden,))


@st.composite
def layer_norm_shapes(draw: Any) -> tuple:
    """layer_norm's x (*batch, *normalized), weight and bias (*normalized): empty batches included."""
    normalized = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=2)))
    batch = tuple(draw(st.lists(st.integers(0, 2), max_size=2)))
    return ((*batch, *normalized), normalized, normalized)


@st.composite
def attention_shapes(draw: Any, float_mask: bool = False) -> tuple:
    """fused_attention's query (..., L, E), key (..., S, E) and value (..., S, Ev), and with `float_mask` a mask
    stretching to the scores (..., L, S): batch dims that broadcast against each other, L != S and E != Ev
    likely, empty L, S and batches included."""
    batches = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=2, min_side=0, max_side=2)).input_shapes
    length, source, width, values_width = (draw(st.integers(0, 3)), draw(st.integers(0, 3)), draw(st.integers(1, 3)),
                                           draw(st.integers(1, 3)))
    shapes = ((*batches[0], length, width), (*batches[1], source, width), (*batches[2], source, values_width))
    if float_mask:
        full = np.broadcast_shapes(*batches) + (length, source)
        mask = tuple(n if draw(st.booleans()) else 1 for n in full)
        shapes += (mask[draw(st.integers(0, len(mask))):],)
    if not all(small(s) for s in shapes):
        return tuple(s[-2:] for s in shapes[:3]) + tuple(s[-2:] for s in shapes[3:])
    return shapes


def attention_params(draw: Any, shapes: tuple) -> dict:
    """A boolean mask (True: allowed; rows all False included), causal or neither (a float mask when there is
    a fourth input), a scale, a dropout mask, and the output with or without the weights."""
    full = np.broadcast_shapes(shapes[0][:-2], shapes[1][:-2], shapes[2][:-2]) + (shapes[0][-2], shapes[1][-2])
    params: dict = {"scale": draw(st.sampled_from([None, 0.7]))}
    kind = "float" if len(shapes) == 4 else draw(st.sampled_from(["none", "bool", "causal"]))
    if kind == "bool":
        sub = tuple(n if draw(st.booleans()) else 1 for n in full)
        params["mask"] = draw(hnp.arrays(bool, sub[draw(st.integers(0, len(sub))):]))
    elif kind == "causal":
        params["causal"] = True
    if draw(st.booleans()):
        params["dropout_p"] = draw(st.sampled_from([0.25, 0.5]))
        params["keep"] = draw(hnp.arrays(bool, full))
    if draw(st.booleans()):
        params["weights"] = False  # the attention alone, P kept behind it for the VJP
    return params


def attention(q: ag.Tensor, k: ag.Tensor, v: ag.Tensor, *float_mask: ag.Tensor, mask: Any = None, keep: Any = None,
              **params: Any) -> ag.Tensor:
    return q.fused_attention(k, v, float_mask[0] if float_mask else mask, keep, **params)


def separated(low: float, high: float) -> tuple:
    """Two element ranges that never tie (for maximum/minimum): x in +-[1, 2], y in [-0.5, 0.5]."""
    return (values(-2, 2, gap=1.0), values(-0.5, 0.5))


# --- structure ops (issue 15, point 3): strategies -------------------------------------------------------------
plane_shape = hnp.array_shapes(min_dims=2, max_dims=3, min_side=0, max_side=3).filter(small)
vector_or_matrix = hnp.array_shapes(min_dims=1, max_dims=2, min_side=0, max_side=3).filter(small)


def two_dims(draw: Any, ndim: int) -> tuple[int, int]:
    """Two distinct dims of `ndim`, each possibly negative."""
    a, b = draw(st.lists(st.integers(0, ndim - 1), min_size=2, max_size=2, unique=True))
    return draw(st.sampled_from([a, a - ndim])), draw(st.sampled_from([b, b - ndim]))


def diagonal_params(draw: Any, shapes: tuple) -> dict:
    dim1, dim2 = two_dims(draw, len(shapes[0]))
    return {"offset": draw(st.integers(-3, 3)), "dim1": dim1, "dim2": dim2}


def diag_embed_params(draw: Any, shapes: tuple) -> dict:
    dim1, dim2 = two_dims(draw, len(shapes[0]) + 1)
    return {"offset": draw(st.integers(-2, 2)), "dim1": dim1, "dim2": dim2}


def roll_params(draw: Any, shapes: tuple) -> dict:
    ndim = len(shapes[0])
    if ndim == 0 or draw(st.booleans()):
        return {"shifts": draw(st.integers(-4, 4)), "dims": None}
    n = draw(st.integers(1, 3))  # dims may repeat: their shifts add up
    return {"shifts": tuple(draw(st.integers(-4, 4)) for _ in range(n)),
            "dims": tuple(draw(st.integers(-ndim, ndim - 1)) for _ in range(n))}


def rot90_params(draw: Any, shapes: tuple) -> dict:
    return {"k": draw(st.integers(-3, 4)), "dims": two_dims(draw, len(shapes[0]))}


@st.composite
def meshgrid_shapes(draw: Any) -> tuple:
    return tuple(draw(st.sampled_from([(), (0,), (1,), (2,), (3,)])) for _ in range(draw(st.integers(1, 3))))


def repeat_interleave_params(draw: Any, shapes: tuple) -> dict:
    shape = shapes[0]
    dim = draw(st.sampled_from([None, *range(-len(shape), len(shape))])) if shape else None
    n = math.prod(shape) if dim is None else shape[dim]
    if draw(st.booleans()):
        repeats = draw(st.integers(0, 3))
    else:
        repeats = ag.tensor(draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, 3))))
    return {"repeats": repeats, "dim": dim}


def unflatten_params(draw: Any, shapes: tuple) -> dict:
    shape = shapes[0]
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[dim]
    options = [(n,), (1, n), (n, 1, 1)] + ([(-1, 1), (1, -1)] if n else []) + \
        [(d, -1) for d in (2, 3) if n and n % d == 0]
    return {"dim": dim, "sizes": draw(st.sampled_from(options))}


def movedim_params(draw: Any, shapes: tuple) -> dict:
    ndim = len(shapes[0])
    n = draw(st.integers(1, max(ndim, 1)))
    source = draw(st.lists(st.integers(0, ndim - 1), min_size=n, max_size=n, unique=True))
    destination = draw(st.lists(st.integers(-ndim, ndim - 1), min_size=n, max_size=n,
                                unique_by=lambda d: d % ndim))
    return {"source": source if n > 1 else source[0], "destination": destination if n > 1 else destination[0]}


def narrow_params(draw: Any, shapes: tuple) -> dict:
    shape = shapes[0]
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[dim]
    start = draw(st.integers(0, n))
    length = draw(st.integers(0, n - start))
    return {"dim": dim, "start": draw(st.sampled_from([start, start - n])) if start < n else start, "length": length}


def tensor_unfold_params(draw: Any, shapes: tuple) -> dict:
    shape = shapes[0]
    if not shape:
        return {"dimension": draw(st.sampled_from([0, -1])), "size": draw(st.integers(0, 1)), "step": 1}
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    return {"dimension": dim, "size": draw(st.integers(0, shape[dim])), "step": draw(st.integers(1, 3))}


@st.composite
def cross_shapes(draw: Any) -> tuple:
    """Two broadcastable shapes with a 3 at the same dim of the broadcast shape (and both having it)."""
    a, b = draw(broadcast_shapes(2).filter(lambda s: math.prod(s[0]) <= 8 and math.prod(s[1]) <= 8))
    nd = min(len(a), len(b))
    at = draw(st.integers(0, nd)) if nd else 0
    return (a[:len(a) - at] + (3,) + a[len(a) - at:], b[:len(b) - at] + (3,) + b[len(b) - at:])


def cross_params(draw: Any, shapes: tuple) -> dict:
    a, b = shapes
    k = next(k for k in range(1, min(len(a), len(b)) + 1) if a[-k] == 3 and b[-k] == 3)  # from the end
    ndim = max(len(a), len(b))
    return {"dim": draw(st.sampled_from([-k, ndim - k]))}

# --- scans, orderings, gather/scatter (issue 15) ---------------------------------------------------------------
def scan_params(draw: Any, shapes: tuple) -> dict:
    """One dim of the input, possibly negative (0 or -1 for a 0-d input)."""
    ndim = len(shapes[0])
    return {"dim": draw(st.integers(-ndim, ndim - 1)) if ndim else draw(st.sampled_from([0, -1]))}


def many_zeros(arrays: list[np.ndarray], data: Any) -> list[np.ndarray]:
    """Zeros in about half the places: lines with none, one and several zeros (cumprod's three cases)."""
    return [np.where(data.draw(hnp.arrays(bool, a.shape, elements=st.booleans())), 0.0, a) for a in arrays]


def spread_jointly(arrays: list[np.ndarray], data: Any) -> list[np.ndarray]:
    """Distinct values across all the inputs together (no ties between x and src in scatter_reduce amax)."""
    flat = spread([np.concatenate([a.reshape(-1) for a in arrays])], data)[0] if arrays else None
    out, start = [], 0
    for a in arrays:
        out.append(flat[start:start + a.size].reshape(a.shape))
        start += a.size
    return out


def k_params(least: int) -> Callable:
    """dim (possibly negative) and a k in range for it; keepdim for kthvalue."""
    def params(draw: Any, shapes: tuple) -> dict:
        shape = shapes[0]
        dim = draw(st.integers(-len(shape), len(shape) - 1)) if shape else draw(st.sampled_from([0, -1]))
        n = shape[dim] if shape else 1
        return {"dim": dim, "k": draw(st.integers(least, n))}
    return params


def quantile_params(draw: Any, shapes: tuple) -> dict:
    shape = shapes[0]
    dim = None if not shape or draw(st.booleans()) else draw(st.integers(-len(shape), len(shape) - 1))
    q = draw(st.sampled_from([0.0, 0.3, 0.5, 1.0, "vector"]))
    if q == "vector":
        q = ag.tensor([0.1, 0.5, 0.85], dtype=ag.float64)
    return {"q": q, "dim": dim, "keepdim": draw(st.booleans()),
            "interpolation": draw(st.sampled_from(["linear", "lower", "higher", "midpoint", "nearest"]))}


@st.composite
def scatter_shapes(draw: Any) -> tuple:
    """An input and a source of the same number of dims (0-d included), the source's sides independent."""
    x = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3).filter(small))
    return x, tuple(draw(st.integers(1, 3)) for _ in x)


def scatter_params(distinct: bool) -> Callable:
    """dim and an index no larger than the source (and the input outside dim); `distinct`: no place written
    twice (a scatter's repeated writes keep one, whose derivative no finite difference sees)."""
    def params(draw: Any, shapes: tuple) -> dict:
        x, src = shapes
        if not x:
            return {"dim": draw(st.sampled_from([0, -1])), "index": ag.tensor(0)}
        dim = draw(st.integers(-len(x), len(x) - 1))
        axis = dim % len(x)
        limit = min(src[axis], x[axis]) if distinct else src[axis]
        shape = tuple(draw(st.integers(0, limit)) if d == axis else draw(st.integers(0, min(x[d], src[d])))
                      for d in range(len(x)))
        if distinct:  # along dim: the first entries of a random permutation of the places
            keys = draw(hnp.arrays(np.float64, shape[:axis] + (x[axis],) + shape[axis + 1:],
                                   elements=st.floats(0, 1), unique=True))
            index = np.take(np.argsort(keys, axis=axis, kind="stable"), range(shape[axis]), axis=axis)
        else:
            index = draw(hnp.arrays(np.int64, shape, elements=st.integers(0, x[axis] - 1)))
        return {"dim": dim, "index": ag.tensor(index.astype(np.int64))}
    return params


@st.composite
def take_along_shapes(draw: Any) -> tuple:
    return (draw(matrix_shape),)


def take_along_params(draw: Any, shapes: tuple) -> dict:
    shape = shapes[0]
    if draw(st.booleans()):
        index = draw(hnp.arrays(np.int64, st.integers(0, 4), elements=st.integers(0, math.prod(shape) - 1)))
        return {"indices": ag.tensor(index), "dim": None}
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    axis = dim % len(shape)
    # the indices broadcast against the input outside dim: size 1 where the input has more, or the same size
    index_shape = tuple(draw(st.integers(0, 3)) if d == axis else draw(st.sampled_from([1, n]))
                        for d, n in enumerate(shape))
    index = draw(hnp.arrays(np.int64, index_shape, elements=st.integers(0, shape[axis] - 1)))
    return {"indices": ag.tensor(index), "dim": dim}


def index_select_params(draw: Any, shapes: tuple) -> dict:
    dim = draw(st.integers(-len(shapes[0]), len(shapes[0]) - 1))
    index = draw(hnp.arrays(np.int64, st.integers(0, 4), elements=st.integers(0, shapes[0][dim] - 1)))
    return {"dim": dim, "index": ag.tensor(index)}


def masked_select_params(draw: Any, shapes: tuple) -> dict:
    mask_shape = draw(hnp.broadcastable_shapes(shapes[0], min_dims=0, max_dims=3, min_side=0))
    return {"mask": ag.tensor(draw(hnp.arrays(bool, mask_shape)))}


def moments(name: str, fn: Callable) -> Case:
    return reduction(name, lambda x, dim, keepdim: fn(x, dim, keepdim=keepdim), min_count=2, prepare=spread)


CASES: list[Case] = [
    # arithmetic, with broadcasting and reflected forms
    binary("add", lambda x, y: x + y),
    binary("sub", lambda x, y: x - y),
    binary("mul", lambda x, y: x * y),
    binary("div", lambda x, y: x / y, elements=(values(-2, 2), values(-2, 2, gap=0.5))),
    binary("pow", lambda x, y: x ** y, elements=(values(0.5, 2), values(-2, 2))),
    binary("maximum", ag.maximum, elements=separated(-2, 2)),
    binary("minimum", ag.minimum, elements=separated(-2, 2)),
    unary("radd", lambda x: 2.5 + x),
    unary("rsub", lambda x: 2.5 - x),
    unary("rmul", lambda x: np.float64(3.0) * x),
    unary("rdiv", lambda x: 1.0 / x, gap=0.5),
    unary("rpow", lambda x: 2.0 ** x),
    unary("pow_scalar", lambda x: x ** 3),
    unary("pow_half", lambda x: x ** 0.5, low=0.2),
    unary("pow_zero", lambda x: x ** 0),
    unary("neg", lambda x: -x),
    unary("numpy_array_left", lambda x: np.full(x.shape, 2.0) * x, tags=("float64_constant",)),
    Case("where", lambda x, y, cond: ag.where(cond, x, y), shapes=broadcast_shapes(3).map(lambda s: s[:2]),
         params=lambda draw, shapes: {"cond": draw(hnp.arrays(bool, np.broadcast_shapes(*shapes)))}),
    Case("Tensor.where", lambda x, y, cond: x.where(cond, y), shapes=broadcast_shapes(2),
         params=lambda draw, shapes: {"cond": ag.tensor(draw(hnp.arrays(bool, np.broadcast_shapes(*shapes))))}),
    # elementwise functions
    unary("exp", ag.exp),
    unary("log", ag.log, low=0.1, high=3),
    unary("log1p", ag.log1p, low=-0.5),
    unary("expm1", ag.expm1),
    unary("sqrt", ag.sqrt, low=0.1, high=3),
    unary("rsqrt", ag.rsqrt, low=0.2, high=3),
    unary("reciprocal", ag.reciprocal, gap=0.3),
    unary("square", ag.square),
    unary("sin", ag.sin),
    unary("cos", ag.cos),
    unary("tanh", ag.tanh),
    unary("sigmoid", ag.sigmoid, low=-6, high=6),
    unary("relu", ag.relu, gap=1e-2),
    unary("abs", ag.abs, gap=1e-2),
    unary("sign", ag.sign, gap=1e-2),
    unary("erf", ag.erf),
    unary("clone", ag.clone),
    unary("clamp", lambda x: ag.clamp(x, -0.5, 0.7),
          prepare=lambda arrays, data: [np.where(np.abs(a + 0.5) < 0.02, a + 0.05,
                                                 np.where(np.abs(a - 0.7) < 0.02, a + 0.05, a)) for a in arrays]),
    unary("clamp_min", lambda x: x.clamp(min=0.1), prepare=lambda arrays, data: [a + 0.05 * (np.abs(a - 0.1) < 0.02)
                                                                                for a in arrays]),
    Case("clamp_tensor_bounds", lambda x, lo: ag.clamp(x, lo, 1.0), shapes=broadcast_shapes(2),
         elements=(values(-2, 2, gap=1.2), values(-0.5, 0.5))),
    unary("masked_fill", lambda x: x.masked_fill(x > 0, 0.0), gap=1e-2),
    unary("softplus_composite", lambda x: ag.log1p(ag.exp(-ag.abs(x))) + ag.relu(x), gap=1e-2),
    # reductions
    reduction("sum", lambda x, dim, keepdim: x.sum(dim, keepdim)),
    reduction("mean", lambda x, dim, keepdim: x.mean(dim, keepdim), nonempty=True),
    reduction("var", lambda x, dim, keepdim: x.var(dim, keepdim=keepdim), min_count=2, prepare=spread),
    reduction("var_biased", lambda x, dim, keepdim: ag.var(x, dim, unbiased=False, keepdim=keepdim),
              nonempty=True),
    reduction("std", lambda x, dim, keepdim: x.std(dim, keepdim=keepdim), min_count=2, prepare=spread),
    reduction("amax", lambda x, dim, keepdim: x.amax(dim, keepdim), nonempty=True, prepare=spread),
    reduction("amin", lambda x, dim, keepdim: ag.amin(x, dim, keepdim), nonempty=True, prepare=spread),
    reduction("prod", lambda x, dim, keepdim: x.prod(dim, keepdim), prepare=with_zeros),
    reduction("logsumexp", lambda x, dim, keepdim: x.logsumexp(dim, keepdim), nonempty=True),
    reduction("norm", lambda x, dim, keepdim: x.norm(2, dim, keepdim), nonempty=True, gap=0.1),
    reduction("norm1", lambda x, dim, keepdim: ag.norm(x, 1, dim, keepdim), nonempty=True, gap=0.1),
    reduction("norm3", lambda x, dim, keepdim: ag.norm(x, 3, dim, keepdim), nonempty=True, gap=0.1),
    reduction("norm_inf", lambda x, dim, keepdim: ag.norm(x, -math.inf, dim, keepdim), nonempty=True,
              prepare=spread),
    Case("max_all", lambda x: x.max(), shapes=nonempty_shape.map(lambda s: (s,)), prepare=spread),
    Case("min_all", lambda x: ag.min(x), shapes=nonempty_shape.map(lambda s: (s,)), prepare=spread),
    Case("max_dim", lambda x, dim, keepdim: x.max(dim, keepdim).values, shapes=nonempty_shape.map(lambda s: (s,)),
         prepare=spread, params=lambda draw, shapes: {"dim": dims(draw, len(shapes[0]), False, False),
                                                      "keepdim": draw(st.booleans())}),
    Case("min_dim", lambda x, dim: ag.min(x, dim)[0], shapes=nonempty_shape.map(lambda s: (s,)), prepare=spread,
         params=lambda draw, shapes: {"dim": dims(draw, len(shapes[0]), False, False)}),
    softmax_like("softmax", lambda x, dim: x.softmax(dim)),
    softmax_like("log_softmax", lambda x, dim: ag.log_softmax(x, dim)),
    Case("nll", nll, shapes=class_shapes(), params=nll_params),
    Case("nll_log_softmax", lambda x, **p: nll(x, **p, log_softmax=True), shapes=class_shapes(), params=nll_params,
         low=-4, high=4),
    Case("binary_cross_entropy", ops.binary_cross_entropy, shapes=one_shape.map(lambda s: (s, s)),
         elements=(values(0.05, 0.95), values(0, 1))),
    Case("binary_cross_entropy_with_logits", lambda x, y, reduction: ag.binary_cross_entropy_with_logits(
        x, y, reduction=reduction), shapes=broadcast_shapes(2), low=-4, high=4,
         params=lambda draw, shapes: {"reduction": draw(st.sampled_from(
             ["none", "sum"] + (["mean"] if math.prod(np.broadcast_shapes(*shapes)) else [])))}),  # mean(empty): nan
    Case("mse_loss", lambda x, y, reduction: ag.mse_loss(x, y, reduction=reduction), shapes=broadcast_shapes(2),
         params=lambda draw, shapes: {"reduction": draw(st.sampled_from(
             ["none", "sum"] + (["mean"] if math.prod(np.broadcast_shapes(*shapes)) else [])))}),  # mean(empty): nan
    Case("exclusive_prod", ops.exclusive_prod, shapes=matrix_shape.map(lambda s: (s,)), prepare=with_zeros),
    # shape
    Case("reshape", lambda x, shape: x.reshape(shape), shapes=one_shape.map(lambda s: (s,)),
         params=reshape_params),
    Case("flatten", lambda x, a, b: x.flatten(a, b), shapes=matrix_shape.map(lambda s: (s,)),
         params=lambda draw, shapes: dict(zip("ab", sorted(draw(st.lists(st.integers(0, len(shapes[0]) - 1),
                                                                        min_size=2, max_size=2)))))),
    Case("squeeze", lambda x, dim: x.squeeze(dim), shapes=one_shape.map(lambda s: (s,)),
         params=lambda draw, shapes: {"dim": dims(draw, len(shapes[0]))}),
    Case("unsqueeze", lambda x, dim: x.unsqueeze(dim), shapes=one_shape.map(lambda s: (s,)),
         params=lambda draw, shapes: {"dim": draw(st.integers(-len(shapes[0]) - 1, len(shapes[0])))}),
    Case("transpose", lambda x, a, b: x.transpose(a, b), shapes=matrix_shape.map(lambda s: (s,)),
         params=lambda draw, shapes: {"a": draw(st.integers(-len(shapes[0]), len(shapes[0]) - 1)),
                                      "b": draw(st.integers(-len(shapes[0]), len(shapes[0]) - 1))}),
    Case("permute", lambda x, perm: x.permute(*perm), shapes=one_shape.map(lambda s: (s,)),
         params=lambda draw, shapes: {"perm": draw(st.permutations(range(len(shapes[0]))))}),
    Case("T", lambda x: x.T, shapes=one_shape.map(lambda s: (s,))),
    Case("expand", lambda x, shape: x.expand(*shape), shapes=broadcast_shapes(1),
         params=lambda draw, shapes: {"shape": (2, *tuple(2 if n == 1 else -1 for n in shapes[0]))}),
    Case("broadcast_to", lambda x, y: x.broadcast_to(np.broadcast_shapes(x.shape, y.shape)) * y,
         shapes=broadcast_shapes(2)),
    Case("repeat", lambda x, reps: x.repeat(*reps), shapes=one_shape.filter(lambda s: math.prod(s) <= 8)
         .map(lambda s: (s,)), params=lambda draw, shapes: {
             "reps": tuple(draw(st.integers(0, 2)) for _ in range(len(shapes[0]) + draw(st.integers(0, 1))))}),
    Case("flip", lambda x, dims_: x.flip(dims_), shapes=matrix_shape.map(lambda s: (s,)),
         params=lambda draw, shapes: {"dims_": dims(draw, len(shapes[0]), allow_none=False)}),
    Case("pad", lambda x, pad_width, value: ag.pad(x, pad_width, value), shapes=matrix_shape.map(lambda s: (s,)),
         params=pad_params),
    # joining, slicing, indexing
    Case("cat", lambda *ts, dim: ag.cat(ts, dim), shapes=cat_shapes(), params=cat_params),
    Case("stack", lambda *ts, dim: ag.stack(ts, dim), shapes=one_shape.map(lambda s: (s, s, s)),
         params=lambda draw, shapes: {"dim": draw(st.integers(-len(shapes[0]) - 1, len(shapes[0])))}),
    Case("split", lambda x, size, dim: x.split(size, dim), shapes=matrix_shape.map(lambda s: (s,)),
         params=lambda draw, shapes: {"size": draw(st.integers(1, 3)),
                                      "dim": draw(st.integers(-len(shapes[0]), len(shapes[0]) - 1))}),
    Case("chunk", lambda x, n, dim: ag.chunk(x, n, dim), shapes=matrix_shape.map(lambda s: (s,)),
         params=lambda draw, shapes: {"n": draw(st.integers(1, 3)),
                                      "dim": draw(st.integers(-len(shapes[0]), len(shapes[0]) - 1))}),
    Case("unbind", lambda x: ag.unbind(x, -1), shapes=matrix_shape.map(lambda s: (s,))),
    Case("getitem", getitem, shapes=one_shape.map(lambda s: (s,)), params=index_params),
    Case("setitem", assign, shapes=assign_shapes(), params=assign_params),
    Case("gather", lambda x, dim, index: x.gather(dim, index), shapes=matrix_shape.map(lambda s: (s,)),
         params=gather_params),
    Case("index_add", lambda x, src, dim, index, alpha: x.index_add(dim, index, src, alpha=alpha),
         shapes=index_add_shapes(), params=index_add_params),
    Case("unfold", lambda x, **p: ops.unfold(x, **p), shapes=unfold_shapes(), params=unfold_params),
    Case("max_pool", lambda x, **p: ops.max_pool(x, **p), shapes=unfold_shapes(), params=unfold_params,
         prepare=spread),
    # linear algebra
    Case("matmul", lambda x, y: x @ y, shapes=st.composite(lambda draw: matmul_shapes(draw))()),
    Case("dot", ag.dot, shapes=st.integers(0, 4).map(lambda n: ((n,), (n,)))),
    Case("linear", lambda x, w, b: ops.linear(x, w, b), shapes=st.composite(lambda draw: linear_shapes(draw))()),
    Case("linear_no_bias", lambda x, w: ops.linear(x, w), shapes=st.composite(
        lambda draw: linear_shapes(draw)[:2])()),
    *[einsum_case(s, shapes) for s, shapes in EINSUMS],
    # --- structure ops (issue 15, point 3) ---
    Case("tril", lambda x, k: x.tril(k), shapes=plane_shape.map(lambda s: (s,)),
         params=lambda draw, shapes: {"k": draw(st.integers(-3, 3))}),
    Case("triu", lambda x, k: ag.triu(x, diagonal=k), shapes=plane_shape.map(lambda s: (s,)),
         params=lambda draw, shapes: {"k": draw(st.integers(-3, 3))}),
    Case("diagonal", lambda x, **p: x.diagonal(**p), shapes=plane_shape.map(lambda s: (s,)),
         params=diagonal_params),
    Case("diag_embed", lambda x, **p: ag.diag_embed(x, **p), shapes=matrix_shape.map(lambda s: (s,)),
         params=diag_embed_params),
    Case("diag", lambda x, k: x.diag(k), shapes=vector_or_matrix.map(lambda s: (s,)),
         params=lambda draw, shapes: {"k": draw(st.integers(-2, 2))}),
    Case("trace", ag.trace, shapes=plane_shape.filter(lambda s: len(s) == 2).map(lambda s: (s,))),
    Case("roll", lambda x, shifts, dims: x.roll(shifts, dims), shapes=one_shape.map(lambda s: (s,)),
         params=roll_params),
    Case("rot90", lambda x, k, dims: x.rot90(k, dims), shapes=plane_shape.map(lambda s: (s,)), params=rot90_params),
    Case("meshgrid_ij", lambda *ts: ag.meshgrid(*ts, indexing="ij"), shapes=meshgrid_shapes()),
    Case("meshgrid_xy", lambda *ts: ag.meshgrid(list(ts), indexing="xy"), shapes=meshgrid_shapes()),
    Case("repeat_interleave", lambda x, **p: x.repeat_interleave(**p), shapes=one_shape.filter(
        lambda s: math.prod(s) <= 8).map(lambda s: (s,)), params=repeat_interleave_params),
    Case("unflatten", lambda x, dim, sizes: x.unflatten(dim, sizes), shapes=matrix_shape.map(lambda s: (s,)),
         params=unflatten_params),
    Case("movedim", lambda x, **p: x.movedim(**p), shapes=matrix_shape.map(lambda s: (s,)), params=movedim_params),
    Case("swapdims", lambda x, dims_: x.swapdims(*dims_), shapes=matrix_shape.map(lambda s: (s,)),
         params=lambda draw, shapes: {"dims_": (draw(st.integers(-len(shapes[0]), len(shapes[0]) - 1)),
                                                draw(st.integers(-len(shapes[0]), len(shapes[0]) - 1)))}),
    Case("narrow", lambda x, **p: x.narrow(**p), shapes=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0,
         max_side=3).filter(small).map(lambda s: (s,)), params=narrow_params),
    Case("Tensor.unfold", lambda x, **p: x.unfold(**p), shapes=one_shape.map(lambda s: (s,)),
         params=tensor_unfold_params),
    Case("tile", lambda x, reps: x.tile(reps), shapes=one_shape.filter(lambda s: math.prod(s) <= 6)
         .map(lambda s: (s,)), params=lambda draw, shapes: {
             "reps": tuple(draw(st.integers(0, 2)) for _ in range(draw(st.integers(0, len(shapes[0]) + 1))))}),
    Case("atleast_2d", lambda *ts: ag.atleast_2d(*ts), shapes=st.lists(one_shape, min_size=1, max_size=2)
         .map(tuple)),
    Case("atleast_3d", ag.atleast_3d, shapes=one_shape.map(lambda s: (s,))),
    Case("outer", lambda x, y: x.outer(y), shapes=st.tuples(st.integers(0, 4), st.integers(0, 4))
         .map(lambda nm: ((nm[0],), (nm[1],)))),
    Case("kron", ag.kron, shapes=st.tuples(one_shape.filter(lambda s: math.prod(s) <= 4),
                                           one_shape.filter(lambda s: math.prod(s) <= 4))),
    Case("cross", lambda x, y, dim: x.cross(y, dim), shapes=cross_shapes(), params=cross_params),
    Case("embed_diagonal", lambda x, **p: ops.embed_diagonal(x, **p), shapes=st.just(((2, 3),)),
         params=lambda draw, shapes: {"shape": (2, 4, 5), "offset": draw(st.sampled_from([1, -2])), "axis1": 2,
                                      "axis2": 1}),
    # --- scans, orderings, gather/scatter (issue 15, branch ops-scans) ---
    Case("cumsum", lambda x, dim: x.cumsum(dim), shapes=one_shape.map(lambda s: (s,)), params=scan_params),
    Case("cumprod", lambda x, dim: ag.cumprod(x, dim), shapes=one_shape.map(lambda s: (s,)), params=scan_params,
         prepare=many_zeros),
    Case("cumprod_no_zeros", lambda x, dim: x.cumprod(dim), shapes=one_shape.map(lambda s: (s,)),
         params=scan_params, gap=0.2),
    Case("logcumsumexp", lambda x, dim: x.logcumsumexp(dim), shapes=one_shape.map(lambda s: (s,)),
         params=scan_params, low=-30, high=30),
    Case("cummax", lambda x, dim: x.cummax(dim).values, shapes=one_shape.map(lambda s: (s,)), params=scan_params,
         prepare=spread),
    Case("cummin", lambda x, dim: ag.cummin(x, dim)[0], shapes=one_shape.map(lambda s: (s,)), params=scan_params,
         prepare=spread),
    Case("sort", lambda x, dim, descending: x.sort(dim, descending).values, shapes=one_shape.map(lambda s: (s,)),
         prepare=spread, params=lambda draw, shapes: {**scan_params(draw, shapes), "descending": draw(st.booleans())}),
    Case("msort", ag.msort, shapes=matrix_shape.map(lambda s: (s,)), prepare=spread),
    Case("topk", lambda x, dim, k, largest: x.topk(k, dim, largest).values, shapes=one_shape.map(lambda s: (s,)),
         prepare=spread, params=lambda draw, shapes: {**k_params(0)(draw, shapes), "largest": draw(st.booleans())}),
    Case("kthvalue", lambda x, dim, k, keepdim: x.kthvalue(k, dim, keepdim).values,
         shapes=nonempty_shape.map(lambda s: (s,)), prepare=spread,
         params=lambda draw, shapes: {**k_params(1)(draw, shapes), "keepdim": draw(st.booleans())}),
    Case("median_all", lambda x: x.median(), shapes=nonempty_shape.map(lambda s: (s,)), prepare=spread),
    Case("median_dim", lambda x, dim, keepdim: ag.median(x, dim, keepdim).values,
         shapes=nonempty_shape.map(lambda s: (s,)), prepare=spread,
         params=lambda draw, shapes: {**scan_params(draw, shapes), "keepdim": draw(st.booleans())}),
    Case("quantile", lambda x, q, **p: ag.quantile(x, q.to(x.dtype) if isinstance(q, ag.Tensor) else q, **p),
         shapes=nonempty_shape.map(lambda s: (s,)), prepare=spread,
         params=quantile_params),
    Case("masked_select", lambda x, mask: x.masked_select(mask), shapes=one_shape.map(lambda s: (s,)),
         params=masked_select_params),
    Case("index_select", lambda x, dim, index: x.index_select(dim, index), shapes=matrix_shape.map(lambda s: (s,)),
         params=index_select_params),
    Case("take_along_dim", lambda x, indices, dim: x.take_along_dim(indices, dim), shapes=take_along_shapes(),
         params=take_along_params),
    Case("scatter", lambda x, src, dim, index: x.scatter(dim, index, src), shapes=scatter_shapes(),
         params=scatter_params(distinct=True)),
    Case("scatter_value", lambda x, dim, index: ag.scatter(x, dim, index, 1.5),
         shapes=scatter_shapes().map(lambda s: s[:1]), params=lambda draw, shapes: scatter_params(True)(
             draw, (shapes[0], shapes[0]))),
    Case("scatter_add", lambda x, src, dim, index: x.scatter_add(dim, index, src), shapes=scatter_shapes(),
         params=scatter_params(distinct=False)),
    *[Case(f"scatter_reduce[{reduce}{'' if include_self else ', include_self=False'}]",
           lambda x, src, dim, index, reduce=reduce, include_self=include_self: x.scatter_reduce(
               dim, index, src, reduce, include_self=include_self),
           shapes=scatter_shapes(), params=scatter_params(distinct=False),
           prepare=with_zeros if reduce == "prod" else spread_jointly if reduce in ("amax", "amin") else None)
      for reduce in ("sum", "prod", "mean", "amax", "amin") for include_self in (True, False)],
    moments("var_mean", lambda x, dim, keepdim: ag.var_mean(x, dim, keepdim=keepdim)),
    moments("std_mean", lambda x, dim, keepdim: ag.std_mean(x, dim, correction=0, keepdim=keepdim)),
    # --- issue 15, point 1: PyTorch's everyday elementwise functions ---
    unary("floor", ag.floor, prepare=off_jumps()),
    unary("ceil", lambda x: x.ceil(), prepare=off_jumps()),
    unary("trunc", ag.trunc, prepare=off_jumps()),
    unary("round", lambda x: x.round(), prepare=off_jumps(offset=0.5)),
    unary("round_decimals", lambda x: ag.round(x, decimals=1), prepare=off_jumps(0.1, 0.05)),
    unary("round_negative_decimals", lambda x: ag.round(x * 30, decimals=-1), prepare=off_jumps(1 / 3, 1 / 6)),
    unary("frac", lambda x: x.frac(), prepare=off_jumps()),
    unary("tan", ag.tan, low=-1.2, high=1.2),
    unary("asin", ag.asin, low=-0.9, high=0.9),
    unary("acos", lambda x: x.acos(), low=-0.9, high=0.9),
    unary("atan", ag.atan),
    unary("sinh", ag.sinh),
    unary("cosh", lambda x: x.cosh()),
    unary("asinh", ag.asinh),
    unary("acosh", ag.acosh, low=1.1, high=3),
    unary("atanh", lambda x: x.atanh(), low=-0.9, high=0.9),
    unary("log2", ag.log2, low=0.1, high=3),
    unary("log10", lambda x: x.log10(), low=0.1, high=3),
    unary("exp2", ag.exp2),
    unary("erfinv", ag.erfinv, low=-0.9, high=0.9),
    unary("sinc", ag.sinc, gap=0.05),
    unary("nan_to_num", lambda x: ag.nan_to_num(ag.where(x > 1, math.inf, x), posinf=5.0),
          prepare=off_jumps()),
    binary("atan2", ag.atan2, elements=(values(-2, 2, gap=0.3), values(-2, 2))),  # off the cut y = 0, x < 0
    binary("logaddexp", ag.logaddexp, low=-5, high=5),
    binary("logaddexp2", lambda x, y: x.logaddexp2(y), low=-5, high=5),
    binary("hypot", ag.hypot, gap=0.3),
    binary("copysign", ag.copysign, gap=0.05),
    binary("fmod", ag.fmod, elements=quotients_away_from_integers()),
    binary("remainder", lambda x, y: x % y, elements=quotients_away_from_integers()),
    unary("rremainder", lambda x: 2.7 % x, low=-1.05, high=1.05, gap=1.0),
    binary("floor_divide", lambda x, y: x // y, elements=quotients_away_from_integers()),
    unary("rfloor_divide", lambda x: 2.7 // x, low=-1.05, high=1.05, gap=1.0),
    binary("div_trunc", lambda x, y: ag.div(x, y, rounding_mode="trunc"), elements=quotients_away_from_integers()),
    binary("div_floor", lambda x, y: x.div(y, rounding_mode="floor"), elements=quotients_away_from_integers()),
    binary("xlogy", ag.xlogy, elements=(values(-2, 2), values(0.1, 3))),
    Case("lerp", ag.lerp, shapes=broadcast_shapes(3)),
    unary("lerp_scalar_weight", lambda x: x.lerp(ag.tensor(1.5, dtype=x.dtype), 0.7)),
    # --- issue 15: an integer mixed with an integer-array index, PyTorch's rule (the integer is basic indexing) ---
    Case("getitem_int_and_array", getitem, shapes=multi_dim_shape.map(lambda s: (s,)), params=int_and_array_index),
    Case("setitem_int_and_array", assign, shapes=multi_dim_shape.map(lambda s: (s, ())), params=int_and_array_index),
    # transformer blocks
    Case("gelu", lambda x, approximate: x.gelu(approximate=approximate), params=lambda draw, shapes: {
        "approximate": draw(st.sampled_from(["none", "tanh"]))}, low=-4, high=4),
    Case("layer_norm", lambda x, w, b, eps: x.layer_norm(w, b, eps=eps), shapes=layer_norm_shapes(),
         params=lambda draw, shapes: {"eps": draw(st.sampled_from([1e-5, 0.5]))}),
    Case("fused_attention", attention, shapes=attention_shapes(), params=attention_params),
    Case("fused_attention_float_mask", attention, shapes=attention_shapes(float_mask=True), params=attention_params),
    # recurrent layers
    Case("fused_lstm", lambda x, s, w_ih, w_hh, b, reverse: x.fused_lstm(s, w_ih, w_hh, b, reverse=reverse),
         shapes=lstm_shapes(),
         params=lambda draw, shapes: {"reverse": draw(st.booleans())}),
]


def _draw_inputs(case: Case, data: Any) -> tuple[list[np.ndarray], dict]:
    shapes = data.draw(case.shapes if case.shapes is not None else one_shape.map(lambda s: (s,)), label="shapes")
    arrays = []
    for i, shape in enumerate(shapes):
        elements = case.elements[i] if case.elements else values(case.low, case.high, case.gap)
        arrays.append(data.draw(hnp.arrays(np.float64, shape, elements=elements), label=f"x{i}"))
    if case.prepare is not None:
        arrays = case.prepare(arrays, data)
    params = case.params(data.draw, shapes) if case.params else {}
    return arrays, params


@contextlib.contextmanager
def every_unread_input_let_go() -> Iterator[None]:
    """Nodes keep no input array their VJPs do not read, however small (normally only large ones are let go):
    the VJPs must then work from shapes alone, to first and second order."""
    thresholds = core.DROP_INPUTS_FROM, core.UNKEPT_FROM
    core.DROP_INPUTS_FROM = core.UNKEPT_FROM = 0
    try:
        yield
    finally:
        core.DROP_INPUTS_FROM, core.UNKEPT_FROM = thresholds


@pytest.mark.parametrize("unread_inputs", ["kept", "let go"])
@pytest.mark.parametrize("case", CASES, ids=str)
@given(data=st.data())
def test_first_and_second_order_gradients(case: Case, unread_inputs: str, data: Any) -> None:
    arrays, params = _draw_inputs(case, data)
    inputs = [ag.tensor(a, dtype=ag.float64, requires_grad=True) for a in arrays]

    def fn(*ts: ag.Tensor) -> Any:
        return case.fn(*ts, **params)

    with every_unread_input_let_go() if unread_inputs == "let go" else contextlib.nullcontext():
        assert ag.gradcheck(fn, inputs)
        if case.second_order:
            assert ag.gradgradcheck(fn, inputs)


@pytest.mark.parametrize("case", CASES, ids=str)
@given(data=st.data())
def test_float32_in_float32_out(case: Case, data: Any) -> None:
    """No silent upcast: float32 inputs give float32 outputs and float32 gradients."""
    arrays, params = _draw_inputs(case, data)
    if "float64_constant" in case.tags:  # a float64 numpy array is not a scalar: it promotes, as documented
        out = case.fn(ag.tensor(arrays[0], dtype=ag.float32, requires_grad=True), **params)
        assert out.dtype == np.float64
        return
    inputs = [ag.tensor(a, dtype=ag.float32, requires_grad=True) for a in arrays]
    outs = case.fn(*inputs, **params)
    outs = outs if isinstance(outs, tuple) else (outs,)
    for out in outs:
        assert out.dtype == np.float32, f"{case.name} returned {out.dtype}"
    total = sum((o.sum() for o in outs if o.requires_grad), ag.tensor(0.0))
    if total.requires_grad:
        total.backward()
    for x in inputs:
        assert x.grad is None or x.grad.dtype == np.float32
    inputs64 = [ag.tensor(a, dtype=ag.float64) for a in arrays]
    outs64 = case.fn(*inputs64, **params)
    outs64 = outs64 if isinstance(outs64, tuple) else (outs64,)
    assert all(o.dtype == np.float64 for o in outs64)


# --- the branch-free selection behind `where` (large operands) -------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_select_picks_the_same_bits_as_np_where(dtype):
    rng = np.random.default_rng(1)
    n = 3 * kernels._SELECT_FROM
    condition = rng.random(n) > 0.5
    x = rng.standard_normal(n).astype(dtype)
    y = rng.standard_normal(n).astype(dtype)
    x[:6] = y[-6:] = [np.inf, -np.inf, np.nan, -0.0, 0.0, 1e-8]
    bits = kernels._BITS[np.dtype(dtype).itemsize]
    for a, b in [(x, y), (x, 0), (0, y), (x, -0.0), (2.5, y)]:
        ours, numpy_where = kernels.select(condition, a, b), np.where(condition, a, b)
        assert ours.dtype == numpy_where.dtype == dtype
        np.testing.assert_array_equal(ours.view(bits), numpy_where.view(bits))
    wide = condition.reshape(-1, 8)  # broadcasting: a (n/8, 8) mask against a row and a column
    np.testing.assert_array_equal(kernels.select(wide, x[:8], y[: n // 8, None]),
                                  np.where(wide, x[:8], y[: n // 8, None]))


def test_where_and_sigmoid_on_large_tensors_match_the_plain_formulas():
    rng = np.random.default_rng(2)
    shape = (64, 2 * kernels._SELECT_FROM // 64)
    condition = rng.random(shape) > 0.5
    x = ag.tensor(rng.standard_normal(shape), requires_grad=True)
    y = ag.tensor(rng.standard_normal(shape), requires_grad=True)
    out = ag.where(condition, x, y)
    np.testing.assert_array_equal(out.data, np.where(condition, x.data, y.data))
    g = rng.standard_normal(shape)
    g[0, :4] = [np.inf, -np.inf, np.nan, 1.0]  # a gradient of inf or nan still gives exact zeros elsewhere
    out.backward(ag.tensor(g))
    np.testing.assert_array_equal(x.grad.data, np.where(condition, g, 0))
    np.testing.assert_array_equal(y.grad.data, np.where(condition, 0, g))
    z = np.concatenate([rng.standard_normal(20000) * 30, [np.inf, -np.inf, np.nan, 0.0, -0.0, 800, -800]])
    e = np.exp(-np.abs(z))
    np.testing.assert_array_equal(ops.sigmoid(ag.tensor(z)).data, np.where(z >= 0, 1, e) / (1 + e))


# --- cat and stack: backward linear in the number of inputs ----------------------------------------------------
def _calls_in_backward(join: Callable, n: int) -> int:
    """Python and C function calls made by the backward pass through join(n tensors): a count of work that,
    unlike a timing, does not depend on the machine."""
    import sys
    xs = [ag.tensor(np.ones(2), requires_grad=True) for _ in range(n)]
    loss = join(xs).sum()
    calls = 0

    def count(frame: Any, event: str, arg: Any) -> None:
        nonlocal calls
        calls += event in ("call", "c_call")

    sys.setprofile(count)
    try:
        loss.backward()
    finally:
        sys.setprofile(None)
    assert all(np.array_equal(x.grad.data, np.ones(2)) for x in xs)
    return calls


@pytest.mark.parametrize("join", [ag.cat, ag.stack, lambda xs: ag.cat(xs, -1), lambda xs: ag.stack(xs, 1)],
                         ids=["cat", "stack", "cat_last_dim", "stack_dim_1"])
def test_cat_and_stack_backward_work_grows_linearly_with_the_number_of_inputs(join: Callable) -> None:
    # (each input's offset used to be re-summed over all the inputs before it: 2x the inputs, 4x the work)
    small, large = _calls_in_backward(join, 400), _calls_in_backward(join, 1600)
    assert large < 4.4 * small, (small, large)


# --- scatter-add of rows: the gradient of an embedding lookup ---------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sorted_scatter_add_of_rows_equals_np_add_at(dtype: Any) -> None:
    rng = np.random.default_rng(4)
    idx = rng.integers(-10, 10, (8, 16))  # repeated and negative rows, above the sorted path's threshold
    assert idx.size >= kernels._SORTED_SCATTER_FROM
    g = rng.standard_normal((8, 16, 3, 2)).astype(dtype)
    g[0, 0, 0, 0], g[1, 1, 1, 1] = np.inf, np.nan
    expected = np.zeros((10, 3, 2), dtype)
    np.add.at(expected, (idx,), g)
    got = np.zeros((10, 3, 2), dtype)
    tolerance = {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-13}
    kernels.scatter_add(got, (idx,), g)
    np.testing.assert_allclose(got, expected, **tolerance)
    w = ag.tensor(rng.standard_normal((10, 3, 2)), requires_grad=True)
    w[ag.tensor(idx)].backward(ag.tensor(g.astype(np.float64)))
    np.testing.assert_allclose(w.grad.numpy(), expected, **tolerance)
