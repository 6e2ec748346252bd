"""The proof engine: a derivation is a chain of steps e0 = e1 <= e2 = ..., each with a justification.

A topic module builds `Proof` objects and returns them from `proofs()`; `proofs/__init__.py` lists the topic
modules in TOPICS (one line per topic). A proof is built by chaining:

    Proof(title, Source("004", "4.5 IWAE", 1148), statement, densities=[q], var=z, definitions={...},
          given=[...])
        .start(e0)                      # begin a chain (a proof may hold several)
        .eq(e1, "why", rewrites=[...])  # e0 = e1: symbolic, or numeric at 30 digits when SymPy cannot decide
        .le(e2, lemma, "why", weight=w) # e1 <= e2: e2 - e1 = w * lemma.gap with w >= 0 (pointwise under
                                        #   an integral or an expectation); the lemma's conditions hold
        .le(e2, cite(other, {p: q}))    # the same with the conclusion of another proof, instantiated
        .iff(a, b, "why")               # equality in the chain's inequality holds exactly when a = b
        .ne(e3, "why")                  # two closed numbers differ (a counterexample)
        .limit(expr, var, point, value, "why")   # lim expr = value; expr is an expression of its chain
        .sign(expr, ">=", "why")        # expr >= 0 under the symbols' assumptions
        .sup(objective, T, value, T_star, "why") # sup over T of objective = value, attained at T_star
        .computed(label, fn, rhs, "why", method=..., tol=..., tol_reason=...)  # a value computed by code
        .assume("statement", "why")     # a theorem that is not proved here: reported and counted

Every proof has a formal conclusion: the facts its chains establish (the first expression of a chain related
to each later one, a sign, a limit, an equality case, a supremum), under its premises (`premises()`): the
declared densities (each positive and integrating to 1), the definitions (old = new), the symbols'
assumptions, and `given` hypotheses (a Condition on the proof's objects, or a sentence).

How each step is checked:

* Equality: the difference, with integrals over `var` compared through their integrands (linearity; the
  integral of a declared density is 1; `definitions` such as p(x) = integral of p(x, z) dz; Fubini for an
  integrand that is a product of functions of separate variables), must simplify to 0 under the symbols'
  assumptions. Matrix expressions are compared after expanding products, cancelling inverses, using the
  cyclic property of the trace and the symmetry of 1x1 products. When SymPy cannot decide, an integral-free
  step falls back to a 30-digit comparison at >= 20 admissible random points and is labelled *numeric*.
* Inequality: the lemma must be what its registered rule (proofs.lemmas) builds from its arguments (a lemma
  built by hand, or changed after it was built, is refused). A lemma without conditions is an axiom: one of
  the named standard results in proofs.lemmas.AXIOMS, counted in the summary. Each condition is a real check
  on a subject (a sign, convexity, an equality) or a hypothesis: a hypothesis that is a premise of the proof
  (`given`) is used as such; any other is counted as an assumption.
* Citations (`cite(factory, subs)`): the cited proof must pass; its conclusion is instantiated under the
  explicit substitution, and the instance must be exactly the fact the step uses (the gap of an inequality
  step, or the equality a rewrite applies). Each premise of the cited proof must hold at the instance: the
  symbols' assumptions and densities (positive, integrating to 1) are checked, definitions are checked as
  equalities in the citing proof, conditions are checked, and a sentence premise must be a premise of the
  citing proof too (otherwise the step counts it as an assumption).
* Rewrites (applied to both sides before the check): `("name", {old: new})` substitutions, each pair checked
  as an equality (symbolically, or numerically and labelled); a citation (the instance of an equality the
  cited proof concludes); a registered rule of proofs.lemmas (an evaluation by SymPy, a definition of the
  proof, a rule resting on a proof of the report, or an axiom, counted); or `Assumed(...)`, counted as an
  assumption. A substitution or an assumed rewrite that maps one side of the step onto the other is refused:
  it would carry the step's own claim.
* A limit's expression must be an expression of the chain it follows. A computed step's tolerance is its
  method's floor (numeric.Method); a looser one needs a reason, which the report shows, and none may exceed
  numeric.MAX_TOL.

The result of `Proof.check()` is a `ProofResult` with one `StepResult` per step (`Proof.result()` caches it;
`Proof.check_step(i)` checks one step); `summary()` counts proofs, steps, numeric steps, steps resting on
assumptions, steps resting on axioms, and rewrites.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import mpmath
import sympy as sp
from sympy.core.function import AppliedUndef, UndefinedFunction

from fdiv._util.timelimit import attempt

from .algebra import _canonical_sums, expand_log_safe, is_zero, matrix_zero, second_derivative_sign, sign_holds
from .numeric import DPS, EXACT, MAX_TOL, Method, numeric_zero

STEP_SECONDS = 60  # time limit of one step's check (its SymPy calls have their own, shorter limits)
x = sp.Symbol("x", real=True)  # the default variable integrals run over
E = sp.Function("E")  # an expectation, kept abstract: E(X)


@dataclass(frozen=True)
class Source:
    file: str  # a note file in the course notes, e.g. "004"
    section: str
    line: int | None = None
    held: bool = True  # False: the notes name the topic but hold no such derivation (section says where it is named)

    def __str__(self) -> str:
        if not self.held:
            return f"not in the notes: {self.section}"
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


def _is_matrix(e) -> bool:
    return isinstance(e, (sp.MatrixBase, sp.MatrixExpr))


# ---------------------------------------------------------------------------------------------- registry
_BUILDERS: dict[str, Callable] = {}


def registered(axiom: str | None = None):
    """Decorator for the builders of lemmas and rewrite rules (proofs.lemmas). The object a builder returns
    records the builder and its arguments; the engine builds it again from them when it checks a step, so a
    lemma's gap or a rule's effect is always what its objects give. `axiom` names the standard result the
    builder states (an entry of proofs.lemmas.AXIOMS)."""
    def wrap(fn: Callable) -> Callable:
        key = f"{fn.__module__}.{fn.__qualname__}"
        _BUILDERS[key] = fn

        @functools.wraps(fn)
        def build(*args, **kwargs):
            out = fn(*args, **kwargs)
            out.origin = (key, args, tuple(sorted(kwargs.items())))
            out.axiom = axiom
            return out
        build.axiom = axiom
        return build
    return wrap


def _rebuild(obj):
    """The object its builder makes from its recorded arguments, or a reason why there is none."""
    origin = getattr(obj, "origin", None)
    if origin is None:
        return None, "it was not built by a registered rule of proofs.lemmas from its objects"
    key, args, kwargs = origin
    if key not in _BUILDERS:
        return None, f"its builder {key} is not registered"
    try:
        return _cached_build(key, args, kwargs), ""
    except TypeError:  # unhashable arguments: build without the cache
        return _BUILDERS[key](*args, **dict(kwargs)), ""


@functools.lru_cache(maxsize=4096)
def _cached_build(key, args, kwargs):
    return _BUILDERS[key](*args, **dict(kwargs))


def _axioms() -> dict[str, str]:
    from .lemmas import AXIOMS  # the one list of named standard results (imported late: lemmas imports us)

    return AXIOMS


# ------------------------------------------------------------------------------------------------ conditions
@dataclass
class Condition:
    """A side condition of a lemma, or a premise of a proof: a real check on `subject`, or a hypothesis (a
    sentence, not checked). `mutated()` returns the condition on a changed subject, which the check must
    reject."""
    text: str
    kind: str  # positive, nonnegative, real, convex, concave, strictly_convex, strictly_convex_at, zero, hypothesis
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
            return _is_real(s), "symbol assumptions"
        if k in ("convex", "concave", "strictly_convex"):
            return second_derivative_sign(s, self.var, {"convex": ">=", "concave": "<=", "strictly_convex": ">"}[k])
        if k == "strictly_convex_at":
            return sign_holds(sp.diff(s, self.var, 2).subs(self.var, self.at), ">"), "symbolic sign"
        if k == "zero":
            if is_zero(s):
                return True, "symbolic"
            method, ok, _ = numeric_zero(s) if not _is_matrix(s) else ("", False, "")
            return ok, method
        raise ValueError(k)

    def mutated(self) -> Condition:
        k, s = self.kind, self.subject
        if k in ("positive", "nonnegative", "convex", "concave", "strictly_convex", "strictly_convex_at"):
            return Condition(self.text, k, -s, self.var, self.at)
        if k == "real":
            return Condition(self.text, k, sp.I * (1 + sp.Abs(s)), self.var)
        if k == "zero":
            return Condition(self.text, k, s + 1, self.var)
        return self

    def instance(self, subs: Substitution) -> Condition:
        if self.kind == "hypothesis":
            return self
        return Condition(self.text, self.kind, subs.apply(self.subject), subs.apply(self.var) if self.var is not None
                         else None, subs.apply(self.at) if self.at is not None else None)

    def __str__(self) -> str:
        return self.text


def _is_real(e) -> bool:
    if not isinstance(e, sp.Basic):
        return False
    return e.is_real is True or (e.is_extended_real is True and e.is_finite is True)


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


def strictly_convex(e: sp.Expr, var: sp.Symbol, text: str | None = None) -> Condition:
    return Condition(text or f"{e} strictly convex in {var}", "strictly_convex", e, var)


def strictly_convex_at(e: sp.Expr, var: sp.Symbol, at: sp.Expr, text: str | None = None) -> Condition:
    return Condition(text or f"{e}'' > 0 at {var} = {at}", "strictly_convex_at", e, var, at)


def equal(a: sp.Basic, b: sp.Basic, text: str | None = None) -> Condition:
    return Condition(text or f"{a} = {b}", "zero", _expr(a) - _expr(b))


def hypothesis(text: str) -> Condition:
    return Condition(text, "hypothesis")


# --------------------------------------------------------------------------------------------------- lemmas
@dataclass
class Lemma:
    """A named inequality gap >= 0 with the side conditions it needs, each checked when the lemma is used.
    `equality` = (a, b): the gap is 0 exactly when a = b (its conditions include what makes it strict). Built
    only by the registered rules of proofs.lemmas (`origin` records which, with its arguments)."""
    name: str
    gap: sp.Expr
    conditions: list[Condition] = field(default_factory=list)
    equality: tuple | None = None
    origin: tuple | None = None
    axiom: str | None = None

    def check_conditions(self, premises: Sequence[str] = ()) -> tuple[list[str], list[str], list[str]]:
        """(failed, assumptions, methods); a hypothesis that is a premise of the proof is not an assumption."""
        failed, assumed, methods = [], [], []
        for c in self.conditions:
            if c.assumption:
                if c.text in premises:
                    methods.append(f"{c.text} [premise]")
                else:
                    assumed.append(c.text)
                continue
            ok, how = c.check()
            (methods if ok else failed).append(f"{c.text} [{how}]" if ok else c.text)
        return failed, assumed, methods

    def same_as(self, other: Lemma) -> bool:
        return (self.name == other.name and self.gap == other.gap and self.equality == other.equality
                and len(self.conditions) == len(other.conditions)
                and all(a == b for a, b in zip(self.conditions, other.conditions)))


def lemma_problem(lemma: Lemma) -> str:
    """Why the engine refuses this lemma ('' when it is what its rule builds from its objects)."""
    rebuilt, why = _rebuild(lemma)
    if rebuilt is None:
        return f"the lemma '{lemma.name}' is refused: {why}"
    if not isinstance(rebuilt, Lemma) or not lemma.same_as(rebuilt):
        return f"the lemma '{lemma.name}' is not what its rule builds from its arguments"
    if lemma.axiom != _builder_axiom(lemma):
        return f"the lemma '{lemma.name}' claims an axiom its rule does not state"
    if not lemma.conditions:
        if lemma.axiom is None:
            return (f"the lemma '{lemma.name}' has no conditions: a lemma without conditions is an axiom and "
                    "must be one of the named standard results of proofs.lemmas.AXIOMS")
        if lemma.axiom not in _axioms():
            return f"'{lemma.axiom}' is not one of the named axioms (proofs.lemmas.AXIOMS)"
    return ""


def _builder_axiom(obj) -> str | None:
    key = obj.origin[0]
    module, _, name = key.rpartition(".")
    import importlib

    fn = getattr(importlib.import_module(module), name.split(".")[-1], None)
    return getattr(fn, "axiom", None)


# ------------------------------------------------------------------------------------------------- rewrites
@dataclass
class Rule:
    """A rewrite rule of proofs.lemmas, applied to both sides of a step. kind: 'evaluation' (SymPy computes,
    e.g. an integral or a finite sum), 'definition' (a definition of the proof), 'cited' (every result is an
    instance of a proof of the report, `rests_on`), 'axiom' (a named standard result, counted)."""
    name: str
    fn: Callable[[sp.Basic], sp.Basic]
    kind: str
    rests_on: Callable[[], Proof] | None = None
    definition: tuple | None = None  # (old, new): the definition of the proof a 'definition' rule applies
    origin: tuple | None = None
    axiom: str | None = None


@dataclass(frozen=True)
class Assumed:
    """A rewrite that is not checked: counted as an assumption, and refused where it carries the step's claim."""
    name: str
    rule: object  # {old: new} or a function
    why: str


