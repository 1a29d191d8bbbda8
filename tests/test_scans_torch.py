"""Scans, orderings and gather/scatter (issue 15) against PyTorch in float64: forward values, returned indices
and gradients, on random inputs with ties, zeros, NaN and 0-d/empty shapes. Most ops are spelled alike in both
libraries, so one function runs on either module."""
# ruff: noqa: B023  (each lambda is called at once by check(), inside the loop that binds its variables)

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import autograd as ag

torch = pytest.importorskip("torch")


def _to_torch(value: Any) -> Any:
    if isinstance(value, ag.Tensor):
        t = torch.from_numpy(np.array(value.data))
        return t.requires_grad_(True) if value.requires_grad else t
    if isinstance(value, (list, tuple)):
        return type(value)(_to_torch(v) for v in value)
    return value


def _outputs(result: Any) -> list:
    return list(result) if isinstance(result, (tuple, list)) else [result]


def check(fn: Callable, *inputs: Any, grad: bool = True, seed: int = 0) -> None:
    """fn(module, *inputs) on autograd and on torch: equal outputs (values and indices), and equal gradients
    of sum(out * w) for a random w, for every input that requires grad."""
    ours = _outputs(fn(ag, *inputs))
    torch_inputs = [_to_torch(x) for x in inputs]
    theirs = _outputs(fn(torch, *torch_inputs))
    assert len(ours) == len(theirs)
    rng = np.random.default_rng(seed)
    loss_ours, loss_theirs = 0.0, 0.0
    for a, b in zip(ours, theirs):
        expected = b.detach().numpy()
        assert a.shape == tuple(b.shape), (a.shape, b.shape)
        assert a.dtype == expected.dtype, (a.dtype, expected.dtype)
        np.testing.assert_allclose(a.data, expected, rtol=1e-12, atol=1e-12, equal_nan=True)
        if grad and b.requires_grad:
            w = rng.standard_normal(a.shape)
            loss_ours = loss_ours + (a * ag.tensor(w)).sum()
            loss_theirs = loss_theirs + (b * torch.from_numpy(w)).sum()
    if not grad or not isinstance(loss_ours, ag.Tensor):
        return
    differentiable = [(x, t) for x, t in zip(inputs, torch_inputs) if isinstance(x, ag.Tensor) and x.requires_grad]
    mine = ag.grad(loss_ours, [x for x, _ in differentiable], allow_unused=True)
    reference = torch.autograd.grad(loss_theirs, [t for _, t in differentiable], allow_unused=True)
    for g, r in zip(mine, reference):
        r = np.zeros(g.shape) if r is None else r.detach().numpy()
        np.testing.assert_allclose(np.zeros(r.shape) if g is None else g.data, r, rtol=1e-10, atol=1e-12)


def leaf(a: Any) -> ag.Tensor:
    return ag.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def ties(shape: tuple, seed: int = 0, levels: int = 3) -> ag.Tensor:
    """Values from a few levels: many ties."""
    return leaf(np.random.default_rng(seed).integers(0, levels, shape).astype(np.float64))


def randn(shape: tuple, seed: int = 0) -> ag.Tensor:
    return leaf(np.random.default_rng(seed).standard_normal(shape))


SHAPES = [(), (0,), (5,), (3, 4), (2, 0, 3), (2, 3, 4)]


def dims_of(shape: tuple) -> list[int]:
    return [0, -1] if not shape else list(range(-len(shape), len(shape)))


# --- scans ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", ["cumsum", "cumprod", "logcumsumexp"])
def test_scans(name: str, shape: tuple) -> None:
    for dim in dims_of(shape):
        check(lambda m, x: getattr(m, name)(x, dim), randn(shape))
        check(lambda m, x: getattr(x, name)(dim), randn(shape, 1))


def test_cumprod_gradient_is_exact_with_zeros() -> None:
    rng = np.random.default_rng(3)
    for seed in range(20):
        data = rng.standard_normal((4, 6))
        data[rng.random(data.shape) < 0.3] = 0.0  # lines with no, one and several zeros
        for dim in (0, 1, -1):
            check(lambda m, x: m.cumprod(x, dim), leaf(data), seed=seed)
    # second order through the zeros too (create_graph), against torch
    x = leaf([2.0, 0.0, 3.0, 0.0, 5.0])
    t = _to_torch(x)
    g = ag.grad(ag.cumprod(x, 0).sum(), x, create_graph=True)[0]
    gt = torch.autograd.grad(torch.cumprod(t, 0).sum(), t, create_graph=True)[0]
    np.testing.assert_allclose(g.data, gt.detach().numpy())
    np.testing.assert_allclose(ag.grad((g * g).sum(), x)[0].data,
                               torch.autograd.grad((gt * gt).sum(), t)[0].numpy())


