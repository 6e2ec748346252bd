"""f'(e^r) as a sum of terms that evaluate stably, with its differences and the log of its slope.

A preference loss evaluates g(r) = f'(e^r) at log-ratios r = log pi - log pi_ref anywhere in [-1e4, 1e4], and
the margin g(r_w) - g(r_l). Written as SymPy gives it, g overflows (reverse KL: -e^-r at r = -1e4), loses
the margin to cancellation (two overflowing terms: inf - inf), or squares tiny numbers in its gradient. So g
is rewritten as

    g(r) = c + s r + sum_i a_i log S_i(r) + sum_j b_j exp(T_j(r)),

where each S_i is a sum of exponentials c_k e^(k r) with positive coefficients (its log is a log-sum-exp,
written with softplus, finite for every r), and each T_j(r) = k r + b + sum p log S(r) is such a tame
expression. Then

* the margin's tame part is s (a - b) + sum_i a_i (log S_i(a) - log S_i(b)), constants cancelled exactly;
* each exponential difference is sign(d) exp(max(T(a), T(b)) + log(1 - e^-|d|)) with d = T(a) - T(b) written
  without the constant: no overflow before the true value overflows, and exactly 0 for a = b;
* the slope g'(r) = u f''(u) (u = e^r) is returned as its logarithm, factor by factor (log|F| of a signed
  exponential sum is max(P, N) + log(1 - e^-|P - N|) with P, N the log-sum-exps of its positive and negative
  parts), so a gradient sigma(-m) beta g'(r) is exp of a sum and never 0 * inf.

Everything is a SymPy expression in the primitives of fdiv.codegen.lower.rules (softplus, log1mexp) plus
`signed_sum`, printed by fdiv.codegen.lower.printer.TorchPrinter. A term of another shape is refused with the term
named. `check` compares the rewritten forms with f' itself at 30 digits.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from math import lcm

import mpmath
import sympy as sp

from ...errors import DerivationError
from ..lower.rules import log1mexp, softplus
from ...spec.spec import U

R = sp.Symbol("r", real=True)  # a log-ratio log pi - log pi_ref
A, B = sp.Symbol("r_w", real=True), sp.Symbol("r_l", real=True)  # the chosen and the rejected response's
_W = sp.Symbol("w", positive=True)  # u = w**q, so that fractional powers of u become polynomials in w
signed_sum = sp.Function("signed_sum")  # signed_sum(s1, l1, s2, l2, ...) = sum s_i exp(l_i), printed by dpo


class Unsupported(DerivationError):
    """f'(e^r) has a term this rewrite does not know how to evaluate stably."""


# ------------------------------------------------------------------------------------------ exponential sums
@dataclass(frozen=True)
class ExpSum:
    """sum_k c_k e^(k r) (c_k real numbers, k rational)."""
    terms: tuple[tuple[sp.Expr, sp.Expr], ...]  # (c_k, k), sorted by k

    @property
    def positive(self) -> bool:
        return all(c.is_positive for c, _ in self.terms)

    def value(self, r: sp.Expr) -> sp.Expr:
        return sp.Add(*[c * sp.exp(k * r) for c, k in self.terms])

    def split(self) -> tuple[ExpSum | None, ExpSum | None]:
        """(positive part, minus the negative part), each None when empty."""
        pos = tuple((c, k) for c, k in self.terms if c.is_positive)
        neg = tuple((-c, k) for c, k in self.terms if c.is_negative)
        return (ExpSum(pos) if pos else None), (ExpSum(neg) if neg else None)


