"""CPU-time limits for heavy work (SymPy's solve, simplify, limit; numeric scans; whole commands).

Limits count the CPU time of this process (ITIMER_PROF / SIGPROF), not wall-clock time, so the same input
gets the same verdict on an idle laptop and on a machine busy with other work. SymPy is pure Python, so the
signal handler interrupts it between bytecodes. Limits nest: an inner limit never outlives an outer one.
Off the main thread (where signals cannot be used) calls run unlimited.

A signal handler may run in the middle of anything, so the alarm is careful where it raises:
* it never raises inside the limits' own bookkeeping, a context manager's enter or exit, an import, a
  garbage-collector callback, a `__del__` or a generator's cleanup (an exception there is swallowed, skips a
  restore, or leaves a half-imported module), nor outside the block's own frame; it comes back in a
  millisecond instead, and an expiry the interpreter dropped anyway (a weakref callback) is kept out of
  sys.unraisablehook's report;
* the timer repeats every REFIRE CPU seconds after a deadline, so an expiry that some code swallowed
  (`except BaseException: pass`) is raised again until the limited block ends;
* the handler stays installed once a limit has been used (it does nothing when no limit is active), so a late
  SIGPROF can never meet the default action, which would kill the process.
"""
from __future__ import annotations

import contextlib
import gc
import math
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from ..errors import DerivationError, DerivationTimeout, FdivError, SpecError

#: CPU seconds allowed to one heavy step; FDIV_TIME_LIMIT overrides it (the CLI's --time-limit sets it).
DEFAULT_STEP_SECONDS = 20.0
#: The most a limit may be set to (a day); larger values are refused rather than overflowing the timer.
MAX_SECONDS = 86400.0
#: CPU seconds between repeated alarms once a deadline has passed (or an alarm had to wait).
REFIRE = 0.02


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


class _Entry:
    """One active limit: its CPU-time deadline and the limit that owns it (an inner limit that would outlive
    the enclosing one takes over the enclosing deadline and owner, until that one ends)."""
    __slots__ = ("deadline", "owner", "limit", "own")

    def __init__(self, limit: time_limit, own: float) -> None:
        self.deadline, self.owner, self.limit, self.own = own, limit, limit, own


_CONTEXT_METHODS = frozenset({"__enter__", "__exit__", "__aenter__", "__aexit__", "__del__"})
_active: list[_Entry] = []  # innermost last
_foreign: object = None  # a Python handler that was there before ours, given back when no limit is active
_hook_before = None  # sys.unraisablehook before ours, while a limit is active


def _arm(seconds: float) -> None:
    signal.setitimer(signal.ITIMER_PROF, max(seconds, 1e-4), REFIRE)


def _unsafe(frame, owner: time_limit) -> bool:
    """Whether raising in `frame` could be swallowed, leave broken state, or miss its block: it runs (directly
    or through calls) the limits' own code, a context manager's enter/exit (mpmath's workdps restores the
    precision there), a GC callback, a finaliser (`__del__`, a generator's cleanup), or an import begun inside
    the limited block; or the block's own frame is not on the stack (a limit held across a generator's yield)."""
    exc = sys.exc_info()[1]
    if isinstance(exc, GeneratorExit) and exc is not owner._handling:
        return True  # a generator's cleanup, run by close() or, swallowing what it raises, by its finaliser
    callbacks = {cb.__code__ for cb in gc.callbacks if hasattr(cb, "__code__")}
    limited = owner._frame
    if limited is None:
        return True  # its block has ended
    while frame is not limited:
        if frame is None:
            return True
        code = frame.f_code
        if (code in _OWN_CODE or code in callbacks or code.co_name in _CONTEXT_METHODS
                or code.co_filename.startswith("<frozen importlib")):
            return True
        frame = frame.f_back
    return False


def _caller(frame):
    """The frame whose code holds the `with` block: past generator-based context managers (`step`), whose
    generator and contextlib frames are not on the stack while the block runs."""
    while frame.f_back is not None and frame.f_back.f_code is _CONTEXTLIB_ENTER and frame.f_back.f_back is not None:
        frame = frame.f_back.f_back
    return frame


def _on_alarm(signum, frame):  # noqa: ARG001
    if not _active or time.process_time() < _active[-1].deadline:
        return  # stale (its limit has ended) or early: the armed timer stands
    if frame is not None and _unsafe(frame, _active[-1].owner):
        # Not here: come back in a millisecond (an alarm that trips during a collection is handled in the GC
        # callback, so in GC-heavy code most alarms land there; soon enough one lands in the block itself)
        _arm(1e-3)
        return
    raise _Expired()


def _unraisable(info) -> None:
    """sys.unraisablehook while a limit is active: an expiry that the interpreter had to drop (raised in a
    weakref callback, say) is not reported; the alarm comes again at once. Anything else goes to the hook
    that was there before."""
    if isinstance(info.exc_value, _Expired):
        _arm(1e-3)
    elif _hook_before is not None:
        _hook_before(info)


