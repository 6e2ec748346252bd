"""One-line diagnoses from the pattern of failed points: NaN, overflow, a saturating (epsilon-capped) value,
a constant offset or factor, gradients only, accuracy lost at large |input|."""
from __future__ import annotations

import math
from collections import defaultdict

from .reference import Point


def _span(points: list[Point], arg: str) -> str:
    xs = sorted({dict(p.inputs)[arg] for p in points if isinstance(dict(p.inputs).get(arg), float)})
    if not xs:
        return ""
    if len(xs) == 1:
        return f"{arg} = {xs[0]:.6g}"
    return f"{arg} in [{xs[0]:.6g}, {xs[-1]:.6g}] ({len(xs)} points)"


def _varying(p: Point) -> str:
    """The input a point is about: the non-zero argument of a single call (v_real = 100, v_fake = 0 -> v_real)."""
    items = [(k, v) for k, v in p.inputs if isinstance(v, float)]
    nonzero = [k for k, v in items if v != 0.0]
    return nonzero[0] if len(nonzero) == 1 else (items[0][0] if items else "")


def _where(points: list[Point]) -> str:
    groups: dict[str, list[Point]] = defaultdict(list)
    for p in points:
        groups[_varying(p)].append(p)
    dtypes = sorted({p.dtype for p in points})
    text = "; ".join(filter(None, (_span(ps, arg) for arg, ps in groups.items())))
    return f"{text} ({', '.join(dtypes)})" if text else ", ".join(dtypes)


def _eps_guess(cap: float) -> str:
    """log(x + eps) >= log(eps): a cap of -log(eps) points at eps = 10^-k."""
    k = abs(cap) / math.log(10)
    if abs(k - round(k)) < 0.02 and 3 <= round(k) <= 20:
        return f"; {abs(cap):.4g} = -log(1e-{round(k):02d}): an epsilon added inside a log caps it"
    return ""


def _saturation(values: list[Point]) -> str:
    by_value: dict[tuple, list[Point]] = defaultdict(list)
    for p in values:
        if p.theirs is not None and math.isfinite(p.theirs):
            by_value[(p.dtype, _varying(p), p.theirs)].append(p)
    for (dtype, arg, theirs), ps in sorted(by_value.items(), key=lambda kv: -len(kv[1])):
        exacts = [p.exact for p in ps]
        spread = max(exacts) - min(exacts)
        if len(ps) >= 2 and spread > 10 * max(p.tolerance for p in ps) and spread > 1e-6 * max(map(abs, exacts)):
            far = max(ps, key=lambda p: abs(p.exact))
            return (f"saturates: returns {theirs:.6g} at {_where(ps)} where the exact value grows to "
                    f"{far.exact:.6g}{_eps_guess(theirs - far.held)}")
    return ""


def _constant(values: list[Point]) -> str:
    finite = [p for p in values if p.theirs is not None and math.isfinite(p.theirs) and p.exact is not None]
    if len(finite) < 3:
        return ""
    diffs = [p.theirs - p.exact for p in finite]
    mean = sum(diffs) / len(diffs)
    if mean != 0 and max(abs(d - mean) for d in diffs) <= 1e-3 * abs(mean):
        return f"off by a constant: theirs - exact = {mean:.6g} at every failing point (a wrong constant term?)"
    ratios = [p.theirs / p.exact for p in finite if p.exact != 0]
    if len(ratios) >= 3:
        mean = sum(ratios) / len(ratios)
        if abs(mean - 1) > 1e-6 and max(abs(r - mean) for r in ratios) <= 1e-6 * abs(mean):
            return f"off by a factor: theirs / exact = {mean:.6g} at every failing point (a scaling convention?)"
    return ""


def diagnose(points: list[Point]) -> str:
    """The most specific description of the failures (empty when nothing failed)."""
    # calls that gave no value (a raise, a crash) are named by the outcome's limits, not diagnosed here
    bad = [p for p in points if not p.ok and not p.expected.startswith("a value (")]
    if not bad:
        return ""
    nan = [p for p in bad if not p.expected and (p.theirs is None or math.isnan(p.theirs))]
    inf = [p for p in bad if not p.expected and p.theirs is not None and math.isinf(p.theirs)]
    values = [p for p in points if p.quantity == "value" and not p.expected]
    if values and all(p in nan for p in values):
        return f"NaN at every point ({len(values)} values): a log or sqrt of a negative number, or 0/0, everywhere?"
    if inf or nan:
        first = (inf or nan)[0]
        kind = _infinity(inf) if inf else "NaN"
        return (f"{kind} at {_where(inf or nan)} where the exact value is finite "
                f"(e.g. {first.quantity} at {first.where()}: exact {first.exact:.6g})")
    outside = [p for p in bad if p.expected]
    if outside:
        p = outside[0]
        return f"leaves {p.expected.removeprefix('in ')} at {_where(outside)} (e.g. {p.theirs!r} at {p.where()})"
    early = _early_asymptote(bad)
    if early:
        return early
    values = [p for p in bad if p.quantity == "value"]
    grads = [p for p in bad if p.quantity != "value"]
    if values:
        return _saturation(values) or _constant(values) or _largest(values, "values")
    if grads:
        return (f"values agree, gradients do not, at {_where(grads)} (a clamp, a detach or a non-differentiable "
                f"step?); {_largest(grads, 'gradients')}")
    return ""


def _infinity(points: list[Point]) -> str:
    """'overflow: inf', 'overflow: -inf' or both, from the signs theirs actually has."""
    signs = sorted({"inf" if p.theirs > 0 else "-inf" for p in points if p.theirs is not None})
    return "overflow: " + " and ".join(signs)


def _early_asymptote(bad: list[Point]) -> str:
    """float64 only, at |v| in [15, 45], relative errors of the order of e^-|v|: a cutoff to the asymptote."""
    xs = []
    for p in bad:
        x = dict(p.inputs).get(_varying(p))
        if p.dtype != "float64" or not isinstance(x, float) or not 15 <= abs(x) <= 45:
            return ""
        if not (p.theirs is not None and math.isfinite(p.theirs) and p.rel_error <= 100 * math.exp(-abs(x))):
            return ""
        xs.append(abs(x))
    return (f"float64 only, at |v| in [{min(xs):.4g}, {max(xs):.4g}], with relative errors of the order of "
            f"e^-|v|: it switches to its asymptote too early (torch's F.softplus does above 20 by default; "
            f"threshold=40 keeps float64 exact)")


def _largest(points: list[Point], what: str) -> str:
    worst = max(points, key=lambda p: p.badness)
    big = [p for p in points if any(isinstance(v, float) and abs(v) >= 20 for _, v in p.inputs)]
    lead = f"{what} lose accuracy at large |input|: " if len(big) == len(points) and points else ""
    return (f"{lead}largest error at {worst.dtype} {worst.where()}: theirs {worst.theirs:.9g}, exact {worst.exact:.9g} "
            f"(relative error {worst.rel_error:.2g}, tolerance {worst.tolerance:.2g})")
