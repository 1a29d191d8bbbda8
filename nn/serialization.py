"""`nn.save(obj, path)` and `nn.load(path)`: state dicts to and from files, without pickle.

Loading a file can never run code: the format holds only raw numbers and JSON text.

The file format is safetensors (https://github.com/huggingface/safetensors), read and written with the
`safetensors` library itself, so that nn.load accepts exactly the files its reference parser accepts:

    bytes 0..8     N, the length of the header, as a little-endian unsigned 64-bit integer
    bytes 8..8+N   the header: UTF-8 JSON
                   {"<tensor name>": {"dtype": "F32", "shape": [16, 8], "data_offsets": [begin, end]}, ...,
                    "__metadata__": {"format": "glassgrad", "glassgrad.structure": "<JSON, see below>",
                                     "glassgrad.sha256": "<hex digest, see below>"}}
    the rest       the tensors' bytes, little-endian, C order, one after the other (offsets count from here)

dtypes: BOOL, I8 I16 I32 I64, U8 U16 U32 U64, F16 F32 F64, C64. Arrays of another byte order are stored
little-endian (the values are unchanged); other dtypes (complex128, float128, strings, objects) are refused
when saving, saying why. Files from other tools may also hold BF16, which loads as float32 (exactly: a
bfloat16 is the top half of a float32); the 8-, 6- and 4-bit float dtypes have no numpy type and are refused.

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

safetensors has no checksum, and a flipped bit in a tensor's bytes would load as a silently different weight.
So "glassgrad.sha256" holds the SHA-256 of everything else the file says: the other metadata entries and,
in name order, each tensor's name, dtype, shape and bytes (see `_checksum`). `nn.load` verifies it when present
(files written before it existed, and by other tools, have none).

    >>> import tempfile, os, nn
    >>> model = nn.Linear(3, 2)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> nn.save(model.state_dict(), path)
    >>> model.load_state_dict(nn.load(path))
    IncompatibleKeys(missing_keys=[], unexpected_keys=[])
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import pickletools
import secrets
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import safetensors
import safetensors.numpy

from autograd import Tensor, from_numpy

__all__ = ["save", "load", "SerializationError"]

# numpy (kind, itemsize) -> safetensors dtype, for saving; the reverse for loading (all little-endian).
_CODES = {("b", 1): "BOOL", ("i", 1): "I8", ("i", 2): "I16", ("i", 4): "I32", ("i", 8): "I64",
          ("u", 1): "U8", ("u", 2): "U16", ("u", 4): "U32", ("u", 8): "U64",
          ("f", 2): "F16", ("f", 4): "F32", ("f", 8): "F64", ("c", 8): "C64"}
_DTYPES = {code: np.dtype(f"<{kind}{size}") if kind != "b" else np.dtype(bool) for (kind, size), code in _CODES.items()}
_STRUCTURE, _CHECKSUM = "glassgrad.structure", "glassgrad.sha256"


class SerializationError(ValueError):
    """The file is not one `nn.load` can read: truncated, corrupted, or of another format (pickle)."""


# ---------------------------------------------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------------------------------------------
def _unstorable(dtype: np.dtype) -> str:
    """Why safetensors cannot hold an array of `dtype` (which is not in _CODES), and what to do instead."""
    if dtype.kind == "f":
        return (f"safetensors stores floats of 16, 32 and 64 bits, and this one has {dtype.itemsize * 8}; "
                "convert it with .astype(np.float64) if the rounding is acceptable")
    if dtype.kind == "c":
        return ("complex64 (C64) is the only complex dtype safetensors has; convert with .astype(np.complex64) "
                "if single precision is enough, or store the .real and .imag parts as two float64 arrays")
    if dtype.kind in "USO":
        return "safetensors holds numbers only; store text and Python objects as str/list values instead"
    if dtype.kind in "mM":
        return "safetensors has no date/time dtype; store the values with .astype(np.int64) and the unit apart"
    return "safetensors holds plain numeric arrays only (no structured or opaque dtypes)"


class _Writer:
    """Walks the object (iteratively), collecting arrays under unique names and building the tagged JSON."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def name(self, path: str) -> str:
        # A tensor name is UTF-8 text in the header: a key holding a lone surrogate gets it spelled as an escape
        # (the structure, which is ASCII JSON, still keeps the key exactly).
        name = (path or "tensor").encode("utf-8", "backslashreplace").decode("utf-8")
        if name in self.arrays or name == "__metadata__":
            i = 1
            while f"{name}#{i}" in self.arrays:
                i += 1
            name = f"{name}#{i}"
        return name

    def array(self, value: np.ndarray, path: str) -> str:
        if (value.dtype.kind, value.dtype.itemsize) not in _CODES:
            raise TypeError(f"nn.save: cannot store {path or 'the object'}, an array of dtype {value.dtype}: "
                            + _unstorable(value.dtype))
        name = self.name(path)
        # safetensors is little-endian: a big-endian array is converted (same values, swapped bytes).
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
            return {"tensor": self.array(np.asarray(value.data), path)}
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
        if hasattr(value, "state_dict") and callable(value.state_dict):  # a Module or an optimiser
            raise TypeError(f"nn.save: cannot store a whole {type(value).__name__} (at "
                            f"{path or 'the top level'}): save its state dict, nn.save(model.state_dict(), path), "
                            "and load it into a new model with model.load_state_dict(nn.load(path)). Storing "
                            "objects would need pickle, and loading a pickle can run any code.")
        raise TypeError(f"nn.save: cannot store a {type(value).__name__} at {path or 'the top level'} (supported: "
                        "tensors, numpy arrays, numbers, strings, None, and lists, tuples and dicts of those)")


