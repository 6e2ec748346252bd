"""The claims checker: a claimed conjugate, conjugate domain, activation or identity against fdiv's derivations.

Each check answers `verified`, `refuted` (with a concrete counterexample: the point, the claimed value, the true
value) or `undecided` (with the reason). A verification is symbolic where SymPy proves it; otherwise it rests on
a 30-digit numeric comparison at many admissible points and says so in `method`. A refutation always comes from
a point evaluated at 30 digits, so it never depends on SymPy's simplifier.
"""
from __future__ import annotations

import ast
import random
from dataclasses import dataclass, field

import mpmath
import sympy as sp

from fdiv.derivation.activation import V
from fdiv.derivation.conjugate import T, Interval
from fdiv.derivation.engine import Derivation
from fdiv.errors import ParseError
from fdiv.derivation.numeric import DPS, mp_function, real_value, sample_points, to_mpf
from fdiv.spec.parse import CONSTANTS, EXTENDED, parse
from fdiv.spec.spec import parse_interval
from fdiv._util.timelimit import attempt

from .algebra import is_zero

VERIFIED, REFUTED, UNDECIDED = "verified", "refuted", "undecided"
EXIT_CODES = {VERIFIED: 0, REFUTED: 1, UNDECIDED: 3}
_TOL = mpmath.mpf(10) ** (-DPS + 10)  # 30-digit evaluation: agreement to 20 digits


@dataclass
class Verdict:
    verdict: str
    reason: str
    method: str = ""
    counterexample: dict | None = field(default=None)

    @property
    def proved(self) -> bool:
        """Verified by a symbolic argument or an exact computation (not by numbers at sample points)."""
        return self.verdict == VERIFIED and self.method.startswith(("symbolic", "exact"))

    def to_json(self) -> dict:
        return {"verdict": self.verdict, "counterexample": self.counterexample, "reason": self.reason,
                "method": self.method, "symbolic": self.proved}

    def text(self) -> str:
        out = f"{self.verdict}: {self.reason}"
        if self.method:
            out += f" [{self.method}]"
        if self.counterexample:
            out += "\n  counterexample: " + ", ".join(f"{k} = {v}" for k, v in self.counterexample.items())
        return out


def _num(x) -> str:
    return mpmath.nstr(x, 20) if isinstance(x, mpmath.mpf) else str(x)


def _differ(a, b) -> bool:
    return abs(a - b) > _TOL * max(1, abs(b))


def _symbolic_zero(expr: sp.Expr) -> bool:
    return is_zero(expr)  # the proofs' zero test: cheap forms first, logs split only where sound


def _parameter_symbols(d: Derivation) -> dict[str, sp.Symbol]:
    return {str(s): s for s in d.f.free_symbols if str(s) != "u"}


def parse_claim(text: str, var: sp.Symbol, d: Derivation, where: str = "--claim") -> sp.Expr:
    symbols = {var.name: var, **_parameter_symbols(d)}
    return parse(text, symbols, where=where, functions=EXTENDED)


# ---------------------------------------------------------------------------------------------------- conjugate
_S = sp.Symbol("s", positive=True)


def _in_domain(expr: sp.Expr, dom: Interval) -> sp.Expr:
    """expr with t written as upper - s (or lower + s), s > 0: SymPy then knows which side of the end t is."""
    if dom.upper.is_finite:
        return expr.subs(T, dom.upper - _S)
    if dom.lower.is_finite:
        return expr.subs(T, dom.lower + _S)
    return expr.subs(T, sp.Symbol("t", real=True))


def _domain_points(d: Derivation, claim: sp.Expr | None = None) -> list[sp.Expr]:
    """Points inside each branch of f* on dom f* (the branch ends cut dom f* into intervals), magnitudes out
    to 1e12 towards infinite ends and to 1e-12 from finite ones, and points at and next to every breakpoint
    of the Abs/Max/Min/Piecewise in the claim that lies in dom f*."""
    dom = d.conjugate_domain
    cuts = [dom.lower]
    pieces = d.conjugate.args if isinstance(d.conjugate, sp.Piecewise) else ()
    for _, cond in pieces:
        if isinstance(cond, (sp.LessThan, sp.StrictLessThan)) and cond.rhs.is_number:
            cuts.append(cond.rhs)
    cuts.append(dom.upper)
    cuts = sorted({c for c in cuts if c.is_number or c in (sp.oo, -sp.oo)}, key=lambda c: float(c))
    points: list[sp.Expr] = []
    simple = sorted({sp.Rational(n, q) for q in (1, 2, 3, 4) for n in range(-12, 13)},
                    key=lambda r: (r.q, abs(r.p), r.p < 0))
    far = [sp.Integer(10) ** k for k in (3, 6, 9, 12)]
    for lo, hi in zip(cuts, cuts[1:]):
        inside = [x for x in simple if (lo == -sp.oo or x > lo) and (hi == sp.oo or x < hi)]
        points += inside[:8] + sample_points(lo, hi, 16)
        if lo == -sp.oo:
            points += [(hi if hi.is_finite else 0) - m for m in far]
        if hi == sp.oo:
            points += [(lo if lo.is_finite else 0) + m for m in far]
        if lo.is_finite and hi.is_finite:
            points += [lo + (hi - lo) / sp.Integer(10) ** 12, hi - (hi - lo) / sp.Integer(10) ** 12]
        elif lo.is_finite:
            points.append(lo + sp.Integer(10) ** -12)
        elif hi.is_finite:
            points.append(hi - sp.Integer(10) ** -12)
    for end, closed in ((dom.lower, dom.lower_closed), (dom.upper, dom.upper_closed)):
        if closed:
            points.append(end)
    if claim is not None:
        inside_dom = dom.as_set()
        for g in breakpoints(claim):
            if g.free_symbols == {T}:
                points += [x for x in _near(g, T) if inside_dom.contains(x) == sp.true]
    # the simplest points first, so a counterexample reads well (t = -3, not t = -2147483649/1073741824)
    return sorted(dict.fromkeys(points), key=_simplicity)


