"""derive(): from a spec (catalogue name, expression in u, or TOML file) to everything VDM needs."""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from ..spec import catalogue
from . import cache
from .activation import V, activation
from .._util.checks import Check
from .conjugate import T, Interval, conjugate
from ..errors import DerivationError, SpecError
from .inverse import PieceConjugate, is_numeric
from .selfcheck import self_checks
from .numeric import parameter_sample
from ..spec.spec import U, Param, Spec, SymbolicRange, load_toml
from .._util.timelimit import decide, step, step_seconds
from .validate import analyse


@dataclass(repr=False)
class Derivation:
    """The derived objects (SymPy expressions in u, t, v) and the checks that back them.

    In Jupyter it shows as a table (_repr_markdown_, _repr_latex_); to_dict() is the JSON object of
    `fdiv derive --format json`, to_json_text() the same as text."""

    name: str
    spec: Spec
    f: sp.Expr
    parameters: dict[str, sp.Expr]
    conjugate: sp.Expr
    conjugate_domain: Interval
    critic_range: Interval
    activation: sp.Expr
    activation_rule: str
    optimal_critic: sp.Expr
    ratio_from_critic: sp.Expr
    f_prime_at_one: sp.Expr
    f_at_zero: sp.Expr
    f_prime_at_zero: sp.Expr
    f_prime_at_infinity: sp.Expr
    f_at_one: sp.Expr
    branches: tuple = ()
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def numeric(self) -> bool:
        """Whether f* has a branch without a closed form (evaluated as a root of f'(u) = t)."""
        return is_numeric(self.conjugate)

    @property
    def conjugate_evaluation(self) -> str:
        """"closed-form" or "numeric" (f* has a branch evaluated as a root of f'(u) = t): the JSON's words."""
        return "numeric" if self.numeric else "closed-form"

    def __repr__(self) -> str:
        checks = "all checks passed" if self.ok else "a check FAILED"
        return (f"<Derivation {self.name}: f(u) = {self.f}, f*(t) {self.conjugate_evaluation}, "
                f"{len(self.checks)} checks, {checks}>")

    def _repr_markdown_(self) -> str:
        from .render import markdown_card

        return markdown_card(self)

    def _repr_latex_(self) -> str:
        from .render import latex_card

        return latex_card(self)

    def paper_activation(self) -> sp.Expr | None:
        """The f-GAN paper's activation as the catalogue records it, at this derivation's parameter values (the
        paper's own row for alpha > 1), or None where none is recorded. A parameter kept symbolic stays a symbol."""
        from ..spec.parse import EXTENDED, parse
        from .published import _published_for

        text = _published_for(self.spec, self.parameters).get("activation") if self.spec.published else None
        if text is None:
            return None
        syms = {"v": V, **{k: sp.Symbol(k, real=True) for k in self.parameters}}
        expr = parse(text, syms, where=f"{self.name}: published activation", functions=EXTENDED)
        return expr.xreplace({syms[k]: v for k, v in self.parameters.items() if not isinstance(v, SymbolicRange)})

    def notes(self) -> list[str]:
        """What a user should know that is not an error (printed as `note:` lines by the CLI)."""
        out = []
        if self.f_at_one != 0:
            out.append(f"f(1) = {self.f_at_one}, so D_f(P||P) = {self.f_at_one}: subtract it from f to normalise "
                       "(f* shifts by f(1); dom f*, sigma_f and the optimal critic do not change)")
        if self.numeric:
            cardano = self._cardano_pieces()
            why = (f"f'(u) = t is a cubic or quartic equation in u (or in a root of u) on {', '.join(cardano)}: its "
                   "roots by radicals (Cardano's or Ferrari's formulas) run to thousands of operations and lose "
                   "accuracy in floating point, so" if cardano else
                   "SymPy found no closed form for (f')^-1 within the operation budget:")
            out.append(f"{why} f* is evaluated numerically, as t*u - f(u) at the root u of f'(u) = t (30 digits in "
                       "checks, float64 in generated losses)")
        return out

    def _cardano_pieces(self) -> list[str]:
        """The intervals of u whose numeric branch is numeric by the Cardano rule (conjugate._needs_cardano)."""
        from .conjugate import _needs_cardano

        nodes = sorted(self.conjugate.atoms(PieceConjugate), key=lambda n: sp.default_sort_key(n.args[2]))
        return [f"u in ({n.args[2]}, {n.args[3]})" for n in nodes
                if _needs_cardano(sp.diff(n.args[1].expr, n.args[1].variables[0]).subs(n.args[1].variables[0], U))]

    def to_json(self) -> dict:
        """The same dict as to_dict(): the name the JSON contract documents, kept for the scripts that index it.
        For the JSON text, to_json_text()."""
        return self.to_dict()

    def to_json_text(self, indent: int | None = 2) -> str:
        """The JSON text `fdiv derive --format json` prints."""
        import json

        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def to_dict(self) -> dict:
        """The JSON contract (every expression a string sympy.parse_expr reads back), plus checks and limits.

        Where f* has no closed form, "conjugate" and "ratio_from_critic" are null and "conjugate_numeric"
        describes each branch: exact ones as expressions, numeric ones by the equation their u solves."""
        numeric = self.numeric
        return {
            "name": self.name,
            "f": str(self.f),
            "parameters": {k: str(v) for k, v in self.parameters.items()},  # a symbolic range prints as (a, b)
            "conjugate": None if numeric else str(self.conjugate),
            "conjugate_domain": self.conjugate_domain.to_json(),
            "critic_range": self.critic_range.to_json(),
            "activation": str(self.activation),
            "optimal_critic": str(self.optimal_critic),
            "ratio_from_critic": None if numeric else str(self.ratio_from_critic),
            "f_prime_at_one": str(self.f_prime_at_one),
            "f_at_one": str(self.f_at_one),
            "conjugate_evaluation": self.conjugate_evaluation,
            **({"conjugate_numeric": _numeric_json(self)} if numeric else {}),
            "limits": {"f(0+)": str(self.f_at_zero), "f'(0+)": str(self.f_prime_at_zero),
                       "f'(oo)": str(self.f_prime_at_infinity), "f(1)": str(self.f_at_one)},
            "activation_rule": self.activation_rule,
            "published_activation": None if (paper := self.paper_activation()) is None else str(paper),
            "checks": [c.to_json() for c in self.checks],
        }


