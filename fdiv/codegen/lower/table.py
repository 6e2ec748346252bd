"""Lowering-time tables for numeric conjugate branches: the inverse of an increasing G (f', or the log of f''s
distance to an end of its range) tabulated at knots, so the generated solver starts a fixed number of Newton steps
next to the root, inside a bracket that holds it.

The root y of G(map(y)) = tau (u = map(y): e^y, a shifted e^y or a logistic) is tabulated against
xi = c(s(tau)) at K + 1 knots uniform in xi, where s is the form's index transform (sign(t) log(1 + |t|) for t
itself, the identity for log c) and c(z) = z / (1 + |z|/T) compresses the real line into (-T, T): knots are dense
where the inverse curves and sparse in the tails, where y is near-linear in s(tau). Between knots i and i + 1 the
root lies in [Y_i, Y_i+1] (G is increasing), so each Newton step is clamped to that bracket (a clamp costs a
fifth of a masked select on CPU) and a correction that is not finite is not taken: a bad step (f'' ~ 0 next to a
cusp) ends at the bracket, and the bracket alone bounds the error.

The number of knots and of Newton steps (per dtype) are chosen here by running the runtime's algorithm in float64
numpy at 16 points per interval against a bisection to float64 resolution: the smallest table and step count whose
worst error is below the dtype's resolution (1e-8 and 1e-15 relative in u, i.e. absolute in y for e^y).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

T_COMPRESS = 12.0
KNOTS = (128, 256, 512, 1024)
STEPS = {"float32": (1, 2, 3), "float64": (2, 3, 4)}
# the last try before the 64-step fallback: where f' is flat over a wide range of u and then turns (f' - f'(0) from
# 25.5 to 29.8 while u goes from 1.4 to 6800: 1/4 u^(5/4) + 3 (u - 1)^2/(u + 1/2)), y(tau) is near vertical at
# the turn, no knot spacing interpolates it to better than ~0.3 in y, and Newton needs 5 to 6 steps from there;
# the fallback took 64 (70x Jeffrey's time)
MORE_STEPS = {"float32": (4, 5, 6), "float64": (5, 6, 7)}
TOLERANCE = {"float32": 3e-8, "float64": 2e-15}
# where no table meets TOLERANCE because the residual itself is evaluated no better than a few ulps (a distance of
# f' to its end next to a kink: 5e-15 in y at 3 to 4 steps, whatever the knots), the second try: 1e-14 in y is
# 7e-12 relative in u at |y| = 709, far inside the 1e-10 a float64 module is judged by
FLOOR_TOLERANCE = {"float32": 3e-8, "float64": 1e-14}
_NORMAL = float(np.finfo(np.float64).tiny)  # below, u is subnormal and f' loses digits: no reference there
_BISECTIONS = 120  # halvings of a bracket of width <= 1490: below float64 resolution


@dataclass(frozen=True)
class Table:
    knots: tuple[float, ...]  # y at the K + 1 knots
    zs: tuple[float, ...]  # the index variable z at the knots (xi uniform: xi0 + k h)
    xi0: float
    h: float
    steps: dict[str, int]  # Newton steps per dtype name
    centre: float = 0.0  # "cusp" index: z = slog(cbrt(tau - centre))


def compress(z: np.ndarray) -> np.ndarray:
    return z / (1.0 + np.abs(z) * (1.0 / T_COMPRESS))


def uncompress(xi: np.ndarray) -> np.ndarray:
    return xi / (1.0 - np.abs(xi) * (1.0 / T_COMPRESS))


def index_transform(kind: str, tau: np.ndarray, centre: float = 0.0) -> np.ndarray:
    """z from tau: sign(t) log(1 + |t|) ("slog"); the same of the cube root of tau - centre ("cusp", where f''
    vanishes at the root for tau = centre, so that y ~ cbrt(tau - centre) is smooth in z); tau itself otherwise."""
    with np.errstate(all="ignore"):
        if kind == "cusp":
            tau = np.cbrt(tau - centre)
        return np.copysign(np.log1p(np.abs(tau)), tau) if kind in ("slog", "cusp") else tau


def index_inverse(kind: str, z: np.ndarray, centre: float = 0.0) -> np.ndarray:
    with np.errstate(all="ignore"):
        out = np.copysign(np.expm1(np.abs(z)), z) if kind in ("slog", "cusp") else z
        return out**3 + centre if kind == "cusp" else out


def bisect(G, mapping, tau: np.ndarray, y_lo: float, y_hi: float) -> np.ndarray:
    """y in [y_lo, y_hi] with G(y) = tau (G(y) stands for G(map(y)); the end where tau is beyond G's range). Where G
    is not finite (f' overflowed) the side is read from y: too high towards u -> oo (y > 0), too low towards u -> 0;
    an infinite tau (the top knot of a cusp index, whose cube overflows) is above (below) every G, so its root is
    the end of the range (it had been guessed near y = 0, and the last interval of (sqrt(u) - 1)^4 - u/2 never held
    its roots: no table was accepted)."""
    a = np.full_like(tau, y_lo)
    b = np.full_like(tau, y_hi)
    for _ in range(_BISECTIONS):
        m = 0.5 * (a + b)
        with np.errstate(all="ignore"):
            r = G(m) - tau
        low = np.where(np.isfinite(r), r <= 0.0, np.where(np.isinf(tau), tau > 0.0, m < 0.0))
        a = np.where(low, m, a)
        b = np.where(low, b, m)
    return 0.5 * (a + b)


def reliable(G, mapping, ref: np.ndarray, tau: np.ndarray, y_range) -> np.ndarray:
    with np.errstate(all="ignore"):
        g = G(ref)
        close = np.abs(g - tau) <= 1e-6 * (np.abs(tau) + 1.0)  # inf - inf is NaN, not close; isfinite(g) below
    inside = (ref > y_range[0] + 1e-9) & (ref < y_range[1] - 1e-9) & (np.abs(mapping(ref)[0]) >= _NORMAL)
    return np.isfinite(g) & inside & close


def _monotone_ends(knots: np.ndarray) -> np.ndarray:
    """The knots made non-decreasing outwards from the middle knot (G increases, so they are, except at the ends,
    where G overflowed float64 or tau is infinite and the bisection could only guess): every interval stays a
    bracket lo <= hi, and a tau out there gets the u* at the edge of what float64 evaluates (f* then overflows,
    as it should) rather than a guessed knot's (an inverted last interval gave f*(2e285) = t for (sqrt(u) - 1)^4)."""
    out = knots.copy()
    mid = len(out) // 2
    out[: mid + 1] = np.minimum.accumulate(out[: mid + 1][::-1])[::-1]
    out[mid:] = np.maximum.accumulate(out[mid:])
    return out


def _interval_ok(good_knot: np.ndarray, tau: np.ndarray, kind: str, centre: float, xi_m: float, h: float):
    """Whether both knots of each point's interval are reliable."""
    k = len(good_knot) - 1
    with np.errstate(all="ignore"):
        pos = np.nan_to_num(np.clip((compress(index_transform(kind, tau, centre)) + xi_m) * (1.0 / h), 0.0, float(k)))
    i = np.minimum(np.floor(pos), k - 1).astype(np.int64)
    return good_knot[i] & good_knot[i + 1]


def run(table: Table, kind: str, step, tau: np.ndarray, steps: int) -> np.ndarray:
    """The runtime's algorithm in numpy (float64): the knot interval, interpolation in z, then `steps` Newton
    steps, each clamped to the interval (a non-finite correction is not taken)."""
    y_k, z_k = np.array(table.knots), np.array(table.zs)
    k = len(y_k) - 1
    with np.errstate(all="ignore"):
        z = index_transform(kind, tau, table.centre)
        pos = np.clip((compress(z) - table.xi0) * (1.0 / table.h), 0.0, float(k))
        i = np.minimum(np.floor(pos), k - 1).astype(np.int64)
        lo, hi = y_k[i], y_k[i + 1]
        slope = (hi - lo) / (z_k[i + 1] - z_k[i])
        y = np.clip(lo + (z - z_k[i]) * slope, lo, hi)
        for _ in range(steps):
            y = np.clip(y - np.nan_to_num(step(y, tau), nan=0.0, posinf=0.0, neginf=0.0), lo, hi)
    return y


def build(G, mapping, step, kind: str, tau_range: tuple[float, float], y_range: tuple[float, float],
          centre: float = 0.0, centre_y: float | None = None) -> Table:
    """_build at TOLERANCE, else at FLOOR_TOLERANCE (see there), else with MORE_STEPS. centre_y: the root at a
    cusp index's centre, where G is too flat for the bisection to find it (see numeric.cusp_root)."""
    try:
        return _build(G, mapping, step, kind, tau_range, y_range, centre, TOLERANCE, centre_y=centre_y)
    except ValueError:
        pass
    try:
        return _build(G, mapping, step, kind, tau_range, y_range, centre, FLOOR_TOLERANCE, centre_y=centre_y)
    except ValueError:
        return _build(G, mapping, step, kind, tau_range, y_range, centre, FLOOR_TOLERANCE, MORE_STEPS, centre_y)


def index_slack(tau: np.ndarray, kind: str, centre: float, knots: np.ndarray, xi_m: float, h: float) -> np.ndarray:
    """How far from its root in y the solve of each tau may end for the index's rounding alone: a tau within that
    rounding of a knot may be looked up in the neighbouring interval (xi - xi0 keeps xi's bits only down to
    ulp(xi_m)), whose clamp stops y at the knot, off by the rounding times dy/dxi next to it; 0 elsewhere. tau =
    -6.6e-16 beside the knot at tau = 0 found the interval above it and ended 1.2e-14 from its root in y (f' of a
    GAN term beside 5/2 (sqrt(u) - 1)^4: no table passed, and the 64-step fallback cost 160x Jeffrey's time)."""
    with np.errstate(all="ignore"):
        pos = (compress(index_transform(kind, tau, centre)) + xi_m) / h
        dy_dxi = np.abs(np.diff(np.asarray(knots, dtype=float))) / h
        steepest = np.maximum(dy_dxi, np.maximum(np.r_[dy_dxi[1:], 0.0], np.r_[0.0, dy_dxi[:-1]]))
        at = np.clip(np.round(pos), 0, len(dy_dxi) - 1).astype(np.int64)
        rounding = 4.0 * np.spacing(xi_m)
        return np.where(np.abs(pos - np.round(pos)) * h <= rounding, rounding * steepest[at], 0.0)


def _build(G, mapping, step, kind: str, tau_range: tuple[float, float], y_range: tuple[float, float],
           centre: float, tolerance: dict, step_options: dict = STEPS, centre_y: float | None = None) -> Table:
    """The smallest table and step counts that reproduce the bisection to each dtype's tolerance (see module
    docstring); G, mapping and step are numpy functions (step(y, tau) is the Newton correction). The knots are
    symmetric about xi = 0 (a knot at the cusp, where the interpolation error then vanishes like the distance).
    G takes y; mapping(y)[0] is the variable that must be a normal float for a root to count (u, or the distance to
    the piece's end the residual is written in)."""
    xi_ends = [float(compress(index_transform(kind, np.array(t), centre))) for t in tau_range]
    xi_m = max(abs(x) for x in xi_ends)
    if not np.isfinite(xi_m) or xi_m <= 0:
        # an end of tau's range that the index transform does not map to a number: a table of NaN knots once
        # passed (nothing to compare against), and its module failed at import (name 'nan' is not defined)
        raise ValueError(f"the range of f' ({tau_range[0]!r}, {tau_range[1]!r}) gives no finite table index")
    choice = None
    for k in KNOTS:
        h = 2.0 * xi_m / k
        xi = -xi_m + h * np.arange(k + 1)
        zs = uncompress(xi)
        # a knot whose tau lies past an inner end of the range (where a form hands over to the other, short of the
        # float range: the knots are symmetric in xi, the range need not be) is the root at that end: G increases,
        # so its interval is still a bracket, and one that holds the end is judged like any other (at -745, the
        # bisection's floor, it was unreliable, the points next to the end went unjudged, and the runtime started
        # 2 in y from the root: 6 Newton steps, not the table's 4). At an end of the float range (|tau| ~ 709)
        # the roots past it are not floats, and the edge stays as it was
        inner = [end if abs(end) < 700.0 else (-np.inf, np.inf)[i] for i, end in enumerate(tau_range)]
        with np.errstate(all="ignore"):
            knot_tau = np.clip(index_inverse(kind, zs, centre), *inner)
        knots = bisect(G, mapping, knot_tau, *y_range)
        if kind == "cusp" and centre_y is not None:  # the middle knot, xi = 0, is the cusp's
            knots[k // 2] = centre_y
        knots = _monotone_ends(knots)
        # 16 points inside each interval, and the knots themselves
        probe = (-xi_m + h * (np.arange(16 * k + 1) / 16.0))[:-1] + h / 32.0
        near = h * 2.0 ** -np.arange(1.0, 60.0)  # and ever closer to xi = 0 (a cusp's knot)
        tau = index_inverse(kind, uncompress(np.concatenate([probe, xi, near, -near])), centre)
        keep = (tau >= tau_range[0]) & (tau <= tau_range[1])
        tau = tau[keep]
        ref = bisect(G, mapping, tau, *y_range)
        # only where float64 evaluates G at the root (an f' that overflows in some intermediate beyond u ~ 1e150
        # leaves the root to the bisection's guess, in the generated code as before) and the root is inside
        good_knot = reliable(G, mapping, knots, knot_tau, y_range)
        ok = reliable(G, mapping, ref, tau, y_range) & _interval_ok(good_knot, tau, kind, centre, xi_m, h)
        tau, ref = tau[ok], ref[ok]
        if tau.size == 0 or not np.all(np.isfinite(knots)):
            continue  # nothing to judge this table by
        scale = np.maximum(1.0, np.abs(ref))
        table = Table(tuple(float(y) for y in knots), tuple(float(z) for z in zs), -xi_m, h, {}, centre)
        with np.errstate(all="ignore"):
            g_ref = G(ref)
            ref_residual = np.abs(g_ref - tau)
            # G's own rounding at the root: the spread of G over the floats next to it about its secant there
            # (where G is flat that spread is all rounding; where it is not, the secant takes its slope out)
            step_y = np.spacing(ref)
            secant = (G(ref + 8 * step_y) - G(ref - 8 * step_y)) / 16.0
            noise = np.max([np.abs(G(ref + k * step_y) - g_ref - k * secant) for k in (-4, -2, -1, 1, 2, 4)], axis=0)
        slack = index_slack(tau, kind, centre, knots, xi_m, h)
        steps = {}
        for dtype, options in step_options.items():
            # a y whose residual G(y) - tau is no larger than the bisection's, than a few ulps of tau in the dtype
            # or than four times G's rounding next to the root, is as good a root as the floating-point G defines:
            # where G is flat (next to a cusp, f' - f'(u0) ~ (u - u0)^3) its rounding moves the root by more than
            # the dtype's resolution in y, for the bisection as for any solver (the 64-step fallback solved the
            # same G: 40-200x the cost, no more accurate)
            floor = np.maximum(np.maximum(ref_residual, 4.0 * float(np.finfo(dtype).eps) * np.abs(tau)),
                               np.nan_to_num(4.0 * noise, nan=0.0, posinf=0.0))
            for n in options:
                y = run(table, kind, step, tau, n)
                err = np.abs(y - ref) / scale
                with np.errstate(all="ignore"):
                    err = np.where((np.abs(G(y) - tau) <= floor) | (np.abs(y - ref) <= slack), 0.0, err)
                if np.all(err <= tolerance[dtype]):
                    steps[dtype] = n
                    break
        if len(steps) == len(step_options):
            candidate = Table(table.knots, table.zs, table.xi0, h, steps, centre)
            if choice is None or sum(steps.values()) < sum(choice.steps.values()):
                choice = candidate
            if steps == {d: o[0] for d, o in step_options.items()}:
                break
    if choice is None:
        raise ValueError(f"no table of up to 1024 knots and {max(step_options['float64'])} Newton steps reaches "
                         "float64 resolution")
    return choice
