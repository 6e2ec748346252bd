"""MLE and VAEs (notes 004 §3.1 "Relationship Between Loss and KL Divergence", §4.3 ELBO, §4.4 beta-VAE,
§4.5 IWAE, §4.7 workflow).

Integrals over z for the VAE: q = q(z|x), p_xz = p(x, z) = p(x|z) p(z), p_x = p(x) (a positive constant for the
observed x; p(x) is the integral of p(x, z) over z by definition).
"""
from __future__ import annotations

import functools

import sympy as sp

from . import gaussian
from .engine import E, Proof, Rule, Source, cite, integral, registered, x
from .foundations import monte_carlo_proof
from .lemmas import (EXPECTATION, IID, axiom, exchangeable, identically_distributed, jensen, leibniz, linearity,
                     log_bound, log_taylor, lotus, uniform)

TITLE = "Maximum likelihood and VAEs: ELBO, beta-VAE, IWAE"

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
MARGINAL = {integral(p_xz, z): p_x}  # p(x) = integral of p(x, z) dz


def mle_is_kl() -> Proof:
    nll = -integral(p * sp.log(m))  # expected negative log-likelihood under p_data
    entropy = -integral(p * sp.log(p))
    kl = integral(p * sp.log(p / m))
    n, i = sp.Symbol("n", positive=True, integer=True), sp.Symbol("i", positive=True, integer=True)
    xi = sp.IndexedBase("x")
    loss = sp.Sum(-sp.log(sp.Function("p_theta", positive=True)(xi[i], theta)), (i, 1, n))
    return (Proof("argmin NLL = argmin KL(p_data||p_theta)", Source("004", "3.1 Relationship Between Loss and KL", 783),
                  "KL(p_data||p_theta) = -H(p_data) + E_data[-log p_theta], and the entropy does not depend on "
                  "theta; with the empirical distribution (mass 1/n at each x_i), E[-log p_theta] = L(theta)/n "
                  "for the loss L(theta) = -sum log p_theta(x_i)", densities=[p])
            .start(kl)
            .eq(-entropy + nll, "log(p/m) = log p - log m, linearity")
            .start(sp.diff(kl - nll, theta))
            .eq(0, "d/dtheta of (KL - NLL) = d/dtheta of -H(p_data) = 0: both have the same minimisers",
                rewrites=[leibniz()])
            .start(sp.Sum(-sp.log(sp.Function("p_theta", positive=True)(xi[i], theta)) / n, (i, 1, n)))
            .eq(loss / n, "the empirical expectation of -log p_theta is the loss divided by n"))


@functools.cache
def kl_nonnegative() -> Proof:
    return (Proof("KL >= 0 via log x <= x - 1, with equality iff p = q",
                  Source("004", "3.1 KL Divergence: Non-negative", 802),
                  "KL(p||q) >= 0 for densities p and q, and KL(p||q) = 0 exactly when p = q almost everywhere "
                  "(log y = y - 1 only at y = 1)", densities=[p, q_])
            .start(integral(p * sp.log(p / q_)))
            .eq(-integral(p * sp.log(q_ / p)), "log(p/q) = -log(q/p)")
            .ge(-integral(p * (q_ / p - 1)), log_bound(q_ / p), weight=p)
            .eq(0, "q/p times p is q; p and q integrate to 1")
            .iff(q_ / p, 1, "log y = y - 1 only at y = 1, and p > 0"))


def kl_lemma(a: sp.Expr, b: sp.Expr, var: sp.Symbol):
    """KL(a||b) = integral of a log(a/b) d var >= 0: 'KL >= 0' at p = a, q = b, x = var (a and b must be
    densities there)."""
    return cite(kl_nonnegative, {p: a, q_: b, x: var})


