"""Issue 12, item 9: `Module.load_state_dict` and `Optimizer.load_state_dict` with values that cannot be loaded
check everything first, then assign: all or nothing, with an error naming the key."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import autograd
import nn


def model_and_state():
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    state = {k: np.array(v.data) + 1 for k, v in model.state_dict().items()}  # all different from the model's
    return model, state


def snapshot(model):
    return {k: np.array(v.data) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("bad", [None, "abc", "7", b"7", object(), np.array("7"), {"a": 1}, [None], 2 + 1j,
                                 float("nan")])
def test_a_value_that_cannot_be_cast_changes_nothing_and_is_named(bad):
    """num_batches_tracked is the last entry, a 0-d int64 buffer: every value before it is valid and would
    have been copied already."""
    model, state = model_and_state()
    before = snapshot(model)
    state["1.num_batches_tracked"] = bad
    with pytest.raises(RuntimeError, match=r'Error\(s\) in loading state_dict for Sequential:\n\t.*'
                                           r'"1.num_batches_tracked"'):
        model.load_state_dict(state)
    for key, value in snapshot(model).items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)


def test_all_problems_are_listed_in_one_error():
    model, state = model_and_state()
    state["0.bias"] = ["a", "b"]
    state["1.weight"] = np.zeros(5)
    state["1.running_var"] = np.array([1 + 1j, 2], np.complex64)
    del state["1.bias"]
    with pytest.raises(RuntimeError) as info:
        model.load_state_dict(state)
    message = str(info.value)
    assert 'Missing key(s) in state_dict: "1.bias"' in message
    assert '"0.bias", expected a tensor or an array of numbers from the checkpoint, but received an array of <U1' \
        in message
    assert "size mismatch for 1.weight: copying a param with shape (5,)" in message
    assert '"1.running_var", the checkpoint holds complex values' in message


def test_valid_values_of_every_kind_still_load_and_are_cast_to_the_module_dtype():
    model, state = model_and_state()
    state["0.weight"] = autograd.tensor(state["0.weight"].astype(np.float64))
    state["0.bias"] = state["0.bias"].tolist()
    state["1.num_batches_tracked"] = np.float32(3.0)
    state["1.running_mean"] = state["1.running_mean"].astype(">f8")
    model.load_state_dict(state)
    loaded = model.state_dict()
    assert loaded["0.weight"].dtype == np.float32 and loaded["1.num_batches_tracked"].dtype == np.int64
    assert loaded["1.num_batches_tracked"].item() == 3
    np.testing.assert_array_equal(loaded["1.running_mean"].data, state["1.running_mean"])
    torch = pytest.importorskip("torch")
    model.load_state_dict({k: torch.from_numpy(np.array(v.data)) for k, v in model.state_dict().items()})


def test_strict_false_still_refuses_uncastable_values():
    model, state = model_and_state()
    before = snapshot(model)
    state["1.running_var"] = None
    state["extra"] = None  # unexpected keys are fine without strict
    with pytest.raises(RuntimeError, match='"1.running_var"'):
        model.load_state_dict(state, strict=False)
    assert all(np.array_equal(v, before[k]) for k, v in snapshot(model).items())


# ---------------------------------------------------------------------------------------------------------------
# The optimiser
# ---------------------------------------------------------------------------------------------------------------
def trained_adam():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    optimiser = nn.optim.Adam(model.parameters(), lr=0.1)
    model(autograd.ones(1, 2)).sum().backward()
    optimiser.step()
    return optimiser


BAD_OPTIMISER_STATES = {  # edit of a valid state dict: words of the error
    "step None": (lambda sd: sd["state"][3].update(step=None), r"state 'step' of parameter 3 must be a step count"),
    "step text": (lambda sd: sd["state"][3].update(step="abc"), r"state 'step' of parameter 3 must be a step count"),
    "step fraction": (lambda sd: sd["state"][3].update(step=2.5), r"'step' of parameter 3 must be a step count"),
    "object array": (lambda sd: sd["state"][3].update(exp_avg=np.array([None])), r"'exp_avg' of parameter 3 must "
                                                                                  r"hold real numbers"),
    "string array": (lambda sd: sd["state"][3].update(exp_avg_sq=np.array(["1"])), r"'exp_avg_sq' of parameter 3"),
    "wrong shape": (lambda sd: sd["state"][3].update(exp_avg=np.zeros(5)), r"'exp_avg' of parameter 3 has shape"),
    "state is a list": (lambda sd: sd.update(state=[1]), r"'state' must be a dict"),
    "a parameter's state is a list": (lambda sd: sd["state"].update({3: [1]}), r"state of parameter 3 must be a dict"),
    "group is a list": (lambda sd: sd["param_groups"].__setitem__(0, [1]), r"'param_groups' must be a list of dicts"),
    "group without params": (lambda sd: sd["param_groups"][0].pop("params"), r"each with a 'params' list"),
    "a parameter position that is no integer": (lambda sd: sd["state"].update(x={}), r"positions must be integers"),
}


@pytest.mark.parametrize("case", list(BAD_OPTIMISER_STATES))
def test_optimiser_load_state_dict_is_all_or_nothing_with_named_errors(case):
    edit, message = BAD_OPTIMISER_STATES[case]
    saved = trained_adam().state_dict()
    saved["param_groups"][0]["lr"] = 0.5  # would be assigned if loading went ahead
    saved["state"][0]["exp_avg"] = autograd.full((2, 2), 7.0)
    edit(saved)
    optimiser = trained_adam()
    before = copy.deepcopy(optimiser.state_dict())
    with pytest.raises(ValueError, match=r"Adam.load_state_dict: .*" + message):
        optimiser.load_state_dict(saved)
    after = optimiser.state_dict()
    assert after["param_groups"] == before["param_groups"]
    for index, fields in before["state"].items():
        for field, value in fields.items():
            np.testing.assert_array_equal(np.asarray(after["state"][index][field].data if field != "step"
                                                     else after["state"][index][field]),
                                          np.asarray(value.data if field != "step" else value))


def test_optimiser_state_with_keys_and_steps_from_other_formats_loads():
    saved = trained_adam().state_dict()
    saved["state"] = {str(k): {**v, "step": autograd.tensor(float(v["step"]))} for k, v in saved["state"].items()}
    optimiser = trained_adam()
    optimiser.load_state_dict(saved)
    assert [s["step"] for s in optimiser.state.values()] == [1, 1, 1, 1]
