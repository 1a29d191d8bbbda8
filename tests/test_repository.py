"""The repository's promises: the layout, README commands that CI really runs, a clean ruff."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    block = re.search(r"<!-- setup -->\s*```(?:bash|sh)?\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert block, "README.md must keep its two set-up commands in the block after <!-- setup -->"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_top_level_is_exactly_the_documented_layout():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False).stdout
    if not tracked:
        pytest.skip("not a git checkout")
    top = {line.split("/")[0] for line in tracked.splitlines()}
    assert top <= {"pyproject.toml", "autograd", "nn", "tests", "notebooks", "benchmarks", "README.md",
                   "LICENSE", ".ci", ".gitignore"}


def test_readme_has_two_setup_commands_and_ci_runs_the_test_one():
    commands = readme_commands()
    assert len(commands) == 2, commands
    demo, tests = commands
    assert "pip install" in demo and "pip install" in tests and "pytest" in tests
    assert tests in (ROOT / ".ci" / "run").read_text()


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
def test_ruff_is_clean():
    result = subprocess.run(["ruff", "check", "."], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:]


def test_readme_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    runnable = [b for b in blocks if "import autograd" in b]  # the self-contained ones
    assert len(runnable) >= 2
    for block in runnable:
        subprocess.run([sys.executable, "-c", block], cwd=ROOT, check=True, capture_output=True, timeout=120)
