"""nn.save / nn.load: round trips of state dicts and nested optimiser-like state, the safetensors layout, files
of earlier versions and of other tools, clear refusals of pickle and of every file the safetensors spec rejects,
byte orders and dtypes, and atomic saving (crashes, concurrent writers, planted symlinks).

The randomised round-trip and corruption tests are in test_nn_serialization_fuzz.py."""

from __future__ import annotations

import json
import os
import pickle
import struct
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import safetensors
import safetensors.numpy
from serialization_helpers import assert_same, old_format_checkpoint, old_format_state_dict

import autograd
import nn

SNAPSHOTS = Path(__file__).parent / "snapshots"


def raw_file(header: dict, body: bytes = b"") -> bytes:
    """A safetensors file spelled by hand: 8-byte little-endian header length, JSON header, data."""
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + body


# ---------------------------------------------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------------------------------------------
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
    assert_same(loaded, state)
    assert list(loaded["state"]) == [0, 1]  # int keys stay ints
    assert isinstance(loaded["param_groups"][0]["betas"], tuple)


def test_a_checkpoint_of_everything_round_trips_exactly(tmp_path):
    nn.save(old_format_checkpoint(), tmp_path / "ckpt")
    assert_same(nn.load(tmp_path / "ckpt"), old_format_checkpoint())


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


def test_nesting_beyond_what_json_can_spell_is_a_clear_error_when_saving(tmp_path):
    deep: dict = {}
    leaf = deep
    for _ in range(3000):
        leaf["a"] = {}
        leaf = leaf["a"]
    with pytest.raises(ValueError, match="nested too deeply"):
        nn.save(deep, tmp_path / "deep")
    assert not list(tmp_path.iterdir())


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


# ---------------------------------------------------------------------------------------------------------------
# Issue 12, item 1: valid files whose first byte is 0x80 (the low byte of the header length) load
# ---------------------------------------------------------------------------------------------------------------
def test_a_header_length_with_low_byte_0x80_is_not_taken_for_pickle(tmp_path):
    path = tmp_path / "f.safetensors"
    nn.save({"w" * 74: autograd.zeros(1)}, path)  # the issue's example
    assert nn.load(path)["w" * 74].shape == (1,)
    seen = set()
    for n in range(1, 264):  # the header length grows through every low byte (0x80 among them)
        nn.save({"w" * n: autograd.zeros(1)}, path)
        seen.add(path.read_bytes()[0])
        assert list(nn.load(path)) == ["w" * n]
    assert 0x80 in seen


def test_checkpoints_of_model_adam_and_epoch_load_at_every_size(tmp_path):
    """The issue's failing case: model + Adam state + epoch, at sizes whose header length starts with 0x80."""
    starts = set()
    for depth in range(1, 5):
        model = nn.Sequential(*[nn.Linear(2, 2) for _ in range(depth)])
        optimiser = nn.optim.Adam(model.parameters())
        model(autograd.ones(1, 2)).sum().backward()
        optimiser.step()
        for run_name in ("", "a", "run-7", "x" * 33, "y" * 64, "z" * 100):
            checkpoint = {"model": model.state_dict(), "optimiser": optimiser.state_dict(), "epoch": depth,
                          "run": run_name}
            nn.save(checkpoint, tmp_path / "ckpt")
            starts.add((tmp_path / "ckpt").read_bytes()[0])
            assert_same(nn.load(tmp_path / "ckpt"), checkpoint)
    assert 0x80 in starts


# ---------------------------------------------------------------------------------------------------------------
# The format: standard safetensors, files of earlier versions and of other tools
# ---------------------------------------------------------------------------------------------------------------
def test_the_file_is_standard_safetensors(tmp_path):
    """Parse the layout by hand: 8-byte little-endian header size, JSON header, raw little-endian data."""
    sd = {"w": autograd.tensor(np.arange(6, dtype=np.float32).reshape(2, 3)), "n": autograd.tensor(np.int64(5))}
    path = tmp_path / "flat.safetensors"
    nn.save(sd, path)
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + size])
    body = raw[8 + size:]
    assert {k: (v["dtype"], v["shape"]) for k, v in header.items() if k != "__metadata__"} == \
        {"w": ("F32", [2, 3]), "n": ("I64", [])}
    begin, end = header["w"]["data_offsets"]
    np.testing.assert_array_equal(np.frombuffer(body[begin:end], "<f4").reshape(2, 3), sd["w"].data)
    metadata = header["__metadata__"]
    assert metadata["format"] == "glassgrad" and set(metadata) == {"format", "glassgrad.structure", "glassgrad.sha256"}
    # other implementations read it as it is
    arrays = safetensors.numpy.load_file(str(path))
    np.testing.assert_array_equal(arrays["w"], sd["w"].data)
    assert arrays["n"].shape == () and arrays["n"] == 5


