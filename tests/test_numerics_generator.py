"""D_f by quadrature needs f, not f*: any f that passes validation gets a value (also f's whose f' SymPy cannot
invert, and f(1) != 0); the quadrature stays finite near the float range; derivations are made once.

References are independent of numerics.quadrature: Gaussian closed forms combined through linearity of
D_f in f (E_Q[u^a] = int p^a q^(1-a), E_Q[u] = 1), and a direct 30-digit mpmath integral of q f(p/q) with no
shift and no log space. Tolerance 1e-9 relative: scipy's quad is asked for 1e-13 and the integrand is accurate
to ~1e-14, so 1e-9 leaves room for an optimistic error estimate, while a wrong f(1) or f'(1) shift, a missed
kink or a cut tail moves these values by more than 1e-4.
"""
from __future__ import annotations

import importlib
import json
import math

import mpmath
import pytest
import sympy as sp

from fdiv.cli import main
from fdiv.derivation.engine import resolve_spec
from fdiv.errors import FdivError
from fdiv.spec.spec import U
from numerics import generator as gen_mod
from numerics import gaussian as g
from numerics import montecarlo as mc
from numerics.closed_forms import divergence
from numerics.errors import NumericsError
from numerics.quadrature import f_divergence

REL = 1e-9
P, Q = (0.3, 1.0), (-0.2, 1.4)  # chi^2 both ways finite: 2 v_q - v_p > 0 and 2 v_p - v_q > 0
GP, GQ = g.univariate(*P), g.univariate(*Q)


def _moment(a: float) -> float:
    """E_Q[(p/q)^a] = int p^a q^(1-a) = exp((a - 1) D_a^Renyi)."""
    return math.exp((a - 1) * float(g.renyi(GP, GQ, a)))


def _mpmath_reference(expr: str, p=P, q=Q) -> float:
    """int q f(p/q) dx at 30 digits, directly: tanh-sinh split at the means and where p = q (where u = 1, a kink
    of Abs(u - 1)^3 would otherwise slow its convergence)."""
    f, _ = resolve_spec(expr, {}).expr({})
    fn = sp.lambdify(U, f, "mpmath")
    with mpmath.workdps(30):
        (m1, v1), (m2, v2) = ((mpmath.mpf(m), mpmath.mpf(v)) for m, v in (p, q))
        a, b = 1 / (2 * v2) - 1 / (2 * v1), m1 / v1 - m2 / v2  # log p - log q = a x^2 + b x + c
        c = m2**2 / (2 * v2) - m1**2 / (2 * v1) + mpmath.log(v2 / v1) / 2
        root = mpmath.sqrt(b * b - 4 * a * c)
        cuts = sorted([m1, m2, (-b - root) / (2 * a), (-b + root) / (2 * a)])

        def integrand(x):
            dp, dq = mpmath.npdf(x, m1, mpmath.sqrt(v1)), mpmath.npdf(x, m2, mpmath.sqrt(v2))
            return dq * fn(dp / dq)

        return float(mpmath.quad(integrand, [-mpmath.inf, *cuts, mpmath.inf]))


# f's whose f' SymPy cannot invert in closed form (issue examples), and f's with f(1) != 0
HARD = {
    "(sqrt(u)-1)**4": lambda: _moment(2) - 4 * _moment(1.5) + 7 - 4 * _moment(0.5),
    "(u-1)**2 + (1-u)**2/u": lambda: float(g.pearson_chi2(GP, GQ) + g.neyman_chi2(GP, GQ)),
    "3/10*u*log(u) - (7/10 + 3/10*u)*log(7/10 + 3/10*u)": None,
    "(1+u)*log((1+u)/sqrt(u)) - (1+u)*log(2)": None,
    "u*log(u) - (u+1)*log(u+1)": lambda: f_divergence("jensen-shannon", P, Q).value - math.log(4),
    "Abs(u-1)**3": None,
    "u*log(u) + 5": lambda: float(g.kl(GP, GQ)) + 5,
    "Abs(u-1)/2 + 1": lambda: float(g.total_variation(GP, GQ)) + 1,
}


@pytest.mark.parametrize("expr", list(HARD))
def test_any_valid_f_gets_a_value(expr):
    value = f_divergence(expr, P, Q)
    assert math.isfinite(value.value)
    reference = HARD[expr]() if HARD[expr] else _mpmath_reference(expr)
    assert abs(value.value - reference) <= REL * abs(reference), (value, reference)


def test_no_conjugate_is_derived(monkeypatch):
    """Quadrature, Monte Carlo and closed forms given a name never reach fdiv's conjugate step."""
    def refuse(*args, **kwargs):
        raise AssertionError("numerics derived a conjugate")

    derive_module = importlib.import_module("fdiv.derivation.engine")  # the module; fdiv.derive is the function
    monkeypatch.setattr(derive_module, "conjugate", refuse)
    gen_mod._generator.cache_clear()
    gen_mod._derivation.cache_clear()
    assert math.isfinite(f_divergence("(sqrt(u)-1)**4", P, Q).value)
    assert math.isfinite(f_divergence("jsd", P, Q).value)
    assert math.isfinite(divergence("alpha", P, Q, alpha="1/3").value)
    assert math.isfinite(mc.f_divergence("kl", GP, GQ, n=1000).value)
    monkeypatch.setenv("FDIV_NO_CACHE", "1")  # a fresh derivation (not one read back from the cache) ...
    monkeypatch.setattr(importlib.import_module("fdiv.derivation.cache"), "_MEMORY", {})
    with pytest.raises(AssertionError, match="derived a conjugate"):  # ... shows the probe does bite
        derive_module.derive("kl")


