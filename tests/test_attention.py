"""Attention against PyTorch 2.13: F.scaled_dot_product_attention and nn.MultiheadAttention give the same outputs,
attention weights and gradients (inputs, masks, parameters) in float64, with PyTorch's weights loaded as they are;
PyTorch's rule for fully masked rows; gradcheck on small sizes; errors that name the layer and the shapes.
"""

from __future__ import annotations

import numpy as np
import pytest
from nn_helpers import check_module

import autograd
import nn
import nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _pair(array: np.ndarray, grad: bool = True) -> tuple:
    """The same float64 data as a glassgrad and as a torch tensor (boolean data never requires grad)."""
    grad = grad and array.dtype.kind == "f"
    return autograd.tensor(array, requires_grad=grad), torch.tensor(array, requires_grad=grad)


def _backward_same(ours, theirs, seed: int = 1) -> None:
    """Backpropagate the same random weighting of the outputs through both."""
    w = np.random.default_rng(seed).standard_normal(theirs.shape)
    (ours * autograd.tensor(w)).sum().backward()
    (theirs * torch.tensor(w)).sum().backward()


def _close(ours, theirs, what: str = "", atol: float = 1e-11) -> None:
    expected = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    got = ours.data if isinstance(ours, autograd.Tensor) else ours
    np.testing.assert_allclose(got, expected, atol=atol, rtol=1e-9, err_msg=what)


# ---------------------------------------------------------------------------------------------------------------
# scaled_dot_product_attention
# ---------------------------------------------------------------------------------------------------------------
def _bool_mask(shape, seed=3, dead_row=False):
    mask = np.random.default_rng(seed).random(shape) > 0.3
    if dead_row:
        mask[..., 1, :] = False  # a query that may attend to nothing
    return mask


SDPA_CASES = {
    "2-D": dict(q=(4, 3), k=(5, 3), v=(5, 2)),
    "batched-heads": dict(q=(2, 3, 4, 5), k=(2, 3, 6, 5), v=(2, 3, 6, 4)),
    "broadcast-batch": dict(q=(2, 3, 4, 5), k=(1, 3, 6, 5), v=(1, 3, 6, 5)),
    "broadcast-ndim": dict(q=(2, 3, 4, 5), k=(3, 6, 5), v=(3, 6, 5)),
    "scale": dict(q=(2, 4, 3), k=(2, 5, 3), v=(2, 5, 3), scale=0.37),
    "causal-square": dict(q=(2, 2, 5, 4), k=(2, 2, 5, 4), v=(2, 2, 5, 4), is_causal=True),
    "causal-wide": dict(q=(2, 3, 4), k=(2, 6, 4), v=(2, 6, 4), is_causal=True),
    "causal-tall": dict(q=(2, 6, 4), k=(2, 3, 4), v=(2, 3, 4), is_causal=True),
    "bool-mask": dict(q=(2, 2, 4, 3), k=(2, 2, 5, 3), v=(2, 2, 5, 3), mask=("bool", (4, 5))),
    "bool-mask-broadcast": dict(q=(2, 2, 4, 3), k=(2, 2, 5, 3), v=(2, 2, 5, 3), mask=("bool", (2, 1, 4, 5))),
    "bool-mask-dead-row": dict(q=(2, 4, 3), k=(2, 5, 3), v=(2, 5, 3), mask=("dead", (4, 5))),
    "float-mask": dict(q=(2, 2, 4, 3), k=(2, 2, 5, 3), v=(2, 2, 5, 3), mask=("float", (2, 1, 4, 5))),
    "float-mask-neg-inf-row": dict(q=(2, 4, 3), k=(2, 5, 3), v=(2, 5, 3), mask=("float-dead", (4, 5))),
    "gqa": dict(q=(2, 4, 3, 5), k=(2, 2, 6, 5), v=(2, 1, 6, 5), enable_gqa=True),
    "gqa-3d-causal": dict(q=(6, 4, 3), k=(2, 4, 3), v=(3, 4, 3), enable_gqa=True, is_causal=True),
}


def _sdpa_mask(spec):
    if spec is None:
        return None, None
    kind, shape = spec
    if kind in ("bool", "dead"):
        m = _bool_mask(shape, dead_row=kind == "dead")
        return _pair(m)
    m = np.random.default_rng(4).standard_normal(shape)
    if kind == "float-dead":
        m[2] = -np.inf
        m[0, 3] = -np.inf
    return _pair(m)