def test_scan_dtypes() -> None:
    for dtype in ("int32", "int64", "bool"):
        data = np.array([[1, 0, 1], [1, 1, 0]]).astype(dtype)
        for name in ("cumsum", "cumprod"):
            ours = getattr(ag, name)(ag.tensor(data), 1)
            theirs = getattr(torch, name)(torch.from_numpy(data), 1)
            assert ours.dtype == np.int64 == theirs.numpy().dtype
            np.testing.assert_array_equal(ours.data, theirs.numpy())
    assert ag.cumsum(ag.tensor([1, 2]), 0, dtype=ag.float32).dtype == np.float32
    assert ag.cumsum(ag.tensor([1.0, 2.0], dtype=ag.float32), 0).dtype == np.float32
    with pytest.raises(TypeError, match="logcumsumexp"):
        ag.logcumsumexp(ag.tensor([1, 2]), 0)


def test_logcumsumexp_is_stable() -> None:
    check(lambda m, x: m.logcumsumexp(x, 0), leaf([1000.0, -1000.0, 1000.0, 3.0, -np.inf, 2.0]))
    check(lambda m, x: m.logcumsumexp(x, 1), leaf([[-800.0, 1.0], [700.0, 710.0]]))


@pytest.mark.parametrize("name", ["cummax", "cummin"])
def test_cummax_cummin_ties_and_nan(name: str) -> None:
    for shape in SHAPES:
        for dim in dims_of(shape):
            check(lambda m, x: getattr(m, name)(x, dim), ties(shape))
            check(lambda m, x: getattr(x, name)(dim), randn(shape))
    check(lambda m, x: getattr(m, name)(x, 0), leaf([1.0, np.nan, 3.0, np.nan, 0.0, 5.0]))
    data = ag.tensor(np.array([3, 1, 3, 5, 5, 2]))
    ours, theirs = getattr(ag, name)(data, 0), getattr(torch, name)(torch.tensor([3, 1, 3, 5, 5, 2]), 0)
    np.testing.assert_array_equal(ours.values.data, theirs.values.numpy())
    np.testing.assert_array_equal(ours.indices.data, theirs.indices.numpy())


# --- orderings --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(), (0,), (7,), (3, 5), (2, 16), (2, 3, 4), (3, 17), (2, 100), (40, 3)], ids=str)
def test_sort_and_argsort_with_ties(shape: tuple) -> None:
    # the default sort (stable=False): PyTorch's std::sort order among equal values, replayed on longer lines
    for dim in dims_of(shape):
        for descending in (False, True):
            check(lambda m, x: m.sort(x, dim, descending), ties(shape))
            check(lambda m, x: x.sort(dim=dim, descending=descending, stable=True), ties(shape, 1))
            check(lambda m, x: m.argsort(x, dim, descending), ties(shape), grad=False)


def test_sort_stable_on_long_lines_and_nan() -> None:
    x = ties((3, 50), 4)
    for descending in (False, True):
        check(lambda m, x: m.sort(x, dim=-1, descending=descending, stable=True), x)
        check(lambda m, x: m.argsort(x, dim=1, descending=descending, stable=True), x, grad=False)
    nan = leaf([1.0, np.nan, 3.0, np.nan, 0.0, 3.0])
    for descending in (False, True):
        check(lambda m, x: m.sort(x, 0, descending), nan)
    check(lambda m, x: m.msort(x), ties((5, 3)))


