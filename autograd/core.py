"""The core: `Tensor`, the graph `Node` and `Primitive`, the unit every differentiable operation is made of.

A `Tensor` wraps a numpy array (a numpy scalar for 0-d tensors: ufuncs on numpy scalars are several times
cheaper than on 0-d arrays, and that is most of the cost of a scalar graph). Every operation on tensors goes
through `Primitive.__call__`, which runs the numpy forward and, when a gradient is wanted, records a `Node`:
the primitive, one graph edge per input, and the values its vector-Jacobian products need. `engine.py` walks
those nodes backwards. The Tensor methods themselves are one-liners into `operations.py`.
"""

from __future__ import annotations

import linecache
import os
import sys
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Union

import numpy as np

from . import grad_mode as _modes
from .device import CPU as _CPU
from .device import not_available as _not_available
from .device import parse_to as _parse_to
from .errors import OpError, as_op_error
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .kernels import as_ndarray, as_stored

__all__ = ["Tensor", "Node", "Op", "Primitive", "Unkept", "passes_gradient", "times_first", "times_second",
           "no_grad", "enable_grad", "set_grad_enabled",
           "is_grad_enabled"]

TensorLike = Union["Tensor", np.ndarray, np.generic, float, int, bool, Sequence]

# ---------------------------------------------------------------------------------------------------------------
# Global state: creation counter and in-place bookkeeping. (Grad mode, anomaly mode and location recording are
# per thread, in grad_mode.py.)
# Plain module globals: they are read on every operation and a global load is the cheapest read Python has.
# ---------------------------------------------------------------------------------------------------------------
DROP_INPUTS_FROM = 1024  # bytes: see Primitive, on ops whose VJPs do not read their inputs
UNKEPT_FROM = 65536  # bytes: the same, for ops that read their inputs' shapes (an Unkept costs ~0.4 us)
# Creation counter: a node is always created after its inputs, so descending seq is a topological order. It is
# shared by all threads; `_seq += 1` followed by reading it is never split by a thread switch under the GIL (no
# call or backward jump in between), so numbers stay unique and increasing across threads.
_seq = 0

# In-place bookkeeping. Instead of a version counter per tensor (a tuple to build on every op), each in-place
# write to an array is remembered here with the counter value at that moment; a node older than the newest
# write checks, during backward, whether any array it saved overlaps a later write. New graphs built after the
# last write (the usual case: the optimiser updates before the next forward) pay nothing.
_writes: dict[int, tuple[weakref.ref, int, str]] = {}
_last_write_seq = -1


def last_write_seq() -> int:
    """The creation counter at the newest in-place write (see `_writes`)."""
    return _last_write_seq


def writes_after(seq: int) -> list[tuple[Any, str]]:
    """(array, op name) of every live array written in place after node number `seq`."""
    found = []
    for ref, when, writer in list(_writes.values()):
        written = ref()
        if written is not None and when >= seq:
            found.append((written, writer))
    return found


def record_write(array: Any, op_name: str) -> None:
    """Remember that `array` was just modified in place by `op_name` (see the comment on `_writes`)."""
    global _last_write_seq
    if not isinstance(array, np.ndarray):
        return
    key = id(array)
    if key not in _writes:
        ref = weakref.ref(array, lambda _, key=key: _writes.pop(key, None))
    else:
        ref = _writes[key][0]
    _writes[key] = (ref, _seq, op_name)
    _last_write_seq = _seq


_AUTOGRAD_DIR = os.path.dirname(os.path.abspath(__file__))
_PACKAGE_DIRS = (_AUTOGRAD_DIR + os.sep, os.path.join(os.path.dirname(_AUTOGRAD_DIR), "nn") + os.sep)


