"""The engine's rules: accumulation, freeing, higher order, in-place safety, anomaly mode, errors, conventions."""

from __future__ import annotations

import gc
import sys
import weakref

import numpy as np
import pytest

import autograd as ag
from autograd import AnomalyError, Tensor, tensor


def leaf(values, dtype=ag.float64) -> Tensor:
    return tensor(values, dtype=dtype, requires_grad=True)


# --- accumulation, freeing, retain_graph ---------------------------------------------------------------------
def test_gradients_accumulate_into_leaves_across_backward_calls():
    x = leaf([1.0, 2.0])
    (x * x).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2 + 3, 4 + 3])
    grad_object = x.grad
    (x * 1).sum().backward()
    assert x.grad is grad_object  # accumulated into the same .grad tensor, as in PyTorch


@pytest.mark.parametrize("activation", ["tanh", "relu", "exp", "sigmoid", "sqrt", "expm1"])
def test_an_op_that_needs_only_its_output_lets_its_large_input_go(activation):
    # as in PyTorch, a layer's pre-activation does not live until backward just because tanh/relu consumed it
    x = leaf(np.linspace(0.1, 1.0, 64 * 32).reshape(64, 32))
    z = x * 2.0
    z_array = weakref.ref(z._data)
    y = getattr(z, activation)()
    del z
    gc.disable()
    try:
        assert z_array() is None  # freed by reference counting, during the forward pass
    finally:
        gc.enable()
    y.sum().backward()
    expected = {"tanh": lambda u: 1 - np.tanh(u) ** 2, "relu": lambda u: (u > 0) * 1.0, "exp": np.exp,
                "sigmoid": lambda u: np.exp(-u) / (1 + np.exp(-u)) ** 2, "sqrt": lambda u: 0.5 / np.sqrt(u),
                "expm1": np.exp}[activation]
    np.testing.assert_allclose(x.grad.numpy(), 2 * expected(2 * x.numpy()), rtol=1e-12)


def test_small_inputs_and_inputs_under_record_locations_are_kept():
    small = leaf([0.5, 1.5]) * 2.0
    assert small.tanh().grad_fn.args[0] is small._data  # cheaper than its node; drawings show its values
    big = leaf(np.ones((64, 32))) * 2.0
    assert big.tanh().grad_fn.args == (None,)  # tanh reads nothing of its input
    huge = leaf(np.ones((128, 64))) * 2.0  # 64 KB: add and reshape keep only its shape
    assert isinstance((huge + 1.0).grad_fn.args[0], ag.Unkept)
    assert isinstance(huge.reshape(-1).grad_fn.args[0], ag.Unkept)
    assert (big + 1.0).grad_fn.args[0] is big._data
    with ag.record_locations():
        assert big.tanh().grad_fn.args[0] is big._data  # for check_graph


def test_higher_order_gradients_through_an_op_that_did_not_keep_its_input():
    x = leaf(np.linspace(-1, 1, 40 * 8).reshape(40, 8))
    y = (x * 1.5).tanh()
    assert y.grad_fn.args == (None,)
    (g,) = ag.grad(y.sum(), x, create_graph=True)
    (gg,) = ag.grad(g.sum(), x)
    t = np.tanh(1.5 * x.numpy())
    np.testing.assert_allclose(g.numpy(), 1.5 * (1 - t * t), rtol=1e-12)
    np.testing.assert_allclose(gg.numpy(), 1.5 * 1.5 * (-2 * t) * (1 - t * t), rtol=1e-12)
    assert ag.gradgradcheck(lambda a: (a * 1.5).tanh(), (x,))


def test_second_backward_through_freed_graph_raises():
    x = leaf([1.0, 2.0])
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_second_backward_raises_even_when_the_graph_saved_nothing():
    x = leaf([1.0, 2.0])
    y = (x + 1).sum()  # add and sum read no input values
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = leaf(3.0)
    y = x * x
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.item() == pytest.approx(12.0)


