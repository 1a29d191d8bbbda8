"""Drawing computation graphs: `autograd.viz.draw(loss)` shows what was computed and what flows back.

The picture is the forward graph as you wrote it: an oval per operation (`+`, `matmul`, `sum(dim=1)`,
`x[0:2]`, `broadcast`) and a box per tensor with its name, shape and dtype, its value and, after
`backward()`, its gradient. 0-d tensors show the numbers themselves (`data 0.8814 | grad 0.5000`, as in
micrograd); arrays show a short summary (mean, min, max; the gradient's norm). Fill colours separate inputs,
parameters (leaves that require grad), intermediates and outputs; NaN and inf are marked in red.

    >>> import autograd
    >>> from autograd import viz
    >>> a = autograd.tensor(2.0, requires_grad=True, label="a")
    >>> b = autograd.tensor(-3.0, requires_grad=True, label="b")
    >>> loss = (a * b).tanh()
    >>> loss.backward(retain_graph=True)
    >>> graph = viz.draw(loss)          # a graphviz.Digraph: shown inline in Jupyter
    >>> "grad" in graph.source           # the DOT source needs no Graphviz installation
    True

Drawing only reads the graph: it never frees it, never touches `.grad` and never runs hooks. Every walk is
iterative, so a chain of 100,000 operations is drawn (collapsed to `max_nodes`) in a fraction of a second,
without a RecursionError.
The DOT source is deterministic (node ids are counters in graph order, never `id()`), so pictures can be
snapshot-tested.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from . import core
from .core import Tensor, Unkept, _RetainGrad
from .labels import short

if TYPE_CHECKING:  # graphviz is optional: imported when draw() is called
    import graphviz

__all__ = ["draw", "GraphvizNotFoundError", "keep_shapes", "backward_steps", "backward_player", "BackwardSteps",
           "BackwardPlayer"]

# Fill colours of the tensor boxes, by role; operations are grey ovals.
COLOURS = {
    "input": "#dbeafe",         # data: tensors that do not require grad (blue)
    "parameter": "#fde68a",     # leaves that require grad: what training changes (amber)
    "intermediate": "#ffffff",  # results of operations (white)
    "output": "#bbf7d0",        # the tensors you asked to draw (green)
    "operation": "#e5e7eb",
}
BAD = "#dc2626"                 # NaN / inf: red text, a red border and a light red fill
BAD_FILL = "#fee2e2"
MUTED = "#6b7280"               # secondary text: shapes, dtypes, "freed"
# Frames of the backward walk (draw(..., step=k)): the operation being processed and the boxes it reads and
# writes in violet, a gradient added to one that another path already sent in pink.
HIGHLIGHT = "#7c3aed"
HIGHLIGHT_FILL = "#ddd6fe"
ADDED = "#db2777"
# Gradient-norm shading (shade_grad=True): from pale (vanishing) to saturated (largest), on a log scale.
SHADES = ("#fff7ec", "#fee8c8", "#fdd49e", "#fdbb84", "#fc8d59", "#ef6548")

_SMALL = 6  # arrays with at most this many elements show their values instead of a summary
_FREED = object()  # marks a value the graph no longer holds (freed by backward())

INSTALL_HELP = """\
Rendering needs the Graphviz `dot` program, which was not found on PATH. Install it with:
  Debian/Ubuntu:  sudo apt-get install graphviz
  macOS:          brew install graphviz
  conda:          conda install -c conda-forge graphviz
  Windows:        winget install graphviz  (or the installer from https://graphviz.org/download/),
                  then add Graphviz's bin folder to PATH
The DOT source is available without it: print(graph.source), or graph.save('graph.dot') and open the file
in any Graphviz viewer."""


class GraphvizNotFoundError(RuntimeError):
    """Rendering a drawing needs the Graphviz `dot` program, and it is not installed.

    Raised errors are also `graphviz.ExecutableNotFound`, so code catching that keeps working."""


def draw(*roots: Tensor, names: Mapping[str, Tensor] | Iterable[tuple[str, Tensor]] | None = None,
         rankdir: str = "LR", show_values: bool = True, show_grad: bool = True, shade_grad: bool = False,
         max_nodes: int | None = 100, step: int | None = None) -> graphviz.Digraph:
    """Draw the computation graph that produced `roots`, as a `graphviz.Digraph`.

    roots       the tensors to draw (usually the loss); several roots share one picture
    names       name -> tensor, e.g. `dict(model.named_parameters())` (the pairs themselves work too).
                Without it a tensor shows its `label=` if it was given one. Dotted parameter names
                (`0.weight`, `block1.conv.bias`) are grouped into one box per module.
    rankdir     'LR' (left to right, the default) or 'TB' (top to bottom); also 'RL', 'BT'
    show_values show each tensor's value (0-d) or a summary of it (arrays)
    show_grad   show gradients: a leaf's `.grad` and the `.grad` of tensors that called `retain_grad()`.
                Once a backward pass has run (some leaf has a `.grad`) and while the graph still holds
                its values (`backward(retain_graph=True)`), every other tensor's gradient d(roots)/d(tensor)
                is computed for the picture with `autograd.grad`: nothing is accumulated into `.grad`, the
                graph is not freed, and no hooks run (the drawn gradients are the plain derivatives).
                Roots that are not scalars get no such computed gradients (they would need a seed vector).
    shade_grad  fill tensors by the norm of their gradient on a log scale, pale to orange, so vanishing
                and exploding gradients show at a glance (a legend gives the scale)
    max_nodes   the most operations to draw, nearest the roots first; the rest of the graph is collapsed
                into one node that counts what it hides. None draws everything.
    step        draw the graph part way through the backward walk of the (one) root, after step k of
                `backward_steps(root)` (0: before the first): the operation being processed highlighted,
                the gradients sent so far filled in, the rest still empty. Nothing is run or changed (see
                `backward_steps`); the frames of one graph share one layout. `backward_player` plays them.

    The result renders inline in Jupyter; `.source` is the DOT text (no Graphviz program needed), and
    `.render()`/`.pipe()` make SVG/PNG/PDF with Graphviz's `dot` program (an error says how to install it).

    >>> import autograd
    >>> x = autograd.tensor([1.0, 2.0], requires_grad=True)
    >>> graph = draw((x * x).sum(), names={"x": x})
    >>> graph.source.count(" -> ")      # x -> *, x -> *, * -> x*x, x*x -> sum, sum -> result
    5
    """
    _graphviz()  # fail early, with installation help, if the package is missing
    roots = _check_roots(roots)
    if step is not None:
        if len(roots) != 1:
            raise ValueError(f"draw: step= follows the backward walk of one tensor, got {len(roots)} roots")
        steps = backward_steps(roots[0], names)
        return steps.draw(step, rankdir=rankdir, show_values=show_values, shade_grad=shade_grad,
                          max_nodes=max_nodes)
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"draw: rankdir must be 'LR', 'TB', 'RL' or 'BT', got {rankdir!r}")
    if max_nodes is not None and (not isinstance(max_nodes, int) or max_nodes < 1):
        raise ValueError(f"draw: max_nodes must be a positive int or None, got {max_nodes!r}")
    drawing = _Drawing(roots, _check_names(names), show_values, show_grad, shade_grad, max_nodes)
    return drawing.to_graphviz(rankdir)


def _draw_frame(root: Tensor, names: list[tuple[str, Tensor]], frame: Any, rankdir: str = "LR",
                show_values: bool = True, shade_grad: bool = False, max_nodes: int | None = 100,
                caption: bool = True) -> graphviz.Digraph:
    """A frame of the backward walk (`frame` from BackwardSteps.frame): see `draw(..., step=k)`."""
    _graphviz()
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"draw: rankdir must be 'LR', 'TB', 'RL' or 'BT', got {rankdir!r}")
    if max_nodes is not None and (not isinstance(max_nodes, int) or max_nodes < 1):
        raise ValueError(f"draw: max_nodes must be a positive int or None, got {max_nodes!r}")
    drawing = _Drawing([root], names, show_values, True, shade_grad, max_nodes, frame)
    return drawing.to_graphviz(rankdir, frame.caption if caption else None)


# ---------------------------------------------------------------------------------------------------------------
# Reading the graph
# ---------------------------------------------------------------------------------------------------------------
class _Value:
    """One tensor box: its role, its name, what is known of its value and gradient, and its DOT id."""

    __slots__ = ("id", "kind", "name", "data", "grad", "wants_grad", "collapsed_input", "not_kept", "known",
                 "ghost", "mark")

    def __init__(self, id_: str, kind: str, name: str | None, data: Any, grad: Any = None,
                 wants_grad: bool = False) -> None:
        self.id, self.kind, self.name, self.data, self.grad = id_, kind, name, data, grad
        self.wants_grad = wants_grad      # a leaf that requires grad: say "grad None" when it has none
        self.collapsed_input = False      # also feeds operations hidden in the summary node
        self.not_kept: tuple | None = None  # (shape, dtype) of a value its consumer let go in the forward pass
        self.known: tuple | None = None  # (shape, dtype) of a value freed by backward(), when that was recorded
        self.ghost: Any = None  # a frame of the walk: the gradient still to come, drawn invisible (same layout)
        self.mark: str | None = None  # ... and "upstream", "sent" or "added" where the current step acts


class _Drawing:
    """Collects what the picture shows (walking the graph once, iteratively), then writes it as DOT."""

    def __init__(self, roots: list[Tensor], names: list[tuple[str, Tensor]], show_values: bool,
                 show_grad: bool, shade_grad: bool, max_nodes: int | None, frame: Any = None) -> None:
        self.show_values, self.show_grad, self.shade_grad = show_values, show_grad, shade_grad
        self.frame = frame              # a frame of the backward walk (viz_steps._Frame), or None
        self.active_op: str | None = None
        self.data_labels = core.data_labels()  # the labels of inputs that do not require grad, by array
        from .function import _Select  # here, not at the top: `import autograd` imports this module first
        self.selector = _Select         # the op of a node that picks output k of a multi-output Function
        self.counter = 0
        self.order: list[str] = []            # every DOT node id, in the order created
        self.values: dict[Any, _Value] = {}   # keyed by Node, or id() of a leaf tensor / input array
        self.constants: list[_Value] = []
        self.ops: list[tuple[str, str, str]] = []  # (id, label, tooltip), in forward order
        self.edges: list[tuple[str, str, dict]] = []  # (tail id, head id, attributes)
        self.op_ids: dict[Any, str] = {}      # Node -> id of its oval
        self.frontier: list[_Value] = []      # drawn values made by hidden operations

        # Names: the user's dict first, then labels. Keyed by id(); `names` keeps the objects alive.
        self.name_of: dict[int, str] = {}
        names = [(_printable(name), t) for name, t in names]
        self.name_rank = {name: i for i, (name, _) in enumerate(names)}
        self.named_output: dict[Any, Tensor] = {}  # Node -> a named tensor it produced: its data is at hand
        for name, t in names:
            self.name_of.setdefault(id(t.grad_fn) if t.grad_fn is not None else id(t), name)
            if t.grad_fn is not None:
                self.named_output.setdefault(t.grad_fn, t)
            else:
                self.name_of.setdefault(id(t._data), name)  # a tensor that is not in the graph: by its data

        self.roots = roots
        self.root_of = {}  # Node -> the root tensor it produced
        for r in roots:
            if r.grad_fn is not None:
                self.root_of.setdefault(r.grad_fn, r)
        root_nodes = list(self.root_of)
        everything, leaves = _reachable(root_nodes)
        keep = everything if max_nodes is None else everything[:max_nodes]
        self.hidden = everything[len(keep):]
        self.kept = set(keep)

        retained = _retained_tensors(everything)
        self.computed = self._computed_grads(everything, leaves, keep) if show_grad and frame is None else {}
        for node in _forward_order(root_nodes, self.kept):
            self._add_operation(node, retained)
        for r in roots:
            if r.grad_fn is None:  # a root that is a leaf (or not in any graph): a single box
                self._leaf(r).kind = "output"
        self.summary = self._summarise_hidden() if self.hidden else None

    # --- ids and boxes ---------------------------------------------------------------------------------------
    def _new_id(self, prefix: str) -> str:
        self.counter += 1
        self.order.append(f"{prefix}{self.counter}")
        return self.order[-1]

    def _leaf(self, t: Tensor) -> _Value:
        value = self.values.get(id(t))
        if value is None:
            name = self.name_of.get(id(t)) or _printable(t.label)
            kind = "parameter" if t.requires_grad else "input"
            grad = _grad_data(t.grad) if self.frame is None else self.frame.grads.get(t)
            value = _Value(self._new_id("t"), kind, name, t._data, grad, t.requires_grad)
            self.values[id(t)] = value
            self._in_frame(value, t)
        return value

    def _in_frame(self, value: _Value, key: Any) -> None:
        """A frame of the walk: the gradient to come (kept invisible) and the part the current step plays."""
        frame = self.frame
        if frame is None:
            return
        if value.grad is None:
            value.ghost = frame.final.get(key)
        if key in frame.receiving:
            value.mark = "added" if frame.receiving[key] else "sent"
        elif frame.active is not None and key is frame.active:
            value.mark = "upstream"

    def _input(self, array: Any) -> _Value:
        value = self.values.get(id(array))
        if value is None:
            name = self.name_of.get(id(array)) or _printable(self.data_labels.get(id(array)))
            value = _Value(self._new_id("t"), "input", name, array)
            self.values[id(array)] = value
        return value

    def _constant(self, number: Any) -> _Value:
        value = _Value(self._new_id("c"), "constant", None, number)
        self.constants.append(value)
        return value

    def _node_value(self, node: Any, retained: dict) -> _Value:
        """The box for the output of `node` (an operation drawn, or one hidden in the summary)."""
        value = self.values.get(node)
        if value is not None:
            return value
        root = self.root_of.get(node)
        kept_tensor = retained.get(node)
        if kept_tensor is None:
            kept_tensor = self.named_output.get(node)
        name = self.name_of.get(id(node)) or _printable(getattr(node, "label", None))
        if name is None and root is not None:
            name = _printable(root.label)
        data: Any = _FREED
        if root is not None:
            data = root._data
        elif kept_tensor is not None:
            data = kept_tensor._data
        elif getattr(node, "out", None) is not None and getattr(node, "args", None) is not None:
            data = node.out  # (once backward() freed the node, `out` holds at most its shape and dtype)
        if self.frame is not None:
            grad = self.frame.grads.get(node)
        else:
            grad = _grad_data(kept_tensor.grad) if kept_tensor is not None else None
            if grad is None:
                grad = self.computed.get(node)
        value = _Value(self._new_id("t"), "output" if root is not None else "intermediate", name, data, grad)
        if data is _FREED:
            value.known = self._output_shape(node)
        self.values[node] = value
        self._in_frame(value, node)
        return value

    def _output_shape(self, node: Any) -> tuple | None:
        """(shape, dtype) of the output of `node` when its value is gone: a custom Function records its outputs'
        at the forward pass; a node freed by a backward() under `keep_shapes` has them in its `out` slot."""
        op = node.op
        if isinstance(op, self.selector):  # output k of a multi-output Function
            return op.function.outputs[op.k]
        outputs = getattr(op, "outputs", None)  # a custom Function (function.FunctionBackward)
        if outputs is not None and getattr(op, "single", False):
            return outputs[0]
        recorded = getattr(node, "out", None) if getattr(node, "args", None) is None else None
        return recorded if isinstance(recorded, tuple) and recorded[0] is not None else None

    def _add_operation(self, node: Any, retained: dict) -> None:
        if isinstance(node.op, self.selector):  # output k of a multi-output Function: an edge from its oval
            function = node.edges[0]
            value = self._node_value(node, retained)
            if function in self.kept:
                self.edges.append((self.op_ids[function], value.id, {"label": f"[{node.op.k}]",
                                                                      "fontsize": "9"}))
            else:
                self.frontier.append(value)
            return
        inputs = []
        args = node.args
        for i, edge in enumerate(node.edges):
            arg = _FREED if args is None or i >= len(args) else args[i]
            if edge is None:
                if arg is _FREED:
                    value = self._freed_input()
                elif arg.__class__ is Unkept:
                    value = self._freed_input()
                    value.not_kept = (arg.shape, arg.dtype)
                elif arg is None:
                    continue
                elif isinstance(arg, (np.ndarray, np.generic)):
                    value = self._input(arg)
                else:
                    value = self._constant(arg)
            elif isinstance(edge, Tensor):
                value = self._leaf(edge)
            else:
                value = self._node_value(edge, retained)
                if value.data is _FREED and arg is not _FREED:
                    if arg.__class__ is Unkept:  # let go in the forward pass (see Primitive): only its shape
                        value.not_kept = (arg.shape, arg.dtype)
                    elif arg is None:  # let go by an op that reads only its output, of the input's shape
                        if node.out is not None:
                            value.not_kept = (node.out.shape, node.out.dtype)
                    else:
                        value.data = arg  # an input's value is what its consumer saved
            inputs.append(value.id)
        op_id = self.op_ids[node] = self._new_id("op")
        if self.frame is not None and node is self.frame.active:  # the gradients flow back along its edges
            self.active_op = op_id
            marked = {v.id: v.mark for v in self.values.values() if v.mark in ("sent", "added")}
            self.edges += [(value_id, op_id, {"color": ADDED if marked[value_id] == "added" else HIGHLIGHT,
                                              "penwidth": "2", "dir": "back"} if value_id in marked else {})
                           for value_id in inputs]
        else:
            self.edges += [(value_id, op_id, {}) for value_id in inputs]
        self.ops.append((op_id, op_label(node), _op_tooltip(node)))
        if not _multi_output(node):  # else its outputs are drawn from its _Select nodes
            self.edges.append((op_id, self._node_value(node, retained).id, {}))

    def _freed_input(self) -> _Value:
        """An input that did not require grad (a tensor or a number), freed by backward(): a placeholder."""
        value = _Value(self._new_id("c"), "constant", None, _FREED)
        self.constants.append(value)
        return value

    # --- gradients of intermediate tensors ---------------------------------------------------------------------
    def _computed_grads(self, everything: list, leaves: list[Tensor], keep: list) -> dict:
        """d(sum of roots)/d(output of each drawn node), computed without changing anything, when a backward
        pass has run (a leaf has .grad) and the graph still holds its values; otherwise {}."""
        roots = list(self.root_of.values())  # one per node: draw(z, z) is still d z
        if not roots or any(r._data.size != 1 for r in roots):
            return {}
        if not any(leaf.grad is not None for leaf in leaves):
            return {}  # before backward(): gradients appear after it, as they do in .grad
        if any(node.args is None for node in everything):
            return {}  # freed by backward(): only .grad of leaves and retain_grad() tensors is left
        wanted = list(keep)  # and the outputs of hidden operations that feed drawn ones (they are drawn too)
        wanted += [edge for node in keep for edge in node.edges
                   if edge is not None and not isinstance(edge, Tensor) and edge not in self.kept]
        wanted = [node for node in wanted if not _multi_output(node)]  # their output is not one tensor
        targets = [Tensor._wrap(np.float32(0), node) for node in dict.fromkeys(wanted)]
        from .engine import inspect_gradients  # no hooks, no anomaly checks, nothing freed or accumulated
        try:
            with np.errstate(all="ignore"):
                grads = inspect_gradients(roots, targets)
        except RuntimeError:  # e.g. a saved value was modified in place since: draw without them
            return {}
        return {t.grad_fn: g for t, g in zip(targets, grads) if g is not None}

    # --- the collapsed rest ---------------------------------------------------------------------------------
    def _summarise_hidden(self) -> str:
        """Add the summary node standing for every hidden operation; edges go to the drawn values they feed."""
        summary_id = self._new_id("more")
        drawn_leaves = {key for key, v in self.values.items() if isinstance(key, int) and v.kind != "constant"}
        hidden_leaves: set[int] = set()
        hidden_inputs: set[int] = set()
        for node in self.hidden:
            args = node.args
            for i, edge in enumerate(node.edges):
                if isinstance(edge, Tensor):
                    key = id(edge)
                elif edge is None and args is not None and isinstance(args[i], (np.ndarray, np.generic)):
                    key = id(args[i])
                else:
                    continue
                if key in drawn_leaves:
                    self.values[key].collapsed_input = True
                elif edge is None:
                    hidden_inputs.add(key)
                else:
                    hidden_leaves.add(key)
        dashed = {"style": "dashed", "color": MUTED}
        for key, value in self.values.items():
            if not isinstance(key, int) and key not in self.kept:  # an output of a hidden operation
                self.frontier.append(value)
        for value in self.frontier:
            self.edges.append((summary_id, value.id, dashed))
        for value in self.values.values():
            if value.collapsed_input:
                self.edges.append((value.id, summary_id, dashed))
        n = sum(not isinstance(node.op, self.selector) for node in self.hidden)  # selectors are not ops
        lines = [f"&#8230; {n:,} more operation{'s' if n != 1 else ''}"]
        extra = [f"{k:,} {what}{'s' if k != 1 else ''}"
                 for k, what in ((len(hidden_leaves), "parameter"), (len(hidden_inputs), "input")) if k]
        if extra:
            lines.append(f"(and {', '.join(extra)})")
        lines.append(f'<FONT POINT-SIZE="8" COLOR="{MUTED}">collapsed: draw(..., max_nodes=None) shows all</FONT>')
        self.summary_id = summary_id
        return "<BR/>".join(lines)

    # --- writing DOT ---------------------------------------------------------------------------------------------
    def to_graphviz(self, rankdir: str, caption: str | None = None) -> graphviz.Digraph:
        font = "Helvetica,Arial,sans-serif"
        extra = {} if caption is None else {"label": _caption(caption), "labelloc": "t", "labeljust": "l"}
        dot = _graph_class()(
            graph_attr={"rankdir": rankdir, "bgcolor": "white", "fontname": font, "nodesep": "0.3",
                        "ranksep": "0.4", **extra},
            node_attr={"fontname": font, "fontsize": "10"},
            edge_attr={"arrowsize": "0.7", "color": "#4b5563"})
        scale = self._grad_scale() if self.shade_grad else None

        # Parameters with dotted names, one cluster per module prefix (nested: block1 > block1.conv)
        clusters: dict[str, Any] = {}
        placed: set[str] = set()
        grouped = [v for v in self.values.values() if v.kind == "parameter" and v.name and "." in v.name]
        grouped.sort(key=lambda v: self.name_rank.get(v.name, len(self.name_rank)))  # as named_parameters()
        for value in grouped:
            prefix = value.name.rsplit(".", 1)[0]
            self._cluster(clusters, prefix).node(value.id, **self._value_attrs(value, scale))
            placed.add(value.id)
        order = list(clusters)
        for prefix in sorted(clusters, key=lambda p: (-p.count("."), order.index(p))):
            if "." in prefix:  # deepest first, so that a cluster is complete before its parent takes it
                clusters[prefix.rsplit(".", 1)[0]].subgraph(clusters[prefix])
        for prefix, cluster in clusters.items():
            if "." not in prefix:
                dot.subgraph(cluster)

        ops = {op_id: (label, tooltip) for op_id, label, tooltip in self.ops}
        boxes = {v.id: v for v in [*self.values.values(), *self.constants]}
        for node_id in self.order:
            if node_id in ops:
                label, tooltip = ops[node_id]
                # the operation a frame of the walk processes: colours only, so every frame has one layout
                look = ({"fillcolor": HIGHLIGHT_FILL, "color": HIGHLIGHT, "penwidth": "2"}
                        if node_id == self.active_op else {"fillcolor": COLOURS["operation"], "color": "#9ca3af"})
                dot.node(node_id, label=f"<{html.escape(_printable(label), quote=False)}>", shape="ellipse",
                         style="filled", **look, margin="0.05,0.02", height="0.3",
                         tooltip=_graphviz().escape(_printable(tooltip)))
            elif node_id in boxes and node_id not in placed:
                dot.node(node_id, **self._value_attrs(boxes[node_id], scale))
        if self.summary is not None:
            dot.node(self.summary_id, label=f"<{self.summary}>", shape="box", style="dashed,rounded",
                     color=MUTED, fontcolor="#374151")
        for tail, head, attrs in self.edges:
            dot.edge(tail, head, **attrs)
        if scale is not None:
            dot.node("legend", label=_legend(*scale), shape="plain")
        return dot

    def _cluster(self, clusters: dict, prefix: str) -> Any:
        """The cluster subgraph for `prefix`, creating it (and its parents, so they come first) if needed."""
        parts = prefix.split(".")
        for depth in range(1, len(parts) + 1):
            p = ".".join(parts[:depth])
            if p not in clusters:
                cluster = _graph_class()(name=f"cluster_{len(clusters)}")
                cluster.attr(label=_graphviz().nohtml(p), style="rounded,dashed", color="#9ca3af", fontcolor="#374151",
                             fontsize="10", labeljust="l")
                clusters[p] = cluster
        return clusters[prefix]

    def _grad_scale(self) -> tuple[float, float] | None:
        """(lowest, highest) log10 gradient norm among the finite, non-zero gradients drawn."""
        logs = [math.log10(n) for v in self.values.values() if v.grad is not None
                for n in (_norm(v.grad),) if math.isfinite(n) and n > 0]
        if not logs:
            return None
        hi = math.ceil(max(logs))
        lo = min(math.floor(min(logs)), hi - 1)
        return lo, hi

    def _value_attrs(self, value: _Value, scale: tuple[float, float] | None) -> dict[str, str]:
        if value.kind == "constant":  # part of the expression (x * 2), so shown even without values
            text = "<I>freed</I>" if value.data is _FREED else html.escape(short(value.data))
            return {"label": f"<{text}>", "shape": "plaintext", "fontcolor": "#374151", "fontsize": "9",
                    "height": "0.2"}
        fill = COLOURS[value.kind]
        if scale is not None and value.grad is not None:
            fill = _shade(_norm(value.grad), *scale)
        return {"label": _value_label(value, self.show_values, self.show_grad, fill), "shape": "plain"}


class keep_shapes:
    """Keep the shape and dtype of every intermediate tensor when `backward()` frees the graph, so that `draw`
    still shows them in the boxes whose values are gone (`(3, 2) float32`, `data freed`).

    A plain `backward()` frees what the graph saved; afterwards `draw` knows the values of the leaves, the roots
    and the tensors you named or called `retain_grad()` on, but only the operations in between. Under
    `keep_shapes`, the freeing backward leaves each node the shape and dtype of its output (nothing else: no
    array stays alive). It is off by default because it is not free: about 6% more time for a graph of 0-d
    tensors (forward and backward), 3% for small arrays. Call it once (a notebook's first cell) or use it as a
    context manager; the setting is process-wide. The outputs of custom `autograd.Function`s always keep theirs.

    >>> import autograd
    >>> from autograd import viz
    >>> x = autograd.tensor([[1.0, 2.0]], requires_grad=True)
    >>> with viz.keep_shapes():
    ...     loss = (x * x).exp().sum()
    ...     loss.backward()
    >>> "(1, 2) float32" in viz.draw(loss).source
    True
    """

    def __init__(self, enabled: bool = True) -> None:
        from . import engine
        self._before = engine._keep_shapes
        engine._keep_shapes = bool(enabled)

    def __enter__(self) -> keep_shapes:
        return self

    def __exit__(self, *exc: object) -> None:
        from . import engine
        engine._keep_shapes = self._before


def _reachable(root_nodes: list) -> tuple[list, list[Tensor]]:
    """Every node reachable from the roots, nearest first (breadth-first, iterative), and the leaf tensors
    (requiring grad) that the graph reaches, in the order found."""
    order = list(root_nodes)
    seen = set(root_nodes)
    leaves: dict[int, Tensor] = {}
    k = 0
    while k < len(order):
        for edge in order[k].edges:
            if edge is None:
                continue
            if isinstance(edge, Tensor):
                leaves.setdefault(id(edge), edge)
            elif edge not in seen:
                seen.add(edge)
                order.append(edge)
        k += 1
    return order, list(leaves.values())


def _forward_order(root_nodes: list, kept: set) -> list:
    """The kept nodes, inputs before the operations that use them (an iterative depth-first post-order), so
    the DOT source reads in the order the forward pass ran."""
    order: list = []
    done: set = set()
    for root in root_nodes:
        if root in done:
            continue
        done.add(root)
        stack = [(root, iter(root.edges))]
        while stack:
            node, pending = stack[-1]
            for edge in pending:
                if edge is not None and not isinstance(edge, Tensor) and edge in kept and edge not in done:
                    done.add(edge)
                    stack.append((edge, iter(edge.edges)))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


def _retained_tensors(nodes: list) -> dict:
    """node -> the tensor it produced, for tensors that called retain_grad() (they hold their value and .grad)."""
    found = {}
    for node in nodes:
        for hook in node.hooks or ():
            if isinstance(hook, _RetainGrad):
                t = hook.ref()
                if t is not None and t.grad_fn is node:
                    found[node] = t
    return found


def _multi_output(node: Any) -> bool:
    """A custom Function with several outputs: its node's output is a tuple, each output has a _Select node."""
    return getattr(node.op, "single", True) is False


def _grad_data(grad: Tensor | None) -> Any:
    return None if grad is None else grad._data


def _check_roots(roots: tuple) -> list[Tensor]:
    if len(roots) == 1 and isinstance(roots[0], (list, tuple)):
        roots = tuple(roots[0])
    if not roots:
        raise ValueError("draw: give at least one tensor to draw, e.g. draw(loss)")
    for i, r in enumerate(roots):
        if not isinstance(r, Tensor):
            raise TypeError(f"draw: roots must be tensors, root {i} is {type(r).__name__}")
    return list(roots)


def _check_names(names: Any, caller: str = "draw") -> list[tuple[str, Tensor]]:
    if names is None:
        return []
    pairs = list(names.items() if isinstance(names, Mapping) else names)
    for pair in pairs:
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str)
                and isinstance(pair[1], Tensor)):
            raise TypeError(f"{caller}: names must map names (str) to tensors, e.g. "
                            f"dict(model.named_parameters()) or {{'x': x}}; got the entry {pair!r:.80}")
    return pairs


