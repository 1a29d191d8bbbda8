"""The backward walk: apply each node's vector-Jacobian products in reverse creation order.

Nodes are numbered when they are created, and a node is always created after its inputs, so visiting the
reachable nodes from the highest number down is a topological order. A heap keyed by that number gives it in
one pass, without recursion (a chain of a million nodes is fine) and without first collecting the graph.
A node is pushed when it first receives a gradient; by the time it is popped, every node that feeds it a
gradient has a higher number and has been processed, so its gradient is complete.
"""

from __future__ import annotations

from collections.abc import Sequence
from heapq import heappop, heappush
from typing import Any

import numpy as np

from . import core
from .core import Node, Tensor, Unkept, format_location
from .core import passes_gradient as _passes
from .core import times_first as _times_first
from .core import times_second as _times_second
from .errors import OpError
from .grad_mode import is_anomaly_check_nan_enabled, swap_grad_enabled
from .kernels import as_stored
from .ops import unbroadcast

# (module globals: `np.ndarray` is an attribute of the numpy module, ~320 instructions a read in a hot loop)
_new = object.__new__
_ndarray = np.ndarray


def backward(roots: Sequence[Tensor], gradients: Sequence[Any] | None, retain_graph: bool | None,
             create_graph: bool, inputs: Sequence[Tensor] | None = None) -> None:
    """Accumulate gradients of `roots` into the `.grad` of leaves (see `Tensor.backward`)."""
    grads = _root_gradients("backward", roots, gradients, create_graph)
    targets = None if inputs is None else _targets("backward", inputs)
    post_hooks = core._post_accumulate_hooks_registered
    early = _hooked_leaf_uses(roots) if post_hooks and targets is None and not create_graph else None
    leaf_grads = _walk(roots, grads, create_graph if retain_graph is None else retain_graph,
                       create_graph, targets, early=early)
    for target, g in leaf_grads.items():
        if targets is not None:
            if target not in targets:
                continue
            target = targets[target]  # backward(inputs=...): only those, leaves or not, get .grad
        if target.grad is None and g.__class__ is target._data.__class__ and g.__class__ is not _ndarray:
            grad = _new(Tensor)  # _accumulate_into_leaf's first case (Tensor._wrap(g)), for W5's 337 leaves
            grad._data = g       # without the two calls
            grad.grad_fn = None
            grad._requires_grad = False
            grad.grad = None
            target.grad = grad
        else:
            _accumulate_into_leaf(target, g, create_graph)
        if post_hooks:  # register_post_accumulate_grad_hook: hook(leaf) once .grad holds the sum
            hooks = getattr(target, "_post_accumulate_hooks", None)
            if hooks:
                for hook in list(hooks):
                    hook(target)


def _hooked_leaf_uses(roots: Sequence[Tensor]) -> dict | None:
    """For each leaf with a post-accumulate-grad hook (and no register_hook hooks), how many edges of the graph
    below `roots` lead to it (None if there is none). The walk accumulates such a leaf, and calls its hooks,
    as soon as its last gradient has arrived instead of after the walk, as PyTorch's AccumulateGrad node does:
    DistributedDataParallel starts sending a bucket of gradients while backward still computes the first
    layers'. A pass over the graph's edges, made only once some post-accumulate hook has been registered.
    (A leaf with register_hook hooks waits for the end: they run in the walk's grad mode, which the walk sets.)"""
    uses: dict = {}
    stack = [r.grad_fn for r in roots if r.grad_fn is not None]
    seen = set(stack)
    while stack:
        node = stack.pop()
        for edge in node.edges:
            if edge is None:
                continue
            if edge.__class__ is Node:
                if edge not in seen:
                    seen.add(edge)
                    stack.append(edge)
            elif getattr(edge, "_post_accumulate_hooks", None) and not getattr(edge, "_hooks", None):
                uses[edge] = uses.get(edge, 0) + 1
    return uses or None


