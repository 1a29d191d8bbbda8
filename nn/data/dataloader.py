"""`DataLoader`: iterate over a dataset in (shuffled) mini-batches, one epoch per `for` loop.

Vocabulary: an *epoch* is one pass over the whole training set; it is cut into *batches* of `batch_size`
samples; one *iteration* is one optimiser step on one batch. So an epoch has `len(loader)` iterations:
ceil(N / batch_size), or floor(N / batch_size) with `drop_last=True`. `batch_size=N` is full-batch gradient
descent, `batch_size=1` stochastic gradient descent, anything between mini-batch gradient descent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from autograd import Tensor, default_generator, from_numpy, stack

__all__ = ["DataLoader", "default_collate"]


def default_collate(batch: Sequence[Any]) -> Any:
    """Merge a list of samples into a batch, as PyTorch's `default_collate`:

    tensors are stacked along a new first dimension; numpy arrays and numbers become tensors (Python floats
    float64, ints int64, as in PyTorch); tuples, lists and dicts are collated field by field; strings stay a list.

        >>> default_collate([(np.zeros(2), 0), (np.ones(2), 1)])   # -> (tensor of shape (2, 2), tensor([0, 1]))
    """
    if len(batch) == 0:
        raise ValueError("default_collate: the batch is empty")
    elem = batch[0]
    if isinstance(elem, Tensor):
        _check_same_shapes(batch, lambda t: t.shape)
        if not any(t.requires_grad for t in batch):
            return from_numpy(np.stack([t.data for t in batch]))
        return stack(list(batch))
    if isinstance(elem, (np.ndarray, np.generic)):
        _check_same_shapes(batch, np.shape)
        return from_numpy(np.stack([np.asarray(b) for b in batch]))
    if isinstance(elem, bool):
        return from_numpy(np.array(batch, dtype=np.bool_))
    if isinstance(elem, int):
        return from_numpy(np.array(batch, dtype=np.int64))
    if isinstance(elem, float):
        return from_numpy(np.array(batch, dtype=np.float64))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, Mapping):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(field)) for field in zip(*batch)))
    if isinstance(elem, Sequence):
        if any(len(s) != len(elem) for s in batch):
            raise RuntimeError("default_collate: each sample of the batch should have the same number of "
                               f"fields, got {sorted({len(s) for s in batch})}")
        fields = [default_collate(list(field)) for field in zip(*batch)]
        return tuple(fields) if isinstance(elem, tuple) else fields
    raise TypeError(f"default_collate: samples must be tensors, numpy arrays, numbers, strings, dicts or "
                    f"sequences of these; found {type(elem).__name__}")


def _check_same_shapes(batch: Sequence[Any], shape_of: Callable[[Any], tuple]) -> None:
    shapes = {shape_of(b) for b in batch}
    if len(shapes) > 1:
        raise RuntimeError(f"default_collate: cannot stack samples of different shapes {sorted(shapes)}; "
                           "pad them to one shape, or pass a collate_fn")


class DataLoader:
    """Iterate over `dataset` in batches: every sample exactly once per epoch, reshuffled every epoch.

    `shuffle=True` draws a new permutation at the start of each epoch from a generator seeded with `seed`
    (the same seed gives the same sequence of epochs), or from the global generator (`autograd.manual_seed`)
    when `seed` is None. `drop_last=True` skips a final batch smaller than `batch_size`. `batch_size=None`
    yields single samples, not batched. `collate_fn` merges a list of samples (default: `default_collate`).
    `sampler` (an iterable of indices with a length, e.g. `DistributedSampler`) decides the order instead of
    `shuffle`.

        >>> loader = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True, seed=0)
        >>> for epoch in range(10):
        ...     for xb, yb in loader:        # xb: (32, ...) except maybe the last batch
        ...         ...
    """

    def __init__(self, dataset: Any, batch_size: int | None = 1, shuffle: bool = False, drop_last: bool = False,
                 seed: int | None = None, collate_fn: Callable[[list], Any] | None = None,
                 sampler: Any = None) -> None:
        if batch_size is not None and (int(batch_size) != batch_size or batch_size <= 0):
            raise ValueError(f"DataLoader: batch_size must be a positive integer or None, got {batch_size!r}")
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise TypeError(f"DataLoader: the dataset must define __len__ and __getitem__ (got "
                            f"{type(dataset).__name__})")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle (the sampler decides "
                             "the order; DistributedSampler shuffles by itself)")
        if sampler is not None and (not hasattr(sampler, "__iter__") or not hasattr(sampler, "__len__")):
            raise TypeError(f"DataLoader: sampler must be an iterable of indices with a length, got "
                            f"{type(sampler).__name__}")
        self.dataset = dataset
        self.sampler = sampler
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.collate_fn = collate_fn
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def __len__(self) -> int:
        """The number of batches (iterations) in one epoch."""
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _order(self) -> np.ndarray:
        if self.sampler is not None:
            return np.fromiter(iter(self.sampler), dtype=np.int64, count=len(self.sampler))
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        rng = self._rng if self._rng is not None else default_generator()
        return rng.permutation(n)

    def __iter__(self) -> Iterator[Any]:
        order = self._order()
        if self.batch_size is None:
            for i in order:
                yield self.dataset[int(i)]
            return
        fast = self.collate_fn is None and hasattr(self.dataset, "_batch")
        collate = self.collate_fn or default_collate
        size = self.batch_size
        for start in range(0, len(order), size):
            indices = order[start:start + size]
            if self.drop_last and len(indices) < size:
                break
            if fast:
                yield self.dataset._batch(indices)
            else:
                yield collate([self.dataset[int(i)] for i in indices])

    def __repr__(self) -> str:
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)} samples, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, drop_last={self.drop_last}, "
                f"seed={self.seed}{'' if self.sampler is None else f', sampler={self.sampler!r}'})")
