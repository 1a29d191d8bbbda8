"""Data-parallel training: the digits CNN of `python -m nn.demo`, on N processes with DistributedDataParallel.

    mpiexec -n 2 python -m nn.examples.ddp                 # 2 processes on this machine
    mpiexec -n 4 -f hosts python -m nn.examples.ddp        # 4 processes on the machines listed in ./hosts
    python -m nn.examples.ddp                              # the same script on one process

Every rank loads the data and builds the model; the DistributedSampler gives each rank its own share of every
epoch, and DistributedDataParallel averages the gradients after each backward, so all ranks take the same
Adam steps. `--batch-size` is the global batch: each of N ranks takes batch_size / N samples per step, so the
run follows the same trajectory on any number of processes (the batches hold the same samples; only the
rounding of the sums differs). Set OMP_NUM_THREADS=1 when the ranks share a machine's cores.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np

import autograd
import nn
import nn.distributed as dist
import nn.functional as F
from nn.data import DataLoader, DistributedSampler, StandardScaler, TensorDataset, load_digits, train_test_split
from nn.demo import build_model


def total_over_ranks(*values: float) -> list[float]:
    """Sum numbers over all ranks (losses, counts), so that every rank knows the global figures."""
    t = autograd.tensor(np.array(values, dtype=np.float64))
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nn.examples.ddp", description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10, help="passes over the training set (default: 10)")
    parser.add_argument("--batch-size", type=int, default=32, help="global mini-batch, split over the ranks")
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam's learning rate (default: 3e-3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights, the split and the shuffles")
    parser.add_argument("--save", default=None, help="rank 0 saves the trained weights here (safetensors)")
    args = parser.parse_args(argv)

    dist.init_process_group(backend="mpi")  # rank and world size from mpiexec; 0 of 1 without it
    rank, world = dist.get_rank(), dist.get_world_size()
    say = print if rank == 0 else (lambda *a, **k: None)  # one rank speaks for all
    if args.batch_size % world:
        parser.error(f"--batch-size {args.batch_size} must be a multiple of the number of processes ({world})")

    # the same data on every rank (same seed); each rank will see its own share of it
    X, y = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, seed=args.seed, stratify=y)
    scaler = StandardScaler(dim=None).fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    train_set = TensorDataset(X_train, y_train)
    sampler = DistributedSampler(train_set, shuffle=True, seed=args.seed)
    loader = DataLoader(train_set, batch_size=args.batch_size // world, sampler=sampler)
    mine = slice(rank, None, world)  # this rank's share of the test set (an exact partition)
    X_test, y_test = X_test[mine], y_test[mine]

    autograd.manual_seed(args.seed + rank)  # different on purpose: DDP starts every rank from rank 0's weights
    model = nn.parallel.DistributedDataParallel(build_model())
    optimizer = nn.optim.Adam(model.parameters(), lr=args.lr)
    say(f"training the digits CNN on {world} process{'es' if world > 1 else ''} (MPI): global batch "
        f"{args.batch_size} = {world} x {args.batch_size // world}, {len(loader)} steps per epoch")

    started = time.perf_counter()
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every rank
        model.train()
        loss_sum, seen = 0.0, 0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()  # the gradients are averaged across ranks here
            optimizer.step()
            loss_sum, seen = loss_sum + loss.item() * len(yb), seen + len(yb)
        model.eval()
        with autograd.no_grad():
            correct = float((model(X_test).argmax(dim=1) == y_test).sum().item())
        loss_sum, seen, correct, tested = total_over_ranks(loss_sum, seen, correct, len(y_test))
        say(f"epoch {epoch + 1:2d}/{args.epochs}: training loss {loss_sum / seen:.4f}, "
            f"test accuracy {100 * correct / tested:.2f}%")
    seconds = time.perf_counter() - started

    comm = max(total_over_ranks(model.communication_seconds)[0] / world, 0.0)
    say(f"test accuracy: {100 * correct / tested:.2f}% after {args.epochs} epochs; {seconds:.1f} s "
        f"({comm:.2f} s of it averaging gradients) on {world} process{'es' if world > 1 else ''}")
    if args.save and rank == 0:
        nn.save(model.module.state_dict(), args.save)
        say(f"saved the weights of rank 0 (the same on every rank) to {args.save}")
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
