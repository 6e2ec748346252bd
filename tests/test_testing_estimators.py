"""Monte Carlo estimators against exact values: correct ones pass, biased ones fail, at a stated false-failure
probability (every test here is seeded, so a run either always passes or always fails)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

import fdiv.testing as ft
from fdiv.testing.estimators import EstimatorError
from numerics.vae import LinearGaussianVAE

P, Q = (0.0, 1.0), (1.0, 2.0)  # 1-D: (mean, variance)
KL_PQ = 0.5 * (1 / 2 + 1 / 2 - 1 + math.log(2))  # KL(N(0,1) || N(1,2))


def mc_kl(seed: int, n: int = 2000, from_q: bool = False) -> float:
    """E_P[log p/q] by sampling P (from_q=True samples Q instead: a biased estimator)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(Q[0], math.sqrt(Q[1]), n) if from_q else rng.normal(P[0], math.sqrt(P[1]), n)
    return float(np.mean(stats.norm.logpdf(x, P[0], math.sqrt(P[1])) - stats.norm.logpdf(x, Q[0], math.sqrt(Q[1]))))


def test_false_failure_threshold_is_students_t():
    values = []
    report = ft.check_estimator(lambda seed: values.append(seed) or float(seed), 14.5, repeats=30, false_failure=1e-6)
    sd = np.std(np.arange(30.0), ddof=1) / math.sqrt(30)
    assert report.ok and values == list(range(30))
    assert report.points[0].tolerance == pytest.approx(stats.t.ppf(1 - 0.5e-6, 29) * sd, rel=1e-9)


def test_kl_estimator_unbiased_passes_and_the_biased_one_fails():
    ft.assert_divergence_estimator(mc_kl, "kl", P, Q)
    report = ft.check_divergence_estimator(lambda s: mc_kl(s, from_q=True), "kl", P, Q)
    assert not report.ok and "biased" in report.diagnosis
    assert report.points[0].exact == pytest.approx(KL_PQ, rel=1e-12)


def bound(seed: int, scale: float = 1.0, n: int = 4000) -> float:
    """E_P[T] - E_Q[f*(T)] for KL (f*(t) = exp(t - 1)) with the critic T = 1 + scale log p/q (optimal at 1)."""
    rng = np.random.default_rng(seed)
    xp, xq = rng.normal(P[0], math.sqrt(P[1]), n), rng.normal(Q[0], math.sqrt(Q[1]), n)
    t = lambda x: 1 + scale * (stats.norm.logpdf(x, P[0], math.sqrt(P[1])) - stats.norm.logpdf(x, Q[0], math.sqrt(Q[1])))
    return float(np.mean(t(xp)) - np.mean(np.exp(t(xq) - 1)))


def test_a_bound_may_sit_below_but_not_above():
    ft.assert_divergence_estimator(bound, "kl", P, Q)  # the optimal critic: unbiased
    ft.assert_divergence_estimator(lambda s: bound(s, 0.5), "kl", P, Q, bound=True)  # a poor one: below
    assert not ft.check_divergence_estimator(lambda s: bound(s, 0.5), "kl", P, Q).ok
    assert not ft.check_divergence_estimator(lambda s: bound(s) + 0.1, "kl", P, Q, bound=True).ok


VAE = LinearGaussianVAE(W=[[1.0, 0.5], [0.2, -0.7], [0.0, 1.3]], b=[0.1, -0.2, 0.3], noise_std=0.8)
X, Q_MEAN, Q_STD = [0.5, -1.0, 2.0], [0.0, 0.0], [1.0, 1.0]  # q far from the posterior: IWAE_k gains a lot


def log_weights(k: int, seed: int) -> np.ndarray:
    """The user's own IWAE code path: k draws of log p(x, z) - log q(z|x)."""
    rng = np.random.default_rng(seed)
    z = np.asarray(Q_MEAN) + np.asarray(Q_STD) * rng.standard_normal((k, 2))
    w, b, s = VAE.W, VAE.b, VAE.noise_std
    log_lik = stats.norm.logpdf(np.asarray(X), z @ w.T + b, s).sum(-1)
    log_prior = stats.norm.logpdf(z).sum(-1)
    log_q = stats.norm.logpdf(z, Q_MEAN, Q_STD).sum(-1)
    return log_lik + log_prior - log_q


def iwae(k: int, seed: int) -> float:
    return float(logsumexp(log_weights(k, seed)) - math.log(k))


def iwae_mean_of_logs(k: int, seed: int) -> float:
    return float(np.mean(log_weights(k, seed)))  # the ELBO, whatever k is


def iwae_no_log_k(k: int, seed: int) -> float:
    return float(logsumexp(log_weights(k, seed)))  # forgets the 1/k: above log p(x) for large k


def test_iwae_correct_passes_and_the_two_classic_bugs_fail():
    kw = dict(ks=(1, 4, 16), repeats=200)
    report = ft.assert_iwae_estimator(iwae, VAE, X, Q_MEAN, Q_STD, **kw)
    assert len(report.points) == 1 + 2 * 3 + 2
    mean_of_logs = ft.check_iwae_estimator(iwae_mean_of_logs, VAE, X, Q_MEAN, Q_STD, **kw)
    assert not mean_of_logs.ok and "stays at the ELBO" in mean_of_logs.diagnosis
    no_log_k = ft.check_iwae_estimator(iwae_no_log_k, VAE, X, Q_MEAN, Q_STD, **kw)
    assert not no_log_k.ok and "<= log p(x)" in no_log_k.diagnosis


def test_elbo_estimator():
    ft.assert_elbo_estimator(lambda seed: iwae(1, seed), VAE, X, Q_MEAN, Q_STD, repeats=100)
    assert not ft.check_elbo_estimator(lambda seed: iwae(8, seed), VAE, X, Q_MEAN, Q_STD, repeats=100).ok


def test_estimator_errors():
    with pytest.raises(EstimatorError, match="raised KeyError at seed 0"):
        ft.check_estimator(lambda seed: {}["x"], 0.0)
    with pytest.raises(EstimatorError, match="expected a float"):
        ft.check_estimator(lambda seed: "x", 0.0)
    with pytest.raises(EstimatorError, match="at least 3"):
        ft.check_estimator(lambda seed: 0.0, 0.0, repeats=2)
