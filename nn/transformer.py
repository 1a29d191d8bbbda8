"""Transformers: `TransformerEncoderLayer`, `TransformerDecoderLayer`, `TransformerEncoder`, `TransformerDecoder`,
`Transformer`, and what a GPT needs besides: the causal mask (`Transformer.generate_square_subsequent_mask`) and
sinusoidal position encodings (`sinusoidal_positional_encoding`, `PositionalEncoding`).

PyTorch's layers, submodule names and defaults (`dim_feedforward=2048`, `dropout=0.1`, post-norm unless
`norm_first=True`, sequence-first unless `batch_first=True`), so a PyTorch `state_dict` loads as is and gives the
same outputs and gradients (tested in float64 with dropout off). The stacks hold deep copies of the layer they
are given, as PyTorch's do. A decoder-only model (a GPT) is a `TransformerEncoder` run with a causal mask.

PyTorch's inference fast path (nested tensors, `enable_nested_tensor`) does not exist here: the arguments are
accepted and every call takes the ordinary path, which computes the same values (PyTorch's fast path also zeroes
the outputs at padded positions).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np

import autograd
from autograd import Tensor

from . import functional as F
from . import init
from ._factory import factory_dtype
from .attention import AttentionError, MultiheadAttention
from .dropout import Dropout
from .linear import Linear
from .module import Module, ModuleList
from .normalization import LayerNorm

__all__ = ["TransformerEncoderLayer", "TransformerDecoderLayer", "TransformerEncoder", "TransformerDecoder",
           "Transformer", "PositionalEncoding", "sinusoidal_positional_encoding"]


def _activation(activation: str | Callable) -> Callable:
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    if isinstance(activation, str) or not callable(activation):
        raise ValueError(f"activation should be 'relu', 'gelu' or a callable, not {activation!r}")
    return activation


def _check_features(layer: Module, name: str, x: Any, d_model: int, batch_first: bool) -> None:
    shape = tuple(x.shape)
    if len(shape) not in (2, 3) or shape[-1] != d_model:
        layout = "(N, S, d_model)" if batch_first else "(S, N, d_model)"
        raise AttentionError(layer, f"expected {name} of shape {layout} or (S, d_model) with d_model={d_model}, "
                                    f"got {shape}")


def _is_causal_mask(mask: Any, is_causal: bool | None, size: int | None) -> bool:
    """PyTorch's _detect_is_causal_mask: a given hint as it is; without one, whether `mask` equals the causal
    mask of `size` (its last dims, else)."""
    if is_causal is not None or mask is None:
        return bool(is_causal)
    m = mask if isinstance(mask, Tensor) else autograd.as_tensor(mask)
    sz = size if size is not None else m.shape[-2]
    causal = np.triu(np.full((sz, sz), -np.inf), 1)
    if m.dtype == np.bool_:
        causal = np.isinf(causal)
    return tuple(m.shape) == causal.shape and bool((m.data == causal).all())


class TransformerEncoderLayer(Module):
    """Self-attention and a feed-forward block, each with a residual connection and layer norm (PyTorch's layer):

        post-norm (default):  x = norm1(x + SA(x));        x = norm2(x + FF(x))
        norm_first=True:      x = x + SA(norm1(x));        x = x + FF(norm2(x))

    with SA multi-head self-attention (`self_attn`) and FF(x) = linear2(dropout(activation(linear1(x)))).
    forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False); masks as in MultiheadAttention
    (boolean True = masked out, or float added to the scores)."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable = "relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        dtype = factory_dtype(self, device, dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                            dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation(activation)
        self.d_model, self.batch_first = d_model, batch_first

    def forward(self, src: Tensor, src_mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool = False) -> Tensor:
        _check_features(self, "src", src, self.d_model, self.batch_first)
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._ff_block(self.norm2(x))
        x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._ff_block(x))

    def _sa_block(self, x: Tensor, attn_mask: Any, key_padding_mask: Any, is_causal: bool) -> Tensor:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerDecoderLayer(Module):
    """Self-attention, attention over the encoder's output (`memory`) and a feed-forward block, each with a
    residual connection and layer norm (PyTorch's layer; post-norm unless norm_first=True):

        x = norm1(x + SA(x));   x = norm2(x + MHA(x, memory));   x = norm3(x + FF(x))

    forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False)."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable = "relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        dtype = factory_dtype(self, device, dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                            dtype=dtype)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                 batch_first=batch_first, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _activation(activation)
        self.d_model, self.batch_first = d_model, batch_first

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Any = None, memory_mask: Any = None,
                tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None, tgt_is_causal: bool = False,
                memory_is_causal: bool = False) -> Tensor:
        _check_features(self, "tgt", tgt, self.d_model, self.batch_first)
        _check_features(self, "memory", memory, self.d_model, self.batch_first)
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            return x + self._ff_block(self.norm3(x))
        x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
        x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
        return self.norm3(x + self._ff_block(x))

    def _sa_block(self, x: Tensor, attn_mask: Any, key_padding_mask: Any, is_causal: bool) -> Tensor:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=is_causal)[0]
        return self.dropout1(x)

    def _mha_block(self, x: Tensor, mem: Tensor, attn_mask: Any, key_padding_mask: Any, is_causal: bool) -> Tensor:
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                need_weights=False, is_causal=is_causal)[0]
        return self.dropout2(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))


def _clones(layer: Module, num_layers: int) -> ModuleList:
    """`num_layers` independent deep copies of `layer` (PyTorch's _get_clones: the layer given is a template)."""
    if num_layers < 1:
        raise ValueError(f"num_layers must be at least 1, got {num_layers}")
    return ModuleList([copy.deepcopy(layer) for _ in range(num_layers)])


def _sequence_length(x: Any, batch_first: bool) -> int:
    shape = tuple(x.shape)
    return shape[0] if len(shape) == 2 else shape[1 if batch_first else 0]


class TransformerEncoder(Module):
    """A stack of `num_layers` deep copies of `encoder_layer` (in `layers`), then `norm` if given.

    forward(src, mask=None, src_key_padding_mask=None, is_causal=None): `is_causal=None` detects a causal
    `mask` (one equal to generate_square_subsequent_mask), as PyTorch does."""

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True) -> None:
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor, self.mask_check = enable_nested_tensor, mask_check

    def forward(self, src: Tensor, mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool | None = None) -> Tensor:
        batch_first = getattr(self.layers[0], "batch_first", False)
        is_causal = _is_causal_mask(mask, is_causal, _sequence_length(src, batch_first))
        out = src
        for layer in self.layers:
            out = layer(out, src_mask=mask, is_causal=is_causal, src_key_padding_mask=src_key_padding_mask)
        return out if self.norm is None else self.norm(out)


