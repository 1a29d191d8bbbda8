"""Reliability: results that were silently wrong or silently different from PyTorch (issue "rel").

Each test states the exact values expected (and compares with PyTorch where it is installed): NaN inputs to the
masked ops (relu, maximum, hardtanh, elu, max, ...), out-of-range indices, hooks that change a gradient's dtype,
the text of broadcasting errors, warnings on valid graphs, numpy 2's copy= protocol, cat's second order.
"""

from __future__ import annotations

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