@functools.cache
def elbo_decomposition() -> Proof:
    elbo = integral(qz * sp.log(p_xz / qz), z)
    kl_post = integral(qz * sp.log(qz / (p_xz / p_x)), z)
    return (Proof("log p(x) = ELBO + KL(q(z|x) || p(z|x)) >= ELBO", Source("004", "4.3 Variational Inference", 1036),
                  "with p(z|x) = p(x, z)/p(x); the KL term is >= 0, so the ELBO is a lower bound", densities=[qz],
                  var=z, definitions=MARGINAL)
            .start(sp.log(p_x))
            .eq(elbo + kl_post, "log(p(x,z)/q) + log(q p(x)/p(x,z)) = log p(x), and q integrates to 1")
            .ge(elbo, kl_lemma(qz, p_xz / p_x, z), "KL(q || p(z|x)) >= 0"))


def elbo_reconstruction_kl() -> Proof:
    return (Proof("ELBO = E_q log p(x|z) - KL(q(z|x) || p(z))", Source("004", "4.3 Decomposition & Calculation", 1056),
                  "with p(x, z) = p(x|z) p(z)", densities=[qz], var=z)
            .start(integral(qz * sp.log(p_x_given_z * p_z / qz), z))
            .eq(integral(qz * sp.log(p_x_given_z), z) - integral(qz * sp.log(qz / p_z), z), "log of a product"))


@functools.cache
def gaussian_kl_1d() -> Proof:
    mu = sp.Symbol("mu", real=True)
    s = sp.Symbol("sigma", positive=True)
    qd, pd = gaussian.gaussian(z, mu, s**2), gaussian.gaussian(z, 0, 1)
    return (Proof("Closed-form Gaussian KL, one dimension", Source("004", "4.3 Decomposition & Calculation", 1068),
                  "KL(N(mu, sigma^2) || N(0, 1)) = (mu^2 + sigma^2 - 1 - log sigma^2)/2", var=z)
            .start(integral(qd * sp.log(qd / pd), z))
            .eq(integral(qd * gaussian.log_ratio(z, mu, s**2, 0, 1), z), "log(q/p) is a quadratic in z")
            .eq((mu**2 + s**2 - 1 - sp.log(s**2)) / 2, "E_q of a quadratic: Gaussian moments",
                rewrites=[gaussian.moments_rule(z)]))


def gaussian_kl_diagonal() -> Proof:
    """L latent dimensions, q = prod_i N(mu_i, sigma_i^2), p = N(0, I)."""
    i, L = sp.Symbol("i", positive=True, integer=True), sp.Symbol("L", positive=True, integer=True)
    mu, s, zi = sp.IndexedBase("mu", real=True), sp.IndexedBase("sigma", positive=True), sp.IndexedBase("z")
    mu1, s1 = sp.Symbol("mu", real=True), sp.Symbol("sigma", positive=True)
    qi, pi = gaussian.gaussian(zi[i], mu[i], s[i] ** 2), gaussian.gaussian(zi[i], 0, 1)
    marginal = lotus(zi[i], z, gaussian.gaussian(z, mu[i], s[i] ** 2), z)
    return (Proof("Closed-form Gaussian KL, L dimensions", Source("004", "4.3 Decomposition & Calculation", 1068),
                  "KL(N(mu, diag sigma^2) || N(0, I)) = 1/2 sum_i (mu_i^2 + sigma_i^2 - 1 - log sigma_i^2): the "
                  "log-ratio of product densities is a sum over dimensions, and each term's expectation under the "
                  "product q involves only its own coordinate, whose law is N(mu_i, sigma_i^2)", var=z)
            .start(E(sp.Sum(sp.log(qi / pi), (i, 1, L))))
            .eq(sp.Sum(E(sp.log(qi / pi)), (i, 1, L)), "linearity", rewrites=[linearity([zi])])
            .eq(sp.Sum(integral(gaussian.gaussian(z, mu[i], s[i] ** 2)
                                * sp.log(gaussian.gaussian(z, mu[i], s[i] ** 2) / gaussian.gaussian(z, 0, 1)), z),
                       (i, 1, L)), "under the product q, z_i ~ N(mu_i, sigma_i^2) (its marginal)", rewrites=[marginal])
            .eq(sp.Sum((mu[i] ** 2 + s[i] ** 2 - 1 - sp.log(s[i] ** 2)) / 2, (i, 1, L)),
                "each term is a one-dimensional Gaussian KL (cited at mu = mu_i, sigma = sigma_i)",
                rewrites=[cite(gaussian_kl_1d, {mu1: mu[i], s1: s[i]})]))


