"""Functional transforms: `vjp`, `jvp`, `jacobian`, `hessian`, `hvp`, `vhp`, as `torch.autograd.functional`.

Each takes a function of tensors and returns derivatives of it, built from reverse mode:

    vjp(f, x, v)      v^T J                     one backward pass
    jvp(f, x, v)      J v                       the double-VJP trick: u -> u^T J is linear in u, so
                                                differentiating it with respect to u, in direction v, gives J v
    jacobian(f, x)    J                         one backward pass per output element
    hessian(f, x)     H = jacobian(grad f)      (f returns a single element)
    hvp(f, x, v)      H v,   vhp(f, x, v): v^T H

`inputs` (and `v`) are a tensor or a tuple of tensors; results mirror that structure, and a tuple of
outputs gives a tuple of results (a tuple of tuples for `jacobian` with tuple inputs and outputs).
`create_graph=True` keeps the results differentiable; `strict=True` raises instead of returning zeros when an
output does not depend on an input.

    >>> import autograd
    >>> from autograd.functional import jacobian
    >>> jacobian(lambda x: x ** 2, autograd.tensor([1.0, 3.0]))
    tensor([[2., 0.],
            [0., 6.]])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import engine, operations, ops
from .core import Tensor, enable_grad
from .kernels import as_stored

__all__ = ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"]


# ---------------------------------------------------------------------------------------------------------------
# Plumbing shared by the transforms
# ---------------------------------------------------------------------------------------------------------------
def _as_tuple(value: Any, what: str, caller: str) -> tuple[bool, tuple]:
    """(was it a tuple, the value as a tuple of tensors), with an error naming the culprit."""
    is_tuple = isinstance(value, tuple)
    values = value if is_tuple else (value,)
    for i, v in enumerate(values):
        if not isinstance(v, Tensor):
            at = f"the value at index {i}" if is_tuple else f"the given {what}"
            raise TypeError(f"The {what} given to {caller} must be either a Tensor or a tuple of Tensors but {at} "
                            f"has type {type(v).__name__}.")
    return is_tuple, values


def _unpack(result: tuple, is_tuple: Any) -> Any:
    """Undo `_as_tuple` (twice, for nested results: is_tuple = (outer, inner))."""
    if isinstance(is_tuple, tuple):
        outer, inner = is_tuple
        if not inner:
            result = tuple(r[0] for r in result)
        return result if outer else result[0]
    return result if is_tuple else result[0]


def _prepare(inputs: tuple, create_graph: bool, need_graph: bool) -> tuple:
    """Fresh tensor objects for the function to run on. With create_graph, inputs that require grad stay
    connected to their graph (through a view), so the results can be differentiated with respect to them;
    otherwise they are detached leaves. Fresh objects also tell the inputs apart from the same tensors
    captured by the function's closure."""
    result = []
    for x in inputs:
        if create_graph and x.requires_grad:
            result.append(ops.reshape(x, shape=x.shape))
        else:
            t = x.detach()
            if need_graph:
                t.requires_grad_(True)
            result.append(t)
    return tuple(result)


def _finish(values: tuple, create_graph: bool) -> tuple:
    """Detach the results unless the caller asked for a graph (nested tuples included)."""
    if values and isinstance(values[0], tuple):
        return tuple(_finish(v, create_graph) for v in values)
    return values if create_graph else tuple(v.detach() for v in values)


def _validate_v(v: tuple, other: tuple, other_is_tuple: bool) -> None:
    if len(v) != len(other):
        if other_is_tuple:
            raise RuntimeError(f"v is a tuple of invalid length: should be {len(other)} but got {len(v)}.")
        raise RuntimeError("The given v should contain a single Tensor.")
    for i, (a, b) in enumerate(zip(v, other)):
        if a.shape != b.shape:
            where = f"Entry {i} in " if other_is_tuple else ""
            raise RuntimeError(f"{where}v has invalid size: should be {b.shape} but got {a.shape}.")


