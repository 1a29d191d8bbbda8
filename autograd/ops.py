"""The derivative table: every primitive's numpy forward, followed by its vector-Jacobian products.

Read a VJP as "given g = dL/d(out), return dL/d(input)". VJPs are written in plain numpy on purpose: in an
ordinary backward they run on arrays, and with `create_graph=True` they run on Tensors, which numpy hands back
to us through `__array_ufunc__`/`__array_function__`, so the backward pass is recorded and differentiable too.

Adding an operation is one entry here: the forward, its VJPs, and how it is registered (see `primitive`):
`export=True` makes it `autograd.<name>`, `method=True` gives it a Tensor method, `numpy=np.cosh` makes np.cosh
on tensors run it, which is also what lets other VJPs call np.cosh under create_graph. The README's "Adding an
operation" shows one, with its test-table line.

Two rules keep the table short:
- Broadcasting is undone by the engine (`unbroadcast`) for every primitive flagged `broadcasts=True`; no VJP
  reduces a broadcast gradient by hand.
- Everything else (softmax, var, logsumexp, max(dim), stack, conv, ...) is composed from these primitives in
  `operations.py` and `nn`. A new primitive is added only for numerical stability or speed, and says which.
"""

from __future__ import annotations

import inspect
import math
import operator
import string
from builtins import sum as _builtin_sum
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _special, kernels, labels
from .core import (
    Op,
    Primitive,
    Tensor,
    binary_method,
    new_node,
    passes_gradient,
    times_first,
    times_second,
    unary_method,
)
from .errors import OpError
from .grad_mode import is_grad_enabled, is_recording_locations
from .kernels import (
    as_stored,
    class_index,
    expand_to,
    first_maxima,
    gate,
    gate_into,
    gemm,
    in_layout_of,
    parse_einsum,
    select,
    selects_once,
    unreduce,
    window_counts,
    window_slices,
    windows_overlap,
    zeros_in_layout,
)

# The registries every primitive enters where it is defined, so that nothing is kept in step by hand:
PRIMITIVES: dict[str, Primitive] = {}        # every primitive of the table, by name
EXPORTS: dict[str, Primitive] = {}           # export=True: public as it is, autograd.<name> (autograd/__init__.py)
METHODS: dict[str, Primitive] = {}           # method=True: Tensor.<name>(self, ...) calls it
UFUNCS: dict[Callable, Primitive] = {}       # numpy=f: f(tensor) calls it (numpy_dispatch), VJPs included


def primitive(name: str | None = None, symbol: str | None = None, broadcasts: bool = False,
              saves_output: bool = False, reads_inputs: bool = True, label: Callable | None = None,
              explain: Callable | None = None, *, export: bool = False, method: bool = False,
              numpy: Callable | None = None) -> Any:
    """Decorator turning a numpy forward function into a Primitive; add its VJPs with `.defvjp(...)`.

    Flags (see `Primitive`): broadcasts, saves_output, reads_inputs; label, explain. Registration:
    export=True     public as it is: `autograd.<name>`
    method=True     `Tensor.<name>`, with the tensor as the first input
    numpy=np.cosh   numpy's function of the same maths: np.cosh(tensor) runs this primitive, and so does a VJP
                    that calls np.cosh on tensors (create_graph=True)
    """
    def make(forward: Any) -> Primitive:
        op = Primitive(forward, name, symbol, broadcasts, saves_output, reads_inputs, label, explain)
        return register(op, export=export, method=method, numpy=numpy)
    return make


def native(function: Callable, name: str | None = None, *, export: bool = False, method: bool = False,
           numpy: Callable | None = None, **options: Any) -> Primitive:
    """A primitive whose forward is a function written in C, a numpy ufunc (np.exp) or an operator
    (operator.add): no Python frame between the engine and numpy, a tenth of the cost of an elementwise op on a
    small array. Arithmetic uses `operator`, not np.add: on numpy scalars `x + y` takes numpy's fast scalar path
    and the ufunc does not. Registration as in `primitive`."""
    op = Primitive(function, name or function.__name__, **options)
    return register(op, export=export, method=method, numpy=numpy)


def register(op: Primitive, export: bool = False, method: bool = False, numpy: Callable | None = None) -> Primitive:
    """Enter `op` in the registries (see `primitive` for what each flag gives)."""
    if op.name in PRIMITIVES:
        raise ValueError(f"register: a primitive named {op.name!r} exists already")
    PRIMITIVES[op.name] = op
    if export:
        EXPORTS[op.name] = op
    if method:
        if op.name in vars(Tensor):
            raise ValueError(f"register: Tensor.{op.name} exists already; one of the two must go")
        setattr(Tensor, op.name, _method(op))
        METHODS[op.name] = op
    if numpy is not None:
        if numpy in UFUNCS:
            raise ValueError(f"register: numpy.{numpy.__name__} already runs {UFUNCS[numpy].name}")
        UFUNCS[numpy] = op
    return op


def _method(op: Primitive) -> Callable:
    """Tensor.<name> for `op`. For one or two inputs it is core's fast path itself (core.unary_method,
    binary_method): two Python frames less than op(self, other) (on `(a*b+c).tanh()` one frame is ~4% of the
    time)."""
    arity = _arity(op.forward)
    if arity == 1:
        method = unary_method(op)
    elif arity == 2:
        method = binary_method(op)
    else:
        def method(self: Tensor, *args: Any, **params: Any) -> Tensor:
            return op(self, *args, **params)
    method.__name__ = op.name
    method.__qualname__ = f"Tensor.{op.name}"
    method.__doc__ = op.doc
    return method


def _arity(forward: Callable) -> int | None:
    """How many inputs `forward` takes when it has no optional ones; else None. Read from the code object or the
    C function's text signature (inspect.signature costs 2% of `import autograd` for the same answer)."""
    if isinstance(forward, np.ufunc):
        return forward.nin
    code = getattr(forward, "__code__", None)
    if code is not None:
        optional = forward.__defaults__ or code.co_kwonlyargcount
        if optional or code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS):
            return None
        return code.co_argcount
    text = getattr(forward, "__text_signature__", None)  # operator.add: "(a, b, /)"
    if not text:
        return None
    parameters = [p.strip() for p in text.strip("()").split(",") if p.strip() not in ("/", "$module", "")]
    if any("=" in p or p.startswith("*") for p in parameters):
        return None
    return len(parameters)


def either(op: Primitive, *args: Any, **params: Any) -> Any:
    """Call one of our primitives from inside a VJP: arrays in give arrays out (plain backward), tensors in
    give a recorded tensor out (create_graph=True)."""
    if any(isinstance(a, Tensor) for a in args):
        return op(*args, **params)
    return op.forward(*args, **params)


# ---------------------------------------------------------------------------------------------------------------
# Arithmetic (broadcasting)
# ---------------------------------------------------------------------------------------------------------------
add = native(operator.add, symbol="+", broadcasts=True, reads_inputs=False, export=True, method=True, numpy=np.add)
add.defvjp(passes_gradient, passes_gradient)   # g, g  (handed on by the engine without a call)


sub = native(operator.sub, symbol="-", broadcasts=True, reads_inputs=False, export=True, method=True,
             numpy=np.subtract)
sub.defvjp(passes_gradient,                    # g
           lambda g, out, x, y: -g)


mul = native(operator.mul, symbol="*", broadcasts=True, export=True, method=True, numpy=np.multiply)
mul.defvjp(times_second,                       # g * y  (both inlined by the engine, see core.times_second)
           times_first)                        # g * x


div = native(operator.truediv, "div", symbol="/", broadcasts=True, saves_output=True, numpy=np.true_divide)
# (public as operations.div and Tensor.div, which take PyTorch's rounding_mode= and call this without one)
div.defvjp(lambda g, out, x, y: g / y,
           lambda g, out, x, y: -g * out / y)        # d(x/y)/dy = -x/y^2 = -out/y


@primitive(symbol="**", broadcasts=True, saves_output=True, export=True, method=True, numpy=np.power)
def pow(x, y):
    return x ** y


def _pow_vjp_base(g, out, x, y):
    # d(x^y)/dx = y x^(y-1). At x = 0 with y = 0 that is 0 * inf; PyTorch's convention makes it 0 (x**0 has
    # gradient 0 at 0), even for an infinite g. The masked places compute with x = 1 so that no inf or nan
    # leaks into higher orders.
    # x^0 is 1 for every x, NaN included, so its gradient is 0 there too (PyTorch's masked_fill(exponent == 0, 0);
    # 0 * NaN^-1 was NaN). Only x = 0 and NaN are masked: elsewhere y x^(y-1) is 0 by itself and keeps its
    # derivative in y, x^(y-1) (1 + y log x), for a second order.
    if isinstance(y, (int, float)):
        return np.zeros_like(x) if y == 0 else g * (y * x ** (y - 1))
    corner = (y == 0) & ~(np.abs(x) > 0)
    return select(corner, 0, g) * (y * np.where(corner, 1.0, x) ** (y - 1))


def _pow_vjp_exponent(g, out, x, y):
    # d(x^y)/dy = x^y log x; 0 where x == 0 and y >= 0 (the limit there), computed with log(1) at those places
    corner = (x == 0) & (y >= 0)
    return select(corner, 0, g) * (out * np.log(np.where(corner, 1.0, x)))


pow.defvjp(_pow_vjp_base, _pow_vjp_exponent)


@primitive(broadcasts=True, export=True, method=True, numpy=np.maximum)
def maximum(x, y):
    """Elementwise maximum; where x == y the gradient is split evenly between the two."""
    return np.maximum(x, y)
# Ties split the gradient evenly. Off a tie, x's gradient is dropped only where x < y: where either is NaN (the
# output is NaN) both get g, as in PyTorch (masked_fill(x < y, 0)). select(x < y, 0, g), not gate(x >= y, g):
# NaN >= y is false too.
maximum.defvjp(lambda g, out, x, y: select(x == y, 0.5 * g, select(x < y, 0, g)),
               lambda g, out, x, y: select(x == y, 0.5 * g, select(y < x, 0, g)))


@primitive(broadcasts=True, export=True, method=True, numpy=np.minimum)
def minimum(x, y):
    """Elementwise minimum; where x == y the gradient is split evenly between the two."""
    return np.minimum(x, y)
minimum.defvjp(lambda g, out, x, y: select(x == y, 0.5 * g, select(x > y, 0, g)),   # NaN: both get g (above)
               lambda g, out, x, y: select(x == y, 0.5 * g, select(y > x, 0, g)))


@primitive(broadcasts=True)
def where(condition, x, y):
    return select(condition, x, y)
where.defvjp(None,
             lambda g, out, c, x, y: select(c, g, 0),
             lambda g, out, c, x, y: select(c, 0, g))


# ---------------------------------------------------------------------------------------------------------------
# Elementwise functions
# ---------------------------------------------------------------------------------------------------------------
neg = native(operator.neg, symbol="neg", reads_inputs=False, export=True, method=True, numpy=np.negative)
neg.defvjp(lambda g, out, x: -g)


exp = native(np.exp, saves_output=True, reads_inputs=False, export=True, method=True, numpy=np.exp)
exp.defvjp(lambda g, out, x: g * out)                  # d e^x = e^x


log = native(np.log, export=True, method=True, numpy=np.log)
log.defvjp(lambda g, out, x: g / x)


log1p = native(np.log1p, export=True, method=True, numpy=np.log1p)
log1p.defvjp(lambda g, out, x: g / (1 + x))


