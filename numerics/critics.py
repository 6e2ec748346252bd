"""Critics for Gaussian pairs: the optimal T* = f'(p/q) in closed form, and a quadratic family.

log p(x) - log q(x) = c0 + b'x + x'Cx exactly, with C = (Sq^-1 - Sp^-1)/2, b = Sp^-1 mp - Sq^-1 mq,
c0 = (mq'Sq^-1 mq - mp'Sp^-1 mp)/2 + (log det Sq - log det Sp)/2.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sympy as sp

from fdiv.derivation.activation import V
from fdiv.derivation.engine import Derivation
from fdiv.spec.spec import U

from .gaussian import Gaussian
from .generator import derivation

_L = sp.Symbol("l", real=True)


def log_ratio_coefficients(p: Gaussian, q: Gaussian) -> tuple[float, np.ndarray, np.ndarray]:
    ip, iq = np.linalg.inv(p.cov), np.linalg.inv(q.cov)
    c = 0.5 * (iq - ip)
    b = ip @ p.mean - iq @ q.mean
    c0 = 0.5 * (q.mean @ iq @ q.mean - p.mean @ ip @ p.mean) + 0.5 * (q.logdet() - p.logdet())
    return float(c0), b, c


def log_ratio(p: Gaussian, q: Gaussian) -> Callable[[np.ndarray], np.ndarray]:
    c0, b, c = log_ratio_coefficients(p, q)
    return lambda x: c0 + np.asarray(x) @ b + np.einsum("...i,ij,...j->...", x, c, x)


def critic_of_log_ratio(d: Derivation) -> Callable[[np.ndarray], np.ndarray]:
    """T*(l) = f'(exp(l)) as a function of the log-ratio l, simplified symbolically (log(exp(l)) -> l)."""
    return sp.lambdify(_L, _critic_expr(d), ["scipy", "numpy"])


def _critic_expr(d: Derivation) -> sp.Expr:
    return _critic_of(d.optimal_critic)


# The symbolic steps below (simplify) and the lambdified functions are memoised per expression: a loop over
# Gaussian pairs pays for them once, not per pair.
@functools.lru_cache(maxsize=256)
def _critic_of(optimal_critic: sp.Expr) -> sp.Expr:
    return sp.expand_log(sp.simplify(optimal_critic.subs(U, sp.exp(_L))), force=True)


def compose_conjugate(d: Derivation, critic: sp.Expr) -> sp.Expr:
    """f*(critic) simplified symbolically, with the derived f* formula: evaluating the composition avoids
    rounding the critic onto the end of dom f* (Hellinger: f*(1 - e^(-l/2)) = e^(l/2) - 1)."""
    return _composed(d.conjugate, critic)


@functools.lru_cache(maxsize=256)
def _composed(conjugate: sp.Expr, critic: sp.Expr) -> sp.Expr:
    from fdiv.derivation.conjugate import T, lambert_of_y_exp_y
    from fdiv._util.timelimit import attempt

    expr = lambert_of_y_exp_y(conjugate.subs(T, critic))
    ok, simpler = attempt("simplifying f* of the critic", sp.simplify, expr, seconds=10)
    return simpler if ok else expr


@functools.lru_cache(maxsize=256)
def _float_or_mp(expr: sp.Expr, var: sp.Symbol):
    """expr(var) as a float function, switching to mpmath (returning an mpf) where floats overflow."""
    import math

    import mpmath

    f_float, f_mp = sp.lambdify(var, expr, "math"), sp.lambdify(var, expr, "mpmath")

    def fn(x: float):
        try:
            value = float(f_float(x))
            if math.isfinite(value):
                return value
        except (OverflowError, ValueError, ZeroDivisionError, NameError):  # NameError: no float W in math
            pass
        for dps in (30, 30 + min(int(abs(x)), 2000)):  # more digits when 1 + e^-|x| must not round to 1
            with mpmath.workdps(dps):
                try:
                    value = f_mp(mpmath.mpf(x))
                except ZeroDivisionError:
                    continue
                return value.real if isinstance(value, mpmath.mpc) else value
        raise ArithmeticError(f"cannot evaluate {expr} at {x}")

    return fn


def optimal_critic(spec: str | Derivation, p: Gaussian, q: Gaussian, **params) -> Callable[[np.ndarray], np.ndarray]:
    """x -> T*(x) = f'(p(x)/q(x)), the critic at which the variational bound equals D_f."""
    d = derivation(spec, **params)
    ell, t_of_l = log_ratio(p, q), critic_of_log_ratio(d)
    return lambda x: np.broadcast_to(t_of_l(ell(x)), np.shape(x)[:-1]) * 1.0


def optimal_critic_1d(spec: str | Derivation, p: tuple[float, float], q: tuple[float, float], **params):
    """The 1-D T*(x) as a plain float function (fast under scipy's quadrature), and the x where it may jump
    (where p/q crosses a kink of f, e.g. p = q for total variation)."""
    from .quadrature import _Pair

    d = derivation(spec, **params)
    pair = _Pair(p, q)
    expr = _critic_expr(d)
    t_of_l, conj_of_l = _float_or_mp(expr, _L), _float_or_mp(compose_conjugate(d, expr), _L)
    jumps = sorted(x for b in d.branches if b.kind == "kink" for x in pair.crossings(math.log(float(b.ratio))))
    return OneDimCritic(lambda x: t_of_l(pair.ell(x)), lambda x: conj_of_l(pair.ell(x)), tuple(jumps))


@dataclass(frozen=True)
class OneDimCritic:
    """A 1-D critic T(x) with f*(T(x)) beside it (both floats, or mpf beyond the float range) and the x where
    T may jump."""

    critic: Callable[[float], object]
    conjugate_of_critic: Callable[[float], object]
    breaks: tuple[float, ...] = ()


@dataclass(frozen=True)
class QuadraticCritic:
    """T(x) = sigma_f(a + b'x + x'Cx): the family that contains every optimal critic for a Gaussian pair
    wherever sigma_f is invertible (T* = f'(exp(l)) with l quadratic)."""

    a: float
    b: np.ndarray
    c: np.ndarray
    activation: Callable[[np.ndarray], np.ndarray]

    @classmethod
    def for_divergence(cls, d: Derivation, a: float, b, c) -> "QuadraticCritic":
        act = sp.lambdify(V, d.activation, ["scipy", "numpy"])
        return cls(float(a), np.atleast_1d(np.asarray(b, float)), np.atleast_2d(np.asarray(c, float)),
                   lambda v: np.broadcast_to(act(v), np.shape(v)) * 1.0)

    def one_dim(self, d: Derivation, clip: float = 30.0) -> "OneDimCritic":
        """The 1-D critic x -> sigma_f(v), v = a + b x + c x^2 clipped to [-clip, clip] (any function into dom f*
        is a critic; clipping keeps it away from the ends of dom f*, where floats round onto the end), with
        f*(sigma_f(v)) composed symbolically in v."""
        a, b, c = self.a, float(self.b[0]), float(self.c[0, 0])
        t_of_v, conj_of_v = _float_or_mp(d.activation, V), _float_or_mp(compose_conjugate(d, d.activation), V)

        def v(x: float) -> float:
            return min(max(a + b * x + c * x * x, -clip), clip)

        return OneDimCritic(lambda x: t_of_v(v(x)), lambda x: conj_of_v(v(x)))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return self.activation(self.a + x @ self.b + np.einsum("...i,ij,...j->...", x, self.c, x))