def test_backward_releases_saved_arrays_without_the_cyclic_collector():
    gc.disable()
    try:
        x = leaf(np.ones(1000))
        y = x.exp()
        saved = y.grad_fn.out
        ref = weakref.ref(saved)
        loss = (y * 2).sum()
        del y, saved
        assert ref() is not None
        loss.backward()
        assert ref() is None  # freed by reference counting alone
    finally:
        gc.enable()


def test_long_chain_backprops_without_recursion_error():
    x = leaf(0.5)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    assert sys.getrecursionlimit() < 100_000
    y.backward()
    assert x.grad.item() == 1.0


def test_backward_on_a_leaf_gives_ones():
    x = leaf([1.0, 2.0])
    x.backward(np.array([3.0, 4.0]))
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 4.0])


def test_backward_inputs_limits_accumulation():
    x, w = leaf(2.0), leaf(3.0)
    (x * w).backward(inputs=[x])
    assert x.grad.item() == 3.0 and w.grad is None


# --- higher order -------------------------------------------------------------------------------------------
def test_create_graph_gives_gradients_of_gradients_to_any_order():
    x = leaf(2.0)
    y = x ** 4
    (g1,) = ag.grad(y, x, create_graph=True)
    (g2,) = ag.grad(g1, x, create_graph=True)
    (g3,) = ag.grad(g2, x, create_graph=True)
    (g4,) = ag.grad(g3, x)
    assert [g.item() for g in (g1, g2, g3, g4)] == pytest.approx([32.0, 48.0, 48.0, 24.0])


def test_backward_with_create_graph_makes_grad_differentiable():
    x = leaf([1.0, 2.0])
    (x ** 3).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    x.grad.sum().backward()  # d/dx sum(3x^2) = 6x, accumulated onto the existing 3x^2
    np.testing.assert_allclose(x.grad.detach().numpy(), [3 + 6, 12 + 12])


def test_plain_backward_records_nothing():
    x = leaf([1.0, 2.0])
    (x.tanh() * x).sum().backward()
    assert x.grad.grad_fn is None and not x.grad.requires_grad


def test_grad_returns_without_accumulating():
    x, y = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    gx, gy = ag.grad((x * y).sum(), [x, y])
    np.testing.assert_allclose(gx.numpy(), [3, 4])
    np.testing.assert_allclose(gy.numpy(), [1, 2])
    assert x.grad is None and y.grad is None


def test_grad_with_respect_to_an_intermediate():
    x = leaf([1.0, 2.0])
    h = x * 3
    (gh,) = ag.grad((h * h).sum(), h)
    np.testing.assert_allclose(gh.numpy(), [6.0, 12.0])


def test_grad_allow_unused():
    x, unused = leaf(1.0), leaf(2.0)
    with pytest.raises(RuntimeError, match="input 1 .* not used.*allow_unused=True"):
        ag.grad(x * 2, [x, unused])
    assert ag.grad(x * 2, [x, unused], allow_unused=True)[1] is None


def test_grad_outputs_for_non_scalar_outputs():
    x = leaf([1.0, 2.0])
    (g,) = ag.grad(x * x, x, grad_outputs=tensor([1.0, 10.0], dtype=ag.float64))
    np.testing.assert_allclose(g.numpy(), [2.0, 40.0])


# --- grad mode -------------------------------------------------------------------------------------------------
def test_no_grad_and_enable_grad():
    x = leaf(1.0)
    with ag.no_grad():
        assert not ag.is_grad_enabled()
        y = x * 2
        with ag.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and ag.is_grad_enabled()

    @ag.no_grad()
    def double(t):
        return t * 2

    assert not double(x).requires_grad


