"""Tests of the backward walk as data and as pictures: autograd.viz.backward_steps, draw(..., step=k) and
backward_player. The steps must be the engine's own walk (same order, same gradients, bit for bit), and looking
must change nothing: no .grad, no hooks, nothing freed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest

import autograd
import nn
from autograd import viz

HAS_DOT = shutil.which("dot") is not None
CHROMIUM = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome", "chrome")
                 if shutil.which(b)), None)


def neuron() -> dict:
    """micrograd's neuron, o = tanh(x1*w1 + x2*w2 + b), before any backward, every tensor labelled."""
    t = {name: autograd.tensor(v, requires_grad=True, label=name)
         for name, v in (("x1", 2.0), ("x2", 0.0), ("w1", -3.0), ("w2", 1.0), ("b", 6.8813735870195432))}
    t["x1*w1"] = t["x1"] * t["w1"]
    t["x2*w2"] = t["x2"] * t["w2"]
    t["x1*w1 + x2*w2"] = t["x1*w1"] + t["x2*w2"]
    t["n"] = t["x1*w1 + x2*w2"] + t["b"]
    t["o"] = t["n"].tanh()
    for name in ("x1*w1", "x2*w2", "x1*w1 + x2*w2", "n", "o"):
        t[name].label = name
    return t


def mlp() -> tuple[autograd.Tensor, dict]:
    """A 3-4-2 MLP (nn.Linear, tanh) with a mean squared error on a batch of 5, in float64."""
    autograd.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    rng = np.random.default_rng(0)
    x = autograd.tensor(rng.normal(size=(5, 3)), dtype="float64", label="x")
    y = autograd.tensor(rng.normal(size=(5, 2)), dtype="float64", label="y")
    loss = ((model(x) - y) ** 2).mean()
    mlp.data = (x, y)  # a label lives with its tensor: keep x and y alive
    return loss, dict(model.named_parameters())


def engine_order(root: autograd.Tensor, tensors: list[autograd.Tensor]) -> list:
    """The nodes in the order the engine processes them, seen by hooks during a real backward()."""
    seen = []
    for t in tensors:
        t.register_hook(lambda g, node=t.grad_fn: seen.append(node))
    root.backward()
    return seen


# ---------------------------------------------------------------------------------------------------------------
# The steps are the engine's walk
# ---------------------------------------------------------------------------------------------------------------
def test_neuron_steps_are_the_engines_walk_in_its_order_with_its_gradients():
    t = neuron()
    steps = viz.backward_steps(t["o"])
    assert [s.output for s in steps] == ["o", "n", "x1*w1 + x2*w2", "x2*w2", "x1*w1"]
    assert [s.op for s in steps] == ["tanh", "+", "+", "*", "*"]
    assert steps[4].formula == "x1*w1 = x1 * w1"
    assert steps[1].formula == "n = (x1*w1 + x2*w2) + b"
    # the course's numbers: upstream 0.5 at x1*w1, local d(x1*w1)/dx1 = w1 = -3, sent -1.5
    last = steps[4]
    assert float(last.upstream) == pytest.approx(0.5)
    assert [(s.name, s.local) for s in last.sent] == [("x1", -3.0), ("w1", 2.0)]
    assert "upstream 0.5 x local -3 = -1.5 to x1" in str(steps)
    assert "upstream 0.5 x local 2 = 1 to w1" in str(steps)
    # the same order and the same gradients as backward(), bit for bit
    nodes = [s.node for s in steps]
    found = steps.gradients
    assert engine_order(t["o"], [t[k] for k in ("o", "n", "x1*w1 + x2*w2", "x2*w2", "x1*w1")]) == nodes
    for name in ("x1", "x2", "w1", "w2", "b"):
        assert found[name].dtype == t[name].grad.dtype and np.array_equal(found[name], t[name].grad.data), name


def test_mlp_steps_equal_backward_exactly_and_follow_the_engines_order():
    loss, params = mlp()
    steps = viz.backward_steps(loss, names=params)
    order = []
    for step in steps:  # a hook on every operation's node: the engine calls it when it reaches the node
        step.node.hooks = (step.node.hooks or []) + [lambda g, node=step.node: order.append(node)]
    loss.backward()
    assert order == [s.node for s in steps]
    found = steps.gradients
    assert sorted(found) == sorted(params)
    for name, p in params.items():
        assert found[name].dtype == p.grad.dtype and np.array_equal(found[name], p.grad.data), name
    # the bias of a batch: broadcasting undone, as the engine does it (one gradient per output unit)
    bias_step = next(s for s in steps if any(x.name == "2.bias" for x in s.sent))
    assert next(x for x in bias_step.sent if x.name == "2.bias").gradient.shape == (2,)
    # arrays have no single local factor: a summary of what is sent instead
    assert all(x.local is None for s in steps[1:] for x in s.sent)
    assert "(4, 3): norm" in str(steps) and "-#4 = linear#5 - y" in str(steps)


