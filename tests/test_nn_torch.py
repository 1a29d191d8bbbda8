"""nn against PyTorch: the same weights (copied through load_state_dict, which also checks that the parameter
names match) must give the same outputs and the same gradients for inputs and parameters, in float64.

Skipped, not failed, when PyTorch is not installed.
"""

from __future__ import annotations

import numpy as np
import pytest

import autograd
import nn
import nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
TNN = torch.nn


def _flatten(out):
    """Nested tuples of tensors as a flat list."""
    stack, flat = [out], []
    while stack:
        item = stack.pop(0)
        if isinstance(item, (tuple, list)):
            stack[:0] = list(item)
        else:
            flat.append(item)
    return flat


def _inputs(specs, seed):
    rng = np.random.default_rng(seed)
    arrays = []
    for spec in specs:
        if isinstance(spec, tuple) and spec and spec[0] == "int":
            _, high, shape = spec
            arrays.append(rng.integers(0, high, shape))
        elif isinstance(spec, np.ndarray):
            arrays.append(spec)
        else:
            arrays.append(rng.standard_normal(spec))
    return arrays


def compare_module(ours, theirs, specs, *, train=True, seed=0, kwargs_ours=None, kwargs_theirs=None,
                   atol=1e-10, rtol=1e-7):
    """Copy theirs' weights into ours, run both on the same float64 inputs, compare outputs, then
    backpropagate the same random weighting of all outputs and compare every gradient."""
    theirs = theirs.double()
    ours = ours.double()
    their_state = theirs.state_dict()
    assert list(ours.state_dict()) == list(their_state), "parameter/buffer names differ from PyTorch's"
    ours.load_state_dict(their_state)
    ours.train(train)
    theirs.train(train)
    arrays = _inputs(specs, seed)
    our_in = [autograd.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    their_in = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    our_out = _flatten(ours(*our_in, **(kwargs_ours or {})))
    their_out = _flatten(theirs(*their_in, **(kwargs_theirs or {})))
    assert len(our_out) == len(their_out)
    rng = np.random.default_rng(seed + 1)
    our_loss, their_loss = 0, 0
    for o, t in zip(our_out, their_out):
        assert o.shape == tuple(t.shape)
        np.testing.assert_allclose(o.data, t.detach().numpy(), atol=atol, rtol=rtol)
        w = rng.standard_normal(o.shape)
        our_loss = our_loss + (o * autograd.tensor(w)).sum()
        their_loss = their_loss + (t * torch.tensor(w)).sum()
    our_loss.backward()
    their_loss.backward()
    for o, t in zip(our_in, their_in):
        if t.requires_grad:
            np.testing.assert_allclose(o.grad.data, t.grad.numpy(), atol=atol, rtol=rtol)
    their_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        expected = their_params[name].grad
        if expected is None:
            assert p.grad is None or not np.any(p.grad.data), name
        else:
            np.testing.assert_allclose(p.grad.data, expected.numpy(), atol=atol, rtol=rtol, err_msg=name)
    for name, b in theirs.named_buffers():  # running statistics after the forward
        np.testing.assert_allclose(np.asarray(ours.state_dict()[name].data), b.numpy(), atol=atol, rtol=rtol,
                                   err_msg=name)


LAYERS = {
    "linear": (lambda: nn.Linear(4, 3), lambda: TNN.Linear(4, 3), [(2, 5, 4)]),
    "linear-1d-input": (lambda: nn.Linear(4, 3), lambda: TNN.Linear(4, 3), [(4,)]),
    "linear-nobias": (lambda: nn.Linear(4, 3, bias=False), lambda: TNN.Linear(4, 3, bias=False), [(6, 4)]),
    "bilinear": (lambda: nn.Bilinear(3, 4, 2), lambda: TNN.Bilinear(3, 4, 2), [(5, 3), (5, 4)]),
    "conv1d": (lambda: nn.Conv1d(3, 4, 3, stride=2, padding=1), lambda: TNN.Conv1d(3, 4, 3, stride=2, padding=1),
               [(2, 3, 9)]),
    "conv1d-same-even-dilated": (lambda: nn.Conv1d(3, 2, 4, padding="same", dilation=2),
                                 lambda: TNN.Conv1d(3, 2, 4, padding="same", dilation=2), [(2, 3, 10)]),
    "conv1d-valid-unbatched": (lambda: nn.Conv1d(2, 2, 3, padding="valid"),
                               lambda: TNN.Conv1d(2, 2, 3, padding="valid"), [(2, 7)]),
    "conv2d": (lambda: nn.Conv2d(2, 3, 3), lambda: TNN.Conv2d(2, 3, 3), [(2, 2, 7, 6)]),
    "conv2d-stride-pad-dilation": (
        lambda: nn.Conv2d(2, 4, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(1, 2)),
        lambda: TNN.Conv2d(2, 4, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(1, 2)), [(2, 2, 8, 9)]),
    "conv2d-same-even": (lambda: nn.Conv2d(2, 3, (4, 3), padding="same", dilation=(1, 2)),
                         lambda: TNN.Conv2d(2, 3, (4, 3), padding="same", dilation=(1, 2)), [(2, 2, 7, 8)]),
    "conv2d-1x1": (lambda: nn.Conv2d(3, 4, 1), lambda: TNN.Conv2d(3, 4, 1), [(2, 3, 4, 5)]),
    "conv2d-1x1-strided-padded": (lambda: nn.Conv2d(3, 4, 1, stride=2, padding=1),
                                  lambda: TNN.Conv2d(3, 4, 1, stride=2, padding=1), [(2, 3, 4, 5)]),
    # output rows of 48 or more: the NCHW layout (shorter rows take the batch-last one, nn.functional._conv)
    "conv2d-wide-rows": (lambda: nn.Conv2d(2, 3, 3, padding=1), lambda: TNN.Conv2d(2, 3, 3, padding=1),
                         [(2, 2, 3, 50)]),
    "conv1d-long": (lambda: nn.Conv1d(2, 3, 5, stride=2, dilation=2), lambda: TNN.Conv1d(2, 3, 5, stride=2, dilation=2),
                    [(2, 2, 120)]),
    "conv2d-groups": (lambda: nn.Conv2d(4, 6, 3, groups=2, bias=False),
                      lambda: TNN.Conv2d(4, 6, 3, groups=2, bias=False), [(2, 4, 6, 5)]),
    "conv2d-unbatched": (lambda: nn.Conv2d(2, 3, 2, stride=2), lambda: TNN.Conv2d(2, 3, 2, stride=2),
                         [(2, 6, 6)]),
    "conv2d-reflect": (lambda: nn.Conv2d(2, 3, 3, padding=2, padding_mode="reflect"),
                       lambda: TNN.Conv2d(2, 3, 3, padding=2, padding_mode="reflect"), [(2, 2, 5, 6)]),
    "conv2d-replicate": (lambda: nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode="replicate"),
                         lambda: TNN.Conv2d(2, 3, 3, padding=(1, 2), padding_mode="replicate"), [(2, 2, 5, 6)]),
    "conv2d-circular": (lambda: nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular"),
                        lambda: TNN.Conv2d(2, 3, 3, padding=1, padding_mode="circular"), [(2, 2, 5, 6)]),
    "maxpool2d": (lambda: nn.MaxPool2d(2), lambda: TNN.MaxPool2d(2), [(2, 3, 6, 7)]),
    "maxpool2d-overlap-pad": (lambda: nn.MaxPool2d(3, stride=2, padding=1),
                              lambda: TNN.MaxPool2d(3, stride=2, padding=1), [(2, 2, 7, 8)]),
    "maxpool2d-ceil-dilation": (lambda: nn.MaxPool2d(2, stride=2, dilation=2, ceil_mode=True),
                                lambda: TNN.MaxPool2d(2, stride=2, dilation=2, ceil_mode=True), [(1, 2, 8, 7)]),
    "maxpool2d-ceil": (lambda: nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
                       lambda: TNN.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), [(2, 2, 6, 9)]),
    "maxpool1d": (lambda: nn.MaxPool1d(3, stride=2), lambda: TNN.MaxPool1d(3, stride=2), [(2, 3, 10)]),
    "avgpool2d": (lambda: nn.AvgPool2d(2), lambda: TNN.AvgPool2d(2), [(2, 3, 6, 7)]),
    "avgpool2d-pad": (lambda: nn.AvgPool2d(3, stride=2, padding=1), lambda: TNN.AvgPool2d(3, stride=2, padding=1),
                      [(2, 2, 7, 8)]),
    "avgpool2d-pad-excluded": (lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
                               lambda: TNN.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
                               [(2, 2, 7, 8)]),
    "avgpool2d-ceil": (lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True),
                       lambda: TNN.AvgPool2d(3, stride=2, padding=1, ceil_mode=True), [(2, 2, 6, 9)]),
    "avgpool2d-ceil-excluded": (
        lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
        lambda: TNN.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), [(2, 2, 6, 9)]),
    "avgpool2d-divisor": (lambda: nn.AvgPool2d(2, divisor_override=3),
                          lambda: TNN.AvgPool2d(2, divisor_override=3), [(1, 2, 4, 4)]),
    "avgpool1d": (lambda: nn.AvgPool1d(3, stride=2, padding=1), lambda: TNN.AvgPool1d(3, stride=2, padding=1),
                  [(2, 3, 10)]),
    "adaptive_avgpool2d": (lambda: nn.AdaptiveAvgPool2d((3, None)), lambda: TNN.AdaptiveAvgPool2d((3, None)),
                           [(2, 3, 7, 5)]),
    "adaptive_avgpool2d-global": (lambda: nn.AdaptiveAvgPool2d(1), lambda: TNN.AdaptiveAvgPool2d(1),
                                  [(2, 3, 4, 5)]),
    "adaptive_avgpool2d-upsample": (lambda: nn.AdaptiveAvgPool2d((5, 4)), lambda: TNN.AdaptiveAvgPool2d((5, 4)),
                                    [(1, 2, 3, 7)]),
    "adaptive_avgpool1d": (lambda: nn.AdaptiveAvgPool1d(4), lambda: TNN.AdaptiveAvgPool1d(4), [(2, 3, 10)]),
    "batchnorm1d": (lambda: nn.BatchNorm1d(4), lambda: TNN.BatchNorm1d(4), [(8, 4)]),
    "batchnorm1d-3d": (lambda: nn.BatchNorm1d(4, momentum=0.3), lambda: TNN.BatchNorm1d(4, momentum=0.3),
                       [(3, 4, 5)]),
    "batchnorm1d-cumulative": (lambda: nn.BatchNorm1d(4, momentum=None), lambda: TNN.BatchNorm1d(4, momentum=None),
                               [(8, 4)]),
    "batchnorm1d-no-affine": (lambda: nn.BatchNorm1d(4, affine=False), lambda: TNN.BatchNorm1d(4, affine=False),
                              [(8, 4)]),
    "batchnorm1d-no-stats": (lambda: nn.BatchNorm1d(4, track_running_stats=False),
                             lambda: TNN.BatchNorm1d(4, track_running_stats=False), [(8, 4)]),
    "batchnorm2d": (lambda: nn.BatchNorm2d(3), lambda: TNN.BatchNorm2d(3), [(4, 3, 5, 5)]),
    "batchnorm2d-nobias": (lambda: nn.BatchNorm2d(3, bias=False), lambda: TNN.BatchNorm2d(3, bias=False),
                           [(4, 3, 2, 2)]),
    "layernorm-nobias": (lambda: nn.LayerNorm(4, bias=False), lambda: TNN.LayerNorm(4, bias=False), [(3, 4)]),
    "layernorm": (lambda: nn.LayerNorm(5), lambda: TNN.LayerNorm(5), [(3, 4, 5)]),
    "layernorm-2d": (lambda: nn.LayerNorm((3, 4)), lambda: TNN.LayerNorm((3, 4)), [(2, 3, 4)]),
    "layernorm-no-affine": (lambda: nn.LayerNorm(4, elementwise_affine=False),
                            lambda: TNN.LayerNorm(4, elementwise_affine=False), [(3, 4)]),
    "embedding": (lambda: nn.Embedding(10, 3), lambda: TNN.Embedding(10, 3), [("int", 10, (4, 5))]),
    "embedding-padding": (lambda: nn.Embedding(5, 3, padding_idx=1), lambda: TNN.Embedding(5, 3, padding_idx=1),
                          [np.array([[0, 1, 2], [1, 1, 4]])]),
    "flatten": (lambda: nn.Flatten(), lambda: TNN.Flatten(), [(2, 3, 4)]),
    "flatten-range": (lambda: nn.Flatten(0, 1), lambda: TNN.Flatten(0, 1), [(2, 3, 4)]),
    "unflatten": (lambda: nn.Unflatten(1, (2, 3)), lambda: TNN.Unflatten(1, (2, 3)), [(4, 6)]),
    "identity": (lambda: nn.Identity(), lambda: TNN.Identity(), [(2, 3)]),
    "relu": (lambda: nn.ReLU(), lambda: TNN.ReLU(), [(4, 5)]),
    "leaky_relu": (lambda: nn.LeakyReLU(0.2), lambda: TNN.LeakyReLU(0.2), [(4, 5)]),
    "elu": (lambda: nn.ELU(0.7), lambda: TNN.ELU(0.7), [(4, 5)]),
    "silu": (lambda: nn.SiLU(), lambda: TNN.SiLU(), [(4, 5)]),
    "gelu": (lambda: nn.GELU(), lambda: TNN.GELU(), [(4, 5)]),
    "gelu-tanh": (lambda: nn.GELU(approximate="tanh"), lambda: TNN.GELU(approximate="tanh"), [(4, 5)]),
    "sigmoid": (lambda: nn.Sigmoid(), lambda: TNN.Sigmoid(), [(4, 5)]),
    "tanh": (lambda: nn.Tanh(), lambda: TNN.Tanh(), [(4, 5)]),
    "softplus": (lambda: nn.Softplus(beta=2.0), lambda: TNN.Softplus(beta=2.0), [(4, 5)]),
    "softmax": (lambda: nn.Softmax(dim=1), lambda: TNN.Softmax(dim=1), [(3, 4, 2)]),
    "log_softmax": (lambda: nn.LogSoftmax(dim=-1), lambda: TNN.LogSoftmax(dim=-1), [(3, 4)]),
    "sequential-cnn": (
        lambda: nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(4 * 4 * 4, 5)),
        lambda: TNN.Sequential(TNN.Conv2d(1, 4, 3, padding=1), TNN.BatchNorm2d(4), TNN.ReLU(), TNN.MaxPool2d(2),
                               TNN.Flatten(), TNN.Linear(4 * 4 * 4, 5)), [(3, 1, 8, 8)]),
    # recurrent cells, with and without an initial state
    "rnncell": (lambda: nn.RNNCell(3, 4), lambda: TNN.RNNCell(3, 4), [(2, 3)]),
    "rnncell-relu-hx": (lambda: nn.RNNCell(3, 4, nonlinearity="relu"), lambda: TNN.RNNCell(3, 4, nonlinearity="relu"),
                        [(2, 3), (2, 4)]),
    "rnncell-unbatched": (lambda: nn.RNNCell(3, 4), lambda: TNN.RNNCell(3, 4), [(3,)]),
    "grucell": (lambda: nn.GRUCell(3, 4), lambda: TNN.GRUCell(3, 4), [(2, 3), (2, 4)]),
    "grucell-nobias": (lambda: nn.GRUCell(3, 4, bias=False), lambda: TNN.GRUCell(3, 4, bias=False), [(2, 3)]),
    "lstmcell": (lambda: nn.LSTMCell(3, 4), lambda: TNN.LSTMCell(3, 4), [(2, 3)]),
    # sequence layers
    "rnn": (lambda: nn.RNN(3, 4), lambda: TNN.RNN(3, 4), [(5, 2, 3)]),
    "rnn-2layers-relu-hx": (lambda: nn.RNN(3, 4, num_layers=2, nonlinearity="relu"),
                            lambda: TNN.RNN(3, 4, num_layers=2, nonlinearity="relu"), [(5, 2, 3), (2, 2, 4)]),
    "rnn-batch-first-bidirectional": (lambda: nn.RNN(3, 4, batch_first=True, bidirectional=True, num_layers=2),
                                      lambda: TNN.RNN(3, 4, batch_first=True, bidirectional=True, num_layers=2),
                                      [(2, 5, 3)]),
    "rnn-unbatched": (lambda: nn.RNN(3, 4), lambda: TNN.RNN(3, 4), [(5, 3)]),
    "lstm": (lambda: nn.LSTM(3, 4, num_layers=2), lambda: TNN.LSTM(3, 4, num_layers=2), [(5, 2, 3)]),
    "lstm-bidirectional-batch-first": (lambda: nn.LSTM(3, 4, batch_first=True, bidirectional=True),
                                       lambda: TNN.LSTM(3, 4, batch_first=True, bidirectional=True), [(2, 4, 3)]),
    "gru": (lambda: nn.GRU(3, 4, num_layers=2, batch_first=True), lambda: TNN.GRU(3, 4, num_layers=2,
                                                                                  batch_first=True), [(2, 5, 3)]),
    "gru-hx": (lambda: nn.GRU(3, 4), lambda: TNN.GRU(3, 4), [(5, 2, 3), (1, 2, 4)]),
}


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("case", sorted(LAYERS))
def test_layer_matches_pytorch(case):
    ours, theirs, specs = LAYERS[case]
    autograd.manual_seed(0)
    torch.manual_seed(0)
    compare_module(ours(), theirs(), specs)


