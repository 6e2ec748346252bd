"""DDPM (notes 002 "Denoising Diffusion Probabilistic Models", "Forward Diffusion Process"): the marginal
q(x_t|x_0), the posterior q(x_(t-1)|x_t, x_0) in vector form, the ELBO as a sum of per-step KLs, and the
epsilon-prediction loss with its weights; checked on a 1-D model with Gaussian data, where everything is exact.

Notation: alpha_t = 1 - beta_t, alphabar_t = alpha_1 ... alpha_t; x_t in R^n (matrix symbols, any n).
"""
from __future__ import annotations

import functools

import sympy as sp

from fdiv._util.timelimit import time_limit

from . import gaussian
from .engine import Proof, Source, integral

TITLE = "Diffusion models: DDPM marginal, posterior, ELBO and the epsilon loss"

n = sp.Symbol("n", positive=True, integer=True)
a_t, abar_prev = sp.symbols("alpha_t alphabar_prev", positive=True)  # alphabar_prev = alphabar_(t-1)
abar_t = a_t * abar_prev
beta_t = 1 - a_t


@functools.cache
def gaussian_cf() -> Proof:
    y, s = sp.Symbol("y", real=True), sp.Symbol("s", real=True)
    return (Proof("The characteristic function of N(0, 1)", Source("002", "Forward Diffusion Process", 377),
                  "E exp(i s y) = exp(-s^2/2) for y ~ N(0, 1); for y ~ N(0, c I_n) it is exp(-c |s|^2/2) (a product "
                  "over the independent coordinates)", var=y)
            .start(integral(sp.exp(sp.I * s * y) * gaussian.gaussian(y, 0, 1), y))
            .eq(sp.exp(-s**2 / 2), "SymPy integrate (completing the square)",
                rewrites=[("evaluate the integral", lambda e: e.doit())]))


def ddpm_marginal() -> Proof:
    x0 = sp.MatrixSymbol("x_0", n, 1)
    r = sp.Symbol("r", positive=True)  # |s|^2
    a = sp.sqrt(a_t) * sp.sqrt(1 - abar_prev)  # the scale of the carried noise
    b = sp.sqrt(beta_t)  # the scale of the new noise
    beta1 = sp.Symbol("beta_1", positive=True)
    return (Proof("q(x_t|x_0) = N(sqrt(alphabar_t) x_0, (1 - alphabar_t) I), in vector form",
                  Source("002", "Forward Diffusion Process", 377),
                  "by induction on t from x_t = sqrt(alpha_t) x_(t-1) + sqrt(beta_t) eps_t: if x_(t-1) = "
                  "sqrt(alphabar_(t-1)) x_0 + sqrt(1 - alphabar_(t-1)) eps' with eps' ~ N(0, I) independent of "
                  "eps_t, the mean is sqrt(alphabar_t) x_0, and the noise a eps' + b eps_t has the characteristic "
                  "function exp(-a^2 |s|^2/2) exp(-b^2 |s|^2/2) (independence: the expectation of a product of "
                  "functions of independent variables factorises), that of N(0, (a^2 + b^2) I) with "
                  "a^2 + b^2 = 1 - alphabar_t")
            .start(sp.Add(1, -(1 - beta1), evaluate=False))
            .eq(beta1, "t = 1: the variance 1 - alphabar_1 is beta_1 (mean sqrt(alpha_1) x_0 by definition)")
            .start(sp.MatMul(sp.sqrt(a_t), sp.MatMul(sp.sqrt(abar_prev), x0, evaluate=False), evaluate=False))
            .eq(sp.sqrt(abar_t) * x0, "step, mean: sqrt(alpha_t) times the mean of x_(t-1)")
            .start(sp.exp(-a**2 * r / 2) * sp.exp(-b**2 * r / 2))
            .eq(sp.exp(-(1 - abar_t) * r / 2), "step, noise: the product of the two Gaussian characteristic "
                                               "functions is that of N(0, (1 - alphabar_t) I)", cites=[gaussian_cf]))


def posterior_parameters():
    var = (1 - abar_prev) * beta_t / (1 - abar_t)
    xt = sp.MatrixSymbol("x_t", n, 1)
    x0 = sp.MatrixSymbol("x_0", n, 1)
    mean = (sp.sqrt(abar_prev) * beta_t / (1 - abar_t)) * x0 + (sp.sqrt(a_t) * (1 - abar_prev) / (1 - abar_t)) * xt
    return mean, var, xt, x0