def _numeric_json(d: Derivation) -> list[dict]:
    """The branches of f* in increasing t: exact ones as expressions, numeric ones by their equation."""
    out, lower = [], "-oo"
    for b in d.branches:
        upper = str(b.upper)
        entry = {"t_from": lower, "t_to": upper, "closed": b.closed}
        if b.numeric:
            node = next(iter(b.expr.atoms(PieceConjugate)))
            lam = node.args[1]
            entry.update({"evaluation": "numeric", "f": str(lam.expr), "f_prime": str(sp.diff(lam.expr, U)),
                          "u_interval": [str(node.args[2]), str(node.args[3])],
                          "formula": "t*u - f(u) where u solves f_prime(u) = t on u_interval"})
        else:
            entry.update({"evaluation": "closed-form", "expression": str(b.expr), "ratio": str(b.ratio)})
        out.append(entry)
        lower = upper
    return out


def resolve_spec(name_or_expr: str, params: dict[str, str] | None = None) -> Spec:
    """A catalogue name or alias, a path to a TOML spec file, or an expression in u."""
    params = params or {}
    spec = catalogue.find(name_or_expr)
    if spec is not None:
        return spec
    if name_or_expr.endswith(".toml"):
        specs = load_toml(name_or_expr)
        if len(specs) != 1:
            raise SpecError(f"{name_or_expr}: holds {len(specs)} divergences; derive takes one")
        return specs[0]
    if not any(ch in name_or_expr for ch in "u()*+-/"):
        from ..spec.names import suggestion

        raise SpecError(f"unknown divergence {ascii(name_or_expr)[:80]}{suggestion(name_or_expr)}")
    return custom_spec(name_or_expr, params)


def custom_spec(expr: str, params: dict[str, str]) -> Spec:
    """A user-written f; each --param K=V declares the parameter K (any real value)."""
    for key in params:
        if not key.isidentifier() or not key.isascii() or key in ("u", "t", "v", "pi", "E", "oo", "I") \
                or key.startswith("_"):
            raise SpecError(f"--param {ascii(key)}: not a usable parameter name")
    return Spec(name="custom", f=expr, params=tuple(Param(k, str(v)) for k, v in params.items()), title="user f")


def derive(name_or_expr: str | Spec, **params) -> Derivation:
    """Derive f*, dom f*, critic range, sigma_f, T*, (f')^-1 and f'(1), with self-checks.

    `name_or_expr` is a catalogue name or alias, a TOML file, an expression in u, or a Spec; parameters are
    given as keywords (numbers, strings such as "1/3", or exact SymPy numbers).
    """
    if not isinstance(name_or_expr, (str, Spec)):
        raise SpecError(f"derive: expected a name, an expression in u or a Spec, got {type(name_or_expr).__name__}")
    for key, value in params.items():
        if isinstance(value, bool) or not isinstance(value, (str, int, float, sp.Basic)):
            raise SpecError(f"parameter {key}: expected a number or a string, got {type(value).__name__}")
    spec = name_or_expr if isinstance(name_or_expr, Spec) else resolve_spec(name_or_expr, params)
    f, values = spec.expr(params)
    address = cache.key(spec, values, step_seconds())
    hit = cache.get(address, spec, f, values)
    if hit is not None:
        return hit
    ranges = [v for v in values.values() if isinstance(v, SymbolicRange)]
    with parameter_sample({r.symbol: r.sample() for r in ranges}):
        d = _derive(spec, f, values, ranges)
    if ranges:
        _lift(d, ranges)
    cache.put(address, d)
    return d


