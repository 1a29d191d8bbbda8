"""One engine on one workload, in a process of its own (started and driven by `benchmarks/run.py`).

The thread count is fixed in the environment before numpy (or torch) is imported, so BLAS and OpenMP start
with exactly that many threads. The worker builds every variant of its workload, writes the gradients of one
forward+backward from the initial state to `--grad-dir` (the driver compares them between engines), and then
answers commands, one JSON object per line on stdin, with one JSON line on stdout:

    {"cmd": "warmup", "seconds": s}            run each variant for s seconds; reply iterations per sample
    {"cmd": "sample", "variant": v, "seconds": s}
                                               time samples of the variant for about s seconds; each sample
                                               is the mean over a block of steps sized to last ~5 ms
    {"cmd": "memory", "steps": k}              peak memory of k steps of each variant (see measure_memory)
    {"cmd": "quit"}

Anything else the engines print goes to stderr, so stdout carries the protocol only.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import time
import traceback

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                    "NUMEXPR_NUM_THREADS")
SAMPLE_SECONDS = 0.005  # aim for samples this long: short enough to dodge bursts of noise, long enough to time


def main() -> None:
    parser = argparse.ArgumentParser(description="benchmark worker (started by benchmarks/run.py)")
    parser.add_argument("workload")
    parser.add_argument("engine")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--grad-dir", required=True)
    args = parser.parse_args()
    for name in THREAD_VARIABLES:  # before numpy and torch are imported, so that they start this many threads
        os.environ[name] = str(args.threads)

    protocol, sys.stdout = sys.stdout, sys.stderr

    def send(message: dict) -> None:
        protocol.write(json.dumps(message) + "\n")
        protocol.flush()

    try:
        serve(args, send)
    except Exception:
        send({"error": traceback.format_exc()})
        sys.exit(1)


def serve(args: argparse.Namespace, send: object) -> None:
    import numpy as np

    if args.engine == "torch":
        import torch
        torch.set_num_threads(args.threads)
        torch.set_num_interop_threads(args.threads)
    from benchmarks.workloads import WORKLOADS

    workload = WORKLOADS[args.workload]
    variants = [v for v in workload.variants if args.engine in workload.engines_for(v)]
    cases = {v: workload.build(args.engine, v) for v in variants}
    for v, case in cases.items():
        grads = case.gradients()
        np.savez(os.path.join(args.grad_dir, gradient_file(args.workload, v, args.engine)), **grads)
    memory_module = sys.modules.get("autograd.memory")  # glassgrad tunes malloc when imported
    send({"ready": {v: {"scale": case.scale, "notes": case.notes} for v, case in cases.items()},
          "malloc_tuned": bool(getattr(memory_module, "configured", False)) or "MALLOC_TRIM_THRESHOLD_" in os.environ})

    per_sample: dict[str, int] = {}
    for line in sys.stdin:
        command = json.loads(line)
        cmd = command["cmd"]
        if cmd == "warmup":
            for v, case in cases.items():
                per_sample[v] = warm_up(case.step, command["seconds"])
            send({"per_sample": per_sample})
        elif cmd == "sample":
            v = command["variant"]
            send(take_samples(cases[v].step, per_sample[v], command["seconds"]))
        elif cmd == "memory":
            cases.clear()
            send({"memory": {v: measure_memory(lambda v=v: workload.build(args.engine, v), command["steps"],
                                               traced=args.engine != "torch") for v in variants}})
        elif cmd == "quit":
            return
        else:
            raise ValueError(f"unknown command {command!r}")


def gradient_file(workload: str, variant: str, engine: str) -> str:
    safe = "".join(c if c.isalnum() else "_" for c in variant)
    return f"{workload}-{safe}-{engine}.npz"


def warm_up(step: object, seconds: float) -> int:
    """Run `step` for at least `seconds` (and 3 times); return how many steps make a ~5 ms sample."""
    times = []
    deadline = time.perf_counter() + seconds
    while len(times) < 3 or time.perf_counter() < deadline:
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    typical = sorted(times)[len(times) // 2]
    return max(1, round(SAMPLE_SECONDS / typical))


def take_samples(step: object, per_sample: int, seconds: float) -> dict:
    """Samples (seconds per step, each the mean over `per_sample` steps) for about `seconds`; also the minor
    page faults per step (the cost of fresh memory, which the kernel zeroes page by page)."""
    gc.collect()
    times = []
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    clock = time.perf_counter
    deadline = clock() + seconds
    while not times or clock() < deadline:
        t0 = clock()
        for _ in range(per_sample):
            step()
        times.append((clock() - t0) / per_sample)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    return {"times": times, "faults": faults / (len(times) * per_sample)}


# ---------------------------------------------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------------------------------------------
def measure_memory(build: object, steps: int, traced: bool) -> dict:
    """Peak memory of `steps` steps of a freshly built case, above what the case holds when built (its
    parameters and data), measured two ways:

    rss     growth of the resident set's high-water mark (Linux: /proc/self/status VmHWM, reset through
            /proc/self/clear_refs). Every engine's memory shows up here, PyTorch's included. glibc's malloc
            is first told to hand large blocks back to the system at once (mallopt), so that the resident
            set follows live memory instead of malloc's cache. Page granularity: noise below ~100 KB.
    traced  tracemalloc's peak: every Python object and every numpy buffer allocated during the steps, to
            the byte. PyTorch's tensors are invisible to it, so it is not reported for PyTorch.
    """
    result = {"rss": None, "traced": None}
    if _linux_glibc():
        case = build()
        _return_freed_memory_at_once()
        base = _status_kb("VmRSS")
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current resident set
        for _ in range(steps):
            case.step()
        result["rss"] = (_status_kb("VmHWM") - base) * 1024
        del case
        gc.collect()
    if traced:
        import tracemalloc
        case = build()
        gc.collect()
        tracemalloc.start()
        for _ in range(steps):
            case.step()
        result["traced"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return result


def _linux_glibc() -> bool:
    import platform
    return sys.platform == "linux" and platform.libc_ver()[0] == "glibc" and os.path.exists("/proc/self/clear_refs")


def _return_freed_memory_at_once() -> None:
    """Undo any tuning that keeps freed memory (glassgrad's import does that, see autograd/memory.py), so that
    the resident set follows live memory during the measurement."""
    import ctypes
    libc = ctypes.CDLL("libc.so.6")
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3  # glibc's <malloc.h>
    libc.mallopt(m_mmap_threshold, 64 * 1024)  # blocks from 64 KB up: their own mapping, unmapped when freed
    libc.mallopt(m_trim_threshold, 128 * 1024)
    libc.mallopt(m_top_pad, 0)
    gc.collect()
    libc.malloc_trim(0)


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


if __name__ == "__main__":
    main()
