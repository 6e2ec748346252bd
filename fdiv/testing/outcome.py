"""Three outcomes from the failed points: wrong (a formula-sized difference at a moderate input), numerically
limited (right at every moderate input, failing elsewhere: the ranges named), or agree.

A difference is formula-sized when rounding cannot explain it: at a moderate input (the check says which inputs
are moderate: logits |v| <= 6, log-ratios |r| <= 6, the well-conditioned Gaussian cases) an error above
FORMULA_RTOL of the scale (1e-5 in float64, where the tolerance is 1e-11 and an implementation computing in
float32 errs by about 1e-7; 1e-3 in float32), a non-finite value where the exact one is finite, a value outside
the required set (dom f*, +inf), or no gradient. A raise, a crash or a hang at a moderate input is not a formula:
it is named as a limit, as long as some moderate input did agree.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable

from .diagnose import _eps_guess, _span, _varying
from .reference import Point
from .report import LIMITED, WRONG, Report

FORMULA_RTOL = {"float32": 1e-3, "float64": 1e-5}
_NOT_RUN = ("a value (it ", "a value (not run")


def formula_sized(p: Point) -> bool:
    if p.ok:
        return False
    if p.expected:
        return not p.expected.startswith(_NOT_RUN)
    if p.theirs is None or not math.isfinite(p.theirs):
        return p.exact is not None
    return p.error > FORMULA_RTOL.get(p.dtype, 1e-5) * max(p.scale, 1.0)


def classify(report: Report, moderate: Callable[[Point], bool]) -> None:
    """Set report.classified, .limits and .wrong_because (nothing to do when the report agrees)."""
    if report.ok:
        return
    bad = [p for p in report.failures if moderate(p) and formula_sized(p)]
    good = [p for p in report.points if p.ok and moderate(p)]
    if bad:
        worst = max(bad, key=lambda p: (p.badness, p.error if math.isfinite(p.error) else math.inf))
        report.classified = WRONG
        report.wrong_because = (f"at a moderate input the difference is far beyond rounding (a different formula): "
                                f"{_describe(worst)}")
        return
    if report.extra_failures:
        report.classified = WRONG
        return
    if not good:
        report.classified = WRONG
        report.wrong_because = ("no moderate input gave an agreeing value, so the formula itself is not "
                                "established")
        return
    report.classified = LIMITED
    report.limits = limits(report.failures)


def _describe(p: Point) -> str:
    if p.expected:
        return f"{p.dtype} {p.quantity} at {p.where()}: theirs {_num(p.theirs)}, expected {p.expected}"
    return (f"{p.dtype} {p.quantity} at {p.where()}: theirs {_num(p.theirs)}, exact {_num(p.exact)} "
            f"(error {p.error / max(p.scale, 1.0):.2g} of the scale)")


def _num(x) -> str:
    return "None" if x is None else f"{x:.9g}"


# --------------------------------------------------------------------------------------------- named ranges
def _kind(p: Point) -> str:
    if p.expected:
        if p.expected.startswith(_NOT_RUN):
            return p.expected.removeprefix("a value (it ").removeprefix("a value (").removesuffix(")")
        if "beyond" in p.expected and p.theirs is not None and math.isfinite(p.theirs):
            return "finite where the exact value is beyond the dtype's range (a clamp or cap?)"
        return f"not {p.expected}"
    if p.theirs is None or math.isnan(p.theirs):
        return "NaN"
    if math.isinf(p.theirs):
        return "+inf" if p.theirs > 0 else "-inf"
    if p.quantity != "value" and p.theirs == 0.0:
        return "exactly 0 (a clamp, a detach, or an early switch to an asymptote)"
    return "inaccurate"


def _region(points: list[Point]) -> str:
    """Where the points lie: the span of each input that varies (DPO: r_w and r_l; Gaussians: the cases)."""
    first = dict(points[0].inputs)
    if "case" in first:
        cases = []
        for p in points:
            c = str(dict(p.inputs)["case"])
            if c not in cases:
                cases.append(c)
        shown = ", ".join(f"'{c}'" for c in cases[:4])
        more = f" and {len(cases) - 4} more" if len(cases) > 4 else ""
        return f"case{'s' if len(cases) > 1 else ''} {shown}{more}"
    if "r_w" in first:
        return "; ".join(filter(None, (_span(points, "r_w"), _span(points, "r_l"))))
    groups: dict[str, list[Point]] = defaultdict(list)
    for p in points:
        groups[_varying(p)].append(p)
    text = "; ".join(filter(None, (_span(ps, arg) for arg, ps in groups.items())))
    batches = sum(not any(isinstance(v, float) for _, v in p.inputs) for p in points)
    if batches:
        text = "; ".join(filter(None, (text, f"{batches} whole-batch call{'s' if batches > 1 else ''}")))
    return text or "every input"


def limits(failures: list[Point]) -> list[str]:
    """One line per (dtype, quantity, kind of failure): what happens and where."""
    groups: dict[tuple[str, str, str], list[Point]] = defaultdict(list)
    for p in failures:
        quantity = "value" if p.quantity == "value" else "gradient"
        groups[(p.dtype, quantity, _kind(p))].append(p)
    out = []
    for (dtype, quantity, kind), ps in sorted(groups.items()):
        where = _region(ps)
        if kind == "inaccurate":
            worst = max(ps, key=lambda p: p.error / max(p.scale, 1.0))
            rel = worst.error / max(worst.scale, 1.0)
            sat = _saturates(ps)
            what = sat or f"inaccurate (error up to {rel:.2g} of the scale: cancellation or an early cutoff)"
            out.append(f"{dtype} {quantity}s {what} at {where}")
        elif kind in ("NaN", "+inf", "-inf"):
            out.append(f"{dtype} {quantity}s {kind} (overflow or 0/0) at {where}, where the exact value is finite")
        elif kind.startswith(("exactly 0", "finite where", "not ")):
            out.append(f"{dtype} {quantity}s {kind} at {where}")
        else:
            out.append(f"{dtype}: {kind} at {where}")
    return out


def _saturates(points: list[Point]) -> str:
    """'saturates at X' when the function returns one constant where the exact value keeps changing."""
    values = {p.theirs for p in points}
    if len(points) >= 2 and len(values) == 1:
        exacts = [p.exact for p in points if p.exact is not None]
        if exacts and max(exacts) - min(exacts) > 10 * max(p.tolerance for p in points):
            x = next(iter(values))
            return f"saturate at {x:.6g} (a clamp or cap{_eps_guess(x - points[0].held)})"
    return ""
