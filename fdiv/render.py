"""Derivations as text, Markdown, LaTeX or JSON (one derivation, or the catalogue as one table)."""
from __future__ import annotations

import json
import textwrap

import sympy as sp

from .commands.common import FORMATS  # noqa: F401 - one list of formats, kept where the CLI reads it cheaply
from .derive import Derivation
from .inverse import legend, readable

_COLUMNS = ("divergence", "f(u)", "f*(t)", "dom f*", "critic range", "sigma_f(v)", "f'(1)")  # tables


def render(ds: list[Derivation], fmt: str, *, table: bool) -> str:
    if fmt == "json":
        if not table:
            return ds[0].to_json_text()
        return json.dumps([d.to_dict() for d in ds], indent=2, ensure_ascii=False)
    if fmt == "markdown":
        return markdown_table(ds) if table else markdown_one(ds[0])
    if fmt == "latex":
        return latex_table(ds)
    return text_table(ds) if table else text_one(ds[0])


def _label(d: Derivation) -> str:
    if not d.parameters:
        return d.name
    return f"{d.name}(" + ", ".join(f"{k}={v}" for k, v in d.parameters.items()) + ")"


def _show(e) -> str:
    """A formula as text; numeric branches appear as ustar(t) / fstar_numeric(t) (see legend)."""
    return str(readable(e)) if isinstance(e, sp.Basic) else str(e)


def text_one(d: Derivation) -> str:
    pub = d.paper_activation()
    lines = [
        f"{_label(d)}: {d.spec.title or d.name}",
        f"  f(u)                = {_show(d.f)}",
        f"  f*(t)               = {_show(d.conjugate)}",
    ]
    lines += [f"    numeric: {line}" for line in legend(d.conjugate)]
    lines += [
        f"  dom f*              = {_show(d.conjugate_domain)}",
        f"  critic range        = {_show(d.critic_range)}   (range of f' on (0, oo))",
        f"  sigma_f(v)          = {_show(d.activation)}   [{d.activation_rule}]",
    ]
    if pub is not None and not _same(pub, d.activation):
        lines.append(f"  paper's sigma_f(v)  = {pub}")
    lines += [
        f"  T*(u) = f'(u)       = {_show(d.optimal_critic)}",
        f"  (f')^-1(t)          = {_show(d.ratio_from_critic)}",
        f"  f'(1)               = {_show(d.f_prime_at_one)}",
        f"  f(1)                = {_show(d.f_at_one)}",
        f"  limits              f(0+) = {d.f_at_zero}, f'(0+) = {d.f_prime_at_zero}, f'(oo) = {d.f_prime_at_infinity}",
        "  checks:",
    ]
    lines += [f"    {c}" for c in d.checks]
    return "\n".join(lines)


def _same(a: sp.Expr, b: sp.Expr) -> bool:
    """a = b, by SymPy's simplification under a short time limit (not proved equal counts as different)."""
    from .timelimit import attempt

    if a == b:
        return True
    ok, diff = attempt("comparing the paper's activation", sp.simplify, a - b, seconds=2)
    return ok and diff == 0


WIDTH = 100


def text_table(ds: list[Derivation]) -> str:
    """One block per divergence, each line within WIDTH columns (long formulas wrap under themselves)."""
    out = []
    for d in ds:
        out.append(f"{_label(d)}: {d.spec.title or d.name}")
        rows = [("f(u)", d.f), ("f*(t)", d.conjugate), ("dom f*", d.conjugate_domain),
                ("critic range", d.critic_range), ("sigma_f(v)", d.activation), ("f'(1)", d.f_prime_at_one)]
        for label, value in rows:
            out += textwrap.wrap(_show(value), WIDTH, initial_indent=f"  {label:<14}", subsequent_indent=" " * 16,
                                 break_long_words=True, break_on_hyphens=False)
        out += [f"    numeric: {line}" for line in legend(d.conjugate)]
        out.append("")
    failed = [f"{_label(d)}: {c}" for d in ds for c in d.checks if not c.passed]
    out.append(f"{len(ds)} divergences; self-checks: " + ("all passed" if not failed else "FAILED: " + "; ".join(failed)))
    return "\n".join(out)


def _tex(e: sp.Expr) -> str:
    return sp.latex(readable(e))


