"""Conditional GANs and the projection discriminator (002 "Conditional GANs (cGANs)", 004 §6.14), Bi-GAN
(002 "Bi-Directional Generative Adversarial Networks"), and DANN (002 "Domain-Adversarial Neural Networks").

Each objective is E_P log D + E_Q log(1 - D) on some space (the joint (x, y), the joint (x, z), the features),
so the GAN argument applies pointwise there: D* = P/(P + Q), value 2 JSD(P||Q) - log 4.
"""
from __future__ import annotations

import mpmath
import sympy as sp

from . import gaussian
from .engine import E, Proof, Source, integral, x
from .gan import jsd, sigmoid
from .lemmas import equal_laws
from .numeric import quadrature

TITLE = "Conditional GANs, the projection discriminator, Bi-GAN and DANN"

P, Q = sp.symbols("P Q", positive=True)  # the two densities at one point of the space
Dv = sp.Symbol("D", positive=True)


def _pointwise_optimum(title: str, source: Source, space: str) -> Proof:
    g = P * sp.log(Dv) + Q * sp.log(1 - Dv)
    d_star = P / (P + Q)
    dd = sp.Symbol("d", positive=True)
    return (Proof(title, source, f"on {space}: D -> P log D + Q log(1 - D) is strictly concave on (0, 1) with "
                  "stationary point D* = P/(P + Q); the value there is P log(P/(P+Q)) + Q log(Q/(P+Q)), whose "
                  "integral is 2 JSD(P||Q) - log 4 >= -log 4 (the GAN proofs, with P, Q the densities on this "
                  "space), with equality iff P = Q")
            .start(sp.diff(g, Dv).subs(Dv, d_star))
            .eq(0, "first-order condition")
            .sign(sp.diff(g, Dv, 2).subs(Dv, dd / (1 + dd)), "<", "strictly concave (D = d/(1 + d))")
            .start(g.subs(Dv, d_star))
            .eq(P * sp.log(2 * P / (P + Q)) + Q * sp.log(2 * Q / (P + Q)) - (P + Q) * sp.log(2),
                "the integrand of 2 JSD - log 4 (P and Q integrate to 1)"))


# --------------------------------------------------------------------------------------------------- cGAN
def cgan_optimum() -> Proof:
    return _pointwise_optimum("cGAN: the optimal discriminator on (x, y)", Source("002", "Conditional GANs (cGANs)", 519),
                              "the joint space (x, y), with P = p(y) p(x|y) and Q = p(y) p_theta(x|y)")


def cgan_logit() -> Proof:
    py, px_y, qx_y = sp.symbols("p_y p_x_given_y q_x_given_y", positive=True)
    pyx, qyx, px, qx = sp.symbols("p_y_given_x q_y_given_x p_x q_x", positive=True)
    return (Proof("cGAN: the optimal logit and its Bayes split", Source("004", "the notes name the projection discriminator (004 §6.14, line 1617) but the section is empty", held=False),
                  "the optimal logit is log(P/Q) = log(p(x|y)/p_theta(x|y)) (the class prior p(y) is shared), and by "
                  "Bayes' rule it is log(p(y|x)/q(y|x)) + log(p(x)/q(x))")
            .start(sp.log(sigmoid(sp.log(py * px_y / (py * qx_y)))) - sp.log(py * px_y / (py * px_y + py * qx_y)))
            .eq(0, "sigmoid(log(P/Q)) = P/(P + Q) = D*")
            .start(sp.log(sp.Mul(py * px_y, 1 / sp.Mul(py, qx_y, evaluate=False), evaluate=False)))
            .eq(sp.log(px_y / qx_y), "p(y) cancels")
            .start(sp.log((pyx * px) / (qyx * qx)))
            .eq(sp.log(pyx / qyx) + sp.log(px / qx), "p(x, y) = p(y|x) p(x), q(x, y) = q(y|x) q(x)"))


