"""Data augmentation: random transformations applied to training images each time they are read.

A model that sees every digit shifted by a pixel or turned by a few degrees learns that those changes do not
matter, a cheap way to get more data and less overfitting. Apply augmentations to the training set only:

    >>> augment = Compose([RandomShift(1), RandomRotation(10)])
    >>> train_set = TensorDataset(X_train, y_train, transform=augment)

A transform takes one sample, an image of shape (..., H, W) (e.g. (C, H, W)), as a tensor or an array, and
returns the same type and dtype. `transform.batch(x)` does a whole batch (N, ..., H, W) at once, with its own
random draw per sample (what `DataLoader` uses with a `TensorDataset`). The randomness comes from `seed` if
given, else from the global generator (`autograd.manual_seed`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autograd import Tensor, default_generator, from_numpy

__all__ = ["Transform", "Compose", "RandomShift", "RandomRotation", "AddGaussianNoise"]


class Transform:
    """Base class for random transforms. An image transform defines `_apply(images, rng)` on a float array of
    shape (N, M, H, W): N samples, each with M channels that share the sample's random draw."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def __call__(self, x: Any) -> Any:
        """Transform one sample of shape (..., H, W)."""
        return self._run(x, batched=False)

    def batch(self, x: Any) -> Any:
        """Transform a batch of shape (N, ..., H, W), each sample with its own random draw."""
        return self._run(x, batched=True)

    def _run(self, x: Any, batched: bool) -> Any:
        data = np.asarray(x)
        if data.dtype.kind != "f":
            raise TypeError(f"{type(self).__name__}: expected floating-point data, got dtype {data.dtype}; "
                            "convert it first (e.g. X.float())")
        out = self._transform(data, batched, self._rng or default_generator()).astype(data.dtype, copy=False)
        return from_numpy(out) if isinstance(x, Tensor) else out

    def _transform(self, data: np.ndarray, batched: bool, rng: np.random.Generator) -> np.ndarray:
        if data.ndim < (3 if batched else 2):
            expected = "a batch of images (N, ..., H, W)" if batched else "an image (..., H, W)"
            raise ValueError(f"{type(self).__name__}: expected {expected}, got shape {data.shape}")
        images = data if batched else data[None]
        n, h, w = images.shape[0], images.shape[-2], images.shape[-1]
        out = self._apply(images.reshape(n, -1, h, w), rng).reshape(images.shape)
        return out if batched else out[0]

    def _apply(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError


class Compose:
    """Apply transforms one after the other.

        >>> augment = Compose([RandomShift(1), RandomRotation(10)])
    """

    def __init__(self, transforms: Sequence[Callable]) -> None:
        self.transforms = list(transforms)

    def __call__(self, x: Any) -> Any:
        for t in self.transforms:
            x = t(x)
        return x

    def batch(self, x: Any) -> Any:
        for t in self.transforms:
            x = t.batch(x) if hasattr(t, "batch") else _per_sample(t, x)
        return x

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(repr(t) for t in self.transforms) + "])"


def _per_sample(transform: Callable, x: Any) -> Any:
    from autograd import stack
    samples = [transform(x[i]) for i in range(len(x))]
    return stack(samples) if isinstance(x, Tensor) else np.stack(samples)


class RandomShift(Transform):
    """Shift each image by a whole number of pixels, up to `max_shift` in each direction (drawn uniformly,
    independently for rows and columns); pixels shifted in are `fill`.

        >>> RandomShift(1)(image)     # moved by -1, 0 or +1 pixel vertically and horizontally
    """

    def __init__(self, max_shift: int = 1, fill: float = 0.0, seed: int | None = None) -> None:
        if int(max_shift) != max_shift or max_shift < 0:
            raise ValueError(f"RandomShift: max_shift must be a non-negative integer, got {max_shift!r}")
        super().__init__(seed)
        self.max_shift = int(max_shift)
        self.fill = fill

    def _apply(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        s = self.max_shift
        if s == 0:
            return images.copy()
        n, m, h, w = images.shape
        dy = rng.integers(-s, s + 1, n)
        dx = rng.integers(-s, s + 1, n)
        padded = np.pad(images, ((0, 0), (0, 0), (s, s), (s, s)), constant_values=self.fill)
        # output pixel (i, j) of sample k reads padded pixel (i + s - dy_k, j + s - dx_k)
        rows = np.arange(h)[None, :] + s - dy[:, None]  # (n, h)
        cols = np.arange(w)[None, :] + s - dx[:, None]  # (n, w)
        k = np.arange(n)[:, None, None, None]
        c = np.arange(m)[None, :, None, None]
        return padded[k, c, rows[:, None, :, None], cols[:, None, None, :]]

    def __repr__(self) -> str:
        return f"RandomShift(max_shift={self.max_shift}, fill={self.fill})"


class RandomRotation(Transform):
    """Rotate each image about its centre by an angle drawn uniformly from [-degrees, degrees] (positive:
    counter-clockwise), with bilinear interpolation; pixels that come from outside the image are `fill`.

        >>> RandomRotation(10)(image)
    """

    def __init__(self, degrees: float = 10.0, fill: float = 0.0, seed: int | None = None) -> None:
        if degrees < 0:
            raise ValueError(f"RandomRotation: degrees must be >= 0, got {degrees}")
        super().__init__(seed)
        self.degrees = float(degrees)
        self.fill = fill

    def _apply(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = images.shape[0]
        angles = np.deg2rad(rng.uniform(-self.degrees, self.degrees, n))
        return rotate(images, angles, self.fill)

    def __repr__(self) -> str:
        return f"RandomRotation(degrees={self.degrees}, fill={self.fill})"


def rotate(images: np.ndarray, angles: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """Rotate images (N, M, H, W) about their centres by `angles` (N,) radians, counter-clockwise as displayed
    (row 0 at the top, like `np.rot90`), bilinear, `fill` outside.

    Each output pixel p takes the value at R(−angle)·(p − centre) + centre in the input (inverse mapping,
    so every output pixel gets exactly one value), interpolated from the four surrounding pixels.
    """
    n, m, h, w = images.shape
    cy, cx = (h - 1) / 2, (w - 1) / 2
    ys, xs = np.meshgrid(np.arange(h) - cy, np.arange(w) - cx, indexing="ij")
    cos, sin = np.cos(angles)[:, None, None], np.sin(angles)[:, None, None]
    # rows grow downwards, so this inverse map turns the picture counter-clockwise for positive angles
    src_x = cos * xs - sin * ys + cx  # (n, h, w)
    src_y = sin * xs + cos * ys + cy
    x0, y0 = np.floor(src_x).astype(np.int64), np.floor(src_y).astype(np.int64)
    wx, wy = src_x - x0, src_y - y0
    pixels = images.transpose(0, 2, 3, 1)  # (n, h, w, m): gather whole pixels (all channels) at once
    k = np.arange(n)[:, None, None]
    out = np.zeros((n, h, w, m), dtype=np.float64)
    for oy, ox, weight in ((0, 0, (1 - wy) * (1 - wx)), (0, 1, (1 - wy) * wx),
                           (1, 0, wy * (1 - wx)), (1, 1, wy * wx)):
        yi, xi = y0 + oy, x0 + ox
        inside = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)
        values = pixels[k, np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)]
        values = np.where(inside[..., None], values, fill)
        out += weight[..., None] * values
    return out.transpose(0, 3, 1, 2)


class AddGaussianNoise(Transform):
    """Add independent Gaussian noise of standard deviation `std` to every value (input noise injection).
    Works on samples of any shape, not only images.

        >>> AddGaussianNoise(0.1)(image)
    """

    def __init__(self, std: float = 0.1, seed: int | None = None) -> None:
        if std < 0:
            raise ValueError(f"AddGaussianNoise: std must be >= 0, got {std}")
        super().__init__(seed)
        self.std = float(std)

    def _transform(self, data: np.ndarray, batched: bool, rng: np.random.Generator) -> np.ndarray:
        return data + rng.normal(0.0, self.std, data.shape)  # any shape: noise is independent per value

    def __repr__(self) -> str:
        return f"AddGaussianNoise(std={self.std})"