def test_two_paths_are_marked_where_they_meet_and_add_up():
    a = autograd.tensor(1.5, dtype="float64", requires_grad=True, label="a")
    b = autograd.tensor(-2.0, dtype="float64", requires_grad=True, label="b")
    u = a * b
    u.label = "u"
    v = u.sigmoid() + u * a      # u reaches the sum by two paths, a by two (through u, and directly)
    v.label = "v"
    steps = viz.backward_steps(v)
    sent = [(s.name, s.accumulates) for step in steps for s in step.sent]
    assert [name for name, added in sent if added] == ["u", "a"]
    for step in steps:
        for s in step.sent:
            assert np.array_equal(s.total, s.gradient if s.earlier is None else s.earlier + s.gradient)
    text = str(steps)
    assert re.search(r"to u, added to [-0-9.e]+ from an earlier path: u now holds", text)
    table = steps._repr_html_()
    assert table.count("<tr>") == len(steps) + 1 and table.count("<b>+=</b>") == 2   # a row per step, and a header
    # the total at a is what .grad gets: d v/d a = b sigma'(u) + 2 a b
    v.backward()
    assert np.array_equal(steps.gradients["a"], a.grad.data) and np.array_equal(steps.gradients["b"], b.grad.data)
    s = 1 / (1 + np.exp(3.0))
    assert a.grad.item() == pytest.approx(-2.0 * s * (1 - s) + 2 * 1.5 * -2.0)


def test_looking_changes_nothing_even_on_a_graph_backward_will_free():
    t = neuron()
    calls = []
    t["n"].register_hook(lambda g: calls.append("n"))
    t["w1"].register_hook(lambda g: calls.append("w1"))
    t["b"].grad = autograd.tensor(10.0)  # an earlier backward's gradient: stepping must not add to it
    hooks = list(t["n"].grad_fn.hooks)
    steps = viz.backward_steps(t["o"])
    viz.draw(t["o"], step=3)
    if HAS_DOT:
        viz.backward_player(t["o"])
    assert calls == [] and t["w1"].grad is None and t["b"].grad.item() == 10.0
    assert t["n"].grad_fn.hooks == hooks and t["o"].grad_fn.args is not None
    t["o"].backward()            # retain_graph=False: the walk still works, once
    assert calls == ["n", "w1"]  # each hook fired once, by backward()
    assert np.array_equal(t["w1"].grad.data, steps.gradients["w1"])
    assert t["b"].grad.item() == pytest.approx(10.5)
    with pytest.raises(RuntimeError, match=r"backward_steps: the graph was freed by backward\(\).*retain_graph"):
        viz.backward_steps(t["o"])


def test_roots_of_all_kinds_and_bad_arguments():
    x = autograd.tensor([1.0, 2.0, 3.0], requires_grad=True, label="x")
    y = x * x
    with pytest.raises(RuntimeError, match="backward_steps: a gradient can only be created implicitly"):
        viz.backward_steps(y)
    steps = viz.backward_steps(y, gradient=[1.0, 0.0, -1.0])  # as y.backward(gradient)
    assert np.array_equal(steps.gradients["x"], [2.0, 0.0, -6.0])
    assert len(viz.backward_steps(x.sum().sum())) == 2
    assert len(viz.backward_steps(autograd.tensor(1.0, requires_grad=True))) == 0
    with pytest.raises(RuntimeError, match="does not require grad"):
        viz.backward_steps(autograd.tensor(1.0) * 2)
    with pytest.raises(TypeError, match="backward_steps: root must be a tensor"):
        viz.backward_steps(np.ones(3))
    with pytest.raises(TypeError, match="backward_steps: names must map"):
        viz.backward_steps(y.sum(), names={"x": 1})
    with pytest.raises(ValueError, match=r"step must be an int from 0 .* to 2 .* got 3"):
        viz.backward_steps(y.sum()).frame(3)


