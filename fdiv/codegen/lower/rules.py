"""Stable rewrite rules, applied to SymPy expressions before printing. Each rule is one small function.

The primitives below are unevaluated SymPy functions that the printer maps to stable torch code:
softplus(x) = log(1 + e^x), log_softplus(x) = log(softplus(x)), log1p, expm1, log1mexp(x) = log(1 - e^x),
wright_omega(x) = W(e^x).
"""
from __future__ import annotations

import sympy as sp

softplus = sp.Function("softplus")
log_softplus = sp.Function("log_softplus")
log1p = sp.Function("log1p")
expm1 = sp.Function("expm1")
log1mexp = sp.Function("log1mexp")
wright_omega = sp.Function("wright_omega")
log_wright_omega = sp.Function("log_wright_omega")
log1mexp_ratio = sp.Function("log1mexp_ratio")  # x >= 0 -> log((1 - e^-x)/x), finite and smooth down to x = 0  # (x, omega(x)) -> log omega(x), see rule_log_wright_omega
sigmoid = sp.Function("sigmoid")
log1mexp_softplus = sp.Function("log1mexp_softplus")  # (x, k) -> log(1 - e^(-k softplus(x))), k > 0, for every x
# x > 0 -> log x, the distance of t to a kink of f* inside the critic range: floored at the smallest normal float,
# slope 1/max(x, tiny), so at the kink itself (x = 0 in floats) f* and its gradient stay finite (see runtime)
log_gap = sp.Function("log_gap")
# (p, q) -> p/q kept as one quotient (lower.numeric._paired_ratios): SymPy would merge (u - 1) (u - 1)/(u + 1)
ratio = sp.Function("ratio")
# (a, b) -> sqrt(a^2 + b^2) without overflow (lower.numeric._hypot_roots): sqrt(1 + u^2) overflows at u = 1.3e154
hypot = sp.Function("hypot")
# y -> (1 + y) log1p(y), 0 at y = -1 (x log x at x = 0) with slope log1p(y) + 1 (-inf there): at a closed end of
# dom f* where 1 + y vanishes
xlog1px = sp.Function("xlog1px")
# x -> x log|x|, 0 at x = 0 with slope log|x| + 1 (-inf there): t log(-t) at the closed end t = 0 of dom f*
xlogx = sp.Function("xlogx")


def _replace(expr: sp.Expr, match, repl) -> sp.Expr:
    """expr.replace(match, repl) on the subexpressions that hold a variable: a constant is printed as one correctly
    rounded literal, never as a helper call (expm1(-1) in a branch's bound would be a call the printer cannot
    evaluate)."""
    return expr.replace(lambda e: bool(e.free_symbols) and match(e), repl)


def _is_exp(e: sp.Expr) -> bool:
    return isinstance(e, sp.exp)


def rule_softplus(expr: sp.Expr) -> sp.Expr:
    """log(1 + e^x) -> softplus(x)."""
    def match(e):
        return isinstance(e, sp.log) and e.args[0].is_Add and len(e.args[0].args) == 2 and sp.S.One in e.args[0].args \
            and any(_is_exp(a) for a in e.args[0].args)

    def repl(e):
        x = next(a for a in e.args[0].args if _is_exp(a)).args[0]
        return softplus(x)

    return _replace(expr, match, repl)


def rule_log1mexp(expr: sp.Expr) -> sp.Expr:
    """log(1 - e^x) -> log1mexp(x)."""
    def match(e):
        if not (isinstance(e, sp.log) and e.args[0].is_Add and len(e.args[0].args) == 2 and sp.S.One in e.args[0].args):
            return False
        other = next(a for a in e.args[0].args if a != 1)
        return other.could_extract_minus_sign() and _is_exp(-other)

    def repl(e):
        other = next(a for a in e.args[0].args if a != 1)
        return log1mexp((-other).args[0])

    return _replace(expr, match, repl)