@dataclass(frozen=True)
class Substitution:
    """An explicit substitution: symbols, applied functions (p(x)), matrix symbols and undefined function
    classes (f -> Lambda) mapped to expressions, all at once."""
    pairs: tuple

    @staticmethod
    def of(subs) -> Substitution:
        if isinstance(subs, Substitution):
            return subs
        return Substitution(tuple((k, v if isinstance(v, (sp.Basic, UndefinedFunction, sp.Lambda)) else _expr(v))
                                  for k, v in dict(subs or {}).items()))

    def apply(self, e):
        if e is None or not self.pairs:
            return e
        atoms = {k: v for k, v in self.pairs if not isinstance(k, UndefinedFunction)}
        out = e.xreplace(atoms) if atoms else e
        for k, v in self.pairs:
            if isinstance(k, UndefinedFunction):
                out = out.replace(k, v)
        return out

    def __str__(self) -> str:
        return ", ".join(f"{k} -> {v}" for k, v in self.pairs) or "the identity"


@dataclass(frozen=True)
class Fact:
    """A relation a proof establishes: lhs rel rhs (rel in =, <=, >=, <, >), or `iff`: lhs = rhs exactly when
    cond[0] = cond[1]."""
    lhs: sp.Basic
    rel: str
    rhs: sp.Basic
    cond: tuple | None = None

    def instance(self, subs: Substitution) -> Fact:
        return Fact(subs.apply(self.lhs), self.rel, subs.apply(self.rhs),
                    tuple(subs.apply(c) for c in self.cond) if self.cond else None)

    def gap(self) -> sp.Expr | None:
        """g with g >= 0 when the fact is an inequality."""
        if self.cond is not None or _is_matrix(self.lhs) or _is_matrix(self.rhs):
            return None
        if self.rel in (">=", ">"):
            return self.lhs - self.rhs
        if self.rel in ("<=", "<"):
            return self.rhs - self.lhs
        return None

    def __str__(self) -> str:
        text = f"{self.lhs} {self.rel} {self.rhs}"
        return text + (f" iff {self.cond[0]} = {self.cond[1]}" if self.cond else "")


