"""The fused primitives against the compositions they replace: equal within float64 rounding, values and
gradients, and against PyTorch where PyTorch has the layer. (Their gradients are checked to second order by
their lines in the CASES table of test_ops.py.)"""

from __future__ import annotations

import numpy as np
import pytest

import autograd as ag
import nn
from nn import functional as F


def _composed_lstm(x: ag.Tensor, state: ag.Tensor, w_ih: ag.Tensor, w_hh: ag.Tensor, bias: ag.Tensor | None,
                   reverse: bool) -> ag.Tensor:
    """fused_lstm written out with the elementwise primitives: h of every step, then the last c."""
    hidden = w_hh.shape[1]
    h, c = state[:, :hidden], state[:, hidden:]
    steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
    rows = {}
    for t in steps:
        pre = x[t] @ w_ih.T + h @ w_hh.T
        i, f, g, o = (pre if bias is None else pre + bias).chunk(4, dim=-1)
        i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
        c = f * c + i * g
        h = o * c.tanh()
        rows[t] = h
    return ag.stack([rows[t] for t in range(x.shape[0])] + [c], 0)


def _lstm_arrays(rng: np.random.Generator, steps: int, batch: int, features: int, hidden: int) -> list:
    """x, a non-zero state [h_0 | c_0], weight_ih, weight_hh and bias, in float64, large enough that the gates
    saturate in places."""
    return [rng.standard_normal((steps, batch, features)) * 2, rng.standard_normal((batch, 2 * hidden)),
            rng.standard_normal((4 * hidden, features)), rng.standard_normal((4 * hidden, hidden)),
            rng.standard_normal(4 * hidden)]


@pytest.mark.parametrize("zero_h", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("reverse", [False, True])
def test_fused_lstm_equals_the_composed_steps_in_float64(reverse: bool, bias: bool, zero_h: bool) -> None:
    """zero_h: h_0 = 0 (nn.LSTM's default state), whose first step's product skips W_hh; c_0 stays nonzero."""
    rng = np.random.default_rng(0)
    steps, batch, features, hidden = 7, 3, 4, 5
    arrays = _lstm_arrays(rng, steps, batch, features, hidden)[:5 if bias else 4]
    if zero_h:
        arrays[1][:, :hidden] = 0
    seed = rng.standard_normal((steps + 1, batch, hidden))
    results = []
    for fn in (lambda *a: ag.fused_lstm(*a, reverse=reverse), lambda *a: _composed_lstm(*a, reverse=reverse)):
        inputs = [ag.tensor(a, requires_grad=True) for a in arrays]
        out = fn(*inputs, None) if len(inputs) == 4 else fn(*inputs)
        (out * ag.tensor(seed)).sum().backward()
        results.append([out.detach().numpy()] + [x.grad.numpy() for x in inputs])
    assert results[0][0].shape == (steps + 1, batch, hidden)
    for fused, composed in zip(*results):
        np.testing.assert_allclose(fused, composed, rtol=1e-13, atol=1e-14)


def test_fused_lstm_backward_recomputes_the_record_when_the_output_is_not_its_own() -> None:
    """The VJP reads the run's record (z_t, the gates, c_t and tanh(c_t)) from the buffer behind the output; an
    output that is not that view (a copy, as a dtype conversion would make) gets the run redone, with the same
    gradients."""
    from autograd import ops
    rng = np.random.default_rng(3)
    args = tuple(_lstm_arrays(rng, 4, 2, 3, 3))
    grad = rng.standard_normal((5, 2, 3))
    needs = (True,) * 5
    for reverse in (False, True):
        out = ops._fused_lstm(*args, reverse=reverse)
        assert out.base is not None and out.base.ndim == 1
        viewed = ops._fused_lstm_vjp(grad, out, args, reverse=reverse, needs=needs)
        copied = ops._fused_lstm_vjp(grad, out.copy(), args, reverse=reverse, needs=needs)
        for a, b in zip(viewed, copied):
            np.testing.assert_array_equal(a, b)


def test_fused_lstm_skips_the_gradients_nobody_needs() -> None:
    """x as data, or a constant initial state (no gradient wanted): the node's VJP is told so and does not compute
    it (x's is a product over all steps, the state's the last step's product); the others are as when every
    input wants its gradient."""
    rng = np.random.default_rng(5)
    arrays = _lstm_arrays(rng, 3, 2, 3, 2)
    grads = []
    for wants_x, wants_state in ((True, True), (False, True), (True, False), (False, False)):
        x = ag.tensor(arrays[0], requires_grad=wants_x)
        state = ag.tensor(arrays[1], requires_grad=wants_state)
        weights = [ag.tensor(a, requires_grad=True) for a in arrays[2:]]
        for reverse in (False, True):
            ag.fused_lstm(x, state, *weights, reverse=reverse).sum().backward()
        assert (x.grad is not None) == wants_x and (state.grad is not None) == wants_state
        grads.append([p.grad.numpy() for p in weights])
    for others in grads[1:]:
        for a, b in zip(grads[0], others):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_equals_the_composition_and_pytorch(reduction: str) -> None:
    """One node for the loss and its reduction; the composition it replaces, ((x - y)^2).mean(), gives the same
    values and gradients (to the last bit: 2 (g / n) d is (g / n) d + (g / n) d), also on a transposed input."""
    rng = np.random.default_rng(0)
    x_data, y_data = rng.standard_normal((3, 7)).T, rng.standard_normal((7, 3))
    seed = rng.standard_normal((7, 3)) if reduction == "none" else 1.7
    results = []
    for fn in (lambda x, y: ag.mse_loss(x, y, reduction=reduction),
               lambda x, y: getattr((x - y) * (x - y), {"none": "clone"}.get(reduction, reduction))()):
        x, y = ag.tensor(x_data, requires_grad=True), ag.tensor(y_data, requires_grad=True)
        out = fn(x, y)
        (out * ag.tensor(seed)).sum().backward()
        results.append([out.detach().numpy(), x.grad.numpy(), y.grad.numpy()])
    for fused, composed in zip(*results):
        np.testing.assert_array_equal(fused, composed)
    loss = F.mse_loss(ag.tensor(x_data.astype(np.float32), requires_grad=True), y_data.astype(np.float32),
                      reduction=reduction)
    assert loss.grad_fn.op is ag.mse_loss and loss.dtype == np.float32  # F uses the one node
    torch = pytest.importorskip("torch")
    tx, ty = torch.tensor(x_data, requires_grad=True), torch.tensor(y_data, requires_grad=True)
    tout = torch.nn.functional.mse_loss(tx, ty, reduction=reduction)
    (tout * torch.tensor(seed)).sum().backward()
    for ours, theirs in zip(results[0], (tout.detach(), tx.grad, ty.grad)):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-13, atol=1e-14)
    with pytest.raises(Exception, match="mse_loss: reduction must be"):
        F.mse_loss(ag.tensor(x_data), y_data, reduction="average")


