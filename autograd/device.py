"""Devices: PyTorch's `device` plumbing on a library that computes on the CPU only.

Every PyTorch script carries device code, even on a machine without a GPU:

    >>> import autograd
    >>> device = autograd.device("cuda" if autograd.cuda.is_available() else "cpu")
    >>> device
    device(type='cpu')
    >>> x = autograd.zeros(2, 3, device=device).to(device)
    >>> x.device == autograd.device("cpu")
    True

Here that code runs as on a CPU-only build of PyTorch: `cuda.is_available()` is False, every tensor lives on
`device(type='cpu')`, and `.to("cpu")` / `.cpu()` return the tensor itself. Asking for a GPU ("cuda", "mps")
raises `DeviceError`, which says that the arrays are numpy's and points to the README's section on scaling.

The check runs in the factories and in `.to(...)` only (`check_device`); operations never look at devices,
so their cost does not change.
"""

from __future__ import annotations

from typing import Any

__all__ = ["device", "DeviceError", "check_device", "is_device", "cuda", "backends", "accelerator"]

# PyTorch's device types that a user may name; only "cpu" has storage here (the rest raise DeviceError when
# used, as on a PyTorch build without them)
_KNOWN_TYPES = ("cpu", "cuda", "mps", "xpu", "xla", "meta", "hip", "mtia", "ipu", "hpu", "privateuseone")


class DeviceError(RuntimeError):
    """A tensor or module was asked to live on a device other than the CPU (e.g. 'cuda' or 'mps')."""


class device:
    """Where a tensor's data lives: `device("cpu")`, `device("cpu", 0)`, `device("cuda:0")`.

    Constructing any of PyTorch's device types works (as it does in PyTorch without a GPU); placing a tensor
    on anything but the CPU raises `DeviceError`. Equality, hashing, `str` ('cpu:0') and `repr`
    (`device(type='cpu', index=0)`) are PyTorch's.
    """

    __slots__ = ("_type", "_index")

    def __init__(self, type: Any, index: int | None = None) -> None:
        if isinstance(type, device):
            if index is not None:
                raise TypeError("device: an index cannot be given together with a device object")
            self._type, self._index = type._type, type._index
            return
        if isinstance(type, int) and not isinstance(type, bool):  # torch.device(0) means the first GPU
            type, index = "cuda", type
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string such as 'cpu' or 'cuda:0', got {type!r}")
        name, colon, number = type.partition(":")
        if colon:
            if index is not None:
                raise ValueError(f"device: type (string) must not include an index because index was passed "
                                 f"explicitly: {type!r}")
            if not number.isdigit():
                raise ValueError(f"device: invalid device string {type!r} (expected 'cpu', 'cpu:0', 'cuda:1', ...)")
            index = int(number)
        if name not in _KNOWN_TYPES:
            raise ValueError(f"device: expected one of {', '.join(_KNOWN_TYPES)} device type at start of device "
                             f"string: {type!r}")
        if index is not None and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
            raise ValueError(f"device: the index must be a non-negative integer, got {index!r}")
        self._type, self._index = name, index

    @property
    def type(self) -> str:
        return self._type

    @property
    def index(self) -> int | None:
        return self._index

    def __eq__(self, other: object) -> bool:
        if isinstance(other, device):
            return self._type == other._type and self._index == other._index
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self._type, self._index))

    def __str__(self) -> str:
        return self._type if self._index is None else f"{self._type}:{self._index}"

    def __repr__(self) -> str:
        if self._index is None:
            return f"device(type='{self._type}')"
        return f"device(type='{self._type}', index={self._index})"

    def __reduce__(self) -> tuple:  # (a device is pickled into DataLoader workers with a dataset)
        return device, (self._type, self._index)


CPU = device("cpu")  # what `Tensor.device` returns


def not_available(what: Any, caller: str) -> DeviceError:
    """The error for a device other than the CPU: what was asked, where, and what to do instead."""
    return DeviceError(
        f"{caller}: device {str(what)!r} is not available: this library computes with numpy on the CPU only "
        "(autograd.cuda.is_available() is False). Use device='cpu', or choose it as PyTorch scripts do: "
        "device = autograd.device('cuda' if autograd.cuda.is_available() else 'cpu'). To train on GPUs or "
        "several machines, see the README's section 'When one machine is not enough'.")