def rule_log_reciprocal(expr: sp.Expr) -> sp.Expr:
    """log(c / X) -> log|c| - log(sign(c) X) for a constant c: the argument of a real log is positive, so
    sign(c) X > 0 (the GAN conjugate log(1/(1 - e^t)) becomes -log(1 - e^t), which rule_log1mexp then takes)."""
    def split(e):
        c, rest = e.args[0].as_coeff_Mul()
        base, power = rest.as_base_exp()
        return c, base, power

    def match(e):
        if not isinstance(e, sp.log):
            return False
        c, base, power = split(e)
        return c.is_nonzero and power == -1 and base.free_symbols

    def repl(e):
        c, base, _ = split(e)
        return sp.log(abs(c)) - sp.log(sp.sign(c) * base)

    return _replace(expr, match, repl)


def rule_log_repeated_factor(expr: sp.Expr) -> sp.Expr:
    """log(N/D) -> log|c| + sum k log|q| over the square-free factors q^k of polynomials N and D in one variable,
    when one factor repeats: the argument of a real log is positive, so log of it is log of its absolute value.
    Expanded, a repeated root cancels: log(4/(t^2 - 4t + 4)) at t = 2 - 7e-3 lost 7e-5 of f* in float32 and was
    log(0) = inf at t = 2 - 2e-13 in float64, where -2 log|t - 2| + log 4 is exact."""
    def factors(e):
        if not isinstance(e, sp.log) or len(e.args[0].free_symbols) != 1:
            return None
        (x,) = e.args[0].free_symbols
        num, den = sp.fraction(sp.together(e.args[0]))
        if not (num.is_polynomial(x) and den.is_polynomial(x)):
            return None
        (cn, fn), (cd, fd) = sp.sqf_list(num, x), sp.sqf_list(den, x)
        if not any(k >= 2 and q.has(x) for q, k in fn + fd):
            return None
        return cn / cd, [(q, k) for q, k in fn if q.has(x)], [(q, k) for q, k in fd if q.has(x)]

    def repl(e):
        c, top, bottom = factors(e)
        return (sp.log(abs(c)) + sp.Add(*[k * sp.log(sp.Abs(q)) for q, k in top])
                - sp.Add(*[k * sp.log(sp.Abs(q)) for q, k in bottom]))

    return _replace(expr, lambda e: factors(e) is not None, repl)


def rule_power_repeated_factor(expr: sp.Expr) -> sp.Expr:
    """P^e -> c^e prod q^(k e) for a polynomial P in one variable with a repeated root (its square-free factors q^k,
    c > 0 unless e is an integer; |q|^(k e) for a fractional e, whose k are then all even, else P^e is left alone): expanded, the repeated root cancels, 1/(432 t^2 - 2592 t + 3888) was 1e11 times too small at t = 3 -
    9e-14 in float64, where 1/(432 (t - 3)^2) is exact (t - 3 is)."""
    def factors(e):
        if not (e.is_Pow and e.base.is_Add and len(e.base.free_symbols) == 1 and not e.exp.has(*e.base.free_symbols)):
            return None
        (x,) = e.base.free_symbols
        num, den = e.base, sp.S.One
        if not e.base.is_polynomial(x):
            # terms over one denominator: t^2/D + 2 sqrt(2) t/D + 2/D in f* of 2 sqrt(1 + u^2) - sqrt(2) u, whose
            # numerator is (t + sqrt(2))^2 (its gradient 7x off next to t = -sqrt(2) in float32, and sent numeric)
            num, den = sp.fraction(sp.together(e.base))
            if not (num.is_polynomial(x) and den.is_polynomial(x) and den.has(x)):
                return None
        if sp.degree(num, x) < 2:
            return None
        c, fs = sp.sqf_list(num, x)
        if not ((c.is_positive or e.exp.is_integer) and any(k >= 2 for _, k in fs)):
            return None
        if not e.exp.is_integer and any(k % 2 for _, k in fs):  # (q^k)^e is not q^(k e) for q < 0: left alone
            return None
        # the numerator is then >= 0, so where the base is positive so is den: (num/den)^e = num^e den^-e
        return c, fs, den

    def repl(e):
        c, fs, den = factors(e)
        # (q^k)^e = |q|^(k e) for even k (exact for integer e too)
        return c ** e.exp * sp.Mul(*[(q if e.exp.is_integer else sp.Abs(q)) ** (k * e.exp) for q, k in fs]) * \
            den ** -e.exp

    return _replace(expr, lambda e: factors(e) is not None, repl)


