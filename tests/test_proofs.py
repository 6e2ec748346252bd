"""proofs: the derivations pass and their reports are current; no side condition is a constant; changing any
kind of step (an equality's right side, a lemma step, a numeric step, a limit, a sign, a computed value) or a
side condition's subject fails the proof; the notes' claims are verbatim and the named mistakes reported; the
claims checker verifies right claims and refutes wrong ones; fdiv check's exit codes."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp

import fdiv
from fdiv.derivation.activation import V
from proofs import all_proofs, claims
from proofs.engine import CHECKABLE, Proof, Source, mutate_step

ROOT = Path(__file__).resolve().parents[1]
REPORT = json.loads((ROOT / "docs" / "proofs.json").read_text(encoding="utf-8"))


def test_python_m_proofs_passes_and_reports_are_current():
    """Every derivation passes, every note gets the verdict the mathematics dictates, the summary counts
    numeric steps and assumptions, and docs/proofs.md, proofs.json and notes-check.md are what
    `python -m proofs --write` produces (so the tests below may read proofs.json)."""
    run = subprocess.run([sys.executable, "-m", "proofs", "--check"], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    line = re.search(r"proofs: (\d+) of (\d+) proofs pass \((\d+) steps, (\d+) numeric, (\d+) assumptions\)",
                     run.stdout)
    assert line and line.group(1) == line.group(2), run.stdout
    assert "0 not as expected" in run.stdout
    assert int(line.group(2)) == REPORT["summary"]["proofs"]


@pytest.fixture(scope="module")
def proofs():
    return all_proofs()


# ---------------------------------------------------------------------------------------- engine rigour
def test_no_constant_side_conditions(proofs):
    """No lemma condition is a constant: the source has no `lambda: True`-style conditions, and every condition
    of every lemma used is either a real check on a subject or a hypothesis, which is counted as an assumption."""
    constant = re.compile(r"lambda\s*:\s*(True|False|1|0|None)\b")
    for path in (ROOT / "proofs").glob("*.py"):
        assert not constant.search(path.read_text(encoding="utf-8")), path.name
    seen = hypotheses = 0
    for proof in proofs:
        for step in proof.steps:
            for cond in (step.lemma.conditions if step.lemma else []):
                seen += 1
                if cond.assumption:
                    hypotheses += 1
                    continue
                assert cond.subject is not None and not isinstance(cond.subject, bool), (proof.title, cond.text)
                assert not (isinstance(cond.subject, sp.Basic) and cond.subject in (sp.true, sp.false))
    assert seen >= 60 and hypotheses >= 1
    # every step resting on a hypothesis is reported and counted as an assumption
    assumed = [s for p in REPORT["proofs"] for s in p["steps"] if s["assumptions"]]
    assert len(assumed) == REPORT["summary"]["assumptions"] > 0
    assert all(s["method"] == "assumption" or s["relation"] in ("<=", ">=", "=") for s in assumed)


def test_numeric_steps_report_their_points():
    numeric = [s for p in REPORT["proofs"] for s in p["steps"] if "numeric" in s["method"]]
    assert len(numeric) == REPORT["summary"]["numeric"]
    for s in numeric:
        points = re.search(r"(\d+) points", s["method"])
        assert points is None or int(points.group(1)) >= 20, s["method"]


def _numeric_equality() -> Proof:
    """Euler's dilogarithm reflection on (0, 1): true, beyond SymPy, so checked numerically."""
    x = sp.Symbol("x", real=True)
    euler = sp.polylog(2, x) + sp.polylog(2, 1 - x)
    return (Proof("Li2 reflection", Source("test", "-"), "", numeric={x: (0.01, 0.99)})
            .start(euler).eq(sp.pi**2 / 6 - sp.log(x) * sp.log(1 - x), "Euler's reflection formula"))


def _kinds(proofs):
    """(proof, step index, kind) for every checkable step, classified from the checked report (docs/proofs.json,
    current by the first test): '=' and '= numeric' equalities, lemma steps, limits, signs, computed values."""
    methods = {p["title"]: [s["method"] for s in p["steps"]] for p in REPORT["proofs"]}
    out = []
    for proof in [*proofs, _numeric_equality()]:
        reported = methods.get(proof.title) or [r.method for r in proof.check().steps]
        k = 0
        for i, step in enumerate(proof.steps):
            if step.relation == "start":
                continue
            method = reported[k]
            k += 1
            if step.relation not in CHECKABLE:
                continue
            kind = step.relation
            if step.relation == "=" and "numeric" in method:
                kind = "= numeric"
            elif step.relation == "computed":
                kind = "computed " + ("numeric" if "numeric" in method else "exact")
            out.append((proof, i, kind))
    return out


