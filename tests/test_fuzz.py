"""Fuzzing in CI: random expression trees, argv, TOML documents and text fields through parse, derive, check,
gen and gauss, in-process, each case under a small CPU-time limit. Over 5000 cases; the properties:

* nothing escapes but FdivError (the API) or one `error:` line and exit 2 (the CLI) -- never a traceback;
* a failed command writes nothing;
* a generated module compiles, imports without side effects and contains none of the input's raw text.

`python benchmarks/fuzz.py --cases 100000` runs the same generators for longer.
"""
from __future__ import annotations

import importlib.util
import io
import os
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fdiv
from fdiv.cli import main
from fdiv.errors import FdivError
from fdiv.spec.parse import EXTENDED, parse
from fdiv.spec.spec import U
from fdiv._util.timelimit import time_limit

from .fuzzing import argv_lists, expressions, text_fields, toml_documents

# An exception the interpreter had to ignore (raised in a finaliser or GC callback) fails the case: a time
# limit's expiry lost that way used to leave the case running without a limit.
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")


def fast(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # --help and --version exit through argparse, with code 0
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def assert_clean(code: int, err: str) -> None:
    assert "Traceback" not in err and "internal error" not in err, err
    assert code in (0, 1, 2, 3), (code, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert all(line.startswith(("error: ", "note: ", "deriving: ")) for line in lines), err
    if code == 2:
        assert sum(line.startswith("error: ") for line in lines) == 1, err


@fast(2000)
@given(text=expressions())
def test_parse(text):
    for functions in (None, EXTENDED):
        try:
            if functions is None:
                parse(text, {"u": U}, where="f")
            else:
                parse(text, {"t": U}, where="--claim", functions=functions)
        except FdivError:
            pass


@fast(1000)
@given(text=expressions())
def test_derive(text):
    """A short limit for the whole case: valid f's mostly stop at their first heavy step (a DerivationTimeout,
    itself an FdivError); what is under test is that nothing else ever escapes."""
    try:
        with time_limit("a fuzz case", 0.02):
            fdiv.derive(text)
    except FdivError:
        pass


@pytest.fixture
def quick_limits(monkeypatch):
    monkeypatch.setenv("FDIV_TIME_LIMIT", "0.004")  # each SymPy step; the whole command gets ten times that
    monkeypatch.setenv("FDIV_NO_CACHE", "1")


@fast(1500)
@given(argv=argv_lists())
def test_argv(argv, quick_limits, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("argv")
    argv = [str(out_dir) if a == "OUT_DIR" else a for a in argv]
    before = os.getcwd()
    code, out, err = run_cli(argv)
    assert os.getcwd() == before
    assert_clean(code, err)
    if code != 0:
        assert list(out_dir.iterdir()) == []


@fast(500)
@given(document=toml_documents())
def test_toml(document, quick_limits, tmp_path_factory):
    folder = tmp_path_factory.mktemp("toml")
    spec = folder / "spec.toml"
    spec.write_text(document, encoding="utf-8")
    out_dir = folder / "out"
    out_dir.mkdir()
    for argv in (["derive", str(spec)], ["gen", str(spec), "-o", str(out_dir)], ["check", "domain", str(spec),
                                                                                   "--claim", "(-oo, 0)"]):
        code, out, err = run_cli(argv)
        assert_clean(code, err)
    try:
        fdiv.load_toml(spec)
    except FdivError:
        pass


@fast(250)
@given(fields=text_fields())
def test_text_fields_never_reach_generated_code(fields, tmp_path_factory):
    """Hostile names, titles, references, notes and module names with a valid f: either refused (one error line,
    nothing written) or a module that imports cleanly and holds none of the hostile text."""
    folder = tmp_path_factory.mktemp("fields")
    name, title, reference, notes, module = fields
    spec = folder / "spec.toml"

    def toml_string(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').encode("unicode_escape").decode("ascii") + '"'

    spec.write_text(f"[[divergence]]\nname = {toml_string(name)}\ntitle = {toml_string(title)}\n"
                    f"reference = {toml_string(reference)}\nnotes = {toml_string(notes)}\nf = \"(u - 1)**2\"\n")
    out_dir = folder / "out"
    out_dir.mkdir()
    code, out, err = run_cli(["gen", str(spec), "--name", module, "-o", str(out_dir)])
    assert_clean(code, err)
    written = list(out_dir.iterdir())
    if code != 0:
        assert written == []
        return
    (path,) = written
    source = path.read_text(encoding="utf-8")
    for text in (title, reference, notes):
        if len(text) >= 4 and text.strip() and not text.isalnum():
            assert text not in source
    compile(source, str(path), "exec")
    spec_ = importlib.util.spec_from_file_location(path.stem, path)
    module_ = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(module_)
    assert not (Path.cwd() / "PWNED").exists()