def _derive(spec: Spec, f: sp.Expr, values: dict, ranges: list[SymbolicRange]) -> Derivation:
    where = spec.name if spec.name != "custom" else "f"
    a = analyse(f, name=where, symbolic=frozenset(r.symbol for r in ranges))
    c = conjugate(a)
    if ranges and c.numeric:
        raise DerivationError(
            f"{where}: SymPy found no closed form for (f')^-1 with a symbolic parameter range, and a numeric "
            "conjugate needs numbers: give the parameter a value (--param K=V)")
    sigma, rule = activation(c.critic_range)
    with step("differentiating f"):
        optimal = _piecewise_derivative(a)
    fp1 = _f_prime_at_one(a)
    checks = list(a.checks) + list(c.checks) + self_checks(a, c, sigma, fp1)
    return Derivation(
        name=spec.name, spec=spec, f=f, parameters=values, conjugate=c.expr, conjugate_domain=c.domain,
        critic_range=c.critic_range, activation=sigma, activation_rule=rule, optimal_critic=optimal,
        ratio_from_critic=c.ratio, f_prime_at_one=fp1, f_at_zero=a.f_at_zero, f_prime_at_zero=a.f_prime_at_zero,
        f_prime_at_infinity=a.f_prime_at_infinity, f_at_one=a.f_at_one, branches=c.branches, checks=checks)


def _lift(d: Derivation, ranges: list[SymbolicRange]) -> None:
    """Write a derivation made in the positive symbols s back in the parameters, and label sampled checks."""
    back = {r.symbol: r.inverse() for r in ranges}

    def lift(e: sp.Expr) -> sp.Expr:
        e = e.xreplace(back)
        forms = [e]
        for step in (sp.simplify, sp.factor):
            ok, form = decide("simplifying a symbolic-parameter result", step, e, seconds=4)
            if ok:
                forms.append(form)
        return min(forms, key=lambda x: (sp.count_ops(x), len(str(x))))

    for name in ("f", "conjugate", "optimal_critic", "ratio_from_critic", "f_prime_at_one",
                 "f_at_zero", "f_prime_at_zero", "f_prime_at_infinity", "f_at_one"):
        setattr(d, name, lift(getattr(d, name)))
    for name in ("conjugate_domain", "critic_range"):
        i = getattr(d, name)
        setattr(d, name, Interval(lift(i.lower), lift(i.upper), i.lower_closed, i.upper_closed))
    d.activation, d.activation_rule = activation(d.critic_range)  # sigma_f depends only on the critic range
    names = {f"{r.name}_s": f"({r.inverse()})" for r in ranges}
    sampled = ", ".join(f"{r.name} = {r.expr().xreplace({r.symbol: r.sample()})}" for r in ranges)
    def detail(c: Check) -> str:
        if c.name == "activation maps R into dom f*":  # restated in the parameter, not in the internal symbol
            c_rng = d.critic_range
            text = f"sigma_f(R) = ({c_rng.lower}, {c_rng.upper}), dom f* = {d.conjugate_domain}"
        else:
            text = c.detail
            for old, new in names.items():
                text = text.replace(old, new)
        if c.method != "symbolic":
            text = (text + "; " if text else "") + f"sampled at {sampled}"
        return text

    d.checks = [Check(c.name, c.passed, c.method, detail(c)) for c in d.checks]


def high_order_radicals(e: sp.Expr) -> set[sp.Pow]:
    """The numbers in e raised to a fraction whose denominator exceeds 12 (2^(190/807)): SymPy's polynomial
    algorithms take them as generators of an algebraic field, and factor on a product of four ran past the
    step's 20 s (an f whose affine term is -f'(1) (u - 1) carries one), where simplify and the expansions take
    milliseconds. A rule, not a timing (see decide)."""
    return {p for p in e.atoms(sp.Pow) if p.base.is_Number and p.exp.is_Rational and p.exp.q > 12}


def _tidy(e: sp.Expr) -> sp.Expr:
    """The shortest of a few equivalent forms (each tried under a time limit)."""
    forms = [e]
    steps = (sp.simplify, sp.factor, lambda x: sp.expand_log(x, force=True), sp.expand)
    for form in steps[:1] + steps[2:] if high_order_radicals(e) else steps:
        ok, out = decide("simplifying f'", form, e, seconds=3)
        if ok and not out.has(sp.zoo, sp.nan, sp.I):
            forms.append(out)
    return min(forms, key=lambda x: (sp.count_ops(x), len(str(x))))


def _piecewise_derivative(a) -> sp.Expr:
    if len(a.pieces) == 1:
        return _tidy(a.pieces[0].df)
    pairs = [(_tidy(p.df), U < p.hi) for p in a.pieces[:-1]] + [(_tidy(a.pieces[-1].df), sp.true)]
    return sp.Piecewise(*pairs)


def _f_prime_at_one(a) -> sp.Expr:
    """f'(1); at a kink u = 1, the midpoint of the subdifferential [f'(1-), f'(1+)]."""
    for left, right in zip(a.pieces, a.pieces[1:]):
        if left.hi == 1:
            return (left.df_hi + right.df_lo) / 2
    for p in a.pieces:
        if p.lo < 1 < p.hi:
            return _tidy(p.df.subs(U, 1))
    raise AssertionError("pieces do not cover u = 1")


__all__ = ["Derivation", "derive", "high_order_radicals", "resolve_spec", "T", "U", "V"]
