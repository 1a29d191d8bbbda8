"""Data augmentation: random transformations applied to training images each time they are read.

A model that sees every digit shifted by a pixel or turned by a few degrees learns that those changes do not
matter, a cheap way to get more data and less overfitting. Apply augmentations to the training set only:

    >>> augment = Compose([RandomShift(1), RandomRotation(10)])
    >>> train_set = TensorDataset(X_train, y_train, transform=augment)

A transform takes one sample, an image of shape (..., H, W) (e.g. (C, H, W)), as a tensor or an array, and
returns the same type and dtype. `transform.batch(x)` does a whole batch (N, ..., H, W) at once, with its own
random draw per sample (what `DataLoader` uses with a `TensorDataset`). The randomness comes from `seed` if
given, else from the global generator (`autograd.manual_seed`).

torchvision's image pipeline is here too, for PyTorch code: `ToTensor` (an HWC uint8 image, array or PIL, to a
float CHW tensor in [0, 1]), `Normalize(mean, std)`, `RandomHorizontalFlip(p)`, `RandomCrop(size, padding)` and
`Resize(size)`, composable with `Compose`:

    >>> train_tf = Compose([ToTensor(), RandomCrop(32, padding=4), RandomHorizontalFlip(),
    ...                     Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))])
    >>> train_set = TensorDataset(images_uint8_nhwc, labels, transform=train_tf)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autograd import Tensor, from_numpy
from autograd.random import numpy_generator

__all__ = ["Transform", "Compose", "RandomShift", "RandomRotation", "AddGaussianNoise", "ToTensor", "Normalize",
           "RandomHorizontalFlip", "RandomCrop", "Resize"]


class Transform:
    """Base class for random transforms. An image transform defines `_apply(images, rng)` on a float array of
    shape (N, M, H, W): N samples, each with M channels that share the sample's random draw."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self._seeded_rng = np.random.default_rng(seed) if seed is not None else None

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
        out = self._transform(data, batched, self._seeded_rng or numpy_generator()).astype(data.dtype, copy=False)
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


# ---------------------------------------------------------------------------------------------------------------
# torchvision's image pipeline: ToTensor, Normalize, RandomHorizontalFlip, RandomCrop, Resize
# ---------------------------------------------------------------------------------------------------------------
# These follow torchvision.transforms: ToTensor turns an HWC image (numpy array, PIL image, or a tensor holding
# one) into a float CHW tensor; the others take (..., C, H, W) tensors or arrays. Each also has `batch(x)` for
# a whole batch (N, ..., H, W) with its own random draw per sample, so a TensorDataset of images reads a batch
# with one call. Random draws come from the global generator (autograd.manual_seed; in DataLoader workers each
# worker's generator is seeded apart, see nn.data.worker).
def _as_image_array(x: Any, name: str) -> np.ndarray:
    if isinstance(x, Tensor):
        return np.asarray(x.data)
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "mode") and hasattr(x, "size") and hasattr(x, "getbands"):  # a PIL image (Pillow optional)
        return _pil_to_array(x)
    raise TypeError(f"{name}: expected an image as a numpy array, a tensor or a PIL image, got "
                    f"{type(x).__name__}")


def _pil_to_array(image: Any) -> np.ndarray:
    """HWC array of a PIL image; 1-bit images become uint8 0/255 (PIL's own mapping), as torchvision reads them."""
    if image.mode == "1":
        image = image.convert("L")
    a = np.asarray(image)
    return a[:, :, None] if a.ndim == 2 else a


def _wrap_like(x: Any, out: np.ndarray) -> Any:
    return out if isinstance(x, np.ndarray) else from_numpy(out)


