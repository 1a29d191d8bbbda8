"""Run the benchmark suite: every workload, every installed engine, each engine in a process of its own.

    python -m benchmarks                      # the full suite, 1 thread (about 2 minutes)
    python -m benchmarks --quick              # fewer, shorter rounds (under a minute)
    python benchmarks/run.py ...              # the same
    python -m benchmarks -w W1 W4 -e glassgrad torch --threads 1 2
    python -m benchmarks --update-readme      # also write the results into benchmarks/README.md

How a workload is measured:
1. One worker process per engine starts (with the thread count set before numpy/torch load), builds the
   workload from the same seeded data as every other engine, and writes the gradients of one
   forward+backward. The driver checks that every engine's loss and gradients agree with glassgrad's before
   anything is timed; a disagreement stops the run.
2. Each worker warms up, then the driver asks the workers in turn for a short block of timed samples,
   rotating the order every round. A shared machine's speed drifts (here by up to 3x within fractions of a
   second), so interleaving short blocks spreads the drift over all engines alike.
3. Over all samples: the minimum (the best estimate of the cost itself, used for the targets) and the
   median (what a typical step took, noise included).
4. Peak memory of a few steps of a freshly built case (see worker.measure_memory).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import report  # noqa: E402
from benchmarks.worker import THREAD_VARIABLES, gradient_file  # noqa: E402
from benchmarks.workloads import ENGINES, FLOOR, WORKLOADS, available, gradient_error, tolerance  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
UNIT_FACTOR = {"us/op": 1e6, "ms/step": 1e3}
# --keep-freed-memory: glibc's malloc keeps freed blocks of up to 32 MB for reuse instead of handing them back
# to the kernel, so big temporaries stop costing fresh, zeroed pages at every step; the same settings that
# glassgrad applies to its own process when imported (autograd/memory.py)
KEEP_FREED_MEMORY = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(512 << 20),
                     "MALLOC_TOP_PAD_": str(64 << 20)}


@dataclass(frozen=True)
class Settings:
    rounds: int           # interleaved rounds per workload
    block: float          # seconds of samples per engine, variant and round
    warmup: float         # seconds of warm-up per engine and variant
    memory_steps: int     # steps in the memory measurement (0: skip it)
    keep_freed_memory: bool = False

    @staticmethod
    def of(args: argparse.Namespace) -> Settings:
        rounds, block, warmup = (6, 0.05, 0.1) if args.quick else (20, 0.1, 0.3)
        return Settings(args.repeats or rounds, args.block or block, warmup, 0 if args.no_memory else 3,
                        args.keep_freed_memory)


class WorkerError(RuntimeError):
    pass


class Worker:
    """A worker process running one engine on one workload (benchmarks/worker.py), spoken to in JSON lines."""

    def __init__(self, workload: str, engine: str, threads: int, directory: str, keep_freed_memory: bool) -> None:
        self.name = f"{workload}/{engine}"
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        env.update({name: str(threads) for name in THREAD_VARIABLES})
        if keep_freed_memory:
            env.update(KEEP_FREED_MEMORY)
        self.log = open(os.path.join(directory, f"{workload}-{engine}.log"), "w+")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.worker", workload, engine, "--threads", str(threads),
             "--grad-dir", directory], cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.log, text=True, bufsize=1)

    def receive(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            self.log.seek(0)
            raise WorkerError(f"{self.name} exited with code {self.process.returncode}:\n{self.log.read()[-3000:]}")
        message = json.loads(line)
        if "error" in message:
            raise WorkerError(f"{self.name} failed:\n{message['error']}")
        return message

    def ask(self, **command: object) -> dict:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self.receive()

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.process.stdin.close()
                self.process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
        self.log.close()


def run_workload(key: str, engines: list[str], threads: int, settings: Settings, say: object) -> list[dict]:
    """Verify, time and measure one workload on the given engines; one result record per variant and engine."""
    workload = WORKLOADS[key]
    unit_factor = UNIT_FACTOR[workload.unit]
    with tempfile.TemporaryDirectory(prefix="glassgrad-bench-") as directory:
        # the workers start up side by side; nothing is timed until all are ready
        workers = {e: Worker(key, e, threads, directory, settings.keep_freed_memory) for e in engines}
        try:
            replies = {e: w.receive() for e, w in workers.items()}
            ready = {e: reply["ready"] for e, reply in replies.items()}
            errors = verify(key, ready, directory)
            for w in workers.values():
                w.ask(cmd="warmup", seconds=settings.warmup)
            times: dict[tuple[str, str], list[float]] = {}
            faults: dict[tuple[str, str], list[float]] = {}
            for r in range(settings.rounds):
                order = engines[r % len(engines):] + engines[:r % len(engines)]
                for variant in workload.variants:
                    for e in order:
                        if variant not in ready[e]:
                            continue
                        reply = workers[e].ask(cmd="sample", variant=variant, seconds=settings.block)
                        scale = ready[e][variant]["scale"] * unit_factor
                        times.setdefault((variant, e), []).extend(t * scale for t in reply["times"])
                        faults.setdefault((variant, e), []).append(reply["faults"])
                say(".", end="")
            memory = {e: w.ask(cmd="memory", steps=settings.memory_steps)["memory"] for e, w in workers.items()} \
                if settings.memory_steps else {}
        finally:
            for w in workers.values():
                w.close()
    records = []
    for variant in workload.variants:
        for e in engines:
            if variant not in ready[e]:
                continue
            samples = times[variant, e]
            records.append({
                "workload": key, "variant": variant, "engine": e, "threads": threads, "unit": workload.unit,
                "min": float(np.min(samples)), "median": float(np.median(samples)), "samples": len(samples),
                "faults_per_step": float(np.mean(faults[variant, e])),
                "memory": memory.get(e, {}).get(variant, {"rss": None, "traced": None}),
                "gradient_error": errors.get((variant, e)), "notes": ready[e][variant]["notes"],
                "malloc_tuned": replies[e]["malloc_tuned"],
            })
    return records


def verify(key: str, ready: dict[str, dict], directory: str) -> dict[tuple[str, str], float]:
    """Compare every engine's gradients with glassgrad's (or, without glassgrad, the floor's) for every
    variant. Returns the largest relative error per (variant, engine); raises if one exceeds its tolerance."""
    errors = {}
    for variant in WORKLOADS[key].variants:
        engines = [e for e in ready if variant in ready[e]]
        grads = {}
        for e in engines:
            with np.load(os.path.join(directory, gradient_file(key, variant, e))) as f:
                grads[e] = {name: f[name] for name in f.files}
        reference = next((e for e in ("glassgrad", FLOOR) if e in grads), engines[0])
        for e in engines:
            if e == reference:
                continue
            per_entry = gradient_error(grads[reference], grads[e])
            worst = max(per_entry, key=per_entry.get)
            limit = tolerance(grads[reference], grads[e])
            if not per_entry[worst] <= limit:
                raise SystemExit(f"{key} {variant}: {e} disagrees with {reference} on '{worst}': relative error "
                                 f"{per_entry[worst]:.3g} > {limit:g}. The benchmark would compare different "
                                 "computations; fix the workload or the engine first.")
            errors[variant, e] = per_entry[worst]
    return errors


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-w", "--workloads", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS),
                        metavar="W", help="workloads to run (default: all of W1-W8)")
    parser.add_argument("-e", "--engines", nargs="+", choices=ENGINES, default=list(ENGINES), metavar="ENGINE",
                        help=f"engines to run, among {', '.join(ENGINES)} (default: all that are installed)")
    parser.add_argument("--threads", nargs="+", type=int, default=[1], metavar="N",
                        help="BLAS/OpenMP/torch threads per engine process; several values run the suite once each")
    parser.add_argument("--quick", action="store_true",
                        help="6 rounds of 0.05 s instead of 20 of 0.1 s (under a minute)")
    parser.add_argument("--repeats", type=int, help="interleaved rounds per workload (default 20, quick 6)")
    parser.add_argument("--block", type=float, help="seconds of samples per engine and round (default 0.1, quick 0.05)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    parser.add_argument("--keep-freed-memory", action="store_true",
                        help="let glibc's malloc keep freed memory for reuse in every engine process (shows what "
                             "page faults on fresh temporaries cost; the published results use the defaults)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where results.json and the plot go")
    parser.add_argument("--update-readme", action="store_true",
                        help="write the tables and machine description into benchmarks/README.md")
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG plot")
    args = parser.parse_args(argv)
    settings = Settings.of(args)

    def say(*parts: object, end: str = "\n") -> None:
        print(*parts, end=end, file=sys.stderr, flush=True)

    missing = [e for e in args.engines if not available(e)]
    if missing:
        say(f"not installed, skipped: {', '.join(missing)}")
    started = time.perf_counter()
    records = []
    for threads in args.threads:
        for key in args.workloads:
            engines = [e for e in WORKLOADS[key].engines if e in args.engines and available(e)]
            if not engines:
                continue
            say(f"{key} ({threads} thread{'s' if threads > 1 else ''}): {', '.join(engines)} ", end="")
            t0 = time.perf_counter()
            records += run_workload(key, engines, threads, settings, say)
            say(f" {time.perf_counter() - t0:.0f} s")
    machine = report.machine()
    results = {"machine": machine, "settings": settings.__dict__, "records": records,
               "seconds": round(time.perf_counter() - started, 1)}
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "results.json").write_text(json.dumps(results, indent=1))
    plot = None
    if not args.no_plot:
        plot = report.plot(records, args.output / "results.png")
    markdown = report.markdown(results, plot_path=plot)
    print(markdown)
    if args.update_readme:
        report.update_readme(ROOT / "benchmarks" / "README.md", markdown)
        say("benchmarks/README.md updated")
    say(f"total {results['seconds']:.0f} s")


if __name__ == "__main__":
    main()