def test_detach_shares_data_but_not_graph():
    x = leaf([1.0, 2.0])
    d = (x * 2).detach()
    assert not d.requires_grad and d.grad_fn is None
    x2 = x.detach()
    assert np.shares_memory(x2.numpy(), x.numpy())


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="floating-point.*int64"):
        tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="floating-point"):
        ag.arange(3).requires_grad_()


# --- hooks and retain_grad -------------------------------------------------------------------------------------
def test_hooks_on_leaves_and_intermediates():
    x = leaf([1.0, 2.0])
    seen = []
    handle = x.register_hook(lambda g: g * 2)
    h = x * 3
    h.register_hook(lambda g: seen.append(g.numpy().copy()))
    h.sum().backward()
    np.testing.assert_allclose(seen[0], [1.0, 1.0])
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0])
    handle.remove()
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])


def test_retain_grad_keeps_intermediate_gradients():
    x = leaf([1.0, 2.0])
    h = x * x
    h.retain_grad()
    (h * 5).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), [5.0, 5.0])
    assert h.retains_grad


def test_leaf_gradients_never_share_memory():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()
    a.grad.data[...] = 0  # an in-place change to one .grad (e.g. clipping) ...
    np.testing.assert_allclose(b.grad.numpy(), [1.0, 1.0])  # ... never shows up in another


# --- in-place operations ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("modify", [
    lambda t: t.__iadd__(1), lambda t: t.__isub__(1), lambda t: t.__imul__(2), lambda t: t.__itruediv__(2),
    lambda t: t.zero_(), lambda t: t.fill_(3.0), lambda t: t.copy_(np.ones(2)),
    lambda t: t.__setitem__(0, 5.0),
])
def test_in_place_on_a_leaf_that_requires_grad_raises(modify):
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad.*no_grad"):
        modify(x)


def test_in_place_under_no_grad_updates_the_same_array():
    x = leaf([1.0, 2.0])
    array = x.data
    with ag.no_grad():
        x -= 0.5 * tensor([2.0, 2.0], dtype=ag.float64)
    assert x.data is array
    np.testing.assert_allclose(array, [0.0, 1.0])
    assert x.is_leaf and x.requires_grad


def test_modifying_a_saved_tensor_fails_at_backward_naming_both_operations():
    w = leaf([1.0, 2.0])
    a = tensor([3.0, 4.0], dtype=ag.float64)
    y = (w * a).sum()
    a += 1
    with pytest.raises(RuntimeError, match=r"'mul'.*modified in place by 'add_ \(\+=\)'"):
        y.backward()


def test_modifying_a_saved_leaf_under_no_grad_fails_at_backward():
    w = leaf([1.0, 2.0])
    y = (w * w).sum()
    with ag.no_grad():
        w.mul_(2)
    with pytest.raises(RuntimeError, match="'mul'.*mul_"):
        y.backward()


def test_modifying_a_view_of_a_saved_tensor_is_caught():
    base = tensor(np.arange(6.0).reshape(2, 3))
    w = leaf(np.ones(3))
    y = (w * base[0]).sum()  # saves a view of base
    base[0, 1] = 100.0
    with pytest.raises(RuntimeError, match="modified in place by '__setitem__'"):
        y.backward()


def test_modifying_an_unsaved_tensor_is_fine():
    w = leaf([1.0, 2.0])
    a = tensor([3.0, 4.0], dtype=ag.float64)
    y = (w + a).sum()  # add's gradient does not read a
    a += 1
    y.backward()
    np.testing.assert_allclose(w.grad.numpy(), [1.0, 1.0])


def test_in_place_on_a_graph_tensor_is_recorded():
    x = leaf([1.0, 2.0, 3.0])
    y = x * 2
    y += 1
    y[0] = 0.0
    y *= x
    assert y.grad_fn.name() == "MulBackward"
    y.sum().backward()
    # y = [0, 2x1+1, 2x2+1] * x  ->  dy/dx = [0, 4x1+1, 4x2+1]
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 9.0, 13.0])


