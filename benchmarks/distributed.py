"""W2 on 1 and on R ranks: the throughput of data-parallel training over MPI, and where the time goes.

    python benchmarks/distributed.py                        # 2 ranks, 1 BLAS thread each (about 30 s)
    python benchmarks/distributed.py --rounds 20 --json benchmarks/results/distributed.json
    python benchmarks/distributed.py --ranks 4 --batch 256  # on a machine with 4 cores or more

W2 is the MLP 784-512-256-10 training step of the suite (batch 128, float32, SGD; 535,818 parameters, so
2.1 MB of gradients per step). The driver starts one MPI job (`mpiexec -n R`, every rank with one BLAS
thread) and each round runs these phases, in a rotating order, as blocks of the same number of steps:

  alone      rank 0 trains W2 alone (no wrapper, no MPI) while the other ranks sleep: the 1-rank throughput
  together   every rank trains W2 at the same time, without communicating: what sharing the machine costs
  ddp        every rank trains DistributedDataParallel(W2) on its own batch (global batch R x 128): the
             R-rank throughput, and the time inside MPI calls (the wrapper's `communication_seconds`)
  split      DistributedDataParallel with the batch split (128 / R per rank, global batch 128): strong scaling
  allreduce  a bare MPI_Allreduce of the 2.1 MB gradient right after a barrier: the wire time alone

Speedup = R x (time of a step alone) / (time of a ddp step): samples per second on R ranks over samples per
second on one. The target is 1.8x on 2 ranks. Every step is timed (a step of several ranks lasts as long as its
slowest rank's): the minimum over steps estimates the cost (noise only adds time), the median shows a typical
step. The load average before and after is printed: other processes on the machine make MPI's busy-waiting
ranks compete for the cores, and the numbers then mean little.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
PHASES = ("alone", "together", "ddp", "split", "allreduce")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ranks", type=int, default=2, help="processes in the MPI job (default 2)")
    parser.add_argument("--rounds", type=int, default=12, help="rounds of all phases (default 12)")
    parser.add_argument("--block", type=float, default=0.25, help="seconds per block of steps (default 0.25)")
    parser.add_argument("--batch", type=int, default=128, help="samples per rank and step (default 128, W2's)")
    parser.add_argument("--bucket-cap-mb", type=float, default=25.0, help="DDP's bucket size (default 25)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # inside the MPI job
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------------------------------------------
# The driver: starts the MPI job
# ---------------------------------------------------------------------------------------------------------------
def mpiexec() -> str:
    beside = Path(sys.executable).parent / "mpiexec"  # where pip's mpich wheel installs it
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    if found is None:
        raise SystemExit('benchmarks/distributed.py: no mpiexec found; pip install "glassgrad[distributed]"')
    return found


def drive(args: argparse.Namespace, argv: list[str]) -> int:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    env.update({name: "1" for name in THREAD_VARIABLES})  # one BLAS thread per rank
    command = [mpiexec(), "-n", str(args.ranks), sys.executable, str(Path(__file__).resolve()), "--worker", *argv]
    return subprocess.run(command, env=env, check=False).returncode


# ---------------------------------------------------------------------------------------------------------------
# The worker: one rank of the job
# ---------------------------------------------------------------------------------------------------------------
def work(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    import numpy as np

    import autograd
    import nn
    import nn.distributed as dist
    import nn.functional as F
    from benchmarks.workloads import load_parameters
    from benchmarks.workloads.w2_mlp import LR, data

    dist.init_process_group(backend="mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    comm = dist._require_group("benchmark").comm  # the raw communicator, to time the bare collective
    x_all, _, params = data(small=False)
    rng = np.random.default_rng(10 + rank)
    x_full = rng.standard_normal((args.batch, x_all.shape[1]), dtype=np.float32)
    y_full = rng.integers(0, 10, args.batch)

    def build(wrap: bool) -> nn.Module:
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
        load_parameters(model.named_parameters(), params, "glassgrad")
        return nn.parallel.DistributedDataParallel(model, bucket_cap_mb=args.bucket_cap_mb) if wrap else model

    def stepper(model: nn.Module, x: np.ndarray, y: np.ndarray):
        opt = nn.optim.SGD(model.parameters(), lr=LR)
        xt, yt = autograd.from_numpy(x), autograd.from_numpy(y)

        def step() -> None:
            opt.zero_grad()
            F.cross_entropy(model(xt), yt).backward()
            opt.step()
        return step

    split = args.batch // world
    mine = slice(rank * split, (rank + 1) * split)
    plain, wrapped, halved = build(False), build(True), build(True)
    steps = {"alone": stepper(plain, x_full, y_full), "together": stepper(plain, x_full, y_full),
             "ddp": stepper(wrapped, x_full, y_full), "split": stepper(halved, x_full[mine], y_full[mine])}
    gradient = np.ones(sum(p.numel() for p in plain.parameters()), dtype=np.float32)

    def allreduce() -> None:
        comm.Allreduce(dist._group.mpi.IN_PLACE, gradient, op=dist._group.mpi.SUM)

    # warm up; every rank must run the same number of steps per block (DDP's steps are collective)
    for name in ("together", "ddp", "split"):
        for _ in range(5):
            steps[name]()
    start = time.perf_counter()
    for _ in range(10):
        steps["ddp"]()
    per_step = np.array([(time.perf_counter() - start) / 10])
    dist._broadcast_array(per_step, 0)
    count = max(3, int(args.block / per_step[0]))

    def timed(run: object, count: int, model: object) -> tuple[list[float], list[float]]:
        """Seconds of each of `count` calls of `run`, and of each the seconds the wrapper spent in MPI."""
        times, in_mpi = [], []
        for _ in range(count):
            before = model.communication_seconds if model is not None else 0.0
            begin = time.perf_counter()
            run()
            times.append(time.perf_counter() - begin)
            in_mpi.append(model.communication_seconds - before if model is not None else 0.0)
        return times, in_mpi

    def idle_until_rank0_done() -> None:
        """Sleep (not MPI's busy wait) while rank 0 works alone, so that it has a core to itself."""
        request = comm.Ibarrier()
        while not request.Test():
            time.sleep(0.0005)

    samples: dict[str, list[float]] = {name: [] for name in PHASES}
    comm_samples: list[float] = []
    split_comm_samples: list[float] = []
    for round_ in range(args.rounds):
        order = PHASES[round_ % len(PHASES):] + PHASES[:round_ % len(PHASES)]
        for name in order:
            if name == "alone":
                if rank == 0:
                    samples["alone"].extend(timed(steps["alone"], count, None)[0])
                    comm.Ibarrier().Wait()  # (a non-blocking barrier matches only its kind)
                else:
                    idle_until_rank0_done()
                continue
            comm.Barrier()
            model = {"ddp": wrapped, "split": halved}.get(name)
            times, in_mpi = timed(allreduce if name == "allreduce" else steps[name], count, model)
            # a step of the job takes as long as its slowest rank's
            samples[name].extend(dist._all_gather_array(np.array(times)).max(axis=0).tolist())
            if model is not None:
                (comm_samples if name == "ddp" else split_comm_samples).extend(in_mpi)
    if rank == 0:
        report(args, world, count, samples, comm_samples, split_comm_samples, gradient.nbytes)
    dist.destroy_process_group()


def report(args: argparse.Namespace, world: int, count: int, samples: dict[str, list[float]],
           comm: list[float], split_comm: list[float], gradient_bytes: int) -> None:
    import numpy as np

    def stat(values: list[float]) -> tuple[float, float]:
        return float(np.min(values)), float(np.median(values))

    alone, together, ddp, split, wire = (stat(samples[n]) for n in PHASES)
    speedup = world * alone[0] / ddp[0]
    strong = alone[0] / split[0]
    ms = lambda s: f"{1e3 * s:.2f} ms"
    rows = [
        ("1 rank, W2 alone (no wrapper)", alone, f"{args.batch / alone[0]:,.0f} samples/s"),
        (f"{world} ranks at once, no communication", together, f"slowdown from sharing: "
         f"{together[0] / alone[0]:.2f}x"),
        (f"{world} ranks, DistributedDataParallel", ddp, f"{world * args.batch / ddp[0]:,.0f} samples/s, "
         f"speedup {speedup:.2f}x"),
        ("  of which inside MPI (gradient all-reduce)", stat(comm), f"{100 * np.min(comm) / ddp[0]:.0f}% of the "
         "step"),
        (f"  bare MPI_Allreduce of {gradient_bytes / 2**20:.1f} MB", wire,
         f"{gradient_bytes / wire[0] / 1e9:.2f} GB/s"),
        (f"{world} ranks, batch {args.batch} split ({args.batch // world} each)", split,
         f"speedup {strong:.2f}x over 1 rank with {args.batch}"),
        ("  of which inside MPI", stat(split_comm), ""),
    ]
    print(f"W2 data-parallel: {world} ranks, {args.batch} samples per rank and step, 1 BLAS thread each, "
          f"{args.rounds} rounds of {count} steps per phase; bucket_cap_mb={args.bucket_cap_mb:g}")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical cores; load average "
          f"{os.getloadavg()[0]:.2f} at the end\n")
    print(f"| {'phase':<46} | {'min/step':>9} | {'median':>9} | |")
    print(f"| {'-' * 46} | {'-' * 9}: | {'-' * 9}: | --- |")
    for label, (low, mid), note in rows:
        print(f"| {label:<46} | {ms(low):>9} | {ms(mid):>9} | {note} |")
    print(f"\nspeedup on {world} ranks: {speedup:.2f}x (target 1.8x: {'met' if speedup >= 1.8 else 'NOT met'}); "
          f"the step on {world} ranks = {ms(together[0])} of computing (alone: {ms(alone[0])}) + "
          f"{ms(ddp[0] - together[0])} more, {ms(float(np.min(comm)))} of it inside MPI")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "ranks": world, "batch": args.batch, "steps_per_block": count, "bucket_cap_mb": args.bucket_cap_mb,
            "samples_seconds": samples, "ddp_comm_seconds": comm, "split_comm_seconds": split_comm,
            "speedup": speedup, "strong_scaling_speedup": strong, "load_average": os.getloadavg(),
            "gradient_bytes": gradient_bytes}, indent=1))
        print(f"results: {args.json}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.worker:
        work(args)
        return 0
    print(f"load average before: {os.getloadavg()[0]:.2f} (on {os.cpu_count()} cores)", flush=True)
    return drive(args, argv)


if __name__ == "__main__":
    raise SystemExit(main())
