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

from autograd import Generator, Tensor, from_numpy, stack
from autograd.random import numpy_generator

from .sampler import RandomSampler, SequentialSampler
from .worker import Fetcher, WorkerPool

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

    `shuffle=True` draws a new permutation at the start of each epoch from `generator` (an
    `autograd.Generator`: the same seed gives the same sequence of epochs), or from a generator seeded with
    `seed` (ours: `seed=s` is `generator=autograd.Generator().manual_seed(s)`), or else from the global
    generator (`autograd.manual_seed`). As in PyTorch, this is a `RandomSampler(dataset, generator=generator)`
    (and `shuffle=False` a `SequentialSampler`), available as `loader.sampler`. `drop_last=True` skips a final
    batch smaller than `batch_size`. `batch_size=None` yields single samples, not batched. `collate_fn` merges
    a list of samples (default: `default_collate`). `sampler` (an iterable of indices with a length, e.g.
    `DistributedSampler`) decides the order instead of `shuffle`.

    `num_workers=N > 0` loads batches in N worker processes, as PyTorch does: the same batches in the same
    order as with `num_workers=0`, `prefetch_factor` (default 2) batches per worker loaded ahead, each worker
    seeded with `base_seed + worker_id` (see nn.data.worker) and calling `worker_init_fn(worker_id)` first;
    an error in a worker is raised here with the worker's traceback. `persistent_workers=True` keeps the
    workers between epochs; `timeout` (seconds, 0 = forever) bounds the wait for one batch. `pin_memory` is
    accepted and does nothing: there is no GPU to copy to.

        >>> loader = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True, seed=0)
        >>> for epoch in range(10):
        ...     for xb, yb in loader:        # xb: (32, ...) except maybe the last batch
        ...         ...
    """

    def __init__(self, dataset: Any, batch_size: int | None = 1, shuffle: bool = False, drop_last: bool = False,
                 seed: int | None = None, collate_fn: Callable[[list], Any] | None = None,
                 sampler: Any = None, num_workers: int = 0, pin_memory: bool = False, timeout: float = 0,
                 worker_init_fn: Callable[[int], None] | None = None, multiprocessing_context: Any = None,
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 pin_memory_device: str = "", generator: Generator | None = None) -> None:
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
        if seed is not None and generator is not None:
            raise ValueError("DataLoader: give seed= or generator=, not both (seed=s is "
                             "generator=autograd.Generator().manual_seed(s))")
        if seed is not None:
            generator = Generator().manual_seed(seed)
        if int(num_workers) != num_workers or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers option should be a non-negative integer, got {num_workers!r}")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("DataLoader: prefetch_factor option could only be specified in multiprocessing; "
                             "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None")
        if prefetch_factor is not None and (int(prefetch_factor) != prefetch_factor or prefetch_factor <= 0):
            raise ValueError(f"DataLoader: prefetch_factor must be a positive integer, got {prefetch_factor!r}")
        if persistent_workers and num_workers == 0:
            raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")
        if timeout < 0:
            raise ValueError(f"DataLoader: timeout option should be non-negative, got {timeout!r}")
        self.num_workers = int(num_workers)
        self.prefetch_factor = 2 if prefetch_factor is None and num_workers > 0 else prefetch_factor
        self.persistent_workers = persistent_workers
        self.pin_memory = pin_memory  # (accepted for PyTorch code; nothing to pin without a GPU)
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self._pool: WorkerPool | None = None
        self._pools_started = 0
        self.dataset = dataset
        self.generator = generator
        self._sampler_given = sampler is not None
        if sampler is None:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        self.sampler = sampler
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.collate_fn = collate_fn

    def __len__(self) -> int:
        """The number of batches (iterations) in one epoch."""
        n = len(self.sampler)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _order(self) -> np.ndarray:
        indices = getattr(self.sampler, "_indices", None)  # our samplers: the epoch's order as one array
        if indices is not None:
            return indices()
        return np.fromiter(iter(self.sampler), dtype=np.int64, count=len(self.sampler))

    def __iter__(self) -> Iterator[Any]:
        order = self._order()
        batched = self.batch_size is not None
        fetch = Fetcher(self.dataset, batched, self.collate_fn or default_collate,
                        fast=self.collate_fn is None and hasattr(self.dataset, "_batch"))
        if not batched:
            tasks: Any = order
        else:
            size = self.batch_size
            stop = len(order) - len(order) % size if self.drop_last else len(order)
            tasks = [order[start:start + size] for start in range(0, stop, size)]
        if self.num_workers == 0:
            for task in tasks:
                yield fetch(task)
            return
        yield from self._from_workers(fetch, tasks)

    def _from_workers(self, fetch: Fetcher, tasks: Any) -> Iterator[Any]:
        pool = self._pool
        if pool is None:
            # one base seed per pool: from the loader's generator's seed and the epoch (no draw from it, so the
            # shuffled order is the same as without workers), else one draw of the global generator
            if self.generator is not None:
                base_seed = int(np.random.SeedSequence([self.generator.initial_seed(), self._pools_started])
                                .generate_state(1)[0])
            else:
                base_seed = int(numpy_generator(None, "DataLoader").integers(2**31))
            self._pools_started += 1
            pool = WorkerPool(fetch, self.num_workers, base_seed, self.worker_init_fn, self.multiprocessing_context)
            if self.persistent_workers:
                self._pool = pool
        try:
            yield from pool.run(tasks, self.prefetch_factor, self.timeout)
        except BaseException:
            pool.shutdown()  # after an error or an interrupted loop (GeneratorExit): reap the workers now
            self._pool = None
            raise
        if not self.persistent_workers:
            pool.shutdown()

    def __del__(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown()

    def __repr__(self) -> str:
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)} samples, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, drop_last={self.drop_last}, "
                f"seed={self.seed}{f', sampler={self.sampler!r}' if self._sampler_given else ''})")
