"""The proof engine: a derivation is a chain of steps e0 = e1 <= e2 = ..., each with a justification.

A topic module builds `Proof` objects and returns them from `proofs()`; `proofs/__init__.py` lists the topic
modules in TOPICS (one line per topic). A proof is built by chaining:

    Proof(title, Source("004", "4.5 IWAE", 1148), statement, densities=[q], var=z)
        .start(e0)                      # begin a chain (a proof may hold several)
        .eq(e1, "why", rewrites=[...])  # e0 = e1: symbolic, or numeric at 30 digits when SymPy cannot decide
        .le(e2, lemma, "why", weight=w) # e1 <= e2: e2 - e1 = w * lemma.gap with w >= 0 (pointwise under
                                        #   an integral or an expectation), and the lemma's side conditions hold
        .ne(e3, "why")                  # two closed numbers differ (a counterexample)
        .limit(expr, var, point, value, "why")   # lim expr = value (SymPy's limit)
        .sign(expr, ">=", "why")        # expr >= 0 under the symbols' assumptions
        .computed(label, fn, rhs, "why", method=..., tol=...)   # a value computed by code (a small exact model,
                                        #   a quadrature, a torch module) compared with the formula rhs
        .assume("statement", "why")     # a hypothesis or cited theorem: reported and counted as an assumption

How each step is checked:

* Equality: the difference, with integrals over `var` compared through their integrands (linearity; the
  integral of a declared density is 1; `definitions` such as p(x) = integral of p(x, z) dz; Fubini for an
  integrand that is a product of functions of separate variables), must simplify to 0 under the symbols'
  assumptions. Matrix expressions (MatrixSymbol) are compared after expanding products, cancelling inverses,
  using the cyclic property of the trace and the symmetry of 1x1 products. When SymPy cannot decide, an
  integral-free step falls back to a 30-digit comparison at >= 20 admissible random points and is labelled
  *numeric*; points where a side cannot be evaluated are skipped and counted by reason, and a point where
  the difference is complex although every symbol is real fails the step (a domain error).
* Inequality: the lemma's side conditions (`Condition`) are checked first. Each is a real check on a subject
  (a sign, convexity from the second derivative, an equality, another proof in this report passing) or a
  `hypothesis`: a hypothesis is not checked, and the step is reported and counted as resting on an assumption.
* Rewrites: (name, {old: new}) substitutions or (name, function) transformations applied to both sides; the
  report lists them. They are for definitions and standard rules (linearity of E, identically distributed
  draws), never for the step's own claim.

Helpers for steps: `integral(g, var)`, the abstract expectation `E(...)` with the rewrites `linearity(atoms)`
and `identically_distributed(E, index)`, and the conditions `positive`, `nonnegative`, `real`, `convex`,
`concave`, `strictly_convex_at`, `equal`, `proved` (another proof passes) and `hypothesis` (counted as an
assumption); named lemmas live in `proofs.lemmas`, Gaussian moments in `proofs.gaussian`.

The result of `Proof.check()` is a `ProofResult` with one `StepResult` per step (`Proof.result()` caches it;
`Proof.check_step(i)` checks one step); `summary()` counts proofs, steps, numeric steps and assumptions.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import mpmath
import sympy as sp
from sympy.core.function import AppliedUndef

from fdiv._util.timelimit import attempt

from .algebra import expand_log_safe, is_zero, matrix_zero, second_derivative_sign, sign_holds

from .numeric import DPS, numeric_zero

STEP_SECONDS = 60  # time limit of one step's check (its SymPy calls have their own, shorter limits)
x = sp.Symbol("x", real=True)  # the default variable integrals run over
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


# ------------------------------------------------------------------------------------------------ conditions
@dataclass
class Condition:
    """A side condition of a lemma: a real check on `subject`, or a hypothesis (not checked, counted as an
    assumption). `mutated()` returns the condition on a changed subject, which the check must reject."""
    text: str
    kind: str  # positive, nonnegative, real, convex, concave, strictly_convex_at, zero, proof, hypothesis
    subject: object = None
    var: sp.Symbol | None = None
    at: sp.Expr | None = None

    @property
    def assumption(self) -> bool:
        return self.kind == "hypothesis"

    def check(self) -> tuple[bool, str]:
        k, s = self.kind, self.subject
        if k == "hypothesis":
            return True, "assumption"
        if k in ("positive", "nonnegative"):
            return sign_holds(s, ">" if k == "positive" else ">="), "symbolic sign"
        if k == "real":
            return s.is_real is True, "symbol assumptions"
        if k in ("convex", "concave"):
            return second_derivative_sign(s, self.var, ">=" if k == "convex" else "<=")
        if k == "strictly_convex_at":
            return sign_holds(sp.diff(s, self.var, 2).subs(self.var, self.at), ">"), "symbolic sign"
        if k == "zero":
            if is_zero(s):
                return True, "symbolic"
            method, ok, _ = numeric_zero(s) if not isinstance(s, (sp.MatrixBase, sp.MatrixExpr)) else \
                ("", False, "")
            return ok, method
        if k == "proof":
            result = _proof_result(s)
            return result.passed, f"the proof '{result.title}' passes"
        raise ValueError(k)

    def mutated(self) -> Condition:
        k, s = self.kind, self.subject
        if k in ("positive", "nonnegative", "convex", "concave", "strictly_convex_at"):
            return Condition(self.text, k, -s, self.var, self.at)
        if k == "real":
            return Condition(self.text, k, sp.I * (1 + sp.Abs(s)), self.var)
        if k == "zero":
            return Condition(self.text, k, s + 1, self.var)
        if k == "proof":
            return Condition(self.text, k, lambda: _mutate_proof(s()), self.var)
        return self


def positive(e: sp.Expr, text: str | None = None) -> Condition:
    return Condition(text or f"{e} > 0", "positive", e)


def nonnegative(e: sp.Expr, text: str | None = None) -> Condition:
    return Condition(text or f"{e} >= 0", "nonnegative", e)


def real(e: sp.Expr, text: str | None = None) -> Condition:
    return Condition(text or f"{e} is real", "real", e)


def convex(e: sp.Expr, var: sp.Symbol, text: str | None = None) -> Condition:
    return Condition(text or f"{e} convex in {var}", "convex", e, var)


def concave(e: sp.Expr, var: sp.Symbol, text: str | None = None) -> Condition:
    return Condition(text or f"{e} concave in {var}", "concave", e, var)


def strictly_convex_at(e: sp.Expr, var: sp.Symbol, at: sp.Expr, text: str | None = None) -> Condition:
    return Condition(text or f"{e}'' > 0 at {var} = {at}", "strictly_convex_at", e, var, at)


def equal(a: sp.Basic, b: sp.Basic, text: str | None = None) -> Condition:
    return Condition(text or f"{a} = {b}", "zero", _expr(a) - _expr(b))


def proved(factory: Callable[[], Proof], text: str | None = None) -> Condition:
    """The lemma is another proof of this report; the condition checks that it passes."""
    return Condition(text or "proved above", "proof", factory)


def hypothesis(text: str) -> Condition:
    return Condition(text, "hypothesis")


def _proof_result(factory: Callable[[], Proof]) -> ProofResult:
    return factory().result()


def _mutate_proof(proof: Proof) -> Proof:
    """The proof with its first checkable step's right-hand side changed (it must then fail)."""
    out = Proof(proof.title, proof.source, proof.statement, densities=proof.densities, numeric=proof.numeric,
                var=proof.var, definitions=proof.definitions)
    out.first, out.steps = proof.first, list(proof.steps)
    for i, step in enumerate(out.steps):
        if step.relation in CHECKABLE:
            out.steps[i] = mutate_step(step)
            break
    return out


