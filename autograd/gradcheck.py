"""Checking gradients against finite differences.

The idea: for a function f and an input x, the j-th column of the Jacobian is the directional derivative of f
along the j-th unit vector e_j, which central differences approximate to O(eps^2):

    J[:, j] ~ (f(x + eps e_j) - f(x - eps e_j)) / (2 eps)

Reverse mode gives the rows instead: row k is the vector-Jacobian product with the k-th unit vector of the
output. `gradcheck` builds both Jacobians (in float64) and compares them entry by entry.

Fast mode needs neither Jacobian. For a random direction u of the input and a random vector v of the output,
one central difference gives the number v . J u, and one backward pass gives (v J) . u; they must agree.
That is two function evaluations per input and one backward pass in all, so a whole network can be checked.
When they disagree, halving the set of coordinates of u that are switched on (and, on the output side, of v)
finds the Jacobian entries at fault in O(log n) steps per entry.

Three things make the verdict trustworthy:
- float64: the inputs are switched to float64 copies for the duration of the check (float32 central
  differences with eps=1e-6 are noise), and the report says when the function computed in float32 anyway;
- kinks: where a failing element sits within eps of a non-differentiable point (relu or abs at 0, a tie in
  max), the one-sided differences (f(x+h) - f(x))/h and (f(x) - f(x-h))/h disagree however small h gets;
  such an element is reported as a "non-differentiable point", not as a wrong gradient, as long as the
  analytical value lies between the two one-sided derivatives (`nudge=True` moves such inputs away instead);
- the report: every disagreeing input/output pair with the input's name, the element, the output element,
  both values, the errors, the tolerance, how many entries failed out of how many, and a hint when the
  pattern is telling (wrong sign, a constant factor, a gradient that never arrives). It fits on a screen.

`check_graph(output)` applies the fast check to every node of a graph that was already built, one operation
at a time, and names the first operation whose VJP is wrong, with the line of code that created it.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .core import Node, Tensor, Unkept, format_location
from .engine import grad
from .grad_mode import Mode, enable_grad, no_grad
from .kernels import as_stored

__all__ = ["gradcheck", "gradgradcheck", "check_graph", "record_locations", "numerical_jacobian",
           "analytical_jacobian", "GradcheckError", "GradcheckWarning", "GradcheckReport"]

_MAX_ENTRIES = 5  # disagreeing entries listed per input/output pair
_MAX_PAIRS = 6  # input/output pairs listed in full
_MAX_CLASSIFIED = 64  # failing elements examined for kinks (the rest of a wholesale failure is counted as is)
_MAX_LOCATED = 32  # elements located by bisection per input in fast mode


class GradcheckError(AssertionError):
    """Raised by gradcheck when analytical and numerical gradients disagree; `.report` has the details."""

    def __init__(self, message: str, report: GradcheckReport | None = None) -> None:
        super().__init__(message)
        self.report = report


class GradcheckWarning(UserWarning):
    """A check passed, but with a caveat: non-differentiable points, or a function that computes in float32."""


# ---------------------------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class Mismatch:
    """One Jacobian entry d output[output_element] / d input[element] where the two sides disagree."""

    input: int
    element: tuple
    output: int
    output_element: tuple
    numerical: float
    analytical: float
    tolerance: float
    kink: tuple | None = None  # (left, right) one-sided derivatives, when the element sits on a kink

    @property
    def abs_error(self) -> float:
        return abs(self.analytical - self.numerical)

    @property
    def rel_error(self) -> float:
        return self.abs_error / abs(self.numerical) if self.numerical else math.inf * (self.abs_error > 0)


@dataclass
class PairFailure:
    """All disagreeing entries between one input and one output."""

    input: int
    output: int
    failed: int  # how many entries disagree (a lower bound when `exact` is False)
    total: int  # how many entries the pair has
    exact: bool
    entries: list[Mismatch]
    hint: str | None = None


@dataclass
class Kink:
    """An input element on (or within eps of) a non-differentiable point, whose analytical value lies between
    the one-sided derivatives: not a wrong gradient, but not verifiable by differences either."""

    input: int
    element: tuple
    output: int
    output_element: tuple
    left: float
    right: float
    analytical: float


@dataclass
class GradcheckReport:
    """What a check found; `str(report)` is the text gradcheck raises with."""

    mode: str
    eps: float
    atol: float
    rtol: float
    input_names: list[str]  # "input 1 'w'"
    input_symbols: list[str]  # "w" (or "x1"), used in d out[...] / d w[...]
    input_shapes: list[tuple]
    output_names: list[str]
    output_symbols: list[str]
    output_shapes: list[tuple]
    failures: list[PairFailure] = field(default_factory=list)
    kinks: list[Kink] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    title: str = "gradcheck"

    @property
    def passed(self) -> bool:
        return not self.failures

    def element_name(self, i: int, element: tuple) -> str:
        return f"{self.input_symbols[i]}{_index(element)}"

    def __str__(self) -> str:
        lines = []
        inputs = sorted({f.input for f in self.failures})
        if self.failures:
            lines.append(f"{self.title} failed: the analytical gradient of {len(inputs)} input"
                         f"{'s' if len(inputs) != 1 else ''} ({', '.join(self._input(i) for i in inputs)}) "
                         "disagrees with finite differences")
        else:
            lines.append(f"{self.title} passed")
        lines.append(f"  {self.mode} mode, float64, eps={self.eps:g}; an entry passes if |analytical - numerical| "
                     f"<= atol + rtol*|numerical| (atol={self.atol:g}, rtol={self.rtol:g})")
        lines.extend("  note: " + n for n in self.notes)
        for failure in self.failures[:_MAX_PAIRS]:
            lines.append("")
            lines.extend(self._pair_lines(failure))
        if len(self.failures) > _MAX_PAIRS:
            rest = self.failures[_MAX_PAIRS:]
            lines.append(f"\n... and {len(rest)} more input/output pairs: " + ", ".join(
                f"{self._input(f.input)} -> {self.output_names[f.output]} ({f.failed} entries)" for f in rest[:8])
                + (" ..." if len(rest) > 8 else ""))
        if self.kinks:
            lines.append("")
            lines.append(f"non-differentiable points ({len(self.kinks)} entries; not counted as wrong gradients: "
                         "the analytical value lies between the one-sided derivatives; nudge=True moves these "
                         "inputs off the kink and checks them properly):")
            for kink in self.kinks[:_MAX_ENTRIES]:
                lines.append(f"    d {self._out(kink.output, kink.output_element)} / d "
                             f"{self.element_name(kink.input, kink.element)}: left derivative {kink.left:.6g}, "
                             f"right derivative {kink.right:.6g}, analytical {kink.analytical:.6g}")
            if len(self.kinks) > _MAX_ENTRIES:
                lines.append(f"    ... and {len(self.kinks) - _MAX_ENTRIES} more")
        return "\n".join(lines)

    def _input(self, i: int) -> str:
        return self.input_names[i]

    def _out(self, k: int, element: tuple) -> str:
        return f"{self.output_symbols[k]}{_index(element)}"

    def _pair_lines(self, f: PairFailure) -> list[str]:
        shape_in, shape_out = self.input_shapes[f.input], self.output_shapes[f.output]
        count = f"{f.failed} of {f.total}" if f.exact else f"at least {f.failed} of {f.total}"
        lines = [f"{self._input(f.input)} (shape {shape_in}) -> {self.output_names[f.output]} (shape {shape_out}): "
                 f"{count} Jacobian entries disagree"]
        rows = []
        seen: set = set()
        first = [m for m in f.entries if not (m.element in seen or seen.add(m.element))]  # one per element first
        ordered = first + [m for m in f.entries if all(m is not e for e in first)]
        for m in ordered[:_MAX_ENTRIES]:
            what = f"d {self._out(m.output, m.output_element)} / d {self.element_name(m.input, m.element)}"
            rows.append((what, m))
        width = max((len(w) for w, _ in rows), default=0)
        for what, m in rows:
            line = (f"    {what:<{width}}  numerical {m.numerical:>11.6g}  analytical {m.analytical:>11.6g}  "
                    f"abs err {m.abs_error:.3g}  rel err {m.rel_error:.3g}  tol {m.tolerance:.3g}")
            if m.kink is not None:
                line += (f"  [non-differentiable point, one-sided derivatives {m.kink[0]:.6g} and "
                         f"{m.kink[1]:.6g}: the analytical value is neither]")
            lines.append(line)
        if f.failed > len(rows):
            lines.append(f"    ... {f.failed - len(rows)}{'' if f.exact else '+'} more")
        if f.hint:
            lines.append(f"  hint: {f.hint}")
        return lines


def _index(element: tuple) -> str:
    return "[" + ", ".join(str(int(e)) for e in element) + "]" if element else ""


# ---------------------------------------------------------------------------------------------------------------
# Inputs: float64 working copies installed for the duration of a check
# ---------------------------------------------------------------------------------------------------------------
def _as_tuple(x: Any) -> tuple:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _is_float_tensor(x: Any) -> bool:
    return isinstance(x, Tensor) and x.dtype.kind == "f"


@contextlib.contextmanager
def _float64_inputs(inputs: Sequence[Any]) -> Iterator[tuple[list[Any], list[np.ndarray | None]]]:
    """Switch every floating-point input to a private float64 copy of its values, and switch back after.

    Leaves are switched in place, so a function that reads a tensor from a closure (a model's parameters)
    computes with the same float64 copy as one that receives it as an argument. A non-leaf input is replaced
    by a detached float64 leaf (the check is about the function, not about how the input was made).
    Yields the arguments to call the function with and, per argument, its float64 working array (or None).
    """
    args: list[Any] = []
    work: list[np.ndarray | None] = []
    restore: list[tuple[Tensor, Any]] = []
    try:
        for x in inputs:
            if not _is_float_tensor(x):
                args.append(x)
                work.append(None)
                continue
            data = np.array(x._data, dtype=np.float64, order="C")  # C order: reshape(-1) below must be a view
            if x.grad_fn is None:
                restore.append((x, x._data))
                x._data = as_stored(data)
                args.append(x)
            else:
                copy = Tensor._wrap(as_stored(data))
                copy.requires_grad = True
                args.append(copy)
            work.append(data)
        yield args, work
    finally:
        for x, original in restore:
            x._data = original


# ---------------------------------------------------------------------------------------------------------------
# The checker
# ---------------------------------------------------------------------------------------------------------------
class _Check:
    """Numerical and analytical derivatives of `fn` at `args` (already float64), and their comparison."""

    def __init__(self, fn: Callable, args: list, work: list, names: list[str], eps: float, atol: float,
                 rtol: float, seed: int, grad_mode: bool = False) -> None:
        self.fn, self.args, self.work = fn, args, work
        self.names = names
        self.eps, self.atol, self.rtol = eps, atol, rtol
        self.rng = np.random.default_rng(seed)
        self.wrt = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
        if not self.wrt:
            raise ValueError("gradcheck: no input requires grad, so there is nothing to check; pass the tensors to "
                             "check with requires_grad=True")
        for i in self.wrt:
            if work[i] is None:
                raise TypeError(f"gradcheck: {names[i]} requires grad but has dtype {args[i].dtype}")
        self.grad_mode = grad_mode  # evaluate fn with grad enabled (it differentiates internally)
        self.notes: list[str] = []
        self.f0 = self._first_evaluation()

    # --- evaluating the function ------------------------------------------------------------------------------
    def _call(self) -> tuple:
        if self.grad_mode:
            return _as_tuple(self.fn(*self.args))
        with no_grad():
            return _as_tuple(self.fn(*self.args))

    def _first_evaluation(self) -> np.ndarray:
        try:
            outs = self._call()
        except Exception:
            if self.grad_mode:
                raise
            self.grad_mode = True  # fn may differentiate internally (it calls grad): let it
            outs = self._call()
        self.out_positions = [k for k, o in enumerate(outs) if _is_float_tensor(o)]
        if not self.out_positions:
            raise ValueError("gradcheck: the function returned no floating-point tensor to check")
        self.out_shapes = [outs[k].shape for k in self.out_positions]
        self.out_sizes = [int(np.prod(s)) for s in self.out_shapes]
        self.out_offsets = np.cumsum([0, *self.out_sizes])
        low = [outs[k].dtype for k in self.out_positions if outs[k].dtype != np.float64]
        self.low_precision = bool(low)
        return self._flatten(outs)

    def _flatten(self, outs: tuple) -> np.ndarray:
        parts = [np.asarray(outs[k]._data, dtype=np.float64).reshape(-1) for k in self.out_positions]
        return np.concatenate(parts) if parts else np.zeros(0)

    def evaluate(self) -> np.ndarray:
        """f at the current input values, all checked outputs flattened into one float64 vector."""
        return self._flatten(self._call())

    def _install(self, i: int, array: np.ndarray) -> None:
        self.args[i]._data = as_stored(array)

    def at(self, i: int, array: np.ndarray) -> np.ndarray:
        """f with input i set to `array` (the input's working values are put back afterwards)."""
        self._install(i, array)
        try:
            return self.evaluate()
        finally:
            self._install(i, self.work[i])

    def column(self, i: int, j: int, h: float) -> np.ndarray:
        """Central difference (f(x + h e_j) - f(x - h e_j)) / 2h: column j of input i's Jacobian block."""
        plus, minus = self.one_sided(i, j, h)
        return (plus - minus) / (2 * h)

    def one_sided(self, i: int, j: int, h: float) -> tuple[np.ndarray, np.ndarray]:
        """f(x + h e_j) and f(x - h e_j)."""
        base = self.work[i]
        flat = base.reshape(-1)
        original = flat[j]
        try:
            flat[j] = original + h
            self._install(i, base)
            plus = self.evaluate()
            flat[j] = original - h
            self._install(i, base)
            minus = self.evaluate()
        finally:
            flat[j] = original
            self._install(i, base)
        return plus, minus

    def directional(self, i: int, u: np.ndarray, h: float) -> np.ndarray:
        """(f(x + h u) - f(x - h u)) / 2h for a direction u in input i's (flattened) space."""
        plus, minus = self.directional_sides(i, u, h)
        return (plus - minus) / (2 * h)

    def directional_sides(self, i: int, u: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray]:
        """f(x + h u) and f(x - h u)."""
        base = self.work[i]
        step = (h * u).reshape(base.shape)
        return self.at(i, base + step), self.at(i, base - step)

    # --- reverse mode -----------------------------------------------------------------------------------------
    def build_graph(self) -> None:
        """Run fn once with grad enabled; `vjp` then reuses this graph."""
        with enable_grad():
            outs = _as_tuple(self.fn(*self.args))
        self.graph_outputs = [outs[k] for k in self.out_positions]

    def vjp(self, v: np.ndarray) -> list[np.ndarray | None]:
        """v J for the flattened output vector v: per input (None for unchecked ones), flattened float64."""
        pairs = [(o, v[a:b].reshape(o.shape)) for o, a, b in
                 zip(self.graph_outputs, self.out_offsets[:-1], self.out_offsets[1:]) if o.requires_grad]
        result: list[np.ndarray | None] = [None] * len(self.args)
        for i in self.wrt:
            result[i] = np.zeros(self.work[i].size)
        if not pairs:
            return result
        grads = grad([o for o, _ in pairs], [self.args[i] for i in self.wrt],
                     [Tensor._wrap(as_stored(np.asarray(g, dtype=o.dtype))) for o, g in pairs],
                     retain_graph=True, allow_unused=True)
        for i, g in zip(self.wrt, grads):
            if g is None:
                continue
            if g.shape != self.work[i].shape:
                raise RuntimeError(f"gradcheck: the gradient of {self.names[i]} has shape {g.shape}, but the "
                                   f"input has shape {self.work[i].shape}")
            result[i] = np.asarray(g._data, dtype=np.float64).reshape(-1)
        return result

    def analytical_rows(self) -> list[np.ndarray | None]:
        """The full reverse-mode Jacobian per input, shape (all outputs, input size): one backward per row."""
        self.build_graph()
        total = self.f0.size
        jac: list[np.ndarray | None] = [np.zeros((total, self.work[i].size)) if i in self.wrt else None
                                        for i in range(len(self.args))]
        seed = np.zeros(total)
        for row in range(total):
            seed[row] = 1
            for i, g in enumerate(self.vjp(seed)):
                if g is not None:
                    jac[i][row] = g  # type: ignore[index]
            seed[row] = 0
        return jac

    # --- comparing ----------------------------------------------------------------------------------------------
    def close(self, numerical: Any, analytical: Any) -> Any:
        numerical, analytical = np.asarray(numerical), np.asarray(analytical)
        with np.errstate(invalid="ignore"):
            ok = np.abs(analytical - numerical) <= self.atol + self.rtol * np.abs(numerical)
        same = (numerical == analytical) | (np.isnan(numerical) & np.isnan(analytical))
        return ok | same

    def tolerance(self, numerical: float) -> float:
        return float(self.atol + self.rtol * abs(numerical))

    def output_of(self, row: int) -> tuple[int, tuple]:
        k = int(np.searchsorted(self.out_offsets, row, side="right") - 1)
        local = row - self.out_offsets[k]
        return k, tuple(int(e) for e in np.unravel_index(local, self.out_shapes[k])) if self.out_shapes[k] else ()

    def element_of(self, i: int, j: int) -> tuple:
        shape = self.work[i].shape
        return tuple(int(e) for e in np.unravel_index(j, shape)) if shape else ()

    def sides(self, i: int, j: int, rows: np.ndarray, h: float) -> tuple[np.ndarray, ...]:
        """At steps h and h/10: the central difference (step h) and the left and right one-sided derivatives
        (step h/10) for the given rows of column j, and which rows sit on a kink. At a smooth point the jump
        between the one-sided slopes shrinks with the step (it is ~ f'' h); at a kink it does not."""
        f0 = self.f0[rows]
        plus, minus = self.one_sided(i, j, h)
        central = (plus[rows] - minus[rows]) / (2 * h)
        jump = np.abs(plus[rows] + minus[rows] - 2 * f0) / h
        plus2, minus2 = self.one_sided(i, j, h / 10)
        right2, left2 = (plus2[rows] - f0) * 10 / h, (f0 - minus2[rows]) * 10 / h
        jump2 = np.abs(right2 - left2)
        tol = self.atol + self.rtol * np.maximum(np.abs(left2), np.abs(right2))
        return central, left2, right2, (jump2 > tol) & (jump2 > 0.5 * jump)

    def classify(self, i: int, j: int, rows: np.ndarray, analytical: np.ndarray) -> list[tuple | str | None]:
        """Why do these rows of column j disagree? Per row: "ok" (a kink lies within eps, and with a smaller
        step the two sides agree), a (left, right) pair (a non-differentiable point; the analytical value lies
        between them when it is a valid one-sided choice), or None (a wrong gradient at a smooth point)."""
        central, left, right, kink = self.sides(i, j, rows, self.eps / 10)
        verdicts: list[tuple | str | None] = ["ok" if ok else None for ok in self.close(central, analytical)]
        for r, v in enumerate(verdicts):
            if v is None and kink[r]:
                verdicts[r] = (float(left[r]), float(right[r]))
        return verdicts

    def jumps(self, plus: np.ndarray, minus: np.ndarray, h: float) -> np.ndarray:
        """Rows where the one-sided slopes (f(x+h) - f(x))/h and (f(x) - f(x-h))/h differ: kink candidates."""
        right, left = (plus - self.f0) / h, (self.f0 - minus) / h
        with np.errstate(invalid="ignore"):
            return np.abs(right - left) > self.atol + self.rtol * np.maximum(np.abs(left), np.abs(right))

    def within(self, kink: tuple, analytical: float) -> bool:
        lo, hi = min(kink), max(kink)
        slack = self.atol + self.rtol * max(abs(lo), abs(hi))
        return lo - slack <= analytical <= hi + slack


def _hint(numerical: np.ndarray, analytical: np.ndarray, output_requires_grad: bool) -> str | None:
    """A diagnosis from the pattern of disagreeing entries, when there is a clear one."""
    if not output_requires_grad:
        return ("this output does not require grad: it was computed outside the graph (numpy on .data, "
                "detach(), no_grad()), yet it changes with the input")
    finite = np.isfinite(numerical)
    broken = finite & ~np.isfinite(analytical)
    if broken.any():
        return (f"the analytical gradient is nan or inf at {int(broken.sum())} of these entries where finite "
                "differences are finite: an overflow or 0/0 in the backward (detect_anomaly() names the op)")
    big = np.abs(numerical) > 1e-8
    if not np.any(analytical) and np.any(big):
        return ("the analytical gradient is exactly zero where the numerical one is not: the gradient never "
                "arrives (a detach(), .data or numpy call on the path, or a VJP that returns zeros)")
    if big.sum() >= 1 and np.all(big):
        ratio = analytical / numerical
        if np.allclose(ratio, ratio[0], rtol=1e-4, atol=1e-6) and abs(ratio[0] - 1) > 1e-3:
            c = ratio[0]
            if abs(c + 1) < 1e-3:
                return "analytical = -numerical on every disagreeing entry: the gradient has the wrong sign"
            return (f"analytical = {c:.6g} x numerical on every disagreeing entry: a constant factor is wrong "
                    "(a missing or extra chain-rule factor, or a wrong count in a mean?)")
    return None


def _names(inputs: Sequence[Any], names: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """How the report calls each input: a long name ("input 1 'w'") and a symbol ("w", or "x1")."""
    long, short = [], []
    for i, x in enumerate(inputs):
        label = names[i] if names is not None and i < len(names) else getattr(x, "_label", None)
        long.append(f"input {i} '{label}'" if label else f"input {i}")
        short.append(str(label) if label else f"x{i}")
    return long, short


# ---------------------------------------------------------------------------------------------------------------
# Full and fast mode
# ---------------------------------------------------------------------------------------------------------------
def _full_mode(check: _Check, report: GradcheckReport) -> list[tuple[int, int]]:
    """Compare the full Jacobians; returns the kink elements (input, flat index) found."""
    numerical = {i: np.zeros((check.f0.size, check.work[i].size)) for i in check.wrt}
    candidates: dict[tuple[int, int], np.ndarray] = {}  # kink candidates among the elements that pass
    for i in check.wrt:
        for j in range(check.work[i].size):
            plus, minus = check.one_sided(i, j, check.eps)
            numerical[i][:, j] = (plus - minus) / (2 * check.eps)
            jumps = check.jumps(plus, minus, check.eps)
            if jumps.any() and len(candidates) < _MAX_CLASSIFIED:
                candidates[(i, j)] = np.nonzero(jumps)[0]
    analytical = check.analytical_rows()
    kinks: list[tuple[int, int]] = []
    for i in check.wrt:
        num, ana = numerical[i], analytical[i]
        bad = ~check.close(num, ana)
        columns = np.nonzero(bad.any(axis=0))[0]
        mismatches: list[Mismatch] = []
        failed_mask = bad.copy()
        for n_col, j in enumerate(columns):
            rows = np.nonzero(bad[:, j])[0]
            verdicts = check.classify(i, j, rows, ana[rows, j]) if n_col < _MAX_CLASSIFIED else \
                [None] * len(rows)
            for r, verdict in zip(rows, verdicts):
                if verdict == "ok":
                    failed_mask[r, j] = False
                    continue
                if isinstance(verdict, tuple):
                    kinks.append((i, j))
                    if check.within(verdict, ana[r, j]):
                        failed_mask[r, j] = False
                        k, out_el = check.output_of(r)
                        report.kinks.append(Kink(i, check.element_of(i, j), k, out_el, verdict[0], verdict[1],
                                                 float(ana[r, j])))
                        continue
                k, out_el = check.output_of(r)
                mismatches.append(Mismatch(i, check.element_of(i, j), k, out_el, float(num[r, j]),
                                           float(ana[r, j]), check.tolerance(num[r, j]),
                                           verdict if isinstance(verdict, tuple) else None))
        _add_pair_failures(check, report, i, mismatches, failed_mask, num, ana, exact=True)
        for (ci, j), rows in candidates.items():  # passing elements that sit on a kink: say so
            if ci == i and not bad[:, j].any():
                kinks.extend(_passing_kinks(check, report, i, j, rows, ana[rows, j]))
    return kinks


def _passing_kinks(check: _Check, report: GradcheckReport, i: int, j: int, rows: np.ndarray,
                   analytical: np.ndarray) -> list[tuple[int, int]]:
    """Record the rows of a passing column j that sit on a kink (the central difference agreed, typically
    because the analytical value is the average of the one-sided derivatives, like abs'(0) = 0)."""
    _, left, right, kink = check.sides(i, j, rows, check.eps / 10)
    found = []
    for r, lo, hi, is_kink, a in zip(rows, left, right, kink, analytical):
        if is_kink:
            k, out_el = check.output_of(int(r))
            report.kinks.append(Kink(i, check.element_of(i, j), k, out_el, float(lo), float(hi), float(a)))
            found.append((i, j))
    return found


def _add_pair_failures(check: _Check, report: GradcheckReport, i: int, mismatches: list[Mismatch],
                       failed_mask: np.ndarray | None, num: np.ndarray | None, ana: np.ndarray | None,
                       exact: bool, counts: dict | None = None) -> None:
    for k in range(len(check.out_shapes)):
        entries = [m for m in mismatches if m.output == k]
        if not entries:
            continue
        a, b = check.out_offsets[k], check.out_offsets[k + 1]
        total = (b - a) * check.work[i].size
        if failed_mask is not None:
            failed = int(failed_mask[a:b].sum())
            block = failed_mask[a:b]
            hint = _hint(num[a:b][block], ana[a:b][block], _output_requires_grad(check, k))  # type: ignore
        else:
            failed = counts[k] if counts else len(entries)
            hint = _hint(np.array([m.numerical for m in entries]), np.array([m.analytical for m in entries]),
                         _output_requires_grad(check, k))
        report.failures.append(PairFailure(i, k, failed, total, exact, entries, hint))


def _output_requires_grad(check: _Check, k: int) -> bool:
    outs = getattr(check, "graph_outputs", None)
    return True if outs is None else bool(outs[k].requires_grad)


def _bisect(n: int, fails: Callable[[int, int], bool], limit: int) -> tuple[list[int], bool]:
    """The indices j in range(n) for which fails(j, j + 1), found by halving the ranges for which fails(lo, hi)
    holds; the whole range is known to fail. Returns (indices in order, whether the search was complete)."""
    found: list[int] = []
    stack = [(n // 2, n), (0, n // 2)] if n > 1 else [(0, 1)]
    while stack:
        lo, hi = stack.pop()
        if hi <= lo or not fails(lo, hi):
            continue
        if hi - lo == 1:
            found.append(lo)
            if len(found) >= limit:
                return found, not stack
            continue
        mid = (lo + hi) // 2
        stack.extend([(mid, hi), (lo, mid)])
    return found, True


def _fast_mode(check: _Check, report: GradcheckReport) -> list[tuple[int, int]]:
    """Random-direction check per input; on failure, locate the entries at fault by bisection."""
    check.build_graph()
    total = check.f0.size
    v = check.rng.standard_normal(total)
    v /= max(np.linalg.norm(v), 1e-300)
    a = check.vjp(v)
    kinks: list[tuple[int, int]] = []
    for i in check.wrt:
        n = check.work[i].size
        if n == 0 or total == 0:
            continue
        u = check.rng.standard_normal(n)
        u /= np.linalg.norm(u)
        ai = a[i]
        plus, minus = check.directional_sides(i, u, check.eps)
        numerical = float(v @ (plus - minus)) / (2 * check.eps)
        if check.close(numerical, float(ai @ u)):  # type: ignore[operator]
            if check.jumps(plus, minus, check.eps).any():  # passes, but crosses a kink: find and report it
                kinks.extend(_fast_kinks(check, report, i, u))
            continue
        located, complete, columns = _locate_inputs(check, i, u, v, ai)  # type: ignore[arg-type]
        if not located:
            report.notes.append(
                f"{check.names[i]}: the random-direction check failed (numerical {numerical:.6g}, analytical "
                f"{float(ai @ u):.6g}) but no single element could be isolated; run with fast_mode=False")
            report.failures.append(PairFailure(i, 0, 1, total * n, False, [], None))
            continue
        mismatches, counts, kinks_i, outputs_complete = _locate_outputs(check, report, i, located, columns)
        kinks.extend(kinks_i)
        _add_pair_failures(check, report, i, mismatches, None, None, None, exact=complete and outputs_complete,
                           counts=counts)
    return kinks


def _fast_kinks(check: _Check, report: GradcheckReport, i: int, u: np.ndarray) -> list[tuple[int, int]]:
    """Input elements of a passing input that sit on kinks: bisect on "the one-sided slopes along the
    switched-on part of u differ, at step eps and at eps/10 alike", then record each element's kink rows."""
    n = u.size
    found: list[tuple[int, int]] = []

    def has_kink(lo: int, hi: int) -> bool:
        if hi - lo == 1:
            plus, minus = check.one_sided(i, lo, check.eps)
            rows = np.nonzero(check.jumps(plus, minus, check.eps))[0][:_MAX_ENTRIES]
            if not rows.size:
                return False
            analytical = []
            for r in rows:
                e = np.zeros(check.f0.size)
                e[r] = 1
                analytical.append(check.vjp(e)[i][lo])  # type: ignore[index]
            before = len(report.kinks)
            found.extend(_passing_kinks(check, report, i, lo, rows, np.array(analytical)))
            return len(report.kinks) > before
        w = np.zeros(n)
        w[lo:hi] = u[lo:hi]
        return all(check.jumps(*check.directional_sides(i, w, h), h).any() for h in (check.eps, check.eps / 10))

    _bisect(n, has_kink, _MAX_LOCATED)
    return found


def _locate_inputs(check: _Check, i: int, u: np.ndarray, v: np.ndarray, ai: np.ndarray
                   ) -> tuple[list[int], bool, dict[int, np.ndarray]]:
    """The elements of input i whose v-weighted derivative disagrees: halve the set of coordinates of the
    direction u that are switched on, two evaluations of fn per step. Also returns the numerical Jacobian
    column of every element tested on its own."""
    n = u.size
    columns: dict[int, np.ndarray] = {}

    def fails(lo: int, hi: int) -> bool:
        if hi - lo == 1:  # a single element: its whole numerical column, for the output search
            col = check.column(i, lo, check.eps)
            columns[lo] = col
            return not check.close(float(v @ col), float(ai[lo]))
        w = np.zeros(n)
        w[lo:hi] = u[lo:hi]
        return not check.close(float(v @ check.directional(i, w, check.eps)), float(ai[lo:hi] @ u[lo:hi]))

    located, complete = _bisect(n, fails, _MAX_LOCATED)
    return located, complete, columns


def _locate_outputs(check: _Check, report: GradcheckReport, i: int, located: list[int],
                    columns: dict[int, np.ndarray]
                    ) -> tuple[list[Mismatch], dict[int, int], list[tuple[int, int]], bool]:
    """For input elements whose v-weighted derivative disagrees, find the output elements at fault: halve the
    set of output elements that v switches on, one backward pass per step, for all the elements at once."""
    total = check.f0.size
    entries: dict[tuple[int, int], float] = {}  # (row, column) -> analytical value

    def fails(lo: int, hi: int) -> bool:
        v = np.zeros(total)
        if hi - lo == 1:
            v[lo] = 1
        else:
            v[lo:hi] = check.rng.standard_normal(hi - lo)
        ana = check.vjp(v)[i]
        bad = False
        for j in located:
            if not check.close(float(v @ columns[j]), float(ana[j])):  # type: ignore[index]
                bad = True
                if hi - lo == 1:
                    entries[(lo, j)] = float(ana[j])  # type: ignore[index]
        return bad

    _, complete = _bisect(total, fails, _MAX_LOCATED * 4)
    mismatches: list[Mismatch] = []
    kinks: list[tuple[int, int]] = []
    counts: dict[int, int] = {}
    by_column: dict[int, list[int]] = {}
    for (r, j) in sorted(entries, key=lambda e: (e[1], e[0])):
        by_column.setdefault(j, []).append(r)
    for j, rows in by_column.items():
        rows_arr = np.array(rows)
        analytical = np.array([entries[(r, j)] for r in rows])
        verdicts = check.classify(i, j, rows_arr, analytical)
        for r, ana, verdict in zip(rows, analytical, verdicts):
            if verdict == "ok":
                continue
            k, out_el = check.output_of(r)
            if isinstance(verdict, tuple):
                kinks.append((i, j))
                if check.within(verdict, ana):
                    report.kinks.append(Kink(i, check.element_of(i, j), k, out_el, verdict[0], verdict[1],
                                             float(ana)))
                    continue
            num = float(columns[j][r])
            mismatches.append(Mismatch(i, check.element_of(i, j), k, out_el, num, float(ana),
                                       check.tolerance(num), verdict if isinstance(verdict, tuple) else None))
            counts[k] = counts.get(k, 0) + 1
    return mismatches, counts, kinks, complete


def _run(fn: Callable, inputs: Sequence[Any], names: tuple[list[str], list[str]],
         output_names: tuple[list[str], list[str]] | None, eps: float, atol: float, rtol: float, fast_mode: bool,
         nudge: bool, seed: int, title: str = "gradcheck", grad_mode: bool = False) -> GradcheckReport:
    names, symbols = names
    with _float64_inputs(inputs) as (args, work):
        check = _Check(fn, args, work, names, eps, atol, rtol, seed, grad_mode)
        notes = []
        if check.low_precision:
            eps, atol, rtol = max(eps, 1e-3), max(atol, 1e-2), max(rtol, 1e-2)
            notes.append(f"the function computes in float32 even on float64 inputs (an explicit cast inside it, "
                         f"or a closure over float32 values that decides the output's dtype); checked with "
                         f"float32-sized eps={eps:g}, atol={atol:g}, rtol={rtol:g}")
            check = _Check(fn, args, work, names, eps, atol, rtol, seed, grad_mode)
        for _round in range(4):
            n_out = len(check.out_shapes)
            out_names, out_symbols = output_names or (
                [f"output {k}" for k in range(n_out)], ["out"] if n_out == 1 else [f"out{k}" for k in range(n_out)])
            report = GradcheckReport("fast" if fast_mode else "full", eps, atol, rtol, names, symbols,
                                     [np.shape(w) if w is not None else () for w in work],
                                     out_names, out_symbols, check.out_shapes, title=title)
            report.notes.extend(notes)
            kinks = (_fast_mode if fast_mode else _full_mode)(check, report)
            if not (nudge and kinks) or _round == 3:
                break
            # move each element that sits on a kink by 16 eps (alternating sides between rounds) and re-check
            step = 16 * eps * (-1) ** _round * (_round + 1)
            for i, j in sorted(set(kinks)):
                flat = work[i].reshape(-1)  # type: ignore[union-attr]
                notes.append(f"nudged {symbols[i]}{_index(check.element_of(i, j))} from {flat[j]:.6g} to "
                             f"{flat[j] + step:.6g}: it sat on a non-differentiable point")
                flat[j] += step
                check._install(i, work[i])  # type: ignore[arg-type]
            check = _Check(fn, args, work, names, eps, atol, rtol, seed, check.grad_mode)
        return report


def gradcheck(fn: Callable, inputs: Any, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, fast_mode: bool = False, *, nudge: bool = False,
              names: Sequence[str] | None = None, seed: int = 0) -> bool:
    """Compare reverse-mode gradients of `fn` with central finite differences, in float64.

    `inputs` is a tensor, a tuple of tensors (and other arguments), or a dict (fn is then called with
    keywords, and the keys name the inputs in the report). The tensors with requires_grad=True are checked;
    float inputs are switched to float64 copies during the check (the originals are untouched).
    An entry passes when |analytical - numerical| <= atol + rtol * |numerical|.

    fast_mode=True checks one random direction per input (two evaluations of fn per input, one backward
    pass), and on failure locates the disagreeing entries by bisection. nudge=True moves input elements that
    sit on a non-differentiable point by a few eps and checks them there. `names` label the inputs in the
    report (a tensor's `.label` is used otherwise). On failure, raises GradcheckError with the report (or
    returns False when raise_exception=False).

    >>> x = Tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    >>> gradcheck(lambda t: (t * t).sum(), x)
    True
    """
    fn, inputs, names = _bind_dict(fn, inputs, names)
    report = _run(fn, inputs, _names(inputs, names), None, eps, atol, rtol, fast_mode, nudge, seed)
    return _verdict(report, raise_exception)


def _bind_dict(fn: Callable, inputs: Any, names: Sequence[str] | None) -> tuple[Callable, tuple, Any]:
    if isinstance(inputs, dict):
        keys = list(inputs)
        return (lambda *xs: fn(**dict(zip(keys, xs)))), tuple(inputs.values()), names or keys
    return fn, _as_tuple(inputs), names


def _verdict(report: GradcheckReport, raise_exception: bool) -> bool:
    if report.passed:
        if report.kinks or report.notes:
            warnings.warn(GradcheckWarning(str(report)), stacklevel=3)
        return True
    if raise_exception:
        raise GradcheckError(str(report), report)
    return False


def gradgradcheck(fn: Callable, inputs: Any, grad_outputs: Any = None, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, raise_exception: bool = True, seed: int = 0, fast_mode: bool = False, *,
                  nudge: bool = False, names: Sequence[str] | None = None) -> bool:
    """Check second-order gradients: gradcheck the function (inputs, v) -> v J (the VJP of fn, computed with
    create_graph=True), with respect to both the inputs and v. `grad_outputs` are the vectors v (random by
    default, seeded by `seed`)."""
    fn, inputs, names = _bind_dict(fn, inputs, names)
    input_names, input_symbols = _names(inputs, names)
    with _float64_inputs(inputs) as (args, _), no_grad():
        outs = [o for o in _as_tuple(fn(*args)) if _is_float_tensor(o)]
    if grad_outputs is None:
        rng = np.random.default_rng(seed)
        grad_outputs = [Tensor(rng.standard_normal(o.shape), dtype=np.float64, requires_grad=True) for o in outs]
    else:
        grad_outputs = [g if isinstance(g, Tensor) else Tensor(g, dtype=np.float64) for g in _as_tuple(grad_outputs)]
        grad_outputs = [Tensor(np.asarray(g._data, np.float64), requires_grad=True) for g in grad_outputs]
    n = len(inputs)
    wrt = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]

    def first_order(*xs_and_vs: Any) -> tuple:
        xs, vs = xs_and_vs[:n], xs_and_vs[n:]
        ys = [o for o in _as_tuple(fn(*xs)) if _is_float_tensor(o)]
        pairs = [(y, v) for y, v in zip(ys, vs) if y.requires_grad]
        if not pairs:
            return tuple(Tensor._wrap(np.zeros_like(xs[i]._data)) for i in wrt)
        return grad([y for y, _ in pairs], [xs[i] for i in wrt], [v for _, v in pairs], create_graph=True,
                    allow_unused=True, materialize_grads=True)

    all_inputs = (*inputs, *grad_outputs)
    all_names = (input_names + [f"grad_output {k}" for k in range(len(grad_outputs))],
                 input_symbols + [f"v{k}" for k in range(len(grad_outputs))])
    output_names = ([f"gradient of {input_names[i]}" for i in wrt], [f"grad_{input_symbols[i]}" for i in wrt])
    report = _run(first_order, all_inputs, all_names, output_names, eps, atol, rtol, fast_mode, nudge, seed,
                  title="gradgradcheck", grad_mode=True)
    return _verdict(report, raise_exception)


# ---------------------------------------------------------------------------------------------------------------
# Jacobians (kept for tests that compare Jacobians directly)
# ---------------------------------------------------------------------------------------------------------------
def numerical_jacobian(fn: Callable, inputs: Sequence[Any], eps: float = 1e-6) -> list[list[np.ndarray] | None]:
    """Central-difference Jacobians in float64: result[i][k] has shape (output k's size, input i's size), for
    each input i that requires grad (None for the others). The inputs are left as they were."""
    inputs = _as_tuple(inputs)
    with _float64_inputs(inputs) as (args, work):
        check = _Check(fn, args, work, _names(inputs, None)[0], eps, 0, 0, 0)
        result: list[list[np.ndarray] | None] = []
        for i in range(len(args)):
            if i not in check.wrt:
                result.append(None)
                continue
            full = np.zeros((check.f0.size, work[i].size))  # type: ignore[union-attr]
            for j in range(work[i].size):  # type: ignore[union-attr]
                full[:, j] = check.column(i, j, eps)
            result.append([full[a:b] for a, b in zip(check.out_offsets[:-1], check.out_offsets[1:])])
        return result


def analytical_jacobian(fn: Callable, inputs: Sequence[Any]) -> list[list[np.ndarray] | None]:
    """Reverse-mode Jacobians in the same layout as `numerical_jacobian`, one backward pass per output element."""
    inputs = _as_tuple(inputs)
    with _float64_inputs(inputs) as (args, work):
        check = _Check(fn, args, work, _names(inputs, None)[0], 1e-6, 0, 0, 0)
        rows = check.analytical_rows()
        return [None if r is None else [r[a:b] for a, b in zip(check.out_offsets[:-1], check.out_offsets[1:])]
                for r in rows]


# ---------------------------------------------------------------------------------------------------------------
# Checking a graph that was already built, node by node
# ---------------------------------------------------------------------------------------------------------------
class record_locations(Mode):
    """Context manager (and decorator): every operation recorded inside, in the calling thread, remembers the
    line of your code that ran it, so that `check_graph` (and errors in backward) can say where a node was
    created. Cheaper than detect_anomaly(). It also makes every node keep its inputs, even those whose VJPs
    read only the output (tanh, relu, ...), so that `check_graph` can re-run each of them."""

    _changes: ClassVar[dict[str, bool]] = {"locations": True}


def _graph_nodes(roots: Sequence[Tensor]) -> list[Node]:
    """Every node reachable from the roots, in creation (forward) order; iterative."""
    seen: dict[int, Node] = {}
    stack = [r.grad_fn for r in roots if isinstance(r, Tensor) and r.grad_fn is not None]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen[id(node)] = node
        stack.extend(e for e in node.edges if e is not None and e.__class__ is Node and id(e) not in seen)
    return sorted(seen.values(), key=lambda n: n.seq)


def _input_value(edge: Any) -> Any:
    """The value of an input its consumer did not keep (see Primitive): a leaf's data, or the output its
    producer saved; None when neither is at hand."""
    if isinstance(edge, Tensor):
        return edge._data
    return None if edge is None or edge.args is None else edge.out


def _node_function(node: Node) -> tuple[Callable, list[Any]] | None:
    """The node's operation as a function of its differentiable inputs, and those inputs (fresh leaves holding
    the values the node saw; the other arguments are bound as they were). None if an input was not kept."""
    op = node.op
    inputs: list[Any] = []
    for edge, value in zip(node.edges, node.args):
        if value.__class__ is Unkept or (value is None and edge is not None):  # not kept (a None constant is)
            value = _input_value(edge)
            if value is None:
                return None
        is_float = isinstance(value, (np.ndarray, np.generic)) and np.asarray(value).dtype.kind == "f"
        if edge is not None:
            t = Tensor._wrap(as_stored(np.array(value, dtype=np.float64)))
            t.requires_grad = True
            inputs.append(t)
        elif is_float:
            inputs.append(as_stored(np.asarray(value, dtype=np.float64)))
        else:
            inputs.append(value)
    return (lambda *xs: op.rerun(node, list(xs))), inputs


@dataclass
class NodeFailure:
    """A node whose VJP disagrees with finite differences."""

    node: Node
    position: int  # in forward order among the graph's nodes
    report: GradcheckReport


def check_graph(*outputs: Tensor, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
                raise_exception: bool = True, seed: int = 0, fast_mode: bool = True) -> bool:
    """Re-check every operation recorded in the graph of `outputs`, one node at a time, numerically.

    Each node is re-run on the values it saw in the forward pass (in float64), and its VJP is compared with
    central differences (fast mode: one random direction per input, then bisection down to the entries at
    fault). Because every node is checked on its own, a wrong gradient is pinned to the operation that
    produces it, not just to the model. The graph must not have been freed by backward() (call this first,
    or pass retain_graph=True). Run the forward pass inside `autograd.record_locations()` (or
    `detect_anomaly()`) to have the report name the line of code that created the node.

    >>> import autograd
    >>> x = autograd.randn(3, requires_grad=True)
    >>> check_graph((x.tanh() * x).sum())
    True
    """
    nodes = [n for n in _graph_nodes(outputs) if n.op.rerunnable]
    if not nodes:
        raise ValueError("check_graph: the outputs were not computed from tensors that require grad: there is no "
                         "graph to check")
    failures: list[NodeFailure] = []
    unchecked: list[Node] = []
    kink_notes = 0
    for position, node in enumerate(nodes):
        if node.args is None:
            raise RuntimeError(f"check_graph: the graph was freed by backward() (at '{node.op.name}'); call "
                               "check_graph before backward(), or pass retain_graph=True to backward()")
        function = _node_function(node)
        if function is None:
            unchecked.append(node)
            continue
        fn, inputs = function
        names = ([f"input {i}" for i in range(len(inputs))], [f"x{i}" for i in range(len(inputs))])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GradcheckWarning)
            report = _run(fn, inputs, names, None, eps, atol, rtol, fast_mode, False, seed + position,
                          title=f"'{node.op.name}'")
        kink_notes += len(report.kinks)
        if not report.passed:
            failures.append(NodeFailure(node, position, report))
    if unchecked:
        ops = ", ".join(dict.fromkeys(f"'{n.op.name}'" for n in unchecked))
        warnings.warn(GradcheckWarning(
            f"check_graph: {len(unchecked)} of {len(nodes)} operations were not checked ({ops}): their VJPs do not "
            "read their inputs, so they did not keep large ones. Build the graph inside "
            "autograd.record_locations() to keep every input and check them too."), stacklevel=2)
    if not failures:
        return True
    message = _graph_message(failures, len(nodes))
    if raise_exception:
        error = GradcheckError(message, failures[0].report)
        error.failures = failures  # type: ignore[attr-defined]
        raise error
    return False


def _describe(node: Node) -> str:
    label = f" (labelled '{node.label}')" if node.label else ""
    return f"'{node.op.name}' ({node.name()}){label}"


def _graph_message(failures: list[NodeFailure], n_nodes: int) -> str:
    first = failures[0]
    node = first.node
    where = format_location(node.where) if node.where else (
        "an unknown line (run the forward pass inside autograd.record_locations() to record it)")
    lines = [f"check_graph: {len(failures)} of {n_nodes} operations have a VJP that disagrees with finite "
             "differences.",
             f"The first, in forward order: {_describe(node)}, operation {first.position + 1} of {n_nodes}, "
             f"created at {where}",
             ""]
    lines.extend("  " + line for line in str(first.report).splitlines())
    if len(failures) > 1:
        lines.append("")
        lines.append("Also disagreeing (each may be a consequence of the same bug if they share code):")
        for f in failures[1:8]:
            at = format_location(f.node.where) if f.node.where else "unknown line"
            lines.append(f"  {_describe(f.node)}, operation {f.position + 1}, at {at}")
        if len(failures) > 8:
            lines.append(f"  ... and {len(failures) - 8} more")
    return "\n".join(lines)
