"""Which catalogue divergences have a Gaussian closed form: one registry, a decorator, one function each.

divergence() uses the closed form when there is one and falls back to quadrature in 1-D. A closed form needs
the parameter values only (checked once per spec and values, then memoised), never a derivation.
"""
from __future__ import annotations

import functools
import math
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


def _with_error(name: str, value: float, p, q, values: dict) -> Estimate:
    """The float64 closed form's value with its actual error: its distance from the same closed form evaluated
    in mpmath at a precision where it is exact to 30 digits (numerics.gaussian_mp), plus that evaluation's own
    error and the final rounding. The float64 value itself must be within 1e-9 relative of it (it is within a
    few ulps wherever tested); otherwise, or where the reference does not settle, NumericsError says so
    rather than reporting a number whose error is unknown."""
    import mpmath

    from . import gaussian_mp

    scale = [float(v) for v in values.values() if isinstance(v, sp.Basic) and v.is_number]
    settled = gaussian_mp.settled(lambda: gaussian_mp.FORMS[name](p[0], p[1], q[0], q[1], values),
                                  *p, *q, *scale)
    if settled is None:
        raise NumericsError(f"{name}: the closed form could not be evaluated to a known accuracy at these "
                            "inputs (it did not settle by 3200 digits)")
    exact, own = settled
    if mpmath.isinf(exact):
        if not np.isinf(value):
            raise NumericsError(f"{name}: the closed form is infinite but float64 gave {value!r}")
        return Estimate(math.inf, 0.0, "closed-form")
    if abs(exact) > np.finfo(np.float64).max:  # finite, beyond float64: the value is inf, with its logarithm
        return Estimate(math.inf, math.inf, "closed-form", log_value=float(mpmath.log(abs(exact))))
    gap = abs(mpmath.mpf(value) - exact)
    if gap > 1e-9 * abs(exact) + 1e-300:
        raise NumericsError(f"{name}: the float64 closed form lost accuracy at these inputs ({value!r}, exact "
                            f"{mpmath.nstr(exact, 17)}); use --method mpmath")
    error = float(gap + own) + 0.5 * math.ulp(value)
    return Estimate(value, error, "closed-form")


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
        return _with_error(found.name, value, p, q, values)
    if method == "closed-form":
        name = spec.name if isinstance(spec, Spec) else spec
        raise NumericsError(f"no closed form for {name!r} between Gaussians; use --method quadrature")
    return f_divergence(spec, p, q, high_precision=method == "mpmath", **params)