# ---------------------------------------------------------------------------------------------------------------
# Operation names
# ---------------------------------------------------------------------------------------------------------------
def op_label(node: Any) -> str:
    """A readable name for an operation node: `+`, `matmul`, `sum(dim=1)`, `x[0:2]`, `gather(dim=1)`..."""
    op = node.op
    params = node.params or {}
    label = getattr(op, "label", None)  # the primitive's own (labels.py), when it has one
    if label is not None:
        return label(params)
    symbol = getattr(op, "symbol", None) or getattr(op, "name", None) or type(op).__name__
    extras = ", ".join(f"{k}={short(v)}" for k, v in params.items())
    return f"{symbol}({extras})" if extras else symbol


def _op_tooltip(node: Any) -> str:
    """The PyTorch-style backward name, and where the forward ran when that was recorded."""
    name = getattr(node.op, "backward_name", None) or op_label(node)
    where = getattr(node, "where", None)
    return name if where is None else f"{name} at {core.format_location(where)}"


# C0 control characters and DEL as their Unicode control pictures (NUL -> U+2400, ESC -> U+241B, DEL -> U+2421),
# lone surrogates (which no file can encode) as U+FFFD
_UNPRINTABLE = {**{c: 0x2400 + c for c in range(32)}, 0x7F: 0x2421, **{c: 0xFFFD for c in range(0xD800, 0xE000)}}


