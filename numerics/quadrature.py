"""D_f(P||Q) = int q f(p/q) between two 1-D Gaussians by quadrature, with an error estimate.

Only f is needed, never its conjugate (see numerics.generator). f is shifted first to
g(u) = f(u) - f(1) - f'(1)(u - 1) (D_f = int q g + f(1), since int q (u - 1) = 0), so by convexity the
integrand is >= 0 and does not cancel where p ~ q.

The integrand is computed in log space: l(x) = log p(x) - log q(x) is a quadratic, written in q's standard
coordinate z = (x - m_q)/s_q through delta = v_p/v_q - 1 and the mean shift so that it keeps its relative
accuracy when p ~ q; u = exp(l). Where floats over- or underflow, log q + log g(u) is evaluated in mpmath.
When the integrand's largest log-value approaches the float range, the integral is redone on
exp(log integrand - M), M that largest value, and scaled back (a log-sum-exp): a finite D_f within
float64's range is never reported as inf, and one beyond it comes out as inf with `log_value` finite.
Finiteness is decided before integrating, from the tails: the log-integrand of a Gaussian pair is
asymptotically quadratic, so it either falls off (finite) or does not (+inf).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import mpmath
import numpy as np
from scipy import integrate

from .errors import NumericsError
from .generator import Generator, generator

# Rescale when the integrand's log leaves [-RESCALE, RESCALE] around the current shift: e^300 leaves quad's
# sums (values times the weights of its infinite-interval maps) far from overflow.
RESCALE = 300.0
LOG_FLOAT_MAX = math.log(np.finfo(np.float64).max)


@dataclass(frozen=True)
class Estimate:
    value: float  # +inf when the divergence is infinite (or finite but beyond float64's range: see log_value)
    abs_error: float
    method: str
    log_value: float | None = None  # log D_f where D_f > 0 is known in log space (set when value overflows)

    def to_json(self) -> dict:
        out = {"value": "inf" if math.isinf(self.value) else self.value, "method": self.method,
               "abs_error": self.abs_error}
        if math.isinf(self.value) and self.log_value is not None and math.isfinite(self.log_value):
            out["log_value"] = self.log_value
        return out


def _check(mean, var, name):
    mean, var = float(mean), float(var)
    if not (math.isfinite(mean) and math.isfinite(var)):
        raise NumericsError(f"{name}: mean and variance must be finite")
    if var <= 0:
        raise NumericsError(f"{name}: variance must be positive, got {var}")
    return mean, var


class _Pair:
    """log p - log q and log q for p = N(m1, v1), q = N(m2, v2).

    In z = (x - m2)/s2, with r = v1/v2 = 1 + delta and mu = (m1 - m2)/s2:
    l = (delta z^2 + 2 mu z - mu^2 - r log r)/(2 r). delta and mu are differences of the inputs (exact when
    they are close), and log r = log1p(delta) near r = 1, so l is accurate to rounding even when p ~ q.
    """

    def __init__(self, p, q):
        self.m1, self.v1 = _check(*p, "p")
        self.m2, self.v2 = _check(*q, "q")
        self.s2 = math.sqrt(self.v2)
        self.delta = (self.v1 - self.v2) / self.v2
        self.r = self.v1 / self.v2
        self.log_r = math.log1p(self.delta) if abs(self.delta) < 0.5 else math.log(self.v1) - math.log(self.v2)
        self.mu = (self.m1 - self.m2) / self.s2
        self.centre = 0.5 * (self.m1 + self.m2)
        self.scale = math.sqrt(max(self.v1, self.v2))
        self.log_norm_q = -0.5 * math.log(2 * math.pi * self.v2)
        self.breaks: list[float] = []
        self._mp_cache: dict[int, tuple] = {}

    def ell(self, x: float) -> float:
        z = (x - self.m2) / self.s2
        return (self.delta * z * z + 2 * self.mu * z - self.mu * self.mu - self.r * self.log_r) / (2 * self.r)

    def _mp(self) -> tuple:
        """s2, r, mu, r log r and log(2 pi v2)/2 at the working precision (computed once per precision)."""
        prec = mpmath.mp.prec
        if prec not in self._mp_cache:
            s2 = mpmath.sqrt(mpmath.mpf(self.v2))
            r = mpmath.mpf(self.v1) / self.v2
            self._mp_cache[prec] = (s2, r, (mpmath.mpf(self.m1) - self.m2) / s2, r * mpmath.log(r),
                                    mpmath.log(2 * mpmath.pi * self.v2) / 2)
        return self._mp_cache[prec]

    def log_terms_mp(self, x) -> tuple:
        """(l(x), log q(x)) in mpmath at the working precision."""
        s2, r, mu, r_log_r, log_norm = self._mp()
        z = (mpmath.mpf(x) - self.m2) / s2
        return ((r - 1) * z * z + 2 * mu * z - mu * mu - r_log_r) / (2 * r), -z * z / 2 - log_norm

    def crossings(self, level: float) -> list[float]:
        """The x where l(x) = level: delta z^2 + 2 mu z - (mu^2 + r log r + 2 r level) = 0, solved stably."""
        c = -(self.mu * self.mu + self.r * self.log_r + 2 * self.r * level)
        if self.delta == 0:
            zs = [-c / (2 * self.mu)] if self.mu else []
        else:
            disc = self.mu * self.mu - self.delta * c
            if disc < 0:
                return []
            t = -(self.mu + math.copysign(math.sqrt(disc), self.mu))
            zs = [t / self.delta, c / t] if t else [0.0]
        return sorted(self.m2 + self.s2 * z for z in zs)


def f_divergence(spec, p: tuple[float, float], q: tuple[float, float], *, high_precision: bool = False,
                 dps: int = 30, **params) -> Estimate:
    """D_f(P||Q) for p = (mean, variance), q = (mean, variance); scipy's adaptive quadrature by default,
    mpmath's tanh-sinh at `dps` digits with high_precision=True.

    spec: a catalogue name, an expression in u, a Spec, a Derivation or a Generator (memoised, see
    numerics.generator); f(1) != 0 is allowed and included (D_f(P||P) = f(1)).
    """
    gen = generator(spec, **params)
    pair = _Pair(p, q)
    pair.breaks = sorted(x for k in gen.kinks for x in pair.crossings(math.log(k)))
    shift = float(gen.f_at_one)
    if not _finite(pair, gen):
        return Estimate(math.inf, 0.0, "quadrature")
    est = _mpmath_quad(pair, gen, dps) if high_precision else _scipy_quad(pair, gen)
    # log_value is set only beyond e^709, where adding a finite f(1) changes nothing at float precision
    return Estimate(est.value + shift, est.abs_error, est.method, est.log_value)


def _log_integrand_mp(pair: _Pair, gen: Generator, x):
    ell, log_q = pair.log_terms_mp(x)
    value = gen.shifted_mpmath(mpmath.exp(ell))
    if isinstance(value, mpmath.mpc):
        value = value.real
    return log_q + (mpmath.log(value) if value > 0 else -mpmath.inf)


def _finite(pair: _Pair, gen: Generator) -> bool:
    """Both tails fall off: the log-integrand drops by > 10 between R and 2R standard deviations beyond the
    outer mean, R = 50, 100."""
    for side in (-1, 1):
        edge = max(pair.m1, pair.m2) if side > 0 else min(pair.m1, pair.m2)  # probe beyond both means
        xs = [edge + side * r * pair.scale for r in (50, 100, 200)]
        # g(u) ~ l^2 near u = 1 is computed with cancellation: carry 2 |log10 l| digits more than the 40 used
        smallest = min(abs(pair.ell(x)) for x in xs)
        extra = 0 if smallest == 0 or smallest > 1e-5 else min(int(-2 * math.log10(smallest)) + 10, 800)
        with mpmath.workdps(40 + extra):
            logs = [_log_integrand_mp(pair, gen, x) for x in xs]
            if logs[2] == -mpmath.inf:  # the integrand vanishes there (p = q, or g = 0 on that side)
                continue
            if not (logs[1] < logs[0] - 10 and logs[2] < logs[1] - 10):
                return False
    return True


class _Integrand:
    """x -> exp(log q(x) + log g(u(x)) - shift) as a float, recording the largest log-value it met and where."""

    def __init__(self, pair: _Pair, gen: Generator, shift: float):
        self.pair, self.g_np, self.gen, self.shift = pair, gen.shifted_numpy, gen, shift
        self.top, self.at = -math.inf, pair.centre

    def _seen(self, log_value: float, x: float) -> None:
        if log_value > self.top:
            self.top, self.at = log_value, x

    def __call__(self, x: float) -> float:
        pair, shift = self.pair, self.shift
        z = (x - pair.m2) / pair.s2
        ell = (pair.delta * z * z + 2 * pair.mu * z - pair.mu * pair.mu - pair.r * pair.log_r) / (2 * pair.r)
        if -700 < ell < 700:  # u = e^l a normal float: below e^-708 it would lose bits
            log_q = -0.5 * z * z + pair.log_norm_q
            try:
                with np.errstate(all="ignore"):
                    value = float(self.g_np(math.exp(ell)))
            except (OverflowError, ZeroDivisionError, ValueError, TypeError):
                value = math.nan
            if value == 0.0:
                return 0.0
            if value < 0.0:  # g >= 0 in exact arithmetic; this is rounding next to u = 1
                return math.exp(log_q - shift) * value if log_q - shift < 700 else 0.0
            if math.isfinite(value):
                log_value = log_q + math.log(value)
                self._seen(log_value, x)
                if -700 < log_q - shift < 700:
                    out = math.exp(log_q - shift) * value
                    if math.isfinite(out):
                        return out
                return math.exp(min(log_value - shift, 710.0))
        with mpmath.workdps(20):  # the far tails, where floats over/underflow
            log_value = _log_integrand_mp(pair, self.gen, x)
            if log_value == -mpmath.inf:
                return 0.0
            self._seen(float(log_value), x)
            return float(mpmath.exp(log_value - shift))


def _scipy_quad(pair: _Pair, gen: Generator) -> Estimate:
    shift, peak = 0.0, None
    for _ in range(6):
        fn = _Integrand(pair, gen, shift)
        value, error = _quad(pair, fn, peak)
        off = fn.top - shift
        if fn.top == -math.inf or (abs(off) <= RESCALE and math.isfinite(value)):
            break
        shift, peak = fn.top, fn.at  # log-sum-exp: integrate exp(log integrand - its largest value)
    else:
        raise NumericsError("quadrature: could not bring the integrand into the float range")
    if value <= 0.0:  # g = 0 up to rounding: nothing to scale
        return Estimate(value, _times_exp(error, shift), "quadrature")
    log_value = math.log(value) + shift
    overflow = log_value >= LOG_FLOAT_MAX
    return Estimate(math.inf if overflow else math.exp(log_value), _times_exp(error, shift),
                    "quadrature" if shift == 0 else "quadrature (log-scaled)", log_value if overflow else None)


def _times_exp(x: float, shift: float) -> float:
    """x e^shift for x >= 0 without overflow in the intermediate steps."""
    if x <= 0:
        return 0.0
    log_x = math.log(x) + shift
    return math.exp(log_x) if log_x < LOG_FLOAT_MAX else math.inf


def _quad(pair: _Pair, integrand: _Integrand, peak: float | None) -> tuple[float, float]:
    lo = min(pair.m1, pair.m2) - 12 * pair.scale
    hi = max(pair.m1, pair.m2) + 12 * pair.scale
    extra = []
    if peak is not None and math.isfinite(peak):
        width = 12 * math.sqrt(min(pair.v1, pair.v2))
        lo, hi = min(lo, peak - width), max(hi, peak + width)
        extra = [peak]
    points = sorted({pair.m1, pair.m2, pair.centre, *extra, *(x for x in pair.breaks if lo < x < hi)})
    total, error = 0.0, 0.0
    for a, b in ((-np.inf, lo), (hi, np.inf)):
        v, e = integrate.quad(integrand, a, b, epsabs=1e-300, epsrel=1e-13, limit=200)
        total, error = total + v, error + e
    v, e = integrate.quad(integrand, lo, hi, points=points, epsabs=1e-300, epsrel=1e-13, limit=400)
    return total + v, error + e


def _mpmath_quad(pair: _Pair, gen: Generator, dps: int) -> Estimate:
    with mpmath.workdps(dps + 10):
        def integrand(x):
            return mpmath.exp(_log_integrand_mp(pair, gen, x))

        pts = [-mpmath.inf] + sorted({mpmath.mpf(x) for x in (pair.m1, pair.m2, *pair.breaks)}) + [mpmath.inf]
        value, error = mpmath.quad(integrand, pts, error=True, maxdegree=10)
        overflow = value > 0 and mpmath.log(value) >= LOG_FLOAT_MAX
        return Estimate(math.inf if overflow else float(value), float(error), f"quadrature (mpmath, {dps} digits)",
                        float(mpmath.log(value)) if overflow else None)
