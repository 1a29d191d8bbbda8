"""nn.data: datasets, mini-batch loading, feature scaling, augmentation, and small datasets to learn on.

    >>> X, y = nn.data.make_moons(500, noise=0.1, seed=0)
    >>> X_train, X_test, y_train, y_test = nn.data.train_test_split(X, y, test_size=0.2, seed=0)
    >>> scaler = nn.data.StandardScaler().fit(X_train)          # statistics of the training set only
    >>> train = nn.data.DataLoader(nn.data.TensorDataset(scaler.transform(X_train), y_train),
    ...                            batch_size=32, shuffle=True, seed=0)
    >>> for xb, yb in train: ...
"""

from __future__ import annotations

from . import transforms
from .dataloader import DataLoader, default_collate
from .dataset import Dataset, Subset, TensorDataset, random_split, train_test_split
from .datasets import load_digits, make_circles, make_moons, make_regression_1d, make_spirals, make_xor
from .preprocessing import MinMaxScaler, StandardScaler
from .sampler import (
    DistributedSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

__all__ = [
    "Dataset", "TensorDataset", "Subset", "random_split", "train_test_split", "DataLoader", "default_collate",
    "StandardScaler", "MinMaxScaler", "transforms", "Sampler", "DistributedSampler",
    "RandomSampler", "SequentialSampler", "SubsetRandomSampler", "WeightedRandomSampler",
    "make_xor", "make_moons", "make_circles", "make_spirals", "make_regression_1d", "load_digits",
]