def test_fused_lstm_keeps_float32_and_names_the_shapes_at_fault() -> None:
    x = ag.zeros(2, 3, 5, requires_grad=True)
    w_ih = ag.zeros(8, 5, requires_grad=True)
    out = ag.fused_lstm(x, ag.zeros(3, 4), w_ih, ag.zeros(8, 2), ag.zeros(8))
    assert out.shape == (3, 3, 2) and out.dtype == np.float32 and out.grad_fn.op is ag.fused_lstm
    out.sum().backward()
    assert x.grad.dtype == np.float32 and w_ih.grad.dtype == np.float32
    with pytest.raises(ValueError, match=r"fused_lstm: the state must be .* \(3, 4\).* got \(3, 5\)"):
        ag.fused_lstm(x, ag.zeros(3, 5), w_ih, ag.zeros(8, 2))
    with pytest.raises(ValueError, match=r"fused_lstm: weight_hh must be \(4 \* hidden_size, hidden_size\), "
                                         r"got \(8, 3\)"):
        ag.fused_lstm(x, ag.zeros(3, 4), w_ih, ag.zeros(8, 3))
    with pytest.raises(ValueError, match=r"fused_lstm: weight_ih must be .* \(8, 5\).* got \(8, 4\)"):
        ag.fused_lstm(x, ag.zeros(3, 4), ag.zeros(8, 4), ag.zeros(8, 2))
    with pytest.raises(ValueError, match=r"fused_lstm: bias must be .* \(8,\), got \(4,\)"):
        ag.fused_lstm(x, ag.zeros(3, 4), w_ih, ag.zeros(8, 2), ag.zeros(4))
    with pytest.raises(ValueError, match=r"fused_lstm: x must be"):
        ag.fused_lstm(ag.zeros(3, 5), ag.zeros(3, 4), w_ih, ag.zeros(8, 2))


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_lstm_layer_on_the_fused_primitive_matches_pytorch(bidirectional: bool, bias: bool) -> None:
    torch = pytest.importorskip("torch")
    ours = nn.LSTM(4, 3, num_layers=2, bias=bias, batch_first=True, bidirectional=bidirectional, dtype=np.float64)
    theirs = torch.nn.LSTM(4, 3, num_layers=2, bias=bias, batch_first=True, bidirectional=bidirectional,
                           dtype=torch.float64)
    with torch.no_grad():
        for name, p in theirs.named_parameters():
            p.copy_(torch.from_numpy(ours.state_dict()[name].numpy()))
    x = np.random.default_rng(1).standard_normal((2, 5, 4))
    out, (h, c) = ours(ag.tensor(x))
    (out.sum() + (h * h).sum() + (c * c).sum()).backward()
    t_out, (t_h, t_c) = theirs(torch.from_numpy(x))
    (t_out.sum() + (t_h * t_h).sum() + (t_c * t_c).sum()).backward()
    for a, b in ((out, t_out), (h, t_h), (c, t_c)):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12, atol=1e-13)
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(dict(ours.named_parameters())[name].grad.numpy(), p.grad.numpy(),
                                   rtol=1e-11, atol=1e-12)
    assert any(node.op is ag.fused_lstm for node in _nodes(out))


def _nodes(t: ag.Tensor) -> list:
    seen, todo = [], [t.grad_fn]
    while todo:
        node = todo.pop()
        if node is None or not hasattr(node, "edges") or node in seen:
            continue
        seen.append(node)
        todo += list(node.edges)
    return seen


