"""`detect_anomaly()`: stop at the first NaN or inf an operation produces, and say where it came from."""

from __future__ import annotations

from .grad_mode import Mode, is_anomaly_check_nan_enabled, is_anomaly_enabled

__all__ = ["AnomalyError", "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled",
           "is_anomaly_check_nan_enabled"]


class AnomalyError(RuntimeError):
    """Raised in anomaly mode when an operation produces a NaN or inf its inputs did not have."""


class detect_anomaly(Mode):
    """Context manager (and decorator) for hunting NaNs, in the calling thread.

    Inside it, every operation checks its output: a NaN or inf that none of its inputs had raises
    `AnomalyError` naming the operation and the line of your code that ran it. Every recorded node also
    remembers that line, so a NaN or inf appearing in a gradient during backward is reported with the line
    of the forward operation whose VJP produced it. It slows every operation down: use it for debugging.
    With `check_nan=False` only the lines are recorded.
    """

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = check_nan
        self._changes = {"anomaly": True, "check_nan": bool(check_nan)}


class set_detect_anomaly(Mode):
    """Turn anomaly mode on or off in the calling thread at once, as PyTorch's `set_detect_anomaly(mode,
    check_nan=True)`; as a context manager it restores the previous modes on exit."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        on = bool(mode)
        self._changes = {"anomaly": on, "check_nan": on and bool(check_nan)}
        self._set_now()
