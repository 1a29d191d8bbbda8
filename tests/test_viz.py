"""Tests of autograd.viz.draw: snapshots of the DOT source, names, colours, NaN marking, collapsing,
determinism, rendering, and that drawing never changes the graph.

Snapshots live in tests/snapshots/*.dot. After an intended change to the drawing, regenerate them with
    UPDATE_SNAPSHOTS=1 python -m pytest tests/test_viz.py
and review the diff. The MLP and the convolution use numbers that are exact in float32 (multiples of 1/32),
and the neuron's tanh values are far from a rounding boundary at 4 decimals, so the snapshots do not depend
on the platform's BLAS or libm. The MLP and the convolution are written with autograd operations the way nn's
layers compute them, so that changes inside nn do not churn these snapshots; the nn layers themselves are drawn
in test_nn_models_draw_with_their_parameter_names.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import autograd
import nn
from autograd import ops, viz

graphviz = pytest.importorskip("graphviz")

SNAPSHOTS = Path(__file__).parent / "snapshots"
HAS_DOT = shutil.which("dot") is not None


# ---------------------------------------------------------------------------------------------------------------
# The three example graphs of the snapshots
# ---------------------------------------------------------------------------------------------------------------
def neuron() -> tuple[autograd.Tensor, dict]:
    """micrograd's neuron, o = tanh(x1*w1 + x2*w2 + b), after backward(retain_graph=True)."""
    x1 = autograd.tensor(2.0, requires_grad=True, label="x1")
    x2 = autograd.tensor(0.0, requires_grad=True, label="x2")
    w1 = autograd.tensor(-3.0, requires_grad=True, label="w1")
    w2 = autograd.tensor(1.0, requires_grad=True, label="w2")
    b = autograd.tensor(6.8813735870195432, requires_grad=True, label="b")
    x1w1 = x1 * w1
    x1w1.label = "x1*w1"
    x2w2 = x2 * w2
    x2w2.label = "x2*w2"
    n = x1w1 + x2w2 + b
    n.label = "n"
    o = n.tanh()
    o.label = "o"
    o.backward(retain_graph=True)
    return o, {}


def mlp_step() -> tuple[autograd.Tensor, dict]:
    """One training step of a 3-4-1 MLP with mean squared error on a batch of 8 (forward and backward),
    written as nn.Linear computes it, with PyTorch's parameter names (what dict(model.named_parameters())
    gives for nn.Sequential(Linear, ReLU, Linear))."""
    grid = np.arange(32, dtype=np.float32)
    params = {
        "0.weight": autograd.tensor(((grid[:12] * 5) % 7 - 3).reshape(4, 3) / 4, requires_grad=True),
        "0.bias": autograd.tensor([0.25, -0.5, 0.0, 0.125], requires_grad=True),
        "2.weight": autograd.tensor([[0.5, -0.25, 0.75, -1.0]], requires_grad=True),
        "2.bias": autograd.tensor([0.125], requires_grad=True),
    }
    x = autograd.tensor(((grid[:24] * 3) % 8 - 4).reshape(8, 3) / 4)
    y = autograd.tensor((grid[:8] % 3 - 1).reshape(8, 1) / 2)
    hidden = (x @ params["0.weight"].T + params["0.bias"]).relu()
    prediction = hidden @ params["2.weight"].T + params["2.bias"]
    loss = ((prediction - y) ** 2).mean()
    loss.backward(retain_graph=True)
    return loss, {"x": x, "y": y, **params}


def conv_layer() -> tuple[autograd.Tensor, dict]:
    """A 3x3 convolution (padding 1) with bias and a ReLU, built the way nn.Conv2d builds it (pad, unfold the
    windows, one matmul, add the bias). The input requires grad, as an earlier layer's output would.
    (Plain autograd operations keep this snapshot independent of nn's internals; nn.Conv2d itself is drawn
    in test_nn_models_draw_with_their_parameter_names.)"""
    x = autograd.tensor((np.arange(32, dtype=np.float32).reshape(2, 1, 4, 4) % 9 - 4) / 4, requires_grad=True)
    w = autograd.tensor((np.arange(18, dtype=np.float32).reshape(2, 1, 3, 3) % 5 - 2) / 4, requires_grad=True)
    b = autograd.tensor([0.5, -0.25], requires_grad=True)
    n, c, h, wd = x.shape
    padded = autograd.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = ops.unfold(padded, kernel_size=(3, 3), stride=(1, 1), dilation=(1, 1))  # (n, c, h, w, 3, 3)
    columns = windows.permute(0, 2, 3, 1, 4, 5).reshape(n * h * wd, c * 9)
    out = columns @ w.reshape(2, -1).T + b
    loss = out.reshape(n, h, wd, 2).permute(0, 3, 1, 2).relu().mean()
    loss.backward(retain_graph=True)
    return loss, {"x": x, "0.weight": w, "0.bias": b}