def test_safetensors_files_of_other_tools_load_as_flat_dicts(tmp_path):
    arrays = {"f16": np.arange(6, dtype=np.float16).reshape(2, 3), "f64": np.array(-0.0), "b": np.array([True]),
              "u64": np.array([2 ** 64 - 1], np.uint64), "i8": np.array([-128, 127], np.int8),
              "empty": np.zeros((3, 0), np.float32), "odd.name/with spaces": np.ones(2, np.int16),
              "c": np.array([1 + 2j], np.complex64), "ünï": np.zeros(1, np.uint32)}
    path = tmp_path / "theirs.safetensors"
    safetensors.numpy.save_file(arrays, str(path), metadata={"format": "np", "anything": "else"})
    loaded = nn.load(path)
    assert set(loaded) == set(arrays)
    for name, array in arrays.items():
        assert_same(loaded[name], autograd.Tensor._wrap(array[()] if array.ndim == 0 else array), name)
    safetensors.numpy.save_file({}, str(path))
    assert nn.load(path) == {}


def test_bfloat16_files_load_as_float32_and_float8_is_refused_clearly(tmp_path):
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    weights = torch.tensor([1.5, -2.0, 3.140625, float("inf"), 1e-40], dtype=torch.bfloat16)
    safetensors_torch.save_file({"w": weights}, str(tmp_path / "bf16.safetensors"))
    loaded = nn.load(tmp_path / "bf16.safetensors")["w"]
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded.data, weights.float().numpy())  # widening is exact
    if hasattr(torch, "float8_e4m3fn"):
        safetensors_torch.save_file({"q": torch.zeros(2, dtype=torch.float8_e4m3fn)}, str(tmp_path / "f8"))
        with pytest.raises(nn.SerializationError, match=r"tensor 'q' has dtype F8_E4M3, for which numpy"):
            nn.load(tmp_path / "f8")


def test_files_written_by_the_previous_nn_save_still_load():
    """Snapshots written by the hand-written nn.save of commit cef8a2f (see serialization_helpers.py).
    The state dict's header length starts with byte 0x80: the old nn.load refused that file as pickle."""
    assert (SNAPSHOTS / "old_format_state_dict.safetensors").read_bytes()[0] == 0x80
    assert_same(nn.load(SNAPSHOTS / "old_format_state_dict.safetensors"), old_format_state_dict())
    assert_same(nn.load(SNAPSHOTS / "old_format_checkpoint.safetensors"), old_format_checkpoint())


# ---------------------------------------------------------------------------------------------------------------
# Refusals: pickle, other formats, every file the spec rejects, corruption
# ---------------------------------------------------------------------------------------------------------------
class Boom:
    def __reduce__(self):
        return (exec, ("raise SystemExit('pickle was executed')",))


@pytest.mark.parametrize("protocol", [0, 1, 2, 4, 5])
def test_pickle_files_are_refused_not_unpickled(tmp_path, protocol):
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"weight": Boom(), "bias": [1.0, 2.0]}, protocol=protocol))
    with pytest.raises(nn.SerializationError, match=r"this looks like a pickle file \(PyTorch's torch.save\?\)"
                                                    r".*loading it could run code") as info:
        nn.load(path)
    assert str(path) in str(info.value)


def test_zip_and_npy_files_are_refused_with_their_names(tmp_path):
    zipped = tmp_path / "torch_like.pt"
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"a": 1}))
    with pytest.raises(nn.SerializationError, match=r"looks like a zip archive \(a torch.save checkpoint"):
        nn.load(zipped)
    np.save(tmp_path / "a.npy", np.zeros(3))
    with pytest.raises(nn.SerializationError, match=r"numpy .npy file"):
        nn.load(tmp_path / "a.npy")


