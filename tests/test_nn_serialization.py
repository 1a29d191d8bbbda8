"""nn.save / nn.load: round trips of state dicts and nested optimiser-like state, the safetensors layout,
and clear refusals of pickle, truncated and corrupted files."""

from __future__ import annotations

import json
import math
import pickle
import struct
import zipfile

import numpy as np
import pytest

import autograd
import nn


def test_model_state_dict_round_trip(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    model(autograd.randn(2, 1, 3, 3))  # update the running statistics
    path = tmp_path / "model.safetensors"
    nn.save(model.state_dict(), path)
    loaded = nn.load(path)
    assert list(loaded) == list(model.state_dict())
    for key, value in model.state_dict().items():
        assert isinstance(loaded[key], autograd.Tensor)
        assert loaded[key].dtype == value.dtype and loaded[key].shape == value.shape
        np.testing.assert_array_equal(loaded[key].data, value.data)
    other = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    other.load_state_dict(loaded)
    x = autograd.randn(3, 1, 3, 3)
    model.eval()
    other.eval()
    np.testing.assert_array_equal(model(x).data, other(x).data)
    loaded["3.weight"].data[...] = 0  # loaded tensors own writable memory
    assert loaded["1.num_batches_tracked"].item() == 1


def test_nested_optimiser_state_round_trip(tmp_path):
    state = {
        "state": {0: {"step": 3, "exp_avg": autograd.randn(2, 3), "exp_avg_sq": np.ones((2, 3), np.float64)},
                  1: {"step": np.float32(2.5), "momentum_buffer": None}},
        "param_groups": [{"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0, "amsgrad": False,
                          "params": [0, 1], "name": "all", "maximize": False, "capturable": None}],
        "extras": [float("nan"), float("inf"), -float("inf"), [], (), {}, -7, 2 ** 40, "ünïcode"],
    }
    path = tmp_path / "optim.safetensors"
    nn.save(state, path)
    loaded = nn.load(path)
    assert set(loaded) == {"state", "param_groups", "extras"}
    assert list(loaded["state"]) == [0, 1]  # int keys stay ints
    s0 = loaded["state"][0]
    assert s0["step"] == 3 and isinstance(s0["step"], int)
    np.testing.assert_array_equal(s0["exp_avg"].data, state["state"][0]["exp_avg"].data)
    assert isinstance(s0["exp_avg"], autograd.Tensor) and s0["exp_avg"].dtype == np.float32
    assert isinstance(s0["exp_avg_sq"], np.ndarray) and s0["exp_avg_sq"].dtype == np.float64
    assert loaded["state"][1]["step"] == np.float32(2.5) and isinstance(loaded["state"][1]["step"], np.float32)
    assert loaded["state"][1]["momentum_buffer"] is None
    group = loaded["param_groups"][0]
    assert group == {k: v for k, v in state["param_groups"][0].items()}
    assert isinstance(group["betas"], tuple) and isinstance(group["params"], list)
    extras = loaded["extras"]
    assert math.isnan(extras[0]) and extras[1:] == [math.inf, -math.inf, [], (), {}, -7, 2 ** 40, "ünïcode"]


def test_deeply_nested_structures_do_not_recurse(tmp_path):
    deep = leaf = []
    for _ in range(500):
        inner = []
        leaf.append(inner)
        leaf = inner
    leaf.append(autograd.ones(1))
    nn.save(deep, tmp_path / "deep.st")
    out = nn.load(tmp_path / "deep.st")
    for _ in range(500):
        out = out[0]
    assert out[0].item() == 1


def test_the_file_is_standard_safetensors(tmp_path):
    """Parse the layout by hand: 8-byte little-endian header size, JSON header, raw little-endian data."""
    sd = {"w": autograd.tensor(np.arange(6, dtype=np.float32).reshape(2, 3)), "n": autograd.tensor(np.int64(5))}
    path = tmp_path / "flat.safetensors"
    nn.save(sd, path)
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    assert size % 8 == 0
    header = json.loads(raw[8:8 + size])
    assert header["w"] == {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}
    assert header["n"] == {"dtype": "I64", "shape": [], "data_offsets": [24, 32]}
    assert header["__metadata__"]["format"] == "glassgrad"
    body = raw[8 + size:]
    np.testing.assert_array_equal(np.frombuffer(body[:24], "<f4").reshape(2, 3), sd["w"].data)
    # a safetensors file without our structure entry loads as a flat dict of tensors
    del header["__metadata__"]
    text = json.dumps(header).encode()
    (tmp_path / "plain.safetensors").write_bytes(struct.pack("<Q", len(text)) + text + body)
    plain = nn.load(tmp_path / "plain.safetensors")
    assert set(plain) == {"w", "n"} and plain["n"].item() == 5


def test_other_safetensors_implementations_read_our_files(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    nn.save(nn.Linear(3, 2).state_dict(), tmp_path / "m.safetensors")
    arrays = safetensors_numpy.load_file(str(tmp_path / "m.safetensors"))
    assert set(arrays) == {"weight", "bias"}


def test_pickle_files_are_refused_not_unpickled(tmp_path):
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('pickle was executed')",))

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"weight": Boom()}))
    with pytest.raises(nn.SerializationError, match="is a pickle file"):
        nn.load(path)
    zipped = tmp_path / "torch_like.pt"
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"a": 1}))
    with pytest.raises(nn.SerializationError, match=r"zip archive \(a torch.save checkpoint"):
        nn.load(zipped)
    np.save(tmp_path / "a.npy", np.zeros(3))
    with pytest.raises(nn.SerializationError, match=r"numpy .npy file"):
        nn.load(tmp_path / "a.npy")