@dataclass(frozen=True)
class Citation:
    """A use of another proof's conclusion under an explicit substitution (see `cite`)."""
    factory: Callable[[], Proof]
    subs: Substitution
    fact: int | None = None

    @property
    def name(self) -> str:
        return f"'{self.factory().title}'"


def cite(factory: Callable[[], Proof], subs: dict | None = None, fact: int | None = None) -> Citation:
    """The conclusion of the proof `factory()` instantiated under subs (old -> new; applied functions p(x),
    symbols, matrix symbols, or function classes f -> Lambda(u, ...)). As a lemma of .le/.ge, the step's gap
    must be (a non-negative weight times) the instance of one of its inequalities; as a rewrite, each of its
    equalities whose left side occurs in the step is applied. `fact` picks one conclusion by index."""
    return Citation(factory, Substitution.of(subs), fact)


# ---------------------------------------------------------------------------------------------------- steps
CHECKABLE = ("=", "<=", ">=", "!=", "limit", "sign", "computed", "iff", "sup")
CHAIN = ("=", "<=", ">=", "!=")


@dataclass
class Step:
    relation: str  # "=", "<=", ">=", "!=", "limit", "sign", "computed", "iff", "sup", "assume", "start"
    rhs: sp.Basic
    why: str
    lemma: Lemma | Citation | None = None
    weight: sp.Expr = sp.S.One
    rewrites: tuple = ()
    lhs: sp.Basic | None = None  # steps that carry their own left side (limit, sign, computed, iff, sup)
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
    elif step.relation == "iff":
        out.lhs = step.lhs + 1
    elif step.relation == "sup":
        out.rhs = rhs + 1
    elif rhs.is_infinite:
        out.rhs = sp.S.Zero
    else:
        out.rhs = rhs - 1 if step.relation == "<=" else rhs + 1
    return out


@dataclass
class StepResult:
    """One checked step. The sides are kept as SymPy objects and printed (str, LaTeX) only when a report
    asks for them. `axioms` names the axioms the step rests on, `rewrites` the rewrites it applied."""
    relation: str
    left: object
    right: object
    why: str
    method: str
    passed: bool
    detail: str = ""
    assumptions: list[str] = field(default_factory=list)
    continues: bool = False  # the left side is the previous step's right side
    axioms: list[str] = field(default_factory=list)
    rewrites: list[str] = field(default_factory=list)

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
                "passed": self.passed, "detail": self.detail, "assumptions": self.assumptions,
                "axioms": self.axioms, "rewrites": self.rewrites}


@dataclass
class ProofResult:
    title: str
    source: str
    statement: str
    steps: list[StepResult]
    topic: str = ""
    premises: list[str] = field(default_factory=list)
    conclusion: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.steps) and all(s.passed for s in self.steps)

    def to_json(self) -> dict:
        return {"title": self.title, "source": self.source, "statement": self.statement, "topic": self.topic,
                "passed": self.passed, "premises": self.premises, "conclusion": self.conclusion,
                "steps": [s.to_json() for s in self.steps]}


def summary(results: Sequence[ProofResult]) -> dict[str, int]:
    """proofs, passed, steps, numeric steps, steps resting on assumptions (assumption steps, hypotheses that
    are not premises, assumed rewrites, premises of a cited proof taken on trust), steps resting on axioms,
    rewrites applied."""
    steps = [s for r in results for s in r.steps]
    return {"proofs": len(results), "passed": sum(r.passed for r in results), "steps": len(steps),
            "numeric": sum(s.numeric for s in steps), "assumptions": sum(bool(s.assumptions) for s in steps),
            "axioms": sum(bool(s.axioms) for s in steps), "rewrites": sum(len(s.rewrites) for s in steps)}


