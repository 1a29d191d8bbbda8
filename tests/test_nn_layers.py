"""Layers: gradients checked against finite differences (inputs and parameters, float64), closed-form
expectations (output sizes, BatchNorm statistics, Dropout's expectation, pooling values), and the errors a
layer gives for a wrong input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from nn_helpers import check_module, randn

import autograd
import nn
import nn.functional as F

# One line per layer: (constructor, input shapes, second order too?)
GRADCHECK = {
    "Linear": (lambda: nn.Linear(3, 2), [(2, 3)], True),
    "Linear-batched": (lambda: nn.Linear(3, 2), [(2, 2, 3)], False),
    "Bilinear": (lambda: nn.Bilinear(2, 3, 2), [(2, 2), (2, 3)], False),
    "Maxout": (lambda: nn.Maxout(3, 2, pool_size=3), [(2, 3)], True),
    "Conv1d": (lambda: nn.Conv1d(2, 2, 3, stride=2, padding=1), [(1, 2, 6)], True),
    "Conv2d": (lambda: nn.Conv2d(2, 2, 2, padding=1), [(1, 2, 3, 3)], True),
    "Conv2d-dilated-strided-groups": (lambda: nn.Conv2d(2, 2, (2, 3), stride=(2, 1), dilation=(2, 1), groups=2),
                                      [(1, 2, 5, 4)], False),
    "Conv2d-same": (lambda: nn.Conv2d(1, 2, 2, padding="same"), [(1, 1, 3, 3)], False),
    "Conv2d-full": (lambda: nn.Conv2d(1, 1, 2, padding="full"), [(1, 1, 2, 3)], False),
    "Conv2d-reflect": (lambda: nn.Conv2d(1, 1, 2, padding=1, padding_mode="reflect"), [(1, 1, 3, 3)], False),
    "MaxPool2d": (lambda: nn.MaxPool2d(2), [(1, 2, 4, 4)], True),
    "MaxPool2d-overlap-pad-ceil": (lambda: nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), [(1, 1, 4, 5)],
                                   False),
    "MaxPool1d": (lambda: nn.MaxPool1d(2, stride=1), [(1, 2, 5)], False),
    "AvgPool2d": (lambda: nn.AvgPool2d(2, stride=1, padding=1), [(1, 1, 3, 3)], True),
    "AvgPool2d-exclude-pad": (lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
                              [(1, 1, 4, 5)], False),
    "AvgPool1d": (lambda: nn.AvgPool1d(2), [(1, 2, 6)], False),
    "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d((2, 3)), [(1, 2, 3, 4)], True),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(3), [(4, 3)], True),
    "BatchNorm1d-3d": (lambda: nn.BatchNorm1d(2), [(3, 2, 2)], False),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(2), [(2, 2, 2, 2)], False),
    "LayerNorm": (lambda: nn.LayerNorm(4), [(2, 4)], True),
    "LayerNorm-2d": (lambda: nn.LayerNorm((2, 3)), [(2, 2, 3)], False),
    "Flatten": (lambda: nn.Flatten(), [(2, 2, 2)], False),
    "Unflatten": (lambda: nn.Unflatten(1, (2, 2)), [(2, 4)], False),
    "Identity": (lambda: nn.Identity(), [(2, 2)], False),
    "ReLU": (lambda: nn.ReLU(), [(3, 4)], True),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.1), [(3, 4)], True),
    "ELU": (lambda: nn.ELU(), [(3, 4)], True),
    "SiLU": (lambda: nn.SiLU(), [(3, 4)], True),
    "GELU": (lambda: nn.GELU(), [(3, 4)], True),
    "GELU-tanh": (lambda: nn.GELU("tanh"), [(3, 4)], True),
    "Sigmoid": (lambda: nn.Sigmoid(), [(3, 4)], True),
    "Tanh": (lambda: nn.Tanh(), [(3, 4)], True),
    "Softplus": (lambda: nn.Softplus(beta=2.0), [(3, 4)], True),
    "Softmax": (lambda: nn.Softmax(dim=1), [(2, 3)], True),
    "LogSoftmax": (lambda: nn.LogSoftmax(dim=0), [(2, 3)], True),
    "RNNCell": (lambda: nn.RNNCell(2, 3), [(2, 2), (2, 3)], True),
    "LSTMCell": (lambda: nn.LSTMCell(2, 2), [(2, 2)], False),
    "GRUCell": (lambda: nn.GRUCell(2, 2), [(2, 2), (2, 2)], True),
    "RNN-2layers": (lambda: nn.RNN(2, 2, num_layers=2), [(3, 1, 2)], False),
    "LSTM-bidirectional": (lambda: nn.LSTM(2, 2, bidirectional=True, batch_first=True), [(1, 3, 2)], False),
    "GRU": (lambda: nn.GRU(2, 2), [(3, 2, 2)], False),
}


@pytest.mark.parametrize("name", sorted(GRADCHECK))
def test_layer_gradients(name):
    make, shapes, second_order = GRADCHECK[name]
    autograd.manual_seed(0)
    layer = make()
    inputs = [randn(*s, seed=i + 1) for i, s in enumerate(shapes)]
    # the sequence layers return (output, state): check every part
    output = (lambda out: tuple(_flatten(out))) if name.startswith(("RNN-", "LSTM", "GRU")) else None
    check_module(layer, *inputs, second_order=second_order, output=output)


def _flatten(out):
    if isinstance(out, (tuple, list)):
        return [t for item in out for t in _flatten(item)]
    return [out]


def test_embedding_gradients_add_up_for_repeated_indices():
    idx = autograd.tensor([[0, 2, 0], [4, 2, 0]])
    check_module(nn.Embedding(5, 2), idx)
    emb = nn.Embedding(5, 2, padding_idx=4).double()  # by design the padding row gets no gradient
    emb(idx).sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.data[:, 0], [3, 0, 2, 0, 0])  # padding row 4: no gradient
    np.testing.assert_array_equal(emb.weight.data[4], [0, 0])


def test_dropout_gradients_with_a_fixed_mask():
    def fn(x):
        autograd.manual_seed(3)  # the same mask on every call, so finite differences see one function
        return nn.Dropout(0.4)(x)
    x = randn(4, 5)
    assert autograd.gradcheck(fn, x)
    assert autograd.gradgradcheck(fn, x)


def test_dropout_gradient_is_the_mask():
    autograd.manual_seed(0)
    x = randn(50, 40)
    y = F.dropout(x, p=0.3)
    y.backward(autograd.ones_like(y, dtype=np.float64))
    kept = y.data != 0
    np.testing.assert_allclose(x.grad.data, kept / 0.7)
    np.testing.assert_allclose(y.data[kept], x.data[kept] / 0.7)


# ---------------------------------------------------------------------------------------------------------------
# Closed forms
# ---------------------------------------------------------------------------------------------------------------
@given(size=st.integers(3, 12), kernel=st.integers(1, 3), stride=st.integers(1, 3), padding=st.integers(0, 2),
       dilation=st.integers(1, 2))
def test_conv_output_size_follows_the_formula(size, kernel, stride, padding, dilation):
    if size + 2 * padding < dilation * (kernel - 1) + 1:
        return
    conv = nn.Conv2d(2, 3, kernel, stride=stride, padding=padding, dilation=dilation)
    out = conv(autograd.zeros(2, 2, size, size + 1))
    expected = [(n + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1 for n in (size, size + 1)]
    assert out.shape == (2, 3, *expected)
    conv1 = nn.Conv1d(2, 3, kernel, stride=stride, padding=padding, dilation=dilation)
    assert conv1(autograd.zeros(2, 2, size)).shape == (2, 3, expected[0])


@pytest.mark.parametrize("kernel,dilation", [(3, 1), (4, 1), (2, 3), (5, 2)])
def test_conv_string_paddings(kernel, dilation):
    x = autograd.randn(1, 1, 9, 10)
    same = nn.Conv2d(1, 1, kernel, padding="same", dilation=dilation)
    assert same(x).shape == (1, 1, 9, 10)
    full = nn.Conv2d(1, 1, kernel, padding="full", dilation=dilation)
    span = dilation * (kernel - 1)
    assert full(x).shape == (1, 1, 9 + span, 10 + span)
    valid = nn.Conv2d(1, 1, kernel, padding="valid", dilation=dilation)
    assert valid(x).shape == (1, 1, 9 - span, 10 - span)
    # 'same' with an even total puts the extra zero on the right: compare with explicit padding
    with autograd.no_grad():
        left, right = span // 2, span - span // 2
        padded = F.pad(x, (left, right, left, right))
        expected = F.conv2d(padded, same.weight, same.bias, dilation=dilation)
    np.testing.assert_allclose(same(x).data, expected.data, rtol=1e-5, atol=1e-6)


def test_conv2d_is_a_cross_correlation():
    """One output element written out as the sum it stands for."""
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 6, 7)), rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(4)
    out = F.conv2d(autograd.tensor(x), autograd.tensor(w), autograd.tensor(b), stride=(2, 1), padding=1,
                   dilation=(1, 2)).data
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    for n, o, i, j in [(0, 0, 0, 0), (1, 3, 2, 4), (1, 2, 1, 6)]:
        expected = b[o] + sum(w[o, c, p, q] * xp[n, c, 2 * i + p, j + 2 * q]
                              for c in range(3) for p in range(3) for q in range(2))
        assert out[n, o, i, j] == pytest.approx(expected)


def test_pooling_values():
    x = autograd.tensor(np.arange(16.0).reshape(1, 1, 4, 4))
    np.testing.assert_array_equal(nn.MaxPool2d(2)(x).data, [[[[5, 7], [13, 15]]]])
    np.testing.assert_array_equal(nn.AvgPool2d(2)(x).data, [[[[2.5, 4.5], [10.5, 12.5]]]])
    # padding: -inf for max (never chosen), zeros counted in the average by default
    np.testing.assert_array_equal(nn.MaxPool2d(2, padding=1)(x).data[0, 0, 0], [0, 2, 3])
    assert nn.AvgPool2d(2, padding=1)(x).data[0, 0, 0, 0] == 0 / 4
    assert nn.AvgPool2d(2, padding=1, count_include_pad=False)(x).data[0, 0, 0, 1] == (1 + 2) / 2
    # the gradient goes to each window's maximum
    x.requires_grad_()
    nn.MaxPool2d(2)(x).sum().backward()
    np.testing.assert_array_equal(x.grad.data[0, 0], [[0, 0, 0, 0], [0, 1, 0, 1], [0, 0, 0, 0], [0, 1, 0, 1]])


def test_max_pool_indices_and_unpooling_layers():
    x = autograd.tensor(np.arange(16.0).reshape(1, 1, 4, 4), requires_grad=True)
    pool = nn.MaxPool2d(2, 2, 0, 1, True)  # PyTorch's positional order: (..., dilation, return_indices, ceil_mode)
    assert pool.return_indices and not pool.ceil_mode
    out, indices = pool(x)
    np.testing.assert_array_equal(out.data, [[[[5, 7], [13, 15]]]])
    np.testing.assert_array_equal(indices.data, [[[[5, 7], [13, 15]]]])
    restored = nn.MaxUnpool2d(2)(out, indices)
    np.testing.assert_array_equal(restored.data, np.where(np.isin(np.arange(16), [5, 7, 13, 15]), np.arange(16),
                                                          0).reshape(1, 1, 4, 4))
    restored.sum().backward()  # pool -> unpool passes the gradient to the maxima only
    np.testing.assert_array_equal(x.grad.data[0, 0], [[0, 0, 0, 0], [0, 1, 0, 1], [0, 0, 0, 0], [0, 1, 0, 1]])
    # an odd size pools to the same shape as the even one below it: output_size says which
    odd = autograd.tensor(np.arange(10.0).reshape(2, 5))
    out, indices = nn.MaxPool1d(2, return_indices=True)(odd)
    np.testing.assert_array_equal(indices.data, [[1, 3], [1, 3]])
    assert nn.MaxUnpool1d(2)(out, indices).shape == (2, 4)
    np.testing.assert_array_equal(nn.MaxUnpool1d(2)(out, indices, output_size=[5]).data,
                                  [[0, 1, 0, 3, 0], [0, 6, 0, 8, 0]])
    assert repr(nn.MaxUnpool1d(2)) == "MaxUnpool1d(kernel_size=(2,), stride=(2,), padding=(0,))"


def test_embedding_max_norm_layer():
    emb = nn.Embedding(4, 2, max_norm=1.0, _weight=nn.Parameter(autograd.tensor([[3.0, 4.0], [0.3, 0.4],
                                                                                  [0.0, 2.0], [6.0, 8.0]])))
    out = emb(autograd.tensor([[0, 1], [2, 1]]))
    np.testing.assert_allclose(np.linalg.norm(out.data, axis=-1), [[1, 0.5], [1, 0.5]], rtol=1e-6)
    np.testing.assert_allclose(emb.weight.data, [[0.6, 0.8], [0.3, 0.4], [0, 1], [6, 8]], rtol=1e-6)
    assert repr(emb) == "Embedding(4, 2, max_norm=1.0)"
    frozen = nn.Embedding.from_pretrained(autograd.tensor([[3.0, 4.0]]), max_norm=2.5, norm_type=1.0)
    np.testing.assert_allclose(np.abs(frozen(autograd.tensor([0])).data).sum(), 2.5, rtol=1e-6)
    assert not frozen.weight.requires_grad


def test_batchnorm_statistics_and_running_estimates():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 3, 4, 5)) * np.array([1.0, 2.0, 3.0])[:, None, None] + 5
    bn = nn.BatchNorm2d(3, momentum=0.25).double()
    y = bn(autograd.tensor(x)).data
    # training: each channel normalised with the batch statistics (biased variance)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), x.var(axis=(0, 2, 3)) / (x.var(axis=(0, 2, 3)) + 1e-5))
    # running estimates: momentum-weighted, with the unbiased variance
    np.testing.assert_allclose(bn.running_mean.data, 0.75 * 0 + 0.25 * x.mean(axis=(0, 2, 3)))
    np.testing.assert_allclose(bn.running_var.data, 0.75 * 1 + 0.25 * x.var(axis=(0, 2, 3), ddof=1))
    assert bn.num_batches_tracked.item() == 1
    # eval: the running estimates are used, and not updated
    bn.eval()
    y_eval = bn(autograd.tensor(x)).data
    expected = (x - bn.running_mean.data[:, None, None]) / np.sqrt(bn.running_var.data[:, None, None] + 1e-5)
    np.testing.assert_allclose(y_eval, expected)
    assert bn.num_batches_tracked.item() == 1


def test_batchnorm_cumulative_average_with_momentum_none():
    bn = nn.BatchNorm1d(2, momentum=None).double()
    batches = [np.random.default_rng(i).standard_normal((6, 2)) + i for i in range(3)]
    for b in batches:
        bn(autograd.tensor(b))
    np.testing.assert_allclose(bn.running_mean.data, np.mean([b.mean(0) for b in batches], axis=0))


def test_batchnorm_needs_more_than_one_value_per_channel():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(autograd.randn(1, 3))


def test_layernorm_normalises_each_sample():
    x = np.random.default_rng(0).standard_normal((3, 4, 5)) * 3 + 1
    y = nn.LayerNorm((4, 5)).double()(autograd.tensor(x)).data
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(1, 2)), 1, atol=1e-4)


def test_dropout_keeps_the_expectation_and_is_identity_in_eval():
    autograd.manual_seed(0)
    drop = nn.Dropout(0.4)
    x = autograd.ones(200, 500)
    y = drop(x).data
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.6)}
    assert abs((y == 0).mean() - 0.4) < 0.01
    assert abs(y.mean() - 1) < 0.01
    assert not np.array_equal(drop(x).data, y)  # a fresh mask every call
    drop.eval()
    assert drop(x) is x
    assert np.all(nn.Dropout(1.0)(x).data == 0)
    assert nn.Dropout(0.0)(x) is x
    with pytest.raises(ValueError, match="probability"):
        nn.Dropout(1.5)


def test_maxout_is_the_max_over_groups_of_units():
    layer = nn.Maxout(3, 2, pool_size=4).double()
    x = np.random.default_rng(0).standard_normal((5, 3))
    units = x @ layer.weight.data.T + layer.bias.data
    np.testing.assert_allclose(layer(autograd.tensor(x)).data, units.reshape(5, 2, 4).max(-1))
    assert layer.weight.shape == (8, 3) and layer.bias.shape == (8,)


def test_rnn_matches_its_cell_run_by_hand():
    """The sequence layer is the cell applied step by step (here the LSTM with PyTorch's gate order)."""
    lstm = nn.LSTM(3, 4).double()
    cell = nn.LSTMCell(3, 4).double()
    cell.load_state_dict({k[:-3]: v for k, v in lstm.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((6, 2, 3))
    out, (h_n, c_n) = lstm(autograd.tensor(x))
    h = c = autograd.zeros(2, 4, dtype=np.float64)
    for t in range(6):
        h, c = cell(autograd.tensor(x[t]), (h, c))
        np.testing.assert_allclose(out.data[t], h.data)
    np.testing.assert_allclose(h_n.data[0], h.data)
    np.testing.assert_allclose(c_n.data[0], c.data)


def test_gru_cell_formula():
    cell = nn.GRUCell(2, 3).double()
    x, h = np.random.default_rng(0).standard_normal((4, 2)), np.random.default_rng(1).standard_normal((4, 3))
    gi = x @ cell.weight_ih.data.T + cell.bias_ih.data
    gh = h @ cell.weight_hh.data.T + cell.bias_hh.data
    sig = lambda v: 1 / (1 + np.exp(-v))
    r, z = sig(gi[:, :3] + gh[:, :3]), sig(gi[:, 3:6] + gh[:, 3:6])
    n = np.tanh(gi[:, 6:] + r * gh[:, 6:])
    np.testing.assert_allclose(cell(autograd.tensor(x), autograd.tensor(h)).data, (1 - z) * n + z * h)


def test_variable_length_sequences_stop_at_their_end():
    """With lengths, a short sequence's final state is the state at its last step, as if run alone."""
    gru = nn.GRU(2, 3, batch_first=True).double()
    x = np.random.default_rng(0).standard_normal((2, 5, 2))
    out, h_n = gru(autograd.tensor(x), lengths=[5, 3])
    alone_out, alone_h = gru(autograd.tensor(x[1:, :3]))
    np.testing.assert_allclose(h_n.data[0, 1], alone_h.data[0, 0])
    np.testing.assert_allclose(out.data[1, :3], alone_out.data[0])
    assert np.all(out.data[1, 3:] == 0)
    with pytest.raises(ValueError, match="lengths"):
        gru(autograd.tensor(x), lengths=[6, 3])


def test_rnn_layers_accept_one_sequence_at_a_time():
    """Define-by-run: each call can have its own length, no padding needed."""
    rnn = nn.LSTM(2, 3)
    for steps in (1, 4, 7):
        out, (h, c) = rnn(autograd.randn(steps, 2))
        assert out.shape == (steps, 3) and h.shape == (1, 3) and c.shape == (1, 3)


def test_embedding_from_pretrained_is_frozen():
    emb = nn.Embedding.from_pretrained(autograd.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert not emb.weight.requires_grad
    np.testing.assert_array_equal(emb(autograd.tensor([1, 0])).data, [[3, 4], [1, 2]])


# ---------------------------------------------------------------------------------------------------------------
# Wrong inputs: errors that name the layer (by its path inside the model), the expected and the received shape
# ---------------------------------------------------------------------------------------------------------------
class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(36, 10))

    def forward(self, x):
        return self.head(self.features(x))


def test_shape_error_names_the_layer_path_and_both_shapes():
    net = Net()
    assert net(autograd.zeros(2, 1, 8, 8)).shape == (2, 10)
    with pytest.raises(ValueError) as info:
        net(autograd.zeros(2, 3, 8, 8))
    message = str(info.value)
    assert message.startswith("features.0 (Conv2d): ")
    assert "(N, 1, H, W)" in message and "(2, 3, 8, 8)" in message
    with pytest.raises(ValueError) as info:
        net(autograd.zeros(2, 1, 10, 10))
    message = str(info.value)
    assert message.startswith("head.1 (Linear): ") and "(*, 36)" in message and "(2, 64)" in message
    assert isinstance(info.value, nn.ShapeError)
    # a layer called on its own is named by its type
    with pytest.raises(ValueError, match=r"^Linear: expected input of shape \(\*, 36\), got \(5,\)"):
        net.head[1](autograd.zeros(5))


@pytest.mark.parametrize("layer,shape,expected", [
    (nn.Linear(4, 2), (3, 5), "(*, 4)"),
    (nn.Conv1d(2, 3, 3), (4, 3, 10), "(N, 2, L)"),
    (nn.Conv2d(2, 3, 3), (4, 2, 10), "(N, 2, H, W)"),
    (nn.Conv2d(2, 3, 5), (1, 2, 3, 3), "spatial size at least (5, 5)"),
    (nn.MaxPool2d(2), (4, 5), "(N, C, H, W)"),
    (nn.AvgPool1d(2), (4, 5, 6, 7), "(N, C, L)"),
    (nn.BatchNorm1d(3), (4, 5), "(N, 3)"),
    (nn.BatchNorm2d(3), (4, 3, 5), "(N, 3, H, W)"),
    (nn.LayerNorm(4), (2, 5), "(*, 4)"),
    (nn.Maxout(3, 2, 2), (2, 4), "(*, 3)"),
    (nn.RNNCell(3, 2), (2, 4), "(N, 3)"),
    (nn.LSTM(3, 2), (5, 2, 4), "(L, N, 3)"),
    (nn.GRU(3, 2, batch_first=True), (5, 2, 4), "(N, L, 3)"),
    (nn.Flatten(2), (3, 4), "at least 3 dims"),
])
def test_wrong_input_shapes(layer, shape, expected):
    with pytest.raises(nn.ShapeError) as info:
        layer(autograd.zeros(*shape))
    message = str(info.value)
    assert message.startswith(type(layer).__name__ + ": ")
    assert expected in message and str(shape) in message


def test_wrong_hidden_state_shape():
    with pytest.raises(nn.ShapeError, match=r"initial hidden state \(2, 3, 4\).*\(1, 3, 4\)"):
        nn.GRU(2, 4, num_layers=2)(autograd.zeros(5, 3, 2), autograd.zeros(1, 3, 4))


def test_embedding_index_error_names_the_layer_and_index():
    model = nn.Sequential(nn.Embedding(10, 3))
    with pytest.raises(IndexError, match=r"^0 \(Embedding\): index 12 is out of range for num_embeddings=10"):
        model(autograd.tensor([1, 12]))
    with pytest.raises(ValueError, match="dtype float32"):
        model(autograd.tensor([1.0]))


def test_constructor_argument_errors():
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="'valid', 'same' or 'full'"):
        nn.Conv2d(1, 1, 3, padding="sam")
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="at most half the kernel"):
        nn.MaxPool2d(2, padding=2)(autograd.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(2, 2, nonlinearity="sigmoid")


def test_functional_conv_errors():
    with pytest.raises(ValueError, match=r"conv2d: the input of shape \(1, 3, 5, 5\) has 3 channels, but the weight "
                                         r"of shape \(2, 2, 3, 3\)"):
        F.conv2d(autograd.zeros(1, 3, 5, 5), autograd.zeros(2, 2, 3, 3))
    with pytest.raises(ValueError, match="linear: the input of shape"):
        F.linear(autograd.zeros(2, 3), autograd.zeros(4, 5))


def test_float32_stays_float32():
    x = autograd.randn(2, 1, 6, 6)
    for layer in (nn.Conv2d(1, 2, 3), nn.BatchNorm2d(1), nn.MaxPool2d(2), nn.AvgPool2d(2), nn.LayerNorm(6),
                  nn.GELU(), nn.ELU(), nn.Dropout(0.5)):
        assert layer(x).dtype == np.float32, layer
    assert nn.LSTM(6, 3)(autograd.randn(4, 2, 6))[0].dtype == np.float32
    assert F.cross_entropy(autograd.randn(3, 4), autograd.tensor([0, 1, 2])).dtype == np.float32


def test_conv_receptive_field_count():
    """Each input pixel of a 3x3 'same' convolution feeds 9 outputs (fewer at the borders): the gradient of the
    sum with a ones kernel counts them."""
    conv = nn.Conv2d(1, 1, 3, padding=1, bias=False).double()
    with autograd.no_grad():
        conv.weight.fill_(1.0)
    x = autograd.zeros(1, 1, 4, 4, dtype=np.float64, requires_grad=True)
    conv(x).sum().backward()
    counts = np.array([[4, 6, 6, 4], [6, 9, 9, 6], [6, 9, 9, 6], [4, 6, 6, 4]])
    np.testing.assert_array_equal(x.grad.data[0, 0], counts)
    assert math.isclose(conv.weight.grad.data.sum(), 0.0)


def test_rnn_dropout_between_layers_only_in_training():
    autograd.manual_seed(0)
    rnn = nn.GRU(3, 4, num_layers=2, dropout=0.5)
    plain = nn.GRU(3, 4, num_layers=2)
    plain.load_state_dict(rnn.state_dict())
    x = autograd.randn(5, 2, 3)
    assert not np.allclose(rnn(x)[0].data, plain(x)[0].data)
    rnn.eval()
    np.testing.assert_allclose(rnn(x)[0].data, plain(x)[0].data)
    assert repr(rnn) == "GRU(3, 4, num_layers=2, dropout=0.5)"


def test_global_average_pooling():
    x = autograd.randn(2, 3, 5, 7)
    np.testing.assert_allclose(nn.AdaptiveAvgPool2d(1)(x).data, x.data.mean(axis=(2, 3), keepdims=True), rtol=1e-6)
