"""The expressions a generated module evaluates, composed and simplified for stability.

sigma_f(v) is written through a positive core c: on (-oo, b), sigma = b - c with c = softplus(-v); on (a, oo),
sigma = a + c with c = softplus(v). f*(sigma) and (f')^-1(sigma) are simplified in c (SymPy knows c > 0, and
never rewrites softplus(-v) as log(e^v + 1) - v, which cancels for large v), c-level identities are applied,
and only then is c replaced by softplus. On a bounded range, 1 -+ tanh(v) = 2 exp(-softplus(+-2v)).
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..activation import V
from ..conjugate import T, lambert_of_y_exp_y
from ..derive import Derivation
from ..errors import DerivationError
from ..timelimit import attempt
from .rules import apply_rules, log1mexp, softplus

_C = sp.Symbol("c", positive=True)


@dataclass(frozen=True)
class Lowered:
    activation: sp.Expr
    conjugate: sp.Expr  # f*(t), +oo outside dom f*
    conjugate_of_activation: sp.Expr
    density_ratio: sp.Expr


def _simplest(*forms: sp.Expr) -> sp.Expr:
    return min(forms, key=lambda e: (sp.count_ops(e), len(str(e))))


def _simplify(e: sp.Expr) -> sp.Expr:
    forms = [e]
    for step in (sp.simplify, lambda x: sp.simplify(sp.logcombine(x, force=True)), sp.expand):
        ok, form = attempt("simplifying a lowered expression", step, e, seconds=10)
        if ok and not form.has(sp.zoo, sp.nan):
            forms.append(form)
    return _simplest(*forms)


def _core(d: Derivation):
    """(sigma in terms of c, c in terms of v), or None when sigma is used as it is."""
    lo, hi = d.critic_range.lower, d.critic_range.upper
    if lo == -sp.oo and hi == sp.oo:
        return None
    if lo == -sp.oo:
        return hi - _C, softplus(-V)
    if hi == sp.oo:
        return lo + _C, softplus(V)
    return None


def _split_logs(e: sp.Expr) -> sp.Expr:
    """log(a b ...) -> log a + log b + ... with every factor made positive (its sign is read at c = 1/2 and
    c = 3): sums then read 1 - e^(-kc) rather than e^(-kc) - 1; expand_log(force=True) would give I*pi."""
    def sign_of(x):
        values = [x.subs(_C, c).evalf(30) for c in (sp.Rational(1, 2), 3)]
        if all(val.is_real and val > 0 for val in values):
            return 1
        if all(val.is_real and val < 0 for val in values):
            return -1
        return 0

    def split(x):
        factors, sign = [], 1
        for f in sp.Mul.make_args(x.args[0]):
            base, power = f.as_base_exp()
            if base.is_Add:
                content, rest = sp.factor_terms(base).as_coeff_Mul()
                if content != 1:
                    factors.append((abs(content), power))
                    sign *= 1 if content > 0 else (-1) ** power
                    base = rest
            s = sign_of(base)
            if s == 0 or not power.is_integer and s < 0:
                return x
            if s < 0:
                base, sign = -base, sign * (-1) ** power
            factors.append((base, power))
        if sign != 1:
            return x
        return sp.Add(*[p * sp.log(b) for b, p in factors])

    return e.replace(lambda x: isinstance(x, sp.log) and (x.args[0].is_Mul or x.args[0].is_Pow), split)


def _c_identities(e: sp.Expr, c_of_v: sp.Expr) -> sp.Expr:
    """With c = softplus(-v) and y = e^-c = sigmoid(v): log(1 - y^k) = log(1 - y) + log(1 + y + ... + y^(k-1))
    for integer k, and log(1 - y) = -softplus(v) exactly (1 - sigmoid(v) = sigmoid(-v)): finite where c
    underflows. Other k keep log1mexp(-k c)."""
    minus_v = -c_of_v.args[0]

    def rewrite(x):
        rest = x.args[0] - 1
        if not (rest.could_extract_minus_sign() and isinstance(-rest, sp.exp)):
            return x
        k = sp.simplify(-(-rest).args[0] / _C)
        if k.is_Integer and 1 <= k <= 8:
            return -softplus(minus_v) + sp.log(sp.Add(*[sp.exp(-j * _C) for j in range(int(k))]))
        return log1mexp((-rest).args[0])

    return e.replace(lambda x: isinstance(x, sp.log) and x.args[0].is_Add and sp.S.One in x.args[0].args, rewrite)


def _tanh_identities(e: sp.Expr) -> sp.Expr:
    """k - k tanh(v) = 2k exp(-softplus(2v)), k + k tanh(v) = 2k exp(-softplus(-2v)): no cancellation at |v|
    large."""
    def match(x):
        if not (x.is_Add and len(x.args) == 2):
            return False
        const, rest = x.as_coeff_Add()
        coeff = rest.coeff(sp.tanh(V))
        return const != 0 and rest == coeff * sp.tanh(V) and abs(coeff) == abs(const)

    def repl(x):
        const, rest = x.as_coeff_Add()
        coeff = rest.coeff(sp.tanh(V))
        sign = 1 if coeff == -const else -1
        return 2 * const * sp.exp(-softplus(2 * sign * V))

    return sp.powdenest(e.replace(match, repl), force=True)


def _piecewise_in_v(e: sp.Expr, c_of_v: sp.Expr) -> sp.Expr:
    """Piecewise((e1, c < k1), (e2, c < k2), ..., (en, True)) in c -> the same in v, branches ordered by v.

    c = softplus(s v) is monotone in v: c < k <=> s v < log(expm1(k)). For s = -1 the branch order reverses
    and each strict condition becomes a non-strict one on the other side.
    """
    if not isinstance(e, sp.Piecewise):
        return e
    s = 1 if c_of_v.args[0] == V else -1
    pieces = []
    for expr, cond in e.args:
        if cond is sp.true:
            pieces.append((expr, None, None))
            continue
        if not (isinstance(cond, (sp.StrictLessThan, sp.LessThan)) and cond.lhs == _C and cond.rhs.is_number):
            raise DerivationError(f"cannot lower the condition {cond.subs(_C, c_of_v)}")
        if cond.rhs <= 0:  # c > 0: never holds
            continue
        pieces.append((expr, (s * sp.log(sp.exp(cond.rhs) - 1)).evalf(30), isinstance(cond, sp.StrictLessThan)))
    if pieces[-1][1] is not None:
        raise DerivationError(f"a piecewise expression without an otherwise branch: {e}")
    if s == 1:
        return sp.Piecewise(*[(x, sp.true if b is None else (V < b if strict else V <= b)) for x, b, strict in pieces])
    # reversed: branch i holds for v <= b_(i-1) (the complement of branch i-1's condition); the first for all v
    out = []
    for i in range(len(pieces) - 1, -1, -1):
        if i == 0:
            out.append((pieces[0][0], sp.true))
        else:
            _, b, strict = pieces[i - 1]
            out.append((pieces[i][0], V <= b if strict else V < b))
    return sp.Piecewise(*out)


def compose(d: Derivation, outer: sp.Expr) -> sp.Expr:
    """outer(sigma_f(v)) for an expression `outer` in t, simplified and rewritten for stability."""
    core = _core(d)
    if core is None:
        e = outer.subs(T, d.activation)
        if isinstance(e, sp.Piecewise):
            e = sp.piecewise_fold(e)
        e = _simplify(lambert_of_y_exp_y(e))
        e = _tanh_identities(sp.expand(e)) if e.has(sp.tanh) else e
        return apply_rules(e)
    sigma_c, c_of_v = core
    e = outer.subs(T, sigma_c)
    if isinstance(e, sp.Piecewise):  # branches below f'(0+) cannot be reached: sigma > f'(0+)
        e = sp.piecewise_fold(e)
    e = _simplify(e)
    e = sp.expand(_c_identities(_split_logs(e), c_of_v))
    e = _piecewise_in_v(e, c_of_v) if isinstance(e, sp.Piecewise) else e
    return apply_rules(e.subs(_C, c_of_v))


def lower(d: Derivation) -> Lowered:
    upper = d.conjugate_domain.upper
    conj = d.conjugate
    if upper != sp.oo:
        inside = T <= upper if d.conjugate_domain.upper_closed else T < upper
        pieces = conj.args if isinstance(conj, sp.Piecewise) else ((conj, sp.true),)
        # branch uppers increase and end below dom f*'s end: only the last branch needs the domain's condition
        conj = sp.Piecewise(*[(e, inside if c is sp.true else c) for e, c in pieces], (sp.oo, True))
    return Lowered(
        activation=apply_rules(d.activation),
        conjugate=apply_rules(conj),
        conjugate_of_activation=compose(d, d.conjugate),
        density_ratio=compose(d, d.ratio_from_critic),
    )
