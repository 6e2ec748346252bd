"""Reports: every proof as a chain of formulas (LaTeX) with each step's justification and how it was checked;
the notes' claims, one section per claim (the quote, the formula as parsed, the verdict, the counterexample,
the correction); the coverage of the notes, per note, with line numbers."""
from __future__ import annotations

import json
import re

from sympy.printing.latex import LatexPrinter

from .claims import REFUTED, Verdict
from .engine import ProofResult, summary
from .notes import NOT_EXPRESSIBLE, NoteClaim

_REL = {"=": "=", "<=": r"\le", ">=": r"\ge", "!=": r"\ne", "<": "<", ">": ">", "iff": r"\iff"}
FOLD = 600  # characters of LaTeX above which a step is folded (a <details> block: the summary shows why and how)
TITLES = {"000": "Mathematical foundations, VDM and GANs (handwritten)", "001": "VDM and GANs (week 2)",
          "002": "GANs, VAEs, DDPM, WGAN, Bi-GAN, DANN, FID", "003": "Generative modelling and VDM (project notes)",
          "004": "XCS236 notes: AR models, MLE, VAEs, flows, GANs"}
SUMMARY_KEYS = ("proofs", "passed", "steps", "numeric", "assumptions", "axioms", "rewrites")


# ---------------------------------------------------------------------------------------------------- LaTeX
class _Printer(LatexPrinter):
    """SymPy's LaTeX with the proofs' naming conventions: sigma2 is sigma squared (not sigma_2), a trailing ~
    is a tilde (beta~ -> beta tilde), Ey3 is the moment E[y^3], a trailing _ is dropped (lambda_ -> lambda), an
    applied function named f' is f', and a claim's integral(g) is the integral of g dx."""

    _GREEK_SQUARE = re.compile(r"^(sigma|tau|s)2$")
    _MOMENT = re.compile(r"^E([a-z])(\d)$")

    def _name(self, name: str) -> str | None:
        if name.endswith("_") and len(name) > 1:  # lambda_, pi_: a keyword or a constant's name, underscored
            return self._deal_with_super_sub(name[:-1])
        if name == "eps" or name.startswith("eps_"):  # eps, eps_S: epsilon
            return self._deal_with_super_sub("varepsilon" + name[3:])
        if m := self._GREEK_SQUARE.match(name):
            return self._deal_with_super_sub(m.group(1)) + "^{2}"
        if name.endswith("~") and len(name) > 1:
            return r"\tilde{" + self._deal_with_super_sub(name[:-1]) + "}"
        if m := self._MOMENT.match(name):
            return r"\mathbb{E}\,%s^{%s}" % m.groups()
        return None

    def _print_Symbol(self, expr, style="plain"):
        special = self._name(expr.name)
        return special if special is not None else super()._print_Symbol(expr, style)

    def _print_MatrixSymbol(self, expr):
        special = self._name(expr.name)
        return special if special is not None else super()._print_MatrixSymbol(expr)

    def _print_Function(self, expr, exp=None):
        name = expr.func.__name__
        if name == "integral" and len(expr.args) == 1:  # a claim's integral(g): the integral of g over x
            out = r"\int " + self.parenthesize(expr.args[0], 40) + r"\, dx"
            return out if exp is None else rf"\left({out}\right)^{{{exp}}}"
        if name.endswith("'") and name[:-1].isidentifier():
            args = ", ".join(self._print(a) for a in expr.args)
            out = rf"{name[:-1]}'\left({args}\right)"
            return out if exp is None else rf"\left({out}\right)^{{{exp}}}"
        return super()._print_Function(expr, exp)


def latex(e) -> str:
    """A proof's or claim's expression in LaTeX (strings are words, shown as they are)."""
    if isinstance(e, str):
        return e
    return _Printer().doprint(e)


# ------------------------------------------------------------------------------------------------- Markdown
_PROSE = ((re.compile(r"\b(alpha|beta|mu|sigma|theta|pi|lambda|eps)~"), lambda m: _GREEK[m.group(1)] + "\u0303"),
          (re.compile(r"\balphabar"), lambda m: "\u1fb1"))
_GREEK = {"alpha": "α", "beta": "β", "mu": "μ", "sigma": "σ", "theta": "θ", "pi": "π", "lambda": "λ", "eps": "ε"}


def _prose(s: str) -> str:
    """The proofs' plain-text names as a reader writes them: beta~ -> β̃, mu~ -> μ̃, alphabar -> ᾱ."""
    for pattern, repl in _PROSE:
        s = pattern.sub(repl, s)
    return s


def _text(s: str) -> str:
    """Plain text for Markdown: no accidental emphasis, HTML or line breaks."""
    s = s.replace("\\", "\\\\").replace("*", r"\*").replace("_", r"\_").replace("`", r"\`")
    return s.replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")


def _math(tex: str) -> str:
    return "$" + tex.replace("\n", " ") + "$"


def _code(text: str) -> str:
    """Inline code; a backtick in the text gets a longer fence."""
    text = text.replace("\n", " ")
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}" if fence == "``" else f"`{text}`"


