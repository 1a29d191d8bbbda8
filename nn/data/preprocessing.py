"""Feature scaling: z-score (`StandardScaler`) and min-max (`MinMaxScaler`) normalisation.

Fit a scaler on the training data only, then apply the same transformation to validation and test data:
statistics computed on the test set would leak information about it into training.

    >>> scaler = StandardScaler().fit(X_train)
    >>> X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

Statistics are taken over `dim` (default 0: one per feature, over the samples); `dim=None` takes one value
for the whole array (e.g. all pixels of grey-level images), `dim=(0, 2, 3)` one per channel of (N, C, H, W)
images. Tensors come back as tensors (the scaling is recorded if they require grad), arrays as arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autograd import Tensor

__all__ = ["StandardScaler", "MinMaxScaler"]

Dims = int | tuple[int, ...] | None


class _Scaler:
    """Shared bookkeeping: which axes are reduced, and checks that new data fits the fitted statistics."""

    _fitted_attrs: tuple[str, ...] = ()

    def __init__(self, dim: Dims) -> None:
        self.dim = dim
        self.n_samples_seen_: int | None = None

    def _axes(self, data: np.ndarray) -> tuple[int, ...]:
        if self.dim is None:
            return tuple(range(data.ndim))
        dims = (self.dim,) if isinstance(self.dim, int) else tuple(self.dim)
        axes = []
        for d in dims:
            if not -data.ndim <= d < data.ndim:
                raise ValueError(f"{type(self).__name__}: dim {d} is out of range for data of shape {data.shape}")
            axes.append(d % data.ndim)
        return tuple(sorted(set(axes)))

    def _fit_data(self, x: Any) -> tuple[np.ndarray, tuple[int, ...]]:
        data = np.asarray(x)
        if data.dtype.kind not in "fiub":
            raise TypeError(f"{type(self).__name__}.fit: expected numeric data, got dtype {data.dtype}")
        if data.size == 0:
            raise ValueError(f"{type(self).__name__}.fit: cannot fit on empty data of shape {data.shape}")
        axes = self._axes(data)
        self.n_samples_seen_ = int(np.prod([data.shape[a] for a in axes]))
        self._ndim = data.ndim
        self._kept = {a: data.shape[a] for a in range(data.ndim) if a not in axes}  # feature axes and sizes
        self._dtype = data.dtype if data.dtype.kind == "f" else np.dtype(np.float32)
        return data.astype(np.float64), axes

    def _check(self, x: Any, method: str) -> None:
        if self.n_samples_seen_ is None:
            raise RuntimeError(f"{type(self).__name__}.{method}: this scaler is not fitted yet; call "
                               "fit(training_data) first (and only on the training data)")
        shape = np.shape(x)
        stat_shape = getattr(self, self._fitted_attrs[0]).shape
        if len(shape) != self._ndim or any(shape[a] != n for a, n in self._kept.items()):
            raise ValueError(f"{type(self).__name__}.{method}: fitted on data with statistics of shape "
                             f"{stat_shape} (dim={self.dim}), which does not fit data of shape {shape}")

    def fit_transform(self, x: Any) -> Any:
        """`fit(x)` then `transform(x)`."""
        return self.fit(x).transform(x)

    def fit(self, x: Any) -> _Scaler:
        raise NotImplementedError


class StandardScaler(_Scaler):
    """Z-score normalisation: x' = (x − mean) / std, statistics from the training data.

    `std` is the population standard deviation (as scikit-learn); a constant feature (std 0) is left
    unscaled rather than divided by zero. After fitting: `mean_`, `scale_` (the std used), arrays shaped
    to broadcast against the data.

        >>> scaler = StandardScaler().fit(X_train)
        >>> Z = scaler.transform(X_test)          # X_test's mean and std are NOT used
        >>> X_back = scaler.inverse_transform(Z)
    """

    _fitted_attrs = ("mean_", "scale_")

    def __init__(self, dim: Dims = 0, with_mean: bool = True, with_std: bool = True) -> None:
        super().__init__(dim)
        self.with_mean = with_mean
        self.with_std = with_std

    def fit(self, x: Any) -> StandardScaler:
        """Compute the mean and standard deviation over `dim`."""
        data, axes = self._fit_data(x)
        mean = data.mean(axis=axes, keepdims=True)
        std = data.std(axis=axes, keepdims=True)
        std[std < 10 * np.finfo(np.float64).eps * np.maximum(1.0, np.abs(mean))] = 1.0  # constant feature
        self.mean_ = (mean if self.with_mean else np.zeros_like(mean)).astype(self._dtype)
        self.scale_ = (std if self.with_std else np.ones_like(std)).astype(self._dtype)
        self.var_ = (std ** 2).astype(self._dtype)
        return self

    def transform(self, x: Any) -> Any:
        """(x − mean_) / scale_"""
        self._check(x, "transform")
        if isinstance(x, Tensor):
            return (x - self.mean_) / self.scale_
        return (np.asarray(x) - self.mean_) / self.scale_

    def inverse_transform(self, z: Any) -> Any:
        """z · scale_ + mean_"""
        self._check(z, "inverse_transform")
        if isinstance(z, Tensor):
            return z * self.scale_ + self.mean_
        return np.asarray(z) * self.scale_ + self.mean_

    def __repr__(self) -> str:
        return f"StandardScaler(dim={self.dim})"


class MinMaxScaler(_Scaler):
    """Min-max normalisation to `feature_range` (default [0, 1]): x' = lo + (x − min)·(hi − lo)/(max − min).

    Values outside the training range map outside `feature_range` unless `clip=True`. A constant feature
    maps to `lo`. After fitting: `data_min_`, `data_max_`, `scale_`, `min_` (so that x' = x·scale_ + min_).

        >>> scaler = MinMaxScaler(feature_range=(-1, 1)).fit(X_train)
        >>> X_test = scaler.transform(X_test)
    """

    _fitted_attrs = ("scale_", "min_", "data_min_", "data_max_")

    def __init__(self, feature_range: tuple[float, float] = (0.0, 1.0), dim: Dims = 0, clip: bool = False) -> None:
        lo, hi = feature_range
        if not lo < hi:
            raise ValueError(f"MinMaxScaler: feature_range must be (min, max) with min < max, got {feature_range}")
        super().__init__(dim)
        self.feature_range = (float(lo), float(hi))
        self.clip = clip

    def fit(self, x: Any) -> MinMaxScaler:
        """Compute the minimum and maximum over `dim`."""
        data, axes = self._fit_data(x)
        lo, hi = self.feature_range
        data_min = data.min(axis=axes, keepdims=True)
        data_max = data.max(axis=axes, keepdims=True)
        span = data_max - data_min
        span[span == 0] = 1.0  # constant feature: map it to lo instead of dividing by zero
        scale = (hi - lo) / span
        self.data_min_ = data_min.astype(self._dtype)
        self.data_max_ = data_max.astype(self._dtype)
        self.scale_ = scale.astype(self._dtype)
        self.min_ = (lo - data_min * scale).astype(self._dtype)
        return self

    def transform(self, x: Any) -> Any:
        """x · scale_ + min_ (clipped to feature_range if `clip`)."""
        self._check(x, "transform")
        lo, hi = self.feature_range
        if isinstance(x, Tensor):
            out = x * self.scale_ + self.min_
            return out.clamp(lo, hi) if self.clip else out
        out = np.asarray(x) * self.scale_ + self.min_
        return np.clip(out, lo, hi) if self.clip else out

    def inverse_transform(self, z: Any) -> Any:
        """(z − min_) / scale_"""
        self._check(z, "inverse_transform")
        if isinstance(z, Tensor):
            return (z - self.min_) / self.scale_
        return (np.asarray(z) - self.min_) / self.scale_

    def __repr__(self) -> str:
        return f"MinMaxScaler(feature_range={self.feature_range}, dim={self.dim})"
