"""Transformers against PyTorch 2.13: encoder and decoder layers, their stacks and nn.Transformer give the same
outputs and gradients in float64 with PyTorch's state_dict loaded as it is (dropout off), with masks; the stacks
hold deep copies; the causal mask and the sinusoidal position encodings; gradcheck; errors naming the layer.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from nn_helpers import check_module

import autograd
import nn

torch = pytest.importorskip("torch")


def _compare(ours, theirs, arrays, our_kwargs=None, their_kwargs=None, atol=1e-10):
    """Load theirs' state into ours, run both on the same float64 inputs (and masks), compare outputs and the
    gradients of inputs and parameters for the same random weighting of the output."""
    theirs = theirs.double().eval()
    ours = ours.double().eval()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    our_in = [autograd.tensor(a, requires_grad=True) for a in arrays]
    their_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = ours(*our_in, **(our_kwargs or {}))
    t_out = theirs(*their_in, **(their_kwargs or {}))
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), atol=atol, rtol=1e-9)
    w = np.random.default_rng(9).standard_normal(out.shape)
    (out * autograd.tensor(w)).sum().backward()
    (t_out * torch.tensor(w)).sum().backward()
    for o, t in zip(our_in, their_in):
        np.testing.assert_allclose(o.grad.data, t.grad.numpy(), atol=atol, rtol=1e-9)
    their_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.data, their_params[name].grad.numpy(), atol=atol, rtol=1e-9, err_msg=name)


def _masks(length: int, source: int, n: int, kind: str):
    """(ours, theirs) keyword pieces: a causal float mask, a boolean mask and/or a key padding mask."""
    ours, theirs = {}, {}
    if kind in ("causal", "causal+padding"):
        m = np.triu(np.full((length, source), -np.inf), 1)
        ours["mask"], theirs["mask"] = autograd.tensor(m), torch.tensor(m)
    if kind == "bool":
        m = np.random.default_rng(2).random((length, source)) > 0.7
        m[:, 0] = False
        ours["mask"], theirs["mask"] = autograd.tensor(m), torch.tensor(m)
    if kind in ("padding", "causal+padding"):
        m = np.zeros((n, source), bool)
        m[0, -2:] = True
        ours["padding"], theirs["padding"] = autograd.tensor(m), torch.tensor(m)
    return ours, theirs


def _rename(masks: dict, mask: str, padding: str) -> dict:
    return {(mask if k == "mask" else padding): v for k, v in masks.items()}


ACTIVATIONS = {"relu": ("relu", "relu"), "gelu": ("gelu", "gelu"),
               "callable": (lambda: nn.GELU(approximate="tanh"), lambda: torch.nn.GELU(approximate="tanh"))}


@pytest.mark.parametrize("masks", ["none", "causal", "bool", "padding", "causal+padding"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_encoder_layer_matches_pytorch(batch_first, norm_first, activation, masks):
    ours_act, theirs_act = ACTIVATIONS[activation]
    options = dict(dim_feedforward=16, dropout=0.1, batch_first=batch_first, norm_first=norm_first,
                   layer_norm_eps=1e-4)
    ours = nn.TransformerEncoderLayer(8, 2, activation=ours_act() if callable(ours_act) else ours_act, **options)
    theirs = torch.nn.TransformerEncoderLayer(8, 2, activation=theirs_act() if callable(theirs_act) else theirs_act,
                                              **options)
    n, length = 3, 5
    x = np.random.default_rng(0).standard_normal((n, length, 8) if batch_first else (length, n, 8))
    o, t = _masks(length, length, n, masks)
    _compare(ours, theirs, [x], _rename(o, "src_mask", "src_key_padding_mask"),
             _rename(t, "src_mask", "src_key_padding_mask"))


@pytest.mark.parametrize("bias", [True, False])
def test_encoder_layer_without_bias_and_unbatched(bias):
    ours = nn.TransformerEncoderLayer(8, 4, 12, dropout=0.0, bias=bias)
    theirs = torch.nn.TransformerEncoderLayer(8, 4, 12, dropout=0.0, bias=bias)
    _compare(ours, theirs, [np.random.default_rng(1).standard_normal((6, 8))])


@pytest.mark.parametrize("masks", ["none", "causal", "causal+padding"])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_decoder_layer_matches_pytorch(batch_first, norm_first, masks):
    options = dict(dim_feedforward=16, dropout=0.2, batch_first=batch_first, norm_first=norm_first,
                   activation="gelu")
    ours, theirs = nn.TransformerDecoderLayer(8, 2, **options), torch.nn.TransformerDecoderLayer(8, 2, **options)
    n, length, source = 2, 4, 6
    rng = np.random.default_rng(3)
    tgt = rng.standard_normal((n, length, 8) if batch_first else (length, n, 8))
    memory = rng.standard_normal((n, source, 8) if batch_first else (source, n, 8))
    o, t = _masks(length, length, n, masks)
    o_kw, t_kw = _rename(o, "tgt_mask", "tgt_key_padding_mask"), _rename(t, "tgt_mask", "tgt_key_padding_mask")
    if masks == "causal+padding":  # also mask the memory
        m = np.zeros((n, source), bool)
        m[1, :3] = True
        o_kw["memory_key_padding_mask"], t_kw["memory_key_padding_mask"] = autograd.tensor(m), torch.tensor(m)
        mm = np.random.default_rng(4).standard_normal((length, source))
        o_kw["memory_mask"], t_kw["memory_mask"] = autograd.tensor(mm), torch.tensor(mm)
    _compare(ours, theirs, [tgt, memory], o_kw, t_kw)


@pytest.mark.parametrize("is_causal", [None, True, False])
def test_encoder_stack_matches_pytorch(is_causal):
    layer = dict(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0, batch_first=True, norm_first=True)
    ours = nn.TransformerEncoder(nn.TransformerEncoderLayer(**layer), 3, norm=nn.LayerNorm(8))
    theirs = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(**layer), 3, norm=torch.nn.LayerNorm(8),
                                         enable_nested_tensor=False)
    mask = np.triu(np.full((5, 5), -np.inf), 1)
    _compare(ours, theirs, [np.random.default_rng(5).standard_normal((2, 5, 8))],
             dict(mask=autograd.tensor(mask), is_causal=is_causal), dict(mask=torch.tensor(mask), is_causal=is_causal))


def test_decoder_stack_and_transformer_match_pytorch():
    options = dict(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0)
    ours = nn.TransformerDecoder(nn.TransformerDecoderLayer(**options), 2, norm=nn.LayerNorm(8))
    theirs = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(**options), 2, norm=torch.nn.LayerNorm(8))
    rng = np.random.default_rng(6)
    tgt, memory = rng.standard_normal((4, 2, 8)), rng.standard_normal((6, 2, 8))
    _compare(ours, theirs, [tgt, memory])
    ours = nn.Transformer(num_encoder_layers=2, num_decoder_layers=2, **options)
    theirs = torch.nn.Transformer(num_encoder_layers=2, num_decoder_layers=2, **options)
    causal = nn.Transformer.generate_square_subsequent_mask(4, dtype="float64")
    padding = np.array([[False] * 6, [False] * 4 + [True] * 2])
    _compare(ours, theirs, [memory, tgt],
             dict(tgt_mask=causal, src_key_padding_mask=padding, memory_key_padding_mask=padding),
             dict(tgt_mask=torch.tensor(causal.data), src_key_padding_mask=torch.tensor(padding),
                  memory_key_padding_mask=torch.tensor(padding)))


def test_stacks_hold_independent_deep_copies():
    template = nn.TransformerEncoderLayer(8, 2, 16)
    stack = nn.TransformerEncoder(template, 3)
    layers = list(stack.layers)
    assert all(layer is not template for layer in layers) and len({id(layer) for layer in layers}) == 3
    assert all(np.array_equal(layer.linear1.weight.data, template.linear1.weight.data) for layer in layers)
    with autograd.no_grad():
        layers[0].linear1.weight.add_(1.0)
    assert not np.array_equal(layers[0].linear1.weight.data, layers[1].linear1.weight.data)
    assert stack.num_parameters() == 3 * template.num_parameters()
    assert [name for name, _ in stack.named_parameters()][:2] == ["layers.0.self_attn.in_proj_weight",
                                                                 "layers.0.self_attn.in_proj_bias"]


def test_transformer_initialisation_and_state_dict_names_follow_pytorch():
    ours, theirs = nn.Transformer(16, 4, 2, 1, 32), torch.nn.Transformer(16, 4, 2, 1, 32)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    w = ours.encoder.layers[0].linear1.weight.data  # Xavier-uniform on every matrix
    assert np.abs(w).max() <= math.sqrt(6 / (16 + 32)) and np.abs(w).max() > 0.5 * math.sqrt(6 / (16 + 32))


def test_generate_square_subsequent_mask_is_pytorchs():
    for size in (1, 4):
        ours = nn.Transformer.generate_square_subsequent_mask(size)
        theirs = torch.nn.Transformer.generate_square_subsequent_mask(size)
        assert ours.dtype == np.float32
        np.testing.assert_array_equal(ours.data, theirs.numpy())
    assert nn.Transformer.generate_square_subsequent_mask(3, dtype=autograd.float64).dtype == np.float64


def test_sinusoidal_positional_encoding_follows_the_formula():
    length, d = 7, 9
    pe = nn.sinusoidal_positional_encoding(length, d, dtype=autograd.float64).data
    for pos in range(length):
        for i in range(d):
            angle = pos / 10000 ** (2 * (i // 2) / d)
            assert pe[pos, i] == pytest.approx(math.sin(angle) if i % 2 == 0 else math.cos(angle), abs=1e-12)
    assert nn.sinusoidal_positional_encoding(3, 4).dtype == np.float32
    module = nn.PositionalEncoding(d, max_len=20, batch_first=True)
    x = autograd.randn(2, length, d, dtype=autograd.float64)
    np.testing.assert_allclose(module(x).data, x.data + pe[None], atol=1e-7)
    assert "pe" not in module.state_dict()
    seq_first = nn.PositionalEncoding(d, max_len=20)
    np.testing.assert_allclose(seq_first(x.transpose(0, 1)).data, x.transpose(0, 1).data + pe[:, None], atol=1e-7)
    with pytest.raises(ValueError, match="max_len = 20"):
        module(autograd.zeros(1, 21, d))


def test_transformer_layers_gradcheck():
    autograd.manual_seed(0)
    rng = np.random.default_rng(0)
    encoder = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, norm_first=True, activation="gelu")
    x = autograd.tensor(rng.standard_normal((3, 2, 4)), requires_grad=True)
    check_module(encoder, x)
    mask = nn.Transformer.generate_square_subsequent_mask(3, dtype="float64")
    padding = np.array([[False, False, False], [False, False, True]])
    assert autograd.gradcheck(lambda a: encoder(a, src_mask=mask, src_key_padding_mask=padding), [x])
    decoder = nn.TransformerDecoderLayer(4, 2, 6, dropout=0.0)
    memory = autograd.tensor(rng.standard_normal((2, 2, 4)), requires_grad=True)
    check_module(decoder, x, memory)


def test_dropout_is_active_in_training_only():
    autograd.manual_seed(2)
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.5)
    x = autograd.randn(4, 2, 8)
    assert not np.allclose(layer(x).data, layer(x).data)
    layer.eval()
    np.testing.assert_array_equal(layer(x).data, layer(x).data)


def test_errors_name_the_layer_and_the_shapes():
    stack = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 2)
    with pytest.raises(ValueError, match=r"layers\.0 \(TransformerEncoderLayer\): expected src of shape "
                                         r"\(S, N, d_model\) or \(S, d_model\) with d_model=8, got \(5, 2, 6\)"):
        stack(autograd.zeros(5, 2, 6))
    model = nn.Transformer(8, 2, 1, 1, 16)
    with pytest.raises(ValueError, match=r"Transformer: the batch sizes of src \(5, 2, 8\) and tgt \(4, 3, 8\)"):
        model(autograd.zeros(5, 2, 8), autograd.zeros(4, 3, 8))
    with pytest.raises(ValueError, match="activation should be 'relu', 'gelu' or a callable, not 'tanh'"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")
    with pytest.raises(ValueError, match="num_layers must be at least 1"):
        nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2), 0)
