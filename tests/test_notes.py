"""The notes check and the claims checker: every verdict follows the formula it is given (a refuted claim's
correction flips it to verified, a planted wrong formula in a verified claim flips it to refuted), the
identity checker finds claims that are wrong only far from 1 or next to a breakpoint, numeric verdicts are
labelled and --require-symbolic refuses them, integral claims are compared as integrals."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mpmath
import pytest

from proofs import claims
from proofs.claims import REFUTED, UNDECIDED, VERIFIED
from proofs.notes import NOTES

ROOT = Path(__file__).resolve().parents[1]

# Refuted claims whose correction is an argument, not a formula: each says why in its correction.
NO_FORMULA_FIX = {("003", 172), ("004", 1188), ("004", 1466)}


def _claim(file: str, line: int, kind: str | None = None):
    found = [c for c in NOTES if c.file == file and c.line == line and (kind is None or c.kind == kind)]
    assert len(found) == 1, (file, line, kind)
    return found[0]


# ------------------------------------------------------------------------------- verdicts follow the formula
REFUTED_WITH_FIX = [c for c in NOTES if c.expected == REFUTED and c.fix is not None]


def test_every_refuted_claim_has_a_formula_fix_or_says_why_not():
    without = {(c.file, c.line) for c in NOTES if c.expected == REFUTED and c.fix is None}
    assert without == NO_FORMULA_FIX
    assert all(c.correction for c in NOTES if c.expected == REFUTED)
    assert len(REFUTED_WITH_FIX) >= 40


@pytest.mark.parametrize("claim", REFUTED_WITH_FIX, ids=lambda c: f"{c.file}:{c.line}:{c.kind}")
def test_substituting_the_correction_flips_the_verdict(claim):
    """The note's formula is refuted with a counterexample; the corrected formula, through the same checker,
    is verified: no checker returns its verdict regardless of its input."""
    original = claim.run()
    assert original.verdict == REFUTED and original.counterexample, original
    fixed = claim.with_formula(claim.fix).run()
    assert fixed.verdict == VERIFIED, (claim.fix, fixed)


# Verified custom claims, each with a planted wrong formula the same checker must refute.
MUTANTS = {
    ("000", 397): "p/D + q/(1-D)",  # a sign lost in the derivative
    ("002", 148): "q/(p+q)",  # p and q swapped
    ("000", 365): "w - alpha*g",  # descent where the note ascends
    ("004", 886): "w - alpha*g",
    ("003", 320): "log(D)",  # tends to 0, not -oo
    ("004", 761): "log(P)",
    ("004", 206): "2**n",  # forgets that the probabilities sum to 1
    ("004", 219): "256**3",
    ("004", 263): "P1*a1*a2/(b1*b2 + a1*a2)",  # the prior dropped
    ("004", 453): "d**2",
    ("004", 827): "784*log(2)/log(10) + 3",
    ("004", 232): "pyx*py/px",  # Bayes' rule upside down
    ("004", 509): "exp(a_k)/(exp(a1) + exp(a2))",  # a term missing from the normaliser
    ("002", 829): "lambda_adv",  # the gradient not reversed
}


@pytest.mark.parametrize("where", sorted(MUTANTS))
def test_a_wrong_formula_in_a_verified_custom_claim_is_refuted(where):
    claim = _claim(*where)
    assert claim.kind == "custom" and claim.expected == VERIFIED
    assert claim.run().verdict == VERIFIED
    wrong = claim.with_formula(MUTANTS[where]).run()
    assert wrong.verdict == REFUTED and wrong.counterexample, wrong


def test_every_custom_check_is_exercised_both_ways():
    """Each custom checker function is used by a claim whose verdict was shown to flip with its formula (above)."""
    flipped = {c.check for c in REFUTED_WITH_FIX if c.kind == "custom"}
    flipped |= {_claim(*where).check for where in MUTANTS}
    used = {c.check for c in NOTES if c.kind == "custom"}
    unflipped = {fn.__name__ for fn in used - flipped}
    # these three have no formula fix (NO_FORMULA_FIX); their checkers are tested with other input below
    assert unflipped <= {"_sup_attained", "_zero_integral"}


def test_the_attainment_and_zero_integral_checks_follow_their_input():
    sup = _claim("003", 172)
    assert sup.run().verdict == REFUTED
    # Pearson's g = u t - (t^2/4 + t) attains its supremum for every u (t = 2u - 2)
    assert sup.with_formula("u*t - (t**2/4 + t)").run().verdict == VERIFIED
    zero = _claim("004", 1466)
    assert zero.run().verdict == REFUTED
    # an integrand whose integral at D = 1/2 is not 0: no counterexample, so no refutation
    assert zero.with_formula("q/(1-D) + p/D").run().verdict != REFUTED


@pytest.mark.parametrize("where, word", [
    (("002", 563), "unbounded"), (("002", 63), "steeper"), (("002", 837), "target error"),
    (("002", 299), "saddle point"), (("003", 211), "wrong law"), (("003", 245), "wrong law"),
])
def test_the_mistakes_found_in_this_reading_are_refuted_with_a_counterexample(where, word):
    verdict = _claim(*where).run()
    assert verdict.verdict == REFUTED and word in verdict.reason and verdict.counterexample


def test_wgan_gp_counterexample_is_the_papers_objective_with_the_sign_flipped():
    """With the penalty subtracted the best linear critic has slope 1 + 1/(2 lambda): finite, and the value
    (lambda + 1/4)/lambda tends to W1 = 1; with it added the objective at a = 10 is already 91 > W1."""
    verdict = _claim("002", 563).run()
    assert verdict.counterexample["at a = 10, lambda = 1"] == "91"
    fixed = _claim("002", 563).with_formula("a*Delta - lambda_*(Abs(a) - 1)**2").run()
    assert "(lambda_ + 1/4)/lambda_" in fixed.reason


# ---------------------------------------------------------------------------------------- adversarial search
FAR_OR_NEAR = [
    ("Min(x, 1000)", "x", None, lambda x: x > 1000),
    ("Max(x, 1/10000)", "x", "x>0", lambda x: x < 1e-4),
    ("Piecewise((x, Abs(x) < 200), (x + 1, True))", "x", None, lambda x: abs(x) >= 200),
    ("x + Max(0, Abs(x) - 150)", "x", None, lambda x: abs(x) > 150),
    ("x + Max(0, 1/1000 - Abs(x))", "x", None, lambda x: abs(x) < 1e-3),
    ("Max(x*y, 10**-6)", "x*y", "x>0,y>0", lambda x: True),
    ("sqrt(x**2 + 10**-9)", "Abs(x)", None, lambda x: True),  # differs by ~1e-9/|x|: visible at small |x|
    ("x*(1 + Max(0, sign(x - 500)))", "x", "x>0", lambda x: x > 500),
    # smooth and narrow: no breakpoint, random magnitudes miss them; the critical points of the difference don't
    ("x + exp(-(x - 500)**2)", "x", None, lambda x: abs(x - 500) < 5),
    ("x + exp(-(x + 700)**2)*sign(x - 3)", "x", None, lambda x: abs(x + 700) < 5),  # SymPy cannot solve through sign
    ("x + exp(-(10**8*x - 7)**2)/10**8", "x", "x>0", lambda x: x < 1e-3),
]


@pytest.mark.parametrize("lhs, rhs, assume, where", FAR_OR_NEAR, ids=[c[0] for c in FAR_OR_NEAR])
def test_identity_checker_refutes_claims_wrong_only_far_from_one(lhs, rhs, assume, where):
    """Each claim agrees with the truth on 0.03 <= |x| <= 30 (the old sampler's band) and differs beyond
    it: the adversarial sampler (magnitudes 1e-12 to 1e12, integers, breakpoints) refutes it, with a
    counterexample that lies where the two really differ."""
    verdict = claims.check_identity(lhs, rhs, assume)
    assert verdict.verdict == REFUTED, verdict
    ce = verdict.counterexample
    assert where(float(ce["x"])), ce
    with mpmath.workdps(40):  # the counterexample is real: the sides differ there
        assert abs(mpmath.mpf(ce["lhs"]) - mpmath.mpf(ce["rhs"])) > 0


@pytest.mark.parametrize("lhs, rhs", [
    ("(exp(-x)/(1+exp(-x))**2)/(1 - 1/(1+exp(-x)))", "1/(1+exp(-x))"),  # 1 - sigma cancels at x = 1e8
    ("log(1 + exp(x))", "x + log(1 + exp(-x))"),
    ("(x+1)**10 - x**10", "10*x**9 + 45*x**8 + 120*x**7 + 210*x**6 + 252*x**5 + 210*x**4 + 120*x**3 + 45*x**2 + 10*x + 1"),
    ("Max(x, y) + Min(x, y)", "x + y"),
])
def test_cancellation_at_large_magnitudes_fakes_no_counterexample(lhs, rhs):
    assert claims.check_identity(lhs, rhs).verdict == VERIFIED


def test_breakpoints_are_found_in_abs_max_min_and_piecewise():
    import sympy as sp

    x, y = sp.symbols("x y", real=True)
    found = claims.breakpoints(sp.Abs(x - 3) + sp.Max(x, y, 2) + sp.Piecewise((x, x < 7), (0, True)))
    up_to_sign = {frozenset((g, -g)) for g in found}
    assert {frozenset((g, -g)) for g in (x - 3, x - y, x - 2, y - 2, x - 7)} <= up_to_sign


def test_conjugate_and_generator_checks_sample_far_and_near_breakpoints():
    import sympy as sp

    from fdiv.derivation.conjugate import T
    from proofs.derivations import derivation

    d = derivation("pearson")
    wrong = claims.parse_claim("Piecewise((-1, t <= -2), (Min(t**2/4 + t, 10**7), True))", T, d)
    assert claims.check_conjugate(d, wrong).verdict == REFUTED  # differs only for t > 6300
    kl = derivation("kl")
    wrong_f = claims.parse_claim("u*log(u) + Max(0, u - 10**5)", sp.Symbol("u"), kl)
    assert claims.check_generator(kl, wrong_f).verdict == REFUTED  # differs only for u > 1e5
    from fdiv.derivation.activation import V

    gan = derivation("gan")  # leaves the critic range (-oo, 0) only within 1e-5 of v = 3/10
    spike = claims.parse_claim("Max(-log(1+exp(-v)), 1/100 - 1000*Abs(v - 3/10))", V, gan)
    verdict = claims.check_activation(gan, spike)
    assert verdict.verdict == REFUTED and verdict.counterexample["v"] == "3/10"


def test_numeric_only_verdicts_are_labelled_and_require_symbolic_refuses_them():
    numeric = claims.check_identity("Min(x, 1000)", "x", "x<100")  # true, but SymPy cannot use x < 100
    assert numeric.verdict == VERIFIED and numeric.method.startswith("numeric") and not numeric.proved
    assert claims.require_symbolic(numeric).verdict == UNDECIDED
    proved = claims.check_identity("log(p*q)", "log(p) + log(q)", "p>0,q>0")
    assert proved.proved and claims.require_symbolic(proved).verdict == VERIFIED
    refuted = claims.check_identity("Min(x, 1000)", "x")
    assert claims.require_symbolic(refuted).verdict == REFUTED


def _fdiv(*args):
    return subprocess.run([sys.executable, "-m", "fdiv", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)


@pytest.mark.parametrize("args, code, symbolic", [
    (["check", "identity", "--lhs", "Min(x, 1000)", "--rhs", "x", "--assume", "x<100"], 0, False),
    (["check", "identity", "--lhs", "Min(x, 1000)", "--rhs", "x", "--assume", "x<100", "--require-symbolic"], 3,
     False),
    (["check", "identity", "--lhs", "p/(p+p)", "--rhs", "1/2", "--assume", "p>0", "--require-symbolic"], 0, True),
    (["check", "identity", "--lhs", "Min(x, 1000)", "--rhs", "x", "--require-symbolic"], 1, False),
    (["check", "conjugate", "gan", "--claim", "-log(1-exp(t))", "--require-symbolic"], 0, True),
])
def test_fdiv_check_require_symbolic_exit_codes(args, code, symbolic):
    run = _fdiv(*args, "--format", "json")
    assert run.returncode == code, run.stdout + run.stderr
    assert json.loads(run.stdout)["symbolic"] is symbolic


# ------------------------------------------------------------------------------------------------- integrals
def test_integral_claims_are_compared_as_integrals():
    # pointwise different, same integral: verified (numerically, labelled), never refuted
    same = claims.check_integral("integral(p - q)", "0")
    assert same.verdict == VERIFIED and same.method.startswith("numeric")
    # the total-variation row without its bars: the integral of p - q is 0, TV is not
    tv = claims.check_integral("integral((p - q)/2)", "integral(Abs(p - q)/2)")
    assert tv.verdict == REFUTED and float(tv.counterexample["lhs"]) == pytest.approx(0, abs=1e-20)
    # a constant counts as that constant times a density
    assert claims.check_integral("integral(p*log(p/q)) - 1", "integral(p*log(p/q) - q)").proved
