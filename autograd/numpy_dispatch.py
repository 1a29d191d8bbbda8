"""numpy interoperability: `np.exp(t)`, `np.sum(t, axis=0)`, `np.float64(2) * t` give differentiable Tensors.

numpy hands any call involving a Tensor to `Tensor.__array_ufunc__`/`__array_function__`, which land here.
Functions in the tables below run as autograd operations. This is also what makes `create_graph=True` work:
the VJPs in ops.py are plain numpy, and when they are given Tensors these tables route them back into the
engine. Any other numpy function treats tensors as arrays (the result is a plain numpy value), except that
it refuses tensors that require grad, rather than silently dropping their gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import core, creation, ops
from . import operations as F
from .core import Tensor
from .grad_mode import is_grad_enabled

# The primitives registered with numpy=... in ops.py (np.exp: ops.exp, ...) are entered there, where they are
# defined; this is the same dict, with the ufuncs that are composites or tests added.
UFUNCS: dict[np.ufunc, Callable] = ops.UFUNCS
UFUNCS.update({
    np.positive: lambda x: x, np.square: F.square, np.reciprocal: F.reciprocal,
    # rounding keeps integers integers (operations.floor & co.), so these are not the bare primitives
    np.floor: F.floor, np.ceil: F.ceil, np.trunc: F.trunc, np.rint: F.round,
    # comparisons and tests: boolean results, never differentiable
    np.equal: F.eq, np.not_equal: F.ne, np.less: F.lt, np.less_equal: F.le, np.greater: F.gt,
    np.greater_equal: F.ge, np.logical_and: F.logical_and, np.logical_or: F.logical_or,
    np.logical_not: F.logical_not, np.isnan: F.isnan, np.isinf: F.isinf, np.isfinite: F.isfinite,
})


def _reduction(fn: Callable) -> Callable:
    def call(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
             **kwargs: Any) -> Any:
        if out is not None or kwargs.get("where", True) is not True:
            raise TypeError(f"numpy.{fn.__name__} on a Tensor does not support out= or where=")
        if dtype is not None:
            a = F.astype(a, dtype)
        return fn(a, axis, keepdims)
    return call


def _shape_of(a: Any, axis: Any = None) -> Any:
    shape = a.shape if isinstance(a, Tensor) else np.shape(a)
    return shape if axis is None else shape[axis]


FUNCTIONS: dict[Callable, Callable] = {
    np.sum: _reduction(F.sum), np.mean: _reduction(F.mean), np.prod: _reduction(F.prod),
    np.amax: _reduction(F.amax), np.amin: _reduction(F.amin), np.max: _reduction(F.amax),
    np.min: _reduction(F.amin),
    np.var: lambda a, axis=None, dtype=None, out=None, ddof=0, keepdims=False: F.var(a, axis, keepdim=keepdims,
                                                                                     correction=ddof),
    np.std: lambda a, axis=None, dtype=None, out=None, ddof=0, keepdims=False: F.std(a, axis, keepdim=keepdims,
                                                                                     correction=ddof),
    np.where: lambda condition, x, y: F.where(condition, x, y),
    np.reshape: lambda a, shape=None, order="C", newshape=None, **kw: F.reshape(a, shape if shape is not None
                                                                               else newshape),
    np.transpose: lambda a, axes=None: F.permute(a, tuple(range(np.ndim(a) - 1, -1, -1)) if axes is None
                                                 else tuple(axes)),
    np.swapaxes: F.transpose,
    np.expand_dims: lambda a, axis: F.unsqueeze(a, axis),
    np.squeeze: lambda a, axis=None: F.squeeze(a, axis),
    np.broadcast_to: lambda array, shape, subok=False: F.broadcast_to(array, tuple(shape)),
    np.concatenate: lambda arrays, axis=0, **kw: F.cat(arrays, axis),
    np.stack: lambda arrays, axis=0, **kw: F.stack(arrays, axis),
    np.einsum: lambda subscripts, *operands, **kw: F.einsum(subscripts, *operands),
    np.flip: lambda m, axis=None: F.flip(m, tuple(range(np.ndim(m))) if axis is None else axis),
    np.pad: lambda array, pad_width, mode="constant", constant_values=0: F.pad(array, pad_width, constant_values),
    np.clip: lambda a, a_min=None, a_max=None, **kw: F.clamp(a, a_min, a_max),
    np.round: lambda a, decimals=0, out=None: F.round(a, decimals=decimals),
    np.around: lambda a, decimals=0, out=None: F.round(a, decimals=decimals),
    np.fix: lambda x, out=None: F.trunc(x),
    np.sinc: ops.sinc,
    np.nan_to_num: lambda x, copy=True, nan=0.0, posinf=None, neginf=None: F.nan_to_num(x, nan, posinf, neginf),
    np.dot: lambda a, b, out=None: F.matmul(a, b),
    np.zeros_like: lambda a, dtype=None, **kw: creation.zeros_like(a, dtype),
    np.ones_like: lambda a, dtype=None, **kw: creation.ones_like(a, dtype),
    np.full_like: lambda a, fill_value, dtype=None, **kw: creation.full_like(a, fill_value, dtype),
    # metadata and comparisons: safe on any tensor
    np.shape: lambda a: _shape_of(a), np.ndim: lambda a: len(_shape_of(a)),
    np.size: lambda a, axis=None: int(np.prod(_shape_of(a))) if axis is None else _shape_of(a, axis),
    np.result_type: lambda *args: np.result_type(*[_plain(a) for a in args]),
    np.allclose: F.allclose,
    np.isclose: F.isclose,
    np.array_equal: lambda *a, **k: np.array_equal(*_plain(a), **k),
}


def _plain(value: Any) -> Any:
    """Tensors inside (possibly nested) arguments replaced by their arrays."""
    if isinstance(value, Tensor):
        return np.asarray(value._data)
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _needs_grad(values: Any) -> bool:
    if isinstance(values, Tensor):
        return values.requires_grad
    if isinstance(values, (list, tuple)):
        return any(_needs_grad(v) for v in values)
    if isinstance(values, dict):
        return any(_needs_grad(v) for v in values.values())
    return False


def _refuse(name: str) -> TypeError:
    return TypeError(f"numpy.{name} has no gradient in autograd, and a tensor that requires grad was passed "
                     "to it. Use the autograd function of the same name if there is one, or pass "
                     "t.detach() to treat the tensor as a constant.")


def array_ufunc(ufunc: np.ufunc, method: str, inputs: tuple, kwargs: dict) -> Any:
    fn = UFUNCS.get(ufunc)
    if method == "__call__" and fn is not None and not kwargs:
        return fn(*inputs)
    if is_grad_enabled() and (_needs_grad(inputs) or _needs_grad(kwargs)):
        raise _refuse(f"{ufunc.__name__}{'' if method == '__call__' else '.' + method}")
    out = kwargs.get("out")
    if out is not None:  # writing into a tensor: write into its array, and remember the write
        for t in out:
            if isinstance(t, Tensor):
                core.record_write(t._data, f"numpy.{ufunc.__name__}(out=...)")
    result = getattr(ufunc, method)(*_plain(inputs), **_plain(kwargs))
    if out is not None:
        return out[0] if len(out) == 1 else out
    return Tensor._wrap(result) if isinstance(result, (np.ndarray, np.generic)) else result


def array_function(func: Callable, args: tuple, kwargs: dict) -> Any:
    fn = FUNCTIONS.get(func)
    if fn is not None:
        return fn(*args, **kwargs)
    if is_grad_enabled() and (_needs_grad(args) or _needs_grad(kwargs)):
        raise _refuse(func.__name__)
    return func(*_plain(args), **_plain(kwargs))
