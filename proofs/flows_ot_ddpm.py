"""Normalizing flows (004 §5.1, §5.3), WGAN / FID (002 "Wasserstein GAN", "Fréchet Inception Distance"), DDPM
(002 "Forward Diffusion Process"; the closed-form marginal and the posterior the DDPM loss uses)."""
from __future__ import annotations

import random

import mpmath
import sympy as sp

from .engine import E, Proof, Source, linearity

z, x_ = sp.symbols("z x", real=True)


# ----------------------------------------------------------------------------------------------------- flows
def change_of_variables_1d() -> Proof:
    F = sp.Function("F_Z")  # the CDF of Z
    p_z = sp.Function("p_Z")
    h = sp.Function("h")  # h = f^-1, increasing
    xi = sp.Symbol("xi")
    cdf_rule = ("F_Z' = p_Z", lambda e: e.replace(
        lambda y: isinstance(y, sp.Subs), lambda y: p_z(y.args[2][0])).replace(
        lambda y: isinstance(y, sp.Derivative) and y.args[0].func == F, lambda y: p_z(y.args[0].args[0])))
    return (Proof("Change of variables in 1-D", Source("004", "5.1 Change of Variables formula, 1-D", 1301),
                  "X = f(Z), f increasing with inverse h: p_X(x) = d/dx P(Z <= h(x)) = p_Z(h(x)) h'(x)")
            .start(sp.diff(F(h(x_)), x_))
            .eq(p_z(h(x_)) * sp.diff(h(x_), x_), "chain rule", rewrites=[cdf_rule])
            .start(sp.Subs(sp.diff(F(xi), xi), xi, h(x_)))
            .eq(p_z(h(x_)), "the density is the derivative of the CDF", rewrites=[cdf_rule]))


def linear_flow() -> Proof:
    a11, a12, a21, a22 = sp.symbols("a11 a12 a21 a22", real=True)
    A = sp.Matrix([[a11, a12], [a21, a22]])
    X = sp.Matrix(sp.symbols("x1 x2", real=True))
    det = A.det()
    W = A.adjugate() / det
    zz = W * X
    p_z = sp.exp(-(zz.T * zz)[0] / 2) / (2 * sp.pi)  # N(0, I) in 2-D
    cov = A * A.T
    target = sp.exp(-(X.T * cov.adjugate() * X)[0] / (2 * cov.det())) / (2 * sp.pi * sp.sqrt(cov.det()))
    return (Proof("Linear flow: p_X(x) = p_Z(A^-1 x) |det A^-1|", Source("004", "5.1 Change of Variables, linear", 1307),
                  "X = A Z with Z ~ N(0, I_2) and A invertible: the formula gives the N(0, A A^T) density")
            .start(p_z / sp.sqrt(det**2))
            .eq(target, "|det A^-1| = 1/sqrt(det(A)^2) = 1/sqrt(det(A A^T))"))


def composed_flows() -> Proof:
    f1, f2 = sp.Function("f1"), sp.Function("f2")
    B = sp.Matrix(2, 2, sp.symbols("b0:4", real=True))
    C = sp.Matrix(2, 2, sp.symbols("c0:4", real=True))
    return (Proof("Composition of flows: log-dets add", Source("004", "5.3 A Flow of Transformations", 1362),
                  "(f2 o f1)' = f2'(f1(z)) f1'(z) in 1-D, det(J2 J1) = det J2 det J1 in 2-D, so "
                  "log|det J| is the sum of the layers' log|det|")
            .start(sp.diff(f2(f1(z)), z))
            .eq(sp.Subs(sp.Derivative(f2(sp.Symbol("xi")), sp.Symbol("xi")), sp.Symbol("xi"), f1(z))
                * sp.diff(f1(z), z), "chain rule")
            .start((C * B).det())
            .eq(C.det() * B.det(), "the determinant is multiplicative (2x2, symbolic entries)")
            .start(sp.log(sp.Abs(C.det() * B.det())))
            .eq(sp.log(sp.Abs(C.det())) + sp.log(sp.Abs(B.det())), "log of a product of absolute values"))


