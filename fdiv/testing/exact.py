"""The exact mathematics behind a loss check: one divergence's derivation and one activation, as mpmath functions.

`Reference(d, sigma)` gives sigma(v), f*(sigma(v)), (f')^-1(sigma(v)) and f*(t) with their derivatives, each an
mpmath function for reference.exact. Derivations and references are cached per process: a test-suite derives
each divergence once. SymPy is imported here, so this module is imported only when a derivation is needed.
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import sympy as sp

from fdiv.derivation.activation import V
from fdiv.derivation.conjugate import T
from fdiv.derivation.engine import Derivation, custom_spec, derive
from fdiv.errors import FdivError
from fdiv.spec.parse import EXTENDED, parse

from .reference import exact

MpFunction = Callable[[object], object]


def _key(params: dict | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in (params or {}).items()))


def derivation(against, params: dict | None = None) -> Derivation:
    """A catalogue name or alias, an expression f(u), or a Derivation (passed through); cached."""
    if isinstance(against, Derivation):
        return against
    if not isinstance(against, str):
        raise FdivError(f"against: expected a catalogue name or an expression in u, got {type(against).__name__}")
    return _derivation(against, _key(params))


@functools.lru_cache(maxsize=128)
def _derivation(against: str, params: tuple[tuple[str, str], ...]) -> Derivation:
    from fdiv.spec import catalogue

    values = dict(params)
    if catalogue.find(against) is not None or against.endswith(".toml"):
        return derive(against, **values)
    return derive(custom_spec(against, values), **values)


def label(d: Derivation) -> str:
    """How a report names the divergence: its catalogue name (with parameters) or 'f = ...'."""
    if d.name == "custom":
        return f"f = {d.f}"
    params = ", ".join(f"{k}={v}" for k, v in d.parameters.items())
    return f"{d.name}({params})" if params else d.name


def parse_activation(text: str | sp.Expr, d: Derivation) -> sp.Expr:
    """A user's activation: an expression in v (the whitelisted grammar, with tanh), or a SymPy expression in
    fdiv's V. Parameter names of the divergence (pi, alpha) stand for their values."""
    if isinstance(text, sp.Expr):
        if not text.free_symbols <= {V}:
            raise FdivError(f"activation {text}: must be an expression in v only")
        return text
    syms = {"v": V, **{k: sp.Symbol(k, real=True) for k in d.parameters}}
    expr = parse(text, syms, where="activation", functions=EXTENDED)
    return expr.xreplace({syms[k]: value for k, value in d.parameters.items()})


def published_activation(d: Derivation) -> sp.Expr | None:
    """The f-GAN paper's activation recorded in the catalogue (for this parameter value), or None."""
    from fdiv.derivation.published import _published_for

    text = _published_for(d.spec, d.parameters).get("activation") if d.spec.published else None
    return parse_activation(text, d) if text else None


def _mp(expr: sp.Expr, var: sp.Symbol) -> MpFunction:
    from fdiv.derivation.numeric import mp_function  # numeric conjugate branches solve f'(u) = t at the caller's precision

    return mp_function(expr, var)


def _grad(expr: sp.Expr, var: sp.Symbol) -> sp.Expr:
    """d expr/d var, zero off the kinks of |x| (DiracDelta). A branch that is +-oo (the density ratio past a
    finite end of the critic range) has no derivative: NaN, so no reference, not SymPy's 0. At the digits a
    reference uses, sigma(v) can round onto that end (2 - 5 e^-2000 for a tanh at v = 1000 is 2 at 475 digits):
    the slope of a ratio of e^1000 read as 0."""
    if isinstance(expr, sp.Piecewise):
        return sp.Piecewise(*[(sp.nan if e in (sp.oo, -sp.oo) else _grad(e, var), c) for e, c in expr.args])
    return sp.diff(expr, var).replace(sp.DiracDelta, lambda *args: sp.S.Zero)  # d|x|/dx: zero off x = 0


class Reference:
    """sigma, f* o sigma, (f')^-1 o sigma (functions of v) and f* (of t) for one divergence and one activation."""

    def __init__(self, d: Derivation, sigma: sp.Expr | None = None, name: str | None = None):
        self.d = d
        self.sigma = d.activation if sigma is None else sigma
        self.name = name or "fdiv's sigma_f"
        self._fns: dict[tuple[str, int], MpFunction] = {}

    @functools.cached_property
    def _exprs(self) -> dict[str, sp.Expr]:
        return {"activation": self.sigma,
                "conjugate_of_activation": self.d.conjugate.subs(T, self.sigma),
                "density_ratio": self.d.ratio_from_critic.subs(T, self.sigma),
                "conjugate": self.d.conjugate}

    def function(self, key: str, order: int = 0) -> MpFunction:
        """The mpmath function (order 0) or its derivative (order 1) of activation, conjugate_of_activation,
        density_ratio or conjugate; lambdified on first use."""
        if (key, order) not in self._fns:
            expr, var = self._exprs[key], (T if key == "conjugate" else V)
            self._fns[key, order] = _mp(_grad(expr, var) if order else expr, var)
        return self._fns[key, order]

    def value(self, key: str, x: float):
        return exact(self.function(key), x)

    def derivative(self, key: str, x: float):
        return exact(self.function(key, 1), x)

    @functools.cached_property
    def conjugate_second(self) -> MpFunction:
        return _mp(_grad(_grad(self.d.conjugate, T), T), T)

    @functools.cached_property
    def domain_ends(self) -> list[float]:
        """The finite ends of dom f* (whose rounded constants an implementation subtracts)."""
        dom = self.d.conjugate_domain
        return [float(e) for e in (dom.lower, dom.upper) if e.is_finite]


_REFERENCES: dict[tuple, Reference] = {}


def reference(d: Derivation, sigma: sp.Expr | None = None, name: str | None = None) -> Reference:
    """A cached Reference, keyed by the derivation object (which it keeps alive) and the activation."""
    key = (id(d), sp.srepr(sigma) if sigma is not None else None, name)
    ref = _REFERENCES.get(key)
    if ref is None or ref.d is not d:
        ref = _REFERENCES[key] = Reference(d, sigma, name)
    return ref
