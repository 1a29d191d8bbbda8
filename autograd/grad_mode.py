"""Grad mode, anomaly mode and location recording: per thread, as in PyTorch, and one base for all of them.

Each thread has its own modes: a new thread starts with gradients recorded, anomaly detection off and no
locations recorded, whatever other threads do. A thread evaluating under `no_grad()` does not stop another
from training, and the backward walk switches only its own thread's grad mode (to `create_graph`).

Every mode is set through `Mode`, one small base that is both a context manager and a decorator:
`no_grad`, `enable_grad`, `set_grad_enabled`, `inference_mode` here, `detect_anomaly` (anomaly.py) and
`record_locations` (gradcheck.py) only say which settings they make. This module owns the state; nothing
else writes it.

Speed. The modes are read by every operation (core._result). Operations first test `any_changed`, a module
attribute that is True while some thread, any thread, is out of the defaults: in the usual single-threaded
training loop the defaults hold during every forward pass, and the modes cost nothing more than that test.
Only then do operations read their own thread's modes, `local.modes` (a `threading.local`: ~600 instructions,
where a scalar op costs ~15,000; a dict keyed by `threading.get_ident()` costs ~800). The test is
conservative: it may be True while this thread is in the defaults (another thread evaluates under no_grad()),
but never False while this thread is not. `any_changed` is `bool(changed_modes)` (the modes of the threads
out of the defaults, by thread id), and the two change together under one lock, so that the test is never
stale. (A non-empty dict would do without the lock, but testing its truth costs 55 instructions per
operation, 0.4% of W1's 0-d chain, where a bool costs nothing; the lock is taken only when a mode changes.)
A thread that ends out of the defaults (`set_grad_enabled(False)` never undone) is forgotten when it ends,
by a guard among its thread-local values, before its id can be reused.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Generator
from typing import Any, ClassVar

__all__ = ["Mode", "no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "is_grad_enabled",
           "is_anomaly_enabled", "is_anomaly_check_nan_enabled", "is_recording_locations", "this_thread",
           "ThreadModes", "local", "any_changed", "any_checks", "swap_grad_enabled"]

get_ident = threading.get_ident


class ThreadModes:
    """One thread's modes. A new one holds the defaults, which every new thread starts with."""

    __slots__ = ("grad_enabled", "anomaly", "check_nan", "locations")

    def __init__(self) -> None:
        self.grad_enabled = True  # record operations for differentiation
        self.anomaly = False  # inside detect_anomaly(): like `locations`, and check values if `check_nan`
        self.check_nan = False  # check every forward output and every gradient for NaN/inf
        self.locations = False  # remember the user's line for every node, keep every input (record_locations)

    def is_default(self) -> bool:
        return self.grad_enabled and not (self.anomaly or self.check_nan or self.locations)

    def __repr__(self) -> str:
        return (f"ThreadModes(grad_enabled={self.grad_enabled}, anomaly={self.anomaly}, "
                f"check_nan={self.check_nan}, locations={self.locations})")


DEFAULTS = ThreadModes()  # (never changed)


class _Local(threading.local):
    modes = DEFAULTS  # a thread that never left the defaults reads this; one that did has its own ThreadModes


local = _Local()  # local.modes: the calling thread's modes
changed_modes: dict[int, ThreadModes] = {}  # thread id -> its modes, for the threads out of the defaults
any_changed = False  # bool(changed_modes), kept in step under _lock
any_checks = False  # some thread checks values or records locations (anomaly mode, record_locations)
_lock = threading.RLock()  # (reentrant: a guard may be freed, and its thread forgotten, anywhere)


class _Guard:
    """Kept among a thread's thread-local values from the first time it leaves the defaults: when the thread
    ends they are freed, and this forgets the thread's modes."""

    __slots__ = ("ident",)

    def __init__(self, ident: int) -> None:
        self.ident = ident

    def __del__(self) -> None:
        if _lock is not None:  # (None: the interpreter is exiting, and nothing needs forgetting)
            _forget(self.ident)


def _own_modes() -> ThreadModes:
    """This thread's own modes object, made the first time it changes a mode."""
    modes = local.modes
    if modes is DEFAULTS:
        modes = local.modes = ThreadModes()
        local.guard = _Guard(get_ident())
    return modes