# -------------------------------------------------------------------------------------------------- WGAN/FID
def w2_gaussians_1d() -> Proof:
    m1, m2 = sp.symbols("m1 m2", real=True)
    s1, s2 = sp.symbols("s1 s2", positive=True)
    eps = sp.Symbol("eps", real=True)
    moments = ("E eps = 0, E eps^2 = 1 (eps ~ N(0, 1))", {E(eps): 0, E(eps**2): 1})
    fid_1d = (m1 - m2) ** 2 + s1**2 + s2**2 - 2 * sp.sqrt(s1 * s2**2 * s1)
    return (Proof("W2 between 1-D Gaussians equals the FID expression", Source("002", "Fréchet Inception Distance", 878),
                  "the monotone (quantile) coupling X = m1 + s1 eps, Y = m2 + s2 eps is optimal in 1-D: "
                  "W2^2 = E (X - Y)^2 = (m1 - m2)^2 + (s1 - s2)^2 = FID(N(m1, s1^2), N(m2, s2^2))")
            .start(E((m1 + s1 * eps - m2 - s2 * eps) ** 2))
            .eq((m1 - m2) ** 2 + (s1 - s2) ** 2, "expand; linearity; moments of eps",
                rewrites=[("linearity", linearity([eps])), moments])
            .eq(fid_1d, "(Sigma1^(1/2) Sigma2 Sigma1^(1/2))^(1/2) = s1 s2 in 1-D"))


def fid_commuting() -> Proof:
    a = sp.symbols("a1 a2", positive=True)
    b = sp.symbols("b1 b2", positive=True)
    S1, S2 = sp.diag(*a), sp.diag(*b)
    root = sp.diag(*[sp.sqrt(ai * bi) for ai, bi in zip(a, b)])
    return (Proof("FID trace term for commuting covariances", Source("002", "Fréchet Inception Distance", 880),
                  "diagonal Sigma1, Sigma2: Tr(S1 + S2 - 2 (S1^(1/2) S2 S1^(1/2))^(1/2)) = sum (sqrt a_i - sqrt b_i)^2")
            .start((S1.applyfunc(sp.sqrt) * S2 * S1.applyfunc(sp.sqrt)) - root**2)
            .eq(sp.zeros(2, 2), "root is the square root of S1^(1/2) S2 S1^(1/2) (entrywise on the diagonal)")
            .start((S1 + S2 - 2 * root).trace())
            .eq(sum((sp.sqrt(ai) - sp.sqrt(bi)) ** 2 for ai, bi in zip(a, b)), "trace of a diagonal matrix"))


def _fid_general_numeric(trials: int = 6, dim: int = 3) -> tuple[bool, str]:
    """The optimal map T(x) = m2 + A (x - m1), A = S1^(-1/2) (S1^(1/2) S2 S1^(1/2))^(1/2) S1^(-1/2), pushes
    N(m1, S1) to N(m2, S2) (A S1 A = S2) and costs E|X - T X|^2 = the FID expression: checked at 30 digits."""
    rng = random.Random(7)
    worst = mpmath.mpf(0)
    with mpmath.workdps(40):
        for _ in range(trials):
            def spd():
                g = mpmath.matrix([[rng.gauss(0, 1) for _ in range(dim)] for _ in range(dim)])
                return g * g.T + mpmath.eye(dim) * mpmath.mpf("0.1")
            S1, S2 = spd(), spd()
            r1 = mpmath.sqrtm(S1)
            mid = mpmath.sqrtm(r1 * S2 * r1)
            A = mpmath.inverse(r1) * mid * mpmath.inverse(r1)
            push = A * S1 * A.T - S2
            cost = sum((S1 - S1 * A.T - A * S1 + A * S1 * A.T)[i, i] for i in range(dim))
            fid = sum((S1 + S2 - 2 * mid)[i, i] for i in range(dim))
            worst = max(worst, mpmath.mnorm(push, 1), abs(cost - fid))
    return worst < mpmath.mpf(10) ** -30, f"largest residual {mpmath.nstr(worst, 3)} over {trials} random pairs"


def fid_general() -> Proof:
    ok, detail = _fid_general_numeric()
    return (Proof("FID expression = W2^2 between Gaussians (general covariances)",
                  Source("002", "Fréchet Inception Distance", 876),
                  "the linear map T pushes N(m1, S1) to N(m2, S2) and its cost is the FID trace term")
            .fact("A S1 A = S2 and Tr(S1 - S1 A - A S1 + A S1 A) = Tr(S1 + S2 - 2 (S1^(1/2) S2 S1^(1/2))^(1/2))",
                  ok, "numeric (30 digits, random 3x3 covariances)", detail))