def test_topk_ties_on_long_lines() -> None:
    rng = np.random.default_rng(9)
    for n in (17, 65, 200, 700):
        for k in sorted({1, 2, n // 64, n // 10, n // 2, n - 1, n}):
            data = rng.integers(0, 4, (2, n)).astype(np.float64)
            data[0, rng.random(n) < 0.05] = np.nan
            for largest in (True, False):
                check(lambda m, x: m.topk(x, k, 1, largest), leaf(data))
                check(lambda m, x: m.topk(x, k, 1, largest, sorted=False), leaf(data), grad=False)


def test_topk() -> None:
    for shape in [(), (6,), (3, 5), (2, 3, 4)]:
        for dim in dims_of(shape):
            n = shape[dim] if shape else 1
            for k in sorted({0, 1, n // 2, n}):
                for largest in (True, False):
                    check(lambda m, x: m.topk(x, k, dim, largest), randn(shape))
                    check(lambda m, x: m.topk(x, k, dim, largest), ties(shape))
                    check(lambda m, x: x.topk(k, dim, largest, sorted=False), ties(shape, 1))
    check(lambda m, x: m.topk(x, 3), leaf([1.0, np.nan, 3.0, 0.0]))
    check(lambda m, x: x.topk(2, largest=False), leaf([1.0, np.nan, 3.0, 0.0]))
    with pytest.raises(IndexError, match="topk: k"):
        ag.topk(ag.zeros(3), 4)


def test_kthvalue_and_median() -> None:
    rng = np.random.default_rng(5)
    for _ in range(300):  # tie-heavy lines of many lengths, some NaN: the same indices as PyTorch
        shape = tuple(int(s) for s in rng.integers(1, 9, rng.integers(1, 4)))
        data = rng.integers(0, 3, shape).astype(np.float64)
        data[rng.random(shape) < 0.1] = np.nan
        dim = int(rng.integers(-len(shape), len(shape)))
        k = int(rng.integers(1, shape[dim] + 1))
        check(lambda m, x: m.kthvalue(x, k, dim), leaf(data))
        check(lambda m, x: m.median(x, dim), leaf(np.nan_to_num(data)))
    for shape in [(), (7,), (4, 6), (2, 3, 5)]:
        for dim in dims_of(shape):
            n = shape[dim] if shape else 1
            for keepdim in (False, True):
                for k in sorted({1, (n + 1) // 2, n}):
                    check(lambda m, x: m.kthvalue(x, k, dim, keepdim), randn(shape))
                    # ties: the index PyTorch's selection picks among equal values, and the gradient there
                    check(lambda m, x: m.kthvalue(x, k, dim, keepdim), ties(shape))
                check(lambda m, x: m.median(x, dim, keepdim), randn(shape, 2))
                check(lambda m, x: m.median(x, dim, keepdim), ties(shape, 2))
        # median of all elements: the gradient is shared by the elements equal to it, as in PyTorch
        check(lambda m, x: m.median(x), randn(shape))
        check(lambda m, x: x.median(), ties(shape))
    check(lambda m, x: m.median(x, 1), leaf([[1.0, np.nan, 3.0, np.nan], [2.0, 1.0, 0.0, 5.0]]))
    check(lambda m, x: m.median(x), leaf([1.0, np.nan, 3.0]))
    check(lambda m, x: m.kthvalue(x, 2), leaf([1.0, np.nan, 3.0, np.nan, 0.0]))
    check(lambda m, x: m.median(x, 0), ag.tensor(np.array([3, 1, 2, 2])), grad=False)


@pytest.mark.parametrize("interpolation", ["linear", "lower", "higher", "midpoint", "nearest"])
def test_quantile(interpolation: str) -> None:
    for shape in [(), (7,), (4, 6), (2, 3, 5), (3, 40)]:
        for q in (0.0, 0.37, 0.5, 1.0, "vector"):
            for dim in [None, *([] if not shape else dims_of(shape))]:
                for keepdim in (False, True):
                    def fn(m: Any, x: Any, q: Any = q, dim: Any = dim, keepdim: bool = keepdim) -> Any:
                        qs = m.tensor([0.1, 0.5, 0.75, 0.9], dtype=m.float64) if q == "vector" else q
                        return m.quantile(x, qs, dim, keepdim, interpolation=interpolation)
                    check(fn, randn(shape))
                    check(fn, ties(shape))
    check(lambda m, x: m.quantile(x, 0.5, 1), leaf([[1.0, np.nan, 3.0], [2.0, 1.0, 0.0]]))
    with pytest.raises(ValueError, match="quantile"):
        ag.quantile(ag.zeros(3), 1.5)
    with pytest.raises(TypeError, match="quantile"):
        ag.quantile(ag.tensor([1, 2]), 0.5)


def test_unique_searchsorted_bucketize_outside_the_graph() -> None:
    data = np.array([[3, 1, 3], [2, 1, 3]])
    for kwargs in ({}, {"return_inverse": True}, {"return_counts": True},
                   {"return_inverse": True, "return_counts": True}, {"dim": 0}, {"dim": 1, "return_inverse": True}):
        ours = _outputs(ag.unique(ag.tensor(data), **kwargs))
        theirs = _outputs(torch.unique(torch.from_numpy(data), **kwargs))
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a.data, b.numpy())
            assert a.dtype == b.numpy().dtype
    x = randn((4,))
    assert not ag.unique(x).requires_grad and not ag.argsort(x).requires_grad
    seq = np.array([[1.0, 3.0, 5.0, 7.0], [2.0, 4.0, 4.0, 8.0]])
    vals = np.array([[3.0, 6.0, 9.0], [4.0, 1.0, 8.0]])
    for right in (False, True):
        for kwargs in ({"right": right}, {"side": "right" if right else "left"}, {"right": right, "out_int32": True}):
            for s, v in ((seq, vals), (seq[1], vals), (seq[0], 5.0)):
                ours = ag.searchsorted(ag.tensor(s), v if isinstance(v, float) else ag.tensor(v), **kwargs)
                theirs = torch.searchsorted(torch.from_numpy(s), v if isinstance(v, float) else
                                            torch.from_numpy(v), **kwargs)
                np.testing.assert_array_equal(ours.data, theirs.numpy())
                assert ours.dtype == theirs.numpy().dtype
        ours = ag.bucketize(ag.tensor(vals), ag.tensor(seq[1]), right=right)
        theirs = torch.bucketize(torch.from_numpy(vals), torch.from_numpy(seq[1]), right=right)
        np.testing.assert_array_equal(ours.data, theirs.numpy())
        assert ag.bucketize(4.0, ag.tensor(seq[1]), right=right).item() == torch.bucketize(
            4.0, torch.from_numpy(seq[1]), right=right).item()
    order = np.array([[2, 0, 1]])
    np.testing.assert_array_equal(
        ag.searchsorted(ag.tensor([[5.0, 1.0, 3.0]]), ag.tensor([[2.0, 4.0]]), sorter=ag.tensor(order)).data,
        torch.searchsorted(torch.tensor([[5.0, 1.0, 3.0]]), torch.tensor([[2.0, 4.0]]),
                           sorter=torch.from_numpy(order)).numpy())


# --- gather/scatter ---------------------------------------------------------------------------------------------
def test_masked_select_nonzero_count_nonzero() -> None:
    rng = np.random.default_rng(0)
    for shape, mask_shape in [((3, 4), (3, 4)), ((3, 4), (4,)), ((1, 4), (3, 1)), ((), ()), ((0, 2), (2,))]:
        mask = ag.tensor(rng.random(mask_shape) > 0.5)
        check(lambda m, x, mask=mask: m.masked_select(x, _to_torch(mask) if m is torch else mask), randn(shape))
    data = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]])
    for value in (data, data[0], np.float64(0.0), np.float64(3.0), np.zeros((2, 0))):
        ours, theirs = ag.tensor(value), torch.from_numpy(np.asarray(value))
        np.testing.assert_array_equal(ag.nonzero(ours).data, torch.nonzero(theirs).numpy())
        assert ag.nonzero(ours).shape == tuple(torch.nonzero(theirs).shape)
        for a, b in zip(ours.nonzero(as_tuple=True), torch.nonzero(theirs, as_tuple=True)):
            np.testing.assert_array_equal(a.data, b.numpy())
        np.testing.assert_array_equal(ag.count_nonzero(ours).data, torch.count_nonzero(theirs).numpy())
    np.testing.assert_array_equal(ag.count_nonzero(ag.tensor(data), dim=(0, 1)).data, 3)
    np.testing.assert_array_equal(ag.tensor(data).count_nonzero(-1).data,
                                  torch.count_nonzero(torch.from_numpy(data), -1).numpy())


def test_index_select_and_take_along_dim() -> None:
    x = randn((3, 4))
    for dim in (0, 1, -1):
        for index in ([2, 0, 2], [1], []):
            idx = ag.tensor(np.array(index, dtype=np.int64))
            check(lambda m, x, idx=idx, dim=dim: m.index_select(x, dim, _to_torch(idx) if m is torch else idx), x)
    check(lambda m, x: m.index_select(x, 0, m.tensor(0)), randn(()))
    with pytest.raises(IndexError, match="index_select: index 5"):
        ag.index_select(x, 0, ag.tensor([5]))
    idx = ag.tensor(np.array([[0, 2], [1, 1], [3, 0]]))
    check(lambda m, x: m.take_along_dim(x, _to_torch(idx) if m is torch else idx, 1), x)
    check(lambda m, x: x.take_along_dim(_to_torch(idx) if m is torch else idx), x)  # dim=None: flattened
    wide = ag.tensor(np.array([[[0], [2]]]))  # (1, 2, 1) against (3, 1, 4): broadcast outside dim 1
    check(lambda m, x: m.take_along_dim(x, _to_torch(wide) if m is torch else wide, 1), randn((3, 3, 4)))


def _scatter_inputs(seed: int, repeats: bool) -> tuple:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 4))
    if repeats:
        index = rng.integers(0, 3, (4, 4))
    else:
        index = np.stack([rng.permutation(3)[:2] for _ in range(4)], axis=1)  # (2, 4): distinct along dim 0
    # a source of the index's shape: PyTorch 2.13's backward fails on a larger one (a wrong gradient shape);
    # ours is gradchecked in test_ops.py
    return x, rng.standard_normal(index.shape), index