def rule_log_const_minus_exp(expr: sp.Expr) -> sp.Expr:
    """log(c - k e^x) -> log c + log(1 - e^(x + log(k/c))) for constants c, k > 0, so that rule_log1mexp
    applies (JS: log(2 - e^t) near t = log 2)."""
    def parts(e):
        arg = e.args[0]
        if not (arg.is_Add and len(arg.args) == 2):
            return None
        c, rest = arg.as_coeff_Add()
        k, ex = (-rest).as_coeff_Mul()
        if c.is_positive and c != 1 and k.is_positive and isinstance(ex, sp.exp):
            return c, k, ex.args[0]
        return None

    return _replace(expr, lambda e: isinstance(e, sp.log) and parts(e) is not None,
                        lambda e: (lambda c, k, x: sp.log(c) + sp.log(1 - sp.exp(x + sp.log(k / c), evaluate=False)))(*parts(e)))


def rule_expm1(expr: sp.Expr) -> sp.Expr:
    """e^x - 1 -> expm1(x) inside a sum."""
    def match(e):
        return e.is_Add and sp.S.NegativeOne in e.args and any(_is_exp(a) for a in e.args)

    def repl(e):
        ex = next(a for a in e.args if _is_exp(a))
        rest = [a for a in e.args if a is not ex and a != -1]
        return sp.Add(expm1(ex.args[0]), *rest)

    return _replace(expr, match, repl)


def rule_expm1_scaled(expr: sp.Expr) -> sp.Expr:
    """k e^x - k -> k expm1(x) for a constant k (JS-weighted's density ratio 7/(3 e^(10c/3) - 3), c -> 0)."""
    def parts(e):
        if not (e.is_Add and len(e.args) == 2):
            return None
        const, rest = e.as_coeff_Add()
        k, ex = rest.as_coeff_Mul()
        if const != 0 and k == -const and k != 1 and isinstance(ex, sp.exp):
            return k, ex.args[0]
        return None

    return _replace(expr, lambda e: parts(e) is not None, lambda e: parts(e)[0] * expm1(parts(e)[1]))


def rule_reciprocal_expm1_softplus(expr: sp.Expr) -> sp.Expr:
    """1/expm1(k softplus(x)) -> exp(-(log k + log_softplus(x) + z + log1mexp_ratio(z))), z = k softplus(x), k > 0:
    the same number (expm1(z) = z e^z (1 - e^-z)/z), computed in log space, so neither the value (2.5 e^v for the GAN
    f weighted by 5/2 at v = 505) nor its gradient passes through expm1(z)^2, which underflows."""
    def parts(e):
        if not (e.is_Pow and e.exp == -1 and e.base.func == expm1):
            return None
        k, s_ = e.base.args[0].as_coeff_Mul()
        return (k, s_) if s_.func == softplus and k.is_positive else None

    def repl(e):
        k, s_ = parts(e)
        return sp.exp(-(sp.log(k) + log_softplus(s_.args[0]) + k * s_ + log1mexp_ratio(k * s_)))

    return _replace(expr, lambda e: parts(e) is not None, repl)


def rule_reciprocal_expm1(expr: sp.Expr) -> sp.Expr:
    """1/expm1(x) -> e^-x / (-expm1(-x)): the same number, but for large x its gradient is e^-x/(1 - e^-x)^2
    rather than e^x/expm1(x)^2 = inf/inf = NaN."""
    return _replace(expr, lambda e: e.is_Pow and e.exp == -1 and e.base.func == expm1,
                        lambda e: sp.exp(-e.base.args[0]) / (-expm1(-e.base.args[0])))