class time_limit:  # noqa: N801 - used like a function, as before
    """Run the block for at most `seconds` of CPU time (default: the step limit); raise DerivationTimeout
    naming `what`. An infinite `seconds` means MAX_SECONDS."""

    def __init__(self, what: str, seconds: float | None = None) -> None:
        self.what = what
        seconds = step_seconds() if seconds is None else float(seconds)
        if math.isnan(seconds):
            raise ValueError(f"time limit for {what}: seconds is NaN")
        self.seconds = min(seconds, MAX_SECONDS)
        self._entry: _Entry | None = None
        self._frame = None  # the frame that holds the block
        self._handling = None  # the exception being handled where the block began

    def __enter__(self) -> None:
        global _foreign, _hook_before
        if threading.current_thread() is not threading.main_thread():
            return
        if self._entry is not None:
            raise RuntimeError(f"time limit for {self.what} entered twice")
        now = time.process_time()
        entry = _Entry(self, now + self.seconds)
        if _active and _active[-1].deadline <= entry.deadline:  # never outlive the enclosing limit
            entry.deadline, entry.owner = _active[-1].deadline, _active[-1].owner
        if signal.getsignal(signal.SIGPROF) is not _on_alarm:
            previous = signal.signal(signal.SIGPROF, _on_alarm)
            _foreign = previous if callable(previous) else None
        if not _active and sys.unraisablehook is not _unraisable:
            _hook_before, sys.unraisablehook = sys.unraisablehook, _unraisable
        self._frame = _caller(sys._getframe(1))
        self._handling = sys.exc_info()[1]
        _active.append(entry)
        self._entry = entry
        _arm(entry.deadline - now)

    def __exit__(self, kind, value, traceback) -> bool:
        global _hook_before
        entry, self._entry, self._frame, self._handling = self._entry, None, None, None
        if entry is None:
            return False
        signal.setitimer(signal.ITIMER_PROF, 0)
        for i in range(len(_active) - 1, -1, -1):
            if _active[i] is entry:
                del _active[i]
                break
        for other in _active:  # only when limits end out of order (one held across a generator's yield)
            if other.owner is self:
                other.deadline, other.owner = other.own, other.limit
        if _active:
            _arm(_active[-1].deadline - time.process_time())
        else:
            if sys.unraisablehook is _unraisable:
                sys.unraisablehook, _hook_before = _hook_before, None
            if _foreign is not None:  # someone else's handler: theirs again
                signal.signal(signal.SIGPROF, _foreign)
        if kind is _Expired and entry.owner is self:
            raise DerivationTimeout(
                f"{self.what} exceeded its time limit of {self.seconds:g} s of CPU time "
                "(raise it with --time-limit or FDIV_TIME_LIMIT)") from None
        return False  # an enclosing limit's expiry travels on to it; any other exception too


_CONTEXTLIB_ENTER = contextlib._GeneratorContextManager.__enter__.__code__
_OWN_CODE = frozenset({_arm.__code__, _unsafe.__code__, _on_alarm.__code__,
                       _unraisable.__code__})


def _forget_in_child() -> None:
    _active.clear()  # a forked child has no timers: the parent's deadlines (in the parent's CPU time) are not its own


os.register_at_fork(after_in_child=_forget_in_child)


def attempt(what: str, fn, *args, seconds: float | None = None, **kwargs):
    """Call fn under a time limit; return (True, result), or (False, reason) when it times out or SymPy fails.

    Any exception from SymPy counts as a failure of the step (SymPy raises NotImplementedError, TypeError,
    PolynomialError, CoercionFailed, KeyError, ... from deep inside); the caller decides what to do instead.
    """
    import os as _os
    _log = _os.environ.get("FDIV_ATTEMPT_LOG")
    _t0 = time.process_time()
    try:
        with time_limit(what, seconds):
            out = True, fn(*args, **kwargs)
        if _log:
            with open(_log, "a") as _h:
                _h.write(f"{time.process_time() - _t0:.3f}\t{seconds}\tok\t{what}\n")
        return out
    except DerivationTimeout as exc:
        if _log:
            with open(_log, "a") as _h:
                _h.write(f"{time.process_time() - _t0:.3f}\t{seconds}\tTIMEOUT\t{what}\n")
        return False, str(exc)
    except RecursionError:
        return False, f"{what} failed: expression too deeply nested"
    except MemoryError:
        return False, f"{what} failed: out of memory"
    except Exception as exc:  # noqa: BLE001 - see the docstring
        return False, f"{what} failed: {type(exc).__name__}"


def decide(what: str, fn, *args, seconds: float | None = None, **kwargs):
    """attempt() for a step whose outcome shapes a derivation or a generated module (which form is used, which
    branch is numeric, which check passes): SymPy's failures are still (False, reason), but running out of time fails
    the step as a whole (DerivationTimeout), so that what a derivation gives never depends on how fast the machine
    was. The limit is the step limit (FDIV_TIME_LIMIT, --time-limit, default 20 s), or `seconds` where that is longer
    (every such step is far below either: tens of milliseconds to a few seconds)."""
    limit = step_seconds() if seconds is None else max(seconds, step_seconds())
    try:
        with time_limit(what, limit):
            return True, fn(*args, **kwargs)
    except DerivationTimeout:
        raise
    except RecursionError:
        return False, f"{what} failed: expression too deeply nested"
    except MemoryError:
        return False, f"{what} failed: out of memory"
    except Exception as exc:  # noqa: BLE001 - see attempt()
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