def user_location() -> tuple[str, int, str] | None:
    """(file, line, source) of the innermost stack frame outside the autograd and nn packages."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIRS):
        frame = frame.f_back
    if frame is None:
        return None
    filename, lineno = frame.f_code.co_filename, frame.f_lineno
    return filename, lineno, linecache.getline(filename, lineno).strip()


def format_location(where: tuple[str, int, str] | None) -> str:
    if where is None:
        return "an unknown location (record it by running the forward pass inside autograd.detect_anomaly())"
    filename, lineno, source = where
    return f"{filename}:{lineno}" + (f": `{source}`" if source else "")


# ---------------------------------------------------------------------------------------------------------------
# Graph nodes and primitives
# ---------------------------------------------------------------------------------------------------------------
class Node:
    """One recorded operation (PyTorch calls it `grad_fn`).

    op      the Primitive (or custom Function) that ran
    edges   per input: the input's Node, the input itself if it is a leaf that requires grad, or None
    args    the forward arguments as arrays/scalars (what the VJPs read; None or an `Unkept` in the place of
            a large array the VJPs do not read, see Primitive); None once the graph is freed
    out     the forward output, kept only when the VJP needs it (exp, tanh, ...)
    params  keyword arguments of the forward (dim, shape, index, ...) or None
    seq     creation counter, orders the backward walk
    hooks   gradient hooks registered on the output tensor (register_hook / retain_grad), or None
    where   (file, line, source) of the user's code, recorded in anomaly mode, or None
    label   the output tensor's label, if the user gave it one (for drawing), or None

    `where` and `label` are seldom set, so their slots are left empty until they are (a node is created for
    every operation, and every store counts there); reading an empty one gives None.
    """

    __slots__ = ("op", "edges", "args", "out", "params", "seq", "hooks", "_where", "_label", "__weakref__")
    # No __init__, on purpose: the creators (new_node, _result) set every field, and `Node()` then costs ~300
    # instructions less than object.__new__(Node), which takes its arguments as a tuple (W5: -1.5%).

    @property
    def where(self) -> tuple[str, int, str] | None:
        return getattr(self, "_where", None)

    @where.setter
    def where(self, value: tuple[str, int, str] | None) -> None:
        self._where = value

    @property
    def label(self) -> str | None:
        return getattr(self, "_label", None)

    @label.setter
    def label(self, value: str | None) -> None:
        self._label = value

    def name(self) -> str:
        return self.op.backward_name

    @property
    def next_functions(self) -> tuple:
        """The nodes (or leaf tensors) this node sends gradients to, as in PyTorch."""
        return tuple((e, 0) for e in self.edges)

    def __repr__(self) -> str:
        return f"<{self.name()}>"


# Leaf tensors that were given a label, by id. A node keeps an input that does not require grad only as its
# array, so a drawing finds that input's label here, by the array (autograd.viz). Weak: an entry goes with its
# tensor, and only labelled tensors are entered (made by hand, never by an operation).
labelled_leaves: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def data_labels() -> dict[int, str]:
    """id(array) -> label, for the arrays of the labelled leaf tensors still alive."""
    return {id(t._data): t._label for t in list(labelled_leaves.values())
            if t.grad_fn is None and t._label is not None}


class Unkept:
    """What a node keeps of an input array its VJPs do not read: the shape and dtype (see Primitive)."""

    __slots__ = ("shape", "dtype")  # made by _let_go, without an __init__ call (it runs on every large op)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def __repr__(self) -> str:
        return f"<not kept: {self.shape} {self.dtype}>"


class Op:
    """What every node's op is, for the engine, the drawings and check_graph: one protocol that built-in
    primitives (`Primitive`), custom Functions and their helper nodes (function.py) all follow.

    name, symbol, backward_name, doc      how it is named (grad_fn's name is backward_name)
    broadcasts, saves_output, reads_inputs, label, explain       flags and hooks: see `Primitive`
    runs_user_code   its input_grads runs the user's code (a custom Function's backward): the engine sets the
                     grad mode first (= create_graph), as PyTorch does for a backward
    rerunnable       check_graph can re-run it alone (not the selector of a multi-output Function's output)

    input_grads(node, g, out, args)   the gradient of each input (None where an input gets none), given the
                                      output's gradient g: the engine's only call into an op
    saved_arrays(node)                what input_grads will read, for the engine's check of in-place writes
    rerun(node, inputs)               the forward again on `inputs` (check_graph)
    """

    __slots__ = ()
    vjps: tuple | None = None  # a primitive's VJPs, one per input (the engine calls them directly when it can)
    broadcasts = False
    saves_output = False
    reads_inputs = True
    label: Callable | None = None
    explain: Callable | None = None
    runs_user_code = False
    rerunnable = True

    def input_grads(self, node: Node, g: Any, out: Any, args: tuple) -> Sequence[Any]:
        raise NotImplementedError(f"{type(self).__name__} must define input_grads(node, g, out, args)")

    def saved_arrays(self, node: Node) -> list[tuple[str, Any]]:
        saved = []
        if self.reads_inputs:
            saved += [(f"input {i}", a) for i, a in enumerate(node.args) if isinstance(a, np.ndarray)]
        if node.out is not None and isinstance(node.out, np.ndarray):
            saved.append(("output", node.out))
        return saved

    def rerun(self, node: Node, inputs: list) -> Any:
        return self(*inputs, **(node.params or {}))


# The VJPs of add and mul, the most common ones (nine in ten of a scalar graph's). The backward walk recognises
# them and computes them inline instead of calling them: a Python call costs ~500 instructions, as much as the
# product itself on numpy scalars (W5: 1,200 calls per step). Called, they give the same: they remain the VJPs
# of their primitives for everything else (input_grads, the stepper, create_graph).
def passes_gradient(g: Any, out: Any, *args: Any, **params: Any) -> Any:
    """The VJP of an input whose gradient is the output's own, g unchanged (d(x + y)/dx = 1: add's, sub's first)."""
    return g


def times_second(g: Any, out: Any, x: Any, y: Any) -> Any:
    """The VJP of the first factor of a product: g * y (d(x y)/dx = y)."""
    return g * y


def times_first(g: Any, out: Any, x: Any, y: Any) -> Any:
    """The VJP of the second factor of a product: g * x (d(x y)/dy = x)."""
    return g * x


class Primitive(Op):
    """A differentiable operation on arrays: a numpy `forward` and one vector-Jacobian product per input.

    A VJP is called as `vjp(g, out, *args, **params)`: `g` is the gradient of the output, `out` the output
    (None unless `saves_output`), `args` the forward's arguments. It returns the gradient of one input.
    VJPs are plain numpy; with `create_graph=True` they receive Tensors instead and numpy's dispatch protocols
    route every call back here, so the backward pass is itself recorded and can be differentiated again.

    broadcasts      the op broadcasts its inputs; the engine sums each gradient back to its input's shape
    saves_output    the VJPs read the output (keep it alive; check it for in-place writes)
    reads_inputs    the VJPs read input values, not just shapes (check them for in-place writes)
    label           label(params): the op's name in drawings, when its parameters read better rewritten
    explain         explain(datas, params, err): a message in the user's terms for a forward that failed

    An op that does not read its inputs lets large input arrays go, so that a layer's pre-activation, or the
    array under a reshape, is freed as soon as nothing else needs it (as in PyTorch) instead of living until
    backward. `output_only` ops (tanh, relu, exp, ...: saves_output, not reads_inputs, no broadcasting) read
    nothing of their inputs: when the output is DROP_INPUTS_FROM bytes or more, the node stores None for them,
    at no cost. Other such ops (add, reshape, sum, ...) read their inputs' shapes: from UNKEPT_FROM bytes, the
    node keeps an `Unkept` (shape and dtype) for each large input. Both are judged by the output's size, one
    check per op (so a sum of a large array keeps it). Small arrays are kept: they cost less than the node
    itself (or than making an Unkept), and drawings of small graphs show their values. Inside
    `record_locations()` or `detect_anomaly()` every input is kept, so that `check_graph` can re-run every node.
    """

    __slots__ = ("name", "symbol", "forward", "vjps", "vjp_argnum", "broadcasts", "saves_output",
                 "reads_inputs", "output_only", "backward_name", "label", "explain", "doc")

    def __init__(self, forward: Callable, name: str | None = None, symbol: str | None = None,
                 broadcasts: bool = False, saves_output: bool = False, reads_inputs: bool = True,
                 label: Callable | None = None, explain: Callable | None = None) -> None:
        self.forward = forward
        self.name = name or forward.__name__
        self.symbol = symbol or self.name
        self.broadcasts = broadcasts
        self.saves_output = saves_output
        self.reads_inputs = reads_inputs
        self.output_only = saves_output and not reads_inputs and not broadcasts  # see above
        self.vjps: tuple[Callable, ...] | None = None
        self.vjp_argnum: Callable | None = None
        self.backward_name = "".join(p.capitalize() for p in self.name.split("_")) + "Backward"
        self.label = label  # label(params) -> how a drawing names the op (labels.py); None: symbol(params)
        self.explain = explain  # explain(datas, params, err) -> a clearer message for a failed forward, or None
        self.doc = forward.__doc__

    def defvjp(self, *vjps: Callable) -> Primitive:
        """Give one VJP per input, in order (`None` for an input that never gets a gradient)."""
        self.vjps = vjps
        return self

    def defvjp_argnum(self, vjp: Callable) -> Primitive:
        """One VJP for any number of inputs: `vjp(i, g, out, *args, **params)` (cat, einsum)."""
        self.vjp_argnum = vjp
        return self

    def input_grads(self, node: Node, g: Any, out: Any, args: tuple) -> Sequence[Any]:
        # (for a node without params the engine calls `vjps` itself, exactly as here: one call less per node)
        params = node.params or {}
        vjps = self.vjps
        grads: list = []
        for i, edge in enumerate(node.edges):
            if edge is None:
                grads.append(None)
            elif vjps is None:  # one VJP for every input (defvjp_argnum)
                grads.append(self.vjp_argnum(i, g, out, *args, **params))
            elif vjps[i] is None:
                raise RuntimeError(f"{self.name}: input {i} is not differentiable")
            else:
                grads.append(vjps[i](g, out, *args, **params))
        return grads

    def __call__(self, *args: Any, **params: Any) -> Tensor:
        if not params:
            if len(args) == 2:
                return apply_binary(self, args[0], args[1])
            if len(args) == 1 and isinstance(args[0], Tensor):
                return apply_unary(self, args[0])
        return apply(self, args, params)

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"


def apply(op: Primitive, args: tuple, params: dict) -> Tensor:
    """Run `op` on tensors/arrays/scalars and record a Node when any input requires grad."""
    datas = []
    edges = []
    record = False
    for a in args:
        if isinstance(a, Tensor):
            datas.append(a._data)
            if a._requires_grad:
                record = True
                edges.append(a.grad_fn or a)  # a non-leaf's node, or the leaf itself
            else:
                edges.append(None)
        else:
            datas.append(as_constant(a))
            edges.append(None)
    try:
        out = op.forward(*datas, **params)
    except (ValueError, TypeError, IndexError) as err:
        if "out" in params:  # autograd.add(a, b, out=c): no forward takes out= (numpy_dispatch refuses it for
            from .out import call_with_out  # ufuncs), so it is handled here, at no cost to the calls without it
            return call_with_out(op, args, params)
        raise _op_error(op, datas, params, err) from None
    return _result(op, out, tuple(datas), tuple(edges) if record else None, params or None)


def apply_unary(op: Primitive, x: Tensor) -> Tensor:
    """`apply` for one tensor input and no parameters: the hot path of elementwise chains."""
    data = x._data
    try:
        out = op.forward(data)
    except (ValueError, TypeError) as err:
        raise _op_error(op, [data], {}, err) from None
    return _result(op, out, (data,), ((x.grad_fn or x),) if x._requires_grad else None, None)


def apply_binary(op: Primitive, x: Any, y: Any) -> Tensor:
    """`apply` for two inputs and no parameters (arithmetic operators)."""
    if isinstance(x, Tensor):
        xd = x._data
        xe = (x.grad_fn or x) if x._requires_grad else None
    else:
        xd = as_constant(x)
        xe = None
    if isinstance(y, Tensor):
        yd = y._data
        ye = (y.grad_fn or y) if y._requires_grad else None
    else:
        yd = y if y.__class__ is float or y.__class__ is int else as_constant(y)  # `x + 0.5`: skip the call
        ye = None
    try:
        out = op.forward(xd, yd)
    except (ValueError, TypeError) as err:
        raise _op_error(op, [xd, yd], {}, err) from None
    return _result(op, out, (xd, yd), None if xe is None and ye is None else (xe, ye), None)


def unary_method(op: Primitive) -> Callable[[Tensor], Tensor]:
    """`Tensor.<name>` for a primitive of one input (ops.register): `apply_unary` itself as the method, so that
    `x.exp()` runs one Python frame before `_result` instead of two."""
    def method(self: Tensor) -> Tensor:
        global _seq
        data = self._data
        try:
            out = op.forward(data)
        except (ValueError, TypeError) as err:
            raise _op_error(op, [data], {}, err) from None
        if out.__class__ is not _float32 or _modes.any_changed or not self._requires_grad:
            return _result(op, out, (data,), ((self.grad_fn or self),) if self._requires_grad else None, None)
        # (a float32 scalar recorded in the default modes: _result written out, as in binary_method)
        result = _new(Tensor)
        result._data = out
        result.grad = None
        node = Node()
        node.op = op
        node.edges = (self.grad_fn or self,)
        node.args = (data,)
        node.out = out if op.saves_output else None
        node.params = None
        _seq += 1
        node.seq = _seq
        node.hooks = None
        result.grad_fn = node
        result._requires_grad = True
        return result
    return method


def binary_method(op: Primitive) -> Callable[[Tensor, Any], Tensor]:
    """`Tensor.<name>` for a primitive of two inputs (ops.register), and so the operator (`x * y`): `apply_binary`
    written out with the first operand known to be a tensor. One Python frame before `_result` instead of two
    (the frame cost ~2% of a scalar graph, W5, in callgrind)."""
    def method(self: Tensor, other: Any) -> Tensor:
        global _seq
        xd = self._data
        xe = (self.grad_fn or self) if self._requires_grad else None
        kind = other.__class__  # (identities before isinstance, ~100 instructions less a test)
        if kind is Tensor or (kind is not float and isinstance(other, Tensor)):
            yd = other._data
            ye = (other.grad_fn or other) if other._requires_grad else None
        else:
            yd = other if kind is float or kind is int else as_constant(other)
            ye = None
        try:
            out = op.forward(xd, yd)
        except (ValueError, TypeError) as err:
            raise _op_error(op, [xd, yd], {}, err) from None
        if out.__class__ is not _float32 or _modes.any_changed or (xe is None and ye is None):
            return _result(op, out, (xd, yd), None if xe is None and ye is None else (xe, ye), None)
        # A float32 scalar recorded in the default modes (scalar graphs): what _result does then, written out, a
        # call less (~4% of W5); test_boundaries checks that the two make the same tensor and node.
        result = _new(Tensor)
        result._data = out
        result.grad = None
        node = Node()
        node.op = op
        node.edges = (xe, ye)
        node.args = (xd, yd)
        node.out = out if op.saves_output else None
        node.params = None
        _seq += 1
        node.seq = _seq
        node.hooks = None
        result.grad_fn = node
        result._requires_grad = True
        return result
    return method


def new_node(op: Op, edges: tuple, args: tuple, out: Any, params: dict | None, locations: bool) -> Node:
    """A graph node, numbered after every node before it (built-in ops and custom Functions alike)."""
    global _seq
    node = Node()
    node.op = op
    node.edges = edges
    node.args = args
    node.out = out
    node.params = params
    _seq += 1
    node.seq = _seq
    node.hooks = None
    if locations:
        node.where = user_location()
    return node


def _result(op: Primitive, out: Any, args: tuple, edges: tuple | None, params: dict | None) -> Tensor:
    """Wrap a forward result, recording its Node when an input requires grad and grad mode is on."""
    global _seq
    locations = False
    if _modes.any_changed and (edges is not None or _modes.any_checks):  # apply this thread's modes (grad_mode)
        modes = _thread_local.modes
        if modes.check_nan:
            _check_forward(op, args, out)
        if not modes.grad_enabled:
            edges = None
        locations = modes.locations or modes.anomaly
    # Results other than float32 have rules to follow: PyTorch's float widths, no complex values in a graph.
    # (Identity checks of module constants, float32 scalars first: each bytecode here costs ~0.2% of W1.)
    kind = out.__class__
    if kind is not _float32 and (kind is not _ndarray or out.dtype is not _FLOAT32):
        if (kind is _ndarray or kind is _float64) and out.dtype is _FLOAT64:
            for arg in args:  # float64 in, float64 out: the usual case, decided at the first argument
                if getattr(arg, "dtype", None) is _FLOAT64:
                    if arg.__class__ is _float64 and kind is _ndarray:  # a 0-d operand made an array float64
                        out, args, edges = _zero_d_promotion(op, out, args, edges, params)
                    break
            else:
                out, args = _pytorch_float_width(op, out, args)
        else:
            if edges is not None and getattr(out, "dtype", _FLOAT64).kind == "c":
                raise _complex_in_graph(op, args, out)
            if kind is _ndarray:  # integers, booleans, float16, complex: widened by a 0-d operand?
                for arg in args:
                    if isinstance(arg, _generic):
                        out, args, edges = _zero_d_promotion(op, out, args, edges, params)
                        break
    result = _new(Tensor)  # its rarely used slots (_hooks, _label) stay unset: every store counts here
    result._data = out
    result.grad = None
    if edges is not None:
        if op.reads_inputs or kind is not _ndarray or out.nbytes < DROP_INPUTS_FROM or locations:
            kept = args
        elif op.output_only:  # the VJPs read nothing of the inputs: let them go (see Primitive)
            kept = (None,) * len(args)
        else:  # the VJPs read only the inputs' shapes: keep those of large arrays instead of the arrays
            kept = _let_go(args) if out.nbytes >= UNKEPT_FROM else args
        # new_node(op, edges, kept, out if op.saves_output else None, params, locations), written out: the call
        # costs 1% of a scalar graph's time (callgrind); test_boundaries checks that the two set the same fields
        node = Node()
        node.op = op
        node.edges = edges
        node.args = kept
        node.out = out if op.saves_output else None
        node.params = params
        _seq += 1
        node.seq = _seq
        node.hooks = None
        if locations:
            node.where = user_location()
        result.grad_fn = node
        result._requires_grad = True
    else:
        result.grad_fn = None
        result._requires_grad = False
    return result


_new = object.__new__
_thread_local = _modes.local
_FLOAT32, _FLOAT64 = np.dtype(np.float32), np.dtype(np.float64)
_ndarray, _float32, _float64, _generic = np.ndarray, np.float32, np.float64, np.generic


def _complex_in_graph(op: Primitive, args: tuple, out: Any) -> TypeError:
    """Complex autograd is not supported: PyTorch's convention conjugates in every VJP, ours do not, so a
    complex value inside a graph would give wrong real gradients. Refused where it would enter the graph."""
    dtypes = ", ".join(str(np.result_type(a)) for a in args)
    return TypeError(f"{op.name}: complex autograd is not supported: this operation on inputs that require grad "
                     f"(dtypes {dtypes}) gives a {out.dtype} result. Compute with real tensors, or take the "
                     "complex part outside the graph (under autograd.no_grad(), or on t.detach())")


def _pytorch_float_width(op: Primitive, out: Any, args: tuple) -> tuple[Any, tuple]:
    """`out` (float64) in the float type PyTorch gives, and the args for the node. numpy widens an integer or
    boolean array that meets a float32 array, or a Python float, to float64, and so do its float functions of
    integers (np.exp, true division); PyTorch keeps the float operand's type, or its default float32 when every
    tensor operand is an integer or boolean. So float64 stays only when some operand is float64 (or complex).
    The node gets the integer operands in that type too, so that the VJPs (g * y) stay in it. (`astype` says
    its type itself.)"""
    if op.name == "astype":
        return out, args
    target = None
    for a in args:
        dtype = getattr(a, "dtype", None)  # Python numbers are weak in both: they never decide the type
        if dtype is None:
            continue
        if dtype.kind == "f":
            if dtype.itemsize >= 8:
                return out, args
            if target is None or dtype.itemsize > target.itemsize:
                target = dtype
        elif dtype.kind == "c":
            return out, args
    target = target or np.dtype(np.float32)
    args = tuple(a.astype(target) if getattr(a, "dtype", None) is not None and a.dtype.kind in "iu" else a
                 for a in args)
    return out.astype(target), args


# PyTorch's type promotion for 0-d tensors (torch docs, "Type promotion"). The operands are dimensioned tensors,
# 0-d tensors and Python numbers, in categories bool < integer < floating < complex. The dimensioned tensors
# decide the dtype; a 0-d tensor counts only when its category is higher than theirs (then the result holds
# it), so `float32 vector * float64 0-d` is float32 and `int32 vector + int64 0-d` int32, where numpy (NEP 50)
# gives float64 and int64: it treats a 0-d array as any other. Only elementwise operations promote so.
_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}
_NOT_ELEMENTWISE = frozenset(("matmul", "einsum", "index_put", "fused_attention"))


