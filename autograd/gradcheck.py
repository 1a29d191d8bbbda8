"""Checking gradients against finite differences.

The idea: for a function f and an input x, the j-th column of the Jacobian is the directional derivative of f
along the j-th unit vector e_j, which central differences approximate to O(eps^2):

    J[:, j] ~ (f(x + eps e_j) - f(x - eps e_j)) / (2 eps)

Reverse mode gives the rows instead: row k is the vector-Jacobian product with the k-th unit vector of the
output. `gradcheck` builds both Jacobians (in float64) and compares them entry by entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .engine import grad
from .tensor import Tensor, no_grad


def _as_tuple(x: Any) -> tuple:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _float64_copies(inputs: Sequence[Any]) -> list[Any]:
    copies = []
    for x in inputs:
        if isinstance(x, Tensor) and x.dtype.kind == "f":
            copy = Tensor(np.asarray(x._data, dtype=np.float64))
            copy.requires_grad = x.requires_grad
            copies.append(copy)
        else:
            copies.append(x)
    return copies


def _outputs_as_arrays(fn: Callable, inputs: Sequence[Any]) -> list[np.ndarray]:
    outs = _as_tuple(fn(*inputs))  # not under no_grad: fn may itself differentiate (gradgradcheck)
    # copies: an output may share memory with an input that is perturbed next
    return [np.array(o._data if isinstance(o, Tensor) else o, dtype=np.float64) for o in outs]


def numerical_jacobian(fn: Callable, inputs: Sequence[Any], eps: float = 1e-6) -> list[list[np.ndarray]]:
    """Central-difference Jacobians: result[i][k] has shape (output k's size, input i's size), for each
    input i that requires grad (None for the others). Inputs are perturbed in place and restored."""
    outputs = _outputs_as_arrays(fn, inputs)
    result: list[list[np.ndarray]] = []
    for x in inputs:
        if not (isinstance(x, Tensor) and x.requires_grad):
            result.append(None)  # type: ignore[arg-type]
            continue
        data = np.array(x._data, dtype=np.float64)
        x._data = data
        flat = data.reshape(-1)
        columns = [np.zeros((o.size, flat.size)) for o in outputs]
        for j in range(flat.size):
            original = flat[j]
            flat[j] = original + eps
            plus = _outputs_as_arrays(fn, inputs)
            flat[j] = original - eps
            minus = _outputs_as_arrays(fn, inputs)
            flat[j] = original
            for k, (p, m) in enumerate(zip(plus, minus)):
                columns[k][:, j] = ((p - m) / (2 * eps)).reshape(-1)
        x._data = data[()] if data.ndim == 0 else data
        result.append(columns)
    return result


def analytical_jacobian(fn: Callable, inputs: Sequence[Any], create_graph: bool = False
                        ) -> list[list[np.ndarray]]:
    """Reverse-mode Jacobians in the same layout as `numerical_jacobian`, one backward pass per output element."""
    outs = _as_tuple(fn(*inputs))
    wrt = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    result = [[np.zeros((np.size(o._data), np.size(x._data))) for o in outs] if isinstance(x, Tensor)
              and x.requires_grad else None for x in inputs]
    for k, out in enumerate(outs):
        if not isinstance(out, Tensor) or not out.requires_grad:
            continue
        for row in range(out._data.size):
            seed = np.zeros(out.shape, dtype=out.dtype)
            seed.reshape(-1)[row] = 1
            grads = grad(out, wrt, grad_outputs=Tensor._wrap(seed[()]), retain_graph=True, allow_unused=True)
            gi = iter(grads)
            for i, x in enumerate(inputs):
                if result[i] is None:
                    continue
                g = next(gi)
                if g is not None:
                    if g.shape != x.shape:
                        raise RuntimeError(f"gradcheck: the gradient of input {i} has shape {g.shape}, "
                                           f"but the input has shape {x.shape}")
                    result[i][k][row] = np.asarray(g._data, dtype=np.float64).reshape(-1)
    return result  # type: ignore[return-value]


class GradcheckError(AssertionError):
    """Raised by gradcheck when analytical and numerical gradients disagree."""


def gradcheck(fn: Callable, inputs: Any, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True) -> bool:
    """Compare reverse-mode gradients of `fn` with central finite differences, in float64.

    `inputs` is a tensor or a tuple of tensors (and other arguments); the tensors with requires_grad=True
    are checked. An entry passes when |analytical - numerical| <= atol + rtol * |numerical|.

    >>> x = Tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    >>> gradcheck(lambda t: (t * t).sum(), x)
    True
    """
    inputs = _float64_copies(_as_tuple(inputs))
    numerical = numerical_jacobian(fn, inputs, eps)
    analytical = analytical_jacobian(fn, inputs)
    problems = []
    for i, (num_i, ana_i) in enumerate(zip(numerical, analytical)):
        if num_i is None:
            continue
        for k, (num, ana) in enumerate(zip(num_i, ana_i)):
            bad = ~(np.abs(ana - num) <= atol + rtol * np.abs(num))
            if bad.any():
                rows, cols = np.nonzero(bad)
                shape = np.shape(inputs[i]._data)
                lines = [f"input {i} (shape {shape}), output {k}: {bad.sum()} of {bad.size} entries disagree "
                         f"(tolerance atol={atol}, rtol={rtol})"]
                for r, c in list(zip(rows, cols))[:5]:
                    where = np.unravel_index(c, shape) if shape else ()
                    lines.append(f"  d out[{r}] / d x{list(where)}: analytical {ana[r, c]:.8g}, numerical "
                                 f"{num[r, c]:.8g}, error {abs(ana[r, c] - num[r, c]):.3g}")
                problems.append("\n".join(lines))
    if problems:
        if raise_exception:
            raise GradcheckError("gradcheck failed:\n" + "\n".join(problems))
        return False
    return True


def gradgradcheck(fn: Callable, inputs: Any, grad_outputs: Any = None, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, raise_exception: bool = True, seed: int = 0) -> bool:
    """Check second-order gradients: gradcheck the function (inputs, v) -> vjp(fn, inputs, v)."""
    inputs = _float64_copies(_as_tuple(inputs))
    with no_grad():
        outs = [o for o in _as_tuple(fn(*inputs)) if isinstance(o, Tensor)]
    if grad_outputs is None:
        rng = np.random.default_rng(seed)
        grad_outputs = [Tensor(rng.standard_normal(o.shape), dtype=np.float64, requires_grad=True) for o in outs]
    else:
        grad_outputs = _float64_copies(_as_tuple(grad_outputs))
    n = len(inputs)
    wrt_positions = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]

    def first_order(*args: Any) -> tuple:
        xs, vs = args[:n], args[n:]
        ys = [o for o in _as_tuple(fn(*xs)) if isinstance(o, Tensor)]
        pairs = [(y, v) for y, v in zip(ys, vs) if y.requires_grad]
        grads = grad([y for y, _ in pairs], [xs[i] for i in wrt_positions], [v for _, v in pairs],
                     create_graph=True, allow_unused=True, materialize_grads=True)
        return grads

    return gradcheck(first_order, (*inputs, *grad_outputs), eps, atol, rtol, raise_exception)