def _printable(text: str | None) -> str | None:
    """A name or label as the DOT source can carry it. A NUL ends the DOT parser's input (the source becomes
    unparsable), and XML, which Graphviz's HTML-like labels are, refuses every other control character: each
    is drawn as its control picture, visible and harmless."""
    return None if text is None else str(text).translate(_UNPRINTABLE)


# ---------------------------------------------------------------------------------------------------------------
# Tensor boxes
# ---------------------------------------------------------------------------------------------------------------
def _value_label(value: _Value, show_values: bool, show_grad: bool, fill: str) -> str:
    """The HTML-like label of a tensor box: a row for 0-d tensors (micrograd's `name | data | grad`),
    stacked lines for arrays."""
    data = value.data
    freed = data is _FREED
    cells: list[str] = []
    bad = False
    header = f"<B>{html.escape(value.name)}</B>" if value.name else ""
    if not freed:
        data = np.asarray(data)
    meta = "" if freed else (str(data.dtype) if data.ndim == 0 else f"{data.shape} {data.dtype}")
    if freed and value.not_kept is not None:
        shape, dtype = value.not_kept
        meta = f"{shape} {dtype}"
    elif freed and value.known is not None:  # as a box with its data shows them
        shape, dtype = value.known
        meta = str(dtype) if len(shape) == 0 else f"{tuple(shape)} {dtype}"
    scalar = not freed and data.ndim == 0
    if meta:
        header += ("<BR/>" if header else "") + f'<FONT POINT-SIZE="8" COLOR="{MUTED}">{meta}</FONT>'
    if header:
        cells.append(header)
    if show_values:
        if freed:
            why = "not kept" if value.not_kept is not None else "freed"  # by its consumer, or by backward()
            cells.append(f'<FONT COLOR="{MUTED}"><I>data {why}</I></FONT>')
        else:
            text, is_bad = _summary(data, gradient=False)
            cells.append(_cell("data", text, is_bad))
            bad |= is_bad
    if show_grad and value.kind != "input":
        if value.grad is not None:
            text, is_bad = _summary(value.grad, gradient=True)
            cells.append(_cell("grad", text, is_bad))
            bad |= is_bad
        elif value.ghost is not None:  # in the fill colour: invisible, but it keeps the box its final size
            text, _ = _summary(value.ghost, gradient=True)
            cells.append(f'<FONT COLOR="{fill}">grad {html.escape(text)}</FONT>')
        elif value.wants_grad:
            cells.append(f'<FONT COLOR="{MUTED}">grad None</FONT>')
    if scalar:   # one row: name | data | grad
        body = "<TR>" + "<VR/>".join(f"<TD>{c}</TD>" for c in cells) + "</TR>"
    else:
        body = "<HR/>".join(f'<TR><TD ALIGN="LEFT" BALIGN="LEFT">{c}</TD></TR>' for c in cells)
    border = f' COLOR="{BAD}" BORDER="2"' if bad else ' COLOR="#4b5563" BORDER="1"'
    if value.mark is not None and not bad:  # a frame of the walk: what the current step reads or writes
        border = f' COLOR="{ADDED if value.mark == "added" else HIGHLIGHT}" BORDER="1"'
    fill = BAD_FILL if bad else fill
    style = ' STYLE="ROUNDED"' if value.kind in ("input", "output") else ""
    return (f'<<TABLE{border} CELLBORDER="0" CELLSPACING="0" CELLPADDING="3" BGCOLOR="{fill}"{style}>'
            f"{body}</TABLE>>")


