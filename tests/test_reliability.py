"""Reliability: results that were silently wrong or silently different from PyTorch (issue "rel").

Each test states the exact values expected (and compares with PyTorch where it is installed): NaN inputs to the
masked ops (relu, maximum, hardtanh, elu, max, ...), out-of-range indices, hooks that change a gradient's dtype,
the text of broadcasting errors, warnings on valid graphs, numpy 2's copy= protocol, cat's second order.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import autograd as ag
import nn.functional as F

NAN, INF = np.nan, np.inf
VALUES = [NAN, -1.0, 0.0, 1.0, INF, -INF]


def _grad(fn, values=VALUES):
    x = ag.tensor(np.array(values, dtype=np.float64), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")              # no RuntimeWarning on these graphs
        out = fn(x)
        out.backward(ag.tensor(np.ones(out.shape)))
    return out.numpy(), x.grad.numpy()


def _torch_grad(name, values=VALUES):
    torch = pytest.importorskip("torch")
    fn = {"relu": torch.relu, "hardtanh": torch.nn.functional.hardtanh, "relu6": torch.nn.functional.relu6,
          "elu": torch.nn.functional.elu, "celu": torch.nn.functional.celu, "selu": torch.nn.functional.selu,
          "hardsigmoid": torch.nn.functional.hardsigmoid, "hardswish": torch.nn.functional.hardswish,
          "leaky_relu": torch.nn.functional.leaky_relu, "clamp": lambda x: x.clamp(-0.5, 0.5),
          "max": lambda x: x.max(), "min": lambda x: x.min(),
          "maximum": lambda x: torch.maximum(x, torch.zeros_like(x)),
          "minimum": lambda x: torch.minimum(x, torch.zeros_like(x))}[name]
    x = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    out = fn(x)
    out.backward(torch.ones_like(out))
    return out.detach().numpy(), x.grad.numpy()


# The gradient at a NaN input passes on (PyTorch: relu's threshold_backward is `out <= 0 ? 0 : g`, false for NaN;
# hardtanh's `x <= min || x >= max ? 0 : g`; elu's `x <= 0 ? ... : g`; maximum's masked_fill(x < y, 0)).
NAN_CASES = {
    "relu": (lambda x: x.relu(), [1, 0, 0, 1, 1, 0]),
    "hardtanh": (F.hardtanh, [1, 0, 1, 0, 0, 0]),
    "relu6": (F.relu6, [1, 0, 0, 1, 0, 0]),
    "elu": (F.elu, [1, np.exp(-1), 1, 1, 1, 0]),
    "celu": (F.celu, [1, np.exp(-1), 1, 1, 1, 0]),
    "leaky_relu": (F.leaky_relu, [0.01, 0.01, 0.01, 1, 1, 0.01]),
    "clamp": (lambda x: x.clamp(-0.5, 0.5), [0, 0, 1, 0, 0, 0]),     # PyTorch's clamp drops it: so do we
    "maximum": (lambda x: ag.maximum(x, ag.zeros(6, dtype=ag.float64)), [1, 0, 0.5, 1, 1, 0]),
    "minimum": (lambda x: ag.minimum(x, ag.zeros(6, dtype=ag.float64)), [1, 1, 0.5, 0, 0, 1]),
    "max": (lambda x: x.max(), [1, 0, 0, 0, 0, 0]),                 # the NaN is the max: it takes g
    "min": (lambda x: x.min(), [1, 0, 0, 0, 0, 0]),
    "hardswish": (F.hardswish, [1, 1 / 6, 0.5, 5 / 6, 1, 0]),
}


@pytest.mark.parametrize("name", sorted(NAN_CASES))
def test_gradient_at_nan_input_is_exact(name):
    fn, expected = NAN_CASES[name]
    _, grad = _grad(fn)
    np.testing.assert_allclose(grad, expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize("name", sorted(set(NAN_CASES) - {"hardswish"}))
def test_gradient_at_nan_input_matches_pytorch(name):
    out, grad = _grad(NAN_CASES[name][0])
    their_out, their_grad = _torch_grad(name)
    np.testing.assert_array_equal(out, their_out)
    np.testing.assert_allclose(grad, their_grad, rtol=1e-15, atol=0)


def test_hardswish_gradient_matches_pytorch_and_forward_differs_only_at_minus_inf():
    out, grad = _grad(F.hardswish)
    their_out, their_grad = _torch_grad("hardswish")
    np.testing.assert_allclose(grad, their_grad, rtol=1e-15, atol=0)
    # PyTorch's x * relu6(x + 3) / 6 is -inf * 0 = nan at -inf; ours is the limit, 0
    np.testing.assert_array_equal(out[:5], their_out[:5])
    assert out[5] == 0


def test_hardsigmoid_of_nan_is_nan_with_zero_gradient():
    out, grad = _grad(F.hardsigmoid)
    np.testing.assert_array_equal(out, [NAN, 1 / 3, 0.5, 2 / 3, 1, 0])
    np.testing.assert_array_equal(grad, [0, 1 / 6, 1 / 6, 1 / 6, 0, 0])
    their_out, _ = _torch_grad("hardsigmoid")
    np.testing.assert_array_equal(out, their_out)


def test_maximum_with_a_nan_other_gives_both_inputs_the_gradient():
    x = ag.tensor(np.array([1.0, NAN, 2.0]), requires_grad=True)
    y = ag.tensor(np.array([NAN, 0.0, 3.0]), requires_grad=True)
    ag.maximum(x, y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1, 1, 0])
    np.testing.assert_array_equal(y.grad.numpy(), [1, 1, 1])


def test_amax_with_nan_gives_the_gradient_to_the_nans_not_nan_everywhere():
    # PyTorch's amax backward is g / count * mask with count 0 here: nan for the whole row. The gradient is
    # selected, never multiplied (README), so the NaNs share it, as in PyTorch's max().
    x = ag.tensor(np.array([[NAN, 1.0, NAN], [2.0, 3.0, 3.0]]), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ag.amax(x, 1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.5, 0, 0.5], [0, 0.5, 0.5]])


def test_relu_nan_second_order():
    x = ag.tensor(np.array([NAN, -1.0, 2.0]), requires_grad=True)
    (g,) = ag.grad(x.relu().sum(), [x], create_graph=True)
    np.testing.assert_array_equal(g.numpy(), [1, 0, 1])
    (gg,) = ag.grad((g * x).sum(), [x])
    np.testing.assert_array_equal(gg.numpy(), [1, 0, 1])


def test_clamp_with_tensor_bounds_at_nan_is_nan_with_no_gradient_as_in_pytorch():
    x = ag.tensor(np.array([NAN, -1.0, 0.5, 2.0, 0.5]), requires_grad=True)
    lo = ag.tensor(np.array([0.0, 0.0, 0.0, 0.0, NAN]), requires_grad=True)
    hi = ag.tensor(np.ones(5), requires_grad=True)
    out = ag.clamp(x, lo, hi)
    out.sum().backward()
    np.testing.assert_array_equal(out.numpy(), [NAN, 0, 0.5, 1, NAN])   # was 0 at the NaN x
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0, 1, 0, 0])
    np.testing.assert_array_equal(lo.grad.numpy(), [0, 1, 0, 0, 0])       # was 1 at the NaN x and the NaN bound
    np.testing.assert_array_equal(hi.grad.numpy(), [0, 0, 0, 1, 0])
    torch = pytest.importorskip("torch")
    xt, lt, ht = (torch.tensor(t.numpy(), requires_grad=True) for t in (x, lo, hi))
    yt = torch.clamp(xt, lt, ht)
    yt.sum().backward()
    np.testing.assert_array_equal(out.numpy(), yt.detach().numpy())
    for ours, theirs in ((x, xt), (lo, lt), (hi, ht)):
        np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())


# --- out-of-range indices: PyTorch's gather, scatter and index ops raise for a negative index; numpy's fancy
# indexing would take it from the end, silently
X23 = np.arange(6.0).reshape(2, 3)
INDEX_OPS = {
    "gather": lambda x, i: ag.gather(x, 1, ag.tensor(np.array([[0, i, 1], [1, 0, i]]))),
    "scatter": lambda x, i: ag.scatter(x, 1, ag.tensor(np.array([[0, i, 1], [1, 0, i]])), x),
    "scatter_add": lambda x, i: ag.scatter_add(x, 1, ag.tensor(np.array([[0, i, 1], [1, 0, i]])), x),
    "scatter_reduce": lambda x, i: ag.scatter_reduce(x, 1, ag.tensor(np.array([[0, i, 1], [1, 0, i]])), x, "sum"),
    "index_select": lambda x, i: ag.index_select(x, 1, ag.tensor(np.array([0, i]))),
    "index_add": lambda x, i: ag.index_add(x, 1, ag.tensor(np.array([0, i])), x[:, :2]),
}


def _torch_index_op(name, index):
    torch = pytest.importorskip("torch")
    x = torch.tensor(X23)
    two = torch.tensor([[0, index, 1], [1, 0, index]])
    one = torch.tensor([0, index])
    return {"gather": lambda: torch.gather(x, 1, two), "scatter": lambda: torch.scatter(x, 1, two, x),
            "scatter_add": lambda: torch.scatter_add(x, 1, two, x),
            "scatter_reduce": lambda: torch.scatter_reduce(x, 1, two, x, "sum"),
            "index_select": lambda: torch.index_select(x, 1, one),
            "index_add": lambda: torch.index_add(x, 1, one, x[:, :2])}[name]()


@pytest.mark.parametrize("index", [-1, -3, -4, 3])
@pytest.mark.parametrize("name", sorted(INDEX_OPS))
def test_index_ops_refuse_out_of_range_indices_naming_op_index_and_size(name, index):
    x = ag.tensor(X23, requires_grad=True)
    with pytest.raises(IndexError, match=rf"^{name}: index {index} is out of range for dim 1 of size 3$") as info:
        INDEX_OPS[name](x, index)
    assert isinstance(info.value, RuntimeError)      # what PyTorch raises
    with pytest.raises((IndexError, RuntimeError)):   # and PyTorch refuses it as well
        _torch_index_op(name, index)


def test_take_along_dim_counts_negative_indices_from_the_end_as_pytorch_does():
    x = ag.tensor(X23, requires_grad=True)
    out = ag.take_along_dim(x, ag.tensor(np.array([[0, -1], [-3, 2]])), 1)
    np.testing.assert_array_equal(out.numpy(), [[0, 2], [3, 5]])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1, 0, 1], [1, 0, 1]])
    flat = ag.take_along_dim(x, ag.tensor(np.array([-1, -6])))
    np.testing.assert_array_equal(flat.numpy(), [5, 0])
    for bad in (-4, 3):
        with pytest.raises(IndexError, match=f"take_along_dim: index {bad} is out of range for dim 1 of size 3"):
            ag.take_along_dim(x, ag.tensor(np.array([[0, bad], [0, 0]])), 1)
    with pytest.raises(IndexError, match="take_along_dim: index -7 is out of range for dim None of size 6"):
        ag.take_along_dim(x, ag.tensor(np.array([-7])))
    torch = pytest.importorskip("torch")
    theirs = torch.take_along_dim(torch.tensor(X23), torch.tensor([[0, -1], [-3, 2]]), 1)
    np.testing.assert_array_equal(out.numpy(), theirs.numpy())


# --- a hook may replace a gradient, but not change its dtype (PyTorch: "hook 'h' has changed the type of value")
def _to_float64(g):
    return g.astype(ag.float64)


@pytest.mark.parametrize("where", ["leaf", "interior"])
def test_a_hook_changing_the_gradients_dtype_is_refused_naming_it(where):
    x = ag.ones(3, requires_grad=True)                   # float32
    y = x * 2
    (x if where == "leaf" else y).register_hook(_to_float64)
    with pytest.raises(RuntimeError, match="hook '_to_float64' returned a gradient of dtype float64, expected "
                                           "float32"):
        y.sum().backward()
    torch = pytest.importorskip("torch")
    xt = torch.ones(3, requires_grad=True)
    yt = xt * 2
    (xt if where == "leaf" else yt).register_hook(lambda g: g.double())
    with pytest.raises(RuntimeError, match="changed the type"):
        yt.sum().backward()


def test_a_hook_returning_numbers_gets_the_gradients_dtype_and_same_dtype_passes():
    x = ag.ones(3, requires_grad=True)
    x.register_hook(lambda g: [1.0, 2.0, 3.0])
    (x * 2).sum().backward()
    assert x.grad.dtype == ag.float32
    np.testing.assert_array_equal(x.grad.numpy(), [1, 2, 3])
    y = ag.ones(3, requires_grad=True)
    h = y * 2
    h.register_hook(lambda g: g * 10)
    h.sum().backward()
    assert y.grad.dtype == ag.float32
    np.testing.assert_array_equal(y.grad.numpy(), [20, 20, 20])


# --- no warning on a valid graph: sqrt's derivative is infinite at 0, and a mask further down selects 0 from it
@pytest.mark.parametrize("make", [lambda x: x.relu(), lambda x: x.clamp(min=0),
                                  lambda x: ag.where(x.data > 0, x, 0.0), lambda x: F.relu(x)])
def test_sqrt_behind_a_mask_gives_exact_zero_without_warning(make):
    x = ag.tensor(np.array([-1.0, 0.25, 4.0]), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make(x).sqrt().sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 1, 0.25])


def test_sqrt_second_order_behind_relu_matches_pytorch():
    x = ag.tensor(np.array([-1.0, 2.0, 0.5]), requires_grad=True)
    (g,) = ag.grad(x.relu().sqrt().sum(), [x], create_graph=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")              # (0 * inf in mul's VJP, masked out later: see the report)
        g.sum().backward()
    expected = [0, -0.25 * 2 ** -1.5, -0.25 * 0.5 ** -1.5]
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-15)
    torch = pytest.importorskip("torch")
    xt = torch.tensor([-1.0, 2.0, 0.5], dtype=torch.float64, requires_grad=True)
    (gt,) = torch.autograd.grad(xt.relu().sqrt().sum(), [xt], create_graph=True)
    gt.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-15)


# --- numpy 2's copy= protocol: copy=False gives the tensor's own array or raises ValueError, never a copy
def test_asarray_copy_false_shares_an_n_d_tensors_array():
    t = ag.tensor([1.0, 2.0])
    a = np.asarray(t, copy=False)
    a[0] = 7
    np.testing.assert_array_equal(t.numpy(), [7, 2])
    assert np.shares_memory(np.asarray(t, dtype=np.float32, copy=False), t.numpy())
    b = np.asarray(t, copy=True)
    b[1] = 9
    np.testing.assert_array_equal(t.numpy(), [7, 2])
    np.testing.assert_array_equal(np.asarray(t, dtype=np.float64), [7, 2])


@pytest.mark.parametrize("shape", [(), (2,)])
def test_asarray_copy_false_refuses_a_needed_copy(shape):
    t = ag.tensor(np.ones(shape, dtype=np.float32))
    with pytest.raises(ValueError, match="copy=False"):
        np.asarray(t, dtype=np.float64, copy=False)
    with pytest.raises(ValueError, match="copy=False"):
        np.array(t, dtype=np.float64, copy=False)


def test_asarray_of_a_0d_tensor_copy_false_raises_and_otherwise_copies():
    t = ag.tensor(3.0)
    with pytest.raises(ValueError, match="0-d tensor"):  # its value is a numpy scalar: nothing to share
        np.asarray(t, copy=False)
    a = np.asarray(t)
    assert a.shape == () and a == 3
    a[...] = 5                                          # a copy, as numpy allows for copy=None
    assert t.item() == 3
    assert np.array(t, copy=True) == 3


# --- broadcasting errors name the op and both shapes (already so: kept from regressing)
@pytest.mark.parametrize("call, text", [
    (lambda a, b: a + b, "add: shapes (3,) and (4,) cannot be broadcast together"),
    (lambda a, b: b - a, "sub: shapes (4,) and (3,) cannot be broadcast together"),
    (lambda a, b: a * b, "mul: shapes (3,) and (4,) cannot be broadcast together"),
    (lambda a, b: a / b, "div: shapes (3,) and (4,) cannot be broadcast together"),
    (lambda a, b: a ** b, "pow: shapes (3,) and (4,) cannot be broadcast together"),
    (lambda a, b: ag.maximum(a, b), "maximum: shapes (3,) and (4,) cannot be broadcast together"),
    (lambda a, b: a < b, "lt (<): shapes (3,) and (4,) cannot be broadcast together"),
    (lambda a, b: np.add(a, b), "add: shapes (3,) and (4,) cannot be broadcast together"),
    (lambda a, b: a + np.ones(4), "add: shapes (3,) and (4,) cannot be broadcast together"),
    (lambda a, b: a @ ag.ones(4, 2), "matmul: shapes (3,) and (4, 2) do not align: 3 != 4"),
    (lambda a, b: a.add_(b), "add_ (+=): the value of shape (4,) cannot be broadcast to the tensor's shape (3,)"),
])
def test_broadcasting_errors_name_the_op_and_both_shapes(call, text):
    a, b = ag.ones(3), ag.ones(4)
    with pytest.raises(ValueError) as info:
        call(a, b)
    assert str(info.value).startswith(text)


# --- cat's gradient, recorded (create_graph), and split/chunk/unbind: one split node, a backward linear in the
# number of pieces (n getitem nodes each sent a gradient of the full size back: quadratic)
def test_cat_second_order_goes_through_one_split_node_and_is_exact():
    rng = np.random.default_rng(0)
    xs = [ag.tensor(rng.standard_normal(k), requires_grad=True) for k in (2, 1, 3, 2)]
    gs = ag.grad((ag.cat(xs) ** 3).sum(), xs, create_graph=True)
    assert {g.grad_fn.op.name for g in gs} == {f"split[{k}]" for k in range(4)}
    assert len({g.grad_fn.edges[0] for g in gs}) == 1
    (gs[0].sum() + (gs[2] ** 2).sum()).backward()   # pieces 1 and 3 get no gradient: zeros there
    np.testing.assert_allclose(xs[0].grad.numpy(), 6 * xs[0].numpy(), rtol=1e-15)
    np.testing.assert_allclose(xs[2].grad.numpy(), 4 * 9 * xs[2].numpy() ** 3, rtol=1e-15)
    np.testing.assert_array_equal(xs[1].grad.numpy(), [0])
    np.testing.assert_array_equal(xs[3].grad.numpy(), [0, 0])


def test_split_chunk_unbind_and_cat_gradcheck_first_second_and_third_order():
    rng = np.random.default_rng(1)
    x = ag.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    fns = [lambda x: ag.stack([p * p.sin() for p in x.unbind(1)], 0),
           lambda x: ag.cat([p.exp() * (i + 1) for i, p in enumerate(ag.split(x, [2, 0, 3], 0))], 0),
           lambda x: ag.cat([p.exp() for p in x.chunk(2, 1)[1:]], 1),            # an unused piece
           lambda x: sum(p * p * p for p in x.reshape(-1).unbind())]              # 0-d pieces
    for fn in fns:
        assert ag.gradcheck(fn, (x,)) and ag.gradgradcheck(fn, (x,))
    a = ag.tensor(rng.standard_normal(3), requires_grad=True)
    b = ag.tensor(rng.standard_normal(2), requires_grad=True)
    ga, gb = ag.grad((ag.cat([a, b]) ** 4).sum(), [a, b], create_graph=True)
    gga, ggb = ag.grad((ga ** 2).sum() + gb.sum(), [a, b], create_graph=True)
    (gga.sum() + ggb.sum()).backward()                                           # split -> cat -> split
    np.testing.assert_allclose(gga.numpy(), 96 * a.numpy() ** 5, rtol=1e-14)
    np.testing.assert_allclose(ggb.numpy(), 12 * b.numpy() ** 2, rtol=1e-14)
    np.testing.assert_allclose(a.grad.numpy(), 480 * a.numpy() ** 4, rtol=1e-14)
    np.testing.assert_allclose(b.grad.numpy(), 24 * b.numpy(), rtol=1e-14)


def test_split_pieces_keep_hooks_retain_grad_targets_and_dtype():
    x = ag.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    p0, p1, p2 = x.unbind(0)
    p1.retain_grad()
    p2.register_hook(lambda g: g * 10)
    (p0.sum() + (p1 * 2).sum() + p2.sum()).backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad.numpy(), [[1, 1], [2, 2], [10, 10]])
    np.testing.assert_array_equal(p1.grad.numpy(), [2, 2])
    g_p1, g_x = ag.grad((p1 * 3).sum(), [p1, x])
    np.testing.assert_array_equal(g_p1.numpy(), [3, 3])
    np.testing.assert_array_equal(g_x.numpy(), [[0, 0], [3, 3], [0, 0]])
    w = ag.ones(4, 2, requires_grad=True)
    (ag.split(w, 1, 1)[0] * 2).sum().backward()
    assert w.grad.dtype == ag.float32
    np.testing.assert_array_equal(w.grad.numpy(), [[2, 0]] * 4)
    with ag.no_grad():
        assert not any(p.requires_grad for p in x.unbind(0))
    y = ag.stack(x.unbind(0), 1).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_unbind_of_many_rows_sends_one_gradient_to_the_input():
    # n pieces: their gradients meet in one split node, joined once (the old n getitem nodes summed n arrays of
    # the input's size); with 20,000 rows that was seconds, it is now the cost of the pieces' own nodes
    x = ag.tensor(np.ones((20000, 2)), requires_grad=True)
    pieces = x.unbind(0)
    assert len({p.grad_fn.edges[0] for p in pieces}) == 1 and pieces[7].grad_fn.op.name == "split[7]"
    ag.stack(pieces[::2], 0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[:4], [[1, 1], [0, 0], [1, 1], [0, 0]])
    assert x.grad.numpy().sum() == 20000



# --- special values (issue rel2): softplus at +inf, abs at NaN, pow's exponent 0, atan2 at the origin, logaddexp
# where the output rounds to an input, overflowing intermediates in VJPs (a RuntimeWarning and 0 * inf)
def _grad_of(fn, *values, dtype=np.float64, g=None):
    xs = [ag.tensor(np.array(v, dtype=dtype), requires_grad=True) for v in values]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                 # numpy warns in some forwards (log(-1)); PyTorch never
        out = fn(*xs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # the backward passes here must not warn
        out.backward(ag.tensor(np.ones(out.shape, dtype) if g is None else np.asarray(g, dtype)))
    return (out.numpy(), *(x.grad.numpy() for x in xs))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fn", [ag.softplus, F.softplus, lambda x: F.softplus(x, beta=2.0),
                                lambda x: F.softplus(x, beta=0.5, threshold=5.0)])
def test_softplus_gradient_is_one_at_plus_inf_and_at_huge_inputs(fn, dtype):
    big = float(np.finfo(dtype).max)
    out, grad = _grad_of(fn, [np.inf, big, 1e30, -1e30, -np.inf, np.nan], dtype=dtype)
    np.testing.assert_array_equal(out[[0, 4, 5]], np.array([np.inf, 0, np.nan], dtype))
    assert out[1] >= big / 2 and out[2] == dtype(1e30)
    np.testing.assert_array_equal(grad, np.array([1, 1, 1, 0, 0, np.nan], dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logsigmoid_gradient_is_one_at_minus_inf(dtype):
    out, grad = _grad_of(F.logsigmoid, [-np.inf, -1e30, 1e30, np.inf], dtype=dtype)
    np.testing.assert_array_equal(out, np.array([-np.inf, -1e30, 0, 0], dtype))
    np.testing.assert_array_equal(grad, np.array([1, 1, 0, 0], dtype))


def test_softplus_gradient_is_sigmoid_to_the_last_bits():
    # -expm1(-softplus(x)): within 2 ulps of sigmoid (exp(x - softplus(x)) was off by up to 30 ulps for x > 20)
    x = np.concatenate([np.linspace(-700, 40, 7401), [-1e-300, 0.0, 1e-300]])
    _, grad = _grad_of(ag.softplus, x)
    reference = np.array([1 / (1 + np.exp(-v)) for v in x.astype(np.longdouble)], dtype=np.longdouble)
    ulps = np.abs((grad - reference) / np.spacing(reference.astype(np.float64)).astype(np.longdouble))
    assert float(ulps[reference > 1e-300].max()) <= 2
    assert ag.gradgradcheck(ag.softplus, (ag.tensor([-30.0, -1.0, 0.0, 2.0, 25.0], requires_grad=True),))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_abs_gradient_is_sgn_zero_at_nan_and_at_zero_even_for_infinite_g(dtype):
    # PyTorch's abs backward is grad * self.sgn(): sgn(NaN) = sgn(0) = 0
    _, grad = _grad_of(ag.abs, [np.nan, -0.0, 0.0, -2.0, 3.0, -np.inf, np.inf], dtype=dtype)
    np.testing.assert_array_equal(grad, np.array([0, 0, 0, -1, 1, -1, 1], dtype))
    _, grad = _grad_of(ag.abs, [0.0, -0.0, np.nan], dtype=dtype, g=[np.inf, -np.inf, np.inf])
    np.testing.assert_array_equal(grad, np.zeros(3, dtype))
    x = ag.tensor([-1.5, 0.7, 2.0], dtype=ag.float64, requires_grad=True)
    assert ag.gradcheck(lambda x: x.abs() * x, (x,)) and ag.gradgradcheck(lambda x: x.abs() * x, (x,))


def test_pow_with_a_tensor_exponent_zero_has_zero_gradient_at_a_nan_base():
    # x^0 = 1 for every x, NaN included: PyTorch masks y == 0 (0 * NaN^-1 was NaN), as for a scalar exponent 0
    _, gx, gy = _grad_of(ag.pow, [np.nan, np.nan, 0.0, 2.0, np.inf], [0.0, -0.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(gx, [0, 0, 0, 0, 0])
    np.testing.assert_array_equal(gy[2:], [0, np.log(2), np.inf])
    _, gx = _grad_of(lambda x: x ** 0, [np.nan, 0.0, 1.0])
    np.testing.assert_array_equal(gx, [0, 0, 0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_atan2_gradient_is_zero_at_the_origin_and_exact_where_x2_plus_y2_under_or_overflows(dtype):
    tiny, big = (1e-200, 1e200) if dtype == np.float64 else (1e-30, 1e30)
    y = [0.0, -0.0, 0.0, tiny, big, 1.0]
    x = [0.0, 0.0, -0.0, tiny, big, 0.0]
    _, gy, gx = _grad_of(ag.atan2, y, x, dtype=dtype)
    # d/dy = x / (x^2 + y^2), d/dx = -y / (x^2 + y^2); 0 at the origin (PyTorch's value, no 0/0 warning)
    np.testing.assert_allclose(gy, np.array([0, 0, 0, 0.5 / tiny, 0.5 / big, 0], dtype), rtol=1e-6)
    np.testing.assert_allclose(gx, np.array([0, 0, 0, -0.5 / tiny, -0.5 / big, -1], dtype), rtol=1e-6)
    a = ag.tensor([0.3, -1.2, 2.0], dtype=ag.float64, requires_grad=True)
    b = ag.tensor([-0.5, 0.4, 1.5], dtype=ag.float64, requires_grad=True)
    assert ag.gradcheck(ag.atan2, (a, b)) and ag.gradgradcheck(ag.atan2, (a, b))


@pytest.mark.parametrize("op", [ag.logaddexp, ag.logaddexp2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logaddexp_gradients_split_evenly_at_equal_inputs_and_reach_their_limits(op, dtype):
    big = float(np.finfo(dtype).max)
    x = [1e30, -1e30, np.inf, 3.0, big, -big, np.inf]
    y = [1e30, -1e30, 3.0, -np.inf, -big, big, np.inf]
    _, gx, gy = _grad_of(op, x, y, dtype=dtype)
    # e^x / (e^x + e^y): 1/2 at x == y (exp(x - out) gave 1 to each where out rounded to x), the limits 1 and 0
    # at infinite x or y (inf - inf = NaN before); NaN at (inf, inf) as in PyTorch
    np.testing.assert_array_equal(gx, np.array([0.5, 0.5, 1, 1, 1, 0, np.nan], dtype))
    np.testing.assert_array_equal(gy, np.array([0.5, 0.5, 0, 0, 0, 1, np.nan], dtype))
    a = ag.tensor([0.3, -1.2, 2.0], dtype=ag.float64, requires_grad=True)
    b = ag.tensor([-0.5, 0.4, 1.5], dtype=ag.float64, requires_grad=True)
    assert ag.gradcheck(op, (a, b)) and ag.gradgradcheck(op, (a, b))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, fn, expected", [
    ("atan", ag.atan, lambda x: 1 / (x * x)),                  # 1 / (1 + x^2)
    ("asinh", ag.asinh, lambda x: 1 / abs(x)),                 # 1 / sqrt(x^2 + 1)
    ("acosh", lambda x: x.acosh(), lambda x: 1 / abs(x)),      # 1 / sqrt(x^2 - 1), PyTorch's below -1 too
    ("atanh", ag.atanh, lambda x: -1 / (x * x)),               # 1 / (1 - x^2)
    ("erf", ag.erf, lambda x: 0.0),
    ("log2", ag.log2, lambda x: 1 / (x * np.log(2))),
    ("log10", ag.log10, lambda x: 1 / (x * np.log(10))),
])
def test_vjps_at_huge_inputs_give_their_limits_without_an_overflow_warning(name, fn, expected, dtype):
    # x^2 overflowed to inf: the value was right (1 / inf = 0) but with a RuntimeWarning; now no warning, and
    # asinh, acosh, log2 and log10 give the exact tiny value where their x^2 or x ln 10 would overflow
    big = float(np.finfo(dtype).max)
    for v in (big, -big, 1e30 if dtype == np.float32 else 1e300):
        if name in ("log2", "log10") and v < 0:
            continue
        _, grad = _grad_of(fn, [v], dtype=dtype)
        want = np.array([float(np.float64(expected(np.longdouble(v))))], dtype)
        if name in ("atan", "acosh", "atanh", "erf"):   # x^2 overflows in these formulas: 0 (or a tiny value)
            assert abs(float(grad[0])) <= abs(float(want[0])) * (1 + 1e-6) + float(np.finfo(dtype).tiny)
        else:
            np.testing.assert_allclose(grad, want, rtol=1e-6)


def test_dot_shape_errors_name_dot():
    for call in (lambda: ag.dot(ag.ones(3), ag.ones(4)), lambda: ag.ones(3).dot(ag.ones(4))):
        with pytest.raises(RuntimeError, match=r"^dot: .*\(3,\) and \(4,\)") as info:
            call()
        assert isinstance(info.value, ValueError) and "matmul" not in str(info.value)
    assert ag.dot(ag.ones(3), ag.ones(3)).item() == 3


# In-place shape errors are the engine's OpError (a ValueError, and PyTorch's RuntimeError), as every other shape
# error; and a write that broadcasts beyond the tensor is refused inside the graph too (it silently grew the tensor
# to the broadcast shape there).
@pytest.mark.parametrize("graph", [False, True])
@pytest.mark.parametrize("call, text", [
    (lambda t: t.add_(ag.ones(4)), r"add_ \(\+=\): the value of shape \(4,\) cannot be broadcast to the tensor's "
                                   r"shape \(3,\)"),
    (lambda t: t.mul_(ag.ones(2, 3)), r"mul_ \(\*=\): the value of shape \(2, 3\) cannot be broadcast to the "
                                      r"tensor's shape \(3,\)"),
    (lambda t: t.sub_(ag.ones(1, 3)), r"sub_ \(-=\): the value of shape \(1, 3\) cannot be broadcast"),
    (lambda t: t.div_(ag.ones(4)), r"div_ \(/=\): the value of shape \(4,\)"),
    (lambda t: t.copy_(ag.ones(4)), r"copy_: source of shape \(4,\) cannot be broadcast to the tensor's shape"),
    (lambda t: t.copy_(ag.ones(2, 3)), r"copy_: source of shape \(2, 3\) cannot be broadcast"),
    (lambda t: t.__setitem__(slice(0, 2), ag.ones(3)),
     r"^(__setitem__|index_put \(t\[index\] = value\)): could not broadcast input array from shape \(3,\) "
     r"into shape \(2,\)"),
])
def test_in_place_shape_errors_are_op_errors_naming_op_and_shapes(call, text, graph):
    t = ag.ones(3, dtype=ag.float64, requires_grad=True).clone() if graph else ag.ones(3, dtype=ag.float64)
    with pytest.raises(ag.errors.OpError, match=text) as info:
        call(t)
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, ValueError)
    assert t.shape == (3,)


def test_bitwise_in_place_shape_error_is_an_op_error():
    t = ag.ones(3, dtype=ag.int64)
    with pytest.raises(RuntimeError, match=r"bitwise_and_ \(&=\): the result of shape \(2, 3\)"):
        t &= ag.ones((2, 3), dtype=ag.int64)


# --- the sweep: every elementwise op against PyTorch at special values, forward and first-order gradients, in
# float64 and float32 (PyTorch's own results, where installed). A difference is either fixed or listed in
# SWEEP_KEPT with the reason it is kept and what ours must be there.
SPECIAL = {np.float64: [np.nan, -np.inf, -1e300, -1.0, -0.0, 0.0, 1e-300, 1.0, 1e300, np.inf],
           np.float32: [np.nan, -np.inf, -float(np.finfo(np.float32).max), -1.0, -0.0, 0.0,
                        float(np.finfo(np.float32).tiny), 1.0, float(np.finfo(np.float32).max), np.inf]}

# name -> (ours, PyTorch's as a function of the torch module)
SWEEP_UNARY = {
    "exp": (ag.exp, lambda t: t.exp), "log": (ag.log, lambda t: t.log), "log1p": (ag.log1p, lambda t: t.log1p),
    "expm1": (ag.expm1, lambda t: t.expm1), "sqrt": (ag.sqrt, lambda t: t.sqrt), "rsqrt": (ag.rsqrt, lambda t: t.rsqrt),
    "tanh": (ag.tanh, lambda t: t.tanh), "sigmoid": (ag.sigmoid, lambda t: t.sigmoid),
    "logsigmoid": (F.logsigmoid, lambda t: t.nn.functional.logsigmoid),
    "softplus": (ag.softplus, lambda t: t.nn.functional.softplus),
    "softplus_beta2": (lambda x: F.softplus(x, beta=2.0), lambda t: lambda x: t.nn.functional.softplus(x, beta=2.0)),
    "softplus_beta_half_threshold5": (lambda x: F.softplus(x, beta=0.5, threshold=5.0),
                                      lambda t: lambda x: t.nn.functional.softplus(x, beta=0.5, threshold=5.0)),
    "relu": (ag.relu, lambda t: t.relu), "relu6": (F.relu6, lambda t: t.nn.functional.relu6),
    "gelu": (F.gelu, lambda t: t.nn.functional.gelu),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"),
                  lambda t: lambda x: t.nn.functional.gelu(x, approximate="tanh")),
    "silu": (F.silu, lambda t: t.nn.functional.silu), "mish": (F.mish, lambda t: t.nn.functional.mish),
    "elu": (F.elu, lambda t: t.nn.functional.elu), "selu": (F.selu, lambda t: t.nn.functional.selu),
    "celu": (F.celu, lambda t: t.nn.functional.celu),
    "leaky_relu": (F.leaky_relu, lambda t: t.nn.functional.leaky_relu),
    "hardtanh": (F.hardtanh, lambda t: t.nn.functional.hardtanh),
    "hardswish": (F.hardswish, lambda t: t.nn.functional.hardswish),
    "hardsigmoid": (F.hardsigmoid, lambda t: t.nn.functional.hardsigmoid),
    "softsign": (F.softsign, lambda t: t.nn.functional.softsign),
    "abs": (ag.abs, lambda t: t.abs), "sign": (ag.sign, lambda t: t.sign), "neg": (ag.neg, lambda t: t.neg),
    "sin": (ag.sin, lambda t: t.sin), "cos": (ag.cos, lambda t: t.cos), "tan": (ag.tan, lambda t: t.tan),
    "asin": (ag.asin, lambda t: t.asin), "acos": (ag.acos, lambda t: t.acos), "atan": (ag.atan, lambda t: t.atan),
    "sinh": (ag.sinh, lambda t: t.sinh), "cosh": (ag.cosh, lambda t: t.cosh), "asinh": (ag.asinh, lambda t: t.asinh),
    "acosh": (ag.acosh, lambda t: t.acosh), "atanh": (ag.atanh, lambda t: t.atanh),
    "erf": (ag.erf, lambda t: t.erf), "erfinv": (ag.erfinv, lambda t: t.erfinv),
    "log2": (ag.log2, lambda t: t.log2), "log10": (ag.log10, lambda t: t.log10), "exp2": (ag.exp2, lambda t: t.exp2),
    "sinc": (ag.sinc, lambda t: t.sinc), "frac": (ag.frac, lambda t: t.frac),
    "reciprocal": (ag.reciprocal, lambda t: t.reciprocal), "square": (ag.square, lambda t: t.square),
    "clamp": (lambda x: ag.clamp(x, -0.5, 0.5), lambda t: lambda x: t.clamp(x, -0.5, 0.5)),
    "clamp_min": (lambda x: ag.clamp(x, min=0.0), lambda t: lambda x: t.clamp(x, min=0.0)),
    "nan_to_num": (ag.nan_to_num, lambda t: t.nan_to_num),
    **{f"pow_{p}": (lambda x, p=p: x ** p, lambda t, p=p: lambda x: x ** p) for p in (0, 0.5, 1, 2, -1, 3, -0.5)},
    **{f"rpow_{p}": (lambda x, p=p: p ** x, lambda t, p=p: lambda x: p ** x) for p in (0, 0.5, 2, -1)},
}
SWEEP_BINARY = {name: (getattr(ag, name), lambda t, name=name: getattr(t, name))
                for name in ("add", "sub", "mul", "div", "maximum", "minimum", "pow", "atan2", "hypot",
                             "logaddexp", "logaddexp2", "copysign", "xlogy", "fmod", "remainder")}


def _tiny_and_exact(exact):
    """Kept where PyTorch's intermediate (x^2, x ln 10) over- or underflows to give 0 (or inf): ours must be the
    exact value, computed here in exact rational arithmetic."""
    return lambda ours, xs: np.allclose(ours, exact(*xs), rtol=1e-5, atol=0, equal_nan=True)


def _exact(f):
    from fractions import Fraction

    def vectorised(*xs):
        return np.array([float(f(*(Fraction(float(v)) for v in vs))) for vs in zip(*xs)])
    return vectorised


def _atan2_exact(i):
    def f(y, x):
        r2 = x * x + y * y
        return 0.0 if r2 == 0 else (x if i == 0 else -y) / r2
    return _exact(f)


def _finite_inputs(xs):
    return np.all([np.isfinite(x) for x in xs], axis=0)


# (name, "forward" or "gradient i") -> (which inputs (a mask from the inputs), what ours must be there, why)
SWEEP_KEPT = {
    ("sign", "forward"): (lambda x: np.isnan(x), lambda ours, xs: np.isnan(ours).all(),
                          "NaN in, NaN out (numpy's and IEEE's rule); PyTorch's sign computes (0 < x) - (x < 0) = 0"),
    ("hardswish", "forward"): (lambda x: x == -np.inf, lambda ours, xs: (ours == 0).all(),
                               "0, the limit; PyTorch's x relu6(x + 3) / 6 is -inf * 0 = NaN (see above)"),
    ("gelu", "forward"): (lambda x: x == np.inf, lambda ours, xs: (ours == np.inf).all(),
                          "x Phi(x) -> inf, the limit; PyTorch's float32 vectorised kernel gives NaN"),
    ("hardtanh", "gradient 0"): (lambda x: np.isnan(x), lambda ours, xs: (ours == 1).all(),
                                 "PyTorch's scalar kernel passes g at NaN (as ours, test above), its vectorised "
                                 "kernel 0: which one runs depends on the position in the array"),
    ("relu6", "gradient 0"): (lambda x: np.isnan(x), lambda ours, xs: (ours == 1).all(), "as hardtanh"),
    ("hardsigmoid", "gradient 0"): (lambda x: np.abs(x) < 3, lambda ours, xs: (ours == 1 / 6).all(),
                                    "PyTorch's float64 gradient is 1/6 rounded to float32; ours is 1/6"),
    ("sinc", "gradient 0"): (lambda x: np.isfinite(x) & (x != 0) & ((np.abs(x) > 1e30) | (np.abs(x) < 1e-30)),
                             lambda ours, xs: np.all(np.where(np.abs(xs[0]) < 1,
                                                              np.isclose(ours, -np.pi ** 2 / 3 * xs[0], rtol=1e-6),
                                                              np.abs(ours * xs[0]) <= 2)),
                             "(cos(pi x) - sinc(x)) / x, of size 1/x, PyTorch's pi x^2 overflows to give 0; near 0 "
                             "ours is the series, -pi^2 x / 3, PyTorch's cancels to 0"),
    ("pow_0.5", "gradient 0"): (lambda x: x == -np.inf, lambda ours, xs: (ours == 0).all(),
                                "0.5 (-inf)^-0.5 = 0 by C99's pow (numpy's); PyTorch takes rsqrt(-inf) = NaN"),
    ("pow_-0.5", "forward"): (lambda x: x == -np.inf, lambda ours, xs: (ours == 0).all(),
                              "(-inf)^-0.5 = 0 by C99's pow (numpy's); PyTorch takes rsqrt(-inf) = NaN"),
    ("asinh", "gradient 0"): (lambda x: np.isfinite(x) & ~np.isfinite(x * x),
                              _tiny_and_exact(_exact(lambda x: 1 / abs(x))),
                              "1 / |x| to 1e-16 relative; PyTorch's x^2 + 1 overflows to give 0"),
    ("log10", "gradient 0"): (lambda x: np.isfinite(x) & ~np.isfinite(x * x.dtype.type(np.log(10))),
                              lambda ours, xs: np.allclose(ours, 1 / (xs[0].astype(np.float64) * np.log(10)),
                                                           rtol=1e-5),
                              "1 / (x ln 10); PyTorch's float32 x ln 10 overflows to give 0"),
    ("atan2", "gradient 0"): (lambda y, x: _finite_inputs([y, x]) & ((x * x + y * y == 0) | ~np.isfinite(x * x + y * y)
                                                                      | (np.abs(x) + np.abs(y) < 1e-150)),
                              _tiny_and_exact(_atan2_exact(0)),
                              "x / (x^2 + y^2) exactly (0 at the origin, as PyTorch); PyTorch's 1 / (x^2 + y^2) "
                              "is zeroed where x^2 + y^2 over- or underflows"),
    ("atan2", "gradient 1"): (lambda y, x: _finite_inputs([y, x]) & ((x * x + y * y == 0) | ~np.isfinite(x * x + y * y)
                                                                      | (np.abs(x) + np.abs(y) < 1e-150)),
                              _tiny_and_exact(_atan2_exact(1)), "as gradient 0"),
    ("logaddexp2", "forward"): (lambda x, y: (x == -1) & (y == -1), lambda ours, xs: (ours == 0).all(),
                                "log2(2^-1 + 2^-1) = 0 exactly (numpy's); PyTorch's is off by an ulp"),
    ("copysign", "gradient 0"): (lambda x, y: np.isinf(x), lambda ours, xs: (np.abs(ours) == 1).all(),
                                 "+-1, the derivative everywhere off x = 0; PyTorch's result / x is inf / inf = NaN"),
    ("fmod", "forward"): (lambda x, y: np.isfinite(x) & (np.abs(x) > 1e30) & (np.abs(y) < 1e-30) & (y != 0),
                          lambda ours, xs: (np.abs(ours) < np.abs(xs[1])).all(),
                          "fmod is exact (C's, numpy's); PyTorch's x - trunc(x / y) y is NaN when x / y = inf"),
    ("remainder", "forward"): (lambda x, y: np.isfinite(x) & (np.abs(x) > 1e30) & (np.abs(y) < 1e-30) & (y != 0),
                               lambda ours, xs: (np.abs(ours) < np.abs(xs[1])).all(), "as fmod"),
}

# Backward passes that still warn where PyTorch's gradient is finite, with the reason they are left
SWEEP_WARNS: dict[str, str] = {}


def _sweep_same(a, b, dtype):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        close = np.abs(a - b) <= (1e-9 if dtype == np.float64 else 1e-4) * np.maximum(np.abs(a), np.abs(b))
    return (np.isnan(a) & np.isnan(b)) | (a == b) | close


def _sweep(name, ours, theirs, inputs, dtype):
    torch = pytest.importorskip("torch")
    xs = [ag.tensor(v, requires_grad=True) for v in inputs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                  # forwards may warn (log(-1)), as numpy does
        out = ours(*xs)
    out.backward(ag.ones_like(out))
    ts = [torch.tensor(v, requires_grad=True) for v in inputs]
    t_out = theirs(torch)(*ts)
    t_out.backward(torch.ones_like(t_out))
    pairs = [("forward", out.numpy(), t_out.detach().numpy())]
    pairs += [(f"gradient {i}", x.grad.numpy() if x.grad is not None else np.zeros(x.shape),
               t.grad.numpy() if t.grad is not None else np.zeros(t.shape)) for i, (x, t) in enumerate(zip(xs, ts))]
    problems = []
    for what, a, b in pairs:
        assert a.dtype == dtype, (name, what, a.dtype)
        differ = ~_sweep_same(a, b, dtype)
        kept = SWEEP_KEPT.get((name, what))
        if kept is not None:
            with np.errstate(all="ignore"):
                where = kept[0](*inputs) & differ
            if where.any() and not kept[1](a[where], [v[where] for v in inputs]):
                problems.append(f"{what} at the kept inputs {[v[where] for v in inputs]}: {a[where]} ({kept[2]})")
            differ &= ~where
        for i in np.flatnonzero(differ):
            problems.append(f"{what} at {[v[i] for v in inputs]}: ours {a[i]!r}, PyTorch's {b[i]!r}")
    assert not problems, f"{name} ({np.dtype(dtype).name}):\n" + "\n".join(problems)
    # No RuntimeWarning from the backward pass on the inputs where PyTorch's gradients are all finite
    finite = np.all([np.isfinite(t.grad.numpy()) if t.grad is not None else np.ones(t.shape, bool) for t in ts], 0)
    if finite.any() and name not in SWEEP_WARNS:
        xs = [ag.tensor(v[finite], requires_grad=True) for v in inputs]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = ours(*xs)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out.backward(ag.ones_like(out))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(SWEEP_UNARY))
def test_sweep_unary_ops_at_special_values_match_pytorch(name, dtype):
    ours, theirs = SWEEP_UNARY[name]
    _sweep(name, ours, theirs, [np.array(SPECIAL[dtype], dtype)], dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(SWEEP_BINARY))
def test_sweep_binary_ops_at_special_values_on_either_side_match_pytorch(name, dtype):
    ours, theirs = SWEEP_BINARY[name]
    x, y = np.meshgrid(np.array(SPECIAL[dtype], dtype), np.array(SPECIAL[dtype], dtype), indexing="ij")
    _sweep(name, ours, theirs, [x.ravel(), y.ravel()], dtype)


def test_sweep_kept_differences_are_still_differences():
    # each SWEEP_KEPT entry names a place where PyTorch differs today; one that no longer differs should go
    torch = pytest.importorskip("torch")
    assert torch.sign(torch.tensor(float("nan"))).item() == 0
    assert np.isnan(torch.nn.functional.hardswish(torch.tensor(float("-inf"))).item())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_std_of_a_constant_has_gradient_zero_without_a_warning(dtype):
    # sqrt'(0) = inf times the variance's gradient 0 was NaN; PyTorch's std_backward masks result == 0 to 0
    out, grad = _grad_of(lambda x: ag.std(x, 1).sum(), [[3.0, 3.0, 3.0], [1.0, 2.0, 4.0]], dtype=dtype)
    np.testing.assert_allclose(out, np.std([1.0, 2.0, 4.0], ddof=1), rtol=1e-6)
    np.testing.assert_array_equal(grad[0], np.zeros(3, dtype))
    np.testing.assert_allclose(grad[1], (np.array([1, 2, 4]) - 7 / 3) / (2 * np.std([1.0, 2, 4], ddof=1)), rtol=1e-6)
    _, grad = _grad_of(lambda x: ag.std_mean(x)[0], [0.0, 0.0])
    np.testing.assert_array_equal(grad, [0, 0])


def test_sinc_first_and_second_derivatives_near_zero_are_the_series():
    # (cos(pi x) - sinc(x)) / x cancels to 0 for |x| < 1e-8: a fine first derivative, but its derivative was
    # -pi^2 there (0 at x = 0) where sinc''(0) = -pi^2/3
    xs = [0.0, 1e-300, 1e-8, 1e-3, 0.05, 0.0999, 0.1, 0.2, 1.3]
    x = ag.tensor(xs, dtype=ag.float64, requires_grad=True)
    (g,) = ag.grad(ag.sinc(x).sum(), [x], create_graph=True)
    (h,) = ag.grad(g.sum(), [x])
    u = np.pi * np.array(xs, dtype=np.longdouble)
    first = np.pi * sum((-1) ** k * 2 * k * u ** (2 * k - 1) / math.factorial(2 * k + 1) for k in range(1, 30))
    second = np.pi ** 2 * sum((-1) ** k * 2 * k * (2 * k - 1) * u ** (2 * k - 2) / math.factorial(2 * k + 1)
                              for k in range(1, 30))
    np.testing.assert_allclose(g.numpy(), first.astype(np.float64), rtol=1e-14, atol=0)
    np.testing.assert_allclose(h.numpy(), second.astype(np.float64), rtol=1e-13, atol=0)
    x = ag.tensor([-0.3, -0.05, 0.02, 0.09, 0.11, 0.7, 2.1], dtype=ag.float64, requires_grad=True)
    assert ag.gradcheck(ag.sinc, (x,)) and ag.gradgradcheck(ag.sinc, (x,))


@pytest.mark.parametrize("name, expected", [("atanh", [-np.inf, np.inf]), ("acosh", [np.inf, -np.inf])])
def test_atanh_acosh_second_order_at_their_poles_is_infinite_as_pytorch(name, expected):
    # the VJPs keep PyTorch's 1 / (1 - x^2) and 1 / sqrt(x^2 - 1) (with the overflow warning silenced): the
    # factored forms (1 - x)(1 + x) gave NaN here at second order
    x = ag.tensor([-1.0, 1.0], dtype=ag.float64, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (g,) = ag.grad(getattr(ag, name)(x).sum(), [x], create_graph=True)
        (h,) = ag.grad(g.sum(), [x])
    np.testing.assert_array_equal(h.numpy(), expected)


# --- the losses at special values, against PyTorch as the sweep above (reduction='none', so that each element's
# gradient is compared): input x target over SPECIAL. Huber and smooth L1 gave NaN gradients (with a warning) at
# d = x - y = +-inf, where PyTorch's is +-delta (+-1): the unused quadratic branch's 0 gradient times d = inf.
SWEEP_LOSSES = {
    "huber_loss": (lambda x, y: F.huber_loss(x, y, reduction="none"),
                   lambda t: lambda x, y: t.nn.functional.huber_loss(x, y, reduction="none")),
    "huber_loss_delta2": (lambda x, y: F.huber_loss(x, y, reduction="none", delta=2.0),
                          lambda t: lambda x, y: t.nn.functional.huber_loss(x, y, reduction="none", delta=2.0)),
    "smooth_l1_loss": (lambda x, y: F.smooth_l1_loss(x, y, reduction="none"),
                       lambda t: lambda x, y: t.nn.functional.smooth_l1_loss(x, y, reduction="none")),
    "smooth_l1_loss_beta_half": (lambda x, y: F.smooth_l1_loss(x, y, reduction="none", beta=0.5),
                                 lambda t: lambda x, y: t.nn.functional.smooth_l1_loss(x, y, reduction="none",
                                                                                       beta=0.5)),
    "smooth_l1_loss_beta0": (lambda x, y: F.smooth_l1_loss(x, y, reduction="none", beta=0.0),
                             lambda t: lambda x, y: t.nn.functional.smooth_l1_loss(x, y, reduction="none", beta=0.0)),
    "l1_loss": (lambda x, y: F.l1_loss(x, y, reduction="none"),
                lambda t: lambda x, y: t.nn.functional.l1_loss(x, y, reduction="none")),
    "mse_loss": (lambda x, y: F.mse_loss(x, y, reduction="none"),
                 lambda t: lambda x, y: t.nn.functional.mse_loss(x, y, reduction="none")),
    "binary_cross_entropy_with_logits": (
        lambda x, y: F.binary_cross_entropy_with_logits(x, y, reduction="none"),
        lambda t: lambda x, y: t.nn.functional.binary_cross_entropy_with_logits(x, y, reduction="none")),
    "kl_div_log_target": (lambda x, y: F.kl_div(x, y, reduction="none", log_target=True),
                          lambda t: lambda x, y: t.nn.functional.kl_div(x, y, reduction="none", log_target=True)),
}
# targets that are probabilities (for input x target pairs where the target must lie in [0, 1] or be >= 0)
SWEEP_PROBABILITY_LOSSES = {
    "kl_div": (lambda x, y: F.kl_div(x, y, reduction="none"),
               lambda t: lambda x, y: t.nn.functional.kl_div(x, y, reduction="none")),
    "binary_cross_entropy_with_logits_soft": SWEEP_LOSSES["binary_cross_entropy_with_logits"],
    "binary_cross_entropy_with_logits_pos_weight": (
        lambda x, y: F.binary_cross_entropy_with_logits(x, y, reduction="none",
                                                        pos_weight=ag.tensor(2.0, dtype=x.dtype)),
        lambda t: lambda x, y: t.nn.functional.binary_cross_entropy_with_logits(
            x, y, reduction="none", pos_weight=t.tensor(2.0, dtype=x.dtype))),
}
SWEEP_KEPT.update({
    ("kl_div", "gradient 1"): (lambda x, y: y == 0, lambda ours, xs: np.array_equal(ours, -xs[0], equal_nan=True),
                               "-x, the gradient of x's term, p log p taken as the constant 0 at p = 0 (its "
                               "one-sided derivative log p + 1 is -inf); PyTorch's is NaN"),
    **{("gaussian_nll_loss", f"gradient {i}"): (
        lambda x, y, v: np.isfinite(x) & (v == np.inf), lambda ours, xs: (ours == 0).all(),
        "+-(x - y) / var = 0 for a finite difference; PyTorch's float32 kernel gives NaN where (x - y)^2 overflows "
        "(its float64 one 0)") for i in (0, 1)},
    ("binary_cross_entropy_with_logits_pos_weight", "gradient 0"): (
        lambda x, y: (x < -1e30) & (y > 0) & (y < 1e-20), lambda ours, xs: (np.abs(ours) <= 1e-15).all(),
        "(1 - y) - (1 + y) sigmoid(-x) = -2y rounds to 0 for a tiny y (an error of one rounding of a gradient of "
        "size 1); PyTorch's hand-written (1 + y) sigmoid(x) - 2y has no cancellation there"),
})


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(SWEEP_LOSSES))
def test_sweep_losses_at_special_values_match_pytorch(name, dtype):
    ours, theirs = SWEEP_LOSSES[name]
    x, y = np.meshgrid(np.array(SPECIAL[dtype], dtype), np.array(SPECIAL[dtype], dtype), indexing="ij")
    _sweep(name, ours, theirs, [x.ravel(), y.ravel()], dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(SWEEP_PROBABILITY_LOSSES))
def test_sweep_losses_with_probability_targets_at_special_values_match_pytorch(name, dtype):
    ours, theirs = SWEEP_PROBABILITY_LOSSES[name]
    x, y = np.meshgrid(np.array(SPECIAL[dtype], dtype), np.array([0.0, 1e-30, 0.25, 1.0], dtype), indexing="ij")
    _sweep(name.removesuffix("_soft"), ours, theirs, [x.ravel(), y.ravel()], dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sweep_gaussian_nll_loss_at_special_variances_matches_pytorch(dtype):
    # var = inf gave a NaN loss and NaN gradients (the clamp's (v - v.data) was inf - inf): PyTorch's loss is
    # inf, its gradients 0
    big = float(np.finfo(dtype).max)
    x, y, v = np.meshgrid(np.array(SPECIAL[dtype], dtype), np.array([-1.0, 0.0, 2.0], dtype),
                          np.array([np.nan, 0.0, 1e-30, 1e-6, 0.5, big, np.inf], dtype), indexing="ij")
    _sweep("gaussian_nll_loss", lambda x, y, v: F.gaussian_nll_loss(x, y, v, reduction="none"),
           lambda t: lambda x, y, v: t.nn.functional.gaussian_nll_loss(x, y, v, reduction="none"),
           [x.ravel(), y.ravel(), v.ravel()], dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss", [F.huber_loss, F.smooth_l1_loss])
def test_huber_and_smooth_l1_mean_gradient_at_infinite_differences_is_plus_minus_one_over_n(loss, dtype):
    # NaN (with 'invalid value encountered in multiply') before; PyTorch's: sign(d) / N, here N = 4
    out, gx, gy = _grad_of(lambda x, y: loss(x, y), [np.inf, -np.inf, 0.5, 3.0], [0.0, 1.0, np.inf, 0.0],
                           dtype=dtype, g=1.0)
    assert out == np.inf
    np.testing.assert_array_equal(gx, np.array([0.25, -0.25, -0.25, 0.25], dtype))
    np.testing.assert_array_equal(gy, -gx)


@pytest.mark.parametrize("shapes", [((4, 3), (4, 6), (2, 3, 5), None), ((4, 4), (4, 5), (2, 3, 5), None),
                                    ((4, 3), (3, 5), (2, 3, 5), None), ((4, 3), (1, 5), (2, 3, 5), None),
                                    ((4, 3), (5,), (2, 3, 5), None), ((4, 3), (4, 5), (3, 5), None),
                                    ((4, 3), (4, 5), (2, 3, 5), (3,)), ((4, 3), (4, 5), (2, 3, 5), (1,))])
def test_bilinear_shape_errors_name_bilinear_and_the_shapes(shapes):
    # they named einsum and its subscripts ('...i,kij,...j->...k'), or `add` for the bias, or broadcast batch dims
    # that PyTorch refuses
    a, b, w, bias = shapes
    args = [ag.ones(a), ag.ones(b), ag.ones(w), None if bias is None else ag.ones(bias)]
    with pytest.raises(ag.errors.OpError, match=r"^bilinear: ") as info:
        F.bilinear(*args)
    assert isinstance(info.value, RuntimeError)
    assert all(str(s) in str(info.value) for s in (a, b, w))
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError):
        torch.nn.functional.bilinear(*[None if s is None else torch.ones(s) for s in shapes])


def test_bilinear_still_matches_pytorch_batched_and_unbatched():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w, bias = rng.standard_normal((2, 3, 5)), rng.standard_normal(2)
    for a, b in [((4, 3), (4, 5)), ((3,), (5,)), ((2, 4, 3), (2, 4, 5)), ((0, 3), (0, 5))]:
        x, y = rng.standard_normal(a), rng.standard_normal(b)
        ours = F.bilinear(ag.tensor(x), ag.tensor(y), ag.tensor(w), ag.tensor(bias)).numpy()
        theirs = torch.nn.functional.bilinear(*map(torch.tensor, (x, y, w, bias))).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


# --- autograd/errors.py's convention: the shape and value errors an op raises are OpError (a ValueError and a
# RuntimeError, as PyTorch raises), index and dim errors OpIndexError; these were plain ValueError (IndexError)
def _ints(*shape):
    return ag.tensor(np.zeros(shape, np.int64))


OP_ERRORS = {
    "cross": lambda: ag.cross(ag.ones(4, 2), ag.ones(4, 2), dim=1),
    "diag": lambda: ag.diag(ag.ones(2, 2, 2)),
    "trace": lambda: ag.trace(ag.ones(3)),
    "roll": lambda: ag.roll(ag.ones(3, 3), (1, 2), 0),
    "rot90": lambda: ag.rot90(ag.ones(3, 3), 1, (0,)),
    "unflatten": lambda: ag.unflatten(ag.ones(2, 6), 1, (4, -1)),
    "narrow": lambda: ag.narrow(ag.ones(4), 0, 2, 3),
    "masked_select": lambda: ag.masked_select(ag.ones(3, 4), ag.tensor(np.ones((2, 4), bool))),
    "gather": lambda: ag.gather(ag.ones(3, 4), 1, _ints(3)),
    "scatter": lambda: ag.scatter(ag.ones(3, 4), 1, _ints(5, 1), ag.ones(5, 1)),
    "scatter_add": lambda: ag.scatter_add(ag.ones(3, 4), 1, _ints(3, 1), ag.ones(2, 1)),
    "take_along_dim": lambda: ag.take_along_dim(ag.ones(3, 4), _ints(3), 1),
    "outer": lambda: ag.outer(ag.ones(3, 1), ag.ones(2)),
    "meshgrid": lambda: ag.meshgrid(ag.ones(2, 2), ag.ones(3), indexing="ij"),
    "repeat_interleave": lambda: ag.repeat_interleave(ag.ones(3), ag.tensor(np.array([1, 2], np.int64)), 0),
    "unfold": lambda: ag.ones(4).unfold(0, 5, 1),
    "movedim": lambda: ag.movedim(ag.ones(2, 3), (0, 1), (0,)),
    "searchsorted": lambda: ag.searchsorted(ag.ones(2, 3), ag.ones(3, 1)),
    "bucketize": lambda: ag.bucketize(ag.ones(3), ag.ones(2, 2)),
    "quantile": lambda: ag.quantile(ag.ones(3), 1.5),
    "t": lambda: ag.t(ag.ones(2, 3, 4)),
    "diagonal": lambda: ag.diagonal(ag.ones(3, 3), 0, 1, 1),
    "median": lambda: ag.median(ag.ones(0)),
}
OP_INDEX_ERRORS = {
    "narrow": lambda: ag.narrow(ag.ones(4), 0, 5, 0),
    "topk": lambda: ag.topk(ag.ones(3), 4),
    "kthvalue": lambda: ag.kthvalue(ag.ones(3), 4),
    "median": lambda: ag.median(ag.ones(3, 0), 1),
    "index_select": lambda: ag.index_select(ag.ones(3, 4), 0, _ints(2, 2)),
}


@pytest.mark.parametrize("name", sorted(OP_ERRORS))
def test_op_shape_and_value_errors_are_op_errors_naming_the_op(name):
    with pytest.raises(ag.errors.OpError, match=rf"^{name}: ") as info:
        OP_ERRORS[name]()
    assert isinstance(info.value, ValueError) and isinstance(info.value, RuntimeError)


@pytest.mark.parametrize("name", sorted(OP_INDEX_ERRORS))
def test_op_index_errors_are_op_index_errors_naming_the_op(name):
    with pytest.raises(ag.errors.OpIndexError, match=rf"^{name}: ") as info:
        OP_INDEX_ERRORS[name]()
    assert isinstance(info.value, IndexError) and isinstance(info.value, RuntimeError)


@pytest.mark.parametrize("call, shapes", [
    (lambda: ag.gather(ag.ones(3, 4), 1, _ints(3)), ["(3,)", "(3, 4)"]),
    (lambda: ag.scatter(ag.ones(3, 4), 1, _ints(3), ag.ones(3)), ["(3,)", "(3, 4)"]),
    (lambda: ag.take_along_dim(ag.ones(3, 4), _ints(3), 1), ["(3,)", "(3, 4)"]),
    (lambda: ag.repeat_interleave(ag.ones(3, 2), ag.tensor(np.array([1, 2], np.int64)), 0), ["(3, 2)"]),
    (lambda: ag.unflatten(ag.ones(2, 6), 1, ()), ["(2, 6)"]),
    (lambda: ag.narrow(ag.ones(4, 2), 0, 1, -1), ["(4, 2)"]),
    (lambda: ag.index_select(ag.ones(3, 4), 0, _ints(2, 2)), ["(2, 2)", "(3, 4)"]),
])
def test_op_errors_name_the_shapes_at_fault(call, shapes):
    # these named neither the index's shape nor the input's (narrow with a negative length said it "exceeds")
    with pytest.raises(RuntimeError) as info:
        call()
    assert all(s in str(info.value) for s in shapes), str(info.value)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cumprod_gradient_before_a_zero_after_an_overflow_is_pytorchs_not_nan(dtype):
    # out = [1e300, inf, inf * 0 = nan]: the nan reached grad_0 and grad_1 through sum_j g_j out_j / x_i, which
    # PyTorch sums only before the first zero. (The exact gradient, [1e300, 1e300, inf], is out of reach of the
    # division: out_1 / x_0 overflows as it does for [1e300, 1e300], where PyTorch's and ours are inf too.)
    big = float(np.finfo(dtype).max) / 2
    x = ag.tensor(np.array([big, big, 0.0], dtype), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (the forward's overflow, and the backward's in x_0 x_1 = inf = grad_2)
        out = ag.cumprod(x, 0)
        out.backward(ag.ones_like(out))
    np.testing.assert_array_equal(x.grad.numpy(), np.array([np.inf, np.inf, np.inf], dtype))


CUMPROD_LINES = [[2.0, 0.0, NAN], [2.0, 0.0, INF], [NAN, 0.0, 1.0], [2.0, INF, 0.0, 3.0], [INF, 0.0],
                 [1e300, 1e300, 0.0, NAN], [3.0, 0.0, 1e300, 1e300], [1e300, 1e300, 0.0], [1e300, 1e300],
                 [1e300, 1e300, 0.0, 2.0], [2.0, 1e300, 1e300, 0.0], [1e200, 1e200, 1e-300, 0.0],
                 [1e300, 1e300, 0.0, 0.0], [-1e300, 1e300, -0.0, 5.0], [NAN, 1.0, 2.0], [0.5, 1e300, 0.0, 1e-300]]


def _cumprod_and_grad_both(torch, x, axis):
    """(cumprod of x along axis, the gradient of its sum) from us and from PyTorch, as arrays."""
    ours = ag.tensor(x, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # overflows and inf * 0 on purpose
        out = ag.cumprod(ours, axis)
        out.backward(ag.ones_like(out))
    theirs = torch.tensor(x, requires_grad=True)
    t_out = torch.cumprod(theirs, axis)
    t_out.backward(torch.ones_like(t_out))
    return (out.numpy(), ours.grad.numpy()), (t_out.detach().numpy(), theirs.grad.numpy())


@pytest.mark.parametrize("axis", [0, 1])
def test_cumprod_gradient_at_special_values_with_a_zero_matches_pytorch(axis):
    # lines with one zero after values whose product overflows, or with inf or NaN about the zero: NaN before the
    # first zero in 10 of these 16 lines before (PyTorch's: inf, or the finite sum of the terms before the zero)
    torch = pytest.importorskip("torch")
    for line in CUMPROD_LINES:
        x = np.array([line, line[::-1]]) if axis == 1 else np.array([line, line[::-1]]).T
        (out, grad), (t_out, t_grad) = _cumprod_and_grad_both(torch, x, axis)
        np.testing.assert_array_equal(out, t_out)
        np.testing.assert_allclose(grad, t_grad, rtol=1e-15, atol=0, err_msg=str(line))


def test_sweep_kept_loss_differences_are_still_differences():
    # as test_sweep_kept_differences_are_still_differences, for the entries the loss sweep added to SWEEP_KEPT
    torch = pytest.importorskip("torch")
    p = torch.tensor([0.0], requires_grad=True)
    torch.nn.functional.kl_div(torch.tensor([0.5]), p, reduction="sum").backward()
    assert torch.isnan(p.grad).all()
    v = torch.tensor([float("inf")], requires_grad=True)
    x = torch.tensor([float(np.finfo(np.float32).max)], requires_grad=True)
    torch.nn.functional.gaussian_nll_loss(x, torch.tensor([0.0]), v, reduction="none").sum().backward()
    assert torch.isnan(x.grad).all()
    x = torch.tensor([-1e300], dtype=torch.float64, requires_grad=True)
    torch.nn.functional.binary_cross_entropy_with_logits(
        x, torch.tensor([1e-30], dtype=torch.float64), pos_weight=torch.tensor(2.0, dtype=torch.float64)).backward()
    assert x.grad.item() == -2e-30


CUMPROD_SECOND_ZERO_LINES = [
    [0.0, 1e300, 1.0, -1.0, -0.0, np.nan],  # a NaN after the second zero: PyTorch 1e300 at the first zero
    [0.5, 0.0, -1.7e308, 4.0, 0.0, np.inf],  # the products overflow before the second zero: -inf
    [0.0, 2.0, 0.0, np.inf],  # an inf after the second zero: 1 + 2 = 3
    [1.0, 0.0, 3.0, 0.0, np.nan, 2.0],
    [0.0, 1e300, 1e300, 0.0, 1.0],  # overflow, then the second zero: NaN in PyTorch as here (inf * 0)
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("axis", [0, 1])
def test_cumprod_gradient_at_the_first_zero_stops_at_the_second_zero_as_pytorch(axis, dtype):
    # grad at a line's first zero z sums g_j prod_{z < k <= j} x_k over z <= j < z2, the second zero: the terms
    # from z2 on are exactly 0 and, summed as computed, were 0 * inf = NaN
    torch = pytest.importorskip("torch")
    for line in CUMPROD_SECOND_ZERO_LINES:
        with np.errstate(over="ignore"):  # 1e300 is inf in float32
            x = np.array([line, line[::-1]], dtype=dtype)
        x = x if axis == 1 else x.T.copy()
        (_, grad), (_, t_grad) = _cumprod_and_grad_both(torch, x, axis)
        np.testing.assert_allclose(grad, t_grad, rtol=1e-6, atol=0, err_msg=str(line))
    x = ag.tensor(np.array([0.0, 1e300, 1.0, -1.0, -0.0, np.nan]), requires_grad=True)  # float64, exactly
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ag.cumprod(x, 0).sum().backward()
    assert x.grad.numpy()[0] == 1e300


def _ones(*shape):
    return ag.tensor(np.ones(shape), requires_grad=True)


OP_INPUT_ERRORS = {  # an operation's bad shapes or values: OpError (ValueError and PyTorch's RuntimeError)
    "item": lambda: _ones(2, 3).item(),
    "bool": lambda: bool(_ones(2)),
    "linspace": lambda: ag.linspace(0, 1, -1),
    "grad": lambda: ag.grad([_ones(1).sum()], [_ones(1)], [ag.ones(()), ag.ones(())]),
    "einsum": lambda: ag.einsum("ij,jk->ik", _ones(2, 3)),
    "einsum ": lambda: ag.einsum("ij,jk->ik", _ones(2, 3), _ones(3)),
    "unfold": lambda: ag.unfold(_ones(1, 1, 2, 2), kernel_size=(3, 3), stride=(1, 1), dilation=(1, 1)),
    "gelu": lambda: F.gelu(_ones(3), approximate="foo"),
    "fused_lstm": lambda: ag.fused_lstm(_ones(2, 3), _ones(3, 8), _ones(16, 3), _ones(16, 4)),
    "fused_lstm ": lambda: ag.fused_lstm(_ones(5, 2, 3), _ones(2, 8), _ones(16, 3), _ones(15, 4)),
    "fused_attention": lambda: ag.fused_attention(_ones(2, 4), _ones(3, 5), _ones(3, 4)),
    "fused_attention ": lambda: ag.fused_attention(_ones(2, 4), _ones(3, 4), _ones(3, 4),
                                            mask=ag.tensor(np.ones((2, 3), bool)), causal=True),
    "cosine_similarity": lambda: F.cosine_similarity(_ones(2, 3), _ones(4, 3)),
}


@pytest.mark.parametrize("name", list(OP_INPUT_ERRORS))
def test_op_input_errors_are_op_errors_naming_the_op(name):
    # the ones raised outside operations.py (which converted its own): were plain ValueErrors, not RuntimeErrors
    from autograd.errors import OpError
    with pytest.raises(OpError) as info:
        OP_INPUT_ERRORS[name]()
    assert isinstance(info.value, ValueError) and isinstance(info.value, RuntimeError)
    assert str(info.value).startswith(name.strip() + ":"), str(info.value)
