"""The program tests/test_distributed.py runs on several processes: `mpiexec -n 2 python distributed_worker.py
MODE OUT_DIR`. Each rank runs the checks of MODE and writes what it saw to OUT_DIR/rank<r>.json; the tests read
those files and assert. (Not a test module itself: pytest collects only test_*.py.)

Every check compares N ranks with batch B/N each against one process (this same rank, without
DistributedDataParallel) with the whole batch B, in float64, from the same initial weights.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

import autograd
import nn
import nn.distributed as dist
import nn.functional as F

N_STEPS = 4


def params_of(model: nn.Module) -> dict[str, list]:
    return {name: np.asarray(p.data).tolist() for name, p in model.named_parameters()}


def max_relative_difference(a: nn.Module, b: nn.Module) -> float:
    worst = 0.0
    for p, q in zip(a.parameters(), b.parameters()):
        x, y = np.asarray(p.data), np.asarray(q.data)
        worst = max(worst, float(np.max(np.abs(x - y))) / max(float(np.max(np.abs(y))), 1e-300))
    return worst


def mlp(seed: int, batch_norm: bool = False) -> nn.Module:
    autograd.manual_seed(seed)
    layers = [nn.Linear(5, 8)]
    layers += [nn.BatchNorm1d(8), nn.ReLU()] if batch_norm else [nn.Tanh()]
    layers += [nn.Linear(8, 3)]
    return nn.Sequential(*layers).double()


def cnn(seed: int) -> nn.Module:
    autograd.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                         nn.Linear(2 * 4 * 4, 3)).double()


def data(n: int, image: bool = False) -> tuple[autograd.Tensor, autograd.Tensor]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 1, 4, 4) if image else (n, 5))
    return autograd.from_numpy(x), autograd.from_numpy(rng.integers(0, 3, n))


def train_both(make: Callable[[int], nn.Module], optimizer: Callable, image: bool = False, per_rank: int = 4,
               convert_bn: bool = False, **ddp_options: object) -> tuple[nn.Module, nn.Module]:
    """N_STEPS steps of the same global batches: DDP with this rank's share, and one process with all of it.
    The ranks build their models from different seeds: the wrapper must start them all from rank 0's."""
    rank, world = dist.get_rank(), dist.get_world_size()
    local = make(100 + rank)
    if convert_bn:
        local = nn.SyncBatchNorm.convert_sync_batchnorm(local)
    ddp = nn.parallel.DistributedDataParallel(local, **ddp_options)
    single = make(100)  # rank 0's initial weights
    ddp_opt, single_opt = optimizer(ddp.parameters()), optimizer(single.parameters())
    batch = per_rank * world
    x, y = data(batch * N_STEPS, image)
    for step in range(N_STEPS):
        start = step * batch
        mine = slice(start + rank * per_rank, start + (rank + 1) * per_rank)
        ddp_opt.zero_grad()
        F.cross_entropy(ddp(x[mine]), y[mine]).backward()
        ddp_opt.step()
        single_opt.zero_grad()
        F.cross_entropy(single(x[start:start + batch]), y[start:start + batch]).backward()
        single_opt.step()
    return ddp, single


def check_collectives() -> dict:
    rank, world = dist.get_rank(), dist.get_world_size()
    out: dict = {"rank": rank, "world_size": world, "initialized": dist.is_initialized(),
                 "backend": dist.get_backend()}
    for op in ("SUM", "AVG", "MAX", "MIN", "PRODUCT"):
        t = autograd.tensor([1.0, -2.0, 3.0], dtype=autograd.float64) * (rank + 1)
        dist.all_reduce(t, op=getattr(dist.ReduceOp, op))
        out[f"all_reduce_{op}"] = t.tolist()
    t = autograd.tensor([rank + 1, 10 * (rank + 1)])  # int64
    dist.all_reduce(t)
    out["all_reduce_int"] = [t.tolist(), str(t.dtype)]
    t = autograd.tensor(float(rank + 1))  # 0-d, float32
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    out["all_reduce_0d"] = [t.item(), str(t.dtype)]
    t = autograd.full((2, 3), float(rank + 1))
    work = dist.all_reduce(t, async_op=True)
    work.wait()
    out["all_reduce_async"] = t.tolist()
    t = autograd.full((2, 2), float(rank + 5))
    dist.broadcast(t, src=1)
    out["broadcast"] = t.tolist()
    parts = [autograd.zeros(3) for _ in range(world)]
    dist.all_gather(parts, autograd.full((3,), float(rank)))
    out["all_gather"] = [p.tolist() for p in parts]
    t = autograd.full((2,), float(rank + 1))
    dist.reduce(t, dst=0)
    out["reduce"] = t.tolist()
    w = autograd.tensor([1.0, 2.0], requires_grad=True)  # a parameter-like leaf
    dist.broadcast(w, src=0)
    out["leaf_still_requires_grad"] = w.requires_grad
    dist.barrier()
    return out


