"""DataLoader(num_workers=...) and torchvision-style image transforms (issue 20)."""

from __future__ import annotations

import multiprocessing
import os

import numpy as np
import pytest

import autograd
import nn
from nn.data import DataLoader, Dataset, TensorDataset
from nn.data.transforms import Compose, Normalize, RandomCrop, RandomHorizontalFlip, Resize, ToTensor


def _as_lists(loader: DataLoader) -> list:
    out = []
    for batch in loader:
        parts = batch if isinstance(batch, (tuple, list)) else (batch,)
        out.append(tuple(np.asarray(p).tolist() for p in parts))
    return out


class Squares(Dataset):
    """Samples (i, i^2) as numpy values, read one by one (the collate path)."""

    def __len__(self) -> int:
        return 23

    def __getitem__(self, i: int) -> tuple:
        return np.float32(i), i * i


class FailsAt(Dataset):
    def __len__(self) -> int:
        return 10

    def __getitem__(self, i: int) -> float:
        if i == 7:
            raise KeyError(f"sample {i} is missing")
        return float(i)


class WhoLoads(Dataset):
    """Each sample says which worker loaded it and the worker's first random draw."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> tuple:
        info = nn.data.get_worker_info()
        return (-1 if info is None else info.id), os.getpid()


def _init(worker_id: int) -> None:
    os.environ["LOADED_BY"] = str(worker_id)


class InitSeen(Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> int:
        return int(os.environ.get("LOADED_BY", "-1"))


@pytest.mark.parametrize("kwargs", [
    dict(batch_size=4, shuffle=True, seed=3),
    dict(batch_size=5, drop_last=True),
    dict(batch_size=None),
])
def test_two_workers_give_the_same_batches_as_none(kwargs: dict) -> None:
    for dataset in [Squares(), TensorDataset(np.arange(46, dtype=np.float32).reshape(23, 2), np.arange(23))]:
        if kwargs.get("batch_size", 1) is None and isinstance(dataset, TensorDataset):
            continue
        expected = _as_lists(DataLoader(dataset, **kwargs))
        assert _as_lists(DataLoader(dataset, num_workers=2, **kwargs)) == expected
        assert _as_lists(DataLoader(dataset, num_workers=2, prefetch_factor=1, pin_memory=True, **kwargs)) == expected
        assert len(expected) == len(DataLoader(dataset, **kwargs))


def test_every_epoch_reshuffles_the_same_way_with_workers() -> None:
    ds = TensorDataset(np.arange(12, dtype=np.float32), np.arange(12))
    plain, workers = (DataLoader(ds, batch_size=5, shuffle=True, seed=0, num_workers=n) for n in (0, 2))
    epochs = [_as_lists(plain) for _ in range(3)]
    assert epochs[0] != epochs[1]
    assert [_as_lists(workers) for _ in range(3)] == epochs


def test_a_worker_error_is_raised_with_its_traceback() -> None:
    with pytest.raises(KeyError) as info:
        list(DataLoader(FailsAt(), batch_size=2, num_workers=2))
    message = str(info.value)
    assert "Caught KeyError in DataLoader worker process 1" in message
    assert "sample 7 is missing" in message and "__getitem__" in message and "Traceback" in message
    assert multiprocessing.active_children() == []


def test_an_interrupted_loop_leaves_no_processes() -> None:
    loader = DataLoader(Squares(), batch_size=2, num_workers=2)
    for i, _ in enumerate(loader):
        if i == 1:
            break
    assert multiprocessing.active_children() == []
    it = iter(loader)
    next(it)
    children = multiprocessing.active_children()
    assert len(children) == 2
    it.close()  # what the interpreter does to a loop's iterator when an exception (e.g. Ctrl-C) leaves it
    assert multiprocessing.active_children() == []
    assert all(not c.is_alive() and c.exitcode is not None for c in children)  # reaped, no zombies


def test_workers_split_the_batches_and_know_who_they_are() -> None:
    batches = list(DataLoader(WhoLoads(), batch_size=2, num_workers=2))
    ids = [int(b[0][0]) for b in batches]
    assert ids == [0, 1, 0, 1]  # batch k goes to worker k % num_workers, as in PyTorch
    assert os.getpid() not in {int(p) for b in batches for p in np.asarray(b[1])}
    assert nn.data.get_worker_info() is None


def test_worker_init_fn_runs_in_each_worker() -> None:
    values = _as_lists(DataLoader(InitSeen(), batch_size=1, num_workers=2, worker_init_fn=_init))
    assert [v[0][0] for v in values] == [0, 1, 0, 1]


def test_persistent_workers_are_reused_across_epochs() -> None:
    loader = DataLoader(WhoLoads(), batch_size=4, num_workers=2, persistent_workers=True)
    first = {int(p) for b in loader for p in np.asarray(b[1])}
    second = {int(p) for b in loader for p in np.asarray(b[1])}
    assert first == second and len(first) == 2
    assert len(multiprocessing.active_children()) == 2
    loader._pool.shutdown()
    assert multiprocessing.active_children() == []


def test_random_augmentation_in_workers_is_reproducible_and_differs_between_workers() -> None:
    images = np.zeros((8, 1, 4, 4), np.float32)
    images[:, :, :, 0] = 1  # a bar on the left: a flip moves it to the right

    def run() -> list:
        autograd.manual_seed(5)
        ds = TensorDataset(images, np.arange(8), transform=RandomHorizontalFlip())
        return [xb.numpy()[:, 0, 0, 0].tolist() for xb, _ in DataLoader(ds, batch_size=4, num_workers=2)]

    a, b = run(), run()
    assert a == b
    assert a[0] != a[1]  # (the two workers do not repeat each other's draws, as forked generators would)


def test_loader_options_are_checked() -> None:
    ds = Squares()
    with pytest.raises(ValueError, match="prefetch_factor option could only be specified in multiprocessing"):
        DataLoader(ds, prefetch_factor=2)
    with pytest.raises(ValueError, match="persistent_workers option needs num_workers > 0"):
        DataLoader(ds, persistent_workers=True)
    with pytest.raises(ValueError, match="num_workers option should be a non-negative integer"):
        DataLoader(ds, num_workers=-1)


# ---------------------------------------------------------------------------------------------------------------
# image transforms
# ---------------------------------------------------------------------------------------------------------------
def test_to_tensor_and_normalize_on_a_uint8_batch_match_the_formula() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 5, 7, 3), dtype=np.uint8)  # N, H, W, C
    mean, std = (0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261)
    pipeline = Compose([ToTensor(), Normalize(mean, std)])
    expected = (images.transpose(0, 3, 1, 2) / 255.0 - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    one = pipeline(images[2])
    assert one.dtype == np.float32 and one.shape == (3, 5, 7)
    np.testing.assert_allclose(one.numpy(), expected[2], rtol=1e-6, atol=1e-6)
    batch = pipeline.batch(images)
    assert batch.shape == (6, 3, 5, 7)
    np.testing.assert_allclose(batch.numpy(), expected, rtol=1e-6, atol=1e-6)
    loader = DataLoader(TensorDataset(images, np.arange(6), transform=pipeline), batch_size=4, num_workers=2)
    np.testing.assert_allclose(next(iter(loader))[0].numpy(), expected[:4], rtol=1e-6, atol=1e-6)


def test_to_tensor_as_torchvision() -> None:
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert ToTensor()(gray).shape == (1, 3, 4)
    floats = np.full((2, 2, 3), 7.0, np.float64)  # not uint8: kept, only moved to CHW (torchvision)
    out = ToTensor()(floats)
    assert out.dtype == np.float64 and out.shape == (3, 2, 2) and float(out.numpy().max()) == 7.0
    with pytest.raises(TypeError, match="ToTensor: expected an image"):
        ToTensor()([1, 2])
    with pytest.raises(ValueError, match=r"ToTensor: expected an image of shape \(H, W\) or \(H, W, C\)"):
        ToTensor()(np.zeros((1, 2, 3, 4)))


def test_to_tensor_reads_pil_images() -> None:
    image_module = pytest.importorskip("PIL.Image")
    array = np.random.default_rng(1).integers(0, 256, (4, 6, 3), dtype=np.uint8)
    out = ToTensor()(image_module.fromarray(array))
    np.testing.assert_allclose(out.numpy(), array.transpose(2, 0, 1) / 255.0, rtol=1e-6)
    assert ToTensor()(image_module.fromarray(array[:, :, 0])).shape == (1, 4, 6)


def test_normalize_is_differentiable_and_checks_its_arguments() -> None:
    x = autograd.tensor(np.random.default_rng(2).random((2, 3, 3)), requires_grad=True)
    assert autograd.gradcheck(Normalize((0.1, 0.2), (0.5, 2.0)), (x,))
    with pytest.raises(ValueError, match="std evaluated to zero"):
        Normalize((0.5,), (0.0,))
    with pytest.raises(ValueError, match="mean has 3 and std 3 values, but the image has 2 channels"):
        Normalize((0.5,) * 3, (0.5,) * 3)(x)
    with pytest.raises(TypeError, match="expected a floating-point image, got dtype uint8"):
        Normalize(0.5, 0.5)(np.zeros((3, 2, 2), np.uint8))


def test_random_horizontal_flip() -> None:
    image = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    assert np.array_equal(RandomHorizontalFlip(p=1.0)(image), image[..., ::-1])
    assert RandomHorizontalFlip(p=0.0)(image) is image
    autograd.manual_seed(0)
    batch = RandomHorizontalFlip().batch(autograd.tensor(np.stack([image] * 64)))
    flipped = [bool(np.array_equal(b, image[..., ::-1])) for b in batch.numpy()]
    assert all(f or np.array_equal(b, image) for f, b in zip(flipped, batch.numpy()))
    assert 16 < sum(flipped) < 48
    with pytest.raises(ValueError, match=r"RandomHorizontalFlip: p must be a probability"):
        RandomHorizontalFlip(1.5)


@pytest.mark.parametrize("padding_mode", ["constant", "edge", "reflect", "symmetric"])
def test_random_crop_takes_a_window_of_the_padded_image(padding_mode: str) -> None:
    image = np.random.default_rng(3).random((3, 6, 5)).astype(np.float32)
    padded = np.pad(image, ((0, 0), (2, 2), (2, 2)),
                    **({"constant_values": 0.5} if padding_mode == "constant" else {"mode": padding_mode}))
    crop = RandomCrop((6, 5), padding=2, fill=0.5, padding_mode=padding_mode)
    autograd.manual_seed(1)
    windows = {(i, j) for i in range(5) for j in range(5)
               for out in [crop(image)] if np.array_equal(out, padded[:, i:i + 6, j:j + 5])}
    assert windows  # every output is one of the windows
    batch = crop.batch(np.stack([image] * 40))
    assert batch.shape == (40, 3, 6, 5)
    found = {(i, j) for b in batch for i in range(5) for j in range(5)
             if np.array_equal(b, padded[:, i:i + 6, j:j + 5])}
    assert len(found) > 5  # each sample draws its own window


def test_random_crop_arguments() -> None:
    image = np.zeros((1, 4, 4), np.float32)
    assert RandomCrop(6, pad_if_needed=True)(image).shape == (1, 6, 6)
    assert RandomCrop((2, 3), padding=(1, 2, 3, 4))(image).shape == (1, 2, 3)
    with pytest.raises(ValueError, match=r"crop size \(6, 6\) is larger than the \(padded\) image \(4, 4\)"):
        RandomCrop(6)(image)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        RandomCrop(2, padding_mode="wrap")


@pytest.mark.parametrize("size", [(4, 5), (18, 20), 6, (9, 26), (1, 1)])
def test_resize_matches_pytorch_bilinear(size: object) -> None:
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(4).standard_normal((2, 3, 9, 13)).astype(np.float32)
    out = Resize(size)(autograd.tensor(x))
    shape = size if isinstance(size, tuple) else (size, int(size * 13 / 9))
    expected = torch.nn.functional.interpolate(torch.tensor(x), size=shape, mode="bilinear", align_corners=False)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)


def test_resize_of_integer_images_rounds_back() -> None:
    image = np.array([[[0, 255], [255, 0]]], np.uint8)
    out = Resize((4, 4))(image)
    # pixel 1 reads the input at 1.5 * 2/4 - 0.5 = 0.25: rows 0.75 * (0, 255) + 0.25 * (255, 0) = (63.75, 191.25),
    # then columns 0.75 * 63.75 + 0.25 * 191.25 = 95.625, rounded to 96
    assert out.dtype == np.uint8 and out.shape == (1, 4, 4)
    assert out[0, 0].tolist() == [0, 64, 191, 255] and out[0, 1, 1] == 96