expm1 = native(np.expm1, saves_output=True, reads_inputs=False, export=True, method=True, numpy=np.expm1)
expm1.defvjp(lambda g, out, x: g * (out + 1))        # d(e^x - 1) = e^x = out + 1


sqrt = native(np.sqrt, saves_output=True, reads_inputs=False, export=True, method=True, numpy=np.sqrt)
def _sqrt_vjp(g, out, x):
    # d sqrt(x) = 1 / (2 sqrt(x)): infinite at x = 0, which is the derivative there (PyTorch's too). A mask further
    # down selects 0 from it (relu(x).sqrt() at x < 0, see kernels.gate): a valid graph, so no divide-by-zero
    # warning (PyTorch gives none). The context covers the ops recorded here under create_graph as well.
    with np.errstate(divide="ignore"):
        return g / (2 * out)


sqrt.defvjp(_sqrt_vjp)


sin = native(np.sin, export=True, method=True, numpy=np.sin)
sin.defvjp(lambda g, out, x: g * np.cos(x))


cos = native(np.cos, export=True, method=True, numpy=np.cos)
cos.defvjp(lambda g, out, x: -g * np.sin(x))


tanh = native(np.tanh, saves_output=True, reads_inputs=False, export=True, method=True, numpy=np.tanh)
tanh.defvjp(lambda g, out, x: g * (1 - out * out))     # d tanh = 1 - tanh^2


@primitive(saves_output=True, reads_inputs=False, export=True, method=True)
def sigmoid(x):
    # A primitive for stability: 1/(1+exp(-x)) overflows for large -x. With e = exp(-|x|) <= 1, sigmoid is
    # 1/(1+e) for x >= 0 and e/(1+e) below: no overflow, and full relative accuracy far into the tail.
    e = np.exp(-np.abs(x))
    numerator = np.maximum(e, x >= 0)  # 1 for x >= 0 (as e <= 1), e below: a branch-free np.where(x >= 0, 1, e)
    numerator /= 1 + e
    return numerator
sigmoid.defvjp(lambda g, out, x: g * out * (1 - out))  # d sigmoid = s (1 - s)


@primitive(saves_output=True, reads_inputs=False, export=True, method=True)
def relu(x):
    return np.maximum(x, 0)
# relu'(0) = 0, as in PyTorch. A NaN input is not flat territory: its g passes on, as PyTorch's threshold_backward
# (out <= 0 ? 0 : g) does. out >= 0 or NaN, so out != 0 is that mask, at the cost of out > 0.
relu.defvjp(lambda g, out, x: gate(out != 0, g))


@primitive(symbol="abs", export=True, method=True, numpy=np.absolute)
def abs(x):
    return np.abs(x)
# abs' = sgn(x), PyTorch's `grad * self.sgn()`: 0 at x = 0 (even for an infinite g) and 0 at a NaN (sgn(NaN) is 0
# in PyTorch; np.sign(NaN) is NaN, which made the gradient NaN)
abs.defvjp(lambda g, out, x: select(x < 0, -g, gate(x > 0, g)))


@primitive(reads_inputs=False, export=True, method=True, numpy=np.sign)
def sign(x):
    return np.sign(x)
sign.defvjp(lambda g, out, x: np.zeros_like(g))        # piecewise constant: zero gradient, stays in the graph


@primitive(export=True, method=True)
def erf(x):
    # A primitive because numpy has no erf (the exact GELU needs it): ours, in plain numpy and float64, so that
    # results do not depend on whether scipy is installed.
    return as_stored(_special.erf(x).astype(np.result_type(x, np.float32)))
def _erf_vjp(g, out, x):
    with np.errstate(over="ignore"):  # x^2 = inf past 1.3e154: e^-inf = 0, the limit, without a warning
        return g * (2 / math.sqrt(math.pi)) * np.exp(-x * x)


erf.defvjp(_erf_vjp)


@primitive(label=labels.clamp)
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


@primitive(reads_inputs=False, export=True, method=True)
def clone(x):
    return x.copy()
clone.defvjp(lambda g, out, x: g)


@primitive(reads_inputs=False, label=labels.astype)
def astype(x, dtype):
    return x.astype(dtype)
astype.defvjp(lambda g, out, x, dtype: g.astype(x.dtype))


# ---------------------------------------------------------------------------------------------------------------
# Reductions. `axis` is None or a tuple of non-negative axes (operations.py normalises the user's `dim`).
# ---------------------------------------------------------------------------------------------------------------
@primitive(reads_inputs=False, label=labels.reduction("sum"))
def sum(x, axis=None, keepdims=False):
    return x.sum(axis=axis, keepdims=keepdims)
sum.defvjp(lambda g, out, x, axis, keepdims: expand_to(unreduce(g, x.shape, axis, keepdims), x.shape))


def _extreme_vjp(g, out, x, axis, keepdims):
    # The gradient goes to the elements equal to the extreme value; ties share it equally (PyTorch's rule)
    extreme = unreduce(out, x.shape, axis, keepdims)
    hit = x == extreme
    ties = hit.sum(axis=axis, keepdims=True, dtype=x.dtype)  # in x's dtype: float32 stays float32
    if not ties.all():  # a NaN extreme equals nothing: its NaNs share the gradient (PyTorch's max(); its amax
        hit = hit | (np.isnan(x) & np.isnan(extreme))         # gives g / 0 * 0 = nan everywhere there)
        ties = hit.sum(axis=axis, keepdims=True, dtype=x.dtype)
    return gate(hit, unreduce(g, x.shape, axis, keepdims) / ties)


@primitive(saves_output=True, label=labels.reduction("amax"))
def amax(x, axis=None, keepdims=False):
    return x.max(axis=axis, keepdims=keepdims)
amax.defvjp(_extreme_vjp)


@primitive(saves_output=True, label=labels.reduction("amin"))
def amin(x, axis=None, keepdims=False):
    return x.min(axis=axis, keepdims=keepdims)
amin.defvjp(_extreme_vjp)


@primitive(label=labels.reduction("prod"))
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
@primitive(reads_inputs=False, label=labels.fixed("reshape"))
def reshape(x, shape):
    return x.reshape(shape)
reshape.defvjp(lambda g, out, x, shape: g.reshape(x.shape))


@primitive(reads_inputs=False, label=labels.transpose)
def transpose(x, axes):
    return x.transpose(axes)
transpose.defvjp(lambda g, out, x, axes: np.transpose(g, tuple(np.argsort(axes))))


@primitive(symbol="broadcast", reads_inputs=False, label=labels.fixed("broadcast"))
def broadcast_to(x, shape):
    return np.broadcast_to(x, shape)
broadcast_to.defvjp(lambda g, out, x, shape: unbroadcast(g, x.shape))


@primitive(reads_inputs=False, label=labels.fixed("sum_to"))
def sum_to(x, shape):
    """Sum a broadcast array back to `shape` (the adjoint of broadcast_to; the engine's unbroadcast)."""
    return kernels.sum_to(x, shape)
sum_to.defvjp(lambda g, out, x, shape: np.broadcast_to(g, x.shape))  # the adjoint's adjoint: broadcast


def unbroadcast(g: Any, shape: tuple) -> Any:
    """g summed back to `shape`: the engine's undoing of broadcasting for every primitive flagged `broadcasts`.
    Arrays go straight to the kernel; tensors (a VJP differentiated again) through sum_to, which records it."""
    if isinstance(g, Tensor):
        return sum_to(g, shape=tuple(shape))
    return kernels.sum_to(g, shape)


@primitive(reads_inputs=False, label=labels.flip)
def flip(x, axis):
    return np.flip(x, axis)
flip.defvjp(lambda g, out, x, axis: np.flip(g, axis))


@primitive(reads_inputs=False, label=labels.pad)
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

    def input_grads(self, node: Any, g: Any, out: Any, args: tuple) -> list:
        grads = self.joint(g, out, args, **(node.params or {}))
        return [None if edge is None else gi for edge, gi in zip(node.edges, grads)]

    def vjp(self, i: int, g: Any, out: Any, args: tuple, params: dict | None) -> Any:
        return self.joint(g, out, args, **(params or {}))[i]


def _concatenate(*xs, axis):
    return np.concatenate(xs, axis=axis)


cat = register(JointPrimitive(_concatenate, "cat", reads_inputs=False, label=labels.cat))


def _cat_vjp(g, out, xs, axis):
    # input i's gradient is g's slice at input i's offset along `axis`: the offsets in one pass (linear in the
    # number of inputs; a stack of 100,000 tensors is an RNN's outputs over a long sequence). Recorded
    # (create_graph), the slices are one split node: n getitem nodes would each send a gradient of g's full
    # size back, n of them summed, quadratic in n (see split_pieces)
    sizes = [x.shape[axis] for x in xs]
    if isinstance(g, Tensor):
        return list(split_pieces(g, axis, sizes))
    grads, start = [], 0
    lead = (slice(None),) * axis
    for size in sizes:
        grads.append(g[lead + (slice(start, start + size),)])
        start += size
    return grads


cat.defvjp_joint(_cat_vjp)


def split_pieces(x: Tensor, axis: int, sizes: list[int], squeeze: bool = False) -> tuple[Tensor, ...]:
    """x cut along `axis` into consecutive pieces of `sizes` (views of x's data), or with squeeze=True into its
    slices x[..., i, ...] (sizes all 1): split, chunk, unbind, and cat's gradient when it is recorded.

    One node for the whole split and a small one per piece (`_Piece`), which passes the piece's gradient on
    as one entry of a `_Pieces`; the entries meet at the split node and are joined by one concatenation
    (zeros for the pieces that got no gradient). The backward costs O(x's size) for any number of pieces:
    a getitem node per piece would send back a gradient of x's full size each, and n of those summed cost
    O(n * size), quadratic in n (unbind over a long sequence; cat's second order)."""
    data = x._data
    lead = (slice(None),) * axis
    views, start = [], 0
    for size in sizes:
        views.append(data[lead + (start,)] if squeeze else data[lead + (slice(start, start + size),)])
        start += size
    if not (x._requires_grad and is_grad_enabled()):
        return tuple(Tensor._wrap(v) for v in views)
    locations = is_recording_locations()
    split = _Split(axis, sizes, squeeze, data.shape, data.dtype)
    node = new_node(split, (x.grad_fn if x.grad_fn is not None else x,), (None,), None, None, locations)
    return tuple(Tensor._wrap(v, new_node(_Piece(k), (node,), (), None, None, locations))
                 for k, v in enumerate(views))


class _Pieces:
    """The gradients that reached some of a split's pieces, by piece number: what each piece's node sends to
    the split node. The engine sums what reaches a node, so adding merges, at the cost of the entries added:
    a sum made by adding is nobody's but the engine's, and later additions go into it in place (what a piece
    sent, which a drawing of the steps may keep, is never changed)."""

    __slots__ = ("grads", "is_sum")
    shape = dtype = None  # what a freeing backward under viz.keep_shapes records of it (see engine._keep_shapes)

    def __init__(self, grads: dict, is_sum: bool = False) -> None:
        self.grads = grads
        self.is_sum = is_sum

    def __add__(self, other: _Pieces) -> _Pieces:
        total = self if self.is_sum else _Pieces(dict(self.grads), is_sum=True)
        grads = total.grads
        for k, g in other.grads.items():
            grads[k] = grads[k] + g if k in grads else g
        return total

    def __repr__(self) -> str:
        return f"<gradients of pieces {sorted(self.grads)}>"