def projection() -> Proof:
    """K = 3 classes, features phi in R^2, conditionals p(y|x) = softmax(Vp phi)_y and q(y|x) = softmax(Vq phi)_y."""
    phi = sp.Matrix(sp.symbols("phi1 phi2", real=True))
    Vp = sp.Matrix(3, 2, sp.symbols("a0:6", real=True))
    Vq = sp.Matrix(3, 2, sp.symbols("b0:6", real=True))
    r = sp.Symbol("r", positive=True)  # p(x)/q(x)
    zp = sum(sp.exp((Vp[k, :] * phi)[0]) for k in range(3))
    zq = sum(sp.exp((Vq[k, :] * phi)[0]) for k in range(3))

    def logit(y: int) -> sp.Expr:  # log p(y|x)/q(y|x) + log p(x)/q(x)
        return sp.log(sp.exp((Vp[y, :] * phi)[0]) / zp) - sp.log(sp.exp((Vq[y, :] * phi)[0]) / zq) + sp.log(r)

    def projected(y: int) -> sp.Expr:  # e_y' (Vp - Vq) phi
        return ((Vp - Vq)[y, :] * phi)[0]

    psi = sp.log(zq) - sp.log(zp) + sp.log(r)
    proof = Proof("Projection discriminator: the optimal logit is y'V phi(x) + psi(phi(x))",
                  Source("004", "the notes name the projection discriminator (004 §6.14, line 1617) but the section is empty", held=False),
                  "with softmax conditionals p(y|x) = softmax(V_p phi(x))_y and q(y|x) = softmax(V_q phi(x))_y, the "
                  "optimal logit log(p(y|x)/q(y|x)) + log(p(x)/q(x)) equals e_y' (V_p - V_q) phi(x) plus "
                  "psi(x) = log Z_q(x) - log Z_p(x) + log(p(x)/q(x)), which does not depend on the class y "
                  "(shown for 3 classes and 2 features, all symbolic)")
    for y in range(3):
        proof.start(logit(y)).eq(projected(y) + psi, f"class y = {y}: the log-partition functions do not depend on y")
    return proof


def cgan_gaussian_model() -> Proof:
    """x in R, two equiprobable classes, p(x|y) = N(mu_y, 1), p_theta(x|y) = N(nu_y, 1)."""
    mu, nu = (0, 2), (1, -1)
    V = sp.Matrix([[mu[y] - nu[y], -sp.Rational(mu[y] ** 2 - nu[y] ** 2, 2)] for y in range(2)])
    phi = sp.Matrix([x, 1])
    proof = Proof("cGAN on an exact model: the optimal discriminator is a projection discriminator",
                  Source("002", "Conditional GANs (cGANs)", 519),
                  f"x in R, p(y) = 1/2 for y in {{0, 1}}, p(x|y) = N(mu_y, 1) with mu = {mu}, p_theta(x|y) = "
                  f"N(nu_y, 1) with nu = {nu}: the optimal logit log(p(x, y)/p_theta(x, y)) is e_y' V phi(x) with "
                  "phi(x) = (x, 1)' and rows V_y = (mu_y - nu_y, -(mu_y^2 - nu_y^2)/2), psi = 0; so the projection "
                  "discriminator sigmoid(e_y' V phi(x)) is D*(x, y) = p(x, y)/(p(x, y) + p_theta(x, y)) exactly")
    for y in range(2):
        p_xy = gaussian.gaussian(x, mu[y], 1) / 2
        q_xy = gaussian.gaussian(x, nu[y], 1) / 2
        proof.start(sp.log(p_xy / q_xy)).eq((V[y, :] * phi)[0], f"class {y}: the optimal logit, p(y) cancels")
        proof.start(sigmoid((V[y, :] * phi)[0])).eq(p_xy / (p_xy + q_xy), f"class {y}: the projection "
                                                                            "discriminator is D*")
    return proof


# -------------------------------------------------------------------------------------------------- Bi-GAN
def bigan_optimum() -> Proof:
    proof = _pointwise_optimum("Bi-GAN: the optimal discriminator on the joint (x, z)",
                               Source("002", "Bi-Directional Generative Adversarial Networks", 632),
                               "the joint space (x, z), with P = p_data(x) delta(z - E(x)) and Q = p_z(z) delta(x - G(z))")
    return proof.assume("the two joint laws have densities P, Q with respect to a common measure (e.g. P + Q)",
                        "the pointwise argument needs densities; for deterministic E and G they are densities "
                        "with respect to P + Q")