def _simplicity(x: sp.Expr) -> tuple:
    if x.is_Rational:
        return (0 if x.is_Integer else 1, x.q, abs(x.p))
    return (2, 0, 0)


#: A numeric verdict of "verified" needs at least this many points where both sides were evaluated.
MIN_POINTS = 10


def parameter_samples(d: Derivation) -> list[dict[sp.Symbol, sp.Expr]]:
    """Values for a derivation's symbolic parameters (a range such as alpha in (1, oo)): three points of each
    range, so a numeric comparison never runs on an expression with a free parameter (which evaluates
    nowhere and would verify anything). [{}] when every parameter has a value."""
    from fdiv.spec.spec import SymbolicRange

    ranges = [v for v in d.parameters.values() if isinstance(v, SymbolicRange)]
    if not ranges:
        return [{}]
    out = []
    for s in (sp.Rational(1, 3), sp.Integer(1), sp.Integer(3)):
        out.append({r.parameter: r.expr().xreplace({r.symbol: s}) for r in ranges})
    return out


def _fixed(d: Derivation, sample: dict) -> Derivation:
    """d with its symbolic parameters replaced by the sample's values (the fields the checks read)."""
    if not sample:
        return d
    from dataclasses import replace

    dom = d.conjugate_domain
    params = {k: (sample[v.parameter] if hasattr(v, "parameter") else v) for k, v in d.parameters.items()}
    return replace(d, parameters=params, conjugate=d.conjugate.xreplace(sample),
                   conjugate_domain=Interval(dom.lower.xreplace(sample), dom.upper.xreplace(sample),
                                             dom.lower_closed, dom.upper_closed),
                   critic_range=Interval(d.critic_range.lower.xreplace(sample), d.critic_range.upper.xreplace(sample),
                                         d.critic_range.lower_closed, d.critic_range.upper_closed))


def _sample_text(sample: dict) -> str:
    return (" at " + ", ".join(f"{k} = {v}" for k, v in sample.items())) if sample else ""


def check_conjugate(d: Derivation, claim: sp.Expr) -> Verdict:
    """The claim is a formula for f*(t) on dom f*. Refuted at the first point where the two differ; verified
    symbolically where SymPy proves it, else numerically when at least MIN_POINTS points were compared;
    otherwise undecided, saying how many points were skipped and why."""
    true = d.conjugate
    if d.numeric:
        from fdiv.derivation.inverse import readable

        shown = str(readable(true))
    else:
        shown = str(true)
    compared = skipped_true = skipped_claim = 0
    for sample in parameter_samples(d):
        dd = _fixed(d, sample)
        true_fn, claim_fn = mp_function(dd.conjugate, T), mp_function(claim.xreplace(sample), T)
        for t in _domain_points(dd, claim.xreplace(sample)):
            ref = real_value(true_fn, t)
            if ref is None:
                skipped_true += 1
                continue
            got = real_value(claim_fn, t)
            if got is None or _differ(got, ref):
                return Verdict(REFUTED, f"the claimed f*(t) differs from f*(t) = {shown} at t = {t}{_sample_text(sample)}",
                               "numeric (30 digits)",
                               {"t": str(t), **{str(k): str(v) for k, v in sample.items()},
                                "claimed": "undefined or not real" if got is None else _num(got), "true": _num(ref)})
            compared += 1
    pieces = true.args if isinstance(true, sp.Piecewise) else ((true, sp.true),)
    if not d.numeric and (_symbolic_zero(sp.piecewise_fold(claim - true))
                          or all(_symbolic_zero(_in_domain(claim - expr, d.conjugate_domain)) for expr, _ in pieces)):
        return Verdict(VERIFIED, f"equals f*(t) = {true} on dom f* = {d.conjugate_domain}", "symbolic")
    if compared < MIN_POINTS:
        return Verdict(UNDECIDED, f"only {compared} points could be compared (f* not real at {skipped_true}); "
                       f"a numeric verdict needs {MIN_POINTS}", "numeric (30 digits)")
    return Verdict(VERIFIED, f"agrees with f*(t) = {shown} on dom f* = {d.conjugate_domain}",
                   f"numeric (30 digits, {compared} points{', ' + str(len(parameter_samples(d))) + ' parameter values' if parameter_samples(d) != [{}] else ''}); "
                   "SymPy could not prove it")