def _spread(items: list, count: int) -> list:
    """`count` items evenly spread over the list (all of them if it is shorter)."""
    if len(items) <= count:
        return items
    return [items[round(j * (len(items) - 1) / (count - 1))] for j in range(count)]


def test_mutated_steps_of_every_kind_fail(proofs):
    """Each kind of step is mutated (its right side changed, a != made an equality, a computed relation
    flipped) and must then fail. A mutated proof differs from the passing proof in one step, so it fails
    exactly when that step does: the test checks the mutated step alone (Proof.check_step). Up to ten steps of
    each kind, spread over the topics, keep the cost down."""
    steps = _kinds(proofs)
    by_kind: dict[str, list] = {}
    for entry in steps:
        by_kind.setdefault(entry[2], []).append(entry)
    assert set(by_kind) >= {"=", "= numeric", "<=", ">=", "!=", "limit", "sign", "computed numeric",
                            "computed exact"}
    survivors, tried = [], 0
    for kind, entries in by_kind.items():
        for proof, i, _ in _spread(entries, 10):
            tried += 1
            if proof.check_step(i, mutate_step(proof.steps[i])).passed:
                survivors.append(f"{proof.title}: step {i} ({kind})")
    assert survivors == []
    assert tried >= 50


def test_changing_a_side_conditions_subject_fails_the_step(proofs):
    """For lemma steps with checked conditions (a sign, convexity, an equality, a cited proof, a real value),
    each condition on a changed subject (negated, shifted, made complex, or the cited proof mutated) makes the
    step fail: up to four conditions of each kind, spread over the proofs."""
    by_kind: dict[str, list] = {}
    for proof in proofs:
        for i, step in enumerate(proof.steps):
            for j, cond in enumerate(step.lemma.conditions if step.lemma else []):
                if not cond.assumption:
                    by_kind.setdefault(cond.kind, []).append((proof, i, j))
    assert set(by_kind) >= {"positive", "nonnegative", "convex", "concave", "zero", "proof", "real"}
    survivors = []
    for kind, entries in by_kind.items():
        for proof, i, j in _spread(entries, 4):
            step = proof.steps[i]
            conditions = [c if k != j else c.mutated() for k, c in enumerate(step.lemma.conditions)]
            lemma = type(step.lemma)(step.lemma.name, step.lemma.gap, conditions)
            mutated = type(step)(**{**step.__dict__, "lemma": lemma})
            if proof.check_step(i, mutated).passed:
                survivors.append(f"{proof.title}: step {i}, condition '{step.lemma.conditions[j].text}' ({kind})")
    assert survivors == []


def test_a_lemma_whose_side_condition_fails_is_rejected():
    """Jensen's inequality in the concave direction, applied to exp (convex): the side condition fails."""
    from proofs.lemmas import jensen

    y = sp.Symbol("y", positive=True)
    a, b = sp.symbols("a b", positive=True)
    mean, mean_phi = (a + b) / 2, (sp.exp(a) + sp.exp(b)) / 2
    proof = (Proof("wrong Jensen", Source("test", "-"), "exp((a+b)/2) >= (e^a + e^b)/2")
             .start(mean_phi).le(sp.exp(mean), jensen(sp.exp, mean, mean_phi, y, "two points")))
    result = proof.check()
    assert not result.passed and "side condition" in result.steps[0].detail