def test_earlier_uses_of_a_graph_tensor_keep_their_value_after_an_in_place_change():
    x = leaf(1.0)
    y = x.exp()
    z = y * 3
    y.mul_(2)  # y now holds 2 e^x with a new graph node; z was computed from the old y
    z.backward()
    assert x.grad.item() == pytest.approx(3 * np.e)


def test_assignment_of_a_tensor_that_requires_grad():
    v = leaf(5.0)
    y = tensor([1.0, 2.0, 3.0], dtype=ag.float64)
    y[1] = v * 2
    assert y.requires_grad
    y.sum().backward()
    assert v.grad.item() == 2.0


# --- anomaly mode --------------------------------------------------------------------------------------------------
def test_detect_anomaly_names_the_forward_op_and_line():
    x = leaf([1.0, -1.0])
    with ag.detect_anomaly(), pytest.raises(AnomalyError) as info:
        x.log()  # the line that should be named
    message = str(info.value)
    assert "'log' produced nan" in message and "test_engine.py" in message and "x.log()" in message


def test_detect_anomaly_ignores_inf_that_was_already_in_the_input():
    with ag.detect_anomaly():
        y = tensor([-np.inf, 0.0]) + 1
    assert np.isinf(y.numpy()[0])


def test_detect_anomaly_catches_nan_in_backward_and_names_the_forward_line():
    x = leaf([0.0, 1.0])
    with ag.detect_anomaly():
        y = x.sqrt()  # sqrt'(0) is inf
        loss = y.sum()
        with pytest.raises(AnomalyError) as info:
            loss.backward()
    message = str(info.value)
    assert "backward of 'sqrt' produced inf" in message and "y = x.sqrt()" in message


# --- errors name the op and the shapes ------------------------------------------------------------------------------
def test_broadcast_error():
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        ag.ones(2, 3) + ag.ones(4)


def test_matmul_error():
    with pytest.raises(ValueError, match=r"matmul: shapes \(128, 784\) and \(512, 256\) do not align: 784 != 512"):
        ag.ones(128, 784) @ ag.ones(512, 256)


def test_bad_dim_error():
    expected = r"sum: dim 3 is out of range .* 2 dimensions \(expected a dim in \[-2, 1\]\)"
    with pytest.raises(IndexError, match=expected):
        ag.ones(2, 3).sum(3)


def test_reshape_error():
    with pytest.raises(ValueError, match=r"reshape: cannot reshape a tensor of shape \(2, 3\) \(6 elements\) "
                                         r"into shape \(4, 2\)"):
        ag.ones(2, 3).reshape(4, 2)


def test_non_scalar_backward_error_gives_the_shape():
    x = leaf(np.ones((3, 4)))
    with pytest.raises(RuntimeError, match=r"scalar output.*shape \(3, 4\).*gradient="):
        (x * 2).backward()


def test_wrong_gradient_shape_error():
    x = leaf(np.ones((3, 4)))
    with pytest.raises(RuntimeError, match=r"gradient has shape \(4,\) but output 0 has shape \(3, 4\)"):
        (x * 2).backward(np.ones(4))


def test_a_gradient_of_another_dtype_takes_the_outputs_dtype():
    """As in PyTorch: backward(float64 gradient) on a float32 output walks in float32 (seen by a hook)."""
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    h = x.exp()
    seen = []
    h.register_hook(lambda g: seen.append(g.dtype))
    y = h * 2.0
    y.backward(ag.tensor(np.ones(2), dtype=ag.float64))
    assert seen == [np.float32] and x.grad.dtype == np.float32
    h = x.exp()
    h.register_hook(lambda g: seen.append(g.dtype))
    (gx,) = ag.grad(h * 2.0, [x], grad_outputs=[ag.tensor(np.ones(2), dtype=ag.float64)], create_graph=True)
    assert gx.dtype == np.float32 and seen == [np.float32, np.float32]


def test_backward_of_a_tensor_without_grad_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        ag.ones(2).sum().backward()