# ------------------------------------------------------------------------------------------------------- domain
def check_domain(d: Derivation, text: str) -> Verdict:
    lo, hi, lo_closed, hi_closed = parse_interval(text, where="--claim")
    dom = d.conjugate_domain
    f_star = mp_function(d.conjugate, T)

    def describe(t) -> dict:
        inside = d.conjugate_domain.as_set().contains(t)
        value = real_value(f_star, t) if inside == sp.true else None
        return {"t": str(t), "in claim": bool(sp.Interval(lo, hi, not lo_closed, not hi_closed).contains(t)),
                "in dom f*": inside == sp.true, "f*(t)": _num(value) if value is not None else "oo"}

    for end, claimed, closed_true, closed_claim, side in ((dom.lower, lo, dom.lower_closed, lo_closed, "lower"),
                                                          (dom.upper, hi, dom.upper_closed, hi_closed, "upper")):
        same = end == claimed if (end.is_infinite or claimed.is_infinite) else _symbolic_zero(end - claimed)
        if not same:
            a, b = sp.Min(end, claimed), sp.Max(end, claimed)
            point = b - 1 if a == -sp.oo else a + 1 if b == sp.oo else (a + b) / 2
            return Verdict(REFUTED, f"the {side} end is {claimed}; dom f* = {dom}", "symbolic", describe(point))
        if end.is_finite and closed_true != closed_claim:
            return Verdict(REFUTED, f"the {side} end {end} is {'in' if closed_true else 'not in'} dom f* = {dom}",
                           "symbolic", describe(end))
    return Verdict(VERIFIED, f"dom f* = {dom}", "symbolic")


# --------------------------------------------------------------------------------------------------- activation
def _inside(y, rng: Interval, dps: int = DPS) -> bool:
    """y in the range, with the range's ends evaluated at y's precision (sigma(-128) = a + 1e-56 is inside)."""
    lo, hi = to_mpf(rng.lower, dps), to_mpf(rng.upper, dps)
    above = y >= lo if rng.lower_closed else y > lo
    below = y <= hi if rng.upper_closed else y < hi
    return bool(above and below)


def check_activation(d: Derivation, claim: sp.Expr) -> Verdict:
    """Verified when sigma maps R into the critic range (the range of f' on (0, oo))."""
    samples = parameter_samples(d)
    if samples != [{}]:  # a symbolic parameter: check at sampled values (refuted at any; never verified blind)
        for sample in samples:
            verdict = check_activation(_fixed(d, sample), claim.xreplace(sample))
            if verdict.verdict != VERIFIED:
                verdict.reason += _sample_text(sample)
                return verdict
        return Verdict(UNDECIDED, f"sigma maps R into the critic range at {len(samples)} sampled parameter values, "
                       "but that is not a proof for every value in the range", "numeric (30 digits)")
    rng = d.critic_range
    fn = mp_function(claim, V)
    grid = [sp.Integer(0)] + [s * sp.Rational(2) ** k for k in range(-8, 11) for s in (1, -1)]
    for g in breakpoints(claim):  # and at and next to each switch of an Abs/Max/Min/Piecewise in the claim
        if g.free_symbols == {V}:  # (beyond |v| = 2^10 sigma(v) sits at its range's end at every precision used)
            grid += [x for x in _near(g, V) if abs(x) <= 2**10]
    ok, crit = attempt("solving sigma'(v) = 0", sp.solve, sp.diff(claim, V), V, seconds=10)
    if ok:
        grid += [c for c in crit if c.is_real]
    for v in grid:
        dps = DPS + int(abs(v))  # e^-2|v| (tanh) must stay visible next to 1
        y = real_value(fn, v, dps=dps)
        if y is None or not _inside(y, rng, dps + 10):
            return Verdict(REFUTED, f"sigma(v) leaves the critic range {rng}", "numeric (30 digits)",
                           {"v": str(v), "sigma(v)": "undefined or not real" if y is None else _num(y),
                            "critic range": str(rng)})
    # symbolic: the image is bounded by the limits at +-oo and the values at critical points
    limits = [attempt("a limit of sigma", sp.limit, claim, V, end, seconds=10) for end in (-sp.oo, sp.oo)]
    if ok and all(c.is_real is not None for c in crit) and all(good for good, _ in limits):
        values = [lim for _, lim in limits] + [claim.subs(V, c) for c in crit if c.is_real]
        lo_v, hi_v = sp.Min(*values), sp.Max(*values)
        attained = [claim.subs(V, c) for c in crit if c.is_real]
        def same(a, b) -> bool:
            return a == b if (a.is_infinite or b.is_infinite) else _symbolic_zero(a - b)

        def reached(value) -> bool:
            return any(same(value, a) for a in attained)

        lo_ok = (lo_v > rng.lower) == sp.true or (same(lo_v, rng.lower) and (rng.lower_closed or not reached(lo_v)))
        hi_ok = (hi_v < rng.upper) == sp.true or (same(hi_v, rng.upper) and (rng.upper_closed or not reached(hi_v)))
        if lo_ok and hi_ok:
            return Verdict(VERIFIED, f"sigma(R) lies within [{lo_v}, {hi_v}] (limits and critical values), inside "
                           f"the critic range {rng}", "symbolic")
    return Verdict(UNDECIDED, f"no point of {len(grid)} leaves the critic range {rng}, but SymPy could not bound "
                   "sigma(R)", "numeric (30 digits)")


