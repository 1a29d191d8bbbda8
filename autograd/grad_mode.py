"""Grad mode, anomaly mode and location recording: per thread, as in PyTorch, and one base for all of them.

Each thread has its own modes: a new thread starts with gradients recorded, anomaly detection off and no
locations recorded, whatever other threads do. A thread evaluating under `no_grad()` does not stop another
from training, and the backward walk switches only its own thread's grad mode (to `create_graph`).

Every mode is set through `Mode`, one small base that is both a context manager and a decorator:
`no_grad`, `enable_grad`, `set_grad_enabled`, `inference_mode` here, `detect_anomaly` (anomaly.py) and
`record_locations` (gradcheck.py) only say which settings they make. This module owns the state; nothing
else writes it.

Speed. The modes are read by every operation (core._result), and a `threading.local` attribute costs about
800 instructions to read where a module attribute costs a few dozen (a scalar op costs about 15,000). So
operations first look at `any_changed`, which is True while some thread, any thread, has modes that differ
from the defaults, and read their own thread's modes only then. In the usual single-threaded training loop
the defaults hold during every forward pass and the modes cost nothing. The test is conservative: it may be
True while this thread is in the defaults (another thread evaluates under no_grad()), but never False while
this thread is not, so reading this thread's modes whenever it is True is always right. `any_changed` is
`bool(changed_threads)`, the set of threads not in the defaults, both updated under one lock, so that it can
never be stale: a set alone would do without the lock, but testing a set's truth costs 55 instructions per
operation (0.4% of W1's 0-d chain) where a bool costs nothing, and the lock is taken only when a mode changes.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Generator
from typing import Any

_get_ident = threading.get_ident

__all__ = ["Mode", "no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "is_grad_enabled",
           "is_anomaly_enabled", "is_anomaly_check_nan_enabled", "is_recording_locations", "this_thread",
           "ThreadModes", "any_changed", "swap_grad_enabled"]


changed_threads: set[int] = set()  # ids of the ThreadModes of the threads not in the defaults
any_changed = False  # bool(changed_threads), kept in step under _lock
_lock = threading.RLock()  # (reentrant: a thread's modes may be freed, and uncounted, anywhere)


class ThreadModes:
    """One thread's modes: what every new thread starts with, until a `Mode` changes them. Read them with
    `this_thread()`. While they differ from the defaults their id is in `changed_threads`; a thread that ends
    in a non-default mode (`set_grad_enabled(False)` never undone) drops them, and they leave the set then, so
    that operations in other threads do not keep paying for the per-thread read."""

    __slots__ = ("grad_enabled", "anomaly", "check_nan", "locations")

    def __init__(self) -> None:
        self.grad_enabled = True  # record operations for differentiation
        self.anomaly = False  # inside detect_anomaly(): like `locations`, and check values if `check_nan`
        self.check_nan = False  # check every forward output and every gradient for NaN/inf
        self.locations = False  # remember the user's line for every node, keep every input (record_locations)

    def __del__(self) -> None:
        if _lock is not None:  # (None: the interpreter is exiting, and nothing counts any more)
            _uncount(id(self))

    def __repr__(self) -> str:
        return (f"ThreadModes(grad_enabled={self.grad_enabled}, anomaly={self.anomaly}, "
                f"check_nan={self.check_nan}, locations={self.locations})")


class _PerThread(threading.local):
    def __init__(self) -> None:  # runs once in every thread that reads `modes` (threading.local's rule)
        self.modes = ThreadModes()


_per_thread = _PerThread()  # a threading.local attribute costs ~800 instructions: read it once, then slots


def this_thread() -> ThreadModes:
    """The calling thread's modes (read them; change them only through a `Mode`)."""
    return _per_thread.modes


def _apply(changes: dict[str, bool]) -> dict[str, bool]:
    """Set some of this thread's modes; return their previous values (for restoring)."""
    modes = _per_thread.modes
    previous = {}
    for name, value in changes.items():
        previous[name] = getattr(modes, name)
        setattr(modes, name, value)
    _count(modes)
    return previous


def _count(modes: ThreadModes) -> None:
    """Put this thread's modes in `changed_threads` or take them out, after a change (before this thread
    runs any operation in the new modes)."""
    global any_changed
    if modes.grad_enabled and not (modes.anomaly or modes.check_nan or modes.locations):
        _uncount(id(modes))
    else:
        with _lock:
            changed_threads.add(id(modes))
            any_changed = True


def _uncount(key: int) -> None:
    global any_changed
    with _lock:
        changed_threads.discard(key)
        any_changed = bool(changed_threads)


def swap_grad_enabled(mode: bool) -> bool:
    """Set this thread's grad mode and return the previous one: `set_grad_enabled` without the context-manager
    object, for the backward walk (which sets it to create_graph and back on every backward: a `with
    set_grad_enabled(...)` block costs 18,000 instructions, 0.6% of W1's 0-d forward+backward)."""
    modes = _per_thread.modes
    previous = modes.grad_enabled
    if mode != previous:
        modes.grad_enabled = mode
        _count(modes)
    return previous


# ---------------------------------------------------------------------------------------------------------------
# Reading the modes
# ---------------------------------------------------------------------------------------------------------------
def is_grad_enabled() -> bool:
    """Whether operations in this thread are being recorded for differentiation."""
    return _per_thread.modes.grad_enabled if any_changed else True


