"""Attention: `scaled_dot_product_attention`, `multi_head_attention_forward` and the `MultiheadAttention` layer.

Everything is composed of autograd operations (matmul, softmax, where, dropout), so the gradients come from the
engine. Names, arguments, parameter layouts and mask conventions are PyTorch's (checked against PyTorch 2.13 in
float64), so a PyTorch `state_dict` loads as is:

- `scaled_dot_product_attention`: a boolean `attn_mask` says where attention is ALLOWED (True = take part); a float
  mask is added to the scores. A row whose keys are all masked out gives zeros (and zero gradients), not NaN.
- `MultiheadAttention`: `key_padding_mask` and a boolean `attn_mask` say where attention is NOT allowed (True =
  masked out), the opposite of the function above, as in PyTorch. Parameters `in_proj_weight` (3E, E) and
  `in_proj_bias` (3E,) packing the query, key and value projections, or `q_proj_weight`, `k_proj_weight`,
  `v_proj_weight` when `kdim`/`vdim` differ from `embed_dim`; `out_proj` a Linear.

Attention itself, for queries Q (L, E), keys K (S, E) and values V (S, Ev):

    Attention(Q, K, V) = softmax(Q K^T * scale + mask) V,   scale = 1 / sqrt(E) by default.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import autograd
from autograd import Tensor
from autograd.errors import OpError

from . import functional as F
from . import init
from ._factory import factory_dtype
from .linear import Linear
from .module import LayerError, Module
from .parameter import Parameter

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward", "MultiheadAttention", "AttentionError"]


class AttentionError(LayerError, OpError):
    """An attention or transformer layer was given inputs or masks whose shapes do not fit together."""


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else autograd.as_tensor(x)


def _additive(mask: Any, dtype: Any, allowed: bool, op: str) -> Tensor:
    """A mask as something to add to the scores, in the scores' dtype: a boolean mask becomes 0 / -inf (True
    marks the ALLOWED places when `allowed`, the masked ones otherwise); a float mask is used as it is."""
    m = _as_tensor(mask)
    if m.dtype == np.bool_:
        keep = m.data if allowed else ~m.data
        return autograd.from_numpy(np.where(keep, 0.0, -np.inf).astype(dtype))
    if m.dtype.kind != "f":
        raise TypeError(f"{op}: a mask must be boolean or floating point, got dtype {m.dtype}")
    return m if m.dtype == dtype else m.astype(dtype)


def _mask(mask: Any, dtype: Any, boolean: bool) -> Any:
    """A multi-head attention mask (boolean True = masked out, or float) as the attention takes it: with
    `boolean`, a boolean array, True where attention is ALLOWED; else additive (see _additive)."""
    if boolean:
        return ~_as_tensor(mask).data
    return _additive(mask, dtype, allowed=False, op="multi_head_attention_forward")


def _pad_key(mask: Any) -> Any:
    """`mask` with one more key (last axis) that takes part: True for a boolean mask, 0 for an additive one."""
    if mask is None:
        return None
    if isinstance(mask, np.ndarray):
        return np.pad(mask, [(0, 0)] * (mask.ndim - 1) + [(0, 1)], constant_values=True)
    return F.pad(mask, (0, 1))


def _repeat_heads(x: Tensor, repeats: int) -> Tensor:
    """Each head (dim -3) repeated `repeats` times in place: PyTorch's repeat_interleave(repeats, dim=-3)."""
    shape = x.shape
    expanded = x.unsqueeze(-3).expand(*shape[:-2], repeats, *shape[-2:])
    return expanded.reshape(*shape[:-3], shape[-3] * repeats, *shape[-2:])


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask: Any = None,
                                 dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """softmax(Q K^T * scale + mask) V for query (..., L, E), key (..., S, E), value (..., S, Ev): output
    (..., L, Ev). The leading dims broadcast (as in matmul).

    - `attn_mask`: boolean (True where attention is allowed) or float (added to the scores), broadcastable to
      (..., L, S); a float mask that requires grad gets its gradient.
    - `is_causal`: query i attends to keys 0..i (the mask tril(ones(L, S)), aligned top-left); not together with
      `attn_mask`.
    - `scale`: default 1 / sqrt(E).
    - `dropout_p`: dropout on the attention weights, always applied when > 0 (pass 0 in evaluation).
    - `enable_gqa`: grouped-query attention: key and value may have fewer heads (dim -3) than the query, a
      divisor of its count; each is repeated to match.

    A query whose keys are all masked out gets an output of zeros (PyTorch's rule), with zero gradients.

    >>> import autograd
    >>> q = k = v = autograd.ones(2, 3, 4)
    >>> scaled_dot_product_attention(q, k, v, is_causal=True).shape
    (2, 3, 4)
    """
    op = "scaled_dot_product_attention"
    q, k, v = _as_tensor(query), _as_tensor(key), _as_tensor(value)
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError(f"{op}: query, key and value must have at least 2 dims (..., L or S, E), got shapes "
                         f"{q.shape}, {k.shape} and {v.shape}")
    if not q.dtype == k.dtype == v.dtype or q.dtype.kind != "f":
        raise TypeError(f"{op}: query, key and value must have the same floating dtype, got {q.dtype}, {k.dtype} "
                        f"and {v.dtype}")
    if k.shape[-1] != q.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"{op}: query {q.shape}, key {k.shape} and value {v.shape} do not fit: the query's and the "
                         "key's last dims (E) and the key's and the value's sequence dims (S) must agree")
    if enable_gqa and q.ndim >= 3 and k.ndim >= 3 and v.ndim >= 3:
        heads = q.shape[-3]
        if heads % k.shape[-3] or heads % v.shape[-3]:
            raise ValueError(f"{op}: with enable_gqa the key's and the value's numbers of heads (dim -3: "
                             f"{k.shape[-3]} and {v.shape[-3]}) must divide the query's ({heads})")
        k = _repeat_heads(k, heads // k.shape[-3]) if k.shape[-3] != heads else k
        v = _repeat_heads(v, heads // v.shape[-3]) if v.shape[-3] != heads else v
    try:
        batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except ValueError:
        raise ValueError(f"{op}: the leading dims of query {q.shape}, key {k.shape} and value {v.shape} cannot be "
                         "broadcast together" + ("" if enable_gqa else " (different numbers of heads need "
                                                 "enable_gqa=True)")) from None
    length, source = q.shape[-2], k.shape[-2]
    if is_causal and attn_mask is not None:
        raise ValueError(f"{op}: give either attn_mask or is_causal=True, not both")
    mask = None
    if attn_mask is not None:
        mask = _as_tensor(attn_mask)
        if mask.dtype.kind == "f" and mask.dtype != q.dtype:
            mask = mask.astype(q.dtype)
        elif mask.dtype != np.bool_ and mask.dtype.kind != "f":
            raise TypeError(f"{op}: a mask must be boolean or floating point, got dtype {mask.dtype}")
        full = (*batch, length, source)
        try:
            fits = np.broadcast_shapes(mask.shape, full) == full
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"{op}: attn_mask of shape {mask.shape} cannot be broadcast to the attention "
                             f"scores' shape {full} (..., L, S)")
    keep = None
    if dropout_p > 0:  # drawn as F.dropout draws the mask of the weights: the same numbers from the same seed
        shape = (*batch, length, source)
        keep = (autograd.rand(shape, dtype=autograd.float64) >= dropout_p).data if dropout_p < 1 else \
            np.zeros(shape, dtype=bool)
    # one node (autograd.fused_attention), the attention alone (it keeps the probabilities for its VJP itself),
    # laid out in memory as the query is (multi-head attention merges the heads back with no copy)
    return autograd.fused_attention(q, k, v, mask, keep, scale=scale, causal=is_causal, dropout_p=dropout_p,
                                    weights=False)


# ---------------------------------------------------------------------------------------------------------------
# Multi-head attention
# ---------------------------------------------------------------------------------------------------------------
def _mha_problem(query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Any, attn_mask: Any,
                 num_heads: int, batch_first: bool) -> str | None:
    """What is wrong with the shapes given to multi-head attention (PyTorch's checks), or None."""
    lead = "(N, L, E)" if batch_first else "(L, N, E)"
    if query.ndim == 3:
        if key.ndim != 3 or value.ndim != 3:
            return (f"for a batched query of shape {query.shape} {lead}, key and value must be 3-D too, got "
                    f"{key.shape} and {value.shape}")
        if key_padding_mask is not None and _as_tensor(key_padding_mask).ndim != 2:
            return (f"for a batched query, key_padding_mask must be 2-D (N, S), got shape "
                    f"{_as_tensor(key_padding_mask).shape}")
        if attn_mask is not None and _as_tensor(attn_mask).ndim not in (2, 3):
            return (f"for a batched query, attn_mask must be 2-D (L, S) or 3-D (N * num_heads, L, S), got shape "
                    f"{_as_tensor(attn_mask).shape}")
    elif query.ndim == 2:
        if key.ndim != 2 or value.ndim != 2:
            return (f"for an unbatched query of shape {query.shape} (L, E), key and value must be 2-D too, got "
                    f"{key.shape} and {value.shape}")
        if key_padding_mask is not None and _as_tensor(key_padding_mask).ndim != 1:
            return (f"for an unbatched query, key_padding_mask must be 1-D (S,), got shape "
                    f"{_as_tensor(key_padding_mask).shape}")
        if attn_mask is not None:
            shape = _as_tensor(attn_mask).shape
            if len(shape) not in (2, 3) or (len(shape) == 3 and shape[0] != num_heads):
                return (f"for an unbatched query, attn_mask must be (L, S) or (num_heads={num_heads}, L, S), got "
                        f"shape {shape}")
    else:
        return f"query must be 2-D (L, E) or 3-D {lead}, got shape {query.shape}"
    return None


def _attention(query: Tensor, key: Tensor, value: Tensor, num_heads: int, in_proj_weight: Tensor | None,
               in_proj_bias: Tensor | None, bias_k: Tensor | None, bias_v: Tensor | None, add_zero_attn: bool,
               dropout_p: float, out_proj_weight: Tensor, out_proj_bias: Tensor | None, training: bool,
               key_padding_mask: Any, need_weights: bool, attn_mask: Any, q_proj_weight: Tensor | None,
               k_proj_weight: Tensor | None, v_proj_weight: Tensor | None, static_k: Tensor | None,
               static_v: Tensor | None, average_attn_weights: bool, is_causal: bool
               ) -> tuple[Tensor, Tensor | None] | str:
    """Multi-head attention on batched, batch-first inputs: query (N, L, E), key (N, S, kdim), value (N, S, vdim),
    key_padding_mask (N, S), attn_mask (L, S) or (N * H, L, S). PyTorch's computation (torch's
    multi_head_attention_forward), laid out batch-first: no transposes on the way in or out. Returns
    (output (N, L, E), weights or None), or the message of what does not fit."""
    n, length, embed_dim = query.shape
    heads = num_heads
    head_dim = embed_dim // heads
    if head_dim * heads != embed_dim:
        return f"embed_dim {embed_dim} is not divisible by num_heads {heads}"
    if key.shape[:2] != value.shape[:2] or key.shape[0] != n:
        return (f"query {query.shape}, key {key.shape} and value {value.shape} must share the batch size, and key "
                "and value the sequence length")
    dtype = query.dtype
    # Boolean masks stay boolean on the fused path (need_weights=False): scaled_dot_product_attention takes them
    # as they are (True = allowed, so inverted here), with no float 0 / -inf array made and added to the scores.
    # Float masks, or a boolean one beside a float one, are turned into one additive mask, as PyTorch does.
    boolean = not need_weights and all(m is None or _as_tensor(m).dtype == np.bool_
                                       for m in (key_padding_mask, attn_mask))
    kpm = None if key_padding_mask is None else _mask(key_padding_mask, dtype, boolean)
    if is_causal and attn_mask is None:
        return ("is_causal=True is a hint that attn_mask is the causal mask: give the mask too (e.g. "
                "Transformer.generate_square_subsequent_mask(L))")
    if is_causal and kpm is None and not need_weights:
        attn_mask = None  # the hint alone: scaled_dot_product_attention applies the causal mask itself
    else:
        if attn_mask is not None:
            attn_mask = _mask(attn_mask, dtype, boolean)
        if kpm is not None:
            is_causal = False  # the merged mask is no longer the causal one
    # in-projections: one product per slice of the packed weight, also for self-attention. One product followed
    # by chunk(3) computes the same, but in the backward pass each piece of the chunk becomes a zero-filled
    # (N, L, 3E) gradient, and the three are added: five passes over three times the activation, for nothing.
    if in_proj_weight is not None:
        wq, wk, wv = in_proj_weight.chunk(3)
        bq, bk, bv = (None, None, None) if in_proj_bias is None else in_proj_bias.chunk(3)
        q, k, v = F.linear(query, wq, bq), F.linear(key, wk, bk), F.linear(value, wv, bv)
    else:
        bq, bk, bv = (None, None, None) if in_proj_bias is None else in_proj_bias.chunk(3)
        if key.shape[-1] != k_proj_weight.shape[1] or value.shape[-1] != v_proj_weight.shape[1]:
            return (f"key {key.shape} and value {value.shape} must have kdim={k_proj_weight.shape[1]} and "
                    f"vdim={v_proj_weight.shape[1]} features")
        q, k, v = F.linear(query, q_proj_weight, bq), F.linear(key, k_proj_weight, bk), \
            F.linear(value, v_proj_weight, bv)
    source = key.shape[1]
    if attn_mask is not None:
        if attn_mask.ndim == 2 and attn_mask.shape != (length, source):
            return f"the 2-D attn_mask has shape {attn_mask.shape}, but should be (L, S) = {(length, source)}"
        if attn_mask.ndim == 3 and attn_mask.shape != (n * heads, length, source):
            return (f"the 3-D attn_mask has shape {attn_mask.shape}, but should be (N * num_heads, L, S) = "
                    f"{(n * heads, length, source)}")
        attn_mask = attn_mask.reshape(n, heads, length, source) if attn_mask.ndim == 3 else attn_mask
    if bias_k is not None and bias_v is not None:  # one more key and value, learned
        if static_k is not None or static_v is not None:
            return "bias_k and bias_v cannot be added to static_k and static_v"
        k = autograd.cat([k, bias_k.reshape(1, 1, embed_dim).expand(n, 1, embed_dim)], 1)
        v = autograd.cat([v, bias_v.reshape(1, 1, embed_dim).expand(n, 1, embed_dim)], 1)
        attn_mask, kpm = _pad_key(attn_mask), _pad_key(kpm)
    # split the heads: (N, L, E) -> (N, H, L, E / H)
    q = q.reshape(n, length, heads, head_dim).transpose(1, 2)
    k = k.reshape(n, k.shape[1], heads, head_dim).transpose(1, 2)
    v = v.reshape(n, v.shape[1], heads, head_dim).transpose(1, 2)
    for name, static in (("static_k", static_k), ("static_v", static_v)):
        if static is not None:
            if static.ndim != 3 or static.shape[0] != n * heads or static.shape[2] != head_dim:
                return f"{name} must have shape (N * num_heads, S, head_dim) = ({n * heads}, S, {head_dim}), got " \
                       f"{static.shape}"
            if name == "static_k":
                k = static.reshape(n, heads, static.shape[1], head_dim)
            else:
                v = static.reshape(n, heads, static.shape[1], head_dim)
    if add_zero_attn:  # one more key and value, all zeros
        zeros = autograd.zeros(n, heads, 1, head_dim, dtype=dtype)
        k, v = autograd.cat([k, zeros], 2), autograd.cat([v, zeros], 2)
        attn_mask, kpm = _pad_key(attn_mask), _pad_key(kpm)
    source = k.shape[2]
    if kpm is not None:
        if kpm.shape != (n, source):
            return f"key_padding_mask has shape {kpm.shape}, expected (N, S) = {(n, source)}"
        kpm = kpm.reshape(n, 1, 1, source)
        attn_mask = kpm if attn_mask is None else (attn_mask & kpm) if boolean else attn_mask + kpm
    if not training:
        dropout_p = 0.0
    if need_weights:  # softmax written out, as PyTorch does on this path: a fully masked row gives NaN there
        scores = (q * math.sqrt(1.0 / head_dim)) @ k.transpose(-2, -1)
        if attn_mask is not None:
            scores = scores + attn_mask
        weights = autograd.softmax(scores, -1)
        if dropout_p > 0:
            weights = F.dropout(weights, dropout_p)
        out = weights @ v
        if average_attn_weights:
            weights = weights.mean(dim=1)
    else:
        out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
        weights = None
    out = out.transpose(1, 2).reshape(n, length, embed_dim)
    return F.linear(out, out_proj_weight, out_proj_bias), weights


def multi_head_attention_forward(query: Tensor, key: Tensor, value: Tensor, embed_dim_to_check: int, num_heads: int,
                                 in_proj_weight: Tensor | None, in_proj_bias: Tensor | None, bias_k: Tensor | None,
                                 bias_v: Tensor | None, add_zero_attn: bool, dropout_p: float,
                                 out_proj_weight: Tensor, out_proj_bias: Tensor | None, training: bool = True,
                                 key_padding_mask: Any = None, need_weights: bool = True, attn_mask: Any = None,
                                 use_separate_proj_weight: bool = False, q_proj_weight: Tensor | None = None,
                                 k_proj_weight: Tensor | None = None, v_proj_weight: Tensor | None = None,
                                 static_k: Tensor | None = None, static_v: Tensor | None = None,
                                 average_attn_weights: bool = True, is_causal: bool = False
                                 ) -> tuple[Tensor, Tensor | None]:
    """PyTorch's functional multi-head attention, with its arguments and its sequence-first layout: query (L, N, E)
    or unbatched (L, E), key (S, N, kdim), value (S, N, vdim). Returns (output (L, N, E), attention weights
    (N, L, S) averaged over heads, (N, num_heads, L, S) with average_attn_weights=False, or None when
    need_weights=False). Masks: key_padding_mask (N, S), attn_mask (L, S) or (N * num_heads, L, S); boolean
    True = masked out, floats are added to the scores."""
    op = "multi_head_attention_forward"
    query, key, value = _as_tensor(query), _as_tensor(key), _as_tensor(value)
    problem = _mha_problem(query, key, value, key_padding_mask, attn_mask, num_heads, batch_first=False)
    if problem is None and query.shape[-1] != embed_dim_to_check:
        problem = f"expected embedding dimension {embed_dim_to_check}, got a query of shape {query.shape}"
    if problem is not None:
        raise ValueError(f"{op}: {problem}")
    if use_separate_proj_weight:
        in_proj_weight = None
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise ValueError(f"{op}: use_separate_proj_weight=True needs q_proj_weight, k_proj_weight and "
                             "v_proj_weight")
    elif in_proj_weight is None:
        raise ValueError(f"{op}: in_proj_weight is None (pass use_separate_proj_weight=True with q/k/v_proj_weight)")
    result = _run_batch_first(query, key, value, key_padding_mask, attn_mask, False, dict(
        num_heads=num_heads, in_proj_weight=in_proj_weight, in_proj_bias=in_proj_bias, bias_k=bias_k,
        bias_v=bias_v, add_zero_attn=add_zero_attn, dropout_p=dropout_p, out_proj_weight=out_proj_weight,
        out_proj_bias=out_proj_bias, training=training, need_weights=need_weights, q_proj_weight=q_proj_weight,
        k_proj_weight=k_proj_weight, v_proj_weight=v_proj_weight, static_k=static_k, static_v=static_v,
        average_attn_weights=average_attn_weights, is_causal=is_causal))
    if isinstance(result, str):
        raise ValueError(f"{op}: {result}")
    return result


def _run_batch_first(query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Any, attn_mask: Any,
                     batch_first: bool, options: dict) -> tuple[Tensor, Tensor | None] | str:
    """Bring batched or unbatched inputs in either layout to _attention's batch-first layout and back. Keeps
    `query is key is value` (self-attention: one transpose, not three) through the transposes."""
    batched = query.ndim == 3
    if not batched:
        same_kv, same_qk = key is value, query is key
        query = query.unsqueeze(0)
        key = query if same_qk else key.unsqueeze(0)
        value = key if same_kv else value.unsqueeze(0)
        if key_padding_mask is not None:
            key_padding_mask = _as_tensor(key_padding_mask).unsqueeze(0)
    elif not batch_first:
        same_kv, same_qk = key is value, query is key
        query = query.transpose(0, 1)
        key = query if same_qk else key.transpose(0, 1)
        value = key if same_kv else value.transpose(0, 1)
    result = _attention(query, key, value, key_padding_mask=key_padding_mask, attn_mask=attn_mask, **options)
    if isinstance(result, str):
        return result
    out, weights = result
    if not batched:
        return out.squeeze(0), None if weights is None else weights.squeeze(0)
    return (out if batch_first else out.transpose(0, 1)), weights


class NonDynamicallyQuantizableLinear(Linear):
    """The Linear that MultiheadAttention's `out_proj` is (PyTorch's name for it, kept so that reprs agree)."""


class MultiheadAttention(Module):
    """Multi-head attention (Vaswani et al. 2017), PyTorch's layer:

        MultiHead(Q, K, V) = concat(head_1, ..., head_h) W_O,   head_i = Attention(Q W_Q_i, K W_K_i, V W_V_i)

    Parameters as in PyTorch: `in_proj_weight` (3 * embed_dim, embed_dim) with the query, key and value
    projections stacked, and `in_proj_bias` (3 * embed_dim,); when kdim or vdim differ from embed_dim,
    `q_proj_weight` (E, E), `k_proj_weight` (E, kdim), `v_proj_weight` (E, vdim) instead; `out_proj` a Linear
    (E, E); with add_bias_kv, `bias_k` and `bias_v` (1, 1, E). Initialised as PyTorch does: Xavier-uniform
    projections, zero biases.

    forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False) -> (output, weights): inputs (L, N, E) (or (N, L, E) with
    batch_first=True, or unbatched (L, E)); a boolean mask is True where attention is NOT allowed; the weights
    are averaged over heads unless average_attn_weights=False, and None with need_weights=False.

    Fully masked rows follow PyTorch: NaN with need_weights=True (the softmax is written out on that path),
    zeros with need_weights=False (scaled_dot_product_attention's rule).

    >>> import autograd
    >>> mha = MultiheadAttention(8, 2, batch_first=True)
    >>> out, weights = mha(autograd.ones(3, 5, 8), autograd.ones(3, 6, 8), autograd.ones(3, 6, 8))
    >>> out.shape, weights.shape
    ((3, 5, 8), (3, 5, 6))
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        dt = factory_dtype(self, device, dtype)
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"MultiheadAttention: embed_dim and num_heads must be positive, got {embed_dim} and "
                             f"{num_heads}")
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads, self.dropout, self.batch_first = num_heads, dropout, batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise ValueError(f"MultiheadAttention: embed_dim {embed_dim} must be divisible by num_heads {num_heads}")

        def empty(*shape: int) -> Parameter:
            return Parameter(np.zeros(shape, dtype=dt))

        if self._qkv_same_embed_dim:
            self.in_proj_weight = empty(3 * embed_dim, embed_dim)
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = empty(embed_dim, embed_dim)
            self.k_proj_weight = empty(embed_dim, self.kdim)
            self.v_proj_weight = empty(embed_dim, self.vdim)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = empty(3 * embed_dim)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, dtype=dt)
        if add_bias_kv:
            self.bias_k = empty(1, 1, embed_dim)
            self.bias_v = empty(1, 1, embed_dim)
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Any = None,
                need_weights: bool = True, attn_mask: Any = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        query, key, value = _as_tensor(query), _as_tensor(key), _as_tensor(value)
        problem = _mha_problem(query, key, value, key_padding_mask, attn_mask, self.num_heads, self.batch_first)
        if problem is None and query.shape[-1] != self.embed_dim:
            problem = f"the query of shape {query.shape} must have embed_dim={self.embed_dim} features (last dim)"
        if problem is None and (key.shape[-1] != self.kdim or value.shape[-1] != self.vdim):
            problem = (f"key {key.shape} and value {value.shape} must have kdim={self.kdim} and vdim={self.vdim} "
                       "features (last dim)")
        if problem is None:
            problem = _run_batch_first(query, key, value, key_padding_mask, attn_mask, self.batch_first, dict(
                num_heads=self.num_heads, in_proj_weight=self.in_proj_weight, in_proj_bias=self.in_proj_bias,
                bias_k=self.bias_k, bias_v=self.bias_v, add_zero_attn=self.add_zero_attn, dropout_p=self.dropout,
                out_proj_weight=self.out_proj.weight, out_proj_bias=self.out_proj.bias, training=self.training,
                need_weights=need_weights, q_proj_weight=self.q_proj_weight, k_proj_weight=self.k_proj_weight,
                v_proj_weight=self.v_proj_weight, static_k=None, static_v=None,
                average_attn_weights=average_attn_weights, is_causal=is_causal))
            if not isinstance(problem, str):
                return problem
        raise AttentionError(self, problem)

    def extra_repr(self) -> str:
        s = f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if not self._qkv_same_embed_dim:
            s += f", kdim={self.kdim}, vdim={self.vdim}"
        return s + (", batch_first=True" if self.batch_first else "")
