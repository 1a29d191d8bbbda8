"""The backward pass step by step: `backward_steps(loss)` is the engine's walk as data, `draw(loss, step=k)` a frame
of it, and `backward_player(loss)` an HTML page that plays the frames.

Each step is one operation, in the order the engine visits them (the latest operation first): the gradient
arriving at its output (upstream, d loss / d output) and, for each input, the gradient sent back, which is
the operation's local derivative applied to the upstream gradient (its vector-Jacobian product). An input
that feeds several operations receives a gradient from each, and they add up (the multi-path chain rule): the
steps mark where a gradient is added to one that another path already sent.

    >>> import autograd
    >>> from autograd import viz
    >>> x1 = autograd.tensor(2.0, requires_grad=True, label="x1")
    >>> w1 = autograd.tensor(-3.0, requires_grad=True, label="w1")
    >>> y = x1 * w1
    >>> y.label = "y"
    >>> print(viz.backward_steps((y * 0.5).exp()))
    backward walk of exp#1: 3 steps, in the engine's order (the latest operation first)
    step 1  exp#1 = exp(*#2)    upstream 1
            upstream 1 x local 0.0498 = 0.0498 to *#2
    step 2  *#2 = y * 0.5    upstream 0.0498
            upstream 0.0498 x local 0.5 = 0.0249 to y
    step 3  y = x1 * w1    upstream 0.0249
            upstream 0.0249 x local -3 = -0.0747 to x1
            upstream 0.0249 x local 2 = 0.0498 to w1

Looking is read-only, as drawing is: no `.grad` changes, no hook runs and nothing is freed, so a graph can be
stepped through before its `backward()`, even one that `backward()` will free. (Hooks would change what is
sent; the steps show the plain derivatives.)
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from . import core, engine, labels
from . import viz as _viz
from .core import Node, Tensor

if TYPE_CHECKING:
    import graphviz

__all__ = ["backward_steps", "backward_player", "BackwardSteps", "BackwardPlayer", "Step", "Sent"]

_INFIX = {"+", "-", "*", "/", "**", "@"}


@dataclass(frozen=True)
class Sent:
    """What one step sends back to one input: `gradient` = the local VJP applied to the upstream gradient.

    input     the input's position in the operation (0 for the left operand)
    name      the input's name (from `names=`, its label, or made up: `sigmoid#3` is the output of step 3)
    gradient  the gradient sent, d loss / d input along this path (an array of the input's shape)
    local     d output / d input, when both are single numbers (a scalar graph); None otherwise
    earlier   the gradient this input already held from another path, or None: then `total` adds them
    total     what the input holds after this step (earlier + gradient)
    leaf      the input is a leaf that requires grad: after the walk its total is what `.grad` receives
    """

    input: int
    name: str
    gradient: Any
    local: float | None
    earlier: Any
    total: Any
    leaf: bool
    target: Any = field(repr=False, compare=False, default=None)  # the input's Node, or the leaf tensor

    @property
    def accumulates(self) -> bool:
        """True where a second path reaches the input: the multi-path chain rule adds the gradients."""
        return self.earlier is not None


@dataclass(frozen=True)
class Step:
    """One operation of the backward walk.

    number    1, 2, ... in the engine's order
    op        the operation as `draw` labels it: `+`, `sigmoid`, `matmul`, `sum(dim=1)`
    output    the name of the tensor the operation produced
    formula   how the forward pass computed it: `Sigma = u + b1`, `y1 = sigmoid(Sigma)`
    upstream  the gradient arriving at the output: d loss / d output, complete (every path has sent its part)
    sent      one `Sent` per input that requires grad
    """

    number: int
    op: str
    output: str
    formula: str
    upstream: Any
    sent: tuple[Sent, ...]
    node: Node = field(repr=False, compare=False, default=None)

    def lines(self) -> list[str]:
        """The step as the course writes it: a header, then one line per input."""
        head = f"step {self.number}  {self.formula}    upstream {_value_text(self.upstream)}"
        return [head] + ["        " + _sent_text(self, s) for s in self.sent]


class BackwardSteps(Sequence):
    """The backward walk of a tensor as a list of `Step`s (see `backward_steps`). Prints as a table (`print`,
    or the HTML table in Jupyter); `draw(k)` draws the graph after step k; `player()` makes the HTML player."""

    def __init__(self, root: Tensor, steps: list[Step], seed: Any, leaf_grads: dict, root_name: str,
                 names: list[tuple[str, Tensor]]) -> None:
        self.root = root
        self.steps = steps
        self.seed = seed              # d root / d root: ones, or the `gradient=` given
        self._leaf_grads = leaf_grads  # leaf tensor -> its total, what backward() puts into .grad
        self.root_name = root_name
        self._names = names

    # --- the list ---------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, i: Any) -> Any:
        return self.steps[i]

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    @property
    def gradients(self) -> dict[str, Any]:
        """Each leaf's name -> the gradient the walk leaves for it: what `backward()` adds to its `.grad`."""
        names = {}
        for step in self.steps:
            for s in step.sent:
                if s.leaf:
                    names[s.target] = s.name
        return {names[leaf]: g for leaf, g in self._leaf_grads.items() if leaf in names}

    # --- text --------------------------------------------------------------------------------------------------
    def _title(self) -> str:
        n = len(self.steps)
        return (f"backward walk of {self.root_name}: {n} step{'s' if n != 1 else ''}, in the engine's order "
                "(the latest operation first)")

    def __str__(self) -> str:
        lines = [self._title()]
        for step in self.steps:
            lines += step.lines()
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        rows = []
        for step in self.steps:
            sent = "<br>".join(_sent_html(step, s) for s in step.sent) or "<i>nothing (no input requires grad)</i>"
            rows.append(f"<tr><td style='{_TD}'>{step.number}</td>"
                        f"<td style='{_TD}'><code>{html.escape(step.formula)}</code></td>"
                        f"<td style='{_TD}'>{html.escape(_value_text(step.upstream))}</td>"
                        f"<td style='{_TD}'>{sent}</td></tr>")
        head = "".join(f"<th style='{_TD}'>{h}</th>" for h in
                       ("step", "operation (forward)", f"upstream: d {html.escape(self.root_name)} / d output",
                        "sent back to each input: upstream x local"))
        return (f"<div><p style='margin:0 0 4px 0'>{html.escape(self._title())}</p>"
                f"<table style='border-collapse:collapse;font-size:12px'><thead><tr>{head}</tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table></div>")

    def caption(self, k: int) -> str:
        """What frame k shows, in words (frame 0: before the first step)."""
        self._check_step(k, "caption")
        if k == 0:
            return (f"before the walk: d {self.root_name} / d {self.root_name} = {_value_text(self.seed)} "
                    f"(the seed); {len(self.steps)} step{'s' if len(self.steps) != 1 else ''} to go")
        return "\n".join(self.steps[k - 1].lines())

    # --- frames ------------------------------------------------------------------------------------------------
    def frame(self, k: int) -> _Frame:
        """The state after step k: every gradient sent so far, and what step k read and wrote."""
        self._check_step(k, "step")
        grads: dict = {}
        final: dict = {}
        root_key = self.root.grad_fn if self.root.grad_fn is not None else self.root
        grads[root_key] = final[root_key] = self.seed
        for step in self.steps:
            for s in step.sent:
                final[s.target] = s.total
        for step in self.steps[:k]:
            for s in step.sent:
                grads[s.target] = s.total
        current = self.steps[k - 1] if k else None
        receiving: dict = {}
        for s in current.sent if current else ():  # an input used twice by one operation: added is what shows
            receiving[s.target] = receiving.get(s.target, False) or s.accumulates
        return _Frame(grads, final, current.node if current else None, receiving, self.caption(k))

    def draw(self, k: int, **kwargs: Any) -> graphviz.Digraph:
        """`autograd.viz.draw(root, step=k)`, without walking the graph again."""
        return _viz._draw_frame(self.root, self._names, self.frame(k), **kwargs)

    def player(self, **kwargs: Any) -> BackwardPlayer:
        """`autograd.viz.backward_player(root)`, without walking the graph again."""
        return _player(self, **kwargs)

    def _check_step(self, k: Any, what: str) -> None:
        n = len(self.steps)
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 0 <= k <= n:
            raise ValueError(f"{what} must be an int from 0 (before the first step) to {n} (the walk of "
                             f"{self.root_name} has {n} step{'s' if n != 1 else ''}), got {k!r}")


@dataclass
class _Frame:
    """What `draw` needs to draw the graph part way through the walk (see viz._Drawing)."""

    grads: dict                  # Node or leaf tensor -> the gradient it holds so far
    final: dict                  # ... and at the end of the walk (its text reserves the space: frames align)
    active: Node | None          # the operation being processed
    receiving: dict              # Node or leaf -> True if what it receives adds to an earlier path's gradient
    caption: str


_TD = "border:1px solid #d1d5db;padding:2px 6px;text-align:left;vertical-align:top"


def backward_steps(root: Tensor, names: Mapping[str, Tensor] | Iterable[tuple[str, Tensor]] | None = None,
                   gradient: Any = None) -> BackwardSteps:
    """The backward walk of `root` as data: one `Step` per operation, in the order the engine takes them.

    For each operation: the gradient arriving at its output (upstream) and, for each input that requires grad,
    the gradient sent back (local derivative times upstream: the VJP), marked where it adds to what another
    path already sent. Nothing changes: no `.grad`, no hooks, nothing freed (a later `backward()` gives the
    same gradients). Needs the graph's saved values: call it before `backward()`, or after
    `backward(retain_graph=True)`.

    root      the tensor whose gradient flows back (usually the loss)
    names     name -> tensor, as for `draw` (e.g. `dict(model.named_parameters())`); else labels are used
    gradient  d root / d root for a root that is not a single number (as in `root.backward(gradient)`)

    >>> import autograd
    >>> a = autograd.tensor(3.0, requires_grad=True, label="a")
    >>> steps = backward_steps(a * a)      # a feeds * twice: the second gradient adds to the first
    >>> [(s.name, float(s.gradient), s.accumulates) for s in steps[0].sent]
    [('a', 3.0, False), ('a', 3.0, True)]
    >>> float(steps.gradients["a"])         # what a.grad will hold after backward()
    6.0
    """
    if not isinstance(root, Tensor):
        raise TypeError(f"backward_steps: root must be a tensor, got {type(root).__name__}")
    pairs = _viz._check_names(names, "backward_steps")
    with np.errstate(all="ignore"):  # NaN and inf are shown, as draw shows them
        raw, leaf_grads = engine.trace(root, gradient, "backward_steps")
    naming = _Naming(root, pairs, {node: k for k, (node, _, _) in enumerate(raw, 1)})
    steps = []
    for k, (node, g, sends) in enumerate(raw, 1):
        op = _viz.op_label(node)
        sent = []
        for i, edge, gi, earlier in sends:
            total = gi if earlier is None else earlier + gi
            sent.append(Sent(i, naming.of(edge), gi, _local(node, i, g, gi), earlier, total,
                             isinstance(edge, Tensor), edge))
        output = naming.of(node)
        steps.append(Step(k, op, output, f"{output} = {_formula(node, op, naming)}", g, tuple(sent), node))
    root_name = naming.of(root.grad_fn if root.grad_fn is not None else root)
    seed = leaf_grads[root] if root.grad_fn is None else raw[0][1]
    return BackwardSteps(root, steps, seed, leaf_grads if root.grad_fn is not None else {}, root_name, pairs)


# ---------------------------------------------------------------------------------------------------------------
# Names and formulas
# ---------------------------------------------------------------------------------------------------------------
class _Naming:
    """Names for the graph's tensors: `names=` first, then labels; an unnamed operation's output is called after
    its step (`sigmoid#3`), an unnamed leaf `leaf 1`, `leaf 2`... in the order the walk reaches them."""

    def __init__(self, root: Tensor, pairs: list[tuple[str, Tensor]], step_of: dict) -> None:
        self.by_key: dict[int, str] = {}
        for name, t in pairs:
            self.by_key.setdefault(id(t.grad_fn) if t.grad_fn is not None else id(t), name)
            if t.grad_fn is None:
                self.by_key.setdefault(id(t._data), name)  # a tensor that does not require grad: by its data
        self.data_labels = core.data_labels()
        self.root = root
        self.step_of = step_of
        self.leaves: dict[int, str] = {}

    def of(self, key: Any) -> str:
        name = self.by_key.get(id(key))
        if name is not None:
            return _viz._printable(name)
        if isinstance(key, Tensor):
            if key.label is not None:
                return _viz._printable(key.label)
            return self.leaves.setdefault(id(key), f"leaf {len(self.leaves) + 1}")
        label = key.label or (self.root.label if key is self.root.grad_fn else None)
        if label is not None:
            return _viz._printable(label)
        return f"{_viz.op_label(key)}#{self.step_of.get(key, '?')}"

    def of_arg(self, arg: Any) -> str:
        """An input that does not require grad: its name or label if it has one, else its value."""
        if isinstance(arg, (np.ndarray, np.generic)):
            name = self.by_key.get(id(arg)) or self.data_labels.get(id(arg))
            if name is not None:
                return _viz._printable(name)
            return _compact(arg.item()) if np.ndim(arg) == 0 else labels.short(np.asarray(arg))
        if arg is None or arg.__class__ is core.Unkept:
            return "?"
        return _compact(arg) if isinstance(arg, (int, float)) and not isinstance(arg, bool) else str(arg)


def _formula(node: Node, op: str, naming: _Naming) -> str:
    """The forward computation in the user's words: `u + b1`, `sigmoid(Sigma)`, `h[0:2]`, `matmul(x, W)`."""
    args = node.args or ()
    inputs = []
    for i, edge in enumerate(node.edges):
        if edge is not None:
            inputs.append(naming.of(edge))
        else:
            inputs.append(naming.of_arg(args[i] if i < len(args) else None))
    if op in _INFIX and len(inputs) == 2:  # (y - y1) ** 2: a name with spaces in it is bracketed
        left, right = (f"({name})" if " " in name else name for name in inputs)
        return f"{left} {op} {right}"
    if op.startswith(("x[", "[")) and len(inputs) >= 1:  # indexing, and output k of a multi-output Function
        return inputs[0] + op[1:] if op.startswith("x[") else inputs[0] + op
    if op.endswith(")"):  # sum(dim=1) -> sum(h, dim=1)
        head, rest = op.split("(", 1)
        return f"{head}({', '.join(inputs)}, {rest}"
    return f"{op}({', '.join(inputs)})"


def _local(node: Node, i: int, g: Any, gi: Any) -> float | None:
    """d output / d input i, for a scalar step (a single-number upstream and input): the VJP of a seed 1.
    (A custom Function's backward is not called twice: there the local derivative is sent / upstream.)"""
    numbers = (np.generic, np.ndarray, float, int)
    if not (isinstance(g, numbers) and isinstance(gi, numbers)) or np.ndim(g) != 0 or np.ndim(gi) != 0:
        return None  # arrays, and the per-output gradients of a multi-output Function
    if node.op.runs_user_code:  # a custom Function
        return float(gi) / float(g) if float(g) != 0 else None
    one = np.asarray(g).dtype.type(1)
    with np.errstate(all="ignore"):
        for j, _, local in engine.input_gradients(node, one):
            if j == i:
                return float(local)
    return None


# ---------------------------------------------------------------------------------------------------------------
# Numbers as the course writes them
# ---------------------------------------------------------------------------------------------------------------
def _compact(x: Any) -> str:
    """0.5, -0.75, 1, 0.3333, 2.776e-17: viz's numbers (4 decimals, scientific for tiny and huge ones) without
    trailing zeros (the course's way)."""
    text = _viz._number(x)
    if "." in text and "e" not in text and text[-1].isdigit():  # 4 fixed decimals: drop the trailing zeros
        text = text.rstrip("0").rstrip(".")
        return "0" if text == "-0" else text
    return text


def _value_text(value: Any) -> str:
    """A gradient: the number for a single number; the numbers of a small array; else a summary."""
    if value.__class__.__name__ == "_SlotGrads":  # the outputs of a multi-output Function, one slot each
        return "(" + ", ".join("-" if s is None else _value_text(s) for s in value.slots) + ")"
    a = np.asarray(value)
    if a.ndim == 0:
        return _compact(a.item())
    text, _ = _viz._summary(a, gradient=True)
    return f"{a.shape}: {text}"


def _sent_text(step: Step, s: Sent) -> str:
    if s.local is not None:
        text = f"upstream {_compact(step.upstream)} x local {_compact(s.local)} = {_compact(s.gradient)} to {s.name}"
    else:
        text = f"{_value_text(s.gradient)} to {s.name}"
    if s.accumulates:
        text += (f", added to {_value_text(s.earlier)} from an earlier path: {s.name} now holds "
                 f"{_value_text(s.total)}")
    return text


def _sent_html(step: Step, s: Sent) -> str:
    text = html.escape(_sent_text(step, s))
    if s.accumulates:
        return f"<span style='color:{_viz.ADDED}'><b>+=</b> {text}</span>"
    return text


# ---------------------------------------------------------------------------------------------------------------
# The player
# ---------------------------------------------------------------------------------------------------------------
class BackwardPlayer:
    """A self-contained HTML page that plays the backward walk frame by frame (see `backward_player`).

    `html` is the whole page (save it with `save(path)` and open it in any browser); in Jupyter the player
    shows inline. No network and no script from elsewhere: the frames are inline SVG, the buttons a few lines
    of JavaScript. Without JavaScript (a notebook shown by a code host) every frame shows, one below another."""

    def __init__(self, frames: list[str], captions: list[str], title: str) -> None:
        self.frames, self.captions, self.title = frames, captions, title
        digest = hashlib.sha1("".join(frames + captions).encode()).hexdigest()[:12]
        self.id = f"agp-{digest}"  # from the content: the same graph gives the same page

    def fragment(self) -> str:
        """The player as an HTML fragment (what Jupyter shows)."""
        n = len(self.frames)
        parts = [f'<div class="ag-backward-player" data-agp="{self.id}" style="font-family:sans-serif">',
                 f'<div style="font-weight:bold;margin-bottom:4px">{html.escape(self.title)}</div>',
                 '<div class="agp-controls" style="display:none;align-items:center;gap:6px;margin-bottom:4px">'
                 '<button type="button" class="agp-prev">&#9664; previous</button>'
                 f'<input type="range" class="agp-slider" min="0" max="{n - 1}" value="0" step="1" '
                 'style="width:240px">'
                 '<button type="button" class="agp-next">next &#9654;</button>'
                 '<span class="agp-counter" style="font-size:12px;color:#374151"></span></div>']
        for k, (svg, caption) in enumerate(zip(self.frames, self.captions)):
            svg = re.sub(r'\bid="', f'id="{self.id}-{k}-', svg)  # ids unique on the page
            parts.append(f'<div class="agp-frame" data-step="{k}" style="display:block;margin-bottom:8px">'
                         f'<pre style="margin:0 0 4px 0;font-size:12px;white-space:pre-wrap">'
                         f'{html.escape(caption)}</pre>{svg}</div>')
        parts.append("</div>")
        parts.append("<script>" + _SCRIPT.replace("AGP_ID", self.id) + "</script>")
        return "".join(parts)

    @property
    def html(self) -> str:
        """The whole page."""
        return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                f"<title>{html.escape(self.title)}</title></head><body>\n{self.fragment()}\n</body></html>\n")

    def save(self, path: str) -> str:
        """Write the page to `path` (open it in any browser); returns the path."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.html)
        return path

    def _repr_html_(self) -> str:
        return self.fragment()

    def __len__(self) -> int:
        return len(self.frames)


# One frame shown at a time once the script runs; it binds every player with this id not yet bound, so the
# same player shown twice on a page works twice.
_SCRIPT = """(function () {
  var players = document.querySelectorAll('div[data-agp="AGP_ID"]');
  Array.prototype.forEach.call(players, function (root) {
    if (root.getAttribute('data-bound')) { return; }
    root.setAttribute('data-bound', '1');
    var frames = root.querySelectorAll('.agp-frame');
    var slider = root.querySelector('.agp-slider');
    var prev = root.querySelector('.agp-prev'), next = root.querySelector('.agp-next');
    var counter = root.querySelector('.agp-counter');
    var n = frames.length;
    function show(k) {
      k = Math.max(0, Math.min(n - 1, k));
      for (var i = 0; i < n; i++) { frames[i].style.display = (i === k) ? 'block' : 'none'; }
      slider.value = String(k);
      prev.disabled = (k === 0);
      next.disabled = (k === n - 1);
      counter.textContent = (k === 0) ? 'before the first step' : 'step ' + k + ' of ' + (n - 1);
      root.setAttribute('data-current', String(k));
    }
    prev.addEventListener('click', function () { show(Number(slider.value) - 1); });
    next.addEventListener('click', function () { show(Number(slider.value) + 1); });
    slider.addEventListener('input', function () { show(Number(slider.value)); });
    root.querySelector('.agp-controls').style.display = 'flex';
    show(0);
  });
})();"""


def backward_player(root: Tensor, names: Mapping[str, Tensor] | Iterable[tuple[str, Tensor]] | None = None,
                    gradient: Any = None, **draw_options: Any) -> BackwardPlayer:
    """An HTML player of the backward walk of `root`: one frame per step (`draw(root, step=k)` for k = 0..n),
    previous/next buttons and a slider. Shows inline in Jupyter; `.save('walk.html')` writes a page that opens
    in any browser, with no network and no extra package. Rendering the frames needs Graphviz's `dot`.

    `draw_options` go to `draw` (`rankdir`, `show_values`, `max_nodes`). Like `backward_steps`, it changes
    nothing in the graph, and the same graph gives the same page.

    >>> import autograd
    >>> a = autograd.tensor(3.0, requires_grad=True, label="a")
    >>> player = backward_player((a * a).tanh())
    >>> len(player)                      # frame 0 (before the walk), then one per step
    3
    """
    return _player(backward_steps(root, names, gradient), **draw_options)


def _player(steps: BackwardSteps, **draw_options: Any) -> BackwardPlayer:
    frames = []
    for k in range(len(steps) + 1):
        svg = steps.draw(k, caption=False, **draw_options).pipe(format="svg", encoding="utf-8")
        frames.append(_inline_svg(svg))
    captions = [steps.caption(k) for k in range(len(steps) + 1)]
    return BackwardPlayer(frames, captions, steps._title())


def _inline_svg(svg: str) -> str:
    """Graphviz's SVG document as an element for an HTML page: no XML prolog, doctype or comments (they name
    the Graphviz version), and no namespace URLs (HTML needs none: nothing on the page names another site)."""
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<!--.*?-->\s*", "", svg, flags=re.S)
    svg = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", svg)
    return svg.strip()
