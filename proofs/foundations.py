"""Tools the other proofs rest on: Gaussian moments (notes 004 §1.2) and the Monte Carlo estimator (000
"Algorithm for f-Divergence Minimization", 004 "Properties of the Monte Carlo Estimate")."""
from __future__ import annotations

import functools

import sympy as sp

from .engine import E, Proof, Source, linearity, x
from .gaussian import moments_proof

TITLE = "Foundations: Gaussian moments, the Monte Carlo estimator"


@functools.cache
def monte_carlo_proof() -> Proof:
    """X_1..X_T i.i.d. with density p (independence: their joint density is the product of the marginals);
    Y_t = g(X_t), mu = E g(X), sigma^2 = E (g(X) - mu)^2."""
    y = sp.Symbol("y", real=True)
    s, t, n = sp.symbols("s t T", positive=True, integer=True)
    p = sp.Function("p", positive=True)
    g = sp.Function("g", real=True)
    X = sp.Function("X")
    mu, sigma2 = sp.Symbol("mu", real=True), sp.Symbol("sigma2", positive=True)
    C = sp.Function("C")  # C(s, t) = E (Y_s - mu)(Y_t - mu)
    law = ("each X_t has density p: E g(X_t) = integral of g p = mu",
           lambda e: e.replace(lambda z: isinstance(z, E) and z.args[0].func == g, lambda z: mu))
    pair = sp.Integral((g(x) - mu) * (g(y) - mu) * p(x) * p(y), (x, -sp.oo, sp.oo), (y, -sp.oo, sp.oo))
    cov = ("C(s, t) = sigma^2 if s = t (definition), 0 if s != t (independence, above)",
           lambda e: e.replace(lambda z: isinstance(z, C), lambda z: sigma2 * sp.KroneckerDelta(*z.args)))
    sift = ("sifting: the sum over s in 1..T of delta_st h(s) is h(t) for t in 1..T", _sift)
    return (Proof("Monte Carlo estimator: unbiased, variance sigma^2/T",
                  Source("004", "Properties of the Monte Carlo Estimate", 850),
                  "for X_1..X_T i.i.d. with density p: E[(1/T) sum g(X_t)] = E g(X) and "
                  "Var[(1/T) sum g(X_t)] = Var g(X) / T", densities=[p(x)],
                  definitions={sp.Integral(g(x) * p(x), (x, -sp.oo, sp.oo)): mu})
            .start(E(sp.Sum(g(X(t)), (t, 1, n)) / n))
            .eq(sp.Sum(E(g(X(t))), (t, 1, n)) / n, "linearity of expectation", rewrites=[("linearity", linearity([X]))])
            .eq(mu, "identically distributed; a sum of T equal terms", rewrites=[law])
            .start(pair)
            .eq(0, "s != t: independent draws have the product density; Fubini splits the integral into "
                   "two factors, each integral of (g - mu) p = mu - mu = 0")
            .start(sp.Sum(sp.Sum(C(s, t), (s, 1, n)), (t, 1, n)) / n**2)
            .eq(sigma2 / n, "Var of the mean = (1/T^2) sum over s, t of C(s, t) (expanding the square of a sum)",
                rewrites=[cov, sift]))


def _sift(e: sp.Expr) -> sp.Expr:
    def rule(z: sp.Sum) -> sp.Expr:
        (s, a, b), (t, c, d) = z.limits[0], z.limits[-1]
        deltas = [f for f in sp.Mul.make_args(z.function) if isinstance(f, sp.KroneckerDelta)]
        if len(z.limits) == 2 and (a, b) == (c, d) and deltas and set(deltas[0].args) == {s, t}:
            return sp.Sum((z.function / deltas[0]).subs(s, t), (t, c, d)).doit()
        return z
    flat = e.replace(lambda z: isinstance(z, sp.Sum) and isinstance(z.function, sp.Sum),
                     lambda z: sp.Sum(z.function.function, *z.function.limits, *z.limits))
    return flat.replace(lambda z: isinstance(z, sp.Sum), rule)


def proofs() -> list[Proof]:
    return [moments_proof(), monte_carlo_proof()]