# ----------------------------------------------------------------------------------------------------- identity
_RELATIONS = {ast.Gt: ">", ast.GtE: ">=", ast.Lt: "<", ast.LtE: "<=", ast.NotEq: "!="}


def _names(*texts: str) -> list[str]:
    names: set[str] = set()
    for text in texts:
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError:
            continue  # parse() reports it with its column
        calls = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
        names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in calls}
    return sorted(names - set(CONSTANTS) - set(EXTENDED))


def parse_assumptions(text: str | None, symbols: dict[str, sp.Symbol]) -> list[tuple[sp.Symbol, str, sp.Expr]]:
    """'p>0,q>0' -> [(p, '>', 0), ...]: each condition compares a free symbol with a number."""
    out = []
    for part in (text or "").split(","):
        if not part.strip():
            continue
        try:
            node = ast.parse(part.strip(), mode="eval").body
        except SyntaxError:
            raise ParseError(f"--assume {part.strip()!r}: expected NAME > NUMBER, e.g. p>0") from None
        if not (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.left, ast.Name)
                and type(node.ops[0]) in _RELATIONS):
            raise ParseError(f"--assume {part.strip()!r}: expected NAME > NUMBER (or >=, <, <=, !=), e.g. p>0")
        name = node.left.id
        if name not in symbols:
            raise ParseError(f"--assume {part.strip()!r}: {name!r} does not occur in --lhs or --rhs")
        bound = parse(ast.unparse(node.comparators[0]), {}, where=f"--assume {part.strip()!r}")
        out.append((symbols[name], _RELATIONS[type(node.ops[0])], bound))
    return out


def _evaluate(fn, point: dict, dps: int):
    """fn at the point (mpf values) at dps digits: an mpf, None where it is undefined there (complex, a domain
    error, not finite), or _UNEVALUABLE where the number cannot be formed (an overflow, or an evaluation that
    runs past its time limit: exp(exp(x)) at x = 1e12)."""
    from fdiv.errors import DerivationTimeout
    from fdiv._util.timelimit import time_limit

    with mpmath.workdps(dps):
        try:
            with time_limit("one numeric evaluation", POINT_SECONDS):
                y = fn(*[mpmath.mpf(v) for v in point.values()])
        except (OverflowError, MemoryError, DerivationTimeout):
            return _UNEVALUABLE
        except (ValueError, ZeroDivisionError, TypeError):
            return None
        if isinstance(y, mpmath.mpc):
            y = y.real if abs(y.imag) <= _TOL * (1 + abs(y.real)) else None
        if y is not None and not mpmath.isfinite(y):
            return None
        return y


_UNEVALUABLE = object()
POINT_SECONDS = 0.25  # CPU seconds one evaluation at one point may take (exp(exp(x)) at x = 1e12 takes forever)
MAX_UNEVALUABLE = 12  # points too large to evaluate before the numeric search stops (and says so)


def _exact(x) -> sp.Rational:
    """An mpf as the exact rational it represents."""
    sign, man, exp, _ = (x if isinstance(x, mpmath.mpf) else mpmath.mpf(x))._mpf_
    return (-1) ** sign * sp.Integer(man) * sp.Integer(2) ** exp


def _exact_value(expr: sp.Expr, point: dict):
    """expr at the point, by SymPy's evalf with the point's exact rational values: evalf raises the working
    precision until 30 digits are right, so cancellation cannot fake a value (1 - 1/(1 + e^-x) at x = 1e8
    is not 0). An mpf, None where expr is undefined or not real there, _UNEVALUABLE where 30 digits cannot
    be certified within the time limit."""
    at = expr.xreplace({s: _exact(v) for s, v in point.items()})
    ok, value = attempt("confirming a counterexample", sp.N, at, DPS, strict=True, maxn=2000, seconds=10)
    if not ok:
        return _UNEVALUABLE
    if value.has(sp.zoo, sp.nan, sp.oo, -sp.oo) or not value.is_number:
        return None
    re, im = value.as_real_imag()
    if im != 0 and abs(sp.N(im, DPS)) > _TOL * (1 + abs(sp.N(re, DPS))):
        return None
    with mpmath.workdps(DPS + 10):
        return mpmath.mpf(str(sp.Float(re, DPS)))


def _confirm(exprs, point: dict) -> tuple:
    """Both sides at the point again, certified by evalf (see _exact_value)."""
    return tuple(_exact_value(e, point) for e in exprs)


def _admissible(point: dict, conditions) -> bool:
    for sym, op, bound in conditions:
        x, b = point[sym], to_mpf(bound)
        if not {">": x > b, ">=": x >= b, "<": x < b, "<=": x <= b, "!=": x != b}[op]:
            return False
    return True


# ------------------------------------------------------------------------------------ adversarial sampling
#: Magnitudes of the random points: log-uniform over 10^-12 .. 10^12 (a claim wrong only far from 1 is found).
MAGNITUDES = (-12, 12)
INTEGERS = (0, 1, -1, 2, -2, 3, -3, 5, -7, 10, -10, 100, -100, 1000, 10**6, -(10**6), 10**12)