class ToTensor:
    """An HWC image (H, W, C), or HW for one channel, to a float32 CHW tensor, as torchvision's `ToTensor`:
    uint8 values are divided by 255 (so [0, 255] becomes [0, 1]); other dtypes are kept, only moved to CHW;
    PIL images (when Pillow is installed) are read as uint8 arrays first.

        >>> ToTensor()(np.zeros((32, 32, 3), np.uint8)).shape
        (3, 32, 32)

    `batch(x)` turns a batch (N, H, W, C) into (N, C, H, W).
    """

    def __call__(self, pic: Any) -> Tensor:
        a = _as_image_array(pic, "ToTensor")
        if a.ndim == 2:
            a = a[:, :, None]
        if a.ndim != 3:
            raise ValueError(f"ToTensor: expected an image of shape (H, W) or (H, W, C), got shape {a.shape}")
        return from_numpy(self._convert(a.transpose(2, 0, 1)))

    def batch(self, x: Any) -> Tensor:
        a = _as_image_array(x, "ToTensor.batch")
        if a.ndim == 3:
            a = a[..., None]
        if a.ndim != 4:
            raise ValueError(f"ToTensor.batch: expected a batch of shape (N, H, W) or (N, H, W, C), got {a.shape}")
        return from_numpy(self._convert(a.transpose(0, 3, 1, 2)))

    @staticmethod
    def _convert(chw: np.ndarray) -> np.ndarray:
        if chw.dtype == np.uint8:
            return np.divide(chw, np.float32(255), dtype=np.float32)  # one pass: cast and scale together
        if chw.dtype == np.bool_:
            return chw.astype(np.float32)
        return np.ascontiguousarray(chw)

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize:
    """Per-channel standardisation of a (..., C, H, W) float tensor: out[c] = (x[c] - mean[c]) / std[c], as
    torchvision's `Normalize` (differentiable when the input requires grad).

        >>> Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))(ToTensor()(image))   # [0, 1] -> [-1, 1]
    """

    def __init__(self, mean: Sequence[float] | float, std: Sequence[float] | float, inplace: bool = False) -> None:
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float64))
        if self.mean.ndim != 1 or self.std.ndim != 1:
            raise ValueError(f"Normalize: mean and std must be numbers or sequences of numbers (one per channel), "
                             f"got shapes {self.mean.shape} and {self.std.shape}")
        if np.any(self.std == 0):
            raise ValueError(f"Normalize: std evaluated to zero after conversion to float, leading to division by "
                             f"zero (std={self.std.tolist()})")
        self.inplace = inplace  # (accepted; the result is always a new tensor)

    def __call__(self, x: Any) -> Any:
        return self._apply(x, "Normalize")

    def batch(self, x: Any) -> Any:
        return self._apply(x, "Normalize.batch")

    def _apply(self, x: Any, name: str) -> Any:
        data = x.data if isinstance(x, Tensor) else np.asarray(x)
        dtype = np.result_type(data)
        if dtype.kind != "f":
            raise TypeError(f"{name}: expected a floating-point image, got dtype {dtype}; convert it first "
                            "(ToTensor() turns uint8 images into floats in [0, 1])")
        if np.ndim(data) < 3:
            raise ValueError(f"{name}: expected an image of shape (..., C, H, W), got shape {np.shape(data)}")
        channels = np.shape(data)[-3]
        if len(self.mean) not in (1, channels) or len(self.std) not in (1, channels):
            raise ValueError(f"{name}: mean has {len(self.mean)} and std {len(self.std)} values, but the image "
                             f"has {channels} channels (shape {np.shape(data)})")
        mean = self.mean.astype(dtype)[:, None, None]
        std = self.std.astype(dtype)[:, None, None]
        return (x - mean) / std if isinstance(x, Tensor) else (data - mean) / std

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class RandomHorizontalFlip:
    """Mirror an image (..., H, W) left to right with probability `p`, as torchvision's `RandomHorizontalFlip`.

        >>> RandomHorizontalFlip()(image)       # flipped half of the time
    """

    def __init__(self, p: float = 0.5) -> None:
        if not 0 <= p <= 1:
            raise ValueError(f"RandomHorizontalFlip: p must be a probability in [0, 1], got {p}")
        self.p = float(p)

    def __call__(self, x: Any) -> Any:
        _image_dims(x, 2, "RandomHorizontalFlip")
        if numpy_generator().random() >= self.p:
            return x
        return x.flip(-1) if isinstance(x, Tensor) else np.flip(x, -1).copy()

    def batch(self, x: Any) -> Any:
        n = _image_dims(x, 3, "RandomHorizontalFlip.batch")[0]
        flip = (numpy_generator().random(n) < self.p).reshape((n,) + (1,) * (np.ndim(x) - 1))
        if isinstance(x, Tensor):
            from autograd import where
            return where(from_numpy(flip), x.flip(-1), x)
        return np.where(flip, np.flip(x, -1), x)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