def test_numeric_fallback_needs_20_admissible_points_and_counts_skips():
    """Euler's dilogarithm reflection (SymPy cannot prove it) checks numerically on (0, 1); where half the
    draws cannot be evaluated (nan) they are skipped and counted; where almost all are, the step fails; a
    complex value at an admissible point fails as a domain error."""
    x = sp.Symbol("x", real=True)
    euler = sp.polylog(2, x) + sp.polylog(2, 1 - x) - (sp.pi**2 / 6 - sp.log(x) * sp.log(1 - x))
    ok = Proof("Li2 reflection", Source("test", "-"), "", numeric={x: (0.01, 0.99)}).start(euler).eq(0, "Euler")
    step = ok.check().steps[0]
    assert step.passed and "numeric (30 digits, 20 points" in step.method
    half = sp.Piecewise((euler, x > sp.Rational(1, 2)), (sp.nan, True))
    step = Proof("half", Source("test", "-"), "", numeric={x: (0.01, 0.99)}).start(half).eq(0, "").check().steps[0]
    skipped = re.search(r"(\d+) skipped: (\d+) not finite", step.method)
    assert step.passed and skipped and int(skipped.group(1)) >= 10
    rare = sp.Piecewise((euler, x > sp.Rational(99, 100)), (sp.nan, True))
    step = Proof("rare", Source("test", "-"), "", numeric={x: (0.01, 0.995)}).start(rare).eq(0, "").check().steps[0]
    assert not step.passed and "only" in step.detail and "admissible" in step.detail
    wrong = Proof("complex", Source("test", "-"), "").start(sp.sqrt(x) * sp.polylog(2, x)).eq(
        sp.polylog(2, x) * sp.sqrt(sp.Abs(x)), "equal for x > 0 only, and x is any real")
    step = wrong.check().steps[0]
    assert not step.passed and "domain error" in step.detail


def test_assumptions_are_counted_and_cited_proofs_must_pass():
    from proofs.engine import summary
    from proofs.lemmas import by_proof

    a = sp.Symbol("a", real=True)
    failing = Proof("false", Source("test", "-"), "").start(a).eq(a + 1, "wrong")
    proof = (Proof("cites", Source("test", "-"), "")
             .assume("a hypothesis", "cited")
             .start(a**2 + 1).ge(1, by_proof("square", a**2, lambda: failing), "uses a failing proof"))
    result = proof.check()
    assert summary([result])["assumptions"] == 1
    assert not result.steps[1].passed and "side condition" in result.steps[1].detail


def test_matrix_sum_and_fubini_rules():
    """Matrix algebra (any dimension), finite sums with renamed indices, and Fubini for a product integrand."""
    n = sp.Symbol("n", positive=True, integer=True)
    A = sp.MatrixSymbol("A", n, n)
    X = sp.MatrixSymbol("x", n, 1)
    assert Proof("m", Source("t", "-"), "").start(sp.Trace((A.I * X).T * (A.I * X))).eq(
        sp.Trace(X.T * (A * A.T).I * X), "").check().passed
    assert not Proof("m", Source("t", "-"), "").start(sp.Trace((A.I * X).T * (A.I * X))).eq(
        sp.Trace(X.T * (A.T * A).I * X), "").check().passed
    i, j, k = sp.symbols("i j k", positive=True, integer=True)
    w = sp.Function("w")
    total = sp.Sum(w(j), (j, 1, k + 1))
    assert Proof("s", Source("t", "-"), "").start(sp.Sum(total - w(i), (i, 1, k + 1))).eq(k * total, "").check().passed
    x, y = sp.symbols("x y", real=True)
    p, g = sp.Function("p", positive=True), sp.Function("g")
    double = sp.Integral(g(x) * g(y) * p(x) * p(y), (x, -sp.oo, sp.oo), (y, -sp.oo, sp.oo))
    single = sp.Integral(g(x) * p(x), (x, -sp.oo, sp.oo))
    assert Proof("f", Source("t", "-"), "", densities=[p(x)]).start(double).eq(single**2, "").check().passed


# ------------------------------------------------------------------------------------------------- notes
def _note(file: str, line: int) -> list[dict]:
    return [n for n in REPORT["notes"] if n["file"] == file and n["line"] == line]


def test_note_000_line_340_is_refuted_with_its_counterexample():
    (entry,) = _note("000", 340)
    assert entry["verdict"] == "refuted"
    ce = entry["counterexample"]
    v = sp.Float(ce["v"], 30)
    claimed = sp.log(1 / (1 + sp.exp(-sp.log(1 / (1 + sp.exp(-v))))))
    true = -sp.log(1 + sp.exp(v))  # log(1 - D), D = sigmoid(v)
    assert abs(sp.N(claimed - sp.Float(ce["lhs"], 20), 15)) < 1e-15
    assert abs(sp.N(true - sp.Float(ce["rhs"], 20), 15)) < 1e-15  # the reference is log(1 - D)
    assert abs(claimed - true) > 1e-3