def test_scatter_and_scatter_add() -> None:
    for seed in range(5):
        x, src, index = _scatter_inputs(seed, repeats=False)
        idx = ag.tensor(index)
        check(lambda m, x, s: m.scatter(x, 0, _to_torch(idx) if m is torch else idx, s), leaf(x), leaf(src))
        check(lambda m, x: x.scatter(0, _to_torch(idx) if m is torch else idx, 2.5), leaf(x))
        check(lambda m, x: m.scatter(x, 1, _to_torch(idx.T[:3]) if m is torch else idx.T[:3], -1.0), leaf(x))
        x, src, index = _scatter_inputs(seed, repeats=True)
        idx = ag.tensor(index)
        check(lambda m, x, s: m.scatter_add(x, 0, _to_torch(idx) if m is torch else idx, s), leaf(x), leaf(src))
        check(lambda m, x, s: x.scatter_add(-1, _to_torch(idx[:3]) if m is torch else idx[:3], s), leaf(x),
              leaf(src[:3]))
    # a repeated index: every source element gets the gradient at its place, as in PyTorch
    x, src = leaf(np.zeros(3)), leaf([1.0, 2.0, 3.0])
    ag.scatter(x, 0, ag.tensor([1, 1, 0]), src).sum().backward()
    np.testing.assert_array_equal(src.grad.data, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 1.0])
    check(lambda m, x, s: m.scatter(x, 0, m.tensor(0), s), randn(()), randn((), 1))
    with pytest.raises(IndexError, match="scatter: index 3"):
        ag.scatter(ag.zeros(3), 0, ag.tensor([3]), ag.ones(1))
    with pytest.raises(TypeError, match="dtype"):
        ag.scatter_add(ag.zeros(3, dtype=ag.float64), 0, ag.tensor([1]), ag.ones(1, dtype=ag.float32))


