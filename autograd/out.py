"""`out=`: PyTorch's functions can write their result into an existing tensor, `autograd.add(a, b, out=c)`.

As in PyTorch, the write happens outside the graph: it is refused (RuntimeError) when grad mode is on and an
input or `out` requires grad, since the result could not be differentiated. The result is cast to `out`'s
dtype when the cast stays within its kind or widens it (float64 into float32 yes, float into an integer
`out` no: PyTorch's rule), and `out` is resized when its shape differs (PyTorch warns when it was not empty).

Primitives take `out=` in `core.apply`'s error path: no forward accepts `out=` (numpy_dispatch refuses it for
the ufunc forwards), so the calls without it pay nothing for the check (sum's 41,400 instructions grew by 264
with a check before the forward); the composite functions that PyTorch gives an `out=` are wrapped by
`accepts_out` where `autograd` exports them, so Tensor methods, which call the unwrapped functions, pay
nothing for it.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .core import Tensor
from .grad_mode import is_grad_enabled, no_grad
from .kernels import as_stored


def write_out(name: str, out: Any, compute: Callable[[], Any], inputs: tuple) -> Tensor:
    """Run `compute()` without recording, and copy its result into `out` (see the module's docstring)."""
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}(): argument 'out' must be a Tensor, not {type(out).__name__}")
    if is_grad_enabled() and (out.requires_grad or _any_requires_grad(inputs)):
        raise RuntimeError(f"{name}(): functions with out=... arguments don't support automatic "
                           "differentiation, but one of the arguments requires grad (call it without out=, "
                           "or under autograd.no_grad())")
    with no_grad():
        result = compute()
    if not isinstance(result, Tensor):
        raise TypeError(f"{name}(): out= takes one tensor here, but the function returns "
                        f"{type(result).__name__}")
    src = np.asarray(result._data)
    if not np.can_cast(src.dtype, out.dtype, casting="same_kind"):
        raise RuntimeError(f"{name}(): result type {src.dtype} can't be cast to the desired output type "
                           f"{out.dtype} (out=)")
    if out.shape != src.shape:
        if out._data.size:
            warnings.warn(f"{name}(): an output with one or more elements was resized since it had shape "
                          f"{out.shape}, which does not match the required output shape {src.shape}",
                          UserWarning, stacklevel=3)
        out._data = as_stored(np.empty(src.shape, out.dtype))
    with no_grad():
        out.copy_(Tensor._wrap(src))
    return out


def _any_requires_grad(values: Any) -> bool:
    for v in values:
        if isinstance(v, Tensor):
            if v.requires_grad:
                return True
        elif isinstance(v, (list, tuple)) and _any_requires_grad(v):
            return True
    return False


def call_with_out(op: Any, args: tuple, params: dict) -> Tensor:
    """A primitive called with `out=` (from core.apply, once the forward has refused the keyword)."""
    from .core import apply

    out = params.pop("out")
    return write_out(op.name, out, lambda: apply(op, args, params), args)


def accepts_out(fn: Callable) -> Callable:
    """`fn` with PyTorch's keyword `out=` (for the composite functions autograd exports)."""

    @functools.wraps(fn)
    def with_out(*args: Any, out: Tensor | None = None, **kwargs: Any) -> Any:
        if out is None:
            return fn(*args, **kwargs)
        return write_out(fn.__name__, out, lambda: fn(*args, **kwargs), (*args, *kwargs.values()))

    return with_out