def test_real_torch_save_files_are_refused(tmp_path):
    torch = pytest.importorskip("torch")
    state = {"weight": torch.ones(3)}
    torch.save(state, tmp_path / "new.pt")
    with pytest.raises(nn.SerializationError, match="zip archive"):
        nn.load(tmp_path / "new.pt")
    torch.save(state, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    with pytest.raises(nn.SerializationError, match="looks like a pickle file"):
        nn.load(tmp_path / "legacy.pt")


F32x2 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
INVALID_FILES = {  # name: (bytes the safetensors spec rejects, what nn.load's message says)
    "overlapping offsets": (raw_file({"a": F32x2, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}},
                                     bytes(12)), "overlap another tensor's or leave a gap"),
    "a gap between tensors": (raw_file({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                        "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}, bytes(12)),
                              "overlap another tensor's or leave a gap"),
    "trailing bytes": (raw_file({"a": F32x2}, bytes(12)), "bytes added at the end"),
    "truncated data": (raw_file({"a": F32x2}, bytes(6)), "truncated"),
    "offsets that disagree with the shape": (raw_file({"a": {"dtype": "F32", "shape": [3],
                                                             "data_offsets": [0, 8]}}, bytes(8)),
                                             "shape and dtype do not match"),
    "a non-integer shape": (raw_file({"a": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}}, bytes(8)),
                            "header is not the JSON"),
    "a negative shape": (raw_file({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, bytes(8)),
                         "header is not the JSON"),
    "string offsets": (raw_file({"a": {"dtype": "F32", "shape": [2], "data_offsets": ["0", "8"]}}, bytes(8)),
                       "header is not the JSON"),
    "an unknown dtype": (raw_file({"a": {"dtype": "X32", "shape": [2], "data_offsets": [0, 8]}}, bytes(8)),
                         "header is not the JSON"),
    "an absurd shape": (raw_file({"a": {"dtype": "F32", "shape": [2 ** 40, 2 ** 40], "data_offsets": [0, 8]}},
                                 bytes(8)), "absurdly large"),
    "a deeply nested header": (raw_file({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8],
                                               "x": json.loads("[" * 300 + "]" * 300)}}, bytes(8)),
                               "nested too deeply"),
    "non-string metadata": (raw_file({"__metadata__": {"format": 1}}), "header is not the JSON"),
    "a header that is not an object": (raw_file([1, 2]), "header is not the JSON"),  # type: ignore[arg-type]
    "a header that is not JSON": (struct.pack("<Q", 8) + b"{{{{{{{{", "header is not the JSON"),
    "a header length beyond the file": (struct.pack("<Q", 1000) + b"{}", "truncated"),
    "an absurd header length": (struct.pack("<Q", 2 ** 60) + b"{}", "more than safetensors allows"),
    "an empty file": (b"", "too short to hold the 8-byte header length"),
    "five bytes": (b"\x08\x00\x00\x00\x00", "too short to hold the 8-byte header length"),
}


@pytest.mark.parametrize("case", list(INVALID_FILES))
def test_every_file_the_spec_rejects_gets_a_serialization_error_naming_file_and_problem(tmp_path, case):
    data, message = INVALID_FILES[case]
    with pytest.raises(safetensors.SafetensorError):  # the reference parser rejects it too
        safetensors.deserialize(data)
    path = tmp_path / "broken.safetensors"
    path.write_bytes(data)
    with pytest.raises(nn.SerializationError, match=message) as info:
        nn.load(path)
    assert str(path) in str(info.value)
    assert "pickle" not in str(info.value)


def test_files_the_spec_accepts_but_numpy_cannot_hold_get_a_serialization_error(tmp_path):
    for shape in ([0, 2 ** 63], [1] * 100):  # a valid empty tensor with a huge dimension; too many dimensions
        size = 0 if 0 in shape else 4
        (tmp_path / "f").write_bytes(raw_file({"a": {"dtype": "F32", "shape": shape, "data_offsets": [0, size]}},
                                              bytes(size)))
        safetensors.deserialize((tmp_path / "f").read_bytes())  # valid for safetensors
        with pytest.raises(nn.SerializationError, match="which numpy cannot hold"):
            nn.load(tmp_path / "f")


