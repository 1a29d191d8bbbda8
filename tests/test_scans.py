"""Scans, orderings and gather/scatter (issue 15) without PyTorch: errors that name the op and what is wrong,
results outside the graph, dtypes. (Gradients: tests/test_ops.py; against PyTorch: tests/test_scans_torch.py.)"""

from __future__ import annotations

import numpy as np
import pytest

import autograd as ag


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda x: ag.cumsum(x, 2), IndexError, r"cumsum: dim 2 is out of range"),
    (lambda x: x.cumprod(dim=-3), IndexError, r"cumprod: dim -3 is out of range"),
    (lambda x: ag.sort(x, 5), IndexError, r"sort: dim 5"),
    (lambda x: x.topk(4), IndexError, r"topk: k \(4\) is out of range for dim -1 of size 3"),
    (lambda x: x.kthvalue(0), IndexError, r"kthvalue: k \(0\) is out of range"),
    (lambda x: ag.median(ag.zeros(2, 0), 1), IndexError, r"median: cannot take the median of an empty dim 1"),
    (lambda x: ag.median(ag.zeros(0)), ValueError, r"median: cannot take the median of an empty tensor"),
    (lambda x: ag.quantile(x, 1.5), ValueError, r"quantile: q values must be in the range \[0, 1\]"),
    (lambda x: ag.quantile(x, 0.5, interpolation="cubic"), ValueError, r"quantile: interpolation must be"),
    (lambda x: ag.quantile(x, ag.tensor([0.5], dtype=ag.float64)), TypeError, r"quantile: q \(float64\)"),
    (lambda x: x.masked_select(ag.tensor([1, 0, 1])), TypeError, r"masked_select: the mask must be a boolean"),
    (lambda x: x.masked_select(ag.tensor([True, False])), ValueError, r"masked_select: .*\(2, 3\).*\(2,\)"),
    (lambda x: x.index_select(1, ag.tensor([[0]])), IndexError, r"index_select: the index must be a vector"),
    (lambda x: x.index_select(1, ag.tensor([3])), IndexError, r"index_select: index 3 is out of range"),
    (lambda x: x.scatter(0, ag.tensor([0]), ag.ones(1)), ValueError, r"scatter: the index has 1 dims"),
    (lambda x: x.scatter(0, ag.tensor([[2]]), ag.ones(1, 1)), IndexError, r"scatter: index 2 is out of range"),
    (lambda x: x.scatter(0, ag.tensor([[0, 1, 0, 1]]), ag.ones(1, 4)), ValueError,
     r"scatter: the index of shape \(1, 4\) is larger than the input of shape \(2, 3\) in dim 1"),
    (lambda x: x.scatter(0, ag.tensor([[0, 1]]), ag.ones(1, 1)), ValueError,
     r"scatter: the index of shape \(1, 2\) is larger than the source of shape \(1, 1\)"),
    (lambda x: x.scatter(0, ag.tensor([[0.0]]), ag.ones(1, 1)), TypeError, r"scatter: index must be an integer"),
    (lambda x: x.scatter(0, ag.tensor([[0]])), TypeError, r"scatter: expected a source tensor"),
    (lambda x: x.scatter(0, ag.tensor([[0]]), 1.0, reduce="max"), ValueError, r"scatter: reduce must be"),
    (lambda x: x.scatter_reduce(0, ag.tensor([[0]]), ag.ones(1, 1), "max"), ValueError,
     r"scatter_reduce: reduce must be one of"),
    (lambda x: x.scatter_add(0, ag.tensor([[0]]), ag.ones(1, 1, dtype=ag.float64)), TypeError,
     r"scatter_add: the input \(float32\) and the source \(float64\)"),
    (lambda x: x.take_along_dim(ag.tensor([0]), 1), ValueError, r"take_along_dim: the indices have 1 dims"),
    (lambda x: x.take_along_dim(ag.tensor([[0], [0], [0]]), 1), ValueError,
     r"take_along_dim: the input of shape \(2, 3\) and the indices of shape \(3, 1\) cannot be broadcast"),
    (lambda x: ag.searchsorted(ag.tensor([[1.0, 2.0]]), ag.tensor([[1.0], [2.0]])), ValueError,
     r"searchsorted: the sequence of shape \(1, 2\) and the values of shape \(2, 1\)"),
    (lambda x: ag.searchsorted(ag.tensor([1.0]), 1.0, right=True, side="left"), ValueError, r"contradict"),
    (lambda x: ag.bucketize(x, x), ValueError, r"bucketize: boundaries must be 1-D, got shape \(2, 3\)"),
    (lambda x: ag.logcumsumexp(ag.tensor([1, 2]), 0), TypeError, r"logcumsumexp: expected a floating-point"),
])
def test_errors_name_the_op_and_the_fault(call, error, message):
    with pytest.raises(error, match=message):
        call(ag.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True))


