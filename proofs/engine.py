"""The proof engine: a derivation is a chain of steps e0 = e1 <= e2 = ..., each with a justification.

* An equality step is checked symbolically: the difference, with integrals over x compared through their
  integrands (linearity; the integral of a declared density is 1), must simplify to 0 under the symbols'
  assumptions. When SymPy cannot decide, an integral-free step falls back to a 30-digit numeric comparison at
  random admissible points, and the report labels it so: a numeric check, never a proof.
* An inequality step names a lemma. The lemma's side conditions are checked (symbolically) and it supplies a
  gap g >= 0; the step holds when (right - left), for <=, equals weight * g with a weight that is non-negative
  by the symbols' assumptions (pointwise under an integral: monotonicity of the integral).

Named rewrites (for example a definition, or "identically distributed") are substitutions the step applies
before checking; the report lists them.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import mpmath
import sympy as sp

from fdiv.timelimit import attempt

DPS = 30
x = sp.Symbol("x", real=True)  # the variable integrals run over
E = sp.Function("E")  # an expectation, kept abstract: E(X)


@dataclass(frozen=True)
class Source:
    file: str  # a note file in the course notes, e.g. "004"
    section: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.file} {self.section}" + (f" (line {self.line})" if self.line else "")


def _expr(e) -> sp.Basic:
    """A proof's expressions are SymPy objects or Python ints (never strings)."""
    if isinstance(e, sp.MatrixBase):
        return sp.ImmutableMatrix(e)
    if isinstance(e, sp.Basic):
        return e
    if isinstance(e, int):
        return sp.Integer(e)
    raise TypeError(f"a proof step needs a SymPy expression or an int, got {type(e).__name__}")


def integral(g: sp.Expr, var: sp.Symbol = x) -> sp.Integral:
    return sp.Integral(g, (var, -sp.oo, sp.oo))


# --------------------------------------------------------------------------------------------------- lemmas
@dataclass
class Lemma:
    """A named inequality gap >= 0 with the side conditions it needs, each checked when the lemma is used."""
    name: str
    gap: sp.Expr
    conditions: list[tuple[str, Callable[[], bool]]] = field(default_factory=list)

    def check_conditions(self) -> list[str]:
        return [text for text, holds in self.conditions if not holds()]


def _nonneg(e: sp.Expr, var: sp.Symbol) -> bool:
    ok, out = attempt("checking a sign", lambda: sp.simplify(e).is_nonnegative, seconds=10)
    return ok and out is True


def concave(phi: Callable[[sp.Expr], sp.Expr], var: sp.Symbol) -> bool:
    """phi'' <= 0 for every value of var (var's assumptions give the interval)."""
    return _nonneg(-sp.diff(phi(var), var, 2), var)


def log_bound(y: sp.Expr) -> Lemma:
    """log y <= y - 1 for y > 0: h(y) = y - 1 - log y has h(1) = 0, h'(1) = 0 and h'' = 1/y^2 > 0."""
    s = sp.Symbol("y", positive=True)
    h = s - 1 - sp.log(s)
    return Lemma("log y <= y - 1", y - 1 - sp.log(y), [
        ("y > 0", lambda: bool(y.is_positive)),
        ("h(1) = 0", lambda: h.subs(s, 1) == 0),
        ("h'(1) = 0", lambda: sp.diff(h, s).subs(s, 1) == 0),
        ("h'' > 0 (h convex: its stationary point is its minimum)", lambda: bool(sp.diff(h, s, 2).is_positive)),
    ])


def jensen(phi: Callable[[sp.Expr], sp.Expr], mean_of_x: sp.Expr, mean_of_phi: sp.Expr, var: sp.Symbol,
           averaging: str) -> Lemma:
    """phi(E X) >= E phi(X) for concave phi (averaging over a probability distribution): gap
    phi(mean_of_x) - mean_of_phi, with phi's concavity on var's domain checked."""
    return Lemma(f"Jensen (concave {phi(var)}, {averaging})", phi(mean_of_x) - mean_of_phi,
                 [(f"{phi(var)} concave: d2/d{var}2 <= 0 for {var} in its domain", lambda: concave(phi, var))])


def fenchel_young(f: sp.Expr, f_star: sp.Expr, u_val: sp.Expr, t_val: sp.Expr, u: sp.Symbol, t: sp.Symbol,
                  proved: str) -> Lemma:
    """f(u) + f*(t) >= u t (the conjugate's definition as a supremum); `proved` says where f* was derived."""
    return Lemma("Fenchel-Young: f(u) + f*(t) >= u t", f.subs(u, u_val) + f_star.subs(t, t_val) - u_val * t_val,
                 [(f"f* is the exact conjugate of f ({proved})", lambda: True)])