def check_ddp() -> dict:
    rank = dist.get_rank()
    out: dict = {}

    # the same parameters as one process with the whole batch: SGD with momentum, Adam, small buckets
    sgd = lambda ps: nn.optim.SGD(ps, lr=0.1, momentum=0.9)
    adam = lambda ps: nn.optim.Adam(ps, lr=0.01)
    for name, make, opt, options in (("sgd", mlp, sgd, {}), ("adam", mlp, adam, {}),
                                     ("adam_small_buckets", mlp, adam, {"bucket_cap_mb": 1e-4}),
                                     ("sgd_bucket_view", mlp, sgd, {"gradient_as_bucket_view": True})):
        ddp, single = train_both(make, opt, **options)
        out[name] = {"difference": max_relative_difference(ddp.module, single), "params": params_of(ddp.module),
                     "buckets": ddp.buckets}
    ddp = nn.parallel.DistributedDataParallel(mlp(100 + rank))
    out["broadcast_at_construction"] = max_relative_difference(ddp.module, mlp(100))
    out["state_dict_keys"] = sorted(ddp.state_dict())
    out["module_is_wrapped"] = isinstance(ddp.module, nn.Sequential)

    # no_sync: local accumulation, then one averaged reduction of everything accumulated
    local = nn.parallel.DistributedDataParallel(mlp(100 + rank))
    single = mlp(100)
    x, y = data(16)
    micro = 4  # 2 micro-batches of 4 per rank, 16 samples in all
    first = slice(rank * 2 * micro, rank * 2 * micro + micro)
    second = slice(first.stop, first.stop + micro)
    with local.no_sync():
        (F.cross_entropy(local(x[first]), y[first]) / 2).backward()
    out["no_sync_grad"] = np.asarray(local.module[0].weight.grad.data).tolist()  # local only: differs by rank
    (F.cross_entropy(local(x[second]), y[second]) / 2).backward()
    F.cross_entropy(single(x), y).backward()
    out["no_sync_difference"] = max(
        float(np.max(np.abs(np.asarray(p.grad.data) - np.asarray(q.grad.data))) / np.max(np.abs(q.grad.data)))
        for p, q in zip(local.module.parameters(), single.parameters()))

    # BatchNorm buffers: rank 0's running statistics are broadcast at every training forward
    bn = nn.parallel.DistributedDataParallel(mlp(100 + rank, batch_norm=True))
    seen = []
    bn.module[1].register_forward_pre_hook(lambda m, args: seen.append(np.array(m.running_mean.data).tolist()))
    xb, _ = data(8)
    bn(xb[rank * 4:(rank + 1) * 4])  # each rank updates the statistics with its own samples,
    bn(xb[rank * 4:(rank + 1) * 4])  # but the next forward starts from rank 0's
    out["running_mean_seen"] = seen

    # SyncBatchNorm: 2 ranks of 4 samples normalise like one process with 8 (parameters and running stats)
    for name, make, image in (("sync_bn_1d", lambda s: mlp(s, batch_norm=True), False), ("sync_bn_2d", cnn, True)):
        ddp, single = train_both(make, sgd, image=image, convert_bn=True)
        stats = [(m, s) for m, s in zip(ddp.module.modules(), single.modules()) if isinstance(m, nn.SyncBatchNorm)]
        out[name] = {
            "difference": max_relative_difference(ddp.module, single),
            "stats_difference": max(float(np.max(np.abs(np.asarray(m.running_var.data) - s.running_var.data)))
                                    + float(np.max(np.abs(np.asarray(m.running_mean.data) - s.running_mean.data)))
                                    for m, s in stats),
            "converted": len(stats),
            "params": params_of(ddp.module),
        }
    return out


