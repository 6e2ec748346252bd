"""GANs (notes 000 "Generative Adversarial Networks", 001 "GAN-Specific Form", 002 §3, 004 §6.4-6.17).

p = p_data, q = p_theta, positive densities; V(x) the discriminator's logit, D = sigmoid(V).
"""
from __future__ import annotations

import sympy as sp

from fdiv.derivation.activation import V as v
from fdiv.derivation.conjugate import T
from fdiv.spec.spec import U

from . import fdivergence, gaussian
from .derivations import derivation
from .engine import Lemma, Proof, Source, integral, x
from .lemmas import by_proof

TITLE = "GANs: the objective, the optimal discriminator, gradients"

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
    return (Proof("The GAN row of VDM is the GAN objective", Source("001", "GAN-Specific Form", 152),
                  f"with fdiv's GAN row f = {d.f}, f* = {d.conjugate} on dom f* = {d.conjugate_domain} and "
                  f"sigma_f = {d.activation}: E_P[sigma_f(V)] - E_Q[f*(sigma_f(V))] = E_P[log D] + "
                  "E_Q[log(1 - D)] with D = sigmoid(V)", densities=[p, q])
            .sign(d.activation, "<", "sigma_f(v) < 0: the critic lies in dom f* = (-oo, 0) for every logit v")
            .start(integral(p * sigma) - integral(q * f_star))
            .eq(integral(p * sp.log(sigmoid(Vx))) + integral(q * sp.log(1 - sigmoid(Vx))),
                "sigma_f(V) = log sigmoid(V) and f*(sigma_f(V)) = -log(1 - sigmoid(V)), pointwise"))


def optimal_discriminator() -> Proof:
    g = P * sp.log(Dv) + Q * sp.log(1 - Dv)
    d_star = P / (P + Q)
    dd = sp.Symbol("d", positive=True)
    return (Proof("Optimal discriminator D* = p/(p+q)", Source("004", "6.4 Discriminator Loss", 1441),
                  "for each x, D -> p log D + q log(1 - D) on (0, 1) is strictly concave with stationary point "
                  "D* = p/(p+q): its unique maximiser; at p = q, D* = 1/2")
            .start(sp.diff(g, Dv).subs(Dv, d_star))
            .eq(0, "first-order condition at D*")
            .sign(sp.diff(g, Dv, 2).subs(Dv, dd / (1 + dd)), "<",
                  "second-order condition: g''(D) = -p/D^2 - q/(1 - D)^2 < 0 on (0, 1) (D written as d/(1 + d))")
            .start(sp.Subs(d_star, Q, P))
            .eq(sp.Rational(1, 2), "at p = q, D* = 1/2"))


def optimal_logit() -> Proof:
    return (Proof("Optimal logit log(p/q)", Source("004", "6.4 Discriminator Loss", 1473),
                  "sigmoid(log(p/q)) = p/(p+q): the optimal logit is h* = log(p_data/p_theta)")
            .start(sigmoid(sp.log(P / Q)))
            .eq(P / (P + Q), "exp(-log(p/q)) = q/p"))


def jsd(a=p, b=q) -> sp.Expr:
    m = (a + b) / 2
    return (integral(a * sp.log(a / m)) + integral(b * sp.log(b / m))) / 2


def jsd_nonnegative() -> Lemma:
    """JSD >= 0, from 'D_f >= f(1) for every catalogue f' (the jsd row, f(1) = 0)."""
    f_jsd = derivation("jsd").f
    return by_proof("JSD >= 0 (the jsd row of 'D_f >= f(1) for every catalogue f')",
                    integral(q * f_jsd.subs(U, p / q)), fdivergence.nonnegative_catalogue)


