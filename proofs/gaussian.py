"""Gaussian integrals from moments: E[x^k] for x ~ N(m, v), so that the integral of a Gaussian density times a
polynomial is a finite sum (symbolic, exact), without SymPy's general integrator.

E[x^k] = sum over even j <= k of C(k, j) m^(k-j) v^(j/2) (j - 1)!!  (x = m + sqrt(v) y, E y^j = (j - 1)!! for
even j and 0 for odd j); the proof "Standard Gaussian moments" checks E y^j by integration (j <= 4), and
"Gaussian moments" E x^k for k <= 4 from it (the substitution x = m + sqrt(v) y, the binomial theorem). The
rule `moments_rule` rests on that proof: it evaluates polynomials of degree <= MAX_DEGREE only.
"""
from __future__ import annotations

import functools

import sympy as sp

from fdiv._util.timelimit import attempt

from .engine import Proof, Rule, Source, cite, integral, registered

MAX_DEGREE = 4  # the moments "Gaussian moments" proves


def gaussian(var: sp.Symbol, mean: sp.Expr, variance: sp.Expr) -> sp.Expr:
    var, mean, variance = sp.S(var), sp.S(mean), sp.S(variance)
    return sp.exp(-(var - mean) ** 2 / (2 * variance)) / sp.sqrt(2 * sp.pi * variance)


@functools.cache
def moment(k: int, mean: sp.Expr, variance: sp.Expr) -> sp.Expr:
    """E[x^k] for x ~ N(mean, variance)."""
    return sp.expand(sum(sp.binomial(k, j) * mean ** (k - j) * variance ** sp.Rational(j, 2) * sp.factorial2(j - 1)
                         for j in range(0, k + 1, 2)))


def expectation(poly: sp.Expr, var: sp.Symbol, mean: sp.Expr, variance: sp.Expr) -> sp.Expr:
    """E[poly(x)] for x ~ N(mean, variance); poly must be a polynomial in var."""
    p = sp.Poly(sp.expand(poly), var)
    return sp.expand(sum(c * moment(k, mean, variance) for (k,), c in p.terms()))


def log_ratio(var: sp.Symbol, m1, v1, m2, v2) -> sp.Expr:
    """log N(var; m1, v1) - log N(var; m2, v2): a quadratic in var (both densities are positive)."""
    return sp.expand(sp.expand_log(sp.log(gaussian(var, m1, v1)) - sp.log(gaussian(var, m2, v2)), force=True))


def kl(m1, v1, m2, v2, var: sp.Symbol | None = None) -> sp.Expr:
    """KL(N(m1, v1) || N(m2, v2)) = E_p[log p - log q] by the moments of p."""
    var = var or sp.Symbol("x", real=True)
    value = expectation(log_ratio(var, m1, v1, m2, v2), var, m1, v1)
    ok, simpler = attempt("simplifying a Gaussian KL", sp.simplify, value, seconds=10)
    return simpler if ok else value


