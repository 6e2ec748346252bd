"""Read a loss's own activation off the loss, when it is none of the ones fdiv tries.

Two-term losses (critic_loss, divergence_estimate): with the other argument held at c, the activation term
gives sigma(x) - sigma(c) directly, and the conjugate term gives f*(sigma(x)) - f*(sigma(c)); the one unknown,
s0 = sigma(c), is found where the conjugate term matches (a sign change of the mismatch over dom f*, refined by
bisection) and confirmed at every moderate logit and by the loss's value L(c, c). One-term losses: the
non-saturating generator loss is -sigma itself; the saddle generator loss and f* o sigma give sigma through f*,
which is increasing on the critic range (its slope is the density ratio).

The values of sigma are then fitted by a + k h(v) with h one of v, e^v, e^-v, softplus(+/-v), tanh(v),
sigmoid(v), to 1e-9. A fit that maps R into dom f* is returned as a SymPy expression (and is then compared in
full like any other candidate); without a fit the caller suggests --activation. All of this screens in float64 at
the moderate logits only; no verdict rests on it.
"""
from __future__ import annotations

import math

import mpmath
import numpy as np
import sympy as sp

from fdiv.activation import V
from fdiv.derive import Derivation

from .exact import reference

MODERATE = (-3.0, -1.5, -0.5, 0.5, 1.5, 3.0)
FIT_RTOL = 1e-9
_SHAPES = (("v", V), ("exp(v)", sp.exp(V)), ("exp(-v)", sp.exp(-V)), ("softplus(v)", sp.log(1 + sp.exp(V))),
           ("softplus(-v)", sp.log(1 + sp.exp(-V))), ("tanh(v)", sp.tanh(V)), ("sigmoid(v)", 1 / (1 + sp.exp(-V))))


def sigma_values(fn, role, d: Derivation) -> list[float] | None:
    """sigma(x) at MODERATE logits as the loss implies it, or None when the loss is not one of f* o sigma."""
    from .identify import _value

    if role.name == "generator_loss_nonsaturating":
        ys = [-_value(fn, role, [x]) for x in MODERATE]
        return ys if all(math.isfinite(y) for y in ys) else None
    if role.name in ("generator_loss", "conjugate_of_activation"):
        sign = -1.0 if role.name == "generator_loss" else 1.0
        targets = [sign * _value(fn, role, [x]) for x in MODERATE]
        if not all(math.isfinite(t) for t in targets):
            return None
        out = [_invert_conjugate(d, t) for t in targets]
        return out if all(y is not None for y in out) else None
    if role.name in ("critic_loss", "divergence_estimate"):
        return _two_terms(fn, role, d)
    return None


def _conjugate(d: Derivation):
    ref = reference(d)

    def fstar(t: float):
        with mpmath.workdps(30):
            try:
                y = ref.function("conjugate")(mpmath.mpf(t))
            except (ValueError, ZeroDivisionError, OverflowError, TypeError):
                return None
            if not isinstance(y, mpmath.mpf) or not mpmath.isfinite(y):
                return None
            return float(y)

    return fstar


def _bounds(d: Derivation) -> tuple[float, float]:
    lo, hi = d.critic_range.lower, d.critic_range.upper
    return (float(lo) if lo.is_finite else -math.inf), (float(hi) if hi.is_finite else math.inf)


def _bisect(g, a: float, b: float, ga: float) -> float:
    for _ in range(200):
        m = 0.5 * (a + b)
        gm = g(m)
        if gm is None:
            return m
        if (gm > 0) == (ga > 0):
            a, ga = m, gm
        else:
            b = m
        if b - a <= 1e-15 * max(1.0, abs(a)):
            break
    return 0.5 * (a + b)