class _Split(Op):
    """The node of split_pieces: the gradient of x is its pieces' gradients joined along the axis."""

    __slots__ = ("axis", "sizes", "squeeze", "shape", "dtype")
    name = symbol = "split"
    backward_name = "SplitBackward"
    doc = split_pieces.__doc__
    reads_inputs = False
    rerunnable = False  # check_graph checks the pieces' uses (each piece is x[...] of x)

    def __init__(self, axis: int, sizes: list[int], squeeze: bool, shape: tuple, dtype: Any) -> None:
        self.axis, self.sizes, self.squeeze, self.shape, self.dtype = axis, sizes, squeeze, shape, dtype

    def input_grads(self, node: Any, g: _Pieces, out: Any, args: tuple) -> list:
        grads, axis = g.grads, self.axis
        parts = []
        for k, size in enumerate(self.sizes):
            gk = grads.get(k)
            if gk is None:
                gk = np.zeros(self.shape[:axis] + (size,) + self.shape[axis + 1:], self.dtype)
            elif self.squeeze:  # x[..., k, ...]'s gradient, with the axis put back
                gk = either(reshape, gk, shape=self.shape[:axis] + (1,) + self.shape[axis + 1:])
            parts.append(gk)
        if len(parts) == 1:
            return [parts[0]]
        return [either(cat, *parts, axis=axis)]  # recorded under create_graph: its gradient is split again


class _Piece(Op):
    """Piece k of a split: hands its gradient to the split node as entry k."""

    __slots__ = ("k",)
    reads_inputs = False
    rerunnable = False
    doc = None

    def __init__(self, k: int) -> None:
        self.k = k

    @property
    def name(self) -> str:
        return f"split[{self.k}]"

    symbol = name
    backward_name = property(lambda self: f"SplitBackward[{self.k}]")

    def input_grads(self, node: Any, g: Any, out: Any, args: tuple) -> list:
        return [_Pieces({self.k: g})]


# ---------------------------------------------------------------------------------------------------------------
# Indexing: getitem and its adjoint, index_add (scatter-add into zeros); index_put for assignment
# ---------------------------------------------------------------------------------------------------------------
@primitive(symbol="[]", reads_inputs=False, label=labels.getitem)
def getitem(x, index):
    return x[index]
getitem.defvjp(lambda g, out, x, index: either(index_add, g, shape=x.shape, index=index))


@primitive(reads_inputs=False, label=labels.index_add)
def index_add(g, shape, index):
    """zeros(shape) with g added at `index`; repeated integer indices add up (the adjoint of getitem)."""
    out = np.zeros(shape, dtype=g.dtype)
    if selects_once(index):
        out[index] = g
    else:
        kernels.scatter_add(out, index, g)
    return out
index_add.defvjp(lambda gg, out, g, shape, index: gg[index])


def _explain_index_put(datas: list, params: dict, err: Exception) -> str | None:
    # numpy's "could not broadcast input array from shape (3,) into shape (2,)": the value against the indexed
    # part, not against x (the generic message gave "shapes (3,) and (3,) cannot be broadcast together")
    if "broadcast" not in str(err):
        return None
    return f"index_put (t[index] = value): {err} (tensor shape {np.shape(datas[0])})"


@primitive(broadcasts=True, reads_inputs=False, label=labels.index_put, explain=_explain_index_put)
def index_put(x, value, index):
    """A copy of x with x[index] = value (assignment inside the graph: t[mask] = 0)."""
    out = x.copy() if isinstance(x, np.ndarray) else np.array(x)
    out[index] = value
    return as_stored(out)


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
# Diagonals (issue 15): `diagonal` and its adjoint `embed_diagonal`. diag, diag_embed and trace are built on them.
# A pair of primitives for speed: the forward is numpy's strided view (no copy), and the adjoint writes into
# zeros through a plain assignment, where getitem with integer arrays would copy forward and scatter with
# np.add.at backward (an add per element, for indices that never repeat).
# ---------------------------------------------------------------------------------------------------------------
@primitive(reads_inputs=False, label=labels.diagonal("diagonal"))
def diagonal(x, offset, axis1, axis2):
    """x's diagonal `offset` (above the main one when positive) in the plane (axis1, axis2), as a new last axis;
    numpy's and PyTorch's meaning. A read-only view."""
    return np.diagonal(x, offset, axis1, axis2)
diagonal.defvjp(lambda g, out, x, offset, axis1, axis2:
                either(embed_diagonal, g, shape=x.shape, offset=offset, axis1=axis1, axis2=axis2))


def _diagonal_index(shape: tuple, offset: int, axis1: int, axis2: int) -> tuple:
    """The index of the diagonal of an array of `shape` whose axes axis1, axis2 were moved last."""
    n = max(0, min(shape[axis1] - max(-offset, 0), shape[axis2] - max(offset, 0)))
    rows = np.arange(n) + max(-offset, 0)
    return (Ellipsis, rows, rows + offset)


@primitive(reads_inputs=False, label=labels.diagonal("diag_embed"))
def embed_diagonal(g, shape, offset, axis1, axis2):
    """zeros(shape) with g written on its diagonal `offset` of the plane (axis1, axis2), g's last axis running
    along the diagonal and its other axes being shape's others, in order (the adjoint of diagonal;
    diag_embed)."""
    out = np.zeros(shape, dtype=np.result_type(g))
    np.moveaxis(out, (axis1, axis2), (-2, -1))[_diagonal_index(shape, offset, axis1, axis2)] = g
    return out
embed_diagonal.defvjp(lambda gg, out, g, shape, offset, axis1, axis2:
                      either(diagonal, gg, offset=offset, axis1=axis1, axis2=axis2))


# ---------------------------------------------------------------------------------------------------------------
# Sliding windows (convolution and pooling are built on these in nn) and their adjoint
# ---------------------------------------------------------------------------------------------------------------
@primitive(reads_inputs=False, label=labels.windows("unfold"))
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


@primitive(reads_inputs=False, label=labels.windows("fold"))
def fold(windows, shape, kernel_size, stride, dilation):
    """The adjoint of unfold: add every window back to where it came from (col2im)."""
    k = len(kernel_size)
    counts = windows.shape[-2 * k:-k]
    if 0 in kernel_size:  # empty windows (Tensor.unfold with size 0) put nothing back
        return np.zeros(shape, dtype=windows.dtype)
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
def _explain_matmul(datas: list, params: dict, err: Exception) -> str | None:
    a, b = (np.shape(d) for d in datas)
    if len(a) == 0 or len(b) == 0:
        return f"matmul: both operands need at least 1 dimension, got shapes {a} and {b}"
    k1, k2 = a[-1], (b[0] if len(b) == 1 else b[-2])
    if k1 != k2:
        return f"matmul: shapes {a} and {b} do not align: {k1} != {k2}"
    return f"matmul: the batch dimensions of shapes {a} and {b} cannot be broadcast together"


@primitive(symbol="@", broadcasts=True, label=labels.fixed("matmul"), explain=_explain_matmul, numpy=np.matmul)
def matmul(x, y):
    if x.__class__ is np.ndarray and y.__class__ is np.ndarray and x.ndim == 2 and y.ndim == 2:
        return gemm(x, y)
    return np.matmul(x, y)


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


def _einsum_forward(*operands, subscripts):
    large = len(operands) > 2 or _builtin_sum(np.size(o) for o in operands) > 4096
    return np.einsum(subscripts, *operands, optimize=large)


einsum = register(Primitive(_einsum_forward, "einsum", broadcasts=True, label=labels.einsum))


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
# d softplus = sigmoid(x) = e^x / (1 + e^x), differentiable again through the saved output (d out = sigmoid dx).
# Computed from the output alone: e^(-softplus(x)) = 1 / (1 + e^x) = 1 - sigmoid(x), so sigmoid(x) =
# -expm1(-out), with expm1's full relative accuracy where sigmoid(x) ~ e^x is tiny. exp(x - out) was inf - inf =
# NaN at x = +inf, where the limit (and PyTorch's gradient) is 1.
softplus.defvjp(lambda g, out, x: -g * np.expm1(-out))


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


@primitive(broadcasts=True)
def binary_cross_entropy_with_logits(x, y, reduction="mean"):
    """(1 - y) x + softplus(-x), the binary cross-entropy of sigmoid(x) against y, then reduced ("none", "mean" or
    "sum", as PyTorch's). A primitive for speed: composed it is six nodes (1 - y, a product, a negation, softplus,
    a sum, the mean's division) for a loss that ends every binary classifier's step; one node takes a W3 training
    step (MLP 2-16-16-1 on 100 points) from 1,187k to 1,068k instructions (-10%, callgrind). The forward is the
    composition's arithmetic exactly; the gradient sigmoid(x) - y is taken as exp(-softplus(-x)) - y, accurate
    where sigmoid(x) is tiny (the composition's (1 - y) - sigmoid(-x) cancels there)."""
    loss = (1 - y) * x + np.logaddexp(0, -x)
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    return total / loss.size if loss.size else total * np.nan  # the mean of nothing is nan, without a warning


def _bce_logits_scale(g, x, y, reduction):
    """The incoming gradient per element: g itself (unreduced or summed), or g / count for the mean."""
    if reduction != "mean":
        return g
    count = math.prod(x.shape if x.shape == y.shape else _broadcast_shape(x.shape, y.shape))
    return g / count if count else g


def _broadcast_shape(a, b):
    """The shape two broadcastable shapes broadcast to (np.broadcast_shapes, without its argument handling)."""
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    return tuple(j if i == 1 else i for i, j in zip(a, b))


def _bce_logits_vjp_y(g, out, x, y, reduction="mean"):
    grad = _bce_logits_scale(g, x, y, reduction) * -x
    if grad.shape != y.shape:  # a reduced g times x may lack dims that only y has: give them back (the engine sums)
        grad = np.broadcast_to(grad, _broadcast_shape(grad.shape, y.shape))
    return grad


# d/dx = sigmoid(x) - y, d/dy = -x, each times the incoming gradient (spread over the elements by the reduction)
binary_cross_entropy_with_logits.defvjp(
    lambda g, out, x, y, reduction="mean": (_bce_logits_scale(g, x, y, reduction)
                                            * (np.exp(-np.logaddexp(0, -x)) - y)),
    _bce_logits_vjp_y)


@primitive(broadcasts=True)
def mse_loss(x, y, reduction="mean"):
    """(x - y)^2, then reduced ("none", "mean" or "sum", as PyTorch's mse_loss). A primitive for speed: composed it
    is four nodes (the difference, the square as a product, the sum and the mean's division), whose backward
    passes spread the gradient, multiply it by the difference twice and add the two; here the forward is two
    passes and a sum, and each input's gradient two passes (the difference again, times 2 g / count). The values
    are the composition's exactly: 2 (g / count) d is (g / count) d + (g / count) d, a power of two apart."""
    d = np.subtract(x, y)
    if d.dtype.kind != "f":  # integer inputs (a fresh float array otherwise: squared in place)
        d = d.astype(np.result_type(d, np.float32))
    sq = np.square(d, out=d) if isinstance(d, np.ndarray) else d * d
    if reduction == "none":
        return sq
    total = np.sum(sq)
    if reduction == "sum":
        return total
    return total / sq.size if sq.size else total * np.nan  # the mean of nothing is nan, without a warning


def _mse_vjp(g, x, y, reduction, sign):
    """sign * 2 (x - y) times the incoming gradient (spread over the elements for the mean)."""
    return (x - y) * (_bce_logits_scale(g, x, y, reduction) * (2 * sign))  # (the engine sums broadcast dims)


