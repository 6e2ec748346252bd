"""Safe by construction: no user text in generated modules, atomic and contained writes, bounded work, one
error line (never a traceback) for every bad input, and numeric verdicts that cannot default to verified."""
from __future__ import annotations

import importlib.util
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fdiv.cli import main
from fdiv.errors import FdivError

ROOT = Path(__file__).resolve().parents[1]


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def one_error(code: int, err: str) -> None:
    lines = err.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err, err
    assert all(line.startswith(("error: ", "note: ")) for line in lines), err


# --------------------------------------------------------------------------------------------- injection
PAYLOAD = "\"\"\" if __import__('os').system('touch PWNED') else \"\"\""


def _import(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("f", [f"u*log(u) #{PAYLOAD}", "u*log(u) # \\N", "u*log(u) # '''\n", "u*log(u) # \\"])
def test_spec_text_never_reaches_the_module(f, tmp_path, capsys, monkeypatch):
    """The parser drops '#' comments; the module is written from the parsed expression, so the comment (a
    docstring breakout, a lone backslash) is nowhere in it, and importing it runs nothing."""
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, "gen", "--f", f, "--name", "evil", "-o", str(tmp_path))
    if code == 2:  # refused outright is also safe
        one_error(code, err)
        assert list(tmp_path.iterdir()) == []
        return
    assert code == 0, err
    source = (tmp_path / "evil.py").read_text()
    assert "__import__" not in source and "PWNED" not in source and "\\N" not in source and "#" not in source.split('"""')[1]
    _import(tmp_path / "evil.py")
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("field, value", [("name", 'evil"""; import os #'), ("name", "my\\Nloss"),
                                          ("title", PAYLOAD), ("reference", "\\N{"), ("notes", "'''\n\"\"\""),
                                          ("aliases", ["\"\"\""])])
def test_toml_text_fields_never_reach_the_module(field, value, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "spec.toml"
    rendered = repr(value).replace("'", '"') if isinstance(value, str) else "[" + ", ".join(
        '"' + x.replace("\\", "\\\\").replace('"', '\\"') + '"' for x in value) + "]"
    if isinstance(value, str):
        rendered = '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    name = "" if field == "name" else 'name = "mine"\n'
    spec.write_text(f'[[divergence]]\n{name}{field} = {rendered}\nf = "(u - 1)**2"\n')
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, out, err = cli(capsys, "gen", str(spec), "--name", "mine", "-o", str(out_dir))
    if code == 2:
        one_error(code, err)
        assert list(out_dir.iterdir()) == []
        return
    assert code == 0, err
    source = (out_dir / "mine.py").read_text()
    for text in ([value] if isinstance(value, str) else value):
        assert text not in source
    _import(out_dir / "mine.py")
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("name, reason", [("__init__", "dunder"), ("torch", "importable module"),
                                          ("os", "importable module"), ("fdiv", "importable module"),
                                          ("ｋｌ", "ASCII"), ("1bad", "not a usable Python module name"),
                                          ("class", "keyword"), ("a.b", "not a usable"), ("../x", "not a usable")])
def test_module_names_that_would_break_or_shadow_are_refused(name, reason, tmp_path, capsys):
    code, out, err = cli(capsys, "gen", "kl", "--name", name, "-o", str(tmp_path))
    one_error(code, err)
    assert reason in err and list(tmp_path.iterdir()) == []


def test_output_directory_must_exist_and_be_given(tmp_path, capsys):
    for target in ("", str(tmp_path / "missing"), str(tmp_path / "file.txt")):
        if target.endswith(".txt"):
            Path(target).write_text("x")
        code, out, err = cli(capsys, "gen", "kl", "-o", target)
        one_error(code, err)


# ------------------------------------------------------------------------------------------------ writes
def test_no_write_through_a_symlink(tmp_path, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "kl.py").symlink_to(outside / "target.py")  # dangling: following it would create a file outside
    code, _, err = cli(capsys, "gen", "kl", "-o", str(out))
    one_error(code, err)
    assert "symbolic link" in err and list(outside.iterdir()) == []


def test_a_failed_write_leaves_the_old_module_intact(tmp_path):
    """Under a 1 KiB file-size limit the write fails: the previous module stays whole, and the command says so."""
    import resource

    good = ROOT / "fdiv" / "losses" / "kl.py"
    (tmp_path / "kl.py").write_bytes(good.read_bytes())
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    def limit():  # runs in the child before exec
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    result = subprocess.run([sys.executable, "-m", "fdiv", "gen", "jeffrey", "--name", "kl", "-o", str(tmp_path)],
                            capture_output=True, text=True, env=env, preexec_fn=limit, timeout=600)
    assert result.returncode == 2 and result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    assert (tmp_path / "kl.py").read_bytes() == good.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["kl.py"]  # no temporary file left behind


def _writer(target: str, text: str, rounds: int) -> None:
    from fdiv.codegen.emit import write_atomic

    for _ in range(rounds):
        write_atomic(Path(target), text)


def test_concurrent_writers_never_leave_a_torn_file(tmp_path):
    """Two processes write two different modules 300 times into one target while this one reads it: every read
    sees one whole module or the other (os.replace is atomic), never a mix."""
    a = (ROOT / "fdiv" / "losses" / "kl.py").read_text()
    b = (ROOT / "fdiv" / "losses" / "jeffrey.py").read_text()
    target = tmp_path / "m.py"
    target.write_text(a)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(target), text, 300)) for text in (a, b)]
    for p in procs:
        p.start()
    reads = 0
    while any(p.is_alive() for p in procs):
        assert target.read_text() in (a, b)
        reads += 1
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert target.read_text() in (a, b) and reads > 0
    assert [p.name for p in tmp_path.iterdir()] == ["m.py"]


