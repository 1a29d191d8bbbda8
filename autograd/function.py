"""Custom differentiable operations: subclass `Function`, write `forward` and `backward`, call `apply`.

    >>> import numpy as np, autograd
    >>> class Softplus(autograd.Function):
    ...     '''softplus(x) = log(1 + e^x), computed without overflow; d softplus = sigmoid.'''
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return autograd.tensor(np.logaddexp(0, x.data))
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         (x,) = ctx.saved_tensors
    ...         return g * x.sigmoid()          # Tensor operations: differentiable again
    >>> x = autograd.tensor([-1.0, 0.0, 30.0], requires_grad=True)
    >>> Softplus.apply(x).sum().backward()
    >>> x.grad
    tensor([0.2689, 0.5   , 1.    ])

How it plugs into the engine. `apply` runs `forward` under `no_grad()` and records one graph `Node` whose `op`
is a `FunctionBackward`: the engine calls its `input_grads`, which calls your `backward` once for all inputs and
checks what it returns (one gradient per input, each of the input's shape or summable to it). A forward that
returns several tensors gets one small selector node per output, so that each output collects its own
gradient; the Function's node receives them all at once (unused outputs get zeros, as in PyTorch).

Saved tensors live in the node's saved values: they are checked for in-place modification and freed by
`backward()` exactly like a built-in operation's (so `ctx.saved_tensors` after a backward without
`retain_graph=True` raises the engine's "second time" error).

A `backward` written with Tensor operations is recorded under `create_graph=True`, so second derivatives
work. A `backward` that returns numpy arrays cannot be differentiated again: its gradients are then marked, and
asking for a second-order derivative through them raises an error that says so, instead of a silent zero.
"""

from __future__ import annotations

import inspect
import weakref
from typing import Any

import numpy as np

from . import core, engine
from .core import Node, Op, Tensor
from .grad_mode import is_anomaly_check_nan_enabled, is_grad_enabled, is_recording_locations, no_grad
from .kernels import as_stored
from .ops import unbroadcast

__all__ = ["Function", "FunctionCtx", "FunctionBackward"]


class FunctionCtx:
    """The `ctx` object `forward` and `backward` share (PyTorch's `ctx`).

    save_for_backward(*tensors)   keep tensors for backward (checked for in-place changes, freed after backward)
    saved_tensors                 the saved tensors, in backward
    needs_input_grad              per forward argument: does it need a gradient?
    mark_non_differentiable(*t)   outputs that get no gradient (indices, masks)
    set_materialize_grads(False)  pass None instead of zeros for outputs that received no gradient
    Any other attribute (ctx.dim = dim) is yours to set.
    """

    def __init__(self, function_name: str, needs_input_grad: tuple[bool, ...]) -> None:
        self.needs_input_grad = needs_input_grad
        self._function_name = function_name
        self._to_save: tuple = ()  # what save_for_backward was given, until apply packs it
        self._node: weakref.ref | None = None  # the recorded node, once there is one
        self._non_differentiable: list[Tensor] = []
        self._materialize_grads = True

    def save_for_backward(self, *tensors: Tensor | None) -> None:
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"{self._function_name}: save_for_backward accepts tensors (or None), but "
                                f"argument {i} is a {type(t).__name__}; keep other values as ctx attributes "
                                "(ctx.name = value)")
        self._to_save = tensors

    @property
    def saved_tensors(self) -> tuple[Tensor | None, ...]:
        if self._node is None:  # still in forward, or no graph was recorded
            return tuple(self._to_save)
        node = self._node()
        if node is None or node.args is None:
            raise RuntimeError(engine._FREED_MESSAGE.format(op=self._function_name))
        return tuple(node.op.unpack(entry) for entry in node.args.saved)

    def mark_non_differentiable(self, *outputs: Tensor) -> None:
        self._non_differentiable.extend(outputs)

    def set_materialize_grads(self, value: bool) -> None:
        self._materialize_grads = bool(value)


class _SavedArgs(tuple):
    """The node's forward arguments, carrying the packed saved tensors along: the engine frees `node.args`
    after backward (unless retain_graph), and the saved tensors go with it, as a built-in op's do."""

    saved: tuple = ()


