"""`autograd.graph`, as `torch.autograd.graph`: for code that changes tensor data behind autograd's back.

Autograd's own in-place operations (`t += 1`, `t[i] = v`, `t.zero_()`, numpy's `out=` on a tensor) tell the
engine what they wrote, so that a backward pass that saved the old values fails instead of returning a wrong
gradient. Code that writes into `t.data` (the numpy array) itself, as the optimisers do, says so with
`increment_version(t)`.
"""

from __future__ import annotations

from collections.abc import Iterable

from .core import Tensor, record_write

__all__ = ["increment_version"]


def increment_version(tensor: Tensor | Iterable[Tensor], op_name: str = "increment_version") -> None:
    """Record that the data of `tensor` (or of each tensor of an iterable) was just modified in place.

    A graph node that saved that data before the write then refuses to run its backward, naming `op_name` as
    the writer. Call it after the write, as PyTorch's `torch.autograd.graph.increment_version`:

        >>> import autograd
        >>> w = autograd.tensor([1.0, 2.0], requires_grad=True)
        >>> y = (w * w).sum()
        >>> with autograd.no_grad():
        ...     w.data[...] -= 0.1           # numpy's write: autograd cannot see it
        ...     autograd.graph.increment_version(w, op_name="my_update")
        >>> try:
        ...     y.backward()
        ... except RuntimeError as err:
        ...     print("my_update" in str(err))
        True
    """
    if isinstance(tensor, Tensor):  # the optimisers' case, once per parameter and step: no loop
        record_write(tensor._data, op_name)  # (a 0-d tensor's numpy scalar is immutable: nothing to record)
        return
    for t in tensor:
        if not isinstance(t, Tensor):
            raise TypeError(f"increment_version: expected a Tensor or an iterable of Tensors, got "
                            f"{type(t).__name__}")
        record_write(t._data, op_name)
