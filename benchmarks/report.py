"""Turning results into the published tables, the target verdicts and the plot; describing the machine."""

from __future__ import annotations

import datetime
import os
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path

from benchmarks.workloads import FLOOR, WORKLOADS

# ---------------------------------------------------------------------------------------------------------------
# The targets (issue 17; time ratios use the minimum over all samples)
# ---------------------------------------------------------------------------------------------------------------
TIME_TARGETS = [
    # workload, variant (None: every variant), engine, compared with, largest allowed ratio, description
    ("W1", "0-d", "glassgrad", "torch", 0.25, "W1 0-d: under a quarter of PyTorch's time per op"),
    ("W1", "(16,)", "glassgrad", "torch", 0.5, "W1 (16,): at most half of PyTorch's time per op"),
    ("W2", None, "glassgrad", FLOOR, 1.10, "W2: within 1.10x of the numpy floor"),
    ("W3", None, "glassgrad", FLOOR, 2.0, "W3: within 2.0x of the numpy floor"),
    ("W4", None, "glassgrad", "torch", 1.0, "W4: no slower than PyTorch"),
    ("W5", None, "glassgrad", "micrograd", 1.0, "W5: no slower than micrograd"),
    ("W6", "P=1e5", "glassgrad", FLOOR, 1.2, "W6 P=1e5: within 1.2x of the numpy floor"),
    ("W7", None, "glassgrad", "torch", 1.0, "W7: no slower than PyTorch"),
    ("W8", None, "glassgrad", "torch", 1.0, "W8: no slower than PyTorch"),
]
MEMORY_TARGET = 1.3  # glassgrad's peak memory over the floor's (tracemalloc peaks)
# ... except on the graphs of 0-d and 16-element tensors, where a Python object per recorded operation cannot
# meet it: those report bytes per recorded operation instead (memory_per_op.py), against PyTorch's
NO_MEMORY_TARGET = {"W1", "W5"}
ENGINE_NAMES = {"glassgrad": "glassgrad", "numpy": "numpy (floor)", "torch": "PyTorch", "micrograd": "micrograd",
                "finite-diff": "finite differences"}


def _find(records: list[dict], workload: str, variant: str, engine: str, threads: int) -> dict | None:
    return next((r for r in records if (r["workload"], r["variant"], r["engine"], r["threads"]) ==
                 (workload, variant, engine, threads)), None)


def evaluate_targets(records: list[dict]) -> list[dict]:
    """One verdict per target and variant (and per thread count), with the measured ratio."""
    verdicts = []
    for threads in sorted({r["threads"] for r in records}):
        suffix = f" ({threads} threads)" if threads != 1 else ""
        for key, only, engine, other, limit, text in TIME_TARGETS:
            for variant in WORKLOADS[key].variants:
                if only is not None and variant != only:
                    continue
                mine, theirs = (_find(records, key, variant, e, threads) for e in (engine, other))
                if mine is None or theirs is None:
                    continue
                ratio = mine["min"] / theirs["min"]
                label = text if only is not None or len(WORKLOADS[key].variants) == 1 else f"{text} ({variant})"
                verdicts.append({"target": label + suffix, "ratio": ratio, "limit": limit, "met": ratio <= limit,
                                 "detail": f"{_time(mine['min'])} vs {_time(theirs['min'])} {mine['unit']}"})
        for key, workload in WORKLOADS.items():
            if key in NO_MEMORY_TARGET:
                continue
            for variant in workload.variants:
                mine, floor = (_find(records, key, variant, e, threads) for e in ("glassgrad", FLOOR))
                if mine is None or floor is None or mine["memory"]["traced"] is None \
                        or not floor["memory"]["traced"]:
                    continue
                ratio = mine["memory"]["traced"] / floor["memory"]["traced"]
                name = key if len(workload.variants) == 1 else f"{key} {variant}"
                verdicts.append({"target": f"{name}: peak memory within {MEMORY_TARGET}x of the floor's{suffix}",
                                 "ratio": ratio, "limit": MEMORY_TARGET, "met": ratio <= MEMORY_TARGET,
                                 "detail": f"{_bytes(mine['memory']['traced'])} vs "
                                           f"{_bytes(floor['memory']['traced'])}"})
    return verdicts


# ---------------------------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------------------------
def _time(value: float) -> str:
    return f"{value:.3g}" if value < 1000 else f"{value:.0f}"


def _bytes(value: int | None) -> str:
    if value is None:
        return "-"
    if abs(value) < 1024 * 1024:
        return f"{value / 1024:.0f} KB"
    return f"{value / 1024 / 1024:.1f} MB"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x" if value < 100 else f"{value:.0f}x"


