"""Data-parallel training: `DistributedDataParallel` and `SyncBatchNorm` (PyTorch's names), over nn.distributed.

Each rank holds a full copy of the model and trains on its own share of every batch (`nn.data.
DistributedSampler`). After `loss.backward()` the gradients are averaged across ranks, so every rank takes the
same optimiser step and the copies stay identical. With a loss that is a mean over the batch, N ranks with B/N
samples each compute exactly the gradient of one process with the whole batch of B (to rounding):

    (1/N) sum_r (1/(B/N)) sum_{i in r} grad l_i  =  (1/B) sum_i grad l_i

    dist.init_process_group(backend="mpi")
    model = nn.parallel.DistributedDataParallel(Net())     # rank 0's weights on every rank
    opt = nn.optim.SGD(model.parameters(), lr=0.1)
    for xb, yb in loader:                                    # the rank's share of each batch
        opt.zero_grad()
        F.cross_entropy(model(xb), yb).backward()            # gradients averaged across ranks here
        opt.step()
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np

import autograd
from autograd import Tensor, from_numpy, no_grad

from . import distributed as dist
from .module import Module, ShapeError
from .normalization import _BatchNorm
from .parameter import Parameter

__all__ = ["DistributedDataParallel", "SyncBatchNorm"]


class _Bucket:
    """Gradients of several parameters, reduced as one message: a flat buffer with a view per parameter."""

    def __init__(self, indices: list[int], params: list[Parameter]) -> None:
        self.indices = indices
        self.buffer = np.empty(sum(params[i].numel() for i in indices), dtype=_wire(params[indices[0]].dtype))
        self.views, offset = [], 0
        for i in indices:
            n = params[i].numel()
            self.views.append(self.buffer[offset:offset + n].reshape(params[i].shape))
            offset += n
        self.pending = len(indices)  # parameters whose gradient has not arrived yet in this iteration


_FIRST_BUCKET_BYTES = 2**20  # PyTorch's first bucket: small, so that its reduction starts early in backward


def _assign_buckets(params: list[Parameter], cap_bytes: int, order: list[int] | None = None) -> list[list[int]]:
    """Group parameter indices into buckets, taken in `order` (by default the reverse of `parameters()`:
    backward reaches the last layers first), one dtype per bucket: the first of at most 1 MB (or `cap_bytes`
    if smaller) so that a reduction starts early, the others of at most `cap_bytes`; a larger parameter
    gets one of its own. After the first iteration the wrapper reassigns them in the order the gradients
    actually arrived (as PyTorch does), so that a bucket completes as early as it can."""
    buckets: list[list[int]] = []
    open_bucket: dict[np.dtype, tuple[list[int], list[int]]] = {}  # dtype -> (indices, [bytes])
    for i in (reversed(range(len(params))) if order is None else order):
        p = params[i]
        size = p.numel() * p.dtype.itemsize
        current = open_bucket.get(p.dtype)
        cap = cap_bytes if current is None or current[0] is not buckets[0] else min(cap_bytes, _FIRST_BUCKET_BYTES)
        if current is None or (current[1][0] + size > cap and current[0]):
            current = ([], [0])
            open_bucket[p.dtype] = current
            buckets.append(current[0])
        current[0].append(i)
        current[1][0] += size
    return buckets


class _GradReady:
    """The post-accumulate-grad hook of one parameter. It refers to its DistributedDataParallel weakly, so that
    a discarded wrapper is collected (and its hooks fall silent) instead of living on in the parameters."""

    __slots__ = ("ddp", "index")

    def __init__(self, ddp: DistributedDataParallel, index: int) -> None:
        self.ddp, self.index = weakref.ref(ddp), index

    def __call__(self, param: Tensor) -> None:
        ddp = self.ddp()
        if ddp is not None:
            ddp._mark_ready(self.index)


class DistributedDataParallel(Module):
    """Wrap `module` so that `backward()` averages its gradients across all ranks (data parallelism).

    - At construction rank 0's parameters and buffers are broadcast to every rank, so all start equal.
    - The gradients go in buckets of at most `bucket_cap_mb` megabytes (2**20 bytes; the first at most 1 MB),
      one dtype per bucket: a step sends a few large messages, not one per parameter. The buckets are filled
      in reverse order of `parameters()`, and after the first iteration in the order the gradients arrived.
      A bucket starts being summed across ranks (MPI_Iallreduce, non-blocking) as soon as all its
      parameters' gradients are accumulated (`Tensor.register_post_accumulate_grad_hook`; backward
      accumulates a hooked parameter as soon as its gradient is complete), so the first buckets travel while
      backward computes the first layers' gradients. Buckets start strictly in order, so every rank issues
      the same sequence of collectives. The hook of the last gradient waits for all of them, divides by the
      world size and writes each average into its `.grad`: when `backward()` returns the gradients are
      averaged.
    - `no_sync()`: forward and backward passes inside it only accumulate local gradients (gradient
      accumulation); the first backward after it averages everything accumulated.
    - `broadcast_buffers=True` copies rank 0's buffers (BatchNorm's running statistics) to every rank at each
      training forward. BatchNorm's batch statistics stay per rank; `nn.SyncBatchNorm` computes them over all
      ranks' samples.
    - `find_unused_parameters=True` walks the output's graph after each forward to find parameters that will
      get no gradient (a branch not taken); without it such a parameter makes the next forward raise.
    - `.module` is the wrapped model; state_dict keys start with "module." as in PyTorch.
      `communication_seconds` adds up the time spent in MPI calls (ours; PyTorch has no such counter).

    Every rank must call forward and backward the same number of times. `device_ids`/`output_device` exist for
    PyTorch compatibility and must be None (CPU); `dim`, `check_reduction` and `static_graph` are accepted
    and have no effect here.
    """

    def __init__(self, module: Module, device_ids: Any = None, output_device: Any = None, dim: int = 0,
                 broadcast_buffers: bool = True, process_group: Any = None, bucket_cap_mb: float | None = None,
                 find_unused_parameters: bool = False, check_reduction: bool = False,
                 gradient_as_bucket_view: bool = False, static_graph: bool = False) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected an nn.Module, got {type(module).__name__}")
        if device_ids is not None or output_device is not None:
            raise ValueError("DistributedDataParallel: device_ids and output_device must be None: this library "
                             "runs on the CPU, one model per process")
        if process_group is not None:
            raise NotImplementedError("DistributedDataParallel: only the default process group is supported "
                                      "(process_group=None)")
        if not dist.is_initialized():
            raise ValueError("DistributedDataParallel: the default process group has not been initialized; call "
                             "nn.distributed.init_process_group(backend='mpi') first")
        cap_mb = 25.0 if bucket_cap_mb is None else float(bucket_cap_mb)
        if not cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be positive, got {bucket_cap_mb!r}")
        self.module = module
        self.world_size = dist.get_world_size()
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.bucket_bytes_cap = int(cap_mb * 2**20)
        self.require_backward_grad_sync = True
        self.communication_seconds = 0.0

        named = [(name, p) for name, p in module.named_parameters() if p.requires_grad]
        self._param_names = [name for name, _ in named]
        self._params = [p for _, p in named]
        self._check_same_model_on_every_rank(module)
        self._broadcast_from_rank0([p for _, p in module.named_parameters()] + list(module.buffers()))

        self._make_buckets(None)
        self._in_flight: list[tuple[_Bucket, Any]] = []  # buckets whose Iallreduce has started, in order
        self._arrival: list[int] | None = []  # the order gradients arrive in, until the buckets follow it
        self._ready = [False] * len(self._params)
        self._next_bucket = len(self._buckets)  # no iteration under way
        self._expect_hooks = False
        self._any_ready = False
        self._unused_locally: set[int] = set()     # find_unused_parameters: what this rank's graph lacks
        self._unused_everywhere: set[int] = set()  # ... and what no rank's graph had (agreed in backward)
        self._agreed = False
        self._hook_handles = [p.register_post_accumulate_grad_hook(_GradReady(self, i))
                              for i, p in enumerate(self._params)]

    # --- set-up -----------------------------------------------------------------------------------------------
    def _check_same_model_on_every_rank(self, module: Module) -> None:
        """Every rank must wrap the same architecture: compare parameter names, shapes and dtypes."""
        if self.world_size == 1:
            return
        signature = ";".join(f"{n}:{tuple(p.shape)}:{p.dtype}" for n, p in module.named_parameters())
        fingerprint = np.frombuffer(signature.encode(), dtype=np.uint8)
        lengths = dist._all_gather_array(np.array([fingerprint.size], dtype=np.int64)).ravel()
        if len(set(lengths.tolist())) == 1:
            fingerprints = dist._all_gather_array(fingerprint)
            if all((f == fingerprint).all() for f in fingerprints):
                return
        raise RuntimeError(f"DistributedDataParallel: rank {dist.get_rank()} wraps a model whose parameters "
                           "(names, shapes or dtypes) differ from another rank's; every rank must build the same "
                           "model")

    def _broadcast_from_rank0(self, tensors: list[Tensor]) -> None:
        """Overwrite `tensors` with rank 0's values: one message per dtype."""
        if self.world_size == 1:
            return
        by_dtype: dict[np.dtype, list[Tensor]] = {}
        for t in tensors:
            by_dtype.setdefault(_wire(t.dtype), []).append(t)
        for dtype, group in by_dtype.items():
            flat = np.concatenate([np.ravel(t.data).astype(dtype, copy=False) for t in group])
            self.communication_seconds += dist._broadcast_array(flat, 0)
            offset = 0
            with no_grad():
                for t in group:
                    n = t.numel()
                    t.copy_(from_numpy(flat[offset:offset + n].reshape(t.shape).astype(t.dtype, copy=False)))
                    offset += n

    def _make_buckets(self, order: list[int] | None) -> None:
        self._buckets = [_Bucket(indices, self._params)
                         for indices in _assign_buckets(self._params, self.bucket_bytes_cap, order)]
        self._bucket_of = [0] * len(self._params)
        for b, bucket in enumerate(self._buckets):
            for i in bucket.indices:
                self._bucket_of[i] = b

    def _rebuild_buckets(self) -> None:
        """Once, after the first synchronised iteration: reassign the buckets in the order the gradients
        arrived (rank 0's order, broadcast: every rank must build the same buckets). The reverse order of
        `parameters()` is a guess; a layer's bias, listed after its weight, may arrive after it."""
        order = np.array(self._arrival, dtype=np.int64)
        self._arrival = None
        self.communication_seconds += dist._broadcast_array(order, 0)
        if order.tolist() != [i for b in self._buckets for i in b.indices]:
            self._make_buckets(order.tolist())

    # --- forward ----------------------------------------------------------------------------------------------
    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        sync = autograd.is_grad_enabled() and self.require_backward_grad_sync
        if sync:
            self._prepare_for_backward()
            if self.broadcast_buffers and self.world_size > 1:
                buffers = list(self.module.buffers())
                if buffers:
                    self._broadcast_from_rank0(buffers)
        output = self.module(*inputs, **kwargs)
        if sync and self.find_unused_parameters:
            self._mark_unused(output)
        return output

    def _prepare_for_backward(self) -> None:
        if self._expect_hooks and self._any_ready:
            missing = [self._param_names[i] for i, ready in enumerate(self._ready) if not ready]
            raise RuntimeError(
                "DistributedDataParallel: expected to have finished reduction in the prior iteration before "
                "starting a new one. Some parameters received no gradient in the last backward: "
                f"{', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}. If they are not used to compute "
                "the loss in every iteration, pass find_unused_parameters=True; make sure every forward "
                "output takes part in the loss")
        if self._in_flight:  # an iteration abandoned half-way (an error in backward): let MPI finish it
            self._wait_for_reductions(write_back=False)
        if self._arrival is not None:
            self._arrival.clear()
        for bucket in self._buckets:
            bucket.pending = len(bucket.indices)
        self._ready = [False] * len(self._params)
        self._next_bucket = 0
        self._expect_hooks = True
        self._any_ready = False
        self._unused_locally = set()
        self._unused_everywhere = set()
        self._agreed = False

    def _mark_unused(self, output: Any) -> None:
        """Find the parameters the output does not depend on (an iterative walk of its graph) and count their
        gradients as ready now: they will not arrive from backward on this rank."""
        seen_leaves: set[int] = set()
        visited: set[int] = set()
        stack = [t.grad_fn if t.grad_fn is not None else t for t in _tensors_in(output) if t.requires_grad]
        while stack:
            item = stack.pop()
            if id(item) in visited:
                continue
            visited.add(id(item))
            if isinstance(item, Tensor):
                seen_leaves.add(id(item))
                continue
            for edge, _ in item.next_functions:
                if edge is not None and id(edge) not in visited:
                    stack.append(edge)
        unused = [i for i, p in enumerate(self._params) if id(p) not in seen_leaves]
        self._unused_locally = set(unused)
        for i in unused:  # they join their buckets now; a bucket is reduced only once a hook has fired in
            self._ready[i] = True  # backward (see _mark_ready), so collectives keep their order
            self._buckets[self._bucket_of[i]].pending -= 1

    # --- backward: the hooks --------------------------------------------------------------------------------------
    def _mark_ready(self, index: int) -> None:
        if not self._expect_hooks:  # a forward inside no_sync(), or no forward at all: accumulate only
            return
        if self._ready[index]:
            raise RuntimeError(
                f"DistributedDataParallel: the gradient of parameter {self._param_names[index]} arrived twice in "
                "one iteration: backward ran twice through one forward (retain_graph=True), or the parameter "
                "is used by a module outside the wrapper too. Each forward of the wrapper takes one backward; "
                "accumulate with no_sync() instead")
        self._ready[index] = True
        self._any_ready = True
        if self._arrival is not None:
            self._arrival.append(index)
        self._buckets[self._bucket_of[index]].pending -= 1
        if self.find_unused_parameters and not self._agreed:
            self._agree_on_unused()
        while self._next_bucket < len(self._buckets) and self._buckets[self._next_bucket].pending == 0:
            self._start_reduction(self._buckets[self._next_bucket])
            self._next_bucket += 1
        if self._next_bucket == len(self._buckets):
            # the last bucket has started: backward is over but for this hook, so wait here, before
            # backward() returns and optimizer.step() reads .grad
            self._wait_for_reductions(write_back=True)
            self._expect_hooks = False  # the iteration's reduction is complete
            if (self._arrival is not None and len(self._arrival) == len(self._params)
                    and not self.find_unused_parameters):
                self._rebuild_buckets()
        elif self._in_flight:
            # MPI moves a non-blocking collective on only inside MPI calls (no progress thread): a test now
            # and then lets it advance while backward computes
            self.communication_seconds += dist._test(self._in_flight[0][1])

    def _agree_on_unused(self) -> None:
        """Which of the locally unused parameters no rank used: those keep their gradient as it is (None stays
        None), as in PyTorch. One small message, sent before the first bucket so the order stays the same."""
        used = np.ones(len(self._params), dtype=np.int32)
        for i in self._unused_locally:
            used[i] = 0
        self.communication_seconds += dist._all_reduce_sum_array(used)
        self._unused_everywhere = {i for i in self._unused_locally if used[i] == 0}
        self._agreed = True

    def _start_reduction(self, bucket: _Bucket) -> None:
        """Copy the bucket's gradients into its flat buffer and start summing it across ranks (MPI_Iallreduce,
        in place); `_wait_for_reductions` completes it."""
        if self.world_size == 1:
            return  # the local gradient is the average
        for i, view in zip(bucket.indices, bucket.views):
            grad = self._params[i].grad
            if grad is None:
                view.fill(0)  # unused on this rank: it contributes nothing to the sum
            elif grad.requires_grad:
                raise RuntimeError("DistributedDataParallel: gradients that are part of a graph "
                                   "(backward(create_graph=True)) cannot be averaged across ranks")
            elif grad.data is view:  # last iteration's bucket view (gradient_as_bucket_view), not accumulated
                self._params[i].grad = from_numpy(view.copy())  # since: it must not change with the bucket
            else:
                np.copyto(view, grad.data)
        request, seconds = dist._all_reduce_sum_array_async(bucket.buffer)
        self.communication_seconds += seconds
        self._in_flight.append((bucket, request))

    def _wait_for_reductions(self, write_back: bool) -> None:
        """Wait for the started reductions, in order, and write each bucket's average into the `.grad`s."""
        in_flight, self._in_flight = self._in_flight, []
        for bucket, request in in_flight:
            self.communication_seconds += dist._wait(request)
            if write_back:
                self._write_back(bucket)

    def _write_back(self, bucket: _Bucket) -> None:
        for i, view in zip(bucket.indices, bucket.views):
            p = self._params[i]
            if i in self._unused_everywhere:
                continue  # no rank used it: its gradient stays as it was (None stays None)
            if self.gradient_as_bucket_view:
                np.divide(view, self.world_size, out=view)
                p.grad = from_numpy(view)
            elif p.grad is None or not p.grad.data.flags.writeable:
                p.grad = from_numpy(view / self.world_size)
            else:
                np.divide(view, self.world_size, out=p.grad.data)

    # --- the public extras ------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Inside this block, forward+backward passes accumulate gradients locally without communicating.

            >>> with ddp.no_sync():
            ...     ddp(x1).sum().backward()     # local gradients only
            >>> ddp(x2).sum().backward()         # averages the sum of both across ranks
        """
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    @property
    def buckets(self) -> list[list[str]]:
        """The parameter names of each gradient bucket, in the order the buckets are reduced."""
        return [[self._param_names[i] for i in bucket.indices] for bucket in self._buckets]

    def extra_repr(self) -> str:
        return f"world_size={self.world_size}, buckets={len(self._buckets)}"


def _wire(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.uint8) if dtype == np.bool_ else (np.dtype(np.float32) if dtype == np.float16 else dtype)


def _tensors_in(output: Any) -> Iterator[Tensor]:
    """The tensors inside a forward's output (a tensor, or tuples, lists and dicts of them), iteratively."""
    stack = [output]
    while stack:
        item = stack.pop()
        if isinstance(item, Tensor):
            yield item
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())