def _checksum(tensors: list[tuple[str, str, list[int], Any]], metadata: Mapping[str, str]) -> str:
    """SHA-256 of a file's content, independent of its layout: the metadata entries (but the checksum itself)
    and, in name order, each tensor's (name, dtype, shape) and bytes. The JSON manifest comes first and fixes
    every tensor's size, so the concatenation is unambiguous."""
    tensors = sorted(tensors, key=lambda t: t[0])
    manifest = json.dumps([{k: v for k, v in metadata.items() if k != _CHECKSUM},
                           [[name, code, list(shape)] for name, code, shape, _ in tensors]], sort_keys=True)
    digest = hashlib.sha256(manifest.encode("ascii"))  # json.dumps escapes non-ASCII
    for *_, raw in tensors:
        digest.update(raw)
    return digest.hexdigest()


def save(obj: Any, path: str | os.PathLike) -> None:
    """Write `obj` (a state dict, or nested dicts/lists/tuples of tensors, arrays and numbers) to `path` in
    the safetensors format described in this module's docstring.

    The bytes go to a new, uniquely named file next to `path`, are flushed to disk, and that file then replaces
    `path` in one step (`os.replace`): a crash or an exception at any point leaves the previous file intact, and
    concurrent saves to one path each write a complete file (the last to finish wins).
    """
    writer = _Writer()
    structure = writer.encode(obj)
    try:
        structure_text = json.dumps(structure, separators=(",", ":"))
    except RecursionError:
        raise ValueError("nn.save: the object is nested too deeply to store (its JSON description exceeds "
                         "Python's recursion limit)") from None
    metadata = {"format": "glassgrad", _STRUCTURE: structure_text}
    metadata[_CHECKSUM] = _checksum([(name, _CODES[a.dtype.kind, a.dtype.itemsize], list(a.shape), a)
                                     for name, a in writer.arrays.items()], metadata)
    _write_atomically(os.fspath(path), safetensors.numpy.save(writer.arrays, metadata=metadata))


def _write_atomically(path: str, data: bytes) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    # Like tempfile.mkstemp (O_EXCL: never opens an existing file, and O_NOFOLLOW: never a symlink planted at
    # the name), but with mode 0o666 so that the umask applies and the checkpoint gets the permissions a plain
    # open() gives (mkstemp's 0o600 would make every checkpoint private to its owner).
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
             | getattr(os, "O_CLOEXEC", 0))
    for _ in range(100):
        temporary = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(temporary, flags, 0o666)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"nn.save: could not create a temporary file next to {path}")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the name points at them
        os.replace(temporary, path)
    except BaseException:  # including KeyboardInterrupt: leave no temporary file behind
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    # Make the rename itself durable. Not every OS or filesystem can open or fsync a directory: best effort.
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