class TransformerDecoder(Module):
    """A stack of `num_layers` deep copies of `decoder_layer` (in `layers`), then `norm` if given.

    forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False)."""

    def __init__(self, decoder_layer: TransformerDecoderLayer, num_layers: int, norm: Module | None = None) -> None:
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Any = None, memory_mask: Any = None,
                tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
                tgt_is_causal: bool | None = None, memory_is_causal: bool = False) -> Tensor:
        batch_first = getattr(self.layers[0], "batch_first", False)
        tgt_is_causal = _is_causal_mask(tgt_mask, tgt_is_causal, _sequence_length(tgt, batch_first))
        out = tgt
        for layer in self.layers:
            out = layer(out, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                        tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask,
                        tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)
        return out if self.norm is None else self.norm(out)


class Transformer(Module):
    """The encoder-decoder transformer of "Attention Is All You Need", PyTorch's layer: `encoder` (a
    TransformerEncoder with a final LayerNorm) and `decoder` (a TransformerDecoder with a final LayerNorm);
    every weight matrix Xavier-uniform initialised.

    forward(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
    tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
    memory_is_causal=False) -> (T, N, d_model), or (N, T, d_model) with batch_first=True.

    >>> import autograd
    >>> model = Transformer(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=32)
    >>> tgt_mask = Transformer.generate_square_subsequent_mask(4)
    >>> model(autograd.randn(5, 3, 16), autograd.randn(4, 3, 16), tgt_mask=tgt_mask).shape
    (4, 3, 16)
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable = "relu", custom_encoder: Module | None = None,
                 custom_decoder: Module | None = None, layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        dtype = factory_dtype(self, device, dtype)
        options = dict(dim_feedforward=dim_feedforward, dropout=dropout, activation=activation,
                       layer_norm_eps=layer_norm_eps, batch_first=batch_first, norm_first=norm_first, bias=bias,
                       dtype=dtype)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            self.encoder = TransformerEncoder(TransformerEncoderLayer(d_model, nhead, **options), num_encoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            self.decoder = TransformerDecoder(TransformerDecoderLayer(d_model, nhead, **options), num_decoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first

    def forward(self, src: Tensor, tgt: Tensor, src_mask: Any = None, tgt_mask: Any = None, memory_mask: Any = None,
                src_key_padding_mask: Any = None, tgt_key_padding_mask: Any = None,
                memory_key_padding_mask: Any = None, src_is_causal: bool | None = None,
                tgt_is_causal: bool | None = None, memory_is_causal: bool = False) -> Tensor:
        batch = 0 if self.batch_first else 1
        if src.ndim == 3 and (tgt.ndim != 3 or src.shape[batch] != tgt.shape[batch]):
            raise AttentionError(self, f"the batch sizes of src {src.shape} and tgt {tgt.shape} must be equal "
                                       f"(dim {batch})")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise AttentionError(self, f"the feature sizes of src {src.shape} and tgt {tgt.shape} must equal "
                                       f"d_model={self.d_model}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                            memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device: Any = None, dtype: Any = None) -> Tensor:
        """The causal mask for a sequence of length sz: 0 on and below the diagonal, -inf above it (position i
        attends to positions 0..i), float32 unless `dtype` says otherwise (PyTorch's)."""
        dt = factory_dtype("generate_square_subsequent_mask", device, dtype)
        return autograd.from_numpy(np.triu(np.full((sz, sz), -np.inf, dtype=dt), 1))


def sinusoidal_positional_encoding(num_positions: int, d_model: int, base: float = 10000.0,
                                   dtype: Any = None) -> Tensor:
    """The fixed position encodings of "Attention Is All You Need", a (num_positions, d_model) tensor:

        PE[pos, 2i] = sin(pos / base^(2i / d_model)),   PE[pos, 2i + 1] = cos(pos / base^(2i / d_model))

    Add it to the token embeddings (PyTorch leaves this to its users; its tutorials write the same formula).

    >>> pe = sinusoidal_positional_encoding(50, 16)
    >>> pe.shape, float(pe[0, 1])
    ((50, 16), 1.0)
    """
    if num_positions < 0 or d_model <= 0:
        raise ValueError(f"sinusoidal_positional_encoding: num_positions must be >= 0 and d_model > 0, got "
                         f"{num_positions} and {d_model}")
    position = np.arange(num_positions, dtype=np.float64)[:, None]
    frequency = np.exp(np.arange(0, d_model, 2, dtype=np.float64) * (-math.log(base) / d_model))
    angles = position * frequency                       # (positions, ceil(d_model / 2))
    pe = np.empty((num_positions, d_model))
    pe[:, 0::2] = np.sin(angles)
    pe[:, 1::2] = np.cos(angles[:, : d_model // 2])
    return autograd.from_numpy(pe.astype(np.dtype(dtype or np.float32)))


class PositionalEncoding(Module):
    """x + PE[:L] (then dropout), with PE the sinusoidal encodings above, for x of shape (L, N, d_model), or
    (N, L, d_model) with batch_first=True. The encodings are a buffer `pe` of shape (max_len, d_model), not saved
    in the state dict (they are a formula)."""

    def __init__(self, d_model: int, dropout: float = 0.0, max_len: int = 5000, batch_first: bool = False,
                 device: Any = None, dtype: Any = None) -> None:
        dtype = factory_dtype(self, device, dtype)
        super().__init__()
        self.d_model, self.max_len, self.batch_first = d_model, max_len, batch_first
        self.dropout = Dropout(dropout)
        self.register_buffer("pe", sinusoidal_positional_encoding(max_len, d_model, dtype=dtype), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        shape = tuple(x.shape)
        axis = 1 if self.batch_first and len(shape) == 3 else 0
        if len(shape) not in (2, 3) or shape[-1] != self.d_model or shape[axis] > self.max_len:
            raise AttentionError(self, f"expected an input of shape {'(N, L, d)' if self.batch_first else '(L, N, d)'}"
                                       f" or (L, d) with d = {self.d_model} and L <= max_len = {self.max_len}, got "
                                       f"{shape}")
        pe = self.pe[: shape[axis]]
        if len(shape) == 3 and not self.batch_first:
            pe = pe.unsqueeze(1)
        return self.dropout(x + pe.astype(x.dtype))

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}" + (", batch_first=True" if self.batch_first else "")