@functools.cache
def quadratic_form_expectation() -> Proof:
    """E[(x - a)' A (x - a)] for x with mean m and covariance S (S symmetric), in index notation for any d."""
    i, j = sp.symbols("i j", positive=True, integer=True)
    d = sp.Symbol("d", positive=True, integer=True)
    A, S, mm, a, xx = (sp.IndexedBase(n) for n in ("A", "S", "m", "a", "x"))
    second = second_moments(xx, S, mm)
    return (Proof("Expectation of a quadratic form", Source("004", "1.2 Background, Gaussian density", 284),
                  "E[(x - a)' A (x - a)] = tr(A S) + (m - a)' A (m - a) for x with mean m and covariance S, in "
                  "any dimension d (sums over i, j = 1..d; tr(A S) = sum A_ij S_ji = sum A_ij S_ij for symmetric S)",
                  given=["x has mean m and covariance S: E x_i = m_i, E x_i x_j = S_ij + m_i m_j"])
            .start(E(sp.Sum(A[i, j] * (xx[i] - a[i]) * (xx[j] - a[j]), (i, 1, d), (j, 1, d))))
            .eq(sp.Sum(A[i, j] * S[i, j], (i, 1, d), (j, 1, d))
                + sp.Sum(A[i, j] * (mm[i] - a[i]) * (mm[j] - a[j]), (i, 1, d), (j, 1, d)),
                "linearity of E inside the finite sums", rewrites=[second]))


@axiom("linearity of expectation")
def second_moments(xx: sp.IndexedBase, S: sp.IndexedBase, mm: sp.IndexedBase) -> Rule:
    """E of a polynomial of degree <= 2 in the x_i inside finite sums, by linearity, with E x_i = m_i and
    E x_i x_j = S_ij + m_i m_j (the definitions of the mean and the covariance)."""
    return Rule("E x_i x_j = S_ij + m_i m_j and E x_i = m_i (mean and covariance), linearity",
                lambda e: e.replace(lambda y: isinstance(y, E), lambda y: _second_moments(y.args[0], xx, S, mm)),
                "axiom")


def _second_moments(arg: sp.Expr, xx, S, mm) -> sp.Expr:
    """E of a polynomial of degree <= 2 in the x_i inside finite sums, by linearity."""
    if isinstance(arg, sp.Sum):
        return sp.Sum(_second_moments(arg.function, xx, S, mm), *arg.limits)
    out = sp.S.Zero
    for term in sp.Add.make_args(sp.expand(arg)):
        xs = [f for f in sp.Mul.make_args(term) for _ in range(int(f.exp) if isinstance(f, sp.Pow) else 1)
              if (f.base if isinstance(f, sp.Pow) else f).has(xx)]
        const = term
        for f in sp.Mul.make_args(term):
            if f.has(xx):
                const /= f
        idx = [(f.base if isinstance(f, sp.Pow) else f).indices[0] for f in xs]
        if len(idx) == 0:
            out += const
        elif len(idx) == 1:
            out += const * mm[idx[0]]
        else:
            out += const * (S[idx[0], idx[1]] + mm[idx[0]] * mm[idx[1]])
    return out


