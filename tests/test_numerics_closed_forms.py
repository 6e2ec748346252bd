"""Closed forms between Gaussians against quadrature (1-D) and Monte Carlo (multivariate); FID on
rank-deficient covariances; bad input.

Tolerances: closed form vs quadrature 1e-8 relative plus 1e-14 absolute (below 1e-14 both are rounding noise of
O(1) terms; scipy's quadrature is asked for 1e-13 relative). Monte Carlo: within 4 standard errors (a two-sided
false-failure probability of 6.3e-5 per comparison for a normal estimate; the pairs are chosen so that the
estimator's variance is finite)."""
from __future__ import annotations

import functools
import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fdiv
from numerics import gaussian as g
from numerics import montecarlo as mc
from numerics.closed_forms import CLOSED_FORMS
from numerics.errors import NumericsError
from numerics.quadrature import f_divergence

CASES = [("kl", {}), ("reverse-kl", {}), ("jeffrey", {}), ("pearson", {}), ("neyman", {}), ("squared-hellinger", {}),
         ("total-variation", {}), ("kl-normalised", {}), ("reverse-kl-normalised", {}), ("alpha", {"alpha": "1/2"}),
         ("alpha", {"alpha": "3"}), ("alpha", {"alpha": "-1"})]


@functools.cache
def derivation(name: str, alpha: str | None) -> fdiv.Derivation:
    return fdiv.derive(name, **({"alpha": alpha} if alpha else {}))


means = st.floats(min_value=-4, max_value=4, allow_nan=False)
variances = st.floats(min_value=0.05, max_value=20, allow_nan=False)


@pytest.mark.parametrize("name, params", CASES, ids=[f"{n}{p.get('alpha', '')}" for n, p in CASES])
@settings(max_examples=200)
@given(m1=means, v1=variances, m2=means, v2=variances)
def test_closed_form_matches_quadrature(name, params, m1, v1, m2, v2):
    d = derivation(name, params.get("alpha"))
    exact = float(CLOSED_FORMS[name](g.univariate(m1, v1), g.univariate(m2, v2), d.parameters))
    quad = f_divergence(d, (m1, v1), (m2, v2))
    if math.isinf(exact) or math.isinf(quad.value):
        assert exact == quad.value == math.inf, (exact, quad)
        return
    assert not math.isnan(exact)
    assert abs(exact - quad.value) <= 1e-8 * abs(exact) + 1e-14 + quad.abs_error, (exact, quad)


def test_infinite_cases_are_inf_never_finite_or_nan():
    p, q = g.univariate(0.0, 5.0), g.univariate(1.0, 2.0)  # 2 var_q - var_p < 0
    assert g.pearson_chi2(p, q) == math.inf and g.neyman_chi2(q, p) == math.inf
    assert g.renyi(p, q, 3.0) == math.inf
    assert f_divergence("pearson", (0.0, 5.0), (1.0, 2.0)).value == math.inf
    assert g.pearson_chi2(g.univariate(0.0, 3.99), q) < math.inf  # just inside the finiteness region
    assert mc.f_divergence("pearson", g.gaussian([0.0, 0.0], 5 * np.eye(2)), g.gaussian([1.0, 0.0], 2 * np.eye(2))).value == math.inf


def _random_pair(rng, d: int, spread: float = 0.25):
    def cov():
        a = rng.normal(size=(d, d))
        w, v = np.linalg.eigh(a @ a.T)
        return (v * rng.uniform(1 - spread, 1 + spread, d)) @ v.T
    return g.gaussian(rng.normal(scale=0.4, size=d), cov(), name="p"), g.gaussian(rng.normal(scale=0.4, size=d), cov(), name="q")