def _check_requires_grad(values: tuple, kind: str, strict: bool) -> None:
    """In strict mode, refuse results that do not depend on what they should."""
    if not strict:
        return
    for i, t in enumerate(values):
        if t is None:
            raise RuntimeError(f"The output of the user-provided function is independent of input {i}. This is "
                               "not allowed in strict mode.")
        if t.requires_grad:
            continue
        if kind == "hessian":
            raise RuntimeError(f"The hessian of the user-provided function with respect to input {i} is "
                               "independent of the input. This is not allowed in strict mode. You should ensure "
                               "that your function is thrice differentiable and that the hessian depends on the "
                               "inputs.")
        if kind == "jacobian":
            raise RuntimeError("While computing the hessian, found that the jacobian of the user-provided "
                               f"function with respect to input {i} is independent of the input. This is not "
                               "allowed in strict mode. You should ensure that your function is twice "
                               "differentiable and that the jacobian depends on the inputs (this would be "
                               "violated by a linear function for example).")
        if kind == "grad_inputs":
            raise RuntimeError(f"The gradient with respect to input {i} is independent of the inputs of the "
                               "user-provided function. This is not allowed in strict mode.")
        raise RuntimeError(f"Output {i} of the user-provided function does not require gradients. The outputs "
                           "must be computed in a differentiable manner from the input when running in strict "
                           "mode.")


def _grad(outputs: tuple, inputs: tuple, grad_outputs: tuple | None = None, create_graph: bool = False,
          retain_graph: bool | None = None) -> tuple:
    """engine.grad that skips outputs which are None or outside the graph (None for every input if none
    is left) and gives None for inputs the outputs do not depend on."""
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o is not None and o.requires_grad]
    if not pairs:
        return (None,) * len(inputs)
    return engine.grad([o for o, _ in pairs], list(inputs), [g for _, g in pairs], retain_graph=retain_graph,
                       create_graph=create_graph, allow_unused=True)


_INDEPENDENT = {
    "back": "The output of the user-provided function is independent of input {i}. This is not allowed in "
            "strict mode.",
    "back_trick": "The gradient with respect to the input is independent of entry {i} in the grad_outputs when "
                  "using the double backward trick to compute forward mode gradients. This is not allowed in "
                  "strict mode.",
    "double_back": "The jacobian of the user-provided function is independent of input {i}. This is not "
                   "allowed in strict mode.",
    "double_back_trick": "The hessian of the user-provided function is independent of entry {i} in the "
                         "grad_jacobian. This is not allowed in strict mode as it prevents from using the "
                         "double backward trick to replace forward mode AD.",
}


def _fill_in_zeros(grads: tuple, refs: tuple, strict: bool, create_graph: bool, stage: str) -> tuple:
    """None gradients become zeros shaped like `refs` (or, in strict mode, an error)."""
    result = []
    for i, g in enumerate(grads):
        if g is None:
            if strict:
                raise RuntimeError(_INDEPENDENT[stage].format(i=i))
            g = Tensor._wrap(as_stored(np.zeros_like(refs[i]._data)))
        elif strict and create_graph and not g.requires_grad:
            what = "hessian" if "double" in stage else "jacobian"
            raise RuntimeError(f"The {what} of the user-provided function is independent of input {i}. This is "
                               "not allowed in strict mode when create_graph=True.")
        result.append(g)
    return tuple(result)


def _zeros_requiring_grad(like: Tensor) -> Tensor:
    t = Tensor._wrap(as_stored(np.zeros_like(like._data)))
    t.requires_grad = True
    return t


