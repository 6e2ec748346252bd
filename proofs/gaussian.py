"""Gaussian integrals from moments: E[x^k] for x ~ N(m, v), so that the integral of a Gaussian density times a
polynomial is a finite sum (symbolic, exact), without SymPy's general integrator.

E[x^k] = sum over even j <= k of C(k, j) m^(k-j) v^(j/2) (j - 1)!!  (x = m + sqrt(v) y, E y^j = (j - 1)!! for
even j and 0 for odd j); the proof "Gaussian moments" in the report checks E y^j by integration and the
shift by the binomial theorem.
"""
from __future__ import annotations

import functools

import sympy as sp

from fdiv._util.timelimit import attempt

from .engine import Proof, Source, integral


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


def moments_rule(var: sp.Symbol):
    """A rewrite: the integral of gaussian(var, m, v) * polynomial(var) becomes its moment sum."""
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
            total += expectation(rest, var, mean, variance)
        return total
    return ("Gaussian moments: the integral of N(x; m, v) times a polynomial is a sum of moments",
            lambda e: e.replace(match, evaluate))


def moments_proof() -> Proof:
    """E y^j for y ~ N(0, 1) by integration (j <= 4), then E x^k for x = m + sqrt(v) y by the binomial theorem."""
    y = sp.Symbol("y", real=True)
    m = sp.Symbol("m", real=True)
    v = sp.Symbol("v", positive=True)
    proof = Proof("Gaussian moments", Source("004", "1.2 Background, Gaussian density", 280),
                  "for y ~ N(0, 1): E y^j = (j - 1)!! for even j and 0 for odd j (j <= 4); for x = m + sqrt(v) y "
                  "~ N(m, v), E x^k is the moment sum the proofs use", var=y)
    evaluate = ("evaluate the integral", lambda e: e.doit())
    for j in range(5):
        proof.start(integral(y**j * gaussian(y, 0, 1), y)).eq(moment(j, 0, 1), f"j = {j}: SymPy integrate",
                                                               rewrites=[evaluate])
    ey = {sp.Symbol(f"Ey{j}"): moment(j, 0, 1) for j in range(5)}
    for k in range(1, 5):
        # E (m + sqrt(v) y)^k by the binomial theorem and linearity, with E y^j from the integrals above
        binomial = sum(sp.binomial(k, j) * m ** (k - j) * sp.sqrt(v) ** j * sp.Symbol(f"Ey{j}") for j in range(k + 1))
        proof.start(binomial).eq(moment(k, m, v), f"k = {k}: binomial theorem, linearity, E y^j above",
                                 rewrites=[("E y^j (integrals above)", ey)])
    return proof
