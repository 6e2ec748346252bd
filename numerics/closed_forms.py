"""Which catalogue divergences have a Gaussian closed form: one registry, a decorator, one function each.

divergence() uses the closed form when there is one and falls back to quadrature in 1-D. A closed form needs
the parameter values only (checked once per spec and values, then memoised), never a derivation.
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import sympy as sp

from fdiv import catalogue
from fdiv.spec import Spec, SymbolicRange

from . import gaussian as g
from .errors import NumericsError
from .generator import catalogue_entry
from .quadrature import Estimate, f_divergence

ClosedForm = Callable[[g.Gaussian, g.Gaussian, dict], np.ndarray]
CLOSED_FORMS: dict[str, ClosedForm] = {}


def closed_form(*names: str) -> Callable[[ClosedForm], ClosedForm]:
    def register(fn: ClosedForm) -> ClosedForm:
        for name in names:
            CLOSED_FORMS[name] = fn
        return fn
    return register


@closed_form("kl", "kl-normalised")
def _kl(p, q, params):
    """KL(P||Q)."""
    return g.kl(p, q)


@closed_form("reverse-kl", "reverse-kl-normalised")
def _reverse_kl(p, q, params):
    """KL(Q||P)."""
    return g.kl(q, p)


@closed_form("jeffrey")
def _jeffrey(p, q, params):
    """KL(P||Q) + KL(Q||P)."""
    return g.jeffrey(p, q)


@closed_form("pearson")
def _pearson(p, q, params):
    """int (p - q)^2/q = exp(D_2(P||Q)) - 1."""
    return g.pearson_chi2(p, q)


@closed_form("neyman")
def _neyman(p, q, params):
    """int (p - q)^2/p = chi^2(Q||P)."""
    return g.neyman_chi2(p, q)


@closed_form("squared-hellinger")
def _hellinger(p, q, params):
    """2 (1 - BC)."""
    return g.squared_hellinger(p, q)


@closed_form("total-variation")
def _tv(p, q, params):
    """1/2 int |p - q|: exact in 1-D, and for equal covariances."""
    return g.total_variation(p, q)


@closed_form("alpha")
def _alpha(p, q, params):
    """(int p^a q^(1-a) - 1)/(a(a - 1))."""
    return g.alpha_divergence(p, q, float(params["alpha"]))


@functools.lru_cache(maxsize=256)
def _parameters(spec: Spec, key: tuple[tuple[str, str], ...]) -> dict[str, sp.Expr]:
    values = spec.resolve(dict(key))
    ranges = [k for k, v in values.items() if isinstance(v, SymbolicRange)]
    if ranges:
        raise NumericsError(f"{spec.name}: numerics need a value for {ranges[0]}, not a range")
    return values


def divergence(spec: str | Spec, p: tuple[float, float], q: tuple[float, float], *, method: str = "auto",
               **params) -> Estimate:
    """D_f between 1-D Gaussians p = (mean, var), q = (mean, var): closed form where known, else quadrature.

    spec: a catalogue name or alias, an expression in u, a TOML file or a Spec.
    method: auto | closed-form | quadrature | mpmath (quadrature at 30 digits).
    """
    if method not in ("auto", "closed-form", "quadrature", "mpmath"):
        raise NumericsError(f"unknown method {method!r} (auto, closed-form, quadrature, mpmath)")
    found = spec if isinstance(spec, Spec) else catalogue.find(spec)
    if method in ("auto", "closed-form") and found is not None and catalogue_entry(found) in CLOSED_FORMS:
        values = _parameters(found, tuple(sorted((k, str(v)) for k, v in params.items())))
        gp, gq = g.univariate(*p, name="p"), g.univariate(*q, name="q")
        value = float(CLOSED_FORMS[found.name](gp, gq, values))
        # a few ulps of O(1) terms (tests/test_numerics_near_equal.py), amplified by |log value| where the value
        # is an exponential (chi^2, alpha): 64 ulps times that is a safe bound
        rounding = 0.0 if np.isinf(value) or value == 0 else \
            64 * np.finfo(np.float64).eps * abs(value) * max(1.0, abs(np.log(abs(value))))
        return Estimate(value, float(rounding), "closed-form")
    if method == "closed-form":
        name = spec.name if isinstance(spec, Spec) else spec
        raise NumericsError(f"no closed form for {name!r} between Gaussians; use --method quadrature")
    return f_divergence(spec, p, q, high_precision=method == "mpmath", **params)