def _accumulate_early(leaf: Tensor, g: Any, handed: set[int]) -> None:
    """What backward does after the walk for a leaf (.grad, then its post-accumulate hooks), done as soon as
    the walk has delivered the leaf's last gradient (create_graph=False only)."""
    _accumulate_into_leaf(leaf, _owned(g, handed), False)
    for hook in list(leaf._post_accumulate_hooks):
        hook(leaf)


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: Any = None, retain_graph: bool | None = None, create_graph: bool = False,
         allow_unused: bool = False, materialize_grads: bool = False) -> tuple[Tensor | None, ...]:
    """Gradients of `outputs` with respect to `inputs`, returned instead of accumulated into `.grad`.

    `grad_outputs` are the vectors of the vector-Jacobian products (needed for non-scalar outputs).
    With `create_graph=True` the results are themselves differentiable (gradients of gradients).
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is not None and (isinstance(grad_outputs, Tensor) or not isinstance(grad_outputs,
                                                                                          (list, tuple))):
        grad_outputs = [grad_outputs]
    grads = _root_gradients("grad", outputs, grad_outputs, create_graph)
    targets = _targets("grad", inputs)
    found = _walk(outputs, grads, create_graph if retain_graph is None else retain_graph, create_graph,
                  targets)
    results: list[Tensor | None] = []
    for i, t in enumerate(inputs):
        g = found.get(t if t.grad_fn is None else t.grad_fn)
        if g is None:
            if materialize_grads:
                results.append(Tensor._wrap(as_stored(np.zeros_like(t._data))))
                continue
            if not allow_unused:
                raise RuntimeError(f"grad: input {i} (shape {t.shape}) was not used to compute the outputs; "
                                   "pass allow_unused=True to get None for it")
            results.append(None)
        else:
            results.append(g if isinstance(g, Tensor) else Tensor._wrap(_owned(g, set())))
    return tuple(results)


def inspect_gradients(outputs: Sequence[Tensor], inputs: Sequence[Tensor]) -> list[Any]:
    """d(sum of outputs)/d(input) as arrays (None where unused), for looking at a graph without touching it:
    nothing is freed or accumulated, and no hooks or anomaly checks run (autograd.viz uses this)."""
    found = _walk(outputs, _root_gradients("inspect_gradients", outputs, None, False), True, False,
                  _targets("inspect_gradients", inputs), run_hooks=False)
    return [found.get(t if t.grad_fn is None else t.grad_fn) for t in inputs]


def _targets(caller: str, inputs: Sequence[Tensor]) -> dict:
    targets = {}
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"{caller}: inputs must be tensors, input {i} is {type(t).__name__}")
        if not t.requires_grad:
            raise RuntimeError(f"{caller}: input {i} (shape {t.shape}) does not require grad")
        targets[t if t.grad_fn is None else t.grad_fn] = t
    return targets


def _root_gradients(caller: str, roots: Sequence[Tensor], gradients: Sequence[Any] | None,
                    create_graph: bool) -> list:
    if gradients is not None and len(gradients) != len(roots):
        raise OpError(f"{caller}: got {len(gradients)} gradients for {len(roots)} outputs")
    result = []
    for i, root in enumerate(roots):
        if not isinstance(root, Tensor):
            raise TypeError(f"{caller}: outputs must be tensors, output {i} is {type(root).__name__}")
        if not root.requires_grad:
            raise RuntimeError(f"{caller}: output {i} (shape {root.shape}) does not require grad: it was not "
                               "computed from a tensor with requires_grad=True, or it was computed under "
                               "no_grad()")
        data = root._data
        g = None if gradients is None else gradients[i]
        if g is None:
            if data.size != 1:
                raise RuntimeError(f"{caller}: a gradient can only be created implicitly for a scalar output, but "
                                   f"this output has shape {root.shape}; pass gradient=... with that shape "
                                   "(for example ones_like(output)), or reduce it first (output.sum())")
            g = data.dtype.type(1) if data.ndim == 0 else np.ones_like(data)
        else:
            g_data = g._data if isinstance(g, Tensor) else as_stored(np.asarray(g, dtype=root.dtype))
            if np.shape(g_data) != root.shape:
                raise RuntimeError(f"{caller}: the gradient has shape {np.shape(g_data)} but output {i} has "
                                   f"shape {root.shape}; they must match")
            if g_data.dtype != data.dtype:  # as PyTorch: the seed takes the output's dtype, so every gradient
                g_data = g_data.astype(data.dtype)  # in the walk has its tensor's dtype
                if create_graph and isinstance(g, Tensor):
                    g = g.astype(data.dtype)
            g = g if create_graph and isinstance(g, Tensor) else g_data
        if create_graph and not isinstance(g, Tensor):
            g = Tensor._wrap(g)
        result.append(g)
    return result


def _walk(roots: Sequence[Tensor], root_grads: list, retain_graph: bool, create_graph: bool,
          targets: dict | None, run_hooks: bool = True, early: dict | None = None) -> dict:
    """Run the VJPs from `roots` down. Returns the gradients that reached leaves (keyed by the leaf tensor)
    and, when `targets` are given, those that reached the target nodes (keyed by node).
    `run_hooks=False` is the read-only mode for inspection (drawing): no hooks, no anomaly checks.
    `early` (backward only, see _hooked_leaf_uses): leaves accumulated during the walk once their count of
    incoming edges is used up; they are not returned."""
    grads: dict = {}
    reached: dict = {}
    # The nodes waiting for their turn: `heap` holds -seq, `waiting` maps it to the node. A heap of plain ints
    # rather than (-seq, node) tuples: comparing two tuples compares their ints twice over, and a tuple is
    # made and freed per push (~1,100 instructions per pushed node in a micro-benchmark; W5 pushes ~640).
    # Before the heap, `later`: waiting nodes in creation order, the newest last. A node goes there when it is
    # newer than its last one (an append and a pop instead of a push and a pop on the heap, ~1,000 instructions
    # less), into the heap otherwise; the next node is the newer of the two tops. In a sum of products
    # (s = s + x * y) the partial sums go there: 240 of W5's 272 pushes.
    heap: list = []
    waiting: dict = {}
    later: list = []
    for root, g in zip(roots, root_grads):
        key = root.grad_fn if root.grad_fn is not None else root
        if key in grads:
            grads[key] = grads[key] + g
        else:
            grads[key] = g
            if key.__class__ is Node:
                waiting[-key.seq] = key
                heappush(heap, -key.seq)
    handed: set[int] = {id(g) for g in root_grads}  # arrays a leaf must not share (see _owned)
    anomaly, last_write = run_hooks and is_anomaly_check_nan_enabled(), core.last_write_seq()
    checks = anomaly or early is not None  # one test per edge for the two rare per-edge duties
    node = waiting.pop(heappop(heap)) if heap else None
    # The walk runs with grad mode = create_graph, as in PyTorch: in this thread only, restored at the end even
    # on an error. Without create_graph the VJPs compute on arrays and record nothing in either mode: only
    # user code sees the mode (hooks, custom Functions' backward), so it is set just before the first of those
    # runs. Most graphs have none and skip the two changes (~5,000 instructions, 0.5% of a W3 step).
    mode_before = swap_grad_enabled(True) if create_graph else None
    try:
        while node is not None:
            g = grads.pop(node)
            if node.hooks is not None and run_hooks:
                if mode_before is None:
                    mode_before = swap_grad_enabled(create_graph)
                g = _run_hooks(node.hooks, g, create_graph)
            if targets is not None and node in targets:
                reached[node] = g
            args = node.args
            if args is None:
                raise RuntimeError(_FREED_MESSAGE.format(op=node.op.name))
            if node.seq <= last_write:
                _check_saved_values(node)
            op = node.op
            out = node.out
            if create_graph:
                out, args = _as_graph_tensors(node)
            # One protocol, op.input_grads; for a primitive without parameters (the most common node) its
            # per-input VJPs are called here directly, as input_grads would: a call less per node (2% of a
            # scalar graph's time). One or two inputs are passed by name: a call with *args builds a tuple
            # first, ~900 instructions more per VJP (callgrind), 5% of W5 and of W1. A `passes_gradient` VJP
            # (add's, sub's first) is not called at all: its result is g itself.
            edges = node.edges
            vjps = op.vjps if node.params is None else None
            if vjps is None:
                if op.runs_user_code and mode_before is None:  # a custom Function: the user's backward
                    mode_before = swap_grad_enabled(create_graph)
                input_grads = op.input_grads(node, g, out, args)
            elif len(args) == 2:
                x, y = args
                input_grads = (None if edges[0] is None else g if (v := vjps[0]) is _passes
                               else g * y if v is _times_second else v(g, out, x, y),
                               None if edges[1] is None else g if (v := vjps[1]) is _passes
                               else g * x if v is _times_first else v(g, out, x, y))
            elif len(args) == 1:
                input_grads = (None if edges[0] is None else vjps[0](g, out, args[0]),)
            else:
                input_grads = [None if e is None else vjp(g, out, *args) for e, vjp in zip(edges, vjps)]
            # A numpy scalar g means a 0-d output; for a broadcasting primitive without parameters (elementwise,
            # where, matmul) every input is then 0-d (or a Python number, or matmul's 1-D operands, whose
            # gradients have their shapes): nothing to sum back. Checking g once saves reading two shapes per
            # edge, ~650 instructions (3-4% of W1 0-d, W5). Not so with parameters: a loss that broadcasts its
            # inputs and then reduces them (reduction="sum") has a 0-d output and inputs of other shapes.
            broadcasts = op.broadcasts and (vjps is None or g.__class__ not in _NUMPY_SCALARS)
            # `following`: the newest node that this one sends a first gradient to. When it is also newer than every
            # waiting node it is the next one, and waits nowhere (the operand of a chain, and in W5 the product
            # of a neuron's running sum: ~40% of the pushes and pops, 2.5% of W5).
            following = None
            i = -1  # the input's index (a counter costs ~900 instructions less per node than enumerate())
            for edge in edges:
                i += 1
                if edge is None:
                    continue
                gi = input_grads[i]
                if gi is None:
                    continue
                if broadcasts and gi.shape != args[i].shape:
                    gi = unbroadcast(gi, args[i].shape)
                prev = grads.get(edge)
                if checks:
                    if anomaly:
                        _check_backward(node, i, gi)
                    if early is not None and edge in early:
                        early[edge] -= 1
                        if early[edge] == 0:  # its last gradient: the sum is final (added in the same order)
                            del early[edge]
                            if prev is not None:
                                gi = prev + gi
                                del grads[edge]
                            _accumulate_early(edge, gi, handed)
                            continue
                if prev is not None:
                    grads[edge] = prev + gi
                    continue
                grads[edge] = gi
                if edge.__class__ is Node:
                    if following is None:
                        following = edge
                        continue
                    if edge.seq > following.seq:
                        following, edge = edge, following
                    if not later or edge.seq > later[-1].seq:
                        later.append(edge)
                    else:
                        key = -edge.seq
                        waiting[key] = edge
                        heappush(heap, key)
            if not retain_graph:  # free the saved values (the output's shape and dtype stay if asked, see below)
                node.args = None
                node.out = (g.shape, g.dtype) if _keep_shapes else None
            if following is not None:
                if (heap and heap[0] < -following.seq) or (later and later[-1].seq > following.seq):
                    key = -following.seq  # a waiting node is newer: it goes first, `following` waits
                    waiting[key] = following
                    heappush(heap, key)
                else:
                    node = following
                    continue
            if later and (not heap or later[-1].seq > -heap[0]):
                node = later.pop()
            else:
                node = waiting.pop(heappop(heap)) if heap else None
        # After the walk only leaves are left in `grads`. Their `_hooks` slot is read only once some leaf has had
        # register_hook called (it is unset on leaves made by operations, and getattr then raises and catches an
        # AttributeError inside: W5 has 337 leaves).
        if run_hooks and core._leaf_hooks_registered:
            for leaf, g in grads.items():
                hooks = getattr(leaf, "_hooks", None)
                if hooks:
                    if mode_before is None:
                        mode_before = swap_grad_enabled(create_graph)
                    grads[leaf] = _run_hooks(hooks, g, create_graph)
        if not create_graph:
            for leaf, g in grads.items():
                if g.__class__ is _ndarray:  # (only arrays can be shared: W5's scalars skip it)
                    grads[leaf] = _owned(g, handed)
    finally:
        if mode_before is not None:
            swap_grad_enabled(mode_before)
    if not reached:
        return grads
    reached.update(grads)
    return reached


def trace(root: Tensor, gradient: Any = None, caller: str = "trace") -> tuple[list, dict]:
    """The backward walk of `root` as data, for looking at it (autograd.viz.backward_steps): the nodes in the
    order `_walk` visits them (the highest creation number first) and the same VJP calls, but nothing is freed
    or accumulated into `.grad`, and no hooks or anomaly checks run (hooks would change what is sent).

    Returns (steps, leaf gradients). A step is (node, upstream gradient, sends); a send is
    (input index, edge, gradient sent, gradient that edge already held from another path, or None).
    Kept next to `_walk`, which inlines the same per-input VJP calls for speed (see `input_gradients`).
    """
    (g,) = _root_gradients(caller, [root], None if gradient is None else [gradient], False)
    if root.grad_fn is None:  # a leaf: no operation to walk back through
        return [], {root: g}
    grads: dict = {root.grad_fn: g}
    heap: list = [(-root.grad_fn.seq, root.grad_fn)]
    steps = []
    last_write = core.last_write_seq()
    mode_before = swap_grad_enabled(False)  # as in _walk without create_graph, should a custom backward run
    try:
        while heap:
            node = heappop(heap)[1]
            g = grads.pop(node)
            if node.args is None:
                raise RuntimeError(f"{caller}: the graph was freed by backward() (at '{node.op.name}'), so its "
                                   "saved values are gone. Look at the walk before calling backward(), or "
                                   "call backward(retain_graph=True).")
            if node.seq <= last_write:
                _check_saved_values(node)
            sends = []
            for i, edge, gi in input_gradients(node, g):
                prev = grads.get(edge)
                grads[edge] = gi if prev is None else prev + gi  # the multi-path chain rule, as _walk adds
                if prev is None and edge.__class__ is Node:
                    heappush(heap, (-edge.seq, edge))
                sends.append((i, edge, gi, prev))
            steps.append((node, g, sends))
    finally:
        swap_grad_enabled(mode_before)
    return steps, grads  # after the walk only leaves are left in `grads`


def input_gradients(node: Node, g: Any) -> list[tuple[int, Any, Any]]:
    """(input index, edge, gradient) for each input of `node` that gets a gradient from the output gradient `g`:
    the node's `op.input_grads` (which `_walk` inlines for speed), broadcasting undone. Changes nothing."""
    op, args = node.op, node.args
    found = []
    for i, (edge, gi) in enumerate(zip(node.edges, op.input_grads(node, g, node.out, args))):
        if edge is None or gi is None:
            continue
        if op.broadcasts and gi.shape != args[i].shape:
            gi = unbroadcast(gi, args[i].shape)
        found.append((i, edge, gi))
    return found