def test_lstm_cell_runs_the_fused_step() -> None:
    cell = nn.LSTMCell(3, 2, dtype=np.float64)
    h, c = cell(ag.tensor(np.ones((4, 3))))
    assert h.shape == c.shape == (4, 2)
    assert any(node.op is ag.fused_lstm for node in _nodes(h))
    assert F is not None


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_equals_its_formula_in_float64_and_matches_pytorch(approximate: str) -> None:
    x = np.concatenate([np.linspace(-9, 9, 301), [0.0, -30.0, 30.0]])
    seed = np.random.default_rng(2).standard_normal(x.shape)
    results = []
    for fn in (lambda t: ag.gelu(t, approximate=approximate), lambda t: 0.5 * t * (1.0 + (
            (t * (1 / np.sqrt(2))).erf() if approximate == "none"
            else (np.sqrt(2 / np.pi) * (t + 0.044715 * t * t * t)).tanh()))):
        t = ag.tensor(x, requires_grad=True)
        y = fn(t)
        (y * ag.tensor(seed)).sum().backward()
        results.append((y.detach().numpy(), t.grad.numpy()))
    for fused, composed in zip(*results):
        # (the tanh form's 1 + tanh(u) cancels for u << 0: its absolute rounding error there is about |x| eps, 2e-15
        # at x = -9; the primitive's sigmoid form does not cancel)
        np.testing.assert_allclose(fused, composed, rtol=1e-14, atol=1e-14)
    torch = pytest.importorskip("torch")
    t = torch.tensor(x, requires_grad=True)
    y = torch.nn.functional.gelu(t, approximate=approximate)
    (y * torch.from_numpy(seed)).sum().backward()
    # (1 + tanh(u) cancels for u << 0, in PyTorch's formula as in ours: equal to rounding in absolute terms there)
    np.testing.assert_allclose(results[0][0], y.detach().numpy(), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(results[0][1], t.grad.numpy(), rtol=1e-13, atol=1e-14)
    assert nn.GELU(approximate)(ag.tensor(x)).grad_fn is None
    assert F.gelu(ag.tensor(x, requires_grad=True), approximate).grad_fn.op is ag.gelu
    assert ag.gelu(ag.tensor(x.astype(np.float32)), approximate=approximate).dtype == np.float32



def test_gelu_tanh_is_accurate_in_float32_where_x_is_very_negative() -> None:
    # 0.5 x (1 + tanh(u)) in float32 rounds 1 + tanh(u) to 0 (or one ulp of 1) from x = -5 on, where GELU is still
    # about -2e-7 (x = -5) or -1e-21 (x = -9); the primitive computes x sigmoid(2u) = x / (1 + e^(-2u)) instead:
    # as accurate as the function's condition allows (|x GELU'/GELU| is about 250 at x = -9.5: 250 ulps; a few
    # ulps where |x| < 3), and its derivative too. Far out, e^(-2u) overflows to inf: the limit -0.
    x = np.linspace(-9.5, 9.5, 2001)
    u = np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)
    sig = 1 / (1 + np.exp(-2 * u))
    exact = x * sig
    slope = sig * (1 + x * (1 - sig) * 2 * np.sqrt(2 / np.pi) * (1 + 3 * 0.044715 * x * x))
    t = ag.tensor(x.astype(np.float32), requires_grad=True)
    y = ag.gelu(t, approximate="tanh")
    y.sum().backward()
    condition = np.abs(x * slope) / np.maximum(np.abs(exact), 1e-300) + 1  # |x f'(x) / f(x)|: ulps of x -> of f
    assert (np.abs(y.numpy() - exact) <= 4 * condition * 6e-8 * np.abs(exact)).all()
    np.testing.assert_allclose(t.grad.numpy(), slope, rtol=3e-5, atol=1e-7)  # (f' crosses 0 at x = -0.75)
    far = ag.tensor(np.float32([-12.0, -50.0, -1000.0]), requires_grad=True)
    with np.errstate(all="raise"):  # no overflow warning either
        out = ag.gelu(far, approximate="tanh")
        out.sum().backward()
    assert (out.numpy() == 0).all() and np.signbit(out.numpy()).all() and (far.grad.numpy() == 0).all()



def test_gelu_tanh_blocks_give_the_elementwise_result_bit_for_bit() -> None:
    # the kernels run over blocks of kernels._GELU_BLOCK elements when the arrays are contiguous, over the whole
    # array otherwise: elementwise either way, so a large array, its pieces and a strided view agree exactly
    from autograd import kernels
    rng = np.random.default_rng(5)
    size = 3 * kernels._GELU_BLOCK + 5
    x, g = rng.standard_normal(size).astype(np.float32) * 4, rng.standard_normal(size).astype(np.float32)
    t = ag.tensor(x, requires_grad=True)
    (ag.gelu(t, approximate="tanh") * ag.tensor(g)).sum().backward()
    pieces = [ag.tensor(x[i:i + 1000], requires_grad=True) for i in range(0, size, 1000)]
    for piece, i in zip(pieces, range(0, size, 1000)):
        (ag.gelu(piece, approximate="tanh") * ag.tensor(g[i:i + 1000])).sum().backward()
    assert np.array_equal(ag.gelu(ag.tensor(x), approximate="tanh").numpy(),
                          np.concatenate([ag.gelu(p.detach(), approximate="tanh").numpy() for p in pieces]))
    assert np.array_equal(t.grad.numpy(), np.concatenate([p.grad.numpy() for p in pieces]))
    strided = ag.tensor(x[: 2 * 40000].reshape(400, 200).T, requires_grad=True)  # not contiguous
    (ag.gelu(strided, approximate="tanh") * ag.tensor(g[: 2 * 40000].reshape(200, 400))).sum().backward()
    plain = ag.tensor(np.ascontiguousarray(x[: 2 * 40000].reshape(400, 200).T), requires_grad=True)
    (ag.gelu(plain, approximate="tanh") * ag.tensor(g[: 2 * 40000].reshape(200, 400))).sum().backward()
    assert np.array_equal(strided.grad.numpy(), plain.grad.numpy())