@pytest.mark.parametrize("name", ["kl", "reverse-kl", "jeffrey", "pearson", "squared-hellinger", "alpha"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_closed_form_matches_monte_carlo_multivariate(name, seed):
    rng = np.random.default_rng(seed)
    p, q = _random_pair(rng, 3)
    d = derivation(name, "1/2" if name == "alpha" else None)
    exact = float(CLOSED_FORMS[name](p, q, d.parameters))
    est = mc.f_divergence(d, p, q, n=200_000, seed=seed)
    assert abs(est.value - exact) <= 4 * est.std_error, (exact, est)


def test_total_variation_equal_covariances_and_bounds():
    rng = np.random.default_rng(3)
    p, q = _random_pair(rng, 3)
    q_same = g.gaussian(q.mean, p.cov)
    est = mc.f_divergence("total-variation", p, q_same, n=200_000, seed=3)
    assert abs(est.value - float(g.total_variation(p, q_same))) <= 4 * est.std_error
    lower, upper = g.total_variation_bounds(p, q)
    est = mc.f_divergence("total-variation", p, q, n=200_000, seed=4)
    assert lower - 4 * est.std_error <= est.value <= upper + 4 * est.std_error


def test_wasserstein1_against_quadrature_of_cdf_difference():
    from scipy import integrate, special
    for (m1, v1, m2, v2) in [(0, 1, 1, 2), (0.5, 3, -1, 0.2), (1, 1, 1, 4), (0, 1, 2, 1)]:
        cdf_gap = lambda x: abs(special.ndtr((x - m1) / math.sqrt(v1)) - special.ndtr((x - m2) / math.sqrt(v2)))
        ref = integrate.quad(cdf_gap, -60, 60, points=[m1, m2], limit=400, epsabs=1e-14)[0]
        assert abs(float(g.wasserstein1_1d(m1, v1, m2, v2)) - ref) <= 1e-10


def _low_rank(rng, d, r, log10_range):
    u, _ = np.linalg.qr(rng.normal(size=(d, r)))
    return u * np.logspace(-log10_range, log10_range, r)  # factor A: Sigma = A A' has condition 10^(4 range)


def _w2_reference(mu_p, a_p, mu_q, a_q, dps=40):
    """|dmu|^2 + |Ap|_F^2 + |Aq|_F^2 - 2 ||Ap' Aq||_* in exact arithmetic on the float64 factors."""
    with mpmath.workdps(dps):
        ap, aq = mpmath.matrix(a_p.tolist()), mpmath.matrix(a_q.tolist())
        m = ap.T * aq
        ev = mpmath.eigsy(m.T * m, eigvals_only=True)
        nuclear = sum(mpmath.sqrt(max(x, 0)) for x in ev)
        delta = sum((mpmath.mpf(a) - mpmath.mpf(b)) ** 2 for a, b in zip(mu_p, mu_q))
        fro = lambda a: sum(x**2 for x in a)
        return delta + fro(ap) + fro(aq) - 2 * nuclear


@pytest.mark.parametrize("seed", [0, 1])
def test_frechet_rank_deficient_ill_conditioned(seed):
    rng = np.random.default_rng(seed)
    d, r = 64, 10
    a_p, a_q = _low_rank(rng, d, r, 3), _low_rank(rng, d, r, 3)
    mu_p, mu_q = rng.normal(size=d), rng.normal(size=d)
    value = g.frechet_distance(mu_p, a_p @ a_p.T, mu_q, a_q @ a_q.T)
    ref = float(_w2_reference(mu_p, a_p, mu_q, a_q))
    assert isinstance(value, float) and math.isfinite(value) and value >= 0
    assert abs(value - ref) <= 1e-8 * ref, (value, ref)


def test_frechet_equals_closed_form_for_commuting_covariances():
    sp_, sq = np.diag([1.0, 4.0, 9.0]), np.diag([4.0, 1.0, 0.0])
    expected = 1.0 + sum((a - b) ** 2 for a, b in zip([1, 2, 3], [2, 1, 0]))
    assert abs(g.frechet_distance([0, 0, 1], sp_, [0, 0, 0], sq) - expected) < 1e-12


@pytest.mark.parametrize("call, message", [
    (lambda: g.gaussian([0, 0], [[1, 2], [2, 1]]), "not positive definite"),
    (lambda: g.univariate(0.0, -1.0), "variance must be positive"),
    (lambda: g.gaussian([0, 0, 0], np.eye(2)), "dimension 3"),
    (lambda: g.gaussian([0, np.nan], np.eye(2)), "NaN"),
    (lambda: g.kl(g.gaussian([0], [[1]]), g.gaussian([0, 0], np.eye(2))), "dimension"),
    (lambda: g.frechet_distance([0, 0], [[1, 0], [0, -1]], [0, 0], np.eye(2)), "not positive semi-definite"),
    (lambda: g.frechet_distance([0, 0], np.eye(3), [0, 0], np.eye(2)), "expected"),
    (lambda: g.gaussian([0, 0], [[1, 0.5], [0.1, 1]]), "not symmetric"),
    (lambda: f_divergence("kl", (0, float("nan")), (0, 1)), "finite"),
])
def test_bad_input_is_one_clear_error(call, message):
    with pytest.raises(NumericsError, match=message) as info:
        call()
    assert "\n" not in str(info.value)


def test_batched_closed_forms_equal_one_by_one():
    rng = np.random.default_rng(7)
    pairs = [_random_pair(rng, 2) for _ in range(4)]
    bp = g.gaussian(np.stack([p.mean for p, _ in pairs]), np.stack([p.cov for p, _ in pairs]))
    bq = g.gaussian(np.stack([q.mean for _, q in pairs]), np.stack([q.cov for _, q in pairs]))
    for fn in (g.kl, g.squared_hellinger, g.pearson_chi2, lambda p, q: g.renyi(p, q, 0.7)):
        batch = fn(bp, bq)
        assert batch.shape == (4,)
        assert np.allclose(batch, [fn(p, q) for p, q in pairs], rtol=1e-13, atol=0)


@pytest.mark.parametrize("name", ["kl", "squared-hellinger", "jensen-shannon"])
def test_monte_carlo_variational_bound_at_optimal_critic(name):
    """E_P[T*] - E_Q[f*(T*)] = D_f for a 3-D pair (Monte Carlo, 4 standard errors; JS by its own MC)."""
    import torch

    from numerics.critics import optimal_critic

    rng = np.random.default_rng(11)
    p, q = _random_pair(rng, 3)
    d = derivation(name, None)
    t_star = optimal_critic(d, p, q)
    critic = lambda x: torch.as_tensor(t_star(x.numpy()), dtype=torch.float64)
    bound = mc.variational_bound(critic, d, p, q, n=200_000, seed=5)
    if name in CLOSED_FORMS:
        reference, ref_se = float(CLOSED_FORMS[name](p, q, {})), 0.0
    else:
        est = mc.f_divergence(d, p, q, n=200_000, seed=6)
        reference, ref_se = est.value, est.std_error
    assert abs(bound.value - reference) <= 4 * math.hypot(bound.std_error, ref_se), (bound, reference)
