"""Time limits for heavy SymPy calls (solve, simplify, limit), which can run for minutes.

SymPy is pure Python, so a SIGALRM handler interrupts it between bytecodes. Limits nest: an inner
limit never extends an outer one. Off the main thread (where signals cannot be used) calls run
unlimited; the CLI and the test-suite run on the main thread.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from .errors import DerivationTimeout

#: Seconds allowed to one heavy step; FDIV_TIME_LIMIT overrides it (the CLI's --time-limit sets it).
DEFAULT_STEP_SECONDS = 20.0

_deadlines: list[tuple[float, str]] = []


def step_seconds() -> float:
    return float(os.environ.get("FDIV_TIME_LIMIT", DEFAULT_STEP_SECONDS))


class _Expired(BaseException):
    """Raised inside the limited block; BaseException so SymPy's `except Exception` cannot swallow it."""


def _on_alarm(signum, frame):  # noqa: ARG001
    raise _Expired()


@contextmanager
def time_limit(what: str, seconds: float | None = None) -> Iterator[None]:
    """Run the block for at most `seconds` (default: the step limit); raise DerivationTimeout naming `what`."""
    if seconds is None:
        seconds = step_seconds()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    now = time.monotonic()
    deadline = now + seconds
    if _deadlines and _deadlines[-1][0] < deadline:
        deadline = _deadlines[-1][0]  # an inner limit never outlives the enclosing one
    _deadlines.append((deadline, what))
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(deadline - now, 1e-4))
    try:
        yield
    except _Expired:
        signal.setitimer(signal.ITIMER_REAL, 0)
        raise DerivationTimeout(
            f"{what} exceeded its time limit of {seconds:g} s (raise it with --time-limit or FDIV_TIME_LIMIT)"
        ) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        _deadlines.pop()
        signal.signal(signal.SIGALRM, previous)
        if _deadlines:  # re-arm the enclosing limit
            signal.setitimer(signal.ITIMER_REAL, max(_deadlines[-1][0] - time.monotonic(), 1e-4))


def attempt(what: str, fn, *args, seconds: float | None = None, **kwargs):
    """Call fn under a time limit; return (True, result) or (False, reason) on timeout or SymPy failure."""
    try:
        with time_limit(what, seconds):
            return True, fn(*args, **kwargs)
    except DerivationTimeout as exc:
        return False, str(exc)
    except (ValueError, TypeError, NotImplementedError, ZeroDivisionError, AttributeError, RecursionError) as exc:
        return False, f"{what} failed: {type(exc).__name__}"