mse_loss.defvjp(lambda g, out, x, y, reduction="mean": _mse_vjp(g, x, y, reduction, 1),
                lambda g, out, x, y, reduction="mean": _mse_vjp(g, x, y, reduction, -1))


@primitive(saves_output=True, reads_inputs=False)
def log_softmax(x, axis):
    """x - logsumexp(x) along `axis`. A primitive for speed: one node and two passes instead of eight nodes
    (cross-entropy sits on it in every classifier), and stable for any logits (shifted by the max)."""
    top = x.max(axis=axis, keepdims=True) if x.size else np.zeros_like(x)
    shifted = x - np.where(np.isfinite(top), top, 0)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
# d log_softmax: g - softmax * sum(g), with softmax = exp(out); differentiable again through the saved output
log_softmax.defvjp(lambda g, out, x, axis: g - np.exp(out) * g.sum(axis=axis, keepdims=True))


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
    if bias is not None and x.__class__ is np.ndarray and x.size >= _BIAS_COLUMN_FROM:
        out = _with_bias_column(x, weight, bias)
        if out is not None:
            return out
    out = _rows_times(x, weight.T)
    if bias is None:
        return out
    # (the dtypes' identity first: np.result_type is a Python-level call, 3 per W3 step; with nn.Linear calling
    # this directly, -1.7% of the step's instructions, see nn/linear.py)
    if bias.dtype is out.dtype or out.dtype == np.result_type(out, bias):
        out += bias  # a fresh array: add in place
        return out
    return out + bias


_BIAS_COLUMN_FROM = 1 << 17  # input elements: below this the two copies cost more than the pass they save


def _with_bias_column(x, weight, bias):
    """x @ weight.T + bias as one product [x | 1] @ [weight | bias].T, for a layer at least twice as wide out as
    in (a transformer's first feed-forward layer, 128 -> 512 in W7), or None when it does not pay or apply. Adding
    the bias after the product is a pass over the wide output (4 MB in W7); the extra column copies the narrow
    input and the weight instead (W7's layer: 3.16 -> 2.86 ms, wall minimum). BLAS adds the column's 1 * bias
    last, after the row's dot product, as `out += bias` does: the same sums (bit for bit with OpenBLAS here;
    within rounding of them in any case)."""
    k = x.shape[-1]
    if (weight.shape[0] < 2 * (k + 1) or x.ndim < 2 or weight.ndim != 2 or bias.ndim != 1
            or not x.dtype == weight.dtype == bias.dtype or x.dtype.kind != "f"
            or weight.__class__ is not np.ndarray or bias.__class__ is not np.ndarray):
        return None
    rows = x.size // k
    xa = np.empty((rows, k + 1), x.dtype)
    xa[:, :k] = x.reshape(rows, k)
    xa[:, k] = 1
    wa = np.empty((weight.shape[0], k + 1), x.dtype)
    wa[:, :k] = weight
    wa[:, k] = bias
    return (xa @ wa.T).reshape(*x.shape[:-1], weight.shape[0])


def _linear_vjp_weight(g, out, x, weight, bias=None):   # d/dW = g^T x, summed over every batch dim
    rows = math.prod(x.shape[:-1])
    return g.reshape(rows, weight.shape[0]).T @ x.reshape(rows, weight.shape[1])


def _rows_times(a, b):
    """a @ b for a of shape (..., K) and a matrix b, as one BLAS product over all of a's rows when they are
    contiguous: numpy's matmul on a stack runs one small product per matrix of the stack (W7's (32, 64, 128)
    inputs: 32 products of 64 rows each, 8 % more instructions than one of 2048 rows)."""
    if type(a) is np.ndarray and a.ndim > 2 and a.flags.c_contiguous:  # (Tensors under create_graph: as is)
        return (a.reshape(math.prod(a.shape[:-1]), a.shape[-1]) @ b).reshape(*a.shape[:-1], b.shape[-1])
    return a @ b


linear.defvjp(lambda g, out, x, weight, bias=None: _rows_times(g, weight),
              _linear_vjp_weight,
              lambda g, out, x, weight, bias=None: unbroadcast(g, bias.shape))


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
    overlap = windows_overlap(kernel_size, stride, dilation)
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
# Scans and scatter (issue 15): cumulative sums and products, logcumsumexp, writing into places. `axis` is a
# non-negative int (operations.py normalises `dim` and handles 0-d inputs). The orderings (sort, topk, kthvalue,
# median, quantile, cummax, cummin) are not primitives: an order computed on the data, then an indexing, whose
# gradient goes to the returned indices, as PyTorch sends it (operations.py).
# ---------------------------------------------------------------------------------------------------------------
def _reverse_cumsum(g, axis):
    """sum_{j >= i} g_j along axis: cumsum from the end."""
    return np.flip(either(cumsum, np.flip(g, axis), axis=axis), axis)


@primitive(reads_inputs=False, label=labels.scan("cumsum"))
def cumsum(x, axis):
    return np.cumsum(x, axis=axis)
cumsum.defvjp(lambda g, out, x, axis: _reverse_cumsum(g, axis))  # g_j reaches every x_i with i <= j


@primitive(saves_output=True, label=labels.scan("cumprod"))
def cumprod(x, axis):
    return np.cumprod(x, axis=axis)


def _cumprod_vjp(g, out, x, axis):
    # d out_j / d x_i = prod_{k <= j, k != i} x_k for i <= j (0 for i > j), so
    # grad_i = sum_{j >= i} g_j prod_{k <= j, k != i} x_k. Exact with zeros: no division by a zero.
    if isinstance(g, Tensor) or isinstance(x, Tensor):
        # Differentiable again (create_graph): row i of A is x with x_i replaced by 1, so that its cumulative
        # product is C[i, j] = prod_{k <= j, k != i} x_k; keep j >= i and contract with g. O(n^2) in the
        # length of the axis, on this path only.
        n = x.shape[axis]
        xs, gs = np.swapaxes(x, axis, -1), np.swapaxes(g, axis, -1)
        eye = np.eye(n, dtype=bool)
        products = either(cumprod, np.where(eye, 1, np.expand_dims(xs, -2)), axis=xs.ndim)
        later = np.arange(n)[:, None] <= np.arange(n)  # [i, j]: j >= i
        return np.swapaxes(np.sum(np.where(later, np.expand_dims(gs, -2) * products, 0), axis=-1), axis, -1)
    if np.ndim(out) and out.shape[axis] and np.isnan(out[(slice(None),) * axis + (-1,)]).any():
        # A NaN in out shows in its last entry (NaN times anything is NaN). At and after a line's first zero z,
        # out_j is exactly 0, but a forward that overflowed before it made inf * 0 = nan there, and that nan
        # reached every grad_i for i < z through sum_{j >= i} g_j out_j / x_i (x = [1e300, 1e300, 0] gave
        # [nan, nan, inf]). PyTorch sums only j < z: so do we, by zeroing out_j from z on ([inf, inf, inf]; the
        # exact [1e300, 1e300, inf] would need products that skip x_i, as the create_graph path below forms,
        # O(n^2): out_j / x_i overflows, here as in PyTorch, as it does for [1e300, 1e300] without a zero).
        out = np.where(np.cumsum(x == 0, axis=axis) > 0, 0, out)
    return kernels.cumprod_grad(g, out, x, axis)  # arrays: PyTorch's first-zero method, O(n)


cumprod.defvjp(_cumprod_vjp)


@primitive(saves_output=True, label=labels.scan("logcumsumexp"))
def logcumsumexp(x, axis):
    """log(sum_{k <= j} exp(x_k)) along axis. A primitive for stability: numpy's logaddexp.accumulate never
    forms exp(x), where the composed log(cumsum(exp(x))) overflows at x = 710 (float64) or 89 (float32)."""
    return np.logaddexp.accumulate(x, axis=axis)


def _logcumsumexp_vjp(g, out, x, axis):
    # grad_i = sum_{j >= i} g_j exp(x_i - out_j), in log space as PyTorch computes it: split g into its positive
    # and negative parts w, then exp(x_i + log sum_{j >= i} exp(log w_j - out_j)), a logcumsumexp from the end.
    # x_i <= out_i <= out_j, so the exponent is at most log sum |g|: nothing overflows.
    # A term with w_j = 0 is log 0 = -inf, selected rather than computed; so is one with out_j = -inf (every
    # x_k up to j is -inf: no finite change of one of them has a derivative), so that no -inf - -inf = nan
    # appears, here or when this VJP is differentiated again.
    reached = out > -np.inf
    level = np.where(reached, out, 0)

    def part(w):  # w >= 0
        used = (w > 0) & reached
        logs = np.where(used, np.log(np.where(used, w, 1)) - level, -np.inf)
        return np.exp(x + np.flip(either(logcumsumexp, np.flip(logs, axis), axis=axis), axis))
    return part(np.where(g > 0, g, 0)) - part(np.where(g < 0, -g, 0))


logcumsumexp.defvjp(_logcumsumexp_vjp)


@primitive(reads_inputs=False, label=labels.scatter)
def scatter(x, src, index):
    """A copy of x with src written at `index` (one integer array per axis, broadcast together, as
    functions.scatter builds it). Where an index repeats, one write lands (numpy: the last), but every source
    element gets the gradient at its place, as in PyTorch: the gradient of x is g with the written places
    zeroed, that of src is g gathered at the index."""
    out = x.copy()
    out[index] = src
    return out
scatter.defvjp(lambda g, out, x, src, index: either(index_put, g, 0, index=index),
               lambda g, out, x, src, index: g[index])
# PyTorch's everyday elementwise surface (issue 15): rounding, inverse trigonometric and hyperbolic functions,
# logs and exponentials in other bases, the division family (//, %, fmod), and a few fused binary functions.
# Conventions are PyTorch's derivatives.yaml, cited per op where they are a choice rather than the calculus.
# ---------------------------------------------------------------------------------------------------------------
def _zero_vjp(g, out, *args, **params):
    # piecewise constant (floor, ceil, round, trunc; the quotients of // and div(rounding_mode=)): zero gradient,
    # and the output stays in the graph, as in PyTorch
    return np.zeros_like(g)


floor = native(np.floor, reads_inputs=False)  # public through operations.floor (integers stay integers)
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


@primitive(reads_inputs=False, export=True, method=True)
def frac(x):
    return x - np.trunc(x)                             # PyTorch's x - trunc(x): frac(inf) is nan, not 0
frac.defvjp(lambda g, out, x: g)


tan = native(np.tan, saves_output=True, reads_inputs=False, export=True, method=True, numpy=np.tan)
tan.defvjp(lambda g, out, x: g * (1 + out * out))     # d tan = 1 + tan^2

asin = native(np.arcsin, "asin", export=True, method=True, numpy=np.arcsin)
asin.defvjp(lambda g, out, x: g / np.sqrt(1 - x * x))

acos = native(np.arccos, "acos", export=True, method=True, numpy=np.arccos)
acos.defvjp(lambda g, out, x: -g / np.sqrt(1 - x * x))

atan = native(np.arctan, "atan", export=True, method=True, numpy=np.arctan)
def _atan_vjp(g, out, x):
    with np.errstate(over="ignore"):  # x^2 = inf past 1.3e154: the gradient's limit 0, no warning
        return g / (1 + x * x)


atan.defvjp(_atan_vjp)

sinh = native(np.sinh, export=True, method=True, numpy=np.sinh)
sinh.defvjp(lambda g, out, x: g * np.cosh(x))