@pytest.mark.parametrize("file, line", [
    ("000", 340), ("004", 1574), ("004", 1188), ("002", 827), ("002", 153), ("002", 874), ("004", 769),
    ("004", 504), ("004", 1195), ("000", 318), ("004", 1466), ("004", 1707),
])
def test_named_mistakes_are_refuted(file, line):
    entries = _note(file, line)
    assert entries and all(e["verdict"] == "refuted" and e["correction"] for e in entries)
    assert all(e["counterexample"] for e in entries)


@pytest.mark.parametrize("file, line, word", [
    ("000", 129, "lower semicontinuous"), ("001", 304, "grad"), ("004", 1095, "input data x"),
    ("004", 1195, "R^D"), ("004", 900, "shadows"), ("001", 300, "grad"),
])
def test_mistakes_that_are_not_formulas_are_listed(file, line, word):
    rows = [r for r in REPORT["not_expressible"] if r["file"] == file and r["line"] == line]
    assert rows and word in rows[0]["correction"]


def test_every_claim_parses_and_shows_the_notes_text():
    from proofs.notes import NOTES

    assert len(NOTES) >= 60
    for claim in NOTES:
        assert claim.quote.strip() and claim.formula.strip()
        claim.parsed()  # the note's formula, as written, is a formula the parser reads
    md = (ROOT / "docs" / "notes-check.md").read_text(encoding="utf-8")
    assert "parsed formula" in md and r"\text{dom } f^* = \bar{\mathbb{R}}" in md


@pytest.mark.skipif(not os.environ.get("FDIV_NOTES_DIR"), reason="FDIV_NOTES_DIR (the course notes) not set")
def test_quotes_are_verbatim():
    """With the course notes at hand (FDIV_NOTES_DIR holds 000_*.txt ... 004_*.txt), every quote occurs at its
    line."""
    from proofs.notes import quotes_in

    folder = Path(os.environ["FDIV_NOTES_DIR"])
    lines = {p.name[:3]: p.read_text(encoding="utf-8").split("\n") for p in folder.glob("00*.txt")}
    assert quotes_in(lines) == []


# ---------------------------------------------------------------------------------------------- families
FAMILIES = {
    "autoregressive": ("Chain rule", "torch numel"),
    "wasserstein": ("1-D W1 = integral of |F - G|", "quadrature"),
    "adversarial": ("Projection discriminator", "quadrature"),
    "diffusion": ("DDPM: the negative ELBO", "exact model"),
    "mle_vae": ("beta-VAE", "exact"),
    "flows": ("n dimensions", "exact model"),
}


@pytest.mark.parametrize("topic", sorted(FAMILIES))
def test_each_family_has_its_derivation_and_an_exact_model(topic):
    title, check = FAMILIES[topic]
    proofs = [p for p in REPORT["proofs"] if p["topic"] == topic]
    assert all(p["passed"] for p in proofs) and any(title in p["title"] for p in proofs)
    text = json.dumps(proofs)
    assert check in text


# ------------------------------------------------------------------------------------------- claims checker
CASES = ["kl", "pearson", "neyman", "gan", "jensen-shannon", "squared-hellinger", "total-variation", "triangular",
         "js-weighted", "jeffrey", "(u-1)**4", "u*log(u) + 3*(u-1)", "Abs(u-1)**3"]


@pytest.fixture(scope="module")
def derived():
    return {name: fdiv.derive(name) for name in CASES}


def _smooth_branch(d):
    return d.conjugate.args[-1][0] if isinstance(d.conjugate, sp.Piecewise) else d.conjugate


@pytest.mark.parametrize("name", CASES)
def test_right_claims_are_verified(name, derived):
    d = derived[name]
    dom = d.conjugate_domain
    text = (f"{'[' if dom.lower_closed else '('}{dom.lower}, {dom.upper}{']' if dom.upper_closed else ')'}")
    assert claims.check_domain(d, text).verdict == claims.VERIFIED
    if not isinstance(d.conjugate, sp.Piecewise):
        assert claims.check_conjugate(d, d.conjugate).verdict == claims.VERIFIED
    assert claims.check_activation(d, d.activation).verdict == claims.VERIFIED


