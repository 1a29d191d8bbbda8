"""`Embedding`: a lookup table of learnable vectors, indexed by integers."""

from __future__ import annotations

from typing import Any

import numpy as np

from autograd import Tensor, no_grad

from . import functional as F
from . import init
from ._factory import factory_dtype
from .module import InputTypeError, LayerIndexError, Module, ShapeError
from .parameter import Parameter

__all__ = ["Embedding"]


class Embedding(Module):
    """`weight[idx]`: rows of a (num_embeddings, embedding_dim) table, initialised from N(0, 1) as in PyTorch.
    The row `padding_idx` (if given) starts at zero and never receives a gradient. With `max_norm`, each
    looked-up row whose `norm_type`-norm exceeds max_norm is rescaled to norm max_norm in the weight itself,
    before the lookup (see `nn.functional.embedding`); `scale_grad_by_freq` divides each row's gradient by its
    index's frequency in the batch. `sparse=True` is not supported (gradients are dense).

    >>> import autograd
    >>> emb = Embedding(10, 3)
    >>> emb(autograd.tensor([[1, 2], [4, 9]])).shape
    (2, 2, 3)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight: Any = None, _freeze: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} must be within num_embeddings "
                                 f"({num_embeddings})")
            padding_idx %= num_embeddings
        if sparse:
            raise NotImplementedError("Embedding: sparse=True (sparse gradients) is not supported; gradients are "
                                      "always dense, use sparse=False")
        if max_norm is not None and not max_norm >= 0:
            raise ValueError(f"Embedding: max_norm must be a non-negative number, got {max_norm}")
        dt = factory_dtype(self, device, dtype)
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        if _weight is None:
            self.weight = Parameter(np.zeros((num_embeddings, embedding_dim), dtype=dt), requires_grad=not _freeze)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"Embedding: _weight has shape {tuple(_weight.shape)}, expected "
                                 f"{(num_embeddings, embedding_dim)}")
            self.weight = _weight if isinstance(_weight, Parameter) else Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings: Any, freeze: bool = True, padding_idx: int | None = None,
                        max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> Embedding:
        """An Embedding holding a copy of `embeddings` (2-D), frozen (no gradient) by default; the other
        arguments as for `Embedding` (the padding_idx row is kept as given, not zeroed)."""
        weight = Parameter(embeddings, requires_grad=not freeze)
        if weight.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D, got shape {weight.shape}")
        return cls(weight.shape[0], weight.shape[1], padding_idx=padding_idx, max_norm=max_norm, norm_type=norm_type,
                   scale_grad_by_freq=scale_grad_by_freq, sparse=sparse, _weight=weight)

    def forward(self, input: Any) -> Tensor:
        idx = np.asarray(input.data if isinstance(input, Tensor) else input)
        if idx.dtype.kind not in "biufc":  # None, strings, lists of other things: not indices at all
            raise InputTypeError(self, "input", input)
        if idx.dtype.kind not in "iu":
            raise ShapeError(self, "integer indices of any shape", idx.shape,
                             f"the indices have dtype {idx.dtype}; convert them with .long()")
        num = self.num_embeddings
        if idx.size and (idx.min() < 0 or idx.max() >= num):
            bad = idx[(idx < 0) | (idx >= num)].flat[0]
            raise LayerIndexError(self, f"index {bad} is out of range for num_embeddings={num} (expected "
                                        f"0 <= index < {num})")
        return F.embedding(idx, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq, self.sparse)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        return s