def exp_sum(e: sp.Expr, r: sp.Symbol = R) -> ExpSum | None:
    """e as sum c_k e^(k r), or None."""
    out: dict[sp.Expr, sp.Expr] = {}
    for term in sp.Add.make_args(sp.expand(e)):
        coeff, dep = term.as_independent(r, as_Add=False)
        if not coeff.is_number or not coeff.is_real:
            return None
        if dep == 1:
            k, b = sp.S.Zero, sp.S.Zero
        elif isinstance(dep, sp.exp):
            arg = sp.expand(dep.args[0])
            k = sp.diff(arg, r)
            b = sp.expand(arg - k * r)
            if not (k.is_Rational and b.is_number):
                return None
        else:
            return None
        c = coeff * sp.exp(b)
        out[k] = out.get(k, sp.S.Zero) + c
    terms = tuple(sorted(((sp.nsimplify(c) if c.is_Float else c, k) for k, c in out.items() if c != 0),
                         key=lambda t: t[1]))
    return ExpSum(terms) if terms else None


def _lse(args: list[sp.Expr]) -> sp.Expr:
    """log(sum e^(x_i)) = x_1 + softplus(log(sum_(i > 1) e^(x_i)) - x_1): finite for any x_i."""
    if len(args) == 1:
        return args[0]
    return args[0] + softplus(sp.expand(_lse(args[1:]) - args[0]))


@dataclass(frozen=True)
class LogSum:
    """log S(r) for S a positive exponential sum, anchored at one of its terms: k r + log c + softplus(...)."""
    s: ExpSum
    base: int = 0  # the term taken out of the softplus

    @property
    def slope(self) -> sp.Expr:
        return self.s.terms[self.base][1]

    @property
    def constant(self) -> sp.Expr:
        return sp.log(self.s.terms[self.base][0])

    def rest(self, r: sp.Expr) -> sp.Expr:
        """log S(r) - slope r - constant: a softplus (0 for a single term)."""
        c0, k0 = self.s.terms[self.base]
        others = [sp.expand((k - k0) * r + sp.log(c / c0)) for i, (c, k) in enumerate(self.s.terms)
                  if i != self.base]
        return softplus(_lse(others)) if others else sp.S.Zero

    def expr(self, r: sp.Expr) -> sp.Expr:
        return self.slope * r + self.constant + self.rest(r)


@dataclass(frozen=True)
class Tame:
    """k r + b + sum p_i log S_i(r): grows at most linearly, so it is finite wherever r is."""
    slope: sp.Expr
    constant: sp.Expr
    logs: tuple[tuple[sp.Expr, LogSum], ...] = ()

    def total_slope(self) -> sp.Expr:
        return self.slope + sp.Add(*[p * ls.slope for p, ls in self.logs])

    def total_constant(self) -> sp.Expr:
        return self.constant + sp.Add(*[p * ls.constant for p, ls in self.logs])

    def expr(self, r: sp.Expr) -> sp.Expr:
        return self.total_slope() * r + self.total_constant() + sp.Add(*[p * ls.rest(r) for p, ls in self.logs])

    def diff(self, a: sp.Expr, b: sp.Expr, delta: sp.Expr | None = None) -> sp.Expr:
        """T(a) - T(b) with the constants cancelled before anything is evaluated; delta, a symbol bound to a - b,
        keeps the slope's product whole (SymPy distributes k (a - b) into k a - k b, which cancels)."""
        return self.total_slope() * (a - b if delta is None else delta) + \
            sp.Add(*[p * (ls.rest(a) - ls.rest(b)) for p, ls in self.logs])