# ---------------------------------------------------------------------------------------------------------------
# SyncBatchNorm
# ---------------------------------------------------------------------------------------------------------------
class _SumGradientsAcrossRanks:
    """A gradient hook: the gradient of a statistic every rank shares is the sum of every rank's gradient."""

    def __call__(self, grad: Tensor) -> Tensor:
        values = np.array(grad.detach().data, dtype=np.float64)
        dist._all_reduce_sum_array(values)
        return from_numpy(values.astype(grad.dtype))


def _sum_across_ranks(local: Tensor, count: int) -> tuple[Tensor, int]:
    """The sum of `local` over all ranks, differentiable, and the sum of the ranks' `count`s.

    Every rank's result is the same number s = sum_r local_r, so d s / d local_r = 1 on every rank, and rank
    r's `local` receives the sum over ranks of the gradients of s: the backward pass sums them across ranks
    too (a gradient hook). `local - local.detach()` is exactly 0, so the value is exactly the reduced one."""
    values = np.append(np.asarray(local.detach().data, dtype=np.float64).ravel(), float(count))
    dist._all_reduce_sum_array(values)  # one message: the C sums and the count (float64 holds it exactly)
    total = from_numpy(values[:-1].reshape(local.shape).astype(local.dtype))
    shared = local - local.detach() + total
    if shared.requires_grad:
        shared.register_hook(_SumGradientsAcrossRanks())
    return shared, int(values[-1])


