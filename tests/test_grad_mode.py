"""Grad mode, anomaly mode and location recording: per thread (as in PyTorch), and the one Mode base behind
no_grad, enable_grad, set_grad_enabled, inference_mode, detect_anomaly and record_locations."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

import numpy as np
import pytest

import autograd as ag
import nn
from autograd import grad_mode


def run_threads(*targets: Callable[[], None], timeout: float = 120) -> None:
    """Run each target in its own thread; re-raise the first exception any of them raised."""
    errors: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as err:  # handed to the test's thread
                errors.append(err)
        return run

    threads = [threading.Thread(target=guarded(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "a thread did not finish (deadlock?)"
    if errors:
        raise errors[0]


@pytest.fixture
def frequent_switches():
    """Make the interpreter switch threads every microsecond, so that threads interleave inside operations."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


# --- the stress test of the issue -------------------------------------------------------------------------------
def make_model(seed: int, width: int) -> tuple[nn.Module, ag.Tensor, ag.Tensor]:
    ag.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, width), nn.Tanh(), nn.Linear(width, 1))
    rng = np.random.default_rng(seed)
    x = ag.tensor(rng.standard_normal((16, 3)).astype(np.float32))
    y = ag.tensor(rng.standard_normal((16, 1)).astype(np.float32))
    return model, x, y


def train(model: nn.Module, x: ag.Tensor, y: ag.Tensor, steps: int) -> list[list[np.ndarray]]:
    """SGD steps; returns every parameter's gradient at every step (copies)."""
    opt = nn.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    grads = []
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        grads.append([p.grad.numpy().copy() for p in model.parameters()])
        opt.step()
    return grads


def test_two_threads_train_while_a_third_evaluates_under_no_grad(frequent_switches):
    steps = 300
    reference = [train(*make_model(seed, width), steps) for seed, width in ((1, 8), (2, 5))]
    (model_a, xa, ya), (model_b, xb, yb) = make_model(1, 8), make_model(2, 5)
    evaluated, _, _ = make_model(3, 4)
    results: dict[str, list] = {}

    def evaluate() -> None:
        for _ in range(steps):
            with ag.no_grad():
                out = evaluated(xa)
                assert not out.requires_grad and not ag.is_grad_enabled()
            assert ag.is_grad_enabled()

    run_threads(lambda: results.setdefault("a", train(model_a, xa, ya, steps)),
                lambda: results.setdefault("b", train(model_b, xb, yb, steps)),
                evaluate)
    for name, expected in zip("ab", reference):
        got = results[name]
        assert len(got) == steps
        for step, (g_step, e_step) in enumerate(zip(got, expected)):
            for g, e in zip(g_step, e_step):
                assert np.array_equal(g, e), f"model {name}, step {step}: gradient differs from single-threaded"
    assert ag.is_grad_enabled() and not grad_mode.any_changed


# --- deterministic interleavings ---------------------------------------------------------------------------------
def test_no_grad_in_one_thread_does_not_stop_recording_in_another():
    entered, done = threading.Event(), threading.Event()

    def evaluator() -> None:
        with ag.no_grad():
            entered.set()
            assert done.wait(30)
            assert not ag.is_grad_enabled()

    thread = threading.Thread(target=evaluator)
    thread.start()
    try:
        assert entered.wait(30)
        x = ag.tensor([1.0, 2.0], requires_grad=True)
        y = (x * 3).sum()
        assert ag.is_grad_enabled() and y.requires_grad
        y.backward()
        np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])
    finally:
        done.set()
        thread.join()


def test_interleaved_backward_passes_leave_grad_mode_on():
    """A enters backward, then B; A leaves, then B. With a process-wide grad mode B restored the `off` that A
    had set, and recording stayed off for everyone."""
    a_inside, b_inside, a_done = threading.Event(), threading.Event(), threading.Event()
    modes_seen: dict[str, bool] = {}

    def backward_a() -> None:
        x = ag.tensor([1.0], requires_grad=True)
        y = x * 2

        def hook(g: ag.Tensor) -> None:
            modes_seen["a in backward"] = ag.is_grad_enabled()
            a_inside.set()
            assert b_inside.wait(30)

        y.register_hook(hook)
        y.sum().backward()
        a_done.set()
        modes_seen["a after"] = ag.is_grad_enabled()

    def backward_b() -> None:
        x = ag.tensor([1.0], requires_grad=True)
        y = x * 2

        def hook(g: ag.Tensor) -> None:
            assert a_inside.wait(30)
            b_inside.set()
            assert a_done.wait(30)
            modes_seen["b in backward"] = ag.is_grad_enabled()

        y.register_hook(hook)
        y.sum().backward()
        modes_seen["b after"] = ag.is_grad_enabled()
        z = (x * 3).sum()
        modes_seen["b records"] = z.requires_grad

    run_threads(backward_a, backward_b)
    assert modes_seen == {"a in backward": False, "b in backward": False, "a after": True, "b after": True,
                          "b records": True}
    assert ag.is_grad_enabled() and not grad_mode.any_changed


def test_a_new_thread_starts_with_the_defaults():
    seen = {}

    def child() -> None:
        seen.update(grad=ag.is_grad_enabled(), anomaly=ag.is_anomaly_enabled(),
                    locations=grad_mode.is_recording_locations())

    with ag.no_grad(), ag.detect_anomaly(), ag.record_locations():
        run_threads(child)
        assert not ag.is_grad_enabled() and ag.is_anomaly_enabled() and grad_mode.is_recording_locations()
    assert seen == {"grad": True, "anomaly": False, "locations": False}


