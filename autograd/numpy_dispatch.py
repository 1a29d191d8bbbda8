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
    # structure (issue 15), with numpy's argument names and defaults
    np.tril: lambda m, k=0: F.tril(m, k), np.triu: lambda m, k=0: F.triu(m, k),
    np.diagonal: lambda a, offset=0, axis1=0, axis2=1: F.diagonal(a, offset, axis1, axis2),
    np.diag: lambda v, k=0: F.diag(v, k),
    np.trace: lambda a, offset=0, axis1=0, axis2=1, dtype=None, out=None: _trace(a, offset, axis1, axis2, dtype,
                                                                                out),
    np.roll: lambda a, shift, axis=None: F.roll(a, shift, axis),
    np.rot90: lambda m, k=1, axes=(0, 1): F.rot90(m, k, axes),
    np.meshgrid: lambda *xi, copy=True, sparse=False, indexing="xy": _meshgrid(xi, copy, sparse, indexing),
    np.repeat: lambda a, repeats, axis=None: F.repeat_interleave(a, repeats, axis),
    np.moveaxis: lambda a, source, destination: F.movedim(a, source, destination),
    np.tile: lambda A, reps: F.tile(A, reps),
    np.atleast_1d: F.atleast_1d, np.atleast_2d: F.atleast_2d, np.atleast_3d: F.atleast_3d,
    np.outer: lambda a, b, out=None: F.outer(F.flatten(a), F.flatten(b)),
    np.kron: lambda a, b: F.kron(a, b),
    np.cross: lambda a, b, axisa=-1, axisb=-1, axisc=-1, axis=None: _cross(a, b, axisa, axisb, axisc, axis),
    # scans, orderings, gather/scatter (issue 15), with numpy's signatures and defaults
    np.cumsum: lambda a, axis=None, dtype=None, out=None: _cumulative(F.cumsum, a, axis, dtype, out, "cumsum"),
    np.cumprod: lambda a, axis=None, dtype=None, out=None: _cumulative(F.cumprod, a, axis, dtype, out, "cumprod"),
    np.sort: lambda a, axis=-1, kind=None, order=None, **kw: (F.reshape(a, (-1,)) if axis is None else a).sort(
        0 if axis is None else axis).values,
    np.argsort: lambda a, axis=-1, kind=None, order=None, **kw: F.argsort(F.reshape(a, (-1,)) if axis is None
                                                                          else a, 0 if axis is None else axis),
    np.median: lambda a, axis=None, out=None, overwrite_input=False, keepdims=False: _numpy_median(a, axis,
                                                                                                   keepdims),
    np.quantile: lambda a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, **kw:
        F.quantile(a, q, axis, keepdims, interpolation=method),
    np.unique: lambda ar, return_index=False, return_inverse=False, return_counts=False, axis=None, **kw:
        _numpy_unique(ar, return_index, return_inverse, return_counts, axis),
    np.searchsorted: lambda a, v, side="left", sorter=None: F.searchsorted(a, v, side=side, sorter=sorter),
    np.nonzero: lambda a: F.nonzero(a, as_tuple=True),
    np.argwhere: lambda a: F.argwhere(a),
    np.count_nonzero: lambda a, axis=None, keepdims=False: _count_nonzero(a, axis, keepdims),
    np.take_along_axis: lambda arr, indices, axis=-1: F.take_along_dim(arr, indices, axis),
    # metadata and comparisons: safe on any tensor
    np.shape: lambda a: _shape_of(a), np.ndim: lambda a: len(_shape_of(a)),
    np.size: lambda a, axis=None: int(np.prod(_shape_of(a))) if axis is None else _shape_of(a, axis),
    np.result_type: lambda *args: np.result_type(*[_plain(a) for a in args]),
    np.allclose: F.allclose,
    np.isclose: F.isclose,
    np.array_equal: lambda *a, **k: np.array_equal(*_plain(a), **k),
}


def _trace(a: Any, offset: int, axis1: int, axis2: int, dtype: Any, out: Any) -> Tensor:
    """numpy.trace: the sums of the diagonals `offset` of the planes (axis1, axis2), any number of dims."""
    if out is not None:
        raise TypeError("numpy.trace on a Tensor does not support out=")
    return F.sum(F.diagonal(a, offset, axis1, axis2), -1, dtype=dtype)


def _meshgrid(xi: tuple, copy: bool, sparse: bool, indexing: str) -> tuple:
    """numpy.meshgrid: inputs of any shape are flattened; the grids are broadcast views (`copy` is moot:
    tensors are not written through them)."""
    if sparse:
        raise TypeError("numpy.meshgrid on Tensors does not support sparse=True")
    return F.meshgrid(*[F.flatten(x) for x in xi], indexing=indexing)


def _cross(a: Any, b: Any, axisa: int, axisb: int, axisc: int, axis: int | None) -> Tensor:
    """numpy.cross of 3-vectors, with the vectors along axisa, axisb and the result's along axisc."""
    if axis is not None:
        axisa = axisb = axisc = axis
    product = F.cross(F.movedim(a, axisa, -1), F.movedim(b, axisb, -1), -1)
    return F.movedim(product, -1, axisc)


def _cumulative(fn: Callable, a: Any, axis: Any, dtype: Any, out: Any, name: str) -> Any:
    if out is not None:
        raise TypeError(f"numpy.{name} on a Tensor does not support out=")
    if axis is None:  # numpy's default: the flattened array
        a, axis = F.reshape(a, (-1,)), 0
    return fn(a, axis, dtype=dtype)


def _numpy_median(a: Any, axis: Any, keepdims: bool) -> Any:
    """numpy's median averages the two middle values of an even count: the 0.5 quantile (PyTorch's median
    takes the lower one, and is autograd.median)."""
    a = F._tensor(a)
    if a.dtype.kind != "f":
        a = F.astype(a, np.float64)
    return F.quantile(a, 0.5, axis, keepdims)


def _numpy_unique(ar: Any, return_index: bool, return_inverse: bool, return_counts: bool, axis: Any) -> Any:
    if return_index:  # the first occurrences: numpy's own answer, as tensors outside the graph
        return tuple(Tensor._wrap(r) for r in np.unique(np.asarray(F._tensor(ar)._data), True, return_inverse,
                                                        return_counts, axis))
    return F.unique(ar, return_inverse=return_inverse, return_counts=return_counts, dim=axis)


def _count_nonzero(a: Any, axis: Any, keepdims: bool) -> Any:
    counted = F.count_nonzero(a, axis)
    if keepdims:
        a = F._tensor(a)
        axes = range(a.ndim) if axis is None else F.normalize_dims(axis, a.ndim, "count_nonzero")
        counted = F.reshape(counted, tuple(1 if d in axes else n for d, n in enumerate(a.shape)))
    return counted


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
    if out is not None and not any(isinstance(i, Tensor) for i in inputs):
        # arrays in, a tensor as out: what a primitive's ufunc forward sees for autograd.exp(x, out=t), which
        # core.apply then handles as PyTorch's out= (see autograd/out.py)
        raise TypeError(f"numpy.{ufunc.__name__}: out= is a Tensor but no input is; pass out=t.data, or call "
                        f"autograd.{ufunc.__name__}(tensor, out=t)")
    if out is not None:  # writing into a tensor: write into its array (.data: a 0-d tensor's writes back)
        for t in out:
            if isinstance(t, Tensor):
                core.record_write(t._data, f"numpy.{ufunc.__name__}(out=...)")
        kwargs = {**kwargs, "out": tuple(t.data if isinstance(t, Tensor) else t for t in out)}
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