class Function:
    """Base class for operations with a hand-written backward.

    Subclass it with two static methods, `forward(ctx, *args)` computing the outputs (Tensors, run under
    `no_grad()`), and `backward(ctx, *grad_outputs)` returning one gradient per forward argument (`None` for
    arguments that need none). Call it with `MyOp.apply(*args)`. As in PyTorch, you may instead write
    `forward(*args)` without ctx plus `setup_context(ctx, inputs, output)`.
    """

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any) -> Any:
        raise NotImplementedError("a Function subclass must define @staticmethod forward(ctx, *args)")

    @staticmethod
    def backward(ctx: FunctionCtx, *grad_outputs: Any) -> Any:
        raise NotImplementedError("a Function subclass must define @staticmethod backward(ctx, *grad_outputs)")

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run `forward` on `args` and, when an argument requires grad, record it in the graph."""
        if kwargs:  # bind keyword arguments to their positions, as PyTorch does
            bound = inspect.signature(cls.forward).bind(None, *args, **kwargs)
            bound.apply_defaults()
            args = bound.args[1:]
        name = cls.__name__
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        record = is_grad_enabled() and any(needs)
        ctx = FunctionCtx(name, needs if record else (False,) * len(args))
        with no_grad():
            setup_context = getattr(cls, "setup_context", None)
            if setup_context is not None:  # forward(*args) without ctx, then setup_context(ctx, inputs, output)
                raw = cls.forward(*args)
                setup_context(ctx, args, raw)
            else:
                raw = cls.forward(ctx, *args)
        single = not isinstance(raw, tuple)
        outputs = [_as_output(o, args) for o in ((raw,) if single else raw)]
        if not record:
            return outputs[0] if single else tuple(outputs)
        return _record(cls, ctx, args, raw if single else tuple(raw), outputs, single)


def _as_output(value: Any, args: tuple) -> Any:
    """A forward result as a fresh output tensor (arrays are wrapped; an input or a tensor that is already in
    a graph is re-wrapped, so that giving it a grad_fn does not change the original)."""
    if isinstance(value, (np.ndarray, np.generic)):
        return Tensor._wrap(value)
    if isinstance(value, Tensor) and (value.requires_grad or any(value is a for a in args)):
        return Tensor._wrap(value._data)
    return value


def _record(cls: type, ctx: FunctionCtx, args: tuple, raw: Any, outputs: list, single: bool) -> Any:
    raws = (raw,) if single else raw
    datas = _SavedArgs(a._data if isinstance(a, Tensor) else a for a in args)
    edges = tuple((a.grad_fn or a) if isinstance(a, Tensor) and a.requires_grad else None for a in args)
    op = FunctionBackward(cls, ctx, args, outputs)
    node = _make_node(op, edges, datas)
    ctx._node = weakref.ref(node)
    if is_anomaly_check_nan_enabled():
        for o in outputs:
            if isinstance(o, Tensor):
                core._check_forward(op, datas, o._data)
    excluded = {id(t) for t in ctx._non_differentiable}
    selectors: list = []
    for k, (o, r) in enumerate(zip(outputs, raws)):
        differentiable = (isinstance(o, Tensor) and o.dtype.kind in "fc" and id(o) not in excluded
                          and id(r) not in excluded)
        if not differentiable:
            selectors.append(None)
            continue
        if o.dtype.kind == "c":  # (see core._complex_in_graph)
            raise TypeError(f"{cls.__name__}: output {k} is complex ({o.dtype}), and complex autograd is not "
                            "supported; return real outputs, or mark it with ctx.mark_non_differentiable(...)")
        grad_fn = node if single else _make_node(_Select(op, k), (node,), ())
        o.grad_fn = grad_fn
        o.requires_grad = True
        selectors.append(None if single else weakref.ref(grad_fn))
    op.selectors = selectors
    datas.saved = tuple(_pack(t, args, raws, outputs) for t in ctx._to_save)
    ctx._to_save = ()
    return outputs[0] if single else tuple(outputs)


def _pack(t: Tensor | None, args: tuple, raws: tuple, outputs: list) -> tuple | None:
    """What a saved tensor is remembered as: ("input", tensor, data, grad_fn) for anything that is not an
    output, ("output", k, data) for an output (no reference to the output tensor: that would be a cycle)."""
    if t is None:
        return None
    if not any(t is a for a in args):
        for k, (r, o) in enumerate(zip(raws, outputs)):
            if t is r or t is o:
                return ("output", k, o._data)
    return ("input", t, t._data, t.grad_fn)


def _make_node(op: Op, edges: tuple, args: tuple) -> Node:
    return core.new_node(op, edges, args, None, None, is_recording_locations())


class FunctionBackward(Op):
    """The op of a custom Function's node: calls the user's `backward` and checks what it returns. Its
    results are validated and summed to each input's shape here, with errors naming the input (so not
    `broadcasts`), and it reads only ctx.saved_tensors (saved_arrays), not its inputs."""

    reads_inputs = False
    runs_user_code = True

    def __init__(self, cls: type, ctx: FunctionCtx, args: tuple, outputs: list) -> None:
        self.cls = cls
        self.ctx = ctx
        self.name = self.symbol = cls.__name__
        self.backward_name = cls.__name__ + "Backward"
        self.doc = cls.__doc__
        self.single = len(outputs) == 1
        self.inputs = [(a.shape, a.dtype) if isinstance(a, Tensor) else None for a in args]
        self.outputs = [(o.shape, o.dtype) if isinstance(o, Tensor) else None for o in outputs]
        self.selectors: list = []

    def unpack(self, entry: tuple | None) -> Tensor | None:
        """A saved tensor as backward sees it: the original tensor when it is unchanged, else its saved value
        attached to the same place in the graph (so that create_graph differentiates through it)."""
        if entry is None:
            return None
        node = self.ctx._node() if self.ctx._node is not None else None
        if entry[0] == "output":
            _, k, data = entry
            if self.single:
                return Tensor._wrap(data, node)
            sel = self.selectors[k]() if self.selectors[k] is not None else None
            if sel is None and node is not None and self.outputs[k] is not None:
                sel = _make_node(_Select(self, k), (node,), ())  # the output tensor is gone: a fresh selector
            return Tensor._wrap(data, sel)
        _, t, data, grad_fn = entry
        if t._data is data and t.grad_fn is grad_fn:
            return t
        return Tensor._wrap(data, grad_fn)  # rebound by an in-graph in-place op: the value forward saw

    def input_grads(self, node: Node, g: Any, out: Any, args: tuple) -> list:
        create_graph = is_grad_enabled()  # the engine runs backward in grad mode iff create_graph
        grad_outputs = self._grad_outputs(g, create_graph)
        result = self.cls.backward(self.ctx, *grad_outputs)
        return self._input_grads(result, node, create_graph)

    def _grad_outputs(self, g: Any, create_graph: bool) -> list:
        slots = [g] if self.single else g.slots
        result = []
        for k, gk in enumerate(slots):
            meta = self.outputs[k]
            if gk is None and meta is not None and self.ctx._materialize_grads:
                gk = as_stored(np.zeros(meta[0], dtype=meta[1] if meta[1].kind in "fc" else np.float64))
            if gk is not None and not isinstance(gk, Tensor):
                gk = Tensor._wrap(gk)
            result.append(gk)
        return result

    def _input_grads(self, result: Any, node: Node, create_graph: bool) -> list:
        name = self.name
        if not isinstance(result, (tuple, list)):
            result = (result,)
        n = len(self.inputs)
        if len(result) != n:
            if len(result) > n and all(r is None for r in result[n:]):
                result = result[:n]
            else:
                raise RuntimeError(
                    f"{name}.backward returned {len(result)} gradient{'s' if len(result) != 1 else ''}, but "
                    f"{name}.forward took {n} input{'s' if n != 1 else ''}: return one gradient per forward "
                    "input, in order (None for an input that needs none)")
        grads: list = []
        for i, (edge, gi) in enumerate(zip(node.edges, result)):
            meta = self.inputs[i]
            if gi is not None and meta is None:
                raise RuntimeError(f"{name}.backward returned a gradient for input {i}, which is not a tensor "
                                   f"({type(node.args[i]).__name__}); return None for it")
            if gi is None or edge is None:
                grads.append(None)
                continue
            shape, dtype = meta
            raw = not isinstance(gi, Tensor)
            if raw:
                if not isinstance(gi, (np.ndarray, np.generic, float, int)) or isinstance(gi, bool):
                    raise TypeError(f"{name}.backward: the gradient for input {i} is a {type(gi).__name__}; "
                                    "expected a Tensor, a numpy array or None")
                gi = np.asarray(gi)
            gshape = gi.shape
            if gshape != shape:
                try:
                    summable = np.broadcast_shapes(shape, gshape) == gshape
                except ValueError:
                    summable = False
                if not summable:
                    raise RuntimeError(
                        f"{name}.backward returned a gradient of shape {gshape} for input {i}, which has shape "
                        f"{shape}: the gradient must have the input's shape (a gradient with broadcast dims, "
                        "whose sum over them has the input's shape, is also accepted)")
                gi = unbroadcast(gi, shape)
            if gi.dtype != dtype:
                gi = gi.astype(dtype)
            if create_graph:
                gi = _not_differentiable(self, i, gi, node) if raw else gi
            elif not raw:
                gi = gi._data
            grads.append(gi)
        return grads

    def saved_arrays(self, node: Node) -> list[tuple[str, Any]]:
        """What backward will read, for the engine's in-place check: the tensors given to save_for_backward."""
        return [(f"saved tensor {j}", entry[-1] if entry[0] == "output" else entry[2])
                for j, entry in enumerate(node.args.saved) if entry is not None]

    def rerun(self, node: Node, inputs: list) -> Any:
        """apply() again, on `inputs` (its tensor arguments given as tensors, as the forward expects)."""
        wrapped = [x if isinstance(x, Tensor) or meta is None else Tensor._wrap(x)
                   for x, meta in zip(inputs, self.inputs)]
        return self.cls.apply(*wrapped)

    def __repr__(self) -> str:
        return f"<function {self.name}>"


