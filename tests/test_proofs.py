"""proofs: the derivations pass and their reports are current; a changed right-hand side fails its proof; the
claims checker verifies right claims and refutes wrong ones (for catalogue and user f's); fdiv check's exit codes."""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp

import fdiv
from fdiv.activation import V
from proofs import all_proofs, claims
from proofs.engine import Proof, Source, jensen

ROOT = Path(__file__).resolve().parents[1]


def test_python_m_proofs_passes_and_reports_are_current():
    """Every derivation passes, every note gets the verdict the mathematics dictates, and docs/proofs.md,
    docs/proofs.json and docs/notes-check.md are what `python -m proofs --write` produces."""
    run = subprocess.run([sys.executable, "-m", "proofs", "--check"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 not as expected" in run.stdout


def _mutated(proof: Proof, index: int) -> Proof:
    """The proof with step `index`'s right-hand side changed: +1 for = and >=, -1 for <= (the wrong way)."""
    out = copy.copy(proof)
    out.steps = list(proof.steps)
    step = copy.copy(out.steps[index])
    if isinstance(step.rhs, sp.MatrixBase):
        step.rhs = step.rhs + sp.ones(*step.rhs.shape)
    else:
        step.rhs = step.rhs - 1 if step.relation == "<=" else step.rhs + 1
    out.steps[index] = step
    return out


def test_changing_a_right_hand_side_fails_the_proof():
    """A sample of steps (every third checkable step over all topics): each change must make the proof fail."""
    sample = [(p, i) for p in all_proofs() for i, s in enumerate(p.steps) if s.relation in ("=", "<=", ">=")]
    sample = sample[::3]
    assert len(sample) >= 25
    survivors = [f"{p.title}: step {i}" for p, i in sample if _mutated(p, i).check().passed]
    assert survivors == []


def test_a_lemma_whose_side_condition_fails_is_rejected():
    """Jensen's inequality in the concave direction, applied to exp (convex): the side condition fails."""
    y = sp.Symbol("y", positive=True)
    a, b = sp.symbols("a b", positive=True)
    mean, mean_phi = (a + b) / 2, (sp.exp(a) + sp.exp(b)) / 2
    proof = (Proof("wrong Jensen", Source("test", "-"), "exp((a+b)/2) >= (e^a + e^b)/2")
             .start(mean_phi).le(sp.exp(mean), jensen(sp.exp, mean, mean_phi, y, "two points")))
    result = proof.check()
    assert not result.passed and "side condition" in result.steps[0].detail


def test_an_undecided_equality_is_labelled_numeric():
    z = sp.Symbol("z", positive=True)
    lhs = sp.LambertW(z * sp.exp(z))  # = z for z > 0; SymPy does not simplify it
    proof = Proof("W(z e^z) = z", Source("test", "-"), "").start(lhs).eq(z, "definition of W")
    step = proof.check().steps[0]
    assert step.passed and step.method.startswith("numeric (30 digits")


# ------------------------------------------------------------------------------------------------ claims checker
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
    # an activation that leaves the critic range: shift past its finite end, or a bounded one onto the wrong side
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


def _fdiv(*args):
    return subprocess.run([sys.executable, "-m", "fdiv", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


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