@functools.cache
def gaussian_kl_multivariate() -> Proof:
    d = sp.Symbol("d", positive=True, integer=True)
    m1, m2 = sp.MatrixSymbol("m1", d, 1), sp.MatrixSymbol("m2", d, 1)
    S1, S2 = sp.MatrixSymbol("S1", d, d), sp.MatrixSymbol("S2", d, d)
    X = sp.MatrixSymbol("x", d, 1)
    D1, D2 = sp.Symbol("logdet_S1", real=True), sp.Symbol("logdet_S2", real=True)
    QF = sp.Function("E_p")  # E_p of a scalar (1x1) expression, x ~ N(m1, S1)

    def log_density(mean, cov, logdet):
        return -d / 2 * sp.log(2 * sp.pi) - logdet / 2 - sp.Trace((X - mean).T * cov.I * (X - mean)) / 2

    quad = quadratic_forms(X, m1, S1, QF)
    lin = matrix_linearity(QF, X)
    return (Proof("Gaussian KL in d dimensions", Source("004", "4.3 Decomposition & Calculation", 1068),
                  "KL(N(m1, S1) || N(m2, S2)) = 1/2 [tr(S2^-1 S1) + (m2 - m1)' S2^-1 (m2 - m1) - d + "
                  "log det S2 - log det S1], for any dimension d (matrix symbols; S1, S2 symmetric positive "
                  "definite)")
            .start(QF(log_density(m1, S1, D1) - log_density(m2, S2, D2)))
            .eq(sp.Trace(S2.I * S1) / 2 + sp.Trace((m2 - m1).T * S2.I * (m2 - m1)) / 2
                - sp.Trace(S1.I * S1) / 2 + (D2 - D1) / 2, "linearity; the expectation of each quadratic form",
                rewrites=[lin, quad])
            .eq((sp.Trace(S2.I * S1) + sp.Trace((m2 - m1).T * S2.I * (m2 - m1)) - d + D2 - D1) / 2,
                "tr(S1^-1 S1) = tr(I_d) = d"))


@axiom("linearity of expectation")
def matrix_linearity(QF: sp.Function, X: sp.MatrixSymbol) -> Rule:
    """E_p of a sum: constants come out; each trace is opened into its products (the trace is linear)."""
    return Rule("linearity of E_p", _linear_rule(QF, X), "axiom")


@registered()
def quadratic_forms(X: sp.MatrixSymbol, mean: sp.MatrixSymbol, cov: sp.MatrixSymbol, QF: sp.Function) -> Rule:
    """E_p tr(u' A v) for u, v in {x, a constant}: E x = m and E x'Ax = tr(A S) + m'Am, each an instance of
    'Expectation of a quadratic form' (written with matrices)."""
    return Rule("E_p (x - a)' A (x - a) = tr(A S1) + (m1 - a)' A (m1 - a)", _quadratic_rule(X, mean, cov, QF),
                "cited", rests_on=quadratic_form_expectation)


def _linear_rule(QF, X):
    """E_p of a sum: constants come out; each trace is opened into its products (the trace is linear)."""
    def split(arg):
        arg = sp.expand(arg.replace(lambda t: isinstance(t, sp.Trace), _open_trace))
        out = sp.S.Zero
        for term in sp.Add.make_args(arg):
            const, rest = term.as_independent(X, as_Add=False)
            out += const * QF(rest) if rest.has(X) else term
        return out
    return lambda e: e.replace(lambda y: isinstance(y, QF), lambda y: split(y.args[0]))


def _open_trace(t: sp.Trace) -> sp.Expr:
    arg = t.arg.expand().doit()
    out = sp.S.Zero
    for term in sp.Add.make_args(arg) if isinstance(arg, sp.MatAdd) else (arg,):
        coeff, mats = term.as_coeff_mmul() if isinstance(term, sp.MatMul) else (1, term)
        out += coeff * sp.Trace(mats)
    return out


def _quadratic_rule(X, mean, cov, QF):
    """E_p tr(u' A v) with u, v in {x, constant}: E x = m and E x' A x = tr(A S) + m' A m."""
    def evaluate(y):
        t = y.args[0]
        if not isinstance(t, sp.Trace) or not isinstance(t.arg, sp.MatMul):
            return y
        mats = t.arg.args
        if len(mats) != 3:
            return y
        left, A, right = mats
        u = sp.Transpose(left).doit()
        if u == X and right == X:
            return sp.Trace(A * cov) + sp.Trace(mean.T * A * mean)
        if u == X:
            return sp.Trace(mean.T * A * right)
        if right == X:
            return sp.Trace(left * A * mean)
        return y
    return lambda e: e.replace(lambda y: isinstance(y, QF), evaluate)