def test_index_errors_name_the_shape():
    with pytest.raises(IndexError, match=r"indexing: .*\(tensor of shape \(2,\)\)"):
        ag.ones(2)[5]


# --- conventions at kinks (as PyTorch) ------------------------------------------------------------------------------
def grad_of(fn, values):
    x = leaf(values)
    fn(x).sum().backward()
    return x.grad.numpy()


def test_edge_conventions():
    np.testing.assert_allclose(grad_of(ag.relu, [0.0, 1.0, -1.0]), [0.0, 1.0, 0.0])
    np.testing.assert_allclose(grad_of(ag.abs, [0.0, 2.0, -2.0]), [0.0, 1.0, -1.0])
    np.testing.assert_allclose(grad_of(lambda x: x.max(), [1.0, 3.0, 3.0]), [0.0, 0.5, 0.5])
    third = 1 / 3
    np.testing.assert_allclose(grad_of(lambda x: x.amin(), [2.0, 2.0, 2.0, 5.0]), [third, third, third, 0.0])
    np.testing.assert_allclose(grad_of(lambda x: x.max(0).values, [3.0, 3.0, 1.0]), [1.0, 0.0, 0.0])
    np.testing.assert_allclose(grad_of(lambda x: ag.clamp(x, 0.0, 2.0), [0.0, 1.0, 2.0, 3.0]), [1, 1, 1, 0])
    np.testing.assert_allclose(grad_of(lambda x: x ** 0, [0.0, 2.0]), [0.0, 0.0])
    np.testing.assert_allclose(grad_of(lambda x: x.prod(), [0.0, 2.0, 3.0]), [6.0, 0.0, 0.0])
    np.testing.assert_allclose(grad_of(lambda x: x.prod(), [0.0, 2.0, 0.0]), [0.0, 0.0, 0.0])
    np.testing.assert_allclose(grad_of(lambda x: x[[0, 0, 1]], [1.0, 2.0, 3.0]), [2.0, 1.0, 0.0])
    np.testing.assert_allclose(grad_of(lambda x: ag.maximum(x, tensor([1.0, 1.0], dtype=ag.float64)),
                                       [1.0, 2.0]), [0.5, 1.0])


def test_sign_has_zero_gradient_but_stays_in_the_graph():
    x = leaf([-2.0, 3.0])
    y = x.sign()
    assert y.requires_grad
    (y * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [-1.0, 1.0])


# --- dtypes ----------------------------------------------------------------------------------------------
def test_dtype_rules():
    assert tensor(1.5).dtype == np.float32 and tensor([1.0, 2.0]).dtype == np.float32
    assert tensor(3).dtype == np.int64 and ag.arange(3).dtype == np.int64
    assert ag.zeros(2).dtype == np.float32 and ag.randn(2).dtype == np.float32
    assert tensor(np.ones(2)).dtype == np.float64  # numpy arrays keep their dtype
    f32 = leaf([1.0, 2.0], dtype=ag.float32)
    assert (f32 * 2.5).dtype == np.float32
    assert (f32 * np.float64(2.0)).dtype == np.float32
    assert isinstance(np.float64(2.0) * f32, Tensor) and (np.float64(2.0) * f32).dtype == np.float32
    assert (f32 + tensor([1.0], dtype=ag.float64)).dtype == np.float64
    (f32 * tensor([1.0, 1.0], dtype=ag.float64)).sum().backward()
    assert f32.grad.dtype == np.float32  # x.grad has the leaf's dtype