def ddpm_posterior() -> Proof:
    mean, var, xt, x0 = posterior_parameters()
    y = sp.MatrixSymbol("y", n, 1)  # x_(t-1)

    def sq(v):
        return sp.Trace(v.T * v)

    def log_joint(v):  # log q(x_t | x_(t-1) = v) + log q(x_(t-1) = v | x_0), up to v-free constants
        return -sq(xt - sp.sqrt(a_t) * v) / (2 * beta_t) - sq(v - sp.sqrt(abar_prev) * x0) / (2 * (1 - abar_prev))

    def completed(v):  # log_joint + |v - mean|^2/(2 var): must not depend on v
        return log_joint(v) + sq(v - mean) / (2 * var)

    return (Proof("DDPM posterior q(x_(t-1)|x_t, x_0) = N(mu~_t, beta~_t I), in vector form",
                  Source("002", "Forward Diffusion Process", 374),
                  "log q(x_t|x_(t-1)) + log q(x_(t-1)|x_0) = -|x_(t-1) - mu~_t|^2/(2 beta~_t) + (terms free of "
                  "x_(t-1)), with beta~_t = (1 - alphabar_(t-1)) beta_t/(1 - alphabar_t) and mu~_t = "
                  "sqrt(alphabar_(t-1)) beta_t/(1 - alphabar_t) x_0 + sqrt(alpha_t)(1 - alphabar_(t-1))/(1 - "
                  "alphabar_t) x_t: completing the square (x_(t-1) in R^n, matrix symbols)")
            .start(completed(y))
            .eq(completed(sp.ZeroMatrix(n, 1)), "the completed square leaves no dependence on x_(t-1): its value "
                                                "equals its value at x_(t-1) = 0"))


def ddpm_elbo() -> Proof:
    t, T = sp.symbols("t T", positive=True, integer=True)
    Fq = sp.Function("log_q_step")  # log q(x_t | x_(t-1))
    R = sp.Function("log_q_post")  # log q(x_(t-1) | x_t, x_0)
    Mg = sp.Function("log_q_marg")  # log q(x_t | x_0)
    P = sp.Function("log_p_rev")  # log p_theta(x_(t-1) | x_t)
    log_pT = sp.Symbol("log_p_T", real=True)  # log p(x_T)

    def peel(e):  # a sum over t = 1..T is its t = 1 term plus the sum over t = 2..T
        return e.replace(lambda z: isinstance(z, sp.Sum) and z.limits[0][1] == 1,
                         lambda z: z.function.subs(t, 1) + sp.Sum(z.function, (t, 2, T)))

    def bayes(e):  # q(x_t|x_(t-1)) = q(x_(t-1)|x_t, x_0) q(x_t|x_0)/q(x_(t-1)|x_0), t >= 2; q(x_1|x_0) itself
        e = e.replace(lambda z: isinstance(z, sp.Sum) and z.function == Fq(t),
                      lambda z: sp.Sum(R(t), *z.limits) + sp.Sum(Mg(t) - Mg(t - 1), *z.limits).doit())
        return e.xreplace({Fq(1): Mg(1)})

    return (Proof("DDPM: the negative ELBO is L_T + sum of L_(t-1) + L_0", Source("002", "Denoising Diffusion Probabilistic Models", 352),
                  "log q(x_(1:T)|x_0)/p_theta(x_(0:T)) = [log q(x_T|x_0)/p(x_T)] + sum over t = 2..T of "
                  "[log q(x_(t-1)|x_t, x_0)/p_theta(x_(t-1)|x_t)] - log p_theta(x_0|x_1), pointwise, for any T: the "
                  "forward process is Markov, Bayes' rule turns each step q(x_t|x_(t-1)) = q(x_t|x_(t-1), x_0) into "
                  "the posterior times q(x_t|x_0)/q(x_(t-1)|x_0), and the ratios telescope. Taking E_q gives "
                  "-ELBO = KL(q(x_T|x_0)||p(x_T)) + sum E KL(q(x_(t-1)|x_t, x_0)||p_theta(x_(t-1)|x_t)) "
                  "- E log p_theta(x_0|x_1); the ELBO bounds log p_theta(x_0) as for the VAE")
            .start(sp.Sum(Fq(t), (t, 1, T)) - log_pT - sp.Sum(P(t), (t, 1, T)))
            .eq((Mg(T) - log_pT) + sp.Sum(R(t) - P(t), (t, 2, T)) - P(1),
                "Markov and Bayes; the sum of log q(x_t|x_0) - log q(x_(t-1)|x_0) telescopes",
                rewrites=[("peel off t = 1", peel), ("Bayes' rule with the Markov property", bayes)]))


