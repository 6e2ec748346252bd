"""Critics for Gaussian pairs: the optimal T* = f'(p/q) in closed form, and a quadratic family.

log p(x) - log q(x) = c0 + b'x + x'Cx exactly, with C = (Sq^-1 - Sp^-1)/2, b = Sp^-1 mp - Sq^-1 mq,
c0 = (mq'Sq^-1 mq - mp'Sp^-1 mp)/2 + (log det Sq - log det Sp)/2.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sympy as sp

import fdiv
from fdiv.activation import V
from fdiv.spec import U

from .gaussian import Gaussian

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


def critic_of_log_ratio(d: fdiv.Derivation) -> Callable[[np.ndarray], np.ndarray]:
    """T*(l) = f'(exp(l)) as a function of the log-ratio l, simplified symbolically (log(exp(l)) -> l)."""
    expr = sp.expand_log(sp.simplify(d.optimal_critic.subs(U, sp.exp(_L))), force=True)
    return sp.lambdify(_L, expr, ["scipy", "numpy"])


def optimal_critic(spec: str | fdiv.Derivation, p: Gaussian, q: Gaussian, **params) -> Callable[[np.ndarray], np.ndarray]:
    """x -> T*(x) = f'(p(x)/q(x)), the critic at which the variational bound equals D_f."""
    d = spec if isinstance(spec, fdiv.Derivation) else fdiv.derive(spec, **params)
    ell, t_of_l = log_ratio(p, q), critic_of_log_ratio(d)
    return lambda x: np.broadcast_to(t_of_l(ell(x)), np.shape(x)[:-1]) * 1.0


@dataclass(frozen=True)
class QuadraticCritic:
    """T(x) = sigma_f(a + b'x + x'Cx): the family that contains every optimal critic for a Gaussian pair
    wherever sigma_f is invertible (T* = f'(exp(l)) with l quadratic)."""

    a: float
    b: np.ndarray
    c: np.ndarray
    activation: Callable[[np.ndarray], np.ndarray]

    @classmethod
    def for_divergence(cls, d: fdiv.Derivation, a: float, b, c) -> "QuadraticCritic":
        act = sp.lambdify(V, d.activation, ["scipy", "numpy"])
        return cls(float(a), np.atleast_1d(np.asarray(b, float)), np.atleast_2d(np.asarray(c, float)),
                   lambda v: np.broadcast_to(act(v), np.shape(v)) * 1.0)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return self.activation(self.a + x @ self.b + np.einsum("...i,ij,...j->...", x, self.c, x))