def test_unnamed_tensors_are_called_after_their_step_and_constants_by_value():
    w = autograd.tensor([[1.0, 2.0]], requires_grad=True)
    data = autograd.tensor([[3.0], [4.0]], label="data")
    steps = viz.backward_steps(((w @ data) * 2.0).sum())
    assert [s.formula for s in steps] == ["sum#1 = sum(*#2)", "*#2 = matmul#3 * 2",
                                          "matmul#3 = matmul(leaf 1, data)"]


def test_a_custom_function_with_two_outputs_is_stepped_through():
    class SinCos(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return autograd.tensor(np.sin(x.data)), autograd.tensor(np.cos(x.data))

        @staticmethod
        def backward(ctx, gs, gc):
            (x,) = ctx.saved_tensors
            return gs * x.cos() - gc * x.sin()

    x = autograd.tensor(0.5, dtype="float64", requires_grad=True, label="x")
    s, c = SinCos.apply(x)
    loss = s * c
    steps = viz.backward_steps(loss)
    assert [st.op for st in steps] == ["*", "[1]", "[0]", "SinCos"]
    assert "(" in str(steps)  # the function's upstream: one gradient per output
    loss.backward()
    assert np.array_equal(steps.gradients["x"], x.grad.data)


# ---------------------------------------------------------------------------------------------------------------
# Frames
# ---------------------------------------------------------------------------------------------------------------
def _grads_shown(source: str) -> list[str]:
    return re.findall(r"<TD>grad ([-0-9.]+)</TD>", source)


def test_frames_fill_in_the_gradients_step_by_step():
    t = neuron()
    n = len(viz.backward_steps(t["o"]))
    shown = [len(_grads_shown(viz.draw(t["o"], step=k).source)) for k in range(n + 1)]
    assert shown == [1, 2, 4, 6, 8, 10]   # the seed, then each step's inputs; the rest drawn invisible
    first = viz.draw(t["o"], step=0).source
    assert viz.HIGHLIGHT not in first and "before the walk" in first
    frame = viz.draw(t["o"], step=5).source
    assert frame.count(f'fillcolor="{viz.HIGHLIGHT_FILL}"') == 1                 # one operation highlighted
    assert frame.count("dir=back") == 2                                          # gradients go back to x1, w1
    assert "upstream 0.5 x local -3 = -1.5 to x1" in frame                       # the caption
    assert viz.draw(t["o"], step=2).source == viz.draw(t["o"], step=2).source     # deterministic
    with pytest.raises(ValueError, match="draw: step= follows the backward walk of one tensor"):
        viz.draw(t["o"], t["n"], step=1)
    with pytest.raises(ValueError, match="step must be an int"):
        viz.draw(t["o"], step=-1)


def test_a_frame_marks_where_a_gradient_adds_to_another_paths():
    a = autograd.tensor(3.0, requires_grad=True, label="a")
    frame = viz.draw(a * a, step=1).source
    assert frame.count(f'COLOR="{viz.ADDED}"') == 1 and "added to 3 from an earlier path" in frame  # a's box
    assert frame.count(f'color="{viz.ADDED}"') == 2     # both edges from a (the same edge, twice)


@pytest.mark.skipif(not HAS_DOT, reason="needs the Graphviz dot program")
def test_every_frame_has_the_same_layout():
    loss, params = mlp()
    steps = viz.backward_steps(loss, names=params)

    def positions(k: int) -> list[str]:
        plain = steps.draw(k, caption=False).pipe(format="plain", encoding="utf-8")
        return [" ".join(line.split()[:6]) for line in plain.splitlines() if line.startswith("node")]

    first = positions(0)
    assert all(positions(k) == first for k in range(1, len(steps) + 1))


def test_the_label_of_an_input_that_does_not_require_grad_is_drawn():
    x = autograd.tensor([1.0, 2.0], label="inputs")
    w = autograd.tensor([3.0, 4.0], requires_grad=True, label="w")
    loss = (x * w).sum()
    assert "<B>inputs</B>" in viz.draw(loss).source
    assert viz.backward_steps(loss)[1].formula == "*#2 = inputs * w"
    x.label = "renamed"
    assert "<B>renamed</B>" in viz.draw(loss).source


# ---------------------------------------------------------------------------------------------------------------
# The player
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.skipif(not HAS_DOT, reason="needs the Graphviz dot program")
def test_the_player_is_one_self_contained_page_with_a_frame_per_step(tmp_path):
    t = neuron()
    player = viz.backward_player(t["o"])
    page = player.html
    assert page.startswith("<!DOCTYPE html>") and player._repr_html_() in page
    assert page.count('class="agp-frame"') == 6 == len(player)       # before the walk, then 5 steps
    assert page.count("<svg") == 6
    assert 'class="agp-prev"' in page and 'class="agp-next"' in page
    assert 'type="range" class="agp-slider" min="0" max="5"' in page
    assert not re.search(r"https?:|\bsrc=|<link|@import|url\(", page)  # nothing from the network
    assert "upstream 0.5 x local -3 = -1.5 to x1" in page
    assert viz.backward_player(t["o"]).html == page                    # deterministic
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))                                     # unique ids on the page
    path = player.save(str(tmp_path / "walk.html"))
    with open(path, encoding="utf-8") as f:
        assert f.read() == page