# --------------------------------------------------------------------------------------------- the reward
@dataclass(frozen=True)
class Terms:
    """g(r) = constant + slope r + sum a_i log S_i(r) + sum b_j exp(T_j(r))."""
    constant: sp.Expr
    slope: sp.Expr
    logs: tuple[tuple[sp.Expr, LogSum], ...]
    exps: tuple[tuple[sp.Expr, Tame], ...]

    def _tame_slope(self) -> sp.Expr:
        return self.slope + sp.Add(*[a * ls.slope for a, ls in self.logs])

    def _tame_constant(self) -> sp.Expr:
        return self.constant + sp.Add(*[a * ls.constant for a, ls in self.logs])

    def reward(self, r: sp.Expr = R, beta: sp.Expr = sp.S.One, log_beta: sp.Expr = sp.S.Zero
               ) -> tuple[list[tuple[sp.Symbol, sp.Expr]], sp.Expr]:
        """beta g(r) as (local bindings, expression), every term finite where the true term is: beta and |b_j|
        enter the exponentials as logarithms, so beta b e^T does not overflow where e^T alone would (and b e^T
        is not 0 where e^T alone underflows). Each exponent is bound to a symbol, since SymPy takes
        exp(log c + x) apart into c exp(x)."""
        tame = self._tame_slope() * r + self._tame_constant() + sp.Add(*[a * ls.rest(r) for a, ls in self.logs])
        if not self.exps:
            return [], beta * tame
        bindings = [(sp.Symbol(f"e{j}", real=True), sp.log(abs(b)) + log_beta + t.expr(r))
                    for j, (b, t) in enumerate(self.exps)]
        signs = [sp.sign(b) for b, _ in self.exps]
        if len(set(signs)) == 1:
            return bindings, beta * tame + sp.Add(*[s * sp.exp(e) for s, (e, _) in zip(signs, bindings)])
        # terms of both signs can overflow together (inf - inf): one signed log-sum-exp
        args = []
        for s, (e, _) in zip(signs, bindings):
            args += [s, e]
        return bindings, beta * tame + signed_sum(*args)

    def margin(self, a: sp.Expr = A, b: sp.Expr = B, beta: sp.Expr = sp.S.One, log_beta: sp.Expr = sp.S.Zero
               ) -> tuple[list[tuple[sp.Symbol, sp.Expr]], sp.Expr]:
        """beta (g(a) - g(b)) as (local bindings, expression): a - b formed once (dr), each exponential difference
        through its own d_j = T_j(a) - T_j(b), with log beta and log |coefficient| inside the exponential (bound
        to e_j, as in reward)."""
        dr = sp.Symbol("dr", real=True)
        bindings: list[tuple[sp.Symbol, sp.Expr]] = [(dr, a - b)]
        tame = self._tame_slope() * dr + sp.Add(*[c * (ls.rest(a) - ls.rest(b)) for c, ls in self.logs])
        args = []
        for j, (coef, t) in enumerate(self.exps):
            d, e = sp.Symbol(f"d{j}", real=True), sp.Symbol(f"e{j}", real=True)
            # max(T(a), T(b)) taken as it is: T(b) + max(d, 0) would round at the scale of T(b) (1e4 next to 0)
            top = sp.Max(t.expr(a), t.expr(b))
            bindings += [(d, t.diff(a, b, dr)), (e, sp.log(abs(coef)) + log_beta + top + log1mexp(-sp.Abs(d)))]
            args += [sp.sign(coef) * sp.sign(d), e]
        if not args:
            return bindings, beta * tame
        if len(self.exps) == 1:
            return bindings, beta * tame + args[0] * sp.exp(args[1])
        return bindings, beta * tame + signed_sum(*args)

    def value(self, r: sp.Expr = R) -> sp.Expr:
        """The plain value, for checking."""
        return self.constant + self.slope * r + sp.Add(*[a * sp.log(ls.s.value(r)) for a, ls in self.logs]) + \
            sp.Add(*[b * sp.exp(t.expr(r)) for b, t in self.exps])


def _positive_sum(e: sp.Expr) -> ExpSum | None:
    s = exp_sum(e)
    return s if s is not None and s.positive else None


def _split_log(z: sp.log) -> sp.Expr:
    """log(a b^p ...) -> log a + p log b + ... where every factor is positive for every r (numbers, e^x,
    positive exponential sums); other logs are kept whole (and refused later)."""
    arg = sp.factor(sp.together(z.args[0]))
    out = sp.S.Zero
    for factor in sp.Mul.make_args(arg):
        base, power = factor.as_base_exp()
        if base.is_number and base.is_positive:
            out += power * sp.log(base)
        elif isinstance(base, sp.exp) or base == sp.E:
            out += power * (base.args[0] if isinstance(base, sp.exp) else 1)
        elif _positive_sum(base) is not None:
            out += power * sp.log(sp.expand(base))
        else:
            return z
    return out


