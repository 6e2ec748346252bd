"""D_f(P||Q) = int q f(p/q) between two 1-D Gaussians by quadrature, with an error estimate.

Only f is needed, never its conjugate (see numerics.generator). f is shifted first to
g(u) = f(u) - f(1) - f'(1)(u - 1) (D_f = int q g + f(1), since int q (u - 1) = 0), so by convexity the
integrand is >= 0 and does not cancel where p ~ q.

Coordinates. The integral runs in q's standard coordinate z = (x - m_q)/s_q, where
l = log p - log q = (delta z^2 + 2 mu z - mu^2 - r log r)/(2 r), r = v_p/v_q = 1 + delta, mu = (m_p - m_q)/s_q:
delta and mu are differences of the inputs, so l keeps its relative accuracy when p ~ q. When p is much
narrower than q (r < 1/4) that form cancels inside p's bulk, so a window of +-10 of p's standard deviations
is integrated in p's own coordinate t (x = m_p + s_p t, never formed), with the integrand p g(u)/u; this
keeps a spike of p that is narrower than float spacing at x (v_p/v_q = 1e-60) from being stepped over.

Log space. u = e^l; where floats over- or underflow, the log-integrand is evaluated in mpmath, as
log q + log g(u) or, for u > 1, as log p + log(g(u)/u) (no cancellation of log q against l). When the
integrand's largest log-value approaches the float range, the integral is redone on exp(log integrand - M),
M that largest value, and scaled back (a log-sum-exp): a finite D_f within float64's range is never reported
as inf, and one beyond it comes out as inf with `log_value` finite.

Finiteness is decided before integrating, from the tails: the log-integrand of a Gaussian pair is
asymptotically quadratic, so it either falls off (finite) or does not (+inf).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import mpmath
import numpy as np
import sympy as sp
from scipy import integrate

from .errors import NumericsError
from .gaussian import _roots
from .generator import Generator, generator

# Rescale when the integrand's log leaves [-RESCALE, RESCALE] around the current shift: e^300 leaves quad's
# sums (values times the weights of its infinite-interval maps) far from overflow.
RESCALE = 300.0
LOG_FLOAT_MAX = math.log(np.finfo(np.float64).max)
LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
WINDOW = 10.0  # half-width of p's window, in p's standard deviations (mass outside: 1.5e-23)


@dataclass(frozen=True)
class Estimate:
    value: float  # +inf when the divergence is infinite (or finite but beyond float64's range: see log_value)
    abs_error: float
    method: str
    log_value: float | None = None  # log D_f, set when D_f is finite but beyond float64's range

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
    """p = N(m1, v1), q = N(m2, v2) in q's coordinate z (and p's coordinate t inside p's window)."""

    def __init__(self, p, q):
        self.m1, self.v1 = _check(*p, "p")
        self.m2, self.v2 = _check(*q, "q")
        if not 1e-300 < self.v1 / self.v2 < 1e300:
            raise NumericsError(f"p, q: variances {self.v1:g} and {self.v2:g} differ by more than float64 can "
                                "integrate (a ratio outside 1e-300 .. 1e300)")
        self.s2 = math.sqrt(self.v2)
        self.r = self.v1 / self.v2
        self.sr = math.sqrt(self.r)  # p's standard deviation in z
        self.delta = (self.v1 - self.v2) / self.v2
        self.log_r = math.log1p(self.delta) if abs(self.delta) < 0.5 else math.log(self.v1) - math.log(self.v2)
        self.mu = (self.m1 - self.m2) / self.s2
        if abs(self.mu) > 1e7 * max(1.0, self.sr):  # rounding of z near the far mean: 1e-9 holds to here
            raise NumericsError(f"p, q: means {self.m1:g} and {self.m2:g} are {abs(self.mu) / max(1.0, self.sr):.3g} "
                                "standard deviations apart; quadrature resolves up to 1e7 (closed forms go further)")
        self.windowed = self.r < 0.25
        self.breaks: list[float] = []  # z where u crosses a kink of f
        self._mp_cache: dict[int, tuple] = {}

    def ell_z(self, z: float) -> float:
        if self.windowed:  # z^2/2 - (z - mu)^2/(2 r): no cancellation outside p's window
            w = z - self.mu
            return 0.5 * z * z - 0.5 * w * w / self.r - 0.5 * self.log_r
        return (self.delta * z * z + 2 * self.mu * z - self.mu * self.mu - self.r * self.log_r) / (2 * self.r)

    def ell_t(self, t: float) -> float:
        z = self.mu + self.sr * t
        return 0.5 * z * z - 0.5 * t * t - 0.5 * self.log_r

    def ell(self, x: float) -> float:
        """log p(x) - log q(x)."""
        return self.ell_z((x - self.m2) / self.s2)

    def crossings_z(self, level: float) -> list[float]:
        """The z where l = level: delta z^2 + 2 mu z - (mu^2 + r log r + 2 r level) = 0."""
        return _roots(self.delta, self.mu, -(self.mu * self.mu + self.r * self.log_r + 2 * self.r * level))

    def crossings_t(self, level: float) -> list[float]:
        """The t where l = level: delta t^2 + 2 mu sr t + (mu^2 - log r - 2 level) = 0."""
        return _roots(self.delta, self.mu * self.sr, self.mu * self.mu - self.log_r - 2 * level)

    def crossings(self, level: float) -> list[float]:
        """The x where l = level."""
        return [self.m2 + self.s2 * z for z in self.crossings_z(level)]

    def mp_constants(self) -> tuple:
        """r, sr, mu, delta, log r as mpf at the working precision (computed once per precision)."""
        prec = mpmath.mp.prec
        if prec not in self._mp_cache:
            v1, v2 = mpmath.mpf(self.v1), mpmath.mpf(self.v2)
            r = v1 / v2
            self._mp_cache[prec] = (r, mpmath.sqrt(r), (mpmath.mpf(self.m1) - self.m2) / mpmath.sqrt(v2),
                                    (v1 - v2) / v2, mpmath.log(r))
        return self._mp_cache[prec]