def _composed_layer_norm(x: ag.Tensor, w: ag.Tensor, b: ag.Tensor, eps: float) -> ag.Tensor:
    axes = tuple(range(-w.ndim, 0))
    centered = x - x.mean(dim=axes, keepdim=True)
    return centered * ((centered * centered).mean(dim=axes, keepdim=True) + eps).rsqrt() * w + b


@pytest.mark.parametrize("shape", [(4, 7, 6), (3, 2, 5)])
def test_layer_norm_equals_the_composed_formula_in_float64_and_matches_pytorch(shape: tuple) -> None:
    rng = np.random.default_rng(3)
    dims = 1 if shape[-1] == 6 else 2
    arrays = [rng.standard_normal(shape) * 3 + 1, rng.standard_normal(shape[-dims:]), rng.standard_normal(
        shape[-dims:])]
    seed = rng.standard_normal(shape)
    results = []
    for fn in (lambda x, w, b: ag.layer_norm(x, w, b, eps=1e-5), lambda x, w, b: _composed_layer_norm(x, w, b, 1e-5)):
        inputs = [ag.tensor(a, requires_grad=True) for a in arrays]
        y = fn(*inputs)
        (y * ag.tensor(seed)).sum().backward()
        results.append([y.detach().numpy()] + [t.grad.numpy() for t in inputs])
    for fused, composed in zip(*results):
        np.testing.assert_allclose(fused, composed, rtol=1e-12, atol=1e-13)
    layer = nn.LayerNorm(shape[-dims:], dtype=np.float64) if dims == 2 else nn.LayerNorm(shape[-1], dtype=np.float64)
    assert F.layer_norm(ag.tensor(arrays[0]), layer.normalized_shape, ag.tensor(arrays[1], requires_grad=True),
                        ag.tensor(arrays[2])).grad_fn.op is ag.layer_norm
    torch = pytest.importorskip("torch")
    inputs = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = torch.nn.functional.layer_norm(inputs[0], shape[-dims:], inputs[1], inputs[2], 1e-5)
    (y * torch.from_numpy(seed)).sum().backward()
    for ours, theirs in zip(results[0], [y.detach()] + [t.grad for t in inputs]):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-10, atol=1e-12)
    assert ag.layer_norm(ag.tensor(arrays[0], dtype=ag.float32), ag.tensor(arrays[1], dtype=ag.float32),
                         ag.tensor(arrays[2], dtype=ag.float32)).dtype == np.float32



@pytest.mark.parametrize("shape", [(64, 32, 128), (3, 5, 2000), (4, 40, 30)])
def test_layer_norm_in_float32_is_as_accurate_as_pytorchs(shape: tuple) -> None:
    # the row statistics: einsum's sums for rows up to kernels._EINSUM_ROWS_UP_TO elements, numpy's pairwise sums
    # beyond (2000); a normalised shape of two dims (40, 30). Both engines in float32 against float64, offset data
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    dims = 2 if shape[-1] == 30 else 1
    x = (rng.standard_normal(shape) * 2 + 50).astype(np.float32)
    w, b = (rng.standard_normal(shape[-dims:]).astype(np.float32) for _ in range(2))
    g = rng.standard_normal(shape).astype(np.float32)
    results = {}
    for name, dtype in (("ours", np.float32), ("torch", np.float32), ("exact", np.float64)):
        if name == "ours":
            inputs = [ag.tensor(a, requires_grad=True) for a in (x, w, b)]
            y = ag.layer_norm(*inputs)
            (y * ag.tensor(g)).sum().backward()
            results[name] = [y.detach().numpy()] + [t.grad.numpy() for t in inputs]
        else:
            inputs = [torch.tensor(a.astype(dtype), requires_grad=True) for a in (x, w, b)]
            y = torch.nn.functional.layer_norm(inputs[0], shape[-dims:], inputs[1], inputs[2])
            (y * torch.from_numpy(g.astype(dtype))).sum().backward()
            results[name] = [y.detach().numpy()] + [t.grad.numpy() for t in inputs]
    for ours, theirs, exact in zip(results["ours"], results["torch"], results["exact"]):
        assert ours.dtype == np.float32
        scale = np.abs(exact).max()
        assert np.abs(ours - exact).max() <= max(2 * np.abs(theirs - exact).max(), 4e-6 * scale)

# --- scaled dot-product attention ------------------------------------------------------------------------------
def _composed_attention(q: ag.Tensor, k: ag.Tensor, v: ag.Tensor, mask: object, keep: object, scale: float,
                        causal: bool, dropout_p: float) -> ag.Tensor:
    """fused_attention written out: [softmax(QK^T scale + mask) keep / (1 - p) V | softmax(...)], a row with
    every key masked out giving zeros."""
    scores = (q @ k.transpose(-2, -1)) * scale
    if causal:
        length, source = scores.shape[-2:]
        mask = np.arange(source) <= np.arange(length)[:, None]
    if mask is not None:
        allowed = mask if isinstance(mask, ag.Tensor) else ag.tensor(np.where(mask, 0.0, -np.inf))
        scores = scores + allowed
    dead = np.isneginf(scores.data).all(axis=-1, keepdims=True)
    p = ag.where(dead, 0.0, ag.softmax(ag.where(dead, 0.0, scores), -1))
    d = p if keep is None else ag.where(keep, p * (1 / (1 - dropout_p)), 0.0)
    return ag.cat([d @ v, p], -1)