@pytest.mark.parametrize("case", ["batchnorm1d", "batchnorm2d", "batchnorm1d-3d", "sequential-cnn"])
def test_layer_in_eval_mode_matches_pytorch(case):
    """Eval mode uses the running statistics: train both for a step first so those are not trivial."""
    make_ours, make_theirs, specs = LAYERS[case]
    ours, theirs = make_ours().double(), make_theirs().double()
    ours.load_state_dict(theirs.state_dict())
    for seed in (5, 6):
        batch = _inputs(specs, seed)
        ours(*[autograd.tensor(a) for a in batch])
        theirs(*[torch.tensor(a) for a in batch])
    compare_module(ours, theirs, specs, train=False)


def test_lstm_with_initial_state_matches_pytorch():
    rng = np.random.default_rng(3)
    h0, c0 = rng.standard_normal((2, 2, 4)), rng.standard_normal((2, 2, 4))
    ours, theirs = nn.LSTM(3, 4, num_layers=2), TNN.LSTM(3, 4, num_layers=2)
    compare_module(ours, theirs, [(5, 2, 3)],
                   kwargs_ours={"hx": (autograd.tensor(h0), autograd.tensor(c0))},
                   kwargs_theirs={"hx": (torch.tensor(h0), torch.tensor(c0))})


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_variable_length_sequences_match_packed_pytorch(kind, bidirectional):
    """`lengths=` gives what PyTorch gives for a packed batch: states stop at each sequence's end and the
    padded outputs are zero."""
    lengths = [5, 2, 4]
    ours = getattr(nn, kind)(3, 4, num_layers=2, batch_first=True, bidirectional=bidirectional).double()
    theirs = getattr(TNN, kind)(3, 4, num_layers=2, batch_first=True, bidirectional=bidirectional).double()
    ours.load_state_dict(theirs.state_dict())
    x = np.random.default_rng(0).standard_normal((3, 5, 3))
    our_x = autograd.tensor(x, requires_grad=True)
    their_x = torch.tensor(x, requires_grad=True)
    our_out, our_h = ours(our_x, lengths=lengths)
    packed = torch.nn.utils.rnn.pack_padded_sequence(their_x, lengths, batch_first=True, enforce_sorted=False)
    their_packed, their_h = theirs(packed)
    their_out, _ = torch.nn.utils.rnn.pad_packed_sequence(their_packed, batch_first=True, total_length=5)
    our_h, their_h = _flatten(our_h), _flatten(their_h)
    np.testing.assert_allclose(our_out.data, their_out.detach().numpy(), atol=1e-10)
    for a, b in zip(our_h, their_h):
        np.testing.assert_allclose(a.data, b.detach().numpy(), atol=1e-10)
    w = np.random.default_rng(1).standard_normal(our_out.shape)
    ((our_out * autograd.tensor(w)).sum() + sum(h.sum() for h in our_h)).backward()
    ((their_out * torch.tensor(w)).sum() + sum(h.sum() for h in their_h)).backward()
    np.testing.assert_allclose(our_x.grad.data, their_x.grad.numpy(), atol=1e-10)
    their_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.data, their_params[name].grad.numpy(), atol=1e-10, err_msg=name)