def ddpm_step_kl() -> Proof:
    m1, m2 = sp.MatrixSymbol("mu~", n, 1), sp.MatrixSymbol("mu_theta", n, 1)
    bt, s2 = sp.Symbol("beta~", positive=True), sp.Symbol("sigma2", positive=True)
    I = sp.Identity(n)
    from .mle_vae import gaussian_kl_multivariate
    kl = (sp.Trace((s2 * I).I * (bt * I)) + sp.Trace((m2 - m1).T * (s2 * I).I * (m2 - m1)) - n
          + n * sp.log(s2) - n * sp.log(bt)) / 2
    return (Proof("DDPM: a per-step KL between isotropic Gaussians", Source("002", "Denoising Diffusion Probabilistic Models", 352),
                  "KL(N(mu~, beta~ I) || N(mu_theta, sigma_t^2 I)) = |mu~ - mu_theta|^2/(2 sigma_t^2) + "
                  "n/2 (beta~/sigma_t^2 - 1 + log(sigma_t^2/beta~)): the d-dimensional formula with S1 = beta~ I, "
                  "S2 = sigma_t^2 I (log det = n log of the scale); only the first term depends on theta")
            .start(kl)
            .eq(sp.Trace((m1 - m2).T * (m1 - m2)) / (2 * s2) + n * (bt / s2 - 1 + sp.log(s2) - sp.log(bt)) / 2,
                "(sigma^2 I)^-1 = I/sigma^2, tr(I_n) = n", cites=[gaussian_kl_multivariate]))


def ddpm_epsilon() -> Proof:
    mean, var, xt, x0 = posterior_parameters()
    eps, eps_th = sp.MatrixSymbol("eps", n, 1), sp.MatrixSymbol("eps_theta", n, 1)
    x0_of_eps = (xt - sp.sqrt(1 - abar_t) * eps) / sp.sqrt(abar_t)
    mu_eps = (xt - beta_t / sp.sqrt(1 - abar_t) * eps) / sp.sqrt(a_t)
    mu_th = (xt - beta_t / sp.sqrt(1 - abar_t) * eps_th) / sp.sqrt(a_t)
    s2 = sp.Symbol("sigma2", positive=True)
    weight = beta_t**2 / (2 * s2 * a_t * (1 - abar_t))
    return (Proof("DDPM: the epsilon-prediction loss and its weights", Source("002", "Denoising Diffusion Probabilistic Models", 352),
                  "with x_t = sqrt(alphabar_t) x_0 + sqrt(1 - alphabar_t) eps, the posterior mean is mu~_t = "
                  "(x_t - beta_t/sqrt(1 - alphabar_t) eps)/sqrt(alpha_t); parameterising mu_theta the same way with "
                  "eps_theta(x_t, t), |mu~_t - mu_theta|^2/(2 sigma_t^2) = beta_t^2/(2 sigma_t^2 alpha_t "
                  "(1 - alphabar_t)) |eps - eps_theta|^2: the per-step loss is a weighted epsilon regression "
                  "(L_simple drops the weight)")
            .start(mean.subs(x0, x0_of_eps))
            .eq(mu_eps, "x_0 in terms of x_t and eps")
            .start(sp.Trace((mu_eps - mu_th).T * (mu_eps - mu_th)) / (2 * s2))
            .eq(weight * sp.Trace((eps - eps_th).T * (eps - eps_th)), "the x_t terms cancel"))


