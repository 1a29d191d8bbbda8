"""Issue 15's nn additions without PyTorch: first and second order gradients (float64, finite differences),
float32 kept, and errors that name the function and the values at fault."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import autograd as ag
import nn
import nn.functional as F

# values kept away from the kinks (-6, -3, -1, 0, 1, 3, 6) so that finite differences are exact enough
SMOOTH = np.array([-7.2, -5.1, -2.2, -0.7, -0.3, 0.4, 0.8, 1.6, 2.4, 4.2, 6.5])

GRADCHECKED: dict[str, tuple[Callable, list]] = {
    "hardtanh": (lambda x: F.hardtanh(x, -0.5, 2.0), [SMOOTH]),
    "relu6": (F.relu6, [SMOOTH]),
    "selu": (F.selu, [SMOOTH]),
    "celu": (lambda x: F.celu(x, 0.7), [SMOOTH]),
    "softsign": (F.softsign, [SMOOTH]),
    "hardsigmoid": (F.hardsigmoid, [SMOOTH]),
    "hardswish": (F.hardswish, [SMOOTH]),
    "mish": (F.mish, [SMOOTH]),
    "glu": (lambda x: F.glu(x, 0), [SMOOTH[:10].reshape(2, 5)]),
    "softmin": (lambda x: F.softmin(x, -1), [SMOOTH]),
    "tanhshrink": (F.tanhshrink, [SMOOTH]),
    "threshold": (lambda x: F.threshold(x, 0.1, 3.0), [SMOOTH]),
    "normalize": (lambda x: F.normalize(x, 3.0, 0), [SMOOTH[:9].reshape(3, 3)]),
    "cosine_similarity": (lambda x, y: F.cosine_similarity(x, y, -1), [SMOOTH[:8].reshape(2, 4),
                                                                        SMOOTH[3:].reshape(2, 4)]),
    "pairwise_distance": (lambda x, y: F.pairwise_distance(x, y, 1.5), [SMOOTH[:8].reshape(2, 4), SMOOTH[3:7]]),
    "pixel_shuffle": (lambda x: F.pixel_shuffle(x, 2), [np.linspace(-1, 1, 16).reshape(1, 4, 2, 2)]),
    "pixel_unshuffle": (lambda x: F.pixel_unshuffle(x, 2), [np.linspace(-1, 1, 16).reshape(1, 1, 4, 4)]),
    "conv_transpose1d": (lambda x, w, b: F.conv_transpose1d(x, w, b, stride=2, padding=1, output_padding=1,
                                                            groups=2, dilation=2),
                         [np.linspace(-1, 1, 12).reshape(1, 4, 3), np.linspace(-2, 1, 12).reshape(4, 1, 3),
                          np.array([0.5, -0.5])]),
    "conv_transpose2d": (lambda x, w: F.conv_transpose2d(x, w, stride=(2, 1), padding=(0, 1), output_padding=(1, 0)),
                         [np.linspace(-1, 1, 12).reshape(1, 2, 2, 3), np.linspace(-2, 1, 16).reshape(2, 2, 2, 2)]),
    "interpolate_nearest": (lambda x: F.interpolate(x, scale_factor=1.5), [np.linspace(-1, 1, 8).reshape(1, 2, 4)]),
    "interpolate_bilinear": (lambda x: F.interpolate(x, size=(3, 5), mode="bilinear"),
                             [np.linspace(-1, 1, 12).reshape(1, 1, 3, 4)]),
    "interpolate_trilinear": (lambda x: F.interpolate(x, scale_factor=(1.5, 0.7, 2), mode="trilinear",
                                                      align_corners=True),
                              [np.linspace(-1, 1, 12).reshape(1, 1, 2, 3, 2)]),
    "pad_negative": (lambda x: F.pad(x, (-1, 3, 2, -1), mode="reflect"), [np.linspace(-1, 1, 20).reshape(1, 4, 5)]),
}


@pytest.mark.parametrize("name", GRADCHECKED)
def test_first_and_second_order_gradients(name: str) -> None:
    fn, arrays = GRADCHECKED[name]
    inputs = [ag.tensor(a, dtype=ag.float64, requires_grad=True) for a in arrays]
    assert ag.gradcheck(fn, inputs)
    assert ag.gradgradcheck(fn, inputs)


@pytest.mark.parametrize("name", GRADCHECKED)
def test_float32_stays_float32(name: str) -> None:
    fn, arrays = GRADCHECKED[name]
    inputs = [ag.tensor(a, dtype=ag.float32, requires_grad=True) for a in arrays]
    out = fn(*inputs)
    assert out.dtype == np.float32
    out.sum().backward()
    assert all(x.grad.dtype == np.float32 for x in inputs)


def test_transposed_convolution_is_the_adjoint_of_convolution() -> None:
    # <conv(x), y> == <x, conv_transpose(y)> with the same weight: the definition of the transposed operator
    rng = np.random.default_rng(0)
    x, w = ag.tensor(rng.standard_normal((2, 4, 7, 6))), ag.tensor(rng.standard_normal((6, 2, 3, 2)))
    kw = dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)
    y = F.conv2d(x, w, **kw)
    z = ag.tensor(rng.standard_normal(y.shape))
    back = F.conv_transpose2d(z, w, output_padding=(0, 0), **kw)
    assert back.shape == x.shape
    np.testing.assert_allclose((y * z).sum().item(), (x * back).sum().item(), rtol=1e-10)


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: F.hardtanh(ag.ones(2), 1.0, 0.0), ValueError, r"hardtanh: min_val \(1.0\) must not be greater"),
    (lambda: F.celu(ag.ones(2), 0.0), ValueError, "celu: alpha must not be 0"),
    (lambda: F.glu(ag.ones(2, 3)), ValueError, r"glu: the halved dim must have an even size, but dim -1 has size 3"),
    (lambda: F.conv_transpose2d(ag.ones(1, 3, 2, 2), ag.ones(2, 1, 2, 2)), ValueError,
     "conv_transpose2d: the input of shape .* has 3 channels, but the weight .* expects 2"),
    (lambda: F.conv_transpose1d(ag.ones(1, 2, 2), ag.ones(2, 1, 2), stride=2, output_padding=2), ValueError,
     r"conv_transpose1d: output_padding \(2,\) must be smaller than either stride \(2,\) or dilation \(1,\)"),
    (lambda: F.conv_transpose1d(ag.ones(1, 2, 2), ag.ones(2, 1, 2), padding=2), ValueError, "too small"),
    (lambda: F.conv_transpose2d(ag.ones(1, 2, 2, 2), ag.ones(2, 1, 2)), ValueError, "the weight must have 4 dims"),
    (lambda: nn.ConvTranspose2d(3, 4, 2, groups=2), ValueError, r"ConvTranspose2d: in_channels \(3\)"),
    (lambda: nn.ConvTranspose1d(2, 2, 2, padding_mode="reflect"), ValueError, "only padding_mode='zeros'"),
    (lambda: nn.ConvTranspose1d(2, 2, 3, stride=2, padding=1)(ag.ones(1, 2, 4), output_size=(12,)), ValueError,
     "valid sizes range from 7 to 8"),
    (lambda: F.interpolate(ag.ones(1, 1, 4), size=2, scale_factor=2), ValueError, "exactly one of size and"),
    (lambda: F.interpolate(ag.ones(1, 1, 4), size=2, mode="bilinear"), ValueError, "mode 'bilinear' expects a 4-D"),
    (lambda: F.interpolate(ag.ones(1, 1, 4), size=2, align_corners=True), ValueError, "align_corners can only"),
    (lambda: F.interpolate(ag.ones(1, 1, 4), size=2, mode="bicubic"), NotImplementedError, "'bicubic' is not"),
    (lambda: F.interpolate(ag.ones(1, 1, 4), scale_factor=0.1), ValueError, r"output size \(0,\) must be positive"),
    (lambda: F.pixel_shuffle(ag.ones(1, 3, 2, 2), 2), ValueError, r"pixel_shuffle: expected \(\*, C \* 2\^2, H, W\)"),
    (lambda: F.pad(ag.ones(1, 4), (-3, -1), mode="reflect"), ValueError, "leaves nothing"),
    (lambda: F.pad(ag.ones(1, 4), (-2, 3), mode="circular"), ValueError, "circular padding"),
    (lambda: F.pad(ag.ones(1, 4), (1, 1), mode="typo"), NotImplementedError, "pad: mode must be"),
    (lambda: F.cosine_similarity(ag.ones(2, 3), ag.ones(4, 3)), ValueError, "cannot be broadcast"),
])
def test_bad_arguments_are_named(call: Callable, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call()


def test_conv_transpose_layers_shapes_and_output_size() -> None:
    up = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1)
    assert up.weight.shape == (8, 4, 3, 3) and up.bias.shape == (4,)
    assert up(ag.zeros(2, 8, 7, 7)).shape == (2, 4, 13, 13)
    assert up(ag.zeros(2, 8, 7, 7), output_size=(2, 4, 14, 14)).shape == (2, 4, 14, 14)
    assert up(ag.zeros(8, 7, 7)).shape == (4, 13, 13)  # unbatched
    assert nn.ConvTranspose1d(2, 6, 2, groups=2, bias=False)(ag.zeros(3, 2, 5)).shape == (3, 6, 6)