def _image_dims(x: Any, minimum: int, name: str) -> tuple:
    shape = tuple(x.shape) if isinstance(x, Tensor) else np.shape(x)
    if len(shape) < minimum:
        expected = "a batch of images (N, ..., H, W)" if minimum == 3 else "an image (..., H, W)"
        raise ValueError(f"{name}: expected {expected}, got shape {shape}")
    return shape


def _pair(value: Any, name: str, what: str) -> tuple[int, int]:
    pair = (value, value) if np.ndim(value) == 0 else tuple(value)
    if len(pair) == 1:
        pair = (pair[0], pair[0])
    if len(pair) != 2 or any(int(v) != v or v <= 0 for v in pair):
        raise ValueError(f"{name}: {what} must be a positive integer or a pair (h, w) of them, got {value!r}")
    return int(pair[0]), int(pair[1])


class RandomCrop:
    """Crop a random `size` window (h, w), or (size, size), from an image (..., H, W), as torchvision's
    `RandomCrop`: `padding` first pads the borders (an int for all four, (left/right, top/bottom), or
    (left, top, right, bottom)) with `fill` (`padding_mode` 'constant', 'edge', 'reflect' or 'symmetric');
    `pad_if_needed` pads an image smaller than the window. The window's corner is uniform over the positions.

        >>> RandomCrop(32, padding=4)(image)   # CIFAR-10's augmentation: shifts of up to 4 pixels
    """

    _MODES = ("constant", "edge", "reflect", "symmetric")

    def __init__(self, size: int | Sequence[int], padding: int | Sequence[int] | None = None,
                 pad_if_needed: bool = False, fill: float = 0, padding_mode: str = "constant") -> None:
        self.size = _pair(size, "RandomCrop", "size")
        if padding is None:
            pad = (0, 0, 0, 0)
        else:
            p = (padding,) if np.ndim(padding) == 0 else tuple(padding)
            if len(p) not in (1, 2, 4) or any(int(v) != v or v < 0 for v in p):
                raise ValueError(f"RandomCrop: padding must be a non-negative int or a sequence of 1, 2 or 4 of "
                                 f"them, got {padding!r}")
            pad = tuple(int(v) for v in (p * 4 if len(p) == 1 else p * 2 if len(p) == 2 else p))
        self.padding = padding
        self._pad = pad  # left, top, right, bottom
        if padding_mode not in self._MODES:
            raise ValueError(f"RandomCrop: padding_mode must be one of {self._MODES}, got {padding_mode!r}")
        self.pad_if_needed, self.fill, self.padding_mode = pad_if_needed, fill, padding_mode

    def __call__(self, x: Any) -> Any:
        return self._crop(x, batched=False)

    def batch(self, x: Any) -> Any:
        return self._crop(x, batched=True)

    def _crop(self, x: Any, batched: bool) -> Any:
        name = "RandomCrop.batch" if batched else "RandomCrop"
        _image_dims(x, 3 if batched else 2, name)
        data = np.asarray(x.data if isinstance(x, Tensor) else x)
        images = data if batched else data[None]
        padded = self._padded(images)
        (th, tw), (h, w) = self.size, padded.shape[-2:]
        if h < th or w < tw:
            raise ValueError(f"{name}: the crop size {(th, tw)} is larger than the (padded) image {(h, w)}; "
                             "pass pad_if_needed=True or a smaller size")
        n = images.shape[0]
        rng = numpy_generator()
        top, left = rng.integers(0, h - th + 1, n), rng.integers(0, w - tw + 1, n)
        flat = padded.reshape(n, -1, h, w)
        rows = (top[:, None] + np.arange(th))[:, None, :, None]
        cols = (left[:, None] + np.arange(tw))[:, None, None, :]
        out = flat[np.arange(n)[:, None, None, None], np.arange(flat.shape[1])[None, :, None, None], rows, cols]
        out = out.reshape(images.shape[:-2] + (th, tw))
        return _wrap_like(x, out if batched else out[0])

    def _padded(self, images: np.ndarray) -> np.ndarray:
        left, top, right, bottom = self._pad
        h, w = images.shape[-2:]
        if self.pad_if_needed:  # (torchvision pads both sides of a short edge by the missing amount)
            extra_h = max(self.size[0] - (h + top + bottom), 0)
            extra_w = max(self.size[1] - (w + left + right), 0)
            top, bottom, left, right = top + extra_h, bottom + extra_h, left + extra_w, right + extra_w
        if not (left or top or right or bottom):
            return images
        widths = [(0, 0)] * (images.ndim - 2) + [(top, bottom), (left, right)]
        if self.padding_mode == "constant":
            return np.pad(images, widths, constant_values=self.fill)
        return np.pad(images, widths, mode=self.padding_mode)

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class Resize:
    """Resize an image (..., H, W) to `size` with bilinear interpolation, as torchvision's `Resize` with
    `antialias=False` (`F.interpolate(mode='bilinear', align_corners=False)`): an int `size` is the new shorter
    edge, the longer one keeps the aspect ratio (rounded down); a pair (h, w) is the exact shape. Integer images
    are rounded back to their dtype. (Without antialiasing, shrinking by more than 2x skips pixels.)

    Output pixel i reads the input at x = (i + 1/2) * in/out - 1/2 (clamped at 0), between its neighbours
    floor(x) and floor(x) + 1 with weights 1 - (x - floor(x)) and x - floor(x); rows, then columns.
    """

    def __init__(self, size: int | Sequence[int], antialias: bool | None = False) -> None:
        if np.ndim(size) == 0:
            if int(size) != size or size <= 0:
                raise ValueError(f"Resize: size must be a positive integer or a pair (h, w), got {size!r}")
            self.size: Any = int(size)
        else:
            self.size = _pair(size, "Resize", "size")
        if antialias:
            raise NotImplementedError("Resize: antialias=True is not implemented; this Resize interpolates "
                                      "bilinearly without antialiasing (pass antialias=False)")
        self.antialias = antialias

    def __call__(self, x: Any) -> Any:
        return self._resize(x, "Resize")

    def batch(self, x: Any) -> Any:
        return self._resize(x, "Resize.batch")

    def _resize(self, x: Any, name: str) -> Any:
        _image_dims(x, 2, name)
        data = np.asarray(x.data if isinstance(x, Tensor) else x)
        h, w = data.shape[-2:]
        out_h, out_w = self._output_size(h, w)
        work = data if data.dtype.kind == "f" else data.astype(np.float32)
        out = _linear_axis(_linear_axis(work, -2, out_h), -1, out_w)
        if data.dtype.kind in "iub":
            info = np.iinfo(data.dtype) if data.dtype.kind != "b" else None
            out = np.round(out)
            out = np.clip(out, info.min, info.max) if info is not None else out
        return _wrap_like(x, out.astype(data.dtype, copy=False))

    def _output_size(self, h: int, w: int) -> tuple[int, int]:
        if not isinstance(self.size, int):
            return self.size
        short, long = (h, w) if h <= w else (w, h)
        new_long = int(self.size * long / short)
        return (self.size, new_long) if h <= w else (new_long, self.size)

    def __repr__(self) -> str:
        return f"Resize(size={self.size}, antialias={self.antialias})"


def _linear_axis(a: np.ndarray, axis: int, out: int) -> np.ndarray:
    """Linear interpolation of `a` along `axis` to `out` samples, PyTorch's half-pixel rule (see Resize)."""
    n = a.shape[axis]
    if n == out:
        return a
    x = np.maximum((np.arange(out) + 0.5) * (n / out) - 0.5, 0.0)
    i0 = x.astype(np.int64)
    i1 = np.minimum(i0 + 1, n - 1)
    frac = (x - i0).astype(a.dtype)
    shape = [1] * a.ndim
    shape[axis] = out
    frac = frac.reshape(shape)
    return np.take(a, i0, axis) * (1 - frac) + np.take(a, i1, axis) * frac