def f_divergence(spec, p: tuple[float, float], q: tuple[float, float], *, high_precision: bool = False,
                 dps: int = 30, **params) -> Estimate:
    """D_f(P||Q) for p = (mean, variance), q = (mean, variance); scipy's adaptive quadrature by default,
    mpmath's tanh-sinh at `dps` digits with high_precision=True.

    spec: a catalogue name, an expression in u, a Spec, a Derivation or a Generator (memoised, see
    numerics.generator); f(1) != 0 is allowed and included (D_f(P||P) = f(1)).
    """
    gen = generator(spec, **params)
    pair = _Pair(p, q)
    pair.breaks = sorted(z for k in gen.kinks for z in pair.crossings_z(math.log(k)))
    shift = float(gen.f_at_one)
    if not _finite(pair, gen):
        return Estimate(math.inf, 0.0, "quadrature")
    size = 0.0
    if high_precision:
        est, noise = _mpmath_quad_exact_f(pair, gen, dps)
    else:
        est = _scipy_quad(pair, gen)
        noise, size = _rounding(pair, gen, None) if math.isfinite(est.value) else (0.0, 0.0)
    if math.isfinite(est.value) and noise > TRUST * max(abs(est.value), size) and noise > ABSOLUTE:
        raise NumericsError(f"{gen.name}: f loses its digits where the integral lives (float rounding of about "
                            f"{noise:.2g} against a value of about {est.value:.2g}): use --method mpmath or a "
                            "closed form")
    value = est.value + shift
    # the float rounding of the value (and of adding f(1)) is part of the error too: mpmath's own error is 1e-40
    error = est.abs_error + noise + math.ulp(value) if math.isfinite(value) else est.abs_error
    # log_value is set only beyond e^709, where adding a finite f(1) changes nothing at float precision
    return Estimate(value, error, est.method, est.log_value)


#: A quadrature whose integrand rounding error is above both TRUST times its value and ABSOLUTE is refused
#: (a value whose error bar exceeds it says nothing); below either, the error is part of its error bar
#: (D_f = 0 +- 4e-31 for a pair 2e-16 apart still bounds D_f usefully, as does any bar below 1e-12).
TRUST = 1e-2
ABSOLUTE = 1e-12
#: Points in the probe of f's rounding (a grid over -8..8 standard deviations).
GRID = 41
#: The most digits the mpmath quadrature works at (its cost grows fast with them).
MAX_DIGITS = 120


