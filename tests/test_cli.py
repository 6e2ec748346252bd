"""The CLI as a user meets it: good commands, and one class of bad input per test (one `error:` line on stderr,
exit 2, no traceback, nothing written). How fast bad input fails is measured by benchmarks/cli_errors.py."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, cwd: Path | None = None, env: dict | None = None,
        fresh: bool = False) -> subprocess.CompletedProcess:
    """The CLI in this process (main(), as the console script calls it), or with fresh=True in a new
    interpreter. Subprocesses get a generous timeout: a busy machine must not fail the suite."""
    if fresh:
        full_env = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
        return subprocess.run([sys.executable, "-m", "fdiv", *args], capture_output=True, text=True, cwd=cwd,
                              env=full_env, timeout=900)
    import contextlib
    import io

    from fdiv.cli import main

    out, err = io.StringIO(), io.StringIO()
    here, saved = os.getcwd(), dict(os.environ)
    try:
        if cwd is not None:
            os.chdir(cwd)
        os.environ.update(env or {})
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        os.chdir(here)
        os.environ.clear()
        os.environ.update(saved)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


BAD = {
    "non-convex": ["derive", "--f", "(u - 1)**3"],
    "undefined on part of (0, oo)": ["derive", "--f", "log(u - 1)*u"],
    "pole inside (0, oo)": ["derive", "--f", "1/(u - 2) + 1"],
    "unknown catalogue name": ["derive", "no-such-divergence"],
    "unknown name in f": ["derive", "--f", "u*log(x)"],
    "unknown function": ["derive", "--f", "gamma(u)"],
    "code injection": ["derive", "--f", "__import__('os').system('touch pwned')"],
    "attribute chain": ["derive", "--f", "u.__class__.__bases__[0].__subclasses__()"],
    "lambda": ["derive", "--f", "(lambda: u)()"],
    "exponent tower": ["derive", "--f", "u**(9**9**9)"],
    "10000 characters": ["derive", "--f", "u" + "+u" * 4999 + " - 5000*u"],
    "unknown parameter": ["derive", "alpha", "--param", "beta=2"],
    "out-of-range parameter": ["derive", "js-weighted", "--param", "pi=3.14"],
    "excluded parameter": ["derive", "alpha", "--param", "alpha=1"],
    "malformed parameter": ["derive", "alpha", "--param", "alpha"],
    "affine f": ["derive", "--f", "2*(u - 1)"],
    "no target": ["derive"],
    "bad format": ["derive", "kl", "--format", "yaml"],
    "unknown command": ["frobnicate"],
    "missing TOML file": ["derive", "missing.toml"],
}


def run_here(capsys, *args: str) -> tuple[int, str, str]:
    """The CLI in this process (the same main() the console script calls, without the interpreter start)."""
    from fdiv.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("case", BAD)
def test_bad_input(case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_here(capsys, *BAD[case])
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and out == ""
    assert list(tmp_path.iterdir()) == []  # nothing written (no 'pwned' file either)


def test_bad_input_in_a_fresh_process(tmp_path):
    """The same through the interpreter: one line, exit 2, nothing written."""
    result = run(*BAD["code injection"], cwd=tmp_path, fresh=True)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert list(tmp_path.iterdir()) == []


def test_f_of_one_not_zero_is_a_note_not_an_error(capsys):
    code, out, err = run_here(capsys, "derive", "--f", "u*log(u) + 1")
    assert code == 0 and err.startswith("note: f(1) = 1") and "f(1)                = 1" in out


def test_negative_values_need_no_equals_sign(capsys):
    code, out, err = run_here(capsys, "gauss", "kl", "--p", "0,1", "--q", "-0.2,2")
    assert code == 0, err
    assert abs(float(out.split()[0]) - 0.10657359027997265) < 1e-15  # KL(N(0,1)||N(-0.2,2)), closed form
    code, out, err = run_here(capsys, "check", "conjugate", "gan", "--claim", "-log(1 - exp(t))")
    assert code == 0 and out.startswith("verified")


def test_a_near_miss_name_gets_a_suggestion(capsys):
    code, out, err = run_here(capsys, "derive", "pearsn")
    assert code == 2 and "did you mean 'pearson'?" in err


@pytest.mark.parametrize("command", ["derive", "gen", "gauss", "check", "list", "verify"])
def test_help_has_examples(command, capsys):
    from fdiv.cli import main

    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert "example" in capsys.readouterr().out


def test_derive_all_text_fits_100_columns(capsys):
    code, out, err = run_here(capsys, "derive", "--all")
    assert code == 0 and max(len(line) for line in out.splitlines()) <= 100
    assert out.count("\n\n") >= len(__import__("fdiv.spec.catalogue", fromlist=["names"]).names()) - 1  # one block per divergence


def test_messages_say_what_and_where(capsys):
    def err(case):
        return run_here(capsys, *BAD[case])[2]

    assert "f''(" in err("non-convex") and "< 0" in err("non-convex")
    assert "at u = " in err("undefined on part of (0, oo)")
    assert "pi=157/50 is outside (0, 1)" in err("out-of-range parameter")


def test_time_limit_exceeded_is_a_clear_error(capsys):
    code, out, err = run_here(capsys, "derive", "jeffrey", "--time-limit", "0.001", "--no-cache")
    assert code == 2
    # the step or the whole command (ten times the step limit) runs out first: either says so in one line
    assert err.startswith("error: ") and "exceeded its time limit of" in err and "s of CPU time" in err


def test_list_names_and_aliases():
    out = run("list").stdout
    for name in ("total-variation", "kl", "reverse-kl", "pearson", "neyman", "squared-hellinger", "jeffrey",
                 "jensen-shannon", "js-weighted", "gan", "alpha", "jsd", "triangular", "kl-normalised"):
        assert name in out
    data = json.loads(run("list", "--format", "json").stdout)
    assert {"name", "aliases", "f", "parameters"} <= set(data[0])


def test_derive_json_contract_round_trips():
    data = json.loads(run("derive", "pearson", "--format", "json").stdout)
    u, t, v = sp.symbols("u t v")
    for key in ("conjugate", "activation", "optimal_critic", "ratio_from_critic", "f_prime_at_one", "f"):
        sp.parse_expr(data[key])  # every expression reads back
    conj = sp.parse_expr(data["conjugate"])
    assert conj.subs(t, -5) == -1 and conj.subs(t, 2) == 3
    assert data["conjugate_domain"] == {"lower": "-oo", "upper": "oo", "lower_closed": False, "upper_closed": False}
    assert data["critic_range"]["lower"] == "-2"


def test_derive_all_json_is_a_list_of_the_catalogue():
    data = json.loads(run("derive", "--all", "--format", "json").stdout)
    assert len(data) >= 14 and all(all(c["passed"] for c in d["checks"]) for d in data)


@pytest.mark.parametrize("fmt, marker", [("markdown", "| `kl` |"), ("latex", r"\begin{tabular}"), ("text", "kl: Kullback-Leibler")])
def test_derive_all_table_formats(fmt, marker):
    result = run("derive", "--all", "--format", fmt)
    assert result.returncode == 0 and marker in result.stdout


def test_derive_user_f_with_parameter():
    data = json.loads(run("derive", "--f", "(u**a - 1 - a*(u - 1))/(a*(a - 1))", "--param", "a=1/2",
                          "--format", "json").stdout)
    assert data["parameters"] == {"a": "1/2"}
    assert data["conjugate_domain"]["upper"] == "2" and data["conjugate_domain"]["upper_closed"] is False


def test_derive_from_toml_file(tmp_path):
    spec = tmp_path / "mine.toml"
    spec.write_text('[[divergence]]\nname = "mine"\nf = "(u - 1)**2/2"\n')
    data = json.loads(run("derive", str(spec), "--format", "json").stdout)
    assert data["name"] == "mine" and sp.parse_expr(data["conjugate"]).subs(sp.Symbol("t"), 1) == sp.Rational(3, 2)


def test_python_m_and_console_script_agree():
    import shutil

    script = shutil.which("fdiv")
    assert script, "the console script 'fdiv' is not installed (make setup installs it)"
    via_script = subprocess.run([script, "derive", "kl"], capture_output=True, text=True, timeout=900).stdout
    assert via_script == run("derive", "kl", fresh=True).stdout and via_script.startswith("kl: ")


def test_gauss_json_contract():
    data = json.loads(run("gauss", "kl", "--p", "0,1", "--q", "1,2", "--format", "json").stdout)
    assert set(data) == {"value", "method", "abs_error"} and data["method"] == "closed-form"
    assert abs(data["value"] - 0.5 * __import__("math").log(2)) < 1e-15
    data = json.loads(run("gauss", "jsd", "--p", "0,1", "--q", "1,2", "--format", "json").stdout)
    assert data["method"] == "quadrature" and data["abs_error"] < 1e-12
    data = json.loads(run("gauss", "--f", "(u - 1)**2", "--p", "0,5", "--q", "1,2", "--format", "json").stdout)
    assert data["value"] == "inf"  # 2 var_q - var_p < 0: infinite, never a finite number


@pytest.mark.parametrize("args, message", [
    (["gauss", "kl", "--p", "0,-1", "--q", "0,1"], "variance must be positive"),
    (["gauss", "kl", "--p", "0,nan", "--q", "0,1"], "finite"),
    (["gauss", "kl", "--p", "0", "--q", "0,1"], "expected MEAN,VAR"),
    (["gauss", "jsd", "--p", "0,1", "--q", "0,1", "--method", "closed-form"], "no closed form"),
    (["gauss", "--f", "(u - 1)**3", "--p", "0,1", "--q", "0,1"], "not convex"),
])
def test_gauss_bad_input(args, message, tmp_path):
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and list(tmp_path.iterdir()) == []


def test_gen_writes_the_checked_in_module(tmp_path):
    result = run("gen", "gan", "-o", str(tmp_path), fresh=True)
    assert result.returncode == 0
    assert (tmp_path / "gan.py").read_bytes() == (ROOT / "fdiv" / "losses" / "gan.py").read_bytes()


@pytest.mark.parametrize("args, message", [
    (["gen", "--f", "(u - 1)**3"], "not convex"),
    (["gen", "--f", "__import__('os')"], "unknown function '__import__'"),
    (["gen", "kl", "--name", "1bad"], "not a usable Python module name"),
    (["gen", "kl", "--name", "torch"], "importable module"),
    (["gen", "nope"], "unknown divergence"),
    (["gen", "--f", "u*log(u)", "--param", "alpha=1"], "--param alpha: f has no symbol alpha"),
])
def test_gen_bad_input_writes_nothing(args, message, tmp_path):
    result = run(*args, "-o", str(tmp_path))
    assert result.returncode == 2 and result.stderr.startswith("error: ") and message in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_gen_missing_directory(tmp_path):
    result = run("gen", "kl", "-o", str(tmp_path / "missing"))
    assert result.returncode == 2 and "no such directory" in result.stderr


def test_gen_output_is_a_file(tmp_path):
    existing = tmp_path / "a.py"
    existing.write_text("x = 1\n")
    result = run("gen", "kl", "-o", str(existing))
    assert result.returncode == 2 and "not a directory" in result.stderr
    assert existing.read_text() == "x = 1\n"