def reparameterisation() -> Proof:
    mu = sp.Symbol("mu", real=True)
    s = sp.Symbol("sigma", positive=True)
    return (Proof("Reparameterisation z = mu + sigma eps has law N(mu, sigma^2)", Source("004", "4.7 Workflow of VAEs", 1218),
                  "p_z(z) = p_eps((z - mu)/sigma) |d eps/dz| = N(z; mu, sigma^2) (coordinatewise for "
                  "z = mu + sigma * eps with diagonal sigma)")
            .start(sp.Mul(sp.Subs(gaussian.gaussian(sp.Symbol("epsilon"), 0, 1), sp.Symbol("epsilon"), (z - mu) / s),
                          sp.Abs(sp.Derivative((z - mu) / s, z)), evaluate=False))
            .eq(gaussian.gaussian(z, mu, s**2), "change of variables in 1-D"))


# ------------------------------------------------------------------------------------------------ beta-VAE
def beta_vae() -> Proof:
    b = sp.Symbol("b", nonnegative=True)  # beta = 1 + b >= 1
    beta = 1 + b
    recon = integral(qz * sp.log(p_x_given_z), z)
    kl_prior = integral(qz * sp.log(qz / p_z), z)
    elbo = integral(qz * sp.log(p_x_given_z * p_z / qz), z)
    return (Proof("beta-VAE: for beta >= 1 the beta-ELBO is below the ELBO, hence below log p(x)",
                  Source("004", "4.4 beta-VAE", 1088),
                  "L_beta = E_q log p(x|z) - beta KL(q || p(z)) = ELBO - (beta - 1) KL(q || p(z)) <= ELBO <= log p(x) "
                  "for beta >= 1 (beta = 1 + b, b >= 0); at beta = 1 it is the ELBO", densities=[qz, p_z], var=z)
            .start(recon - beta * kl_prior)
            .eq(elbo - b * kl_prior, "log p(x|z) p(z)/q = log p(x|z) - log(q/p(z))")
            .le(elbo, kl_lemma(qz, p_z, z), "KL(q || p(z)) >= 0 (cited at p = q(z|x), q = p(z)), times "
                "beta - 1 >= 0", weight=b)
            .start((recon - beta * kl_prior).subs(b, 0))
            .eq(elbo, "beta = 1: the ELBO"))


def linear_gaussian_vae() -> Proof:
    """z ~ N(0, 1), x | z ~ N(z, 1), observed x = 1: p(x) = N(1; 0, 2), p(z|x) = N(1/2, 1/2)."""
    half = sp.Rational(1, 2)
    joint = gaussian.gaussian(1, z, 1) * gaussian.gaussian(z, 0, 1)
    q0 = gaussian.gaussian(z, 0, 1)  # q = the prior, not the posterior
    post = gaussian.gaussian(z, half, half)
    log_px = sp.log(gaussian.gaussian(1, 0, 2))
    elbo = -sp.log(2 * sp.pi) / 2 - 1
    gap = sp.Rational(3, 4) - sp.log(2) / 2
    kl_post_prior = (sp.log(2) - half) / 2 + sp.Rational(1, 8)  # KL(N(1/2, 1/2) || N(0, 1))
    return (Proof("An exact linear-Gaussian VAE: ELBO, its gap, and beta < 1", Source("004", "4.4 beta-VAE", 1088),
                  "z ~ N(0, 1), x|z ~ N(z, 1), x = 1. With q = N(0, 1): ELBO = -log(2 pi)/2 - 1 and "
                  "log p(x) - ELBO = KL(q || p(z|x)) = 3/4 - log(2)/2 > 0. With q = p(z|x) = N(1/2, 1/2) the ELBO is "
                  "log p(x), and the beta-ELBO, ELBO + (1 - beta) KL(q || p(z)), exceeds log p(x) for beta = 1/2 "
                  "by KL(q || p(z))/2 > 0: for beta < 1 it is not a lower bound", var=z, densities=[q0, post])
            .start(integral(q0 * sp.log(joint / q0), z))
            .eq(integral(q0 * sp.expand(sp.expand_log(sp.log(joint / q0), force=True)), z),
                "the log-ratio of Gaussians is a quadratic in z")
            .eq(elbo, "Gaussian moments", rewrites=[gaussian.moments_rule(z)])
            .start(log_px - elbo)
            .eq(gap, "log p(x) = log N(1; 0, 2) = -log(4 pi)/2 - 1/4")
            .start(integral(q0 * gaussian.log_ratio(z, 0, 1, half, half), z))
            .eq(gap, "KL(q || p(z|x)) by Gaussian moments: the same gap", rewrites=[gaussian.moments_rule(z)])
            .start(integral(post * sp.log(joint / post), z))
            .eq(log_px, "q = p(z|x): p(x, z)/p(z|x) = p(x) for every z, so the ELBO is log p(x)")
            .start(integral(post * gaussian.log_ratio(z, half, half, 0, 1), z))
            .eq(kl_post_prior, "KL(p(z|x) || p(z)) by Gaussian moments", rewrites=[gaussian.moments_rule(z)])
            .sign(kl_post_prior / 2, ">", "beta = 1/2: the beta-ELBO minus log p(x) is KL(q || p(z))/2 > 0"))