def results_table(records: list[dict]) -> str:
    rows = ["| workload | engine | median | min | min / floor | median / floor | peak memory (traced) | "
            "peak RSS growth | memory / floor | page faults / step | gradient error |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in records:
        floor = _find(records, r["workload"], r["variant"], FLOOR, r["threads"])
        name = r["workload"] if len(WORKLOADS[r["workload"]].variants) == 1 else f"{r['workload']} {r['variant']}"
        if r["threads"] != 1:
            name += f" ({r['threads']} threads)"
        unit = r["unit"]
        traced, floor_traced = r["memory"]["traced"], floor and floor["memory"]["traced"]
        memory_ratio = traced / floor_traced if traced is not None and floor_traced else None
        error = r["gradient_error"]
        rows.append(
            f"| {name} | {ENGINE_NAMES[r['engine']]} | {_time(r['median'])} {unit} | {_time(r['min'])} {unit} | "
            f"{_ratio(floor and r['min'] / floor['min'])} | {_ratio(floor and r['median'] / floor['median'])} | "
            f"{_bytes(traced)} | {_bytes(r['memory']['rss'])} | {_ratio(memory_ratio)} | "
            f"{r['faults_per_step']:.0f} | {'reference' if error is None else f'{error:.0e}'} |")
    return "\n".join(rows)


def targets_table(records: list[dict]) -> str:
    rows = ["| target | measured | status |", "| --- | --- | --- |"]
    for v in evaluate_targets(records):
        status = "met" if v["met"] else f"**not met** (limit {v['limit']}x)"
        rows.append(f"| {v['target']} | {v['ratio']:.2f}x ({v['detail']}) | {status} |")
    return "\n".join(rows)


def w6_table(records: list[dict]) -> str:
    """Reverse mode against finite differences as P grows (1 thread)."""
    w6 = [r for r in records if r["workload"] == "W6" and r["threads"] == min(x["threads"] for x in records)]
    if not w6:
        return ""
    engines = [e for e in WORKLOADS["W6"].engines if any(r["engine"] == e for r in w6)]
    rows = ["| P | " + " | ".join(f"{ENGINE_NAMES[e]} (ms)" for e in engines) +
            " | finite differences / glassgrad |", "| ---: |" + " ---: |" * (len(engines) + 1)]
    for variant in WORKLOADS["W6"].variants:
        found = {e: _find(w6, "W6", variant, e, w6[0]["threads"]) for e in engines}
        p = next((r["notes"]["P"] for r in found.values() if r and "P" in r["notes"]), variant)
        cells = [_time(found[e]["min"]) if found[e] else "-" for e in engines]
        fd, mine = found.get("finite-diff"), found.get("glassgrad")
        rows.append(f"| {p} | " + " | ".join(cells) + f" | {_ratio(fd and mine and fd['min'] / mine['min'])} |")
    return "\n".join(rows)


def markdown(results: dict, plot_path: Path | None = None) -> str:
    m = results["machine"]
    s = results["settings"]
    parts = [
        f"Measured on {m['date']}: {m['cpu']} ({m['cores']}), {m['memory']}, {m['os']}; Python {m['python']}, "
        f"numpy {m['numpy']} ({m['blas']}), PyTorch {m['torch']}, micrograd {m['micrograd']}; "
        f"glassgrad at commit {m['commit']}. {s['rounds']} interleaved rounds of {s['block']} s per engine; "
        f"the whole run took {results['seconds']:.0f} s. " + _malloc_note(results["records"], s),
        "",
        "### Targets (ratios of the minimum times, measured in the same run)",
        "",
        targets_table(results["records"]),
        "",
        "### All results",
        "",
        results_table(results["records"]),
    ]
    w6 = w6_table(results["records"])
    if w6:
        parts += ["", "### W6: reverse mode against finite differences (minimum times)", "", w6]
    if plot_path is not None:
        try:
            shown = plot_path.resolve().relative_to(Path(__file__).resolve().parent)
        except ValueError:
            shown = plot_path
        parts += ["", f"![benchmark results]({shown.as_posix()})"]
    return "\n".join(parts) + "\n"


def _malloc_note(records: list[dict], settings: dict) -> str:
    if settings.get("keep_freed_memory"):
        return "Every engine ran with glibc's malloc keeping freed memory (--keep-freed-memory)."
    tuned = sorted({ENGINE_NAMES[r["engine"]] for r in records if r.get("malloc_tuned")})
    if not tuned:
        return "Every engine ran with glibc's default malloc settings."
    return (f"{', '.join(tuned)} tuned glibc's malloc to keep freed memory (autograd/memory.py, on import); "
            "the other engines ran with its defaults.")


START, END = "<!-- results:start -->", "<!-- results:end -->"


def update_readme(readme: Path, text: str) -> None:
    """Replace what lies between the results markers in the README."""
    content = readme.read_text()
    if START not in content or END not in content:
        raise ValueError(f"{readme} has no {START} ... {END} block to write the results into")
    head, rest = content.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{text}{END}{tail}")


# ---------------------------------------------------------------------------------------------------------------
# The plot
# ---------------------------------------------------------------------------------------------------------------
def plot(records: list[dict], path: Path) -> Path | None:
    """Left: each engine's time relative to the numpy floor per workload (log scale). Right: W6, the
    gradient's cost against the number of parameters for reverse mode and finite differences."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    threads = min(r["threads"] for r in records)
    records = [r for r in records if r["threads"] == threads]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [1.6, 1]})
    groups = [(r["workload"], r["variant"]) for r in records if r["engine"] == FLOOR
              and (r["workload"] != "W6" or r["variant"] == "P=1e5")]
    engines = [e for e in ("glassgrad", "torch", "micrograd") if any(r["engine"] == e for r in records)]
    width = 0.8 / max(len(engines), 1)
    colors = {"glassgrad": "tab:blue", "torch": "tab:orange", "micrograd": "tab:green", "numpy": "tab:gray",
              "finite-diff": "tab:red"}
    for k, engine in enumerate(engines):
        xs, ys = [], []
        for i, (key, variant) in enumerate(groups):
            mine, floor = _find(records, key, variant, engine, threads), _find(records, key, variant, FLOOR, threads)
            if mine and floor:
                xs.append(i + (k - (len(engines) - 1) / 2) * width)
                ys.append(mine["min"] / floor["min"])
        left.bar(xs, ys, width, label=ENGINE_NAMES[engine], color=colors[engine])
    left.axhline(1, color="black", lw=1, label="numpy floor")
    left.set_yscale("log")
    left.set_xticks(range(len(groups)))
    left.set_xticklabels([key if len(WORKLOADS[key].variants) == 1 else f"{key}\n{variant}"
                          for key, variant in groups])
    left.set_ylabel("time / numpy floor's time (min over samples)")
    left.set_title(f"Cost relative to hand-written numpy ({threads} thread{'s' if threads > 1 else ''})")
    left.legend(fontsize=8)
    left.grid(axis="y", which="both", alpha=0.3)

    w6 = [r for r in records if r["workload"] == "W6"]
    for engine in WORKLOADS["W6"].engines:
        points = sorted((r["notes"].get("P", 0), r["min"]) for r in w6 if r["engine"] == engine)
        if points:
            style = "--" if engine == "finite-diff" else "-"
            right.plot(*zip(*points), style, marker="o", label=ENGINE_NAMES[engine], color=colors[engine])
            if engine in ("finite-diff", FLOOR) and len(points) > 2:  # guides ending at the largest P
                power = 2 if engine == "finite-diff" else 1
                (p_max, t_max), p_from = points[-1], points[1][0]
                ends = [(p_from, t_max * (p_from / p_max) ** power), (p_max, t_max)]
                right.plot(*zip(*ends), ":", color="black", lw=1)
                middle = (p_from * p_max) ** 0.5
                right.annotate("∝ P²" if power == 2 else "∝ P", (middle, t_max * (middle / p_max) ** power),
                               textcoords="offset points", xytext=(4, -14), fontsize=9)
    if not w6:
        right.set_axis_off()
        right.text(0.5, 0.5, "W6 not run", ha="center", va="center")
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("parameters P")
    right.set_ylabel("ms per gradient (min)")
    right.set_title("W6: reverse mode O(P) vs finite differences O(P²)")
    if w6:
        right.legend(fontsize=8)
    right.grid(which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------------------------
# The machine
# ---------------------------------------------------------------------------------------------------------------
def machine() -> dict:
    """CPU, cores, memory, OS, and the versions that matter, read without importing torch."""
    import numpy as np

    cpu, physical = platform.processor() or platform.machine(), set()
    try:
        block: dict[str, str] = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines() + [""]:
            if ":" in line:
                k, v = (s.strip() for s in line.split(":", 1))
                block[k] = v
                cpu = block.get("model name", cpu)
            elif block:
                physical.add((block.get("physical id"), block.get("core id")))
                block = {}
    except OSError:
        pass
    logical = os.cpu_count() or 1
    cores = f"{logical} logical cores" + (f", {len(physical)} physical" if len(physical) > 1 else "")
    memory = "memory unknown"
    try:
        total = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
        memory = f"{int(total.group(1)) / 1024 / 1024:.0f} GB RAM" if total else memory
    except OSError:
        pass
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:
        blas = "BLAS unknown"

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    try:
        root = Path(__file__).resolve().parents[1]
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "autograd", "nn"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
        commit += " (with uncommitted changes)" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {"cpu": cpu, "cores": cores, "memory": memory, "os": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "numpy": np.__version__, "blas": blas,
            "torch": version("torch"), "micrograd": version("micrograd"), "commit": commit,
            "date": datetime.date.today().isoformat()}