def test_derivations_are_made_once(monkeypatch):
    """Repeated calls by name validate f once (generator) and derive once (variational bound)."""
    calls = {"validate": 0, "derive": 0}
    real_validate, real_derive = gen_mod.validate, gen_mod.derive

    def counting(name, real):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(gen_mod, "validate", counting("validate", real_validate))
    monkeypatch.setattr(gen_mod, "derive", counting("derive", real_derive))
    gen_mod._generator.cache_clear()
    gen_mod._derivation.cache_clear()
    for seed in range(3):
        f_divergence("kl", P, (seed, 1.0))
        mc.f_divergence("kl", GP, GQ, n=1000, seed=seed)
        mc.variational_bound(lambda x: x[:, 0], "kl", GP, GQ, n=1000, seed=seed)
    assert calls == {"validate": 1, "derive": 1}


def test_overflowing_integrand_is_integrated_in_log_space():
    """alpha = 3 between narrow, distant Gaussians: D = 1.35e307, the integrand peaks near float64's largest
    value (quad's weights push it over). Finite, and within 1e-8 of the closed form."""
    p, q = (3.484375, 0.05), (0.046875, 0.05)
    quad = f_divergence("alpha", p, q, alpha="3")
    exact = divergence("alpha", p, q, alpha="3").value
    assert math.isfinite(quad.value) and math.isfinite(exact) and exact > 1e306
    assert abs(quad.value - exact) <= 1e-8 * exact, (quad, exact)


def test_beyond_float_range_is_inf_with_its_log():
    """One step further D exceeds float64: the value is inf and log_value carries it (checked against the
    closed form's log at 40 digits, 1e-12 relative)."""
    (m1, v1), (m2, v2), a = (3.75, 0.05), (0.046875, 0.05), 3
    quad = f_divergence("alpha", (m1, v1), (m2, v2), alpha="3")
    with mpmath.workdps(40):
        m1, v1, m2, v2 = (mpmath.mpf(x) for x in (m1, v1, m2, v2))
        s = a * v2 + (1 - a) * v1
        log_i = -a * (1 - a) * (m1 - m2) ** 2 / (2 * s) - (mpmath.log(s) - (1 - a) * mpmath.log(v1)
                                                             - a * mpmath.log(v2)) / 2
        exact_log = float(mpmath.log(mpmath.expm1(log_i) / (a * (a - 1))))
    assert exact_log > 710
    assert quad.value == math.inf and abs(quad.log_value - exact_log) <= 1e-12 * exact_log, (quad, exact_log)
    assert json.loads(json.dumps(quad.to_json()))["log_value"] == quad.log_value


def test_cli_gauss_takes_any_valid_f(capsys):
    expr = "(sqrt(u)-1)**4"
    code = main(["gauss", "--f", expr, "--p", "0.3,1", "--q=-0.2,1.4", "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["method"] == "quadrature"
    reference = HARD[expr]()
    assert abs(out["value"] - reference) <= REL * reference


@pytest.mark.parametrize("argv, message", [
    (["--f", "u**2*log(u)"], "not convex"),
    (["--f", "u*log(u) + a*(u - 1)", "--param", "a=(1, oo)"], "need a value for a"),
    (["--f", "log(u - 2)"], "not real"),
    (["alpha", "--param", "alpha=(1, oo)"], "need a value for alpha"),
    (["kl", "--method", "quadrature", "--p", "0,1e-310"], "differ by more than float64 can integrate"),
])
def test_cli_gauss_bad_f_is_one_error_line(capsys, argv, message):
    code = main(["gauss", "--p", "0,1", "--q", "1,2", *argv])  # a later --p replaces the first
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and message in err and err.count("\n") == 1, err


def test_errors_are_fdiv_errors():
    with pytest.raises(NumericsError, match="need a value"):
        f_divergence("u*log(u) + a*(u - 1)", P, Q, a="(0, 1)")
    with pytest.raises(FdivError, match="not convex"):
        f_divergence("-log(u)**2", P, Q)


@pytest.mark.parametrize("name", ["kl", "reverse-kl", "squared-hellinger", "total-variation"])
@pytest.mark.parametrize("vp", [1e-200, 1e-20, 1e200])
def test_quadrature_at_extreme_variance_ratios(name, vp):
    """p far narrower than q (a spike below float spacing at x: integrated in p's own coordinate) and far
    wider (log q + l cancels in the tails: taken as log p + log(g/u)), against the closed forms (themselves
    checked against mpmath in test_numerics_near_equal.py). 1e-9 relative, as above."""
    for mp in (0.3, -20.0):
        exact = divergence(name, (mp, vp), (0.0, 1.0)).value
        quad = f_divergence(name, (mp, vp), (0.0, 1.0))
        assert abs(quad.value - exact) <= REL * abs(exact), (mp, quad, exact)


def test_a_spec_file_reusing_a_catalogue_name_gets_its_own_f(tmp_path):
    """A TOML spec named 'kl' with Pearson's f is integrated, not given KL's closed form."""
    path = tmp_path / "mine.toml"
    path.write_text('[[divergence]]\nname = "kl"\nf = "(u - 1)**2"\n', encoding="utf-8")
    value = divergence(str(path), P, Q)
    pearson = float(g.pearson_chi2(GP, GQ))
    assert value.method == "quadrature" and abs(value.value - pearson) <= REL * pearson
    assert divergence("kl", P, Q).method == "closed-form"  # the catalogue's own kl keeps its closed form
