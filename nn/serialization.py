"""`nn.save(obj, path)` and `nn.load(path)`: state dicts to and from files, without pickle.

Loading a file can never run code: the format holds only raw numbers and JSON text.

The file format is safetensors (https://github.com/huggingface/safetensors), written and read here with
numpy alone:

    bytes 0..8     N, the length of the header, as a little-endian unsigned 64-bit integer
    bytes 8..8+N   the header: UTF-8 JSON, padded with spaces to a multiple of 8 bytes
                   {"<tensor name>": {"dtype": "F32", "shape": [16, 8], "data_offsets": [begin, end]}, ...,
                    "__metadata__": {"format": "glassgrad", "glassgrad.structure": "<JSON, see below>"}}
    the rest       the tensors' bytes, little-endian, C order, one after the other (offsets count from here)

dtypes: F64 F32 F16 I64 I32 I16 I8 U64 U32 U16 U8 BOOL.

A flat `{name: tensor}` dict (a model's `state_dict()`) is stored under its own names, so the file is an
ordinary safetensors file that other tools (e.g. `safetensors.torch.load_file`) read directly; `nn.load` also
reads safetensors files written by those tools (as a flat dict of tensors).

Anything else that `nn.save` accepts (an optimiser's state dict, a checkpoint bundling a model, an optimiser
and an epoch number) is nested dicts, lists and tuples of tensors, numpy arrays and numbers. Its shape is kept
in the metadata entry "glassgrad.structure" as tagged JSON, in which every leaf is spelled unambiguously:

    null, true/false, 12, 0.5, "text"       None, bools, ints, finite floats, strings, as JSON has them
    [a, b, ...]                             a list
    {"tuple": [a, b, ...]}                  a tuple
    {"dict": [[key, value], ...]}           a dict, in order (keys are ints or strings)
    {"float": "nan" | "inf" | "-inf"}       floats JSON cannot spell
    {"tensor": name} / {"array": name}      an autograd Tensor / a numpy array stored under `name`
    {"scalar": name}                        a numpy scalar (np.float32(0.5)), stored as a 0-d tensor

    >>> import tempfile, os, nn
    >>> model = nn.Linear(3, 2)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> nn.save(model.state_dict(), path)
    >>> model.load_state_dict(nn.load(path))
    IncompatibleKeys(missing_keys=[], unexpected_keys=[])
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

from autograd import Tensor

__all__ = ["save", "load", "SerializationError"]

_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
           "I16": np.int16, "I8": np.int8, "U64": np.uint64, "U32": np.uint32, "U16": np.uint16, "U8": np.uint8,
           "BOOL": np.bool_}
_CODES = {np.dtype(v): k for k, v in _DTYPES.items()}
_MAX_HEADER = 100 * 1024 * 1024  # the safetensors limit: a larger "header length" means a damaged file


class SerializationError(ValueError):
    """The file is not one `nn.load` can read: truncated, corrupted, or of another format (pickle)."""


# ---------------------------------------------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------------------------------------------
class _Writer:
    """Walks the object (iteratively), collecting arrays under unique names and building the tagged JSON."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def name(self, path: str) -> str:
        name = path or "tensor"
        if name in self.arrays or name == "__metadata__":
            i = 1
            while f"{name}#{i}" in self.arrays:
                i += 1
            name = f"{name}#{i}"
        return name

    def array(self, value: np.ndarray, path: str) -> str:
        if value.dtype not in _CODES:
            raise TypeError(f"nn.save: cannot store {path or 'the object'} of dtype {value.dtype} (supported: "
                            "floating, integer and boolean arrays)")
        name = self.name(path)
        # (np.asarray, not np.ascontiguousarray: the latter turns a 0-d array into a 1-d one)
        self.arrays[name] = np.asarray(value, dtype=value.dtype.newbyteorder("<"), order="C")
        return name

    def encode(self, obj: Any) -> Any:
        # An explicit stack of (value, path, container-to-fill, slot) items: no recursion, any depth.
        root: list = [None]
        stack = [(obj, "", root, 0)]
        while stack:
            value, path, parent, slot = stack.pop()
            parent[slot] = self.leaf(value, path, stack)
        return root[0]

    def leaf(self, value: Any, path: str, stack: list) -> Any:
        """The JSON for `value`; containers get an empty shell whose items are pushed onto `stack`."""
        def child(key: Any) -> str:
            return f"{path}.{key}" if path else str(key)

        if isinstance(value, Tensor):
            return {"tensor": self.array(np.asarray(value._data), path)}
        if isinstance(value, np.ndarray):
            return {"array": self.array(value, path)}
        if isinstance(value, np.generic):
            return {"scalar": self.array(np.asarray(value), path)}
        if value is None or isinstance(value, (bool, int, str)):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else {"float": repr(value)}
        if isinstance(value, (list, tuple)):
            items: list = [None] * len(value)
            for i in reversed(range(len(value))):
                stack.append((value[i], child(i), items, i))
            return items if isinstance(value, list) else {"tuple": items}
        if isinstance(value, Mapping):
            pairs: list = []
            for key in value:
                if not isinstance(key, (str, int)) or isinstance(key, bool):
                    raise TypeError(f"nn.save: dict keys must be strings or ints, got {key!r} at "
                                    f"{path or 'the top level'}")
                pairs.append([key, None])
            for i in reversed(range(len(pairs))):
                stack.append((value[pairs[i][0]], child(pairs[i][0]), pairs[i], 1))
            return {"dict": pairs}
        raise TypeError(f"nn.save: cannot store a {type(value).__name__} at {path or 'the top level'} (supported: "
                        "tensors, numpy arrays, numbers, strings, None, and lists, tuples and dicts of those)")