# --------------------------------------------------------------------------------------------------- lemmas
@dataclass
class Lemma:
    """A named inequality gap >= 0 with the side conditions it needs, each checked when the lemma is used."""
    name: str
    gap: sp.Expr
    conditions: list[Condition] = field(default_factory=list)

    def check_conditions(self) -> tuple[list[str], list[str], list[str]]:
        """(failed, assumptions, methods)."""
        failed, assumed, methods = [], [], []
        for c in self.conditions:
            if c.assumption:
                assumed.append(c.text)
                continue
            ok, how = c.check()
            (methods if ok else failed).append(f"{c.text} [{how}]" if ok else c.text)
        return failed, assumed, methods


# ---------------------------------------------------------------------------------------------------- steps
CHECKABLE = ("=", "<=", ">=", "!=", "limit", "sign", "computed")


@dataclass
class Step:
    relation: str  # "=", "<=", ">=", "!=", "limit", "sign", "computed", "assume", "start"
    rhs: sp.Basic
    why: str
    lemma: Lemma | None = None
    weight: sp.Expr = sp.S.One
    rewrites: tuple = ()
    lhs: sp.Basic | None = None  # steps that carry their own left side (limit, sign, computed)
    extra: dict = field(default_factory=dict)


def mutate_step(step: Step) -> Step:
    """step with its right-hand side changed (+1; -1 for <=, the wrong way), for the mutation tests."""
    out = Step(**{k: getattr(step, k) for k in step.__dataclass_fields__})
    rhs = step.rhs
    if isinstance(rhs, sp.MatrixBase):
        out.rhs = rhs + sp.ones(*rhs.shape)
    elif isinstance(rhs, sp.MatrixExpr):
        out.rhs = rhs + sp.OneMatrix(*rhs.shape)
    elif step.relation == "sign":
        # e >= 0 becomes -e - 1 >= 0, which no e >= 0 satisfies (and e <= 0 becomes -e + 1 <= 0)
        out.lhs = -step.lhs - 1 if step.extra["rel"] in (">=", ">") else -step.lhs + 1
    elif step.relation == "!=":
        out.extra = {**step.extra, "same_as_left": True}
    elif step.relation == "computed" and step.extra["rel"] != "=":
        out.extra = {**step.extra, "rel": {">=": "<", "<=": ">"}[step.extra["rel"]]}
    elif rhs.is_infinite:
        out.rhs = sp.S.Zero
    else:
        out.rhs = rhs - 1 if step.relation == "<=" else rhs + 1
    return out


