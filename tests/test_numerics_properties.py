"""Property tests of the bounds on Gaussians (hypothesis, derandomised in CI).

- bound(T) <= D_f for random critics, and bound(T*) = D_f at T* = f'(p/q), for every catalogue f whose
  divergence is finite on the drawn pair (1-D quadrature; comparisons allow the quadrature error estimates
  plus 1e-9 relative, far below any violation a wrong formula produces);
- GAN: V(D) <= V(D*), D* = p/(p + q), V(D*) = 2 JSD - log 4, and the 'gan' f gives D_f = 2 JSD - log 4;
- VAE: ELBO <= IWAE_1 <= IWAE_5 <= IWAE_50 <= IWAE_500 <= log p(x) as a seeded statistical test;
- the narrow-Gaussian analysis: KL blows up, JSD -> log 2, W1 stays |theta - theta0|;
- and the same checks reject a deliberately wrong bound.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import fdiv
from fdiv import catalogue
from numerics import bounds, gaussian as g
from numerics.closed_forms import divergence
from numerics.critics import QuadraticCritic, optimal_critic, optimal_critic_1d
from numerics.quadrature import Estimate, f_divergence
from numerics.vae import LinearGaussianVAE, kl_to_standard_normal

REL = 1e-9


@functools.cache
def derivation(name: str) -> fdiv.Derivation:
    return fdiv.derive(name)


def assert_bound_holds(bound: Estimate, div: Estimate) -> None:
    """bound <= D_f up to the two error estimates and REL relative."""
    slack = bound.abs_error + div.abs_error + REL * (1 + abs(div.value))
    assert bound.value <= div.value + slack, f"bound {bound.value} exceeds D_f {div.value} (slack {slack:.2e})"


def assert_tight(bound: Estimate, div: Estimate) -> None:
    slack = bound.abs_error + div.abs_error + 1e-7 * (1 + abs(div.value))
    assert abs(bound.value - div.value) <= slack, f"bound(T*) = {bound.value}, D_f = {div.value}"


pairs = st.tuples(st.floats(-2, 2), st.floats(0.3, 3), st.floats(-2, 2), st.floats(0.3, 3))
NAMES = catalogue.names()


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=12)
@given(pair=pairs, coeffs=st.tuples(st.floats(-2, 2), st.floats(-2, 2), st.floats(-0.3, 0.3)))
def test_variational_bound(name, pair, coeffs):
    m1, v1, m2, v2 = pair
    d = derivation(name)
    div = f_divergence(d, (m1, v1), (m2, v2))
    assume(math.isfinite(div.value))
    assert_tight(bounds.variational_bound(d, optimal_critic_1d(d, (m1, v1), (m2, v2)), (m1, v1), (m2, v2)), div)
    a, b, c = coeffs
    random_critic = QuadraticCritic.for_divergence(d, a, [b], [[c]]).one_dim(d)
    assert_bound_holds(bounds.variational_bound(d, random_critic, (m1, v1), (m2, v2)), div)


def test_optimal_critic_vectorised_agrees_with_scalar():
    d = derivation("jeffrey")
    p, q = (0.3, 1.5), (-0.4, 0.8)
    vec = optimal_critic(d, g.univariate(*p), g.univariate(*q))
    fast = optimal_critic_1d(d, p, q).critic
    xs = np.linspace(-3, 3, 7)
    assert np.allclose(vec(xs[:, None]), [fast(x) for x in xs], rtol=1e-13, atol=0)


def test_the_same_machinery_rejects_a_wrong_bound():
    """Claim: E_P[T] - E_Q[f*(T) - 1/20] <= KL. It is false at T*, and assert_bound_holds says so."""
    d = derivation("kl")
    p, q = (0.0, 1.0), (1.0, 2.0)
    div = f_divergence(d, p, q)
    t_star = optimal_critic_1d(d, p, q)
    right = bounds.variational_bound(d, t_star, p, q)
    wrong = Estimate(right.value + 0.05, right.abs_error, "quadrature")  # E_Q[f* - 1/20] = E_Q[f*] - 1/20
    assert_bound_holds(right, div)
    with pytest.raises(AssertionError, match="exceeds D_f"):
        assert_bound_holds(wrong, div)


@settings(max_examples=25)
@given(pair=pairs, coeffs=st.tuples(st.floats(-3, 3), st.floats(-3, 3), st.floats(-0.5, 0.5)))
def test_gan_value(pair, coeffs):
    m1, v1, m2, v2 = pair
    p, q = (m1, v1), (m2, v2)
    d_star = bounds.optimal_discriminator(p, q)
    for x in (-1.0, 0.0, 2.5):  # D* = p/(p + q), from the densities directly
        dens = [math.exp(-0.5 * (x - m) ** 2 / v) / math.sqrt(2 * math.pi * v) for m, v in (p, q)]
        assert abs(d_star(x) - dens[0] / (dens[0] + dens[1])) <= 1e-12
    best = bounds.gan_value(bounds.optimal_logit(p, q), p, q)
    jsd = f_divergence(derivation("jsd"), p, q)
    assert abs(best.value - (2 * jsd.value - math.log(4))) <= best.abs_error + 2 * jsd.abs_error + 1e-9
    gan = f_divergence(derivation("gan"), p, q)
    assert abs(gan.value - (2 * jsd.value - math.log(4))) <= gan.abs_error + 2 * jsd.abs_error + 1e-9
    a, b, c = coeffs
    worse = bounds.gan_value(lambda x: a + b * x + c * x * x, p, q)
    assert worse.value <= best.value + worse.abs_error + best.abs_error + 1e-9


def test_d_star_is_one_half_when_p_equals_q():
    assert bounds.optimal_discriminator((0.3, 2.0), (0.3, 2.0))(1.7) == 0.5


@pytest.fixture(scope="module")
def vae():
    rng = np.random.default_rng(0)
    return LinearGaussianVAE(rng.normal(size=(5, 2)), rng.normal(size=5), 0.7), rng.normal(size=5)


def test_vae_kl_and_elbo_identities(vae):
    model, x = vae
    m, s = np.array([0.3, -1.2]), np.array([0.5, 1.7])
    assert abs(kl_to_standard_normal(m, s) - float(g.kl(g.gaussian(m, np.diag(s**2)), g.gaussian(np.zeros(2), np.eye(2))))) < 1e-12
    assert model.elbo(x, m, s) <= model.log_marginal(x)
    assert model.beta_elbo(x, m, s, 1.0) == model.elbo(x, m, s)
    assert model.beta_elbo(x, m, s, 0.5) >= model.elbo(x, m, s) >= model.beta_elbo(x, m, s, 2.0)


def test_elbo_is_exact_at_the_posterior_when_it_is_diagonal():
    """One latent dimension: the exact posterior is in the q family, so ELBO = log p(x) (identity, 1e-12)."""
    rng = np.random.default_rng(1)
    model, x = LinearGaussianVAE(rng.normal(size=(4, 1)), rng.normal(size=4), 0.4), rng.normal(size=4)
    mu, cov = model.posterior(x)
    assert abs(model.elbo(x, mu, np.sqrt(np.diag(cov))) - model.log_marginal(x)) < 1e-12


def test_iwae_ordering_statistical(vae):
    """ELBO <= IWAE_1 <= IWAE_5 <= IWAE_50 <= IWAE_500 <= log p(x), each step tested one-sided at z = 5 on
    seeded estimates: under the null the false-failure probability is 2.9e-7 per step, < 2e-6 for all six.
    IWAE_1 equals the ELBO in expectation (two-sided, 4 standard errors)."""
    model, x = vae
    m, s = np.array([0.1, -0.2]), np.array([0.8, 0.6])
    elbo, logp = model.elbo(x, m, s), model.log_marginal(x)
    ests = {k: model.iwae_bound(x, m, s, k, 4000 if k < 500 else 400, seed=k) for k in (1, 5, 50, 500)}
    z = 5.0
    assert abs(ests[1][0] - elbo) <= 4 * ests[1][1]
    chain = [(elbo, 0.0)] + [ests[k] for k in (1, 5, 50, 500)] + [(logp, 0.0)]
    for (lo, se_lo), (hi, se_hi) in zip(chain, chain[1:]):
        assert lo <= hi + z * math.hypot(se_lo, se_hi), (lo, hi)
    # IWAE_k -> log p(x): the gap shrinks by an order of magnitude from k = 5 to k = 500
    assert logp - ests[500][0] < 0.1 * (logp - ests[5][0])


@pytest.mark.parametrize("eps", [1.0, 0.1, 0.01, 0.001])
def test_narrow_gaussians(eps):
    """N(theta, eps^2) vs N(theta0, eps^2): KL = (theta - theta0)^2/(2 eps^2) blows up as eps -> 0, the JSD
    tends to log 2 (no signal left for the generator), W1 = |theta - theta0| stays informative."""
    theta, theta0 = 1.0, 0.0
    kl = divergence("kl", (theta, eps**2), (theta0, eps**2)).value
    assert abs(kl - (theta - theta0) ** 2 / (2 * eps**2)) <= 1e-12 * kl
    jsd = f_divergence(derivation("jsd"), (theta, eps**2), (theta0, eps**2))
    gap = math.log(2) - jsd.value
    # JSD <= log 2; quad's error estimate does not count the rounding of summing its O(1) subinterval
    # values in double precision (~1e-13 here), hence 1e-12 on top of it
    assert gap >= -(jsd.abs_error + 1e-12)
    if eps <= 0.01:
        assert gap < 1e-10  # log 2 to within the quadrature's precision
    assert float(g.wasserstein1_1d(theta, eps**2, theta0, eps**2)) == pytest.approx(abs(theta - theta0), rel=1e-15)


def test_quadpack_trouble_is_flagged_not_warned():
    """sin(1/x) on (0, 1] defeats QUADPACK's subdivision limit at 1e-12 and at 1e-10: no IntegrationWarning (the
    suite runs quiet), the result is flagged, and its error is at least the two runs' difference. A smooth
    integrand is not flagged."""
    import warnings

    from numerics.bounds import _quad

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        v, e, flagged = _quad(lambda x: math.sin(1 / x) if x > 0 else 0.0, 0.0, 1.0, None)
        assert flagged and e > 0 and math.isfinite(v)
        v, e, flagged = _quad(lambda x: math.exp(-x * x), 0.0, 1.0, None)
        assert not flagged and abs(v - math.sqrt(math.pi) / 2 * math.erf(1.0)) <= max(e, 1e-15)
