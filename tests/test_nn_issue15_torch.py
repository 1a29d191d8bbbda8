"""Issue 15's nn.functional additions against PyTorch in float64: activations (also exactly at their kinks),
transposed convolutions over stride/padding/output_padding/groups/dilation with copied weights, interpolate,
distances, pixel shuffles, and F.pad's negative amounts. Values and gradients.

Skipped, not failed, when PyTorch is not installed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest

import autograd
import nn
import nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
TNN = torch.nn


def _check(ours: Callable, theirs: Callable, arrays: list, seed: int = 1, rtol: float = 1e-10,
           atol: float = 1e-12) -> None:
    """ours(*autograd tensors) and theirs(*torch tensors) on the same float64 arrays: the same values, and after
    backward through the same random weighting, the same gradients."""
    a = [autograd.tensor(x, requires_grad=True) for x in arrays]
    t = [torch.tensor(x, requires_grad=True) for x in arrays]
    out, expected = ours(*a), theirs(*t)
    assert out.shape == tuple(expected.shape), (out.shape, tuple(expected.shape))
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=rtol, atol=atol)
    w = np.random.default_rng(seed).standard_normal(out.shape)
    (out * autograd.tensor(w)).sum().backward()
    (expected * torch.tensor(w)).sum().backward()
    for x, y in zip(a, t):
        np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=rtol, atol=atol)


KINKS = np.array([-7.0, -6.0, -3.0, -2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0, 5.5, 6.0, 7.0, 30.0, -30.0])

ACTIVATIONS = {
    "hardtanh": (lambda x: F.hardtanh(x), lambda x: TF.hardtanh(x)),
    "hardtanh_bounds": (lambda x: F.hardtanh(x, -0.5, 2.0), lambda x: TF.hardtanh(x, -0.5, 2.0)),
    "relu6": (F.relu6, TF.relu6),
    "selu": (F.selu, TF.selu),
    "celu": (F.celu, TF.celu),
    "celu_alpha": (lambda x: F.celu(x, 0.5), lambda x: TF.celu(x, 0.5)),
    "softsign": (F.softsign, TF.softsign),
    "hardsigmoid": (F.hardsigmoid, TF.hardsigmoid),
    "hardswish": (F.hardswish, TF.hardswish),
    "mish": (F.mish, TF.mish),
    "logsigmoid": (F.logsigmoid, TF.logsigmoid),
    "tanhshrink": (F.tanhshrink, TF.tanhshrink),
    "threshold": (lambda x: F.threshold(x, 0.5, -2.0), lambda x: TF.threshold(x, 0.5, -2.0)),
    "softmin": (lambda x: F.softmin(x, 0), lambda x: TF.softmin(x, 0)),
    "glu": (lambda x: F.glu(x.reshape(4, 4), 0), lambda x: TF.glu(x.reshape(4, 4), 0)),
    "glu_last": (lambda x: F.glu(x.reshape(2, 8)), lambda x: TF.glu(x.reshape(2, 8))),
}


@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("values", ["kinks", "random"])
def test_activation_matches_pytorch(name: str, values: str) -> None:
    ours, theirs = ACTIVATIONS[name]
    x = KINKS if values == "kinks" else np.random.default_rng(0).standard_normal(16) * 4
    # PyTorch's hardsigmoid gradient multiplies by 1/6 rounded to float32 (`1.0f / 6.0f`) even in float64; ours
    # is the exact 1/6, so the two differ in the 8th digit
    _check(ours, theirs, [x], rtol=1e-7 if name == "hardsigmoid" else 1e-10)


MODULES = [
    (lambda: nn.Hardtanh(-2.0, 1.5), lambda: TNN.Hardtanh(-2.0, 1.5)),
    (lambda: nn.ReLU6(), lambda: TNN.ReLU6()),
    (lambda: nn.SELU(), lambda: TNN.SELU()),
    (lambda: nn.CELU(0.7), lambda: TNN.CELU(0.7)),
    (lambda: nn.Softsign(), lambda: TNN.Softsign()),
    (lambda: nn.Hardsigmoid(), lambda: TNN.Hardsigmoid()),
    (lambda: nn.Hardswish(), lambda: TNN.Hardswish()),
    (lambda: nn.Mish(), lambda: TNN.Mish()),
    (lambda: nn.GLU(1), lambda: TNN.GLU(1)),
    (lambda: nn.LogSigmoid(), lambda: TNN.LogSigmoid()),
    (lambda: nn.Softmin(1), lambda: TNN.Softmin(1)),
    (lambda: nn.Tanhshrink(), lambda: TNN.Tanhshrink()),
    (lambda: nn.Threshold(0.1, 20.0), lambda: TNN.Threshold(0.1, 20.0)),
    (lambda: nn.PixelShuffle(2), lambda: TNN.PixelShuffle(2)),
    (lambda: nn.PixelUnshuffle(2), lambda: TNN.PixelUnshuffle(2)),
    (lambda: nn.Upsample(scale_factor=2), lambda: TNN.Upsample(scale_factor=2)),
    (lambda: nn.Upsample(size=(3, 5), mode="bilinear", align_corners=True),
     lambda: TNN.Upsample(size=(3, 5), mode="bilinear", align_corners=True)),
    (lambda: nn.UpsamplingNearest2d(scale_factor=3), lambda: TNN.UpsamplingNearest2d(scale_factor=3)),
    (lambda: nn.UpsamplingBilinear2d(size=5), lambda: TNN.UpsamplingBilinear2d(size=5)),
]


@pytest.mark.parametrize("make", MODULES, ids=lambda m: repr(m[1]()))
def test_module_matches_pytorch_and_prints_the_same(make: tuple) -> None:
    ours, theirs = make[0](), make[1]()
    assert repr(ours) == repr(theirs)
    # PyTorch rounds hardsigmoid's 1/6 and celu's 1/alpha to float32 even in float64 (ours are exact)
    rough = isinstance(ours, (nn.Hardsigmoid, nn.CELU))
    _check(ours, theirs, [np.random.default_rng(0).standard_normal((2, 4, 4, 6)) * 3], rtol=1e-6 if rough else 1e-10)


@pytest.mark.parametrize("make", [(lambda: nn.CosineSimilarity(), lambda: TNN.CosineSimilarity()),
                                  (lambda: nn.CosineSimilarity(-1, 1e-3), lambda: TNN.CosineSimilarity(-1, 1e-3)),
                                  (lambda: nn.PairwiseDistance(), lambda: TNN.PairwiseDistance()),
                                  (lambda: nn.PairwiseDistance(1.0, keepdim=True),
                                   lambda: TNN.PairwiseDistance(1.0, keepdim=True))])
def test_distance_modules_match_pytorch(make: tuple) -> None:
    rng = np.random.default_rng(0)
    _check(make[0](), make[1](), [rng.standard_normal((3, 4)), rng.standard_normal((3, 4))])


# --- transposed convolutions: copied weights over stride, padding, output_padding, groups, dilation --------------
def _transposed_combinations() -> list:
    combos = []
    for nd, stride, padding, output_padding, groups, dilation, bias in itertools.product(
            (1, 2), (1, 2, 3), (0, 1, 2), (0, 1, 2), (1, 2), (1, 2), (True, False)):
        if output_padding >= max(stride, dilation) or (not bias and (padding, output_padding) != (1, 1)):
            continue
        combos.append((nd, stride, padding, output_padding, groups, dilation, bias))
    return combos


@pytest.mark.parametrize(("nd", "stride", "padding", "output_padding", "groups", "dilation", "bias"),
                         _transposed_combinations())
def test_conv_transpose_matches_pytorch(nd, stride, padding, output_padding, groups, dilation, bias) -> None:
    kernel = (3,) if nd == 1 else (3, 2)
    spatial = (5,) if nd == 1 else (4, 3)
    kw = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation,
              bias=bias)
    ours = getattr(nn, f"ConvTranspose{nd}d")(4, 6, kernel, **kw).double()
    theirs = getattr(TNN, f"ConvTranspose{nd}d")(4, 6, kernel, **kw).double()
    assert repr(ours) == repr(theirs)
    ours.load_state_dict(theirs.state_dict())
    x = np.random.default_rng(0).standard_normal((2, 4, *spatial))
    a, t = autograd.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    try:
        expected = theirs(t)
    except RuntimeError as err:  # an output size below 1: refused by both
        assert "too small" in str(err)
        with pytest.raises(ValueError, match="too small"):
            ours(a)
        return
    out = ours(a)
    assert out.shape == tuple(expected.shape)
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    w = np.random.default_rng(1).standard_normal(out.shape)
    (out * autograd.tensor(w)).sum().backward()
    (expected * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)
    their_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), their_params[name].grad.numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=name)


@pytest.mark.parametrize("nd", [1, 2])
def test_conv_transpose_functional_unbatched_and_output_size_match_pytorch(nd: int) -> None:
    rng = np.random.default_rng(0)
    kernel = (2,) * nd
    x, w, b = rng.standard_normal((3, *(4,) * nd)), rng.standard_normal((3, 2, *kernel)), rng.standard_normal(2)
    ours, theirs = getattr(F, f"conv_transpose{nd}d"), getattr(TF, f"conv_transpose{nd}d")
    _check(lambda *t: ours(*t, stride=2, padding=1, output_padding=1),
           lambda *t: theirs(*t, stride=2, padding=1, output_padding=1), [x, w, b])
    layer, their_layer = getattr(nn, f"ConvTranspose{nd}d")(3, 2, 3, stride=2, padding=1).double(), \
        getattr(TNN, f"ConvTranspose{nd}d")(3, 2, 3, stride=2, padding=1).double()
    layer.load_state_dict(their_layer.state_dict())
    size = (8,) * nd
    _check(lambda t: layer(t, output_size=size), lambda t: their_layer(t, output_size=size),
           [rng.standard_normal((1, 3, *(4,) * nd))])


def test_conv_transpose_default_initialisation_has_pytorch_bounds() -> None:
    layer = nn.ConvTranspose2d(4, 6, 3, groups=2)
    bound = 1 / np.sqrt(3 * 9)  # fan_in = out_channels / groups * kernel, PyTorch's for this layout
    assert layer.weight.shape == (4, 3, 3, 3) and np.abs(layer.weight.numpy()).max() <= bound
    assert np.abs(layer.bias.numpy()).max() <= bound and np.abs(layer.weight.numpy()).max() > bound / 2


# --- interpolate -------------------------------------------------------------------------------------------------
def _interpolate_cases() -> list:
    cases = []
    for shape, mode in [((2, 3, 5), "nearest"), ((2, 3, 5), "nearest-exact"), ((2, 3, 5), "linear"),
                        ((1, 2, 4, 5), "bilinear"), ((1, 2, 4, 5), "nearest"), ((1, 2, 4, 5), "nearest-exact"),
                        ((1, 1, 3, 4, 2), "trilinear"), ((1, 1, 3, 4, 2), "nearest"), ((1, 2, 4, 6), "area")]:
        nd = len(shape) - 2
        for kw in [dict(size=7), dict(size=3), dict(size=1), dict(size=tuple(range(2, 2 + nd))),
                   dict(scale_factor=2), dict(scale_factor=1.7), dict(scale_factor=0.6),
                   dict(scale_factor=2.5, recompute_scale_factor=True)]:
            for align_corners in ([None] if mode in ("nearest", "nearest-exact", "area") else [False, True]):
                cases.append((shape, dict(kw, mode=mode, align_corners=align_corners)))
    return cases


@pytest.mark.parametrize(("shape", "kwargs"), _interpolate_cases(), ids=str)
def test_interpolate_matches_pytorch(shape: tuple, kwargs: dict) -> None:
    x = np.random.default_rng(0).standard_normal(shape)
    _check(lambda t: F.interpolate(t, **kwargs), lambda t: TF.interpolate(t, **kwargs), [x])
    ours = F.interpolate(autograd.tensor(x.astype(np.float32)), **kwargs)  # float32 stays float32, PyTorch's weights
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours.numpy(), TF.interpolate(torch.tensor(x.astype(np.float32)), **kwargs).numpy(),
                               rtol=1e-6, atol=1e-6)


# --- distances, normalisation, pixel shuffles ----------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{}, {"p": 1.0, "dim": 0}, {"p": 3.0, "dim": -1}, {"eps": 10.0}])
def test_normalize_matches_pytorch(kwargs: dict) -> None:
    x = np.random.default_rng(0).standard_normal((3, 4))
    x[1] = 0.0  # a zero vector: the clamp at eps
    _check(lambda t: F.normalize(t, **kwargs), lambda t: TF.normalize(t, **kwargs), [x])


@pytest.mark.parametrize(("shapes", "kwargs"), [(((3, 4), (3, 4)), {}), (((2, 3, 4), (3, 1)), {"dim": 1}),
                                                (((5,), (5,)), {"dim": 0}), (((3, 4), (3, 4)), {"eps": 1.5})])
def test_cosine_similarity_matches_pytorch(shapes: tuple, kwargs: dict) -> None:
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal(s) for s in shapes)
    if a.ndim == 2:
        a[0] = 1e-9  # a norm below eps: floored in value, not in gradient (PyTorch clamps it under no_grad)
    _check(lambda x, y: F.cosine_similarity(x, y, **kwargs), lambda x, y: TF.cosine_similarity(x, y, **kwargs),
           [a, b])


@pytest.mark.parametrize(("shapes", "kwargs"), [(((3, 4), (3, 4)), {}), (((3, 4), (4,)), {"p": 1.0}),
                                                (((2, 3, 4), (3, 4)), {"p": 3.0, "keepdim": True}),
                                                (((4,), (4,)), {"p": float("inf")}), (((3, 4), (3, 4)), {"eps": 0.0})])
def test_pairwise_distance_matches_pytorch(shapes: tuple, kwargs: dict) -> None:
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal(s) for s in shapes)
    _check(lambda x, y: F.pairwise_distance(x, y, **kwargs), lambda x, y: TF.pairwise_distance(x, y, **kwargs),
           [a, b])


@pytest.mark.parametrize(("shape", "r"), [((2, 8, 3, 2), 2), ((9, 2, 2), 3), ((1, 2, 4, 3, 1), 1)])
def test_pixel_shuffle_and_unshuffle_match_pytorch(shape: tuple, r: int) -> None:
    x = np.random.default_rng(0).standard_normal(shape)
    _check(lambda t: F.pixel_shuffle(t, r), lambda t: TF.pixel_shuffle(t, r), [x])
    shuffled = TF.pixel_shuffle(torch.tensor(x), r).numpy()
    _check(lambda t: F.pixel_unshuffle(t, r), lambda t: TF.pixel_unshuffle(t, r), [shuffled])


# --- F.pad: negative amounts in the copying modes ----------------------------------------------------------------
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("pad", [(-1, 2), (2, -1), (-2, -1), (-1, -1), (3, -2), (5, -1), (-1, 5), (-6, 1),
                                 (-1, 1, 1, -1), (0, 0, -2, 2)])
def test_pad_with_negative_amounts_matches_pytorch(mode: str, pad: tuple) -> None:
    x = np.random.default_rng(0).standard_normal((1, 2, 3, 6) if len(pad) == 4 else (2, 3, 6))
    try:
        TF.pad(torch.tensor(x), pad, mode=mode)
    except RuntimeError:
        with pytest.raises(ValueError, match="pad: "):
            F.pad(autograd.tensor(x), pad, mode=mode)
        return
    sizes = x.shape[::-1]  # the dims pad's pairs name, last dim first
    if mode == "circular" and any(max(a, b) > n + min(a, 0) + min(b, 0)
                                  for a, b, n in zip(pad[::2], pad[1::2], sizes)):
        # wrapping around more than what the crop leaves: PyTorch returns memory it never wrote (or the input
        # shifted), without an error; ours refuses
        with pytest.raises(ValueError, match="pad: circular padding"):
            F.pad(autograd.tensor(x), pad, mode=mode)
        return
    _check(lambda t: F.pad(t, pad, mode=mode), lambda t: TF.pad(t, pad, mode=mode), [x])
