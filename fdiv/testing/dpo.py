"""Check someone else's DPO / f-DPO preference loss against fdiv's exact one.

The function under test: fn(logp_w, logp_ref_w, logp_l, logp_ref_l, beta) with four tensors of shape (N,) (the
log-probabilities of the chosen (w) and rejected (l) responses under the policy and the reference) and a float
beta; it returns the per-pair losses (shape (N,)) or their mean (a scalar), or a tuple whose first element is one
of those (TRL's dpo_loss returns (losses, chosen_rewards, rejected_rewards)). The exact loss, with
g(r) = f'(e^r) and r = logp - logp_ref (fdiv.codegen.objectives.reference, 60-digit mpmath from f' itself):

    L = -log sigmoid(beta (g(r_w) - g(r_l))),  dL/dlogp_w = -dL/dlogp_ref_w = dL/dr_w,  likewise for l.

D_f(pi||pi_ref) = E_{pi_ref}[f(pi/pi_ref)], so `kl` is standard DPO (TRL calls it reverse_kl) and `reverse-kl`
is TRL's forward_kl; any constant in f' cancels. The f-DPO paper (Wang et al., 2023) writes the alpha
divergence with f'(u) = (1 - u^-alpha)/alpha, which is fdiv's `alpha` at 1 - alpha: convention="f-dpo-paper"
maps it.

Inputs: every pair of the log-ratio grid 0, +-1, +-20, +-50, +-88.7, +-100, +-1000, +-1e4 (reference
log-probabilities 0, so the log-ratios are exact) and each grid point with its float32 neighbour, plus drawn
"realistic" rows (reference log-probabilities in [-500, -1], log-ratios mostly within +-10, some to +-1e4),
float32 and float64, values and the gradients of all four inputs. A per-pair function is called once per
dtype; a mean is checked on the whole batch and then called one pair at a time.

Tolerance, per pair (the same rule as fdiv's own f-DPO tests): |theirs - exact| <= rtol (|L| + c) + 10 eps
when |L| + c < 1, with rtol 1e-5 (float32) or 1e-11 (float64) and c = sum_i |d value/d r_i| |r_i| the change of
the exact value under one rounding of each log-ratio (an implementation forms r = logp - logp_ref in floating
point and cannot do better; c is 0 on the exact grid). Where the exact value lies beyond the dtype's largest
number, an infinity of the right sign. fdiv's own generated modules pass it at every point, for every catalogue
divergence with a valid f-DPO link and a set of user f's (tests/test_testing_dpo.py).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import mpmath
import numpy as np

from fdiv.errors import FdivError

from . import reference as R
from .calls import Callee, Returned, as_callee
from .reference import Point
from .report import Report, with_assert

NAMES = ("logp_w", "logp_ref_w", "logp_l", "logp_ref_l", "beta")
SIGNATURE = "fn(logp_w, logp_ref_w, logp_l, logp_ref_l, beta)"
GRID = tuple(float(np.float32(v)) for v in (0, 1, -1, 20, -20, 50, -50, 88.7, -88.7, 100, -100, 1000, -1000,
                                             1e4, -1e4))
CONVENTIONS = ("fdiv", "f-dpo-paper")
MODERATE_RATIO = 6.0
DPS = 60
TOLERANCE_RULE = ("|theirs - exact| <= rtol (|L| + c) (+ 10 ulps of 1 when |L| + c < 1) per pair and quantity, "
                  "rtol 1e-5 in float32 and 1e-11 in float64; c = sum |d value/d r_i| |r_i|, the change of the exact "
                  "value under one rounding of each log-ratio r = logp - logp_ref (0 where the log-ratios are exact "
                  "inputs); beyond the dtype's largest number an infinity of the right sign; the mean's tolerance is "
                  "the mean of the pairs'")
TOLERANCE_SHORT = "rtol 1e-5 (float32), 1e-11 (float64) of |L| + its conditioning in r, per pair"


class DPOFunctionError(FdivError):
    """fn cannot be used as a preference loss: a wrong signature, or no usable result on any input."""


@dataclass(frozen=True)
class Row:
    """One preference pair: the four log-probabilities (float32 numbers) and the exact log-ratios."""

    logp_w: float
    logp_ref_w: float
    logp_l: float
    logp_ref_l: float

    @property
    def r_w(self):
        return mpmath.mpf(self.logp_w) - mpmath.mpf(self.logp_ref_w)

    @property
    def r_l(self):
        return mpmath.mpf(self.logp_l) - mpmath.mpf(self.logp_ref_l)

    def inputs(self) -> tuple:
        out = [("r_w", float(self.r_w)), ("r_l", float(self.r_l))]
        if self.logp_ref_w or self.logp_ref_l:
            out += [("logp_w", self.logp_w), ("logp_ref_w", self.logp_ref_w), ("logp_l", self.logp_l),
                    ("logp_ref_l", self.logp_ref_l)]
        return tuple(out)


def grid_rows() -> list[Row]:
    pairs = [(a, b) for a in GRID for b in GRID]
    pairs += [(a, float(np.nextafter(np.float32(a), np.float32(np.inf)))) for a in GRID]
    return [Row(a, 0.0, b, 0.0) for a, b in pairs]


def drawn_rows(n: int = 40, seed: int = 0) -> list[Row]:
    """Realistic rows: reference log-probabilities in [-500, -1], log-ratios mostly small, a few extreme."""
    rng = np.random.default_rng(seed)
    f32 = lambda x: float(np.float32(x))  # noqa: E731
    rows = []
    for _ in range(n):
        refs = [f32(-rng.uniform(1, 500)) for _ in range(2)]
        ratios = []
        for _ in range(2):
            kind = rng.random()
            ratios.append(rng.normal(0, 3) if kind < 0.6 else rng.uniform(-40, 40) if kind < 0.85 else
                          rng.uniform(-200, 200) if kind < 0.95 else rng.uniform(-1e4, 1e4))
        rows.append(Row(f32(refs[0] + ratios[0]), refs[0], f32(refs[1] + ratios[1]), refs[1]))
    return rows


def rows_in(lo: float, hi: float) -> list[Row]:
    """The rows whose two log-ratios lie in [lo, hi], plus the pairs of lo, hi and nine points between."""
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise FdivError(f"log-ratio range [{lo}, {hi}]: expected two finite numbers LO < HI")
    extra = sorted({float(np.float32(lo + (hi - lo) * i / 10)) for i in range(11)})
    extra = [x for x in extra if lo <= x <= hi]
    rows = [r for r in grid_rows() + drawn_rows() if lo <= r.r_w <= hi and lo <= r.r_l <= hi]
    rows += [Row(a, 0.0, b, 0.0) for a in extra for b in extra[::3]]
    return rows


# --------------------------------------------------------------------------------------------------- exact
def _f_prime(against, params: dict | None, convention: str):
    from .exact import derivation, label

    if convention not in CONVENTIONS:
        raise FdivError(f"convention {convention!r}: expected one of {', '.join(CONVENTIONS)}")
    params = dict(params or {})
    note = ""
    if convention == "f-dpo-paper":
        if "alpha" not in params:
            raise FdivError("convention f-dpo-paper maps the f-DPO paper's alpha to fdiv's 1 - alpha: give alpha "
                            "(--param alpha=0.3) and the alpha divergence")
        from fdiv.spec.parse import parse_number

        value = parse_number(str(params["alpha"]), where="--param alpha")
        params["alpha"] = str(1 - value)
        note = (f"alpha = {params['alpha']} in fdiv's convention, 1 - alpha of the f-DPO paper's alpha = {value} "
                f"(f'(u) = (1 - u^-alpha)/alpha)")
    d = derivation(against, params or None)
    from fdiv.codegen.objectives.link import link_of

    link = link_of(d.f, d.name if d.name != "custom" else "f")
    if not link.valid:
        raise FdivError(f"{label(d)} has no valid f-DPO link ({link.short}): there is no f-DPO loss to compare with")
    return d, note


class _Exact:
    """Per row: (L, dL/dr_w, dL/dr_l) as reference.Points (value and condition), cached."""

    def __init__(self, d, beta: float):
        from fdiv.codegen.objectives import reference as ref

        self.ex = ref.exact(d.optimal_critic)
        self.beta = beta
        self._rows: dict[Row, tuple] = {}

    def __call__(self, row: Row):
        hit = self._rows.get(row)
        if hit is None:
            with mpmath.workdps(DPS):
                try:
                    hit = self.ex.loss(row.r_w, row.r_l, self.beta)
                except (ValueError, ZeroDivisionError, OverflowError, TypeError):
                    hit = None
            self._rows[row] = hit
        return hit


def _tolerance(point, dtype: str, exact_inputs: bool) -> float:
    eps = R.EPS[dtype]
    condition = mpmath.mpf(0) if exact_inputs else point.condition
    scale = abs(point.value) + condition
    return float(R.rtol_for(dtype) * scale + (10 * eps if scale < 1 else 0))


def _compare(inputs: tuple, quantity: str, dtype: str, theirs: float, point, exact_inputs: bool) -> Point | None:
    """A Point (overflow beyond the dtype's range: an infinity of the right sign), or None when the exact value
    is not a real number."""
    if point is None:
        return None
    exact = point.value
    tol = _tolerance(point, dtype, exact_inputs)
    big = R.FLOAT_MAX[dtype]
    scale = float(min(abs(exact) + (0 if exact_inputs else point.condition), mpmath.mpf(1e308)))
    if abs(exact) - tol > big:  # beyond the dtype: only the sign can be right
        ok = math.isinf(theirs) and (theirs > 0) == (exact > 0)
        return Point(inputs, quantity, dtype, theirs, None, tol, ok,
                     expected="" if ok else f"{'+' if exact > 0 else '-'}inf (the exact value is beyond {dtype})")
    if abs(exact) + tol >= big and math.isinf(theirs):
        ok = (theirs > 0) == (exact > 0)
    else:
        ok = math.isfinite(theirs) and abs(mpmath.mpf(theirs) - exact) <= tol
    return Point(inputs, quantity, dtype, theirs, R.to_float(exact), tol, bool(ok), scale=scale)


# ------------------------------------------------------------------------------------------------- calling
def _arrays(rows: Sequence[Row], dtype: str) -> list[np.ndarray]:
    np_dtype = np.float32 if dtype == "float32" else np.float64
    return [np.array([getattr(r, k) for r in rows], dtype=np_dtype) for k in NAMES[:4]]


def _call(fn: Callee, rows: Sequence[Row], dtype: str, beta: float, grad: bool, where: str) -> Returned:
    return fn.call("torch", [*_arrays(rows, dtype), float(beta)], NAMES, grad, where)


def _row_points(row: Row, dtype: str, value: float | None, grads: list[float] | None, exact, failure: str,
                gradients: bool, no_grad: bool) -> list[Point]:
    inputs = row.inputs()
    exact_inputs = not (row.logp_ref_w or row.logp_ref_l)
    if exact is None:
        return []
    if failure:
        return [Point(inputs, "value", dtype, None, None, 0.0, False,
                      expected=f"a value ({failure})" if failure.startswith("not run") else f"a value (it {failure})")]
    out = []
    p = _compare(inputs, "value", dtype, value, exact[0], exact_inputs)
    if p is not None:
        out.append(p)
    if not gradients:
        return out
    if no_grad or grads is None:
        out.append(Point(inputs, "gradient", dtype, None, None, 0.0, False,
                         expected="a differentiable output (it carries no gradient: detached?)"))
        return out
    signs = (1, -1, 1, -1)
    which = (1, 1, 2, 2)
    for name, sign, k, g in zip(NAMES[:4], signs, which, grads):
        ep = exact[k]
        point = type(ep)(sign * ep.value, ep.condition)
        p = _compare(inputs, f"d/d{name}", dtype, g, point, exact_inputs)
        if p is not None:
            out.append(p)
    return out


def _compare_dtype(fn: Callee, rows: list[Row], dtype: str, beta: float, exact: _Exact, gradients: bool,
                   notes: set[str], extra: list[str]) -> list[Point]:
    n = len(rows)
    r = _call(fn, rows, dtype, beta, gradients, f"a batch of {n} pairs ({dtype})")
    points: list[Point] = []
    if not r.failure and r.values is not None and r.values.size == n and n > 1:
        notes.add("per-pair losses (shape (N,))")
        values = r.values.reshape(-1).tolist()
        grads = None if r.grads is None else [g.reshape(-1).tolist() for g in r.grads[:4]]
        for i, row in enumerate(rows):
            gi = None if grads is None else [g[i] for g in grads]
            points += _row_points(row, dtype, values[i], gi, exact(row), "", gradients,
                                  gradients and not r.requires_grad)
        return points
    if not r.failure and r.values is not None and r.values.size == 1:
        notes.add("the mean over the pairs (a scalar)")
        points += _mean_point(rows, dtype, float(r.values.reshape(-1)[0]), exact, extra)
    elif not r.failure and r.values is not None:
        extra.append(f"{SIGNATURE} returned shape {tuple(r.values.shape)} for {n} pairs ({dtype}); expected ({n},) "
                     f"(per pair) or a scalar (their mean)")
    # the mean, or a failed batch: one pair at a time, so each result is its pair's
    for row in rows:
        ri = _call(fn, [row], dtype, beta, gradients, f"{_where(row)} ({dtype})")
        failure = ri.failure
        if not failure and (ri.values is None or ri.values.size != 1):
            failure = f"returned shape {tuple(ri.values.shape)} for one pair"
        value = None if failure else float(ri.values.reshape(-1)[0])
        grads = None if failure or ri.grads is None else [float(g.reshape(-1)[0]) for g in ri.grads[:4]]
        points += _row_points(row, dtype, value, grads, exact(row), failure, gradients,
                              gradients and not failure and not ri.requires_grad)
    return points


def _where(row: Row) -> str:
    return ", ".join(f"{k}={v:.9g}" for k, v in row.inputs())


def _mean_point(rows: list[Row], dtype: str, theirs: float, exact: _Exact, extra: list[str]) -> list[Point]:
    """The batch mean against the mean of the exact losses (tolerance: the mean of the pairs')."""
    pts = [exact(r) for r in rows]
    if any(p is None for p in pts):
        return []
    values = [p[0] for p in pts]
    mean = sum(p.value for p in values) / len(values)
    tol = sum(_tolerance(p, dtype, not (r.logp_ref_w or r.logp_ref_l)) for p, r in zip(values, rows)) / len(rows)
    if abs(mean) > R.FLOAT_MAX[dtype]:
        return []
    ok = math.isfinite(theirs) and abs(mpmath.mpf(theirs) - mean) <= tol
    if not ok and math.isfinite(theirs) and abs(mpmath.mpf(theirs) - len(rows) * mean) <= tol * len(rows):
        extra.append(f"returns the sum of the pairs' losses, not their mean ({dtype}: {theirs:.9g} for a batch of "
                     f"{len(rows)}, exact mean {R.to_float(mean):.9g})")
    return [Point((("batch", f"{len(rows)} pairs"),), "value (mean)", dtype, theirs, R.to_float(mean), tol, bool(ok),
                  scale=float(sum(abs(p.value) for p in values) / len(values)))]


# ---------------------------------------------------------------------------------------------------- check
@with_assert
def check_dpo(fn: Callable, against, *, params: dict | None = None, convention: str = "fdiv", beta: float = 0.1,
              rows: Sequence[Row] | None = None, ratio_range: tuple[float, float] | None = None,
              dtypes: Sequence = R.DTYPES, gradients: bool = True, rtol: float | None = None,
              backend: str = "auto") -> Report:
    """fn(logp_w, logp_ref_w, logp_l, logp_ref_l, beta) -> per-pair losses or their mean, against fdiv's exact
    f-DPO loss for `against` (a catalogue name, an expression in u, or a Derivation; kl is standard DPO), values
    and the gradients of all four inputs, float32 and float64. ratio_range (lo, hi) restricts both log-ratios;
    convention "f-dpo-paper" reads alpha as the f-DPO paper's (fdiv's alpha = 1 - alpha); rtol loosens; backend
    "torch", "jax" (fn gets jax Arrays, gradients by jax.grad) or "auto" (read off fn's module)."""
    from .exact import label
    from .outcome import classify

    start = time.process_time()
    if not (isinstance(beta, (int, float)) and math.isfinite(beta) and beta > 0):
        raise FdivError(f"beta {beta!r}: expected a positive number")
    if rtol is not None and not (math.isfinite(rtol) and 0 < rtol < 1):
        raise FdivError(f"rtol {rtol}: expected a number in (0, 1)")
    callee = as_callee(fn, first_of_tuple=True, backend=backend)
    _check_signature(callee)
    d, convention_note = _f_prime(against, params, convention)
    pool = list(rows) if rows is not None else rows_in(*ratio_range) if ratio_range is not None else \
        grid_rows() + drawn_rows()
    dts = [R.dtype_name(x) for x in dtypes]
    exact = _Exact(d, float(beta))
    notes: set[str] = set()
    extra: list[str] = []
    points: list[Point] = []
    with R.loosened(rtol):
        for dtype in dts:
            points += _compare_dtype(callee, pool, dtype, float(beta), exact, gradients, notes, extra)
    if points and all(p.expected.startswith("a value (") for p in points):
        p = points[0]
        raise DPOFunctionError(f"{SIGNATURE} gave no usable result at any input: "
                               f"{p.expected.removeprefix('a value (').removesuffix(')')} (e.g. at {p.where()}, "
                               f"{p.dtype})")
    report = Report(f"dpo {callee.name} against {label(d)} (beta = {beta:g})", points, tolerance_rule=TOLERANCE_RULE,
                    tolerance_short=TOLERANCE_SHORT if rtol is None else
                    f"rtol max(1e-5 (float32), 1e-11 (float64), {rtol:g}) of |L| + its conditioning in r, per pair")
    report.extra_failures += list(dict.fromkeys(extra))
    moved = callee.in_place_failure()
    if moved:
        report.extra_failures.append(moved)
    report.rtol = rtol
    if ratio_range is not None:
        report.scope = f"log-ratios in [{ratio_range[0]:g}, {ratio_range[1]:g}] only"
    if convention_note:
        report.notes.append(convention_note)
    if callee.backend_note():
        report.notes.append(callee.backend_note())
    report.notes.append(f"reads the result as {' and '.join(sorted(notes))}" if notes else
                        "no call returned a usable result shape")
    moderate = lambda p: _moderate(p)  # noqa: E731
    classify(report, moderate)
    if not report.ok:
        report.diagnosis = _diagnose(report, callee, d, float(beta), pool, dts, convention, params)
    total = time.process_time() - start
    local = not hasattr(callee, "import_seconds")
    report.user_seconds = callee.seconds
    report.own_seconds = max(total - callee.seconds, 0.0) if local else total
    return report


def _check_signature(fn: Callee) -> None:
    sig = fn.signature
    if sig is None:
        return
    try:
        sig.bind(*NAMES)
    except TypeError:
        raise DPOFunctionError(f"wrong signature: a preference loss is called as {SIGNATURE}, but "
                               f"{fn.name}{sig} cannot take 5 positional arguments") from None


def _moderate(p: Point) -> bool:
    inputs = dict(p.inputs)
    if "r_w" not in inputs:
        return False
    return abs(inputs["r_w"]) <= MODERATE_RATIO and abs(inputs["r_l"]) <= MODERATE_RATIO


# ------------------------------------------------------------------------------------------------ diagnosis
def _diagnose(report: Report, fn: Callee, d, beta: float, pool: list[Row], dts, convention: str, params) -> str:
    from .diagnose import diagnose
    from .report import WRONG

    parts = []
    if report.outcome == WRONG:
        if any(_moderate(p) and not p.ok for p in report.points):
            other = _other_divergence(fn, d, beta, convention, params)
            if other:
                parts.append(other)
        text = diagnose([p for p in report.points if _moderate(p)]) or diagnose(report.points)
        return "; ".join(filter(None, [*parts, text]))
    numeric = [p for p in report.failures if not p.expected.startswith("a value (")]
    grads_only = numeric and all(p.quantity.startswith("d/d") for p in numeric)
    if grads_only:
        parts.append("values agree, gradients do not (a clamp, a detach or a 0 * inf in the backward pass?)")
    capped = [p for p in report.failures if "beyond" in p.expected and p.theirs is not None
              and math.isfinite(p.theirs)]
    if capped:
        p = capped[0]
        parts.append(f"finite where the exact value is beyond {p.dtype}'s range at {len(capped)} point(s), e.g. "
                     f"{p.quantity} {p.theirs:.6g} at {p.where()}: a clamp or cap on an exponent returns a wrong "
                     f"loss there")
    zero = [p for p in numeric if p.quantity.startswith("d/d") and p.theirs == 0.0 and not p.ok]
    if zero:
        names = sorted({p.quantity for p in zero})
        parts.append(f"gradients exactly 0 where the exact ones are not ({', '.join(names)} at {len(zero)} point(s), "
                     f"e.g. {zero[0].where()}): a clamp, a detach or an early asymptote stops the gradient")
    rest = [p for p in report.points if not p.quantity.startswith("value (mean") and "beyond" not in p.expected]
    text = diagnose(rest)
    if text:
        parts.append(text)
    return "; ".join(parts)


_MODERATE_ROWS = [Row(a, 0.0, b, 0.0) for a in (-3.0, -1.0, 0.5, 2.0) for b in (-2.0, 0.0, 1.5, 4.0) if a != b]


def _screen(fn: Callee, g_exact: _Exact, beta: float) -> bool:
    """fn matches the exact loss g_exact at moderate log-ratios in float64 (values only, 1e-9 relative)."""
    r = _call(fn, _MODERATE_ROWS, "float64", beta, False, "moderate log-ratios (float64)")
    if r.failure or r.values is None or r.values.size != len(_MODERATE_ROWS):
        return False
    for row, v in zip(_MODERATE_ROWS, r.values.reshape(-1).tolist()):
        e = g_exact(row)
        if e is None or not math.isfinite(v) or abs(mpmath.mpf(v) - e[0].value) > 1e-9 * (abs(e[0].value) + 1):
            return False
    return True


def _other_divergence(fn: Callee, d, beta: float, convention: str, params) -> str:
    """Which f-DPO loss it is instead: another catalogue divergence, the other alpha convention, another beta."""
    from fdiv.spec import catalogue
    from fdiv.codegen.objectives.link import link_of

    from .exact import derivation, label

    if d.parameters.get("alpha") is not None:
        try:
            a = float(d.parameters["alpha"])
            flipped = derivation(d.name, {"alpha": str(1 - a)})
            if _screen(fn, _Exact(flipped, beta), beta):
                hint = "convention fdiv" if convention == "f-dpo-paper" else "convention f-dpo-paper"
                return (f"this is the f-DPO loss at alpha = {1 - a:g}: its alpha is 1 - alpha (use the {hint}, "
                        f"--convention {hint.split()[-1]})")
        except (FdivError, ValueError, TypeError):
            pass
    for name in catalogue.names():
        try:
            g = derivation(name)
        except Exception:  # noqa: BLE001 - an entry that does not derive here is not a suspect
            continue
        if g.name == d.name and g.parameters == d.parameters:
            continue
        if not link_of(g.f, g.name).valid:
            continue
        if _screen(fn, _Exact(g, beta), beta):
            return f"this is the f-DPO loss of {label(g)}, not of {label(d)}"
    for factor in (2.0, 0.5, 10.0):
        if _screen(fn, _Exact(d, beta * factor), beta):
            return f"this is the loss at beta = {beta * factor:g}: it scales beta by {factor:g}"
    return ""