def _how(step) -> str:
    parts = [_text(step.method)]
    if step.assumptions:
        parts.append("**assumption:** " + _text("; ".join(step.assumptions)))
    if getattr(step, "axioms", None):
        parts.append("*axiom:* " + _text("; ".join(dict.fromkeys(step.axioms))))
    if step.detail:
        parts.append(_text(step.detail))
    if not step.passed:
        parts.insert(0, "**FAILED**")
    return "; ".join(parts)


def _step(k: int, s) -> list[str]:
    why = _text(_prose(s.why))
    if s.relation == "assume":
        return [f"{k}. **Assumption.** {_text(s.lhs)} ({why})."]
    rel = _REL.get(s.relation, "=")
    right = latex(s.right)
    if s.continues:
        body = _math(f"{rel} {right}")
    elif isinstance(s.left, str):  # a computed value: its label is words
        body = f"{_text(s.left)} {_math(f'{rel} {right}')}"
    else:
        body = _math(f"{latex(s.left)} {rel} {right}")
    if len(body) <= FOLD:
        return [f"{k}. {body} — {why}. Checked by: {_how(s)}."]
    # a long step: folded, its justification and check in the summary line
    return [f"{k}. <details><summary>{why} ({len(body)} characters of formula). Checked by: {_how(s)}.</summary>",
            "", f"   {body}", "", "   </details>"]


def _source(text: str) -> str:
    return f"*Not in the notes:* {_text(text[len('not in the notes'):].strip(' :()'))}" \
        if text.startswith("not in the notes") else f"*Notes {_text(text)}.*"


def _proof_markdown(number: int, r: ProofResult) -> list[str]:
    out = [f"### {number}. {_text(_prose(r.title))}{'' if r.passed else ' (FAILED)'}", "", _source(r.source), "",
           f"**Claim.** {_text(_prose(r.statement))}", ""]
    if getattr(r, "premises", None):  # the statement's hypotheses: densities, definitions, given premises
        out += ["**Premises.** " + _text("; ".join(r.premises)) + ".", ""]
    for k, s in enumerate(r.steps, 1):
        out += _step(k, s)
    out.append("")
    return out


def summary_line(counts: dict) -> str:
    """'108 of 108 proofs pass (464 steps, 13 numeric, 20 assumptions, ...)': every count summary() gives."""
    rest = [f"{counts[k]} {k}" for k in SUMMARY_KEYS[2:] if k in counts]
    rest += [f"{v} {k}" for k, v in counts.items() if k not in SUMMARY_KEYS]
    return f"{counts['passed']} of {counts['proofs']} proofs pass ({', '.join(rest)})"


def _axioms(results: list[ProofResult]) -> list[str]:
    """The named standard results the report takes without proof, each with the number of steps resting on it."""
    try:
        from .engine import axioms_used
        from .lemmas import AXIOMS
    except ImportError:  # an engine without named axioms
        return []
    used = axioms_used(results)
    if not used:
        return []
    out = ["The axioms: named standard results taken without proof (each step that rests on one says so):", ""]
    out += [f"- *{_text(name)}* ({n} step{'s' if n != 1 else ''}): {_text(AXIOMS.get(name, ''))}"
            for name, n in used.items()]
    return out + [""]


def proofs_markdown(results: list[ProofResult], titles: dict[str, str]) -> str:
    counts = summary(results)
    out = ["# Machine-checked derivations", "",
           "Generated by `python -m proofs --write`; checked in CI. Each proof states its claim and where the notes "
           "hold its derivation (or that they do not), then derives it as a chain: a step that continues the chain "
           "starts with its relation (=, ≤, ≥) and has the previous right-hand side as its left side. A step "
           f"whose formula runs past {FOLD} characters is folded: click it to open. Each step says how it was "
           "checked:", "",
           "- *symbolic*: SymPy shows the difference is 0 (integrals compared through their integrands; matrix "
           "expressions after expanding products and rotating traces);",
           "- *lemma*: a named inequality whose side conditions were checked (a sign, convexity from the second "
           "derivative, another proof of this report passing), with the step's gap equal to a non-negative "
           "weight times the lemma's gap;",
           "- *symbolic limit*, *symbolic sign*, *exact computation*: what they say;",
           "- *numeric (...)*: a 30-digit comparison at >= 20 admissible random points, a quadrature or a torch "
           "computation, stated as such: a numeric check, not a proof;",
           "- **assumption**: a hypothesis of the statement, a cited theorem or a trusted rewrite, not checked "
           "here, and counted.", "",
           f"**{summary_line(counts)}.**", ""]
    out += _axioms(results)
    number = 0
    topics: list[str] = []
    for r in results:
        if r.topic not in topics:
            topics.append(r.topic)
    for topic in topics:
        out += [f"## {_text(titles.get(topic, topic))}", ""]
        for r in results:
            if r.topic == topic:
                number += 1
                out += _proof_markdown(number, r)
    return "\n".join(out)