# Integers and booleans meeting floats: PyTorch's types, where numpy's would widen to float64
INTEGER_FLOAT_CASES = {
    "int + float32": (lambda i, b, f, h, d: i + f, np.float32),
    "float32 * int": (lambda i, b, f, h, d: f * i, np.float32),
    "int * 0.5": (lambda i, b, f, h, d: i * 0.5, np.float32),
    "int / int": (lambda i, b, f, h, d: i / i, np.float32),
    "int / 2": (lambda i, b, f, h, d: i / 2, np.float32),
    "int ** 0.5": (lambda i, b, f, h, d: i ** 0.5, np.float32),
    "exp(int)": (lambda i, b, f, h, d: i.exp(), np.float32),
    "sqrt(int)": (lambda i, b, f, h, d: i.sqrt(), np.float32),
    "sigmoid(int)": (lambda i, b, f, h, d: i.sigmoid(), np.float32),
    "erf(int)": (lambda i, b, f, h, d: i.erf(), np.float32),
    "bool * 0.5": (lambda i, b, f, h, d: b * 0.5, np.float32),
    "where(bool, int, float32)": (lambda i, b, f, h, d: ag.where(b, i, f), np.float32),
    "int + float16": (lambda i, b, f, h, d: i + h, np.float16),
    "int + float64": (lambda i, b, f, h, d: i + d, np.float64),
    "int + int": (lambda i, b, f, h, d: i + i, np.int64),
    "int.double()": (lambda i, b, f, h, d: i.double(), np.float64),
    "float32 * bool": (lambda i, b, f, h, d: f * b, np.float32),
}


@pytest.mark.parametrize("name", INTEGER_FLOAT_CASES)
def test_integers_meeting_floats_take_pytorchs_type(name):
    expression, expected = INTEGER_FLOAT_CASES[name]
    i, b = tensor([1, 4, 9]), tensor([True, False, True])
    values = np.array([0.5, 2.0, -1.0])
    f, h, d = tensor(values.astype(np.float32)), tensor(values.astype(np.float16)), tensor(values)
    out = expression(i, b, f, h, d)
    assert out.dtype == expected
    # the values are numpy's, rounded to that type
    wide = expression(*(tensor(v.numpy().astype(np.float64 if v.dtype.kind == "f" else v.dtype))
                        for v in (i, b, f, h, d)))
    np.testing.assert_allclose(out.numpy(), wide.numpy().astype(expected),
                               rtol=1e-3 if expected == np.float16 else 1e-6)
    torch = pytest.importorskip("torch")
    if name != "int.double()":
        as_torch = [torch.from_numpy(v.numpy().copy()) for v in (i, b, f, h, d)]
        reference = {"where(bool, int, float32)": lambda: torch.where(as_torch[1], as_torch[0], as_torch[2]),
                     "erf(int)": lambda: torch.erf(as_torch[0])}.get(name, lambda: expression(*as_torch))()
        assert str(reference.dtype) == f"torch.{np.dtype(expected).name}"


def test_gradients_through_integer_operands_keep_the_float_type():
    x = leaf([1.0, 2.0, 3.0], dtype=ag.float32)
    hidden = x * 2
    hidden.retain_grad()
    scaled = hidden * tensor([1, 0, 2])
    scaled.sum().backward()
    assert scaled.dtype == hidden.grad.dtype == x.grad.dtype == np.float32
    assert x.grad.tolist() == [2.0, 0.0, 4.0]


def test_casts_are_differentiable_and_keep_the_grad_dtype():
    x = leaf([1.0, 2.0], dtype=ag.float32)
    y = x.double() * 3
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [3.0, 3.0]
    assert not x.long().requires_grad and x.long().dtype == np.int64


# --- scalars, numpy interoperability, misc -------------------------------------------------------------------
def test_scalars_are_zero_dim_tensors():
    x = leaf(2.0)
    y = x * x + 1
    assert y.shape == () and y.ndim == 0 and y.item() == 5.0
    y.backward()
    assert x.grad.shape == () and x.grad.item() == 4.0


