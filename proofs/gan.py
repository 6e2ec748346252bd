"""GANs (notes 000 "Generative Adversarial Networks", 001 "GAN-Specific Form", 003, 004 §3.1 and §6).

p = p_data, q = p_theta, positive densities; V(x) the discriminator's logit, D = sigmoid(V).
"""
from __future__ import annotations

import sympy as sp

from fdiv.activation import V as v
from fdiv.conjugate import T

from . import claims
from .derivations import derivation
from .engine import E, Proof, Source, gaussian_kl, identically_distributed, integral, linearity, x

p = sp.Function("p", positive=True)(x)
q = sp.Function("q", positive=True)(x)
Vx = sp.Function("V", real=True)(x)
Dv = sp.Symbol("D", positive=True)  # a value of D in (0, 1)
P, Q = sp.symbols("P Q", positive=True)  # p(x), q(x) at one point
h = sp.Symbol("h", real=True)


def sigmoid(z):
    return 1 / (1 + sp.exp(-z))


def gan_row() -> Proof:
    d = derivation("gan")
    sigma = d.activation.subs(v, Vx)
    f_star = d.conjugate.subs(T, sigma)
    dom = claims.check_domain(d, "(-oo, 0)")
    act = claims.check_activation(d, d.activation)
    return (Proof("The GAN row of VDM is the GAN objective", Source("001", "GAN-Specific Form", 152),
                  "E_P[sigma_f(V)] - E_Q[f*(sigma_f(V))] = E_P[log D] + E_Q[log(1 - D)], D = sigmoid(V)",
                  densities=[p, q])
            .fact(f"GAN row: f = {d.f}, f* = {d.conjugate}, dom f* = {d.conjugate_domain}, sigma_f = {d.activation}",
                  dom.verdict == claims.VERIFIED and act.verdict == claims.VERIFIED,
                  f"fdiv derivation; domain {dom.method}, activation into the critic range {act.method}")
            .start(integral(p * sigma) - integral(q * f_star))
            .eq(integral(p * sp.log(sigmoid(Vx))) + integral(q * sp.log(1 - sigmoid(Vx))),
                "sigma_f(V) = log sigmoid(V) and f*(sigma_f(V)) = -log(1 - sigmoid(V)), pointwise"))


def optimal_discriminator() -> Proof:
    g = P * sp.log(Dv) + Q * sp.log(1 - Dv)
    d_star = P / (P + Q)
    second = sp.diff(g, Dv, 2)
    return (Proof("Optimal discriminator D* = p/(p+q)", Source("004", "6.4 Discriminator Loss", 1441),
                  "for each x, D -> p log D + q log(1 - D) on (0, 1) is maximised at D* = p/(p+q)")
            .start(sp.diff(g, Dv).subs(Dv, d_star))
            .eq(0, "first-order condition at D*")
            .fact(f"second-order condition: g''(D) = {second} < 0 for 0 < D < 1 (strictly concave: D* is the "
                  "unique maximiser)", bool(sp.simplify(-second.subs(Dv, sp.Symbol("d", positive=True) /
                                                                     (1 + sp.Symbol("d", positive=True)))).is_positive),
                  "symbolic (D written as d/(1+d), d > 0)")
            .start(d_star.subs(Q, P))
            .eq(sp.Rational(1, 2), "at p = q, D* = 1/2"))


def optimal_logit() -> Proof:
    return (Proof("Optimal logit log(p/q)", Source("004", "6.4 Discriminator Loss", 1473),
                  "sigmoid(log(p/q)) = p/(p+q): the optimal logit is h* = log(p_data/p_theta)")
            .start(sigmoid(sp.log(P / Q)))
            .eq(P / (P + Q), "exp(-log(p/q)) = q/p"))


def value_at_optimum() -> Proof:
    m = (p + q) / 2
    jsd = (integral(p * sp.log(p / m)) + integral(q * sp.log(q / m))) / 2
    d_star = p / (p + q)
    return (Proof("V(G, D*) = 2 JSD - log 4", Source("004", "6.11 Standard GAN", 1578),
                  "the GAN value at the optimal discriminator", densities=[p, q])
            .start(integral(p * sp.log(d_star)) + integral(q * sp.log(1 - d_star)))
            .eq(integral(p * sp.log(2 * p / (p + q))) + integral(q * sp.log(2 * q / (p + q))) - sp.log(4),
                "log 2 + log 2 = log 4, taken out through the normalisation of p and q")
            .eq(2 * jsd - sp.log(4), "definition of JSD with m = (p + q)/2"))