# -------------------------------------------------------------------------------------------------- IWAE
i_, k_ = sp.symbols("i k", positive=True, integer=True)
Zd = sp.Function("Z")  # the draws z_1, z_2, ... from q(z|x)
P_XZ, Q = p_xz.func, qz.func


def w(i) -> sp.Expr:
    """The importance weight w_i = p(x, z_i)/q(z_i|x) of the draw z_i."""
    return P_XZ(Zd(i)) / Q(Zd(i))


def mean_weight(k=k_, index=i_) -> sp.Expr:
    return sp.Sum(w(index), (index, 1, k)) / k


DRAW = lotus(Zd(1), z, qz, z)  # z_1 has density q: E h(z_1) = integral of q h
IWAE_PREMISES = {"densities": [qz], "var": z, "definitions": MARGINAL, "given": [IID]}


@functools.cache
def iwae_unbiased() -> Proof:
    same = identically_distributed(E, i_)
    return (Proof("IWAE: the mean weight is unbiased for p(x)", Source("004", "4.5 Proof for Property 1", 1148),
                  "E[(1/k) sum w_i] = p(x) for w_i = p(x, z_i)/q(z_i|x), z_i i.i.d. from q(z|x)", **IWAE_PREMISES)
            .start(E(mean_weight()))
            .eq(sp.Sum(E(w(i_)), (i_, 1, k_)) / k_, "linearity", rewrites=[linearity([Zd])])
            .eq(E(w(1)), "identically distributed; k equal terms", rewrites=[same])
            .eq(p_x, "z_1 ~ q: the integral of q p(x, z)/q; p(x) is the integral of p(x, z) dz", rewrites=[DRAW])
            .start(sp.Sum(E(w(i_)), (i_, 1, k_)))
            .eq(k_ * p_x, "the sum of the k means, each p(x)", rewrites=[same, DRAW]))


@functools.cache
def iwae_upper() -> Proof:
    y = sp.Symbol("y", positive=True)
    return (Proof("IWAE: L_k <= log p(x)", Source("004", "4.5 Proof for Property 1", 1154),
                  "E[log (1/k) sum w_i] <= log E[(1/k) sum w_i] = log p(x)", **IWAE_PREMISES)
            .start(E(sp.log(mean_weight())))
            .le(sp.log(E(mean_weight())), jensen(sp.log, mean_weight(), EXPECTATION, y), "Jensen for the concave log")
            .eq(sp.log(p_x), "the mean weight is unbiased (cited)", rewrites=[cite(iwae_unbiased)]))