def test_python_scalars_mix_on_either_side():
    x = leaf(2.0)
    for fn, expected in [(lambda t: 1 - t, -1), (lambda t: 8 / t, -2), (lambda t: 2 ** t, 4 * np.log(2)),
                         (lambda t: t ** 2, 4), (lambda t: 3 * t, 3), (lambda t: 1 + t, 1)]:
        x.grad = None
        fn(x).backward()
        assert x.grad.item() == pytest.approx(expected)


def test_numpy_interoperability():
    x = leaf([1.0, 2.0])
    assert np.asarray(x).tolist() == [1.0, 2.0]
    y = np.exp(x)
    assert isinstance(y, Tensor) and y.requires_grad
    z = np.ones(2) + x
    assert isinstance(z, Tensor) and z.requires_grad
    assert isinstance(np.sum(x * 2, axis=0), Tensor)
    with pytest.raises(TypeError, match="numpy.convolve has no gradient.*detach"):
        np.convolve(x, [1.0, 1.0])
    assert np.convolve(x.detach(), [1.0, 1.0]).tolist() == [1.0, 3.0, 2.0]
    assert np.cumsum(x).requires_grad  # (numpy functions with an autograd counterpart are differentiable)


def test_comparisons_are_not_differentiable():
    x = leaf([1.0, 2.0])
    mask = x > 1.5
    assert mask.dtype == np.bool_ and not mask.requires_grad
    assert (x == tensor([1.0, 3.0], dtype=ag.float64)).tolist() == [True, False]


def test_repr():
    assert repr(tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert "requires_grad=True" in repr(leaf([1.0]))
    assert "grad_fn=<MulBackward>" in repr(leaf([1.0]) * 2)
    assert "dtype=float64" in repr(tensor(np.ones(1)))


def test_max_with_dim_returns_values_and_indices():
    x = tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    values, indices = x.max(dim=1)
    assert values.tolist() == [5.0, 7.0] and indices.tolist() == [1, 0] and indices.dtype == np.int64
    assert x.argmax().item() == 3 and x.argmin(1).tolist() == [0, 1]


def test_malloc_tuning_is_on_by_default_and_can_be_turned_off():
    import os
    import platform
    import subprocess

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("the tuning applies to glibc only")
    code = "import autograd.memory as m, autograd; print(m.configured)"
    on = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "GLASSGRAD_MALLOC": "system"}).stdout
    assert on.strip() == "True" and off.strip() == "False"


def test_max_pool_sends_a_tie_to_the_first_maximum_as_pytorch_does():
    from autograd import ops
    x = leaf([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0]])
    ops.max_pool(x, kernel_size=(2,), stride=(2,), dilation=(1,)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, 1.0, 1.0, 0.0], [1.0, 0.0, 1.0, 0.0]])
    x.grad = None  # overlapping windows: an element that is the first maximum of two windows gets both
    ops.max_pool(x, kernel_size=(3,), stride=(1,), dilation=(1,)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, 2.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]])  # as torch


def test_max_pool_sends_nan_and_minus_inf_windows_where_pytorch_does_to_every_order():
    """A NaN window's gradient goes to its last NaN; a window of -inf only sends it to its first element inside
    the input, not to the padding before it (PyTorch's loop starts there with maxval = -inf and takes
    `val > maxval || isnan(val)`). The pair to_maxima/from_maxima stays adjoint, so second order agrees."""
    from autograd import kernels, ops
    inf, nan = np.inf, np.nan
    # padded by the caller: one -inf before, one after; windows of 2, stride 2
    x = leaf([[-inf, 1.0, nan, 2.0, nan, -inf], [-inf, -inf, -inf, -inf, 5.0, -inf]])
    p = dict(kernel_size=(2,), stride=(2,), dilation=(1,), padding=((1, 1),))
    g = leaf([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    y = ops.max_pool(x, **p)
    np.testing.assert_array_equal(y.numpy(), [[1.0, nan, nan], [-inf, -inf, 5.0]])
    np.testing.assert_array_equal(kernels.max_pool_choice(x.numpy(), y.numpy(), **p), [[1, 0, 0], [1, 0, 0]])
    (gx,) = ag.grad(y, x, grad_outputs=g, create_graph=True)
    np.testing.assert_array_equal(gx.numpy(), [[0, 1, 2, 0, 3, 0], [0, 4, 5, 0, 6, 0]])
    h = np.arange(12.0).reshape(2, 6)
    (gg,) = ag.grad((gx * tensor(h)).sum(), g)  # d/dg <to_maxima(g), h> = from_maxima(h): h where chosen
    np.testing.assert_array_equal(gg.numpy(), [[1, 2, 4], [7, 8, 10]])


def test_overwriting_a_graph_tensor_with_a_constant_takes_it_out_of_the_graph():
    x = leaf([1.0, 2.0])
    y = x * 2
    z = y * 3
    y.copy_([5.0, 6.0])
    assert not y.requires_grad and y.tolist() == [5.0, 6.0]
    z.sum().backward()  # z was computed from the old y: its gradient is unaffected
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0])


