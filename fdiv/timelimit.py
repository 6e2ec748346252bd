"""CPU-time limits for heavy work (SymPy's solve, simplify, limit; numeric scans; whole commands).

Limits count the CPU time of this process (ITIMER_PROF / SIGPROF), not wall-clock time, so the same input
gets the same verdict on an idle laptop and on a machine busy with other work. SymPy is pure Python, so the
signal handler interrupts it between bytecodes. Limits nest: an inner limit never outlives an outer one.
Off the main thread (where signals cannot be used) calls run unlimited.
"""
from __future__ import annotations

import math
import os
import signal
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from .errors import DerivationError, DerivationTimeout, FdivError, SpecError

#: CPU seconds allowed to one heavy step; FDIV_TIME_LIMIT overrides it (the CLI's --time-limit sets it).
DEFAULT_STEP_SECONDS = 20.0
#: The most a limit may be set to (a day); larger values are refused rather than overflowing the timer.
MAX_SECONDS = 86400.0

_deadlines: list[tuple[float, object]] = []  # (CPU-time deadline, the limit that set it)


def parse_seconds(text: str, *, where: str) -> float:
    """A positive, finite number of seconds (at most MAX_SECONDS), or SpecError naming `where`."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise SpecError(f"{where}: {text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and 0 < value <= MAX_SECONDS):
        raise SpecError(f"{where}: {text!r} must be a positive number of seconds, at most {MAX_SECONDS:g}")
    return value


def step_seconds() -> float:
    raw = os.environ.get("FDIV_TIME_LIMIT")
    return DEFAULT_STEP_SECONDS if raw is None else parse_seconds(raw, where="FDIV_TIME_LIMIT")


class _Expired(BaseException):
    """Raised inside the limited block; BaseException so SymPy's `except Exception` cannot swallow it."""


def _on_alarm(signum, frame):  # noqa: ARG001
    raise _Expired()


def _arm(seconds: float) -> None:
    signal.setitimer(signal.ITIMER_PROF, max(seconds, 1e-4))


@contextmanager
def time_limit(what: str, seconds: float | None = None) -> Iterator[None]:
    """Run the block for at most `seconds` of CPU time (default: the step limit); raise DerivationTimeout
    naming `what`."""
    if seconds is None:
        seconds = step_seconds()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    now = time.process_time()
    token = object()
    deadline, owner = now + seconds, token
    if _deadlines and _deadlines[-1][0] < deadline:
        deadline, owner = _deadlines[-1]  # an inner limit never outlives the enclosing one
    _deadlines.append((deadline, owner))
    previous = signal.signal(signal.SIGPROF, _on_alarm)
    _arm(deadline - now)
    try:
        yield
    except _Expired:
        signal.setitimer(signal.ITIMER_PROF, 0)
        if owner is not token:
            raise  # an enclosing limit expired: its own block reports it
        raise DerivationTimeout(
            f"{what} exceeded its time limit of {seconds:g} s of CPU time "
            "(raise it with --time-limit or FDIV_TIME_LIMIT)") from None
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        _deadlines.pop()
        signal.signal(signal.SIGPROF, previous)
        if _deadlines:  # re-arm the enclosing limit
            _arm(_deadlines[-1][0] - time.process_time())


def attempt(what: str, fn, *args, seconds: float | None = None, **kwargs):
    """Call fn under a time limit; return (True, result), or (False, reason) when it times out or SymPy fails.

    Any exception from SymPy counts as a failure of the step (SymPy raises NotImplementedError, TypeError,
    PolynomialError, CoercionFailed, KeyError, ... from deep inside); the caller decides what to do instead.
    """
    try:
        with time_limit(what, seconds):
            return True, fn(*args, **kwargs)
    except DerivationTimeout as exc:
        return False, str(exc)
    except RecursionError:
        return False, f"{what} failed: expression too deeply nested"
    except MemoryError:
        return False, f"{what} failed: out of memory"
    except Exception as exc:  # noqa: BLE001 - see the docstring
        return False, f"{what} failed: {type(exc).__name__}"


@contextmanager
def step(what: str, seconds: float | None = None) -> Iterator[None]:
    """A derivation step: under a time limit, and any exception SymPy raises inside becomes one
    DerivationError naming the step (SymPy signals "cannot do this" with NotImplementedError, TypeError,
    PolynomialError, ... from deep inside; users see one line, never a traceback)."""
    try:
        with time_limit(what, seconds):
            yield
    except FdivError:
        raise
    except RecursionError:
        raise DerivationError(f"{what} failed: the expression is too deeply nested") from None
    except MemoryError:
        raise DerivationError(f"{what} failed: out of memory") from None
    except Exception as exc:  # noqa: BLE001 - see the docstring
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise DerivationError(f"{what} failed ({type(exc).__name__}: {reason})") from None
