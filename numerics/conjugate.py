"""The convex conjugate by direct maximisation: f*(t) = sup_{u >= 0} (u t - f(u)), in mpmath.

Independent of fdiv's symbolic derivation: it never inverts f'. u t - f(u) is concave in u, hence unimodal
in x = log u. A coarse scan over x brackets the maximiser (a plain golden-section search would stall on the
plateau as u -> 0, where values agree to every digit), then golden-section search refines it; u = 0
contributes -f(0+), the limit of the plateau.
"""
from __future__ import annotations

from collections.abc import Callable

import mpmath

from fdiv.derivation.numeric import golden_max


COARSE = [-1200, -600, -300, -150, -100, -80] + list(range(-60, 201, 2))


def numeric_conjugate(f: Callable, t, *, dps: int = 50, iterations: int = 200):
    """sup_{u >= 0} (u t - f(u)) to about `dps` digits; f is an mpmath-callable of u > 0.

    u t and f(u) cancel at a closed end of dom f* (both ~ e^200 while their difference stays finite), so the
    work runs at dps + 90 digits and the result keeps `dps` of them.
    Maximisers outside u in [e^-1200, e^200] are not found (the value returned is then a lower bound).
    """
    with mpmath.workdps(dps + 90):
        t = mpmath.mpf(t)

        def psi(x):
            u = mpmath.exp(x)
            try:
                value = u * t - f(u)
            except (ValueError, ZeroDivisionError, OverflowError):
                return -mpmath.inf
            return value.real if isinstance(value, mpmath.mpc) else value

        values = [psi(mpmath.mpf(x)) for x in COARSE]
        k = max(range(len(COARSE)), key=lambda i: (values[i], i))
        a, b = mpmath.mpf(COARSE[max(k - 1, 0)]), mpmath.mpf(COARSE[min(k + 1, len(COARSE) - 1)])
        return max(golden_max(psi, a, b, iterations), values[k])


def grows_without_bound(f: Callable, t, *, dps: int = 50) -> bool:
    """Whether u t - f(u) keeps growing as u -> oo (t beyond dom f*): compare it at u = e^40 and e^80."""
    with mpmath.workdps(dps):
        t = mpmath.mpf(t)
        values = [mpmath.exp(x) * t - f(mpmath.exp(x)) for x in (20, 40, 80)]
        values = [v.real if isinstance(v, mpmath.mpc) else v for v in values]
        return values[2] > values[1] + 1 and values[1] > values[0] + 1