@pytest.mark.skipif(not (HAS_DOT and CHROMIUM), reason="needs dot and a headless Chromium")
def test_the_player_shows_one_frame_in_a_browser(tmp_path):
    t = neuron()
    path = viz.backward_player(t["o"]).save(str(tmp_path / "walk.html"))
    dom = subprocess.run([CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--dump-dom",
                          f"file://{path}"], check=True, capture_output=True, text=True, timeout=60).stdout
    frames = re.findall(r'<div class="agp-frame" data-step="(\d+)" style="([^"]*)"', dom)
    assert len(frames) == 6
    visible = [k for k, style in frames if "none" not in style]
    assert visible == ["0"] and 'data-current="0"' in dom


NODE = shutil.which("node")
_MOCK_DOM = """
function element() {
  return {style: {}, attrs: {}, handlers: {}, value: '0', disabled: false, textContent: '',
          setAttribute: function (k, v) { this.attrs[k] = v; }, getAttribute: function (k) { return this.attrs[k]; },
          addEventListener: function (kind, f) { this.handlers[kind] = f; }};
}
var frames = [element(), element(), element()];
var parts = {'.agp-slider': element(), '.agp-prev': element(), '.agp-next': element(),
             '.agp-counter': element(), '.agp-controls': element()};
var root = element();
root.querySelectorAll = function (q) { return q === '.agp-frame' ? frames : []; };
root.querySelector = function (q) { return parts[q]; };
var document = {querySelectorAll: function (q) { return q === 'div[data-agp="ID"]' ? [root] : []; }};
function shown() { return frames.map(function (f) { return f.style.display; }).join(' '); }
SCRIPT
var log = [shown(), parts['.agp-controls'].style.display, parts['.agp-prev'].disabled];
parts['.agp-next'].handlers.click(); log.push(shown());
parts['.agp-next'].handlers.click(); parts['.agp-next'].handlers.click();
log.push(shown(), parts['.agp-next'].disabled);
parts['.agp-slider'].value = '1'; parts['.agp-slider'].handlers.input();
log.push(shown(), parts['.agp-counter'].textContent);
parts['.agp-prev'].handlers.click(); log.push(shown(), parts['.agp-counter'].textContent);
console.log(JSON.stringify(log));
"""


@pytest.mark.skipif(NODE is None, reason="needs node to run the player's script")
def test_the_players_buttons_and_slider_show_one_frame_at_a_time():
    from autograd.viz_steps import _SCRIPT
    program = _MOCK_DOM.replace("SCRIPT", _SCRIPT.replace("AGP_ID", "ID"))
    out = subprocess.run([NODE, "-e", program], check=True, capture_output=True, text=True, timeout=60).stdout
    assert json.loads(out) == [
        "block none none", "flex", True,             # frame 0 first; the controls appear; previous disabled
        "none block none",                            # next
        "none none block", True,                      # next twice: stops at the last frame, next disabled
        "none block none", "step 1 of 2",             # the slider
        "block none none", "before the first step",   # previous
    ]


def test_an_unnamed_constant_array_input_is_written_out_in_the_table():
    # a non-grad array input has no box of its own: the table writes its value in place of a name
    x = autograd.tensor([1.0, -2.0], requires_grad=True)
    y = (x * np.array([3.0, 4.0])).sum()
    text = str(viz.backward_steps(y, names={"x": x}))
    assert "[3.0, 4.0]" in text
    big = (x * np.ones((5, 2))).sum()
    assert "array(5, 2)" in str(viz.backward_steps(big, names={"x": x}))
