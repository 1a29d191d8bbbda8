"""The error classes of the library's operations. PyTorch raises `RuntimeError` for what numpy (and this
library) call a `ValueError` or an `IndexError`: shapes that do not fit in matmul, einsum, conv, reshape, permute,
flip, gather; an integer tensor to a negative power; a class target out of range. The classes here are both, so
that code written for either library catches the errors: `except ValueError` and `except RuntimeError` alike.
"""

from __future__ import annotations


class OpError(ValueError, RuntimeError):
    """An operation was given shapes or values it cannot work with (a ValueError, and PyTorch's RuntimeError)."""


class OpIndexError(IndexError, RuntimeError):
    """An index or dim out of range (an IndexError, and the RuntimeError PyTorch raises for indices)."""


def as_op_error(err: Exception) -> type:
    """The class to re-raise a numpy error from inside an operation as: ours for ValueError and IndexError."""
    if isinstance(err, RuntimeError):
        return type(err)
    if isinstance(err, ValueError):
        return OpError
    if isinstance(err, IndexError):
        return OpIndexError
    return type(err)