def check_device(value: Any, caller: str) -> None:
    """Accept `value` as a device argument (None, 'cpu', 'cpu:0', device('cpu'), ...) or raise `DeviceError`
    for a device without storage here, and TypeError/ValueError for something that is not a device."""
    # the common cases first, without building a device object
    if value is None or value is CPU or (value.__class__ is str and value == "cpu"):
        return
    d = value if isinstance(value, device) else device(value)
    if d._type != "cpu":
        raise not_available(d, caller)
    if d._index not in (None, 0):  # (PyTorch also refuses cpu:1 when it allocates)
        raise DeviceError(f"{caller}: device {str(d)!r} does not exist: the CPU is device 'cpu' (or 'cpu:0')")


def is_device(value: Any) -> bool:
    """Whether `value` names a device (a device object, or a string such as 'cpu' or 'cuda:0'), as opposed to a
    dtype, for the overloaded `Tensor.to(...)` and `Module.to(...)`."""
    if isinstance(value, device):
        return True
    if isinstance(value, str):
        return value.partition(":")[0] in _KNOWN_TYPES
    return False


_TO_KEYWORDS = ("dtype", "device", "non_blocking", "copy", "memory_format")


def parse_to(caller: str, args: tuple, kwargs: dict) -> tuple[Any, bool]:
    """The dtype (or None) and the `copy` flag of PyTorch's overloaded `to`: `to(dtype)`, `to(device)`,
    `to(device, dtype)`, `to(other)` (a tensor's dtype; the caller passes `other.dtype` in its place), with
    `non_blocking`/`copy` after them and the keywords `dtype=`, `device=`, `non_blocking=`, `copy=`,
    `memory_format=`. A device other than the CPU raises `DeviceError`."""
    unknown = set(kwargs) - set(_TO_KEYWORDS)
    if unknown:
        raise TypeError(f"{caller}: unexpected keyword argument {sorted(unknown)[0]!r} (it takes dtype=, device=, "
                        "non_blocking=, copy=, memory_format=)")
    args = list(args)
    if args and (args[0] is None or is_device(args[0])):
        check_device(args.pop(0), caller)
    elif args and isinstance(args[0], int) and not isinstance(args[0], bool):  # to(0): the first GPU
        raise not_available(device(args.pop(0)), caller)
    dtype = args.pop(0) if args and not isinstance(args[0], bool) else None
    flags = [args.pop(0) if args else False for _ in range(2)]  # non_blocking, copy
    if args:
        raise TypeError(f"{caller}: too many arguments; expected to(dtype), to(device), to(device, dtype) or "
                        f"to(tensor), got {len(args)} more")
    if "device" in kwargs:
        check_device(kwargs["device"], caller)
    if "dtype" in kwargs:
        if dtype is not None:
            raise TypeError(f"{caller}: the dtype was given twice")
        dtype = kwargs["dtype"]
    return dtype, bool(kwargs.get("copy", flags[1]))


class _NoGPU:
    """A namespace like `torch.cuda` on a build without it: nothing is available."""

    def __init__(self, name: str) -> None:
        self._name = name

    def is_available(self) -> bool:
        """False: there is no GPU backend."""
        return False

    def is_built(self) -> bool:
        """False: the library was built without this backend."""
        return False

    def device_count(self) -> int:
        """0 devices."""
        return 0

    def is_initialized(self) -> bool:
        return False

    def manual_seed(self, seed: int) -> None:
        """Ignored, as in PyTorch without a GPU (seed the CPU generator with autograd.manual_seed)."""

    def manual_seed_all(self, seed: int) -> None:
        """Ignored, as in PyTorch without a GPU."""

    def empty_cache(self) -> None:
        """Nothing to free."""

    def current_device(self) -> int:
        raise not_available(self._name, f"autograd.{self._name}.current_device")

    def synchronize(self, device: Any = None) -> None:
        raise not_available(self._name, f"autograd.{self._name}.synchronize")

    def __repr__(self) -> str:
        return f"<autograd.{self._name}: not available (CPU only)>"


cuda = _NoGPU("cuda")


class _Cudnn:
    """`torch.backends.cudnn`: not available; the flags scripts set for reproducibility are accepted."""

    deterministic = False
    benchmark = False
    enabled = True

    def is_available(self) -> bool:
        return False

    def version(self) -> None:
        return None


class _Backends:
    """`torch.backends`: `mps` and `cudnn` exist and report that nothing is available."""

    def __init__(self) -> None:
        self.mps = _NoGPU("backends.mps")
        self.cuda = _NoGPU("backends.cuda")
        self.cudnn = _Cudnn()


backends = _Backends()


class _Accelerator:
    """`torch.accelerator` (PyTorch 2.6+): no accelerator, so scripts choose the CPU."""

    def is_available(self) -> bool:
        return False

    def device_count(self) -> int:
        return 0

    def current_accelerator(self, check_available: bool = False) -> None:
        return None


accelerator = _Accelerator()
