"""`detect_anomaly()`: stop at the first NaN or inf an operation produces, and say where it came from."""

from __future__ import annotations

from . import core


class AnomalyError(RuntimeError):
    """Raised in anomaly mode when an operation produces a NaN or inf its inputs did not have."""


class detect_anomaly:
    """Context manager (and decorator) for hunting NaNs.

    Inside it, every operation checks its output: a NaN or inf that none of its inputs had raises
    `AnomalyError` naming the operation and the line of your code that ran it. Every recorded node also
    remembers that line, so a NaN or inf appearing in a gradient during backward is reported with the line
    of the forward operation whose VJP produced it. It slows every operation down: use it for debugging.
    """

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = check_nan

    def __enter__(self) -> detect_anomaly:
        self._prev = (core._anomaly_mode, core._track_locations)
        core._anomaly_mode = self.check_nan
        core._track_locations = True
        return self

    def __exit__(self, *exc: object) -> None:
        core._anomaly_mode, core._track_locations = self._prev

    def __call__(self, fn):  # type: ignore[no-untyped-def]
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            with detect_anomaly(self.check_nan):
                return fn(*args, **kwargs)
        wrapper.__name__ = getattr(fn, "__name__", "wrapper")
        return wrapper


def is_anomaly_enabled() -> bool:
    return core._anomaly_mode