def save(obj: Any, path: str | os.PathLike) -> None:
    """Write `obj` (a state dict, or nested dicts/lists/tuples of tensors, arrays and numbers) to `path` in
    the safetensors format described in this module's docstring. The file is written next to its final
    name and then renamed, so an interrupted save never leaves a half-written checkpoint behind."""
    writer = _Writer()
    structure = writer.encode(obj)
    header: dict[str, Any] = {}
    offset = 0
    for name, array in writer.arrays.items():
        header[name] = {"dtype": _CODES[array.dtype.newbyteorder("=")], "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    header["__metadata__"] = {"format": "glassgrad", "glassgrad.structure": json.dumps(structure)}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    path = os.fspath(path)
    partial = path + ".partial"
    with open(partial, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for array in writer.arrays.values():
            f.write(array.tobytes(order="C"))
    os.replace(partial, path)


# ---------------------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------------------
def _refuse_other_formats(path: str, head: bytes) -> None:
    if head[:1] == b"\x80":  # the PROTO opcode that starts every pickle of protocol 2 or later
        raise SerializationError(f"nn.load: {path} is a pickle file. Loading pickle can run arbitrary code, so "
                                 "nn.load refuses it; re-save the data with nn.save (from a state dict)")
    if head[:4] == b"PK\x03\x04":
        raise SerializationError(f"nn.load: {path} is a zip archive (a torch.save checkpoint, which contains "
                                 "pickle, or a numpy .npz), not an nn.save file. For a PyTorch state dict, load it "
                                 "with torch and pass it to model.load_state_dict, or save it with safetensors")
    if head[:6] == b"\x93NUMPY":
        raise SerializationError(f"nn.load: {path} is a numpy .npy file, not an nn.save file; read it with "
                                 "numpy.load(path, allow_pickle=False)")


def load(path: str | os.PathLike) -> Any:
    """Read what `nn.save` wrote (tensors come back as autograd Tensors, arrays as numpy arrays).

    Never executes code. A truncated or corrupted file, or a file of another format (pickle, torch.save, .npz),
    raises `SerializationError` saying what is wrong.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    _refuse_other_formats(path, data[:8])
    if len(data) < 8:
        raise SerializationError(f"nn.load: {path} is truncated or not an nn.save file: {len(data)} bytes, "
                                 "less than the 8-byte header length")
    (size,) = struct.unpack("<Q", data[:8])
    if size > _MAX_HEADER:
        raise SerializationError(f"nn.load: {path} is not an nn.save (safetensors) file or is corrupted: its "
                                 f"header length field says {size} bytes")
    if 8 + size > len(data):
        raise SerializationError(f"nn.load: {path} is truncated: the header needs {size} bytes, but only "
                                 f"{len(data) - 8} follow the length field")
    try:
        header = json.loads(data[8:8 + size].decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
    except (ValueError, UnicodeDecodeError) as err:
        raise SerializationError(f"nn.load: {path} is corrupted or not an nn.save file: its header is not valid "
                                 f"JSON ({err})") from None
    metadata = header.pop("__metadata__", None) or {}
    body = memoryview(data)[8 + size:]
    arrays = {name: _read_array(path, name, info, body) for name, info in header.items()}
    structure = metadata.get("glassgrad.structure") if isinstance(metadata, dict) else None
    if structure is None:  # a plain safetensors file: a flat dict of tensors
        return {name: Tensor._wrap(a[()] if a.ndim == 0 else a) for name, a in arrays.items()}
    try:
        return _decode(json.loads(structure), arrays)
    except (ValueError, KeyError, TypeError, IndexError) as err:
        raise SerializationError(f"nn.load: {path} is corrupted: its structure entry cannot be read ({err})"
                                 ) from None


def _read_array(path: str, name: str, info: Any, body: memoryview) -> np.ndarray:
    try:
        dtype = np.dtype(_DTYPES[info["dtype"]]).newbyteorder("<")
        shape = tuple(int(n) for n in info["shape"])
        begin, end = (int(v) for v in info["data_offsets"])
    except (KeyError, TypeError, ValueError):
        raise SerializationError(f"nn.load: {path} is corrupted: the entry for '{name}' is not a valid tensor "
                                 f"description ({info!r:.200})") from None
    count = math.prod(shape)
    if any(n < 0 for n in shape) or begin < 0 or end - begin != count * dtype.itemsize:
        raise SerializationError(f"nn.load: {path} is corrupted: '{name}' has shape {shape} and dtype "
                                 f"{info['dtype']} but its data offsets are [{begin}, {end}]")
    if end > len(body):
        raise SerializationError(f"nn.load: {path} is truncated: '{name}' needs bytes {begin}..{end} of the data, "
                                 f"but the file holds only {len(body)}")
    array = np.frombuffer(body, dtype=dtype, count=count, offset=begin).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)  # own, writable, native-endian memory


def _decode(encoded: Any, arrays: dict[str, np.ndarray]) -> Any:
    # Iterative, like the encoder: (json value, container to fill, slot)
    root: list = [None]
    stack = [(encoded, root, 0)]
    while stack:
        value, parent, slot = stack.pop()
        if isinstance(value, list):
            items: list = [None] * len(value)
            parent[slot] = items
            stack.extend((v, items, i) for i, v in enumerate(value))
        elif isinstance(value, dict):
            (tag, payload), = value.items()
            if tag == "tensor":
                a = arrays[payload]
                parent[slot] = Tensor._wrap(a[()] if a.ndim == 0 else a)
            elif tag == "array":
                parent[slot] = arrays[payload]
            elif tag == "scalar":
                parent[slot] = arrays[payload][()]
            elif tag == "float":
                parent[slot] = float(payload)
            elif tag == "tuple":
                items = [None] * len(payload)
                parent[slot] = _TupleBox(items)
                stack.extend((v, items, i) for i, v in enumerate(payload))
            elif tag == "dict":
                values: list = [None] * len(payload)
                parent[slot] = _DictBox({}, [key for key, _ in payload], values)
                stack.extend((v, values, i) for i, (_, v) in enumerate(payload))
            else:
                raise ValueError(f"unknown tag {tag!r}")
        else:
            parent[slot] = value
    return _finish(root[0])


class _TupleBox:
    """A tuple being filled in (tuples are immutable, so they are built once their items are decoded)."""

    __slots__ = ("items",)

    def __init__(self, items: list) -> None:
        self.items = items


class _DictBox:
    __slots__ = ("out", "keys", "values")

    def __init__(self, out: dict, keys: list, values: list) -> None:
        self.out, self.keys, self.values = out, keys, values


def _finish(value: Any) -> Any:
    """Turn the boxes into tuples and dicts, children before parents (iteratively)."""
    order: list = []
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, (list, _TupleBox, _DictBox)):
            order.append(v)
            stack.extend(v if isinstance(v, list) else v.items if isinstance(v, _TupleBox) else v.values)
    done: dict[int, Any] = {}

    def resolved(v: Any) -> Any:
        return done.get(id(v), v) if isinstance(v, (list, _TupleBox, _DictBox)) else v

    for container in reversed(order):
        if isinstance(container, list):
            container[:] = [resolved(v) for v in container]
            done[id(container)] = container
        elif isinstance(container, _TupleBox):
            done[id(container)] = tuple(resolved(v) for v in container.items)
        else:
            for key, v in zip(container.keys, container.values):
                container.out[key] = resolved(v)
            done[id(container)] = container.out
    return resolved(value)