def ddpm_exact_model() -> Proof:
    """1-D, T = 2, data x_0 ~ N(m, s2) (m = 1/2, s2 = 2), beta_1 = 1/10, beta_2 = 1/5, the observed x_0 = 1."""
    m, s2 = sp.Rational(1, 2), sp.Integer(2)
    b1, b2 = sp.Rational(1, 10), sp.Rational(1, 5)
    a1, a2 = 1 - b1, 1 - b2
    ab1, ab2 = a1, a1 * a2
    X0 = sp.Integer(1)
    u = sp.Symbol("u", real=True)

    # joint moments of (x0, x1, x2) under the data distribution: x1 = sqrt(a1) x0 + sqrt(b1) e1, x2 = ...
    var = {0: s2, 1: a1 * s2 + b1, 2: ab2 * s2 + 1 - ab2}
    mean = {0: m, 1: sp.sqrt(a1) * m, 2: sp.sqrt(ab2) * m}
    cov = {(0, 1): sp.sqrt(a1) * s2, (1, 2): sp.sqrt(a2) * var[1], (0, 2): sp.sqrt(ab2) * s2}

    def conditional(i: int, j: int):  # q(x_i | x_j) for the data distribution: (slope, intercept, variance)
        c = cov[tuple(sorted((i, j)))]
        slope = c / var[j]
        return slope, mean[i] - slope * mean[j], var[i] - c**2 / var[j]

    def kl1(m1, v1, m2, v2):  # KL(N(m1, v1) || N(m2, v2)) in closed form (moments, proved above)
        return sp.log(v2 / v1) / 2 + (v1 + (m1 - m2) ** 2) / (2 * v2) - sp.Rational(1, 2)

    # L_T = KL(q(x2|x0) || q(x2))
    LT = kl1(sp.sqrt(ab2) * X0, 1 - ab2, mean[2], var[2])
    # L_1 = E_{x2 ~ q(x2|x0)} KL(q(x1|x2, x0) || q(x1|x2)), the posterior in closed form
    pvar = (1 - ab1) * b2 / (1 - ab2)
    pmean = sp.sqrt(ab1) * b2 / (1 - ab2) * X0 + sp.sqrt(a2) * (1 - ab1) / (1 - ab2) * u
    sl, ic, cv = conditional(1, 2)
    L1 = gaussian.expectation(sp.expand(kl1(pmean, pvar, sl * u + ic, cv)), u, sp.sqrt(ab2) * X0, 1 - ab2)
    # L_0 = -E_{x1 ~ q(x1|x0)} log q(x0|x1)
    sl0, ic0, cv0 = conditional(0, 1)
    logq = -sp.log(2 * sp.pi * cv0) / 2 - (X0 - sl0 * u - ic0) ** 2 / (2 * cv0)
    L0 = -gaussian.expectation(sp.expand(logq), u, sp.sqrt(ab1) * X0, 1 - ab1)
    target = -sp.log(gaussian.gaussian(X0, m, s2))

    # the optimal epsilon-predictor at t = 2: least squares over eps_theta(x) = c x + d
    c, d = sp.symbols("c d", real=True)
    x0s, e = sp.symbols("x0 e", real=True)
    x2 = sp.sqrt(ab2) * x0s + sp.sqrt(1 - ab2) * e
    objective = gaussian.expectation(gaussian.expectation(sp.expand((e - c * x2 - d) ** 2), e, 0, 1), x0s, m, s2)
    with time_limit("solving the least-squares equations of the DDPM model", seconds=30):
        sol = sp.solve([sp.diff(objective, c), sp.diff(objective, d)], [c, d], dict=True)[0]
    slope_star = sp.sqrt(1 - ab2) / var[2]  # E[eps | x2] = Cov(eps, x2)/Var(x2) (x2 - E x2)
    return (Proof("DDPM on an exact model: the per-step KLs sum to -log q(x_0), and the optimal denoiser",
                  Source("002", "Denoising Diffusion Probabilistic Models", 352),
                  "1-D data x_0 ~ N(1/2, 2), T = 2, beta = (1/10, 1/5), observed x_0 = 1. With the true reverse "
                  "kernels p(x_(t-1)|x_t) = q(x_(t-1)|x_t) and p(x_2) = q(x_2) the ELBO is log q(x_0) exactly, so "
                  "L_T + L_1 + L_0, each computed in closed form (Gaussian conditioning and moments), must equal "
                  "-log N(1; 1/2, 2); and the least-squares epsilon-predictor c x_2 + d is E[eps | x_2] = "
                  "sqrt(1 - alphabar_2)/Var(x_2) (x_2 - E x_2)")
            .computed("L_T + L_1 + L_0", lambda: LT + L1 + L0, target,
                      "the per-step terms, each in closed form, sum to -log q(x_0) as the decomposition says",
                      method="exact computation (Gaussian conditioning and moments)")
            .computed("least-squares slope c", lambda: sol[c], slope_star,
                      "the conditional-expectation slope Cov(eps, x_2)/Var(x_2)", method="exact computation")
            .computed("least-squares intercept d", lambda: sol[d], -slope_star * mean[2],
                      "and the intercept", method="exact computation"))


def proofs() -> list[Proof]:
    return [gaussian_cf(), ddpm_marginal(), ddpm_posterior(), ddpm_elbo(), ddpm_step_kl(), ddpm_epsilon(),
            ddpm_exact_model()]
