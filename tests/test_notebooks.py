"""The notebooks are lessons with asserts in them: each one must run from top to bottom, and the outputs stored
in it (what a reader sees on a code host) must be what running it prints today."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

_spec = importlib.util.spec_from_file_location("notebook_execute", ROOT / "notebooks" / "execute.py")
execute = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(execute)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_and_stored_outputs_are_current(path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    stored = nbformat.read(path, as_version=4)
    fresh = execute.execute(path)  # raises CellExecutionError, with the failing cell and its traceback
    problems = execute.stored_outputs_match(stored, fresh)
    assert not problems, (f"{path.name}: re-run with `python notebooks/execute.py {path.stem}`\n"
                          + "\n".join(problems))


def test_there_are_notebooks() -> None:
    assert {p.name for p in NOTEBOOKS} >= {"gradcheck.ipynb", "visualize.ipynb"}


def test_output_comparison_tolerates_rounding_but_not_other_numbers() -> None:
    assert execute._same_text("loss 0.1234567 after 3 steps", "loss 0.12345670000001 after 3 steps")
    assert not execute._same_text("loss 0.1234567 after 3 steps", "loss 0.1234 after 3 steps")
    assert not execute._same_text("loss 0.5", "loss 0.5 (diverged)")
    assert execute._same_text("created at /tmp/ipykernel_29286/1572753714.py:8",
                              "created at /tmp/ipykernel_5971/42.py:8")


def test_output_comparison_ignores_how_printed_text_was_split() -> None:
    # Under load the kernel can send one print as two stream outputs; the text is what counts. Addresses may be
    # printed in upper case (numpy's Generator(PCG64) at 0x7F029C3792A0).
    nbformat = pytest.importorskip("nbformat")
    one_piece = nbformat.v4.new_code_cell("print(x)", execution_count=1, outputs=[
        nbformat.v4.new_output("stream", name="stdout", text="loss 0.693147\nacc 1.0\n"),
        nbformat.v4.new_output("execute_result", data={"text/plain": "Generator(PCG64) at 0x7F029C3792A0"})])
    two_pieces = nbformat.v4.new_code_cell("print(x)", execution_count=1, outputs=[
        nbformat.v4.new_output("stream", name="stdout", text="loss 0.693147"),
        nbformat.v4.new_output("stream", name="stdout", text="\nacc 1.0\n"),
        nbformat.v4.new_output("execute_result", data={"text/plain": "Generator(PCG64) at 0x7F65F3D710E0"})])
    stored, fresh = nbformat.v4.new_notebook(cells=[one_piece]), nbformat.v4.new_notebook(cells=[two_pieces])
    assert execute.stored_outputs_match(stored, fresh) == []
    other = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(x)", execution_count=1, outputs=[
        nbformat.v4.new_output("stream", name="stdout", text="loss 0.693147"),
        nbformat.v4.new_output("stream", name="stderr", text="\nacc 1.0\n")])])
    assert execute.stored_outputs_match(stored, other)       # stdout and stderr are different streams
    execute.strip_volatile_metadata(fresh)                    # what execute.py saves: the pieces joined
    assert [o.get("text") for o in fresh.cells[0].outputs][:1] == ["loss 0.693147\nacc 1.0\n"]
    assert len(fresh.cells[0].outputs) == 2