def _caption(text: str) -> str:
    """A frame's caption (the step in words) as an HTML-like label, one line per line, left-aligned."""
    lines = [html.escape(_printable(line) or "") for line in text.split("\n")]
    return "<" + '<BR ALIGN="LEFT"/>'.join(lines) + '<BR ALIGN="LEFT"/>>'


def _cell(what: str, text: str, bad: bool) -> str:
    text = f"{what} {html.escape(text)}"
    return f'<FONT COLOR="{BAD}">{text}</FONT>' if bad else text


def _summary(data: Any, gradient: bool) -> tuple[str, bool]:
    """A short description of a value or gradient, and whether it holds NaN or inf.
    0-d: the number. Small arrays: the numbers. Larger: mean, min, max (and the norm for a gradient)."""
    a = np.asarray(data)
    if a.ndim == 0:
        x = a.item()
        return _number(x), isinstance(x, (float, complex)) and not np.isfinite(x)
    if a.size == 0:
        return "empty", False
    if a.dtype == bool:
        return f"{int(a.sum())} of {a.size} true", False
    finite = np.isfinite(a) if a.dtype.kind in "fc" else np.ones(a.shape, bool)
    n_bad = a.size - int(finite.sum())
    if a.size <= _SMALL:  # the numbers themselves, nested by rows (size-1 dims dropped: the header has the shape)
        shown = a.reshape([n for n in a.shape if n != 1] or [1])
        text = np.array2string(shown, separator=", ", max_line_width=10**6, formatter={"all": _number})
        return text.replace("\n", ""), n_bad > 0
    if a.dtype.kind == "c":
        return f"norm {_number(float(np.linalg.norm(a)))}", n_bad > 0
    parts = []
    if n_bad:  # count them, then summarise the finite rest
        nan = int(np.isnan(a).sum())
        parts.append(", ".join(f"{k} {what}" for k, what in ((nan, "nan"), (n_bad - nan, "inf")) if k)
                     + f" of {a.size}")
        a = a[finite]
        if a.size == 0:
            return parts[0], True
    if gradient:
        parts.append(f"norm {_number(float(np.linalg.norm(a.astype(np.float64).reshape(-1))))}")
    parts.append(f"mean {_number(float(a.mean(dtype=np.float64)))}")
    parts.append(f"min {_number(a.min().item())}")
    parts.append(f"max {_number(a.max().item())}")
    return ", ".join(parts), n_bad > 0


