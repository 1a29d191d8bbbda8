"""Empty inputs: every nn layer, loss and functional op, and the autograd ops they are made of, on a batch of
size 0 (and on other size-0 dims where PyTorch allows them), forward and backward.

With PyTorch installed, each case runs in both libraries on the same values (modules get PyTorch's weights
through load_state_dict): the output's shape and values (a mean over nothing is nan, a sum 0) and every
gradient must agree. Without it, the case must still run forward and backward, with a gradient of each
input's shape. Two coverage tests keep the tables complete: a new layer, loss or functional op without an
empty-input case fails them.
"""

from __future__ import annotations

import inspect
import types
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import autograd as ag
import nn
import nn.functional as F


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


TORCH = _torch()
OURS = types.SimpleNamespace(lib=ag, F=F, nn=nn, tensor=ag.tensor)
THEIRS = types.SimpleNamespace(lib=TORCH, F=TORCH.nn.functional, nn=TORCH.nn, tensor=TORCH.tensor) if TORCH else None


def const(*shape: int) -> tuple:
    """A float input that does not require grad (PyTorch refuses gradients for class weights and the like)."""
    return ("const", shape)


def ints(*shape: int, high: int = 3) -> tuple:
    """An int64 input (class targets, embedding indices) with values in [0, high)."""
    return ("int", shape, high)


def _arrays(specs: list) -> list[tuple[np.ndarray, bool]]:
    """(array, requires_grad) per spec: float64 values in (0.1, 0.9) (valid probabilities, log-probabilities
    after a shift, anything else), integers in range."""
    rng = np.random.default_rng(0)
    out = []
    for spec in specs:
        if spec and spec[0] == "int":
            out.append((rng.integers(0, spec[2], spec[1]), False))
        elif spec and spec[0] == "const":
            out.append((rng.uniform(0.1, 0.9, spec[1]), False))
        else:
            out.append((rng.uniform(0.1, 0.9, spec), True))
    return out


def _outputs(out: Any) -> list:
    flat, stack = [], [out]
    while stack:
        item = stack.pop(0)
        if isinstance(item, (tuple, list)):
            stack[:0] = list(item)
        else:
            flat.append(item)
    return flat


def _run(m: Any, make: Callable, specs: list, module: Any = None) -> tuple[list, list, dict]:
    """Forward and backward of one case in one library: (outputs, input gradients, parameter gradients) as
    numpy arrays (None for a gradient that never arrived)."""
    tensors = [m.tensor(a, requires_grad=grad) for a, grad in _arrays(specs)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kl_div's 'mean', implicit softmax dims: not what is tested
        out = make(m, *tensors) if module is None else module(*tensors)
        outs = [o for o in _outputs(out) if o.dtype in (m.lib.float64, m.lib.float32)]
        differentiable = [o for o in outs if o.requires_grad]
        if differentiable:
            total = differentiable[0].sum()
            for o in differentiable[1:]:
                total = total + o.sum()
            total.backward()
    arrays = [np.asarray(o.detach().numpy() if m is THEIRS else o.data) for o in _outputs(out)]
    grads = [None if t.grad is None else np.asarray(t.grad.numpy() if m is THEIRS else t.grad.data)
             for t in tensors if t.requires_grad]
    params = {} if module is None else {
        name: None if p.grad is None else np.asarray(p.grad.numpy() if m is THEIRS else p.grad.data)
        for name, p in module.named_parameters()}
    return arrays, grads, params


def _same(ours: Any, theirs: Any, what: str) -> None:
    if theirs is None:  # PyTorch's gradient never arrived: ours is absent or zero
        assert ours is None or not np.any(ours), what
        return
    assert ours is not None, f"{what}: no gradient, PyTorch has one of shape {theirs.shape}"
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape}, PyTorch's {theirs.shape}"
    np.testing.assert_allclose(ours, theirs, rtol=1e-7, atol=1e-12, equal_nan=True, err_msg=what)


def _check(case: str, ours: tuple, theirs: tuple | None, specs: list) -> None:
    outputs, grads, params = ours
    if theirs is None:  # no PyTorch: the case ran; every gradient that arrived has its input's shape
        shapes = [a.shape for a, grad in _arrays(specs) if grad]
        assert all(g is None or g.shape == s for g, s in zip(grads, shapes)), case
        return
    their_outputs, their_grads, their_params = theirs
    assert len(outputs) == len(their_outputs), case
    for i, (o, t) in enumerate(zip(outputs, their_outputs)):
        assert o.shape == t.shape, f"{case}: output {i} has shape {o.shape}, PyTorch's {t.shape}"
        np.testing.assert_allclose(o, t, rtol=1e-7, atol=1e-12, equal_nan=True, err_msg=f"{case}: output {i}")
    for i, (g, t) in enumerate(zip(grads, their_grads)):
        _same(g, t, f"{case}: gradient of input {i}")
    for name, g in params.items():
        _same(g, their_params[name], f"{case}: gradient of {name}")