def test_non_differentiable_results_are_outside_the_graph():
    x = ag.tensor([[1.0, 0.0, 3.0], [3.0, 5.0, 0.0]], requires_grad=True)
    results = [ag.argsort(x), ag.unique(x), *ag.unique(x, return_inverse=True, return_counts=True), ag.nonzero(x),
               *ag.nonzero(x, as_tuple=True), ag.argwhere(x), ag.count_nonzero(x, 1),
               ag.searchsorted(ag.tensor([0.0, 2.0]), x), ag.bucketize(x, ag.tensor([0.0, 2.0])),
               x.sort().indices, x.topk(2).indices, x.cummax(1).indices, x.kthvalue(1).indices,
               x.median(0).indices]
    for r in results:
        assert not r.requires_grad and r.grad_fn is None
        assert r.dtype in (np.int64, np.float32)
    assert x.sort().values.requires_grad and x.cummax(1).values.requires_grad and x.median().requires_grad


def test_named_tuples_and_dtypes():
    x = ag.tensor([[3.0, 1.0, 2.0]], dtype=ag.float32)
    for result in (x.sort(), x.topk(2), x.kthvalue(1), x.median(1), x.cummax(1), x.cummin(1)):
        values, indices = result
        assert result.values is values and result.indices is indices
        assert values.dtype == np.float32 and indices.dtype == np.int64
    assert type(x.sort()).__name__ == "sort" and type(x.cummax(1)).__name__ == "cummax"
    assert ag.searchsorted(ag.tensor([1.0, 2.0]), x, out_int32=True).dtype == np.int32
    assert ag.quantile(x, 0.5).dtype == np.float32
    assert ag.cumsum(ag.tensor([True, True]), 0).tolist() == [1, 2]
    assert ag.scatter_reduce(ag.tensor([1, 2]), 0, ag.tensor([0, 0]), ag.tensor([4, 5]), "mean").tolist() == [3, 2]


def test_cumprod_second_order_with_zeros_matches_the_formula():
    # d^2 (sum cumprod x) / dx_i dx_j for x = (a, 0, c): out = (a, 0, 0), so only d out_1 / dx_0 dx_1 = 1 survives
    x = ag.tensor([2.0, 0.0, 3.0], dtype=ag.float64, requires_grad=True)
    (g,) = ag.grad(ag.cumprod(x, 0).sum(), x, create_graph=True)
    np.testing.assert_array_equal(g.data, [1.0, 2.0 + 2.0 * 3.0, 0.0])
    hessian = np.stack([ag.grad(g[i], x, retain_graph=True)[0].data for i in range(3)])
    np.testing.assert_array_equal(hessian, [[0.0, 1.0 + 3.0, 0.0], [4.0, 0.0, 2.0], [0.0, 2.0, 0.0]])


def test_ties_beyond_the_replay_budget_take_the_stable_order():
    from autograd import kernels
    data = np.random.default_rng(0).integers(0, 5, (200, 100)).astype(np.float64)  # 20,000 tied elements
    assert data.size > kernels.TIE_REPLAY_BUDGET
    np.testing.assert_array_equal(ag.sort(ag.tensor(data), 1).indices.data, np.argsort(data, 1, kind="stable"))
    np.testing.assert_array_equal(ag.topk(ag.tensor(data), 3).indices.data,
                                  np.argsort(-data, 1, kind="stable")[:, :3])
    # within the budget, the replay of PyTorch's std::sort: on a tied line of 17+ elements, not the stable order
    line = data[:1, :40]
    assert not np.array_equal(ag.sort(ag.tensor(line)).indices.data, np.argsort(line, 1, kind="stable"))
    np.testing.assert_array_equal(ag.sort(ag.tensor(line), stable=True).indices.data,
                                  np.argsort(line, 1, kind="stable"))
