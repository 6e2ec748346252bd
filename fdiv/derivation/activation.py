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


def activation(critic: Interval) -> tuple[sp.Expr, str]:
    """sigma_f(v) and the rule that chose it."""
    a, b = critic.lower, critic.upper
    if a == -sp.oo and b == sp.oo:
        return V, RULES["line"]
    if a == -sp.oo:
        return b - sp.log(1 + sp.exp(-V)), RULES["upper"]
    if b == sp.oo:
        return a + sp.log(1 + sp.exp(V)), RULES["lower"]
    return (a + b) / 2 + (b - a) / 2 * sp.tanh(V), RULES["bounded"]