def rule_log1p(expr: sp.Expr) -> sp.Expr:
    """log(1 + x) -> log1p(x) when x has no exponential (those go to softplus)."""
    def match(e):
        return isinstance(e, sp.log) and e.args[0].is_Add and sp.S.One in e.args[0].args and len(e.args[0].args) >= 2

    def repl(e):
        return log1p(e.args[0] - 1)

    return _replace(expr, match, repl)


def rule_log_softplus(expr: sp.Expr) -> sp.Expr:
    """log(softplus(x)) -> log_softplus(x); softplus(x)**p -> exp(p log_softplus(x)) for p < 1: 1/softplus(-v) =
    e^v would otherwise get its gradient through softplus(-v)^2, which underflows, and sqrt(softplus(v)) its
    gradient through 1/sqrt(0) once softplus underflows. A power p >= 1 stays a power: its slope p s^(p-1) is
    finite at s = 0, and s^p is one kernel, accurate to an ulp where exp(p log s) multiplies the rounding of
    log s by |p log s|."""
    expr = _replace(expr, lambda e: isinstance(e, sp.log) and e.args[0].func == softplus,
                        lambda e: log_softplus(e.args[0].args[0]))
    return _replace(expr, lambda e: e.is_Pow and e.base.func == softplus and not (e.exp.is_number and e.exp >= 1),
                        lambda e: sp.exp(e.exp * log_softplus(e.base.args[0])))


def rule_wright_omega(expr: sp.Expr) -> sp.Expr:
    """W(e^x) -> omega(x), then omega(x) = x - log omega(x) where that cancels terms (Jeffrey: v + omega(1 - v)
    loses all digits for v << 0; 1 - log omega(1 - v) keeps them)."""
    def exp_form(z):
        """z = a e^x1 e^x2 ... with a > 0 constant (6 e^6 e^s) -> x1 + x2 + ... + log a (so W(z) = omega(x + log a)),
        else None."""
        if not z.free_symbols:
            return None
        const, rest = z.as_independent(*z.free_symbols, as_Add=False)
        exponents = []
        for factor in sp.Mul.make_args(rest):
            base, power = factor.as_base_exp()
            if _is_exp(factor):
                exponents.append(factor.args[0])
            elif _is_exp(base) and not power.free_symbols:
                exponents.append(base.args[0] * power)
            elif base == sp.E:
                exponents.append(power)
            else:
                return None
        if not exponents or not sp.sympify(const).is_positive:
            return None
        return sp.Add(*exponents) + sp.expand_log(sp.log(const), force=True)

    expr = _replace(expr, lambda e: isinstance(e, sp.LambertW) and exp_form(e.args[0]) is not None,
                        lambda e: wright_omega(exp_form(e.args[0])))
    for w in [a for a in expr.args if a.func == wright_omega] if expr.is_Add else []:
        candidate = sp.expand(expr - w + (w.args[0] - sp.log(w)))
        if len(candidate.args) < len(expr.args):  # the substitution cancelled terms
            expr = candidate
    expr = _replace(expr, lambda e: isinstance(e, sp.Abs) and e.args[0].func == wright_omega,
                    lambda e: e.args[0])  # omega(x) > 0 for real x
    # omega(x)^-k = exp(k (omega(x) - x)) exactly (omega e^omega = e^x): no tiny omega is raised to a negative
    # power, which overflows (36/W(6 e^(6 - 3t/2))^2 at t = 30, where the value is 7.5e33) or squares in a gradient
    return _replace(expr, lambda e: e.is_Pow and e.base.func == wright_omega and e.exp.is_number and e.exp.is_negative,
                        lambda e: sp.exp(-e.exp * (e.base - e.base.args[0])))