@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
def test_scatter_reduce(reduce: str, include_self: bool) -> None:
    for seed in range(6):
        x, src, index = _scatter_inputs(seed, repeats=True)
        if reduce in ("amax", "amin") and seed % 2:  # ties within src, and between x and src
            x, src = np.round(x), np.round(src)
            if not include_self:  # PyTorch counts an excluded x equal to the result: see the test below
                x = x + 0.5
        if reduce == "prod" and seed % 2:
            x[0, 1] = src[0, 0] = src[1, 0] = src[2, 2] = 0.0
        idx = ag.tensor(index)
        check(lambda m, x, s: m.scatter_reduce(x, 0, _to_torch(idx) if m is torch else idx, s, reduce,
                                               include_self=include_self), leaf(x), leaf(src), seed=seed)
        check(lambda m, x, s: x.scatter_reduce(1, _to_torch(idx[:3]) if m is torch else idx[:3], s, reduce,
                                               include_self=include_self), leaf(x), leaf(src[:3]), seed=seed)
    ints = np.array([5, 1, 7]), np.array([2, 9, 4, 4]), np.array([0, 0, 2, 2])
    ours = ag.scatter_reduce(ag.tensor(ints[0]), 0, ag.tensor(ints[2]), ag.tensor(ints[1]), reduce,
                             include_self=include_self)
    theirs = torch.scatter_reduce(*(torch.from_numpy(a) for a in ints[:1]), 0, torch.from_numpy(ints[2]),
                                  torch.from_numpy(ints[1]), reduce, include_self=include_self)
    np.testing.assert_array_equal(ours.data, theirs.numpy())