# ------------------------------------------------------------------------------------------------ the notes
def _parsed_math(c: NoteClaim) -> str:
    try:
        parsed = c.parsed()
    except Exception as exc:  # noqa: BLE001 - a claim that does not parse is shown as such, never a traceback
        return f"(does not parse: {_text(str(exc))})"
    if isinstance(parsed, tuple):
        return _text(", ".join(parsed))
    if isinstance(parsed, str):
        return _code(parsed)
    return _math(latex(parsed))


def _fix_math(c: NoteClaim) -> str:
    return _math(latex(c.with_formula(c.fix).parsed())) if not c.args.get("parse") and c.kind != "domain" \
        else _code(c.fix)


def _claim_markdown(c: NoteClaim, v: Verdict) -> list[str]:
    head = f"### Line {c.line}: {_text(c.section)} — **{v.verdict}**"
    out = [head, "", f"- The note says: {_code(c.quote)}",
           f"- Formula as parsed: {_parsed_math(c)} (from {_code(c.formula)})",
           f"- Compared with: {_text(c.compared_with())}",
           f"- Verdict: **{v.verdict}**" + (f" ({_text(v.method)})" if v.method else "") + f": {_text(v.reason)}"]
    if v.counterexample:
        out.append("- Counterexample: " + "; ".join(f"{_text(str(k))} = {_text(str(val))}"
                                                     for k, val in v.counterexample.items()))
    if c.correction:
        label = "Correction" if v.verdict == REFUTED else "Note"
        out.append(f"- {label}: {_text(c.correction)}")
    if c.fix is not None:
        out.append(f"- Corrected formula: {_fix_math(c)}, verified by the same check (a test substitutes it)")
    return out + [""]


def notes_markdown(rows: list[tuple[NoteClaim, Verdict]], coverage: list | None = None) -> str:
    from .coverage import coverage_markdown

    refuted = [(c, v) for c, v in rows if v.verdict == REFUTED]
    out = ["# The course notes, checked", "",
           "Generated by `python -m proofs --write`; checked in CI. The coverage table counts the notes' "
           "checkable claims (statements with a formula or a property that can be verified, not definitions or "
           "notation) and how each is checked: by a claim below, by a proof in [proofs.md](proofs.md), partly "
           "(what is missing is named), or not at all (with the reason). Then one section per claim the "
           "checker evaluates: the note's text (quoted verbatim, typos included), the formula as parsed from it, "
           "what it is compared with, the verdict and how it was reached, and for a refuted claim its "
           "counterexample and correction. Every verdict is computed from the parsed formula; where the "
           "correction is a formula, a test substitutes it and the same check verifies it.", ""]
    if coverage is not None:
        out += coverage_markdown(coverage) + [""]
    out += [f"**{len(rows)} claims evaluated: {len(rows) - len(refuted)} verified, {len(refuted)} refuted; "
            f"{len(NOT_EXPRESSIBLE)} further slips that are not formulas.**", ""]
    for file in sorted({c.file for c, _ in rows} | {f for f, *_ in NOT_EXPRESSIBLE}):
        mine = sorted([(c, v) for c, v in rows if c.file == file], key=lambda cv: cv[0].line)
        bad = sum(v.verdict == REFUTED for _, v in mine)
        out += [f"## Note {file}: {_text(TITLES.get(file, file))}", "",
                f"{len(mine)} claims evaluated, {bad} refuted.", ""]
        for c, v in mine:
            out += _claim_markdown(c, v)
        slips = [s for s in NOT_EXPRESSIBLE if s[0] == file]
        if slips:
            out += ["#### Slips that are not formulas", ""]
            out += [f"- Line {line} ({_text(section)}): {_code(says)}. Correction: {_text(fix)}"
                    for _, section, line, says, fix in slips]
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def proofs_json(results: list[ProofResult], rows: list[tuple[NoteClaim, Verdict]], coverage: list | None = None
                ) -> str:
    from .coverage import coverage_json

    return json.dumps({"summary": summary(results),
                       "proofs": [r.to_json() for r in results],
                       "notes": [{"file": c.file, "section": c.section, "line": c.line, "quote": c.quote,
                                  "formula": c.formula, "parsed": _parsed_text(c), "compared_with": c.compared_with(),
                                  "expected": c.expected, "correction": c.correction, "fix": c.fix, **v.to_json()}
                                 for c, v in rows],
                       "not_expressible": [{"file": f, "section": s, "line": ln, "quote": q, "correction": fix}
                                           for f, s, ln, q, fix in NOT_EXPRESSIBLE],
                       "coverage": coverage_json(coverage) if coverage is not None else None}, indent=1) + "\n"


def _parsed_text(c: NoteClaim) -> str:
    parsed = c.parsed()
    return ", ".join(parsed) if isinstance(parsed, tuple) else str(parsed)


def stale_diff(name: str, old: str, new: str, limit: int = 200) -> list[str]:
    """A unified diff of a checked-in report against what --write would write, at most `limit` lines."""
    import difflib

    lines = list(difflib.unified_diff(old.splitlines(), new.splitlines(), f"{name} (checked in)",
                                      f"{name} (python -m proofs --write)", lineterm="", n=1))
    if len(lines) > limit:
        lines = lines[:limit] + [f"... {len(lines) - limit} more diff lines"]
    return lines

