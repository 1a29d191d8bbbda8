"""How a drawing names an operation: each primitive's `label(params)`, for the ones whose parameters read
better written as PyTorch would (`sum(dim=1)`, `x[0:2]`, `gather(dim=1)`, `transpose(0, 1)`). ops.py gives each
primitive its label where it defines it; a primitive without one is drawn as its symbol and parameters."""

from __future__ import annotations

from typing import Any

import numpy as np


def reduction(name: str) -> Any:
    def label(params: dict) -> str:
        axis = params.get("axis")
        args = []
        if axis is not None:
            args.append(f"dim={axis[0] if len(axis) == 1 else tuple(axis)}")
        if params.get("keepdims"):
            args.append("keepdim=True")
        return f"{name}({', '.join(args)})" if args else name
    return label


def transpose(params: dict) -> str:
    axes = tuple(params["axes"])
    moved = [i for i, a in enumerate(axes) if a != i]
    if len(moved) == 2:  # a swap of two dims: PyTorch's transpose(d0, d1)
        return f"transpose({moved[0]}, {moved[1]})"
    return f"permute{axes}"


def pad(params: dict) -> str:
    widths = [f"dim {d}: {b}, {a}" for d, (b, a) in enumerate(params["pad_width"]) if b or a]
    value = params.get("value", 0)
    return f"pad({'; '.join(widths)}{'' if value == 0 else f'; value={value}'})"


def windows(name: str) -> Any:
    def label(params: dict) -> str:
        args = [f"kernel={tuple(params['kernel_size'])}"]
        for key in ("stride", "dilation"):
            if any(s != 1 for s in params[key]):
                args.append(f"{key}={tuple(params[key])}")
        return f"{name}({', '.join(args)})"
    return label


def getitem(params: dict) -> str:
    index = params["index"]
    dim = gather_dim(index)
    if dim is not None:
        return f"gather(dim={dim})"
    return "x" + format_index(index)


def index_put(params: dict) -> str:
    return f"x{format_index(params['index'])} = v"


def clamp(params: dict) -> str:
    args = [f"{k}={short(params[k])}" for k in ("min", "max") if params.get(k) is not None]
    return f"clamp({', '.join(args)})"


def fixed(text: str) -> Any:
    """A label that is always `text` (no parameters worth showing)."""
    return lambda params: text


def index_add(params: dict) -> str:
    return f"index_add{format_index(params['index'])}"


def astype(params: dict) -> str:
    return f"to({np.dtype(params['dtype']).name})"


def cat(params: dict) -> str:
    return f"cat(dim={params['axis']})"


def flip(params: dict) -> str:
    axis = params["axis"]
    return f"flip(dim={axis[0] if len(axis) == 1 else tuple(axis)})"


def einsum(params: dict) -> str:
    return f"einsum({params['subscripts']})"


def format_index(index: tuple) -> str:
    """numpy index tuple -> the Python subscript that made it: `[0:2]`, `[:, ::-1]`, `[mask(3,)]`."""
    parts = []
    for i in index:
        if i is None:
            parts.append("None")
        elif i is Ellipsis:
            parts.append("...")
        elif isinstance(i, slice):
            text = ("" if i.start is None else str(i.start)) + ":" + ("" if i.stop is None else str(i.stop))
            parts.append(text + (f":{i.step}" if i.step is not None else ""))
        elif isinstance(i, np.ndarray):
            if i.dtype == bool:
                parts.append(f"mask{i.shape}")
            elif i.ndim == 1 and i.size <= 4:
                parts.append(str(i.tolist()))
            else:
                parts.append(f"idx{i.shape}")
        else:
            parts.append(str(int(i)))
    return "[" + ", ".join(parts) + "]"


def gather_dim(index: tuple) -> int | None:
    """The dim of `gather(dim, idx)` if `index` is gather's (one index array, arange grids elsewhere)."""
    if len(index) < 2 or not all(isinstance(i, np.ndarray) and i.dtype.kind in "iu" and i.ndim == len(index)
                                  for i in index):
        return None
    odd = [d for d, i in enumerate(index)
           if not (i.shape[d] == i.size and np.array_equal(i.reshape(-1), np.arange(i.size)))]
    return odd[0] if len(odd) == 1 else None


def short(value: Any) -> str:
    """A parameter or constant as written: 2, 0.5, 1.00001, [0, 2], array(3, 4)."""
    if isinstance(value, np.ndarray):
        return f"array{value.shape}" if value.size > 4 else str(value.tolist())
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