def rule_expm1_softplus(expr: sp.Expr) -> sp.Expr:
    """expm1(k softplus(x)) = (1 + e^x)^k - 1 = exp(x + (k-1) softplus(x) + log1p(sum_{m<k} e^(-m softplus(x))))
    for integer 1 <= k <= 8: exact, and no intermediate overflows (GAN's density ratio 1/expm1(softplus(-v))
    becomes exp(v))."""
    def match(e):
        if e.func != expm1:
            return False
        k, rest = e.args[0].as_coeff_Mul()
        return rest.func == softplus and k.is_Integer and 1 <= k <= 8

    def repl(e):
        k, s_ = e.args[0].as_coeff_Mul()
        x = s_.args[0]
        tail = sp.Add(*[sp.exp(-m * s_) for m in range(1, int(k))])
        return sp.exp(x + (k - 1) * s_ + (log1p(tail) if tail != 0 else 0))

    return _replace(expr, match, repl)


def rule_exp_coefficient(expr: sp.Expr) -> sp.Expr:
    """c e^z -> e^(z + log c) for a constant c > 0: the product cannot overflow before the exponential does
    (3 e^87.3 is a float32, but its gradient went through 3 * inf-rounded intermediates)."""
    def match(e):
        if not e.is_Mul or len(e.args) != 2:
            return False
        c, rest = e.as_coeff_Mul()
        return c.is_positive and c != 1 and _is_exp(rest)

    def repl(e):
        c, rest = e.as_coeff_Mul()
        return sp.exp(rest.args[0] + sp.log(c), evaluate=False)  # evaluated, SymPy would give back c e^z

    return _replace(expr, match, repl)


def rule_log_wright_omega(expr: sp.Expr) -> sp.Expr:
    """log(omega(x)) -> log_wright_omega(x, omega(x)) = x - omega(x) where omega is small, log omega elsewhere:
    once omega(x) underflows (Jeffrey's f* at t > 745), log omega is -inf and its gradient inf * 0 = NaN."""
    return _replace(expr, lambda e: isinstance(e, sp.log) and e.args[0].func == wright_omega,
                        lambda e: log_wright_omega(e.args[0].args[0], e.args[0]))


def rule_log_power(expr: sp.Expr) -> sp.Expr:
    """log(b**e) -> e log(b) for an exponent e that varies or is not an even integer: b**e > 0 wherever the log is
    real, so b > 0 there, and the power overflows long before its log does (log((1 - e t)**(1/e - t)) and
    log((1/(1 - e^(2t/5)))**(5/2)) from simplifications that combined the logs)."""
    return _replace(expr, lambda e: isinstance(e, sp.log) and e.args[0].is_Pow and not e.args[0].exp.is_even,
                    lambda e: e.args[0].exp * sp.log(e.args[0].base))


def rule_log_exp(expr: sp.Expr) -> sp.Expr:
    """log(e^x) -> x and log(k e^x) -> log k + x (k > 0 constant): every lowered expression is real, and e^x
    underflows to 0 long before x is large (log(exp(-softplus(2 v))) from 1 - tanh(v) = 2 e^-softplus(2v))."""
    def parts(e):
        k, rest = e.args[0].as_independent(*e.args[0].free_symbols, as_Add=False) if e.args[0].is_Mul else (1, e.args[0])
        return (k, rest.args[0]) if _is_exp(rest) and (k == 1 or sp.sympify(k).is_positive) else None

    return _replace(expr, lambda e: isinstance(e, sp.log) and parts(e) is not None,
                    lambda e: sp.log(parts(e)[0]) + parts(e)[1])


def rule_xlog1px(expr: sp.Expr) -> sp.Expr:
    """k (1 + y) log1p(y) -> k xlog1px(y): the product vanishes where 1 + y does (x log x -> 0), where its factors
    are 0 and -inf. f*(t) = 2t + (1 - t) log(1 - t) + ... of 2 e^(1 - u) + u - 1 was NaN at t = 1, the closed end
    of dom f* where it is 1 (and its slope, +inf there, NaN too)."""
    def parts(e):
        if not e.is_Mul:
            return None
        logs = [a for a in e.args if a.func == log1p]
        if len(logs) != 1:
            return None
        y = logs[0].args[0]
        k = sp.cancel(e / logs[0] / (1 + y))
        return (k, y) if k.is_number and k != 0 else None

    def repl(e):
        k, y = parts(e)
        return k * xlog1px(y)

    return _replace(expr, lambda e: parts(e) is not None, repl)