# autograd.viz.keep_shapes: while True, a backward that frees the graph leaves in each node's `out` slot the
# (shape, dtype) of the node's output, read off the gradient of that output (same shape; same dtype, as every
# VJP keeps dtypes: checked at every intermediate node of test_ops' float32 table), so that a drawing of the
# freed graph still shows them. Off by default: reading those two attributes of a numpy value costs ~900
# instructions per node (callgrind: W1 0-d +6.3%, W1 (16,) +2.9%, W5 +4.8%), and keeping the gradient itself
# instead would keep every intermediate gradient alive as long as the graph (+13% peak memory on W4). Off,
# the test costs +0.3% (W1 0-d), +0.2% (W1 (16,), W5). Freed-ness stays `node.args is None`; a multi-output
# Function's node gets (None, None) (its _SlotGrads), the shapes of its outputs being on its op.
_keep_shapes = False

_NUMPY_SCALARS = (np.float32, np.float64, np.float16)  # what 0-d float data and gradients are

_FREED_MESSAGE = (
    "backward: trying to go through the graph a second time (at '{op}'): its saved values were freed by the "
    "first backward(). Pass retain_graph=True to the first backward() if you need to backpropagate twice, or "
    "recompute the forward pass."
)


def _owned(g: Any, handed: set[int]) -> Any:
    """A gradient array a leaf may keep: copy it if it is a view or was already handed out, so that an
    in-place change to one `.grad` (clipping, zero_()) can never show up in another."""
    if g.__class__ is _ndarray:
        if g.base is not None or id(g) in handed or not g.flags.writeable:
            g = g.copy()
        handed.add(id(g))
    return g


