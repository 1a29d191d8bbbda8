"""Samplers: the order in which a DataLoader visits a dataset's indices (`DataLoader(sampler=...)`).

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

__all__ = ["DistributedSampler", "Sampler"]


class Sampler:
    """Base class: an iterable of dataset indices with a length (PyTorch's `torch.utils.data.Sampler`)."""

    def __iter__(self) -> Iterator[int]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")


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
