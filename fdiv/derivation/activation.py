"""The output activation sigma_f : R -> interior of the critic range (the range of f').

Rule (one per shape of the range, chosen so that f*(sigma_f(v)) lowers to softplus/log-sigmoid forms):
  (-oo, oo)  sigma(v) = v
  (-oo, b)   sigma(v) = b - log(1 + exp(-v))          = b + log sigmoid(v)
  (a, oo)    sigma(v) = a + log(1 + exp(v))           = a + softplus(v)
  (a, b)     sigma(v) = (a + b)/2 + (b - a)/2 tanh(v)
"""
from __future__ import annotations

import sympy as sp

from .conjugate import Interval

V = sp.Symbol("v", real=True)

RULES = {
    "line": "identity on R",
    "upper": "b + log sigmoid(v) = b - log(1 + exp(-v)) onto (-oo, b)",
    "lower": "a + softplus(v) = a + log(1 + exp(v)) onto (a, oo)",
    "bounded": "(a + b)/2 + (b - a)/2 tanh(v) onto (a, b)",
}


def _tidy(c: sp.Expr) -> sp.Expr:
    """A constant of sigma_f expanded where that is shorter: a limit gives f'(oo) as (2 + 15 e^(1/2)) e^(-1/2)/6,
    and (b - a)/2 of it with a is 13/6 written in 14 operations, which every simplification of f*(sigma_f(v))
    then carries (half of a 36 s gen)."""
    expanded = sp.expand(c)
    return expanded if sp.count_ops(expanded) < sp.count_ops(c) else c


def activation(critic: Interval) -> tuple[sp.Expr, str]:
    """sigma_f(v) and the rule that chose it."""
    a, b = critic.lower, critic.upper
    if a == -sp.oo and b == sp.oo:
        return V, RULES["line"]
    if a == -sp.oo:
        return _tidy(b) - sp.log(1 + sp.exp(-V)), RULES["upper"]
    if b == sp.oo:
        return _tidy(a) + sp.log(1 + sp.exp(V)), RULES["lower"]
    return _tidy((a + b) / 2) + _tidy((b - a) / 2) * sp.tanh(V), RULES["bounded"]
