r"""Small datasets for learning, generated on the spot or shipped with the package (no network needed).

Generated (2-D classification unless noted; `seed` makes them reproducible, otherwise the global generator):
    make_xor        the four corners of the unit square, label x₁ XOR x₂ (not linearly separable)
    make_moons      two interleaving half circles
    make_circles    a circle inside another
    make_spirals    arms of a spiral, one per class
    make_regression_1d  t = sin(2πx) + noise on [0, 1] (Bishop's curve-fitting example)
Real:
    load_digits     1,797 handwritten digits, 8x8 grey levels 0..16, labels 0-9

Each returns `(X, y)` tensors: X float32 of shape (N, features), y int64 labels of shape (N,) (float32 targets
of shape (N, 1) for regression).

The digits are the test set of the "Optical Recognition of Handwritten Digits" data by E. Alpaydin and
C. Kaynak (Bogazici University, 1998), from the UCI Machine Learning Repository
(https://archive.ics.uci.edu/dataset/80), licensed CC BY 4.0; the same copy scikit-learn bundles as
`load_digits`. Each 8x8 image counts the on-pixels of 4x4 blocks of a 32x32 bitmap. Stored in `digits.npz`.
"""

from __future__ import annotations

import os

import numpy as np

from autograd import Tensor, from_numpy
from autograd.random import numpy_generator

__all__ = ["make_xor", "make_moons", "make_circles", "make_spirals", "make_regression_1d", "load_digits"]

_DIGITS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "digits.npz")


def _seeded_rng(seed: int | None) -> np.random.Generator:
    return np.random.default_rng(seed) if seed is not None else numpy_generator()


def _check_count(name: str, n_samples: int, minimum: int = 1) -> None:
    if int(n_samples) != n_samples or n_samples < minimum:
        raise ValueError(f"{name}: n_samples must be an integer >= {minimum}, got {n_samples!r}")


def _classification(name: str, X: np.ndarray, y: np.ndarray, noise: float, rng: np.random.Generator,
                    shuffle: bool) -> tuple[Tensor, Tensor]:
    if noise < 0:
        raise ValueError(f"{name}: noise must be >= 0, got {noise}")
    if noise:
        X = X + rng.normal(0.0, noise, X.shape)
    if shuffle:
        order = rng.permutation(len(X))
        X, y = X[order], y[order]
    return from_numpy(X.astype(np.float32)), from_numpy(y.astype(np.int64))


def make_xor(n_samples: int = 4, noise: float = 0.0, seed: int | None = None) -> tuple[Tensor, Tensor]:
    """The XOR problem: points at the corners (0,0), (0,1), (1,0), (1,1) with label x₁ XOR x₂.

    With the defaults, exactly the four corners in that order. More samples cycle through the corners,
    with Gaussian `noise` (std) added to the coordinates.

        >>> X, y = make_xor()
        >>> y.tolist()
        [0, 1, 1, 0]
    """
    _check_count("make_xor", n_samples)
    corners = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    X = corners[np.arange(n_samples) % 4]
    y = (X[:, 0] != X[:, 1]).astype(np.int64)
    return _classification("make_xor", X, y, noise, _seeded_rng(seed), shuffle=False)


def make_moons(n_samples: int = 100, noise: float = 0.0, seed: int | None = None,
               shuffle: bool = True) -> tuple[Tensor, Tensor]:
    """Two interleaving half circles (scikit-learn's construction): class 0 the upper arc of the unit circle,
    class 1 the lower arc shifted to (1, 0.5).

        >>> X, y = make_moons(200, noise=0.1, seed=0)
    """
    _check_count("make_moons", n_samples, 2)
    n_out = n_samples // 2
    n_in = n_samples - n_out
    t_out = np.linspace(0, np.pi, n_out)
    t_in = np.linspace(0, np.pi, n_in)
    X = np.concatenate([np.stack([np.cos(t_out), np.sin(t_out)], 1),
                        np.stack([1 - np.cos(t_in), 1 - np.sin(t_in) - 0.5], 1)])
    y = np.concatenate([np.zeros(n_out, np.int64), np.ones(n_in, np.int64)])
    return _classification("make_moons", X, y, noise, _seeded_rng(seed), shuffle)