# ---------------------------------------------------------------------------------------------------------------
# Layers: name -> (constructor arguments, keyword arguments, input specs); the class is nn.<name> and, if PyTorch
# has it, torch.nn.<name>. Keys after '/' tell variants apart. Layers built from other layers give, instead of
# the arguments, a function of the nn package (ours or PyTorch's) that builds them.
# ---------------------------------------------------------------------------------------------------------------
def _pixel_shuffle_layer(nn_package: Any, r: int, up: bool) -> Any:
    """nn.PixelShuffle(r) (up) or nn.PixelUnshuffle(r). PyTorch 2.13's own fail in backward on an empty input
    (PixelShuffleBackward0 returns a gradient of the output's shape), so PyTorch's side is its reshapes and
    permutation written out."""
    if nn_package is nn:
        return nn.PixelShuffle(r) if up else nn.PixelUnshuffle(r)

    class Reference(TORCH.nn.Module):
        def forward(self, x: Any) -> Any:
            n, c, h, w = x.shape
            if up:
                return x.reshape(n, c // (r * r), r, r, h, w).permute(0, 1, 4, 2, 5, 3).reshape(
                    n, c // (r * r), h * r, w * r)
            return x.reshape(n, c, h // r, r, w // r, r).permute(0, 1, 3, 5, 2, 4).reshape(n, c * r * r, h // r,
                                                                                          w // r)
    return Reference()


LAYERS: dict[str, tuple[Any, dict, list]] = {
    "Linear": ((4, 3), {}, [(0, 4)]),
    "Linear/0-in-features": ((0, 3), {}, [(2, 0)]),
    "Linear/0-out-features": ((4, 0), {}, [(2, 4)]),
    "Linear/3d": ((4, 3), {}, [(2, 0, 4)]),
    "Bilinear": ((3, 4, 2), {}, [(0, 3), (0, 4)]),
    "Conv1d": ((1, 2, 3), {}, [(0, 1, 8)]),
    "Conv1d/strided-dilated-groups": ((4, 6, 3), {"stride": 2, "padding": 2, "dilation": 2, "groups": 2},
                                      [(0, 4, 9)]),
    "Conv2d": ((1, 2, 3), {}, [(0, 1, 8, 8)]),
    "Conv2d/long-rows": ((1, 2, 3), {"padding": 1}, [(0, 1, 8, 60)]),  # the NCHW layout
    "Conv2d/1x1": ((3, 2, 1), {}, [(0, 3, 8, 8)]),
    "Conv2d/groups": ((4, 2, 3), {"groups": 2}, [(0, 4, 8, 8)]),
    "Conv2d/same": ((2, 3, 3), {"padding": "same"}, [(0, 2, 5, 5)]),
    "Conv2d/reflect": ((1, 2, 3), {"padding": 1, "padding_mode": "reflect"}, [(0, 1, 8, 8)]),
    "Conv2d/circular": ((1, 2, 3), {"padding": 1, "padding_mode": "circular"}, [(0, 1, 8, 8)]),
    "MaxPool1d": ((2,), {}, [(0, 2, 8)]),
    "MaxPool2d": ((2,), {}, [(0, 2, 8, 8)]),
    "MaxPool2d/overlapping-ceil": ((3,), {"stride": 2, "padding": 1, "ceil_mode": True}, [(0, 2, 7, 7)]),
    "MaxPool2d/indices": ((2,), {"return_indices": True}, [(0, 2, 8, 8)]),
    "AvgPool1d": ((3,), {"stride": 2, "padding": 1}, [(0, 2, 7)]),
    "AvgPool2d": ((2,), {}, [(0, 2, 8, 8)]),
    "AvgPool2d/padding-excluded": ((3,), {"stride": 2, "padding": 1, "count_include_pad": False}, [(0, 2, 7, 7)]),
    "AdaptiveAvgPool1d": ((3,), {}, [(0, 2, 8)]),
    "AdaptiveAvgPool2d": (((3, 2),), {}, [(0, 2, 7, 8)]),
    "AdaptiveAvgPool2d/global": ((1,), {}, [(0, 2, 7, 8)]),
    "BatchNorm1d": ((3,), {}, [(0, 3)]),
    "BatchNorm1d/3d": ((3,), {}, [(0, 3, 5)]),
    "SyncBatchNorm": ((3,), {}, [(0, 3, 5)]),  # one process here: the statistics of this rank alone
    "BatchNorm2d": ((3,), {}, [(0, 3, 4, 4)]),
    "LayerNorm": ((4,), {}, [(0, 4)]),
    "LayerNorm/empty-middle": ((4,), {}, [(2, 0, 4)]),
    "Dropout": ((0.5,), {}, [(0, 4)]),
    "Embedding": ((5, 3), {}, [ints(0, high=5)]),
    "Embedding/2d-padding": ((5, 3), {"padding_idx": 0}, [ints(2, 0, high=5)]),
    "Flatten": ((), {}, [(0, 2, 3)]),
    "Unflatten": ((1, (2, 3)), {}, [(0, 6)]),
    "Identity": ((), {}, [(0, 6)]),
    "Maxout": ((3, 2, 4), {}, [(0, 3)]),
    "GaussianNoise": ((0.1,), {}, [(0, 3)]),
    "RNNCell": ((3, 4), {}, [(0, 3)]),
    "LSTMCell": ((3, 4), {}, [(0, 3)]),
    "GRUCell": ((3, 4), {}, [(0, 3)]),
    "RNN": ((3, 4), {}, [(5, 0, 3)]),
    "LSTM": ((3, 4), {"num_layers": 2}, [(5, 0, 3)]),
    "GRU": ((3, 4), {"batch_first": True, "bidirectional": True}, [(0, 5, 3)]),
    "ReLU": ((), {}, [(0, 4)]),
    "LeakyReLU": ((0.2,), {}, [(0, 4)]),
    "ELU": ((), {}, [(0, 4)]),
    "SiLU": ((), {}, [(0, 4)]),
    "GELU": ((), {}, [(0, 4)]),
    "Sigmoid": ((), {}, [(0, 4)]),
    "Tanh": ((), {}, [(0, 4)]),
    "Softplus": ((2.0,), {}, [(0, 4)]),
    "Softmax": ((1,), {}, [(0, 4)]),
    "Softmax/empty-dim": ((1,), {}, [(2, 0)]),
    "LogSoftmax": ((1,), {}, [(0, 4)]),
    "MaxUnpool1d": ((2,), {}, [(0, 2, 4), ints(0, 2, 4, high=1)]),
    "MaxUnpool2d": ((2,), {}, [(0, 2, 4, 4), ints(0, 2, 4, 4, high=1)]),
    # losses (the reductions of an empty batch: mean nan, sum 0, none empty)
    "MSELoss": ((), {}, [(0, 3), (0, 3)]),
    "MSELoss/sum": ((), {"reduction": "sum"}, [(0, 3), (0, 3)]),
    "MSELoss/none-empty-features": ((), {"reduction": "none"}, [(2, 0), (2, 0)]),
    "L1Loss": ((), {}, [(0, 3), (0, 3)]),
    "HuberLoss": ((), {"delta": 0.5}, [(0, 3), (0, 3)]),
    "SmoothL1Loss": ((), {"reduction": "sum"}, [(0, 3), (0, 3)]),
    "LogCoshLoss": ((), {}, [(0, 3), (0, 3)]),
    "BCELoss": ((), {}, [(0, 3), (0, 3)]),
    "BCELoss/weight": ((), {"weight": np.ones(3)}, [(0, 3), (0, 3)]),
    "BCEWithLogitsLoss": ((), {}, [(0, 3), (0, 3)]),
    "BCEWithLogitsLoss/pos-weight": ((), {"pos_weight": np.full(3, 2.0), "reduction": "sum"}, [(0, 3), (0, 3)]),
    "CrossEntropyLoss": ((), {}, [(0, 3), ints(0)]),
    "CrossEntropyLoss/sum": ((), {"reduction": "sum"}, [(0, 3), ints(0)]),
    "CrossEntropyLoss/none": ((), {"reduction": "none"}, [(0, 3), ints(0)]),
    "CrossEntropyLoss/weight-smoothing": ((), {"weight": np.array([1.0, 2.0, 0.5]), "label_smoothing": 0.1},
                                          [(0, 3), ints(0)]),
    "CrossEntropyLoss/probabilities": ((), {}, [(0, 3), (0, 3)]),
    "CrossEntropyLoss/empty-spatial": ((), {"reduction": "sum"}, [(2, 3, 0), ints(2, 0)]),
    "NLLLoss": ((), {}, [(0, 3), ints(0)]),
    "NLLLoss/weight-ignore": ((), {"weight": np.array([1.0, 2.0, 0.5]), "ignore_index": 1}, [(0, 3), ints(0)]),
    "KLDivLoss": ((), {"reduction": "batchmean"}, [(0, 3), (0, 3)]),
    "KLDivLoss/mean-log-target": ((), {"reduction": "mean", "log_target": True}, [(0, 3), (0, 3)]),
    "GaussianNLLLoss": ((), {}, [(0, 3), (0, 3), (0, 3)]),
    "GaussianNLLLoss/shared-variance": ((), {"full": True, "reduction": "sum"}, [(0, 3), (0, 3), (0, 1)]),
    # attention, transformers, graphs (dropout 0: the same numbers as PyTorch's)
    "MultiheadAttention": ((8, 2), {}, [(3, 0, 8), (4, 0, 8), (4, 0, 8)]),
    "MultiheadAttention/batch-first-kdim": ((8, 2), {"kdim": 5, "vdim": 6, "batch_first": True},
                                            [(0, 3, 8), (0, 4, 5), (0, 4, 6)]),
    "TransformerEncoderLayer": ((8, 2, 16), {"dropout": 0.0, "batch_first": True}, [(0, 5, 8)]),
    "TransformerDecoderLayer": ((8, 2, 16), {"dropout": 0.0, "norm_first": True}, [(4, 0, 8), (5, 0, 8)]),
    "TransformerEncoder": (lambda nn: nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0), 2,
                                                            enable_nested_tensor=False), {}, [(5, 0, 8)]),
    "TransformerDecoder": (lambda nn: nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0), 2),
                           {}, [(4, 0, 8), (5, 0, 8)]),
    "Transformer": (lambda nn: nn.Transformer(8, 2, 1, 1, 16, dropout=0.0), {}, [(5, 0, 8), (4, 0, 8)]),
    "PositionalEncoding": ((8,), {"batch_first": True}, [(0, 5, 8)]),
    "GCNConv": ((3, 2), {}, [(0, 3), ints(2, 0, high=1)]),
    "GCNConv/no-edges": ((3, 2), {}, [(4, 3), ints(2, 0, high=1)]),
    # issue 15: activations, transposed convolutions, distances, resampling
    "Hardtanh": ((-0.5, 0.5), {}, [(0, 4)]),
    "ReLU6": ((), {}, [(0, 4)]),
    "SELU": ((), {}, [(0, 4)]),
    "CELU": ((0.5,), {}, [(0, 4)]),
    "Softsign": ((), {}, [(0, 4)]),
    "Hardsigmoid": ((), {}, [(0, 4)]),
    "Hardswish": ((), {}, [(0, 4)]),
    "Mish": ((), {}, [(0, 4)]),
    "GLU": ((), {}, [(0, 4)]),
    "LogSigmoid": ((), {}, [(0, 4)]),
    "Softmin": ((1,), {}, [(0, 4)]),
    "Tanhshrink": ((), {}, [(0, 4)]),
    "Threshold": ((0.5, -1.0), {}, [(0, 4)]),
    "ConvTranspose1d": ((4, 6, 3), {"stride": 2, "padding": 1, "output_padding": 1, "groups": 2},
                        [(0, 4, 5)]),
    "ConvTranspose2d": ((2, 3, 3), {"stride": 2, "dilation": 2}, [(0, 2, 4, 3)]),
    "CosineSimilarity": ((), {}, [(0, 3), (0, 3)]),
    "PairwiseDistance": ((), {}, [(0, 3), (0, 3)]),
    "PixelShuffle": (lambda nn: _pixel_shuffle_layer(nn, 2, True), {}, [(0, 8, 2, 3)]),
    "PixelUnshuffle": (lambda nn: _pixel_shuffle_layer(nn, 2, False), {}, [(0, 2, 4, 2)]),
    "Upsample": ((), {"scale_factor": 2, "mode": "bilinear"}, [(0, 2, 3, 3)]),
    "UpsamplingNearest2d": ((), {"size": 5}, [(0, 2, 3, 3)]),
    "UpsamplingBilinear2d": ((), {"scale_factor": 2}, [(0, 2, 3, 3)]),
}