def _number(x: Any) -> str:
    """4 decimals for everyday magnitudes (micrograd's format), scientific notation for tiny and huge ones
    (so a vanishing gradient reads 3.2e-09, not 0.0000)."""
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (complex, np.complexfloating)):
        return f"{complex(x):.4g}"
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    if x == 0 or 1e-3 <= abs(x) < 1e5:
        return f"{x:.4f}"
    return f"{x:.3e}"


def _norm(grad: Any) -> float:
    a = np.asarray(grad)
    if a.dtype.kind not in "fc":
        return float("nan")
    return float(np.linalg.norm(a.astype(np.complex128 if a.dtype.kind == "c" else np.float64).reshape(-1)))


def _shade(norm: float, lo: float, hi: float) -> str:
    """The fill for a gradient of this norm: SHADES interpolated on log10(norm) from lo to hi."""
    if not math.isfinite(norm):
        return SHADES[-1] if norm == math.inf else "#ffffff"
    t = 0.0 if norm <= 0 else min(max((math.log10(norm) - lo) / (hi - lo), 0.0), 1.0)
    pos = t * (len(SHADES) - 1)
    i = min(int(pos), len(SHADES) - 2)
    a, b = SHADES[i], SHADES[i + 1]
    mix = [round(int(a[k:k + 2], 16) * (1 - (pos - i)) + int(b[k:k + 2], 16) * (pos - i)) for k in (1, 3, 5)]
    return "#" + "".join(f"{c:02x}" for c in mix)