def iwae_monotone() -> Proof:
    """Leave-one-out: the mean of k + 1 weights is the average of its k + 1 leave-one-out means of k weights."""
    j = sp.Symbol("j", positive=True, integer=True)
    y = sp.Symbol("y", positive=True)
    total = sp.Sum(w(j), (j, 1, k_ + 1))
    loo = (total - w(i_)) / k_  # the mean of the k weights other than w_i
    m = sp.Function("m", positive=True)  # m(i): that leave-one-out mean, positive as a mean of positive weights
    return (Proof("IWAE: L_k <= L_(k+1)", Source("004", "4.5 Property 1", 1117),
                  "the mean of k + 1 weights is the uniform average of its k + 1 leave-one-out means m_i; log is "
                  "concave (Jensen over the k + 1 choices, for every draw), and each m_i, the mean of k i.i.d. "
                  "weights, has the law of the mean of the first k, so E log m_i = L_k",
                  **{**IWAE_PREMISES, "definitions": {**MARGINAL, m(i_): loo}})
            .start(total / (k_ + 1))
            .eq(sp.Sum(loo, (i_, 1, k_ + 1)) / (k_ + 1), "each w_j is left out once: sum_i (S - w_i) = k S")
            .start(E(sp.log(mean_weight(k_ + 1, j))))
            .eq(E(sp.log(sp.Sum(m(i_), (i_, 1, k_ + 1)) / (k_ + 1))), "the mean of the k + 1 leave-one-out means")
            .ge(E(sp.Sum(sp.log(m(i_)), (i_, 1, k_ + 1)) / (k_ + 1)),
                jensen(sp.log, m(i_), uniform(i_, 1, k_ + 1), y), "Jensen for each draw")
            .eq(sp.Sum(E(sp.log(m(i_))), (i_, 1, k_ + 1)) / (k_ + 1), "linearity", rewrites=[linearity([Zd, m])])
            .eq(E(sp.log(mean_weight())), "exchangeability; k + 1 equal terms",
                rewrites=[exchangeable(m(i_), mean_weight())]))


def iwae_first_is_elbo() -> Proof:
    return (Proof("IWAE: L_1 = ELBO", Source("004", "4.5 Proof for Property 1", 1184),
                  "with one sample the mean weight is w_1 = p(x, z_1)/q(z_1|x), z_1 ~ q", **IWAE_PREMISES)
            .start(E(sp.log(w(1))))
            .eq(integral(qz * sp.log(p_xz / qz), z), "z_1 ~ q: E log w_1 is the integral of q log(p(x, z)/q)",
                rewrites=[DRAW]))


LOWER = ("every weight is >= a > 0, so the mean weight over p(x) is >= c = a/p(x), and c <= 1 since p(x) = E w "
         ">= a")


def iwae_limit() -> Proof:
    """0 <= log p(x) - L_k <= sigma^2/(2 k a^2) when every weight is >= a > 0 and Var w = sigma^2."""
    a = sp.Symbol("a", positive=True)
    sigma2 = sp.Symbol("sigma2", positive=True)
    Y = mean_weight() / p_x
    c = a / p_x
    u = sp.Symbol("u", positive=True)
    from . import foundations as mc
    variance = cite(monte_carlo_proof, {mc.g: sp.Lambda(u, P_XZ(u) / Q(u)), mc.X: Zd, mc.p: Q, x: z, mc.t: i_,
                                        mc.n: k_, mc.mu: p_x, mc.sigma2: sigma2})
    return (Proof("IWAE: L_k -> log p(x) for weights bounded below", Source("004", "4.5 Property 2", 1126),
                  "if every weight w = p(x, z)/q(z|x) satisfies w >= a > 0 and Var w = sigma^2 is finite, then "
                  "0 <= log p(x) - L_k <= sigma^2/(2 k a^2), which tends to 0 as k -> oo (with L_k <= log p(x) "
                  "proved above)",
                  **{**IWAE_PREMISES, "definitions": {**MARGINAL, integral(p_xz**2 / qz, z): sigma2 + p_x**2},
                     "given": [IID, LOWER]})
            .start(sp.log(p_x) - E(sp.log(mean_weight())))
            .eq(E(-sp.log(Y)), "log p(x) is a constant", rewrites=[linearity([Zd])])
            .eq(E(-sp.log(Y) - (1 - Y)), "E (1 - Wbar_k/p(x)) = 0: the mean weight is unbiased (cited)",
                rewrites=[linearity([Zd]), cite(iwae_unbiased)])
            .le(E((Y - 1) ** 2) / (2 * c**2), log_taylor(Y, c, LOWER), "for every draw, then monotonicity of E")
            .eq(E((sp.Sum(w(i_) - p_x, (i_, 1, k_)) / k_) ** 2) / (2 * c**2 * p_x**2), "constants out of E",
                rewrites=[linearity([Zd], expand=False)])
            .eq(sigma2 / (2 * k_ * a**2), "Var Wbar_k = sigma^2/k: the Monte Carlo variance (cited at g = p(x, .)/q, "
                                          "draws z_i ~ q, mu = p(x))", rewrites=[variance])
            .limit(sigma2 / (2 * k_ * a**2), k_, sp.oo, 0, "the bound vanishes as k -> oo"))