def check_snapshot(name: str, source: str) -> None:
    path = SNAPSHOTS / f"{name}.dot"
    if os.environ.get("UPDATE_SNAPSHOTS"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(source, encoding="utf-8")
    assert path.exists(), f"no snapshot {path}: run with UPDATE_SNAPSHOTS=1 to create it"
    expected = path.read_text(encoding="utf-8")
    if source != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), source.splitlines(True),
                                            str(path), "drawn now", n=1))
        pytest.fail(f"the drawing differs from the snapshot (UPDATE_SNAPSHOTS=1 to accept):\n{diff[:6000]}")


@pytest.mark.parametrize("example", [neuron, mlp_step, conv_layer], ids=lambda f: f.__name__)
def test_snapshot(example):
    root, names = example()
    rankdir = "LR" if example is neuron else "TB"
    check_snapshot(f"viz_{example.__name__}", viz.draw(root, names=names, rankdir=rankdir).source)


# ---------------------------------------------------------------------------------------------------------------
# Helpers to read the DOT source
# ---------------------------------------------------------------------------------------------------------------
NODE = re.compile(r"^\t+(\w+) \[(.*)\]$")
EDGE = re.compile(r"^\t+(\w+) -> (\w+)(?: \[(.*)\])?$")


def nodes(source: str) -> dict[str, str]:
    """node id -> its attribute text."""
    return {m[1]: m[2] for line in source.splitlines() if (m := NODE.match(line)) and m[1] not in
            ("graph", "node", "edge")}


def edges(source: str) -> list[tuple[str, str, str]]:
    return [(m[1], m[2], m[3] or "") for line in source.splitlines() if (m := EDGE.match(line))]


def node_with(source: str, text: str) -> tuple[str, str]:
    """The one node whose attributes contain `text`: (id, attributes)."""
    found = [(k, v) for k, v in nodes(source).items() if text in v]
    assert len(found) == 1, f"{len(found)} nodes contain {text!r}"
    return found[0]


def fill(attrs: str) -> str:
    return re.search(r'BGCOLOR="(#[0-9a-f]{6})"', attrs)[1]


def operations(source: str) -> list[str]:
    return [re.match(r"label=<(.*?)>", v)[1] for v in nodes(source).values() if "shape=ellipse" in v]


# ---------------------------------------------------------------------------------------------------------------
# What the boxes say
# ---------------------------------------------------------------------------------------------------------------
def test_nn_models_draw_with_their_parameter_names():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(32, 1))
    x = autograd.randn(2, 1, 4, 4, requires_grad=True)   # so that the convolution's im2col is recorded
    loss = model(x).pow(2).mean()
    loss.backward(retain_graph=True)
    source = viz.draw(loss, names=dict(model.named_parameters())).source
    for name, p in model.named_parameters():
        box = node_with(source, f"<B>{name}</B>")[1]
        assert f"{p.shape} float32" in box and fill(box) == viz.COLOURS["parameter"]
    assert re.findall(r'label="?(\d)"? labeljust', source) == ["0", "3"]      # one cluster per layer
    assert {"unfold(kernel=(3, 3))", "matmul", "relu"} <= set(operations(source))


def test_scalar_boxes_show_data_and_grad_like_micrograd():
    o, _ = neuron()
    source = viz.draw(o).source
    _, n = node_with(source, "<B>n</B>")
    assert "data 0.8814" in n and "grad 0.5000" in n
    _, x1 = node_with(source, "<B>x1</B>")
    assert "data 2.0000" in x1 and "grad -1.5000" in x1       # d o / d x1 = w1 (1 - o^2) = -3 * 0.5
    _, root = node_with(source, "<B>o</B>")
    assert "data 0.7071" in root and "grad 1.0000" in root
    assert "float32" in root