ATTENTION_SETTINGS = {  # (shapes of q, k, v; mask: None, "bool", "float" or "causal"; dropout)
    "plain": (((2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 7)), None, 0.0),
    "batch_broadcast": (((2, 1, 5, 4), (3, 6, 4), (1, 3, 6, 2)), "bool", 0.0),
    "float_mask": (((2, 5, 4), (2, 6, 4), (2, 6, 3)), "float", 0.0),
    "causal": (((3, 6, 4), (3, 6, 4), (3, 6, 5)), "causal", 0.0),
    "causal_wide": (((2, 4, 3), (2, 7, 3), (2, 7, 3)), "causal", 0.0),
    "dropout": (((2, 5, 4), (2, 6, 4), (2, 6, 3)), "bool", 0.4),
}


def _attention_inputs(name: str) -> tuple:
    rng = np.random.default_rng(5)
    shapes, kind, dropout_p = ATTENTION_SETTINGS[name]
    arrays = [rng.standard_normal(s) * 1.5 for s in shapes]
    full = np.broadcast_shapes(*(s[:-2] for s in shapes)) + (shapes[0][-2], shapes[1][-2])
    mask = None
    if kind == "bool":
        mask = rng.random(full[-2:]) > 0.4
        mask[1] = False  # query 1 sees no key: zeros
    elif kind == "float":
        mask = rng.standard_normal(full[-2:])
        mask[2] = -np.inf
        mask[0, :2] = -np.inf
    keep = rng.random(full) > dropout_p if dropout_p else None
    return arrays, kind, mask, keep, dropout_p


@pytest.mark.parametrize("weights", [True, False])
@pytest.mark.parametrize("name", sorted(ATTENTION_SETTINGS))
def test_fused_attention_equals_the_composed_formula_in_float64(name: str, weights: bool) -> None:
    arrays, kind, mask, keep, dropout_p = _attention_inputs(name)
    seed = None
    results = []
    for fused in (True, False):
        inputs = [ag.tensor(a, requires_grad=True) for a in arrays]
        m = ag.tensor(mask, requires_grad=True) if kind == "float" else mask
        if fused:
            out = ag.fused_attention(*inputs, None if kind == "causal" else m, keep, scale=0.6,
                                     causal=kind == "causal", dropout_p=dropout_p, weights=weights)
        else:
            out = _composed_attention(*inputs, m, keep, 0.6, kind == "causal", dropout_p)
            out = out if weights else out[..., :arrays[2].shape[-1]]
        seed = np.random.default_rng(6).standard_normal(out.shape) if seed is None else seed
        (out * ag.tensor(seed)).sum().backward()
        grads = [x.grad.numpy() for x in inputs] + ([m.grad.numpy()] if kind == "float" else [])
        results.append([out.detach().numpy()] + grads)
    for fused, composed in zip(*results):
        assert np.isfinite(fused).all()
        np.testing.assert_allclose(fused, composed, rtol=1e-13, atol=1e-14)
    if kind in ("bool", "float"):  # the rows with every key masked out: zeros, and no gradient through them
        width = arrays[2].shape[-1]
        dead = results[0][0][..., 1 if kind == "bool" else 2, :]
        assert not dead.any() and dead.shape[-1] == width + (arrays[1].shape[-2] if weights else 0)


def test_fused_attention_without_weights_is_laid_out_as_the_query_and_keeps_the_probabilities_behind() -> None:
    # multi-head attention's heads: (N, H, L, d) views of a (N, L, H, d) projection. The attention comes out laid
    # out the same way, so the heads merge back into (N, L, E) as a view; its VJP reads P from the buffer behind
    # the output, and recomputes it when handed an output that is not such a view (the same gradients)
    from autograd import ops
    rng = np.random.default_rng(9)
    n, length, heads, d = 2, 5, 3, 4
    projections = [ag.tensor(rng.standard_normal((n, length, heads * d)), requires_grad=True) for _ in range(3)]
    q, k, v = (t.reshape(n, length, heads, d).transpose(1, 2) for t in projections)
    out = ag.fused_attention(q, k, v, causal=True, weights=False)
    assert out.shape == (n, heads, length, d) and not out.data.flags.c_contiguous
    merged = out.transpose(1, 2).reshape(n, length, heads * d)
    assert np.shares_memory(merged.data, out.data)
    full = ag.fused_attention(q, k, v, causal=True)
    np.testing.assert_array_equal(out.numpy(), full.numpy()[..., :d])
    behind = ops._attention_probabilities_behind(out.data, (n, heads, length, length))
    np.testing.assert_array_equal(behind, full.numpy()[..., d:])
    g = rng.standard_normal(out.shape)
    args = (q.data, k.data, v.data)
    from_behind = ops._fused_attention_vjp(g, out.data, args, causal=True, weights=False)
    recomputed = ops._fused_attention_vjp(g, out.data.copy(), args, causal=True, weights=False)
    for a, b in zip(from_behind[:3], recomputed[:3]):
        np.testing.assert_array_equal(a, b)
    (merged * ag.tensor(rng.standard_normal(merged.shape))).sum().backward()
    assert all(t.grad.shape == (n, length, heads * d) for t in projections)


