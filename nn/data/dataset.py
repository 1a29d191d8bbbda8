"""Datasets: the indexable collections a `DataLoader` draws batches from, and ways to split them.

A dataset is anything with `__len__` and `__getitem__(i)` returning one sample (often an `(input, target)`
pair). `TensorDataset` wraps tensors that share their first dimension; `Subset`, `random_split` and
`train_test_split` hold out validation and test data.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autograd import Generator, Tensor, as_tensor, from_numpy, randperm
from autograd.random import numpy_generator

__all__ = ["Dataset", "TensorDataset", "Subset", "random_split", "train_test_split"]


class Dataset:
    """Base class for map-style datasets: define `__getitem__(index)` (one sample) and `__len__`.

        >>> class Squares(Dataset):
        ...     def __len__(self): return 10
        ...     def __getitem__(self, i): return float(i), float(i * i)
    """

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index)")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__()")


class TensorDataset(Dataset):
    """Samples are the rows of tensors that share their first dimension: `dataset[i] == (X[i], y[i])`.

    `transform` (optional) is applied to the first tensor's sample each time it is read, e.g. a random
    augmentation from `nn.data.transforms`, so every epoch sees a fresh variation.

        >>> ds = TensorDataset(X, y)                       # X: (N, 2) inputs, y: (N,) labels
        >>> x0, y0 = ds[0]
        >>> len(ds)
    """

    def __init__(self, *tensors: Any, transform: Callable | None = None) -> None:
        if not tensors:
            raise ValueError("TensorDataset: give at least one tensor")
        self.tensors = tuple(t if isinstance(t, Tensor) else as_tensor(np.asarray(t)) for t in tensors)
        sizes = [t.shape[0] if t.ndim else None for t in self.tensors]
        if None in sizes or len(set(sizes)) != 1:
            shapes = ", ".join(str(t.shape) for t in self.tensors)
            raise ValueError(f"TensorDataset: all tensors must have the same size in their first dimension (the "
                             f"samples), got shapes {shapes}")
        self.transform = transform

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        sample = tuple(t[index] for t in self.tensors)
        if self.transform is not None:
            sample = (self.transform(sample[0]), *sample[1:])
        return sample

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def _batch(self, indices: np.ndarray) -> tuple[Tensor, ...]:
        """Many samples at once, already collated (what `DataLoader` uses: one fancy index per tensor
        instead of a Python loop over samples)."""
        batch = tuple(t[indices] if t.requires_grad else from_numpy(t.data[indices]) for t in self.tensors)
        if self.transform is not None:
            batch = (_apply_batched(self.transform, batch[0]), *batch[1:])
        return batch


def _apply_batched(transform: Callable, x: Tensor) -> Tensor:
    """Apply a per-sample transform to a batch: in one call if it knows batches, else sample by sample."""
    if hasattr(transform, "batch"):
        return transform.batch(x)
    from autograd import stack
    return stack([transform(x[i]) for i in range(x.shape[0])])


class Subset(Dataset):
    """The samples of `dataset` at the given indices, in that order."""

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)
        n = len(dataset)
        if self.indices.size and (self.indices.min() < -n or self.indices.max() >= n):
            raise IndexError(f"Subset: indices must be in [0, {n}) for a dataset of {n} samples")

    def __getitem__(self, index: int) -> Any:
        return self.dataset[int(self.indices[index])]

    def __len__(self) -> int:
        return len(self.indices)

    def _batch(self, indices: np.ndarray) -> Any:
        if hasattr(self.dataset, "_batch"):
            return self.dataset._batch(self.indices[indices])
        from .dataloader import default_collate
        return default_collate([self.dataset[int(i)] for i in self.indices[indices]])


def random_split(dataset: Any, lengths: Sequence[int | float], generator: Generator | None = None,
                 seed: int | None = None) -> list[Subset]:
    """Split a dataset into non-overlapping random subsets of the given sizes (or fractions summing to 1).

    With fractions, sizes are floor(n · fraction) and the leftover samples go one each to the first subsets,
    as in PyTorch. The order is drawn from `generator` (default: the global generator, `autograd.manual_seed`);
    `seed=s` (ours) is `generator=autograd.Generator().manual_seed(s)`.

        >>> train, val = random_split(dataset, [0.8, 0.2], generator=autograd.Generator().manual_seed(42))
    """
    n = len(dataset)
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"random_split: fraction at index {i} is {frac}, not between 0 and 1")
        sizes = [math.floor(n * frac) for frac in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        lengths = sizes
    if sum(lengths) != n:
        raise ValueError(f"random_split: the lengths {lengths} sum to {sum(lengths)}, but the dataset has {n} "
                         "samples (give sizes that add up to it, or fractions that add up to 1)")
    if seed is not None:
        if generator is not None:
            raise ValueError("random_split: give seed= or generator=, not both")
        generator = Generator().manual_seed(seed)
    order = randperm(n, generator=generator).numpy()
    bounds = np.cumsum([0, *lengths])
    return [Subset(dataset, order[a:b]) for a, b in itertools.pairwise(bounds)]


def train_test_split(*arrays: Any, test_size: float | int = 0.25, seed: int | None = None,
                     stratify: Any = None, shuffle: bool = True) -> list[Any]:
    """Split tensors or arrays (same first dimension) into train and test parts, as scikit-learn's function:
    returns `[a_train, a_test, b_train, b_test, ...]`, each of its input's type.

    `test_size` is a fraction or a count. `stratify=labels` keeps each class's proportion in both parts
    (per class, the largest-remainder share of the test samples).

        >>> X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, seed=0, stratify=y)
    """
    if not arrays:
        raise ValueError("train_test_split: give at least one tensor or array")
    n = len(arrays[0])
    for i, a in enumerate(arrays):
        if len(a) != n:
            raise ValueError(f"train_test_split: all inputs must have the same number of samples; input 0 has "
                             f"{n}, input {i} has {len(a)}")
    n_test = math.ceil(test_size * n) if isinstance(test_size, float) else int(test_size)
    if not 0 < n_test < n:
        raise ValueError(f"train_test_split: test_size={test_size} leaves {n_test} of {n} samples for testing; "
                         "both parts must be non-empty")
    rng = np.random.default_rng(seed) if seed is not None else numpy_generator()
    order = rng.permutation(n) if shuffle else np.arange(n)
    if stratify is None:
        test_idx, train_idx = order[:n_test], order[n_test:]
    else:
        labels = np.asarray(stratify)[order]
        classes, counts = np.unique(labels, return_counts=True)
        share = counts * n_test / n
        take = np.floor(share).astype(int)
        leftover = n_test - take.sum()
        take[np.argsort(-(share - take), kind="stable")[:leftover]] += 1
        test_mask = np.zeros(n, dtype=bool)
        for c, k in zip(classes, take):
            test_mask[np.flatnonzero(labels == c)[:k]] = True
        test_idx, train_idx = order[test_mask], order[~test_mask]
    result = []
    for a in arrays:
        result.extend([_take(a, train_idx), _take(a, test_idx)])
    return result


def _take(a: Any, idx: np.ndarray) -> Any:
    if isinstance(a, Tensor):
        return a[idx] if a.requires_grad else from_numpy(a.data[idx])
    if isinstance(a, np.ndarray):
        return a[idx]
    return [a[int(i)] for i in idx]
