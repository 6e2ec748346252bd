"""The CLI's rough edges, each fixed and held: several names for one flag, "did you mean" for a command, help with
descriptions and examples, plot --no-cache, a note only where it bears on the answer, plurals, names as written,
the paper's sigma_f at the given parameter values."""
from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import subprocess

import pytest
import sympy as sp

from fdiv._util.checks import numeric_method
from fdiv.cli import build_parser, main


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    out, err = io.StringIO(), io.StringIO()
    saved = dict(os.environ)
    try:
        os.environ.update(env or {})
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def test_mixture_takes_several_divergences():
    both = run("experiment", "mixture", "--divergence", "kl", "reverse-kl", "--no-train", "--format", "json")
    assert both.returncode == 0, both.stderr
    assert [row["divergence"] for row in json.loads(both.stdout)] == ["kl", "reverse-kl"]
    repeated = run("experiment", "mixture", "--divergence", "kl", "--divergence", "reverse-kl", "--no-train",
                   "--format", "json")
    assert repeated.stdout == both.stdout
    bad = run("experiment", "mixture", "--divergence", "kl", "nope", "--no-train")
    assert bad.returncode == 2 and bad.stderr.startswith("error: unknown divergence 'nope'") and not bad.stdout


@pytest.mark.parametrize("argv, suggestion", [
    (["dervie", "kl"], "(did you mean 'derive'?)"),
    (["check", "conjugat", "gan", "--claim", "t"], "(did you mean 'conjugate'?)"),
    (["experiment", "mixtur"], "(did you mean 'mixture'?)"),
    (["xyzzy"], None),
])
def test_a_mistyped_command_gets_did_you_mean(argv, suggestion):
    r = run(*argv)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "invalid choice" in r.stderr, r.stderr
    if suggestion is None:
        assert "did you mean" not in r.stderr
    else:
        assert r.stderr.rstrip().endswith(suggestion), r.stderr


@pytest.mark.parametrize("command", [["plot"], ["experiment", "mixture"]])
def test_help_has_a_description_and_examples_that_parse(command, capsys):
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    text = capsys.readouterr().out
    head, _, examples = text.partition("\nexamples:\n")
    assert examples, "no examples section"
    description = head.split("\n\n")[1]
    assert not description.startswith(("positional arguments", "options")) and len(description) > 40
    lines = [x.strip() for x in examples.splitlines() if x.strip().startswith("fdiv ")]
    assert len(lines) >= 3
    parser = build_parser()
    for line in lines:
        argv = shlex.split(line.split("  ")[0].split(" > ")[0])[1:]
        parser.parse_args(argv)  # an example that no longer parses raises (FdivError)
    assert "f(1) = 0" not in text  # f(1) != 0 is accepted everywhere, with a note


def test_plot_no_cache_writes_no_cache_entry(tmp_path, monkeypatch):
    """Without the flag, plotting alpha at a value the shipped seed does not hold derives it and writes the entry
    to the cache directory; with it, the directory is never touched. (The in-process memo is emptied first: it
    answers before the disk.)"""
    pytest.importorskip("matplotlib")
    from fdiv.derivation import cache as derivation_cache

    for flags, expect_entries in (([], True), (["--no-cache"], False)):
        monkeypatch.setattr(derivation_cache, "_MEMORY", {})
        cache = tmp_path / ("on" if expect_entries else "off")
        r = run("plot", "alpha", "--param", "alpha=2", "-o", str(tmp_path / f"a{len(flags)}.png"), *flags,
                env={"FDIV_CACHE_DIR": str(cache)})
        assert r.returncode == 0, r.stderr
        entries = list(cache.glob("*.json")) if cache.exists() else []
        assert bool(entries) == expect_entries, (flags, entries)


def test_the_f1_note_comes_with_conjugate_claims_only():
    """gan has f(1) = -log 4: the note bears on f* (which it shifts), not on dom f* or sigma_f; checking all three
    of gan's claims prints it once."""
    notes = 0
    for kind, claim, verdict in (("conjugate", "-log(1 - exp(t))", 0), ("domain", "(-oo, 0)", 0),
                                 ("activation", "-log(1 + exp(-v))", 0)):
        r = run("check", kind, "gan", "--claim", claim)
        assert r.returncode == verdict, r.stdout + r.stderr
        notes += r.stderr.count("note: f(1) = -log(4)")
        assert (kind == "conjugate") == ("note:" in r.stderr), (kind, r.stderr)
    assert notes == 1


def test_point_counts_are_plural_only_when_plural():
    assert numeric_method(1) == "numeric (30 digits, 1 point)"
    assert numeric_method(6) == "numeric (30 digits, 6 points)"
    r = run("derive", "--f", "(sqrt(u) - 1)**4")  # its f*(f'(1)) check is numeric at one point
    assert r.returncode == 0 and "1 point)" in r.stdout and " 1 points" not in r.stdout, r.stdout


def test_a_spec_name_is_printed_as_written(tmp_path):
    spec = tmp_path / "mine.toml"
    spec.write_text('[[divergence]]\nname = "my-alpha"\nf = "(u**a - 1 - a*(u - 1))/(a*(a - 1))"\n'
                    'params = { a = { default = "1/2", interval = "(0, 1)", exclude = [] } }\n')
    r = run("derive", str(spec))
    assert r.returncode == 0 and r.stdout.startswith("my-alpha(a=1/2): "), r.stdout[:80]
    assert json.loads(run("derive", str(spec), "--format", "json").stdout)["name"] == "my-alpha"


@pytest.mark.parametrize("param, shown", [
    ("alpha=3", "v"),          # the paper's own row for alpha > 1 (it was printed with the alpha < 1 formula)
    ("alpha=1/2", None),       # the paper's 1/(1 - alpha) - log(1 + e^-v) at alpha = 1/2 is fdiv's sigma_f
    ("alpha=(0, 1)", None),    # a symbolic range keeps alpha, and the two still agree
])
def test_the_papers_activation_is_shown_at_the_parameter_values(param, shown):
    text = run("derive", "alpha", "--param", param)
    line = next((x for x in text.stdout.splitlines() if x.strip().startswith("paper's sigma_f(v)")), None)
    assert (line.split("= ", 1)[1] if line else None) == shown, text.stdout
    published = json.loads(run("derive", "alpha", "--param", param, "--format", "json").stdout)["published_activation"]
    from fdiv.spec.parse import EXTENDED, parse

    names = {"v": sp.Symbol("v"), "alpha": sp.Symbol("alpha")}
    symbols = {s.name for s in parse(published, names, where="published", functions=EXTENDED).free_symbols}
    assert ("alpha" in symbols) == ("(" in param), published  # substituted unless the parameter stays symbolic
