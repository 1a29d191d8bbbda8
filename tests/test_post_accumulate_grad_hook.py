"""Tensor.register_post_accumulate_grad_hook: hook(leaf) after backward() has accumulated into leaf.grad, as in
PyTorch (what DistributedDataParallel starts its gradient reduction from)."""

from __future__ import annotations

import numpy as np
import pytest

import autograd


def test_hook_sees_the_accumulated_grad_after_each_backward():
    x = autograd.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    handle = x.register_post_accumulate_grad_hook(lambda t: seen.append((t is x, t.grad.tolist())))
    (x * x).sum().backward()
    (3 * x).sum().backward()  # accumulates: 2x + 3
    assert seen == [(True, [2.0, 4.0]), (True, [5.0, 7.0])]
    handle.remove()
    x.sum().backward()
    assert len(seen) == 2
    assert x.grad.tolist() == [6.0, 8.0]


def test_hooks_run_in_registration_order_once_per_backward_and_return_nothing_useful():
    x = autograd.tensor(2.0, requires_grad=True)
    order = []
    x.register_post_accumulate_grad_hook(lambda t: order.append("first") or autograd.tensor(100.0))
    x.register_post_accumulate_grad_hook(lambda t: order.append("second"))
    y = x * x + x  # x reaches the leaf through two paths: still one accumulation, one call each
    y.backward()
    assert order == ["first", "second"]
    assert x.grad.item() == 5.0  # a returned value does not replace the gradient


def test_every_leaf_fires_after_its_own_accumulation():
    a = autograd.tensor([1.0], requires_grad=True)
    b = autograd.tensor([2.0], requires_grad=True)
    grads_seen = {}
    for name, t in (("a", a), ("b", b)):
        t.register_post_accumulate_grad_hook(lambda t, name=name: grads_seen.update({name: t.grad.tolist()}))
    (a * b).sum().backward()
    assert grads_seen == {"a": [2.0], "b": [1.0]}


def test_not_called_by_autograd_grad_nor_for_leaves_outside_backward_inputs():
    x = autograd.tensor([1.0, 2.0], requires_grad=True)
    w = autograd.tensor([3.0, 4.0], requires_grad=True)
    calls = []
    x.register_post_accumulate_grad_hook(lambda t: calls.append("x"))
    w.register_post_accumulate_grad_hook(lambda t: calls.append("w"))
    loss = (x * w).sum()
    autograd.grad(loss, [x, w], retain_graph=True)
    assert calls == [] and x.grad is None
    loss.backward(inputs=[w])
    assert calls == ["w"] and x.grad is None


def test_works_with_create_graph():
    x = autograd.tensor(3.0, requires_grad=True)
    seen = []
    x.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.requires_grad))
    (x ** 3).backward(create_graph=True)
    assert seen == [True]


def test_registration_errors():
    with pytest.raises(RuntimeError, match="does not require grad"):
        autograd.tensor([1.0]).register_post_accumulate_grad_hook(lambda t: None)
    x = autograd.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="only leaf tensors"):
        (x * 2).register_post_accumulate_grad_hook(lambda t: None)


def test_parameters_and_float32_keep_their_dtype():
    import nn
    layer = nn.Linear(3, 2)
    dtypes = []
    for p in layer.parameters():
        p.register_post_accumulate_grad_hook(lambda t: dtypes.append(t.grad.dtype))
    layer(autograd.ones(4, 3)).sum().backward()
    assert dtypes == [np.float32, np.float32]


def test_matches_pytorch():
    torch = pytest.importorskip("torch")
    ours, theirs = [], []
    x = autograd.tensor([1.0, -2.0], requires_grad=True)
    tx = torch.tensor([1.0, -2.0], requires_grad=True)
    x.register_post_accumulate_grad_hook(lambda t: ours.append(t.grad.tolist()))
    tx.register_post_accumulate_grad_hook(lambda t: theirs.append(t.grad.tolist()))
    for _ in range(2):
        (x.tanh() * x).sum().backward()
        (tx.tanh() * tx).sum().backward()
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)



def test_a_leaf_is_accumulated_as_soon_as_its_last_gradient_arrives_during_backward():
    """As PyTorch's AccumulateGrad node: the last layer's weight gets its .grad and its hook while backward still
    has the first layer to do (DistributedDataParallel sends that bucket meanwhile); gradients are the same."""
    import nn
    autograd.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    reference = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    reference.load_state_dict(model.state_dict())
    events = []
    for name, p in model.named_parameters():
        p.register_post_accumulate_grad_hook(lambda t, name=name: events.append((name, t.grad.tolist())))
    x = autograd.randn(6, 4, dtype=autograd.float64)
    shared = autograd.tensor(2.0, dtype=autograd.float64, requires_grad=True)  # used twice: fires once, summed
    shared.register_post_accumulate_grad_hook(lambda t: events.append(("shared", t.grad.item())))
    for m, s in ((model, shared), (reference, autograd.tensor(2.0, dtype=autograd.float64, requires_grad=True))):
        hidden = m[0](x * s)
        if m is model:  # runs when backward reaches the first layer's output, before that layer's gradients
            hidden.register_hook(lambda g: events.append(("first layer reached", None)))
        y = m[2](m[1](hidden))
        ((y * s).sum() + y.square().mean()).backward()
    names = [e[0] for e in events]
    assert sorted(names[:2]) == ["2.bias", "2.weight"] and names[2] == "first layer reached"
    assert sorted(names[3:]) == ["0.bias", "0.weight", "shared"]
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        np.testing.assert_array_equal(p.grad.data, q.grad.data)  # bit for bit
        assert [e[1] for e in events if e[0] == name] == [p.grad.tolist()]
    assert [e[1] for e in events if e[0] == "shared"] == [shared.grad.item()]