def _grid(lo: float, hi: float, n: int = 400) -> list[float]:
    """Points inside (lo, hi), denser towards infinite ends (|t| up to 1e6)."""
    if math.isfinite(lo) and math.isfinite(hi):
        return [lo + (hi - lo) * (i + 0.5) / n for i in range(n)]
    mags = [10.0 ** (-6 + 12 * i / (n // 2)) for i in range(n // 2)]
    if math.isfinite(hi):
        return sorted(hi - m for m in mags)
    if math.isfinite(lo):
        return sorted(lo + m for m in mags)
    return sorted([-m for m in mags] + [m for m in mags])


def _invert_conjugate(d: Derivation, target: float) -> float | None:
    """The t in the critic range with f*(t) = target (f* increases there), or None."""
    fstar = _conjugate(d)
    lo, hi = _bounds(d)
    g = lambda t: None if fstar(t) is None else fstar(t) - target  # noqa: E731
    pts = [(t, g(t)) for t in _grid(lo, hi)]
    pts = [(t, y) for t, y in pts if y is not None]
    for (a, ga), (b, gb) in zip(pts, pts[1:]):
        if ga == 0:
            return a
        if (ga > 0) != (gb > 0):
            return _bisect(g, a, b, ga)
    return None


def _two_terms(fn, role, d: Derivation) -> list[float] | None:
    from .identify import _terms

    found = _terms(fn, role, MODERATE)
    if found is None:
        return None
    c, (real, fake), base = found
    (s_real, _, _), (s_fake, _, _) = role.terms
    if not all(math.isfinite(x) for x in real + fake):
        return None
    delta = [r / s_real for r in real]  # sigma(x) - sigma(c)
    fstar = _conjugate(d)
    lo, hi = _bounds(d)
    k = max(range(len(delta)), key=lambda i: abs(delta[i]))

    def mismatch(s0: float):
        a, b = fstar(s0 + delta[k]), fstar(s0)
        return None if a is None or b is None else s_fake * (a - b) - fake[k]

    low = lo - min(min(delta), 0.0) if math.isfinite(lo) else -math.inf
    high = hi - max(max(delta), 0.0) if math.isfinite(hi) else math.inf
    if not low < high:
        return None
    pts = [(t, mismatch(t)) for t in _grid(low, high)]
    pts = [(t, y) for t, y in pts if y is not None]
    scale = abs(base) + max(abs(x) for x in real + fake) + 1.0
    for (a, ga), (b, gb) in zip(pts, pts[1:]):
        if (ga > 0) == (gb > 0) and ga != 0:
            continue
        s0 = a if ga == 0 else _bisect(mismatch, a, b, ga)
        values = [s0 + x for x in delta]
        conj = [fstar(v) for v in values]
        f0 = fstar(s0)
        if f0 is None or any(y is None for y in conj):
            continue
        if all(abs(s_fake * (y - f0) - t) <= 1e-7 * scale for y, t in zip(conj, fake)) and \
                abs(s_real * s0 + s_fake * f0 - base) <= 1e-7 * scale:
            return values
    return None


def fit(values: list[float]) -> sp.Expr | None:
    """sigma = a + k h(v) through the values at MODERATE (to FIT_RTOL), with a, k in a simple closed form where
    one fits; None when no shape does."""
    y = np.array(values, dtype=float)
    x = np.array(MODERATE, dtype=float)
    best = None
    for _, h in _SHAPES:
        hv = np.array([float(h.subs(V, xi)) for xi in x])
        a_mat = np.stack([np.ones_like(hv), hv], axis=1)
        coef, *_ = np.linalg.lstsq(a_mat, y, rcond=None)
        resid = np.max(np.abs(a_mat @ coef - y))
        if resid <= FIT_RTOL * (1.0 + np.max(np.abs(y))) and abs(coef[1]) > 1e-12:
            if best is None or resid < best[0]:
                best = (resid, coef, h)
    if best is None:
        return None
    _, (a, k), h = best
    return _nice(a) + _nice(k) * h


def _nice(x: float) -> sp.Expr:
    """x as a short closed form (an integer, a fraction, a log) when one is within 1e-10, else a float."""
    if abs(x) < 1e-12:
        return sp.S.Zero
    guess = sp.nsimplify(x, [sp.log(2), sp.log(3)], tolerance=1e-10 * max(1.0, abs(x)), rational=False)
    if sp.count_ops(guess) <= 6 and abs(float(guess) - x) <= 1e-10 * max(1.0, abs(x)):
        return guess
    return sp.Float(x, 12)


def describe(values: list[float]) -> str:
    return ", ".join(f"sigma({x:g}) = {y:.6g}" for x, y in zip(MODERATE, values))
