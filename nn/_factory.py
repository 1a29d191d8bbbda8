"""PyTorch's `device=None, dtype=None` layer keywords (its `factory_kwargs`), checked in one place.

Every layer with parameters or buffers ends its signature with `device=None, dtype=None`, as PyTorch's do, and
starts its `__init__` with `factory_dtype(self, device, dtype)`, which checks both and returns the dtype.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autograd.device import check_device

_FLOAT32 = np.dtype(np.float32)


def factory_dtype(layer: Any, device: Any, dtype: Any) -> np.dtype:
    """The numpy dtype of `layer`'s parameters and floating-point buffers: float32 unless `dtype` says otherwise.

    `device` is checked as the tensor factories check it: None, 'cpu', 'cpu:0' and autograd.device('cpu') are
    accepted; 'cuda', 'mps', ... raise `autograd.DeviceError` naming the layer (`layer` is the module being
    built, or a name). Parameters must be floating point, so another `dtype` is a TypeError naming the layer.

    >>> factory_dtype("Linear", "cpu", None), factory_dtype("Linear", None, "float64")
    (dtype('float32'), dtype('float64'))
    """
    name = layer if isinstance(layer, str) else type(layer).__name__
    if isinstance(device, (type, np.dtype)):
        # a dtype passed positionally where dtype sat before device= existed (`Linear(3, 4, True, float64)`)
        raise TypeError(f"{name}: device={getattr(device, '__name__', device)} is a dtype: pass it as "
                        f"dtype={getattr(device, '__name__', device)} (the layer's last two parameters are "
                        "device=None, dtype=None, as in PyTorch)")
    check_device(device, name)
    if dtype is None:
        return _FLOAT32
    try:
        dt = np.dtype(dtype)
    except TypeError as err:
        raise TypeError(f"{name}: dtype {dtype!r} is not a dtype ({err})") from None
    if dt.kind != "f":
        raise TypeError(f"{name}: dtype must be a floating-point dtype (float32, float64, float16) for its "
                        f"parameters, got {dt}")
    return dt