@pytest.mark.parametrize("name", CASES)
def test_wrong_claims_are_refuted_with_a_counterexample(name, derived):
    d = derived[name]
    wrong_conjugates = [_smooth_branch(d) + sp.Rational(1, 7)]  # off by a constant
    other = derived["kl" if name != "kl" else "pearson"]
    wrong_conjugates.append(_smooth_branch(other))  # another row's conjugate
    for claim in wrong_conjugates:
        v = claims.check_conjugate(d, claim)
        assert v.verdict == claims.REFUTED and {"t", "claimed", "true"} <= set(v.counterexample)
    dom = d.conjugate_domain
    if dom.upper.is_finite:  # the wrong end, then the wrong closedness
        wrong = [f"(-oo, {dom.upper + 1})", f"(-oo, {dom.upper}{')' if dom.upper_closed else ']'}"]
    else:
        wrong = ["(-oo, 0)", "(0, oo)"]
    for text in wrong:
        assert claims.check_domain(d, text).verdict == claims.REFUTED, text
    rng = d.critic_range
    leaving = rng.upper + 1 + sp.exp(V) if rng.upper.is_finite else rng.lower - 1 - sp.exp(V) if rng.lower.is_finite \
        else None
    if leaving is not None:
        v = claims.check_activation(d, leaving)
        assert v.verdict == claims.REFUTED and "v" in v.counterexample


def test_identity_checker():
    assert claims.check_identity("log(p*q)", "log(p) + log(q)", "p>0,q>0").verdict == claims.VERIFIED
    refuted = claims.check_identity("log(p*q)", "log(p) + log(q)")  # false for p, q < 0
    assert refuted.verdict == claims.REFUTED and refuted.counterexample["rhs"] == "undefined or not real"
    assert claims.check_identity("sqrt(-1-x**2)", "sqrt(-2-x**2)").verdict == claims.UNDECIDED
    # cancellation at 40 digits (1 - 1/(1 + e^-74)) must not fake a counterexample: re-checked at 120 digits
    assert claims.check_identity("(exp(-x)/(1+exp(-x))**2)/(1 - 1/(1+exp(-x)))",
                                 "1/(1+exp(-x))").verdict == claims.VERIFIED


def test_the_gan_conjugate_is_verified_symbolically():
    d = fdiv.derive("gan")
    v = claims.check_conjugate(d, claims.parse_claim("-log(1-exp(t))", sp.Symbol("t", real=True), d))
    assert v.verdict == claims.VERIFIED and v.method == "symbolic"


def _fdiv(*args):
    return subprocess.run([sys.executable, "-m", "fdiv", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=900)


@pytest.mark.parametrize("args, code, verdict", [
    (["check", "conjugate", "gan", "--claim", "-log(1-exp(t))"], 0, "verified"),
    (["check", "conjugate", "jensen-shannon", "--claim", "-log(1-exp(t))"], 1, "refuted"),
    (["check", "domain", "gan", "--claim", "(-oo, 0]"], 1, "refuted"),
    (["check", "domain", "--f", "(1-u)**2/u", "--claim", "(-oo, 1]"], 0, "verified"),
    (["check", "activation", "gan", "--claim", "v"], 1, "refuted"),
    (["check", "identity", "--lhs", "sqrt(-1-x**2)", "--rhs", "sqrt(-2-x**2)"], 3, "undecided"),
    (["check", "identity", "--lhs", "p/(p+p)", "--rhs", "1/2", "--assume", "p>0"], 0, "verified"),
])
def test_fdiv_check_exit_codes_and_json(args, code, verdict):
    run = _fdiv(*args, "--format", "json")
    assert run.returncode == code, run.stderr
    data = json.loads(run.stdout)
    assert data["verdict"] == verdict and set(data) >= {"verdict", "counterexample", "reason"}
    assert (data["counterexample"] is None) == (verdict != "refuted")


@pytest.mark.parametrize("args, message", [
    (["check", "conjugate", "gan", "--claim", "__import__('os')"], "unknown function '__import__'"),
    (["check", "domain", "gan", "--claim", "(0, 1"], "not an interval"),
    (["check", "identity", "--lhs", "x", "--rhs", "x", "--assume", "x>>0"], "--assume"),
    (["check", "conjugate", "--f", "1 - u**2", "--claim", "t"], "convex"),
    (["check", "conjugate", "nosuch", "--claim", "t"], "unknown divergence"),
])
def test_fdiv_check_bad_input(args, message):
    run = _fdiv(*args)
    assert run.returncode == 2 and run.stderr.startswith("error:") and message in run.stderr
    assert run.stderr.count("\n") == 1