def axioms_used(results: Sequence[ProofResult]) -> dict[str, int]:
    """Each axiom the report rests on, with the number of steps that use it."""
    out: dict[str, int] = {}
    for r in results:
        for s in r.steps:
            for a in dict.fromkeys(s.axioms):
                out[a] = out.get(a, 0) + 1
    return dict(sorted(out.items()))


def latex(e) -> str:
    if isinstance(e, str):
        return e
    return sp.latex(e)


class Proof:
    """Proof(title, source, statement).start(e0).eq(e1, why).le(e2, lemma, why)... (see the module docstring)."""

    def __init__(self, title: str, source: Source, statement: str, *, densities: Sequence[sp.Expr] = (),
                 numeric: dict[sp.Symbol, tuple[float, float]] | None = None, var: sp.Symbol = x,
                 definitions: dict | None = None, given: Sequence[Condition | str] = (), names: dict | None = None):
        self.title, self.source, self.statement = title, source, statement
        self.var = var  # integrals run over var
        self.densities = list(densities)  # p(x), q(x), ...: each integrates to 1
        self.numeric = numeric or {}  # symbol -> (low, high) for the numeric fallback; default from assumptions
        self.definitions = {k: _expr(v) for k, v in (definitions or {}).items()}  # e.g. {integral(p_xz, z): p_x}: the marginal's definition
        self.given = [hypothesis(g) if isinstance(g, str) else g for g in given]  # the theorem's hypotheses
        self.names = {k: _expr(v) for k, v in (names or {}).items()}  # expressions named by symbols, applied by lemmas.abbreviate only
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

    def eq(self, rhs, why: str, rewrites: Sequence = ()) -> Proof:
        """rewrites: applied to both sides before checking (see the module docstring)."""
        self.steps.append(Step("=", _expr(rhs), why, rewrites=tuple(rewrites)))
        return self

    def ne(self, rhs, why: str) -> Proof:
        """left != right for closed numbers (an explicit counterexample): their difference at 30 digits."""
        self.steps.append(Step("!=", _expr(rhs), why))
        return self

    def le(self, rhs, lemma: Lemma | Citation, why: str = "", weight=sp.S.One, rewrites: Sequence = ()) -> Proof:
        self.steps.append(Step("<=", _expr(rhs), why or _lemma_name(lemma), lemma, _expr(weight), tuple(rewrites)))
        return self

    def ge(self, rhs, lemma: Lemma | Citation, why: str = "", weight=sp.S.One, rewrites: Sequence = ()) -> Proof:
        self.steps.append(Step(">=", _expr(rhs), why or _lemma_name(lemma), lemma, _expr(weight), tuple(rewrites)))
        return self

    def iff(self, a, b, why: str) -> Proof:
        """Equality in this chain's inequality step holds exactly when a = b (pointwise where the step's weight
        is positive, so almost everywhere under an integral): from the lemma's equality case."""
        self.steps.append(Step("iff", _expr(b), why, lhs=_expr(a)))
        return self

    def limit(self, expr, var: sp.Symbol, point, value, why: str) -> Proof:
        self.steps.append(Step("limit", _expr(value), why, lhs=_expr(expr), extra={"var": var, "point": point}))
        return self

    def sign(self, expr, rel: str, why: str) -> Proof:
        """expr rel 0 (rel in >=, >, <=, <) under the symbols' assumptions."""
        self.steps.append(Step("sign", sp.S.Zero, why, lhs=_expr(expr), extra={"rel": rel}))
        return self

    def sup(self, objective, over, value, attained_at, why: str) -> Proof:
        """sup over `over` (an undefined function or a symbol) of objective = value, attained at attained_at:
        this proof must hold a chain showing value >= objective for every `over`, and one showing that the
        objective at attained_at equals value."""
        self.steps.append(Step("sup", _expr(value), why, lhs=_expr(objective),
                               extra={"over": over, "at": _expr(attained_at)}))
        return self

    def computed(self, label: str, compute: Callable[[], object], rhs, why: str, *, method: Method | str,
                 tol: float | None = None, tol_reason: str | None = None, relation: str = "=") -> Proof:
        """A value computed by code (an exact model, a quadrature, a torch module) against the formula rhs:
        relation "=" to the method's tolerance floor (0 for an exact method; see numeric.Method), or to a
        looser `tol` with `tol_reason`; "<=" or ">=" at 30 digits."""
        if isinstance(method, str):
            method = Method(method, 0.0, "exact computation: the values must be equal")
        self.steps.append(Step("computed", _expr(rhs), why, extra={
            "compute": compute, "tol": method.floor if tol is None else tol, "tol_reason": tol_reason,
            "method": method, "rel": relation, "label": label}))
        return self

    def assume(self, statement: str, why: str) -> Proof:
        """A theorem that is not proved here (why says why): reported and counted as an assumption."""
        self.steps.append(Step("assume", sp.S.Zero, why, extra={"statement": statement}))
        return self

    # ------------------------------------------------------------------------------------------ conclusion
    def facts(self, upto: int | None = None) -> list[Fact]:
        """The facts the steps (before index `upto`) establish: for each chain, its first expression related
        to each later one (= if every step between is an equality, <= or >= if the inequalities agree), each
        sign, limit, equality case and supremum."""
        out: list[Fact] = []
        first, rel, chain_open = self.first, "=", self.first is not None
        steps = self.steps if upto is None else self.steps[:upto]
        for step in steps:
            if step.relation == "start":
                first, rel, chain_open = step.rhs, "=", True
                continue
            if step.relation in ("=", "<=", ">="):
                if not chain_open:
                    continue
                rel = _compose(rel, step.relation)
                if rel is None:
                    chain_open = False
                    continue
                out.append(Fact(first, rel, step.rhs))
            elif step.relation == "!=":
                chain_open = False
            elif step.relation == "sign":
                out.append(Fact(step.lhs, step.extra["rel"], sp.S.Zero))
            elif step.relation == "limit":
                out.append(Fact(sp.Limit(step.lhs, step.extra["var"], step.extra["point"]), "=", step.rhs))
            elif step.relation == "iff" and out:
                last = out[-1]
                out.append(Fact(last.lhs, "=", last.rhs, (step.lhs, step.rhs)))
            elif step.relation == "sup":
                over = step.extra["over"]
                out.append(Fact(sp.Function("sup")(step.lhs, over if isinstance(over, sp.Basic) else
                                                   sp.Symbol(str(over))), "=", step.rhs))
        return out

    def premises(self) -> list[str]:
        out = [f"{d} is a density over {self.var}" for d in self.densities]
        out += [f"{old} = {new}" for old, new in self.definitions.items()]
        out += [f"{old} is named {new}" for old, new in self.names.items()]
        out += [c.text for c in self.given]
        return out

    def given_texts(self) -> list[str]:
        return [c.text for c in self.given]

    # ------------------------------------------------------------------------------------------ checking
    def result(self) -> ProofResult:
        """check(), once per proof object (proofs that cite this one reuse the result)."""
        if getattr(self, "_result", None) is None or self._result[0] != len(self.steps):
            self._result = (len(self.steps), self.check())
        return self._result[1]

    def _context(self, index: int) -> tuple[sp.Basic | None, list[tuple[sp.Basic, Step | None]]]:
        """The chain's left side before step `index` and the chain so far: (expression, step that made it)."""
        lhs = self.first
        chain: list[tuple[sp.Basic, Step | None]] = [(self.first, None)] if self.first is not None else []
        for earlier in self.steps[:index]:
            if earlier.relation == "start":
                lhs, chain = earlier.rhs, [(earlier.rhs, None)]
            elif earlier.relation in CHAIN:
                lhs = earlier.rhs
                chain.append((earlier.rhs, earlier))
        return lhs, chain

    def check_step(self, index: int, step: Step | None = None) -> StepResult:
        """Step `index` alone (or `step` in its place, e.g. a mutated one), with its chain's left side."""
        lhs, chain = self._context(index)
        step = step or self.steps[index]
        return self._guarded(step, lhs, chain, index)

    def check(self) -> ProofResult:
        results: list[StepResult] = []
        lhs, chain, continues = self.first, ([(self.first, None)] if self.first is not None else []), False
        for index, step in enumerate(self.steps):
            if step.relation == "start":
                lhs, chain, continues = step.rhs, [(step.rhs, None)], False
                continue
            result = self._guarded(step, lhs, chain, index)
            results.append(result)
            if step.relation in CHAIN:
                result.continues = continues
                lhs, continues = step.rhs, True
                chain = chain + [(step.rhs, step)]
        return ProofResult(self.title, str(self.source), self.statement, results,
                           premises=self.premises(), conclusion=[str(f) for f in self.facts()])

    def _guarded(self, step: Step, lhs, chain, index: int) -> StepResult:
        """A step's check under a time limit (rewrites and conditions may call heavy SymPy): a step that runs
        past it fails with the reason."""
        def check(st):
            if st.relation in CHAIN:
                return self._check_step(lhs, st)
            return self._check_standalone(st, chain, index)
        ok, out = attempt("checking a proof step", check, step, seconds=STEP_SECONDS)
        if ok:
            return out
        left = lhs if step.relation in CHAIN else step.extra.get("label", step.lhs)
        return StepResult(step.relation, left if left is not None else "", step.rhs, step.why, "not decided",
                          False, detail=str(out))

    # -------------------------------------------------------------------------------- standalone steps
    def _check_standalone(self, step: Step, chain, index: int) -> StepResult:
        if step.relation == "assume":
            text = step.extra["statement"]
            return StepResult("assume", text, "", step.why, "assumption", True, assumptions=[text])
        if step.relation == "limit":
            return self._check_limit(step, chain)
        if step.relation == "sign":
            rel = step.extra["rel"]
            out = StepResult(rel, step.lhs, sp.S.Zero, step.why, "symbolic sign", False)
            out.passed = sign_holds(step.lhs, rel)
            if not out.passed:
                out.detail = f"{step.lhs} {rel} 0 not shown"
            return out
        if step.relation == "iff":
            return self._check_iff(step, chain, index)
        if step.relation == "sup":
            return self._check_sup(step, index)
        return _check_computed(step)

    def _check_limit(self, step: Step, chain) -> StepResult:
        var, point = step.extra["var"], step.extra["point"]
        out = StepResult("=", sp.Limit(step.lhs, var, point), step.rhs, step.why, "symbolic limit", False)
        if not any(_same_expr(step.lhs, e) for e, _ in chain):
            out.detail = "the limit's expression is not an expression of the chain it follows"
            return out
        ok, value = attempt("a limit in a proof", sp.limit, step.lhs, var, point, seconds=20)
        out.passed = ok and (value == step.rhs or (value.is_finite is True and step.rhs.is_finite is True
                                                   and is_zero(value - step.rhs)))
        if not out.passed:
            out.detail = f"the limit is {value}" if ok else str(value)
        return out

    def _check_iff(self, step: Step, chain, index: int) -> StepResult:
        a, b = step.lhs, step.rhs
        out = StepResult("iff", sp.Eq(chain[0][0], chain[-1][0], evaluate=False) if chain else "",
                         sp.Eq(a, b, evaluate=False), step.why, "equality case", False)
        inequalities = [(k, st) for k, (_, st) in enumerate(chain) if st is not None and st.relation in ("<=", ">=")]
        if len(inequalities) != 1:
            out.detail = "an equality case needs a chain with exactly one inequality step"
            return out
        k, ineq = inequalities[0]
        lemma = ineq.lemma
        if not isinstance(lemma, Lemma) or lemma.equality is None:
            out.detail = "the chain's inequality step rests on a lemma without an equality case"
            return out
        prior = self._check_step(chain[k - 1][0], ineq)
        if not prior.passed:
            out.detail = "the chain's inequality step does not pass"
            return out
        ea, eb = lemma.equality
        if not ((_same_expr(a, ea) and _same_expr(b, eb)) or (_same_expr(a, eb) and _same_expr(b, ea))):
            out.detail = f"the lemma's gap vanishes exactly when {ea} = {eb}, not {a} = {b}"
            return out
        if not sign_holds(ineq.weight, ">"):
            out.detail = f"the weight {ineq.weight} is not shown to be > 0"
            return out
        where = ("pointwise where the weight is positive, so almost everywhere" if chain[0][0].has(sp.Integral)
                 else "for every draw, so almost surely" if chain[0][0].has(E) else "")
        out.method = f"equality case of {lemma.name}" + (f" ({where})" if where else "")
        if where:
            out.axioms.append("zero integral of a non-negative function")
        out.passed = True
        return out

    def _check_sup(self, step: Step, index: int) -> StepResult:
        objective, over, at, value = step.lhs, step.extra["over"], step.extra["at"], step.rhs
        shown = sp.Function("sup")(objective, over if isinstance(over, sp.Basic) else sp.Symbol(str(over)))
        out = StepResult("=", shown, value, step.why, "supremum from two facts of this proof", False)
        facts = self.facts(upto=index)
        bound = any(f.cond is None and ((f.rel in (">=", ">") and self._same(f.lhs, value) and
                                         self._same(f.rhs, objective)) or
                                        (f.rel in ("<=", "<") and self._same(f.lhs, objective) and
                                         self._same(f.rhs, value))) for f in facts)
        attained = Substitution.of({over: at}).apply(objective)
        reached = any(f.cond is None and f.rel == "=" and ((self._same(f.lhs, attained) and self._same(f.rhs, value))
                                                            or (self._same(f.rhs, attained) and self._same(f.lhs, value)))
                      for f in facts)
        if not bound:
            out.detail = f"no chain of this proof shows {value} >= the objective for every {over}"
        elif not reached:
            out.detail = f"no chain of this proof shows that the objective at {over} = {at} equals {value}"
        out.passed = bound and reached
        return out

    def _same(self, a, b) -> bool:
        if a == b:
            return True
        if _is_matrix(a) or _is_matrix(b):
            return False
        residual, pointwise = self._difference(a - b)
        return is_zero(residual) and is_zero(pointwise)

    # ------------------------------------------------------------------------------------- chain steps
    def _check_step(self, lhs: sp.Basic, step: Step) -> StepResult:
        out = StepResult(step.relation, lhs, step.rhs, step.why, "", False)
        a, b = lhs, step.rhs
        notes: list[str] = []
        for rewrite in step.rewrites:
            ok, a, b, note = self._rewrite(rewrite, a, b, lhs, step.rhs, out)
            if not ok:
                out.method = "rewrite refused"
                out.detail = note
                return out
            if note:
                notes.append(note)
        if step.rewrites:
            out.why += " [rewrites: " + "; ".join(out.rewrites) + "]"
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
            out = self._check_equality(a, b, out)
        else:
            out = self._check_inequality(a, b, step, out)
        if notes:
            out.method = "; ".join([out.method, *notes]) if out.method else "; ".join(notes)
        return out

    def _rewrite(self, rewrite, a, b, lhs, rhs, out: StepResult):
        """Apply one rewrite to both sides after checking it: (ok, a, b, note or reason)."""
        if isinstance(rewrite, tuple) and len(rewrite) == 2 and isinstance(rewrite[0], str):
            name, rule = rewrite
            if callable(rule) and not isinstance(rule, dict):
                return False, a, b, (f"the rewrite '{name}' is a bare function: a rewrite rule must be a "
                                     "registered rule of proofs.lemmas")
            rewrite = ("subst", name, dict(rule))
        if isinstance(rewrite, tuple) and rewrite[0] == "subst":
            _, name, pairs = rewrite
            if _carries(pairs, a, b):
                return False, a, b, f"the substitution '{name}' maps one side of the step onto the other"
            methods = []
            for old, new in pairs.items():
                ok, how = self._pair_holds(old, new)
                if not ok:
                    return False, a, b, f"the substitution '{name}' is not shown: {old} = {new} ({how})"
                methods.append(how)
            out.rewrites.append(f"{name} (checked: {', '.join(sorted(set(methods)))})")
            note = next((f"rewrite '{name}' checked {m}" for m in methods if "numeric" in m), "")
            return True, _substitute(a, pairs), _substitute(b, pairs), note
        if isinstance(rewrite, Citation):
            return self._cited_rewrite(rewrite, a, b, out)
        if isinstance(rewrite, Rule):
            return self._rule_rewrite(rewrite, a, b, out)
        if isinstance(rewrite, Assumed):
            rule = rewrite.rule
            apply = (lambda e: rule(e)) if callable(rule) and not isinstance(rule, dict) else \
                (lambda e: _substitute(e, rule))
            if isinstance(rule, dict) and _carries(rule, a, b):
                return False, a, b, f"the assumed rewrite '{rewrite.name}' maps one side of the step onto the other"
            na, nb = apply(a), apply(b)
            if a != b and (na == b or nb == a or na == nb):
                # the assumption alone turns one side into the other: it would carry the step's own claim
                return False, a, b, f"the assumed rewrite '{rewrite.name}' carries the step's own claim"
            out.rewrites.append(f"{rewrite.name} (assumed)")
            out.assumptions.append(f"rewrite '{rewrite.name}': {rewrite.why}")
            return True, na, nb, ""
        return False, a, b, f"{rewrite!r} is not a rewrite (a substitution, a citation, a rule or Assumed)"

    def _pair_holds(self, old, new) -> tuple[bool, str]:
        """old = new in this proof's context: symbolic (integrals through their integrands, definitions,
        densities), or numeric at 30 digits when it is integral-free."""
        if _is_matrix(old) or _is_matrix(new):
            return (matrix_zero(old - new), "symbolic (matrix algebra)")
        residual, pointwise = self._difference(old - new)
        if is_zero(residual) and is_zero(pointwise):
            return True, "symbolically"
        diff = residual + pointwise
        if diff.has(sp.Integral, E, AppliedUndef):
            return False, "not shown symbolically"
        method, ok, detail = self._numeric(diff)
        return ok, (method if ok else detail)

    def _rule_rewrite(self, rule: Rule, a, b, out: StepResult):
        rebuilt, why = _rebuild(rule)
        if rebuilt is None:
            return False, a, b, f"the rule '{rule.name}' is refused: {why}"
        if not isinstance(rebuilt, Rule) or (rebuilt.name, rebuilt.kind) != (rule.name, rule.kind) or \
                rule.axiom != _builder_axiom(rule):
            return False, a, b, f"the rule '{rule.name}' is not what its builder makes from its arguments"
        label = {"evaluation": "evaluated by SymPy", "definition": "a definition of this proof",
                 "cited": "rests on a proof of this report", "axiom": "axiom"}.get(rebuilt.kind)
        if label is None:
            return False, a, b, f"the rule '{rule.name}' has an unknown kind {rebuilt.kind}"
        if rebuilt.kind == "definition":
            for old, new in rebuilt.definition:
                if self.names.get(old) != new:
                    return False, a, b, f"the rule '{rule.name}' names {old} as {new}, which this proof does " \
                                        "not declare (names=...)"
        if rebuilt.kind == "cited":
            cited = rebuilt.rests_on().result()
            if not cited.passed:
                return False, a, b, f"the rule '{rule.name}' rests on '{cited.title}', which does not pass"
            label = f"rests on '{cited.title}'"
        if rebuilt.kind == "axiom":
            if rule.axiom not in _axioms():
                return False, a, b, f"the rule '{rule.name}' names no axiom of proofs.lemmas.AXIOMS"
            out.axioms.append(rule.axiom)
            label = f"axiom: {rule.axiom}"
        na, nb = rebuilt.fn(a), rebuilt.fn(b)
        out.rewrites.append(f"{rule.name} ({label})")
        return True, na, nb, ""

    def _cited_rewrite(self, citation: Citation, a, b, out: StepResult):
        cited = citation.factory()
        result = cited.result()
        if not result.passed:
            return False, a, b, f"the cited proof '{cited.title}' does not pass"
        facts = cited.facts()
        chosen = [facts[citation.fact]] if citation.fact is not None and citation.fact < len(facts) else facts
        final: dict = {}  # a chain's first expression -> its last equal expression (the whole chain)
        for fact in chosen:
            if fact.rel == "=" and fact.cond is None and not isinstance(fact.lhs, sp.Limit):
                final[fact.lhs] = fact
        applied = []
        for fact in final.values():
            inst = _instance(fact, citation.subs)
            if inst is None:
                continue
            na, nb = _substitute(a, {inst.lhs: inst.rhs}), _substitute(b, {inst.lhs: inst.rhs})
            if na != a or nb != b:
                a, b = na, nb
                applied.append(inst)
        if not applied:
            return False, a, b, (f"no equality concluded by '{cited.title}' occurs in the step under the "
                                 f"substitution {citation.subs}")
        ok, notes = self._premises_hold(cited, citation.subs, out)
        if not ok:
            return False, a, b, notes
        out.rewrites.append(f"cited '{cited.title}' at {citation.subs}" + (f" ({notes})" if notes else ""))
        return True, a, b, ""

    def _premises_hold(self, cited: Proof, subs: Substitution, out: StepResult) -> tuple[bool, str]:
        """Each premise of `cited` at the instance `subs`, checked in this proof: (ok, reason or note)."""
        checked: list[str] = []
        for old, new in subs.pairs:
            if isinstance(old, UndefinedFunction):
                continue
            problem = _assumptions_carry(old, new)
            if problem:
                return False, f"a premise of '{cited.title}' fails at the instance: {problem}"
        var = subs.apply(cited.var)
        context = Proof("", Source("", ""), "", densities=self.densities, definitions=self.definitions, var=var)
        for d in cited.densities:
            inst = subs.apply(d)
            if inst == d and d in self.densities and var == self.var:
                continue
            if not sign_holds(inst, ">="):
                return False, f"a premise of '{cited.title}' fails at the instance: {inst} >= 0 is not shown"
            if not context._same(integral(inst, var), sp.S.One):
                return False, (f"a premise of '{cited.title}' fails at the instance: {inst} is not shown to be a "
                               f"density (to integrate to 1 over {var})")
            checked.append(f"{inst} a density")
        for old, new in [*cited.definitions.items(), *cited.names.items()]:
            io, iw = subs.apply(old), subs.apply(new)
            if any(o == io and n == iw for o, n in [*self.definitions.items(), *self.names.items()]):
                continue
            if not context._same(io, iw):
                return False, f"a premise of '{cited.title}' fails at the instance: {io} = {iw} is not shown"
            checked.append(f"{io} = {iw}")
        mine = self.given_texts()
        for premise in cited.given:
            if premise.assumption:
                if premise.text not in mine:
                    out.assumptions.append(f"premise of '{cited.title}': {premise.text}")
                continue
            ok, how = premise.instance(subs).check()
            if not ok:
                return False, f"a premise of '{cited.title}' fails at the instance: {premise.text}"
            checked.append(f"{premise.text} [{how}]")
        return True, ("premises checked: " + "; ".join(checked)) if checked else ""

    def _check_equality(self, a, b, out: StepResult) -> StepResult:
        if _is_matrix(a) or _is_matrix(b):
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
        gap = b - a if step.relation == "<=" else a - b
        if step.weight.is_nonnegative is not True:
            out.method, out.detail = f"lemma: {_lemma_name(lemma)}", f"weight {step.weight} not shown to be >= 0"
            return out
        if isinstance(lemma, Citation):
            return self._check_cited_inequality(gap, step, lemma, out)
        if not isinstance(lemma, Lemma):
            out.method, out.detail = "lemma", "an inequality step needs a lemma or a citation"
            return out
        problem = lemma_problem(lemma)
        if problem:
            out.method, out.detail = f"lemma: {lemma.name}", problem
            return out
        failed, assumed, methods = lemma.check_conditions(self.given_texts())
        out.assumptions = out.assumptions + assumed
        if lemma.axiom is not None:
            out.axioms.append(lemma.axiom)
        if failed:
            out.method, out.detail = f"lemma: {lemma.name}", "side condition not shown: " + "; ".join(failed)
            return out
        matches, how = self._gap_matches(gap, step.weight, lemma.gap)
        out.why += how
        kind = f"axiom: {lemma.axiom}" if lemma.axiom else f"lemma: {lemma.name}"
        out.method = kind + (f"; conditions: {'; '.join(methods)}" if methods else "")
        out.passed = matches
        if not matches:
            out.detail = f"the step's gap is not {step.weight} * ({lemma.gap})"
        return out

    def _gap_matches(self, gap, weight, lemma_gap) -> tuple[bool, str]:
        residual, pointwise = self._difference(gap)
        if pointwise != 0 and not lemma_gap.has(sp.Integral, E):
            # under the integral: the gap holds pointwise, then monotonicity of the integral
            lem_res, lem_pt = self._difference(integral(weight * lemma_gap, self.var))
            return (is_zero(residual - lem_res) and is_zero(pointwise - lem_pt),
                    " (pointwise, then monotonicity of the integral)")
        if gap.has(E) and not lemma_gap.has(E):
            # inside an expectation: the gap holds for every draw, then monotonicity of E
            rest, inside = _collect_expectations(gap)
            return is_zero(rest) and is_zero(inside - weight * lemma_gap), \
                " (for every draw, then monotonicity of the expectation)"
        lem_res, lem_pt = self._difference(weight * lemma_gap)
        return is_zero(residual - lem_res) and is_zero(pointwise - lem_pt), ""

    def _check_cited_inequality(self, gap, step: Step, citation: Citation, out: StepResult) -> StepResult:
        cited = citation.factory()
        out.method = f"cited: '{cited.title}'"
        result = cited.result()
        if not result.passed:
            out.detail = f"the cited proof '{cited.title}' does not pass"
            return out
        facts = cited.facts()
        chosen = [facts[citation.fact]] if citation.fact is not None and citation.fact < len(facts) else facts
        for fact in chosen:
            inst = _instance(fact, citation.subs)
            inst_gap = inst.gap() if inst is not None else None
            if inst_gap is None:
                continue
            matches, how = self._gap_matches(gap, step.weight, inst_gap)
            if not matches:
                continue
            ok, note = self._premises_hold(cited, citation.subs, out)
            if not ok:
                out.detail = note
                return out
            out.why += how
            out.method += f" at {citation.subs}: {inst}" + (f"; {note}" if note else "")
            out.passed = True
            return out
        out.detail = (f"no conclusion of '{cited.title}' under the substitution {citation.subs} gives this step's "
                      f"gap {step.weight} * (...)")
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
            if isinstance(dens, AppliedUndef) or not dens.has(self.var):
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
        # E of equal random quantities is equal: the argument in one algebraic form (finite sums split by
        # linearity, bound indices renamed, expanded)
        for old, new in self.definitions.items():
            e = e.xreplace({old: new})
        e = e.replace(lambda z: isinstance(z, E) and z.args[0].has(sp.Sum), lambda z: E(_canonical_sums(z.args[0])))
        for old, new in self.definitions.items():
            e = e.xreplace({old: new})
        e = e.replace(lambda z: isinstance(z, E) and z.args[0].is_number, lambda z: z.args[0])  # E c = c
        return e.replace(lambda z: single(z) and z.function in self.densities, lambda z: sp.S.One)

    # --------------------------------------------------------------------------------------- numeric
    def _numeric(self, diff: sp.Expr) -> tuple[str, bool, str]:
        return numeric_zero(diff, self.numeric)


