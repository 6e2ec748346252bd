"""Gaussian divergences and the Frechet distance (FID) checked against fdiv's references: torch's KL passes on the
hard cases and on 200 drawn pairs (d <= 64); a KL with the wrong log-det sign, swapped arguments, the other
Hellinger convention, a chi^2 that is finite where it is infinite, and sqrtm-based FID are refuted and named."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import fdiv.testing as ft
from fdiv.testing import strategies as fst
from fdiv.testing.gaussians import Case, GaussianFunctionError
from numerics import gaussian as g


def torch_kl(mean_p, cov_p, mean_q, cov_q):
    mvn = torch.distributions.MultivariateNormal  # validate_args=False: the inputs are valid, skip a Cholesky
    p = mvn(torch.as_tensor(mean_p), covariance_matrix=torch.as_tensor(cov_p), validate_args=False)
    q = mvn(torch.as_tensor(mean_q), covariance_matrix=torch.as_tensor(cov_q), validate_args=False)
    return torch.distributions.kl_divergence(p, q)


def torch_normal_kl(mean_p, cov_p, mean_q, cov_q):
    normal = torch.distributions.Normal
    p = normal(torch.as_tensor(mean_p[0]), torch.as_tensor(cov_p[0, 0]).sqrt())
    q = normal(torch.as_tensor(mean_q[0]), torch.as_tensor(cov_q[0, 0]).sqrt())
    return float(torch.distributions.kl_divergence(p, q))


def kl_wrong_logdet_sign(mean_p, cov_p, mean_q, cov_q):
    inv_q, delta = np.linalg.inv(cov_q), mean_q - mean_p
    return 0.5 * (np.trace(inv_q @ cov_p) + delta @ inv_q @ delta - len(mean_p)
                  - np.linalg.slogdet(cov_q)[1] + np.linalg.slogdet(cov_p)[1])


def kl_swapped(mean_p, cov_p, mean_q, cov_q):
    return float(torch_kl(mean_q, cov_q, mean_p, cov_p))


def hellinger_half(mean_p, cov_p, mean_q, cov_q):
    """1 - BC: the other common convention (fdiv's f = (sqrt(u) - 1)^2 gives 2 (1 - BC))."""
    p, q = g.gaussian(mean_p, cov_p), g.gaussian(mean_q, cov_q)
    return float(-np.expm1(-g.bhattacharyya_distance(p, q)))


def pearson_without_domain_check(mean_p, cov_p, mean_q, cov_q):
    """exp(D_2) - 1 from log-determinants, without asking whether 2 Sigma_q - Sigma_p is positive definite."""
    s = 2 * cov_q - cov_p
    delta = mean_p - mean_q
    log_int = (delta @ np.linalg.solve(s, delta) - 0.5 * np.linalg.slogdet(s)[1]
               + np.linalg.slogdet(cov_q)[1] - 0.5 * np.linalg.slogdet(cov_p)[1])
    with np.errstate(over="ignore"):  # where chi^2 is infinite it overflows to inf: the planted bug, not noise
        return float(np.expm1(log_int))


def pearson_numerics(mean_p, cov_p, mean_q, cov_q):
    return float(g.pearson_chi2(g.gaussian(mean_p, cov_p), g.gaussian(mean_q, cov_q)))


def sqrtm_fid(mu1, sigma1, mu2, sigma2):
    """The widespread FID formula: sqrtm of the product, imaginary part dropped."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(np.real(covmean)))


def factor_fid(mu1, sigma1, mu2, sigma2):
    """Factors F F' = Sigma from eigh with the rounding-noise eigenvalues dropped; trace term = ||F1' F2||_*."""
    def factor(s):
        w, v = np.linalg.eigh(s)
        keep = w > len(w) * np.finfo(float).eps * max(w.max(), 0.0)
        return v[:, keep] * np.sqrt(w[keep])
    f1, f2 = factor(sigma1), factor(sigma2)
    nuclear = np.linalg.svd(f1.T @ f2, compute_uv=False).sum() if f1.size and f2.size else 0.0
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * nuclear)


# ----------------------------------------------------------------------------------------------- known good
def test_torch_kl_passes_every_hard_case():
    report = ft.assert_gaussian_divergence(torch_kl, "kl", max_dim=256)
    names = {dict(p.inputs)["case"] for p in report.points}
    assert {"d=8 nearly equal", "d=16 ill-conditioned (condition 1e8)", "d=256", "1-D equal"} <= names


def test_torch_normal_kl_in_1d_and_batched_mvn():
    ft.assert_gaussian_divergence(torch_normal_kl, "kl", dims=[1])
    ft.assert_gaussian_divergence(torch_kl, "kl", max_dim=64, batched=True)


@settings(max_examples=200)
@given(pair=fst.gaussian_pairs(dim=st.integers(1, 64), kinds=("random", "nearly-equal", "equal")))
def test_torch_kl_no_false_alarm_on_drawn_pairs(pair):
    case = Case("drawn", *pair)
    report = ft.check_gaussian_divergence(torch_kl, "kl", cases=[case])
    assert report.ok, report.text()


def test_fdiv_and_factor_fid_pass_including_singular_covariances():
    ft.assert_fid(lambda *a: g.frechet_distance(*a), max_dim=64)
    report = ft.assert_fid(factor_fid, max_dim=64)
    assert sum("rank" in dict(p.inputs)["case"] for p in report.points) == 2


def test_pearson_reference_passes_with_its_infinite_cases():
    report = ft.assert_gaussian_divergence(pearson_numerics, "pearson", max_dim=64)
    infinite = {dict(p.inputs)["case"] for p in report.points if p.expected.startswith("+inf")}
    assert {c for c in infinite if "chi^2" in c} == {"1-D chi^2 infinite (var_p = 2.5 var_q)",
                                                      "d=3 chi^2 infinite (Sigma_p = 2.5 Sigma_q)"}


# ------------------------------------------------------------------------------------------------ known bad
@pytest.mark.parametrize("fn, against, diagnosis", [
    (kl_wrong_logdet_sign, "kl", "-1 x (log det Sq - log det Sp)"),
    (kl_swapped, "kl", "this is reverse-kl"),
    (hellinger_half, "squared-hellinger", "off by a factor: theirs / exact = 0.5"),
    (pearson_without_domain_check, "pearson", "finite where the divergence is infinite"),
], ids=["wrong log-det sign", "swapped arguments", "half Hellinger", "finite chi2"])
def test_known_bad_gaussian_divergences_are_refuted(fn, against, diagnosis):
    report = ft.check_gaussian_divergence(fn, against, max_dim=64)
    assert not report.ok and diagnosis in report.diagnosis, report.text()
    assert report.worst is not None and not report.worst.ok
    assert report.outcome == "wrong"  # each differs at the small well-conditioned cases: not a rounding matter
    with pytest.raises(AssertionError, match="^WRONG: gaussian divergence"):
        ft.assert_gaussian_divergence(fn, against, max_dim=64)


def test_sqrtm_fid_is_refuted_at_singular_covariances():
    report = ft.check_fid(sqrtm_fid, max_dim=64)
    assert not report.ok and "singular" in report.diagnosis, report.text()
    assert all("rank" in dict(p.inputs)["case"] for p in report.failures)
    worst = report.worst
    assert abs(worst.theirs - worst.exact) > worst.tolerance


def test_a_complex_fid_is_refuted():
    def complex_fid(mu1, s1, mu2, s2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            covmean = scipy.linalg.sqrtm(s1 @ s2)
        diff = mu1 - mu2
        return diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)

    report = ft.check_fid(complex_fid, max_dim=64)
    assert not report.ok and "complex" in report.diagnosis


# ------------------------------------------------------------------------------- references without a closed form
def test_jsd_in_1d_by_quadrature_of_its_own():
    from scipy import integrate, stats

    def jsd(mean_p, cov_p, mean_q, cov_q):
        p, q = stats.norm(mean_p[0], math.sqrt(cov_p[0, 0])), stats.norm(mean_q[0], math.sqrt(cov_q[0, 0]))

        def integrand(x):
            lp, lq = p.logpdf(x), q.logpdf(x)
            lm = np.logaddexp(lp, lq) - math.log(2)
            return 0.5 * (math.exp(lp) * (lp - lm) + math.exp(lq) * (lq - lm))
        lo = min(p.mean() - 40 * p.std(), q.mean() - 40 * q.std())
        hi = max(p.mean() + 40 * p.std(), q.mean() + 40 * q.std())
        return integrate.quad(integrand, lo, hi, points=[p.mean(), q.mean()], limit=400, epsabs=1e-14,
                              epsrel=1e-12)[0]

    cases = [c for c in ft.gaussian_cases(max_dim=1) if c.name in ("1-D narrow vs wide", "1-D nearly equal means")]
    report = ft.assert_gaussian_divergence(jsd, "jsd", cases=cases)
    assert any("2 by quadrature" in n for n in report.notes)


def test_total_variation_in_d_above_1_is_held_to_its_bounds():
    def tv_bhattacharyya(mean_p, cov_p, mean_q, cov_q):  # the Hellinger lower bound 1 - BC
        return float(1 - g.bhattacharyya_coefficient(g.gaussian(mean_p, cov_p), g.gaussian(mean_q, cov_q)))

    report = ft.check_gaussian_divergence(tv_bhattacharyya, "total-variation", max_dim=8)
    multivariate = [p for p in report.points if dict(p.inputs)["d"] > 1]
    assert multivariate and all(p.ok and p.expected.startswith("within bounds") for p in multivariate
                                if "equal" not in dict(p.inputs)["case"])
    assert not report.ok  # in 1-D the exact TV is known, and 1 - BC is not it


def test_bad_gaussian_functions_are_errors():
    with pytest.raises(GaussianFunctionError, match="no number on any case: it raised ZeroDivisionError: division by "
                                                    "zero [(]e.g. at case '1-D'[)]"):
        ft.check_fid(lambda *a: 1 / 0, max_dim=8)
    with pytest.raises(GaussianFunctionError, match="returned str of shape [(][)], not a single number"):
        ft.check_gaussian_divergence(lambda *a: "0.5", "kl", max_dim=8)
    from fdiv.errors import FdivError
    with pytest.raises(FdivError, match="unknown divergence"):
        ft.check_gaussian_divergence(torch_kl, "no-such-thing")
    with pytest.raises(FdivError, match="needs the parameter alpha"):
        ft.check_gaussian_divergence(torch_kl, "renyi", max_dim=8)


def test_a_raise_on_a_harder_case_fails_that_case():
    def kl_small_only(mean_p, cov_p, mean_q, cov_q):
        if len(mean_p) > 8:
            raise MemoryError("too big")
        return float(torch_kl(mean_p, cov_p, mean_q, cov_q))

    report = ft.check_gaussian_divergence(kl_small_only, "kl", max_dim=64)
    assert not report.ok and report.outcome == "limited"  # right wherever it answers
    assert all(p.expected.startswith("a value (it raised MemoryError") for p in report.failures)
    assert any("raised MemoryError: too big at cases 'd=32', 'd=16 ill" in x for x in report.limits), report.limits
