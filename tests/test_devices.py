"""Devices: PyTorch's device plumbing on a CPU-only library (issue 20), as a CPU-only PyTorch build behaves."""

from __future__ import annotations

import numpy as np
import pytest

import autograd
import nn
from autograd import DeviceError

FACTORIES = {  # name -> a call taking the device keyword
    "tensor": lambda d: autograd.tensor([1.0, 2.0], device=d),
    "as_tensor": lambda d: autograd.as_tensor(np.ones(2), device=d),
    "zeros": lambda d: autograd.zeros(2, 3, device=d),
    "ones": lambda d: autograd.ones((2, 3), device=d),
    "empty": lambda d: autograd.empty(2, device=d),
    "full": lambda d: autograd.full((2,), 7.0, device=d),
    "zeros_like": lambda d: autograd.zeros_like(autograd.ones(2), device=d),
    "ones_like": lambda d: autograd.ones_like(autograd.ones(2), device=d),
    "full_like": lambda d: autograd.full_like(autograd.ones(2), 3.0, device=d),
    "rand_like": lambda d: autograd.rand_like(autograd.ones(2), device=d),
    "randn_like": lambda d: autograd.randn_like(autograd.ones(2), device=d),
    "arange": lambda d: autograd.arange(5, device=d),
    "linspace": lambda d: autograd.linspace(0, 1, 5, device=d),
    "eye": lambda d: autograd.eye(3, device=d),
    "rand": lambda d: autograd.rand(2, 3, device=d),
    "randn": lambda d: autograd.randn(2, 3, device=d),
    "randint": lambda d: autograd.randint(0, 10, (3,), device=d),
    "randperm": lambda d: autograd.randperm(4, device=d),
}


def test_the_device_agnostic_preamble_runs_on_the_cpu() -> None:
    device = autograd.device("cuda" if autograd.cuda.is_available() else "cpu")
    assert device == autograd.device("cpu") and device.type == "cpu" and device.index is None
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).to(device)
    x = autograd.randn(5, 3, device=device).to(device)
    y = autograd.tensor([0, 1, 0, 1, 1], device=device)
    loss = nn.functional.cross_entropy(model(x), y.to(device))
    loss.backward()
    assert x.device == device and model[0].weight.device == device and loss.device.type == "cpu"
    assert loss.cpu().detach().numpy().shape == ()


def test_device_objects_as_pytorch() -> None:
    torch = pytest.importorskip("torch")
    for args in [("cpu",), ("cpu", 0), ("cpu:0",), ("cuda",), ("cuda:1",), ("mps",), ("cuda", 2)]:
        ours, theirs = autograd.device(*args), torch.device(*args)
        assert repr(ours) == repr(theirs) and str(ours) == str(theirs), args
        assert (ours.type, ours.index) == (theirs.type, theirs.index)
    assert autograd.device("cpu") == autograd.device("cpu") != autograd.device("cpu", 0)
    assert autograd.device(autograd.device("cpu:0")) == autograd.device("cpu", 0)
    assert len({autograd.device("cpu"), autograd.device("cpu"), autograd.device("cpu:0")}) == 2
    assert autograd.device("cpu") != "cpu"  # (as in PyTorch: a device does not equal a string)


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "cpu:-1", ""])
def test_device_rejects_a_bad_string(bad: str) -> None:
    with pytest.raises(ValueError, match="device"):
        autograd.device(bad)


def test_tensor_device_attributes() -> None:
    t = autograd.ones(2)
    assert t.device == autograd.device("cpu") and repr(t.device) == "device(type='cpu')"
    assert not t.is_cuda and t.is_cpu


@pytest.mark.parametrize("name", sorted(FACTORIES))
@pytest.mark.parametrize("device", [None, "cpu", "cpu:0", autograd.device("cpu"), autograd.device("cpu", 0)])
def test_every_factory_takes_a_cpu_device(name: str, device: object) -> None:
    t = FACTORIES[name](device)
    assert isinstance(t, autograd.Tensor) and t.device == autograd.device("cpu")


@pytest.mark.parametrize("name", sorted(FACTORIES))
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "mps", autograd.device("cuda", 1)])
def test_every_factory_refuses_a_gpu_with_a_clear_error(name: str, device: object) -> None:
    with pytest.raises(DeviceError) as info:
        FACTORIES[name](device)
    message = str(info.value)
    assert message.startswith(f"{name}: device '{device}' is not available")
    assert "CPU only" in message and "When one machine is not enough" in message
    assert isinstance(info.value, RuntimeError)


def test_the_error_points_to_a_readme_section_that_exists() -> None:
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert "\n## When one machine is not enough\n" in readme


def test_factory_device_errors_for_things_that_are_not_devices() -> None:
    with pytest.raises(ValueError, match="device type"):
        autograd.zeros(2, device="gpu")
    with pytest.raises(DeviceError, match="'cpu:1' does not exist"):
        autograd.zeros(2, device="cpu:1")