def bigan_inversion() -> Proof:
    z = sp.Symbol("z", real=True)
    Enc, Gen = sp.Function("E_phi", real=True), sp.Function("G_theta", real=True)
    xr = sp.Symbol("x", real=True)
    fake, real = sp.Tuple(Gen(z), z), sp.Tuple(xr, Enc(xr))
    same = equal_laws(fake, real)
    return (Proof("Bi-GAN: at the optimum the encoder inverts the generator",
                  Source("002", "Bi-Directional Generative Adversarial Networks", 640),
                  "if p_data(x) delta(z - E(x)) = p_z(z) delta(x - G(z)) as laws, then E_z (z - E(G(z)))^2 = 0 and "
                  "E_x (x - G(E(x)))^2 = 0: E(G(z)) = z for p_z-almost every z and G(E(x)) = x for p_data-almost "
                  "every x (a non-negative variable with mean 0 vanishes almost surely)",
                  names={fake: real})
            .start(E((z - Enc(Gen(z))) ** 2))
            .eq(0, "h(x, z) = (z - E(x))^2 has the same mean under the fake joint (G(z), z) and the real joint "
                   "(x, E(x)), where it is 0", rewrites=[same])
            .start(E((xr - Gen(Enc(xr))) ** 2))
            .eq(0, "h(x, z) = (x - G(z))^2 has the same mean under the real joint and the fake joint, where it "
                   "is 0", rewrites=[same]))


def bigan_gaussian_model() -> Proof:
    """p_data = N(0, 4), p_z = N(0, 1), G(z) = 2 z: E(x) = x/2 inverts G, E'(x) = x/3 does not."""
    z = sp.Symbol("z", real=True)
    proof = Proof("Bi-GAN on an exact model: inverse pairs give equal joints, others do not",
                  Source("002", "Bi-Directional Generative Adversarial Networks", 640),
                  "p_data = N(0, 4), p_z = N(0, 1), G(z) = 2 z. With E(x) = x/2 the real joint (x, x/2) and the "
                  "fake joint (2 z, z) have the same moments E[x^a z^b], a + b <= 4 (Gaussian moments), and "
                  "E (z - E(G(z)))^2 = 0; with E(x) = x/3, E[x z] differs (4/3 against 2) and the latent "
                  "reconstruction error is 1/9", var=z)
    moments = gaussian.moments_rule(z)
    real_law, fake_law = gaussian.gaussian(z, 0, 4), gaussian.gaussian(z, 0, 1)
    for a_ in range(0, 5):
        for b_ in range(0, 5 - a_):
            if a_ + b_ == 0:
                continue
            real = integral(real_law * z**a_ * (z / 2) ** b_, z)  # (x, E(x)) with x ~ N(0, 4)
            fake = integral(fake_law * (2 * z) ** a_ * z**b_, z)  # (G(z), z) with z ~ N(0, 1)
            proof.start(real).eq(fake, f"E[x^{a_} z^{b_}]: real joint = fake joint (Gaussian moments)",
                                 rewrites=[moments])
    proof.start(integral(real_law * z * z / 3, z)).eq(sp.Rational(4, 3), "E[x z] = 4/3 with E(x) = x/3",
                                                      rewrites=[moments])
    proof.start(integral(fake_law * 2 * z * z, z)).eq(2, "E[x z] = 2 under the fake joint: the joints differ",
                                                      rewrites=[moments])
    proof.start(integral(fake_law * (z - 2 * z / 3) ** 2, z)).eq(sp.Rational(1, 9),
                                                                 "latent reconstruction error with E(x) = x/3",
                                                                 rewrites=[moments])
    return proof