@dataclass
class StepResult:
    """One checked step. The sides are kept as SymPy objects and printed (str, LaTeX) only when a report
    asks for them."""
    relation: str
    left: object
    right: object
    why: str
    method: str
    passed: bool
    detail: str = ""
    assumptions: list[str] = field(default_factory=list)
    continues: bool = False  # the left side is the previous step's right side

    @property
    def lhs(self) -> str:
        return self.left if isinstance(self.left, str) else str(self.left)

    @property
    def rhs(self) -> str:
        return self.right if isinstance(self.right, str) else str(self.right)

    @property
    def lhs_latex(self) -> str:
        return latex(self.left)

    @property
    def rhs_latex(self) -> str:
        return latex(self.right)

    @property
    def numeric(self) -> bool:
        return "numeric" in self.method

    def to_json(self) -> dict:
        return {"relation": self.relation, "lhs": self.lhs, "rhs": self.rhs, "why": self.why, "method": self.method,
                "passed": self.passed, "detail": self.detail, "assumptions": self.assumptions}


@dataclass
class ProofResult:
    title: str
    source: str
    statement: str
    steps: list[StepResult]
    topic: str = ""

    @property
    def passed(self) -> bool:
        return bool(self.steps) and all(s.passed for s in self.steps)

    def to_json(self) -> dict:
        return {"title": self.title, "source": self.source, "statement": self.statement, "topic": self.topic,
                "passed": self.passed, "steps": [s.to_json() for s in self.steps]}


def summary(results: Sequence[ProofResult]) -> dict[str, int]:
    steps = [s for r in results for s in r.steps]
    return {"proofs": len(results), "passed": sum(r.passed for r in results), "steps": len(steps),
            "numeric": sum(s.numeric for s in steps), "assumptions": sum(bool(s.assumptions) for s in steps)}


def latex(e) -> str:
    if isinstance(e, str):
        return e
    return sp.latex(e)


