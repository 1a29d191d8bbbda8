"""Samplers: the order in which a DataLoader visits a dataset's indices (`DataLoader(sampler=...)`).

As in PyTorch, `DataLoader(shuffle=True, generator=g)` is `DataLoader(sampler=RandomSampler(dataset,
generator=g))`, and `shuffle=False` a `SequentialSampler`. A sampler given a `generator` draws every epoch's
order from it (the same seed gives the same sequence of epochs); without one it draws from the global
generator (`autograd.manual_seed`). `WeightedRandomSampler` draws indices in proportion to weights
(over-sampling a rare class), with `autograd.multinomial`.

`DistributedSampler` gives each of N processes its own share of every epoch, as PyTorch's does: the epoch's
order (shuffled from `seed + epoch`, the same on every rank) is padded to a multiple of N by repeating its
first indices (or cut, with `drop_last=True`), and rank r takes every N-th index starting at r. So the
shares are disjoint, equally long, and together cover the epoch.

    >>> sampler = DistributedSampler(dataset, shuffle=True, seed=0)      # rank and world size from
    >>> loader = DataLoader(dataset, batch_size=32, sampler=sampler)     # nn.distributed
    >>> for epoch in range(epochs):
    ...     sampler.set_epoch(epoch)                                      # a new order every epoch
    ...     for xb, yb in loader: ...
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from autograd import Generator, multinomial, randint, randperm

__all__ = ["DistributedSampler", "RandomSampler", "Sampler", "SequentialSampler", "SubsetRandomSampler",
           "WeightedRandomSampler"]


class Sampler:
    """Base class: an iterable of dataset indices with a length (PyTorch's `torch.utils.data.Sampler`)."""

    def __iter__(self) -> Iterator[int]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1, in order (what `DataLoader(shuffle=False)` uses)."""

    def __init__(self, data_source: Any) -> None:
        self.data_source = data_source

    def _indices(self) -> np.ndarray:
        return np.arange(len(self.data_source))

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)

    def __repr__(self) -> str:
        return f"SequentialSampler({len(self.data_source)} samples)"


def _positive_int(value: Any, what: str, caller: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{caller}: {what} should be a positive integer value, but got {what}={value!r}")
    return int(value)


def _generator(generator: Any, caller: str) -> Any:
    if generator is not None and not isinstance(generator, (Generator, np.random.Generator)):
        raise TypeError(f"{caller}: generator must be an autograd.Generator, got {type(generator).__name__}")
    return generator


class RandomSampler(Sampler):
    """A random order of the dataset's indices each epoch (what `DataLoader(shuffle=True)` uses).

    Without replacement (the default) each epoch is a permutation; with `num_samples` larger than the dataset,
    whole permutations follow each other and the last one is cut short. `replacement=True` draws `num_samples`
    indices independently. Draws come from `generator`, or from the global generator when it is None.

        >>> g = autograd.Generator().manual_seed(0)
        >>> loader = DataLoader(dataset, batch_size=32, sampler=RandomSampler(dataset, generator=g))
    """

    def __init__(self, data_source: Any, replacement: bool = False, num_samples: int | None = None,
                 generator: Generator | None = None) -> None:
        if not isinstance(replacement, bool):
            raise TypeError(f"RandomSampler: replacement should be a boolean value, but got "
                            f"replacement={replacement!r}")
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = None if num_samples is None else _positive_int(num_samples, "num_samples",
                                                                            "RandomSampler")
        self.generator = _generator(generator, "RandomSampler")

    @property
    def num_samples(self) -> int:
        """How many indices an epoch has (the dataset's length unless num_samples was given)."""
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def _indices(self) -> np.ndarray:
        n, count = len(self.data_source), self.num_samples
        if self.replacement:
            return randint(0, n, (count,), generator=self.generator).numpy() if n else np.zeros(0, np.int64)
        if count == n:  # (the DataLoader's case: one permutation)
            return randperm(n, generator=self.generator).numpy()
        parts = [randperm(n, generator=self.generator).numpy() for _ in range(count // n)]
        parts.append(randperm(n, generator=self.generator).numpy()[:count % n])
        return np.concatenate(parts)

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices().tolist())

    def __len__(self) -> int:
        return self.num_samples

    def __repr__(self) -> str:
        return (f"RandomSampler({len(self.data_source)} samples, replacement={self.replacement}, "
                f"num_samples={self.num_samples}{'' if self.generator is None else ', generator'})")


class SubsetRandomSampler(Sampler):
    """The given indices in a random order each epoch (drawn from `generator`, or the global generator)."""

    def __init__(self, indices: Any, generator: Generator | None = None) -> None:
        self.indices = indices
        self.generator = _generator(generator, "SubsetRandomSampler")

    def _indices(self) -> np.ndarray:
        order = randperm(len(self.indices), generator=self.generator).numpy()
        return np.asarray(self.indices, dtype=np.int64)[order]

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices().tolist())

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """`num_samples` indices drawn with probabilities proportional to `weights` (one per sample, not necessarily
    normalised): P(i) = weights[i] / sum(weights), with replacement by default (autograd.multinomial).

        >>> weights = 1.0 / class_counts[labels]          # every class equally likely per draw
        >>> sampler = WeightedRandomSampler(weights, num_samples=len(labels))
    """

    def __init__(self, weights: Any, num_samples: int, replacement: bool = True,
                 generator: Generator | None = None) -> None:
        if not isinstance(replacement, bool):
            raise TypeError(f"WeightedRandomSampler: replacement should be a boolean value, but got "
                            f"replacement={replacement!r}")
        w = np.asarray(weights.numpy() if hasattr(weights, "numpy") else weights, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"WeightedRandomSampler: weights should be a 1d sequence but given weights have "
                             f"shape {w.shape}")
        self.weights = w
        self.num_samples = _positive_int(num_samples, "num_samples", "WeightedRandomSampler")
        self.replacement = replacement
        self.generator = _generator(generator, "WeightedRandomSampler")

    def _indices(self) -> np.ndarray:
        return multinomial(self.weights, self.num_samples, self.replacement, generator=self.generator).numpy()

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices().tolist())

    def __len__(self) -> int:
        return self.num_samples


class DistributedSampler(Sampler):
    """This rank's share of each epoch of `dataset`: `len(dataset) / num_replicas` indices, rounded up (or down
    with `drop_last=True`). `num_replicas` and `rank` default to nn.distributed's world size and rank.
    Call `set_epoch(epoch)` at the start of every epoch, or every epoch repeats the same order."""

    def __init__(self, dataset: Any, num_replicas: int | None = None, rank: int | None = None, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            from .. import distributed as dist
            if not dist.is_initialized():
                raise RuntimeError("DistributedSampler: num_replicas and rank default to those of nn.distributed, "
                                   "which is not initialized; call nn.distributed.init_process_group() first, or "
                                   "pass num_replicas= and rank=")
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if int(num_replicas) != num_replicas or num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be a positive integer, got {num_replicas!r}")
        if int(rank) != rank or not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.shuffle, self.seed, self.drop_last = shuffle, int(seed), drop_last
        self.epoch = 0
        n = len(dataset)
        if drop_last and n % self.num_replicas:
            # cut the tail so that every rank gets the same number and no index repeats
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:  # every rank draws the same permutation: the seed is shared, not the rank's
            indices = np.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            indices = np.arange(n)
        if self.total_size > n:  # pad with the first indices (again and again for tiny datasets)
            indices = np.resize(indices, self.total_size)
        else:
            indices = indices[:self.total_size]
        return iter(indices[self.rank:self.total_size:self.num_replicas].tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Use the order of epoch `epoch` (a different shuffle each epoch, the same on every rank)."""
        self.epoch = int(epoch)

    def __repr__(self) -> str:
        return (f"DistributedSampler(rank {self.rank} of {self.num_replicas}, {self.num_samples} of "
                f"{len(self.dataset)} samples, shuffle={self.shuffle}, seed={self.seed}, epoch={self.epoch})")