def _rounding(pair: _Pair, gen: Generator, dps: int | None) -> tuple[float, float]:
    """(E, S): E estimates int q |g_computed - g|, the error the quadrature inherits from evaluating g (float64
    when dps is None, else mpmath at dps digits), as four times a trapezoid sum of |g_computed - g| against g at
    _reference_digits; S is the same sum of g itself, the integral's size. The sums run over -8..8 standard
    deviations of the density that is narrower in the frame where the integrand is smooth: q's in z, or p's
    in t when p is the narrow one (where the quadrature itself integrates in t)."""
    ref_dps = max(_reference_digits(gen), 2 * MAX_DIGITS)
    frame = "t" if pair.windowed else "z"
    step = mpmath.mpf(16) / (GRID - 1)
    error, size = mpmath.mpf(0), mpmath.mpf(0)
    for k in range(GRID):
        v = -8 + step * k
        ref = _integrand_at(pair, gen, frame, v, dps=ref_dps)
        got = _integrand_at(pair, gen, frame, v, dps=dps)
        if ref is None or got is None:
            continue
        weight = step * mpmath.npdf(v)
        error += weight * abs(got - ref)
        size += weight * abs(ref)
    return float(4 * error), float(size)


def _mpmath_quad_exact_f(pair: _Pair, gen: Generator, dps: int) -> tuple[Estimate, float]:
    """mpmath's quadrature at dps digits, with f evaluated at as many more digits (doubling up to MAX_DIGITS)
    as it takes for f's rounding to stay below 10^-dps of the integral (or of 1e-10, when the integral is
    smaller); NumericsError beyond."""
    work = dps
    while True:
        error, size = _rounding(pair, gen, work + 10)
        if error <= 10.0 ** -dps * max(size, 1e-10):
            return _mpmath_quad(pair, gen, work), error
        if 2 * work > MAX_DIGITS:
            raise NumericsError(f"{gen.name}: f cannot be evaluated to {dps} digits here even at {work} working "
                                "digits (its constants cancel against each other): use a closed form")
        work *= 2


def _integrand_at(pair: _Pair, gen: Generator, frame: str, v, *, dps: int | None):
    """g(u) (frame z) or g(u)/u (frame t) at v: in float64 exactly as the float integrand forms
    it (dps None), else in mpmath at dps digits; None where u leaves the float range (the float integrand
    switches to mpmath there) or the value is not real."""
    if dps is None:
        ell = pair.ell_z(v) if frame == "z" else pair.ell_t(v)
        if not -700 < ell < 700:
            return None
        try:
            with np.errstate(all="ignore"):
                u = math.exp(ell)
                value = float(gen.shifted_numpy(u))
        except (OverflowError, ZeroDivisionError, ValueError, TypeError):
            return None
        value = value / u if frame == "t" else value
        return mpmath.mpf(value) if math.isfinite(value) else None
    with mpmath.workdps(dps):
        r, sr, mu, delta, log_r = pair.mp_constants()
        x = mpmath.mpf(v)
        if frame == "z":
            ell = (0.5 * x * x - (x - mu) ** 2 / (2 * r) - log_r / 2 if pair.windowed else
                   (delta * x * x + 2 * mu * x - mu * mu - r * log_r) / (2 * r))
        else:
            z = mu + sr * x
            ell = (z * z - x * x - log_r) / 2
        u = mpmath.exp(ell)
        try:
            value = gen.shifted_mpmath(u)
        except (ValueError, ZeroDivisionError, OverflowError, TypeError):
            return None
        if isinstance(value, mpmath.mpc):
            value = value.real
        value = value / u if frame == "t" else value
        return +value if mpmath.isfinite(value) else None


def _reference_digits(gen: Generator) -> int:
    """Digits at which g itself is exact enough to judge others: 60 more than twice the largest decimal
    exponent of a parameter (alpha = 1e-200 is then exact against 1)."""
    exponents = [abs(float(sp.log(abs(v), 10))) for v in gen.parameters.values()
                 if isinstance(v, sp.Basic) and v.is_number and v != 0]
    return 60 + 2 * int(max(exponents, default=0))


def _log_integrand_mp(pair: _Pair, gen: Generator, v, frame: str = "z"):
    """log of the integrand at v in mpmath: q g(u) per dz (frame "z"), or p g(u)/u per dt (frame "t")."""
    r, sr, mu, delta, log_r = pair.mp_constants()
    v = mpmath.mpf(v)
    if frame == "z":
        z, t = v, (v - mu) / sr
        ell = (0.5 * z * z - (z - mu) ** 2 / (2 * r) - log_r / 2 if pair.windowed else
               (delta * z * z + 2 * mu * z - mu * mu - r * log_r) / (2 * r))
    else:
        t, z = v, mu + sr * v
        ell = (z * z - t * t - log_r) / 2
    u = mpmath.exp(ell)
    value = gen.shifted_mpmath(u)
    if isinstance(value, mpmath.mpc):
        value = value.real
    if not value > 0:
        return -mpmath.inf
    # log q + log g(u) (per dz) = log p + log(g(u)/u) (per dz: log phi(t) - log sr); per dt add log sr
    if ell <= 0:
        log_value = -z * z / 2 - LOG_SQRT_2PI + mpmath.log(value)
        return log_value if frame == "z" else log_value + mpmath.log(sr)
    log_value = -t * t / 2 - LOG_SQRT_2PI + mpmath.log(value / u)  # not log(value) - l: both may be ~1e37
    return log_value - mpmath.log(sr) if frame == "z" else log_value