def _construct(m: Any, key: str) -> Any:
    name = key.split("/", maxsplit=1)[0]
    args, kwargs, _ = LAYERS[key]
    cls = getattr(m.nn, name, None)
    if cls is None:
        return None
    if callable(args):
        return args(m.nn)
    kwargs = {k: m.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    return cls(*args, **kwargs)


@pytest.mark.parametrize("key", sorted(LAYERS))
def test_layers_and_losses_on_an_empty_batch(key: str) -> None:
    specs = LAYERS[key][2]
    ours = _construct(OURS, key)
    theirs = _construct(THEIRS, key) if THEIRS else None
    if theirs is not None:
        theirs = theirs.double()
        ours = ours.double()
        ours.load_state_dict(theirs.state_dict())
    else:
        ours = ours.double()
    result = _run(OURS, None, specs, module=ours)
    reference = _run(THEIRS, None, specs, module=theirs) if theirs is not None else None
    _check(key, result, reference, specs)


# ---------------------------------------------------------------------------------------------------------------
# Functional ops and autograd ops: name -> (fn(m, *inputs), input specs), m the library's namespace
# ---------------------------------------------------------------------------------------------------------------
FUNCTIONS: dict[str, tuple[Callable, list]] = {
    "linear": (lambda m, x, w, b: m.F.linear(x, w, b), [(0, 4), (3, 4), (3,)]),
    "bilinear": (lambda m, a, b, w: m.F.bilinear(a, b, w), [(0, 3), (0, 4), (2, 3, 4)]),
    "conv1d": (lambda m, x, w, b: m.F.conv1d(x, w, b, stride=2, padding=1), [(0, 1, 8), (2, 1, 3), (2,)]),
    "conv2d": (lambda m, x, w: m.F.conv2d(x, w), [(0, 1, 8, 8), (2, 1, 3, 3)]),
    "conv2d/strided": (lambda m, x, w: m.F.conv2d(x, w, stride=2, padding=1), [(0, 1, 8, 8), (2, 1, 3, 3)]),
    "max_pool1d": (lambda m, x: m.F.max_pool1d(x, 2, 1, dilation=2), [(0, 2, 7)]),
    "max_pool2d": (lambda m, x: m.F.max_pool2d(x, 2), [(0, 1, 8, 8)]),
    "max_unpool1d": (lambda m, x: m.F.max_unpool1d(*m.F.max_pool1d(x, 2, return_indices=True), 2), [(0, 1, 4)]),
    "max_unpool2d": (lambda m, x: m.F.max_unpool2d(*m.F.max_pool2d(x, 2, return_indices=True), 2),
                     [(0, 1, 4, 4)]),
    "avg_pool1d": (lambda m, x: m.F.avg_pool1d(x, 3, 2, 1), [(0, 2, 7)]),
    "avg_pool2d": (lambda m, x: m.F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
                   [(0, 2, 7, 7)]),
    "adaptive_avg_pool1d": (lambda m, x: m.F.adaptive_avg_pool1d(x, 3), [(0, 2, 8)]),
    "adaptive_avg_pool2d": (lambda m, x: m.F.adaptive_avg_pool2d(x, (5, 9)), [(0, 2, 3, 4)]),
    "batch_norm": (lambda m, x, w, b: m.F.batch_norm(x, None, None, w, b, training=True), [(0, 3, 2), (3,), (3,)]),
    "batch_norm/eval": (lambda m, x, rm, rv: m.F.batch_norm(x, rm, rv), [(0, 3), const(3), const(3)]),
    "layer_norm": (lambda m, x, w, b: m.F.layer_norm(x, (3,), w, b), [(0, 3), (3,), (3,)]),
    "dropout": (lambda m, x: m.F.dropout(x, 0.5), [(0, 3)]),
    "embedding": (lambda m, i, w: m.F.embedding(i, w, max_norm=1.0), [ints(0, high=5), const(5, 3)]),
    "embedding/freq-padding": (lambda m, i, w: m.F.embedding(i, w, padding_idx=0, scale_grad_by_freq=True),
                               [ints(0, high=5), (5, 3)]),
    "one_hot": (lambda m, i: m.F.one_hot(i, 3), [ints(0)]),
    "pad": (lambda m, x: m.F.pad(x, (1, 1)), [(0, 2, 4)]),
    "pad/crop": (lambda m, x: m.F.pad(x, (-1, 1)), [(0, 2, 4)]),
    "pad/reflect": (lambda m, x: m.F.pad(x, (1, 1), mode="reflect"), [(0, 2, 4)]),
    "pad/replicate": (lambda m, x: m.F.pad(x, (1, 1), mode="replicate"), [(0, 2, 4)]),
    "pad/circular": (lambda m, x: m.F.pad(x, (1, 1, 1, 1), mode="circular"), [(0, 2, 4, 4)]),
    "relu": (lambda m, x: m.F.relu(x), [(0, 3)]),
    "leaky_relu": (lambda m, x: m.F.leaky_relu(x), [(0, 3)]),
    "elu": (lambda m, x: m.F.elu(x), [(0, 3)]),
    "silu": (lambda m, x: m.F.silu(x), [(0, 3)]),
    "gelu": (lambda m, x: m.F.gelu(x, approximate="tanh"), [(0, 3)]),
    "sigmoid": (lambda m, x: m.F.sigmoid(x), [(0, 3)]),
    "tanh": (lambda m, x: m.F.tanh(x), [(0, 3)]),
    "softplus": (lambda m, x: m.F.softplus(x, beta=2), [(0, 3)]),
    "logsigmoid": (lambda m, x: m.F.logsigmoid(x), [(0, 3)]),
    "softmax": (lambda m, x: m.F.softmax(x, dim=1), [(0, 3)]),
    "softmax/empty-dim": (lambda m, x: m.F.softmax(x, dim=1), [(3, 0)]),
    "log_softmax": (lambda m, x: m.F.log_softmax(x, dim=0), [(0, 3)]),
    "mse_loss": (lambda m, x, y: m.F.mse_loss(x, y), [(0, 3), (0, 3)]),
    "l1_loss": (lambda m, x, y: m.F.l1_loss(x, y, reduction="none"), [(2, 0), (2, 0)]),
    "huber_loss": (lambda m, x, y: m.F.huber_loss(x, y, reduction="none"), [(0, 3), (0, 3)]),
    "smooth_l1_loss": (lambda m, x, y: m.F.smooth_l1_loss(x, y), [(0, 3), (0, 3)]),
    "binary_cross_entropy": (lambda m, x, y: m.F.binary_cross_entropy(x, y, reduction="sum"), [(0, 3), (0, 3)]),
    "binary_cross_entropy_with_logits": (lambda m, x, y, w: m.F.binary_cross_entropy_with_logits(
        x, y, pos_weight=w), [(0, 3), (0, 3), const(3)]),
    "cross_entropy": (lambda m, x, t: m.F.cross_entropy(x, t), [(0, 3), ints(0)]),
    "cross_entropy/weight-ignore": (lambda m, x, t, w: m.F.cross_entropy(x, t, weight=w, ignore_index=1),
                                    [(0, 3), ints(0), const(3)]),
    "cross_entropy/probabilities-smoothing": (lambda m, x, t: m.F.cross_entropy(x, t, label_smoothing=0.2),
                                              [(0, 3), (0, 3)]),
    "nll_loss": (lambda m, x, t: m.F.nll_loss(x, t), [(0, 3), ints(0)]),
    "kl_div": (lambda m, x, t: m.F.kl_div(x, t, reduction="sum", log_target=True), [(0, 3), (0, 3)]),
    "gaussian_nll_loss": (lambda m, x, t, v: m.F.gaussian_nll_loss(x, t, v), [(0, 3), (0, 3), (0, 3)]),
    "scaled_dot_product_attention": (lambda m, q, k, v: m.F.scaled_dot_product_attention(q, k, v),
                                     [(0, 2, 3, 4), (0, 2, 5, 4), (0, 2, 5, 4)]),
    "scaled_dot_product_attention/no-queries": (lambda m, q, k, v: m.F.scaled_dot_product_attention(
        q, k, v, is_causal=True), [(1, 2, 0, 4), (1, 2, 5, 4), (1, 2, 5, 4)]),
    "scaled_dot_product_attention/no-keys": (lambda m, q, k, v: m.F.scaled_dot_product_attention(q, k, v),
                                             [(1, 2, 3, 4), (1, 2, 0, 4), (1, 2, 0, 4)]),
    "multi_head_attention_forward": (lambda m, q, k, v, w, b, wo, bo: m.F.multi_head_attention_forward(
        q, k, v, 8, 2, w, b, None, None, False, 0.0, wo, bo)[0],
        [(3, 0, 8), (4, 0, 8), (4, 0, 8), (24, 8), (24,), (8, 8), (8,)]),
    # autograd's operations
    "matmul/(0,8)@(8,0)": (lambda m, a, b: a @ b, [(0, 8), (8, 0)]),
    "matmul/(0,0)@(0,0)": (lambda m, a, b: a @ b, [(0, 0), (0, 0)]),
    "matmul/(3,0)@(0,4)": (lambda m, a, b: a @ b, [(3, 0), (0, 4)]),
    "matmul/(0,8)@(8,50000)": (lambda m, a, b: a @ b, [(0, 8), (8, 50000)]),  # blocked-product sizes
    "matmul/(8,1000)@(1000,0)": (lambda m, a, b: a @ b, [(8, 1000), (1000, 0)]),
    "matmul/batched": (lambda m, a, b: a @ b, [(2, 3, 0), (2, 0, 4)]),
    "matmul/vector": (lambda m, a, b: a @ b, [(0,), (0, 3)]),
    "dot": (lambda m, a, b: m.lib.dot(a, b), [(0,), (0,)]),
    "einsum": (lambda m, a, b: m.lib.einsum("ij,jk->ik", a, b), [(0, 3), (3, 2)]),
    "sum": (lambda m, x: x.sum(), [(0, 3)]),
    "mean": (lambda m, x: x.mean(), [(0, 3)]),
    "mean/dim": (lambda m, x: x.mean(0), [(0, 3)]),
    "var": (lambda m, x: x.var(0), [(0, 3)]),
    "std": (lambda m, x: x.std(), [(0, 3)]),
    "prod": (lambda m, x: x.prod(0), [(0, 3)]),
    "logsumexp": (lambda m, x: m.lib.logsumexp(x, 0), [(0, 3)]),
    "logsumexp/kept-empty": (lambda m, x: m.lib.logsumexp(x, 1), [(0, 3)]),
    "norm": (lambda m, x: x.norm(), [(0, 3)]),
    "norm/p3": (lambda m, x: x.norm(3), [(0, 3)]),
    "amax": (lambda m, x: x.amax(1), [(0, 3)]),
    "max/dim": (lambda m, x: x.max(1)[0], [(0, 3)]),
    "cat": (lambda m, x, y: m.lib.cat([x, y]), [(0, 3), (0, 3)]),
    "stack": (lambda m, x, y: m.lib.stack([x, y], 1), [(0, 3), (0, 3)]),
    "unbind": (lambda m, x: m.lib.stack(x.unbind(1)), [(0, 3)]),
    "split": (lambda m, x: x.split(1, 1)[0], [(0, 3)]),
    "gather": (lambda m, x, i: x.gather(1, i), [(0, 3), ints(0, 2)]),
    "where": (lambda m, x: m.lib.where(x > 0, x, x * 2), [(0, 3)]),
    "clamp": (lambda m, x: x.clamp(0.2, 0.6), [(0, 3)]),
    "repeat": (lambda m, x: x.repeat(2, 1), [(0, 3)]),
    "flip": (lambda m, x: x.flip(0), [(0, 3)]),
    "getitem": (lambda m, x: x[:, 1], [(0, 3)]),
    "getitem/mask": (lambda m, x: x[x > 0], [(0, 3)]),
    "reshape": (lambda m, x: x.reshape(3, 0), [(0, 3)]),
    "expand": (lambda m, x: x.expand(0, 3), [(1, 3)]),
    # issue 15: nn.functional
    "hardtanh": (lambda m, x: m.F.hardtanh(x, 0.2, 0.6), [(0, 3)]),
    "relu6": (lambda m, x: m.F.relu6(x), [(0, 3)]),
    "selu": (lambda m, x: m.F.selu(x), [(0, 3)]),
    "celu": (lambda m, x: m.F.celu(x, 2.0), [(0, 3)]),
    "softsign": (lambda m, x: m.F.softsign(x), [(0, 3)]),
    "hardsigmoid": (lambda m, x: m.F.hardsigmoid(x), [(0, 3)]),
    "hardswish": (lambda m, x: m.F.hardswish(x), [(0, 3)]),
    "mish": (lambda m, x: m.F.mish(x), [(0, 3)]),
    "glu": (lambda m, x: m.F.glu(x, 0), [(0, 3)]),
    "softmin": (lambda m, x: m.F.softmin(x, 1), [(0, 3)]),
    "tanhshrink": (lambda m, x: m.F.tanhshrink(x), [(0, 3)]),
    "threshold": (lambda m, x: m.F.threshold(x, 0.5, 2.0), [(0, 3)]),
    "conv_transpose1d": (lambda m, x, w, b: m.F.conv_transpose1d(x, w, b, stride=2, padding=1, output_padding=1),
                         [(0, 2, 4), (2, 3, 3), (3,)]),
    "conv_transpose2d": (lambda m, x, w: m.F.conv_transpose2d(x, w, groups=2, dilation=2), [(0, 4, 3, 3),
                                                                                              (4, 1, 2, 2)]),
    "normalize": (lambda m, x: m.F.normalize(x), [(0, 3)]),
    "normalize/empty-dim": (lambda m, x: m.F.normalize(x, dim=1), [(2, 0)]),
    "cosine_similarity": (lambda m, x, y: m.F.cosine_similarity(x, y), [(0, 3), (0, 3)]),
    "pairwise_distance": (lambda m, x, y: m.F.pairwise_distance(x, y), [(0, 3), (0, 3)]),
    "pixel_shuffle": (lambda m, x: _pixel_shuffle_layer(m.nn, 2, True)(x), [(0, 4, 2, 2)]),
    "pixel_unshuffle": (lambda m, x: _pixel_shuffle_layer(m.nn, 2, False)(x), [(0, 1, 2, 2)]),
    "interpolate": (lambda m, x: m.F.interpolate(x, scale_factor=2), [(0, 2, 3)]),
    "interpolate/bilinear": (lambda m, x: m.F.interpolate(x, size=(4, 5), mode="bilinear", align_corners=True),
                             [(0, 2, 3, 3)]),
    "pad/reflect-negative": (lambda m, x: m.F.pad(x, (-1, 2), mode="reflect"), [(0, 2, 4)]),
    # issue 15: autograd's structure ops
    "tril": (lambda m, x: x.tril(), [(0, 3)]),
    "triu": (lambda m, x: m.lib.triu(x, 1), [(2, 0, 3)]),
    "diagonal": (lambda m, x: x.diagonal(0, 1, 2), [(0, 3, 3)]),
    "diag_embed": (lambda m, x: m.lib.diag_embed(x), [(0, 3)]),
    "diag": (lambda m, x: m.lib.diag(x), [(0,)]),
    "trace": (lambda m, x: x.trace(), [(0, 3)]),
    "roll": (lambda m, x: x.roll(1, 1), [(0, 3)]),
    "rot90": (lambda m, x: x.rot90(), [(0, 3)]),
    "meshgrid": (lambda m, x, y: m.lib.meshgrid(x, y, indexing="ij"), [(0,), (3,)]),
    "repeat_interleave": (lambda m, x: x.repeat_interleave(2, dim=0), [(0, 3)]),
    "unflatten": (lambda m, x: x.unflatten(1, (3, 1)), [(0, 3)]),
    "movedim": (lambda m, x: x.movedim(0, 1), [(0, 3)]),
    "narrow": (lambda m, x: x.narrow(1, 1, 2), [(0, 3)]),
    "Tensor.unfold": (lambda m, x: x.unfold(1, 2, 1), [(0, 3)]),
    "tile": (lambda m, x: x.tile(2, 1), [(0, 3)]),
    "atleast_3d": (lambda m, x: m.lib.atleast_3d(x), [(0, 3)]),
    "outer": (lambda m, x, y: m.lib.outer(x, y), [(0,), (3,)]),
    "kron": (lambda m, x, y: m.lib.kron(x, y), [(0, 2), (2, 3)]),
    "cross": (lambda m, x, y: m.lib.cross(x, y, dim=1), [(0, 3), (0, 3)]),
}


@pytest.mark.parametrize("key", sorted(FUNCTIONS))
def test_functional_and_autograd_ops_on_empty_inputs(key: str) -> None:
    fn, specs = FUNCTIONS[key]
    result = _run(OURS, fn, specs)
    reference = _run(THEIRS, fn, specs) if THEIRS else None
    _check(key, result, reference, specs)


# ---------------------------------------------------------------------------------------------------------------
# The examples, coverage of the tables, and what stays an error
# ---------------------------------------------------------------------------------------------------------------
def test_the_reported_empty_inputs_work():
    assert nn.Conv2d(1, 2, 3)(ag.zeros(0, 1, 8, 8)).shape == (0, 2, 6, 6)
    assert nn.Conv1d(1, 2, 3)(ag.zeros(0, 1, 8)).shape == (0, 2, 6)
    assert (ag.zeros(0, 8) @ ag.zeros(8, 0)).shape == (0, 0)
    assert (ag.zeros(0, 0) @ ag.zeros(0, 0)).shape == (0, 0)
    conv = nn.Conv2d(1, 2, 3)
    conv(ag.zeros(0, 1, 8, 8, requires_grad=True)).sum().backward()
    np.testing.assert_array_equal(conv.weight.grad.data, np.zeros((2, 1, 3, 3)))


def test_batch_norm_leaves_the_running_statistics_alone_on_an_empty_batch():
    bn = nn.BatchNorm1d(3)
    bn.running_mean.data[:] = 0.5
    assert bn(ag.zeros(0, 3)).shape == (0, 3)
    np.testing.assert_array_equal(bn.running_mean.data, np.full(3, 0.5))
    np.testing.assert_array_equal(bn.running_var.data, np.ones(3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(ag.zeros(1, 3))  # one sample has no variance to normalise with: refused, as in PyTorch


@pytest.mark.parametrize("layer", [nn.RNN(3, 4), nn.LSTM(3, 4), nn.GRU(3, 4, batch_first=True)])
def test_an_empty_sequence_is_refused_naming_the_layer(layer):
    shape = (2, 0, 3) if layer.batch_first else (0, 2, 3)
    with pytest.raises(ValueError, match=rf"{type(layer).__name__}: .*sequence length L of at least 1"):
        layer(ag.zeros(*shape))


def test_every_layer_and_loss_has_an_empty_batch_case():
    classes = {obj for obj in vars(nn).values()
               if inspect.isclass(obj) and issubclass(obj, nn.Module) and obj.__module__.startswith("nn.")
               and obj not in (nn.Module, nn.Sequential, nn.ModuleList, nn.ModuleDict)}
    covered = {getattr(nn, key.split("/", maxsplit=1)[0]) for key in LAYERS}  # (an alias, Swish, is SiLU)
    assert {c.__name__ for c in classes - covered} == set(), "add these to LAYERS"


def test_every_functional_op_has_an_empty_input_case():
    covered = {key.split("/", maxsplit=1)[0] for key in FUNCTIONS}
    # swish is an alias, LogCoshLoss is in LAYERS, and an empty distribution has no Wasserstein distance (below)
    missing = set(F.__all__) - covered - {"swish", "log_cosh_loss", "wasserstein_distance"}
    assert missing == set(), "add these to FUNCTIONS"


def test_the_wasserstein_distance_of_an_empty_distribution_is_refused_as_scipy_does():
    with pytest.raises(ValueError, match="wasserstein_distance: a distribution cannot be empty"):
        F.wasserstein_distance(ag.zeros(0), ag.ones(3))
