"""erf in plain numpy (autograd/_special.py, behind the `erf` primitive): accuracy in ulps against math.erf over
the whole line, its tails and its tiniest arguments; special values; odd symmetry; dtypes; agreement with torch."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import autograd as ag
from autograd import _special, ops

math_erf = np.vectorize(math.erf, otypes=[np.float64])

GRID = np.concatenate([
    np.linspace(-10, 10, 400_001),                                       # step 5e-5: both ranges, and y = 0.5
    np.linspace(0.5 - 1e-6, 0.5 + 1e-6, 2001),                           # where the two ranges meet
    np.linspace(5.9, 6.1, 2001),                                         # where erf becomes exactly 1
    np.linspace(10, 40, 3001), [1e10, 1e100, 1e300, np.finfo(np.float64).max],  # the tails
    np.geomspace(1e-300, 1e-3, 3001),                                    # tiny
    np.geomspace(5e-324, 2.2e-308, 301),                                 # subnormal
])
GRID = np.concatenate([GRID, -GRID])
with np.errstate(over="ignore"):                                         # the largest ones become +-inf: wanted
    GRID32 = np.concatenate([GRID.astype(np.float32), np.geomspace(1e-45, 1e-37, 301, dtype=np.float32)])


def ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """|got - want| in units of the last place of want (float32 or float64)."""
    error = np.abs(got.astype(np.float64) - want.astype(np.float64))
    return error / np.spacing(np.abs(want)).astype(np.float64)


def test_float64_within_a_few_ulps_of_math_erf():
    # 2 ulps at most here (to either side of math.erf, itself within an ulp of exact); 3 is allowed because
    # numpy's exp, part of the result, differs by an ulp between CPUs.
    assert ulps(_special.erf(GRID), math_erf(GRID)).max() <= 3


def test_float32_correctly_rounded_but_for_double_rounding():
    want = math_erf(GRID32.astype(np.float64)).astype(np.float32)
    got = ops.erf.forward(GRID32)
    assert got.dtype == np.float32
    assert ulps(got, want).max() <= 1


def test_special_values():
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 1e-300, 6.0, 30.0, -1e300])
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                   # no overflow or invalid-value warnings
        y = _special.erf(x)
    np.testing.assert_array_equal(y, [0.0, -0.0, 1.0, -1.0, np.nan, 5e-324, -5e-324, 2 / math.sqrt(math.pi) * 1e-300,
                                      1.0, 1.0, -1.0])
    np.testing.assert_array_equal(np.signbit(y[:2]), [False, True])      # erf(-0.0) = -0.0


def test_odd_exactly():
    x = np.random.default_rng(0).uniform(-7, 7, 10_000)
    np.testing.assert_array_equal(_special.erf(-x), -_special.erf(x))


def test_shapes_and_empty():
    x = np.random.default_rng(1).standard_normal((3, 40_000))           # larger than a block, not a multiple
    np.testing.assert_array_equal(_special.erf(x), _special.erf(x.ravel()).reshape(x.shape))
    assert _special.erf(np.zeros((0, 3))).shape == (0, 3)
    assert _special.erf(np.array(0.5)).shape == ()


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8, np.int64])
def test_primitive_dtypes(dtype):
    x = np.array([-2, 0, 1, 3]).astype(dtype)
    y = ops.erf.forward(x)
    assert y.dtype == np.result_type(dtype, np.float32)                # float32 in, float32 out
    np.testing.assert_allclose(y, math_erf(x.astype(np.float64)), rtol=1e-6 if y.dtype == np.float32 else 1e-15)


def test_primitive_on_0d_gives_a_numpy_scalar():
    y = ops.erf.forward(np.array(0.5))
    assert isinstance(y, np.float64) and y == math.erf(0.5)
    assert ag.erf(ag.tensor(0.5, dtype=ag.float64)).item() == math.erf(0.5)


def test_matches_torch():
    torch = pytest.importorskip("torch")
    theirs = torch.special.erf(torch.from_numpy(GRID)).numpy()
    assert ulps(_special.erf(GRID), theirs).max() <= 3
    theirs32 = torch.erf(torch.from_numpy(GRID32)).numpy()
    assert ulps(ops.erf.forward(GRID32), theirs32).max() <= 2              # torch's float32 erf is within 1 ulp
