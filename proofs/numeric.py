"""The labelled numeric second line: an equality SymPy cannot decide, compared at 30 digits at random
admissible points. It is reported as numeric (with the number of points and the points it skipped and why),
never as a proof.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import mpmath
import sympy as sp
from sympy.core.function import AppliedUndef

DPS = 30
MIN_POINTS = 20  # admissible points a numeric equality needs
MAX_DRAWS = 400
# No computed step may use a looser relative tolerance, whatever its reason: at 1e-8 a slip of 0.1 % (or any
# error above 1e-8) in a formula is still caught.
MAX_TOL = 1e-8


@dataclass(frozen=True)
class Method:
    """How a computed step's value was obtained, and the tolerance that method earns (its floor): a value
    compared more loosely needs a reason, shown in the report (Proof.computed)."""
    label: str
    floor: float
    basis: str


EXACT = Method("exact computation", 0.0, "exact arithmetic: the values must be equal")
# float64 rounding: unit roundoff 1.1e-16; the checks below do at most a few thousand operations on values of
# order 1 (relative errors add up linearly in the worst case), so 1e-12 leaves a margin of ~10x
FLOAT64_FLOOR = 1e-12


def exact(label: str = "exact computation") -> Method:
    return Method(label, 0.0, "exact arithmetic: the values must be equal")


def float64(label: str = "numeric (float64)") -> Method:
    return Method(label, FLOAT64_FLOOR, "float64 rounding of at most a few thousand operations on values of "
                  "order 1 (unit roundoff 1.1e-16)")


def quadrature(dps: int) -> Method:
    """mpmath's tanh-sinh quadrature at dps digits of a smooth integrand split at its kinks: its error estimate
    stays below 10^-(dps - 5) (five digits of margin)."""
    return Method(f"numeric ({dps}-digit quadrature)", 10.0 ** -(dps - 5),
                  f"tanh-sinh quadrature at {dps} digits of smooth pieces: error below 1e-{dps - 5}")


def multiprecision(dps: int, what: str) -> Method:
    """A dps-digit multiprecision computation (matrix square roots, inverses) of well-conditioned inputs:
    10^-(dps - 15) leaves 15 digits for the conditioning."""
    return Method(f"numeric ({dps}-digit {what})", 10.0 ** -(dps - 15),
                  f"{dps}-digit arithmetic, 15 digits left for conditioning")


def _draw(s: sp.Symbol, rng: random.Random, ranges: dict) -> float:
    if s in ranges:
        lo, hi = ranges[s]
        return rng.uniform(lo, hi)
    if s.is_integer:
        return float(rng.randint(1, 6) if s.is_positive or s.is_nonnegative else rng.randint(-6, 6))
    mag = 10 ** rng.uniform(-1.5, 1.5)
    if s.is_positive or s.is_nonnegative:
        return mag
    if s.is_negative or s.is_nonpositive:
        return -mag
    return rng.choice((-1, 1)) * mag


def numeric_zero(diff: sp.Expr, ranges: dict | None = None) -> tuple[str, bool, str]:
    """diff = 0 at >= MIN_POINTS admissible random points (symbols drawn by their assumptions, or from
    `ranges`), at 30 digits: (method, passed, detail). Skipped points are counted by reason; a complex value
    at an admissible point fails (the symbols are real, so both sides should be)."""
    ranges = ranges or {}
    if diff.has(AppliedUndef, sp.Integral) or diff.atoms(sp.MatrixSymbol):  # E(...) is an AppliedUndef too
        return "numeric", False, "SymPy could not decide, and the step has undefined functions or matrix symbols"
    symbols = sorted(diff.free_symbols, key=str)
    try:
        fn = sp.lambdify(symbols, diff, "mpmath")
    except Exception as exc:  # noqa: BLE001 - SymPy's printer raises several kinds for unsupported objects
        return "numeric", False, f"SymPy could not decide, and the step cannot be evaluated: {type(exc).__name__}"
    rng = random.Random(0)
    checked = 0
    skipped = {"complex": 0, "not finite": 0, "evaluation error": 0}
    tol = mpmath.mpf(10) ** (-DPS + 8)
    for _ in range(MAX_DRAWS):
        point = [_draw(s, rng, ranges) for s in symbols]
        at = ("at " + ", ".join(f"{s} = {v:.6g}" for s, v in zip(symbols, point))) if symbols else \
            "(no free symbols: the difference is a constant)"
        with mpmath.workdps(DPS + 10):
            try:
                y = fn(*[mpmath.mpf(v) for v in point])
            except (ValueError, ZeroDivisionError, OverflowError, TypeError):
                skipped["evaluation error"] += 1
                continue
            if isinstance(y, mpmath.mpc):
                if abs(y.imag) > tol * (1 + abs(y.real)):
                    return (f"numeric ({DPS} digits)", False,
                            f"left - right is complex ({mpmath.nstr(y, 6)}) {at}, where every symbol is "
                            "admissible: a domain error")
                y = y.real
            if not mpmath.isfinite(y):
                skipped["not finite"] += 1
                continue
            checked += 1
            if abs(y) > tol:
                return f"numeric ({DPS} digits)", False, f"left - right = {mpmath.nstr(y, 8)} {at}"
        if checked >= MIN_POINTS:
            break
    skip = sum(skipped.values())
    reasons = ", ".join(f"{n} {why}" for why, n in skipped.items() if n)
    note = f"; {skip} skipped: {reasons}" if skip else ""
    if checked < MIN_POINTS:
        return "numeric", False, f"only {checked} admissible points of {MAX_DRAWS} draws could be evaluated{note}"
    return f"numeric ({DPS} digits, {checked} points{note}); SymPy could not decide", True, ""
