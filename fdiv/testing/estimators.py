"""Statistical checks of a user's Monte Carlo estimator, with a stated false-failure probability.

An estimator is a function of a seed (estimator(seed) -> float; for IWAE estimator(k, seed) -> float) that the
user closes over their own code. It is run `repeats` times with seeds 0, 1, ...; the mean of the estimates is
compared with fdiv's exact value by Student's t test: for an unbiased estimator, |mean - exact| <= t s / sqrt(R)
with t the two-sided (1 - p/2) quantile of t(R - 1) (p the false-failure probability); for a bound (an ELBO, IWAE_k
or a variational bound with any critic), only mean - exact > t s / sqrt(R) is a failure (one-sided). A check made
of several tests splits p between them (Bonferroni), so p bounds the chance that a correct estimator fails.
The t test assumes the mean of R estimates is close to normal (R >= 20 of Monte Carlo averages is plenty).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from fdiv.errors import FdivError

from .reference import Point
from .report import Report, with_assert


class EstimatorError(FdivError):
    """The estimator cannot be run as estimator(seed) -> float."""


def _estimates(estimator: Callable, repeats: int, *args) -> np.ndarray:
    if repeats < 3:
        raise EstimatorError(f"repeats must be at least 3, got {repeats}")
    out = []
    for seed in range(repeats):
        try:
            value = estimator(*args, seed)
        except Exception as exc:  # their code
            text = str(exc).strip().splitlines()
            raise EstimatorError(f"estimator raised {type(exc).__name__} at seed {seed}: "
                                 f"{text[0][:200] if text else ''}") from None
        try:
            out.append(float(value))
        except (TypeError, ValueError):
            raise EstimatorError(f"estimator returned {type(value).__name__}; expected a float") from None
    return np.array(out)


def _quantile(p: float, dof: int, *, two_sided: bool) -> float:
    from scipy import stats

    return float(stats.t.ppf(1 - (p / 2 if two_sided else p), dof))


def _test(name: str, values: np.ndarray, exact: float, p: float, *, kind: str, exact_se: float = 0.0) -> Point:
    """One t test of mean(values) against exact (with its own standard error, if exact is an estimate)."""
    n = len(values)
    mean = float(values.mean())
    se = math.sqrt(float(values.var(ddof=1)) / n + exact_se**2)
    t = _quantile(p, n - 1, two_sided=kind == "unbiased")
    tol = t * se + 1e-12 * max(abs(exact), 1.0)  # a deterministic estimator still rounds
    if not math.isfinite(mean):
        ok = False
    elif kind == "unbiased":
        ok = abs(mean - exact) <= tol
    elif kind == "lower_bound":  # E[estimate] <= exact
        ok = mean - exact <= tol
    else:  # upper_bound
        ok = exact - mean <= tol
    relation = {"unbiased": "=", "lower_bound": "<=", "upper_bound": ">="}[kind]
    return Point((("test", name), ("repeats", n)), f"mean {relation} exact", "float64", mean, exact, tol, ok)


@with_assert
def check_estimator(estimator: Callable[[int], float], exact: float, *, kind: str = "unbiased", repeats: int = 30,
                    false_failure: float = 1e-6, name: str = "estimate") -> Report:
    """estimator(seed) against an exact value: kind 'unbiased' (two-sided), 'lower_bound' (E[estimate] <= exact)
    or 'upper_bound'. A correct estimator fails with probability at most false_failure."""
    if kind not in ("unbiased", "lower_bound", "upper_bound"):
        raise FdivError(f"kind must be unbiased, lower_bound or upper_bound, got {kind!r}")
    values = _estimates(estimator, repeats)
    report = Report(f"estimator {getattr(estimator, '__name__', 'fn')} ({name})",
                    [_test(name, values, float(exact), false_failure, kind=kind)],
                    tolerance_rule=_rule(false_failure, 1, kind))
    _diagnose(report, values, float(exact))
    return report


def _rule(p: float, tests: int, kind: str = "") -> str:
    side = {"unbiased": "two-sided", "lower_bound": "one-sided", "upper_bound": "one-sided"}.get(kind, "")
    per = f", {p / tests:.2g} per test ({tests} tests, Bonferroni)" if tests > 1 else ""
    return f"Student's t test {side} at false-failure probability {p:g}{per}".replace("  ", " ")


def _diagnose(report: Report, values: np.ndarray, exact: float) -> None:
    if report.ok:
        return
    if not np.isfinite(values).all():
        report.diagnosis = f"non-finite estimates at {int((~np.isfinite(values)).sum())} of {len(values)} seeds"
        return
    worst = report.worst
    se = float(values.std(ddof=1) / math.sqrt(len(values)))
    report.diagnosis = (f"{worst.where()}: mean {worst.theirs:.9g} vs exact {worst.exact:.9g}, off by "
                        f"{(worst.theirs - worst.exact) / se if se else math.inf:.3g} standard errors: a biased estimator")


def _gaussian_pair(p, q):
    """(Case, numerics Gaussians) from (mean, cov) pairs; a 1-D pair may be (mean, variance) numbers."""
    from .gaussians import Case

    def arrays(x):
        mean, cov = x
        mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        cov = np.asarray(cov, dtype=np.float64)
        return mean, cov.reshape(1, 1) if cov.ndim == 0 else cov

    (mp, cp), (mq, cq) = arrays(p), arrays(q)
    return Case("given pair", mp, cp, mq, cq)


@with_assert
def check_divergence_estimator(estimator: Callable[[int], float], against: str, p, q, *,
                               params: dict | None = None, bound: bool = False, repeats: int = 30,
                               false_failure: float = 1e-6) -> Report:
    """estimator(seed) of D(P||Q) for Gaussians p = (mean, cov), q = (mean, cov) against fdiv's reference.
    bound=True: the estimator is a lower bound (a variational bound with any critic), so only an estimate
    significantly above D fails."""
    from .gaussians import exact_divergence

    case = _gaussian_pair(p, q)
    ref = exact_divergence(against, case, params)
    if math.isnan(ref.value):
        raise FdivError(f"no exact value of {against} for this pair: {ref.method}")
    values = _estimates(estimator, repeats)
    kind = "lower_bound" if bound else "unbiased"
    report = Report(f"estimator {getattr(estimator, '__name__', 'fn')} of {against}",
                    [_test(against, values, ref.value, false_failure, kind=kind, exact_se=ref.std_error)],
                    tolerance_rule=_rule(false_failure, 1, kind))
    report.notes.append(f"exact value {ref.value:.17g} ({ref.method})")
    _diagnose(report, values, ref.value)
    return report


@with_assert
def check_elbo_estimator(estimator: Callable[[int], float], vae, x, q_mean, q_std, *, repeats: int = 30,
                         false_failure: float = 1e-6) -> Report:
    """estimator(seed) of the ELBO of a numerics.vae.LinearGaussianVAE at x with q(z|x) = N(q_mean, diag q_std^2):
    unbiased for the closed form, and (one-sided) below log p(x)."""
    elbo, log_px = vae.elbo(x, q_mean, q_std), vae.log_marginal(x)
    values = _estimates(estimator, repeats)
    p = false_failure / 2
    points = [_test("ELBO (closed form)", values, elbo, p, kind="unbiased"),
              _test("log p(x) bound", values, log_px, p, kind="lower_bound")]
    report = Report(f"ELBO estimator {getattr(estimator, '__name__', 'fn')}", points,
                    tolerance_rule=_rule(false_failure, 2))
    report.notes.append(f"ELBO = {elbo:.17g}, log p(x) = {log_px:.17g} (exact)")
    _diagnose(report, values, elbo)
    return report


@with_assert
def check_iwae_estimator(estimator: Callable[[int, int], float], vae, x, q_mean, q_std, *,
                         ks: Sequence[int] = (1, 4, 16, 64), repeats: int = 30, false_failure: float = 1e-6,
                         reference_estimates: int = 4000) -> Report:
    """estimator(k, seed) of IWAE_k on a numerics.vae.LinearGaussianVAE. Tests, at false-failure probability
    false_failure in all: IWAE_1 is unbiased for the exact ELBO; each IWAE_k has the expectation of fdiv's own
    IWAE_k (reference_estimates draws; a biased log-mean-exp shows here); E[IWAE_k] <= log p(x); and E[IWAE_k]
    does not decrease in k."""
    ks = sorted(set(int(k) for k in ks))
    if not ks or ks[0] < 1:
        raise FdivError("ks must be positive integers")
    elbo, log_px = vae.elbo(x, q_mean, q_std), vae.log_marginal(x)
    runs = {k: _estimates(estimator, repeats, k) for k in ks}
    tests = (1 if ks[0] == 1 else 0) + 2 * len(ks) + (len(ks) - 1)
    p = false_failure / tests
    points: list[Point] = []
    if ks[0] == 1:
        points.append(_test("IWAE_1 = ELBO (closed form)", runs[1], elbo, p, kind="unbiased"))
    for i, k in enumerate(ks):
        mean, se = vae.iwae_bound(x, q_mean, q_std, k, reference_estimates, seed=10_000 + k)
        points.append(_test(f"IWAE_{k} expectation (fdiv's estimate)", runs[k], mean, p, kind="unbiased",
                            exact_se=se))
        points.append(_test(f"IWAE_{k} <= log p(x)", runs[k], log_px, p, kind="lower_bound"))
        if i:
            prev = ks[i - 1]
            diff = runs[k] - runs[prev]  # paired by seed: the same draws need not be shared, the test is valid
            points.append(_test(f"IWAE_{prev} <= IWAE_{k}", diff, 0.0, p, kind="upper_bound"))
    report = Report(f"IWAE estimator {getattr(estimator, '__name__', 'fn')}", points,
                    tolerance_rule=_rule(false_failure, tests))
    report.notes.append(f"ELBO = {elbo:.17g}, log p(x) = {log_px:.17g} (exact); ks = {ks}")
    if not report.ok:
        failed = ", ".join(str(dict(q.inputs)["test"]) for q in report.failures)
        worst = report.worst
        report.diagnosis = (f"fails {failed}; worst: {dict(worst.inputs)['test']}, mean {worst.theirs:.9g} vs "
                            f"{worst.exact:.9g} (tolerance {worst.tolerance:.3g})")
        t = _quantile(p, repeats - 1, two_sided=True)
        at_elbo = all(abs(float(runs[k].mean()) - elbo) <= t * float(runs[k].std(ddof=1)) / math.sqrt(repeats)
                      + 1e-12 * max(1.0, abs(elbo)) for k in ks)
        if len(ks) > 1 and at_elbo:
            report.diagnosis += ("; the estimate stays at the ELBO for every k: the mean of the log weights instead "
                                 "of the log of their mean?")
    return report