@pytest.mark.parametrize("name", SDPA_CASES)
def test_scaled_dot_product_attention_matches_pytorch(name: str) -> None:
    case = dict(SDPA_CASES[name])
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(case.pop(key)) for key in ("q", "k", "v")]
    (q, tq), (k, tk), (v, tv) = (_pair(a) for a in arrays)
    mask, tmask = _sdpa_mask(case.pop("mask", None))
    ours = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, **case)
    theirs = TF.scaled_dot_product_attention(tq, tk, tv, attn_mask=tmask, **case)
    assert ours.shape == tuple(theirs.shape)
    assert np.all(np.isfinite(ours.data))
    _close(ours, theirs, "output")
    _backward_same(ours, theirs)
    for o, t, what in ((q, tq, "query"), (k, tk, "key"), (v, tv, "value"), (mask, tmask, "mask")):
        if t is not None and t.requires_grad:
            _close(o.grad, t.grad, f"gradient of the {what}")


def test_a_fully_masked_row_gives_zeros_and_zero_gradients() -> None:
    rng = np.random.default_rng(0)
    q, k, v = (autograd.tensor(rng.standard_normal(s), requires_grad=True) for s in ((3, 2), (4, 2), (4, 2)))
    mask = np.ones((3, 4), dtype=bool)
    mask[1] = False
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=autograd.tensor(mask))
    assert np.array_equal(out.data[1], [0.0, 0.0]) and np.all(np.isfinite(out.data))
    out.sum().backward()
    assert np.array_equal(q.grad.data[1], [0.0, 0.0])
    assert np.all(np.isfinite(k.grad.data)) and np.all(np.isfinite(v.grad.data))


def test_scaled_dot_product_attention_gradcheck() -> None:
    rng = np.random.default_rng(1)
    q, k, v = (autograd.tensor(rng.standard_normal(s), requires_grad=True) for s in ((2, 3, 2), (2, 4, 2), (2, 4, 3)))
    bias = autograd.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    mask = _bool_mask((3, 4), dead_row=True)
    assert autograd.gradcheck(lambda a, b, c, m: F.scaled_dot_product_attention(a, b, c, attn_mask=m), [q, k, v, bias])
    assert autograd.gradgradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, is_causal=True), [q, k, v])
    assert autograd.gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, attn_mask=mask), [q, k, v])


def test_attention_dropout_drops_weights_and_rescales() -> None:
    autograd.manual_seed(0)
    s = 400
    q = autograd.zeros(1, s, 1, dtype=autograd.float64)        # equal scores: every weight is 1/S
    v = autograd.tensor(np.eye(s)[None])                        # output row = the weights themselves
    out = F.scaled_dot_product_attention(q, q, v, dropout_p=0.25).data
    kept = out != 0
    assert np.allclose(out[kept], 1 / s / 0.75)                 # inverted dropout: kept weights scaled by 1/(1-p)
    assert abs(kept.mean() - 0.75) < 0.01
    assert np.allclose(F.scaled_dot_product_attention(q, q, v).data, 1 / s)


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(q=(3,), k=(3,), v=(3,)), "at least 2 dims"),
    (dict(q=(2, 3), k=(4, 2), v=(4, 3)), r"query \(2, 3\), key \(4, 2\) and value \(4, 3\)"),
    (dict(q=(2, 3), k=(4, 3), v=(5, 3)), "sequence dims"),
    (dict(q=(4, 2, 3), k=(2, 2, 3), v=(2, 2, 3)), "enable_gqa=True"),
    (dict(q=(3, 2, 3), k=(2, 2, 3), v=(2, 2, 3), enable_gqa=True), "must divide"),
    (dict(q=(2, 3), k=(4, 3), v=(4, 3), mask=np.ones((3, 4), bool)), r"\(3, 4\) cannot be broadcast.*\(2, 4\)"),
    (dict(q=(2, 3), k=(4, 3), v=(4, 3), mask=np.ones((2, 4), bool), is_causal=True), "not both"),
])
def test_scaled_dot_product_attention_errors_name_the_shapes(kwargs: dict, message: str) -> None:
    kwargs = dict(kwargs)
    q, k, v = (autograd.zeros(*kwargs.pop(key)) for key in ("q", "k", "v"))
    mask = kwargs.pop("mask", None)
    with pytest.raises(ValueError, match=message):
        F.scaled_dot_product_attention(q, k, v, attn_mask=mask, **kwargs)
    with pytest.raises(TypeError, match="same floating dtype"):
        F.scaled_dot_product_attention(autograd.zeros(2, 3), autograd.zeros(2, 3, dtype=autograd.float64),
                                       autograd.zeros(2, 3))
    with pytest.raises(TypeError, match="boolean or floating"):
        F.scaled_dot_product_attention(autograd.zeros(2, 3), autograd.zeros(2, 3), autograd.zeros(2, 3),
                                       attn_mask=np.zeros((2, 2), np.int64))