# ---------------------------------------------------------------------------------------------------------------
# Losses: every reduction, against torch.nn.functional
# ---------------------------------------------------------------------------------------------------------------
def _probabilities(shape, seed, axis=1):
    x = np.random.default_rng(seed).standard_normal(shape)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


LOSSES = {
    "mse": ("mse_loss", "mse_loss", {}, lambda r: (r.standard_normal((4, 3)), r.standard_normal((4, 3)))),
    "l1": ("l1_loss", "l1_loss", {}, lambda r: (r.standard_normal((4, 3)), r.standard_normal((4, 3)))),
    "huber": ("huber_loss", "huber_loss", {"delta": 0.7},
              lambda r: (r.standard_normal((4, 3)), r.standard_normal((4, 3)))),
    "smooth_l1": ("smooth_l1_loss", "smooth_l1_loss", {"beta": 0.5},
                  lambda r: (r.standard_normal((4, 3)), r.standard_normal((4, 3)))),
    "smooth_l1-beta0": ("smooth_l1_loss", "smooth_l1_loss", {"beta": 0.0},
                        lambda r: (r.standard_normal((4, 3)), r.standard_normal((4, 3)))),
    "bce": ("binary_cross_entropy", "binary_cross_entropy", {},
            lambda r: (r.uniform(0.05, 0.95, (4, 3)), r.uniform(0, 1, (4, 3)))),
    "bce-weight": ("binary_cross_entropy", "binary_cross_entropy", {"weight": np.array([0.5, 1.0, 2.0])},
                   lambda r: (r.uniform(0.05, 0.95, (4, 3)), r.integers(0, 2, (4, 3)).astype(float))),
    "bce_logits": ("binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits", {},
                   lambda r: (r.standard_normal((4, 3)) * 3, r.uniform(0, 1, (4, 3)))),
    "bce_logits-pos_weight": ("binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits",
                              {"pos_weight": np.array([0.5, 2.0, 3.0]), "weight": np.array([1.0, 0.5, 2.0])},
                              lambda r: (r.standard_normal((4, 3)) * 3, r.integers(0, 2, (4, 3)).astype(float))),
    "cross_entropy": ("cross_entropy", "cross_entropy", {},
                      lambda r: (r.standard_normal((5, 4)), r.integers(0, 4, 5))),
    "cross_entropy-unbatched": ("cross_entropy", "cross_entropy", {},
                                lambda r: (r.standard_normal(4), np.int64(2))),
    "cross_entropy-weight-ignore": ("cross_entropy", "cross_entropy",
                                    {"weight": np.array([0.2, 1.0, 3.0, 0.5]), "ignore_index": 1},
                                    lambda r: (r.standard_normal((6, 4)), np.array([0, 1, 2, 3, 1, 2]))),
    "cross_entropy-smoothing": ("cross_entropy", "cross_entropy", {"label_smoothing": 0.2},
                                lambda r: (r.standard_normal((5, 4)), r.integers(0, 4, 5))),
    "cross_entropy-smoothing-weight-ignore": (
        "cross_entropy", "cross_entropy",
        {"label_smoothing": 0.3, "weight": np.array([0.2, 1.0, 3.0, 0.5]), "ignore_index": 3},
        lambda r: (r.standard_normal((6, 4)), np.array([0, 3, 2, 3, 1, 2]))),
    "cross_entropy-spatial": ("cross_entropy", "cross_entropy", {"weight": np.array([1.0, 2.0, 0.5])},
                              lambda r: (r.standard_normal((2, 3, 4, 5)), r.integers(0, 3, (2, 4, 5)))),
    "cross_entropy-spatial-smoothing-weight-ignore": (
        "cross_entropy", "cross_entropy",
        {"weight": np.array([1.0, 2.0, 0.5]), "ignore_index": 2, "label_smoothing": 0.2},
        lambda r: (r.standard_normal((2, 3, 4, 5)), r.integers(0, 3, (2, 4, 5)))),
    "cross_entropy-unbatched-weight": ("cross_entropy", "cross_entropy", {"weight": np.array([0.2, 1.0, 3.0, 0.5])},
                                       lambda r: (r.standard_normal(4), np.int64(2))),
    "cross_entropy-unbatched-ignored": ("cross_entropy", "cross_entropy", {"ignore_index": 2},
                                        lambda r: (r.standard_normal(4), np.int64(2))),
    "cross_entropy-ignore-no-weight": ("cross_entropy", "cross_entropy", {"ignore_index": 0},
                                       lambda r: (r.standard_normal((6, 4)), np.array([0, 1, 2, 3, 0, 2]))),
    "cross_entropy-all-ignored": ("cross_entropy", "cross_entropy",
                                  {"weight": np.array([0.2, 1.0, 3.0, 0.5]), "label_smoothing": 0.1},
                                  lambda r: (r.standard_normal((3, 4)), np.full(3, -100))),
    "cross_entropy-empty": ("cross_entropy", "cross_entropy", {},
                            lambda r: (r.standard_normal((0, 4)), np.zeros(0, dtype=np.int64))),
    "cross_entropy-probs": ("cross_entropy", "cross_entropy", {},
                            lambda r: (r.standard_normal((5, 4)), _probabilities((5, 4), 7))),
    "cross_entropy-probs-smoothing-weight": (
        "cross_entropy", "cross_entropy", {"label_smoothing": 0.1, "weight": np.array([0.2, 1.0, 3.0, 0.5])},
        lambda r: (r.standard_normal((5, 4)), _probabilities((5, 4), 8))),
    "nll": ("nll_loss", "nll_loss", {}, lambda r: (np.log(_probabilities((5, 4), 1)), r.integers(0, 4, 5))),
    "nll-weight-ignore-spatial": (
        "nll_loss", "nll_loss", {"weight": np.array([1.0, 2.0, 0.5]), "ignore_index": 0},
        lambda r: (np.log(_probabilities((2, 3, 4), 2)), r.integers(0, 3, (2, 4)))),
    "nll-all-ignored": ("nll_loss", "nll_loss", {"ignore_index": 1},
                        lambda r: (np.log(_probabilities((3, 4), 1)), np.ones(3, dtype=np.int64))),
    "nll-unbatched-weight": ("nll_loss", "nll_loss", {"weight": np.array([1.0, 2.0, 0.5])},
                             lambda r: (np.log(_probabilities((3,), 2, axis=0)), np.int64(1))),
    "kl_div": ("kl_div", "kl_div", {}, lambda r: (np.log(_probabilities((4, 5), 3)), _probabilities((4, 5), 4))),
    "kl_div-zeros": ("kl_div", "kl_div", {}, lambda r: (np.log(_probabilities((2, 3), 3)),
                                                        np.array([[0.0, 0.3, 0.7], [1.0, 0.0, 0.0]]))),
    "kl_div-log_target": ("kl_div", "kl_div", {"log_target": True},
                          lambda r: (np.log(_probabilities((4, 5), 3)), np.log(_probabilities((4, 5), 4)))),
}


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", sorted(LOSSES))
def test_loss_matches_pytorch(case, reduction):
    ours_name, theirs_name, kwargs, make = LOSSES[case]
    x, y = make(np.random.default_rng(0))
    grads_for_target = y.dtype.kind == "f" and ours_name in ("mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss",
                                                             "binary_cross_entropy_with_logits", "kl_div")
    grads_for_target = grads_for_target and case != "kl_div-zeros"  # d(p log p)/dp at p = 0: torch gives nan
    our_x, their_x = autograd.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    our_y = autograd.tensor(y, requires_grad=grads_for_target)
    their_y = torch.tensor(y, requires_grad=grads_for_target)
    our_kwargs = {k: autograd.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    their_kwargs = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    ours = getattr(F, ours_name)(our_x, our_y, reduction=reduction, **our_kwargs)
    theirs = getattr(TF, theirs_name)(their_x, their_y, reduction=reduction, **their_kwargs)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), atol=1e-10, rtol=1e-8)
    w = np.random.default_rng(1).standard_normal(ours.shape)
    (ours * autograd.tensor(w)).sum().backward()
    (theirs * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(our_x.grad.data, their_x.grad.numpy(), atol=1e-10, rtol=1e-8)
    if grads_for_target:
        np.testing.assert_allclose(our_y.grad.data, their_y.grad.numpy(), atol=1e-10, rtol=1e-8)


CROSS_ENTROPY_SECOND_ORDER = {
    "plain": ((5, 4), {}),
    "weight-ignore-smoothing": ((6, 4), {"weight": np.array([0.2, 1.0, 3.0, 0.5]), "ignore_index": 1,
                                         "label_smoothing": 0.2}),
    "spatial-weight": ((2, 3, 2, 2), {"weight": np.array([1.0, 2.0, 0.5])}),
    "unbatched": ((4,), {}),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", sorted(CROSS_ENTROPY_SECOND_ORDER))
def test_cross_entropy_second_order_matches_pytorch(case, reduction):
    """Hessian-vector products of cross_entropy in the logits (integer targets) against PyTorch's, and a
    gradgradcheck of ours."""
    shape, kwargs = CROSS_ENTROPY_SECOND_ORDER[case]
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape)
    classes = shape[0 if len(shape) == 1 else 1]
    target = rng.integers(0, classes, shape[:1] + shape[2:] if len(shape) > 1 else ())
    v = rng.standard_normal(shape)
    our_kwargs = {k: autograd.tensor(a) if isinstance(a, np.ndarray) else a for k, a in kwargs.items()}
    their_kwargs = {k: torch.tensor(a) if isinstance(a, np.ndarray) else a for k, a in kwargs.items()}

    def ours(logits):
        return F.cross_entropy(logits, target, reduction=reduction, **our_kwargs)

    our_x, their_x = autograd.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out_weights = rng.standard_normal(ours(our_x).shape)
    (g,) = autograd.grad((ours(our_x) * autograd.tensor(out_weights)).sum(), our_x, create_graph=True)
    (g * autograd.tensor(v)).sum().backward()
    theirs = TF.cross_entropy(their_x, torch.tensor(target), reduction=reduction, **their_kwargs)
    (their_g,) = torch.autograd.grad((theirs * torch.tensor(out_weights)).sum(), their_x, create_graph=True)
    (their_g * torch.tensor(v)).sum().backward()
    np.testing.assert_allclose(g.data, their_g.detach().numpy(), atol=1e-10, rtol=1e-8)
    np.testing.assert_allclose(our_x.grad.data, their_x.grad.numpy(), atol=1e-10, rtol=1e-8)
    assert autograd.gradgradcheck(ours, autograd.tensor(x, requires_grad=True))


def test_kl_div_batchmean_matches_pytorch():
    x, y = np.log(_probabilities((4, 5), 3)), _probabilities((4, 5), 4)
    ours = F.kl_div(autograd.tensor(x), autograd.tensor(y), reduction="batchmean")
    theirs = TF.kl_div(torch.tensor(x), torch.tensor(y), reduction="batchmean")
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-12)


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_functional_pad_matches_pytorch(mode):
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    widths = (1, 2, 3, 1) if mode != "constant" else (1, -2, 3, 0, 1, 1)
    ours = autograd.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    out = F.pad(ours, widths, mode=mode, value=0.5) if mode == "constant" else F.pad(ours, widths, mode=mode)
    expected = TF.pad(theirs, widths, mode=mode, value=0.5) if mode == "constant" else TF.pad(theirs, widths,
                                                                                             mode=mode)
    np.testing.assert_allclose(out.data, expected.detach().numpy())
    w = np.random.default_rng(1).standard_normal(out.shape)
    (out * autograd.tensor(w)).sum().backward()
    (expected * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(ours.grad.data, theirs.grad.numpy())


def test_default_initialisation_matches_pytorch_distribution():
    """Layers default-initialise as PyTorch's do: same bounds (uniform) and spread."""
    autograd.manual_seed(0)
    torch.manual_seed(0)
    pairs = [(nn.Linear(300, 200), TNN.Linear(300, 200)), (nn.Conv2d(16, 32, 5), TNN.Conv2d(16, 32, 5)),
             (nn.LSTM(50, 60), TNN.LSTM(50, 60)), (nn.Embedding(300, 50), TNN.Embedding(300, 50)),
             (nn.BatchNorm2d(8), TNN.BatchNorm2d(8)), (nn.LayerNorm(6), TNN.LayerNorm(6))]
    for ours, theirs in pairs:
        their_params = dict(theirs.named_parameters())
        for name, p in ours.named_parameters():
            a, b = p.data, their_params[name].detach().numpy()
            assert a.shape == b.shape and a.dtype == b.dtype
            np.testing.assert_allclose(np.abs(a).max(), np.abs(b).max(), rtol=0.1 if b.size > 100 else 1.0,
                                       err_msg=name)
            np.testing.assert_allclose(a.std(), b.std(), rtol=0.1 if b.size > 100 else 1.0, atol=1e-12,
                                       err_msg=name)


# ---------------------------------------------------------------------------------------------------------------
# Max pooling with indices, max unpooling
# ---------------------------------------------------------------------------------------------------------------
# (input shape, kernel_size, stride, padding, dilation, ceil_mode); integer-valued inputs make ties common
POOL_INDICES = {
    "1d": ((2, 3, 9), 3, 2, 0, 1, False),
    "1d-unbatched-pad-ceil": ((3, 10), 3, 2, 1, 1, True),
    "1d-dilated-overlap": ((2, 2, 11), 3, 1, 1, 2, False),
    "2d": ((2, 3, 6, 7), 2, None, 0, 1, False),
    "2d-unbatched": ((3, 6, 6), 2, None, 0, 1, False),
    "2d-overlap-pad": ((2, 2, 7, 8), 3, 2, 1, 1, False),
    "2d-ceil-pad": ((2, 2, 6, 9), 3, 2, 1, 1, True),
    "2d-ceil-dilation": ((1, 2, 8, 7), 2, 2, 0, 2, True),
    "2d-rectangular": ((2, 2, 9, 8), (3, 2), (2, 1), (1, 0), (2, 3), True),
    "2d-unbatched-dilated-pad": ((2, 7, 7), 3, 1, 1, 2, False),
}


def _pool_pair(nd):
    return (F.max_pool1d, TF.max_pool1d) if nd == 1 else (F.max_pool2d, TF.max_pool2d)


@pytest.mark.filterwarnings("ignore:invalid value encountered")  # the test's loss sums +inf and -inf
@pytest.mark.parametrize("values", ["ties", "random", "nonfinite"])
@pytest.mark.parametrize("case", sorted(POOL_INDICES))
def test_max_pool_indices_match_pytorch(case, values):
    shape, kernel, stride, padding, dilation, ceil_mode = POOL_INDICES[case]
    nd = 1 if case.startswith("1d") else 2
    rng = np.random.default_rng(len(case))
    x = rng.integers(0, 3, shape).astype(np.float64) if values != "random" else rng.standard_normal(shape)
    if values == "nonfinite":  # PyTorch picks a NaN over any number, and the first in-input element of -inf only
        x.reshape(-1, *shape[-nd:])[0].flat[:3] = np.nan
        x.reshape(-1, *shape[-nd:])[-1] = -np.inf
    ours_fn, theirs_fn = _pool_pair(nd)
    ours_x, theirs_x = autograd.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, indices = ours_fn(ours_x, kernel, stride, padding, dilation, ceil_mode=ceil_mode, return_indices=True)
    expected, expected_indices = theirs_fn(theirs_x, kernel, stride, padding, dilation, ceil_mode=ceil_mode,
                                           return_indices=True)
    assert indices.dtype == np.int64 and not indices.requires_grad
    np.testing.assert_array_equal(indices.data, expected_indices.numpy())
    np.testing.assert_array_equal(out.data, expected.detach().numpy())
    # the gradient reaches exactly the indexed elements, as in PyTorch
    w = rng.standard_normal(out.shape)
    (out * autograd.tensor(w)).sum().backward()
    (expected * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(ours_x.grad.data, theirs_x.grad.numpy(), atol=1e-12)
    # without return_indices the values and gradient are the same
    plain = autograd.tensor(x, requires_grad=True)
    plain_out = ours_fn(plain, kernel, stride, padding, dilation, ceil_mode=ceil_mode)
    np.testing.assert_array_equal(plain_out.data, out.data)
    (plain_out * autograd.tensor(w)).sum().backward()
    np.testing.assert_allclose(plain.grad.data, ours_x.grad.data, atol=1e-12)


def _nans(*positions):
    return lambda x: x.__setitem__(tuple(np.array(positions).T), np.nan)


def _minus_inf(*regions):
    def fill(x):
        for region in regions:
            x[region] = -np.inf
    return fill


# (input shape, kernel_size, stride, padding, dilation, ceil_mode, fill): NaN windows (PyTorch picks the last NaN),
# windows of -inf only (PyTorch picks the first element inside the input, also where the window starts in the
# padding or hangs off the edge in ceil_mode), and both together
POOL_NONFINITE = {
    "1d-one-nan": ((2, 2, 9), 3, 2, 0, 1, False, _nans((0, 1, 4))),
    "1d-nans-overlapping": ((1, 2, 10), 3, 1, 1, 1, False, _nans((0, 0, 2), (0, 0, 3), (0, 0, 5), (0, 1, 9))),
    "1d-dilated-nans": ((1, 1, 11), 3, 2, 1, 2, True, _nans((0, 0, 1), (0, 0, 5), (0, 0, 7), (0, 0, 8))),
    "1d-inf-pad": ((2, 1, 8), 3, 2, 1, 1, False, _minus_inf(np.s_[0, 0, :2], np.s_[1, 0, :])),
    "1d-inf-ceil": ((1, 2, 8), 3, 3, 1, 1, True, _minus_inf(np.s_[:, :, 5:], np.s_[0, 1, :3])),
    "2d-one-nan": ((1, 2, 6, 6), 2, None, 0, 1, False, _nans((0, 1, 3, 2))),
    "2d-nans-overlapping": ((2, 1, 7, 7), 3, 2, 1, 1, False,
                            _nans((0, 0, 1, 1), (0, 0, 2, 2), (0, 0, 2, 0), (1, 0, 4, 4), (1, 0, 0, 6))),
    "2d-inf-pad": ((1, 2, 6, 7), 3, 2, 1, 1, False, _minus_inf(np.s_[0, 0, :3, :3], np.s_[0, 1, :, :])),
    "2d-inf-ceil": ((1, 1, 7, 8), 3, 2, 1, 1, True, _minus_inf(np.s_[0, 0, 4:, :], np.s_[0, 0, :, 5:])),
    "2d-inf-dilated-rectangular": ((1, 2, 9, 8), (3, 2), (2, 1), (1, 0), (2, 3), True,
                                   _minus_inf(np.s_[0, 0, :5, :6], np.s_[0, 1, 3:, :])),
    "2d-nan-and-inf": ((2, 2, 6, 6), 3, 2, 1, 1, True,
                       lambda x: (_minus_inf(np.s_[0, :, :4, :4], np.s_[1, 1, :, 3:])(x),
                                  _nans((0, 0, 0, 0), (0, 1, 3, 3), (1, 1, 5, 5), (1, 1, 1, 4))(x))),
    "2d-plus-inf": ((1, 1, 5, 6), 2, 2, 1, 1, True,
                    lambda x: (x.__setitem__(np.s_[0, 0, 1:3, 1:4], np.inf), _nans((0, 0, 2, 2))(x))),
}


@pytest.mark.filterwarnings("ignore:invalid value encountered")
@pytest.mark.parametrize("return_indices", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", sorted(POOL_NONFINITE))
def test_max_pool_of_nan_and_minus_inf_matches_pytorch(case, dtype, return_indices):
    """Values (NaN where PyTorch has NaN), indices and input gradients equal PyTorch's exactly: the gradient of a
    NaN window reaches its last NaN, that of a window of -inf only its first element inside the input."""
    shape, kernel, stride, padding, dilation, ceil_mode, fill = POOL_NONFINITE[case]
    nd = 1 if case.startswith("1d") else 2
    rng = np.random.default_rng(len(case))
    x = rng.integers(-3, 3, shape).astype(dtype)  # ties too
    fill(x)
    ours_fn, theirs_fn = _pool_pair(nd)
    ours_x, theirs_x = autograd.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    args = (kernel, stride, padding, dilation)
    out = ours_fn(ours_x, *args, ceil_mode=ceil_mode, return_indices=return_indices)
    expected = theirs_fn(theirs_x, *args, ceil_mode=ceil_mode, return_indices=return_indices)
    if return_indices:
        (out, indices), (expected, expected_indices) = out, expected
        np.testing.assert_array_equal(indices.data, expected_indices.numpy())
    assert out.dtype == dtype
    np.testing.assert_array_equal(out.data, expected.detach().numpy())  # NaN where PyTorch has NaN
    assert np.isnan(out.data).any() or np.isneginf(out.data).any()
    w = rng.integers(1, 9, out.shape).astype(dtype)  # integers: sums over overlapping windows are exact
    out.backward(autograd.tensor(w))
    expected.backward(torch.tensor(w))
    np.testing.assert_array_equal(ours_x.grad.data, theirs_x.grad.numpy())
    assert ours_x.grad.data.sum() == w.sum()  # every window's gradient reaches an element


def test_max_pool_window_outside_the_input_matches_pytorch():
    """A dilated window that steps over a 1-element input holds padding only: PyTorch gives -inf, the index
    its loop starts at (1, past the end) and no gradient; so do we (this used to raise from a gather)."""
    x = np.array([[[5.0]]])
    ours_x, theirs_x = autograd.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    for return_indices in (False, True):
        out = F.max_pool1d(ours_x, 2, 1, 1, 2, return_indices=return_indices)
        expected = TF.max_pool1d(theirs_x, 2, 1, 1, 2, return_indices=return_indices)
        if return_indices:
            (out, indices), (expected, expected_indices) = out, expected
            np.testing.assert_array_equal(indices.data, expected_indices.numpy())
        np.testing.assert_array_equal(out.data, expected.detach().numpy())
        out.sum().backward()
        expected.sum().backward()
        np.testing.assert_array_equal(ours_x.grad.data, theirs_x.grad.numpy())


UNPOOL = {  # (pooled input shape, kernel_size, stride, padding, ceil_mode)
    "1d": ((2, 3, 10), 2, None, 0, False),
    "1d-unbatched-pad-ceil": ((3, 10), 3, 3, 1, True),
    "2d": ((2, 3, 6, 7), 2, None, 0, False),
    "2d-unbatched": ((3, 6, 6), 2, None, 0, False),
    "2d-rectangular-pad-ceil": ((2, 2, 9, 8), (3, 2), (3, 2), (1, 1), True),
    "1d-overlap": ((2, 3, 11), 3, 2, 1, False),
    "2d-overlap": ((2, 2, 7, 8), 3, 2, 1, False),
}


@pytest.mark.parametrize("case", sorted(UNPOOL))
def test_max_unpool_matches_pytorch(case):
    """Forward as PyTorch. Backward as PyTorch where each index occurs once in its plane; where overlapping
    windows chose the same element, only the write that lands (the last) gets the gradient, which is the
    derivative of the forward (PyTorch gives it to every copy: the README lists this difference)."""
    shape, kernel, stride, padding, ceil_mode = UNPOOL[case]
    nd = 1 if case.startswith("1d") else 2
    x = np.random.default_rng(3).standard_normal(shape)
    _, theirs_fn = _pool_pair(nd)
    pooled, indices = theirs_fn(torch.tensor(x), kernel, stride, padding, ceil_mode=ceil_mode, return_indices=True)
    ours_unpool, theirs_unpool = (F.max_unpool1d, TF.max_unpool1d) if nd == 1 else (F.max_unpool2d, TF.max_unpool2d)
    ours_in = autograd.tensor(pooled.numpy(), requires_grad=True)
    theirs_in = pooled.clone().requires_grad_()
    # which pooled values are overwritten by a later one with the same index (they get no gradient)
    planes = indices.numpy().reshape(-1, indices.shape[-nd:].numel())
    overwritten = np.zeros(planes.shape, dtype=bool)
    for plane, mask in zip(planes, overwritten):
        _, last = np.unique(plane[::-1], return_index=True)
        mask[:] = True
        mask[len(plane) - 1 - last] = False
    assert overwritten.any() == ("overlap" in case)
    for output_size in (None, shape[-nd:], shape):
        if len(shape) == nd + 1 and output_size is shape:
            continue  # PyTorch takes nd or nd + 2 entries
        ours_in.grad, theirs_in.grad = None, None
        kwargs = {} if output_size is None else {"output_size": output_size}
        try:
            expected = theirs_unpool(theirs_in, indices, kernel, stride, padding, **kwargs)
        except RuntimeError:  # the default size is too small for these indices: ours says so too
            with pytest.raises(IndexError, match="out of range for an output plane"):
                ours_unpool(ours_in, autograd.from_numpy(indices.numpy()), kernel, stride, padding, **kwargs)
            continue
        out = ours_unpool(ours_in, autograd.from_numpy(indices.numpy()), kernel, stride, padding, **kwargs)
        np.testing.assert_array_equal(out.data, expected.detach().numpy())
        w = np.random.default_rng(4).standard_normal(out.shape)
        (out * autograd.tensor(w)).sum().backward()
        (expected * torch.tensor(w)).sum().backward()
        expected_grad = np.where(overwritten.reshape(pooled.shape), 0.0, theirs_in.grad.numpy())
        np.testing.assert_array_equal(ours_in.grad.data, expected_grad)


def test_max_pool_and_unpool_modules_match_pytorch():
    x = np.random.default_rng(5).integers(0, 4, (2, 3, 8, 9)).astype(np.float64)
    ours_pool, theirs_pool = nn.MaxPool2d(3, 2, 1, return_indices=True), TNN.MaxPool2d(3, 2, 1, return_indices=True)
    ours_unpool, theirs_unpool = nn.MaxUnpool2d(3, 2, 1), TNN.MaxUnpool2d(3, 2, 1)
    out, indices = ours_pool(autograd.tensor(x))
    expected, expected_indices = theirs_pool(torch.tensor(x))
    np.testing.assert_array_equal(indices.data, expected_indices.numpy())
    np.testing.assert_array_equal(ours_unpool(out, indices, output_size=x.shape).data,
                                  theirs_unpool(expected, expected_indices, output_size=x.shape).numpy())
    assert repr(ours_unpool) == repr(theirs_unpool)
    x1 = np.random.default_rng(6).standard_normal((2, 2, 10))
    out, indices = nn.MaxPool1d(2, return_indices=True)(autograd.tensor(x1))
    expected, expected_indices = TNN.MaxPool1d(2, return_indices=True)(torch.tensor(x1))
    np.testing.assert_array_equal(indices.data, expected_indices.numpy())
    np.testing.assert_array_equal(nn.MaxUnpool1d(2)(out, indices).data,
                                  TNN.MaxUnpool1d(2)(expected, expected_indices).numpy())
    assert repr(nn.MaxUnpool1d(2)) == repr(TNN.MaxUnpool1d(2))


@pytest.mark.parametrize("kwargs", [dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2, padding=1,
                                                                                  ceil_mode=True)])
def test_max_pool_of_integers_with_padding_matches_pytorch(kwargs):
    x = np.random.default_rng(8).integers(-5, 5, (2, 3, 7, 7))  # the padding is the dtype's minimum, not -inf
    ours = nn.functional.max_pool2d(autograd.tensor(x), **kwargs)
    theirs = torch.nn.functional.max_pool2d(torch.tensor(x), **kwargs)
    assert ours.dtype == np.int64
    np.testing.assert_array_equal(ours.data, theirs.numpy())


# ---------------------------------------------------------------------------------------------------------------
# Embedding: max_norm (in-place renormalisation), scale_grad_by_freq, from_pretrained
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_embedding_max_norm_matches_pytorch(norm_type, dtype):
    weights = (np.random.default_rng(7).standard_normal((6, 4)) * 2).astype(dtype)
    idx = np.array([[0, 2, 2], [5, 0, 1]])
    ours = nn.Embedding(6, 4, padding_idx=1, max_norm=1.5, norm_type=norm_type, _weight=nn.Parameter(weights))
    theirs = TNN.Embedding(6, 4, padding_idx=1, max_norm=1.5, norm_type=norm_type,
                           _weight=torch.tensor(weights.copy()))
    out, expected = ours(autograd.tensor(idx)), theirs(torch.tensor(idx))
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-6 if dtype == np.float32 else 1e-12)
    # the rows looked up were renormalised in the weight itself; rows 3 and 4 were not looked up
    np.testing.assert_allclose(ours.weight.data, theirs.weight.detach().numpy(),
                               rtol=1e-6 if dtype == np.float32 else 1e-12)
    np.testing.assert_array_equal(ours.weight.data[[3, 4]], weights[[3, 4]])
    assert repr(ours) == repr(theirs)
    w = np.random.default_rng(8).standard_normal(out.shape)
    (out * autograd.tensor(w.astype(dtype))).sum().backward()
    (expected * torch.tensor(w.astype(dtype))).sum().backward()
    np.testing.assert_allclose(ours.weight.grad.data, theirs.weight.grad.numpy(), rtol=1e-6)


def test_embedding_scale_grad_by_freq_and_from_pretrained_match_pytorch():
    weights = np.random.default_rng(9).standard_normal((5, 3))
    idx = np.array([[0, 2, 2, 4], [2, 0, 3, 3]])
    ours = nn.Embedding.from_pretrained(autograd.tensor(weights), freeze=False, padding_idx=3, max_norm=1.0,
                                        scale_grad_by_freq=True)
    theirs = TNN.Embedding.from_pretrained(torch.tensor(weights), freeze=False, padding_idx=3, max_norm=1.0,
                                           scale_grad_by_freq=True)
    assert repr(ours) == repr(theirs)
    out, expected = ours(autograd.tensor(idx)), theirs(torch.tensor(idx))
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12)
    w = np.random.default_rng(10).standard_normal(out.shape)
    (out * autograd.tensor(w)).sum().backward()
    (expected * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(ours.weight.grad.data, theirs.weight.grad.numpy(), rtol=1e-12)
    frozen = nn.Embedding.from_pretrained(autograd.tensor(weights))
    assert not frozen.weight.requires_grad and frozen.max_norm is None


# ---------------------------------------------------------------------------------------------------------------
# Forward hooks: the same registrations give the same calls, in the same order, with the same replacements
# ---------------------------------------------------------------------------------------------------------------
def test_forward_hooks_follow_pytorch_semantics():
    def run(lib, linear, x):
        layer, log = linear(2, 2), []

        def pre_a(module, args):
            log.append("pre_a")
            return args[0] * 2  # not a tuple: wrapped into one

        def pre_kw(module, args, kwargs):
            log.append(("pre_kw", sorted(kwargs)))

        def pre_first(module, args):
            log.append("pre_first")

        def post(module, args, output):
            log.append(("post", float(args[0].sum())))
            return output + 1

        def post_kw(module, args, kwargs, output):
            log.append(("post_kw", type(kwargs).__name__))

        def post_first(module, args, output):
            log.append("post_first")

        handles = [layer.register_forward_pre_hook(pre_a), layer.register_forward_pre_hook(pre_kw, with_kwargs=True),
                   layer.register_forward_pre_hook(pre_first, prepend=True), layer.register_forward_hook(post),
                   layer.register_forward_hook(post_kw, with_kwargs=True),
                   layer.register_forward_hook(post_first, prepend=True)]
        with lib.no_grad():
            layer.weight.copy_(lib.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=layer.weight.dtype))
            layer.bias.zero_()
        out = layer(x)
        handles[0].remove()
        with handles[3]:
            out_again = layer(x)
        plain = layer(x)
        return log, out.tolist(), out_again.tolist(), plain.tolist()

    ours = run(autograd, nn.Linear, autograd.tensor([1.0, 2.0]))
    theirs = run(torch, TNN.Linear, torch.tensor([1.0, 2.0]))
    assert ours == theirs
    assert ours[0][:6] == ["pre_first", "pre_a", ("pre_kw", []), "post_first", ("post", 6.0), ("post_kw", "dict")]
    assert ours[1:] == ([3.0, 5.0], [2.0, 3.0], [1.0, 2.0])
