"""Tools the other proofs rest on: Gaussian moments (notes 004 §1.2), the Monte Carlo estimator (000 "Algorithm
for f-Divergence Minimization", 004 "Properties of the Monte Carlo Estimate") and the weak law of large numbers
behind it."""
from __future__ import annotations

import functools

import sympy as sp

from .engine import E, Proof, Source, integral, x
from .gaussian import moments_proof, standard_moments_proof
from .lemmas import (IID, identically_distributed, iid_pairs, independent_pair, indicator_bound, linearity, lotus,
                     sift, square_of_sum)

TITLE = "Foundations: Gaussian moments, the Monte Carlo estimator, the law of large numbers"

# X_1, X_2, ... i.i.d. with density p; g a real function; mu = E g(X), sigma^2 = Var g(X) (definitions)
y = sp.Symbol("y", real=True)
s, t, n = sp.symbols("s t T", positive=True, integer=True)
p = sp.Function("p", positive=True)
g = sp.Function("g", real=True)
X = sp.Function("X")
mu, sigma2 = sp.Symbol("mu", real=True), sp.Symbol("sigma2", positive=True)
eps = sp.Symbol("epsilon", positive=True)
MOMENTS = {integral(g(x) * p(x)): mu, integral(g(x) ** 2 * p(x)): sigma2 + mu**2}  # E g = mu, E g^2 = sigma^2 + mu^2
SOURCE = Source("004", "Properties of the Monte Carlo Estimate", 850)


def centred_mean() -> sp.Expr:
    """(1/T) sum_t (g(X_t) - mu): the Monte Carlo estimate minus its mean."""
    return sp.Sum(g(X(t)) - mu, (t, 1, n)) / n


@functools.cache
def monte_carlo_proof() -> Proof:
    """E of the mean by linearity and identical draws; its variance from the double sum of covariances, the
    pairs s = t (the variance) and s != t (independent: product density, Fubini, 0)."""
    one = lotus(X(1), x, p(x), x)
    return (Proof("Monte Carlo estimator: unbiased, variance sigma^2/T", SOURCE,
                  "for X_1..X_T i.i.d. with density p: E[(1/T) sum g(X_t)] = E g(X) = mu and "
                  "E[((1/T) sum g(X_t) - mu)^2] = Var g(X) / T = sigma^2/T", densities=[p(x)], definitions=MOMENTS,
                  given=[IID])
            .start(E(sp.Sum(g(X(t)), (t, 1, n)) / n))
            .eq(sp.Sum(E(g(X(t))), (t, 1, n)) / n, "linearity of expectation", rewrites=[linearity([X])])
            .eq(E(g(X(1))), "identically distributed; a sum of T equal terms",
                rewrites=[identically_distributed(E, t)])
            .eq(mu, "X_1 has density p: E g(X_1) = integral of g p = mu", rewrites=[one])
            .start(E(centred_mean() ** 2))
            .eq(sp.Sum(sp.Sum(E((g(X(s)) - mu) * (g(X(t)) - mu)), (t, 1, n)), (s, 1, n)) / n**2,
                "the square of a finite sum is the double sum of the products; linearity",
                rewrites=[linearity([X], expand=False), square_of_sum(t, s), linearity([X])])
            .eq(sp.Sum(sp.Sum(sp.KroneckerDelta(s, t) * E((g(X(1)) - mu) ** 2) + (1 - sp.KroneckerDelta(s, t))
                              * E((g(X(1)) - mu) * (g(X(2)) - mu)), (t, 1, n)), (s, 1, n)) / n**2,
                "a pair of i.i.d. draws is (X_1, X_1) when s = t and (X_1, X_2) when s != t",
                rewrites=[iid_pairs(X, s, t)])
            .eq(sp.Sum(sp.Sum(sp.KroneckerDelta(s, t) * sigma2, (t, 1, n)), (s, 1, n)) / n**2,
                "s = t: E (g(X_1) - mu)^2 = sigma^2; s != t: independent draws have the product density, and "
                "Fubini splits the integral into two factors (g - mu) p, each mu - mu = 0",
                rewrites=[one, independent_pair(X(1), X(2), p, x, y)])
            .eq(sigma2 / n, "the sum over s of delta_st is 1: T terms sigma^2 over T^2", rewrites=[sift()]))


@functools.cache
def law_of_large_numbers() -> Proof:
    """Chebyshev: P(|mean - mu| >= eps) = E 1[(mean - mu)^2 >= eps^2] <= E (mean - mu)^2 / eps^2 (the
    indicator bound Z >= a 1[Z >= a], for every draw) = sigma^2/(T eps^2) -> 0."""
    Z = centred_mean() ** 2
    return (Proof("Weak law of large numbers: the Monte Carlo estimate converges in probability",
                  Source("000", "Algorithm for f-Divergence Minimization, Law of Large Numbers", 185),
                  "P(|(1/T) sum g(X_t) - mu| >= eps) <= sigma^2/(T eps^2) for every eps > 0 (Chebyshev), which "
                  "tends to 0 as T -> oo: the Monte Carlo estimate of E g(X) converges to it in probability",
                  densities=[p(x)], definitions=MOMENTS, given=[IID])
            .start(E(sp.Heaviside(Z - eps**2, 1)))
            .le(E(Z) / eps**2, indicator_bound(Z, eps**2),
                "P(A) = E 1_A; Z >= eps^2 1[Z >= eps^2] for every draw (Z >= 0)", weight=1 / eps**2)
            .eq(sigma2 / (n * eps**2), "the Monte Carlo variance", rewrites=[cite_monte_carlo()])
            .limit(sigma2 / (n * eps**2), n, sp.oo, 0, "the bound vanishes as T -> oo"))


def cite_monte_carlo(subs: dict | None = None):
    from .engine import cite

    return cite(monte_carlo_proof, subs)


def proofs() -> list[Proof]:
    return [standard_moments_proof(), moments_proof(), monte_carlo_proof(), law_of_large_numbers()]