def test_truncated_and_corrupted_files_raise_clear_errors(tmp_path):
    path = tmp_path / "m.safetensors"
    nn.save({"w": autograd.randn(10, 10), "b": autograd.randn(10)}, path)
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    cases = {
        "empty": (b"", "truncated"),
        "short": (raw[:5], "truncated"),
        "header cut": (raw[:8 + size // 2], "truncated: the header needs"),
        "data cut": (raw[:-7], "truncated: 'b' needs bytes"),
        "garbage header": (raw[:8] + b"{" * size + raw[8 + size:], "not valid JSON"),
        "huge length": (struct.pack("<Q", 2 ** 60) + raw[8:], "header length field"),
        "bad offsets": (raw.replace(b'"data_offsets":[0,400]', b'"data_offsets":[0,404]'), "data offsets"),
        "bad dtype": (raw.replace(b'"F32"', b'"X32"', 1), "not a valid tensor description"),
        "bad structure": (raw.replace(b'\\"tensor\\"', b'\\"tensr_\\"', 1), "structure entry"),
    }
    for name, (data, message) in cases.items():
        broken = tmp_path / f"broken-{name.replace(' ', '-')}"
        broken.write_bytes(data)
        with pytest.raises(nn.SerializationError, match=message):
            nn.load(broken)


def test_unsupported_values_are_rejected_when_saving(tmp_path):
    with pytest.raises(TypeError, match=r"cannot store a set at a.b"):
        nn.save({"a": {"b": {1, 2}}}, tmp_path / "x")
    with pytest.raises(TypeError, match="dict keys must be strings or ints"):
        nn.save({(1, 2): 3}, tmp_path / "x")
    with pytest.raises(TypeError, match="dtype complex128"):
        nn.save({"z": np.zeros(2, complex)}, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_save_replaces_atomically(tmp_path):
    path = tmp_path / "ckpt"
    nn.save({"v": autograd.ones(2)}, path)
    nn.save({"v": autograd.zeros(3)}, path)
    assert nn.load(path)["v"].shape == (3,)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_checkpoint_with_a_real_optimiser_round_trips(tmp_path):
    """A training checkpoint: model and optimiser state dicts and an epoch number in one file."""
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    optimiser = nn.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(3):
        optimiser.zero_grad()
        nn.functional.mse_loss(model(autograd.randn(8, 3)), autograd.randn(8, 1)).backward()
        optimiser.step()
    nn.save({"model": model.state_dict(), "optimiser": optimiser.state_dict(), "epoch": 3}, tmp_path / "ckpt")
    checkpoint = nn.load(tmp_path / "ckpt")
    assert checkpoint["epoch"] == 3
    restored = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    restored.load_state_dict(checkpoint["model"])
    restored_optimiser = nn.optim.Adam(restored.parameters(), lr=0.01)
    restored_optimiser.load_state_dict(checkpoint["optimiser"])
    # one more identical step on both: the same parameters afterwards
    x, y = autograd.randn(8, 3), autograd.randn(8, 1)
    for m, opt in ((model, optimiser), (restored, restored_optimiser)):
        opt.zero_grad()
        nn.functional.mse_loss(m(x), y).backward()
        opt.step()
    for a, b in zip(model.parameters(), restored.parameters()):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-6)
