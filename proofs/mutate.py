"""A mutation harness for the proofs: families of mutations applied automatically to every step of every proof.

    python -m proofs.mutate [TOPIC ...] [--family NAME ...] [--limit N] [--seconds S] [--show N]

Each mutant is one proof with one step changed; it is checked alone (Proof.check_step) and *survives* when the
engine still accepts it. A mutant that is provably the same step (its changed side equals the original one) is
*equivalent* and not counted. The families:

  sign       a sign flipped: one term of the right side (or all of it), the expression of a sign step, a
             limit's value, a computed step's formula
  factor     a factor 2 in one term of the right side (or all of it), a limit's value, a computed formula
  swap       two variables of the right side exchanged (p <-> q, mu <-> sigma, ...)
  citation   a cited proof replaced by another proof of the report that passes
  lemma      the lemma's gap changed together with the step's claim, so that they still match (a lemma that
             is not tied to its objects then certifies the changed claim); and one argument of the lemma (or
             one value of a citation's substitution) doubled, the step unchanged
  rewrite    a rewrite's target changed together with the step's claim, so that they still match (a
             substitution's right side, a rule's result, a citation's substitution)
  limit      a limit's expression replaced by another with the same limit (value + 1/k, ...)
  tolerance  a computed step's tolerance loosened to 1e-2 with its formula off by 0.1 %

Prints the survival rate of each family and the survivors; exits 1 when a mutant of a must-catch family
survives (all families above must be caught).
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace

import sympy as sp

from fdiv._util.timelimit import attempt

from . import engine
from .algebra import is_zero, sign_holds
from .engine import E, Assumed, Citation, Lemma, Proof, Rule, Step, Substitution

EQUIVALENCE_SECONDS = 5
FAMILIES = ("sign", "factor", "swap", "citation", "lemma", "rewrite", "limit", "tolerance")
MUST_CATCH = FAMILIES


@dataclass
class Mutant:
    family: str
    proof: Proof
    index: int
    step: Step
    what: str


@dataclass
class Tally:
    mutants: int = 0
    equivalent: int = 0
    caught: int = 0
    survivors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return len(self.survivors) / self.mutants if self.mutants else 0.0


def _copy(step: Step, **changes) -> Step:
    values = {f.name: getattr(step, f.name) for f in fields(step)}
    values["extra"] = dict(step.extra)
    values.update(changes)
    return Step(**values)


def _is_matrix(e) -> bool:
    return isinstance(e, (sp.MatrixBase, sp.MatrixExpr))


def _same(a, b) -> bool:
    """a and b are the same expression (structurally, or their difference is shown to be 0 within a few CPU
    seconds): an equivalent mutant."""
    if a == b:
        return True
    if _is_matrix(a) or _is_matrix(b) or not isinstance(a, sp.Expr) or not isinstance(b, sp.Expr):
        return False
    ok, out = attempt("comparing a mutant", is_zero, sp.expand(a - b), seconds=EQUIVALENCE_SECONDS)
    return ok and out


def _terms(e: sp.Expr) -> list[sp.Expr]:
    return list(sp.Add.make_args(e)) if isinstance(e, sp.Add) else [e]


def _scale_one_term(e, factor) -> sp.Basic:
    """e with its first term (in SymPy's order) multiplied by factor; all of e when it is not a sum."""
    if _is_matrix(e):
        return factor * e
    terms = _terms(e)
    if len(terms) == 1:
        return sp.Mul(factor, e)
    return sp.Add(sp.Mul(factor, terms[0]), *terms[1:])


# ------------------------------------------------------------------------------------------------ families
def _chain_side(step: Step) -> str | None:
    return "rhs" if step.relation in ("=", "<=", ">=") else None


def _sign(proof: Proof, i: int, step: Step) -> Iterator[Mutant]:
    if step.relation in ("=", "<=", ">="):
        yield Mutant("sign", proof, i, _copy(step, rhs=_scale_one_term(step.rhs, -1)), "a term's sign flipped")
    elif step.relation == "sign":
        yield Mutant("sign", proof, i, _copy(step, lhs=-step.lhs), "the expression negated")
    elif step.relation == "limit":
        yield Mutant("sign", proof, i, _copy(step, rhs=-step.rhs), "the limit's value negated")
    elif step.relation == "computed":
        yield Mutant("sign", proof, i, _copy(step, rhs=-step.rhs), "the formula negated")
    elif step.relation == "!=":
        yield Mutant("sign", proof, i, _copy(step, extra={**step.extra, "same_as_left": True}),
                     "the counterexample made equal")


def _factor(proof: Proof, i: int, step: Step) -> Iterator[Mutant]:
    if step.relation in ("=", "<=", ">="):
        yield Mutant("factor", proof, i, _copy(step, rhs=_scale_one_term(step.rhs, 2)), "a factor 2 in a term")
    elif step.relation in ("limit", "computed") and step.rhs.is_finite is not False:
        yield Mutant("factor", proof, i, _copy(step, rhs=2 * step.rhs), "a factor 2")


def _variables(e) -> list:
    """The free symbols of e and the applied functions in it (p(x), q(z)), not the bound variables of its
    integrals and sums (exchanging those changes nothing)."""
    atoms = set(e.free_symbols) | set(e.atoms(sp.core.function.AppliedUndef))
    return sorted(atoms, key=str)


def _swap(proof: Proof, i: int, step: Step) -> Iterator[Mutant]:
    side = "lhs" if step.relation == "sign" else "rhs" if step.relation in ("=", "<=", ">=") else None
    if side is None:
        return
    e = getattr(step, side)
    if _is_matrix(e):
        return
    atoms = _variables(e)
    for a in atoms:
        for b in atoms:
            if str(a) >= str(b) or type(a) is not type(b) and not (isinstance(a, sp.Symbol) and isinstance(b, sp.Symbol)):
                continue
            if isinstance(a, sp.Symbol) != isinstance(b, sp.Symbol):
                continue
            swapped = e.xreplace({a: b, b: a})
            if swapped != e:
                yield Mutant("swap", proof, i, _copy(step, **{side: swapped}), f"{a} and {b} exchanged")
                return


def _citations(step: Step) -> list[tuple[str, int, Citation]]:
    """(where, index, citation) for each proof the step cites: as its lemma, or as its k-th rewrite."""
    out = [("lemma", -1, step.lemma)] if isinstance(step.lemma, Citation) else []
    out += [("rewrite", k, r) for k, r in enumerate(step.rewrites) if isinstance(r, Citation)]
    return out


def _unrelated(proof: Proof, pool: list[Proof]) -> Proof:
    """A passing proof of the report that is not the cited one (the first of the pool with another title)."""
    return next(p for p in pool if p.title != proof.title)


def _with_citation(step: Step, where: str, k: int, citation: Citation) -> Step:
    if where == "lemma":
        return _copy(step, lemma=citation)
    rewrites = list(step.rewrites)
    rewrites[k] = citation
    return _copy(step, rewrites=tuple(rewrites))


def _citation(proof: Proof, i: int, step: Step, pool: list[Proof]) -> Iterator[Mutant]:
    for where, k, citation in _citations(step):
        cited = citation.factory()
        other = _unrelated(cited, pool)
        swapped = replace(citation, factory=lambda o=other: o)
        yield Mutant("citation", proof, i, _with_citation(step, where, k, swapped),
                     f"'{cited.title}' replaced by '{other.title}'")


def _aggregate(proof: Proof, step: Step, lhs, delta: sp.Expr) -> sp.Expr:
    """How a pointwise change delta of the lemma's gap shows in the step: integrated when the step is an
    integral and the lemma pointwise, under E when the step is an expectation, else as it is."""
    gap_side = step.rhs - lhs if lhs is not None else step.rhs
    if gap_side.has(sp.Integral) and not step.lemma.gap.has(sp.Integral, E):
        return engine.integral(step.weight * delta, proof.var)
    if gap_side.has(E) and not step.lemma.gap.has(E):
        return E(step.weight * delta)
    return step.weight * delta


def _altered_args(args: tuple) -> Iterator[tuple[int, tuple]]:
    """(position, args) with one expression argument doubled (not a bare symbol: that is a variable)."""
    for k, a in enumerate(args):
        if isinstance(a, sp.Expr) and not isinstance(a, sp.Symbol) and not _is_matrix(a) and a != 0:
            yield k, args[:k] + (2 * a,) + args[k + 1:]
            return


def _rebuilt(obj, args: tuple):
    key, _, kwargs = obj.origin
    out = engine._BUILDERS[key](*args, **dict(kwargs))
    out.origin, out.axiom = (key, args, kwargs), obj.axiom
    return out


def _lemma(proof: Proof, i: int, step: Step, lhs) -> Iterator[Mutant]:
    if step.relation not in ("<=", ">=") or step.lemma is None:
        return
    lemma = step.lemma
    if isinstance(lemma, Citation):
        for k, (old, new) in enumerate(lemma.subs.pairs):
            if isinstance(new, sp.Expr) and new != 0:
                pairs = lemma.subs.pairs[:k] + ((old, 2 * new),) + lemma.subs.pairs[k + 1:]
                yield Mutant("lemma", proof, i, _copy(step, lemma=replace(lemma, subs=Substitution(pairs))),
                             f"the substitution's value for {old} doubled")
                return
        return
    # the claim made stronger by 1 (false where the original is tight), the lemma's gap lowered to match
    shifted = Lemma(lemma.name, lemma.gap - 1, list(lemma.conditions), lemma.equality, lemma.origin, lemma.axiom)
    change = _aggregate(proof, step, lhs, sp.S.One)
    rhs = step.rhs - change if step.relation == "<=" else step.rhs + change
    yield Mutant("lemma", proof, i, _copy(step, lemma=shifted, rhs=rhs), "the lemma's gap and the claim shifted by 1")
    if lemma.origin is not None:
        for k, args in _altered_args(lemma.origin[1]):
            try:
                altered = _rebuilt(lemma, args)
            except Exception:  # noqa: BLE001 - a builder that cannot take the changed argument: no mutant
                continue
            yield Mutant("lemma", proof, i, _copy(step, lemma=altered), f"the lemma's argument {k + 1} doubled")


def _apply(proof: Proof, rewrites, e):
    """The rewrites as a mutant presents them (a rule's own function, a citation's instances, a substitution)."""
    for r in rewrites:
        if isinstance(r, tuple):
            e = engine._substitute(e, r[1])
        elif isinstance(r, Rule):
            e = r.fn(e)
        elif isinstance(r, Assumed):
            e = r.rule(e) if callable(r.rule) and not isinstance(r.rule, dict) else engine._substitute(e, r.rule)
        elif isinstance(r, Citation):
            final = {f.lhs: f for f in r.factory().facts() if f.rel == "=" and f.cond is None}
            for fact in final.values():
                inst = engine._instance(fact, r.subs)
                if inst is not None:
                    e = engine._substitute(e, {inst.lhs: inst.rhs})
    return e


def _altered_rewrite(r):
    """The rewrite with its target changed, or None."""
    if isinstance(r, tuple):
        return (r[0], {old: 2 * new if new != 0 else new + 1 for old, new in r[1].items()})
    if isinstance(r, Rule):
        def altered(e, fn=r.fn):
            out = fn(e)
            return out if out == e else 2 * out
        return replace(r, fn=altered)
    if isinstance(r, Assumed):
        if isinstance(r.rule, dict):
            return replace(r, rule={old: 2 * new if new != 0 else new + 1 for old, new in r.rule.items()})
        return replace(r, rule=lambda e, fn=r.rule: (lambda out: out if out == e else 2 * out)(fn(e)))
    if isinstance(r, Citation):
        for k, (old, new) in enumerate(r.subs.pairs):
            if isinstance(new, sp.Expr) and not isinstance(new, sp.Symbol) and new != 0:
                return replace(r, subs=Substitution(r.subs.pairs[:k] + ((old, 2 * new),) + r.subs.pairs[k + 1:]))
        facts = [f for f in r.factory().facts() if f.rel == "=" and f.cond is None]
        if facts:  # no substitution to change: the cited equality's right side doubled, as a substitution
            last = facts[-1]
            return ("the cited equality, changed", {last.lhs: 2 * last.rhs if last.rhs != 0 else last.rhs + 1})
    return None


def _rewrite(proof: Proof, i: int, step: Step, lhs) -> Iterator[Mutant]:
    if step.relation not in ("=", "<=", ">=") or not step.rewrites or lhs is None or _is_matrix(step.rhs):
        return
    for k, r in enumerate(step.rewrites):
        new = _altered_rewrite(r)
        if new is None:
            continue
        rewrites = list(step.rewrites)
        rewrites[k] = new
        try:
            a, am = _apply(proof, step.rewrites, lhs), _apply(proof, rewrites, lhs)
            b, bm = _apply(proof, step.rewrites, step.rhs), _apply(proof, rewrites, step.rhs)
            rhs = step.rhs + (am - a) - (bm - b)
        except Exception:  # noqa: BLE001 - a rule that cannot take the changed form: no mutant
            continue
        if _is_matrix(rhs) or (am == a and bm == b):
            continue
        name = r[0] if isinstance(r, tuple) else getattr(r, "name", "?")
        yield Mutant("rewrite", proof, i, _copy(step, rewrites=tuple(rewrites), rhs=rhs),
                     f"the target of '{name}' changed, and the claim with it")


def _limit(proof: Proof, i: int, step: Step) -> Iterator[Mutant]:
    if step.relation != "limit":
        return
    var, point, value = step.extra["var"], step.extra["point"], step.rhs
    if point in (sp.oo, -sp.oo):
        other = value + 1 / var if value.is_finite else (var if value == sp.oo else -var) * (
            1 if point == sp.oo else -1)
    else:
        other = value + (var - point) if value.is_finite else (1 if value == sp.oo else -1) / (var - point) ** 2
    yield Mutant("limit", proof, i, _copy(step, lhs=other), f"the expression replaced by {other}")


def _tolerance(proof: Proof, i: int, step: Step) -> Iterator[Mutant]:
    if step.relation != "computed" or step.extra.get("rel", "=") != "=":
        return
    rhs = step.rhs * sp.Rational(1001, 1000) if step.rhs != 0 else sp.Rational(1, 1000)
    yield Mutant("tolerance", proof, i, _copy(step, rhs=rhs, extra={**step.extra, "tol": 1e-2}),
                 "tolerance 1e-2 with the formula off by 0.1 %")


def _chain_lhs(proof: Proof, index: int):
    lhs = proof.first
    for earlier in proof.steps[:index]:
        if earlier.relation == "start" or earlier.relation in ("=", "<=", ">=", "!="):
            lhs = earlier.rhs
    return lhs


def mutants(proofs: list[Proof], families=FAMILIES) -> Iterator[Mutant]:
    pool = [p for p in proofs if p.result().passed]
    for proof in proofs:
        for i, step in enumerate(proof.steps):
            if step.relation in ("start", "assume"):
                continue
            lhs = _chain_lhs(proof, i) if step.relation in ("=", "<=", ">=", "!=") else None
            makers: dict[str, Callable[[], Iterator[Mutant]]] = {
                "sign": lambda: _sign(proof, i, step), "factor": lambda: _factor(proof, i, step),
                "swap": lambda: _swap(proof, i, step), "citation": lambda: _citation(proof, i, step, pool),
                "lemma": lambda: _lemma(proof, i, step, lhs), "rewrite": lambda: _rewrite(proof, i, step, lhs),
                "limit": lambda: _limit(proof, i, step), "tolerance": lambda: _tolerance(proof, i, step)}
            for family in families:
                yield from makers[family]()


def _in_context(proof: Proof, a, b) -> bool:
    """a = b in the proof's context (its densities and definitions, integrals through their integrands), within a
    few CPU seconds."""
    if a == b:
        return True
    if _is_matrix(a) or _is_matrix(b) or not isinstance(a, sp.Expr) or not isinstance(b, sp.Expr):
        return False
    ok, out = attempt("comparing a mutant", proof._same, a, b, seconds=EQUIVALENCE_SECONDS)
    return ok and out


def _at_least(proof: Proof, a, b) -> bool:
    """a >= b shown in the proof's context (integral-free difference, symbolic sign)."""
    if _is_matrix(a) or _is_matrix(b) or not isinstance(a, sp.Expr) or not isinstance(b, sp.Expr):
        return False

    def decide():
        residual, pointwise = proof._difference(a - b)
        return is_zero(pointwise) and sign_holds(residual, ">=")
    ok, out = attempt("comparing a mutant", decide, seconds=EQUIVALENCE_SECONDS)
    return ok and out


def equivalent(m: Mutant) -> bool:
    """The mutant states nothing false: its changed side equals the original (a factor 2 or a sign on 0, a swap
    of symmetric variables), its inequality is implied by the original one (a bound made looser), its sign claim
    holds anyway, or the lemma built from a changed argument is the same lemma."""
    old, new, proof = m.proof.steps[m.index], m.step, m.proof
    if m.family == "lemma" and isinstance(new.lemma, Lemma) and new.rhs == old.rhs:
        # the lemma built from the changed argument states the same inequality (Jensen for log is
        # scale-invariant: log(avg 2X) - avg log 2X = log(avg X) - avg log X)
        return isinstance(old.lemma, Lemma) and (new.lemma.same_as(old.lemma) or (
            [c.kind for c in new.lemma.conditions] == [c.kind for c in old.lemma.conditions]
            and _in_context(proof, new.lemma.gap, old.lemma.gap)))
    if m.family == "rewrite":  # the changed target cancelled out of the claim: the claim is the original one
        return _in_context(proof, old.rhs, new.rhs)
    if m.family == "limit":  # the replacement is the chain's own expression
        return _in_context(proof, old.lhs, new.lhs)
    if m.family not in ("sign", "factor", "swap") or old.relation == "!=":
        return False
    if old.relation == "sign":
        return _in_context(proof, old.lhs, new.lhs) or sign_holds(new.lhs, old.extra["rel"])
    if _in_context(proof, old.rhs, new.rhs):
        return True
    if old.rewrites:  # the same value once the step's own rewrites (which the engine checks) are applied
        try:
            if _in_context(proof, _apply(proof, old.rewrites, old.rhs), _apply(proof, old.rewrites, new.rhs)):
                return True
        except Exception:  # noqa: BLE001 - a rewrite that cannot take the changed side: not shown equal
            pass
    rel = old.extra.get("rel", "=") if old.relation == "computed" else old.relation
    if rel in ("<=", "<"):  # lhs <= rhs implies lhs <= anything larger
        return _at_least(proof, new.rhs, old.rhs)
    if rel in (">=", ">"):
        return _at_least(proof, old.rhs, new.rhs)
    return False


def run(proofs: list[Proof], families=FAMILIES, limit: int | None = None, seconds: float = 20,
        progress: Callable[[str], None] | None = None) -> dict[str, Tally]:
    """Check every mutant (at most `limit` per family, spread over the proofs), each step under a CPU-time limit
    of `seconds` (a step that runs past it fails: the mutant is caught)."""
    tallies = {f: Tally() for f in families}
    by_family: dict[str, list[Mutant]] = {f: [] for f in families}
    for m in mutants(proofs, families):
        by_family[m.family].append(m)
    saved = engine.STEP_SECONDS
    engine.STEP_SECONDS = seconds
    try:
        for family, items in by_family.items():
            if limit is not None and len(items) > limit:
                items = [items[round(j * (len(items) - 1) / (limit - 1))] for j in range(limit)] if limit > 1 \
                    else items[:1]
            tally = tallies[family]
            for m in items:
                if equivalent(m):
                    tally.equivalent += 1
                    continue
                tally.mutants += 1
                if m.proof.check_step(m.index, m.step).passed:
                    tally.survivors.append(f"{m.proof.title} [step {m.index}]: {m.what}")
                else:
                    tally.caught += 1
                if progress is not None:
                    progress(f"{family}: {tally.mutants} checked")
    finally:
        engine.STEP_SECONDS = saved
    return tallies


def main(argv: list[str] | None = None) -> int:
    from . import TOPICS, all_proofs

    parser = argparse.ArgumentParser(prog="python -m proofs.mutate", description=__doc__.splitlines()[0])
    parser.add_argument("topics", nargs="*", metavar="TOPIC", help=f"topics (default: all): {', '.join(TOPICS)}")
    parser.add_argument("--family", action="append", choices=FAMILIES, help="families to run (default: all)")
    parser.add_argument("--limit", type=int, default=None, help="at most N mutants per family, spread out")
    parser.add_argument("--seconds", type=float, default=20, help="CPU seconds per mutated step (default 20)")
    parser.add_argument("--show", type=int, default=20, help="survivors listed per family (default 20)")
    args = parser.parse_args(argv)
    unknown = [t for t in args.topics if t not in TOPICS]
    if unknown:
        print(f"error: unknown topic {unknown[0]!r} (topics: {', '.join(TOPICS)})", file=sys.stderr)
        return 2
    proofs = [p for p in all_proofs() if not args.topics or p.topic in args.topics]
    start = time.process_time()
    tallies = run(proofs, tuple(args.family or FAMILIES), args.limit, args.seconds)
    failed = False
    print(f"mutation harness: {len(proofs)} proofs, {time.process_time() - start:.0f} s CPU")
    for family, t in tallies.items():
        must = family in MUST_CATCH
        print(f"  {family:10s} {t.mutants:4d} mutants, {t.caught:4d} caught, {len(t.survivors):4d} survived "
              f"({100 * t.rate:5.1f} %), {t.equivalent} equivalent{'' if must else ' (informative)'}")
        for s in t.survivors[:args.show]:
            print(f"      SURVIVED {s}")
        failed |= must and bool(t.survivors)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