def _legend(lo: float, hi: float) -> str:
    steps = list(range(int(lo), int(hi) + 1))
    if len(steps) > 7:  # at most 7 swatches: every k-th decade, always including both ends
        k = math.ceil((len(steps) - 1) / 6)
        steps = [*steps[::k][:-1], steps[-1]] if steps[::k][-1] != steps[-1] else steps[::k]
    cells = "".join(f'<TD BGCOLOR="{_shade(10.0 ** s, lo, hi)}">1e{s}</TD>' for s in steps)
    return (f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3"><TR><TD COLSPAN="{len(steps)}" '
            f'BORDER="0"><FONT POINT-SIZE="9">gradient norm (log scale)</FONT></TD></TR>'
            f"<TR>{cells}</TR></TABLE>>")


# ---------------------------------------------------------------------------------------------------------------
# graphviz, imported lazily (autograd works without it)
# ---------------------------------------------------------------------------------------------------------------
def _graphviz() -> Any:
    try:
        import graphviz
    except ImportError:
        raise ImportError("autograd.viz.draw needs the graphviz Python package: pip install graphviz "
                          "(rendering pictures also needs the Graphviz program: apt-get install graphviz, "
                          "brew install graphviz, or conda install -c conda-forge graphviz)") from None
    return graphviz


