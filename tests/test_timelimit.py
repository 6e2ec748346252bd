"""CPU-time limits (fdiv/timelimit.py): they count CPU time, nest, and stay in force wherever the alarm lands.

The alarm is a signal, so it can arrive inside a garbage-collector callback (hypothesis installs one), an import,
or code that swallows every exception. Each test below puts the alarm there on purpose; with a one-shot alarm
that raised wherever it landed, the limit was lost (the expiry swallowed, the block then ran unlimited: the hang
that stopped CI) or a module was left half-imported.
"""
from __future__ import annotations

import gc
import multiprocessing
import signal
import subprocess
import sys
import textwrap
import time
import weakref
from pathlib import Path

import mpmath
import pytest

from fdiv._util import timelimit
from fdiv.errors import DerivationTimeout
from fdiv._util.timelimit import time_limit

ROOT = Path(__file__).resolve().parents[1]


def busy(n: int = 2000) -> int:
    s = 0
    for i in range(n):
        s += i * i
    return s


def burn(cpu_seconds: float = 5.0) -> None:
    """Work for `cpu_seconds` of CPU time: far past the limits below, so a limit that was lost shows as a
    failure ("DID NOT RAISE"), not a hang."""
    end = time.process_time() + cpu_seconds
    while time.process_time() < end:
        busy()


def test_sleeping_does_not_count():
    """0.3 s asleep inside a 0.1 s limit: wall-clock time passes, CPU time does not."""
    with time_limit("asleep", 0.1):
        time.sleep(0.3)


def test_nested_limits_each_report_their_own_expiry():
    with time_limit("outer", 30):
        with pytest.raises(DerivationTimeout, match="^inner exceeded its time limit of 0.05 s"):
            with time_limit("inner", 0.05):
                burn()
        busy()  # the outer limit is still armed and has time left
    with pytest.raises(DerivationTimeout, match="^outer exceeded its time limit of 0.05 s"):
        with time_limit("outer", 0.05):
            with time_limit("inner", 30):  # cannot outlive the outer limit; the outer one reports
                burn()
    assert timelimit._active == []


def test_an_expiry_that_was_swallowed_comes_again():
    """The body catches the first expiry (as `except BaseException: pass` in a library would); the alarm
    repeats every REFIRE CPU seconds, so the block still ends, soon after its deadline."""
    swallowed = 0
    start = time.process_time()
    with pytest.raises(DerivationTimeout):
        with time_limit("swallowing", 0.05):
            try:
                burn()
            except BaseException:  # noqa: BLE001 - the point of the test
                swallowed += 1
            burn()
    assert swallowed == 1
    # 0.05 s, then one REFIRE; 1 s of CPU is generous for a loaded machine's accounting granularity
    assert time.process_time() - start < 1.0


def test_the_alarm_never_raises_inside_a_gc_callback(monkeypatch):
    """A GC callback that takes about 90 % of the CPU time: most alarms land in it. An exception there is
    'ignored' by the interpreter (and the limit with it: the hang hypothesis's own GC callback caused); the alarm
    must wait and raise in the block."""
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    calls = finished = 0

    def slow_callback(phase, info):  # noqa: ARG001
        nonlocal calls, finished
        calls += 1
        busy(20000)
        finished += 1

    gc.callbacks.append(slow_callback)
    try:
        with pytest.raises(DerivationTimeout):
            with time_limit("collecting", 0.1):
                end = time.process_time() + 5
                while time.process_time() < end:
                    busy(4000)  # a fifth of one callback: about 90 % of the time is spent in callbacks
                    gc.collect(0)
    finally:
        gc.callbacks.remove(slow_callback)
    assert calls > 10 and finished == calls  # no callback was cut short
    assert unraisable == []


def test_the_alarm_never_raises_inside_a_generators_cleanup(monkeypatch):
    """A generator dropped inside the block runs its `finally` as it is finalised, where an exception is
    'ignored': the cleanup finishes and the limit raises afterwards, in the block."""
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    cleaned = []

    def generator():
        try:
            yield 1
        finally:
            burn(0.3)  # the alarm (0.05 s) falls in here
            cleaned.append(True)

    with pytest.raises(DerivationTimeout):
        with time_limit("dropping a generator", 0.05):
            g = generator()
            next(g)
            del g  # finalised here, by reference counting
            burn()
    assert cleaned == [True] and unraisable == []


def test_an_expiry_dropped_by_a_weakref_callback_is_not_reported(monkeypatch):
    """Weakref callbacks are not recognised as such, so the alarm may raise in one; the interpreter drops that
    exception. The limits' unraisable hook keeps it out of the report and the alarm comes again at once."""
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)

    class Thing:
        pass

    def slow_callback(ref):  # noqa: ARG001
        busy(20000)  # ten times the block's own work below: most alarms land here

    with pytest.raises(DerivationTimeout):
        with time_limit("weakref callbacks", 0.05):
            end = time.process_time() + 5
            while time.process_time() < end:
                thing = Thing()
                ref = weakref.ref(thing, slow_callback)  # noqa: F841 - the callback needs it alive
                del thing  # the callback runs here
                busy(2000)
    assert unraisable == []
    assert sys.unraisablehook == unraisable.append  # given back when the limit ended


