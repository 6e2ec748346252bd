import os

# One torch thread: the tests' tensors are small, and on a 2-core machine shared with other work, torch's
# intra-op threads oversubscribe the cores (200 tiny training steps: 28 s with 2 threads under load, 0.5 s with 1).
os.environ.setdefault("OMP_NUM_THREADS", "1")

from hypothesis import HealthCheck, settings

# CI is derandomised (same examples every run); FDIV_HYPOTHESIS=dev explores new examples locally.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("FDIV_HYPOTHESIS", "ci"))

# One derivation cache for the whole run (and the next run in this checkout): each heavy derivation happens once,
# whichever test asks first. Subprocesses inherit it. A fresh clone starts with an empty one.
os.environ.setdefault("FDIV_CACHE_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), ".fdiv-cache"))

import faulthandler  # noqa: E402
import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

# A test still running after this many wall-clock seconds is taken for hung: its worker writes every thread's
# traceback to .pytest-hung/ and exits, so the run ends with that test failed and named (and the traceback in
# the summary; with -n 0 it stays in that folder) instead of waiting out CI's limit. The slowest test takes
# about 20 s (pytest --durations), a few times that on a cold cache and a loaded machine.
HUNG_AFTER = 1200
HUNG_DIR = Path(__file__).resolve().parents[1] / ".pytest-hung"
_report = None


def pytest_configure(config):
    global _report
    if not hasattr(config, "workerinput"):  # the controller (or the only process): start from an empty folder
        shutil.rmtree(HUNG_DIR, ignore_errors=True)
    HUNG_DIR.mkdir(exist_ok=True)
    _report = open(HUNG_DIR / f"{os.getpid()}.txt", "w")  # noqa: SIM115 - open for the process's lifetime


def pytest_unconfigure(config):  # noqa: ARG001
    if _report is not None:
        _report.close()  # else Python warns at exit about the unclosed file


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):  # noqa: ARG001
    faulthandler.dump_traceback_later(HUNG_AFTER, exit=True, file=_report)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001
    if hasattr(config, "workerinput"):
        return
    for path in sorted(HUNG_DIR.glob("*.txt")):
        text = path.read_text(errors="replace")
        if text.strip():
            terminalreporter.section(f"a test ran past {HUNG_AFTER} s and was stopped; where it was")
            terminalreporter.write(text)
    shutil.rmtree(HUNG_DIR, ignore_errors=True)


@pytest.fixture
def pytester(pytester, monkeypatch):
    """pytester's inner runs load the environment's plugins afresh; pytest-benchmark, where installed, would warn
    there that xdist (whose worker variable they inherit) disables it. This suite does not use it (see addopts)."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:benchmark")
    return pytester
