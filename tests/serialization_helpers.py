"""Shared by the nn.save/nn.load tests: exact deep comparison, and the objects in the old-format snapshot files.

The files tests/snapshots/old_format_*.safetensors were written by the hand-written `nn.save` that predates
the safetensors library (commit cef8a2f), from exactly `old_format_state_dict()` and `old_format_checkpoint()`:
they check that files saved by earlier versions keep loading.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import autograd

# The length of a padding key in old_format_state_dict, chosen so that the old writer's header length has 0x80
# as its low byte: the file the old nn.load refused as "a pickle file" although its own nn.save wrote it.
OLD_FORMAT_FILLER = 1


def assert_same(actual: Any, expected: Any, where: str = "the object") -> None:
    """`actual` is `expected` exactly: the same types (Tensor, ndarray, numpy scalar, int, float, bool, str, None,
    list, tuple, dict), dict keys in the same order, the same dtypes and shapes, and the same bytes (so NaN
    payloads and the sign of zero count). Arrays are compared in native byte order; any dict (a state dict is
    an OrderedDict) comes back as a plain dict."""
    expected_type = dict if isinstance(expected, dict) else type(expected)
    assert type(actual) is expected_type, f"{where}: {type(actual).__name__} != {expected_type.__name__}"
    if isinstance(expected, (autograd.Tensor, np.ndarray, np.generic)):
        a = np.asarray(actual.data if isinstance(actual, autograd.Tensor) else actual)
        e = np.asarray(expected.data if isinstance(expected, autograd.Tensor) else expected)
        assert a.dtype == e.dtype.newbyteorder("="), f"{where}: dtype {a.dtype} != {e.dtype}"
        assert a.dtype.isnative, f"{where}: loaded with non-native byte order {a.dtype}"
        assert a.shape == e.shape, f"{where}: shape {a.shape} != {e.shape}"
        assert a.tobytes() == e.astype(a.dtype).tobytes(), f"{where}: values differ:\n{a}\n{e}"
    elif isinstance(expected, float):
        assert (math.isnan(actual) and math.isnan(expected)) or (
            actual == expected and math.copysign(1, actual) == math.copysign(1, expected)), \
            f"{where}: {actual!r} != {expected!r}"
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), f"{where}: length {len(actual)} != {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_same(a, e, f"{where}[{i}]")
    elif isinstance(expected, dict):
        assert [(type(k), k) for k in actual] == [(type(k), k) for k in expected], \
            f"{where}: keys {list(actual)!r} != {list(expected)!r}"
        for k in expected:
            assert_same(actual[k], expected[k], f"{where}[{k!r}]")
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


def _values(shape: tuple[int, ...], dtype: Any, start: float = 0.0) -> np.ndarray:
    count = math.prod(shape)
    return (np.arange(count, dtype=np.float64) * 0.25 - count / 8 + start).astype(dtype).reshape(shape)


def old_format_state_dict(filler: int = OLD_FORMAT_FILLER) -> dict[str, Any]:
    """A model's state dict (Linear + BatchNorm1d) with one long key (see OLD_FORMAT_FILLER)."""
    return {
        "0.weight": autograd.tensor(_values((4, 3), np.float32)),
        "0.bias": autograd.tensor(_values((4,), np.float32, 1)),
        "1.running_mean": autograd.tensor(_values((4,), np.float32, 2)),
        "1.num_batches_tracked": autograd.tensor(np.int64(7)),
        "x" * filler: autograd.tensor(_values((2, 2), np.float64)),
    }


def old_format_checkpoint() -> dict[str, Any]:
    """A training checkpoint with everything the old format could hold."""
    return {
        "model": old_format_state_dict(),
        "optimiser": {
            "state": {0: {"step": 3, "exp_avg": autograd.tensor(_values((4, 3), np.float32, 3)),
                          "exp_avg_sq": _values((4, 3), np.float64, 4)},
                      1: {"step": np.float32(2.5), "momentum_buffer": None}},
            "param_groups": [{"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-8, "amsgrad": False, "params": [0, 1],
                              "name": "all", "capturable": None}],
        },
        "epoch": 12,
        "arrays": [np.zeros((0, 3), np.float16), np.array(True), _values((3,), np.int8), _values((2,), np.uint16),
                   np.float64(-0.0), np.int32(-5)],
        "extras": (float("nan"), float("inf"), -float("inf"), -0.0, 2 ** 70, "ünïcode", "", [], (), {}),
        "keys": {"": 1, "a.b": 2, 3: "three", "3": "string three", "__metadata__": autograd.tensor([1.0, 2.0])},
    }