@pytest.mark.parametrize("name", ["plain", "batch_broadcast", "float_mask", "causal", "causal_wide"])
def test_scaled_dot_product_attention_on_the_fused_primitive_matches_pytorch(name: str) -> None:
    torch = pytest.importorskip("torch")
    arrays, kind, mask, _, _ = _attention_inputs(name)
    seed = np.random.default_rng(7).standard_normal(
        np.broadcast_shapes(*(a.shape[:-2] for a in arrays)) + (arrays[0].shape[-2], arrays[2].shape[-1]))
    ours = [ag.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    if kind == "float":
        mask[2] = 0.0  # (PyTorch's math kernel gives nan on an all -inf float row; the boolean case covers it)
        m_ours, m_theirs = ag.tensor(mask, requires_grad=True), torch.tensor(mask, requires_grad=True)
    else:
        m_ours = m_theirs = None if mask is None else mask
        m_theirs = None if mask is None else torch.from_numpy(mask)
    out = F.scaled_dot_product_attention(*ours, attn_mask=m_ours, is_causal=kind == "causal", scale=0.6)
    t_out = torch.nn.functional.scaled_dot_product_attention(*theirs, attn_mask=m_theirs,
                                                            is_causal=kind == "causal", scale=0.6)
    (out * ag.tensor(seed)).sum().backward()
    (t_out * torch.from_numpy(seed)).sum().backward()
    assert out.grad_fn is not None and any(node.op is ag.fused_attention for node in _nodes(out))
    np.testing.assert_allclose(out.detach().numpy(), t_out.detach().numpy(), rtol=1e-12, atol=1e-13)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-11, atol=1e-12)
    if kind == "float":
        np.testing.assert_allclose(m_ours.grad.numpy(), m_theirs.grad.numpy(), rtol=1e-11, atol=1e-12)


def test_scaled_dot_product_attention_dropout_is_reproducible_and_draws_as_f_dropout() -> None:
    arrays, _, mask, _, _ = _attention_inputs("dropout")
    q, k, v = (ag.tensor(a) for a in arrays)
    ag.manual_seed(11)
    first = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.4)
    ag.manual_seed(11)
    again = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.4)
    np.testing.assert_array_equal(first.numpy(), again.numpy())
    # the same draws as F.dropout on the attention weights (the composition this primitive replaced)
    weights = _composed_attention(q, k, v, mask, None, 1 / 2, False, 0.0)[..., v.shape[-1]:]
    ag.manual_seed(11)
    expected = F.dropout(weights, 0.4) @ v
    np.testing.assert_allclose(first.numpy(), expected.numpy(), rtol=1e-13, atol=1e-14)
    assert not np.array_equal(first.numpy(), F.scaled_dot_product_attention(q, k, v, attn_mask=mask).numpy())


def test_multihead_attention_runs_the_fused_primitive_without_weights() -> None:
    mha = nn.MultiheadAttention(8, 2, batch_first=True, dtype=np.float64)
    x = ag.tensor(np.random.default_rng(8).standard_normal((3, 5, 8)), requires_grad=True)
    out, weights = mha(x, x, x, need_weights=False, attn_mask=nn.Transformer.generate_square_subsequent_mask(5),
                       is_causal=True)
    assert weights is None and any(node.op is ag.fused_attention for node in _nodes(out))
    with_weights, _ = mha(x, x, x, attn_mask=nn.Transformer.generate_square_subsequent_mask(5))
    np.testing.assert_allclose(out.detach().numpy(), with_weights.detach().numpy(), rtol=1e-13, atol=1e-14)



def test_multihead_attention_hands_boolean_masks_to_the_fused_primitive_as_they_are() -> None:
    # need_weights=False with boolean masks only: one boolean mask (True = allowed: the inverse of the layer's),
    # padded with an allowed key for add_bias_kv, merged with &, no float 0 / -inf array
    mha = nn.MultiheadAttention(8, 2, batch_first=True, add_bias_kv=True, dtype=np.float64)
    rng = np.random.default_rng(10)
    x = ag.tensor(rng.standard_normal((3, 5, 8)), requires_grad=True)
    kpm = np.zeros((3, 5), bool)
    kpm[0, 3:] = True
    attn = rng.random((5, 5)) > 0.7
    out, _ = mha(x, x, x, key_padding_mask=kpm, attn_mask=attn, need_weights=False)
    node = next(node for node in _nodes(out) if node.op is ag.fused_attention)
    mask = node.args[3]
    assert mask.dtype == np.bool_ and mask.shape == (3, 1, 5, 6)
    expected = ~np.pad(kpm, [(0, 0), (0, 1)])[:, None, None, :] & ~np.pad(attn, [(0, 0), (0, 1)])
    np.testing.assert_array_equal(mask, expected)
    additive, _ = mha(x, x, x, key_padding_mask=np.where(kpm, -np.inf, 0.0), attn_mask=attn, need_weights=False)
    np.testing.assert_allclose(out.detach().numpy(), additive.detach().numpy(), rtol=1e-13, atol=1e-14)

