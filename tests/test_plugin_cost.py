"""The pytest plugin costs nothing until used: in a project that does not use fdiv's fixtures, loading it imports
no torch, SymPy or numpy and adds (almost) no start-up time; its fixtures load fdiv on first use."""
from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "sympy", "numpy")

UNRELATED = textwrap.dedent(f"""
    import os
    import sys


    def test_plugin_as_expected(pytestconfig):  # the run with the plugin really has it, the other does not
        assert pytestconfig.pluginmanager.has_plugin("fdiv.testing.plugin") == (os.environ["EXPECT_PLUGIN"] == "1")


    def test_nothing_heavy_was_imported():
        assert not {{m for m in {HEAVY!r} if m in sys.modules}}
""")

USES_A_FIXTURE = textwrap.dedent("""
    import sys


    def test_fixture_loads_fdiv_on_first_use(fdiv_logits):
        assert "torch" in sys.modules and 0.0 in fdiv_logits
""")


def run_pytest(project: Path, *args: str, expect_plugin: bool) -> tuple[subprocess.CompletedProcess, float]:
    """pytest in a fresh process on `project`; returns the result and the CPU time (user + system) it took.
    Entry-point plugins are not autoloaded, so the runs differ only in fdiv's plugin, whatever else is installed."""
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "EXPECT_PLUGIN": "1" if expect_plugin else "0",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=project,
                         env=env, capture_output=True, text=True, timeout=300)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return out, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # its own rootdir: none of fdiv's settings apply
    (tmp_path / "test_unrelated.py").write_text(UNRELATED)
    return tmp_path


def test_plugin_imports_nothing_heavy_and_costs_no_start_up_time(project: Path):
    """CPU time of the same run with and without the plugin, alternating, median of three pairs. With the eager
    plugin (torch, SymPy and numpy at start-up) the ratio was about 11 here (1.7 s against 0.15 s of CPU); the lazy
    one adds fdiv's errors module and the plugin's own, a few milliseconds (measured: 1.04-1.05). 1.25 leaves room
    for noise and none for a heavy import."""
    ratios = []
    for _ in range(3):
        with_plugin, cpu_with = run_pytest(project, "-p", "fdiv.testing.plugin", expect_plugin=True)
        assert with_plugin.returncode == 0, with_plugin.stdout + with_plugin.stderr
        without, cpu_without = run_pytest(project, "-p", "no:fdiv.testing.plugin", expect_plugin=False)
        assert without.returncode == 0, without.stdout + without.stderr
        ratios.append(cpu_with / cpu_without)
    assert statistics.median(ratios) < 1.25, ratios


def test_the_probe_sees_a_heavy_plugin(project: Path):
    """The same unrelated test fails when a plugin module imports torch (fdiv.testing.losses stands in for the
    plugin as it was), so the check above can fail."""
    out, _ = run_pytest(project, "-p", "fdiv.testing.losses", expect_plugin=False)
    assert out.returncode == 1 and "test_nothing_heavy_was_imported" in out.stdout, out.stdout + out.stderr


def test_fixtures_load_fdiv_on_first_use(project: Path):
    (project / "test_user.py").write_text(USES_A_FIXTURE)
    out, _ = run_pytest(project, "-p", "fdiv.testing.plugin", "test_user.py", expect_plugin=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_package_exports_resolve_lazily():
    """Every public name of fdiv.testing resolves, the assert_* twins are exactly those the checks registered, and
    importing the package alone loads no torch, SymPy or numpy (in a fresh process)."""
    code = ("import sys, fdiv.testing as ft; heavy = [m for m in ('torch', 'sympy', 'numpy') if m in sys.modules]; "
            "from fdiv.testing import *; from fdiv.testing.report import ASSERTS; "
            "print(heavy, sorted(ASSERTS) == sorted(n for n in ft.__all__ if n.startswith('assert_')), "
            "all(getattr(ft, n) is not None for n in ft.__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.split() == ["[]", "True", "True"], out.stdout + out.stderr
