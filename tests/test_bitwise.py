"""Bitwise operators: bitwise on integers, logical on booleans, an error on floats, as in PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import autograd as ag

OPERANDS = {
    "int32": ([1, 2, 0x7FFF, -5], np.int32),
    "int64": ([1, -2, 2**40, 7], np.int64),
    "uint8": ([1, 200, 0, 255], np.uint8),
    "int8": ([-128, 127, 3, -1], np.int8),
    "bool": ([True, False, True, False], np.bool_),
}
EXPRESSIONS = [
    "a & 0x1337", "a | 0x1337", "a ^ 3", "~a", "a << 2", "a >> 1", "3 << a", "0x1337 & a", "5 | a", "7 ^ a",
    "a << 40", "a >> 40", "a << -1", "a >> 70", "a & True", "a & a", "a | a", "a ^ a", "a & -1", "a & 256",
    "a & 0xFFFFFFFF", "a.bitwise_and(6)", "a.bitwise_or(6)", "a.bitwise_xor(6)", "a.bitwise_not()",
    "a.bitwise_left_shift(1)", "a.bitwise_right_shift(1)", "lib.bitwise_and(a, 12)", "lib.bitwise_not(a)",
    "lib.bitwise_left_shift(a, 3)", "lib.bitwise_right_shift(a, 2)", "lib.bitwise_xor(a, a)",
    "lib.logical_and(a, a)", "lib.logical_or(a, ~a)", "lib.logical_xor(a, a)", "lib.logical_not(a)",
    "a.logical_xor(a & 1)", "a.logical_and(a)", "a.logical_or(a)", "a.logical_not()",
]


@pytest.mark.parametrize("expression", EXPRESSIONS)
@pytest.mark.parametrize("operand", OPERANDS, ids=str)
def test_operators_match_pytorch(operand, expression):
    torch = pytest.importorskip("torch")
    values, dtype = OPERANDS[operand]
    results = []
    for lib in (torch, ag):
        a = lib.tensor(values, dtype=getattr(lib, "bool" if dtype is np.bool_ else np.dtype(dtype).name))
        try:
            r = eval(expression, {"a": a, "lib": lib})
        except (RuntimeError, TypeError, NotImplementedError, OverflowError):
            results.append(None)
            continue
        results.append((np.asarray(r.numpy()), str(r.dtype).replace("torch.", "")))
    expected, got = results
    if expected is None:
        assert got is None, f"PyTorch refuses {expression} on {operand}; we gave {got}"
        return
    assert got is not None, f"PyTorch computes {expression} on {operand}"
    assert got[1] == expected[1]
    np.testing.assert_array_equal(got[0], expected[0])


def test_integers_are_combined_bit_by_bit_not_as_truth_values():
    """The old operators were logical: `t & 0x1337` gave booleans."""
    t = ag.tensor([0x1234, 0xFF], dtype=ag.int32)
    np.testing.assert_array_equal((t & 0x1337).numpy(), [0x1234 & 0x1337, 0xFF & 0x1337])
    np.testing.assert_array_equal((t | 0x1337).numpy(), [0x1234 | 0x1337, 0xFF | 0x1337])
    np.testing.assert_array_equal((~t).numpy(), [~0x1234, ~0xFF])
    np.testing.assert_array_equal((t & t).numpy(), [0x1234, 0xFF])
    assert (t & t).dtype == np.int32


@pytest.mark.parametrize("expression", ["f & 1", "f | f", "f ^ 1", "~f", "f << 1", "f >> 1", "1 & f",
                                        "i & 1.5", "ag.bitwise_and(f, 1)", "f.bitwise_not()"])
def test_floats_are_refused_with_a_clear_error(expression):
    names = {"f": ag.tensor([1.5], requires_grad=True), "i": ag.tensor([1]), "ag": ag}
    with pytest.raises(TypeError, match="only integer and boolean tensors"):
        eval(expression, names)


def test_booleans_are_not_shifted_by_booleans():
    b = ag.tensor([True, False])
    with pytest.raises(TypeError, match="cannot shift booleans"):
        b << b
    np.testing.assert_array_equal((b << 1).numpy(), [2, 0])  # by an integer: as integers, as in PyTorch


def test_in_place_operators_write_into_the_tensor():
    x = ag.tensor([1, 2, 3], dtype=ag.int32)
    data = x.numpy()
    x &= 2
    x <<= 1
    x ^= 1
    x |= 8
    x >>= 1
    np.testing.assert_array_equal(data, [4, 6, 6])
    assert x.dtype == np.int32 and x.numpy() is data
    b = ag.tensor([True, False])
    b &= True
    b |= ag.tensor([False, True])
    np.testing.assert_array_equal(b.numpy(), [True, True])
    with pytest.raises(TypeError, match="cannot be stored in this bool tensor"):
        b &= 2
    s = ag.tensor(5)
    s.bitwise_and_(3)
    assert s.item() == 1
    with pytest.raises(TypeError, match="only integer"):
        f = ag.tensor([1.0])
        f &= 1


def test_results_are_outside_the_graph_and_comparisons_combine():
    x = ag.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    mask = (x > 0) & (x < 1)
    assert mask.dtype == np.bool_ and not mask.requires_grad
    np.testing.assert_array_equal(mask.numpy(), [False, True, False])
    np.testing.assert_array_equal((~mask | (x > 1)).numpy(), [True, False, True])