# ---------------------------------------------------------------------------------------------------------------
# The transforms
# ---------------------------------------------------------------------------------------------------------------
def vjp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False
        ) -> tuple[Any, Any]:
    """(func(inputs), v^T J): the vector-Jacobian product, by one backward pass.

    `v` has the outputs' shapes; it may be omitted when func returns a single element.

    >>> import autograd
    >>> out, g = vjp(lambda x: (x ** 3).sum(), autograd.tensor([1.0, 2.0]))
    >>> g
    tensor([ 3., 12.])
    """
    with enable_grad():
        inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", "vjp")
        _check_requires_grad(outputs, "outputs", strict)
        if v is not None:
            _, v = _as_tuple(v, "v", "vjp")
            v = _prepare(v, create_graph, need_graph=False)
            _validate_v(v, outputs, outputs_tuple)
        elif len(outputs) != 1 or outputs[0].numel() != 1:
            raise RuntimeError("The vector v can only be None if the user-provided function returns a single "
                               "Tensor with a single element.")
        grads = _grad(outputs, inputs, v, create_graph=create_graph)
        result = _fill_in_zeros(grads, inputs, strict, create_graph, "back")
    return _unpack(_finish(outputs, create_graph), outputs_tuple), _unpack(_finish(result, create_graph),
                                                                          inputs_tuple)


def jvp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False
        ) -> tuple[Any, Any]:
    """(func(inputs), J v): the Jacobian-vector product (forward mode), by the double-VJP trick.

    u -> u^T J is linear in u; its derivative with respect to u in the direction v is J v. So: one backward
    pass with a placeholder u (recorded, create_graph=True), then one backward pass of that with v.

    >>> import autograd
    >>> out, t = jvp(lambda x: x ** 2, autograd.tensor([1.0, 3.0]), autograd.tensor([1.0, 1.0]))
    >>> t
    tensor([2., 6.])
    """
    with enable_grad():
        inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        if v is not None:
            _, v = _as_tuple(v, "v", "jvp")
            v = _prepare(v, create_graph, need_graph=False)
            _validate_v(v, inputs, inputs_tuple)
        elif len(inputs) != 1 or inputs[0].numel() != 1:
            raise RuntimeError("The vector v can only be None if the input to the user-provided function is a "
                               "single Tensor with a single element.")
        outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", "jvp")
        _check_requires_grad(outputs, "outputs", strict)
        # the backward is linear in u, so u's value does not matter: zeros (never nan or inf)
        u = tuple(_zeros_requiring_grad(o) for o in outputs)
        grad_inputs = _grad(outputs, inputs, u, create_graph=True)
        _check_requires_grad(grad_inputs, "grad_inputs", strict)
        result = _grad(grad_inputs, u, v, create_graph=create_graph)
        result = _fill_in_zeros(result, outputs, strict, create_graph, "back_trick")
    return _unpack(_finish(outputs, create_graph), outputs_tuple), _unpack(_finish(result, create_graph),
                                                                          outputs_tuple)


def jacobian(func: Callable, inputs: Any, create_graph: bool = False, strict: bool = False,
             vectorize: bool = False, strategy: str = "reverse-mode") -> Any:
    """The Jacobian of func at inputs: for output i and input j, a tensor of shape out_i.shape + in_j.shape.

    A single tensor for one input and one output, a tuple over inputs (or outputs) when only one side is a
    tuple, a tuple (over outputs) of tuples (over inputs) when both are. strategy="reverse-mode" takes one
    backward pass per output element; "forward-mode" one double-VJP per input element (cheaper when the
    inputs are smaller than the outputs). `vectorize` is accepted for PyTorch compatibility; the result is
    the same either way.

    >>> import autograd
    >>> jacobian(lambda x: x.sum() * x, autograd.tensor([1.0, 2.0]))
    tensor([[4., 1.],
            [2., 5.]])
    """
    if strategy not in ("reverse-mode", "forward-mode"):
        raise ValueError(f"jacobian: strategy must be 'reverse-mode' or 'forward-mode', got {strategy!r}")
    with enable_grad():
        inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", "jacobian")
        _check_requires_grad(outputs, "outputs", strict)
        if strategy == "forward-mode":
            blocks = _jacobian_forward(outputs, inputs, create_graph, strict)
        else:
            blocks = _jacobian_reverse(outputs, inputs, create_graph, strict)
    return _unpack(_finish(blocks, create_graph), (outputs_tuple, inputs_tuple))