def breakpoints(*exprs: sp.Basic) -> list[sp.Expr]:
    """The expressions whose zeros are the switch points of the Abs, Max, Min, sign, Heaviside and Piecewise
    in exprs: the argument of Abs or sign, the pairwise differences of Max/Min arguments, and lhs - rhs of
    every relation in a Piecewise condition."""
    out: list[sp.Expr] = []
    for expr in exprs:
        if not isinstance(expr, sp.Basic):
            continue
        for node in sp.preorder_traversal(expr):
            if isinstance(node, (sp.Abs, sp.sign, sp.Heaviside)):
                out.append(node.args[0])
            elif isinstance(node, (sp.Max, sp.Min)):
                args = node.args
                out += [a - b for i, a in enumerate(args) for b in args[i + 1:]]
            elif isinstance(node, sp.Piecewise):
                for _, cond in node.args:
                    rels = [cond] if isinstance(cond, sp.core.relational.Relational) else \
                        list(cond.atoms(sp.core.relational.Relational))
                    out += [r.lhs - r.rhs for r in rels if isinstance(r, sp.core.relational.Relational)]
    return [g for g in dict.fromkeys(out) if g.free_symbols]


def _roots(g: sp.Expr, s: sp.Symbol) -> list:
    """Real zeros of g in s (the other symbols already fixed), exact where SymPy solves it quickly, else by a
    few numeric root searches; never more than a few seconds."""
    ok, sols = attempt("a breakpoint of the claim", sp.solve, g, s, seconds=3)
    out = []
    if ok:
        for r in sols:
            with mpmath.workdps(DPS + 10):
                try:
                    v = complex(sp.N(r, DPS + 10))
                except (TypeError, ValueError):
                    continue
            if abs(v.imag) <= 1e-12 * (1 + abs(v.real)):
                out.append(mpmath.mpf(v.real))
        return out
    fn = sp.lambdify([s], g, "mpmath")
    for start in (-1e6, -10, -1, -1e-3, 1e-3, 1, 10, 1e6):
        with mpmath.workdps(DPS + 10):
            try:
                r = mpmath.findroot(fn, mpmath.mpf(start))
            except (ValueError, ZeroDivisionError, TypeError, OverflowError, NameError):  # NameError: no mpmath
                continue                                                                 # form of a function
            if isinstance(r, mpmath.mpf):
                out.append(r)
    return out


def _near(g: sp.Expr, s: sp.Symbol) -> list[sp.Expr]:
    """Exact points at and next to the real zeros of g in s: each zero itself (exact when SymPy solves it, so a
    counterexample reads t = 3/10), and at relative distances 1e-12, 1e-6 and 1e-3 on both sides."""
    ok, sols = attempt("a breakpoint of the claim", sp.solve, g, s, seconds=3)
    exact = [r for r in (sols if ok else []) if r.is_real and r.is_number]
    out: list[sp.Expr] = []
    for r in exact[:6] if exact else [_exact(v) for v in _roots(g, s)[:6]]:
        scale = max(abs(r), sp.Integer(10) ** -12)
        out.append(r)
        out += [r + d * scale for d in (sp.Integer(10) ** -12, sp.Integer(10) ** -6, sp.Integer(10) ** -3)]
        out += [r - d * scale for d in (sp.Integer(10) ** -12, sp.Integer(10) ** -6, sp.Integer(10) ** -3)]
    return out


def _draw(rng: random.Random, sym: sp.Symbol, conditions) -> mpmath.mpf:
    """A value for sym: magnitude log-uniform over 1e-12..1e12, either sign, shifted to respect bounds such as
    a > 1 (then a = 1 + magnitude) and a < 1 (1 - magnitude); with both bounds, near either end or inside."""
    lows = [to_mpf(b) for s, op, b in conditions if s == sym and op in (">", ">=")]
    highs = [to_mpf(b) for s, op, b in conditions if s == sym and op in ("<", "<=")]
    mag = mpmath.mpf(10) ** rng.uniform(*MAGNITUDES)
    lo, hi = (max(lows) if lows else None), (min(highs) if highs else None)
    if lo is not None and hi is not None:
        width = hi - lo
        frac = mpmath.mpf(10) ** rng.uniform(-12, 0)
        return lo + width * frac if rng.random() < 0.5 else hi - width * frac
    if lo is not None:
        return lo + mag
    if hi is not None:
        return hi - mag
    return rng.choice((-1, 1)) * mag


def adversarial_points(exprs, symbols: list[sp.Symbol], conditions, *, seed: int = 0, random_points: int = 60
                       ) -> list[tuple[str, dict]]:
    """Points an adversary would try: random magnitudes from 1e-12 to 1e12 of both signs (as far as the
    assumptions allow), integers, and points at and next to every breakpoint of the Abs/Max/Min/Piecewise in
    exprs (found with the other symbols held at random values). Each point comes with its kind ("random",
    "integer" or "breakpoint"); inadmissible points are dropped."""
    rng = random.Random(seed)
    points: list[tuple[str, dict]] = []
    with mpmath.workdps(DPS + 10):
        for _ in range(random_points):
            points.append(("random", {s: _draw(rng, s, conditions) for s in symbols}))
        for k in range(len(INTEGERS)):
            points.append(("integer", {s: mpmath.mpf(INTEGERS[(k + 3 * j) % len(INTEGERS)])
                                       for j, s in enumerate(symbols)}))
        for g in breakpoints(*exprs):
            for s in sorted(g.free_symbols & set(symbols), key=str):
                for _ in range(2):
                    base = {t: _draw(rng, t, conditions) for t in symbols}
                    fixed = g.xreplace({t: sp.Float(base[t], DPS + 10) for t in symbols if t != s})
                    for r in _roots(fixed, s)[:6]:
                        scale = max(abs(r), mpmath.mpf(10) ** -12)
                        for d in (0, 1e-12, -1e-12, 1e-6, -1e-6, 1e-3, -1e-3):
                            points.append(("breakpoint", {**base, s: r + d * scale}))
    return [(kind, p) for kind, p in points if _admissible(p, conditions)]