def _remember(modes: ThreadModes, checks: bool = True) -> None:
    """Put this thread in `changed_modes` (`checks=False`: its anomaly and location modes did not change)."""
    global any_changed, any_checks
    with _lock:
        changed_modes[get_ident()] = modes
        any_changed = True
        if checks:
            any_checks = _any_checks()


def _forget(ident: int, checks: bool = True) -> None:
    global any_changed, any_checks
    with _lock:
        changed_modes.pop(ident, None)
        any_changed = bool(changed_modes)
        if checks:
            any_checks = _any_checks()


def _any_checks() -> bool:
    return any(m.anomaly or m.check_nan or m.locations for m in changed_modes.values())


def this_thread() -> ThreadModes:
    """The calling thread's modes (read them; change them only through a `Mode`)."""
    return local.modes if any_changed else DEFAULTS


def _apply(changes: dict[str, bool]) -> dict[str, bool]:
    """Set some of this thread's modes; return their previous values (what restores them)."""
    modes = _own_modes()
    was_default = modes.is_default()
    previous = {}
    for name, value in changes.items():
        previous[name] = getattr(modes, name)
        setattr(modes, name, value)
    if modes.is_default():
        if not was_default:
            _forget(get_ident())
    elif was_default or len(changes) > 1 or "grad_enabled" not in changes:  # (then any_checks may change)
        _remember(modes)  # before this thread runs any operation in the new modes
    return previous


def swap_grad_enabled(mode: bool) -> bool:
    """Set this thread's grad mode and return the previous one. What no_grad(), enable_grad() and
    set_grad_enabled() do, without a dict of changes (a no_grad() entered and left costs ~10,000 instructions
    this way, 22,000 through the general path)."""
    modes = local.modes
    previous = modes.grad_enabled
    if mode != previous:
        if modes is DEFAULTS:
            modes = _own_modes()
        modes.grad_enabled = mode
        if not mode:
            if not (modes.anomaly or modes.check_nan or modes.locations):  # it was in the defaults
                _remember(modes, checks=False)
        elif not (modes.anomaly or modes.check_nan or modes.locations):  # back in the defaults
            _forget(get_ident(), checks=False)
    return previous


# ---------------------------------------------------------------------------------------------------------------
# Reading the modes
# ---------------------------------------------------------------------------------------------------------------
def is_grad_enabled() -> bool:
    """Whether operations in this thread are being recorded for differentiation."""
    return local.modes.grad_enabled if any_changed else True


def is_anomaly_enabled() -> bool:
    """Whether this thread is in anomaly mode (`detect_anomaly()`)."""
    return this_thread().anomaly


def is_anomaly_check_nan_enabled() -> bool:
    """Whether anomaly mode checks every output and gradient of this thread for NaN/inf (check_nan=True)."""
    return this_thread().check_nan


def is_recording_locations() -> bool:
    """Whether nodes recorded in this thread remember the user's line (record_locations, detect_anomaly)."""
    modes = this_thread()
    return modes.locations or modes.anomaly


# ---------------------------------------------------------------------------------------------------------------
# The base: a context manager and a decorator
# ---------------------------------------------------------------------------------------------------------------
def _enter(grad: bool | None, changes: dict[str, bool]) -> Any:
    """Apply a mode's changes to this thread; return what restores them (grad mode alone: a bool)."""
    return _apply(changes) if grad is None else swap_grad_enabled(grad)


def _leave(grad: bool | None, previous: Any) -> None:
    if grad is None:
        _apply(previous)
    else:
        swap_grad_enabled(previous)


