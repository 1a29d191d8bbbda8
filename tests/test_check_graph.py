"""check_graph: re-check every node of an existing graph numerically and pin a wrong VJP to its operation."""

import warnings

import numpy as np
import pytest
from custom_functions import MulAdd

import autograd
from autograd import Function, GradcheckError, GradcheckWarning, check_graph, ops, record_locations

RNG = np.random.default_rng(0)
W1 = autograd.tensor(RNG.standard_normal((20, 32)) * 0.3, requires_grad=True)
B1 = autograd.tensor(np.zeros(32), requires_grad=True)
W2 = autograd.tensor(RNG.standard_normal((32, 10)) * 0.3, requires_grad=True)
B2 = autograd.tensor(np.zeros(10), requires_grad=True)
X = autograd.tensor(RNG.standard_normal((16, 20)).astype(np.float32))
Y = RNG.integers(0, 10, 16)


def mlp_loss(activation=autograd.tanh):
    hidden = activation(X @ W1 + B1)  # the hidden layer
    logp = (hidden @ W2 + B2).log_softmax(-1)
    return -logp[np.arange(16), Y].mean()


def test_a_correct_model_graph_passes():
    with record_locations():  # keeps every input, so that every node is re-checked
        loss, loss_sigmoid = mlp_loss(), mlp_loss(autograd.sigmoid)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing left unchecked
        assert check_graph(loss)
        assert check_graph(loss_sigmoid, fast_mode=False)


def test_nodes_that_did_not_keep_their_input_are_named_as_unchecked():
    # tanh and log_softmax read only their output: outside record_locations() large inputs are not kept
    with pytest.warns(GradcheckWarning, match=r"2 of 10 operations were not checked \('tanh', 'log_softmax'\)"
                                              r".*record_locations"):
        assert check_graph(mlp_loss())
    # a None argument (linear without bias) is a constant, not an input that was let go
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_graph(ops.linear(W1.T @ W1, B1.reshape(1, -1) * W1, None).sum())
    # an input that is a leaf, or the saved output of its producer, is still at hand: nothing is skipped
    x = autograd.tensor(RNG.standard_normal((16, 32)), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_graph(x.exp().tanh().sum())


def test_a_wrong_vjp_is_reported_at_its_node_with_its_line(monkeypatch):
    monkeypatch.setattr(ops.tanh, "vjps", (lambda g, out, x: g * (1 - out),))  # forgot the square
    with record_locations():
        loss = mlp_loss()
    with pytest.raises(GradcheckError) as info:
        check_graph(loss)
    failures = info.value.failures
    assert len(failures) == 1 and failures[0].node.op is ops.tanh
    text = str(info.value)
    assert "1 of" in text and "'tanh' (TanhBackward)" in text
    assert "test_check_graph.py" in text and "hidden = activation(X @ W1 + B1)" in text
    entry = failures[0].report.failures[0].entries[0]
    assert entry.element == entry.output_element  # elementwise: the diagonal entry


def test_a_wrong_vjp_of_one_input_names_that_input(monkeypatch):
    forward_vjp, _ = ops.matmul.vjps
    monkeypatch.setattr(ops.matmul, "vjps", (forward_vjp, lambda g, out, x, y: -(x.swapaxes(-1, -2) @ g)))
    loss = mlp_loss()
    with pytest.raises(GradcheckError, match="an unknown line .*record_locations") as info:
        check_graph(loss)
    failures = info.value.failures
    assert {f.node.op for f in failures} == {ops.matmul} and len(failures) == 2  # both layers use matmul
    assert all(f.report.failures[0].input == 1 for f in failures)
    assert "wrong sign" in str(info.value)


class LeakyWrong(Function):
    """leaky relu whose backward forgets the slope on the negative side."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return autograd.tensor(np.where(x.data > 0, x.data, 0.1 * x.data))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (x > 0)


def test_a_wrong_custom_function_inside_a_model_is_pinned():
    with record_locations():
        hidden = LeakyWrong.apply(X @ W1 + B1)
        loss = (hidden @ W2).logsumexp(-1).mean()
    with pytest.raises(GradcheckError, match="'LeakyWrong'") as info:
        check_graph(loss)
    assert [f.node.op.name for f in info.value.failures] == ["LeakyWrong"]
    assert "hidden = LeakyWrong.apply(X @ W1 + B1)" in str(info.value)


def test_multi_output_functions_and_many_ops_pass():
    a = autograd.tensor(RNG.standard_normal((3, 4)), requires_grad=True)
    b = autograd.tensor(RNG.standard_normal(4), requires_grad=True)
    p, s = MulAdd.apply(a, b)
    out = autograd.cat([p, s.exp()], 0).softmax(0)[::2].var(1).sum() + autograd.einsum("ij,j->", a, b) ** 2
    out = out + a.gather(1, autograd.tensor(np.array([[0], [3], [1]]))).prod() + a.flip(1).amax()
    assert check_graph(out)


def test_freed_graph_is_an_error():
    loss = mlp_loss()
    loss.backward()
    with pytest.raises(RuntimeError, match="freed by backward"):
        check_graph(loss)


def test_no_graph_is_an_error():
    with pytest.raises(ValueError, match="no graph"):
        check_graph(autograd.tensor([1.0]))


def test_raise_exception_false(monkeypatch):
    monkeypatch.setattr(ops.exp, "vjps", (lambda g, out, x: g * out * 2,))
    x = autograd.tensor(np.array([0.5, 1.0]), requires_grad=True)
    assert check_graph((x.exp() * x).sum(), raise_exception=False) is False
