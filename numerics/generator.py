"""The generator f of a divergence as the numerics need it: f, f(1), f'(1) and its kinks, memoised.

D_f(P||Q) = int q f(p/q) needs f and nothing derived from its conjugate, so quadrature and Monte Carlo build
their generator from the spec and fdiv's validation alone: every f that passes validation gets a value,
including f's whose f' SymPy cannot invert. f(1) != 0 is allowed: D_f(P||P) = f(1), so values include it.

Both the generator and, for the callers that need f* (variational bounds, optimal critics), the full
derivation are memoised per spec and parameters: a hot loop pays for SymPy once, never per call.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sympy as sp

from fdiv.spec import catalogue
from fdiv.derivation.engine import Derivation, derive, resolve_spec
from fdiv.errors import FdivError
from fdiv.spec.spec import U, Spec, SymbolicRange
from fdiv.derivation.validate import Analysis, analyse

from .errors import NumericsError


@dataclass(frozen=True, eq=False)
class Generator:
    """f with the constants D_f needs. shifted = f - f(1) - f'(1)(u - 1) >= 0 by convexity, and has the same
    expectation under Q as f - f(1): integrating it avoids cancellation where p ~ q."""

    name: str
    f: sp.Expr
    parameters: Mapping[str, sp.Expr]
    f_at_one: sp.Expr
    f_prime_at_one: sp.Expr  # at a kink u = 1, the midpoint of the subdifferential (any subgradient serves)
    kinks: tuple[float, ...] = ()
    catalogue_name: str | None = None  # set only when the spec is the catalogue's own entry of that name

    @functools.cached_property
    def shifted(self) -> sp.Expr:
        return self.f - self.f_at_one - self.f_prime_at_one * (U - 1)

    @property
    def shifted_mpmath(self) -> Callable:
        return _lambdified(self.shifted, "mpmath")

    @property
    def shifted_numpy(self) -> Callable:
        return _lambdified(self.shifted, "numpy")


@functools.lru_cache(maxsize=256)
def _lambdified(expr: sp.Expr, module: str) -> Callable:
    """lambdify memoised per expression: a Generator rebuilt from the same Derivation reuses it."""
    return sp.lambdify(U, expr, module)


def validate(f: sp.Expr, name: str) -> Analysis:
    """fdiv's validation of f (defined, convex, pieces and kinks), with f(1) != 0 allowed."""
    return analyse(f, name=name)


def _slope_at_one(a: Analysis) -> sp.Expr:
    for left, right in zip(a.pieces, a.pieces[1:]):
        if left.hi == 1:
            return (left.df_hi + right.df_lo) / 2
    for piece in a.pieces:
        if piece.lo < 1 < piece.hi:
            return piece.df.subs(U, 1)
    raise NumericsError("f: its pieces do not cover u = 1")


def catalogue_entry(spec: Spec) -> str | None:
    """The catalogue name of spec when it is the catalogue's own entry (a TOML spec may reuse a name)."""
    return spec.name if catalogue.find(spec.name) == spec else None


def _key(params: Mapping[str, object]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, str(v)) for k, v in params.items()))


def _spec(spec: str | Spec, params: Mapping[str, object]) -> Spec:
    return spec if isinstance(spec, Spec) else resolve_spec(spec, {k: str(v) for k, v in params.items()})


@functools.lru_cache(maxsize=256)
def _generator(spec: Spec, key: tuple[tuple[str, str], ...]) -> Generator:
    f, values = spec.expr(dict(key))
    ranges = [k for k, v in values.items() if isinstance(v, SymbolicRange)]
    if ranges:
        raise NumericsError(f"{spec.name}: numerics need a value for {ranges[0]}, not a range")
    where = "f" if spec.name == "custom" else spec.name
    try:
        a = validate(f, where)
    except FdivError:
        raise
    except Exception as exc:  # SymPy failing inside validation: one line, never a traceback
        raise NumericsError(f"{where}: validating f failed ({type(exc).__name__}: {exc})".replace("\n", " ")) from None
    return Generator(spec.name, f, values, a.f_at_one, _slope_at_one(a), tuple(float(k) for k in a.kinks),
                     catalogue_entry(spec))


def _from_derivation(d: Derivation) -> Generator:
    kinks = tuple(float(b.ratio) for b in d.branches if b.kind == "kink")
    return Generator(d.name, d.f, d.parameters, d.f_at_one, d.f_prime_at_one, kinks, catalogue_entry(d.spec))


def generator(spec: str | Spec | Derivation | Generator, **params) -> Generator:
    """The generator of a catalogue name or alias, a TOML file, an expression in u or a Spec (memoised per spec
    and parameters); a Generator passes through and a Derivation supplies its own f, f(1), f'(1) and kinks."""
    if isinstance(spec, Generator):
        return spec
    if isinstance(spec, Derivation):
        return _from_derivation(spec)
    s = _spec(spec, params)
    return _generator(s, _key(params))


@functools.lru_cache(maxsize=128)
def _derivation(spec: Spec, key: tuple[tuple[str, str], ...]) -> Derivation:
    return derive(spec, **dict(key))


def derivation(spec: str | Spec | Derivation, **params) -> Derivation:
    """fdiv.derive, memoised per spec and parameters (a Derivation passes through). Shared: do not mutate it."""
    if isinstance(spec, Derivation):
        return spec
    return _derivation(_spec(spec, params), _key(params))
