"""MLE and VAEs (notes 004 §3.1 "Relationship Between Loss and KL Divergence", §4.3 ELBO, §4.5 IWAE, §4.7).

Integrals over z for the VAE: q = q(z|x), p_xz = p(x, z) = p(x|z) p(z), p_x = p(x) (a positive constant here).
"""
from __future__ import annotations

import sympy as sp

from .engine import (E, Proof, Source, gaussian, gaussian_kl, identically_distributed, integral, jensen, linearity,
                     log_bound, x)

# MLE: p = p_data, m = p_theta (depends on theta)
p = sp.Function("p", positive=True)(x)
theta = sp.Symbol("theta", real=True)
m = sp.Function("p_theta", positive=True)(x, theta)
q_ = sp.Function("q", positive=True)(x)

z = sp.Symbol("z", real=True)
qz = sp.Function("q", positive=True)(z)
p_xz = sp.Function("p_xz", positive=True)(z)
p_x_given_z = sp.Function("p_x_given_z", positive=True)(z)
p_z = sp.Function("p_z", positive=True)(z)
p_x = sp.Symbol("p_x", positive=True)


def mle_is_kl() -> Proof:
    nll = -integral(p * sp.log(m))  # expected negative log-likelihood under p_data
    entropy = -integral(p * sp.log(p))
    kl = integral(p * sp.log(p / m))
    return (Proof("argmin NLL = argmin KL(p_data||p_theta)", Source("004", "3.1 Relationship Between Loss and KL", 783),
                  "KL(p_data||p_theta) = -H(p_data) + E_data[-log p_theta], and the entropy does not depend on theta",
                  densities=[p])
            .start(kl)
            .eq(-entropy + nll, "log(p/m) = log p - log m, linearity")
            .start(sp.diff(kl - nll, theta))
            .eq(0, "d/dtheta of (KL - NLL) = d/dtheta of -H(p_data) = 0: both have the same minimisers",
                rewrites=[("differentiate under the integral", lambda e: e.doit())]))


def kl_nonnegative() -> Proof:
    return (Proof("KL >= 0 via log x <= x - 1", Source("004", "3.1 KL Divergence: Non-negative", 802),
                  "KL(p||q) >= 0", densities=[p, q_])
            .start(integral(p * sp.log(p / q_)))
            .eq(-integral(p * sp.log(q_ / p)), "log(p/q) = -log(q/p)")
            .ge(-integral(p * (q_ / p - 1)), log_bound(q_ / p), weight=p)
            .eq(0, "q/p times p is q; p and q integrate to 1"))


def elbo_decomposition() -> Proof:
    elbo = integral(qz * sp.log(p_xz / qz), z)
    kl_post = integral(qz * sp.log(qz / (p_xz / p_x)), z)
    return (Proof("log p(x) = ELBO + KL(q(z|x) || p(z|x))", Source("004", "4.3 Variational Inference", 1036),
                  "with p(z|x) = p(x, z)/p(x)", densities=[qz], var=z)
            .start(sp.log(p_x))
            .eq(elbo + kl_post, "log(p(x,z)/q) + log(q p(x)/p(x,z)) = log p(x), and q integrates to 1"))


def elbo_reconstruction_kl() -> Proof:
    return (Proof("ELBO = E_q log p(x|z) - KL(q(z|x) || p(z))", Source("004", "4.3 Decomposition & Calculation", 1056),
                  "with p(x, z) = p(x|z) p(z)", densities=[qz], var=z)
            .start(integral(qz * sp.log(p_x_given_z * p_z / qz), z))
            .eq(integral(qz * sp.log(p_x_given_z), z) - integral(qz * sp.log(qz / p_z), z), "log of a product"))