class SyncBatchNorm(_BatchNorm):
    """Batch normalisation whose training statistics are those of the whole batch across all ranks.

    With DistributedDataParallel each rank sees B/N samples; BatchNorm would normalise with the statistics of
    those alone. SyncBatchNorm sums per-channel sums over ranks (two small messages forward: the mean, then
    the variance around it, and two in backward), so N ranks normalise exactly as one process with the whole
    batch would. Outside training, or on one process, it is BatchNorm. Takes (N, C, *) inputs.

        >>> model = nn.SyncBatchNorm.convert_sync_batchnorm(model)   # replace every BatchNorm*d
    """

    _dims = (2, 3, 4, 5)
    _layout = "(N, {C}, *)"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, process_group: Any = None, device: Any = None,
                 dtype: Any = None) -> None:
        if process_group is not None:
            raise NotImplementedError("SyncBatchNorm: only the default process group is supported")
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device=device, dtype=dtype)

    def forward(self, input: Tensor) -> Tensor:
        if not self.training or not dist.is_initialized() or dist.get_world_size() == 1:
            return super().forward(input)
        shape = input.shape
        if len(shape) < 2 or shape[1] != self.num_features:
            raise ShapeError(self, self._layout.format(C=self.num_features), shape,
                             f"num_features is {self.num_features}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats:
            with no_grad():
                self.num_batches_tracked += 1
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.item())
        channels = shape[1]
        axes = (0, *range(2, len(shape)))
        broadcast = (1, channels) + (1,) * (len(shape) - 2)
        total, count = _sum_across_ranks(input.sum(dim=axes), input.numel() // channels)
        if count <= 1:
            raise ValueError(f"SyncBatchNorm: expected more than 1 value per channel when training, got {count} "
                             "over all ranks")
        mean = total / count
        centered = input - mean.reshape(broadcast)
        squares, _ = _sum_across_ranks((centered * centered).sum(dim=axes), 0)
        var = squares / count  # biased, as BatchNorm normalises
        if self.track_running_stats:
            with no_grad():
                self.running_mean.mul_(1 - factor).add_(mean.detach().astype(self.running_mean.dtype) * factor)
                unbiased = var.detach() * (count / (count - 1))
                self.running_var.mul_(1 - factor).add_(unbiased.astype(self.running_var.dtype) * factor)
        y = centered * (var + self.eps).rsqrt().reshape(broadcast)
        if self.weight is not None:
            y = y * self.weight.reshape(broadcast)
        if self.bias is not None:
            y = y + self.bias.reshape(broadcast)
        return y

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group: Any = None) -> Module:
        """Replace every BatchNorm1d/2d inside `module` by a SyncBatchNorm with the same parameters (the same
        Parameter objects) and running statistics; returns the converted module (a new one if `module` itself
        was a BatchNorm)."""
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            converted = cls(module.num_features, module.eps, module.momentum, module.affine,
                            module.track_running_stats, process_group)
            if module.affine:
                converted.weight = module.weight
                converted.bias = module.bias
            if module.track_running_stats:
                converted.running_mean = module.running_mean
                converted.running_var = module.running_var
                converted.num_batches_tracked = module.num_batches_tracked
            converted.train(module.training)
            return converted
        for name, child in list(module.named_children()):
            replacement = cls.convert_sync_batchnorm(child, process_group)
            if replacement is not child:
                setattr(module, name, replacement)
        return module