# ---------------------------------------------------------------------------------------------------------------
# MultiheadAttention
# ---------------------------------------------------------------------------------------------------------------
def _mha_pair(**options):
    theirs = torch.nn.MultiheadAttention(8, 2, dtype=torch.float64, **options)
    ours = nn.MultiheadAttention(8, 2, dtype="float64", **options)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    ours.load_state_dict(theirs.state_dict())  # PyTorch's state_dict, as it is
    return ours, theirs


MHA_OPTIONS = {
    "default": {},
    "batch-first": {"batch_first": True},
    "kdim-vdim": {"kdim": 3, "vdim": 5},
    "no-bias": {"bias": False},
    "bias-kv-zero-attn": {"add_bias_kv": True, "add_zero_attn": True},
}
MASKS = {
    "none": {},
    "kpm-bool": {"key_padding_mask": "bool"},
    "kpm-float-attn-bool": {"key_padding_mask": "float", "attn_mask": "bool"},
    "attn-float-3d": {"attn_mask": "float3d"},
    "both-bool": {"key_padding_mask": "bool", "attn_mask": "bool"},
}


def _mha_masks(spec: dict, n: int, length: int, source: int, heads: int, batched: bool):
    rng = np.random.default_rng(7)
    ours, theirs = {}, {}
    kind = spec.get("key_padding_mask")
    if kind:
        m = np.zeros((n, source), bool)
        m[-1, source // 2:] = True
        m = m if kind == "bool" else np.where(m, -np.inf, rng.standard_normal(m.shape))
        m = m if batched else m[0]
        ours["key_padding_mask"], theirs["key_padding_mask"] = _pair(m, grad=False)
    kind = spec.get("attn_mask")
    if kind:
        m = rng.random((length, source)) > 0.8 if kind == "bool" else \
            rng.standard_normal(((n if batched else 1) * heads, length, source))
        if kind == "bool":
            m[:, 0] = False  # no row fully masked here: need_weights=True would give NaN (tested separately)
        ours["attn_mask"], theirs["attn_mask"] = _pair(m, grad=False)
    return ours, theirs


@pytest.mark.parametrize("inputs", ["self", "cross", "separate", "unbatched"])
@pytest.mark.parametrize("masks", MASKS)
@pytest.mark.parametrize("option", MHA_OPTIONS)
def test_multihead_attention_matches_pytorch(option: str, masks: str, inputs: str) -> None:
    options = MHA_OPTIONS[option]
    if inputs == "self" and "kdim" in options:
        pytest.skip("self-attention needs kdim = vdim = embed_dim")
    ours, theirs = _mha_pair(**options)
    n, length, source, heads = 3, 4, 5, 2
    batch_first = options.get("batch_first", False)
    rng = np.random.default_rng(11)

    def shape(seq: int, features: int = 8) -> tuple:
        if inputs == "unbatched":
            return (seq, features)
        return (n, seq, features) if batch_first else (seq, n, features)

    if inputs == "self":
        source = length
    q_pair = _pair(rng.standard_normal(shape(length)))
    k_pair = q_pair if inputs == "self" else _pair(rng.standard_normal(shape(source, options.get("kdim", 8))))
    if inputs == "self":
        v_pair = q_pair
    elif inputs == "cross" and "vdim" not in options:
        v_pair = k_pair
    else:
        v_pair = _pair(rng.standard_normal(shape(source, options.get("vdim", 8))))
    our_masks, their_masks = _mha_masks(MASKS[masks], n, length, source, heads, inputs != "unbatched")
    for need_weights, average in ((True, True), (True, False), (False, True)):
        ours.zero_grad()
        theirs.zero_grad()
        for pair in {id(p): p for p in (q_pair, k_pair, v_pair)}.values():
            pair[0].grad = pair[1].grad = None
        out, weights = ours(q_pair[0], k_pair[0], v_pair[0], need_weights=need_weights,
                            average_attn_weights=average, **our_masks)
        t_out, t_weights = theirs(q_pair[1], k_pair[1], v_pair[1], need_weights=need_weights,
                                  average_attn_weights=average, **their_masks)
        _close(out, t_out, "output")
        assert (weights is None) == (t_weights is None)
        if weights is not None:
            _close(weights, t_weights, "attention weights")
        _backward_same(out, t_out)
        for i, pair in enumerate((q_pair, k_pair, v_pair)):
            _close(pair[0].grad, pair[1].grad, f"gradient of input {i}")
        their_params = dict(theirs.named_parameters())
        for name, p in ours.named_parameters():
            _close(p.grad, their_params[name].grad, name)


def test_multihead_attention_is_causal_hint_uses_the_mask_and_needs_it() -> None:
    ours, theirs = _mha_pair(batch_first=True)
    x, tx = _pair(np.random.default_rng(2).standard_normal((2, 5, 8)))
    causal, t_causal = nn.Transformer.generate_square_subsequent_mask(5, dtype="float64"), \
        torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)
    for need_weights in (True, False):
        out = ours(x, x, x, attn_mask=causal, is_causal=True, need_weights=need_weights)[0]
        t_out = theirs(tx, tx, tx, attn_mask=t_causal, is_causal=True, need_weights=need_weights)[0]
        _close(out, t_out)
    with pytest.raises(ValueError, match="is_causal=True is a hint"):
        ours(x, x, x, is_causal=True)