def w1_cdf_1d() -> Proof:
    """W1 = integral of |F^-1 - G^-1| du (quantile coupling, optimal in 1-D) = integral of |F - G| dx."""
    with mpmath.workdps(30):
        worst = mpmath.mpf(0)
        for m1, s1, m2, s2 in ((0, 1, 1, 2), (0.5, 0.3, -1, 1.5), (0, 1, 2, 1)):
            F = lambda t, m=m1, s=s1: mpmath.ncdf(t, m, s)  # noqa: E731
            G = lambda t, m=m2, s=s2: mpmath.ncdf(t, m, s)  # noqa: E731
            cross = [mpmath.mpf(m1 * s2 - m2 * s1) / (s2 - s1)] if s1 != s2 else []  # F = G there: a kink
            cdf_area = mpmath.quad(lambda t: abs(F(t) - G(t)), sorted([-mpmath.inf, -5, 0, 5, mpmath.inf, *cross]))
            quantile = mpmath.quad(lambda e: abs((m1 + s1 * e) - (m2 + s2 * e)) * mpmath.npdf(e),
                                   [-mpmath.inf, (m2 - m1) / (s1 - s2) if s1 != s2 else 0, mpmath.inf])
            worst = max(worst, abs(cdf_area - quantile))
    return (Proof("1-D W1 = integral of |F - G|", Source("002", "Wasserstein GAN (WGAN) and Optimal Transport", 546),
                  "the quantile coupling's cost E|F^-1(U) - G^-1(U)| equals the area between the CDFs")
            .fact("E|(m1 + s1 e) - (m2 + s2 e)| = integral |F - G| dx for three Gaussian pairs",
                  worst < mpmath.mpf(10) ** -20, "numeric (30-digit quadrature)", f"largest difference {mpmath.nstr(worst, 3)}"))


# ------------------------------------------------------------------------------------------------------ DDPM
def ddpm_marginal() -> Proof:
    a_t, abar_prev = sp.symbols("alpha_t alphabar_prev", positive=True)
    x0 = sp.Symbol("x0", real=True)
    abar_t = a_t * abar_prev  # alphabar_t = alpha_t alphabar_(t-1)
    beta1 = sp.Symbol("beta_1", positive=True)
    return (Proof("q(x_t|x_0) = N(sqrt(alphabar_t) x_0, (1 - alphabar_t) I)", Source("002", "Forward Diffusion Process", 377),
                  "by induction on t from q(x_t|x_(t-1)) = N(sqrt(1 - beta_t) x_(t-1), beta_t I), alpha_t = 1 - beta_t")
            .start(1 - (1 - beta1))
            .eq(beta1, "t = 1: variance 1 - alphabar_1 = beta_1 (mean sqrt(alpha_1) x_0 by definition)")
            .start(sp.sqrt(a_t) * sp.sqrt(abar_prev) * x0)
            .eq(sp.sqrt(abar_t) * x0, "step, mean: sqrt(alpha_t) times the mean of x_(t-1)")
            .start(a_t * (1 - abar_prev) + (1 - a_t))
            .eq(1 - abar_t, "step, variance: alpha_t Var(x_(t-1)) + beta_t (independent noise)"))


def ddpm_posterior() -> Proof:
    a_t, abar_prev = sp.symbols("alpha_t alphabar_prev", positive=True)
    x0, xt, y = sp.symbols("x0 x_t y", real=True)  # y = x_(t-1)
    beta = 1 - a_t
    abar_t = a_t * abar_prev
    log_joint = (-(xt - sp.sqrt(a_t) * y) ** 2 / (2 * beta)
                 - (y - sp.sqrt(abar_prev) * x0) ** 2 / (2 * (1 - abar_prev)))  # up to y-free terms
    var = (1 - abar_prev) * beta / (1 - abar_t)
    mean = sp.sqrt(abar_prev) * beta / (1 - abar_t) * x0 + sp.sqrt(a_t) * (1 - abar_prev) / (1 - abar_t) * xt
    return (Proof("DDPM posterior q(x_(t-1)|x_t, x_0)", Source("002", "Forward Diffusion Process", 374),
                  "log q(x_t|x_(t-1)) + log q(x_(t-1)|x_0) is a quadratic in x_(t-1) with curvature -1/beta~_t and "
                  "stationary point mu~_t: the posterior is N(mu~_t, beta~_t)")
            .start(sp.diff(log_joint, y, 2))
            .eq(-1 / var, "curvature: beta~_t = (1 - alphabar_(t-1)) beta_t/(1 - alphabar_t)")
            .start(sp.diff(log_joint, y).subs(y, mean))
            .eq(0, "mu~_t = sqrt(alphabar_(t-1)) beta_t/(1 - alphabar_t) x_0 "
                   "+ sqrt(alpha_t)(1 - alphabar_(t-1))/(1 - alphabar_t) x_t"))


def proofs() -> list[Proof]:
    return [change_of_variables_1d(), linear_flow(), composed_flows(), w2_gaussians_1d(), fid_commuting(),
            fid_general(), w1_cdf_1d(), ddpm_marginal(), ddpm_posterior()]