class _Select(Op):
    """Output k of a multi-output Function: passes its gradient on to slot k of the Function's node."""

    reads_inputs = False
    rerunnable = False  # not an operation of its own: check_graph checks the Function's node

    def __init__(self, function: FunctionBackward, k: int) -> None:
        self.function = function
        self.k = k
        self.name = f"{function.name}[{k}]"
        self.symbol = f"[{k}]"
        self.backward_name = f"{function.backward_name}[{k}]"
        self.doc = None

    def input_grads(self, node: Node, g: Any, out: Any, args: tuple) -> list:
        slots: list = [None] * len(self.function.outputs)
        slots[self.k] = g
        return [_SlotGrads(slots)]


class _SlotGrads:
    """The gradients of a multi-output Function's outputs, one slot each; adding two adds slot by slot."""

    __slots__ = ("slots",)
    shape = dtype = None  # what a freeing backward under viz.keep_shapes records of it (see engine._keep_shapes)

    def __init__(self, slots: list) -> None:
        self.slots = slots

    def __add__(self, other: _SlotGrads) -> _SlotGrads:
        return _SlotGrads([a if b is None else b if a is None else a + b for a, b in zip(self.slots, other.slots)])


class _NotDifferentiable(Op):
    """The grad_fn of a gradient a backward returned as a raw array under create_graph=True: reaching it in a
    later backward means a second-order derivative was asked for, which the array cannot give."""

    reads_inputs = False
    rerunnable = False  # nothing to re-run: reaching it is the error

    def __init__(self, function: FunctionBackward, i: int) -> None:
        self.function = function
        self.i = i
        self.name = self.symbol = f"{function.name}.backward (numpy)"
        self.backward_name = f"{function.backward_name}NotDifferentiable"
        self.doc = None

    def input_grads(self, node: Node, g: Any, out: Any, args: tuple) -> list:
        name = self.function.name
        raise RuntimeError(
            f"{name}.backward returned a numpy array (not a Tensor) as the gradient of input {self.i}, so that "
            f"gradient cannot be differentiated: a second-order derivative through {name} was requested "
            f"(create_graph=True, gradgradcheck, hessian...). Write {name}.backward with Tensor operations on "
            "its grad_output and ctx.saved_tensors (g * x.cos() rather than g.data * np.cos(x.data)) to make "
            "it differentiable.")


def _not_differentiable(function: FunctionBackward, i: int, array: np.ndarray, node: Node) -> Tensor:
    marker = _make_node(_NotDifferentiable(function, i), node.edges, (None,) * len(node.edges))
    return Tensor._wrap(as_stored(array), marker)