def _accumulate_into_leaf(leaf: Tensor, g: Any, create_graph: bool) -> None:
    # The common case first: g of the leaf's own type. Two numpy scalars of the same class have the same
    # dtype, so only arrays compare dtypes (reading a numpy scalar's dtype costs ~550 instructions; 337 leaves
    # per W5 step).
    kind = g.__class__
    if kind is leaf._data.__class__ and (kind is not _ndarray or g.dtype == leaf._data.dtype):
        if leaf.grad is None:
            leaf.grad = Tensor._wrap(g)
        elif leaf.grad.grad_fn is None:
            leaf.grad._data = leaf.grad._data + g
        else:
            leaf.grad = leaf.grad + g
        return
    if isinstance(g, Tensor):
        if g.dtype != leaf.dtype:
            g = g.astype(leaf.dtype)
        leaf.grad = g if leaf.grad is None else leaf.grad + g
        return
    if g.dtype != leaf.dtype:
        g = g.astype(leaf.dtype)
    if leaf.grad is None:
        leaf.grad = Tensor._wrap(g)
    elif leaf.grad.grad_fn is not None:
        leaf.grad = leaf.grad + g
    else:  # accumulate across backward calls, as PyTorch does; the .grad object stays the same
        leaf.grad._data = leaf.grad._data + g


