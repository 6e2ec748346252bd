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

    def to_json(self) -> dict:
        return {"verdict": self.verdict, "counterexample": self.counterexample, "reason": self.reason,
                "method": self.method}

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


def _domain_points(d: Derivation) -> list[sp.Expr]:
    """Points inside each branch of f* on dom f*: the branch ends cut dom f* into intervals."""
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
    for lo, hi in zip(cuts, cuts[1:]):
        inside = [x for x in simple if (lo == -sp.oo or x > lo) and (hi == sp.oo or x < hi)]
        points += inside[:8] + sample_points(lo, hi, 16)
    for end, closed in ((dom.lower, dom.lower_closed), (dom.upper, dom.upper_closed)):
        if closed:
            points.append(end)
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
        for t in _domain_points(dd):
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


def _confirm(fns, point: dict) -> tuple:
    with mpmath.workdps(120):
        out = []
        for fn in fns:
            try:
                y = fn(*[mpmath.mpf(v) for v in point.values()])
            except (ValueError, ZeroDivisionError, OverflowError):
                y = None
            if isinstance(y, mpmath.mpc):
                y = y.real if abs(y.imag) <= _TOL * (1 + abs(y.real)) else None
            out.append(y if y is None or mpmath.isfinite(y) else None)
    return tuple(out)


def _admissible(point: dict, conditions) -> bool:
    for sym, op, bound in conditions:
        x, b = point[sym], to_mpf(bound)
        if not {">": x > b, ">=": x >= b, "<": x < b, "<=": x <= b, "!=": x != b}[op]:
            return False
    return True


def check_identity(lhs_text: str, rhs_text: str, assume: str | None = None, *, points: int = 40,
                   seed: int = 0) -> Verdict:
    """lhs = rhs for every real value of the free symbols that satisfies the assumptions."""
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
    # numeric first (a counterexample is cheap and decisive): admissible points drawn at random (log-uniform
    # magnitudes), 30 digits; then the symbolic proof
    rng = random.Random(seed)
    fns = [sp.lambdify(list(plain.values()), e, "mpmath") for e in (lhs, rhs)]
    checked = tries = 0
    while checked < points and tries < 50 * points:
        tries += 1
        with mpmath.workdps(DPS + 10):
            point = {s: mpmath.mpf(rng.choice((-1, 1)) * 10 ** rng.uniform(-2, 2)) for s in plain.values()}
            if not _admissible(point, conditions):
                continue
            values = []
            for fn in fns:
                try:
                    y = fn(*point.values())
                except (ValueError, ZeroDivisionError, OverflowError):
                    y = None
                if isinstance(y, mpmath.mpc):
                    y = y.real if abs(y.imag) <= _TOL * (1 + abs(y.real)) else None
                values.append(y if y is None or mpmath.isfinite(y) else None)
        a, b = values
        if a is None and b is None:
            continue
        checked += 1
        if a is None or b is None or _differ(a, b):
            a, b = _confirm(fns, point)  # cancellation at 40 digits can fake a difference: re-evaluate at 120
        if a is None or b is None or _differ(a, b):
            return Verdict(REFUTED, f"{lhs} != {rhs}", "numeric (30 digits)",
                           {**{str(s): _num(x) for s, x in point.items()},
                            "lhs": "undefined or not real" if a is None else _num(a),
                            "rhs": "undefined or not real" if b is None else _num(b)})
    if _symbolic_zero((lhs - rhs).subs(assumed)):
        return Verdict(VERIFIED, f"{lhs} = {rhs}", "symbolic")
    if checked < MIN_POINTS:
        return Verdict(UNDECIDED, f"only {checked} admissible points where either side is defined were found in "
                       f"{tries} draws; a numeric verdict needs {MIN_POINTS}", "")
    return Verdict(VERIFIED, f"{lhs} = {rhs} at {checked} admissible points",
                   f"numeric (30 digits, {checked} points); SymPy could not prove it")


# ---------------------------------------------------------------------------------------------------- generator
def check_generator(d: Derivation, claim: sp.Expr) -> Verdict:
    """Does the claimed f generate the same divergence as d's f? D_f = D_g exactly when f - g = c (u - 1)
    (the integral of q (p/q - 1) is 0): (f - g)'' = 0 and (f - g)(1) = 0. A 30-digit probe at four points runs
    first (a counterexample is cheap), then the symbolic proof."""
    u = sp.Symbol("u", positive=True)
    g = claim.subs(sp.Symbol("u"), u) - d.f.subs(sp.Symbol("u", positive=True), u)
    c = sp.diff(g, u).subs(u, 1)
    fn = mp_function(g - c * (u - 1), u)
    for point in (sp.Rational(1, 3), 3, sp.Rational(1, 10), 10):
        y = real_value(fn, point)
        if y is None or abs(y) > _TOL:
            return Verdict(REFUTED, f"f - ({d.f}) is not a multiple of u - 1, so D_f differs from {d.name}'s",
                           "numeric (30 digits)",
                           {"u": str(point), "claimed f(u)": _num(real_value(mp_function(claim, sp.Symbol("u")), point)),
                            f"{d.name} f(u) + c (u - 1)": _num(real_value(mp_function(d.f + c * (u - 1), u), point))})
    if _symbolic_zero(sp.diff(g, u, 2)) and _symbolic_zero(g.subs(u, 1)):
        return Verdict(VERIFIED, f"f - ({d.f}) = c (u - 1): the same divergence as {d.name}", "symbolic")
    return Verdict(UNDECIDED, "SymPy could not decide, and no sample point separates them", "")