def make_circles(n_samples: int = 100, factor: float = 0.5, noise: float = 0.0, seed: int | None = None,
                 shuffle: bool = True) -> tuple[Tensor, Tensor]:
    """Two concentric circles: class 0 of radius 1, class 1 of radius `factor` (< 1).

        >>> X, y = make_circles(200, factor=0.5, noise=0.05, seed=0)
    """
    _check_count("make_circles", n_samples, 2)
    if not 0 <= factor < 1:
        raise ValueError(f"make_circles: factor must be in [0, 1), got {factor}")
    n_out = n_samples // 2
    n_in = n_samples - n_out
    t_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    t_in = np.linspace(0, 2 * np.pi, n_in, endpoint=False)
    X = np.concatenate([np.stack([np.cos(t_out), np.sin(t_out)], 1),
                        factor * np.stack([np.cos(t_in), np.sin(t_in)], 1)])
    y = np.concatenate([np.zeros(n_out, np.int64), np.ones(n_in, np.int64)])
    return _classification("make_circles", X, y, noise, _seeded_rng(seed), shuffle)


def make_spirals(n_samples: int = 100, n_classes: int = 2, noise: float = 0.0, turns: float = 1.0,
                 seed: int | None = None, shuffle: bool = True) -> tuple[Tensor, Tensor]:
    """Interleaved spiral arms, one per class: arm k is r·(cos θ, sin θ) with r from 0 to 1 and
    θ = 2π·(turns·r + k / n_classes). A classic that a linear model cannot separate at all.

        >>> X, y = make_spirals(300, n_classes=3, noise=0.02, seed=0)
    """
    _check_count("make_spirals", n_samples, n_classes)
    if int(n_classes) != n_classes or n_classes < 2:
        raise ValueError(f"make_spirals: n_classes must be an integer >= 2, got {n_classes!r}")
    labels = np.arange(n_samples) % n_classes
    radius = np.empty(n_samples)
    for k in range(n_classes):  # each arm gets evenly spaced radii
        members = labels == k
        radius[members] = np.linspace(0.05, 1.0, members.sum())
    theta = 2 * np.pi * (turns * radius + labels / n_classes)
    X = radius[:, None] * np.stack([np.cos(theta), np.sin(theta)], 1)
    return _classification("make_spirals", X, labels.astype(np.int64), noise, _seeded_rng(seed), shuffle)


def make_regression_1d(n_samples: int = 100, noise: float = 0.1, seed: int | None = None
                       ) -> tuple[Tensor, Tensor]:
    """1-D regression: x uniform on [0, 1] (sorted), target t = sin(2πx) + Gaussian noise of std `noise`.

    Returns X of shape (N, 1) and t of shape (N, 1), both float32, ready for `nn.Linear(1, ...)` and `mse_loss`.

        >>> X, t = make_regression_1d(50, noise=0.2, seed=0)
    """
    _check_count("make_regression_1d", n_samples)
    if noise < 0:
        raise ValueError(f"make_regression_1d: noise must be >= 0, got {noise}")
    rng = _seeded_rng(seed)
    x = np.sort(rng.uniform(0.0, 1.0, n_samples))
    t = np.sin(2 * np.pi * x) + (rng.normal(0.0, noise, n_samples) if noise else 0.0)
    return from_numpy(x[:, None].astype(np.float32)), from_numpy(t[:, None].astype(np.float32))


def load_digits(flatten: bool = False) -> tuple[Tensor, Tensor]:
    """The 8x8 handwritten digits: X float32 of shape (1797, 1, 8, 8) (one channel, for convolutions) or
    (1797, 64) with `flatten=True`, grey levels 0..16 as they are (scale them yourself: that is the lesson);
    y int64 labels 0-9, about 180 of each.

    Data: E. Alpaydin and C. Kaynak, UCI Machine Learning Repository, CC BY 4.0 (see this module's docstring).

        >>> X, y = load_digits()
        >>> X.shape, y.shape
        ((1797, 1, 8, 8), (1797,))
    """
    with np.load(_DIGITS_FILE, allow_pickle=False) as f:
        images, labels = f["images"], f["labels"]
    X = images.astype(np.float32)
    X = X.reshape(len(X), 64) if flatten else X[:, None]
    return from_numpy(X), from_numpy(labels.astype(np.int64))