def test_scatter_reduce_amax_without_self_shares_among_the_sources_only() -> None:
    # Two sources tie at the maximum 2 of place 0, where x (excluded) is 2 as well. Ours gives each source half
    # the gradient; PyTorch divides by 3, counting the excluded x, whose share it then drops (1/3 is lost).
    x, src = leaf([2.0, 0.0]), leaf([2.0, 2.0, 1.0])
    ag.scatter_reduce(x, 0, ag.tensor([0, 0, 1]), src, "amax", include_self=False).sum().backward()
    np.testing.assert_array_equal(src.grad.data, [0.5, 0.5, 1.0])
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0])
    t, ts = _to_torch(leaf([2.0, 0.0])), _to_torch(leaf([2.0, 2.0, 1.0]))
    torch.scatter_reduce(t, 0, torch.tensor([0, 0, 1]), ts, "amax", include_self=False).sum().backward()
    np.testing.assert_allclose(ts.grad.numpy(), [1 / 3, 1 / 3, 1.0])


def test_index_add_has_pytorchs_signature() -> None:
    x, src = randn((3, 2)), randn((4, 2), 1)
    idx = ag.tensor([0, 2, 2, 1])
    check(lambda m, x, s: m.index_add(x, 0, _to_torch(idx) if m is torch else idx, s, alpha=-1.5), x, src)
    check(lambda m, x, s: x.index_add(0, _to_torch(idx) if m is torch else idx, s, alpha=2), x, src)
    with pytest.raises(TypeError):
        ag.index_add(x, 0, idx, src, 2.0)  # alpha is keyword-only, as in PyTorch


def test_var_mean_std_mean() -> None:
    for shape in [(5,), (3, 4), (2, 3, 4)]:
        for dim in [None, *dims_of(shape), *([(0, -1)] if len(shape) > 1 else [])]:
            for keepdim in (False, True):
                check(lambda m, x: m.var_mean(x, dim, keepdim=keepdim), randn(shape))
                check(lambda m, x: m.std_mean(x, dim, correction=0, keepdim=keepdim), randn(shape))


# --- numpy dispatch ---------------------------------------------------------------------------------------------
def test_numpy_functions_on_tensors() -> None:
    data = np.array([[3.0, 1.0, 2.0, 2.0], [0.0, 5.0, 4.0, 1.0]])
    x = leaf(data)
    for fn in (np.cumsum, np.cumprod, np.sort, np.argsort, np.median, np.nonzero, np.argwhere, np.count_nonzero,
               lambda a: np.cumsum(a, axis=1), lambda a: np.sort(a, axis=0), lambda a: np.median(a, axis=1),
               lambda a: np.quantile(a, [0.2, 0.5], axis=0), lambda a: np.count_nonzero(a, axis=1, keepdims=True),
               lambda a: np.take_along_axis(a, np.array([[1], [0]]), 1), lambda a: np.sort(a, axis=None),
               lambda a: np.unique(a), lambda a: np.searchsorted(a[0].sort().values if isinstance(a, ag.Tensor)
                                                                 else np.sort(a[0]), 2.5)):
        ours, expected = fn(x), fn(data)
        for a, b in zip(_outputs(ours), _outputs(expected)):
            np.testing.assert_allclose(a.data, b)
    y = np.cumsum(x, axis=1)
    assert isinstance(y, ag.Tensor) and y.requires_grad
    np.median(x).backward()
    np.testing.assert_array_equal(x.grad.data, [[0, 0, 0.5, 0.5], [0, 0, 0, 0]])  # numpy's median: the mean of 2