@registered()
def moments_rule(var: sp.Symbol) -> Rule:
    """A rewrite: the integral of gaussian(var, m, v) * polynomial(var) of degree <= MAX_DEGREE becomes its
    moment sum (each an instance of 'Gaussian moments'); other integrals are left as they are."""
    def match(z) -> bool:
        return isinstance(z, sp.Integral) and len(z.limits) == 1 and z.limits[0][0] == var

    def evaluate(z: sp.Integral) -> sp.Expr:
        body = sp.expand(z.function, power_exp=False)
        total = sp.S.Zero
        for term in sp.Add.make_args(body):
            exps = [f for f in sp.Mul.make_args(term) if isinstance(f, sp.exp) and f.has(var)]
            if len(exps) != 1:
                return z
            quad = sp.Poly(sp.expand(exps[0].args[0]), var)
            if quad.degree() != 2:
                return z
            a, b, _ = quad.all_coeffs()
            variance = sp.cancel(-1 / (2 * a))
            mean = sp.cancel(b * variance)
            density = gaussian(var, mean, variance)
            # term / density: the two exponentials combine into exp(0 * x^2 + 0 * x + c) once expanded
            rest = sp.powsimp(term / density, combine="exp")
            rest = rest.replace(lambda f: isinstance(f, sp.exp), lambda f: sp.exp(sp.expand(f.args[0])))
            if any(f.has(var) for f in rest.atoms(sp.exp)):
                ok, rest = attempt("simplifying a Gaussian integrand", sp.simplify, rest, seconds=10)
                if not ok:
                    return z
                if any(f.has(var) for f in rest.atoms(sp.exp)):
                    return z
            if not rest.is_polynomial(var) or sp.Poly(sp.expand(rest), var).degree() > MAX_DEGREE:
                return z
            total += expectation(rest, var, mean, variance)
        return total
    return Rule("Gaussian moments: the integral of N(x; m, v) times a polynomial is a sum of moments",
                lambda e: e.replace(match, evaluate), "cited", rests_on=moments_proof)


@registered()
def substitute_variable(var: sp.Symbol, expr: sp.Expr, new: sp.Symbol) -> Rule:
    """Integrals over var rewritten by the substitution var = expr(new) (SymPy's Integral.transform, which
    includes the Jacobian)."""
    return Rule(f"substitute {var} = {expr}", lambda e: e.replace(
        lambda z: isinstance(z, sp.Integral) and len(z.limits) == 1 and z.limits[0][0] == var,
        lambda z: z.transform(var, (expr, new))), "evaluation")


@functools.cache
def standard_moments_proof() -> Proof:
    """E y^j for y ~ N(0, 1) by integration, j <= MAX_DEGREE."""
    y = sp.Symbol("y", real=True)
    proof = Proof("Standard Gaussian moments", Source("004", "1.2 Background, Gaussian density", 280),
                  f"for y ~ N(0, 1): E y^j = (j - 1)!! for even j and 0 for odd j (j <= {MAX_DEGREE})", var=y,
                  densities=[gaussian(y, 0, 1)])
    from .lemmas import evaluate

    for j in range(MAX_DEGREE + 1):
        proof.start(integral(y**j * gaussian(y, 0, 1), y)).eq(moment(j, 0, 1), f"j = {j}: SymPy integrate",
                                                               rewrites=[evaluate("evaluate the integral")])
    return proof


@functools.cache
def moments_proof() -> Proof:
    """E x^k for x ~ N(m, v), k <= MAX_DEGREE: the substitution x = m + sqrt(v) y, the binomial theorem and
    linearity of the integral, then the standard moments (cited)."""
    xv, y = sp.Symbol("x", real=True), sp.Symbol("y", real=True)
    m = sp.Symbol("m", real=True)
    v = sp.Symbol("v", positive=True)
    proof = Proof("Gaussian moments", Source("004", "1.2 Background, Gaussian density", 280),
                  f"for x ~ N(m, v): E x^k is the moment sum the proofs use (k <= {MAX_DEGREE}), from x = m + "
                  "sqrt(v) y with y ~ N(0, 1)", var=y, densities=[gaussian(y, 0, 1)])
    for k in range(1, MAX_DEGREE + 1):
        binomial = sum(sp.binomial(k, j) * m ** (k - j) * sp.sqrt(v) ** j * integral(y**j * gaussian(y, 0, 1), y)
                       for j in range(k + 1))
        (proof.start(integral(xv**k * gaussian(xv, m, v), xv))
         .eq(integral((m + sp.sqrt(v) * y) ** k * gaussian(y, 0, 1), y), "x = m + sqrt(v) y",
             rewrites=[substitute_variable(xv, m + sp.sqrt(v) * y, y)])
         .eq(binomial, f"k = {k}: binomial theorem, linearity of the integral")
         .eq(moment(k, m, v), "the standard moments", rewrites=[cite(standard_moments_proof)]))
    return proof