def _promote(a: np.dtype, b: np.dtype) -> np.dtype:
    """PyTorch's promote_types for numpy dtypes: an integer or boolean meeting a float takes the float's type
    (numpy: int64 with float32 is float64); within a category, numpy's rule (int8 with uint8 is int16)."""
    ca, cb = _CATEGORY[a.kind], _CATEGORY[b.kind]
    if ca == cb or ca + cb == 5:  # (a float meeting a complex widens it: float64 with complex64 is complex128)
        return np.promote_types(a, b)
    return a if ca > cb else b


def _combine(higher: np.dtype | None, lower: np.dtype | None) -> np.dtype | None:
    """The dtype of operands of a higher priority (dimensioned tensors) with those of a lower one (0-d tensors,
    then Python numbers): the higher decide unless the lower are of a higher category (c10's combine_categories)."""
    if higher is None or lower is None:
        return higher if lower is None else lower
    if higher.kind == "c":
        return higher
    if lower.kind == "c":  # a float keeps its width in complex form: float32 vector with complex128 0-d is complex64
        return np.result_type(higher, np.complex64) if higher.kind == "f" else lower
    if higher.kind == "f":
        return higher
    if higher.kind == "b" or lower.kind == "f":
        return _promote(higher, lower)
    return higher


def _zero_d_promotion(op: Primitive, out: Any, args: tuple, edges: tuple | None,
                      params: dict | None) -> tuple[Any, tuple, tuple | None]:
    """`out` (an array) in PyTorch's dtype when a 0-d operand (a numpy scalar) took part: numpy made it `out.dtype`,
    which may be wider than the dimensioned operands' (see _CATEGORY). The result is then computed again with the
    0-d operands cast to PyTorch's dtype, as PyTorch computes; each cast operand that requires grad gets a cast
    node (astype) in front of it, whose VJP casts its gradient back to the operand's own dtype, as PyTorch's
    engine does. The rare path: _result comes here only for an array result next to a numpy scalar operand."""
    if op.name in _NOT_ELEMENTWISE or not op.broadcasts:
        return out, args, edges
    dims, zeros, wrapped = _dtype_groups(args)
    if dims is None or zeros is None:
        return out, args, edges
    target = _combine(dims, _combine(zeros, wrapped))
    if target == out.dtype:
        return out, args, edges
    cast = list(args)
    new_edges = None if edges is None else list(edges)
    for i, a in enumerate(args):
        if (a.__class__ is not _ndarray or not a.ndim) and isinstance(a, (_ndarray, _generic)) \
                and a.dtype != target and a.dtype.kind != "b":
            cast[i] = target.type(a)
            if new_edges is not None and new_edges[i] is not None:
                from .ops import astype  # (ops imports core)
                new_edges[i] = new_node(astype, (new_edges[i],), (a,), None, {"dtype": target}, False)
    cast = tuple(cast)
    out = op.forward(*cast, **(params or {}))
    if out.dtype != target:  # an integer vector with a float32 0-d, say: numpy widens the integers to float64
        out = out.astype(target)  # (and the node gets them in `target`, so that the VJPs, g * y, stay in it)
        if target.kind in "fc":
            cast = tuple(a.astype(target) if getattr(a, "dtype", None) is not None and a.dtype.kind in "biu" else a
                         for a in cast)
    return out, cast, None if new_edges is None else tuple(new_edges)


def pytorch_result_dtype(*operands: Any) -> np.dtype:
    """The dtype PyTorch gives an elementwise operation of `operands` (tensors, arrays, Python numbers; None is
    skipped), by the rule of _CATEGORY: for functions made of several primitives (clamp with tensor bounds)."""
    dims, zeros, wrapped = _dtype_groups(operands)
    return _combine(dims, _combine(zeros, wrapped))


def _dtype_groups(operands: Any) -> tuple[np.dtype | None, np.dtype | None, np.dtype | None]:
    """The promoted dtypes of the dimensioned operands, of the 0-d ones (0-d arrays, numpy scalars) and of the
    Python numbers (PyTorch's types for them, _WRAPPED) among `operands`, each None where there is none."""
    groups: list = [None, None, None]
    for a in operands:
        kind = a.__class__
        if kind in _WRAPPED:
            group, dtype = 2, _WRAPPED[kind]
        elif a is None:
            continue
        else:
            if isinstance(a, Tensor):
                a = a._data
            elif not isinstance(a, (_ndarray, _generic)):
                a = np.asarray(a)
            group, dtype = (0 if a.__class__ is _ndarray and a.ndim else 1), a.dtype
        groups[group] = dtype if groups[group] is None else _promote(groups[group], dtype)
    return groups[0], groups[1], groups[2]


_WRAPPED = {bool: np.dtype(np.bool_), int: np.dtype(np.int64), float: np.dtype(np.float32),
            complex: np.dtype(np.complex64)}


def _let_go(args: tuple) -> tuple:
    """`args` with every large array replaced by an Unkept, its shape and dtype (see Primitive)."""
    kept = []
    for a in args:
        if a.__class__ is np.ndarray and a.nbytes >= DROP_INPUTS_FROM:
            unkept = _new(Unkept)
            unkept.shape, unkept.dtype = a.shape, a.dtype
            a = unkept
        kept.append(a)
    return tuple(kept)