cosh = native(np.cosh, export=True, method=True, numpy=np.cosh)
cosh.defvjp(lambda g, out, x: g * np.sinh(x))

asinh = native(np.arcsinh, "asinh", export=True, method=True, numpy=np.arcsinh)
asinh.defvjp(lambda g, out, x: g / np.hypot(x, 1))         # 1 / sqrt(x^2 + 1), x^2 never formed (it overflows)

acosh = native(np.arccosh, "acosh", export=True, method=True, numpy=np.arccosh)
def _acosh_vjp(g, out, x):
    # 1 / sqrt(x^2 - 1) (PyTorch's, also below -1); x^2 = inf past 1.3e154 gives the limit 0: no warning for it.
    # (Not sqrt((x - 1)(x + 1)): its second order at x = +-1 is NaN where PyTorch's is the pole's +-inf.)
    with np.errstate(over="ignore"):
        return g / np.sqrt(x * x - 1)


acosh.defvjp(_acosh_vjp)

atanh = native(np.arctanh, "atanh", export=True, method=True, numpy=np.arctanh)
def _atanh_vjp(g, out, x):
    with np.errstate(over="ignore"):  # 1 / (1 - x^2): x^2 = inf past 1.3e154, the limit -0, without a warning
        return g / (1 - x * x)


atanh.defvjp(_atanh_vjp)

# numpy's names for the inverse functions, which PyTorch also has: the same methods (autograd.arcsin & co. are
# the same primitives too, in operations.py)
Tensor.arcsin, Tensor.arccos, Tensor.arctan = Tensor.asin, Tensor.acos, Tensor.atan
Tensor.arcsinh, Tensor.arccosh, Tensor.arctanh = Tensor.asinh, Tensor.acosh, Tensor.atanh

log2 = native(np.log2, export=True, method=True, numpy=np.log2)
log2.defvjp(lambda g, out, x: g / x * (1 / math.log(2)))  # not g / (x ln 2): x ln 10 overflows near the max

log10 = native(np.log10, export=True, method=True, numpy=np.log10)
log10.defvjp(lambda g, out, x: g / x * (1 / math.log(10)))

exp2 = native(np.exp2, saves_output=True, reads_inputs=False, export=True, method=True, numpy=np.exp2)
exp2.defvjp(lambda g, out, x: g * (out * math.log(2)))


@primitive(saves_output=True, reads_inputs=False, export=True, method=True)
def erfinv(x):
    # A primitive because numpy has none: ours, in float64 from erf (_special), as erf itself
    return as_stored(_special.erfinv(x).astype(np.result_type(x, np.float32)))
erfinv.defvjp(lambda g, out, x: g * ((math.sqrt(math.pi) / 2) * np.exp(out * out)))  # 1 / erf'(erfinv(x))


@primitive(saves_output=True, export=True, method=True)  # np.sinc is not a ufunc: numpy_dispatch.FUNCTIONS
def sinc(x):
    return np.sinc(x)                                  # sin(pi x) / (pi x), 1 at 0 (numpy's and PyTorch's)


# sinc'(x) near 0 as its series in u = pi x: pi u sum_k (-1)^k 2k u^(2k-2) / (2k+1)!, k = 1..6 (the next term is
# below 1e-16 relative for |x| < 0.1)
_SINC_SERIES = tuple((-1) ** k * 2 * k / math.factorial(2 * k + 1) for k in range(6, 0, -1))  # highest first
_SINC_SERIES_BELOW = 0.1


def _sinc_vjp(g, out, x):
    # d sinc = (cos(pi x) - sinc(x)) / x, and 0 at x = 0 (PyTorch's value there, the true one). Near 0 the
    # difference cancels (both are 1 - O(x^2)): for |x| < 1e-8 it is exactly 0, which is a fine first derivative
    # but differentiated to -pi^2 instead of sinc''(0) = -pi^2/3 (create_graph; and 0 at x = 0, masked). So
    # |x| < 0.1 takes the series, whose derivatives are right to every order, 0 at 0 by itself; the other branch
    # is computed with x = 1 there (no 0/0 in a higher order).
    small = np.abs(x) < _SINC_SERIES_BELOW
    u = math.pi * np.where(small, x, 0.0)
    t = u * u
    series = _SINC_SERIES[0] * t + _SINC_SERIES[1]
    for c in _SINC_SERIES[2:]:
        series = series * t + c
    far = np.where(small, 1.0, x)
    exact = (np.cos(math.pi * far) - np.where(small, 0.0, out)) / far
    return g * np.where(small, math.pi * u * series, exact)


sinc.defvjp(_sinc_vjp)


@primitive(broadcasts=True, export=True, method=True, numpy=np.arctan2)
def atan2(y, x):
    return np.arctan2(y, x)
Tensor.arctan2 = Tensor.atan2


def _atan2_vjp(g, u, y, x):
    # d atan2(y, x) = (x dy - y dx) / (x^2 + y^2): dy = g u / r^2 with u = x (dx: u = -y), computed as (u / r) / r
    # with r = hypot(x, y), which neither overflows nor underflows where x^2 + y^2 would (5e199 at (1e-200, 1e-200),
    # not 1e-200 / 0 = inf). At the origin, where atan2 has no derivative, it is 0, as in PyTorch (its 1 / r^2 is
    # zeroed where infinite); computed with r = 1 there, so that no 0/0 reaches a higher order.
    with np.errstate(over="ignore"):                 # r = inf past the largest float: the gradient is then 0
        r = np.hypot(x, y)
    origin = r == 0
    r = np.where(origin, 1.0, r)
    return select(origin, 0, g) * (u / r / r)


atan2.defvjp(lambda g, out, y, x: _atan2_vjp(g, x, y, x),
             lambda g, out, y, x: _atan2_vjp(g, -y, y, x))


@primitive(broadcasts=True, export=True, method=True, numpy=np.logaddexp)
def logaddexp(x, y):
    return np.logaddexp(x, y)
# d/dx = e^x / (e^x + e^y) = sigmoid(x - y), as PyTorch's grad / (1 + exp(y - x)). Not exp(x - out): where out
# rounds to x (x = y = 1e300) that gave 1 to each input, not 1/2, and at x = inf it was inf - inf = NaN, not 1.
def _logaddexp_vjp(g, x, y, scale=None):
    # x - y = +-inf past the largest float: sigmoid's limits 1 and 0; NaN at (inf, inf), as PyTorch's gradient
    with np.errstate(over="ignore", invalid="ignore"):
        d = x - y if scale is None else (x - y) * scale
    return g * either(sigmoid, d)


logaddexp.defvjp(lambda g, out, x, y: _logaddexp_vjp(g, x, y),
                 lambda g, out, x, y: _logaddexp_vjp(g, y, x))


@primitive(broadcasts=True, export=True, method=True, numpy=np.logaddexp2)
def logaddexp2(x, y):
    return np.logaddexp2(x, y)
logaddexp2.defvjp(lambda g, out, x, y: _logaddexp_vjp(g, x, y, math.log(2)),  # 2^x / (2^x + 2^y) = sigmoid((x-y) ln 2)
                  lambda g, out, x, y: _logaddexp_vjp(g, y, x, math.log(2)))


@primitive(broadcasts=True, saves_output=True, export=True, method=True, numpy=np.hypot)
def hypot(x, y):
    return np.hypot(x, y)
hypot.defvjp(lambda g, out, x, y: g * x / out,                   # nan at (0, 0), as in PyTorch
             lambda g, out, x, y: g * y / out)


@primitive(broadcasts=True, saves_output=True, export=True, method=True, numpy=np.copysign)
def copysign(x, y):
    return np.copysign(x, y)
# d/dx: +-1 as the sign is kept or flipped, 0 at x = 0 (PyTorch); d/dy: 0. sign(x) sign(out) is that factor.
copysign.defvjp(lambda g, out, x, y: select(x == 0, 0, g) * (np.sign(x) * np.sign(out)),
                lambda g, out, x, y: np.zeros_like(g))


def _integer_division_by_zero(name: str, out: Any, y: Any) -> None:
    """PyTorch refuses an integer division by zero (numpy gives 0 with a warning)."""
    if getattr(out, "dtype", None) is not None and out.dtype.kind in "iu" and not np.all(y):
        raise ZeroDivisionError(f"{name}: integer division by zero")


@primitive(symbol="//", broadcasts=True, reads_inputs=False, export=True, method=True, numpy=np.floor_divide)
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


@primitive(symbol="%", broadcasts=True, export=True, method=True, numpy=np.remainder)
def remainder(x, y):
    """x - floor(x / y) y: the sign of the divisor, as Python's % and PyTorch's remainder."""
    out = x % y
    _integer_division_by_zero("remainder (%)", out, y)
    return out