@pytest.mark.parametrize("x_shape", [(3,), (0,), (2, 3)])
def test_a_primitive_that_broadcasts_then_reduces_to_0d_sums_gradients_back_to_input_shapes(x_shape: tuple) -> None:
    # A 0-d output (a numpy scalar gradient) lets the engine skip undoing broadcasting only for primitives
    # without parameters; a loss with reduction="sum" broadcasts a 0-d target against x and reduces to 0-d,
    # and the target's gradient must come back 0-d: -sum(x), not -x of x's shape.
    x_data = np.arange(np.prod(x_shape), dtype=np.float64).reshape(x_shape) - 1.5
    x, y = ag.tensor(x_data, requires_grad=True), ag.tensor(0.25, dtype=ag.float64, requires_grad=True)
    ag.binary_cross_entropy_with_logits(x, y, reduction="sum").backward()
    assert y.grad.shape == () and np.isclose(float(y.grad), -x_data.sum())
    assert x.grad.shape == x_shape


# --- the walk's order -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(12))
def test_the_walk_visits_nodes_newest_first_on_random_graphs_with_the_reference_walks_gradients(seed):
    # The walk keeps waiting nodes in a heap and, before it, in `later` and `following` (cheaper when nodes
    # arrive in creation order): whatever the shape of the graph, it must visit the newest waiting node next,
    # so that every node's gradient is complete when it runs and sums are added in one fixed order. Hooks on
    # every intermediate tensor record the order; engine.trace (a plain heap) gives the reference gradients.
    from autograd import engine

    rng = np.random.default_rng(seed)
    leaves = [tensor(float(v), dtype=ag.float32, requires_grad=True) for v in rng.normal(size=4)]
    values = list(leaves)
    for _ in range(40):  # sums of products, fan-out, chains and operands in either creation order
        kind = rng.integers(5)
        a, b = (values[i] for i in rng.integers(len(values), size=2))
        if kind == 0:
            values.append(a + b * values[rng.integers(len(values))])
        elif kind == 1:
            values.append(b * a - a)
        elif kind == 2:
            values.append((a * 0.5).tanh())
        elif kind == 3:
            values.append(sum((v * w for v, w in zip(values[-3:], leaves)), a))
        else:
            values.append(a.relu() + 0.1)
    out = sum(values[-6:], values[len(values) // 2])
    visited = []
    for v in values[4:]:
        v.register_hook(lambda g, node=v.grad_fn: visited.append(node.seq))
    steps, reference = engine.trace(out)
    out.backward()
    hooked = {v.grad_fn for v in values[4:]}
    assert visited == [node.seq for node, _, _ in steps if node in hooked]  # the reference's order
    assert visited == sorted(visited, reverse=True) and len(set(visited)) == len(visited) > 10
    for x in leaves:
        if x in reference:
            assert x.grad.numpy().tobytes() == np.asarray(reference[x]).tobytes()