def _finite(pair: _Pair, gen: Generator) -> bool:
    """Both tails fall off: the log-integrand drops by > 10 from R to 2R and from 2R to 4R (R in units of the
    larger standard deviation, beyond the outer mean), at R = 50, or failing that far out, at R = 5e7. The far
    probe decides where the integrand still rises at 50 on its way to a peak further out (chi^2 with
    2 var_q - var_p = 0.016 var_q peaks 120 standard deviations out: it is finite, 3.2e28)."""
    return all(_falls_off(pair, gen, side, 50.0) or _falls_off(pair, gen, side, 5e7) for side in (-1, 1))


def _falls_off(pair: _Pair, gen: Generator, side: int, radius: float) -> bool:
    scale = max(1.0, pair.sr)
    edge = max(0.0, pair.mu) if side > 0 else min(0.0, pair.mu)  # probe beyond both means
    zs = [edge + side * k * radius * scale for k in (1, 2, 4)]
    # g(u) ~ l^2 near u = 1 is computed with cancellation: carry 2 |log10 l| digits more than the 40 used
    smallest = min(abs(pair.ell_z(z)) for z in zs)
    extra = 0 if smallest == 0 or smallest > 1e-5 else min(int(-2 * math.log10(smallest)) + 10, 800)
    with mpmath.workdps(40 + extra):
        logs = [_log_integrand_mp(pair, gen, z) for z in zs]
        if logs[2] == -mpmath.inf:  # the integrand vanishes there (p = q, or g = 0 on that side)
            return True
        return bool(logs[1] < logs[0] - 10 and logs[2] < logs[1] - 10)


class _Integrand:
    """v -> exp(log integrand - shift) as a float in frame "z" (q g(u) per dz) or "t" (p g(u)/u per dt),
    recording the largest log-value it met (and where, in z)."""

    def __init__(self, pair: _Pair, gen: Generator, shift: float, frame: str):
        self.pair, self.g_np, self.gen, self.shift, self.frame = pair, gen.shifted_numpy, gen, shift, frame
        self.top, self.at = -math.inf, None
        # a parameter below 1e-8 (alpha -> 0) makes float64's g cancel to a few digits (u^alpha - 1 is alpha log u):
        # g is then evaluated in mpmath everywhere, at the digits the parameter needs
        self.mp_only = _reference_digits(gen) > 60 + 2 * 8

    def _seen(self, log_value: float, v: float) -> None:
        if log_value > self.top:
            self.top, self.at = log_value, (v if self.frame == "z" else None)

    def __call__(self, v: float) -> float:
        pair, shift = self.pair, self.shift
        if self.frame == "z":
            ell = pair.ell_z(v)
            log_base = -0.5 * v * v - LOG_SQRT_2PI  # log phi(z): q dx = phi(z) dz
        else:
            ell = pair.ell_t(v)
            log_base = -0.5 * v * v - LOG_SQRT_2PI  # log phi(t): p dx = phi(t) dt, times g(u)/u below
        if -700 < ell < 700 and not self.mp_only:  # u = e^l a normal float: below e^-708 it would lose bits
            try:
                with np.errstate(all="ignore"):
                    u = math.exp(ell)
                    value = float(self.g_np(u))
                    if self.frame == "t":
                        value /= u
            except (OverflowError, ZeroDivisionError, ValueError, TypeError):
                value = math.nan
            if value == 0.0:
                return 0.0
            if value < 0.0:  # g >= 0 in exact arithmetic; this is rounding next to u = 1
                return math.exp(log_base - shift) * value if log_base - shift < 700 else 0.0
            if math.isfinite(value):
                log_value = log_base + math.log(value)
                self._seen(log_value, v)
                if -700 < log_base - shift < 700:
                    out = math.exp(log_base - shift) * value
                    if math.isfinite(out):
                        return out
                return math.exp(log_value - shift) if log_value - shift < LOG_FLOAT_MAX else math.inf
        # the far tails, where floats over/underflow: 20 digits of g, plus what a tiny parameter cancels (for
        # alpha = 1e-30, u^alpha - 1 is 1e-27 log u: at 20 digits it was 0, and the value 1e5 times too large)
        with mpmath.workdps(_reference_digits(self.gen) - 40):
            log_value = _log_integrand_mp(pair, self.gen, v, self.frame)
            if log_value == -mpmath.inf:
                return 0.0
            self._seen(float(log_value), v)
            return float(mpmath.exp(log_value - shift))