remainder.defvjp(lambda g, out, x, y: g,
                 lambda g, out, x, y: -g * (x // y))             # PyTorch's -g * div(x, y, rounding_mode='floor')


@primitive(broadcasts=True, export=True, method=True, numpy=np.fmod)
def fmod(x, y):
    """x - trunc(x / y) y: the sign of the dividend, as C's fmod."""
    out = np.fmod(x, y)
    _integer_division_by_zero("fmod", out, y)
    return out
fmod.defvjp(lambda g, out, x, y: g,
            lambda g, out, x, y: -g * np.trunc(x / y))          # PyTorch's -g * div(x, y, rounding_mode='trunc')


@primitive(broadcasts=True, export=True, method=True)
def xlogy(x, y):
    """x log(y), 0 where x == 0 (also for y = 0) unless y is nan, as PyTorch (and scipy.special.xlogy)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = x * np.log(y)
    return as_stored(np.where((x == 0) & ~np.isnan(y), 0, out))


def _xlogy_vjp_x(g, out, x, y):
    # d/dx = log y, but 0 where x == 0 and y <= 0 (PyTorch's mask; log there is -inf or nan); log taken of 1 there
    off = (x == 0) & (y <= 0)
    return select(off, 0, g) * np.log(np.where(off, 1, y))


xlogy.defvjp(_xlogy_vjp_x,
             lambda g, out, x, y: g * x / y)


@primitive(broadcasts=True, export=True, method=True)
def lerp(start, end, weight):
    """start + weight (end - start), computed from whichever end is nearer (PyTorch's formula: exact at both
    ends, weight 0 and weight 1)."""
    with np.errstate(invalid="ignore"):
        near_start = np.abs(weight) < 0.5
    return as_stored(np.where(near_start, start + weight * (end - start), end - (end - start) * (1 - weight)))


lerp.defvjp(lambda g, out, start, end, weight: g * (1 - weight),
            lambda g, out, start, end, weight: g * weight,
            lambda g, out, start, end, weight: g * (end - start))


@primitive()
def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    return as_stored(np.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf))
nan_to_num.defvjp(lambda g, out, x, **limits: gate(np.isfinite(x), g))  # replaced values get no gradient
# Recurrent layers: a whole sequence of LSTM steps as one node (nn.LSTM)
# ---------------------------------------------------------------------------------------------------------------
def _lstm_shapes(x, state, weight_ih, weight_hh, bias):
    """(steps, batch, input_size, hidden) of a fused_lstm call, or an OpError naming the shapes at fault."""
    if np.ndim(weight_hh) != 2 or np.shape(weight_hh)[0] != 4 * np.shape(weight_hh)[1]:
        raise OpError(f"weight_hh must be (4 * hidden_size, hidden_size), got {np.shape(weight_hh)}")
    four_h, hidden = np.shape(weight_hh)
    if np.ndim(x) != 3:
        raise OpError(f"x must be (steps, batch, input_size), got {np.shape(x)}")
    steps, batch, features = np.shape(x)
    if np.shape(weight_ih) != (four_h, features):
        raise OpError(f"weight_ih must be (4 * hidden_size, input_size) = {(four_h, features)} for x of shape "
                      f"{np.shape(x)} and weight_hh of shape {np.shape(weight_hh)}, got {np.shape(weight_ih)}")
    if bias is not None and np.shape(bias) != (four_h,):
        raise OpError(f"bias must be (4 * hidden_size,) = {(four_h,)}, got {np.shape(bias)}")
    if np.shape(state) != (batch, 2 * hidden):
        raise OpError(f"the state must be [h | c] of shape (batch, 2 * hidden_size) = {(batch, 2 * hidden)} "
                      f"for x of shape {np.shape(x)}, got {np.shape(state)}")
    return steps, batch, features, hidden


# The record's gate order, o, i, f, g (PyTorch's rows are i, f, g, o): the three sigmoid gates side by side
# (one affine pass for them), and the three gates whose gradient is dc times a factor side by side (one pass)
_LSTM_GATE_ORDER = (3, 0, 1, 2)


def _lstm_rows(hidden):
    """The rows of PyTorch's (4H, ...) gate layout in the record's gate order."""
    return np.concatenate([np.arange(k * hidden, (k + 1) * hidden) for k in _LSTM_GATE_ORDER])


def _fused_lstm(x, state, weight_ih, weight_hh, bias=None, reverse=False):
    """An LSTM over a whole sequence, PyTorch's gate order i, f, g, o, as one node:

        i, f, o = sigmoid(.), g = tanh(.)  of  x_t W_ih^T + bias + h_{t-1} W_hh^T
        c_t = f c_{t-1} + i g,   h_t = o tanh(c_t)

    x: (steps, batch, input_size); state: (batch, 2H), [h_0 | c_0]; weight_ih: (4H, input_size); weight_hh:
    (4H, H); bias: (4H,) or None (nn.LSTM passes b_ih + b_hh); reverse: run from the last step to the first
    (the backward direction of a bidirectional layer). Returns (steps + 1, batch, H): h_t of every step t, then
    the cell state after the last step run (c_steps, or c_0 of the first step when reverse; c_0 itself when
    there are no steps).

    A primitive for speed: composed, a step is eleven nodes (a product, an add, a chunk, five nonlinearities and
    the cell update), and slicing step t out of the projection costs a zero-filled gradient of the whole
    projection per step in the backward pass. Here a step is one BLAS product and eight in-place passes, with
    no graph recording; the backward pass is one loop, with the weights' gradients one product over all steps.

    Transposed layout: the run keeps every state and gate as a (H, batch) block (batch contiguous), so that the
    step's product W z_t, with W = [W_hh | W_ih | bias] (4H, H + input_size + 1) and z_t = [h_{t-1}; x_t; 1]
    a (H + input_size + 1, batch) block, gives the four gates' pre-activations gate by gate, each a contiguous
    block, the input projection and the bias included (one product per step, no projection of the whole
    sequence to add in a strided pass). The elementwise passes then read and write contiguous blocks only: in
    PyTorch's (batch, 4H) rows a gate is a strided block, and numpy's strided passes cost 2-3x the time of
    contiguous ones. The z_t of all steps are one array, and so are the gradients of the gates: the gradients
    of W_hh, W_ih and the bias are one product over all steps.

    One tanh for all four gates: sigmoid(x) = (1 + tanh(x / 2)) / 2, the halving folded into W's sigmoid rows
    (a power of two: exact). numpy's float32 tanh is faster per element than its exp (6.3 vs 8.0 us for the
    16384 pre-activations of a W8 step), and the sigmoid then needs two passes (* 0.5, + 0.5) over three gates
    instead of + 1 and a division over four.

    The result lies at the start of one buffer, followed by the run's record that the VJP reads (cuDNN's
    "reserve space"): z_t of every step, (H + input_size + 1, steps + 1, batch), the steps side by side in each
    row so that the weights' gradient product reads all of them as one (H + input_size + 1, steps * batch)
    matrix (h_t is written into z_{t+1}, a strided block, once per step); and per step the cell state, the gates
    (in the order o, i, f, g: the sigmoids side by side, and the gates whose gradients are dc times a factor)
    and tanh(c_t), (steps, 6, H, batch). Outputs only what a caller reads: the record as an output would send
    back a zero-filled gradient of all of it.

    When h_0 = 0 (nn.LSTM's default state) the first step's product skips W_hh: z_1 = [0; x; 1] needs only the
    input's columns (W8: 22 instead of 67 us; the same float32 results, bit for bit, with OpenBLAS).

    Measured on W8 (thread time, one BLAS thread, the machine loaded): the step 1.26-1.33x PyTorch's before
    (a projection of the whole sequence added to each step's product in a strided pass, exp-based sigmoids, the
    rows layout), 1.15x after. On a quiet machine (minimum wall times, one BLAS thread): the forward 4.7 ms and
    the backward 7.0 ms (without x's gradient), of which the three products are 8.9 ms at OpenBLAS's peak
    (93-99 GFLOPS): per step forward 69 us (3.4 ms), per step backward 46 us (2.3 ms), the weights' gradient
    3.2 ms. The rest is numpy's elementwise passes: the per-step ones ~1.0 ms forward and ~0.55 ms backward, the
    backward's factors K and P over all steps ~0.43 ms, the transposing copies (x, the output, the loss's
    gradient, d pre) ~0.5 ms. The W8 step is 1.15-1.17x PyTorch's (12.4 vs 10.6-10.8 ms)."""
    steps, batch, features, hidden = _lstm_shapes(x, state, weight_ih, weight_hh, bias)
    dtype = np.result_type(x, state, weight_ih, weight_hh, *(() if bias is None else (bias,)))
    out, z, rec = _lstm_buffers(np.empty(_lstm_size(steps, batch, features, hidden, bias is not None), dtype),
                                steps, batch, features, hidden, bias is not None)
    H, rows = hidden, _lstm_rows(hidden)
    # W = [W_hh | W_ih | bias], rows in the record's gate order, the sigmoid rows (o, i, f) halved
    w = np.empty((4 * H, z.shape[0]), dtype)
    w[:, :H], w[:, H:H + features] = weight_hh[rows], weight_ih[rows]
    if bias is not None:
        w[:, -1] = bias[rows]
        z[-1] = 1
    w[:3 * H] *= 0.5
    ins, outs = (slice(1, steps + 1), slice(0, steps)) if reverse else (slice(0, steps), slice(1, steps + 1))
    z[H:H + features, ins] = np.transpose(x, (2, 0, 1))          # x_t^T beside the h_{t-1} step t reads
    z[:H, steps if reverse else 0] = np.transpose(state[:, :H])  # h_0^T
    c = np.transpose(state[:, H:]).copy()                        # c_0^T
    first = 1 if reverse else 0                                  # where step t reads z_t (t + first)
    # the product into a scratch block that stays in the cache (into the record, fresh memory each step, it ran
    # a few % slower), the record written by the tanh
    ig, pre = np.empty((H, batch), dtype), np.empty((4, H, batch), dtype)
    pre_rows = pre.reshape(4 * H, batch)
    order = range(steps - 1, -1, -1) if reverse else range(steps)
    # with h_0 = 0 (nn.LSTM's default state) the first product needs only the input's columns of W: 65 of W8's
    # 193, 22 instead of 67 us (checking h_0 costs ~2 us)
    start, first_cols = (order[0], slice(H, None)) if steps and not state[:, :H].any() else (None, slice(None))
    for t in order:
        step = rec[t]
        c_new, o, i, f, g, tc = step
        gates = step[1:5]
        if t == start:
            np.matmul(w[:, first_cols], z[first_cols, t + first], out=pre_rows)
        else:
            np.matmul(w, z[:, t + first], out=pre_rows)  # the four pre-activations, gate-major
        np.tanh(pre, out=gates)
        sig = step[1:4]                     # o, i, f: sigmoid = (1 + tanh(x / 2)) / 2
        sig *= 0.5
        sig += 0.5
        np.multiply(f, c, out=c_new)        # c_t = f c_{t-1} + i g
        np.multiply(i, g, out=ig)
        c_new += ig
        np.tanh(c_new, out=tc)              # h_t = o tanh(c_t), into z_{t+1} (z_{t-1} when reverse)
        np.multiply(o, tc, out=z[:H, t + 1 - first])
        c = c_new
    out[:steps] = np.transpose(z[:H, outs], (1, 2, 0))
    out[steps] = np.transpose(c)
    return out


def _lstm_size(steps, batch, features, hidden, bias):
    """The elements of fused_lstm's buffer: the output, then the record (z_t, and the per-step blocks)."""
    return ((steps + 1) * batch * hidden + (hidden + features + bias) * (steps + 1) * batch
            + steps * 6 * hidden * batch)


def _lstm_buffers(buf, steps, batch, features, hidden, bias):
    """fused_lstm's output (steps + 1, batch, H), z (H + input_size + bias, steps + 1, batch) and the record
    (steps, 6, H, batch), c, o, i, f, g, tanh(c), as views of one buffer."""
    n_out, n_z = (steps + 1) * batch * hidden, (hidden + features + bias) * (steps + 1) * batch
    return (buf[:n_out].reshape(steps + 1, batch, hidden),
            buf[n_out:n_out + n_z].reshape(hidden + features + bias, steps + 1, batch),
            buf[n_out + n_z:].reshape(steps, 6, hidden, batch))


class _LSTMPrimitive(JointPrimitive):
    """fused_lstm's node: its joint VJP is told which inputs need a gradient (`needs`), so that it skips the
    input's gradient, a product over all steps, when x is the data rather than a layer below."""

    __slots__ = ()

    def input_grads(self, node: Any, g: Any, out: Any, args: tuple) -> list:
        needs = tuple(edge is not None for edge in node.edges)
        grads = self.joint(g, out, args, needs=needs, **(node.params or {}))
        return [None if edge is None else gi for edge, gi in zip(node.edges, grads)]


def _fused_lstm_vjp(grad, out, args, reverse=False, needs=None):
    # Backpropagation through time, the last step first. With dh, dc the gradients reaching h_t, c_t (from the
    # output and from step t + 1), tc = tanh(c_t):
    #   dc  += dh o (1 - tc^2);  d pre = [di i(1-i), df f(1-f), dg (1-g^2), do o(1-o)] with
    #   di = dc g, df = dc c_{t-1}, dg = dc i, do = dh tc;
    #   to step t - 1: dh = d pre W_hh, dc = dc f;  d x_t = d pre W_ih;
    #   d W_hh = sum_t d pre_t^T h_{t-1}, d W_ih = sum_t d pre_t^T x_t, d bias = sum_t d pre_t summed over the batch.
    # Plain numpy on purpose: on Tensors (create_graph) it records itself and differentiates again.
    x, state, weight_ih, weight_hh, bias = args
    needs = needs or (True,) * 5
    if type(grad) is np.ndarray and type(out) is np.ndarray:  # a plain backward: the same maths, in place
        return _lstm_backward_in_place(grad, out, args, reverse, needs)
    return _lstm_backward(grad, x, state, weight_ih, weight_hh, bias, reverse)


def _lstm_backward(grad, x, state, weight_ih, weight_hh, bias, reverse):
    """The gradients of every input from operations that record themselves on Tensors (create_graph): the
    recurrence runs again from the inputs (in PyTorch's gate order and layout), so that everything is a
    differentiable function of them."""
    steps, H = np.shape(x)[0], np.shape(weight_hh)[1]
    order = range(steps - 1, -1, -1) if reverse else range(steps)
    h, c = state[:, :H], state[:, H:]
    saved = {}
    for t in order:
        pre = x[t] @ weight_ih.T + h @ weight_hh.T
        if bias is not None:
            pre = pre + bias
        i, f, o = (1 / (1 + np.exp(-pre[:, k * H:(k + 1) * H])) for k in (0, 1, 3))
        g = np.tanh(pre[:, 2 * H:3 * H])
        c_new = f * c + i * g
        tc = np.tanh(c_new)
        saved[t] = (h, c, i, f, g, o, tc)
        h, c = o * tc, c_new
    dh, dc = np.zeros_like(c), grad[steps]
    d_x = [None] * steps
    d_w_ih, d_w_hh = np.zeros_like(weight_ih), np.zeros_like(weight_hh)
    d_bias = None if bias is None else np.zeros_like(bias)
    for t in reversed(order):
        h_prev, c_prev, i, f, g, o, tc = saved[t]
        dh = dh + grad[t]
        dc = dc + dh * o * (1 - tc * tc)
        d = np.concatenate([dc * g * (i * (1 - i)), dc * c_prev * (f * (1 - f)), dc * i * (1 - g * g),
                            dh * tc * (o * (1 - o))], axis=-1)
        d_x[t] = d @ weight_ih
        d_w_ih, d_w_hh = d_w_ih + d.T @ x[t], d_w_hh + d.T @ h_prev
        if bias is not None:
            d_bias = d_bias + np.sum(d, axis=0)
        dh, dc = d @ weight_hh, dc * f
    d_x = np.stack(d_x) if steps else np.zeros_like(x)
    return [d_x, np.concatenate([dh, dc], axis=-1), d_w_ih, d_w_hh, d_bias]


def _lstm_backward_in_place(grad, out, args, reverse, needs):
    """_lstm_backward on arrays, with the forward's record behind `out` (or a new run when `out` is not the
    forward's). Everything in d pre that does not depend on the recurrence is computed for all steps at once
    before the loop, on contiguous blocks: with tc = tanh(c_t) and the gates' derivatives,

        d pre[t] = [dh, dc, dc, dc] * K[t],  K = [tc o(1-o), g i(1-i), c_{t-1} f(1-f), i (1-g^2)]  (o, i, f, g)
        dc += dh P[t],  P = o (1 - tc^2)

    so that a step is six passes and one BLAS product. The gradient of the last cell state starts dc. d pre[t]
    is written over K[t] (in the record's gate order o, i, f, g): memory just read, in the cache."""
    x, state, weight_ih, weight_hh, bias = args
    steps, batch, features, hidden = _lstm_shapes(x, state, weight_ih, weight_hh, bias)
    H, has_bias = hidden, bias is not None
    size = _lstm_size(steps, batch, features, hidden, has_bias)
    buf = out.base
    if buf is None or buf.ndim != 1 or buf.size != size or buf.dtype != out.dtype:  # not the forward's: run it
        buf = fused_lstm.forward(x, state, weight_ih, weight_hh, bias, reverse=reverse).base
    out, z, rec = _lstm_buffers(buf, steps, batch, features, hidden, has_bias)
    dtype = np.result_type(grad, out)
    cs, o, i, f, g, tc = (rec[:, k] for k in range(6))
    c0 = np.transpose(state[:, H:])
    k = np.empty((steps, 4, H, batch), dtype)
    np.subtract(1, rec[:, 1:4], out=k[:, :3])          # s (1 - s): the sigmoids' derivative (o, i, f) ...
    k[:, :3] *= rec[:, 1:4]
    np.multiply(g, g, out=k[:, 3])                      # ... and tanh's, 1 - g^2
    np.subtract(1, k[:, 3], out=k[:, 3])
    k[:, 0] *= tc
    k[:, 1] *= g
    if reverse:                                         # c_{t-1}: the step run before t
        k[:-1, 2] *= cs[1:]
        k[-1:, 2] *= c0
    else:
        k[1:, 2] *= cs[:-1]
        k[:1, 2] *= c0
    k[:, 3] *= i
    p = np.square(tc)                                   # P = o (1 - tc^2)
    np.subtract(1, p, out=p)
    p *= o
    grad_h = np.transpose(grad[:steps], (0, 2, 1)).copy()   # (steps, H, batch), the record's layout
    dh, tmp = np.zeros((H, batch), dtype), np.empty((H, batch), dtype)
    dc = np.transpose(grad[steps]).copy()
    # the gates' gradients d pre_t = K[t] [dh, dc, dc, dc], written over K[t] (read once, just before): into K's
    # memory, in the cache, rather than a new array, the loop ran 2 % faster. So d pre is in the record's gate
    # order, o, i, f, g, and W_hh^T d pre_t reads W_hh's rows in that order: a contiguous copy of W_hh^T (which
    # OpenBLAS's product also reads 4 % faster than a transposed view, 46.0 vs 47.8 us a W8 step)
    d, rows = k, _lstm_rows(H)
    w_hh_t = np.transpose(weight_hh[rows]).copy()   # (C order)
    d_rows = d.reshape(steps, 4 * H, batch)
    order = range(steps) if reverse else range(steps - 1, -1, -1)
    last = order[-1] if steps and not needs[1] else None  # (h_0, c_0 without a gradient: no product for them)
    for t in order:
        dh += grad_h[t]
        np.multiply(dh, p[t], out=tmp)          # dc += dh o (1 - tc^2)
        dc += tmp
        np.multiply(k[t, 1:], dc, out=d[t, 1:])  # d i, d f, d g: dc K
        np.multiply(k[t, 0], dh, out=d[t, 0])    # d o: dh K
        if t == last:
            break
        np.matmul(w_hh_t, d_rows[t], out=dh)     # to step t - 1: dh = W_hh^T d pre, dc = dc f
        dc *= f[t]
    # every step's d pre and z_t as the columns of one array each, (4H, steps * batch) and (H + input_size + 1,
    # steps * batch): the gradients of W = [W_hh | W_ih | bias] are one product over all steps, d pre z^T (the
    # ones row of z gives the bias's, d pre summed). d pre is copied into that layout once (written there by
    # the loop, a (3H, batch) and a (H, batch) block per step strided over the whole array, it cost as much)
    d_cols = np.transpose(d_rows, (1, 0, 2)).reshape(4 * H, steps * batch)
    ins = slice(1, steps + 1) if reverse else slice(0, steps)
    d_w = d_cols @ z[:, ins].reshape(z.shape[0], steps * batch).T
    d_x = None
    if needs[0]:  # d x_t = d pre_t W_ih: one product for all steps, rows (t, batch)
        d_x = (d_cols.T @ weight_ih[rows]).reshape(steps, batch, features)
    d_state = np.concatenate([np.transpose(dh), np.transpose(dc)], axis=-1) if needs[1] else None
    back = np.argsort(rows)                             # d_w's rows back in PyTorch's gate order (copies)
    return [d_x, d_state, d_w[back, H:H + features], d_w[back, :H], d_w[back, -1] if has_bias else None]


fused_lstm = register(_LSTMPrimitive(_fused_lstm, "fused_lstm", saves_output=True), export=True, method=True)
fused_lstm.defvjp_joint(_fused_lstm_vjp)


# ---------------------------------------------------------------------------------------------------------------
# Transformer blocks: GELU
# ---------------------------------------------------------------------------------------------------------------
_GELU_S = math.sqrt(2 / math.pi)   # the tanh approximation: tanh(S (x + C x^3))
_GELU_C = 0.044715


def _gelu(x, *, approximate="none"):
    """GELU(x) = x Phi(x) with Phi the standard normal CDF, 0.5 x (1 + erf(x / sqrt 2)); with approximate='tanh',
    GPT-2's 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), computed as x sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3)),
    the same function, faster and more accurate where x << 0 (kernels.gelu_tanh). A primitive for speed:
    composed, the tanh form is nine elementwise nodes (eighteen products and sums in the backward pass) over a
    transformer's widest activations; here it is seven in-place passes forward and ten backward, over blocks
    that stay in cache: the forward keeps its denominators 1 + e^(-2u) behind its output (a _KeepsBehind
    primitive), so that the derivative does not recompute them (W7: -0.8 ms of 2.4 per layer backward, +0.2
    forward)."""
    if approximate == "tanh":
        if np.result_type(x).kind != "f":
            x = np.asarray(x, np.result_type(x, 1.0))  # integers: computed in float64 (the engine narrows it)
        if np.ndim(x) == 0:
            with np.errstate(over="ignore"):  # e^(-2u) = inf for x << 0, the intended limit x / inf = -0
                return x / (1 + np.exp(x * (-2 * _GELU_S - 2 * _GELU_S * _GELU_C * x * x)))
        return kernels.gelu_tanh(x, _GELU_S, _GELU_C, keep=is_grad_enabled())
    if approximate != "none":
        raise OpError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
    return 0.5 * x * (1 + erf.forward(x * (1 / math.sqrt(2))))


def _gelu_vjp(g, out, x, *, approximate="none"):
    if approximate == "tanh":
        # d/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) S (1 + 3 C x^2), t = tanh(S (x + C x^3)); arrays (a plain backward)
        # get the same in kernels.gelu_tanh_grad's sigmoid form, blocked and in place
        if type(g) is np.ndarray and type(x) is np.ndarray and x.ndim and g.shape == x.shape and x.dtype.kind == "f":
            return kernels.gelu_tanh_grad(g, x, _GELU_S, _GELU_C, kernels.gelu_denominators(out, x))
        x2 = x * x
        t = np.tanh(x * (_GELU_S + _GELU_S * _GELU_C * x2))
        return g * (0.5 * (1 + t) + (0.5 * x) * (1 - t * t) * (_GELU_S + 3 * _GELU_S * _GELU_C * x2))
    # d/dx = Phi(x) + x phi(x) = 0.5 (1 + erf(x / sqrt 2)) + x e^(-x^2 / 2) / sqrt(2 pi). For |x| > 1.3e154,
    # x^2 overflows to inf and e^-inf = 0 gives x phi(x) = 0, its limit (the true value underflows long before):
    # right, so its overflow warning is silenced
    with np.errstate(over="ignore"):
        density = x * np.exp(-0.5 * x * x)
    return g * (0.5 * (1 + either(erf, x * (1 / math.sqrt(2)))) + density * (1 / math.sqrt(2 * math.pi)))


class _KeepsBehind(Primitive):
    """A primitive whose output may be the front of a buffer holding, behind it, values its VJP reads (cuDNN's
    "reserve space"; gelu's denominators). The VJP reads the output only to find them, never its values: the
    engine's in-place check covers the inputs and the values behind, not the output itself, so writing into the
    output in place before backward (an in-place dropout after GELU) stays allowed, as in PyTorch, whose GELU
    saves only its input."""

    __slots__ = ()

    def saved_arrays(self, node: Any) -> list[tuple[str, Any]]:
        saved = [(f"input {i}", a) for i, a in enumerate(node.args) if isinstance(a, np.ndarray)]
        out, base = node.out, getattr(node.out, "base", None)
        if isinstance(base, np.ndarray) and base.ndim == 1 and base.size > out.size:
            saved.append(("values kept behind the output", base[out.size:]))
        return saved


class _JointKeepsBehind(JointPrimitive):
    """A JointPrimitive that keeps values behind its output, as _KeepsBehind (layer_norm's statistics)."""

    __slots__ = ()
    saved_arrays = _KeepsBehind.saved_arrays


gelu = register(_KeepsBehind(_gelu, "gelu", saves_output=True), export=True, method=True)
gelu.defvjp(_gelu_vjp)


# ---------------------------------------------------------------------------------------------------------------
# Transformer blocks: layer normalisation
# ---------------------------------------------------------------------------------------------------------------
def _layer_norm(x, weight, bias, *, eps=1e-5):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, the statistics over the last weight.ndim axes of x
    (nn.LayerNorm). A primitive for speed: composed it is nine nodes over the whole activation, in every block of
    a transformer twice; here two row reductions and four passes forward (kernels.layer_norm), and one joint VJP
    for all three gradients, which reads the normalised x and 1 / sqrt(var + eps) kept behind the output (a
    _KeepsBehind primitive; W7: -0.2 ms of 0.6 per backward) or recomputes them."""
    return kernels.layer_norm(x, weight, bias, eps, keep=is_grad_enabled())


def _layer_norm_vjp(g, out, args, *, eps=1e-5):
    # With xh = (x - mean) rstd and gh = g weight, over the normalised axes (n elements):
    #   dx = rstd (gh - mean(gh) - xh mean(gh xh));  dweight = sum(g xh), dbias = sum(g) over the other axes
    # Arrays (a plain backward) go to the in-place kernel; Tensors (create_graph) to the same maths in numpy calls.
    x, weight, _ = args
    if (type(g) is np.ndarray and type(x) is np.ndarray and type(weight) is np.ndarray and g.shape == x.shape
            and x.dtype.kind == "f" and g.dtype.kind == "f"):
        return kernels.layer_norm_grad(g, x, weight, eps, kernels.layer_norm_kept(out, weight))
    dims = np.ndim(weight)
    axes = tuple(range(-dims, 0))
    centered = x - np.mean(x, axis=axes, keepdims=True)
    rstd = 1 / np.sqrt(np.mean(centered * centered, axis=axes, keepdims=True) + eps)
    xh = centered * rstd
    gh = g * weight
    dx = rstd * (gh - np.mean(gh, axis=axes, keepdims=True) - xh * np.mean(gh * xh, axis=axes, keepdims=True))
    batch = tuple(range(np.ndim(x) - dims))
    return [dx, np.sum(g * xh, axis=batch), np.sum(g, axis=batch)]


layer_norm = register(_JointKeepsBehind(_layer_norm, "layer_norm", saves_output=True), export=True, method=True)
layer_norm.defvjp_joint(_layer_norm_vjp)


# ---------------------------------------------------------------------------------------------------------------
# Transformer blocks: scaled dot-product attention
# ---------------------------------------------------------------------------------------------------------------
def _attention_problem(q, k, v, mask=None, keep=None) -> str | None:
    """What does not fit in a fused_attention call's shapes, in words, or None."""
    shapes = f"query {np.shape(q)}, key {np.shape(k)} and value {np.shape(v)}"
    if min(np.ndim(q), np.ndim(k), np.ndim(v)) < 2:
        return f"query, key and value must have at least 2 dims (..., L or S, E), got {shapes}"
    if np.shape(q)[-1] != np.shape(k)[-1] or np.shape(k)[-2] != np.shape(v)[-2]:
        return (f"{shapes} do not fit: the query's and the key's last dims (E) and the key's and the value's "
                "sequence dims (S) must agree")
    try:
        batch = np.broadcast_shapes(np.shape(q)[:-2], np.shape(k)[:-2], np.shape(v)[:-2])
    except ValueError:
        return f"the leading (batch) dims of {shapes} do not fit together"
    scores = (*batch, np.shape(q)[-2], np.shape(k)[-2])
    for name, m in (("mask", mask), ("keep", keep)):
        if m is None:
            continue
        try:
            fits = np.broadcast_shapes(np.shape(m), scores) == scores
        except ValueError:
            fits = False
        if not fits:
            return f"the {name} of shape {np.shape(m)} does not stretch to the scores' shape {scores} (..., L, S)"
        if name == "keep" and np.result_type(m) != np.bool_:
            return f"keep must be boolean (True: kept by dropout), got dtype {np.result_type(m)}"
    return None


def _fused_attention(q, k, v, mask=None, keep=None, *, scale=None, causal=False, dropout_p=0.0, weights=True):
    """Scaled dot-product attention as one node, for query q (..., L, E), key k (..., S, E), value v (..., S, Ev),
    the leading dims broadcast:

        P = softmax(scale q k^T + mask),   D = P keep / (1 - dropout_p),
        out = [D v | P]  (..., L, Ev + S),   or with weights=False just the attention D v  (..., L, Ev)

    scale: default 1 / sqrt(E). mask (broadcast to (..., L, S)): boolean, True where attention is allowed, or
    floats added to the scores (differentiable). causal: query i sees keys 0..i (top-left aligned). keep: the
    dropout mask, boolean (True: kept), drawn by the caller (nn's scaled_dot_product_attention draws it as
    F.dropout does); the kept weights are scaled by 1 / (1 - dropout_p). A row whose keys are all masked out
    gives zeros, and zero gradients (PyTorch's rule in scaled_dot_product_attention).

    The VJP reads P (kept instead of the scores, as fused_lstm keeps its gates). With weights=True P is part of
    the output, and differentiable as an output. With weights=False (what multi-head attention needs) the output
    is the attention alone, so that no slice of it, whose backward pass would zero-fill the whole [D v | P], is
    taken; P then lives behind it, in the same buffer (cuDNN's "reserve space": the attention is a view of
    that buffer, and the VJP finds P through the view's base); and the attention is laid out in memory as q is
    when it has q's shape: multi-head attention's heads are strided views of a (N, L, H, E / H) projection, and
    an output laid out (N, L, H, E / H) merges its heads back into (N, L, E) as a view, not a copy.
    A primitive for speed: composed it is seven nodes (scale, product, mask, log_softmax, exp, dropout, product)
    whose backward passes allocate a (..., L, S) array each; here the softmax runs in place in P and the VJP is
    two products per input and three passes."""
    problem = _attention_problem(q, k, v, mask, keep)
    if problem is not None:
        raise OpError(problem)
    if causal and mask is not None:
        raise OpError("give either a mask or causal=True, not both")
    values = [q, k, v] + ([mask] if mask is not None and mask.dtype != np.bool_ else [])
    dtype = np.result_type(*values)
    batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    length, source, width = q.shape[-2], k.shape[-2], v.shape[-1]
    if weights:
        full = np.empty((*batch, length, width + source), dtype=dtype)
        out, p = full[..., :width], full[..., width:]
    else:
        out, p = _attention_buffer(q, (*batch, length, width), (*batch, length, source), dtype)
    kernels.attention_probabilities(q, k, mask, _attention_scale(q, scale), causal, p)
    d = p if keep is None else select(keep, p * _keep_scale(dropout_p), 0)
    np.matmul(d, v, out=out)
    return full if weights else out


def _attention_buffer(q, shape, p_shape, dtype):
    """The attention output of weights=False, of `shape`, and P, of `p_shape`, both in one new buffer, the
    output first: the output laid out as q is when it has q's shape (axes in the order of q's strides),
    C-ordered otherwise; P C-ordered after it."""
    size = math.prod(shape)
    buffer = np.empty(size + math.prod(p_shape), dtype=dtype)
    if shape == q.shape and not q.flags.c_contiguous:
        order = sorted(range(q.ndim), key=lambda axis: -q.strides[axis])  # outermost first
        out = buffer[:size].reshape([shape[axis] for axis in order]).transpose(np.argsort(order))
    else:
        out = buffer[:size].reshape(shape)
    return out, buffer[size:].reshape(p_shape)


def _attention_probabilities_behind(out, p_shape):
    """P of a weights=False output, from the buffer behind it (see _attention_buffer), or None when `out` is not
    such a view (then the caller recomputes P)."""
    buffer = out.base
    if buffer is None or buffer.ndim != 1 or buffer.size != out.size + math.prod(p_shape) or buffer.dtype != out.dtype:
        return None
    return buffer[out.size:].reshape(p_shape)


def _attention_scale(q, scale):
    return 1 / math.sqrt(q.shape[-1]) if scale is None else scale


def _keep_scale(dropout_p):
    return 1 / (1 - dropout_p) if dropout_p < 1 else 0.0


def _fused_attention_vjp(g, out, args, *, scale=None, causal=False, dropout_p=0.0, weights=True):
    # With Z = scale q k^T + mask, P = softmax(Z), D = P keep c (c = 1 / (1 - dropout_p)), out = [D v | P] and
    # g = [gO | gP] (gP = 0 with weights=False):  dv = D^T gO;  dP = (gO v^T) keep c + gP;
    # dZ = P (dP - rowsum(dP P)) (softmax's VJP); dq = scale dZ k, dk = scale dZ^T q, d mask = dZ (the engine sums
    # it back to the mask's shape).
    # Arrays (a plain backward) go to the in-place kernel; Tensors (create_graph) to the same maths in numpy
    # calls, which record themselves: P comes from `out`, this node's own output (with weights=False, from this
    # primitive run again with weights=True, recorded), so a second derivative flows back into P through gP.
    q, k, v, mask, keep = (*args, None, None)[:5]
    s = _attention_scale(q, scale)
    mask_grad = mask is not None and mask.dtype != np.bool_
    width = v.shape[-1]
    if not any(isinstance(a, Tensor) for a in (g, out, q, k, v, mask)):
        if weights:
            g_out, g_p, p = g[..., :width], g[..., width:], out[..., width:]
        else:
            g_out, g_p = g, None
            p = _attention_probabilities_behind(out, out.shape[:-1] + (k.shape[-2],))
            if p is None:  # (arrays here: `either` runs the forward)
                p = either(fused_attention, q, k, v, mask, keep, scale=scale, causal=causal,
                           dropout_p=dropout_p)[..., width:]
        return kernels.attention_backward(g_out, g_p, p, q, k, v, keep, _keep_scale(dropout_p), s, mask_grad) + [None]
    if weights:
        g_out, g_p, p = g[..., :width], g[..., width:], out[..., width:]
    else:
        full = fused_attention(*args, scale=scale, causal=causal, dropout_p=dropout_p)
        g_out, g_p, p = g, None, full[..., width:]
    if keep is not None:
        c = _keep_scale(dropout_p)
        d = select(keep, p * c, 0)
    else:
        d = p
    dv = np.swapaxes(d, -1, -2) @ g_out
    dp = g_out @ np.swapaxes(v, -1, -2)
    if keep is not None:
        dp = select(keep, dp * c, 0)
    if g_p is not None:
        dp = dp + g_p
    dz = p * (dp - np.sum(dp * p, axis=-1, keepdims=True))
    return [(dz @ k) * s, (np.swapaxes(dz, -1, -2) @ q) * s, dv, dz if mask_grad else None, None]


def _explain_fused_attention(datas, params, err):
    problem = _attention_problem(*datas)
    return f"fused_attention: {problem or err}"


fused_attention = register(JointPrimitive(_fused_attention, "fused_attention", broadcasts=True, saves_output=True,
                                          explain=_explain_fused_attention), export=True, method=True)
fused_attention.defvjp_joint(_fused_attention_vjp)