# ---------------------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------------------
def load(path: str | os.PathLike) -> Any:
    """Read what `nn.save` wrote (tensors come back as autograd Tensors, arrays as numpy arrays), or any
    safetensors file (a flat dict of Tensors).

    Never executes code. A truncated or corrupted file, or a file of another format (pickle, torch.save, .npz),
    raises `SerializationError` naming the file and saying what is wrong.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()  # read once: a concurrent nn.save replacing the file cannot mix two versions
    try:
        entries = safetensors.deserialize(data)
        metadata = _metadata(data)
    except (safetensors.SafetensorError, ValueError, TypeError, OverflowError, RecursionError) as err:
        raise SerializationError(_explain(path, data, err)) from None
    if _CHECKSUM in metadata and metadata[_CHECKSUM] != _checksum(
            [(name, info["dtype"], info["shape"], info["data"]) for name, info in entries], metadata):
        raise SerializationError(f"nn.load: {path} is corrupted: its contents do not match the SHA-256 checksum "
                                 "nn.save stored in it (bytes changed on disk or in transfer)")
    arrays = {name: _array(path, name, info) for name, info in entries}
    if _STRUCTURE not in metadata:  # a plain safetensors file: a flat dict of tensors
        return {name: from_numpy(a) for name, a in arrays.items()}
    try:
        return _decode(json.loads(metadata[_STRUCTURE]), arrays)
    except (ValueError, KeyError, TypeError, IndexError, RecursionError) as err:
        raise SerializationError(f"nn.load: {path} is corrupted: its structure entry cannot be read ({err})"
                                 ) from None


def _metadata(data: bytes) -> dict[str, str]:
    """The header's "__metadata__" (a dict of strings), once safetensors has validated the header.
    (safetensors' Python API returns metadata from a path only, which a concurrent save may have replaced.)"""
    size = int.from_bytes(data[:8], "little")
    metadata = json.loads(data[8:8 + size]).get("__metadata__")
    return metadata if isinstance(metadata, dict) else {}


def _array(path: str, name: str, info: dict[str, Any]) -> np.ndarray:
    """The numpy array of one deserialized tensor: native byte order, and writable (loaded state is trained on)."""
    code, shape, raw = info["dtype"], tuple(info["shape"]), info["data"]
    if code != "BF16" and code not in _DTYPES:
        raise SerializationError(f"nn.load: {path}: tensor '{name}' has dtype {code}, for which numpy (and so "
                                 "glassgrad) has no type; convert it to F16/BF16/F32 with the tool that wrote it")
    if code == "BF16":  # the top 16 bits of a float32: widening is exact
        array = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
    else:
        array = np.frombuffer(raw, _DTYPES[code])
    try:
        array = array.reshape(shape)
    except (ValueError, OverflowError) as err:  # a shape numpy cannot hold (over 64 dimensions, sizes over 2**63)
        raise SerializationError(f"nn.load: {path}: tensor '{name}' of dtype {code} has shape {list(shape)}, "
                                 f"which numpy cannot hold ({err})") from None
    if not array.flags.writeable:  # older safetensors hand out read-only bytes
        array = array.copy()
    return array.astype(array.dtype.newbyteorder("="), copy=False)


def _explain(path: str, data: bytes, err: BaseException) -> str:
    """An nn.load error message for a file safetensors refused: another format we recognise, or the reason."""
    if _looks_like_pickle(data):
        return (f"nn.load: {path}: this looks like a pickle file (PyTorch's torch.save?), not a safetensors file. "
                "nn.load refuses pickle: loading it could run code. In PyTorch, load it with "
                "torch.load(path, weights_only=True) and re-save the state dict with safetensors or nn.save")
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return (f"nn.load: {path}: this looks like a zip archive (a torch.save checkpoint, which holds a pickle "
                "inside, or a numpy .npz), not a safetensors file. nn.load refuses pickle: loading it could run "
                "code. For a PyTorch state dict, load it with torch.load(path, weights_only=True) and pass it to "
                "model.load_state_dict, or re-save it with safetensors")
    if data[:6] == b"\x93NUMPY":
        return (f"nn.load: {path}: this is a numpy .npy file, not a safetensors file; read it with "
                "numpy.load(path, allow_pickle=False)")
    size = int.from_bytes(data[:8], "little") if len(data) >= 8 else None
    text = str(err)
    reasons = [  # (words in safetensors' message, across its versions) -> what they mean
        (("header too small", "headertoosmall"),
         f"it is {len(data)} bytes long, too short to hold the 8-byte header length (truncated or empty)"),
        (("header too large", "headertoolarge"),
         f"its first 8 bytes give a header length of {size} bytes, more than safetensors allows "
         "(corrupted, or not a safetensors file)"),
        (("invalid header length", "invalidheaderlength"),
         f"its first 8 bytes give a header length of {size} bytes, but {max(len(data) - 8, 0)} bytes follow "
         "(truncated, or not a safetensors file)"),
        (("incomplete metadata", "metadataincompletebuffer"),
         "the tensors' data does not exactly fill the rest of the file (truncated, or bytes added at the end)"),
        (("invalid offset", "invalidoffset"),
         "a tensor's data offsets overlap another tensor's or leave a gap"),
        (("overflow",), "a tensor's shape is absurdly large: its size in bytes overflows"),
        (("invalid shape, data type", "tensorinvalidinfo"),
         "a tensor's shape and dtype do not match the size its data offsets give"),
        (("recursion limit",), "its header is nested too deeply"),
        (("invalid json", "invalidheaderdeserialization", "header start", "utf"),
         "its header is not the JSON a safetensors file has"),
    ]
    reason = next((why for words, why in reasons if any(w in text.lower() for w in words)),
                  "it is not a valid safetensors file")
    return f"nn.load: {path} is corrupted or not a safetensors file: {reason} (safetensors: {text})"


def _looks_like_pickle(data: bytes) -> bool:
    """True if `data` starts with a complete pickle opcode stream. pickletools only decodes opcodes (nothing is
    imported or called), so this is safe on hostile bytes. A safetensors header fails at once: its length bytes
    are not a pickle."""
    try:
        with warnings.catch_warnings():  # the STRING opcode's escape decoding warns about random bytes
            warnings.simplefilter("ignore", DeprecationWarning)
            count = sum(1 for _ in pickletools.genops(data))  # stops at STOP; raises if there is none
    except Exception:  # any decoding failure (unknown opcode, truncated argument...) means "not a pickle"
        return False
    return data[:1] == b"\x80" or count >= 3  # PROTO 2+, or a protocol-0/1 stream of some substance


def _decode(encoded: Any, arrays: dict[str, np.ndarray]) -> Any:
    """The object the structure JSON describes (iterative, like the encoder). Anything the writer cannot have
    written raises ValueError/KeyError/TypeError, which `load` reports as a corrupted file."""
    def array(name: Any) -> np.ndarray:
        if not isinstance(name, str) or name not in arrays:
            raise KeyError(f"it refers to a tensor {name!r} that the file does not hold")
        return arrays[name]

    def items(payload: Any, tag: str) -> list:
        if not isinstance(payload, list):
            raise TypeError(f"a {tag} entry holds {type(payload).__name__}, not a list")
        return payload

    # (json value, container to fill, slot)
    root: list = [None]
    stack = [(encoded, root, 0)]
    while stack:
        value, parent, slot = stack.pop()
        if isinstance(value, list):
            out: list = [None] * len(value)
            parent[slot] = out
            stack.extend((v, out, i) for i, v in enumerate(value))
        elif isinstance(value, dict):
            if len(value) != 1:
                raise ValueError(f"an entry has {len(value)} tags: {list(value)[:5]}")
            (tag, payload), = value.items()
            if tag == "tensor":
                a = array(payload)
                parent[slot] = from_numpy(a)
            elif tag == "array":
                parent[slot] = array(payload)
            elif tag == "scalar":
                a = array(payload)
                if a.ndim != 0:
                    raise ValueError(f"the scalar {payload!r} has shape {a.shape}")
                parent[slot] = a[()]
            elif tag == "float":
                if payload not in ("nan", "inf", "-inf"):
                    raise ValueError(f"unknown float {payload!r}")
                parent[slot] = float(payload)
            elif tag == "tuple":
                out = [None] * len(items(payload, tag))
                parent[slot] = _TupleBox(out)
                stack.extend((v, out, i) for i, v in enumerate(payload))
            elif tag == "dict":
                keys = []
                for pair in items(payload, tag):
                    if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], (str, int))
                            and not isinstance(pair[0], bool)):
                        raise ValueError(f"a dict item is {pair!r:.80}, not a [key, value] pair")
                    keys.append(pair[0])
                values: list = [None] * len(payload)
                parent[slot] = _DictBox({}, keys, values)
                stack.extend((pair[1], values, i) for i, pair in enumerate(payload))
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