def vanishing_gradient() -> Proof:
    s = sigmoid(h)
    return (Proof("Minimax generator gradient vanishes, non-saturating does not",
                  Source("004", "6.11 Standard GAN", 1584),
                  "sigma'(h)/(1 - sigma(h)) = sigma(h); d/dh log(1 - D) -> 0 but d/dh (-log D) -> -1 as D -> 0")
            .start(sp.diff(s, h) / (1 - s))
            .eq(s, "sigma' = sigma (1 - sigma)")
            .start(sp.diff(sp.log(1 - s), h))
            .eq(-s, "chain rule: d/dh log(1 - sigma(h)) = -sigma(h) = -D")
            .fact("minimax: lim_{h -> -oo} -sigma(h) = 0 (D -> 0: the gradient vanishes)",
                  sp.limit(-s, h, -sp.oo) == 0, "symbolic limit")
            .start(sp.diff(-sp.log(s), h))
            .eq(s - 1, "non-saturating: d/dh (-log sigma(h)) = sigma(h) - 1")
            .fact("non-saturating: lim_{h -> -oo} (sigma(h) - 1) = -1 (the gradient stays)",
                  sp.limit(s - 1, h, -sp.oo) == -1, "symbolic limit"))


def kl_generator_loss() -> Proof:
    d_star = p / (p + q)  # p = p_data, q = p_theta
    return (Proof("KL-based generator loss at D* is KL(p_theta||p_data)", Source("004", "6.7 Generator KL-based Loss", 1524),
                  "E_{p_theta}[log(1 - D*) - log D*] = KL(p_theta || p_data)", densities=[p, q])
            .start(integral(q * sp.log(1 - d_star)) - integral(q * sp.log(d_star)))
            .eq(integral(q * sp.log(q / p)), "(1 - D*)/D* = p_theta/p_data"))


def narrow_gaussians() -> Proof:
    th, th0 = sp.symbols("theta theta_0", real=True)
    eps = sp.Symbol("epsilon", positive=True)

    kl = gaussian_kl(th, eps**2, th0, eps**2)
    return (Proof("KL between narrow Gaussians", Source("004", "6.17 Issue Analysis", 1649),
                  "KL(N(theta, eps^2) || N(theta_0, eps^2)) = (theta - theta_0)^2/(2 eps^2), derivative "
                  "(theta - theta_0)/eps^2")
            .start(kl)
            .eq((th - th0) ** 2 / (2 * eps**2), "Gaussian integral (SymPy integrate)")
            .start(sp.diff((th - th0) ** 2 / (2 * eps**2), th))
            .eq((th - th0) / eps**2, "derivative in theta"))


def monte_carlo() -> Proof:
    """E and Var of the sample mean of T i.i.d. draws g(X_t)."""
    t, n = sp.symbols("t T", positive=True, integer=True)
    g = sp.Function("g")
    X = sp.Function("X")
    mean = sp.Sum(g(X(t)), (t, 1, n)) / n
    rule = linearity([X])
    var = sp.Function("Var")
    return (Proof("Monte Carlo estimator: unbiased, variance Var/T", Source("004", "Properties of the Monte Carlo Estimate", 850),
                  "E[(1/T) sum g(X_t)] = E[g(X)]; Var[(1/T) sum g(X_t)] = Var[g(X)]/T for i.i.d. X_t")
            .start(E(mean))
            .eq(sp.Sum(E(g(X(t))), (t, 1, n)) / n, "linearity of expectation", rewrites=[("linearity", rule)])
            .eq(E(g(X(1))), "identically distributed; a sum of T equal terms", rewrites=[identically_distributed(E, t)])
            .start(var(mean))
            .eq(sp.Sum(var(g(X(t))), (t, 1, n)) / n**2,
                "Var(c Y) = c^2 Var(Y); independence: the variance of a sum is the sum of the variances",
                rewrites=[("Var(c Y) = c^2 Var(Y)", lambda e: e.replace(
                    lambda z: isinstance(z, var) and z.args[0].is_Mul,
                    lambda z: sp.Mul(*[c**2 for c in z.args[0].args if not c.has(X)])
                    * var(sp.Mul(*[c for c in z.args[0].args if c.has(X)])))),
                          ("independence: Var(sum of Y_t) = sum of Var(Y_t)", lambda e: e.replace(
                              lambda z: isinstance(z, var) and isinstance(z.args[0], sp.Sum),
                              lambda z: sp.Sum(var(z.args[0].function), *z.args[0].limits)))])
            .eq(var(g(X(1))) / n, "identically distributed", rewrites=[identically_distributed(var, t)]))


def proofs() -> list[Proof]:
    return [gan_row(), optimal_discriminator(), optimal_logit(), value_at_optimum(), vanishing_gradient(),
            kl_generator_loss(), narrow_gaussians(), monte_carlo()]
