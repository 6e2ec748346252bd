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
from .engine import Citation, Proof, Source, cite, integral, x

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


def jsd_nonnegative() -> Citation:
    """JSD >= 0: the jsd row of 'D_f >= f(1) for every catalogue f' (f(1) = 0), at the same p and q."""
    return cite(fdivergence.nonnegative_catalogue)


def value_at_optimum() -> Proof:
    d_star = p / (p + q)
    return (Proof("V(G, D*) = 2 JSD - log 4, and min_G max_D V = -log 4", Source("004", "6.11 Standard GAN", 1578),
                  "the GAN value at the optimal discriminator is 2 JSD(p||q) - log 4 >= -log 4, with equality at "
                  "q = p: the min-max value is -log 4, attained when p_theta = p_data", densities=[p, q])
            .start(integral(p * sp.log(d_star)) + integral(q * sp.log(1 - d_star)))
            .eq(integral(p * sp.log(2 * p / (p + q))) + integral(q * sp.log(2 * q / (p + q))) - sp.log(4),
                "log 2 + log 2 = log 4, taken out through the normalisation of p and q")
            .eq(2 * jsd() - sp.log(4), "definition of JSD with m = (p + q)/2")
            .ge(-sp.log(4), jsd_nonnegative(), "JSD >= 0 (the jsd row of 'D_f >= f(1) for every catalogue f')",
                weight=2)
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


def disjoint_supports() -> Proof:
    """P = U[0, 1] and Q_theta = U[theta, theta + 1] with theta = 1 + s > 1: the supports are disjoint."""
    s_, t = sp.symbols("s t", positive=True)
    theta = 1 + s_
    xs = sp.Symbol("x", real=True)
    pd = sp.Heaviside(xs, 1) * sp.Heaviside(1 - xs, 1)  # the density of U[0, 1]
    qd = pd.subs(xs, xs - theta)  # the density of U[theta, theta + 1]
    in_p, in_q = t / (1 + t), theta + t / (1 + t)  # points of (0, 1) and of (theta, theta + 1)
    half_jsd = lambda a, b: a * sp.log(2 * a / (a + b)) / 2  # noqa: E731 - p log(2p/(p + q))/2 at one point
    at = lambda e, point: sp.Subs(e, xs, point)  # noqa: E731 - shown as a substitution, evaluated when checked
    z = sp.Symbol("z", real=True)
    one, zero = sp.S.One, sp.S.Zero
    jsd_theta = sp.Integral(half_jsd(one, zero), (xs, 0, 1)) + sp.Integral(half_jsd(one, zero), (xs, theta, theta + 1))
    from .lemmas import evaluate
    return (Proof("Disjoint supports: JSD = log 2 for every theta, and the generator's gradient vanishes",
                  Source("002", "Instability of f-Divergence-Based Training", 540),
                  "P = U[0, 1] and Q_theta = U[theta, theta + 1] with theta > 1: on (0, 1) p = 1 and q = 0, on "
                  "(theta, theta + 1) p = 0 and q = 1, elsewhere both are 0. With 0 log 0 = 0 the JSD integrand "
                  "(p log(2p/(p + q)) + q log(2q/(p + q)))/2 is log(2)/2 on each support and 0 elsewhere, so "
                  "JSD(P||Q_theta) = log 2 whatever theta: its gradient in theta is 0. The optimal discriminator "
                  "D* = p/(p + q) is 0 on the generator's support, so the minimax generator loss E_Q log(1 - D*) is "
                  "0 for every theta (gradient 0), while W1(P, Q_theta) = theta has gradient 1 (the coupling "
                  "X + theta and the critic f(x) = x, weak duality)")
            .start(at(qd, in_p)).eq(0, "q = 0 on (0, 1) (x = t/(1 + t)): theta > 1")
            .start(at(pd, in_p)).eq(1, "p = 1 on (0, 1)")
            .start(at(pd, in_q)).eq(0, "p = 0 on (theta, theta + 1)")
            .start(at(qd, in_q)).eq(1, "q = 1 on (theta, theta + 1)")
            .start(at(half_jsd(pd, qd), in_p))
            .eq(sp.log(2) / 2, "the JSD integrand on (0, 1), where q = 0 (its q-term is 0 log 0 = 0)")
            .start(at(half_jsd(qd, pd), in_q))
            .eq(sp.log(2) / 2, "the JSD integrand on (theta, theta + 1), where p = 0")
            .start(jsd_theta)
            .eq(sp.log(2), "JSD(P||Q_theta): log(2)/2 over each support of length 1",
                rewrites=[evaluate("evaluate the integrals")])
            .start(sp.Derivative(jsd_theta, s_))
            .eq(0, "its gradient in theta vanishes", rewrites=[evaluate("evaluate the integrals")])
            .start(at(pd / (pd + qd), in_q))
            .eq(0, "D* = p/(p + q) = 0 on the generator's support")
            .start(sp.Derivative(sp.Integral(sp.log(1 - sp.S.Zero), (z, 0, 1)), s_))
            .eq(0, "the minimax generator loss E_z log(1 - D*(theta + z)) = 0 for every theta: no gradient",
                rewrites=[evaluate("evaluate the integral")])
            .start(sp.Integral(xs, (xs, theta, theta + 1)) - sp.Integral(xs, (xs, 0, 1)))
            .eq(theta, "the critic f(x) = x: E_Q f - E_P f = theta, and the coupling X + theta costs theta: W1 = "
                       "theta", rewrites=[evaluate("evaluate the integrals")])
            .start(sp.Derivative(theta, s_))
            .eq(1, "W1's gradient in theta is 1"))


def proofs() -> list[Proof]:
    return [gan_row(), optimal_discriminator(), optimal_logit(), value_at_optimum(), vanishing_gradient(),
            kl_generator_loss(), narrow_gaussians(), disjoint_supports()]