def as_constant(value: Any) -> Any:
    """A non-tensor operand as numpy sees it. Python numbers stay Python numbers, so they adopt the tensor's
    dtype (float32 * 2.5 stays float32); numpy scalars become Python numbers for the same reason; sequences
    follow `autograd.tensor`'s rule that Python floats mean float32."""
    kind = value.__class__
    if kind is float or kind is int:  # the common case, checked exactly (np.float64 subclasses float)
        return value
    if isinstance(value, np.generic):  # first: np.float64 is also a Python float
        return value.item()
    if isinstance(value, (int, float, bool, np.ndarray)):
        return value
    if value is None:
        return value
    return to_array(value, caller="an operand")


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def to_array(data: Any, dtype: Any = None, caller: str = "tensor") -> Any:
    """numpy data for a new tensor: Python floats become float32 (PyTorch's default), ints int64. Data that is
    not numbers (strings, None, objects) and integers outside int64 (or outside `dtype`) are refused at once,
    naming what is wrong, as PyTorch does: they would otherwise fail far away, or turn into floats."""
    if data.__class__ is float and dtype is None:  # the commonest case first: a Python float is float32
        return _float32(data)
    if isinstance(data, Tensor):
        data = data._data
    if isinstance(data, (np.ndarray, np.generic)):
        if data.dtype.kind not in "biufc":
            check_numeric_dtype(caller, data.dtype)
        arr = np.array(data, dtype=None if dtype is None else np.dtype(dtype))
        return as_stored(arr)
    if isinstance(data, (str, bytes)) or data is None:
        raise TypeError(f"{caller}: cannot build a tensor from {data!r:.60} (of type {type(data).__name__})")
    try:
        arr = np.array(data, dtype=None if dtype is None else np.dtype(dtype))
    except OverflowError as err:  # a Python int (or float) outside the range of `dtype`
        raise OverflowError(f"{caller}: a value is out of range for {np.dtype(dtype)} "
                            f"({_integer_range(np.dtype(dtype))}): {err}") from None
    except (TypeError, ValueError) as err:
        _check_numbers(caller, data)
        raise type(err)(f"{caller}: {err}") from None
    if dtype is None:
        kind = arr.dtype.kind
        if kind == "f":
            if arr.dtype == np.float64:
                first = data  # [2**63, -1] is float64 to numpy; data that starts with a float is floats
                while first.__class__ is list or first.__class__ is tuple:
                    first = first[0] if first else 0.0
                if first.__class__ is not float:
                    _check_python_ints(caller, data)
                arr = arr.astype(np.float32)
        elif kind == "i":
            arr = arr.astype(np.int64)
        elif kind == "u":  # numpy's type for Python ints from 2**63 up
            _check_python_ints(caller, data)
        elif kind == "O":  # ints beyond 64 bits, or objects
            _check_numbers(caller, data)
            _check_python_ints(caller, data)
            arr = np.array(data, dtype=np.float64).astype(np.float32)  # floats and ints beyond int64 (PyTorch)
        elif kind not in "bc":
            _check_numbers(caller, data)  # strings
            check_numeric_dtype(caller, arr.dtype)
    return as_stored(arr)


def check_numeric_dtype(caller: str, dtype: np.dtype) -> None:
    """Refuse arrays of things that are not numbers (objects, strings, dates), naming the dtype."""
    if dtype.kind not in "biufc":
        what = {"O": "Python objects", "U": "strings", "S": "bytes", "V": "structured records",
                "M": "dates", "m": "time deltas"}.get(dtype.kind, "non-numbers")
        raise TypeError(f"{caller}: cannot build a tensor from an array of {what} (dtype {dtype}); only "
                        "boolean, integer, floating-point and complex arrays can")


def _integer_range(dtype: np.dtype) -> str:
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return f"{info.min} to {info.max}"
    return str(dtype)


def _flat(data: Any) -> Iterator[Any]:
    """The leaves of nested lists/tuples, iteratively."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(reversed(item))
        else:
            yield item


def _check_numbers(caller: str, data: Any) -> None:
    """Refuse data (nested lists) holding anything but numbers, naming the first such thing and its type."""
    for v in _flat(data):
        if not isinstance(v, (int, float, complex, np.number, np.bool_)) and not (
                isinstance(v, (np.ndarray, Tensor)) and v.dtype.kind in "biufc"):
            raise TypeError(f"{caller}: cannot build a tensor from data holding {v!r:.60} (of type "
                            f"{type(v).__name__}); only numbers and booleans, or nested lists of them, can be")


def _check_python_ints(caller: str, data: Any) -> None:
    """Refuse Python ints outside int64 in data of integers, as PyTorch does (numpy would make them uint64,
    float64 or objects); with a float among them the data is floats, and large ints are fine."""
    too_large = None
    for v in _flat(data):
        if isinstance(v, (float, np.floating)):
            return
        if too_large is None and isinstance(v, int) and not _INT64_MIN <= v <= _INT64_MAX:
            too_large = v
    if too_large is not None:
        raise OverflowError(f"{caller}: the integer {too_large} does not fit in int64 (the range is {_INT64_MIN} "
                            f"to {_INT64_MAX}); pass dtype=float32 (or float64) to store it as a float, or "
                            "dtype=uint64 for values up to 2**64 - 1")


def _op_error(op: Primitive, datas: list, params: dict, err: Exception) -> Exception:
    explained = op.explain(datas, params, err) if op.explain is not None else None
    if explained:
        return OpError(explained)
    shapes = " and ".join(str(np.shape(d)) for d in datas if not np.isscalar(d) or isinstance(d, np.generic))
    detail = str(err)
    if "broadcast" in detail:
        return OpError(f"{op.name}: shapes {shapes} cannot be broadcast together "
                          "(dimensions must be equal, or 1, aligned from the right)")
    if isinstance(err, TypeError) and "keyword" in detail:
        # numpy's or Python's message names numpy's function (`_operator.mul() takes no keyword arguments`)
        return TypeError(f"{op.name}() got an unexpected keyword argument: {', '.join(map(repr, params))} "
                         f"(it takes {_keywords(op)})")
    extra = ", ".join(f"{k}={v!r}" for k, v in params.items() if k != "index")
    return as_op_error(err)(f"{op.name}: {detail} (input shapes {shapes}{'; ' + extra if extra else ''})")


def _keywords(op: Primitive) -> str:
    """The keywords a primitive's forward takes, for an error message."""
    import inspect

    if isinstance(op.forward, np.ufunc):  # (numpy's own keywords, like casting=, are not ours to offer)
        return "no keyword arguments"
    try:
        names = [p.name for p in inspect.signature(op.forward).parameters.values()
                 if p.kind is p.KEYWORD_ONLY or (p.kind is p.POSITIONAL_OR_KEYWORD and p.default is not p.empty)]
    except (TypeError, ValueError):  # a builtin without a signature, such as operator.mul
        names = []
    return "no keyword arguments" if not names else "the keywords " + ", ".join(names)


def _check_forward(op: Primitive, datas: Sequence, out: Any) -> None:
    """Anomaly mode: fail if this op produced a NaN or inf that none of its inputs had."""
    if not isinstance(out, (np.ndarray, np.floating)) or out.dtype.kind != "f" or np.isfinite(out).all():
        return
    def bad(a: Any, test: Callable) -> bool:
        return isinstance(a, (np.ndarray, np.floating, float)) and bool(np.any(test(a)))
    for kind, test in (("nan", np.isnan), ("inf", np.isinf)):
        if bad(out, test) and not any(bad(d, test) for d in datas):
            from .anomaly import AnomalyError
            raise AnomalyError(f"detect_anomaly: '{op.name}' produced {kind} in its forward output at "
                               f"{format_location(user_location())} (input shapes "
                               f"{', '.join(str(np.shape(d)) for d in datas)})")


class _WritesBack(np.ndarray):
    """`Tensor.data` of a 0-d tensor: a 0-d array holding the tensor's value, whose writes set that value.

    Why: a 0-d tensor stores a numpy scalar (kernels.as_stored: 0-d arrays would make every scalar operation ten
    times dearer, +16% on W1's 0-d instructions if only the leaves held one), and a scalar cannot be written to.
    Yet `p.data[...] = v`, `p.data *= 0.5`, `np.copyto(p.data, v)` (user code, nn.init, the optimizers, on a
    0-d nn.Parameter) must change p, and reading `.data` must not change what p stores (it used to replace
    the scalar by an array). So `.data` hands out this copy of the value, which after every write numpy makes
    through it stores the new value back into the tensor, a scalar again: item assignment, in-place operators
    and ufuncs with out=, numpy functions that write an argument (copyto, clip(out=), put, ...), fill, and the
    same through its views (v[...], v.reshape(1)). A write is a rebinding of the tensor's value, as for any
    in-place change of a 0-d tensor (Tensor._inplace): values a graph saved are not affected.

    It is a snapshot: it does not follow later changes of the tensor (read `.data` again), and a plain array
    made from it (np.asarray) or a copy of it does not write back. If the tensor has been given data of another
    shape or dtype since (t.data = ...), writes no longer reach it.
    """

    __slots__ = ("_owner", "_value")  # the tensor written back to; the base 0-d array holding the value

    @classmethod
    def of(cls, tensor: Tensor) -> _WritesBack:
        value = np.array(tensor._data)
        view = value.view(cls)
        view._owner, view._value = tensor, value
        return view

    def __array_finalize__(self, obj: Any) -> None:
        # views of it (v[...], v.reshape(1), v.view(dtype)) share the value and write back; copies do not
        shared = isinstance(obj, _WritesBack) and obj._owner is not None and np.may_share_memory(self, obj)
        self._owner = obj._owner if shared else None
        self._value = obj._value if shared else None

    def __repr__(self) -> str:  # shown as what it is to the user, a numpy array
        return repr(self.view(np.ndarray))

    def _store_value(self) -> None:
        tensor = self._owner
        if tensor is not None:
            stored = tensor._data
            if not isinstance(stored, np.ndarray) and stored.dtype == self._value.dtype:  # still its 0-d value
                tensor._data = as_stored(self._value)

    def __setitem__(self, index: Any, value: Any) -> None:
        super().__setitem__(index, value)
        self._store_value()

    def fill(self, value: Any) -> None:
        super().fill(value)
        self._store_value()

    def put(self, *args: Any, **kwargs: Any) -> None:
        super().put(*args, **kwargs)
        self._store_value()

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = tuple(_plain_array(o) for o in out)
        result = getattr(ufunc, method)(*(_plain_array(a) for a in inputs), **kwargs)
        for written in out or ((inputs[0],) if method == "at" else ()):
            if isinstance(written, _WritesBack):
                written._store_value()
        if out is not None:  # numpy gives the out arrays back (`v *= 2` rebinds v to it): ours, not the plain
            return out[0] if len(out) == 1 else out
        return result  # computed on plain arrays: a plain result (a scalar for 0-d)

    def __array_function__(self, func: Callable, types: tuple, args: tuple, kwargs: dict) -> Any:
        # which argument a numpy function writes is the function's business (copyto, put, clip(out=) ...): write
        # back the ones whose value changed
        ours = [a for a in (*args, *kwargs.values()) if isinstance(a, _WritesBack)]
        before = [a.tobytes() for a in ours]
        plain = {id(a): a.view(np.ndarray) for a in ours}
        result = super().__array_function__(func, types, tuple(plain.get(id(a), a) for a in args),
                                            {k: plain.get(id(v), v) for k, v in kwargs.items()})
        for a, was in zip(ours, before):
            if a.tobytes() != was:
                a._store_value()
        for a in ours:
            if result is plain[id(a)]:  # np.clip(v, lo, hi, out=v) returns v
                return a
        return result