def test_fused_attention_keeps_float32_and_names_the_shapes_at_fault() -> None:
    q = ag.zeros(2, 3, 4, requires_grad=True)
    out = ag.fused_attention(q, ag.zeros(2, 5, 4), ag.zeros(2, 5, 6), causal=True)
    assert out.shape == (2, 3, 11) and out.dtype == np.float32 and out.grad_fn.op is ag.fused_attention
    out.sum().backward()
    assert q.grad.dtype == np.float32
    with pytest.raises(ValueError, match=r"fused_attention: query \(2, 3, 4\), key \(2, 5, 3\) and value .* do "
                                         r"not fit"):
        ag.fused_attention(q, ag.zeros(2, 5, 3), ag.zeros(2, 5, 6))
    with pytest.raises(ValueError, match=r"fused_attention: the mask of shape \(4, 5\) does not stretch to the "
                                         r"scores' shape \(2, 3, 5\)"):
        ag.fused_attention(q, ag.zeros(2, 5, 4), ag.zeros(2, 5, 6), np.zeros((4, 5), bool))
    with pytest.raises(ValueError, match=r"fused_attention: the leading \(batch\) dims"):
        ag.fused_attention(q, ag.zeros(3, 5, 4), ag.zeros(3, 5, 6))
    with pytest.raises(ValueError, match=r"fused_attention: give either a mask or causal=True"):
        ag.fused_attention(q, ag.zeros(2, 5, 4), ag.zeros(2, 5, 6), np.ones((3, 5), bool), causal=True)
    with pytest.raises(ValueError, match=r"fused_attention: keep must be boolean"):
        ag.fused_attention(q, ag.zeros(2, 5, 4), ag.zeros(2, 5, 6), None, np.ones((3, 5)))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_with_logits_equals_the_composition_and_pytorch(reduction: str) -> None:
    """One node for the loss and its reduction; the composition it replaces gives the same values and gradients
    in float64 (the fused gradient sigmoid(x) - y is the more accurate where sigmoid(x) is tiny: tested below)."""
    rng = np.random.default_rng(0)
    x_data, y_data = rng.standard_normal((7, 3)) * 4, rng.random((7, 3))
    seed = rng.standard_normal((7, 3)) if reduction == "none" else 1.7
    results = []
    for fn in (lambda x, y: ag.binary_cross_entropy_with_logits(x, y, reduction=reduction),
               lambda x, y: getattr((1 - y) * x + ag.softplus(-x), {"none": "clone"}.get(reduction, reduction))()):
        x, y = ag.tensor(x_data, requires_grad=True), ag.tensor(y_data, requires_grad=True)
        out = fn(x, y)
        (out * ag.tensor(seed)).sum().backward()
        results.append([out.detach().numpy(), x.grad.numpy(), y.grad.numpy()])
    for fused, composed in zip(*results):
        np.testing.assert_allclose(fused, composed, rtol=1e-13, atol=1e-14)
    loss = F.binary_cross_entropy_with_logits(ag.tensor(x_data, requires_grad=True), ag.tensor(y_data),
                                              reduction=reduction)
    assert loss.grad_fn.op is ag.binary_cross_entropy_with_logits  # F uses the one node
    torch = pytest.importorskip("torch")
    tx, ty = torch.tensor(x_data, requires_grad=True), torch.tensor(y_data, requires_grad=True)
    tout = torch.nn.functional.binary_cross_entropy_with_logits(tx, ty, reduction=reduction)
    (tout * torch.tensor(seed)).sum().backward()
    for ours, theirs in zip(results[0], (tout.detach(), tx.grad, ty.grad)):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-13, atol=1e-14)


def test_binary_cross_entropy_with_logits_gradient_is_accurate_where_sigmoid_is_tiny() -> None:
    x = ag.tensor([-30.0, -40.0, -700.0], dtype=ag.float64, requires_grad=True)
    F.binary_cross_entropy_with_logits(x, ag.zeros(3, dtype=ag.float64), reduction="sum").backward()
    # sigmoid(x) - 0 to the last bits (composed as (1 - y) - sigmoid(-x), it came out as 1 - (1 - tiny): 1% off at
    # x = -30, and 0 instead of 4e-18 at x = -40)
    np.testing.assert_allclose(x.grad.numpy(), 1 / (1 + np.exp(-x.data)), rtol=1e-14)


# --- values kept behind an output (gelu's denominators, layer_norm's statistics) -------------------------------
def _gelu_and_layer_norm(kind: str, arrays: list) -> tuple:
    inputs = [ag.tensor(a, requires_grad=True) for a in arrays]
    y = ag.gelu(inputs[0], approximate="tanh") if kind == "gelu" else ag.layer_norm(*inputs, eps=1e-5)
    return inputs, y


@pytest.mark.parametrize("kind", ["gelu", "layer_norm"])
def test_values_kept_behind_the_output_give_the_recomputed_gradients_bit_for_bit(kind: str) -> None:
    # gelu (tanh form) keeps its denominators 1 + e^(-2u), layer_norm the normalised x and 1 / sqrt(var + eps),
    # behind the output in one buffer; the VJP reads them instead of recomputing them: the same numbers. Handed an
    # output that is not such a view (a copy), the VJP recomputes; a second backward (retain_graph) reads the kept
    # values again, unchanged; without grad mode nothing is kept.
    from autograd import kernels, ops
    rng = np.random.default_rng(12)
    shape = (6, 50, 128)
    arrays = [(rng.standard_normal(shape) * 3).astype(np.float32)]
    if kind == "layer_norm":
        arrays += [rng.standard_normal(128).astype(np.float32) for _ in range(2)]
    g = rng.standard_normal(shape).astype(np.float32)
    inputs, y = _gelu_and_layer_norm(kind, arrays)
    found = (kernels.gelu_denominators(y.data, arrays[0]) if kind == "gelu"
             else kernels.layer_norm_kept(y.data, arrays[1]))
    assert found is not None and y.data.flags.c_contiguous
    (y * ag.tensor(g)).sum().backward(retain_graph=True)
    first = [t.grad.numpy().copy() for t in inputs]
    for t in inputs:
        t.grad = None
    (y * ag.tensor(g)).sum().backward()
    primitive = ops.gelu if kind == "gelu" else ops.layer_norm
    params = {"approximate": "tanh"} if kind == "gelu" else {"eps": 1e-5}
    if kind == "gelu":
        recomputed = [ops._gelu_vjp(g, y.data.copy(), arrays[0], **params)]
    else:
        recomputed = ops._layer_norm_vjp(g, y.data.copy(), tuple(arrays), **params)
    for a, t, b in zip(first, inputs, recomputed):
        assert np.array_equal(a, t.grad.numpy()) and np.array_equal(a, b)
    with ag.no_grad():
        plain = primitive(*[ag.tensor(a) for a in arrays], **params)
    kept = (kernels.gelu_denominators(plain.data, arrays[0]) if kind == "gelu"
            else kernels.layer_norm_kept(plain.data, arrays[1]))
    assert kept is None and np.array_equal(plain.numpy(), y.detach().numpy())


