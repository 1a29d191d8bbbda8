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


@st.composite
def lstm_shapes(draw: Any) -> tuple:
    """fused_lstm's inputs: gates (steps, batch, 4H), state (batch, 2H), weight_hh (4H, H); empty steps and batch
    included."""
    steps, batch, hidden = draw(st.integers(0, 3)), draw(st.integers(0, 2)), draw(st.integers(1, 2))
    if steps * batch * hidden > 6:
        steps, batch = min(steps, 2), min(batch, 1 if hidden == 2 else 2)
    return ((steps, batch, 4 * hidden), (batch, 2 * hidden), (4 * hidden, hidden))


@st.composite
def layer_norm_shapes(draw: Any) -> tuple:
    """layer_norm's x (*batch, *normalized), weight and bias (*normalized): empty batches included."""
    normalized = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=2)))
    batch = tuple(draw(st.lists(st.integers(0, 2), max_size=2)))
    return ((*batch, *normalized), normalized, normalized)


def separated(low: float, high: float) -> tuple:
    """Two element ranges that never tie (for maximum/minimum): x in +-[1, 2], y in [-0.5, 0.5]."""
    return (values(-2, 2, gap=1.0), values(-0.5, 0.5))


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
    # transformer blocks
    Case("gelu", lambda x, approximate: x.gelu(approximate=approximate), params=lambda draw, shapes: {
        "approximate": draw(st.sampled_from(["none", "tanh"]))}, low=-4, high=4),
    Case("layer_norm", lambda x, w, b, eps: x.layer_norm(w, b, eps=eps), shapes=layer_norm_shapes(),
         params=lambda draw, shapes: {"eps": draw(st.sampled_from([1e-5, 0.5]))}),
    # recurrent layers
    Case("fused_lstm", lambda g, s, w, reverse: g.fused_lstm(s, w, reverse=reverse), shapes=lstm_shapes(),
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