def extremum_points(lhs: sp.Expr, rhs: sp.Expr, symbols: list[sp.Symbol], conditions, *, seed: int = 0
                    ) -> list[tuple[str, dict]]:
    """Points at and next to the critical points of lhs - rhs in each symbol (the others at random values):
    a smooth difference confined to a narrow region (a bump at x = 500 or at x = 7e-4) peaks there, where
    random magnitudes miss it. Costlier than adversarial_points (a solve per symbol), so check_identity tries
    them only when those found no difference."""
    rng = random.Random(seed + 1)
    points: list[tuple[str, dict]] = []
    with mpmath.workdps(DPS + 10):
        gap = lhs - rhs
        for s in sorted(gap.free_symbols & set(symbols), key=str):
            base = {t: _draw(rng, t, conditions) for t in symbols}
            slope = sp.diff(gap, s).xreplace({t: sp.Float(base[t], DPS + 10) for t in symbols if t != s})
            # off the switches of Abs/Max/sign (the breakpoints cover those) the slope has no DiracDelta
            slope = slope.replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.S.Zero)
            slope = slope.rewrite(sp.Piecewise) if slope.has(sp.Heaviside) else slope
            if slope.has(sp.Derivative, sp.Subs):
                continue
            # SymPy cannot solve through sign/Abs: solve on each side of them too (sign = +-1, Abs = +-arg)
            sides = [slope] + [slope.replace(lambda e: isinstance(e, sp.sign), lambda e: sp.Integer(k))
                               .replace(lambda e: isinstance(e, sp.Abs), lambda e: k * e.args[0])
                               for k in (1, -1)] if slope.has(sp.sign, sp.Abs) else [slope]
            roots = [r for side in dict.fromkeys(sides) for r in _roots(side, s)[:6]]
            for r in roots[:12]:
                scale = max(abs(r), mpmath.mpf(10) ** -12)
                for d in (0, 1e-6, -1e-6):
                    points.append(("extremum", {**base, s: r + d * scale}))
    return [(kind, p) for kind, p in points if _admissible(p, conditions)]


def check_identity(lhs_text: str, rhs_text: str, assume: str | None = None, *, seed: int = 0) -> Verdict:
    """lhs = rhs for every real value of the free symbols that satisfies the assumptions.

    Refuted at the first adversarial point (see adversarial_points) where the sides differ at 40 digits and
    still under SymPy's certified evaluation (cancellation cannot fake a difference), or where one side is
    defined and the other is not; verified symbolically where SymPy proves it, else numerically (labelled) when at least MIN_POINTS
    points were compared."""
    names = _names(lhs_text, rhs_text)
    plain = {n: sp.Symbol(n, real=True) for n in names}
    lhs = parse(lhs_text, plain, where="--lhs", functions=EXTENDED)
    rhs = parse(rhs_text, plain, where="--rhs", functions=EXTENDED)
    conditions = parse_assumptions(assume, plain)
    # symbolic: symbols carry the sign facts the assumptions give
    facts: dict[str, dict] = {n: {"real": True} for n in names}
    for sym, op, bound in conditions:
        if bound == 0 and op in (">", "<", ">=", "<="):
            facts[sym.name].update({">": {"positive": True}, "<": {"negative": True}, ">=": {"nonnegative": True},
                                    "<=": {"nonpositive": True}}[op])
    assumed = {plain[n]: sp.Symbol(n, **facts[n]) for n in names}
    symbols = list(plain.values())
    fns = [sp.lambdify(symbols, e, "mpmath") for e in (lhs, rhs)]
    points = adversarial_points((lhs, rhs), symbols, conditions, seed=seed)

    proved: list[bool] = []

    def compared():  # the critical points of the difference (a solve each) only once the others agree and
        yield from list(points)  # SymPy cannot prove the identity
        proved.append(_symbolic_zero((lhs - rhs).subs(assumed)))
        if not proved[0]:
            extra = extremum_points(lhs, rhs, symbols, conditions, seed=seed)
            points.extend(extra)
            yield from extra

    checked = unevaluable = 0
    for _, point in compared():
        a, b = (_evaluate(fn, point, DPS + 10) for fn in fns)
        if a is _UNEVALUABLE or b is _UNEVALUABLE:
            unevaluable += 1
            if unevaluable >= MAX_UNEVALUABLE:
                break
            continue
        if a is None and b is None:
            continue
        checked += 1
        if a is None or b is None or _differ(a, b):
            a, b = _confirm((lhs, rhs), point)  # cancellation at 40 digits can fake a difference
            if a is _UNEVALUABLE or b is _UNEVALUABLE:
                unevaluable += 1
                continue
        if a is None or b is None or _differ(a, b):
            return Verdict(REFUTED, f"{lhs} != {rhs}", "numeric (30 digits, confirmed by certified evaluation)",
                           {**{str(s): _num(x) for s, x in point.items()},
                            "lhs": "undefined or not real" if a is None else _num(a),
                            "rhs": "undefined or not real" if b is None else _num(b)})
    if proved[0] if proved else _symbolic_zero((lhs - rhs).subs(assumed)):
        return Verdict(VERIFIED, f"{lhs} = {rhs}", "symbolic")
    if checked < MIN_POINTS:
        return Verdict(UNDECIDED, f"only {checked} admissible points where either side is defined were found in "
                       f"{len(points)} tries ({unevaluable} too large to evaluate); a numeric verdict needs "
                       f"{MIN_POINTS}", "")
    near = sum(kind == "breakpoint" for kind, _ in points)
    peaks = sum(kind == "extremum" for kind, _ in points)
    return Verdict(VERIFIED, f"{lhs} = {rhs} at {checked} admissible points",
                   f"numeric (30 digits, {checked} points: magnitudes 1e-12 to 1e12, integers"
                   f"{f', {near} at or next to breakpoints' if near > 0 else ''}"
                   f"{f', {peaks} at or next to critical points of the difference' if peaks > 0 else ''}); "
                   f"SymPy could not prove it")