def test_fifo_inputs_and_targets_do_not_block(tmp_path, capsys):
    fifo = tmp_path / "spec.toml"
    os.mkfifo(fifo)
    code, _, err = cli(capsys, "derive", str(fifo))
    one_error(code, err)
    assert "not a regular file" in err
    out = tmp_path / "out"
    out.mkdir()
    os.mkfifo(out / "kl.py")
    code, _, err = cli(capsys, "gen", "kl", "-o", str(out))
    one_error(code, err)
    assert "not a regular file" in err
    (tmp_path / "d.toml").unlink(missing_ok=True)
    (tmp_path / "d.toml").mkdir()
    code, _, err = cli(capsys, "derive", str(tmp_path / "d.toml"))
    one_error(code, err)


# ------------------------------------------------------------------------------------------- bounded work
@pytest.mark.parametrize("args", [
    ["derive", "--f", "u**exp(exp(exp(64)))", "--time-limit", "5"],
    ["derive", "--f", "((((9**64)**64)**64)**64)*u"],
    ["derive", "--f", "u*" + "9" * 5000],
    ["derive", "--f", "u*log(u)*" + "(" * 120 + "u" + ")" * 120],
    ["check", "identity", "--lhs", "u" * 6000, "--rhs", "1"],
    ["check", "identity", "--lhs", "__debug__", "--rhs", "1"],
    ["derive", "kl", "--time-limit", "1e300"],
    ["derive", "kl", "--time-limit", "inf"],
    ["derive", "kl", "--time-limit", "-1"],
    ["check", "domain", "gan", "--claim", "(oo, oo)"],
    ["check", "domain", "gan", "--claim", "(0, -oo)"],
    ["derive", "js-weighted", "--param", "pi=(0, 1)", "--time-limit", "0.5"],
    ["gauss", "alpha", "--param", "alpha=(1, oo)", "--p", "0,1", "--q", "0,2"],
])
def test_bad_input_is_one_error_line(args, capsys):
    code, out, err = cli(capsys, *args)
    if args[:2] == ["derive", "js-weighted"]:  # valid input: a result, or a step past its limit; no traceback
        assert "Traceback" not in err
        if code == 0:
            return
    one_error(code, err)


@pytest.mark.parametrize("value", ["abc", "nan", "-1", "0", "inf"])
def test_bad_time_limit_environment_is_one_error_line(value, capsys, monkeypatch):
    monkeypatch.setenv("FDIV_TIME_LIMIT", value)
    code, out, err = cli(capsys, "derive", "kl", "--no-cache")
    one_error(code, err)
    assert "FDIV_TIME_LIMIT" in err


@pytest.mark.parametrize("toml, message", [
    ('name = "x"\nf = "(u-1)**2"\naliases = 3', "aliases"),
    ('name = "x"\nf = "(u-1)**2"\nparams = "a"', "params"),
    ('name = "x"\nf = "(u-1)**2"\npublished = 3', "published"),
    ('name = 3\nf = "(u-1)**2"', "name"),
    ('name = "x"\nf = 2', "f"),
    ('name = "x"\nf = "u**a"\nparams = { u = { default = "1" } }', "not a usable parameter name"),
    ('name = "x"\nf = "(u-1)**2"\nrequire_f1_zero = "false"', "unknown key"),
    ('name = "x"\nf = "(u-1)**2"\nparams = { a = { default = true } }', "default"),
])
def test_toml_fields_of_the_wrong_type(toml, message, tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text("[[divergence]]\n" + toml + "\n")
    code, _, err = cli(capsys, "derive", str(spec))
    one_error(code, err)
    assert message in err


def test_toml_with_too_many_parameters_is_refused_at_once(tmp_path, capsys):
    params = ", ".join(f"a{i} = {{ default = \"1\" }}" for i in range(2000))
    spec = tmp_path / "big.toml"
    spec.write_text(f'[[divergence]]\nname = "big"\nf = "(u-1)**2"\nparams = {{ {params} }}\n')
    code, _, err = cli(capsys, "derive", str(spec))
    one_error(code, err)
    assert "at most 16" in err


@pytest.mark.parametrize("bad", [123, None, ["kl"], b"kl"])
def test_python_api_raises_fdiv_errors_for_wrong_types(bad):
    import fdiv

    with pytest.raises(FdivError):
        fdiv.derive(bad)


def test_interrupt_is_one_line_and_exit_130(monkeypatch, capsys):
    from fdiv.commands import derive as command

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "run", interrupted)
    code, out, err = cli(capsys, "derive", "kl")
    assert code == 130 and err.strip() == "error: interrupted"


# -------------------------------------------------------------------------------------------- verdicts
@pytest.mark.parametrize("args", [
    ["check", "conjugate", "alpha", "--param", "alpha=(1, oo)", "--claim", "t"],
    ["check", "conjugate", "alpha", "--param", "alpha=(0, 1)", "--claim", "alpha*t"],
    ["check", "activation", "alpha", "--param", "alpha=(1, oo)", "--claim", "v"],
])
def test_a_symbolic_parameter_never_verifies_blindly(args, capsys):
    code, out, err = cli(capsys, *args)
    assert code in (1, 3) and "Traceback" not in err, out + err


def test_too_few_points_is_undecided():
    from proofs import claims

    # W(x) = log x - log W(x) holds for x > 0, SymPy cannot prove it, and no random draw (|x| up to 100) is
    # admissible: fewer than MIN_POINTS compared points is undecided, never verified
    verdict = claims.check_identity("LambertW(x)", "log(x) - log(LambertW(x))", "x>1000000")
    assert verdict.verdict == claims.UNDECIDED
