"""The Python face of a Derivation: the JSON's words in Python, to_dict / to_json_text, and a notebook view."""
from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp

import fdiv
from fdiv.checks import Check
from fdiv.render import _tex, _tex_interval

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def closed():
    return fdiv.derive("alpha", alpha="1/3")


@pytest.fixture(scope="module")
def numeric():
    return fdiv.derive("(sqrt(u) - 1)**4")  # (f')^-1 has no closed form


def test_conjugate_evaluation_is_the_json_word(closed, numeric):
    assert (closed.numeric, closed.conjugate_evaluation) == (False, "closed-form")
    assert (numeric.numeric, numeric.conjugate_evaluation) == (True, "numeric")
    for d in (closed, numeric):
        assert d.conjugate_evaluation == d.to_dict()["conjugate_evaluation"]


def test_readme_states_the_python_values(closed, numeric):
    line = next(x for x in README.read_text().splitlines() if x.startswith("d.numeric, d.conjugate_evaluation"))
    said = re.findall(r"\((True|False), '([a-z-]+)'\)", line)
    assert said == [("False", closed.conjugate_evaluation), ("True", numeric.conjugate_evaluation)], line


def test_to_dict_to_json_and_text_agree(closed, numeric):
    for d in (closed, numeric):
        assert d.to_json() == d.to_dict()  # the documented name keeps returning the dict
        assert isinstance(d.to_json_text(), str) and json.loads(d.to_json_text()) == d.to_dict()


def test_cli_json_is_to_json_text(closed):
    out = subprocess.run([sys.executable, "-m", "fdiv", "derive", "alpha", "--param", "alpha=1/3", "--format",
                          "json"], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.rstrip("\n") == closed.to_json_text()


def cells(markdown: str) -> dict[str, str]:
    rows = [line.split(" | ") for line in markdown.splitlines() if line.startswith("| $")]
    return {row[0].removeprefix("| "): row[1].removesuffix(" |") for row in rows}


def test_markdown_view_is_a_table_of_the_derivation(closed, numeric):
    for d in (closed, numeric):
        md = d._repr_markdown_()
        table = cells(md)
        assert table["$f^*(t)$"] == f"${_tex(d.conjugate)}$".replace("|", r"\vert ")
        assert table[r"$\mathrm{dom}\,f^*$"] == f"${_tex_interval(d.conjugate_domain)}$"
        assert table[r"$\sigma_f(v)$"] == f"${_tex(d.activation)}$"
        assert table["$(f')^{-1}(t)$"] == f"${_tex(d.ratio_from_critic)}$"
        assert f"| $f^*$ | {d.conjugate_evaluation} |" in md
        assert f"all {len(d.checks)} self-checks passed" in md
    assert "numeric: ustar(t): the root of f'(u) = t" in numeric._repr_markdown_()


def test_views_show_a_failed_check(closed):
    bad = dataclasses.replace(closed, checks=[*closed.checks[:-1], Check("planted", False, "symbolic", "")])
    assert "1 of 8 self-checks FAILED: planted" in bad._repr_markdown_()
    assert "FAILED: planted" in bad._repr_latex_() and "a check FAILED" in repr(bad)


def test_latex_view_is_balanced_display_math(closed):
    tex = closed._repr_latex_()
    assert tex.startswith(r"$$\begin{array}") and tex.endswith(r"\end{array}$$")
    assert tex.count("{") == tex.count("}") and tex.count(r"\begin{") == tex.count(r"\end{")
    assert sp.latex(closed.conjugate) in tex


def test_repr_is_one_line_not_a_dataclass_dump(closed):
    text = repr(closed)
    assert "\n" not in text and "spec=" not in text and len(text) < 200
    assert text.startswith("<Derivation alpha:") and "closed-form" in text