@pytest.mark.parametrize("kind", ["gelu", "layer_norm"])
def test_an_output_written_in_place_before_backward_still_gives_the_gradient(kind: str) -> None:
    # the VJPs read only the inputs and the values behind the output, never the output's values: writing into
    # the output in place (an in-place dropout after GELU) is allowed, as in PyTorch, whose GELU and LayerNorm do
    # not save their outputs
    rng = np.random.default_rng(13)
    arrays = [rng.standard_normal((4, 40)) * 2]
    if kind == "layer_norm":
        arrays += [rng.standard_normal(40) for _ in range(2)]
    inputs, y = _gelu_and_layer_norm(kind, arrays)
    (y * 1.0).sum().backward()
    expected = inputs[0].grad.numpy()
    inputs, y = _gelu_and_layer_norm(kind, arrays)
    out = F.dropout(y, 0.5, inplace=True) if kind == "gelu" else y.mul_(3.0)
    out.sum().backward()
    if kind == "layer_norm":
        np.testing.assert_allclose(inputs[0].grad.numpy(), 3 * expected, rtol=1e-12, atol=1e-12)
    else:
        assert np.isfinite(inputs[0].grad.numpy()).all()


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("size", ["small", "large"])
def test_fused_attention_softmax_with_and_without_the_max_shift_is_as_accurate_as_pytorch(causal: bool,
                                                                                       size: str) -> None:
    # all scores within +-kernels._EXP_SAFE: exp without the row maxima (and the causal mask as a product after
    # exp); larger scores: shifted by the row maxima. In float32 on W7's head shapes, both as accurate as
    # PyTorch's float32 attention against float64, values and gradients
    torch = pytest.importorskip("torch")
    from autograd import kernels
    rng = np.random.default_rng(14)
    shape = (4, 2, 64, 32)
    q, k, v, g = (rng.standard_normal(shape) for _ in range(4))
    q *= 1.0 if size == "small" else 40.0
    scale = 1 / np.sqrt(32)
    assert (np.abs(q @ np.swapaxes(k, -1, -2) * scale).max() < kernels._EXP_SAFE[np.dtype(np.float32)]) == (
        size == "small")
    mask = None if causal else rng.random((64, 64)) > 0.3
    results = {}
    for name, dtype in (("ours", np.float32), ("torch", np.float32), ("exact", np.float64)):
        lib = ag if name == "ours" else torch
        inputs = [lib.tensor(a.astype(dtype), requires_grad=True) for a in (q, k, v)]
        m = None if mask is None else (mask if name == "ours" else torch.from_numpy(mask))
        sdpa = F.scaled_dot_product_attention if name == "ours" else torch.nn.functional.scaled_dot_product_attention
        out = sdpa(*inputs, attn_mask=m, is_causal=causal)
        (out * lib.tensor(g.astype(dtype))).sum().backward()
        results[name] = [out.detach().numpy()] + [t.grad.numpy() for t in inputs]
    for ours, theirs, exact in zip(results["ours"], results["torch"], results["exact"]):
        assert ours.dtype == np.float32
        assert np.abs(ours - exact).max() <= max(2 * np.abs(theirs - exact).max(), 1e-6 * np.abs(exact).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_with_the_bias_as_an_extra_column_equals_the_product_plus_the_bias(dtype: type) -> None:
    # a layer at least twice as wide out as in, on a large input, computes [x | 1] @ [W | b].T (ops._with_bias_column):
    # the bias added by BLAS after each dot product, the same sums as x @ W.T + b; gradients unchanged
    from autograd import ops
    rng = np.random.default_rng(15)
    x, w, b = (rng.standard_normal(shape).astype(dtype) for shape in ((8, 130, 128), (512, 128), (512,)))
    assert x.size >= ops._BIAS_COLUMN_FROM and ops._with_bias_column(x, w, b) is not None
    assert ops._with_bias_column(x, w[:200], b[:200]) is None  # not twice as wide
    inputs = [ag.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = ag.linear(*inputs)
    np.testing.assert_allclose(y.numpy(), x @ w.T + b, rtol=2e-6 if dtype == np.float32 else 1e-14, atol=1e-5)
    g = rng.standard_normal(y.shape).astype(dtype)
    (y * ag.tensor(g)).sum().backward()
    composed = [ag.tensor(a, requires_grad=True) for a in (x, w, b)]
    ((composed[0] @ composed[1].T + composed[2]) * ag.tensor(g)).sum().backward()
    for ours, theirs in zip(inputs, composed):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-5 if dtype == np.float32
                                   else 1e-12, atol=1e-4 if dtype == np.float32 else 1e-10)