class Branches(nn.Module):
    """`b` takes part only when asked, `c` never: rank 0 uses b, rank 1 does not."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = nn.Linear(5, 3), nn.Linear(5, 3), nn.Linear(5, 3)

    def forward(self, x: autograd.Tensor, use_b: bool) -> autograd.Tensor:
        out = self.a(x)
        return out + self.b(x) if use_b else out


def check_unused() -> dict:
    rank = dist.get_rank()
    out: dict = {}
    x, y = data(8)
    autograd.manual_seed(7)
    model = Branches().double()
    reference = [autograd.from_numpy(np.array(p.data)) for p in model.parameters()]
    ddp = nn.parallel.DistributedDataParallel(model, find_unused_parameters=True, bucket_cap_mb=1e-4)
    mine = slice(rank * 4, rank * 4 + 4)
    F.cross_entropy(ddp(x[mine], use_b=rank == 0), y[mine]).backward()
    out["c_grad_is_none"] = model.c.weight.grad is None
    # what rank 0 alone computes for b, halved: rank 1 contributes zeros
    autograd.manual_seed(7)
    alone = Branches().double()
    with autograd.no_grad():
        for p, r in zip(alone.parameters(), reference):
            p.copy_(r)
    F.cross_entropy(alone(x[0:4], use_b=True), y[0:4]).backward()
    expected = np.asarray(alone.b.weight.grad.data) / 2
    out["b_grad_difference"] = float(np.max(np.abs(np.asarray(model.b.weight.grad.data) - expected)))
    # a second iteration works (the state was reset)
    ddp.zero_grad()
    F.cross_entropy(ddp(x[mine], use_b=rank == 1), y[mine]).backward()
    out["second_iteration_ok"] = model.b.weight.grad is not None

    # gradient_as_bucket_view: a gradient that is last iteration's bucket view keeps its value when unused
    autograd.manual_seed(7)
    viewed = Branches().double()
    vddp = nn.parallel.DistributedDataParallel(viewed, find_unused_parameters=True, gradient_as_bucket_view=True)
    F.cross_entropy(vddp(x[mine], use_b=True), y[mine]).backward()  # b used by every rank
    kept = np.array(viewed.b.weight.grad.data)
    F.cross_entropy(vddp(x[mine], use_b=False), y[mine]).backward()  # accumulate; b used by no rank
    out["bucket_view_unused_kept"] = float(np.max(np.abs(np.asarray(viewed.b.weight.grad.data) - kept)))

    # without find_unused_parameters, the next forward says which parameter got no gradient
    autograd.manual_seed(7)
    strict = nn.parallel.DistributedDataParallel(Branches().double())
    F.cross_entropy(strict(x[mine], use_b=False), y[mine]).backward()
    try:
        strict(x[mine], use_b=False)
        out["unused_error"] = None
    except RuntimeError as err:
        out["unused_error"] = str(err)
    return out


def check_sampler() -> dict:
    dataset = nn.data.TensorDataset(np.arange(23.0))
    out: dict = {}
    for drop_last in (False, True):
        sampler = nn.data.DistributedSampler(dataset, shuffle=True, seed=3, drop_last=drop_last)
        epochs = []
        for epoch in range(2):
            sampler.set_epoch(epoch)
            epochs.append(list(sampler))
        loader = nn.data.DataLoader(dataset, batch_size=4, sampler=sampler)
        seen = [int(v) for (xb,) in loader for v in np.asarray(xb.data)]
        out[f"drop_last={drop_last}"] = {"epochs": epochs, "len": len(sampler), "loader": seen,
                                         "loader_len": len(loader)}
    return out


def raise_on_rank_1() -> dict:
    if dist.get_rank() == 1:
        raise ValueError("rank 1 fails on purpose")
    dist.barrier()  # rank 0 would wait here forever for rank 1
    return {}


def exit_on_rank_1() -> dict:
    if dist.get_rank() == 1:
        print("rank 1 exits with sys.exit(1) on purpose", flush=True)
        sys.exit(1)  # a SystemExit: no excepthook; before the fix rank 1 hung in MPI_Finalize, rank 0 here
    dist.barrier()
    return {}


MODES = {"collectives": check_collectives, "ddp": check_ddp, "unused": check_unused, "sampler": check_sampler,
         "raise": raise_on_rank_1, "exit": exit_on_rank_1}


def main() -> None:
    modes, out_dir = sys.argv[1].split(","), Path(sys.argv[2])
    dist.init_process_group(backend="mpi")
    results = {mode: MODES[mode]() for mode in modes}
    (out_dir / f"rank{dist.get_rank()}.json").write_text(json.dumps(results))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