def _tame_of_factors(factors, where: str) -> Tame:
    slope, const, logs = sp.S.Zero, sp.S.Zero, []
    for factor in factors:
        base, power = factor.as_base_exp()
        if isinstance(base, sp.exp) or base == sp.E:
            arg = sp.expand(power * (base.args[0] if isinstance(base, sp.exp) else 1))
            k = sp.diff(arg, R)
            if not (k.is_Rational and sp.expand(arg - k * R).is_number):
                raise Unsupported(f"{where}: the exponent {arg} is not linear in r")
            slope += k
            const += sp.expand(arg - k * R)
            continue
        s = _positive_sum(base)
        if s is None or not power.is_Rational:
            raise Unsupported(f"{where}: the factor {factor} is not a power of a positive sum of exponentials")
        logs.append((power, LogSum(s)))
    return Tame(slope, const, tuple(logs))


def decompose(f_prime: sp.Expr) -> Terms:
    """g(r) = f'(e^r) as Terms; f_prime is f'(u), one smooth expression."""
    if isinstance(f_prime, sp.Piecewise):
        raise Unsupported("f' is piecewise; the f-DPO emitter needs one smooth expression for f' on (0, oo)")
    g = f_prime.subs(U, sp.exp(R))
    g = g.replace(lambda z: isinstance(z, sp.log), _split_log)
    g = sp.expand_mul(g.replace(lambda z: z.is_Pow and z.base.is_Add and z.exp.is_Integer and z.exp > 1,
                                sp.expand_multinomial))
    constant, slope = sp.S.Zero, sp.S.Zero
    logs: list[tuple[sp.Expr, LogSum]] = []
    exps: list[tuple[sp.Expr, Tame]] = []
    for term in sp.Add.make_args(g):
        coeff, dep = term.as_independent(R, as_Add=False)
        where = f"the term {term} of f'(e^r)"
        if not coeff.is_number:
            raise Unsupported(f"{where}: its coefficient {coeff} is not a number")
        if dep == 1:
            constant += coeff
        elif dep == R:
            slope += coeff
        elif isinstance(dep, sp.log):
            s = _positive_sum(dep.args[0])
            if s is None:
                raise Unsupported(f"{where}: log of {dep.args[0]}, which is not a positive sum of exponentials")
            logs.append((coeff, LogSum(s)))
        else:
            exps.append((coeff, _tame_of_factors(sp.Mul.make_args(dep), where)))
    terms = Terms(constant, slope, tuple(logs), tuple(exps))
    return _anchor(terms)


def _anchor(t: Terms) -> Terms:
    """Choose each log-sum-exp's anchor term so that the linear part cancels where it can: r - log(e^r + 1)
    becomes -softplus(-r) (no cancellation for large r) rather than r - softplus(r)."""
    logs = []
    running = t.slope
    for a, ls in t.logs:
        slopes = [k for _, k in ls.s.terms]
        choice = next((i for i, k in enumerate(slopes) if running + a * k == 0), None)
        if choice is None:
            choice = next((i for i, k in enumerate(slopes) if k == 0), 0)
        logs.append((a, LogSum(ls.s, choice)))
        running += a * slopes[choice]
    return Terms(t.constant, t.slope, tuple(logs), t.exps)