def test_the_alarm_never_raises_inside_a_context_managers_exit():
    """mpmath's workdps restores the working precision in its __exit__: an expiry raised there would leave
    every later mpmath computation at the wrong precision."""
    for _ in range(200):
        try:
            with time_limit("precision", 0.002):
                while True:
                    with mpmath.workdps(60):
                        pass
        except DerivationTimeout:
            pass
        assert mpmath.mp.dps == 15


def test_a_limit_held_across_a_yield_never_raises_outside_its_block():
    """A generator suspended inside its limit's block: the consumer's code is not that block, so the expiry
    waits (and the limit goes when the generator does); an inner limit that took over its deadline gets its
    own back."""
    def generator():
        with time_limit("inside a generator", 0.05):
            yield 1
            yield 2

    g = generator()
    next(g)
    burn(0.5)  # the consumer, past the generator's deadline: nothing raised here
    with time_limit("inner", 30):  # takes over the generator's deadline
        g.close()
        burn(0.5)  # its own 30 s again
    assert timelimit._active == []


def test_a_limit_cannot_be_entered_twice():
    limit = time_limit("once", 10)
    with limit:
        with pytest.raises(RuntimeError, match="entered twice"):
            with limit:
                pass
    assert timelimit._active == []


def test_an_import_begun_inside_the_block_completes(tmp_path, monkeypatch):
    """A module whose import takes 0.3 s of CPU, imported under a 0.01 s limit: the import finishes whole (no
    half-initialised module), then the limit raises."""
    (tmp_path / "slow_to_import.py").write_text(textwrap.dedent("""
        s = 0
        for i in range(3_000_000):
            s += i
        DONE = True
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "slow_to_import", raising=False)
    with pytest.raises(DerivationTimeout):
        with time_limit("importing", 0.01):
            import slow_to_import  # noqa: F401
            burn()
    assert sys.modules["slow_to_import"].DONE is True


def test_a_limit_inside_an_import_still_holds(tmp_path, monkeypatch):
    """The other way round: a module that runs a limited computation while it is being imported (a user's
    module calling fdiv at import time). Imports outside the block do not defer its alarm."""
    (tmp_path / "limits_at_import.py").write_text(textwrap.dedent("""
        from fdiv.errors import DerivationTimeout
        from fdiv.timelimit import time_limit
        try:
            with time_limit("at import", 0.05):
                for _ in range(10**9):
                    pass
        except DerivationTimeout:
            STOPPED = True
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "limits_at_import", raising=False)
    import limits_at_import
    assert limits_at_import.STOPPED is True


def test_the_signal_handler_is_never_left_at_its_default():
    """SIGPROF's default action kills the process: once a limit has been used, a late alarm must find a
    handler. A Python handler that was there before is given back."""
    with time_limit("first", 1):
        pass
    assert signal.getsignal(signal.SIGPROF) not in (signal.SIG_DFL, None)
    seen = []
    previous = signal.signal(signal.SIGPROF, lambda *a: seen.append(a))
    try:
        with time_limit("second", 1):
            assert signal.getsignal(signal.SIGPROF) is timelimit._on_alarm
        restored = signal.getsignal(signal.SIGPROF)
        assert restored not in (signal.SIG_DFL, timelimit._on_alarm) and callable(restored)
    finally:
        signal.signal(signal.SIGPROF, previous)


def _child_reports_limits(queue) -> None:
    queue.put(len(timelimit._active))


def test_a_forked_child_does_not_inherit_the_parents_deadlines():
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    with time_limit("parent", 30):
        child = ctx.Process(target=_child_reports_limits, args=(queue,))
        child.start()
        reported = queue.get(timeout=60)
        child.join(60)
    assert reported == 0 and child.exitcode == 0


STRESS = """
import sys
from fdiv import timelimit as tl
from fdiv.errors import FdivError

def busy(n):
    s = 0
    for i in range(n):
        s += i * i

escaped = stale = 0
for k in range(int(sys.argv[1])):
    try:
        with tl.time_limit("outer", 0.002 + (k % 7) * 1e-4):
            for j in range(50):
                tl.attempt("inner", busy, 200 + (k * j) % 300, seconds=0.001)
                try:
                    with tl.step("step", 0.0005):
                        busy(100)
                except FdivError:
                    pass
    except FdivError:
        pass
    except BaseException:
        escaped += 1
    stale += len(tl._active)
    tl._active.clear()
print(escaped, stale)
"""


def test_many_tiny_nested_limits_in_a_row():
    """Thousands of nested limits of a millisecond or less, expiring at every point of their bookkeeping: no
    expiry escapes its owner, no limit stays registered, and the process is never killed by SIGPROF."""
    result = subprocess.run([sys.executable, "-c", STRESS, "800"], capture_output=True, text=True,
                            cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["0", "0"]