def _plain_array(value: Any) -> Any:
    return value.view(np.ndarray) if isinstance(value, _WritesBack) else value


# ---------------------------------------------------------------------------------------------------------------
# Tensor
# ---------------------------------------------------------------------------------------------------------------
class Tensor:
    """An n-dimensional array that records the operations applied to it, for reverse-mode differentiation.

    >>> x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([2., 4., 6.])
    """

    __slots__ = ("_data", "grad_fn", "_requires_grad", "grad", "_hooks", "_label", "_post_accumulate_hooks",
                 "__weakref__")
    __array_priority__ = 1000

    def __init__(self, data: TensorLike, dtype: Any = None, requires_grad: bool = False,
                 label: str | None = None) -> None:
        self._data = to_array(data, dtype)
        self.grad_fn: Node | None = None
        self._requires_grad = False
        self.grad: Tensor | None = None
        self._hooks: list | None = None
        self._label = label
        if label is not None:
            labelled_leaves[id(self)] = self
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, data: Any, grad_fn: Node | None = None) -> Tensor:
        """A tensor around existing numpy data, without copying (internal)."""
        t = _new(cls)
        t._data = data
        t.grad_fn = grad_fn
        t._requires_grad = grad_fn is not None
        t.grad = None
        return t

    # --- attributes -------------------------------------------------------------------------------------------
    @property
    def data(self) -> np.ndarray:
        """The underlying numpy array (shared, not copied; writes to it are not tracked by the graph).

        A 0-d tensor stores a numpy scalar (kernels.as_stored), which cannot be shared: its `.data` is a new
        0-d array of the value that writes back, so that `t.data[...] = v`, `t.data *= 0.5` and
        `np.copyto(t.data, v)` change `t` as on larger tensors (see `_WritesBack`), leaf or not. Reading it
        changes nothing in `t`.
        """
        d = self._data
        if isinstance(d, np.ndarray):
            return d
        return _WritesBack.of(self)

    @data.setter
    def data(self, value: Any) -> None:
        self._data = value._data if isinstance(value, Tensor) else to_array(value)

    @property
    def label(self) -> str | None:
        """A name for drawings (autograd.viz); a non-leaf's label is kept on its graph node."""
        return getattr(self, "_label", None)  # unset on tensors made by operations (see _result)

    @label.setter
    def label(self, value: str | None) -> None:
        self._label = value
        if self.grad_fn is not None:
            self.grad_fn.label = value
        elif value is not None:
            labelled_leaves[id(self)] = self

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def device(self) -> Any:
        """`device(type='cpu')`: every tensor lives in a numpy array in main memory (see autograd.device)."""
        return _CPU

    @property
    def is_cuda(self) -> bool:
        return False

    @property
    def is_cpu(self) -> bool:
        return True

    @property
    def T(self) -> Tensor:
        return _F.permute(self, tuple(range(self.ndim - 1, -1, -1)))

    def size(self, dim: int | None = None, *, axis: int | None = None) -> Any:
        dim = dim if axis is None else axis
        if dim is None:
            return self._data.shape
        return self._data.shape[_F.normalize_dim(dim, self.ndim, "size")]

    def dim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return int(self._data.size)

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def numpy(self) -> np.ndarray:
        """The data as a numpy array (shared with the tensor, not copied): `.data`, see there for 0-d."""
        return self.data

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """numpy's protocol (np.asarray(t), np.array(t)): the tensor's own array, shared, unless a copy is asked
        for (copy=True) or needed: another dtype, or a 0-d tensor, which stores a numpy scalar
        (kernels.as_stored) that no array can share. copy=False forbids the copy: numpy 2 then requires a
        ValueError, not a silent copy whose writes would not reach the tensor."""
        d = self._data
        converts = dtype is not None and d.dtype != dtype
        if copy is False and (converts or not isinstance(d, np.ndarray)):
            why = (f"its {d.dtype} data to {np.dtype(dtype)}" if converts
                   else "a 0-d tensor's value (a numpy scalar, not an array: read t.data to write to it)")
            raise ValueError(f"Tensor.__array__: copy=False, but converting {why} needs a copy")
        if converts:
            return as_ndarray(d).astype(dtype)
        if not isinstance(d, np.ndarray):
            return np.array(d)
        return d.copy() if copy else d

    def item(self) -> Any:
        if self._data.size != 1:
            raise OpError(f"item: only one-element tensors can be converted to Python scalars, "
                          f"this one has shape {self.shape}")
        return self._data.item() if self._data.ndim == 0 else self._data.reshape(()).item()

    def tolist(self) -> Any:
        return self._data.tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.kind not in "iub":
            raise TypeError(f"only integer tensors can be used as an index, not {self.dtype}")
        return int(self.item())

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise OpError(f"bool: the truth value of a tensor with {self._data.size} elements (shape {self.shape}) "
                          "is ambiguous; use .any() or .all()")
        return bool(self.item())

    def __format__(self, spec: str) -> str:
        if self._data.ndim == 0 and spec:
            return format(self._data.item(), spec)
        return format(repr(self), spec)

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        body = np.array2string(as_ndarray(self._data), separator=", ", prefix="tensor(",
                               precision=4, suppress_small=True, threshold=200, edgeitems=3)
        extras = []
        if self.dtype not in (np.float32, np.int64, np.bool_):
            extras.append(f"dtype={self.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name()}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    # --- autograd ---------------------------------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        """Whether gradients are computed for this tensor. Setting it checks what `requires_grad_()` checks."""
        return self._requires_grad  # (internal code on the hot path reads the slot itself)

    @requires_grad.setter
    def requires_grad(self, requires_grad: bool) -> None:
        self.requires_grad_(requires_grad)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Make this leaf require gradients (or not). Only floating-point tensors can: an integer tensor's
        gradient would be truncated, and complex autograd is not supported."""
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("requires_grad_: a non-leaf tensor always requires grad; use .detach() to get a "
                               "tensor outside the graph")
        if requires_grad:
            kind = self.dtype.kind
            if kind == "c":
                raise TypeError(f"complex autograd is not supported: a tensor of dtype {self.dtype} cannot require "
                                "gradients (PyTorch's complex gradients follow a conjugate convention this "
                                "library does not implement). Work with the real and imaginary parts as two real "
                                "tensors")
            if kind != "f":
                raise TypeError(f"only floating-point tensors can require gradients; this tensor has dtype "
                                f"{self.dtype}. Convert it first, e.g. t.float() or tensor(data, dtype=float32)")
        self._requires_grad = bool(requires_grad)
        return self

    def backward(self, gradient: TensorLike | None = None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs: Sequence[Tensor] | None = None) -> None:
        """Accumulate d(self)/d(leaf) into `leaf.grad` for every leaf that requires grad.

        A non-scalar tensor needs `gradient`, the vector of the vector-Jacobian product (same shape as self).
        The graph's saved values are freed afterwards unless `retain_graph=True`; `create_graph=True` records
        the backward pass so that the gradients can be differentiated again.
        """
        _engine.backward([self], None if gradient is None else [gradient], retain_graph, create_graph, inputs)

    def detach(self) -> Tensor:
        """The same data (shared) as a new leaf that does not require grad."""
        return Tensor._wrap(self._data)

    def detach_(self) -> Tensor:
        self.grad_fn = None
        self._requires_grad = False
        return self

    def retain_grad(self) -> None:
        """Keep `.grad` for this non-leaf tensor after backward (leaves always keep it)."""
        if self.grad_fn is None:
            if not self.requires_grad:
                raise RuntimeError("retain_grad: this tensor does not require grad")
            return
        hooks = self.grad_fn.hooks
        if hooks is None:
            hooks = self.grad_fn.hooks = []
        if not any(isinstance(h, _RetainGrad) and h.ref() is self for h in hooks):
            hooks.append(_RetainGrad(self))

    @property
    def retains_grad(self) -> bool:
        hooks = self.grad_fn.hooks if self.grad_fn is not None else None
        return bool(hooks) and any(isinstance(h, _RetainGrad) and h.ref() is self for h in hooks)

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> _HookHandle:
        """Call `hook(grad)` when the gradient of this tensor is computed; a returned tensor replaces it."""
        global _leaf_hooks_registered
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that does not require grad")
        if self.grad_fn is None:
            hooks = getattr(self, "_hooks", None)
            if hooks is None:
                hooks = self._hooks = []
            _leaf_hooks_registered = True
        else:
            if self.grad_fn.hooks is None:
                self.grad_fn.hooks = []
            hooks = self.grad_fn.hooks
        hooks.insert(sum(not isinstance(h, _RetainGrad) for h in hooks), hook)
        return _HookHandle(hooks, hook)

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], None]) -> _HookHandle:
        """Call `hook(self)` each time backward() has accumulated a gradient into this leaf's `.grad` (PyTorch's
        name). The hook sees the finished `.grad` and returns nothing; it is where per-parameter work after
        backward starts (DistributedDataParallel averages gradients across processes from there). Hooks run
        in the order they were registered; `autograd.grad()` does not call them (it accumulates nothing)."""
        global _post_accumulate_hooks_registered
        if not self.requires_grad:
            raise RuntimeError("register_post_accumulate_grad_hook: cannot register a hook on a tensor that "
                               "does not require grad")
        if self.grad_fn is not None:
            raise RuntimeError("register_post_accumulate_grad_hook: only leaf tensors accumulate into .grad, "
                               "this one was computed by an operation; use register_hook to see its gradient")
        hooks = getattr(self, "_post_accumulate_hooks", None)  # unset slot (tensors made by ops): None
        if hooks is None:
            hooks = self._post_accumulate_hooks = []
        hooks.append(hook)
        _post_accumulate_hooks_registered = True
        return _HookHandle(hooks, hook)

    # --- in-place operations ----------------------------------------------------------------------------------
    def _inplace(self, op_name: str, compute: Callable[[Tensor], Tensor | None],
                 write: Callable[[np.ndarray], None]) -> Tensor:
        """Apply an in-place update. Outside the graph the array is written in place (views see it, and the
        write is remembered so a backward that saved this array fails loudly). Inside the graph the result is
        computed out of place and this tensor object takes it over, so saved values stay intact."""
        recording = is_grad_enabled()
        if recording and self.requires_grad and self.grad_fn is None:
            raise RuntimeError(f"{op_name}: a leaf tensor that requires grad (shape {self.shape}) cannot be "
                               "modified in place, because its gradient is being recorded; do it under "
                               "autograd.no_grad(), or on a copy (t.clone())")
        result = compute(self) if recording else None  # None: nothing here requires grad
        if result is not None:
            if result.shape != self.shape:  # a broadcast that grew the result: refused, as the write below is
                raise OpError(f"{op_name}: the result of shape {result.shape} does not fit the tensor's shape "
                              f"{self.shape} (in-place results keep the tensor's shape)")
            if result.dtype != self.dtype:
                result = result.astype(self.dtype)
            self._data, self.grad_fn, self._requires_grad = result._data, result.grad_fn, result._requires_grad
            return self
        data = self._data
        if data.__class__ is np.ndarray and data.ndim > 0:
            if not data.flags.writeable:
                raise RuntimeError(f"{op_name}: this tensor's data is a read-only view (from expand or "
                                   "broadcasting); clone() it before writing to it")
            write(data)
            record_write(data, op_name)
        else:  # 0-d: numpy scalars are immutable, so rebind (no saved value can be affected)
            arr = np.array(data)
            write(arr)
            self._data = as_stored(arr)
        return self

    def _arith_inplace(self, op_name: str, fn: Callable, ufunc: np.ufunc, other: Any) -> Tensor:
        other_data = other._data if isinstance(other, Tensor) else as_constant(other)

        def compute(t: Tensor) -> Tensor | None:
            if t.requires_grad or (isinstance(other, Tensor) and other.requires_grad):
                result = fn(t, other)
                if result.shape != t.shape:  # (3,) += (2, 3) broadcasts out of place: refused as the write is
                    raise ValueError("non-broadcastable")
                return result
            return None

        def write(arr: np.ndarray) -> None:
            ufunc(arr, other_data, out=arr, casting="same_kind")

        try:
            return self._inplace(op_name, compute, write)
        except (ValueError, TypeError) as err:
            if "broadcast" in str(err) or "non-broadcastable" in str(err):
                # OpError: a ValueError and PyTorch's RuntimeError, as every shape error of an operation
                raise OpError(f"{op_name}: the value of shape {np.shape(other_data)} cannot be broadcast to "
                              f"the tensor's shape {self.shape} (in-place results keep the tensor's shape)"
                              ) from None
            raise

    def __iadd__(self, other: Any) -> Tensor:
        return self._arith_inplace("add_ (+=)", _ops.add, np.add, other)

    def __isub__(self, other: Any) -> Tensor:
        return self._arith_inplace("sub_ (-=)", _ops.sub, np.subtract, other)

    def __imul__(self, other: Any) -> Tensor:
        return self._arith_inplace("mul_ (*=)", _ops.mul, np.multiply, other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self._arith_inplace("div_ (/=)", _ops.div, np.true_divide, other)

    def __ifloordiv__(self, other: Any) -> Tensor:
        return self._arith_inplace("floor_divide_ (//=)", _ops.floor_divide, np.floor_divide, other)

    def __imod__(self, other: Any) -> Tensor:
        return self._arith_inplace("remainder_ (%=)", _ops.remainder, np.remainder, other)

    def add_(self, other: Any, alpha: float = 1) -> Tensor:
        return self.__iadd__(other if alpha == 1 else other * alpha)

    def sub_(self, other: Any, alpha: float = 1) -> Tensor:
        return self.__isub__(other if alpha == 1 else other * alpha)

    def mul_(self, other: Any) -> Tensor:
        return self.__imul__(other)

    def div_(self, other: Any) -> Tensor:
        return self.__itruediv__(other)

    def copy_(self, src: TensorLike) -> Tensor:
        """Copy `src` (broadcast to this shape, cast to this dtype) into this tensor."""
        src_data = src._data if isinstance(src, Tensor) else as_constant(src)
        try:  # (numpy's own ValueError where the shapes do not broadcast at all, (4,) into (3,))
            fits = np.broadcast_shapes(np.shape(src_data), self.shape) == self.shape
        except ValueError:
            fits = False
        if not fits:  # OpError: a ValueError, and PyTorch's RuntimeError, as every shape error of an operation
            raise OpError(f"copy_: source of shape {np.shape(src_data)} cannot be broadcast to the "
                          f"tensor's shape {self.shape}")

        def compute(t: Tensor) -> Tensor | None:
            if isinstance(src, Tensor) and src.requires_grad:
                return _F.broadcast_to(src.astype(t.dtype), t.shape) + 0  # +0: a fresh, writable result
            if t.requires_grad:  # a graph tensor overwritten by a constant leaves the graph
                return Tensor._wrap(as_stored(np.array(np.broadcast_to(np.asarray(src_data, t.dtype), t.shape))))
            return None

        def write(arr: np.ndarray) -> None:
            arr[...] = src_data

        return self._inplace("copy_", compute, write)

    def fill_(self, value: Any) -> Tensor:
        return self.copy_(value)

    def zero_(self) -> Tensor:
        return self.copy_(0)

    # in-place random fills (random.py has the distributions and the checks): outside the graph; refused on a
    # leaf that requires grad unless under no_grad (as nn.init runs them)
    def uniform_(self, from_: float = 0.0, to: float = 1.0, *, generator: Any = None) -> Tensor:
        """Fill with samples from U[from_, to)."""
        return _random.uniform_(self, from_, to, generator=generator)

    def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator: Any = None) -> Tensor:
        """Fill with samples from N(mean, std^2)."""
        return _random.normal_(self, mean, std, generator=generator)

    def bernoulli_(self, p: Any = 0.5, *, generator: Any = None) -> Tensor:
        """Fill with 1 with probability p (a number, or a tensor broadcastable to this shape), else 0."""
        return _random.bernoulli_(self, p, generator=generator)

    def exponential_(self, lambd: float = 1.0, *, generator: Any = None) -> Tensor:
        """Fill with samples of density lambd * exp(-lambd * x)."""
        return _random.exponential_(self, lambd, generator=generator)

    def geometric_(self, p: float, *, generator: Any = None) -> Tensor:
        """Fill with the number of Bernoulli(p) trials up to the first success (1, 2, ...)."""
        return _random.geometric_(self, p, generator=generator)

    def log_normal_(self, mean: float = 1.0, std: float = 2.0, *, generator: Any = None) -> Tensor:
        """Fill with exp(X), X ~ N(mean, std^2)."""
        return _random.log_normal_(self, mean, std, generator=generator)

    def cauchy_(self, median: float = 0.0, sigma: float = 1.0, *, generator: Any = None) -> Tensor:
        """Fill with samples from the Cauchy distribution centred at median with scale sigma."""
        return _random.cauchy_(self, median, sigma, generator=generator)

    def random_(self, *bounds: int | None, to: int | None = None, generator: Any = None) -> Tensor:
        """Fill with integers: random_(from, to) from [from, to), random_(to) from [0, to), random_() from
        [0, 2^mantissa] for floats, [0, max] for integers."""
        return _random.random_(self, *bounds, to=to, generator=generator)

    def multinomial(self, num_samples: int, replacement: bool = False, *, generator: Any = None) -> Tensor:
        """Category indices drawn from this tensor's rows of weights (autograd.multinomial)."""
        return _random.multinomial(self, num_samples, replacement, generator=generator)

    def bernoulli(self, p: float | None = None, *, generator: Any = None) -> Tensor:
        """0/1 samples, 1 with probability self[i] (autograd.bernoulli)."""
        return _random.bernoulli(self, p, generator=generator)

    def __setitem__(self, index: Any, value: Any) -> None:
        idx = _F.normalize_index(index)
        value_data = value._data if isinstance(value, Tensor) else as_constant(value)

        def compute(t: Tensor) -> Tensor | None:
            if t.requires_grad or (isinstance(value, Tensor) and value.requires_grad):
                return _F.index_put(t, value, idx)
            return None

        steps = _F.integers_first(idx)

        def write(arr: np.ndarray) -> None:
            if steps is None:
                arr[idx] = value_data
            else:  # PyTorch's rule (operations.integers_first): arr[steps[0]] is a view, written through
                arr[steps[0]][steps[1]] = value_data

        try:
            self._inplace("__setitem__", compute, write)
        except ValueError as err:
            if isinstance(err, OpError) or "broadcast" not in str(err):
                raise
            # numpy's "could not broadcast input array from shape (3,) into shape (2,)", as an OpError (PyTorch:
            # a RuntimeError), naming the op
            raise OpError(f"__setitem__: {err}") from None

    # --- operations as methods (see operations.py for what each does) ------------------------------------------
    # How a method delegates, one way for each kind:
    # - a primitive's method is made by its registration (`method=True` in ops.py: exp, tanh, add, ...), and the
    #   operator of such a primitive is that very method (`__add__` is `add`: see the end of this module);
    # - a composite operation's method is a one-line call of its function in operations.py, with the same
    #   arguments in the same order;
    # - an alias (PyTorch's or numpy's second name) or a named form of an operator is the same function object
    #   (`clip = clamp`, `eq = __eq__`);
    # - the rest are written out, each for the reason given where it is (reflected operators swap the operands,
    #   contiguous() may return self, the `_as` forms take another tensor's shape, ...).
    def div(self, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        return _F.div(self, other, rounding_mode=rounding_mode)

    divide = div

    def rsqrt(self) -> Tensor:
        return _F.rsqrt(self)

    def square(self) -> Tensor:
        return _F.square(self)

    def reciprocal(self) -> Tensor:
        return _F.reciprocal(self)

    def floor(self) -> Tensor:
        return _F.floor(self)

    def ceil(self) -> Tensor:
        return _F.ceil(self)

    def trunc(self) -> Tensor:
        return _F.trunc(self)

    fix = trunc

    def round(self, *, decimals: int = 0) -> Tensor:
        return _F.round(self, decimals=decimals)

    def nan_to_num(self, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None) -> Tensor:
        return _F.nan_to_num(self, nan, posinf, neginf)

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:
        return _F.clamp(self, min, max)

    clip = clamp

    def where(self, condition: Any, other: Any) -> Tensor:
        """self where condition holds, else other (PyTorch's Tensor.where)."""
        return _F.where(condition, self, other)

    def masked_fill(self, mask: Any, value: Any) -> Tensor:
        return _F.masked_fill(self, mask, value)

    def sum(self, dim: Any = None, keepdim: bool = False, **kwargs: Any) -> Tensor:
        return _F.sum(self, dim, keepdim, **kwargs)

    def mean(self, dim: Any = None, keepdim: bool = False, **kwargs: Any) -> Tensor:
        return _F.mean(self, dim, keepdim, **kwargs)

    def var(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, **kwargs: Any) -> Tensor:
        return _F.var(self, dim, unbiased, keepdim, **kwargs)

    def std(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, **kwargs: Any) -> Tensor:
        return _F.std(self, dim, unbiased, keepdim, **kwargs)

    def amax(self, dim: Any = None, keepdim: bool = False, **aliases: Any) -> Tensor:
        return _F.amax(self, dim, keepdim, **aliases)

    def amin(self, dim: Any = None, keepdim: bool = False, **aliases: Any) -> Tensor:
        return _F.amin(self, dim, keepdim, **aliases)

    def max(self, dim: Any = None, keepdim: bool = False, **aliases: Any) -> Any:
        return _F.max(self, dim, keepdim, **aliases)

    def min(self, dim: Any = None, keepdim: bool = False, **aliases: Any) -> Any:
        return _F.min(self, dim, keepdim, **aliases)

    def argmax(self, dim: int | None = None, keepdim: bool = False, **aliases: Any) -> Tensor:
        return _F.argmax(self, dim, keepdim, **aliases)

    def argmin(self, dim: int | None = None, keepdim: bool = False, **aliases: Any) -> Tensor:
        return _F.argmin(self, dim, keepdim, **aliases)

    def prod(self, dim: Any = None, keepdim: bool = False, **aliases: Any) -> Tensor:
        return _F.prod(self, dim, keepdim, **aliases)

    def logsumexp(self, dim: Any = None, keepdim: bool = False, **aliases: Any) -> Tensor:
        return _F.logsumexp(self, dim, keepdim, **aliases)

    def softmax(self, dim: int = -1, *, axis: int | None = None) -> Tensor:
        return _F.softmax(self, dim, axis=axis)

    def log_softmax(self, dim: int = -1, *, axis: int | None = None) -> Tensor:
        return _F.log_softmax(self, dim, axis=axis)

    def norm(self, p: Any = 2, dim: Any = None, keepdim: bool = False) -> Tensor:
        return _F.norm(self, p, dim, keepdim)

    def all(self, dim: int | None = None, keepdim: bool = False, **aliases: Any) -> Tensor:
        return _F.all(self, dim, keepdim, **aliases)

    def any(self, dim: int | None = None, keepdim: bool = False, **aliases: Any) -> Tensor:
        return _F.any(self, dim, keepdim, **aliases)

    def isnan(self) -> Tensor:
        return _F.isnan(self)

    def isinf(self) -> Tensor:
        return _F.isinf(self)

    def isfinite(self) -> Tensor:
        return _F.isfinite(self)

    def isclose(self, other: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> Tensor:
        return _F.isclose(self, other, rtol, atol, equal_nan)

    def allclose(self, other: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
        return _F.allclose(self, other, rtol, atol, equal_nan)

    def reshape(self, *shape: Any) -> Tensor:
        return _F.reshape(self, *shape)

    def view(self, *shape: Any) -> Tensor:
        """A reshape (`view(2, -1)`), or the same bytes read as another dtype (`view(autograd.int32)`)."""
        return _F.view(self, *shape)

    def view_as(self, other: Tensor) -> Tensor:  # (another tensor's shape)
        return _F.reshape(self, other.shape)

    reshape_as = view_as

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        return _F.flatten(self, start_dim, end_dim)

    def squeeze(self, dim: Any = None, *, axis: Any = None) -> Tensor:
        return _F.squeeze(self, dim, axis=axis)

    def unsqueeze(self, dim: int | None = None, *, axis: int | None = None) -> Tensor:
        return _F.unsqueeze(self, dim, axis=axis)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        return _F.transpose(self, dim0, dim1)

    def t(self) -> Tensor:
        """The transpose of a matrix (0-d and 1-d tensors unchanged), as PyTorch's `t()`."""
        return _F.t(self)

    swapaxes = swapdims = transpose

    def permute(self, *dims: Any) -> Tensor:
        return _F.permute(self, *dims)

    @property
    def mT(self) -> Tensor:
        return _F.transpose(self, -2, -1)

    def expand(self, *sizes: Any) -> Tensor:
        return _F.expand(self, *sizes)

    def expand_as(self, other: Tensor) -> Tensor:  # (another tensor's shape)
        return _F.broadcast_to(self, other.shape)

    def broadcast_to(self, *shape: Any) -> Tensor:
        return _F.broadcast_to(self, *shape)

    def repeat(self, *repeats: Any) -> Tensor:
        return _F.repeat(self, *repeats)

    def flip(self, *dims: Any) -> Tensor:  # (PyTorch's method takes the dims as separate arguments too)
        return _F.flip(self, _F._shape_arg(dims) if len(dims) != 1 or not isinstance(dims[0], int) else dims[0])

    def split(self, split_size: Any, dim: int = 0) -> tuple[Tensor, ...]:
        return _F.split(self, split_size, dim)

    def chunk(self, chunks: int, dim: int = 0, *, axis: int | None = None) -> tuple[Tensor, ...]:
        return _F.chunk(self, chunks, dim, axis=axis)

    def unbind(self, dim: int = 0, *, axis: int | None = None) -> tuple[Tensor, ...]:
        return _F.unbind(self, dim, axis=axis)

    def gather(self, dim: int | None = None, index: Any = None, *, axis: int | None = None) -> Tensor:
        return _F.gather(self, dim, index, axis=axis)

    def index_add(self, dim: int | None = None, index: Any = None, source: Any = None, *, alpha: Any = 1,
                  axis: int | None = None) -> Tensor:
        return _F.index_add(self, dim, index, source, alpha=alpha, axis=axis)

    # scans, orderings, gather/scatter (issue 15)
    def cumsum(self, dim: int, *, dtype: Any = None) -> Tensor:
        return _F.cumsum(self, dim, dtype=dtype)

    def cumprod(self, dim: int, *, dtype: Any = None) -> Tensor:
        return _F.cumprod(self, dim, dtype=dtype)

    def cummax(self, dim: int) -> Any:
        return _F.cummax(self, dim)

    def cummin(self, dim: int) -> Any:
        return _F.cummin(self, dim)

    def logcumsumexp(self, dim: int) -> Tensor:
        return _F.logcumsumexp(self, dim)

    def sort(self, dim: int = -1, descending: bool = False, *, stable: bool = False) -> Any:
        return _F.sort(self, dim, descending, stable=stable)

    def argsort(self, dim: int = -1, descending: bool = False, *, stable: bool = False) -> Tensor:
        return _F.argsort(self, dim, descending, stable=stable)

    def msort(self) -> Tensor:
        return _F.msort(self)

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:
        return _F.topk(self, k, dim, largest, sorted)

    def kthvalue(self, k: int, dim: int = -1, keepdim: bool = False) -> Any:
        return _F.kthvalue(self, k, dim, keepdim)

    def median(self, dim: int | None = None, keepdim: bool = False) -> Any:
        return _F.median(self, dim, keepdim)

    def quantile(self, q: Any, dim: int | None = None, keepdim: bool = False, *,
                 interpolation: str = "linear") -> Tensor:
        return _F.quantile(self, q, dim, keepdim, interpolation=interpolation)

    def unique(self, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False,
               dim: int | None = None) -> Any:
        return _F.unique(self, sorted, return_inverse, return_counts, dim)

    def masked_select(self, mask: Any) -> Tensor:
        return _F.masked_select(self, mask)

    def nonzero(self, *, as_tuple: bool = False) -> Any:
        return _F.nonzero(self, as_tuple=as_tuple)

    def argwhere(self) -> Tensor:
        return _F.argwhere(self)

    def count_nonzero(self, dim: Any = None) -> Tensor:
        return _F.count_nonzero(self, dim)

    def index_select(self, dim: int, index: Any) -> Tensor:
        return _F.index_select(self, dim, index)

    def scatter(self, dim: int, index: Any, src: Any = None, *, value: Any = None, reduce: str | None = None) -> Tensor:
        return _F.scatter(self, dim, index, src, value=value, reduce=reduce)

    def scatter_add(self, dim: int, index: Any, src: Any) -> Tensor:
        return _F.scatter_add(self, dim, index, src)

    def scatter_reduce(self, dim: int, index: Any, src: Any, reduce: str, *, include_self: bool = True) -> Tensor:
        return _F.scatter_reduce(self, dim, index, src, reduce, include_self=include_self)

    def take_along_dim(self, indices: Any, dim: int | None = None) -> Tensor:
        return _F.take_along_dim(self, indices, dim)

    def dot(self, other: Any) -> Tensor:
        return _F.dot(self, other)

    # --- structure (issue 15) -----------------------------------------------------------------------------------
    def tril(self, diagonal: int = 0) -> Tensor:
        return _F.tril(self, diagonal)

    def triu(self, diagonal: int = 0) -> Tensor:
        return _F.triu(self, diagonal)

    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
        return _F.diagonal(self, offset, dim1, dim2)

    def diag(self, diagonal: int = 0) -> Tensor:
        return _F.diag(self, diagonal)

    def diag_embed(self, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
        return _F.diag_embed(self, offset, dim1, dim2)

    def trace(self) -> Tensor:
        return _F.trace(self)

    def roll(self, shifts: Any, dims: Any = None) -> Tensor:
        return _F.roll(self, shifts, dims)

    def rot90(self, k: int = 1, dims: Any = (0, 1)) -> Tensor:
        return _F.rot90(self, k, dims)

    def repeat_interleave(self, repeats: Any, dim: int | None = None, *, output_size: int | None = None) -> Tensor:
        return _F.repeat_interleave(self, repeats, dim, output_size=output_size)

    def unflatten(self, dim: int, sizes: Any) -> Tensor:
        return _F.unflatten(self, dim, sizes)

    def movedim(self, source: Any, destination: Any) -> Tensor:
        return _F.movedim(self, source, destination)

    moveaxis = movedim

    def narrow(self, dim: int, start: Any, length: int) -> Tensor:
        return _F.narrow(self, dim, start, length)

    def unfold(self, dimension: int, size: int, step: int) -> Tensor:
        """Every slice of `size` elements along `dimension`, `step` apart, as a new last dim (a view)."""
        return _F.unfold_dim(self, dimension, size, step)  # (autograd.unfold is a convolution's windows)

    def tile(self, *dims: Any) -> Tensor:  # (PyTorch's method takes the dims as separate arguments too)
        return _F.tile(self, _F._shape_arg(dims))

    def outer(self, other: Any) -> Tensor:
        return _F.outer(self, other)

    ger = outer

    def kron(self, other: Any) -> Tensor:
        return _F.kron(self, other)

    def cross(self, other: Any, dim: int | None = None) -> Tensor:
        return _F.cross(self, other, dim)

    # --- casting ----------------------------------------------------------------------------------------------
    def astype(self, dtype: Any) -> Tensor:
        return _F.astype(self, dtype)

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """PyTorch's `to`: `to(dtype)`, `to(device)`, `to(device, dtype)`, `to(other)` (other's dtype), and the
        keywords `dtype=`, `device=`, `copy=`, `non_blocking=` (ignored). Returns self when nothing changes,
        as PyTorch does; the device can only be the CPU (anything else raises autograd.DeviceError).

            >>> autograd.ones(2).to("cpu", autograd.float64).dtype
            dtype('float64')
        """
        if args and isinstance(args[0], Tensor):
            args = (args[0].dtype, *args[1:])
        dtype, copy = _parse_to("Tensor.to", args, kwargs)
        out = self if dtype is None else _F.astype(self, dtype)
        return out.clone() if copy and out is self else out

    def cpu(self) -> Tensor:
        """self: the data is already in main memory."""
        return self

    def cuda(self, device: Any = None, non_blocking: bool = False) -> Tensor:
        """Raises autograd.DeviceError: there is no GPU (see the README's section on scaling)."""
        raise _not_available("cuda" if device is None else device, "Tensor.cuda")

    type = astype

    def type_as(self, other: Tensor) -> Tensor:  # (another tensor's dtype; float() ... below name theirs)
        return _F.astype(self, other.dtype)

    def float(self) -> Tensor:
        return _F.astype(self, np.float32)

    def double(self) -> Tensor:
        return _F.astype(self, np.float64)

    def half(self) -> Tensor:
        return _F.astype(self, np.float16)

    def long(self) -> Tensor:
        return _F.astype(self, np.int64)

    def int(self) -> Tensor:
        return _F.astype(self, np.int32)

    def bool(self) -> Tensor:
        return _F.astype(self, np.bool_)

    def contiguous(self) -> Tensor:
        """self if its array is row-major (C-contiguous), else a row-major copy in the graph, as in PyTorch.
        (A convolution on small images returns a batch-last view: see nn.functional._conv.)"""
        return self if self.is_contiguous() else apply_unary(_ops.clone, self)

    def is_contiguous(self) -> bool:
        data = self._data
        return data.__class__ is not np.ndarray or data.flags.c_contiguous

    # --- arithmetic -------------------------------------------------------------------------------------------
    # x + y, x - y, x * y, x ** y, x // y (floor(x / y), PyTorch's and Python's rule), x % y (x - floor(x / y) y:
    # the divisor's sign), -x and abs(x) are the registered methods add, sub, ... (the end of this module).
    # The reflected forms swap the operands, so they are written out.
    def __radd__(self, other: Any) -> Tensor:
        return apply_binary(_ops.add, other, self)

    def __rsub__(self, other: Any) -> Tensor:
        return apply_binary(_ops.sub, other, self)

    def __rmul__(self, other: Any) -> Tensor:
        return apply_binary(_ops.mul, other, self)

    def __truediv__(self, other: Any) -> Tensor:  # (the primitive div has no method: Tensor.div has rounding_mode)
        return apply_binary(_ops.div, self, other)

    true_divide = __truediv__

    def __rtruediv__(self, other: Any) -> Tensor:
        return apply_binary(_ops.div, other, self)

    def __rfloordiv__(self, other: Any) -> Tensor:
        return apply_binary(_ops.floor_divide, other, self)

    def __rmod__(self, other: Any) -> Tensor:
        return apply_binary(_ops.remainder, other, self)

    def __rpow__(self, other: Any) -> Tensor:
        return apply_binary(_ops.pow, other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return _F.matmul(self, other)

    matmul = __matmul__

    def __rmatmul__(self, other: Any) -> Tensor:
        return _F.matmul(other, self)

    def __pos__(self) -> Tensor:
        return self

    def __getitem__(self, index: Any) -> Tensor:
        return _F.getitem(self, index)

    # comparisons give boolean tensors outside the graph
    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _F.eq(self, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _F.ne(self, other)

    def __lt__(self, other: Any) -> Tensor:
        return _F.lt(self, other)

    def __le__(self, other: Any) -> Tensor:
        return _F.le(self, other)

    def __gt__(self, other: Any) -> Tensor:
        return _F.gt(self, other)

    def __ge__(self, other: Any) -> Tensor:
        return _F.ge(self, other)

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__  # the named forms are the operators

    # bitwise operators: bitwise on integers, logical on booleans, an error on floats (outside the graph)
    def __invert__(self) -> Tensor:
        return _F.bitwise_not(self)

    def __and__(self, other: Any) -> Tensor:
        return _F.bitwise_and(self, other)

    def __or__(self, other: Any) -> Tensor:
        return _F.bitwise_or(self, other)

    def __xor__(self, other: Any) -> Tensor:
        return _F.bitwise_xor(self, other)

    def __lshift__(self, other: Any) -> Tensor:
        return _F.bitwise_left_shift(self, other)

    def __rshift__(self, other: Any) -> Tensor:
        return _F.bitwise_right_shift(self, other)

    def __rand__(self, other: Any) -> Tensor:
        return _F.bitwise_and(other, self)

    def __ror__(self, other: Any) -> Tensor:
        return _F.bitwise_or(other, self)

    def __rxor__(self, other: Any) -> Tensor:
        return _F.bitwise_xor(other, self)

    def __rlshift__(self, other: Any) -> Tensor:
        return _F.bitwise_left_shift(other, self)

    def __rrshift__(self, other: Any) -> Tensor:
        return _F.bitwise_right_shift(other, self)

    def __iand__(self, other: Any) -> Tensor:
        return self._bitwise_inplace("bitwise_and_ (&=)", _F.bitwise_and, other)

    def __ior__(self, other: Any) -> Tensor:
        return self._bitwise_inplace("bitwise_or_ (|=)", _F.bitwise_or, other)

    def __ixor__(self, other: Any) -> Tensor:
        return self._bitwise_inplace("bitwise_xor_ (^=)", _F.bitwise_xor, other)

    def __ilshift__(self, other: Any) -> Tensor:
        return self._bitwise_inplace("bitwise_left_shift_ (<<=)", _F.bitwise_left_shift, other)

    def __irshift__(self, other: Any) -> Tensor:
        return self._bitwise_inplace("bitwise_right_shift_ (>>=)", _F.bitwise_right_shift, other)

    def _bitwise_inplace(self, op_name: str, fn: Callable, other: Any) -> Tensor:
        """`t &= other` and friends: the result, cast back to t's dtype, written into t's array (integer and
        boolean tensors are never in the graph)."""
        result = fn(self, other)._data
        if np.result_type(result) != self.dtype:
            if not np.can_cast(np.result_type(result), self.dtype, "same_kind"):
                raise TypeError(f"{op_name}: the result has dtype {np.result_type(result)}, which cannot be "
                                f"stored in this {self.dtype} tensor")
            result = np.asarray(result).astype(self.dtype)

        def write(arr: np.ndarray) -> None:
            arr[...] = result

        if np.shape(result) != self.shape:
            raise OpError(f"{op_name}: the result of shape {np.shape(result)} does not fit the tensor's shape "
                             f"{self.shape} (in-place results keep the tensor's shape)")
        return self._inplace(op_name, lambda t: None, write)

    # the named forms are the operators (defined above), as in PyTorch
    bitwise_and, bitwise_or, bitwise_xor, bitwise_not = __and__, __or__, __xor__, __invert__
    bitwise_left_shift, bitwise_right_shift = __lshift__, __rshift__

    def bitwise_and_(self, other: Any) -> Tensor:
        return self.__iand__(other)

    def bitwise_or_(self, other: Any) -> Tensor:
        return self.__ior__(other)

    def bitwise_xor_(self, other: Any) -> Tensor:
        return self.__ixor__(other)

    def logical_and(self, other: Any) -> Tensor:
        return _F.logical_and(self, other)

    def logical_or(self, other: Any) -> Tensor:
        return _F.logical_or(self, other)

    def logical_xor(self, other: Any) -> Tensor:
        return _F.logical_xor(self, other)

    def logical_not(self) -> Tensor:
        return _F.logical_not(self)

    # numpy interoperability: np.exp(t), np.sum(t, axis=0), np.float64(2) * t ... return Tensors
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        from . import numpy_dispatch
        return numpy_dispatch.array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Callable, types: tuple, args: tuple, kwargs: dict) -> Any:
        from . import numpy_dispatch
        return numpy_dispatch.array_function(func, args, kwargs)


# Whether any tensor ever had a post-accumulate-grad hook: until then backward() does not look for them. Reading
# an unset slot raises and catches an AttributeError: 0.7 us against 0.03 us for this flag (2-core VM), per leaf
# and backward, which is W5's 337 leaves times over.
_post_accumulate_hooks_registered = False
# The same for register_hook on leaves: until one is registered the walk reads no leaf's `_hooks` (W5: 337 leaves).
_leaf_hooks_registered = False


class _RetainGrad:
    """A node hook that stores the gradient on a non-leaf tensor (weakly referenced: no reference cycle)."""

    __slots__ = ("ref",)

    def __init__(self, tensor: Tensor) -> None:
        self.ref = weakref.ref(tensor)

    def __call__(self, grad: Tensor) -> None:
        tensor = self.ref()
        if tensor is None:
            return
        if tensor.grad is None:
            tensor.grad = grad if grad.grad_fn is not None else Tensor._wrap(as_stored(np.array(grad._data)))
        else:
            tensor.grad = tensor.grad + grad


class _HookHandle:
    def __init__(self, hooks: list, hook: Callable) -> None:
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


from . import engine as _engine  # noqa: E402  (the engine and functions need Tensor defined first)
from . import operations as _F  # noqa: E402
from . import ops as _ops  # noqa: E402
from . import random as _random  # noqa: E402

# The operators of primitives that register their method (ops.py, method=True) are those methods: `x + y` runs
# Tensor.add itself (core's fast path, apply_binary, with the primitive at hand), and so on.
for _method_name, _operator in (("add", "__add__"), ("sub", "__sub__"), ("mul", "__mul__"), ("pow", "__pow__"),
                                ("floor_divide", "__floordiv__"), ("remainder", "__mod__"), ("neg", "__neg__"),
                                ("abs", "__abs__")):
    setattr(Tensor, _operator, getattr(Tensor, _method_name))
del _method_name, _operator