def _instance(fact: Fact, subs: Substitution) -> Fact | None:
    """The fact under subs, or None where the substitution does not apply (a derivative with respect to a
    substituted variable)."""
    try:
        return fact.instance(subs)
    except (ValueError, TypeError):
        return None


def _lemma_name(lemma) -> str:
    if isinstance(lemma, Citation):
        return f"cited {lemma.name}"
    return getattr(lemma, "name", "?")


def _compose(rel: str, step: str) -> str | None:
    if step == "=":
        return rel
    if rel in ("=", step):
        return step
    return None


def _same_expr(a, b) -> bool:
    if a == b:
        return True
    if _is_matrix(a) or _is_matrix(b) or not isinstance(a, sp.Expr) or not isinstance(b, sp.Expr):
        return False
    return is_zero(a - b)


def _carries(pairs: dict, a, b) -> bool:
    """A pair of the substitution is the step itself: one side mapped onto the other."""
    return any((old == a and new == b) or (old == b and new == a) for old, new in pairs.items())


def _assumptions_carry(old, new) -> str:
    """'' when `new` has the assumptions of `old` (positive, non-negative, real, integer, ...)."""
    if not isinstance(new, sp.Basic) or _is_matrix(old):
        return ""
    checks = [("positive", lambda: sign_holds(new, ">")), ("negative", lambda: sign_holds(new, "<")),
              ("nonnegative", lambda: sign_holds(new, ">=")), ("nonpositive", lambda: sign_holds(new, "<=")),
              ("nonzero", lambda: new.is_nonzero is True or sign_holds(new, ">") or sign_holds(new, "<")),
              ("integer", lambda: new.is_integer is True), ("real", lambda: _is_real(new))]
    for name, check in checks:
        if getattr(old, f"is_{name}") is True and not check():
            return f"{old} is {name}, but {new} is not shown to be"
        if name in ("positive", "negative") and getattr(old, f"is_{name}") is True:
            break  # the stronger assumption implies the rest of the sign ones
    return ""


