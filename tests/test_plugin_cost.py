"""The pytest plugin costs nothing until used: in a project that does not use fdiv's fixtures, loading it imports
no torch, SymPy or numpy, and nothing beyond a handful of fdiv's own light modules; its fixtures load fdiv on first
use. The cost is held by what is imported, which is the same on every run, not by a timing: a CPU-time ratio of two
short pytest runs moved between 1.04 and 1.54 with the machine's load and whether bytecode could be cached."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "sympy", "numpy")
# fdiv's package module, its errors, the helpers that resolve names lazily and find sibling packages, and the
# plugin itself (with the package modules above it); anything else is a new import every pytest run would pay for.
LIGHT = {"fdiv", "fdiv.errors", "fdiv._util", "fdiv._util.lazy", "fdiv._util.siblings", "fdiv.testing",
         "fdiv.testing.plugin"}

UNRELATED = textwrap.dedent(f"""
    import json
    import os
    import sys


    def test_plugin_as_expected(pytestconfig):  # the run with the plugin really has it, the other does not
        assert pytestconfig.pluginmanager.has_plugin("fdiv.testing.plugin") == (os.environ["EXPECT_PLUGIN"] == "1")


    def test_nothing_heavy_was_imported():
        with open(os.environ["MODULES_OUT"], "w") as out:
            json.dump(sorted(sys.modules), out)
        assert not {{m for m in {HEAVY!r} if m in sys.modules}}
""")

USES_A_FIXTURE = textwrap.dedent("""
    import sys


    def test_fixture_loads_fdiv_on_first_use(fdiv_logits):
        assert "torch" in sys.modules and 0.0 in fdiv_logits
""")


def run_pytest(project: Path, *args: str, expect_plugin: bool) -> tuple[subprocess.CompletedProcess, set[str]]:
    """pytest in a fresh process on `project`; returns the result and the modules loaded when its tests ran.
    Entry-point plugins are not autoloaded, so the runs differ only in fdiv's plugin, whatever else is installed."""
    modules = project / f"modules-{os.urandom(4).hex()}.json"
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "EXPECT_PLUGIN": "1" if expect_plugin else "0",
           "MODULES_OUT": str(modules), "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=project,
                         env=env, capture_output=True, text=True, timeout=300)
    loaded = set(json.loads(modules.read_text())) if modules.exists() else set()
    return out, loaded


def added_by(plugin: str, project: Path) -> tuple[subprocess.CompletedProcess, set[str]]:
    """The modules a run with `plugin` loads that the same run without fdiv's plugin does not."""
    with_plugin, loaded = run_pytest(project, "-p", plugin, expect_plugin=plugin == "fdiv.testing.plugin")
    without, baseline = run_pytest(project, "-p", "no:fdiv.testing.plugin", expect_plugin=False)
    assert without.returncode == 0 and baseline, without.stdout + without.stderr
    return with_plugin, loaded - baseline


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # its own rootdir: none of fdiv's settings apply
    (tmp_path / "test_unrelated.py").write_text(UNRELATED)
    return tmp_path


def test_plugin_imports_nothing_heavy_and_nothing_but_fdivs_light_modules(project: Path):
    """With the eager plugin (torch, SymPy and numpy at start-up) a run took about 11 times the CPU time of one
    without it; the lazy one adds only the modules in LIGHT."""
    out, added = added_by("fdiv.testing.plugin", project)
    assert out.returncode == 0, out.stdout + out.stderr
    assert added <= LIGHT and "fdiv.testing.plugin" in added, sorted(added - LIGHT)


def test_the_probe_sees_a_heavy_plugin(project: Path):
    """The same unrelated test fails when a plugin module imports torch (fdiv.testing.losses stands in for the
    plugin as it was), and the modules it adds are not all light, so both checks above can fail."""
    out, added = added_by("fdiv.testing.losses", project)
    assert out.returncode == 1 and "test_nothing_heavy_was_imported" in out.stdout, out.stdout + out.stderr
    assert {"torch", "fdiv.testing.losses"} <= added and not added <= LIGHT


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
