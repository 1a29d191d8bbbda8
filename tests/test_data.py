"""nn.data: datasets, DataLoader, splits, scalers, augmentations and the bundled/generated datasets."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd
import nn
from nn.data import (
    DataLoader,
    Dataset,
    MinMaxScaler,
    StandardScaler,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
    train_test_split,
)
from nn.data import datasets as D
from nn.data import transforms as T


# --------------------------------------------------------------------------------------------------------------
# Datasets and the loader
# --------------------------------------------------------------------------------------------------------------
def indexed(n):
    """A dataset whose sample i is (i as a float32 row, label i): batches reveal which samples they hold."""
    return TensorDataset(np.arange(n, dtype=np.float32)[:, None], np.arange(n))


def test_tensor_dataset_indexing_and_length():
    X, y = np.arange(12, dtype=np.float32).reshape(6, 2), np.arange(6)
    ds = TensorDataset(autograd.tensor(X), y)
    assert len(ds) == 6
    x3, y3 = ds[3]
    np.testing.assert_array_equal(x3.data, [6, 7])
    assert y3.item() == 3 and y3.dtype == np.int64


def test_tensor_dataset_rejects_mismatched_sizes():
    with pytest.raises(ValueError, match=r"same size in their first dimension.*\(4, 2\), \(3,\)"):
        TensorDataset(np.zeros((4, 2)), np.zeros(3))


def test_dataset_base_class_says_what_to_define():
    with pytest.raises(NotImplementedError, match="__getitem__"):
        Dataset()[0]


@given(n=st.integers(1, 40), batch_size=st.integers(1, 12), shuffle=st.booleans(), drop_last=st.booleans())
def test_every_sample_exactly_once_per_epoch(n, batch_size, shuffle, drop_last):
    loader = DataLoader(indexed(n), batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, seed=1)
    for _ in range(2):
        batches = list(loader)
        assert len(batches) == len(loader)
        seen = np.concatenate([yb.data for _, yb in batches]) if batches else np.array([], dtype=np.int64)
        assert all(len(yb) == batch_size for _, yb in batches[:-1])
        if drop_last:
            assert len(seen) == (n // batch_size) * batch_size and len(set(seen)) == len(seen)
            assert all(len(yb) == batch_size for _, yb in batches)
        else:
            assert sorted(seen) == list(range(n))
        if not shuffle:
            assert list(seen) == list(range(len(seen)))
        for xb, yb in batches:  # inputs and targets stay paired
            np.testing.assert_array_equal(xb.data[:, 0], yb.data)


def test_len_counts_iterations_per_epoch():
    assert len(DataLoader(indexed(10), batch_size=3)) == 4
    assert len(DataLoader(indexed(10), batch_size=3, drop_last=True)) == 3
    assert len(DataLoader(indexed(10), batch_size=None)) == 10


def test_shuffles_are_reproducible_with_a_seed_and_differ_between_epochs():
    def epochs(loader, k=3):
        return [np.concatenate([yb.data for _, yb in loader]).tolist() for _ in range(k)]

    a = epochs(DataLoader(indexed(20), batch_size=4, shuffle=True, seed=7))
    b = epochs(DataLoader(indexed(20), batch_size=4, shuffle=True, seed=7))
    c = epochs(DataLoader(indexed(20), batch_size=4, shuffle=True, seed=8))
    assert a == b and a != c
    assert a[0] != a[1] != a[2]


def test_without_a_seed_the_global_generator_decides():
    loader = DataLoader(indexed(20), batch_size=5, shuffle=True)
    autograd.manual_seed(3)
    first = [yb.tolist() for _, yb in loader]
    autograd.manual_seed(3)
    again = [yb.tolist() for _, yb in loader]
    assert first == again


def test_batch_size_none_yields_samples():
    samples = list(DataLoader(indexed(3), batch_size=None))
    assert [s[1].item() for s in samples] == [0, 1, 2]


class Pairs(Dataset):
    """A plain Python dataset (no batch fast path): numpy inputs, int labels, float weights, names."""

    def __len__(self):
        return 5

    def __getitem__(self, i):
        return {"x": np.full(3, i, dtype=np.float32), "label": i, "weight": 0.5 * i, "name": f"s{i}"}


def test_collating_plain_python_samples():
    batch = next(iter(DataLoader(Pairs(), batch_size=4)))
    assert batch["x"].shape == (4, 3) and batch["x"].dtype == np.float32
    assert batch["label"].dtype == np.int64 and batch["label"].tolist() == [0, 1, 2, 3]
    assert batch["weight"].dtype == np.float64  # Python floats collate to float64, as in PyTorch
    assert batch["name"] == ["s0", "s1", "s2", "s3"]


def test_collate_tuples_tensors_and_errors():
    xb, yb = default_collate([(autograd.tensor([1.0, 2.0]), 1), (autograd.tensor([3.0, 4.0]), 0)])
    assert xb.shape == (2, 2) and yb.tolist() == [1, 0]
    with pytest.raises(RuntimeError, match="different shapes"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(TypeError, match="found object"):
        default_collate([object()])


def test_collate_fn_and_a_custom_dataset_through_the_loader():
    loader = DataLoader(Pairs(), batch_size=2, collate_fn=lambda samples: [s["label"] for s in samples])
    assert list(loader) == [[0, 1], [2, 3], [4]]


def test_loader_argument_errors():
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        DataLoader(indexed(3), batch_size=0)
    with pytest.raises(TypeError, match="__len__ and __getitem__"):
        DataLoader(object())


# --------------------------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------------------------
def test_random_split_partitions_the_dataset():
    parts = random_split(indexed(10), [0.33, 0.33, 0.34], seed=0)
    assert [len(p) for p in parts] == [4, 3, 3]  # floors 3,3,3 and the leftover sample goes to the first part
    labels = [int(p[i][1].item()) for p in parts for i in range(len(p))]
    assert sorted(labels) == list(range(10))
    with pytest.raises(ValueError, match="sum to 9"):
        random_split(indexed(10), [4, 5])


def test_random_split_fraction_sizes_match_pytorch():
    torch = pytest.importorskip("torch")
    for n, fractions in ((10, [0.33, 0.33, 0.34]), (7, [0.5, 0.5]), (101, [0.8, 0.1, 0.1])):
        ours = [len(p) for p in random_split(indexed(n), fractions, seed=0)]
        theirs = [len(p) for p in torch.utils.data.random_split(range(n), fractions)]
        assert ours == theirs


def test_subset_batches_through_the_loader():
    sub = Subset(indexed(10), [9, 2, 4])
    assert sub[0][1].item() == 9
    (_, yb), = list(DataLoader(sub, batch_size=3))
    assert yb.tolist() == [9, 2, 4]


def test_train_test_split_keeps_types_and_pairs():
    X, y = np.arange(20).reshape(10, 2).astype(np.float32), autograd.tensor(np.arange(10))
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, seed=0)
    assert isinstance(X_train, np.ndarray) and isinstance(y_train, autograd.Tensor)
    assert len(X_test) == 3 and len(X_train) == 7
    np.testing.assert_array_equal(X_train[:, 0] // 2, y_train.data)
    assert sorted(np.concatenate([y_train.data, y_test.data])) == list(range(10))


def test_stratified_split_keeps_class_proportions():
    y = np.array([0] * 60 + [1] * 30 + [2] * 10)
    _, y_test = train_test_split(y, test_size=0.2, seed=0, stratify=y)
    assert np.bincount(y_test).tolist() == [12, 6, 2]
    with pytest.raises(ValueError, match="same number of samples"):
        train_test_split(np.zeros(4), np.zeros(5))
    with pytest.raises(ValueError, match="both parts must be non-empty"):
        train_test_split(np.zeros(4), test_size=0.0)


# --------------------------------------------------------------------------------------------------------------
# Generated datasets and the digits
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [D.make_moons, D.make_circles, D.make_spirals])
def test_generated_classification_sets(make):
    X, y = make(101, noise=0.05, seed=0)
    assert X.shape == (101, 2) and X.dtype == np.float32 and y.dtype == np.int64
    assert set(y.tolist()) == {0, 1}
    X2, _ = make(101, noise=0.05, seed=0)
    np.testing.assert_array_equal(X.data, X2.data)
    assert not np.array_equal(X.data, make(101, noise=0.05, seed=1)[0].data)


def test_moons_and_circles_geometry_without_noise():
    X, y = D.make_moons(50, seed=0)
    X, y = X.data.astype(np.float64), y.data
    np.testing.assert_allclose(np.hypot(*X[y == 0].T), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.hypot(X[y == 1, 0] - 1, X[y == 1, 1] - 0.5), 1.0, rtol=1e-6)
    X, y = D.make_circles(40, factor=0.3, seed=0)
    radii = np.hypot(*X.data.astype(np.float64).T)
    np.testing.assert_allclose(radii[y.data == 0], 1.0, rtol=1e-6)
    np.testing.assert_allclose(radii[y.data == 1], 0.3, rtol=1e-6)


def test_spirals_have_one_arm_per_class():
    X, y = D.make_spirals(300, n_classes=3, seed=0)
    assert np.bincount(y.data).tolist() == [100, 100, 100]
    assert np.hypot(*X.data.T).max() <= 1.0 + 1e-6


def test_xor_and_regression():
    X, y = D.make_xor()
    assert X.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]] and y.tolist() == [0, 1, 1, 0]
    X, t = D.make_regression_1d(64, noise=0.0, seed=0)
    assert X.shape == (64, 1) and t.shape == (64, 1) and np.all(np.diff(X.data[:, 0]) >= 0)
    np.testing.assert_allclose(t.data, np.sin(2 * np.pi * X.data), atol=1e-6)
    with pytest.raises(ValueError, match="n_samples must be an integer >= 2"):
        D.make_moons(1)


def test_digits_are_complete_and_unchanged():
    X, y = D.load_digits()
    assert X.shape == (1797, 1, 8, 8) and X.dtype == np.float32 and y.dtype == np.int64
    assert np.bincount(y.data).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    images = X.data[:, 0]
    assert images.min() == 0 and images.max() == 16 and np.all(images == np.round(images))
    digest = hashlib.sha256(images.astype(np.uint8).tobytes() + y.data.astype(np.uint8).tobytes()).hexdigest()
    assert digest == "87ff0c9e40dc7e2c0e34e7257799c2e3f3aec1a016363bb11cad869ec428a826"
    flat, _ = D.load_digits(flatten=True)
    assert flat.shape == (1797, 64)
    np.testing.assert_array_equal(flat.data[5], images[5].ravel())


def test_digits_match_scikit_learn():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    ref = sklearn_datasets.load_digits()
    X, y = D.load_digits(flatten=True)
    np.testing.assert_array_equal(X.data, ref.data)
    np.testing.assert_array_equal(y.data, ref.target)


# --------------------------------------------------------------------------------------------------------------
# Scalers
# --------------------------------------------------------------------------------------------------------------
def test_standard_scaler_uses_training_statistics_only():
    train = np.array([[0.0, 10.0], [2.0, 10.0], [4.0, 10.0]])  # the second feature is constant
    test = np.array([[6.0, 12.0]])
    scaler = StandardScaler().fit(train)
    z = scaler.transform(train)
    np.testing.assert_allclose(z.mean(0), [0, 0], atol=1e-12)
    np.testing.assert_allclose(z[:, 0].std(), 1.0)
    np.testing.assert_allclose(scaler.transform(test), [[(6 - 2) / np.sqrt(8 / 3), 2.0]])  # std 0 -> scale 1
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(test)), test)


def test_standard_scaler_matches_scikit_learn():
    preprocessing = pytest.importorskip("sklearn.preprocessing")
    rng = np.random.default_rng(0)
    train, test = rng.normal(3, 2, (50, 4)), rng.normal(3, 2, (10, 4))
    train[:, 2] = 1.5
    ours, ref = StandardScaler().fit(train), preprocessing.StandardScaler().fit(train)
    np.testing.assert_allclose(ours.transform(test), ref.transform(test), rtol=1e-12)
    ours, ref = MinMaxScaler((-1, 1)).fit(train), preprocessing.MinMaxScaler((-1, 1)).fit(train)
    np.testing.assert_allclose(ours.transform(test), ref.transform(test), rtol=1e-12, atol=1e-12)


def test_scaler_dims_for_images():
    rng = np.random.default_rng(0)
    images = rng.normal(5, 3, (20, 3, 4, 4)).astype(np.float32)
    per_channel = StandardScaler(dim=(0, 2, 3)).fit(images)
    assert per_channel.mean_.shape == (1, 3, 1, 1) and per_channel.mean_.dtype == np.float32
    z = per_channel.transform(images)
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    whole = MinMaxScaler(dim=None).fit(images)
    scaled = whole.transform(images)
    assert scaled.min() == pytest.approx(0, abs=1e-6) and scaled.max() == pytest.approx(1, abs=1e-6)


def test_scalers_on_tensors_keep_the_graph_and_dtype():
    x = autograd.tensor(np.array([[1.0, 2.0], [3.0, 6.0]], dtype=np.float32), requires_grad=True)
    scaler = StandardScaler().fit(x)
    z = scaler.transform(x)
    assert isinstance(z, autograd.Tensor) and z.dtype == np.float32
    z.sum().backward()
    np.testing.assert_allclose(x.grad.data, 1 / scaler.scale_ * np.ones((2, 2)), rtol=1e-6)


def test_minmax_scaler_range_clip_and_constant_feature():
    train = np.array([[0.0, 5.0], [10.0, 5.0]])
    scaler = MinMaxScaler(feature_range=(0, 1)).fit(train)
    np.testing.assert_allclose(scaler.transform(np.array([[5.0, 5.0], [20.0, 5.0]])), [[0.5, 0.0], [2.0, 0.0]])
    clipped = MinMaxScaler(clip=True).fit(train).transform(np.array([[20.0, 5.0]]))
    np.testing.assert_allclose(clipped, [[1.0, 0.0]])
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(train)), train)


def test_scaler_errors():
    with pytest.raises(RuntimeError, match="not fitted yet"):
        StandardScaler().transform(np.zeros((2, 2)))
    scaler = StandardScaler().fit(np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"does not fit data of shape \(5, 4\)"):
        scaler.transform(np.zeros((5, 4)))
    with pytest.raises(ValueError, match="min < max"):
        MinMaxScaler(feature_range=(1, 0))
    with pytest.raises(ValueError, match="out of range"):
        StandardScaler(dim=2).fit(np.zeros((3, 2)))


# --------------------------------------------------------------------------------------------------------------
# Augmentations
# --------------------------------------------------------------------------------------------------------------
def shifted(image, dy, dx):
    """image moved down by dy and right by dx, zeros shifted in."""
    h, w = image.shape[-2:]
    out = np.zeros_like(image)
    out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        image[..., max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def test_random_shift_moves_each_sample_by_its_own_whole_pixels():
    rng = np.random.default_rng(0)
    batch = rng.random((64, 2, 5, 5)).astype(np.float32)
    out = T.RandomShift(2, seed=0).batch(batch)
    assert out.shape == batch.shape and out.dtype == np.float32
    shifts = set()
    for image, moved in zip(batch, out):
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                   if np.array_equal(moved, shifted(image, dy, dx))]
        assert matches, "each output must be its input shifted (channels together) by at most 2 pixels"
        shifts.add(matches[0])
    assert len(shifts) > 10  # independent draws per sample


def test_random_rotation_of_zero_degrees_is_the_identity_and_rotate_quarter_turn():
    image = np.random.default_rng(0).random((1, 6, 6))
    np.testing.assert_allclose(T.RandomRotation(0)(image), image, atol=1e-12)
    quarter = T.rotate(image[None], np.array([np.pi / 2]))[0]
    np.testing.assert_allclose(quarter, np.rot90(image, k=1, axes=(1, 2)), atol=1e-12)


def test_small_rotations_keep_the_image_content():
    X, _ = D.load_digits()
    images = X.data[:50] / 16
    rotated = T.RandomRotation(10, seed=0).batch(images)
    assert rotated.dtype == np.float32 and not np.array_equal(rotated, images)
    assert np.abs(rotated.sum(axis=(1, 2, 3)) / images.sum(axis=(1, 2, 3)) - 1).max() < 0.1


def test_tensors_in_tensors_out_and_seeded_transforms_repeat():
    x = autograd.tensor(np.random.default_rng(0).random((1, 8, 8)).astype(np.float32))
    a = T.Compose([T.RandomShift(1, seed=3), T.RandomRotation(15, seed=4)])(x)
    b = T.Compose([T.RandomShift(1, seed=3), T.RandomRotation(15, seed=4)])(x)
    assert isinstance(a, autograd.Tensor) and a.shape == (1, 8, 8)
    np.testing.assert_array_equal(a.data, b.data)


def test_gaussian_noise_transform_statistics():
    noisy = T.AddGaussianNoise(0.5, seed=0)(np.zeros(20000))
    assert abs(noisy.mean()) < 0.02 and noisy.std() == pytest.approx(0.5, rel=0.02)


def test_transform_errors():
    with pytest.raises(ValueError, match=r"expected an image \(\.\.\., H, W\)"):
        T.RandomShift(1)(np.zeros(5))
    with pytest.raises(TypeError, match="floating-point"):
        T.RandomShift(1)(np.zeros((4, 4), dtype=np.int64))
    with pytest.raises(ValueError, match="non-negative integer"):
        T.RandomShift(1.5)


def test_augmented_dataset_through_the_loader():
    X, y = D.load_digits()
    ds = TensorDataset(X[:32] / 16, y[:32], transform=T.RandomShift(1, seed=0))
    xb, yb = next(iter(DataLoader(ds, batch_size=32)))
    assert xb.shape == (32, 1, 8, 8) and yb.tolist() == y[:32].tolist()
    originals = X.data[:32] / 16
    for image, moved in zip(originals, xb.data):
        assert any(np.allclose(moved, shifted(image, dy, dx)) for dy in (-1, 0, 1) for dx in (-1, 0, 1))
    single, label = ds[0]
    assert single.shape == (1, 8, 8) and label.item() == y[0].item()


def test_scaled_digits_pipeline_end_to_end():
    X, y = D.load_digits()
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.2, seed=0, stratify=y)
    scaler = StandardScaler(dim=None).fit(X_train)
    loader = DataLoader(TensorDataset(scaler.transform(X_train), y_train), batch_size=64, shuffle=True, seed=0)
    total = sum(len(yb) for _, yb in loader)
    assert total == len(y_train) == 1437 and len(loader) == math.ceil(1437 / 64)
    assert abs(float(scaler.transform(X_test).data.mean())) < 0.1
    assert isinstance(nn.data.make_moons, type(D.make_moons))
