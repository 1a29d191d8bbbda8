"""The benchmark suite compares like with like: on small sizes of every workload, every installed engine
computes the same loss and gradients as glassgrad (the numpy floor by hand, PyTorch, micrograd, and finite
differences on W6), and the driver, the verdicts and the README update work end to end. No timings are
asserted here: performance lives in `python -m benchmarks`, never in tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import report  # noqa: E402
from benchmarks.workloads import WORKLOADS, available, gradient_error, tolerance  # noqa: E402

# every (workload, variant, engine) that the suite runs, glassgrad being the reference
CASES = [(key, variant, engine) for key, w in WORKLOADS.items() for variant in w.variants
         for engine in w.engines_for(variant) if engine != "glassgrad"]


def _check_agree(reference: dict, other: dict, what: str) -> None:
    errors = gradient_error(reference, other)
    limit = tolerance(reference, other)
    worst = max(errors, key=errors.get)
    assert errors[worst] <= limit, f"{what}: '{worst}' differs by {errors[worst]:.3g} (limit {limit:g})"


@pytest.mark.parametrize(("key", "variant", "engine"), CASES, ids=["-".join(c) for c in CASES])
def test_engines_agree_with_glassgrad(key: str, variant: str, engine: str) -> None:
    workload = WORKLOADS[key]
    if not available(engine):
        pytest.skip(f"{engine} is not installed")
    ours = workload.build("glassgrad", variant, small=True)
    theirs = workload.build(engine, variant, small=True)
    _check_agree(ours.gradients(), theirs.gradients(), f"{key} {variant} {engine}")
    if engine == "finite-diff":
        return
    # one timed step each (an SGD update for the training workloads), then the gradients must still agree:
    # this checks the floor's hand-written update against the optimiser, at a second point
    ours.step()
    theirs.step()
    _check_agree(ours.gradients(), theirs.gradients(), f"{key} {variant} {engine} after one step")


def test_the_comparison_catches_a_wrong_gradient() -> None:
    workload = WORKLOADS["W3"]
    good = workload.build("numpy", "100 points", small=True).gradients()
    bad = {k: v.copy() for k, v in good.items()}
    bad["2.weight"][0, 0] += 1e-3 * np.abs(bad["2.weight"]).max()
    assert max(gradient_error(good, bad).values()) > tolerance(good, bad)
    # and a wrong finite-difference estimate
    sampled = WORKLOADS["W6"].build("finite-diff", "P=1e2", small=True).gradients()
    reference = WORKLOADS["W6"].build("numpy", "P=1e2", small=True).gradients()
    sampled["fd.values"][0] += 1e-2
    assert gradient_error(reference, sampled)["fd.values"] > tolerance(reference, sampled)


def test_finite_differences_are_scaled_to_all_parameters() -> None:
    case = WORKLOADS["W6"].build("finite-diff", "P=1e4", small=True)
    p = case.notes["P"]
    assert case.scale == p / case.notes["sample"]
    assert p == WORKLOADS["W6"].build("numpy", "P=1e4", small=True).notes["P"]


def _record(workload: str, variant: str, engine: str, best: float, traced: int | None = None) -> dict:
    return {"workload": workload, "variant": variant, "engine": engine, "threads": 1,
            "unit": WORKLOADS[workload].unit, "min": best, "median": best * 1.5, "samples": 10,
            "faults_per_step": 0.0, "memory": {"rss": None, "traced": traced}, "gradient_error": None,
            "notes": {}}


def test_target_verdicts_use_minimum_times_and_report_misses() -> None:
    records = [_record("W2", "batch 128", "glassgrad", 3.3, 1300), _record("W2", "batch 128", "numpy", 3.0, 1000),
               _record("W4", "batch 64", "glassgrad", 9.0), _record("W4", "batch 64", "torch", 7.5)]
    verdicts = {v["target"]: v for v in report.evaluate_targets(records)}
    w2 = verdicts["W2: within 1.10x of the numpy floor"]
    assert w2["ratio"] == pytest.approx(1.1) and w2["met"]
    assert not verdicts["W4: no slower than PyTorch"]["met"]
    memory = verdicts["W2: peak memory within 1.3x of the floor's"]
    assert memory["ratio"] == pytest.approx(1.3) and memory["met"]
    table = report.targets_table(records)
    assert "**not met** (limit 1.0x)" in table and "1.20x (9 vs 7.5 ms/step)" in table


def test_readme_results_block_is_replaced(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.START}\nold\n{report.END}\noutro\n")
    report.update_readme(readme, "new table\n")
    assert readme.read_text() == f"intro\n{report.START}\nnew table\n{report.END}\noutro\n"
    (tmp_path / "plain.md").write_text("no markers")
    with pytest.raises(ValueError, match="results:start"):
        report.update_readme(tmp_path / "plain.md", "x")


def test_the_published_readme_has_a_results_block() -> None:
    text = (ROOT / "benchmarks" / "README.md").read_text()
    assert report.START in text and report.END in text
    assert "python -m benchmarks" in text


def test_the_driver_runs_end_to_end(tmp_path: Path) -> None:
    """One short round of W3 with two engines in their own processes: gradients verified, table printed."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "-w", "W3", "-e", "glassgrad", "numpy", "--repeats", "1",
         "--block", "0.02", "--no-plot", "--output", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| W3 | glassgrad |" in result.stdout and "| W3 | numpy (floor) |" in result.stdout
    assert "W3: within 2.0x of the numpy floor" in result.stdout
    records = json.loads((tmp_path / "results.json").read_text())["records"]
    assert {r["engine"] for r in records} == {"glassgrad", "numpy"}
    floor = next(r for r in records if r["engine"] == "numpy")
    assert floor["gradient_error"] <= 1e-9 and floor["min"] > 0 and floor["memory"]["traced"] > 0