# ----------------------------------------------------------------------------------------------------- integral
INTEGRAL = sp.Function("integral")  # integral(g) in a claim: the integral over x of g(p(x), q(x))
QUAD_DPS = 20  # digits of the quadratures (a difference must exceed 1e-12 plus 1000 times their error estimates)
#: Density pairs (p, q) for integral claims: Gaussians (mean, sd) with different means and widths, close
#: enough that chi^2-type integrals are finite (q wider than p / sqrt(2) and the other way round).
DENSITY_PAIRS = (((0, 1), (sp.Rational(1, 2), sp.Rational(6, 5))),
                 ((sp.Rational(1, 3), sp.Rational(6, 5)), (0, 1)),
                 ((-sp.Rational(1, 2), 1), (sp.Rational(1, 2), 1)))


def _integral_form(expr: sp.Expr, q: sp.Symbol) -> sp.Expr:
    """sum_i c_i integral(g_i) + c  ->  the single integrand sum_i c_i g_i + c q (q integrates to 1)."""
    expr = sp.expand(expr)
    integrand, const = sp.S.Zero, sp.S.Zero
    for term in sp.Add.make_args(expr):
        calls = [f for f in sp.Mul.make_args(term) if isinstance(f, INTEGRAL)]
        if len(calls) == 1 and not (term / calls[0]).has(INTEGRAL):
            integrand += (term / calls[0]) * calls[0].args[0]
        elif not term.has(INTEGRAL):
            const += term
        else:
            raise ParseError("integral(...) may appear only linearly (a constant times integral(g))")
    return integrand + const * q