def test_truncated_and_corrupted_files_raise_clear_errors(tmp_path):
    path = tmp_path / "m.safetensors"
    nn.save({"w": autograd.randn(10, 10), "b": autograd.randn(10)}, path)
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    cases = {
        "short": (raw[:5], "too short to hold the 8-byte header length"),
        "header cut": (raw[:8 + size // 2], r"header length of \d+ bytes, but \d+ bytes follow \(truncated"),
        "data cut": (raw[:-7], "does not exactly fill the rest of the file \\(truncated"),
        "garbage header": (raw[:8] + b"{" * size + raw[8 + size:], "header is not the JSON"),
        "bad structure": (raw.replace(b'\\"tensor\\"', b'\\"tensr_\\"', 1), "checksum"),
        "flipped data byte": (raw[:-3] + bytes([raw[-3] ^ 0x10]) + raw[-2:], "checksum"),
        "changed dtype": (raw.replace(b'"F32"', b'"I32"', 1), "checksum"),
    }
    for name, (data, message) in cases.items():
        broken = tmp_path / f"broken-{name.replace(' ', '-')}"
        broken.write_bytes(data)
        with pytest.raises(nn.SerializationError, match=message):
            nn.load(broken)


def test_a_corrupted_structure_without_checksum_is_reported(tmp_path):
    """Old files have no checksum: a broken structure entry is still a SerializationError, never a KeyError."""
    header = {"a": F32x2, "__metadata__": {"format": "glassgrad"}}
    for structure in ['{"tensor": "b"}', '{"tensr": "a"}', '{"dict": [[1]]}', '{"dict": [[[1], 2]]}',
                      '{"tuple": 3}', '{"scalar": "a"}', '{"float": "1.5"}', '{"a": 1, "b": 2}', "[",
                      "[" * 100000 + "]" * 100000]:
        header["__metadata__"]["glassgrad.structure"] = structure
        (tmp_path / "f").write_bytes(raw_file(header, bytes(8)))
        with pytest.raises(nn.SerializationError, match="structure entry cannot be read"):
            nn.load(tmp_path / "f")


# ---------------------------------------------------------------------------------------------------------------
# Issue 12, item 14: byte orders and dtypes
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [">f2", ">f4", ">f8", ">i2", ">i4", ">i8", ">u2", ">u4", ">u8", ">c8"])
def test_big_endian_arrays_are_stored_little_endian_with_the_same_values(tmp_path, dtype):
    rng = np.random.default_rng(0)
    values = rng.standard_normal(12) * 1000 if dtype[1] in "fc" else rng.integers(0, 100, 12)
    array = values.astype(np.dtype(dtype).newbyteorder("=")).astype(dtype).reshape(3, 4)
    if dtype[1] == "f":
        array[0, :3] = [np.nan, np.inf, -0.0]
    state = {"a": array, "t": autograd.tensor(array.astype(array.dtype.newbyteorder("="))),
             "s": array[0, 1], "zero_d": array[1, 1:2].reshape(()), "strided": array[:, ::2]}
    nn.save(state, tmp_path / "be")
    loaded = nn.load(tmp_path / "be")
    for key in ("a", "strided", "zero_d"):
        assert loaded[key].dtype == np.dtype(dtype).newbyteorder("=") and loaded[key].dtype.isnative
        assert loaded[key].tobytes() == state[key].astype(loaded[key].dtype).tobytes()  # exactly, NaN included
    assert loaded["s"].dtype.isnative and loaded["s"].tobytes() == state["s"].astype(loaded["s"].dtype).tobytes()
    assert_same(loaded["t"], state["t"])


def test_dtypes_safetensors_cannot_store_are_refused_saying_which_and_why(tmp_path):
    cases = [
        ({"z": np.zeros(2, np.complex128)}, r"z, an array of dtype complex128: complex64 \(C64\) is the only"),
        ({"q": np.zeros(2, np.longdouble)}, r"stores floats of 16, 32 and 64 bits"),
        ({"s": np.array(["a", "b"])}, r"dtype <U1: safetensors holds numbers only"),
        ({"o": np.array([None, 1], dtype=object)}, r"dtype object: safetensors holds numbers only"),
        ({"d": np.array(["2024-01-01"], dtype="datetime64[D]")}, r"no date/time dtype"),
        ({"v": np.zeros(2, dtype=[("x", "f4"), ("y", "i4")])}, r"plain numeric arrays only"),
        ({"a": {"b": {1, 2}}}, r"cannot store a set at a.b"),
        ({(1, 2): 3}, "dict keys must be strings or ints"),
    ]
    if np.dtype(np.longdouble).itemsize == 8:  # where long double is double, it is storable
        cases.pop(1)
    for obj, message in cases:
        with pytest.raises(TypeError, match=message):
            nn.save(obj, tmp_path / "x")
    assert not list(tmp_path.iterdir())
    nn.save({"c": np.array([1 - 2j], np.complex64)}, tmp_path / "c")  # C64 is a safetensors dtype
    assert nn.load(tmp_path / "c")["c"].dtype == np.complex64


# ---------------------------------------------------------------------------------------------------------------
# Issue 12, item 6: atomic saving
# ---------------------------------------------------------------------------------------------------------------
def test_save_replaces_atomically(tmp_path):
    path = tmp_path / "ckpt"
    nn.save({"v": autograd.ones(2)}, path)
    nn.save({"v": autograd.zeros(3)}, path)
    assert nn.load(path)["v"].shape == (3,)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def _failing(exception: BaseException):
    def fail(*args, **kwargs):
        raise exception
    return fail


@pytest.mark.parametrize("exception", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_rename_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path, monkeypatch, exception):
    path = tmp_path / "ckpt"
    nn.save({"v": autograd.ones(2)}, path)
    good = path.read_bytes()
    monkeypatch.setattr(os, "replace", _failing(exception))
    with pytest.raises(type(exception)):
        nn.save({"v": autograd.zeros(3)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == good and sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_a_crash_in_the_middle_of_writing_keeps_the_old_file(tmp_path, monkeypatch):
    """The write stops halfway (disk full), or is interrupted while syncing: the previous checkpoint is intact."""
    path = tmp_path / "ckpt"
    nn.save({"v": autograd.ones(2)}, path)
    good = path.read_bytes()
    real_fdopen = os.fdopen

    class HalfWriter:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.f.write(data[:len(data) // 2])
            self.f.flush()
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: HalfWriter(real_fdopen(fd, *a, **k)))
    with pytest.raises(OSError, match="No space left"):
        nn.save({"v": autograd.zeros(1000)}, path)
    monkeypatch.undo()
    monkeypatch.setattr(os, "fsync", _failing(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        nn.save({"v": autograd.zeros(1000)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == good and sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    assert_same(nn.load(path), {"v": autograd.ones(2)})


def test_a_killed_writer_never_damages_the_last_good_checkpoint(tmp_path):
    """A process saving in a loop is killed (SIGKILL: no clean-up runs) at some point: the file loads whole."""
    path = tmp_path / "ckpt"
    script = ("import sys, numpy as np, nn\n"
              "i = 0\n"
              "while True:\n"
              "    i += 1\n"
              "    nn.save({'i': i, 'v': np.full(200_000, i, np.float64)}, sys.argv[1])\n"
              "    if i == 3: print('ready', flush=True)\n")
    root = Path(__file__).resolve().parent.parent
    for delay in (0.05, 0.23):
        proc = subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE,
                                env={**os.environ, "PYTHONPATH": str(root)})
        try:
            assert proc.stdout.readline().strip() == b"ready"
            threading.Event().wait(delay)
        finally:
            proc.kill()
            proc.wait()
            proc.stdout.close()
        loaded = nn.load(path)
        assert loaded["i"] >= 3 and np.all(loaded["v"] == loaded["i"]) and loaded["v"].shape == (200_000,)


def test_concurrent_saves_to_one_path_always_leave_a_complete_state(tmp_path):
    """Four threads save different states to one path while a fifth loads it: every load is one whole state,
    every save succeeds, and no temporary file remains."""
    path = tmp_path / "ckpt"
    states = [{"writer": w, "v": np.full(1000 * (w + 1), w, np.float32), "t": autograd.full((w + 1, 3), w)}
              for w in range(4)]
    nn.save(states[0], path)
    errors: list[BaseException] = []
    done = threading.Event()

    def writer(w: int) -> None:
        try:
            for _ in range(60):
                nn.save(states[w], path)
        except BaseException as err:
            errors.append(err)

    def reader() -> None:
        loads = 0
        try:
            while not done.is_set() or loads < 20:
                loaded = nn.load(path)
                assert_same(loaded, states[loaded["writer"]])
                loads += 1
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    watcher = threading.Thread(target=reader)
    for t in [*threads, watcher]:
        t.start()
    for t in threads:
        t.join()
    done.set()
    watcher.join()
    assert not errors, errors[:3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    assert_same(nn.load(path), states[nn.load(path)["writer"]])


def test_concurrent_saves_from_processes(tmp_path):
    path = tmp_path / "ckpt"
    script = ("import sys, numpy as np, nn\n"
              "w = int(sys.argv[2])\n"
              "for _ in range(40):\n"
              "    nn.save({'writer': w, 'v': np.full(5000 * (w + 1), w, np.int32)}, sys.argv[1])\n")
    nn.save({"writer": 0, "v": np.full(5000, 0, np.int32)}, path)
    root = Path(__file__).resolve().parent.parent
    procs = [subprocess.Popen([sys.executable, "-c", script, str(path), str(w)],
                              env={**os.environ, "PYTHONPATH": str(root)}) for w in range(2)]
    loads = 0
    while any(p.poll() is None for p in procs) or loads < 10:
        loaded = nn.load(path)
        assert loaded["v"].shape == (5000 * (loaded["writer"] + 1),) and np.all(loaded["v"] == loaded["writer"])
        loads += 1
    assert [p.wait() for p in procs] == [0, 0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


@pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="needs POSIX symlinks")
def test_symlinks_planted_at_temporary_names_are_never_followed(tmp_path, monkeypatch):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    path = tmp_path / "ckpt"
    (tmp_path / "ckpt.partial").symlink_to(victim)  # the fixed temporary name of earlier versions
    nn.save({"v": autograd.ones(2)}, path)
    assert victim.read_bytes() == b"precious"
    # a symlink at the next unique name too: it is skipped, another name is drawn
    from nn import serialization
    names = iter(["planted", "planted", "fresh"])
    monkeypatch.setattr(serialization.secrets, "token_hex", lambda n: next(names))
    (tmp_path / ".ckpt.planted.tmp").symlink_to(victim)
    nn.save({"v": autograd.zeros(2)}, path)
    assert victim.read_bytes() == b"precious"
    assert not path.is_symlink() and nn.load(path)["v"].data.tolist() == [0, 0]
    assert (tmp_path / ".ckpt.planted.tmp").is_symlink() and not (tmp_path / ".ckpt.fresh.tmp").exists()


@pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")
def test_saved_files_get_the_permissions_of_a_plainly_created_file(tmp_path):
    (tmp_path / "plain").write_bytes(b"")
    nn.save({"v": autograd.ones(1)}, tmp_path / "ckpt")
    assert (tmp_path / "ckpt").stat().st_mode == (tmp_path / "plain").stat().st_mode


def test_save_accepts_a_bare_file_name_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    nn.save({"v": autograd.ones(1)}, "ckpt")
    assert nn.load("ckpt")["v"].item() == 1 and sorted(os.listdir()) == ["ckpt"]


def test_saving_a_whole_module_is_refused_and_says_to_save_the_state_dict(tmp_path) -> None:
    model = nn.Sequential(nn.Linear(2, 3))
    for obj, name in [(model, "Sequential"), ({"model": model}, "Sequential"),
                      (nn.optim.SGD(model.parameters(), lr=0.1), "SGD")]:
        with pytest.raises(TypeError, match=rf"nn.save: cannot store a whole {name} .*nn.save\(model.state_dict\(\), "
                                            r"path\).*model.load_state_dict\(nn.load\(path\)\)"):
            nn.save(obj, tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()