# ---------------------------------------------------------------------------------------------------- DANN
def dann_classifier() -> Proof:
    s = sp.Function("s", positive=True)(x)  # source feature density
    t = sp.Function("t", positive=True)(x)  # target feature density
    d_star = s / (s + t)
    lam = sp.Symbol("lambda", positive=True)
    Lcls = sp.Symbol("L_cls", real=True)
    J = sp.Symbol("JSD_phi", nonnegative=True)
    return (Proof("DANN: the domain classifier's optimum and the min-max", Source("002", "Domain-Adversarial Neural Networks (DANN)", 816),
                  "for fixed features with densities s (source) and t (target), L_adv = -E_s log D - E_t log(1 - D) "
                  "is minimised pointwise by D* = s/(s + t), with min_w L_adv = log 4 - 2 JSD(s||t). The min-max "
                  "min_phi max_w (L_cls - lambda L_adv) therefore asks the classifier to minimise L_adv, and "
                  "the features to minimise L_cls + 2 lambda JSD(s_phi||t_phi) - lambda log 4: to align the "
                  "domains", densities=[s, t])
            .start(-integral(s * sp.log(d_star)) - integral(t * sp.log(1 - d_star)))
            .eq(sp.log(4) - 2 * jsd(s, t), "the GAN value at D*, negated")
            .start(Lcls - lam * (sp.log(4) - 2 * J))
            .eq(Lcls + 2 * lam * J - lam * sp.log(4), "max over w of -lambda L_adv = -lambda min_w L_adv (lambda > 0)"))


def dann_gaussian_model() -> Proof:
    """Source features N(0, 1), target features N(1, 1), a logistic domain classifier sigmoid(w0 + w1 f)."""
    f_ = sp.Symbol("f", real=True)
    s, t = gaussian.gaussian(f_, 0, 1), gaussian.gaussian(f_, 1, 1)
    d_star = sigmoid(sp.Rational(1, 2) - f_)  # log(s/t) = 1/2 - f: in the logistic family, w* = (1/2, -1)

    def l_adv(w0, w1):
        with mpmath.workdps(20):
            # log D = -log(1 + e^-a) and log(1 - D) = -log(1 + e^a), a = w0 + w1 f: no cancellation in 1 - D
            a = lambda v: w0 + w1 * v  # noqa: E731
            return (mpmath.quad(lambda v: mpmath.npdf(v, 0, 1) * mpmath.log1p(mpmath.exp(-a(v))), [-mpmath.inf, 0, mpmath.inf])
                    + mpmath.quad(lambda v: mpmath.npdf(v, 1, 1) * mpmath.log1p(mpmath.exp(a(v))), [-mpmath.inf, 1, mpmath.inf]))

    def jsd_value():
        with mpmath.workdps(20):
            p = lambda v: mpmath.npdf(v, 0, 1)  # noqa: E731
            q = lambda v: mpmath.npdf(v, 1, 1)  # noqa: E731
            m_ = lambda v: (p(v) + q(v)) / 2  # noqa: E731
            return mpmath.quad(lambda v: (p(v) * mpmath.log(p(v) / m_(v)) + q(v) * mpmath.log(q(v) / m_(v))) / 2,
                               [-mpmath.inf, 0.5, mpmath.inf])

    with mpmath.workdps(20):
        reference = mpmath.log(4) - 2 * jsd_value()
    return (Proof("DANN on an exact model: the logistic classifier reaches the optimum", Source("002", "Domain-Adversarial Neural Networks (DANN)", 827),
                  "source features N(0, 1), target features N(1, 1), D_w(f) = sigmoid(w0 + w1 f): log(s/t) = 1/2 - f, "
                  "so w* = (1/2, -1) gives D* exactly; the gradient of L_adv vanishes there (pointwise: "
                  "s (1 - D*) = t D*), and L_adv(w*) = log 4 - 2 JSD (20-digit quadrature). Ascending L_adv "
                  "instead (w = -w*) gives a larger loss: the classifier must descend", var=f_)
            .start(sp.log(s / t))
            .eq(sp.Rational(1, 2) - f_, "the log-ratio of the feature densities")
            .start(s * (1 - d_star) - t * d_star)
            .eq(0, "dL_adv/dw0 integrand -s (1 - D) + t D vanishes at D* (and times f for dL_adv/dw1)")
            .computed("L_adv(w*)", lambda: l_adv(mpmath.mpf(1) / 2, -1), sp.Float(reference, 20),
                      "the minimum log 4 - 2 JSD", method=quadrature(20))
            .computed("L_adv(-w*)", lambda: l_adv(-mpmath.mpf(1) / 2, 1), sp.Float(reference, 20),
                      "gradient ascent in w moves away from the optimum", method=quadrature(20),
                      relation=">="))


def proofs() -> list[Proof]:
    return [cgan_optimum(), cgan_logit(), projection(), cgan_gaussian_model(), bigan_optimum(), bigan_inversion(),
            bigan_gaussian_model(), dann_classifier(), dann_gaussian_model()]