def test_tensor_to_forms() -> None:
    x = autograd.ones(2, 3)
    cpu = autograd.device("cpu")
    assert x.to(cpu) is x and x.to("cpu") is x and x.to("cpu:0") is x and x.to(device="cpu") is x
    assert x.to(autograd.float32) is x and x.cpu() is x
    for y in [x.to(cpu, autograd.float64), x.to("cpu", dtype=autograd.float64), x.to(autograd.float64),
              x.to(autograd.zeros(1, dtype=autograd.float64)), x.to(device=cpu, dtype=autograd.float64),
              x.to(autograd.float64, non_blocking=True)]:
        assert y.dtype == np.float64 and y.shape == (2, 3)
    copied = x.to("cpu", copy=True)
    assert copied is not x and np.array_equal(copied.numpy(), x.numpy())
    assert not np.shares_memory(copied.numpy(), x.numpy())
    assert x.to(cpu, non_blocking=True) is x


def test_tensor_to_keeps_the_graph() -> None:
    x = autograd.tensor([1.0, 2.0], requires_grad=True)
    (x.to("cpu", autograd.float64) * 3).sum().backward()
    assert x.grad.dtype == np.float32 and np.array_equal(x.grad.numpy(), [3.0, 3.0])


@pytest.mark.parametrize("call", [
    lambda x: x.to("cuda"), lambda x: x.to("mps", autograd.float64), lambda x: x.to(device="cuda:0"),
    lambda x: x.to(autograd.device("cuda")), lambda x: x.cuda(), lambda x: x.to(0)])
def test_tensor_to_a_gpu_raises(call: object) -> None:
    with pytest.raises(DeviceError, match=r"Tensor\.(to|cuda): device '(cuda|mps)(:0)?' is not available"):
        call(autograd.ones(2))


def test_tensor_to_bad_arguments() -> None:
    x = autograd.ones(2)
    with pytest.raises(TypeError, match="unexpected keyword argument 'devices'"):
        x.to(devices="cpu")
    with pytest.raises(TypeError, match="too many arguments"):
        x.to("cpu", autograd.float64, False, False, 1)


def test_module_to_forms() -> None:
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    assert model.to("cpu") is model and model.to(autograd.device("cpu")) is model and model.cpu() is model
    assert model[0].weight.dtype == np.float32
    assert model.to("cpu", autograd.float64) is model and model[0].weight.dtype == np.float64
    assert model[1].running_mean.dtype == np.float64
    model.to(device="cpu", dtype=autograd.float32)
    assert model[0].bias.dtype == np.float32
    model.to(autograd.zeros(1, dtype=autograd.float64))
    assert model[0].weight.dtype == np.float64
    with pytest.raises(DeviceError, match=r"Module\.to: device 'cuda' is not available"):
        model.to("cuda")
    with pytest.raises(DeviceError, match=r"Module\.cuda"):
        model.cuda()


def test_gpu_namespaces_report_nothing() -> None:
    assert autograd.cuda.is_available() is False and autograd.cuda.device_count() == 0
    assert autograd.backends.mps.is_available() is False and autograd.backends.mps.is_built() is False
    assert autograd.backends.cudnn.is_available() is False
    autograd.cuda.manual_seed_all(0)  # accepted and ignored, as in PyTorch without a GPU
    assert autograd.accelerator.is_available() is False and autograd.accelerator.current_accelerator() is None
    with pytest.raises(DeviceError, match="current_device"):
        autograd.cuda.current_device()


def test_the_mps_idiom_picks_the_cpu() -> None:
    device = ("cuda" if autograd.cuda.is_available() else
              "mps" if autograd.backends.mps.is_available() else "cpu")
    assert autograd.rand(2, device=device).device.type == "cpu"


# ---------------------------------------------------------------------------------------------------------------
# t()
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(), (3,), (0,), (2, 3), (1, 0)])
def test_t_matches_pytorch(shape: tuple) -> None:
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(0).standard_normal(shape)
    ours = autograd.tensor(a, requires_grad=True)
    theirs = torch.tensor(a, requires_grad=True)
    assert np.array_equal(ours.t().numpy(), theirs.t().detach().numpy())
    assert np.array_equal(autograd.t(ours).numpy(), torch.t(theirs).detach().numpy())
    if a.ndim == 2 and a.size:
        assert autograd.gradcheck(lambda x: x.t() * x.t(), (ours,))
        assert autograd.gradgradcheck(lambda x: x.t() * x.t(), (ours,))


def test_t_refuses_more_than_two_dims() -> None:
    with pytest.raises(ValueError, match=r"t: expects a tensor with <= 2 dimensions, but it has 3 \(shape"):
        autograd.ones(1, 2, 3).t()


LAYERS = {  # the layers that take PyTorch's device= keyword
    "Embedding": lambda d: nn.Embedding(5, 3, device=d),
    "MultiheadAttention": lambda d: nn.MultiheadAttention(4, 2, device=d),
    "TransformerEncoderLayer": lambda d: nn.TransformerEncoderLayer(4, 2, 8, device=d),
    "TransformerDecoderLayer": lambda d: nn.TransformerDecoderLayer(4, 2, 8, device=d),
    "Transformer": lambda d: nn.Transformer(4, 2, 1, 1, 8, device=d),
    "generate_square_subsequent_mask": lambda d: nn.Transformer.generate_square_subsequent_mask(3, device=d),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layers_take_a_cpu_device_and_refuse_a_gpu(name: str) -> None:
    assert LAYERS[name]("cpu") is not None and LAYERS[name](autograd.device("cpu")) is not None
    with pytest.raises(DeviceError, match=rf"^{name}: device 'cuda' is not available"):
        LAYERS[name]("cuda")
