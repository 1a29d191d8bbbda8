"""The 0-d rule: a 0-d tensor stores a numpy scalar (kernels.as_stored), and `.data` is how it is written.

Reading `.data` leaves what the tensor stores alone; writing through it (as nn.init, the optimizers and user code
do) changes the tensor, which still stores a scalar afterwards, so that its operations stay on numpy's scalar fast
path.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import autograd
import nn
from autograd.kernels import as_ndarray, as_stored


def _leaf() -> autograd.Tensor:
    return autograd.tensor(3.0, requires_grad=True)


def _parameter() -> autograd.Tensor:
    return nn.Parameter(autograd.tensor(3.0))


def _result() -> autograd.Tensor:
    return autograd.tensor(1.5, requires_grad=True) * 2


def _constant() -> autograd.Tensor:
    return autograd.tensor(3.0)


MAKERS = {"leaf": _leaf, "parameter": _parameter, "op result": _result, "constant": _constant}


def _stores_a_scalar(t: autograd.Tensor) -> bool:
    return isinstance(t._data, np.generic) and t._data.dtype == np.float32


def test_the_two_helpers() -> None:
    zero_d = np.array(2.5, np.float32)
    assert type(as_stored(zero_d)) is np.float32 and as_stored(zero_d) == 2.5
    vector = np.ones(3)
    assert as_stored(vector) is vector  # no view made of a larger array
    assert as_stored(np.float64(1.0)).__class__ is np.float64
    assert as_ndarray(vector) is vector
    held = as_ndarray(np.float32(2.0))
    assert held.__class__ is np.ndarray and held.shape == () and held.dtype == np.float32


@pytest.mark.parametrize("kind", MAKERS)
def test_reading_data_leaves_what_a_0d_tensor_stores(kind: str) -> None:
    t = MAKERS[kind]()
    before = t._data
    data = t.data
    assert t._data is before and _stores_a_scalar(t)
    assert data.shape == () and data.dtype == np.float32 and float(data) == float(before)
    t.numpy()
    np.asarray(t)
    repr(t)
    assert t._data is before


def _set_item(d: np.ndarray) -> None:
    d[...] = 7.0


def _set_empty_index(d: np.ndarray) -> None:
    d[()] = 7.0


def _in_place_operator(d: np.ndarray) -> None:
    d *= 7.0 / 3.0  # 3 * 7/3 in float32 is 7 exactly


def _copyto(d: np.ndarray) -> None:
    np.copyto(d, 7.0)


def _ufunc_out(d: np.ndarray) -> None:
    np.add(d, 4.0, out=d)


def _clip_out(d: np.ndarray) -> None:
    np.clip(d, 7.0, 9.0, out=d)


def _fill(d: np.ndarray) -> None:
    d.fill(7.0)


def _through_a_view(d: np.ndarray) -> None:
    d.reshape(1)[0] = 7.0


WRITERS: dict[str, Callable[[np.ndarray], None]] = {
    "d[...] = v": _set_item, "d[()] = v": _set_empty_index, "d *= c": _in_place_operator, "np.copyto": _copyto,
    "ufunc out=": _ufunc_out, "np.clip out=": _clip_out, "fill": _fill, "a view": _through_a_view}


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("kind", ["leaf", "parameter", "constant"])
def test_writes_through_data_reach_a_0d_tensor(kind: str, writer: str) -> None:
    t = MAKERS[kind]()
    WRITERS[writer](t.data)
    assert t.item() == 7.0
    assert _stores_a_scalar(t)  # still on the scalar fast path
    assert t.requires_grad == (kind != "constant")


def test_data_of_a_0d_result_writes_its_value_but_not_the_graph() -> None:
    # A write through .data is not recorded (as in PyTorch). On a 0-d result it changes the tensor's value;
    # the values the graph saved are the ones the forward computed, so the gradient is that of the forward.
    x = autograd.tensor(0.5, requires_grad=True)
    y = x.exp()
    y.data[...] = 0.0
    assert y.item() == 0.0 and _stores_a_scalar(y) and y.grad_fn is not None
    y.backward()
    assert np.isclose(x.grad.item(), np.exp(0.5))


def test_the_data_of_a_0d_tensor_is_a_snapshot() -> None:
    # what the rule costs: an array read from .data does not follow later changes of the tensor
    t = autograd.tensor(1.0)
    held = t.data
    with autograd.no_grad():
        t += 1
    assert t.item() == 2.0 and float(held) == 1.0
    assert float(t.data) == 2.0  # read it again
    copy = t.data.copy()
    copy[...] = 5.0  # a copy does not write back
    assert t.item() == 2.0


def test_a_numpy_ufunc_with_a_0d_tensor_as_out_writes_it() -> None:
    t = autograd.tensor(2.0)
    result = np.multiply(t, 3.0, out=t)
    assert result is t and t.item() == 6.0 and _stores_a_scalar(t)


OPTIMIZERS = {"SGD": dict(lr=0.1, momentum=0.9), "Adam": dict(lr=0.1), "AdamW": dict(lr=0.1, weight_decay=0.1),
              "RMSprop": dict(lr=0.1), "Adagrad": dict(lr=0.1), "Adadelta": dict(lr=0.1), "Rprop": dict(lr=0.1)}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizers_update_a_0d_parameter(name: str) -> None:
    p = nn.Parameter(autograd.tensor(0.75))
    opt = getattr(nn.optim, name)([p], **OPTIMIZERS[name])
    values = []
    for _ in range(3):
        opt.zero_grad()
        (p * p * p).backward()
        opt.step()
        values.append(p.item())
    assert _stores_a_scalar(p)
    for state in opt.state[p].values():
        if isinstance(state, autograd.Tensor):
            assert _stores_a_scalar(state)
    torch = pytest.importorskip("torch")
    q = torch.nn.Parameter(torch.tensor(0.75))
    topt = getattr(torch.optim, name)([q], **OPTIMIZERS[name])
    expected = []
    for _ in range(3):
        topt.zero_grad()
        (q * q * q).backward()
        topt.step()
        expected.append(q.item())
    np.testing.assert_allclose(values, expected, rtol=1e-5)


def test_zero_grad_without_none_zeroes_a_0d_gradient() -> None:
    p = nn.Parameter(autograd.tensor(0.75))
    opt = nn.optim.SGD([p], lr=0.1)
    (p * p).backward()
    opt.zero_grad(set_to_none=False)
    assert p.grad.item() == 0.0 and _stores_a_scalar(p.grad)


@pytest.mark.parametrize("init", [lambda p: nn.init.constant_(p, 2.0), nn.init.ones_, nn.init.zeros_,
                                  lambda p: nn.init.uniform_(p, 5.0, 6.0), lambda p: nn.init.normal_(p, 10.0, 0.1)],
                         ids=["constant_", "ones_", "zeros_", "uniform_", "normal_"])
def test_nn_init_fills_a_0d_parameter(init: Callable) -> None:
    p = nn.Parameter(autograd.tensor(-100.0))
    init(p)
    assert p.item() != -100.0 and _stores_a_scalar(p) and p.requires_grad


def test_clip_grad_norm_scales_a_0d_gradient() -> None:
    p = nn.Parameter(autograd.tensor(3.0))
    (p * p).backward()  # grad 6
    nn.utils.clip_grad_norm_([p], max_norm=1.0)
    assert np.isclose(p.grad.item(), 1.0, atol=1e-5) and _stores_a_scalar(p.grad)


class _Scale(nn.Module):
    """A layer with one 0-d parameter (PyTorch's PReLU(1) has a (1,)-shaped one; a user's may be 0-d)."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.scale = nn.Parameter(autograd.tensor(value))

    def forward(self, x: autograd.Tensor) -> autograd.Tensor:
        return x * self.scale


def test_save_and_load_a_0d_parameter(tmp_path) -> None:
    layer = _Scale(0.125)
    assert layer.scale.data.shape == ()  # a read must not change what is saved
    nn.save(layer.state_dict(), tmp_path / "w.pt")
    other = _Scale(0.5)
    other.load_state_dict(nn.load(tmp_path / "w.pt"))
    assert other.scale.item() == 0.125 and _stores_a_scalar(other.scale) and other.scale.shape == ()
    np.testing.assert_allclose(other(autograd.tensor([-2.0, 3.0])).numpy(), [-0.25, 0.375])


def test_data_of_a_0d_tensor_shows_as_a_numpy_array() -> None:
    # a learner printing p.data sees what numpy shows for a 0-d array, not the write-back class's name
    t = autograd.tensor(3.0, requires_grad=True)
    assert repr(t.data) == repr(np.array(3.0, dtype=np.float32))
