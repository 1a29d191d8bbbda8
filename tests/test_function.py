"""Custom autograd.Function: forward/backward, ctx, multiple outputs, errors, second order, graph freeing."""

import numpy as np
import pytest
from custom_functions import MulAdd, Softplus

import autograd
from autograd import Function


def t64(a, requires_grad=True):
    return autograd.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


class SinNumpy(Function):
    """A backward on raw arrays: right at first order, not differentiable again."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return autograd.tensor(np.sin(x.data))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g.data * np.cos(x.data)


class Scale(Function):
    """x * k with a non-tensor argument k."""

    @staticmethod
    def forward(ctx, x, k):
        ctx.k = k
        return x * k

    @staticmethod
    def backward(ctx, g):
        return g * ctx.k, None


def test_forward_backward_and_grad_fn():
    x = autograd.tensor([-1.0, 0.0, 30.0], requires_grad=True)
    y = Softplus.apply(x)
    assert y.grad_fn is not None and y.grad_fn.name() == "SoftplusBackward"
    assert np.allclose(y.data, np.logaddexp(0, x.data))
    y.sum().backward()
    assert np.allclose(x.grad.data, 1 / (1 + np.exp(-x.data)))
    assert x.grad.dtype == np.float32


def test_gradcheck_and_second_order_of_tensor_backward():
    x = t64([-1.5, 0.3, 2.0])
    assert autograd.gradcheck(Softplus.apply, x)
    assert autograd.gradgradcheck(Softplus.apply, x)


def test_numpy_backward_first_order_ok_second_order_raises_clearly():
    x = t64([-1.5, 0.3, 2.0])
    assert autograd.gradcheck(SinNumpy.apply, x)
    (g,) = autograd.grad(SinNumpy.apply(x).sum(), x, create_graph=True)
    assert np.allclose(g.data, np.cos(x.data))  # first-order values are still right
    with pytest.raises(RuntimeError, match=r"SinNumpy\.backward returned a numpy array.*input 0.*Tensor operations"):
        g.sum().backward()
    with pytest.raises(RuntimeError, match="second-order derivative through SinNumpy"):
        autograd.gradgradcheck(SinNumpy.apply, x)


def test_multiple_outputs_and_unused_output_gets_zeros():
    x, y = t64([1.0, 2.0]), t64([3.0, -1.0])
    p, s = MulAdd.apply(x, y)
    assert p.grad_fn is not s.grad_fn
    p.sum().backward()  # s unused: its gradient is materialised as zeros
    assert np.allclose(x.grad.data, y.data) and np.allclose(y.grad.data, x.data)
    assert autograd.gradcheck(MulAdd.apply, (x, y))
    assert autograd.gradgradcheck(MulAdd.apply, (x, y))


def test_both_outputs_accumulate_slotwise():
    x, y = t64([1.0, 2.0]), t64([3.0, -1.0])
    p, s = MulAdd.apply(x, y)
    (p * 2 + s * 3).sum().backward()
    assert np.allclose(x.grad.data, 2 * y.data + 3)
    assert np.allclose(y.grad.data, 2 * x.data + 3)


def test_set_materialize_grads_false_passes_none():
    seen = []

    class Pair(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, ga, gb):
            seen.append((ga is None, gb is None))
            return ga * 2

    x = t64([1.0])
    a, _ = Pair.apply(x)
    a.sum().backward()
    assert seen == [(False, True)]


def test_non_tensor_arguments_pass_through_and_kwargs_bind():
    x = t64([1.0, 2.0])
    Scale.apply(x, 3.0).sum().backward()
    assert np.allclose(x.grad.data, 3.0)
    x.grad = None
    Scale.apply(x, k=5.0).sum().backward()
    assert np.allclose(x.grad.data, 5.0)


def test_needs_input_grad():
    seen = []

    class Probe(Function):
        @staticmethod
        def forward(ctx, x, y, k):
            seen.append(ctx.needs_input_grad)
            return x * y * k

        @staticmethod
        def backward(ctx, g):
            return g, None, None

    Probe.apply(t64([1.0]), t64([2.0], requires_grad=False), 2)
    assert seen[-1] == (True, False, False)
    with autograd.no_grad():
        out = Probe.apply(t64([1.0]), t64([2.0]), 2)
    assert seen[-1] == (False, False, False) and not out.requires_grad


def test_wrong_gradient_count_names_function_and_counts():
    class TooFew(Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(RuntimeError, match=r"TooFew\.backward returned 1 gradient, but TooFew\.forward took 2 inputs"):
        TooFew.apply(t64([1.0]), t64([2.0])).sum().backward()


def test_extra_trailing_none_gradients_are_accepted():
    class Extra(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2, None, None

    x = t64([1.0])
    Extra.apply(x).sum().backward()
    assert np.allclose(x.grad.data, 2)


def test_wrong_gradient_shape_names_function_input_and_both_shapes():
    class BadShape(Function):
        @staticmethod
        def forward(ctx, x, w):
            return x @ w

        @staticmethod
        def backward(ctx, g):
            return None, g  # g has the output's shape (2, 4), not w's (3, 4)

    x, w = t64(np.ones((2, 3)), requires_grad=False), t64(np.ones((3, 4)))
    with pytest.raises(RuntimeError, match=r"BadShape\.backward returned a gradient of shape \(2, 4\) for input 1, "
                                           r"which has shape \(3, 4\)"):
        BadShape.apply(x, w).sum().backward()


def test_broadcast_gradient_is_summed_to_the_input_shape():
    class AddBias(Function):
        @staticmethod
        def forward(ctx, x, b):
            return x + b

        @staticmethod
        def backward(ctx, g):
            return g, g  # g is (4, 3); b is (3,): summed over the batch, as PyTorch does

    x, b = t64(np.ones((4, 3))), t64(np.zeros(3))
    AddBias.apply(x, b).sum().backward()
    assert np.allclose(b.grad.data, 4.0)
    assert autograd.gradcheck(AddBias.apply, (x, b))


def test_gradient_for_non_tensor_argument_is_an_error():
    class Wrong(Function):
        @staticmethod
        def forward(ctx, x, k):
            return x * k

        @staticmethod
        def backward(ctx, g):
            return g * 2, g

    with pytest.raises(RuntimeError, match=r"Wrong\.backward returned a gradient for input 1, which is not a tensor"):
        Wrong.apply(t64([1.0]), 2.0).sum().backward()


def test_saved_tensors_freed_after_backward_unless_retained():
    x = t64([0.5, 1.0])
    y = Softplus.apply(x)
    ctx = y.grad_fn.op.ctx
    y.sum().backward(retain_graph=True)
    assert ctx.saved_tensors[0] is x
    y.sum().backward()
    with pytest.raises(RuntimeError, match="second time"):
        _ = ctx.saved_tensors
    with pytest.raises(RuntimeError, match="second time"):
        y.sum().backward()


def test_in_place_change_of_a_saved_tensor_is_detected():
    x = t64([0.5, 1.0])
    h = x * 1.0
    y = Softplus.apply(h)
    with autograd.no_grad():
        h += 1
    with pytest.raises(RuntimeError, match=r"saved tensor 0 of 'Softplus'.*modified in place"):
        y.sum().backward()


def test_saved_input_rebound_in_graph_keeps_the_forward_value():
    x = t64([0.5, 1.0])
    h = x * 1.0
    y = Softplus.apply(h)
    h += 10  # inside the graph: h is rebound, the saved value stays the one forward saw
    y.sum().backward()
    assert np.allclose(x.grad.data, 1 / (1 + np.exp(-np.array([0.5, 1.0]))))


def test_saved_output_is_differentiable_second_order():
    class Exp(Function):
        @staticmethod
        def forward(ctx, x):
            out = x.exp()
            ctx.save_for_backward(out)
            return out

        @staticmethod
        def backward(ctx, g):
            (out,) = ctx.saved_tensors
            return g * out

    x = t64([0.1, -0.7])
    assert autograd.gradcheck(Exp.apply, x)
    assert autograd.gradgradcheck(Exp.apply, x)


def test_mark_non_differentiable_output():
    class SortWithIndex(Function):
        @staticmethod
        def forward(ctx, x):
            order = np.argsort(x.data)
            values = autograd.tensor(x.data[order])
            indices = autograd.tensor(order.astype(np.float64))
            ctx.mark_non_differentiable(indices)
            ctx.order = order
            return values, indices

        @staticmethod
        def backward(ctx, g, g_indices):
            out = np.zeros(g.shape)
            out[ctx.order] = g.data
            return out

    x = t64([3.0, 1.0, 2.0])
    values, indices = SortWithIndex.apply(x)
    assert values.requires_grad and not indices.requires_grad
    (values * autograd.tensor([1.0, 2.0, 3.0], dtype=np.float64)).sum().backward()
    assert np.allclose(x.grad.data, [3.0, 1.0, 2.0])


def test_setup_context_style():
    class Cube(Function):
        @staticmethod
        def forward(x):
            return x * x * x

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * g * x * x

    x = t64([1.0, -2.0])
    assert autograd.gradcheck(Cube.apply, x) and autograd.gradgradcheck(Cube.apply, x)


def test_forward_returning_an_input_does_not_change_the_input():
    class Identity(Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g

    x = t64([1.0])
    y = Identity.apply(x)
    assert y is not x and x.is_leaf and y.grad_fn is not None
    y.sum().backward()
    assert np.allclose(x.grad.data, 1.0)


def test_hooks_on_outputs_of_multi_output_function():
    x, y = t64([1.0, 2.0]), t64([3.0, 4.0])
    p, s = MulAdd.apply(x, y)
    p.register_hook(lambda g: g * 10)
    (p + s).sum().backward()
    assert np.allclose(x.grad.data, 10 * y.data + 1)


def test_anomaly_mode_records_where_and_flags_nan():
    class NanBackward(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return g * np.nan

    x = t64([1.0])
    with autograd.detect_anomaly():
        y = NanBackward.apply(x)
        assert y.grad_fn.where is not None and "NanBackward.apply" in y.grad_fn.where[2]
        with pytest.raises(autograd.AnomalyError, match="NanBackward"):
            y.sum().backward()


def test_function_inside_a_larger_graph_with_float32():
    x = autograd.randn(4, 3, requires_grad=True)
    w = autograd.randn(3, requires_grad=True)
    loss = (Softplus.apply(x * w) ** 2).mean()
    loss.backward()
    assert x.grad.dtype == np.float32 and w.grad.shape == (3,)
    assert autograd.gradcheck(lambda a, b: (Softplus.apply(a * b) ** 2).mean(), (x, w))


def test_repr_and_next_functions():
    x = t64([1.0])
    y = Softplus.apply(x)
    assert "Softplus" in repr(y.grad_fn)
    assert y.grad_fn.next_functions[0][0] is x


def test_compare_with_torch_custom_function():
    torch = pytest.importorskip("torch")

    class TorchSoftplus(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return torch.nn.functional.softplus(x)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * torch.sigmoid(x)

    data = np.array([-2.0, 0.1, 3.0])
    xt = torch.tensor(data, requires_grad=True)
    (gt,) = torch.autograd.grad(TorchSoftplus.apply(xt).pow(2).sum(), xt, create_graph=True)
    (ggt,) = torch.autograd.grad(gt.sum(), xt)
    x = t64(data)
    (g,) = autograd.grad((Softplus.apply(x) ** 2).sum(), x, create_graph=True)
    (gg,) = autograd.grad(g.sum(), x)
    assert np.allclose(g.data, gt.detach().numpy()) and np.allclose(gg.data, ggt.numpy())
