"""Exact references: fdiv's derivations evaluated with mpmath, and the tolerance every comparison states.

A value is computed at 40 and 60 digits. When the two agree to 25 digits and are neither zero nor tiny, that is
the reference. Otherwise an O(1) term may have swallowed an e^-|v| (log(1 + exp(-1e4)) is 0 at 60 digits), and
the value is recomputed at 40 + 0.4343 |v| digits, where e^-|v| is visible next to 1, and 20 digits higher;
those two must agree. A value with no reference (undefined, complex, infinite, or the two precisions disagree)
is reported as such and never compared.

Only mpmath is imported here; SymPy and the derivation engine are imported when a derivation is needed.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import mpmath

from ..derivation.numeric import as_real

#: The extreme logits every loss check visits (both dtypes), before any drawn ones.
LOGIT_GRID = (0.0, 1.0, -1.0, 20.0, -20.0, 50.0, -50.0, 88.7, -88.7, 100.0, -100.0, 1000.0, -1000.0, 1e4, -1e4)
#: Moderate logits every loss check visits too: where no implementation has a numerical excuse, so a failure here
#: is a formula (a published smooth branch of f* used below f'(0+) fails at -3 and -6).
MODERATE_LOGITS = (3.0, -3.0, 6.0, -6.0)

DTYPES = ("float32", "float64")
EPS = {"float32": 2.0**-23, "float64": 2.0**-52}
FLOAT_MAX = {"float32": 3.4028234663852886e38, "float64": 1.7976931348623157e308}
#: Relative tolerance per dtype: about 84 ulps in float32, about 45 000 ulps in float64 (an implementation is
#: allowed a few roundings per operation and a few operations, never a cancellation).
RTOL = {"float32": 1e-5, "float64": 1e-11}
#: Absolute allowance next to 0 (for |exact| < 1): 10 ulps of 1, so a value that underflows, or a gradient of
#: 1e-300 computed as 0, is not a failure.
ATOL_ULPS = 10

_LOW = (40, 60)
_AGREE = mpmath.mpf(10) ** -25
_TINY = mpmath.mpf(10) ** -30


def dtype_name(dtype) -> str:
    """'float32' or 'float64' from a torch or numpy dtype or a string."""
    text = str(dtype).replace("torch.", "")
    if text not in DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return text


def _at(fn: Callable, x, dps: int):
    with mpmath.workdps(dps):
        try:
            y = fn(mpmath.mpf(x))
        except (ZeroDivisionError, ValueError, OverflowError, TypeError):
            return None
        return as_real(y, _TINY)


def _agree(a, b) -> bool:
    return a is not None and b is not None and abs(a - b) <= _AGREE * max(abs(b), mpmath.mpf(10) ** -300)


def needed_digits(x: float) -> int:
    """Digits at which e^-|x| is still visible next to 1."""
    return 40 + math.ceil(abs(x) * 0.4343)


@functools.lru_cache(maxsize=200_000)
def exact(fn: Callable, x: float):
    """fn(x) as an mpf, exact to 25 digits, or None where it has no finite real value (see the module notes)."""
    a, b = (_at(fn, x, dps) for dps in _LOW)
    if _agree(a, b) and _TINY < abs(b):
        return b  # neither zero nor tiny, so no O(1) term swallowed what made it (huge values are safe too)
    digits = needed_digits(x)
    if digits <= _LOW[1] - 20:
        return b if _agree(a, b) else None
    a, b = _at(fn, x, digits), _at(fn, x, digits + 20)
    return b if _agree(a, b) else None


def representable(y, dtype: str) -> bool:
    return y is not None and abs(y) <= FLOAT_MAX[dtype]


_LOOSER: contextvars.ContextVar[float | None] = contextvars.ContextVar("fdiv_rtol", default=None)


@contextlib.contextmanager
def loosened(rtol: float | None) -> Iterator[None]:
    """Within the block, every relative tolerance is at least `rtol` (a user's --rtol); None changes nothing."""
    token = _LOOSER.set(rtol)
    try:
        yield
    finally:
        _LOOSER.reset(token)


def rtol_for(dtype: str) -> float:
    """RTOL[dtype], or the user's looser rtol."""
    extra = _LOOSER.get()
    return RTOL[dtype] if extra is None else max(RTOL[dtype], extra)


def tolerance(exact_value, dtype: str, *, scale=None, slack: float = 0.0) -> float:
    """The allowed |theirs - exact|: RTOL x scale (default |exact|; for a sum, the sum of its terms' magnitudes),
    plus 10 ulps of 1 when the scale is below 1, plus a conditioning slack the caller states."""
    scale = abs(exact_value) if scale is None else scale
    atol = ATOL_ULPS * EPS[dtype] if scale < 1 else 0.0
    return float(rtol_for(dtype) * scale) + atol + slack


def to_float(y) -> float:
    """An mpf (of any precision) as the nearest float, without a decimal string (which has a size limit)."""
    return float(y) if y is not None else math.nan


@dataclass(frozen=True)
class Point:
    """One comparison: where (inputs), what (value or a gradient), in which dtype, theirs against exact."""

    inputs: tuple[tuple[str, object], ...]
    quantity: str
    dtype: str
    theirs: float | None
    exact: float | None
    tolerance: float
    ok: bool
    expected: str = ""  # a requirement instead of an exact value ("in dom f* = (-oo, 0)")
    held: float = 0.0  # the exact part of the value that comes from the inputs held fixed (a loss's other term)
    scale: float = 0.0  # what the error is measured against: |exact|, or the sum of a loss's terms' magnitudes

    @property
    def error(self) -> float:
        if self.expected:
            return 0.0 if self.ok else math.inf
        if self.theirs is None or self.exact is None or not math.isfinite(self.theirs):
            return math.inf
        return abs(self.theirs - self.exact)

    @property
    def rel_error(self) -> float:
        err = self.error
        return err / abs(self.exact) if self.exact else (0.0 if err == 0 else math.inf)

    @property
    def relative_regime(self) -> bool:
        """Whether the tolerance is relative here (|exact| >= 1 or RTOL |exact| above the 10-ulp allowance)."""
        return self.exact is not None and RTOL[self.dtype] * abs(self.exact) >= ATOL_ULPS * EPS[self.dtype]

    @property
    def badness(self) -> float:
        """How far outside its tolerance (inf for a non-finite or missing value)."""
        err = self.error
        return err / self.tolerance if self.tolerance > 0 else (0.0 if err == 0 else math.inf)

    def where(self) -> str:
        return ", ".join(f"{k}={_fmt(v)}" for k, v in self.inputs)

    def to_json(self) -> dict:
        return {"inputs": {k: _json_value(v) for k, v in self.inputs}, "quantity": self.quantity,
                "dtype": self.dtype, "theirs": _json_value(self.theirs), "exact": _json_value(self.exact),
                "abs_error": _json_value(self.error), "tolerance": self.tolerance, "ok": self.ok,
                **({"expected": self.expected} if self.expected else {})}


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.9g}"
    if isinstance(v, list):  # a mean or covariance (in full in the JSON)
        shape = f"{len(v)}x{len(v[0])}" if v and isinstance(v[0], list) else f"{len(v)}"
        return f"<{shape} array>"
    return str(v)


def _json_value(v):
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def compare(inputs: dict, quantity: str, dtype: str, theirs: float | None, exact_value, *, scale=None,
            slack: float = 0.0, held=0.0) -> Point | None:
    """A Point, or None when the exact value is not representable in the dtype (nothing to compare)."""
    if not representable(exact_value, dtype):
        return None
    tol = tolerance(exact_value, dtype, scale=scale, slack=slack)
    ok = theirs is not None and math.isfinite(theirs) and abs(mpmath.mpf(theirs) - exact_value) <= tol
    size = to_float(abs(exact_value) if scale is None else scale)
    return Point(tuple(inputs.items()), quantity, dtype, theirs, to_float(exact_value), tol, bool(ok),
                 held=to_float(held), scale=size if math.isfinite(size) else 0.0)