class Mode:
    """Sets some of the calling thread's modes inside `with`, and restores them after (even on an error).

    A subclass says what it sets in `_changes`, a dict from mode name (`grad_enabled`, `anomaly`, `check_nan`,
    `locations`) to value (`_grad` repeats the value when grad mode is all it sets: a faster path), as class
    attributes or in its constructor; one that calls `_set_now()` in its constructor takes effect at once, so
    that a plain call works (`set_grad_enabled(False)`), and a `with` block restores the previous values on
    exit. An instance is also a decorator: `@no_grad()` runs every call of the function in the mode (a
    generator function in the mode whenever it runs, not while it is suspended, as in PyTorch). An instance
    may be nested, and entered by several threads at once: each exit restores what its own thread's entry saw.
    """

    _changes: ClassVar[dict[str, bool]] = {}
    _grad: bool | None = None
    _previous: Any = None  # what restores the modes, for a mode set at construction until it is entered

    def _set_now(self) -> None:
        self._previous = _enter(self._grad, self._changes)

    def __enter__(self) -> None:
        previous = self._previous
        if previous is None:
            previous = _enter(self._grad, self._changes)
        else:  # set at construction, so already applied
            self._previous = None
        self.__dict__.setdefault("_entries", []).append((get_ident(), previous))

    def __exit__(self, *exc: object) -> None:
        entries, ident = self._entries, get_ident()
        last = len(entries) - 1
        while entries[last][0] != ident:  # another thread entered this instance since (rare)
            last -= 1
        _leave(self._grad, entries.pop(last)[1])

    def __call__(self, fn: Callable) -> Callable:
        if self._previous is not None:  # decorating is not running: undo what the constructor applied
            _leave(self._grad, self._previous)
            self._previous = None
        grad, changes = self._grad, self._changes
        if inspect.isgeneratorfunction(fn):
            return _wrap_generator(fn, grad, changes)

        # (No Mode object per call, and grad mode alone set directly: an optimiser's step() runs here.)
        if grad is not None:
            @functools.wraps(fn)
            def in_grad_mode(*args: Any, **kwargs: Any) -> Any:
                previous = swap_grad_enabled(grad)
                try:
                    return fn(*args, **kwargs)
                finally:
                    swap_grad_enabled(previous)

            return in_grad_mode

        @functools.wraps(fn)
        def in_mode(*args: Any, **kwargs: Any) -> Any:
            previous = _apply(changes)
            try:
                return fn(*args, **kwargs)
            finally:
                _apply(previous)

        return in_mode

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _wrap_generator(fn: Callable, grad: bool | None, changes: dict[str, bool]) -> Callable:
    """A generator function whose body runs in the mode whenever it runs, and not while it is suspended."""

    def step(action: Callable[[], Any]) -> tuple[bool, Any]:
        previous = _enter(grad, changes)
        try:
            return False, action()
        except StopIteration as stop:
            return True, stop.value
        finally:
            _leave(grad, previous)

    @functools.wraps(fn)
    def in_mode(*args: Any, **kwargs: Any) -> Generator:
        gen = step(lambda: fn(*args, **kwargs))[1]
        done, value = step(lambda: next(gen))
        while not done:  # pass values and exceptions through
            try:
                sent = yield value
            except GeneratorExit:
                step(gen.close)
                raise
            except BaseException as err:
                done, value = step(lambda err=err: gen.throw(err))
            else:
                done, value = step(lambda sent=sent: gen.send(sent))
        return value

    return in_mode


class _NoArgumentDecorator(Mode):
    """A mode that also decorates without parentheses (`@no_grad` as well as `@no_grad()`, as in PyTorch)."""

    def __new__(cls, fn: Callable | None = None) -> Any:
        if fn is None:
            return object.__new__(cls)
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

    _changes, _grad = {"grad_enabled": False}, False


class enable_grad(_NoArgumentDecorator):
    """Record operations even inside `no_grad()` (in the calling thread)."""

    _changes, _grad = {"grad_enabled": True}, True


class inference_mode(Mode):
    """PyTorch's `inference_mode(mode=True)` with the meaning of `no_grad()` (of `enable_grad()` for
    mode=False): nothing is recorded. PyTorch's extra restrictions on the tensors made inside do not apply."""

    def __new__(cls, mode: Any = True) -> Any:
        if callable(mode):  # @inference_mode without parentheses
            return cls()(mode)
        return object.__new__(cls)

    def __init__(self, mode: Any = True) -> None:
        self._grad = not mode
        self._changes = {"grad_enabled": self._grad}


class set_grad_enabled(Mode):
    """Turn recording on or off in the calling thread, at once: `set_grad_enabled(False)` as a call, or
    `with set_grad_enabled(is_training): ...` to restore the previous mode on exit (also a decorator)."""

    def __init__(self, mode: bool) -> None:
        self._grad = bool(mode)
        self._changes = {"grad_enabled": self._grad}
        self._set_now()

    def __repr__(self) -> str:
        return f"set_grad_enabled(mode={self._grad})"