def _independent(i: int, j: int) -> RuntimeError:
    return RuntimeError(f"Output {i} of the user-provided function is independent of input {j}. This is not "
                        "allowed in strict mode.")


def _assemble(pieces: list, shape: tuple, like: Tensor, create_graph: bool) -> Tensor:
    """Stack per-element results (Tensors, or None for zeros) into one tensor of `shape`."""
    if not pieces:
        return Tensor._wrap(np.zeros(shape, dtype=like._data.dtype))
    if create_graph:
        return operations.reshape(operations.stack(pieces), shape)
    return Tensor._wrap(np.stack([p._data for p in pieces]).reshape(shape))


def _jacobian_reverse(outputs: tuple, inputs: tuple, create_graph: bool, strict: bool) -> tuple:
    blocks = []
    for i, out in enumerate(outputs):
        rows: list[list] = [[] for _ in inputs]
        seed = np.zeros(out._data.size, dtype=out._data.dtype)
        for r in range(out._data.size):
            seed[r] = 1
            row = _grad((out,), inputs, (Tensor._wrap(as_stored(seed.reshape(out.shape).copy())),), retain_graph=True,
                        create_graph=create_graph)
            seed[r] = 0
            for j, (g, x) in enumerate(zip(row, inputs)):
                if g is None:
                    if strict:
                        raise _independent(i, j)
                    g = Tensor._wrap(as_stored(np.zeros_like(x._data)))
                elif strict and create_graph and not g.requires_grad:
                    raise RuntimeError(f"The jacobian of the user-provided function is independent of input {j}. "
                                       "This is not allowed in strict mode when create_graph=True.")
                rows[j].append(g)
        blocks.append(tuple(_assemble(rows[j], out.shape + x.shape, x, create_graph)
                            for j, x in enumerate(inputs)))
    return tuple(blocks)


def _jacobian_forward(outputs: tuple, inputs: tuple, create_graph: bool, strict: bool) -> tuple:
    """Columns J e_k by the double-VJP trick: one placeholder backward (recorded), then one backward of it per
    input element."""
    u = tuple(_zeros_requiring_grad(o) for o in outputs)
    grad_inputs = _grad(outputs, inputs, u, create_graph=True)
    columns: list[list[list]] = [[[] for _ in inputs] for _ in outputs]
    for j, (x, gx) in enumerate(zip(inputs, grad_inputs)):
        seed = np.zeros(x._data.size, dtype=x._data.dtype)
        for c in range(x._data.size):
            if gx is None or not gx.requires_grad:
                col: tuple = (None,) * len(outputs)
            else:
                seed[c] = 1
                col = _grad((gx,), u, (Tensor._wrap(as_stored(seed.reshape(x.shape).copy())),), retain_graph=True,
                            create_graph=create_graph)
                seed[c] = 0
            for i, g in enumerate(col):
                if g is None:
                    if strict:
                        raise _independent(i, j)
                    g = Tensor._wrap(as_stored(np.zeros_like(outputs[i]._data)))
                columns[i][j].append(g)
    blocks = []
    for i, out in enumerate(outputs):
        row = []
        for j, x in enumerate(inputs):
            stacked = _assemble(columns[i][j], x.shape + out.shape, out, create_graph)  # (in..., out...)
            order = tuple(range(x.ndim, x.ndim + out.ndim)) + tuple(range(x.ndim))
            row.append(operations.permute(stacked, order) if create_graph else
                       Tensor._wrap(np.transpose(stacked._data, order)))
        blocks.append(tuple(row))
    return tuple(blocks)