def _scipy_quad(pair: _Pair, gen: Generator) -> Estimate:
    shift, peak = 0.0, None
    for _ in range(6):
        fns = [_Integrand(pair, gen, shift, "z"), _Integrand(pair, gen, shift, "t")]
        value, error = _quad(pair, *fns, peak)
        top = max(fns, key=lambda fn: fn.top)
        if top.top == -math.inf or (abs(top.top - shift) <= RESCALE and math.isfinite(value)):
            break
        shift = top.top  # log-sum-exp: integrate exp(log integrand - its largest value)
        peak = fns[0].at if fns[0].at is not None else peak
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


def _quad(pair: _Pair, in_z: _Integrand, in_t: _Integrand, peak: float | None) -> tuple[float, float]:
    """The z-line in three parts (two tails and a centre with break points), and p's window in t. QUADPACK's
    warnings are silenced: its error estimate is returned instead (and tested against references)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        return _quad_parts(pair, in_z, in_t, peak)


def _quad_parts(pair: _Pair, in_z: _Integrand, in_t: _Integrand, peak: float | None) -> tuple[float, float]:
    scale = max(1.0, pair.sr)
    lo, hi = min(0.0, pair.mu) - 12 * scale, max(0.0, pair.mu) + 12 * scale
    points = {0.0, pair.mu, 0.5 * pair.mu, *pair.breaks}
    # each density's own scale gets break points, so that a narrow one is not stepped over (one spike of p
    # missed by the 21-point rule would drop int q (u - 1) = 0 to -1 and go unnoticed by the error estimate)
    points |= {c + k * s for c, s in ((0.0, 1.0), (pair.mu, pair.sr)) for k in (-8, -2, 2, 8)}
    if peak is not None and math.isfinite(peak):
        width = 12 * min(1.0, pair.sr)
        lo, hi = min(lo, peak - width), max(hi, peak + width)
        points.add(peak)
    pieces = [(lo, hi)]
    total, error = 0.0, 0.0
    if pair.windowed:
        a, b = pair.mu - WINDOW * pair.sr, pair.mu + WINDOW * pair.sr
        pieces = [(lo, a), (b, hi)]
        t_points = sorted({0.0, -2.0, 2.0, *(t for k in in_t.gen.kinks for t in pair.crossings_t(math.log(k))
                                             if -WINDOW < t < WINDOW)})
        v, e = integrate.quad(in_t, -WINDOW, WINDOW, points=t_points, epsabs=1e-300, epsrel=1e-13, limit=400)
        total, error = v, e
    for a, b in ((-np.inf, lo), (hi, np.inf)):
        v, e = integrate.quad(in_z, a, b, epsabs=1e-300, epsrel=1e-13, limit=200)
        total, error = total + v, error + e
    for a, b in pieces:
        if b > a:
            inner = sorted(x for x in points if a < x < b)
            v, e = integrate.quad(in_z, a, b, points=inner or None, epsabs=1e-300, epsrel=1e-13, limit=400)
            total, error = total + v, error + e
    return total, error


def _mpmath_quad(pair: _Pair, gen: Generator, dps: int) -> Estimate:
    # extra digits where l cancels inside p's window (log10 1/r of them)
    extra = int(-math.log10(pair.r)) + 5 if pair.windowed else 0
    with mpmath.workdps(dps + 10 + extra):
        def integrand(z):
            return mpmath.exp(_log_integrand_mp(pair, gen, z))

        r, sr, mu, _, _ = pair.mp_constants()
        cuts = {mpmath.mpf(0), mu, *(mpmath.mpf(z) for z in pair.breaks)}
        cuts |= {c + k * s for c, s in ((mpmath.mpf(0), mpmath.mpf(1)), (mu, sr)) for k in (-8, -2, 2, 8)}
        value, error = mpmath.quad(integrand, [-mpmath.inf, *sorted(cuts), mpmath.inf], error=True, maxdegree=10)
        overflow = value > 0 and mpmath.log(value) >= LOG_FLOAT_MAX
        return Estimate(math.inf if overflow else float(value), float(error), f"quadrature (mpmath, {dps} digits)",
                        float(mpmath.log(value)) if overflow else None)