_GRAPH_CLASS: Any = None


def _graph_class() -> type:
    """A graphviz.Digraph subclass whose rendering errors say how to install Graphviz (made once, on first use)."""
    global _GRAPH_CLASS
    if _GRAPH_CLASS is not None:
        return _GRAPH_CLASS
    graphviz = _graphviz()

    class DotNotFound(GraphvizNotFoundError, graphviz.ExecutableNotFound):
        def __init__(self, message: str) -> None:
            RuntimeError.__init__(self, message)

    class ComputationGraph(graphviz.Digraph):
        """A graphviz.Digraph of a computation graph (made by autograd.viz.draw)."""

        def pipe(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().pipe(*args, **kwargs)
            except graphviz.ExecutableNotFound:
                raise DotNotFound(INSTALL_HELP) from None

        def render(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().render(*args, **kwargs)
            except graphviz.ExecutableNotFound:
                raise DotNotFound(INSTALL_HELP) from None

        def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> dict:
            # Jupyter: without Graphviz show how to get it (and that .source works) instead of a traceback
            try:
                return super()._repr_mimebundle_(include, exclude, **kwargs)
            except GraphvizNotFoundError as err:
                return {"text/plain": str(err)}

    _GRAPH_CLASS = ComputationGraph
    return ComputationGraph


from .viz_steps import BackwardPlayer, BackwardSteps, backward_player, backward_steps  # noqa: E402  (uses the above)