def hessian(func: Callable, inputs: Any, create_graph: bool = False, strict: bool = False,
            vectorize: bool = False, outer_jacobian_strategy: str = "reverse-mode") -> Any:
    """The Hessian of a function returning a single element: the Jacobian of its gradient.

    For inputs x_i and x_j the block has shape x_i.shape + x_j.shape; a tuple of tuples for tuple inputs.

    >>> import autograd
    >>> hessian(lambda x: (x ** 3).sum(), autograd.tensor([1.0, 2.0]))
    tensor([[ 6.,  0.],
            [ 0., 12.]])
    """
    inputs_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")

    def single_output(*xs: Tensor) -> Tensor:
        out_tuple, out = _as_tuple(func(*xs), "outputs of the user-provided function", "hessian")
        if out_tuple:
            raise RuntimeError("The function given to hessian should return a single Tensor")
        if out[0].numel() != 1:
            raise RuntimeError("The Tensor returned by the function given to hessian should contain a single "
                               f"element (it has shape {out[0].shape})")
        return operations.reshape(out[0], ())

    def gradient(*xs: Tensor) -> tuple:
        jac = jacobian(single_output, xs, create_graph=True)
        _check_requires_grad(jac, "jacobian", strict)
        return jac

    result = jacobian(gradient, inputs, create_graph, strict, vectorize, outer_jacobian_strategy)
    return _unpack(result, (inputs_tuple, inputs_tuple))


def _second_order_setup(func: Callable, inputs: Any, v: Any, create_graph: bool, strict: bool, caller: str
                        ) -> tuple:
    inputs_tuple, inputs = _as_tuple(inputs, "inputs", caller)
    inputs = _prepare(inputs, create_graph, need_graph=True)
    if v is not None:
        _, v = _as_tuple(v, "v", caller)
        v = _prepare(v, create_graph, need_graph=False)
        _validate_v(v, inputs, inputs_tuple)
    elif len(inputs) != 1 or inputs[0].numel() != 1:
        raise RuntimeError("The vector v can only be None if the input to the user-provided function is a "
                           "single Tensor with a single element.")
    outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", caller)
    if outputs_tuple:
        raise RuntimeError(f"The function given to {caller} should return a single Tensor")
    if outputs[0].numel() != 1:
        raise RuntimeError(f"The Tensor returned by the function given to {caller} should contain a single element")
    _check_requires_grad(outputs, "outputs", strict)
    jac = _grad(outputs, inputs, create_graph=True)
    _check_requires_grad(jac, "jacobian", strict)
    return inputs_tuple, inputs, v, outputs, jac


def vhp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False
        ) -> tuple[Any, Any]:
    """(func(inputs), v^T H): the gradient of (grad f . v), one recorded backward pass and one more."""
    with enable_grad():
        inputs_tuple, inputs, v, outputs, jac = _second_order_setup(func, inputs, v, create_graph, strict, "vhp")
        result = _grad(jac, inputs, v, create_graph=create_graph)
        result = _fill_in_zeros(result, inputs, strict, create_graph, "double_back")
    return _finish(outputs, create_graph)[0], _unpack(_finish(result, create_graph), inputs_tuple)


def hvp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False
        ) -> tuple[Any, Any]:
    """(func(inputs), H v): the Hessian-vector product, as the forward-mode derivative of the gradient in
    direction v (the double-VJP trick applied to the gradient). Equal to vhp for twice continuously
    differentiable functions, whose Hessian is symmetric.

    >>> import autograd
    >>> _, hv = hvp(lambda x: (x ** 3).sum(), autograd.tensor([1.0, 2.0]), autograd.tensor([1.0, 1.0]))
    >>> hv
    tensor([ 6., 12.])
    """
    with enable_grad():
        inputs_tuple, inputs, v, outputs, jac = _second_order_setup(func, inputs, v, create_graph, strict, "hvp")
        u = tuple(_zeros_requiring_grad(x) for x in inputs)
        double_back = _grad(jac, inputs, u, create_graph=True)
        _check_requires_grad(jac, "hessian", strict)
        result = _grad(double_back, u, v, create_graph=create_graph)
        result = _fill_in_zeros(result, inputs, strict, create_graph, "double_back_trick")
    return _finish(outputs, create_graph)[0], _unpack(_finish(result, create_graph), inputs_tuple)