def is_anomaly_enabled() -> bool:
    """Whether this thread is in anomaly mode (`detect_anomaly()`)."""
    return _per_thread.modes.anomaly if any_changed else False


def is_anomaly_check_nan_enabled() -> bool:
    """Whether anomaly mode checks every output and gradient of this thread for NaN/inf (check_nan=True)."""
    return _per_thread.modes.check_nan if any_changed else False


def is_recording_locations() -> bool:
    """Whether nodes recorded in this thread remember the user's line (record_locations, detect_anomaly)."""
    if not any_changed:
        return False
    modes = _per_thread.modes
    return modes.locations or modes.anomaly


# ---------------------------------------------------------------------------------------------------------------
# The base: a context manager and a decorator
# ---------------------------------------------------------------------------------------------------------------
class Mode:
    """Sets some of the calling thread's modes inside `with`, and restores them after (even on an error).

    `changes` maps mode names (`grad_enabled`, `anomaly`, `check_nan`, `locations`) to values. With
    `now=True` they take effect at construction, so that a plain call works (`set_grad_enabled(False)`), and
    a `with` block restores the previous values on exit. An instance is also a decorator: `@no_grad()` runs
    every call of the function in the mode (a generator function in the mode whenever it runs, not while it
    is suspended, as in PyTorch). An instance may be nested and entered by several threads at once: what each
    entry restores is kept per thread.
    """

    def __init__(self, changes: dict[str, bool], now: bool = False) -> None:
        self._changes = changes
        self._saved: dict[int, list] = {}  # per thread: what each entry restores
        self._previous = _apply(changes) if now else None

    def __enter__(self) -> None:
        previous = self._previous
        if previous is None:
            previous = _apply(self._changes)
        else:  # set at construction, so already applied
            self._previous = None
        self._saved.setdefault(_get_ident(), []).append(previous)

    def __exit__(self, *exc: object) -> None:
        stack = self._saved[_get_ident()]
        _apply(stack.pop())
        if not stack:
            del self._saved[_get_ident()]

    def __call__(self, fn: Callable) -> Callable:
        if self._previous is not None:  # decorating is not running: undo what the constructor applied
            _apply(self._previous)
            self._previous = None
        changes = self._changes
        if inspect.isgeneratorfunction(fn):
            return _wrap_generator(fn, changes)

        @functools.wraps(fn)
        def in_mode(*args: Any, **kwargs: Any) -> Any:
            with Mode(changes):
                return fn(*args, **kwargs)

        return in_mode

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _wrap_generator(fn: Callable, changes: dict[str, bool]) -> Callable:
    """A generator function whose body runs in the mode whenever it runs, and not while it is suspended."""

    @functools.wraps(fn)
    def in_mode(*args: Any, **kwargs: Any) -> Generator:
        with Mode(changes):
            gen = fn(*args, **kwargs)
            try:
                value = next(gen)
            except StopIteration as stop:
                return stop.value
        while True:  # pass values and exceptions through
            try:
                sent = yield value
            except GeneratorExit:
                with Mode(changes):
                    gen.close()
                raise
            except BaseException as err:
                with Mode(changes):
                    try:
                        value = gen.throw(err)
                    except StopIteration as stop:
                        return stop.value
            else:
                with Mode(changes):
                    try:
                        value = gen.send(sent)
                    except StopIteration as stop:
                        return stop.value

    return in_mode


class _NoArgumentDecorator(Mode):
    """A mode that also decorates without parentheses (`@no_grad` as well as `@no_grad()`, as in PyTorch)."""

    def __new__(cls, fn: Callable | None = None) -> Any:
        if fn is None:
            return super().__new__(cls)
        return cls()(fn)


class no_grad(_NoArgumentDecorator):
    """Do not record operations (inference, optimiser updates): `with no_grad(): ...`, `@no_grad()` or
    `@no_grad`. Results computed inside do not require grad. Only the calling thread is affected.

    >>> import autograd
    >>> x = autograd.tensor([1.0], requires_grad=True)
    >>> with autograd.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """

    def __init__(self, fn: Callable | None = None) -> None:
        super().__init__({"grad_enabled": False})


class enable_grad(_NoArgumentDecorator):
    """Record operations even inside `no_grad()` (in the calling thread)."""

    def __init__(self, fn: Callable | None = None) -> None:
        super().__init__({"grad_enabled": True})


class inference_mode(Mode):
    """PyTorch's `inference_mode(mode=True)` with the meaning of `no_grad()` (of `enable_grad()` for
    mode=False): nothing is recorded. PyTorch's extra restrictions on the tensors made inside do not apply."""

    def __new__(cls, mode: Any = True) -> Any:
        if callable(mode):  # @inference_mode without parentheses
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode: Any = True) -> None:
        super().__init__({"grad_enabled": not mode})


class set_grad_enabled(Mode):
    """Turn recording on or off in the calling thread, at once: `set_grad_enabled(False)` as a call, or
    `with set_grad_enabled(is_training): ...` to restore the previous mode on exit (also a decorator)."""

    def __init__(self, mode: bool) -> None:
        super().__init__({"grad_enabled": bool(mode)}, now=True)

    def __repr__(self) -> str:
        return f"set_grad_enabled(mode={self._changes['grad_enabled']})"