def test_multihead_attention_fully_masked_rows_as_pytorch() -> None:
    """PyTorch 2.13: with need_weights=True the softmax is written out and a fully masked row is NaN; with
    need_weights=False scaled_dot_product_attention gives zeros."""
    ours, theirs = _mha_pair()
    x, tx = _pair(np.random.default_rng(3).standard_normal((4, 2, 8)))
    kpm = np.array([[True] * 4, [False, False, True, False]])
    out, weights = ours(x, x, x, key_padding_mask=kpm)
    t_out, t_weights = theirs(tx, tx, tx, key_padding_mask=torch.tensor(kpm))
    assert np.isnan(out.data[:, 0]).all() and np.isnan(weights.data[0]).all()
    _close(out, t_out)
    _close(weights, t_weights)
    out = ours(x, x, x, key_padding_mask=kpm, need_weights=False)[0]
    t_out = theirs(tx, tx, tx, key_padding_mask=torch.tensor(kpm), need_weights=False)[0]
    assert np.array_equal(out.data[:, 0], np.zeros((4, 8)) + ours.out_proj.bias.data)
    _close(out, t_out)


def test_functional_multi_head_attention_forward_matches_pytorch() -> None:
    ours, theirs = _mha_pair()
    rng = np.random.default_rng(5)
    (q, tq), (k, tk) = _pair(rng.standard_normal((4, 3, 8))), _pair(rng.standard_normal((6, 3, 8)))
    static_k = rng.standard_normal((6, 6, 4))
    args = dict(embed_dim_to_check=8, num_heads=2, bias_k=None, bias_v=None, add_zero_attn=False, dropout_p=0.0,
                training=False, need_weights=True)
    out, w = F.multi_head_attention_forward(q, k, k, in_proj_weight=ours.in_proj_weight,
                                            in_proj_bias=ours.in_proj_bias, out_proj_weight=ours.out_proj.weight,
                                            out_proj_bias=ours.out_proj.bias, static_k=autograd.tensor(static_k),
                                            **args)
    t_out, t_w = TF.multi_head_attention_forward(tq, tk, tk, in_proj_weight=theirs.in_proj_weight,
                                                 in_proj_bias=theirs.in_proj_bias,
                                                 out_proj_weight=theirs.out_proj.weight,
                                                 out_proj_bias=theirs.out_proj.bias,
                                                 static_k=torch.tensor(static_k), **args)
    _close(out, t_out)
    _close(w, t_w)
    with pytest.raises(ValueError, match=r"multi_head_attention_forward: expected embedding dimension 6"):
        F.multi_head_attention_forward(q, k, k, 6, 2, ours.in_proj_weight, None, None, None, False, 0.0,
                                       ours.out_proj.weight, None)