def test_anomaly_mode_and_locations_are_per_thread():
    ready, done = threading.Event(), threading.Event()

    def hunter() -> None:
        with ag.detect_anomaly():
            ready.set()
            assert done.wait(30)

    thread = threading.Thread(target=hunter)
    thread.start()
    try:
        assert ready.wait(30)
        x = ag.tensor([0.0], requires_grad=True)
        with np.errstate(divide="ignore"):
            y = x.log()  # -inf: an anomaly only in the other thread
        assert y.grad_fn.where is None  # no location recorded here
        assert not ag.is_anomaly_enabled()
    finally:
        done.set()
        thread.join()


def test_a_thread_that_ends_inside_no_grad_is_forgotten():
    def leave_it_off() -> None:
        ag.set_grad_enabled(False)
        assert grad_mode.any_changed

    run_threads(leave_it_off)
    assert not grad_mode.any_changed and ag.is_grad_enabled()


# --- the Mode base ---------------------------------------------------------------------------------------------
def test_set_grad_enabled_is_a_function_and_a_context_manager():
    x = ag.tensor([1.0], requires_grad=True)
    ag.set_grad_enabled(False)
    try:
        assert not (x * 2).requires_grad
    finally:
        ag.set_grad_enabled(True)
    with ag.set_grad_enabled(False):
        assert not (x * 2).requires_grad
        with ag.set_grad_enabled(True):
            assert (x * 2).requires_grad
        assert not ag.is_grad_enabled()
    assert ag.is_grad_enabled() and (x * 2).requires_grad

    @ag.set_grad_enabled(False)
    def no_record(t):
        return t * 2

    assert ag.is_grad_enabled()  # decorating does not switch it
    assert not no_record(x).requires_grad and ag.is_grad_enabled()


def test_decorators_with_and_without_parentheses_and_inference_mode():
    x = ag.tensor([1.0], requires_grad=True)

    @ag.no_grad
    def bare(t):
        return t * 2

    @ag.inference_mode()
    def infer(t):
        return t * 2

    @ag.inference_mode
    def infer_bare(t):
        return t * 2

    @ag.no_grad()
    def outer(t):
        with ag.enable_grad():
            return t * 2

    assert bare.__name__ == "bare"
    assert not bare(x).requires_grad and not infer(x).requires_grad and not infer_bare(x).requires_grad
    assert outer(x).requires_grad
    with ag.inference_mode(False):
        assert (x * 2).requires_grad
    assert ag.is_grad_enabled()


def test_modes_are_restored_after_an_error_and_instances_can_be_nested():
    mode = ag.no_grad()
    with pytest.raises(ZeroDivisionError), mode:
        assert not ag.is_grad_enabled()
        raise ZeroDivisionError
    assert ag.is_grad_enabled()
    with mode, ag.enable_grad(), mode:
        assert not ag.is_grad_enabled()
    assert ag.is_grad_enabled() and not grad_mode.any_changed


def test_a_decorated_generator_runs_in_the_mode_only_while_it_runs():
    x = ag.tensor([1.0], requires_grad=True)

    @ag.no_grad()
    def doubles(t):
        received = yield t * 2
        assert not ag.is_grad_enabled()
        yield t * received
        return "done"

    gen = doubles(x)
    first = next(gen)
    assert ag.is_grad_enabled() and (x * 1).requires_grad  # suspended: the caller records again
    second = gen.send(3.0)
    assert not first.requires_grad and not second.requires_grad
    with pytest.raises(StopIteration) as stop:
        next(gen)
    assert stop.value.value == "done" and ag.is_grad_enabled()


def test_detect_anomaly_modes_and_set_detect_anomaly():
    assert not ag.is_anomaly_enabled()
    with ag.detect_anomaly(check_nan=False):
        assert ag.is_anomaly_enabled() and not ag.is_anomaly_check_nan_enabled()
        x = ag.tensor([0.0], requires_grad=True)
        with np.errstate(divide="ignore"):
            y = x.log()  # not checked, but its line is recorded
        assert y.grad_fn.where is not None
    ag.set_detect_anomaly(True)
    try:
        assert ag.is_anomaly_enabled() and ag.is_anomaly_check_nan_enabled()
    finally:
        ag.set_detect_anomaly(False)
    assert not ag.is_anomaly_enabled() and not grad_mode.any_changed


def test_anomaly_mode_inside_no_grad_still_checks_every_operation():
    """Modes nest in any order: anomaly mode entered inside no_grad checks operations on plain data too."""
    with ag.no_grad(), ag.detect_anomaly(), np.errstate(divide="ignore"), \
            pytest.raises(ag.AnomalyError, match="'log' produced inf"):
        ag.tensor([0.0]).log()
    assert not grad_mode.any_changed and not grad_mode.any_checks


def test_record_locations_is_also_a_decorator():
    @ag.record_locations()
    def build():
        return ag.tensor([1.0], requires_grad=True) * 2

    assert build().grad_fn.where is not None
    assert (ag.tensor([1.0], requires_grad=True) * 2).grad_fn.where is None