def _substitute(e: sp.Basic, rule: dict) -> sp.Basic:
    out = e.xreplace(rule)
    if out == e:
        try:
            out = e.subs(rule)
        except (ValueError, TypeError):
            pass
    return out


def _check_computed(step: Step) -> StepResult:
    method: Method = step.extra["method"]
    tol, reason, rel = step.extra["tol"], step.extra.get("tol_reason"), step.extra["rel"]
    out = StepResult(rel, step.extra["label"], step.rhs, step.why, method.label, False)
    if rel == "=":
        if tol > MAX_TOL:
            out.detail = (f"tolerance {tol:g} is above the ceiling {MAX_TOL:g}: it could not tell a slip of 0.1 % "
                          "from rounding")
            return out
        if tol > method.floor:
            if not reason:
                out.detail = (f"tolerance {tol:g} is looser than the floor {method.floor:g} of this method "
                              f"({method.basis}) and gives no reason")
                return out
            out.method += f"; tolerance {tol:g}, looser than the method's floor {method.floor:g}: {reason}"
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


def _compare_computed(value, rhs: sp.Basic, tol: float) -> tuple[bool, str]:
    if isinstance(value, bool):
        raise TypeError("a computed step needs a value, not a verdict")
    if tol == 0:
        if isinstance(value, (float, mpmath.mpf)) or (isinstance(value, sp.Float)):
            return False, "a floating-point value needs a numeric method with a tolerance"
        v = _expr(value)
        ok = is_zero(v - rhs)
        return ok, "" if ok else f"computed {v}, formula gives {rhs}"
    with mpmath.workdps(DPS + 10):
        ref = mpmath.mpf(sp.N(rhs, DPS + 10)) if not isinstance(rhs, mpmath.mpf) else rhs
        got = mpmath.mpf(value) if not isinstance(value, sp.Basic) else mpmath.mpf(sp.N(value, DPS + 10))
        err = abs(got - ref) / max(1, abs(ref))
        ok = err <= tol
        return ok, (f"relative difference {mpmath.nstr(err, 3)} (tolerance {tol:g})" if ok else
                    f"computed {mpmath.nstr(got, 15)}, formula gives {mpmath.nstr(ref, 15)} (relative difference "
                    f"{mpmath.nstr(err, 3)}, tolerance {tol:g})")


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