def test_array_boxes_show_shape_dtype_and_summaries():
    loss, names = mlp_step()
    source = viz.draw(loss, names=names).source
    _, w = node_with(source, "<B>0.weight</B>")
    assert "(4, 3) float32" in w
    data = np.asarray(names["0.weight"]._data)
    grad = np.asarray(names["0.weight"].grad._data)
    assert f"data mean {data.mean():.4f}, min {data.min():.4f}, max {data.max():.4f}" in w
    assert f"grad norm {np.linalg.norm(grad):.4f}, mean {grad.mean():.4f}" in w
    _, bias = node_with(source, "<B>0.bias</B>")      # small arrays show their numbers
    assert "data [0.2500, -0.5000, 0.0000, 0.1250]" in bias
    assert operations(source) == ["transpose(0, 1)", "matmul", "+", "relu", "transpose(0, 1)", "matmul", "+",
                                  "-", "**", "sum", "/"]


def test_numbers_switch_to_scientific_notation_when_tiny_or_huge():
    x = autograd.tensor(1e-7, requires_grad=True, label="tiny")
    y = x * 3e12
    source = viz.draw(y).source
    assert "data 1.000e-07" in node_with(source, "<B>tiny</B>")[1]
    assert "data 3.000e+05" in source
    assert "label=<3e+12>" in source                          # constants are shown as written (6 digits)


def test_before_backward_leaves_say_grad_none_and_intermediates_show_no_grad():
    a = autograd.tensor(2.0, requires_grad=True, label="a")
    h = a * a
    h.label = "h"
    source = viz.draw(h.exp()).source
    assert "grad None" in node_with(source, "<B>a</B>")[1]
    assert "grad" not in node_with(source, "<B>h</B>")[1]


def test_show_values_and_show_grad_can_be_turned_off():
    loss, names = mlp_step()
    source = viz.draw(loss, names=names, show_values=False, show_grad=False).source
    assert "data " not in source and "grad " not in source
    assert "(4, 3) float32" in source                      # shapes and dtypes stay


# ---------------------------------------------------------------------------------------------------------------
# Operation names
# ---------------------------------------------------------------------------------------------------------------
def label_of(t: autograd.Tensor) -> str:
    return viz.op_label(t.grad_fn)


def test_operation_names():
    x = autograd.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    v = autograd.tensor([1.0, 2.0, 3.0], requires_grad=True)
    cases = {
        "+": x + 1, "-": x - 1, "*": x * 2, "/": x / 2, "**": x ** 2, "neg": -x,
        "relu": x.relu(), "tanh": x.tanh(), "sigmoid": x.sigmoid(), "exp": x.exp(),
        "sum": x.sum(), "sum(dim=1)": x.sum(1), "sum(dim=(0, 1), keepdim=True)": x.sum((0, 1), keepdim=True),
        "amax(dim=0)": x.amax(0),
        "matmul": x @ x.T, "transpose(0, 1)": x.T, "permute(2, 0, 1)": x.reshape(3, 2, 2).permute(2, 0, 1),
        "reshape": x.reshape(4, 3), "broadcast": v.reshape(3, 1).expand(3, 4),
        "x[0:2]": x[0:2], "x[:, ::-1]": x[:, ::-1], "x[None, ..., 1]": x[None, ..., 1],
        "x[-1]": x[-1], "x[[0, 2]]": x[[0, 2]], "x[mask(3, 4)]": x[x > 5],
        "gather(dim=1)": x.gather(1, autograd.tensor([[0], [3], [1]])),
        "cat(dim=1)": autograd.cat([x, x], 1),
        "pad(dim 1: 1, 2)": autograd.pad(x, ((0, 0), (1, 2))),
        "to(float32)": autograd.tensor([1.0], dtype=np.float64, requires_grad=True).float(),
        "clamp(min=0)": x.clamp(min=0.0), "clamp(min=-1, max=0.5)": x.clamp(-1.0, 0.5),
        "einsum(ij,jk->ik)": autograd.einsum("ij,jk->ik", x, x.T),
        "flip(dim=0)": x.flip(0),
        "unfold(kernel=(2, 2))": ops.unfold(x, kernel_size=(2, 2), stride=(1, 1), dilation=(1, 1)),
        "unfold(kernel=(2,), stride=(2,))": ops.unfold(v, kernel_size=(2,), stride=(2,), dilation=(1,)),
    }
    for expected, t in cases.items():
        assert label_of(t) == expected