def test_multihead_attention_gradcheck() -> None:
    autograd.manual_seed(0)
    layer = nn.MultiheadAttention(4, 2, kdim=3, vdim=2, add_bias_kv=True, batch_first=True)
    rng = np.random.default_rng(0)
    q, k, v = (autograd.tensor(rng.standard_normal(s), requires_grad=True) for s in ((2, 3, 4), (2, 2, 3), (2, 2, 2)))
    check_module(layer, q, k, v, output=lambda out: out[0])
    kpm = np.array([[False, False], [False, True]])
    assert autograd.gradcheck(lambda a, b, c: layer(a, b, c, key_padding_mask=kpm)[0], [q, k, v])
    self_attention = nn.MultiheadAttention(4, 2)
    x = autograd.tensor(rng.standard_normal((3, 2, 4)), requires_grad=True)
    mask = nn.Transformer.generate_square_subsequent_mask(3, dtype="float64")
    check_module(self_attention, x, x, x, output=lambda out: out[0])
    kpm = np.array([[False, False, False], [False, True, False]])
    assert autograd.gradcheck(
        lambda a: self_attention(a, a, a, attn_mask=mask, key_padding_mask=kpm, need_weights=False)[0], [x])


def test_multihead_attention_dropout_only_in_training() -> None:
    autograd.manual_seed(1)
    layer = nn.MultiheadAttention(8, 2, dropout=0.5)
    x = autograd.randn(5, 2, 8)
    first, second = layer(x, x, x)[0], layer(x, x, x)[0]
    assert not np.allclose(first.data, second.data)
    layer.eval()
    np.testing.assert_array_equal(layer(x, x, x)[0].data, layer(x, x, x)[0].data)


def test_multihead_attention_errors_name_the_layer_and_the_shapes() -> None:
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x, kpm=None):
            return self.attn(x, x, x, key_padding_mask=kpm)

    model = Model()
    with pytest.raises(ValueError, match=r"attn \(MultiheadAttention\): the query of shape \(2, 3, 6\) must have "
                                         r"embed_dim=8"):
        model(autograd.zeros(2, 3, 6))
    with pytest.raises(ValueError, match=r"key_padding_mask has shape \(2, 4\), expected \(N, S\) = \(2, 3\)"):
        model(autograd.zeros(2, 3, 8), np.zeros((2, 4), bool))
    with pytest.raises(ValueError, match=r"query must be 2-D \(L, E\) or 3-D \(N, L, E\), got shape \(8,\)"):
        model(autograd.zeros(8))
    with pytest.raises(ValueError, match="divisible by num_heads"):
        nn.MultiheadAttention(8, 3)
    attn = nn.MultiheadAttention(8, 2)
    with pytest.raises(ValueError, match=r"2-D attn_mask has shape \(3, 3\), but should be \(L, S\) = \(3, 4\)"):
        attn(autograd.zeros(3, 1, 8), autograd.zeros(4, 1, 8), autograd.zeros(4, 1, 8), attn_mask=np.zeros((3, 3)))


def test_multihead_attention_init_and_repr_follow_pytorch() -> None:
    layer = nn.MultiheadAttention(16, 4, kdim=8, vdim=8)
    assert layer.in_proj_weight is None and layer.q_proj_weight.shape == (16, 16)
    assert layer.k_proj_weight.shape == (16, 8) and not layer.in_proj_bias.data.any()
    bound = np.sqrt(6 / (16 + 8))  # Xavier-uniform on (16, 8)
    assert np.abs(layer.k_proj_weight.data).max() <= bound
    assert not layer.out_proj.bias.data.any()
    assert "(out_proj): NonDynamicallyQuantizableLinear(in_features=16, out_features=16, bias=True)" in repr(layer)