def _run_hooks(hooks: list, g: Any, create_graph: bool) -> Any:
    as_tensor = g if isinstance(g, Tensor) else Tensor._wrap(g)
    for hook in list(hooks):
        result = hook(as_tensor)
        if result is not None:
            if not isinstance(result, Tensor):
                # an array keeps its dtype (checked below); a Python number or list takes the gradient's
                plain = not isinstance(result, (np.ndarray, np.generic))
                result = Tensor._wrap(as_stored(np.asarray(result, as_tensor.dtype if plain else None)))
            if result.shape != as_tensor.shape:
                raise RuntimeError(f"hook {getattr(hook, '__name__', hook)!r} returned a gradient of shape "
                                   f"{result.shape}, expected {as_tensor.shape}")
            if result.dtype != as_tensor.dtype:  # PyTorch: "hook 'h' has changed the type of value"
                raise RuntimeError(f"hook {getattr(hook, '__name__', hook)!r} returned a gradient of dtype "
                                   f"{result.dtype}, expected {as_tensor.dtype} (a hook must not change the "
                                   "gradient's dtype)")
            as_tensor = result
    return as_tensor if create_graph else as_tensor._data


def _as_graph_tensors(node: Node) -> tuple[Any, tuple]:
    """The node's saved values as tensors connected to the graph, so that the VJP is recorded
    (create_graph=True). Inputs that did not require grad stay plain values."""
    args = []
    for edge, value in zip(node.edges, node.args):
        if edge is None or value is None or value.__class__ is Unkept:  # a constant, or an input not kept
            args.append(value)
        elif edge.__class__ is Node:
            args.append(Tensor._wrap(value, edge))
        else:
            args.append(edge)  # a leaf: the tensor itself
    out = None if node.out is None else Tensor._wrap(node.out, node)
    return out, tuple(args)