def test_a_custom_function_is_drawn_by_its_class_name_and_its_outputs_by_index():
    class SinCos(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return autograd.tensor(np.sin(x.data)), autograd.tensor(np.cos(x.data))

        @staticmethod
        def backward(ctx, gs, gc):
            (x,) = ctx.saved_tensors
            return gs * x.cos() - gc * x.sin()

    x = autograd.tensor([0.5, 1.0], requires_grad=True, label="x")
    s, c = SinCos.apply(x)
    loss = (s * c).sum()
    loss.backward(retain_graph=True)
    source = viz.draw(loss).source
    assert operations(source) == ["SinCos", "*", "sum"]
    op_id = node_with(source, "label=<SinCos>")[0]
    outgoing = [(head, attrs) for tail, head, attrs in edges(source) if tail == op_id]
    assert [attrs for _, attrs in outgoing] == ['label="[0]" fontsize=9', 'label="[1]" fontsize=9']
    s_box = nodes(source)[outgoing[0][0]]
    assert f"data [{np.sin(0.5):.4f}, {np.sin(1.0):.4f}]" in s_box
    assert f"grad [{np.cos(0.5):.4f}, {np.cos(1.0):.4f}]" in s_box       # d(sum s*c)/ds = c


# ---------------------------------------------------------------------------------------------------------------
# Names, clusters and colours
# ---------------------------------------------------------------------------------------------------------------
def test_names_come_from_the_names_dict_then_from_labels():
    w = autograd.tensor([1.0, 2.0], requires_grad=True, label="from label")
    b = autograd.tensor([0.5, 0.5], requires_grad=True, label="b label")
    x = autograd.tensor([3.0, 4.0])                          # an input: found by its data
    h = w * x
    out = (h + b).sum()
    source = viz.draw(out, names={"weight": w, "x": x, "h": h}).source
    assert "<B>weight</B>" in source and "from label" not in source   # the dict wins over the label
    assert "<B>b label</B>" in source
    assert "<B>x</B>" in source and "<B>h</B>" in source
    pairs = viz.draw(out, names=iter([("weight", w)])).source          # named_parameters() style pairs
    assert "<B>weight</B>" in pairs


def test_dotted_names_group_into_nested_clusters():
    x = autograd.tensor([1.0, 2.0])
    params = {name: autograd.tensor([0.5, 0.25], requires_grad=True)
              for name in ("block1.conv.weight", "block1.conv.bias", "block1.scale", "head.weight", "w")}
    out = x
    for p in params.values():
        out = out * p
    source = viz.draw(out.sum(), names=params).source
    lines = source.splitlines()

    def line_of(text: str) -> int:
        return next(i for i, line in enumerate(lines) if text in line)

    labels = {m[1]: i for i, line in enumerate(lines) if (m := re.search(r'label="?([\w.]+)"? labeljust', line))}
    assert set(labels) == {"block1", "block1.conv", "head"}
    block1, conv = line_of("subgraph cluster_0 {"), line_of("subgraph cluster_1 {")
    assert labels["block1"] == block1 + 1 and labels["block1.conv"] == conv + 1
    assert lines[conv].startswith("\t\tsubgraph")                      # nested inside block1
    assert block1 < line_of("<B>block1.conv.weight</B>") and conv < line_of("<B>block1.conv.bias</B>")
    assert lines[line_of("<B>block1.conv.weight</B>")].startswith("\t\t\t")
    assert lines[line_of("<B>block1.scale</B>")].startswith("\t\tt")   # in block1, not in block1.conv
    assert lines[line_of("<B>w</B>")].startswith("\tt")                # no module: top level
    if HAS_DOT:
        viz.draw(out.sum(), names=params).pipe(format="svg")             # valid DOT for Graphviz


def test_colours_separate_inputs_parameters_intermediates_and_outputs():
    loss, names = mlp_step()
    source = viz.draw(loss, names=names).source
    assert fill(node_with(source, "<B>x</B>")[1]) == viz.COLOURS["input"]
    assert fill(node_with(source, "<B>0.weight</B>")[1]) == viz.COLOURS["parameter"]
    relu = node_with(source, "label=<relu>")[0]
    hidden = next(head for tail, head, _ in edges(source) if tail == relu)
    assert fill(nodes(source)[hidden]) == viz.COLOURS["intermediate"]
    root_id = edges(source)[-1][1]                                      # the last edge ends at the loss
    assert fill(nodes(source)[root_id]) == viz.COLOURS["output"]
    assert "COLOR=\"#dc2626\"" not in source


def test_nan_and_inf_are_marked_red():
    x = autograd.tensor([1.0, -1.0, 0.0, 4.0, 2.0, 3.0, 5.0], requires_grad=True, label="x")
    with np.errstate(all="ignore"):
        y = x.log()
        y.label = "y"
        z = (y * 2).sum()
        z.backward(retain_graph=True)
        source = viz.draw(z).source
    _, y_box = node_with(source, "<B>y</B>")
    assert f'<FONT COLOR="{viz.BAD}">data 1 nan, 1 inf of 7' in y_box
    assert f'COLOR="{viz.BAD}" BORDER="2"' in y_box and fill(y_box) == viz.BAD_FILL
    _, x_box = node_with(source, "<B>x</B>")
    assert "data mean 2.0000" in x_box and f'<FONT COLOR="{viz.BAD}">grad 1 inf of 7' in x_box
    finite = autograd.tensor([1.0, 2.0], requires_grad=True, label="ok")
    assert viz.BAD not in viz.draw(finite.log().sum()).source


def test_shade_grad_shows_vanishing_gradients():
    """A deep sigmoid network: each layer multiplies the gradient by sigmoid' <= 1/4, so the first layers'
    gradients are orders of magnitude smaller; their boxes are paler (and a legend gives the scale)."""
    autograd.manual_seed(0)
    h = autograd.randn(16, 8)
    names = {}
    for i in range(8):
        w = autograd.randn(8, 8, requires_grad=True)
        names[f"{i}.weight"] = w
        h = (h @ w).sigmoid()
    loss = h.sum()
    loss.backward(retain_graph=True)
    source = viz.draw(loss, names=names, shade_grad=True).source
    assert "gradient norm (log scale)" in source

    def lightness(attrs: str) -> int:
        colour = fill(attrs)
        return sum(int(colour[k:k + 2], 16) for k in (1, 3, 5))

    first = lightness(node_with(source, "<B>0.weight</B>")[1])
    last = lightness(node_with(source, "<B>7.weight</B>")[1])
    norms = [np.linalg.norm(names[f"{i}.weight"].grad._data) for i in (0, 7)]
    assert norms[0] < norms[1] / 100 and first > last


def test_shading_scale_interpolates_on_a_log_scale():
    assert viz._shade(1e-3, -3, 1) == viz.SHADES[0]
    assert viz._shade(10.0, -3, 1) == viz.SHADES[-1]
    assert viz._shade(1e-9, -3, 1) == viz.SHADES[0]                    # below the scale: palest
    assert viz._shade(0.0, -3, 1) == viz.SHADES[0]


# ---------------------------------------------------------------------------------------------------------------
# Large graphs
# ---------------------------------------------------------------------------------------------------------------
def test_large_graphs_collapse_into_a_counted_summary_node():
    x = autograd.tensor(0.5, requires_grad=True, label="x")
    w = autograd.tensor(1.001, requires_grad=True, label="w")
    y = x
    for _ in range(1000):
        y = y * w
    source = viz.draw(y, max_nodes=10).source
    assert len(operations(source)) == 10
    summary_id, summary = node_with(source, "more operations")
    assert "990 more operations" in summary and "(and 1 parameter)" in summary   # x is hidden
    w_id = node_with(source, "<B>w</B>")[0]
    summary_edges = [(t, h) for t, h, a in edges(source) if summary_id in (t, h)]
    assert (w_id, summary_id) in summary_edges               # w also feeds hidden operations
    assert len(summary_edges) == 2                           # and the summary feeds the oldest drawn value
    assert len(operations(viz.draw(y, max_nodes=None).source)) == 1000


def test_a_100000_node_chain_is_drawn_without_recursion():
    x = autograd.tensor(0.5, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.00001
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(400)  # every walk must be iterative
    try:
        source = viz.draw(y, max_nodes=50).source
    finally:
        sys.setrecursionlimit(limit)
    assert "99,950 more operations" in source and len(operations(source)) == 50


# ---------------------------------------------------------------------------------------------------------------
# Determinism and read-only drawing
# ---------------------------------------------------------------------------------------------------------------
def test_the_dot_source_is_byte_identical_across_runs():
    loss, names = mlp_step()
    first = viz.draw(loss, names=names).source
    loss, names = mlp_step()
    assert viz.draw(loss, names=names).source == first
    script = ("import sys; sys.path.insert(0, sys.argv[1]); import test_viz; from autograd import viz; "
              "loss, names = test_viz.mlp_step(); sys.stdout.write(viz.draw(loss, names=names).source)")
    env = dict(os.environ, PYTHONHASHSEED="12345")
    other = subprocess.run([sys.executable, "-c", script, str(Path(__file__).parent)], env=env,
                           capture_output=True, text=True, check=True).stdout
    assert other == first
    assert "id(" not in first and not re.search(r"\b(0x[0-9a-f]+|\d{8,})\b", first)


def test_drawing_never_changes_the_graph():
    calls = []
    w = autograd.tensor([1.0, -2.0, 3.0], requires_grad=True)
    h = w * w
    h.register_hook(lambda g: calls.append(1))
    k = h.exp()
    k.retain_grad()
    loss = (k * 0.5).sum()
    viz.draw(loss)                                           # before backward
    loss.backward(retain_graph=True)
    grad_before, k_grad = w.grad, k.grad._data.copy()
    values_before = w.grad._data.copy()
    hooks = (h.grad_fn.hooks, list(h.grad_fn.hooks))
    source = viz.draw(loss, names={"w": w, "h": h, "k": k}, shade_grad=True).source
    assert "grad" in node_with(source, "<B>h</B>")[1]         # intermediate gradients were computed...
    assert calls == [1]                                       # ...without running hooks
    assert w.grad is grad_before and np.array_equal(w.grad._data, values_before)
    assert np.array_equal(k.grad._data, k_grad)               # retain_grad() tensors are not accumulated into
    assert h.grad_fn.hooks is hooks[0] and h.grad_fn.hooks == hooks[1]
    assert all(node.args is not None for node in (loss.grad_fn, k.grad_fn, h.grad_fn))
    loss.backward()                                           # the graph still works, and accumulates as usual
    assert np.allclose(w.grad._data, 2 * values_before) and calls == [1, 1]


def test_computed_intermediate_gradients_equal_retained_ones():
    def build(retain: bool) -> str:
        a = autograd.tensor([0.5, -1.5, 2.0], requires_grad=True)
        h = (a * a).sin()
        h.label = "h"
        if retain:
            h.retain_grad()
        loss = (h * a).sum()
        loss.backward(retain_graph=True)
        box = node_with(viz.draw(loss).source, "<B>h</B>")[1]
        return re.search(r"grad \[[^\]]*\]", box)[0]

    assert build(retain=True) == build(retain=False)


def test_after_a_freeing_backward_what_is_left_is_drawn():
    a = autograd.tensor(2.0, requires_grad=True, label="a")
    b = (a * 3).exp()
    b.label = "b"
    c = (a * 3).sin()
    c.label = "c"
    c.retain_grad()
    loss = b + c
    loss.label = "loss"
    loss.backward()
    source = viz.draw(loss).source
    assert "data freed" in node_with(source, "<B>b</B>")[1]
    assert "grad" not in node_with(source, "<B>b</B>")[1]
    assert f"grad {np.float32(1.0):.4f}" in node_with(source, "<B>c</B>")[1]          # retained
    assert "grad" in node_with(source, "<B>a</B>")[1] and "data 2.0000" in source     # leaves keep theirs
    assert "data" in node_with(source, "<B>loss</B>")[1]                               # the root itself
    assert "<I>freed</I>" in source                          # the constant 3 is gone with the saved values
    assert operations(source) == ["*", "exp", "*", "sin", "+"]


def _freed_graph(dtype: type, shape: tuple) -> autograd.Tensor:
    """h = x * c feeds two consumers (exp and tanh: their VJPs read only their outputs), then a custom Function,
    then sum; every intermediate is labelled. Built and freed by a plain backward()."""
    from custom_functions import Softplus
    x = autograd.tensor(np.full(shape, 0.5, dtype), requires_grad=True, label="x")
    c = autograd.tensor(np.full(shape, 2.0, dtype), label="c")  # an input: freed with the saved values
    h = x * c
    e = h.exp()
    t = h.tanh()
    u = e + t
    f = Softplus.apply(u)
    loss = f.sum()
    for tensor, name in ((h, "h"), (e, "e"), (t, "t"), (u, "u"), (f, "f"), (loss, "loss")):
        tensor.label = name
    loss.backward()
    return loss


def _shape_text(dtype: type, shape: tuple) -> str:
    return np.dtype(dtype).name if shape == () else f"{shape} {np.dtype(dtype).name}"


@pytest.mark.parametrize("shape", [(), (3, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_under_keep_shapes_a_freed_graph_still_shows_the_shapes_and_dtypes(dtype, shape):
    with viz.keep_shapes():
        loss = _freed_graph(dtype, shape)
    source = viz.draw(loss).source
    for name in "hetuf":
        box = node_with(source, f"<B>{name}</B>")[1]
        assert _shape_text(dtype, shape) in box and "data freed" in box, name  # known, and still freed
    assert viz.draw(loss).source == source                    # deterministic, and drawing changed nothing
    nodes = [loss.grad_fn]
    while nodes[-1].edges[0].__class__ is autograd.core.Node:
        nodes.append(nodes[-1].edges[0])
    assert all(node.args is None for node in nodes)           # freed as ever: only shapes and dtypes were kept
    assert all(isinstance(node.out, tuple) and not any(isinstance(v, np.ndarray) for v in node.out)
               for node in nodes if node.out is not None)
    with pytest.raises(RuntimeError, match="second time"):    # and the freed-graph errors are unchanged
        loss.backward()
    with pytest.raises(RuntimeError, match="freed"):
        viz.backward_steps(loss)
    with pytest.raises(RuntimeError, match="freed"):
        autograd.check_graph(loss)


def test_without_keep_shapes_only_custom_functions_keep_theirs():
    loss = _freed_graph(np.float32, (3, 2))
    source = viz.draw(loss).source
    assert "(3, 2) float32" in node_with(source, "<B>f</B>")[1]   # a Function records its outputs' at forward
    for name in "hetu":
        box = node_with(source, f"<B>{name}</B>")[1]
        assert "float32" not in box and "data freed" in box
    assert all(node.out is None for node in (loss.grad_fn, loss.grad_fn.edges[0].edges[0]))


def test_keep_shapes_is_a_switch_and_a_context_manager():
    from autograd import engine
    before = engine._keep_shapes
    try:
        viz.keep_shapes()
        assert engine._keep_shapes is True
        with viz.keep_shapes(False):
            assert engine._keep_shapes is False
        assert engine._keep_shapes is True
    finally:
        engine._keep_shapes = before


def test_keep_shapes_with_create_graph_and_multi_output_functions():
    from custom_functions import MulAdd
    x = autograd.tensor([[1.0, 2.0, 3.0]], dtype=autograd.float64, requires_grad=True)
    with viz.keep_shapes():
        p, s = MulAdd.apply(x, x.exp())
        h = (p * s).tanh()
        h.label = "h"
        loss = h.sum()
        (gx,) = autograd.grad(loss, [x], create_graph=True, retain_graph=False)  # gradients are Tensors here
    assert gx.shape == (1, 3)
    source = viz.draw(loss).source
    assert "(1, 3) float64" in node_with(source, "<B>h</B>")[1]
    assert source.count("(1, 3) float64") == 6  # x, exp(x), both outputs of MulAdd, p * s, h
    assert isinstance(h.grad_fn.out, tuple) and isinstance(h.grad_fn.out[1], np.dtype)  # no Tensor kept
    assert p.grad_fn.edges[0].out == (None, None)  # MulAdd's own node: its outputs' shapes are on its op


def test_an_input_its_consumer_did_not_keep_shows_its_shape_or_the_named_tensor():
    x = autograd.tensor(np.ones((64, 32)), requires_grad=True)
    h = x * 2.0
    h.label = "h"
    y = h.tanh().sum()  # tanh needs only its output: it lets its large input go
    box = node_with(viz.draw(y).source, "<B>h</B>")[1]
    assert "(64, 32) float64" in box and "data not kept" in box
    box = node_with(viz.draw(y, names={"h": h}).source, "<B>h</B>")[1]  # the user still holds it
    assert "data mean 2.0000" in box


def test_saved_values_modified_in_place_skip_the_computed_gradients():
    w = autograd.tensor([1.0, 2.0], requires_grad=True, label="w")
    h = w * w
    h.label = "h"
    loss = h.sum()
    loss.backward(retain_graph=True)
    with autograd.no_grad():
        w -= 0.1 * w.grad                                     # an optimiser step changes what mul saved
    source = viz.draw(loss).source
    assert "grad" not in node_with(source, "<B>h</B>")[1]
    assert "grad [2.0000, 4.0000]" in node_with(source, "<B>w</B>")[1]


def test_anomaly_mode_is_respected_and_locations_become_tooltips():
    with autograd.detect_anomaly():
        x = autograd.tensor([1.0, 2.0], requires_grad=True)
        loss = (x * x).sum()
    with np.errstate(all="ignore"):
        bad = (autograd.tensor([0.0], requires_grad=True).log() * 0).sum()
        bad.backward(retain_graph=True)
    with autograd.detect_anomaly():
        viz.draw(bad)                                         # NaN gradients are drawn, not raised
        assert autograd.is_anomaly_enabled()
    assert "test_viz.py" in node_with(viz.draw(loss).source, "label=<*>")[1]


def test_roots_of_all_kinds():
    a = autograd.tensor([1.0, 2.0], requires_grad=True)
    y = a * 2
    z = y.sum()
    source = viz.draw(z, y).source                            # several roots share one picture
    outputs = [k for k, v in nodes(source).items() if viz.COLOURS["output"] in v]
    assert len(outputs) == 2 and len(operations(source)) == 2
    assert "grad" not in nodes(viz.draw(y).source)[outputs[0]]  # non-scalar root: no computed gradients
    assert operations(viz.draw([z, y]).source) == ["*", "sum"]  # a list of roots works too
    plain = viz.draw(autograd.tensor([1.0, 2.0]), rankdir="TB").source
    assert len(nodes(plain)) == 1 and "rankdir=TB" in plain


def test_bad_arguments_are_explained():
    t = autograd.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="at least one tensor"):
        viz.draw()
    with pytest.raises(TypeError, match="root 1 is ndarray"):
        viz.draw(t, np.ones(2))
    with pytest.raises(ValueError, match="rankdir must be 'LR', 'TB'"):
        viz.draw(t, rankdir="left")
    with pytest.raises(ValueError, match="max_nodes must be a positive int or None, got 0"):
        viz.draw(t, max_nodes=0)
    with pytest.raises(TypeError, match=r"names must map names \(str\) to tensors"):
        viz.draw(t, names={t: "t"})


# ---------------------------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.skipif(not HAS_DOT, reason="needs the Graphviz dot program (installed in CI)")
def test_renders_svg_with_dot_and_inline_in_jupyter(tmp_path):
    o, _ = neuron()
    graph = viz.draw(o)
    assert isinstance(graph, graphviz.Digraph)
    svg = graph.pipe(format="svg").decode()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "data 0.8814" in svg and "grad 0.5000" in svg and ">tanh<" in svg
    path = graph.render(tmp_path / "neuron", format="svg")
    assert Path(path).read_text().count("<g id=\"node") == 15  # 5 operations, 10 tensors
    assert "image/svg+xml" in graph._repr_mimebundle_()


def test_without_dot_rendering_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))                 # no dot program to be found
    o, _ = neuron()
    graph = viz.draw(o)
    assert "data 0.8814" in graph.source                      # the source needs no Graphviz
    for render in (lambda: graph.pipe(format="svg"), lambda: graph.render(tmp_path / "g", format="png")):
        with pytest.raises(viz.GraphvizNotFoundError) as info:
            render()
        assert isinstance(info.value, graphviz.ExecutableNotFound)
        message = str(info.value)
        for hint in ("apt-get install graphviz", "brew install graphviz", "conda install", "Windows",
                     "graph.source"):
            assert hint in message
    assert "brew install graphviz" in graph._repr_mimebundle_()["text/plain"]


def test_autograd_imports_without_the_graphviz_package():
    script = ("import sys; sys.modules['graphviz'] = None; import autograd; t = autograd.tensor([1.0]); "
              "\ntry:\n    autograd.viz.draw(t)\nexcept ImportError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert "pip install graphviz" in out


@pytest.mark.skipif(not HAS_DOT, reason="needs the Graphviz dot program (installed in CI)")
@pytest.mark.parametrize("character", [chr(c) for c in (*range(32), 0x7F)] + ["\ud800"],
                         ids=lambda c: f"U+{ord(c):04X}")
def test_control_characters_in_names_and_labels_keep_the_dot_source_parsable(character):
    """A NUL in a name used to end the DOT parser's input, and other control characters broke the XML of
    HTML-like labels: each is drawn as its control picture (NUL as U+2400), the source parses, and the rest of
    the name survives. (A lone surrogate, which no file can encode, becomes U+FFFD.)"""
    x = autograd.tensor(2.0, requires_grad=True, label=f"x{character}label")
    w = autograd.tensor([1.0, 2.0], requires_grad=True)
    loss = (x * w).sum()
    loss.label = f"loss{character}"
    loss.backward(retain_graph=True)
    source = viz.draw(loss, names={f"layer{character}.weight": w}).source
    assert character in "\t\n" or character not in source  # (the DOT text itself is laid out with tabs and newlines)
    shown = "\ufffd" if character == "\ud800" else chr(0x2421 if character == "\x7f" else 0x2400 + ord(character))
    assert f"x{shown}label" in source and f"layer{shown}" in source and f"loss{shown}" in source
    svg = subprocess.run(["dot", "-Tsvg"], check=False, input=source.encode("utf-8"), capture_output=True)
    assert svg.returncode == 0, svg.stderr.decode(errors="replace")
