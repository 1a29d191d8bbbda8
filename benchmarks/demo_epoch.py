"""The demo's training epoch: glassgrad against the same model in PyTorch (when installed).

One epoch is what `python -m nn.demo` times: 1,437 scaled 8x8 digits in shuffled mini-batches of 32 (45
iterations), each a forward pass through conv-relu-pool x2 + linear, cross-entropy, backward, Adam step.
glassgrad draws its batches with `nn.data.DataLoader`; PyTorch indexes its tensors with the same
permutations (no per-sample collation, so the comparison does not penalise PyTorch for its DataLoader).
Both start from the same weights. Epochs of the two engines are interleaved, so the machine's speed drifts
(other tenants) hit both alike; the minimum is the best estimate of the cost, the median what a typical
epoch took.

    python benchmarks/demo_epoch.py                  # default threads, 7 epochs each
    python benchmarks/demo_epoch.py --threads 1      # single-threaded BLAS and PyTorch
    python benchmarks/demo_epoch.py --epochs 15 --json benchmarks/results/demo_epoch.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=7, help="timed epochs per engine (default 7)")
    parser.add_argument("--threads", type=int, default=None, help="BLAS/OpenMP threads (default: library default)")
    parser.add_argument("--no-torch", action="store_true", help="time glassgrad only")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.threads is not None:  # must happen before numpy (and torch) load their thread pools
        os.environ.update({name: str(args.threads) for name in THREAD_VARIABLES})
    sys.path.insert(0, str(ROOT))
    import numpy as np

    import autograd
    import nn
    import nn.functional as F
    from nn.data import DataLoader, StandardScaler, TensorDataset, load_digits, train_test_split
    from nn.demo import build_model

    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            print("PyTorch is not installed: timing glassgrad only")
    if torch is not None and args.threads is not None:
        torch.set_num_threads(args.threads)

    autograd.manual_seed(0)
    X, y = load_digits()
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.2, seed=0, stratify=y)
    X_train = StandardScaler(dim=None).fit(X_train).transform(X_train)
    loader = DataLoader(TensorDataset(X_train, y_train), batch_size=32, shuffle=True, seed=0)

    ours = build_model()
    ours_opt = nn.optim.Adam(ours.parameters(), lr=3e-3)

    def our_epoch() -> float:
        ours.train()
        start = time.perf_counter()
        for xb, yb in loader:
            ours_opt.zero_grad()
            F.cross_entropy(ours(xb), yb).backward()
            ours_opt.step()
        return time.perf_counter() - start

    their_epoch = None
    if torch is not None:
        theirs = torch.nn.Sequential(
            torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Flatten(), torch.nn.Linear(128, 10))
        with torch.no_grad():
            for (_, a), (_, b) in zip(ours.named_parameters(), theirs.named_parameters()):
                b.copy_(torch.from_numpy(a.data.copy()))
        their_opt = torch.optim.Adam(theirs.parameters(), lr=3e-3)
        tx, ty = torch.from_numpy(X_train.data.copy()), torch.from_numpy(y_train.data.copy())
        order_rng = np.random.default_rng(0)

        def their_epoch() -> float:
            theirs.train()
            start = time.perf_counter()
            order = torch.from_numpy(order_rng.permutation(len(ty)))
            for i in range(0, len(order), 32):
                idx = order[i:i + 32]
                their_opt.zero_grad()
                torch.nn.functional.cross_entropy(theirs(tx[idx]), ty[idx]).backward()
                their_opt.step()
            return time.perf_counter() - start

    our_epoch()  # warm-up: first-touch allocations, lazy imports
    if their_epoch is not None:
        their_epoch()
    times: dict[str, list[float]] = {"glassgrad": [], "torch": []}
    for _ in range(args.epochs):
        times["glassgrad"].append(our_epoch())
        if their_epoch is not None:
            times["torch"].append(their_epoch())

    result = {
        "benchmark": "demo_epoch",
        "description": "one training epoch of the demo CNN on 1437 digits, batch 32, Adam",
        "threads": args.threads or "default",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "epochs_timed": args.epochs,
    }
    print(f"demo epoch (45 iterations of batch 32), {args.epochs} epochs each, threads: {result['threads']}")
    for engine, samples in times.items():
        if samples:
            result[engine] = {"min_s": min(samples), "median_s": float(np.median(samples))}
            print(f"  {engine:10s} min {min(samples):.3f} s   median {np.median(samples):.3f} s")
    if times["torch"]:
        result["ratio_min"] = min(times["glassgrad"]) / min(times["torch"])
        result["ratio_median"] = float(np.median(times["glassgrad"]) / np.median(times["torch"]))
        print(f"  glassgrad / torch: {result['ratio_min']:.2f}x (min), {result['ratio_median']:.2f}x (median)")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        print(f"  written to {args.json}")
    return result


if __name__ == "__main__":
    main()