def _tex_interval(i) -> str:
    lo = sp.latex(i.lower)
    hi = sp.latex(i.upper)
    return f"{'[' if i.lower_closed else '('}{lo}, {hi}{']' if i.upper_closed else ')'}"


def _tex_row(d: Derivation) -> list[str]:
    return [_label(d), _tex(d.f), _tex(d.conjugate), _tex_interval(d.conjugate_domain),
            _tex_interval(d.critic_range), _tex(d.activation), _tex(d.f_prime_at_one)]


def markdown_table(ds: list[Derivation]) -> str:
    header = "| " + " | ".join(("Divergence", "$f(u)$", "$f^*(t)$", r"$\mathrm{dom}\,f^*$", "critic range",
                                 r"$\sigma_f(v)$", "$f'(1)$")) + " |"
    lines = [header, "|" + "---|" * len(_COLUMNS)]
    for d in ds:
        cells = _tex_row(d)
        lines.append("| " + " | ".join([f"`{cells[0]}`"] + [f"${c}$".replace("|", r"\vert ") for c in cells[1:]]) + " |")
    return "\n".join(lines)


def markdown_one(d: Derivation) -> str:
    return markdown_table([d]) + "\n\n" + "\n".join(f"- {c}" for c in d.checks)


def latex_table(ds: list[Derivation]) -> str:
    lines = [r"\begin{tabular}{lllllll}", r"\hline",
             r"Divergence & $f(u)$ & $f^*(t)$ & $\mathrm{dom}\,f^*$ & critic range & $\sigma_f(v)$ & $f'(1)$ \\",
             r"\hline"]
    for d in ds:
        cells = _tex_row(d)
        name = cells[0].replace("_", r"\_")
        lines.append(" & ".join([name] + [f"${c}$" for c in cells[1:]]) + r" \\")
    lines += [r"\hline", r"\end{tabular}"]
    return "\n".join(lines)


def _card_rows(d: Derivation) -> list[tuple[str, str]]:
    """(label, LaTeX) for one derivation: what `fdiv derive NAME` prints, as math."""
    return [("f(u)", _tex(d.f)), ("f^*(t)", _tex(d.conjugate)), (r"\mathrm{dom}\,f^*", _tex_interval(d.conjugate_domain)),
            (r"\text{critic range}", _tex_interval(d.critic_range)), (r"\sigma_f(v)", _tex(d.activation)),
            ("T^*(u) = f'(u)", _tex(d.optimal_critic)), ("(f')^{-1}(t)", _tex(d.ratio_from_critic)),
            ("f'(1)", _tex(d.f_prime_at_one)), ("f(1)", _tex(d.f_at_one))]


def _passed(d: Derivation) -> str:
    failed = [c for c in d.checks if not c.passed]
    return (f"all {len(d.checks)} self-checks passed" if not failed else
            f"{len(failed)} of {len(d.checks)} self-checks FAILED: " + "; ".join(c.name for c in failed))


def markdown_card(d: Derivation) -> str:
    """One derivation as a Markdown table with LaTeX cells (a notebook's view of a Derivation)."""
    lines = [f"**{_label(d)}**" + (f": {d.spec.title}" if d.spec.title else ""), "", "| | |", "|---|---|"]
    bar = r"\vert "  # a | inside a cell would end it
    lines += [f"| ${label}$ | ${value.replace('|', bar)}$ |" for label, value in _card_rows(d)]
    lines.append(f"| $f^*$ | {d.conjugate_evaluation} |")
    lines += ["", *(f"- numeric: {line}" for line in legend(d.conjugate)), f"- {_passed(d)}",
              *(f"- note: {n}" for n in d.notes())]
    return "\n".join(lines) + "\n"


def latex_card(d: Derivation) -> str:
    """One derivation as a LaTeX array (display math), for renderers that prefer LaTeX to Markdown."""
    name = _label(d).replace("_", r"\_")
    rows = [f"{label} & {value}" for label, value in _card_rows(d)]
    rows.append(rf"f^* & \text{{{d.conjugate_evaluation}; {_passed(d)}}}")
    return (rf"$$\begin{{array}}{{ll}} \multicolumn{{2}}{{l}}{{\textbf{{{name}}}}} \\ "
            + r" \\ ".join(rows) + r" \end{array}$$")