def value_at_optimum() -> Proof:
    d_star = p / (p + q)
    return (Proof("V(G, D*) = 2 JSD - log 4, and min_G max_D V = -log 4", Source("004", "6.11 Standard GAN", 1578),
                  "the GAN value at the optimal discriminator is 2 JSD(p||q) - log 4 >= -log 4, with equality at "
                  "q = p: the min-max value is -log 4, attained when p_theta = p_data", densities=[p, q])
            .start(integral(p * sp.log(d_star)) + integral(q * sp.log(1 - d_star)))
            .eq(integral(p * sp.log(2 * p / (p + q))) + integral(q * sp.log(2 * q / (p + q))) - sp.log(4),
                "log 2 + log 2 = log 4, taken out through the normalisation of p and q")
            .eq(2 * jsd() - sp.log(4), "definition of JSD with m = (p + q)/2")
            .ge(-sp.log(4), jsd_nonnegative(), "JSD >= 0", weight=2)
            .start((2 * jsd() - sp.log(4)).subs(q, p))
            .eq(-sp.log(4), "at q = p the JSD integrands vanish (log 1 = 0)"))


def vanishing_gradient() -> Proof:
    s = sigmoid(h)
    return (Proof("Minimax generator gradient vanishes, non-saturating does not",
                  Source("004", "6.11 Standard GAN", 1584),
                  "sigma'(h)/(1 - sigma(h)) = sigma(h); d/dh log(1 - D) -> 0 but d/dh (-log D) -> -1 as D -> 0")
            .start(sp.diff(s, h) / (1 - s))
            .eq(s, "sigma' = sigma (1 - sigma)")
            .start(sp.diff(sp.log(1 - s), h))
            .eq(-s, "chain rule: d/dh log(1 - sigma(h)) = -sigma(h) = -D")
            .limit(-s, h, -sp.oo, 0, "minimax: as D -> 0 (h -> -oo) the gradient vanishes")
            .start(sp.diff(-sp.log(s), h))
            .eq(s - 1, "non-saturating: d/dh (-log sigma(h)) = sigma(h) - 1")
            .limit(s - 1, h, -sp.oo, -1, "non-saturating: as D -> 0 the gradient tends to -1: it stays"))


def kl_generator_loss() -> Proof:
    d_star = p / (p + q)  # p = p_data, q = p_theta
    return (Proof("KL-based generator loss at D* is KL(p_theta||p_data)", Source("004", "6.7 Generator KL-based Loss", 1524),
                  "E_{p_theta}[log(1 - D*) - log D*] = KL(p_theta || p_data)", densities=[p, q])
            .start(integral(q * sp.log(1 - d_star)) - integral(q * sp.log(d_star)))
            .eq(integral(q * sp.log(q / p)), "(1 - D*)/D* = p_theta/p_data"))


def narrow_gaussians() -> Proof:
    th, th0 = sp.symbols("theta theta_0", real=True)
    eps = sp.Symbol("epsilon", positive=True)
    pt, pd = gaussian.gaussian(x, th, eps**2), gaussian.gaussian(x, th0, eps**2)
    return (Proof("KL between narrow Gaussians", Source("004", "6.17 Issue Analysis", 1649),
                  "KL(N(theta, eps^2) || N(theta_0, eps^2)) = (theta - theta_0)^2/(2 eps^2), derivative "
                  "(theta - theta_0)/eps^2: both grow without bound as eps -> 0 for theta != theta_0")
            .start(integral(pt * sp.log(pt / pd)))
            .eq(integral(pt * gaussian.log_ratio(x, th, eps**2, th0, eps**2)), "log(p/q) is a quadratic in x")
            .eq((th - th0) ** 2 / (2 * eps**2), "E_p of a quadratic: Gaussian moments",
                rewrites=[gaussian.moments_rule(x)])
            .start(sp.diff((th - th0) ** 2 / (2 * eps**2), th))
            .eq((th - th0) / eps**2, "derivative in theta"))


def proofs() -> list[Proof]:
    return [gan_row(), optimal_discriminator(), optimal_logit(), value_at_optimum(), vanishing_gradient(),
            kl_generator_loss(), narrow_gaussians()]