def iwae_discrete_model() -> Proof:
    """A latent z in {0, 1}: p(z = 1) = 1/2, p(x | z = 0) = 1/5, p(x | z = 1) = 3/5 for the observed x, and
    q(z = 1 | x) = 1/4 (not the posterior): the weights are w(0) = 2/15, w(1) = 6/5 and p(x) = 2/5."""
    q1, w0, w1 = sp.Rational(1, 4), sp.Rational(2, 15), sp.Rational(6, 5)
    px = sp.Rational(2, 5)

    def L(k: int) -> sp.Expr:  # exact: the number of draws with z = 1 is Binomial(k, 1/4)
        return sum(sp.binomial(k, j) * q1**j * (1 - q1) ** (k - j) * sp.log((j * w1 + (k - j) * w0) / k)
                   for j in range(k + 1))

    var_w = q1 * w1**2 + (1 - q1) * w0**2 - px**2
    proof = Proof("IWAE on an exact discrete model", Source("004", "4.5 Property 1", 1117),
                  "z in {0, 1} with p(z = 1) = 1/2, p(x|z) = 1/5, 3/5 and q(z = 1|x) = 1/4: every L_k is a finite "
                  "sum (the number of ones among k draws is Binomial(k, 1/4)); L_1 <= L_2 <= ... <= L_6 <= log p(x) "
                  "= log(2/5), and log p(x) - L_k <= Var(w)/(2 k a^2) with a = min w = 2/15")
    proof.computed("E_q w", lambda: q1 * w1 + (1 - q1) * w0, px, "the mean weight is p(x)", method="exact arithmetic")
    for k in range(1, 6):
        proof.computed(f"L_{k + 1} - L_{k}", functools.partial(lambda k: L(k + 1) - L(k), k), 0,
                       "L_k <= L_(k+1)", method="exact closed form, compared at 30 digits", relation=">=")
    proof.computed("log p(x) - L_6", lambda: sp.log(px) - L(6), 0, "L_6 <= log p(x)",
                   method="exact closed form, compared at 30 digits", relation=">=")
    for k in (1, 3, 6):
        proof.computed(f"log p(x) - L_{k}", functools.partial(lambda k: sp.log(px) - L(k), k), var_w / (2 * k * w0**2),
                       "the convergence bound sigma^2/(2 k a^2)", method="exact closed form, compared at 30 digits",
                       relation="<=")
    return proof


def proofs() -> list[Proof]:
    return [mle_is_kl(), kl_nonnegative(), elbo_decomposition(), elbo_reconstruction_kl(), gaussian_kl_1d(),
            gaussian_kl_diagonal(), quadratic_form_expectation(), gaussian_kl_multivariate(), reparameterisation(),
            beta_vae(), linear_gaussian_vae(), iwae_unbiased(), iwae_upper(), iwae_monotone(), iwae_first_is_elbo(),
            iwae_limit(), iwae_discrete_model()]