def check_integral(lhs_text: str, rhs_text: str, assume: str | None = None) -> Verdict:
    """lhs = rhs where each side is a linear combination of integral(g(p, q, params)) terms and constants, p and
    q densities: verified symbolically when the integrands agree pointwise (then so do the integrals; a
    constant c counts as c q), refuted when the two sides' quadratures (QUAD_DPS digits) differ by more than
    1e-12 plus 1000 times their error estimates for one of the DENSITY_PAIRS (at sampled parameter values),
    else verified numerically at every pair (labelled)."""
    names = _names(lhs_text, rhs_text)
    plain = {n: sp.Symbol(n, real=True) for n in names}
    for needed in ("p", "q"):
        plain.setdefault(needed, sp.Symbol(needed, real=True))
    functions = {**EXTENDED, "integral": (INTEGRAL, (1,))}
    lhs = parse(lhs_text, plain, where="--lhs", functions=functions)
    rhs = parse(rhs_text, plain, where="--rhs", functions=functions)
    conditions = parse_assumptions(assume, plain)
    p, q = plain["p"], plain["q"]
    g = _integral_form(lhs, q) - _integral_form(rhs, q)
    positive = {p: sp.Symbol("p", positive=True), q: sp.Symbol("q", positive=True)}
    params = [s for s in plain.values() if s not in (p, q)]
    for s in params:
        positive[s] = sp.Symbol(s.name, positive=True) if any(c[0] == s and c[1] in (">", ">=") and c[2] >= 0
                                                             for c in conditions) else s
    samples: list[dict] = [{}]
    if params:  # moderate values (an exponent alpha = 1e11 makes every quadrature overflow): three admissible ones
        values = [mpmath.mpf(v) for v in ("0.333333", "0.5", "0.666667", "1.5", "2", "3", "-0.5", "-2")]
        own = [cond for cond in conditions if cond[0] in params]
        ok = [v for v in values if _admissible({s: v for s in params}, own)]
        samples = [{s: v for s in params} for v in ok[:3]]
    sides = [sp.lambdify([p, q, *params], _integral_form(e, q), "mpmath") for e in (lhs, rhs)]
    cases = [(smp, pair) for smp in samples for pair in DENSITY_PAIRS]
    compared = 0
    # the first case before the symbolic attempt: a counterexample is cheap, SymPy's failure to simplify is not
    for k, (smp, ((mp_, sp_), (mq, sq))) in enumerate(cases):
        if k == 1 and _symbolic_zero(g.xreplace(positive)):
            return Verdict(VERIFIED, "the integrands agree pointwise (a constant c read as c q)", "symbolic")
        args = list(smp.values())
        with mpmath.workdps(QUAD_DPS):
            pd = lambda x: mpmath.npdf(x, mpmath.mpf(mp_), mpmath.mpf(sp_))  # noqa: E731
            qd = lambda x: mpmath.npdf(x, mpmath.mpf(mq), mpmath.mpf(sq))  # noqa: E731
            cuts = [-mpmath.inf, mpmath.mpf(mp_), mpmath.mpf(mq), mpmath.inf]
            try:
                (left, el), (right, er) = (mpmath.quad(lambda x: h(pd(x), qd(x), *args), cuts, error=True)
                                           for h in sides)
            except (ValueError, ZeroDivisionError, OverflowError, TypeError):
                continue
            if any(isinstance(v, mpmath.mpc) or not mpmath.isfinite(v) for v in (left, right)):
                continue
            compared += 1
            if abs(left - right) > mpmath.mpf(10) ** -12 + 1000 * (el + er):
                return Verdict(REFUTED, "the two integrals differ", f"numeric ({QUAD_DPS}-digit quadrature)",
                               {"p": f"N({mp_}, {_square(sp_)})", "q": f"N({mq}, {_square(sq)})",
                                **{str(s): mpmath.nstr(v, 6) for s, v in smp.items()},
                                "lhs": mpmath.nstr(left, 15), "rhs": mpmath.nstr(right, 15)})
    if len(cases) == 1 and _symbolic_zero(g.xreplace(positive)):
        return Verdict(VERIFIED, "the integrands agree pointwise (a constant c read as c q)", "symbolic")
    if compared < len(DENSITY_PAIRS):
        return Verdict(UNDECIDED, f"only {compared} density pairs could be integrated", "")
    return Verdict(VERIFIED, f"the integrals agree for {compared} pairs of Gaussian densities",
                   f"numeric ({QUAD_DPS}-digit quadrature, {compared} density pairs); the integrands differ pointwise")


def _square(s) -> str:
    return f"{s}^2" if sp.Integer(s) == s else f"({s})^2"


def require_symbolic(verdict: Verdict) -> Verdict:
    """--require-symbolic: a verification that rests on numbers alone becomes undecided (exit 3)."""
    if verdict.verdict == VERIFIED and not verdict.proved:
        return Verdict(UNDECIDED, f"no symbolic proof (--require-symbolic); numerically: {verdict.reason}",
                       verdict.method)
    return verdict


# ---------------------------------------------------------------------------------------------------- generator
def check_generator(d: Derivation, claim: sp.Expr) -> Verdict:
    """Does the claimed f generate the same divergence as d's f? D_f = D_g exactly when f - g = c (u - 1)
    (the integral of q (p/q - 1) is 0): (f - g)'' = 0 and (f - g)(1) = 0. A 30-digit probe runs first (a
    counterexample is cheap): simple ratios, magnitudes from 1e-12 to 1e12, and points at and next to each
    breakpoint of the claim's Abs/Max/Min/Piecewise; then the symbolic proof."""
    u = sp.Symbol("u", positive=True)
    g = claim.subs(sp.Symbol("u"), u) - d.f.subs(sp.Symbol("u", positive=True), u)
    c = sp.diff(g, u).subs(u, 1)
    fn = mp_function(g - c * (u - 1), u)
    claim_fn = mp_function(claim, sp.Symbol("u"))
    probes = [sp.Rational(1, 3), sp.Integer(3), sp.Rational(1, 10), sp.Integer(10)]
    probes += [sp.Integer(10) ** k for k in (-12, -6, -3, 3, 6, 12)]
    for switch in breakpoints(claim):
        if switch.free_symbols == {sp.Symbol("u")}:
            probes += [x for x in _near(switch, sp.Symbol("u")) if x > 0]
    for point in probes:
        y = real_value(fn, point)
        scale = real_value(claim_fn, point)
        if y is None or abs(y) > _TOL * max(1, abs(scale) if scale is not None else 1):
            return Verdict(REFUTED, f"f - ({d.f}) is not a multiple of u - 1, so D_f differs from {d.name}'s",
                           "numeric (30 digits)",
                           {"u": str(point), "claimed f(u)": _num(real_value(claim_fn, point)),
                            f"{d.name} f(u) + c (u - 1)": _num(real_value(mp_function(d.f + c * (u - 1), u), point))})
    if _symbolic_zero(sp.diff(g, u, 2)) and _symbolic_zero(g.subs(u, 1)):
        return Verdict(VERIFIED, f"f - ({d.f}) = c (u - 1): the same divergence as {d.name}", "symbolic")
    return Verdict(UNDECIDED, "SymPy could not decide, and no sample point separates them", "")
