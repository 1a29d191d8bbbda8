"""Every layer with parameters or buffers takes PyTorch's `device=None, dtype=None` keywords (its factory_kwargs),
so `nn.Linear(784, 128, device=device)` runs as on a CPU-only PyTorch build.

The layers are found, not listed: every nn.Module subclass exported from `nn` is built (with the arguments in
ARGS when it needs some), and each one that then holds a parameter or a buffer is checked: device='cpu' and
device=autograd.device('cpu') are accepted, device='cuda' raises DeviceError naming the layer, and dtype=float64
gives float64 parameters and float buffers. A new exported layer is checked without editing this file (or the
build test below fails and says which arguments to add).
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest

import autograd
import nn
from autograd import DeviceError

# Arguments for the exported modules that cannot be built without any. name -> (args, kwargs).
ARGS: dict[str, tuple[tuple, dict]] = {
    "Linear": ((3, 4), {}),
    "Bilinear": ((2, 3, 4), {}),
    "Maxout": ((3, 4, 2), {}),
    "Conv1d": ((2, 4, 3), {}),
    "Conv2d": ((2, 4, 3), {}),
    "ConvTranspose1d": ((2, 4, 3), {}),
    "ConvTranspose2d": ((2, 4, 3), {}),
    "BatchNorm1d": ((3,), {}),
    "BatchNorm2d": ((3,), {}),
    "SyncBatchNorm": ((3,), {}),
    "LayerNorm": ((4,), {}),
    "RNN": ((3, 4), {}),
    "LSTM": ((3, 4), {}),
    "GRU": ((3, 4), {}),
    "RNNCell": ((3, 4), {}),
    "LSTMCell": ((3, 4), {}),
    "GRUCell": ((3, 4), {}),
    "Embedding": ((5, 3), {}),
    "GCNConv": ((3, 2), {}),
    "MultiheadAttention": ((4, 2), {}),
    "TransformerEncoderLayer": ((4, 2, 8), {}),
    "TransformerDecoderLayer": ((4, 2, 8), {}),
    "Transformer": ((4, 2, 1, 1, 8), {}),
    "PositionalEncoding": ((4,), {"max_len": 10}),
    "Threshold": ((0.1, 0.0), {}),
    "Unflatten": ((1, (2, 2)), {}),
    "MaxPool1d": ((2,), {}),
    "MaxPool2d": ((2,), {}),
    "AvgPool1d": ((2,), {}),
    "AvgPool2d": ((2,), {}),
    "MaxUnpool1d": ((2,), {}),
    "MaxUnpool2d": ((2,), {}),
    "AdaptiveAvgPool1d": ((2,), {}),
    "AdaptiveAvgPool2d": ((2,), {}),
    "PixelShuffle": ((2,), {}),
    "PixelUnshuffle": ((2,), {}),
}
# Other ways of building a layer that change which parameters and buffers it makes.
VARIANTS: dict[str, tuple[str, tuple, dict]] = {
    "Linear[bias=False]": ("Linear", (3, 4), {"bias": False}),
    "BatchNorm1d[affine=False]": ("BatchNorm1d", (3,), {"affine": False}),  # buffers only
    "BatchNorm2d[momentum=None]": ("BatchNorm2d", (3,), {"momentum": None}),
    "LSTM[2 layers, bidirectional]": ("LSTM", (3, 4), {"num_layers": 2, "bidirectional": True}),
    "RNNCell[relu]": ("RNNCell", (3, 4), {"nonlinearity": "relu"}),
    "RNN[relu]": ("RNN", (3, 4), {"nonlinearity": "relu"}),
    "MultiheadAttention[kdim, vdim, bias_kv]": ("MultiheadAttention", (4, 2),
                                                {"kdim": 3, "vdim": 5, "add_bias_kv": True}),
    "Embedding[padding_idx]": ("Embedding", (5, 3), {"padding_idx": 0}),
    "GCNConv[bias=False]": ("GCNConv", (3, 2), {"bias": False}),
}
# Containers hold the modules they are given (PyTorch's take no device= either).
CONTAINERS = {"Sequential", "ModuleList", "ModuleDict", "TransformerEncoder", "TransformerDecoder"}

EXPORTED = sorted(name for name, obj in vars(nn).items()
                  if isinstance(obj, type) and issubclass(obj, nn.Module) and obj is not nn.Module)


def _build(name: str, **extra: Any) -> nn.Module:
    cls_name, args, kwargs = VARIANTS[name] if name in VARIANTS else (name, *ARGS.get(name, ((), {})))
    return getattr(nn, cls_name)(*args, **kwargs, **extra)


def _state(module: nn.Module) -> list[tuple[str, Any]]:
    return list(module.named_parameters()) + [(n, b) for n, b in module.named_buffers() if b is not None]


def _has_state(name: str) -> bool:
    try:
        return bool(_state(_build(name)))
    except Exception:  # reported by test_every_exported_module_can_be_built
        return False


WITH_STATE = [name for name in EXPORTED if name not in CONTAINERS and _has_state(name)]


@pytest.mark.parametrize("name", [n for n in EXPORTED if n not in CONTAINERS])
def test_every_exported_module_can_be_built(name: str) -> None:
    try:
        _build(name)
    except TypeError as err:
        pytest.fail(f"nn.{name} cannot be built with ARGS.get({name!r}): add its arguments to ARGS ({err})")


def test_the_walk_finds_the_layers() -> None:
    # the layers PyTorch users reach for first must be among those found (the walk itself is not empty)
    assert {"Linear", "Bilinear", "Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d", "BatchNorm1d",
            "BatchNorm2d", "LayerNorm", "SyncBatchNorm", "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell",
            "Embedding", "GCNConv", "MultiheadAttention", "Transformer", "PositionalEncoding"} <= set(WITH_STATE)
    assert "ReLU" not in WITH_STATE and "MaxPool2d" not in WITH_STATE


@pytest.mark.parametrize("name", WITH_STATE + sorted(VARIANTS))
def test_layers_take_device_and_dtype(name: str) -> None:
    cls_name = VARIANTS[name][0] if name in VARIANTS else name
    # the CPU, as a string and as a device object: the same layer as without device=
    autograd.manual_seed(0)
    plain = _state(_build(name))
    for device in ("cpu", "cpu:0", autograd.device("cpu"), autograd.device("cpu", 0), None):
        autograd.manual_seed(0)
        state = _state(_build(name, device=device))
        assert [n for n, _ in state] == [n for n, _ in plain]
        for (_, a), (_, b) in zip(state, plain):
            assert a.dtype == b.dtype and np.array_equal(a.numpy(), b.numpy())
    # a GPU: refused, naming the layer
    for gpu in ("cuda", "mps", autograd.device("cuda", 0)):
        with pytest.raises(DeviceError, match=rf"^{cls_name}: device '{gpu}' is not available"):
            _build(name, device=gpu)
    # dtype: parameters and floating-point buffers in it; float32 by default; integer buffers
    # (BatchNorm's num_batches_tracked) keep their dtype
    for dtype, expected in ((None, np.float32), (autograd.float64, np.float64), ("float64", np.float64),
                            (np.float16, np.float16)):
        for key, value in _state(_build(name, device="cpu", dtype=dtype)):
            if value.dtype.kind == "f":
                assert value.dtype == expected, (key, value.dtype)
            else:
                assert key.endswith("num_batches_tracked") and value.dtype == np.int64


@pytest.mark.parametrize("name", WITH_STATE)
def test_device_and_dtype_come_last_and_default_to_none(name: str) -> None:
    parameters = inspect.signature(getattr(nn, name)).parameters
    names = [p.name for p in parameters.values() if p.kind is not p.KEYWORD_ONLY]
    assert names[-2:] == ["device", "dtype"], names
    assert parameters["device"].default is None and parameters["dtype"].default is None


NOT_IN_PYTORCH = {"GCNConv", "Maxout", "PositionalEncoding"}  # (their device=, dtype= follow the same rule)


def test_the_layers_pytorch_lacks() -> None:
    torch = pytest.importorskip("torch")
    assert set(WITH_STATE) >= NOT_IN_PYTORCH
    assert not any(hasattr(torch.nn, name) for name in NOT_IN_PYTORCH)


@pytest.mark.parametrize("name", [n for n in WITH_STATE if n not in NOT_IN_PYTORCH])
def test_device_and_dtype_sit_where_pytorch_has_them(name: str) -> None:
    torch = pytest.importorskip("torch")
    theirs = getattr(torch.nn, name)
    their_parameters = list(inspect.signature(theirs).parameters.values())
    if any(p.kind is p.VAR_POSITIONAL for p in their_parameters):  # RNN, LSTM, GRU: (*args, **kwargs)
        theirs = theirs.__mro__[1]  # RNNBase(mode, input_size, ...)
        their_parameters = list(inspect.signature(theirs).parameters.values())[1:]
        their_parameters = [p for p in their_parameters if p.name != "proj_size"]  # (not supported here)
    ours = [p.name for p in inspect.signature(getattr(nn, name)).parameters.values() if p.kind is not p.KEYWORD_ONLY]
    their_names = [p.name for p in their_parameters if p.kind is not p.KEYWORD_ONLY]
    if name == "RNN":  # PyTorch's RNN reads nonlinearity from its **kwargs, before bias
        their_names.insert(their_names.index("bias"), "nonlinearity")
    # the same position for device and dtype: the same positional parameters up to them
    assert ours[: ours.index("dtype") + 1] == their_names[: their_names.index("dtype") + 1]


def test_a_dtype_in_the_device_slot_says_what_to_do() -> None:
    # before device= existed, dtype followed bias: nn.Linear(3, 4, True, float64) now passes float64 as device
    with pytest.raises(TypeError, match=r"^Linear: device=.*float64.* is a dtype: pass it as dtype="):
        nn.Linear(3, 4, True, np.float64)
    with pytest.raises(TypeError, match=r"^Conv2d: device=.*float64.* is a dtype"):
        nn.Conv2d(1, 2, 3, device=np.dtype("float64"))


@pytest.mark.parametrize("dtype", [np.int64, "int32", autograd.bool, np.complex128])
def test_a_dtype_that_is_not_floating_point_is_refused_naming_the_layer(dtype: Any) -> None:
    with pytest.raises(TypeError, match=r"^BatchNorm1d: dtype must be a floating-point dtype"):
        nn.BatchNorm1d(3, dtype=dtype)


def test_not_a_device_is_refused() -> None:
    with pytest.raises(ValueError, match="device"):
        nn.Linear(3, 4, device="gpu")


def test_the_pytorch_idiom_runs() -> None:
    device = autograd.device("cuda" if autograd.cuda.is_available() else "cpu")
    model = nn.Sequential(nn.Conv2d(1, 2, 3, device=device), nn.BatchNorm2d(2, device=device), nn.Flatten(),
                          nn.Linear(2 * 4 * 4, 3, device=device, dtype=autograd.float32))
    out = model(autograd.randn(5, 1, 6, 6, device=device))
    assert out.shape == (5, 3) and out.device == device