# ------------------------------------------------------------------------------------------------- the slope
def log_slope(f_prime: sp.Expr) -> sp.Expr:
    """log g'(r) = log(u f''(u)) at u = e^r, factor by factor (g' > 0, so log g' = sum p log|F|)."""
    h = sp.together(U * sp.diff(f_prime, U))
    denominators = [p.exp.q for p in h.atoms(sp.Pow) if p.base == U and p.exp.is_Rational]
    q = reduce(lcm, denominators, 1)
    hw = sp.factor(sp.powsimp(sp.powdenest(h.subs(U, _W**q), force=True), force=True))
    out = sp.S.Zero
    for factor in sp.Mul.make_args(hw):
        base, power = factor.as_base_exp()
        where = f"the factor {factor} of u f''(u)"
        if not power.is_Rational:
            raise Unsupported(f"{where}: a non-rational power")
        if base.is_number:
            if base == 0:
                raise Unsupported("f'' is identically 0")
            out += power * sp.log(abs(base))
            continue
        in_r = sp.expand(base.subs(_W, sp.exp(R / q)))
        out += power * _log_abs(in_r, where)
    return out


def _log_abs(e: sp.Expr, where: str) -> sp.Expr:
    """log|e| for e a sum of exponentials in r (stable), or a polynomial in r."""
    s = exp_sum(e)
    if s is not None:
        pos, neg = s.split()
        if pos is None or neg is None:
            return LogSum(pos or neg).expr(R)
        p, n = LogSum(pos).expr(R), LogSum(neg).expr(R)
        return (p + n + sp.Abs(p - n)) / 2 + log1mexp(-sp.Abs(p - n))
    if e.is_polynomial(R):
        return sp.log(sp.Abs(e))
    raise Unsupported(f"{where}: not a sum of exponentials of r")


# ------------------------------------------------------------------------------------------------- checking
def plain(e: sp.Expr) -> sp.Expr:
    """e with the stable primitives written out (softplus(x) = log(1 + e^x), log1mexp(x) = log(1 - e^x),
    signed_sum = sum s exp(l)), for evaluation at 30 digits."""
    e = e.replace(lambda z: getattr(z.func, "__name__", "") == "softplus", lambda z: sp.log(1 + sp.exp(z.args[0])))
    e = e.replace(lambda z: getattr(z.func, "__name__", "") == "log1mexp", lambda z: sp.log(1 - sp.exp(z.args[0])))
    return e.replace(lambda z: getattr(z.func, "__name__", "") == "signed_sum",
                     lambda z: sp.Add(*[z.args[i] * sp.exp(z.args[i + 1]) for i in range(0, len(z.args), 2)]))


_POINTS = (sp.Rational(-7, 2), sp.Rational(-1, 3), sp.Rational(5, 4), sp.Integer(3))


def check(f_prime: sp.Expr, terms: Terms, slope: sp.Expr) -> None:
    """The rewritten reward, margin and log-slope against f' itself at 30 digits (a guard against a wrong
    rewrite; it raises rather than emit a module that computes something else)."""
    g = f_prime.subs(U, sp.exp(R))
    dg = sp.diff(g, R)
    def bound(pair: tuple[list[tuple[sp.Symbol, sp.Expr]], sp.Expr]) -> sp.Expr:
        bindings, e = pair
        for sym, value in reversed(bindings):  # a later binding may use an earlier one
            e = e.subs(sym, value)
        return e

    reward, margin = bound(terms.reward(R)), bound(terms.margin())

    def close(x, y) -> bool:
        x, y = sp.N(x, 30), sp.N(y, 30)
        return abs(x - y) <= sp.Float(10, 30) ** -20 * (1 + abs(y))

    with mpmath.workdps(30):
        for p in _POINTS:
            if not close(plain(reward).subs(R, p), g.subs(R, p)):
                raise DerivationError(f"internal: the rewritten f'(e^r) differs from f' at r = {p}")
            if not close(plain(slope).subs(R, p), sp.log(dg.subs(R, p))):
                raise DerivationError(f"internal: the rewritten log slope differs from log(u f''(u)) at r = {p}")
        for a_, b_ in zip(_POINTS, _POINTS[::-1]):
            if not close(plain(margin).subs({A: a_, B: b_}), g.subs(R, a_) - g.subs(R, b_)):
                raise DerivationError(f"internal: the rewritten margin differs at r_w = {a_}, r_l = {b_}")
