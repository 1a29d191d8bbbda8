"""Execute lesson notebooks top to bottom and store their outputs, so that they read well on a code host.

    python notebooks/execute.py                       # every notebook in this folder
    python notebooks/execute.py 05_backprop_by_hand   # some of them (names with or without .ipynb)

The kernel imports this checkout's `autograd` and `nn` (whatever copy pip installed), runs in a scratch
directory (files a lesson writes do not land in the repository), and the saved file keeps only what a reader
needs: outputs and execution counts, no timestamps. `tests/test_notebooks.py` re-executes every notebook and
checks that the printed numbers still match the stored ones (`stored_outputs_match`).
"""

from __future__ import annotations

import copy
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NONDETERMINISTIC = "nondeterministic"  # a cell tag: its printed text varies between runs (timings), not compared


def execute(path: Path, timeout: int = 300) -> Any:
    """Run the notebook at `path` in a fresh kernel and return the executed notebook (not saved)."""
    import nbclient
    import nbformat

    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    # One BLAS thread: the lessons' matrices are small, and on a busy 2-core machine OpenBLAS's second thread
    # made a cell 15x slower (6.4 s instead of 0.41 s for the autoencoder of lesson 14).
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    # The same machine code on every x86-64 machine, so that the printed numbers of a training run are the
    # stored ones everywhere: numpy picks AVX-512 loops for exp/tanh/sums and OpenBLAS picks its kernels by CPU,
    # and a lesson trained on an AVX-512 machine printed MSE 5.15e-05 where an AVX2 machine printed 4.32e-04.
    # AVX2 (Haswell, 2013) is the common ground; both settings are ignored where they do not apply.
    os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")
    os.environ.setdefault("NPY_DISABLE_CPU_FEATURES", " ".join(_avx512_loops_in_use()))
    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as scratch:
        client = nbclient.NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                                         resources={"metadata": {"path": scratch}})
        client.execute()
    return notebook


def _avx512_loops_in_use() -> list[str]:
    """The AVX-512 feature groups this numpy dispatches to on this machine (their names vary across numpy
    versions: AVX512_SKX before 2.4, X86_V4 since), so that the kernel can be told to leave them out."""
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    except ImportError:  # numpy 1.x keeps them in numpy.core
        from numpy.core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    return [name for name in __cpu_dispatch__
            if ("AVX512" in name or name == "X86_V4") and __cpu_features__.get(name)]


def strip_volatile_metadata(notebook: Any) -> None:
    """Drop what changes on every run without meaning anything (execution timestamps), and join the pieces of
    printed text that the kernel happened to send separately (see `_join_streams`)."""
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = _join_streams(cell.outputs)


def _join_streams(outputs: list) -> list:
    """Consecutive stream outputs of the same stream as one. The kernel flushes stdout on a timer, so under load
    one print can arrive as two outputs ('...0.693147' and '\\n...'): how the text was cut is not part of it."""
    joined: list = []
    for output in outputs:
        if (output.get("output_type") == "stream" and joined and joined[-1].get("output_type") == "stream"
                and joined[-1].get("name") == output.get("name")):
            merged = copy.copy(joined[-1])         # keeps the NotebookNode type; the stored cell is not changed
            merged["text"] = joined[-1].get("text", "") + output.get("text", "")
            joined[-1] = merged
        else:
            joined.append(output)
    return joined


_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
# Text that differs on every run without meaning anything: the kernel's name for a cell's code
# (/tmp/ipykernel_29286/1572753714.py), scratch directories and object addresses.
_VOLATILE = [(re.compile(r"/tmp/ipykernel_\d+/\d+\.py"), "<cell>"),
             (re.compile(re.escape(tempfile.gettempdir()) + r"/[\w.-]+"), "<tmp>"),
             (re.compile(r"0x[0-9a-f]{6,}", re.IGNORECASE), "<address>")]


def _text_outputs(cell: Any) -> list[str]:
    """The printed text of a code cell: streams, plain-text results and errors (pictures are not compared)."""
    texts = []
    for output in _join_streams(cell.get("outputs", [])):
        kind = output.get("output_type")
        if kind == "stream":
            texts.append(f"[{output.get('name')}] {output.get('text', '')}")
        elif kind in ("execute_result", "display_data") and "text/plain" in output.get("data", {}):
            if not any(key.startswith("image/") or key == "text/html" for key in output["data"]):
                texts.append(output["data"]["text/plain"])
        elif kind == "error":
            texts.append(f"{output.get('ename')}: {output.get('evalue')}")
    return texts


def _same_text(stored: str, fresh: str, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
    """Equal text, where numbers may differ by float rounding (another BLAS can change the last digit)."""
    for pattern, placeholder in _VOLATILE:
        stored, fresh = pattern.sub(placeholder, stored), pattern.sub(placeholder, fresh)
    if _NUMBER.sub("#", stored) != _NUMBER.sub("#", fresh):
        return False
    for a, b in zip(_NUMBER.findall(stored), _NUMBER.findall(fresh)):
        if a != b and abs(float(a) - float(b)) > atol + rtol * abs(float(b)):
            return False
    return True


def stored_outputs_match(stored: Any, fresh: Any) -> list[str]:
    """Differences between the printed outputs saved in a notebook and those of a fresh run (empty: none).
    Every code cell must have been stored executed; cells tagged `nondeterministic` are not compared."""
    problems = []
    code = [(s, f) for s, f in zip(stored.cells, fresh.cells) if s.cell_type == "code"]
    for number, (s, f) in enumerate(code, 1):
        if s.source.strip() and s.get("execution_count") is None:
            problems.append(f"code cell {number} was stored without being executed (run notebooks/execute.py)")
            continue
        if NONDETERMINISTIC in s.metadata.get("tags", []):
            continue
        old, new = _text_outputs(s), _text_outputs(f)
        if len(old) != len(new) or not all(_same_text(a, b) for a, b in zip(old, new)):
            problems.append(f"code cell {number} printed something else than what is stored:\n"
                            f"  stored: {''.join(old)[:400]!r}\n  now:    {''.join(new)[:400]!r}")
    return problems


def main(names: list[str]) -> None:
    import nbformat

    paths = [HERE / (n if n.endswith(".ipynb") else n + ".ipynb") for n in names] or sorted(HERE.glob("*.ipynb"))
    for path in paths:
        start = time.perf_counter()
        notebook = execute(path)
        strip_volatile_metadata(notebook)
        nbformat.write(notebook, path)
        print(f"{path.name}: executed and saved in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main([Path(a).name for a in sys.argv[1:]])
