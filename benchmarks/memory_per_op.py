"""Bytes per recorded operation: glassgrad, PyTorch and micrograd, measured the same way.

Each engine runs in a fresh process (`python -m benchmarks.memory_per_op`). The process builds W1's chain,
`y = exp(tanh((y + 0.5) * w))`, of OPS recorded operations on a 0-d tensor (micrograd: a `Value`) and on a (16,)
tensor, and keeps the graph alive (no backward). The cost of one recorded operation is the rise of the resident
set (/proc/self/statm, which sees PyTorch's C++ allocations as well as Python objects) divided by OPS, after a
short warm-up chain built and dropped first (so that lazily loaded code and caches are in place; short, because
memory it freed would be reused by the measured chain and hide part of its cost). glibc's malloc is told not to
hand freed memory back (as autograd.memory does on import) in every process, so all engines pay for their memory
the same way. Linux only.

For glassgrad and micrograd tracemalloc's count is given too: it sees every Python object and numpy buffer to the
byte; it agrees with the resident set within about 10%.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tracemalloc

OPS = 200_000          # recorded operations per chain (4 per repeat): large enough that pages do not matter
ENGINES = ("glassgrad", "torch", "micrograd")


def _resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _chain(engine: str, size: int | None):
    """A function building the chain of OPS operations, and the leaves it starts from."""
    import numpy as np
    if engine == "micrograd":
        from .workloads.w1_chain import micrograd_value
        Value = micrograd_value()
        x, w = Value(0.1), Value(0.7)
    elif engine == "torch":
        import torch
        torch.set_num_threads(1)
        shape = () if size is None else (size,)
        x = torch.full(shape, 0.1, requires_grad=True)
        w = torch.full(shape, 0.7, requires_grad=True)
    else:
        import autograd as ag
        x = ag.tensor(np.full(() if size is None else (size,), 0.1, dtype=np.float32), requires_grad=True)
        w = ag.tensor(np.full(() if size is None else (size,), 0.7, dtype=np.float32), requires_grad=True)

    def build(ops: int):
        y = x
        for _ in range(ops // 4):
            y = ((y + 0.5) * w).tanh().exp()
        return y
    return build


def measure(engine: str, size: int | None) -> dict:
    if engine != "glassgrad":  # glassgrad does this on import (autograd/memory.py); the same for everyone
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-1, 128 * 1024 * 1024)  # M_TRIM_THRESHOLD: keep freed memory
        libc.mallopt(-3, 32 * 1024 * 1024)   # M_MMAP_THRESHOLD: no mmap for mid-sized blocks
    build = _chain(engine, size)
    warm = build(OPS // 100)  # small: freed memory the measured chain could reuse would hide its cost
    del warm
    before = _resident_bytes()
    graph = build(OPS)
    after = _resident_bytes()
    result = {"engine": engine, "size": size, "rss_per_op": (after - before) / OPS}
    del graph
    if engine != "torch":  # tracemalloc does not see PyTorch's tensors
        tracemalloc.start()
        graph = build(OPS)
        result["traced_per_op"] = tracemalloc.get_traced_memory()[0] / OPS  # the graph alive
        tracemalloc.stop()
        del graph
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=2, metavar=("ENGINE", "SIZE"))
    args = parser.parse_args()
    if args.worker:
        engine, size = args.worker
        print(json.dumps(measure(engine, None if size == "0-d" else int(size))))
        return
    rows = []
    for size in ("0-d", "16"):
        for engine in ENGINES:
            if engine == "micrograd" and size != "0-d":
                continue
            env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
            done = subprocess.run([sys.executable, "-m", "benchmarks.memory_per_op", "--worker", engine, size],
                                  check=False, capture_output=True, text=True, env=env)
            if done.returncode:
                print(f"{engine} {size}: skipped ({done.stderr.strip().splitlines()[-1]})")
                continue
            rows.append(json.loads(done.stdout))
    print("| tensor | engine | bytes per recorded op (resident set) | bytes per op (tracemalloc) |")
    print("| --- | --- | ---: | ---: |")
    for r in rows:
        traced = f"{r['traced_per_op']:.0f}" if "traced_per_op" in r else "-"
        print(f"| {'0-d' if r['size'] is None else '(16,)'} | {r['engine']} | {r['rss_per_op']:.0f} | {traced} |")


if __name__ == "__main__":
    main()
