"""The CLI as a user meets it: good commands, and one class of bad input per test (one `error:` line on stderr,
exit 2, no traceback, nothing written, within seconds)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sympy as sp

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run([sys.executable, "-m", "fdiv", *args], capture_output=True, text=True, cwd=cwd,
                          env=full_env, timeout=60)


BAD = {
    "non-convex": ["derive", "--f", "(u - 1)**3"],
    "f(1) != 0": ["derive", "--f", "u*log(u) + 1"],
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


@pytest.mark.parametrize("case", BAD)
def test_bad_input(case, tmp_path):
    start = time.monotonic()
    result = run(*BAD[case], cwd=tmp_path)
    elapsed = time.monotonic() - start
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert list(tmp_path.iterdir()) == []  # nothing written (no 'pwned' file either)
    assert elapsed < 20


def test_messages_say_what_and_where(tmp_path):
    assert "f''(" in run(*BAD["non-convex"]).stderr and "< 0" in run(*BAD["non-convex"]).stderr
    assert "f(1) = 1" in run(*BAD["f(1) != 0"]).stderr
    assert "at u = " in run(*BAD["undefined on part of (0, oo)"]).stderr
    assert "pi=157/50 is outside (0, 1)" in run(*BAD["out-of-range parameter"]).stderr


def test_time_limit_exceeded_is_a_clear_error():
    result = run("derive", "jeffrey", "--time-limit", "0.001")
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "exceeded its time limit of 0.001 s" in result.stderr


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


@pytest.mark.parametrize("fmt, marker", [("markdown", "| `kl` |"), ("latex", r"\begin{tabular}"), ("text", "kl ")])
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
    via_script = subprocess.run([script, "derive", "kl"], capture_output=True, text=True, timeout=60).stdout
    assert via_script == run("derive", "kl").stdout and via_script.startswith("kl: ")


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
    result = run("gen", "gan", "-o", str(tmp_path))
    assert result.returncode == 0
    assert (tmp_path / "gan.py").read_bytes() == (ROOT / "fdiv" / "losses" / "gan.py").read_bytes()


@pytest.mark.parametrize("args, message", [
    (["gen", "--f", "(u - 1)**3"], "not convex"),
    (["gen", "--f", "__import__('os')"], "unknown function '__import__'"),
    (["gen", "kl", "--name", "1bad"], "not a usable Python module name"),
    (["gen", "nope"], "unknown divergence"),
])
def test_gen_bad_input_writes_nothing(args, message, tmp_path):
    result = run(*args, "-o", str(tmp_path))
    assert result.returncode == 2 and result.stderr.startswith("error: ") and message in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_gen_missing_directory(tmp_path):
    result = run("gen", "kl", "-o", str(tmp_path / "missing"))
    assert result.returncode == 2 and "no such directory" in result.stderr
