"""The labelled numeric second line: an equality SymPy cannot decide, compared at 30 digits at random
admissible points. It is reported as numeric (with the number of points and the points it skipped and why),
never as a proof.
"""
from __future__ import annotations

import random

import mpmath
import sympy as sp
from sympy.core.function import AppliedUndef

DPS = 30
MIN_POINTS = 20  # admissible points a numeric equality needs
MAX_DRAWS = 400


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