class Proof:
    """Proof(title, source, statement).start(e0).eq(e1, why).le(e2, lemma, why)... (see the module docstring)."""

    def __init__(self, title: str, source: Source, statement: str, *, densities: Sequence[sp.Expr] = (),
                 numeric: dict[sp.Symbol, tuple[float, float]] | None = None, var: sp.Symbol = x,
                 definitions: dict | None = None):
        self.title, self.source, self.statement = title, source, statement
        self.var = var  # integrals run over var
        self.densities = list(densities)  # p(x), q(x), ...: each integrates to 1
        self.numeric = numeric or {}  # symbol -> (low, high) for the numeric fallback; default from assumptions
        self.definitions = dict(definitions or {})  # e.g. {integral(p_xz, z): p_x}: the marginal's definition
        self.first: sp.Basic | None = None
        self.steps: list[Step] = []

    # ------------------------------------------------------------------------------------------ building
    def start(self, e) -> Proof:
        """Begin a chain (a proof may hold several, e.g. a first-order and a second-order condition)."""
        if self.first is None and not self.steps:
            self.first = _expr(e)
        else:
            self.steps.append(Step("start", _expr(e), ""))
        return self

    def eq(self, rhs, why: str, rewrites: Sequence[tuple[str, object]] = (),
           cites: Sequence[Callable[[], Proof]] = ()) -> Proof:
        """rewrites: (name, {old: new}) substitutions or (name, function) transformations, applied to both
        sides before checking (definitions, standard rules, and results of the proofs in `cites`, each of
        which must pass)."""
        self.steps.append(Step("=", _expr(rhs), why, rewrites=tuple(rewrites), extra={"cites": tuple(cites)}))
        return self

    def ne(self, rhs, why: str) -> Proof:
        """left != right for closed numbers (an explicit counterexample): their difference at 30 digits."""
        self.steps.append(Step("!=", _expr(rhs), why))
        return self

    def le(self, rhs, lemma: Lemma, why: str = "", weight=sp.S.One, rewrites: Sequence = ()) -> Proof:
        self.steps.append(Step("<=", _expr(rhs), why or lemma.name, lemma, _expr(weight), tuple(rewrites)))
        return self

    def ge(self, rhs, lemma: Lemma, why: str = "", weight=sp.S.One, rewrites: Sequence = ()) -> Proof:
        self.steps.append(Step(">=", _expr(rhs), why or lemma.name, lemma, _expr(weight), tuple(rewrites)))
        return self

    def limit(self, expr, var: sp.Symbol, point, value, why: str) -> Proof:
        self.steps.append(Step("limit", _expr(value), why, lhs=_expr(expr), extra={"var": var, "point": point}))
        return self

    def sign(self, expr, rel: str, why: str) -> Proof:
        """expr rel 0 (rel in >=, >, <=, <) under the symbols' assumptions."""
        self.steps.append(Step("sign", sp.S.Zero, why, lhs=_expr(expr), extra={"rel": rel}))
        return self

    def computed(self, label: str, compute: Callable[[], object], rhs, why: str, *, method: str,
                 tol: float = 0.0, relation: str = "=") -> Proof:
        """A value computed by code (an exact model, a quadrature, a torch module) against the formula rhs:
        relation "=" exactly (tol = 0) or to a relative tolerance tol; "<=" or ">=" at 30 digits. method names
        how the value was computed; it says 'numeric' when the value is a floating-point approximation."""
        self.steps.append(Step("computed", _expr(rhs), why, extra={"compute": compute, "tol": tol, "method": method,
                                                                  "rel": relation, "label": label}))
        return self

    def assume(self, statement: str, why: str) -> Proof:
        """A hypothesis or a cited theorem: not checked; reported and counted as an assumption."""
        self.steps.append(Step("assume", sp.S.Zero, why, extra={"statement": statement}))
        return self

    # ------------------------------------------------------------------------------------------ checking
    def result(self) -> ProofResult:
        """check(), once per proof object (proofs that cite this one reuse the result)."""
        if getattr(self, "_result", None) is None or self._result[0] != len(self.steps):
            self._result = (len(self.steps), self.check())
        return self._result[1]

    def check_step(self, index: int, step: Step | None = None) -> StepResult:
        """Step `index` alone (or `step` in its place, e.g. a mutated one), with its chain's left side."""
        lhs = self.first
        for earlier in self.steps[:index]:
            if earlier.relation == "start" or earlier.relation in ("=", "<=", ">=", "!="):
                lhs = earlier.rhs
        step = step or self.steps[index]
        return self._guarded(step, None if step.relation in ("limit", "sign", "computed", "assume") else lhs)

    def check(self) -> ProofResult:
        results: list[StepResult] = []
        lhs, continues = self.first, False
        for step in self.steps:
            if step.relation == "start":
                lhs, continues = step.rhs, False
                continue
            if step.relation in ("limit", "sign", "computed", "assume"):
                results.append(self._guarded(step, None))
                continue
            result = self._guarded(step, lhs)
            result.continues = continues
            results.append(result)
            lhs, continues = step.rhs, True
        return ProofResult(self.title, str(self.source), self.statement, results)

    def _guarded(self, step: Step, lhs) -> StepResult:
        """A step's check under a time limit (rewrites and conditions may call heavy SymPy): a step that runs
        past it fails with the reason."""
        check = self._check_standalone if lhs is None else lambda st: self._check_step(lhs, st)
        ok, out = attempt("checking a proof step", check, step, seconds=STEP_SECONDS)
        if ok:
            return out
        return StepResult(step.relation, lhs if lhs is not None else step.extra.get("label", step.lhs) or "",
                          step.rhs, step.why, "not decided", False, detail=str(out))

    def _check_standalone(self, step: Step) -> StepResult:
        if step.relation == "assume":
            text = step.extra["statement"]
            return StepResult("assume", text, "", step.why, "assumption", True, assumptions=[text])
        if step.relation == "limit":
            var, point = step.extra["var"], step.extra["point"]
            shown = sp.Limit(step.lhs, var, point)
            out = StepResult("=", shown, step.rhs, step.why, "symbolic limit", False)
            ok, value = attempt("a limit in a proof", sp.limit, step.lhs, var, point, seconds=20)
            out.passed = ok and (value == step.rhs or (value.is_finite is True and step.rhs.is_finite is True
                                                       and is_zero(value - step.rhs)))
            if not out.passed:
                out.detail = f"the limit is {value}" if ok else str(value)
            return out
        if step.relation == "sign":
            rel = step.extra["rel"]
            out = StepResult(rel, step.lhs, sp.S.Zero, step.why, "symbolic sign", False)
            out.passed = sign_holds(step.lhs, rel)
            if not out.passed:
                out.detail = f"{step.lhs} {rel} 0 not shown"
            return out
        # computed
        method, tol, rel = step.extra["method"], step.extra["tol"], step.extra["rel"]
        out = StepResult(rel, step.extra["label"], step.rhs, step.why, method, False)
        value = step.extra["compute"]()
        if rel == "=":
            out.passed, out.detail = _compare_computed(value, step.rhs, tol)
        else:
            with mpmath.workdps(DPS + 10):
                diff = sp.N(_expr(value) - step.rhs, DPS) if not isinstance(value, mpmath.mpf) else \
                    value - mpmath.mpf(sp.N(step.rhs, DPS + 10))
                out.passed = bool({">=": diff >= 0, "<=": diff <= 0, ">": diff > 0, "<": diff < 0}[rel])
                out.detail = f"computed - formula = {sp.N(diff, 8) if isinstance(diff, sp.Basic) else mpmath.nstr(diff, 8)}"
        return out

    def _check_step(self, lhs: sp.Basic, step: Step) -> StepResult:
        out = StepResult(step.relation, lhs, step.rhs, step.why, "", False)
        for factory in step.extra.get("cites", ()):
            cited = _proof_result(factory)
            if not cited.passed:
                out.method, out.detail = "cited proof", f"the cited proof '{cited.title}' does not pass"
                return out
            out.why += f" (by '{cited.title}')"
        a, b = lhs, step.rhs
        for _, rule in step.rewrites:
            a, b = (rule(a), rule(b)) if callable(rule) else (_substitute(a, rule), _substitute(b, rule))
        if step.rewrites:
            out.why += " [rewrites: " + "; ".join(name for name, _ in step.rewrites) + "]"
            out.assumptions = [name for name, _ in step.rewrites if name.startswith("hypothesis")]
        if step.relation == "!=":
            diff = a - (a if step.extra.get("same_as_left") else b)
            if diff.free_symbols:
                out.method, out.detail = "exact constants", "the sides are not closed numbers"
                return out
            value = sp.N(diff, DPS)
            out.method = f"exact constants, difference {sp.N(value, 6)} at {DPS} digits"
            out.passed = value != 0
            return out
        if step.relation == "=":
            return self._check_equality(a, b, out)
        return self._check_inequality(a, b, step, out)

    def _check_equality(self, a, b, out: StepResult) -> StepResult:
        if isinstance(a, (sp.MatrixBase, sp.MatrixExpr)) or isinstance(b, (sp.MatrixBase, sp.MatrixExpr)):
            out.method, out.passed = "symbolic (matrix algebra)", matrix_zero(a - b)
            if not out.passed:
                out.detail = "the matrix difference was not shown to be 0"
            return out
        residual, pointwise = self._difference(a - b)
        if is_zero(residual) and is_zero(pointwise):
            out.method, out.passed = "symbolic", True
            return out
        if (a - b).has(sp.Integral, E, AppliedUndef) or residual.has(sp.Integral) or pointwise.has(sp.Integral):
            out.method = "symbolic"
            out.detail = f"not shown to be 0: {residual + integral(pointwise, self.var)}"
            return out
        out.method, out.passed, out.detail = self._numeric(residual + pointwise)
        return out

    def _check_inequality(self, a, b, step: Step, out: StepResult) -> StepResult:
        lemma = step.lemma
        failed, assumed, methods = lemma.check_conditions()
        out.assumptions = out.assumptions + assumed
        if failed:
            out.method, out.detail = f"lemma: {lemma.name}", "side condition not shown: " + "; ".join(failed)
            return out
        gap = b - a if step.relation == "<=" else a - b
        if step.weight.is_nonnegative is not True:
            out.method, out.detail = f"lemma: {lemma.name}", f"weight {step.weight} not shown to be >= 0"
            return out
        residual, pointwise = self._difference(gap)
        if pointwise != 0 and not lemma.gap.has(sp.Integral, E):
            # under the integral: the gap holds pointwise, then monotonicity of the integral
            lem_res, lem_pt = self._difference(integral(step.weight * lemma.gap, self.var))
            matches = is_zero(residual - lem_res) and is_zero(pointwise - lem_pt)
            out.why += " (pointwise, then monotonicity of the integral)"
        elif gap.has(E) and not lemma.gap.has(E):
            # inside an expectation: the gap holds for every draw, then monotonicity of E
            rest, inside = _collect_expectations(gap)
            matches = is_zero(rest) and is_zero(inside - step.weight * lemma.gap)
            out.why += " (for every draw, then monotonicity of the expectation)"
        else:
            lem_res, lem_pt = self._difference(step.weight * lemma.gap)
            matches = is_zero(residual - lem_res) and is_zero(pointwise - lem_pt)
        out.method = f"lemma: {lemma.name}" + (f"; conditions: {'; '.join(methods)}" if methods else "")
        out.passed = matches
        if not matches:
            out.detail = f"the step's gap is not {step.weight} * ({lemma.gap})"
        return out

    # ------------------------------------------------------------------------------------- integrals
    def _difference(self, e: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
        """e = residual + integral of `pointwise` (integrals merged through their integrands)."""
        e = self.normalise(sp.expand(e))
        pointwise, residual = sp.S.Zero, sp.S.Zero
        for term in sp.Add.make_args(e):
            ints = [f for f in sp.Mul.make_args(term) if isinstance(f, sp.Integral)]
            if len(ints) != 1 or len(ints[0].limits) != 1 or ints[0].limits[0][0] != self.var:
                residual += term
                continue
            coeff = sp.Mul(*[f for f in sp.Mul.make_args(term) if not isinstance(f, sp.Integral)])
            integrand = ints[0].function.replace(lambda z: isinstance(z, sp.log),
                                                 lambda z: sp.log(sp.factor(z.args[0])))
            # the integral of a declared density is 1, and of c * density is c
            for part in sp.Add.make_args(sp.expand(expand_log_safe(integrand), power_exp=False)):
                c, rest = part.as_independent(self.var, as_Add=False)
                ratio = self._density_multiple(rest)
                if ratio is not None:
                    residual += coeff * c * ratio
                else:
                    pointwise += coeff * part
        return residual, pointwise

    def _density_multiple(self, e: sp.Expr) -> sp.Expr | None:
        """c when e = c * (a declared density) with c free of var, else None."""
        for dens in self.densities:
            if e == dens:
                return sp.S.One
            if isinstance(dens, AppliedUndef):
                continue
            ratio = sp.powsimp(sp.cancel(sp.powsimp(e / dens)))
            if not ratio.has(self.var):
                return ratio
        return None

    def normalise(self, e: sp.Basic) -> sp.Basic:
        """Fubini for product integrands; integration variables renamed to `var` (alpha-renaming);
        linearity of the integral; declared definitions; the integral of a declared density is 1."""
        def fubini(z: sp.Integral) -> sp.Expr:
            variables = [lim[0] for lim in z.limits]
            factors: dict[sp.Symbol | None, list] = {}
            for f in sp.Mul.make_args(sp.factor(z.function)):
                used = [v for v in variables if f.has(v)]
                if len(used) > 1:
                    return z
                factors.setdefault(used[0] if used else None, []).append(f)
            out = sp.Mul(*factors.get(None, []))
            for lim in z.limits:
                out *= sp.Integral(sp.Mul(*factors.get(lim[0], [sp.S.One])), lim)
            return out

        def rename(z: sp.Integral) -> sp.Expr:
            v = z.limits[0][0]
            if v == self.var or self.var in z.function.free_symbols:
                return z
            return sp.Integral(z.function.xreplace({v: self.var}), (self.var, *z.limits[0][1:]))

        def linear(z: sp.Integral) -> sp.Expr:
            v = z.limits[0][0]
            out = sp.S.Zero
            for term in sp.Add.make_args(sp.expand(z.function)):
                c, rest = term.as_independent(v, as_Add=False)
                out += c * sp.Integral(rest, z.limits[0]) if rest != 1 else c * sp.Integral(1, z.limits[0])
            return out

        single = lambda z: isinstance(z, sp.Integral) and len(z.limits) == 1  # noqa: E731
        e = e.replace(lambda z: isinstance(z, sp.Integral) and len(z.limits) > 1, fubini)
        e = e.replace(single, rename)
        e = e.replace(lambda z: single(z) and isinstance(sp.expand(z.function), sp.Add | sp.Mul), linear)
        for old, new in self.definitions.items():
            e = e.xreplace({old: new})
        e = e.replace(lambda z: isinstance(z, E) and z.args[0].is_number, lambda z: z.args[0])  # E c = c
        return e.replace(lambda z: single(z) and z.function in self.densities, lambda z: sp.S.One)

    # --------------------------------------------------------------------------------------- numeric
    def _numeric(self, diff: sp.Expr) -> tuple[str, bool, str]:
        return numeric_zero(diff, self.numeric)


def _substitute(e: sp.Basic, rule: dict) -> sp.Basic:
    out = e.xreplace(rule)
    if out == e:
        try:
            out = e.subs(rule)
        except ValueError:
            pass
    return out


def _compare_computed(value, rhs: sp.Basic, tol: float) -> tuple[bool, str]:
    if isinstance(value, bool):
        raise TypeError("a computed step needs a value, not a verdict")
    if tol == 0:
        if isinstance(value, (float, mpmath.mpf)):
            return False, "a floating-point value needs a tolerance"
        v = _expr(value)
        ok = is_zero(v - rhs)
        return ok, "" if ok else f"computed {v}, formula gives {rhs}"
    with mpmath.workdps(DPS + 10):
        ref = mpmath.mpf(sp.N(rhs, DPS + 10)) if not isinstance(rhs, mpmath.mpf) else rhs
        got = mpmath.mpf(value) if not isinstance(value, sp.Basic) else mpmath.mpf(sp.N(value, DPS + 10))
        err = abs(got - ref) / max(1, abs(ref))
        ok = err <= tol
        return ok, (f"relative difference {mpmath.nstr(err, 3)} (tolerance {tol:g})" if ok else
                    f"computed {mpmath.nstr(got, 15)}, formula gives {mpmath.nstr(ref, 15)}")



# ------------------------------------------------------------------------------------------ expectations
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


def identically_distributed(op, index: sp.Symbol) -> tuple[str, Callable[[sp.Expr], sp.Expr]]:
    """op(Y_i) -> op(Y_1) for every i (op = E or Var of identically distributed draws), then sums are done."""
    return (f"identically distributed: {op}(Y_{index}) = {op}(Y_1)",
            lambda e: e.replace(lambda y: isinstance(y, op), lambda y: op(y.args[0].subs(index, 1))).doit())