def _check_saved_values(node: Node) -> None:
    """Fail if an array this node's VJPs read was written in place after the node was created."""
    op = node.op
    saved = op.saved_arrays(node)  # (description, array) for every array the op's backward will read
    for written, writer in core.writes_after(node.seq):
        for what, array in saved:
            if np.may_share_memory(array, written) and np.shares_memory(array, written):
                where = f" (created at {format_location(node.where)})" if node.where else ""
                raise RuntimeError(
                    f"backward: the {what} of '{op.name}'{where}, of shape {array.shape}, was saved for the "
                    f"backward pass and then modified in place by '{writer}'. The gradient would be wrong. "
                    "Modify a copy instead (t = t.clone()), or do the in-place change after backward().")


def _check_backward(node: Node, i: int, gi: Any) -> None:
    data = gi._data if isinstance(gi, Tensor) else gi
    if isinstance(data, (np.ndarray, np.floating)) and data.dtype.kind == "f" and not np.isfinite(data).all():
        from .anomaly import AnomalyError
        kind = "nan" if np.isnan(data).any() else "inf"
        raise AnomalyError(f"detect_anomaly: the backward of '{node.op.name}' produced {kind} in the gradient "
                           f"of its input {i} (shape {np.shape(data)}); its forward ran at "
                           f"{format_location(node.where)}")