def square(e: sp.Expr) -> Lemma:
    return Lemma("a square is non-negative", e**2)


# ---------------------------------------------------------------------------------------------------- steps
@dataclass
class Step:
    relation: str  # "=", "<=", ">="
    rhs: sp.Expr
    why: str
    lemma: Lemma | None = None
    weight: sp.Expr = sp.S.One
    rewrites: tuple[tuple[str, dict], ...] = ()


@dataclass
class StepResult:
    relation: str
    lhs: str
    rhs: str
    why: str
    method: str
    passed: bool
    detail: str = ""

    def to_json(self) -> dict:
        return self.__dict__.copy()


@dataclass
class ProofResult:
    title: str
    source: str
    statement: str
    steps: list[StepResult]

    @property
    def passed(self) -> bool:
        return all(s.passed for s in self.steps)

    def to_json(self) -> dict:
        return {"title": self.title, "source": self.source, "statement": self.statement, "passed": self.passed,
                "steps": [s.to_json() for s in self.steps]}


class Proof:
    """Proof(title, source, statement).start(e0).eq(e1, why).le(e2, lemma, why)..."""

    def __init__(self, title: str, source: Source, statement: str, *, densities: Sequence[sp.Expr] = (),
                 numeric: dict[sp.Symbol, tuple[float, float]] | None = None, var: sp.Symbol = x):
        self.title, self.source, self.statement = title, source, statement
        self.var = var  # integrals run over var
        self.densities = list(densities)  # p(x), q(x), ...: each integrates to 1
        self.numeric = numeric or {}  # symbol -> (low, high) for the numeric fallback; default from assumptions
        self.first: sp.Expr | None = None
        self.steps: list[Step] = []

    def start(self, e: sp.Expr) -> Proof:
        """Begin a chain (a proof may hold several, e.g. a first-order and a second-order condition)."""
        if self.first is None:
            self.first = _expr(e)
        else:
            self.steps.append(Step("start", _expr(e), ""))
        return self

    def eq(self, rhs, why: str, rewrites: Sequence[tuple[str, object]] = ()) -> Proof:
        """rewrites: (name, {old: new}) substitutions or (name, function) transformations, applied to both
        sides before checking."""
        self.steps.append(Step("=", _expr(rhs), why, rewrites=tuple(rewrites)))
        return self

    def ne(self, rhs, why: str) -> Proof:
        """left != right for closed numbers (an explicit counterexample): their difference at 30 digits."""
        self.steps.append(Step("!=", _expr(rhs), why))
        return self

    def fact(self, statement: str, holds: bool, method: str, detail: str = "") -> Proof:
        """A step established elsewhere (a limit, a sign, fdiv's own checks), reported with its method."""
        self.steps.append(Step("fact", sp.S.Zero, statement, rewrites=(("", {"holds": holds, "method": method,
                                                                            "detail": detail}),)))
        return self

    def le(self, rhs, lemma: Lemma, why: str = "", weight=sp.S.One) -> Proof:
        self.steps.append(Step("<=", _expr(rhs), why or lemma.name, lemma, _expr(weight)))
        return self

    def ge(self, rhs, lemma: Lemma, why: str = "", weight=sp.S.One) -> Proof:
        self.steps.append(Step(">=", _expr(rhs), why or lemma.name, lemma, _expr(weight)))
        return self

    # ------------------------------------------------------------------------------------------ checking
    def check(self) -> ProofResult:
        results, lhs = [], self.first
        for step in self.steps:
            if step.relation == "start":
                lhs = step.rhs
                continue
            if step.relation == "fact":
                info = step.rewrites[0][1]
                results.append(StepResult("fact", "", "", step.why, info["method"], bool(info["holds"]),
                                          info["detail"]))
                continue
            results.append(self._check_step(lhs, step))
            lhs = step.rhs
        return ProofResult(self.title, str(self.source), self.statement, results)

    def _check_step(self, lhs: sp.Expr, step: Step) -> StepResult:
        out = StepResult(step.relation, str(lhs), str(step.rhs), step.why, "", False)
        a, b = lhs, step.rhs
        for _, rule in step.rewrites:
            a, b = (rule(a), rule(b)) if callable(rule) else (a.subs(rule), b.subs(rule))
        if step.rewrites:
            out.why += " [rewrites: " + "; ".join(name for name, _ in step.rewrites) + "]"
        if step.relation == "!=":
            if (a - b).free_symbols:
                out.method, out.detail = "exact constants", "the sides are not closed numbers"
                return out
            value = sp.N(a - b, DPS)
            out.method, out.passed = f"exact constants, difference {sp.N(value, 6)} at {DPS} digits", value != 0
            return out
        if step.relation == "=" and isinstance(a - b, sp.MatrixBase):
            out.method, out.passed = "symbolic (entrywise)", all(_is_zero(entry) for entry in (a - b))
            if not out.passed:
                out.detail = f"not shown to be 0: {sp.simplify(a - b)}"
            return out
        if step.relation == "=":
            residual, pointwise = self._difference(a - b)
            if _is_zero(residual) and _is_zero(pointwise):
                out.method, out.passed = "symbolic", True
                return out
            if (a - b).has(sp.Integral, E):
                out.method, out.detail = "symbolic", f"not shown to be 0: {sp.simplify(residual + pointwise)}"
                return out
            out.method, out.passed, out.detail = self._numeric(a - b)
            return out
        lemma = step.lemma
        failed = lemma.check_conditions()
        if failed:
            out.method, out.detail = "lemma", "side condition not shown: " + "; ".join(failed)
            return out
        gap = b - a if step.relation == "<=" else a - b
        residual, pointwise = self._difference(gap)
        ok_weight = step.weight.is_nonnegative is True
        if not ok_weight:
            out.method, out.detail = "lemma", f"weight {step.weight} not shown to be >= 0"
            return out
        if pointwise != 0 and not lemma.gap.has(sp.Integral, E):
            # under the integral: the gap holds pointwise, then monotonicity of the integral
            lem_res, lem_pt = self._difference(integral(step.weight * lemma.gap, self.var))
            matches = _is_zero(residual - lem_res) and _is_zero(pointwise - lem_pt)
            out.why += " (pointwise, then monotonicity of the integral)"
        elif gap.has(E) and not lemma.gap.has(E):
            # inside an expectation: the gap holds for every draw, then monotonicity of E
            rest, inside = _collect_expectations(gap)
            matches = _is_zero(rest) and _is_zero(inside - step.weight * lemma.gap)
            out.why += " (for every draw, then monotonicity of the expectation)"
        else:
            lem_res, lem_pt = self._difference(step.weight * lemma.gap)
            matches = _is_zero(residual - lem_res) and _is_zero(pointwise - lem_pt)
        out.method = f"lemma: {lemma.name}"
        out.passed = matches
        if not matches:
            out.detail = f"the step's gap is not {step.weight} * ({lemma.gap})"
        return out

    def _difference(self, e: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
        """e = residual + integral of `pointwise` (integrals merged through their integrands)."""
        e = self.normalise(sp.expand(e))
        pointwise, residual = sp.S.Zero, sp.S.Zero
        for term in sp.Add.make_args(e):
            ints = [f for f in sp.Mul.make_args(term) if isinstance(f, sp.Integral)]
            if len(ints) != 1:
                residual += term
                continue
            coeff = sp.Mul(*[f for f in sp.Mul.make_args(term) if not isinstance(f, sp.Integral)])
            integrand = ints[0].function.replace(lambda z: isinstance(z, sp.log),
                                                 lambda z: sp.log(sp.factor(z.args[0])))
            # the integral of a declared density is 1, and of c * density is c
            parts = sp.Add.make_args(sp.expand(sp.expand_log(integrand)))
            for part in parts:
                c, rest = part.as_independent(self.var, as_Add=False)
                if rest in self.densities:
                    residual += coeff * c
                else:
                    pointwise += coeff * part
        return residual, pointwise

    def normalise(self, e: sp.Expr) -> sp.Expr:
        """The integral of a declared density is 1 (wherever it occurs, e.g. inside f(...))."""
        return e.replace(lambda z: isinstance(z, sp.Integral) and z.function in self.densities, lambda z: sp.S.One)

    def _numeric(self, diff: sp.Expr) -> tuple[str, bool, str]:
        symbols = sorted(diff.free_symbols, key=str)
        fn = sp.lambdify(symbols, diff, "mpmath")
        rng = random.Random(0)
        checked = 0
        for _ in range(200):
            point = [self._draw(s, rng) for s in symbols]
            with mpmath.workdps(DPS + 10):
                try:
                    y = fn(*[mpmath.mpf(v) for v in point])
                except (ValueError, ZeroDivisionError, OverflowError):
                    continue
                if isinstance(y, mpmath.mpc):
                    y = y.real if abs(y.imag) < mpmath.mpf(10) ** -DPS else mpmath.inf
                if not mpmath.isfinite(y):
                    continue
                checked += 1
                if abs(y) > mpmath.mpf(10) ** (-DPS + 8):
                    at = ", ".join(f"{s} = {v:.6g}" for s, v in zip(symbols, point))
                    return f"numeric ({DPS} digits)", False, f"left - right = {mpmath.nstr(y, 8)} at {at}"
            if checked >= 20:
                break
        if checked == 0:
            return "numeric", False, "no admissible point could be evaluated"
        return f"numeric ({DPS} digits, {checked} points); SymPy could not decide", True, ""

    def _draw(self, s: sp.Symbol, rng: random.Random) -> float:
        if s in self.numeric:
            lo, hi = self.numeric[s]
            return rng.uniform(lo, hi)
        mag = 10 ** rng.uniform(-1.5, 1.5)
        if s.is_positive:
            return mag
        if s.is_negative:
            return -mag
        return rng.choice((-1, 1)) * mag


def gaussian(var: sp.Symbol, mean: sp.Expr, variance: sp.Expr) -> sp.Expr:
    return sp.exp(-(var - mean) ** 2 / (2 * variance)) / sp.sqrt(2 * sp.pi * variance)


def gaussian_kl(m1, v1, m2, v2, var: sp.Symbol = x) -> sp.Expr:
    """KL(N(m1, v1) || N(m2, v2)) by SymPy's integration of p log(p/q) (the log-ratio is a polynomial in var)."""
    log_ratio = sp.expand(sp.expand_log(sp.log(gaussian(var, m1, v1) / gaussian(var, m2, v2)), force=True))
    kl = sp.integrate(sp.expand(gaussian(var, m1, v1) * log_ratio), (var, -sp.oo, sp.oo), conds="none")
    return sp.simplify(kl.rewrite(sp.erf))  # erf(a) + erfc(a) = 1 only shows after the rewrite


def identically_distributed(op, index: sp.Symbol) -> tuple[str, Callable[[sp.Expr], sp.Expr]]:
    """op(Y_i) -> op(Y_1) for every i (op = E or Var of identically distributed draws), then sums are done."""
    return (f"identically distributed: {op}(Y_{index}) = {op}(Y_1)",
            lambda e: e.replace(lambda y: isinstance(y, op), lambda y: op(y.args[0].subs(index, 1))).doit())


def _collect_expectations(e: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """e = rest + E(inside), merging c E(a) + d E(b) into E(c a + d b) (c, d constants)."""
    rest, inside = sp.S.Zero, sp.S.Zero
    for term in sp.Add.make_args(sp.expand(e)):
        exps = [f for f in sp.Mul.make_args(term) if isinstance(f, E)]
        if len(exps) == 1:
            inside += term / exps[0] * exps[0].args[0]
        else:
            rest += term
    return rest, inside


def _random_part(e: sp.Expr, random_atoms) -> bool:
    return any(e.has(a) for a in random_atoms)


def linearity(random_atoms: Sequence) -> Callable[[sp.Expr], sp.Expr]:
    """E(a X + b Y + c) -> a E(X) + b E(Y) + c and E(Sum(X_t, (t, 1, T))) -> Sum(E(X_t), ...), where a, b, c do
    not involve the random atoms (applied functions such as w(i), X(t), eps)."""
    def split(arg: sp.Expr) -> sp.Expr:
        arg = sp.expand(arg)
        if isinstance(arg, sp.Sum):
            return sp.Sum(split(arg.function), *arg.limits)
        out = sp.S.Zero
        for term in sp.Add.make_args(arg):
            const = sp.Mul(*[f for f in sp.Mul.make_args(term) if not _random_part(f, random_atoms)])
            rand = term / const
            if rand == 1:
                out += const
            elif isinstance(rand, sp.Sum):
                out += const * sp.Sum(split(rand.function), *rand.limits)
            else:
                out += const * E(rand)
        return out

    def rule(e: sp.Expr) -> sp.Expr:
        return e.replace(lambda z: isinstance(z, E), lambda z: split(z.args[0]))
    return rule


def _is_zero(e: sp.Expr) -> bool:
    if e == 0:
        return True
    for transform in (sp.simplify, lambda z: sp.simplify(sp.expand_log(sp.expand(z)))):
        ok, out = attempt("simplifying a proof step", transform, e, seconds=15)
        if ok and out == 0:
            return True
    return False