def closed_form_gaussian_kl() -> Proof:
    mu = sp.Symbol("mu", real=True)
    s = sp.Symbol("sigma", positive=True)
    kl = gaussian_kl(mu, s**2, 0, 1, z)
    return (Proof("Closed-form Gaussian KL", Source("004", "4.3 Decomposition & Calculation", 1068),
                  "KL(N(mu, sigma^2) || N(0, 1)) = (mu^2 + sigma^2 - 1 - log sigma^2)/2 per latent dimension "
                  "(dimensions are independent, so the KLs add)")
            .start(kl)
            .eq((mu**2 + s**2 - 1 - sp.log(s**2)) / 2, "Gaussian integral (SymPy integrate)"))


def reparameterisation() -> Proof:
    mu = sp.Symbol("mu", real=True)
    s = sp.Symbol("sigma", positive=True)
    # z = mu + sigma eps, eps ~ N(0, 1): density of z by the change of variables eps = (z - mu)/sigma
    return (Proof("Reparameterisation z = mu + sigma eps has law N(mu, sigma^2)", Source("004", "4.7 Workflow of VAEs", 1218),
                  "p_z(z) = p_eps((z - mu)/sigma) |d eps/dz| = N(z; mu, sigma^2)")
            .start(gaussian((z - mu) / s, 0, 1) * sp.Abs(sp.diff((z - mu) / s, z)))
            .eq(gaussian(z, mu, s**2), "change of variables in 1-D"))


def iwae() -> list[Proof]:
    i, k = sp.symbols("i k", positive=True, integer=True)
    w = sp.Function("w", positive=True)  # w(i) = p(x, z_i)/q(z_i|x), z_i i.i.d. from q
    mean_w = sp.Sum(w(i), (i, 1, k)) / k
    rule = linearity([w])
    same = identically_distributed(E, i)
    one_weight = ("E w_1 = integral of q (p(x,z)/q) dz = p(x)", {E(w(1)): integral(qz * p_xz / qz, z)})
    marginal = ("p(x) = integral of p(x, z) dz", lambda e: e.replace(lambda y: y == integral(p_xz, z), lambda y: p_x))
    unbiased = (Proof("IWAE: the mean weight is unbiased for p(x)", Source("004", "4.5 Proof for Property 1", 1148),
                      "E[(1/k) sum w_i] = p(x)", var=z)
                .start(E(mean_w))
                .eq(sp.Sum(E(w(i)), (i, 1, k)) / k, "linearity", rewrites=[("linearity", rule)])
                .eq(E(w(1)), "identically distributed; k equal terms", rewrites=[same])
                .eq(p_x, "definition of the weight and of the marginal", rewrites=[one_weight, marginal]))
    y = sp.Symbol("y", positive=True)
    upper = (Proof("IWAE: L_k <= log p(x)", Source("004", "4.5 Proof for Property 1", 1154),
                   "E[log (1/k) sum w_i] <= log E[(1/k) sum w_i] = log p(x)")
             .start(E(sp.log(mean_w)))
             .le(sp.log(E(mean_w)), jensen(sp.log, E(mean_w), E(sp.log(mean_w)), y, "expectation over z_1..z_k"))
             .eq(sp.log(p_x), "the mean weight is unbiased (previous proof)", rewrites=[("unbiased", {E(mean_w): p_x})]))
    lower = (Proof("IWAE: L_k >= L_1 = ELBO", Source("004", "4.5 Proof for Property 1", 1170),
                   "log of the mean weight >= mean of log weights (Jensen, uniform over k), then expectations")
             .start(E(sp.log(mean_w)))
             .ge(E(sp.Sum(sp.log(w(i)), (i, 1, k)) / k),
                 jensen(sp.log, mean_w, sp.Sum(sp.log(w(i)), (i, 1, k)) / k, y, "uniform over the k weights"),
                 "Jensen for each draw, then monotonicity of E",
                 weight=1)
             .eq(E(sp.log(w(1))), "linearity; identically distributed", rewrites=[("linearity", rule), same]))
    return [unbiased, upper, lower]


def proofs() -> list[Proof]:
    return [mle_is_kl(), kl_nonnegative(), elbo_decomposition(), elbo_reconstruction_kl(), closed_form_gaussian_kl(),
            reparameterisation(), *iwae()]
