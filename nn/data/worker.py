"""Loading batches in worker processes: `DataLoader(num_workers=N)`, as PyTorch does it.

The main process decides the order (shuffling, the sampler) and cuts it into batches of indices; batch k goes
to worker k % N, at most `prefetch_factor * N` batches ahead of the one the training loop is waiting for. A
worker reads its samples, collates them and sends the batch back; the main process yields the batches in
their order, so the batches are the same as with `num_workers=0`. What a worker raises is raised in the main
process with the worker's traceback in the message.

Randomness: worker i seeds the global generator (`autograd.manual_seed`), Python's `random` and numpy's legacy
`np.random` with `base_seed + i`, where `base_seed` is drawn once per epoch (once for `persistent_workers`)
from the loader's seed, or from the global generator; so random augmentations differ between workers (forked
workers would otherwise all repeat the parent's draws) and a run is reproducible with its seed.
`get_worker_info()` tells a dataset or a `worker_init_fn` which worker it runs in.

Why processes: a transform written in Python (augmentation, decoding) holds the interpreter lock, so threads
would not overlap it; processes do, at the cost of pickling each batch back (PyTorch uses shared memory).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import random
import signal
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autograd import manual_seed

__all__ = ["WorkerInfo", "get_worker_info"]

_POLL_SECONDS = 1.0  # how often a waiting worker checks that its parent is alive, and the parent its workers


@dataclass(frozen=True)
class WorkerInfo:
    """What `get_worker_info()` returns inside a worker process (PyTorch's fields)."""

    id: int
    num_workers: int
    seed: int
    dataset: Any


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """In a DataLoader worker process, its `WorkerInfo` (id, num_workers, seed, dataset); None in the main
    process. A dataset can use it to split its work between workers."""
    return _worker_info


class Fetcher:
    """Turns one task (a batch of indices, or one index when the loader does not batch) into its data."""

    def __init__(self, dataset: Any, batched: bool, collate: Callable[[list], Any], fast: bool) -> None:
        self.dataset, self.batched, self.collate, self.fast = dataset, batched, collate, fast

    def __call__(self, indices: Any) -> Any:
        if not self.batched:
            return self.dataset[int(indices)]
        if self.fast:  # a TensorDataset reads a whole batch with one fancy index
            return self.dataset._batch(indices)
        return self.collate([self.dataset[int(i)] for i in indices])


class _RemoteError:
    """An exception raised in a worker, carried to the main process with its formatted traceback."""

    def __init__(self, worker_id: int, where: str) -> None:
        self.exc_type = _exception_type()
        self.worker_id = worker_id
        self.where = where
        self.text = traceback.format_exc()

    def reraise(self) -> None:
        message = (f"Caught {self.exc_type.__name__} in DataLoader worker process {self.worker_id} "
                   f"{self.where}.\nOriginal {self.text}")
        if issubclass(self.exc_type, KeyError):  # KeyError prints its argument's repr: keep the lines readable
            message = _ReadableMessage(message)
        try:
            err = self.exc_type(message)
        except Exception:  # an exception class that does not take one message
            err = RuntimeError(message)
        raise err


class _ReadableMessage(str):
    """A message whose repr is itself (PyTorch's KeyErrorMessage)."""

    def __repr__(self) -> str:
        return str(self)


def _exception_type() -> type:
    import sys

    return sys.exc_info()[0] or RuntimeError


def _worker_loop(fetch: Fetcher, index_queue: Any, result_queue: Any, seed: int, worker_id: int,
                 num_workers: int, init_fn: Callable[[int], None] | None, parent: int) -> None:
    global _worker_info
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle; it stops us
    manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    _worker_info = WorkerInfo(worker_id, num_workers, seed, fetch.dataset)
    init_error = None
    if init_fn is not None:
        try:
            init_fn(worker_id)
        except Exception:
            init_error = _RemoteError(worker_id, "in worker_init_fn")
    while True:
        try:
            task = index_queue.get(timeout=_POLL_SECONDS)
        except queue.Empty:
            if os.getppid() != parent:  # the main process died without telling us: do not linger
                return
            continue
        if task is None:
            return
        epoch, k, indices = task
        if init_error is not None:
            result_queue.put((epoch, k, init_error))
            continue
        try:
            data = fetch(indices)
        except Exception:
            data = _RemoteError(worker_id, "while loading a batch")
        del indices
        result_queue.put((epoch, k, data))


class WorkerPool:
    """`num_workers` processes, started once (per epoch, or for the loader's life with persistent_workers)."""

    def __init__(self, fetch: Fetcher, num_workers: int, base_seed: int, init_fn: Callable[[int], None] | None,
                 context: Any = None) -> None:
        ctx = multiprocessing.get_context(context) if isinstance(context, str) or context is None else context
        self.result_queue = ctx.Queue()
        self.index_queues = [ctx.Queue() for _ in range(num_workers)]
        self.epoch = 0
        self.closed = False
        self.workers = []
        for i in range(num_workers):
            w = ctx.Process(target=_worker_loop, daemon=True,  # daemon: never outlive the main process
                            args=(fetch, self.index_queues[i], self.result_queue, base_seed + i, i, num_workers,
                                  init_fn, os.getpid()))
            w.start()
            self.workers.append(w)

    def run(self, tasks: Sequence[Any], prefetch: int, timeout: float) -> Iterator[Any]:
        """Yield the data of `tasks` in their order, `prefetch` tasks per worker in flight."""
        self.epoch += 1  # results of an earlier, interrupted epoch carry an older number and are dropped
        epoch, n = self.epoch, len(self.workers)
        sent, waiting = 0, {}
        for k in range(len(tasks)):
            while sent < len(tasks) and sent < k + prefetch * n:
                self.index_queues[sent % n].put((epoch, sent, tasks[sent]))
                sent += 1
            while k not in waiting:
                got_epoch, j, data = self._get(timeout)
                if got_epoch == epoch:
                    waiting[j] = data
            data = waiting.pop(k)
            if isinstance(data, _RemoteError):
                data.reraise()
            yield data

    def _get(self, timeout: float) -> tuple:
        waited = 0.0
        while True:
            try:
                return self.result_queue.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                waited += _POLL_SECONDS
            dead = [w for w in self.workers if not w.is_alive()]
            if dead:
                self.shutdown()
                raise RuntimeError(f"DataLoader worker (pid {dead[0].pid}) exited unexpectedly with exit code "
                                   f"{dead[0].exitcode}")
            if timeout and waited >= timeout:
                self.shutdown()
                raise RuntimeError(f"DataLoader timed out after {timeout} seconds waiting for a batch")

    def shutdown(self) -> None:
        """Stop the workers and reap them (no zombie processes), also after an interrupted loop."""
        if self.closed:
            return
        self.closed = True
        for q in self.index_queues:
            with contextlib.suppress(OSError, ValueError):
                q.put(None)
        deadline = time.monotonic() + 5.0
        while any(w.is_alive() for w in self.workers) and time.monotonic() < deadline:
            # a worker exits only once its results are in the pipe: read them, so none stays blocked
            with contextlib.suppress(queue.Empty, OSError, ValueError, EOFError):
                self.result_queue.get(timeout=0.05)
        for w in self.workers:
            if w.is_alive():
                w.terminate()
            w.join()
        for q in (*self.index_queues, self.result_queue):
            q.cancel_join_thread()  # do not block on data nobody will read
            q.close()
        self.workers = []
