"""W7: one AdamW training step of the decoder-only transformer of `python -m nn.examples.transformer` at a fixed
size: batch 32, 64 tokens, d_model 128, 4 heads, 2 pre-norm blocks (feed-forward 512, GPT-2's tanh GELU),
vocabulary 64, sinusoidal positions, the causal mask, cross-entropy on every position, float32.

The same model code runs on glassgrad and on PyTorch (`torch.nn.TransformerEncoderLayer` and friends, eager,
without the nested-tensor fast path, which training never takes). There is no numpy floor: a hand-written
transformer backward is out of scope; the comparison is with PyTorch.
"""

from __future__ import annotations

import math

import numpy as np

from . import Case, framework, training_case

LR = 1e-3
SIZES = {False: dict(batch=32, tokens=64, d_model=128, heads=4, layers=2, vocab=64),
         True: dict(batch=3, tokens=8, d_model=16, heads=4, layers=2, vocab=16)}


def positions(tokens: int, d_model: int) -> np.ndarray:
    """Sinusoidal position encodings (nn.sinusoidal_positional_encoding's formula), float32."""
    angles = np.arange(tokens)[:, None] * np.exp(np.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
    pe = np.empty((tokens, d_model))
    pe[:, 0::2], pe[:, 1::2] = np.sin(angles), np.cos(angles)
    return pe.astype(np.float32)


def build_model(name: str, batch: int, tokens: int, d_model: int, heads: int, layers: int, vocab: int) -> object:
    fw = framework(name)
    nn = fw.nn
    extra = {"enable_nested_tensor": False} if name == "torch" else {}
    pe = fw.as_tensor(positions(tokens, d_model))
    mask = nn.Transformer.generate_square_subsequent_mask(tokens)

    class GPT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.token_embedding = nn.Embedding(vocab, d_model)
            block = nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, 0.0,
                                               activation=nn.GELU(approximate="tanh"), batch_first=True,
                                               norm_first=True)
            self.blocks = nn.TransformerEncoder(block, layers, **extra)
            self.norm = nn.LayerNorm(d_model)
            self.head = nn.Linear(d_model, vocab)

        def forward(self, idx: object) -> object:
            x = self.blocks(self.token_embedding(idx) + pe, mask=mask, is_causal=True)
            return self.head(self.norm(x)).reshape(-1, vocab)

    return GPT()


def data(small: bool, model: object) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Token ids, next-token targets (flattened) and the shared initial parameters, by name (in sorted order, so
    that every engine draws the same values from the parameter names of its own `model`, without importing the
    other engine): PyTorch's default scales (U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for matrices, N(0, 1)
    embeddings, LayerNorm weights near 1)."""
    size = SIZES[small]
    rng = np.random.default_rng(7)
    idx = rng.integers(0, size["vocab"], (size["batch"], size["tokens"]))
    targets = rng.integers(0, size["vocab"], size["batch"] * size["tokens"])
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    params = {}
    for name, shape in sorted(shapes.items()):
        if name.endswith("embedding.weight"):
            params[name] = rng.standard_normal(shape).astype(np.float32)
        elif "norm" in name:
            params[name] = ((name.endswith(".weight")) + 0.1 * rng.standard_normal(shape)).astype(np.float32)
        else:
            bound = 1 / math.sqrt(shape[-1] if len(shape) > 1 else size["d_model"])
            params[name] = rng.uniform(-bound, bound, shape).astype(np.float32)
    return idx, targets, params


def _case(name: str, small: bool) -> Case:
    model = build_model(name, **SIZES[small])
    idx, targets, params = data(small, model)
    return training_case(name, model, params, LR, idx, targets, framework(name).F.cross_entropy, optimizer="AdamW")


def build_glassgrad(variant: str, small: bool = False) -> Case:
    return _case("glassgrad", small)


def build_torch(variant: str, small: bool = False) -> Case:
    return _case("torch", small)


BUILDERS = {"glassgrad": build_glassgrad, "torch": build_torch}
