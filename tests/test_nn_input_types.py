"""A layer given something that is not a tensor says which layer, which argument and what it got; numpy arrays
and the numbers the layers accept today keep working."""

from __future__ import annotations

import numpy as np
import pytest

import autograd as ag
import nn
from nn import InputTypeError


def layers() -> dict[str, nn.Module]:
    return {
        "Linear": nn.Linear(3, 2), "Conv1d": nn.Conv1d(1, 2, 3), "Conv2d": nn.Conv2d(1, 2, 3),
        "MaxPool2d": nn.MaxPool2d(2), "BatchNorm1d": nn.BatchNorm1d(3), "LayerNorm": nn.LayerNorm(3),
        "Dropout": nn.Dropout(), "Embedding": nn.Embedding(5, 2), "Flatten": nn.Flatten(), "ReLU": nn.ReLU(),
        "Tanh": nn.Tanh(), "GELU": nn.GELU(), "Softmax": nn.Softmax(-1), "RNN": nn.RNN(3, 2),
        "LSTMCell": nn.LSTMCell(3, 2), "Maxout": nn.Maxout(3, 2, 2), "GaussianNoise": nn.GaussianNoise(0.1),
    }


JUNK = {"None": None, "str": "abc", "junk list": [object(), "a"], "dict": {"x": 1}}


@pytest.mark.parametrize("junk", JUNK, ids=str)
@pytest.mark.parametrize("name", layers(), ids=str)
def test_a_layer_given_a_non_tensor_names_itself_and_the_type(name, junk):
    layer = layers()[name]
    value = JUNK[junk]
    with pytest.raises(InputTypeError) as info:
        layer(value)
    message = str(info.value)
    assert message.startswith(f"{name}: expected a Tensor"), message
    assert (type(value).__name__ if junk != "junk list" else "a list holding object") in message
    assert isinstance(info.value, TypeError)


def test_the_path_inside_the_model_is_named():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Sequential(nn.Linear(4, 2)))
    with pytest.raises(InputTypeError, match=r"^0 \(Linear\): expected a Tensor .* got NoneType"):
        model(None)
    with pytest.raises(TypeError, match="Linear: expected a Tensor"):  # the example
        nn.Linear(3, 2)(None)
    with pytest.raises(InputTypeError, match="got a list of numbers"):
        nn.Linear(3, 2)([1.0, 2.0, 3.0])


def test_other_arguments_are_named_and_optional_none_is_accepted():
    x = ag.ones(2, 3)
    with pytest.raises(InputTypeError, match="MSELoss: expected a Tensor .* as 'target', got NoneType"):
        nn.MSELoss()(x, None)
    with pytest.raises(InputTypeError, match="RNN: expected a Tensor .* as 'hx', got str"):
        nn.RNN(3, 2)(x, "abc")
    output, _ = nn.RNN(3, 2)(x, None)  # hx=None is the default: fine
    assert output.shape == (2, 2)
    with pytest.raises(InputTypeError, match="as input"):
        nn.Linear(3, 2)(input=None)


def test_with_hooks_registered_the_error_is_the_same():
    layer = nn.Linear(3, 2)
    layer.register_forward_hook(lambda module, args, output: None)
    with pytest.raises(InputTypeError, match="Linear: expected a Tensor"):
        layer(None)


def test_a_users_module_is_blamed_only_for_what_it_does_with_its_input():
    class Mine(nn.Module):
        def forward(self, batch):
            return batch["x"].sum()  # a dict is this module's input

    class Buggy(nn.Module):
        def forward(self, batch):
            return None.shape  # an error of its own, not about its input

    assert Mine()({"x": ag.ones(2)}).item() == 2.0
    with pytest.raises(AttributeError, match="'NoneType' object has no attribute 'shape'"):
        Buggy()({"x": 1})

    class UsesShape(nn.Module):
        def forward(self, x):
            return x.shape

    with pytest.raises(InputTypeError, match="UsesShape: expected a Tensor .* got str"):
        UsesShape()("abc")


def test_numpy_arrays_and_numbers_keep_working_where_they_did():
    x = np.ones((2, 3), np.float32)
    assert nn.Linear(3, 2)(x).shape == (2, 2)
    assert nn.ReLU()(1.5).item() == 1.5
    assert nn.Tanh()([0.0, 1.0]).shape == (2,)
    assert nn.Embedding(5, 2)(np.array([1, 2])).shape == (2, 2)
    assert nn.Sequential(nn.Linear(3, 2), nn.ReLU())(x).shape == (2, 2)
    assert nn.Identity()(None) is None  # Identity takes anything, as in PyTorch