def _log_terms_combined(e: sp.Expr, parts) -> sp.Expr | None:
    """A sum whose terms c_i log(A) add up to k A log(A) (`parts` matches it), with those terms as that one product:
    -t log(3/2 - 3t) + log(3/2 - 3t)/2 in f* of e^(-u)/3 + u/2 + 3 is (1/2 - t) log(3 (1/2 - t)) expanded, NaN at
    the closed end t = 1/2 of dom f* term by term (0 there as xlogx). None where no such group is found."""
    if not e.is_Add:
        return None
    groups: dict = {}
    for term in e.args:
        logs = [a for a in sp.Mul.make_args(term) if isinstance(a, sp.log)]
        if len(logs) == 1:
            groups.setdefault(logs[0], []).append(term)
    for lg, terms in groups.items():
        if len(terms) < 2:
            continue
        combined = sp.Mul(sp.factor(sp.Add(*terms) / lg), lg, evaluate=False)
        if parts(combined) is not None:
            return e - sp.Add(*terms) + combined
    return None


def rule_xlogx(expr: sp.Expr) -> sp.Expr:
    """k A log(A) and k A log|A| -> k xlogx(A) = k A log|A|, A linear: 0 where A is, where the factors are 0 and
    -inf. A product over a sum that holds such a log is distributed first. f* of 2 e^(-(u - 1)/2) holds t log(-t),
    and f* of e^(-(u - 1)/2) + 5/2 Max(2 - u, 0)^3 holds t log(4 t^2) = t (2 log|t| + log 4) (rule_log_repeated_factor):
    both were NaN at t = 0, the closed end of dom f*, where they are 0."""
    def parts(e):
        if not e.is_Mul:
            return None
        logs = [a for a in e.args if isinstance(a, sp.log)]
        a = logs[0].args[0] if len(logs) == 1 else None
        a = a.args[0] if isinstance(a, sp.Abs) else a
        # a linear in its one variable (-t, 1 - t): it vanishes at a finite point, an end of dom f*
        if a is None or len(a.free_symbols) != 1 or not a.is_polynomial(*a.free_symbols) or \
                sp.degree(a, *a.free_symbols) != 1:
            return None
        k = sp.cancel(e / logs[0] / a)
        return (k, a) if k.is_number and k != 0 else None

    def distributed(e):
        if not (e.is_Mul and any(x.is_Add and x.has(sp.log) for x in e.args)):
            return None
        out = sp.expand(e, deep=False, mul=True, multinomial=False, power_exp=False, power_base=False, log=False)
        return out if any(parts(term) is not None for term in sp.Add.make_args(out)) else None

    def repl(e):
        k, a = parts(e)
        return k * xlogx(a)

    expr = _replace(expr, lambda e: distributed(e) is not None, distributed)
    expr = _replace(expr, lambda e: _log_terms_combined(e, parts) is not None, lambda e: _log_terms_combined(e, parts))
    return _replace(expr, lambda e: parts(e) is not None, repl)


RULES = (rule_log_exp, rule_log_repeated_factor, rule_power_repeated_factor, rule_log_power, rule_wright_omega, rule_log_reciprocal, rule_log_const_minus_exp, rule_log1mexp, rule_softplus, rule_log_softplus, rule_expm1_scaled, rule_expm1, rule_expm1_softplus,
         rule_reciprocal_expm1_softplus, rule_reciprocal_expm1, rule_log1p, rule_exp_coefficient, rule_log_wright_omega,
         rule_xlog1px, rule_xlogx)


def apply_rules(expr: sp.Expr) -> sp.Expr:
    for rule in RULES:
        expr = rule(expr)
    return expr
