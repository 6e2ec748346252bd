"""Optimal transport and WGAN (notes 002 "Wasserstein GAN (WGAN) and Optimal Transport", "Fréchet Inception
Distance"; 004 §6.8-6.10, §6.15-6.17).

W1(P, Q) = inf over couplings of E|X - Y|; Kantorovich-Rubinstein duality (a cited theorem) writes it as the
sup over 1-Lipschitz critics f of E_P f - E_Q f. W_p^p uses the cost |x - y|^p; FID is W2^2 between Gaussians.
"""
from __future__ import annotations

import functools
import itertools
import random

import mpmath
import sympy as sp

from . import gaussian
from .engine import E, Proof, Source, cite, integral, x
from .lemmas import (abs_bound, below_abs, bounded_product, convex_combination, convex_combination_generic,
                     integration_by_parts, linearity, lipschitz, lipschitz_abs, lotus, replace_product,
                     singular_values, squared_norm)
from .numeric import multiprecision, quadrature

TITLE = "Optimal transport: Kantorovich-Rubinstein, W1 and W_p in 1-D, FID = W2^2, WGAN"

F = sp.Function("F", real=True)  # CDF of P
G = sp.Function("G", real=True)  # CDF of Q
f = sp.Function("f")  # a critic
LIPSCHITZ = "f is 1-Lipschitz: |f(a) - f(b)| <= |a - b|"
SLOPE = "|f'| <= 1: f is 1-Lipschitz"
TAILS = "f (F - G) -> 0 at +-oo (P and Q have finite first moments)"
COST = "the cost c is convex (|t|^p with p >= 1)"
KR = ("Kantorovich-Rubinstein duality is not proved here: its proof needs the existence of optimal couplings and "
      "c-concave potentials (Villani, Optimal Transport, Theorem 5.10), measure theory beyond this engine")


@functools.cache
def weak_duality() -> Proof:
    X, Y = sp.Function("X")(sp.Symbol("omega")), sp.Function("Y")(sp.Symbol("omega"))
    return (Proof("Weak duality: E_P f - E_Q f <= E|X - Y| for every coupling",
                  Source("002", "Wasserstein GAN (WGAN) and Optimal Transport", 551),
                  "for any coupling (X, Y) of P and Q and any 1-Lipschitz f: E_P f - E_Q f <= E|X - Y|; hence "
                  "sup_f (E_P f - E_Q f) <= W1(P, Q)", given=[LIPSCHITZ])
            .start(E(f(X)) - E(f(Y)))
            .eq(E(f(X) - f(Y)), "linearity (X ~ P and Y ~ Q are the coupling's marginals)",
                rewrites=[linearity([X, Y])])
            .le(E(sp.Abs(X - Y)), lipschitz(f, X, Y, 1, LIPSCHITZ), "for every draw"))


def w1_via_kr() -> Proof:
    p, q = sp.Derivative(F(x), x), sp.Derivative(G(x), x)  # densities p = F', q = G'
    slope = sp.Function("s", real=True)(x)  # f'(x)
    return (Proof("1-D W1 = integral of |F - G| (Kantorovich-Rubinstein)",
                  Source("002", "Wasserstein GAN (WGAN) and Optimal Transport", 546),
                  "for every 1-Lipschitz f: E_P f - E_Q f = integral of f'(x) (G - F) <= integral of |F - G|; the "
                  "critic with f' = sign(G - F) is 1-Lipschitz and attains it; by Kantorovich-Rubinstein duality "
                  "(assumed) W1 = sup_f (E_P f - E_Q f) = integral of |F - G|",
                  definitions={sp.Derivative(f(x), x): slope}, given=[SLOPE, TAILS])
            .start(integral(f(x) * (p - q)))
            .eq(integral(slope * (G(x) - F(x))), "integration by parts; f' = s", rewrites=[integration_by_parts(x)])
            .le(integral(sp.Abs(G(x) - F(x))), abs_bound(G(x) - F(x), slope, SLOPE), "pointwise")
            .start(integral(sp.sign(G(x) - F(x)) * (G(x) - F(x))))
            .eq(integral(sp.Abs(G(x) - F(x))), "the critic with slope sign(G - F) attains the bound")
            .assume("W1(P, Q) = sup over 1-Lipschitz f of E_P f - E_Q f", KR))


def _quad_w1(m1, s1, m2, s2) -> tuple:
    """(integral |F - G|, E_P f* - E_Q f*, quantile-coupling cost) for N(m1, s1^2), N(m2, s2^2) at 20 digits."""
    with mpmath.workdps(20):
        m1, s1, m2, s2 = (mpmath.mpf(v) for v in (m1, s1, m2, s2))
        cross = [(m1 * s2 - m2 * s1) / (s2 - s1)] if s1 != s2 else []
        pts = sorted([-mpmath.inf, -8, 0, 8, mpmath.inf, *cross])
        area = mpmath.quad(lambda t: abs(mpmath.ncdf(t, m1, s1) - mpmath.ncdf(t, m2, s2)), pts)
        # f*(x) = integral from 0 to x of sign(G - F): piecewise linear with kinks where F = G
        def fstar(t):
            knots = sorted([mpmath.mpf(0), t, *[c for c in cross if min(0, t) < c < max(0, t)]])
            out = mpmath.mpf(0)
            for a, b in zip(knots, knots[1:]):
                mid = (a + b) / 2
                out += mpmath.sign(mpmath.ncdf(mid, m2, s2) - mpmath.ncdf(mid, m1, s1)) * (b - a)
            return out if t >= 0 else -out
        critic = (mpmath.quad(lambda t: fstar(t) * mpmath.npdf(t, m1, s1), pts)
                  - mpmath.quad(lambda t: fstar(t) * mpmath.npdf(t, m2, s2), pts))
        e_cross = [(m2 - m1) / (s1 - s2)] if s1 != s2 else []
        coupling = mpmath.quad(lambda e: abs((m1 + s1 * e) - (m2 + s2 * e)) * mpmath.npdf(e),
                               sorted([-mpmath.inf, 0, mpmath.inf, *e_cross]))
    return area, critic, coupling


def w1_gaussians_numeric() -> Proof:
    proof = Proof("W1 between two 1-D Gaussians: critic, area and coupling agree",
                  Source("002", "Wasserstein GAN (WGAN) and Optimal Transport", 546),
                  "for N(0, 1) and N(1, 4) (unequal variances, the CDFs cross once): the critic f* with slope "
                  "sign(G - F), the area between the CDFs and the cost of the quantile coupling X = m1 + s1 e, "
                  "Y = m2 + s2 e agree to 15 digits (20-digit quadrature): dual value = primal cost = W1")
    area, critic, coupling = _quad_w1(0, 1, 1, 2)
    proof.computed("E_P f* - E_Q f*", lambda: critic, sp.Float(area, 20), "the critic attains the area",
                   method=quadrature(20))
    proof.computed("quantile-coupling cost", lambda: coupling, sp.Float(area, 20), "a coupling with the same cost",
                   method=quadrature(20))
    return proof


def wgan_gaussians() -> Proof:
    m1, m2 = sp.symbols("m1 m2", real=True)
    s = sp.Symbol("s", positive=True)
    d = sp.Symbol("delta", positive=True)  # m1 - m2 > 0 (the other case is symmetric)
    th, th0 = sp.symbols("theta theta_0", real=True)
    crit = x  # f(x) = x sign(m1 - m2) with m1 > m2
    gp = sp.Symbol("lambda", positive=True)
    return (Proof("WGAN on two Gaussians with equal variances: the optimal critic, the GP and the generator",
                  Source("004", "6.17 Issue Analysis, Case 3", 1694),
                  "P = N(m1, s^2), Q = N(m2, s^2), m1 - m2 = delta > 0: the coupling Y = X - delta costs delta and "
                  "the 1-Lipschitz critic f(x) = x attains E_P f - E_Q f = delta, so W1 = |m1 - m2| (weak "
                  "duality); the WGAN critic loss there is -W1, and its gradient penalty vanishes (|f'| = 1); "
                  "the generator's loss W1(theta) = |theta - theta_0| has slope 1 in theta for every s, while the "
                  "KL's slope (theta - theta_0)/s^2 grows without bound as s -> 0", var=x,
                  densities=[gaussian.gaussian(x, m1, s**2), gaussian.gaussian(x, m1 - d, s**2)])
            .start(integral(crit * gaussian.gaussian(x, m1, s**2)) - integral(crit * gaussian.gaussian(x, m1 - d, s**2)))
            .eq(d, "E_P x - E_Q x by Gaussian moments", rewrites=[gaussian.moments_rule(x)])
            .start(E(sp.Abs(sp.Symbol("X") - (sp.Symbol("X") - d))))
            .eq(d, "the coupling Y = X - delta: |X - Y| = delta for every draw",
                rewrites=[linearity([sp.Symbol("X")])])
            .start(-d + gp * (sp.Abs(sp.Derivative(crit, x)) - 1) ** 2)
            .eq(-d, "WGAN-GP critic loss at f: -W1 + lambda E(|f'| - 1)^2 with |f'| = 1")
            .start(sp.Subs(sp.Derivative(sp.Abs(th - th0), th), th, th0 + d))
            .eq(1, "the generator's gradient: d/dtheta |theta - theta_0| = 1 for theta > theta_0, whatever s")
            .start(sp.Subs(sp.Derivative((th - th0) ** 2 / (2 * s**2), th), th, th0 + d))
            .eq(d / s**2, "the KL's gradient (theta - theta_0)/s^2 at theta - theta_0 = delta")
            .limit(d / s**2, s, 0, sp.oo, "it is unbounded as s -> 0"))


CLIPPED = "the weights are clipped to [-c, c]: |v_j| <= c and |w_j| <= c"
SIGMA = "the activation sigma is 1-Lipschitz (ReLU, tanh, ...)"


def weight_clipping() -> Proof:
    """A 1-D critic with one hidden layer of two units, f(x) = v1 sigma(w1 x + b1) + v2 sigma(w2 x + b2): clipping
    its weights to [-c, c] makes it 2 c^2-Lipschitz, so the clipped WGAN critic estimates at most 2 c^2 W1."""
    a, b = sp.symbols("a b", real=True)
    c = sp.Symbol("c", positive=True)
    v1, v2, w1, w2, b1, b2 = sp.symbols("v1 v2 w1 w2 b1 b2", real=True)
    sigma = sp.Function("sigma", real=True)

    def f(t):
        return v1 * sigma(w1 * t + b1) + v2 * sigma(w2 * t + b2)
    d1 = sigma(w1 * a + b1) - sigma(w1 * b + b1)
    d2 = sigma(w2 * a + b2) - sigma(w2 * b + b2)
    return (Proof("WGAN weight clipping: a clipped critic is Lipschitz", Source("002", "Wasserstein GAN (WGAN) and "
                                                                               "Optimal Transport", 562),
                  "for f(x) = v1 sigma(w1 x + b1) + v2 sigma(w2 x + b2) with sigma 1-Lipschitz and every weight "
                  "clipped to [-c, c]: f(a) - f(b) <= (|v1| |w1| + |v2| |w2|) |a - b| <= 2 c^2 |a - b|, so the clipped "
                  "critics are 2 c^2-Lipschitz and E_P f - E_Q f <= 2 c^2 W1(P, Q) (weak duality for f/(2 c^2)): "
                  "clipping bounds the critic crudely, by a constant that depends on c and the width",
                  given=[CLIPPED, SIGMA])
            .start(f(a) - f(b))
            .eq(v1 * d1 + v2 * d2, "the biases cancel unit by unit")
            .le(sp.Abs(v1 * d1) + v2 * d2, below_abs(v1 * d1), "v1 d1 <= |v1 d1|")
            .le(sp.Abs(v1 * d1) + sp.Abs(v2 * d2), below_abs(v2 * d2), "v2 d2 <= |v2 d2|")
            .le(sp.Abs(v1) * sp.Abs(w1 * (a - b)) + sp.Abs(v2 * d2), lipschitz_abs(sigma, w1 * a + b1, w1 * b + b1, 1,
                                                                                 SIGMA),
                "|sigma(u) - sigma(u')| <= |u - u'|, times |v1|", weight=sp.Abs(v1))
            .le(sp.Abs(v1) * sp.Abs(w1 * (a - b)) + sp.Abs(v2) * sp.Abs(w2 * (a - b)),
                lipschitz_abs(sigma, w2 * a + b2, w2 * b + b2, 1, SIGMA), "the same for the second unit",
                weight=sp.Abs(v2))
            .le(c**2 * sp.Abs(a - b) + sp.Abs(v2) * sp.Abs(w2 * (a - b)), bounded_product(v1, w1, c, CLIPPED),
                "|v1| |w1| <= c^2", weight=sp.Abs(a - b))
            .le(2 * c**2 * sp.Abs(a - b), bounded_product(v2, w2, c, CLIPPED), "|v2| |w2| <= c^2",
                weight=sp.Abs(a - b)))


def gradient_penalty() -> Proof:
    """WGAN-GP: at the optimum of the dual, f(X) - f(Y) = |X - Y| almost surely under an optimal coupling (the
    equality case of the Lipschitz bound), and then f has slope 1 on the segment between X and Y, where the
    penalty (|f'| - 1)^2 vanishes."""
    X, Y = sp.Function("X")(sp.Symbol("omega")), sp.Function("Y")(sp.Symbol("omega"))
    xv, yv = sp.symbols("x y", real=True)
    r = sp.Symbol("r", nonnegative=True)
    t = 1 / (1 + r)  # 0 < t <= 1
    h = sp.Symbol("h", positive=True)  # x - y > 0
    xt = yv + t * h  # a point of the segment [y, x], x = y + h
    return (Proof("WGAN-GP: the optimal critic has slope 1 between coupled points",
                  Source("002", "Wasserstein GAN (WGAN) and Optimal Transport", 563),
                  "for a 1-Lipschitz f, E|X - Y| - (E f(X) - E f(Y)) = E(|X - Y| - (f(X) - f(Y))) >= 0, with equality "
                  "exactly when f(X) - f(Y) = |X - Y| almost surely; at the optimum of the dual under an optimal "
                  "coupling the two sides are equal (W1 = E|X - Y| = E f(X) - E f(Y), Kantorovich-Rubinstein). "
                  "Then for x = y + h (h > 0) with f(x) - f(y) = h and x_t = y + t h, 0 <= t <= 1: f(x_t) - f(y) "
                  ">= t h (the rest of the segment can add at most (1 - t) h) and <= t h (Lipschitz), so f rises with "
                  "slope 1 along the segment: |f'| = 1 there and the gradient penalty lambda E(|f'(x_t)| - 1)^2 "
                  "vanishes on the segments between coupled points, where WGAN-GP samples it",
                  given=[LIPSCHITZ], definitions={f(yv + h): f(yv) + h})
            .start(E(sp.Abs(X - Y)) - (E(f(X)) - E(f(Y))))
            .eq(E(sp.Abs(X - Y) - f(X) + f(Y)), "linearity", rewrites=[linearity([X, Y])])
            .ge(0, lipschitz(f, X, Y, 1, LIPSCHITZ), "for every draw")
            .iff(f(X) - f(Y), sp.Abs(X - Y), "equality in the Lipschitz bound for (almost) every draw")
            .assume("at the optimum of the dual and under an optimal coupling, E f(X) - E f(Y) = W1 = E|X - Y|", KR)
            .start(f(xt) - f(yv))
            .eq((f(yv + h) - f(yv)) - (f(yv + h) - f(xt)), "f(x) - f(y) = h on the coupled pair (x = y + h)")
            .ge(h - (yv + h - xt), lipschitz(f, yv + h, xt, 1, LIPSCHITZ), "f(x) - f(x_t) <= x - x_t")
            .eq(t * h, "the rise over [y, x_t] is at least t h")
            .start(f(xt) - f(yv))
            .le(sp.Abs(xt - yv), lipschitz(f, xt, yv, 1, LIPSCHITZ), "and at most |x_t - y|")
            .eq(t * h, "x_t - y = t h >= 0: so f(x_t) = f(y) + t h on the segment")
            .start(sp.Derivative(f(yv) + sp.Symbol("tau") * h, sp.Symbol("tau")) / h)
            .eq(1, "the slope of f along the segment (x_t = y + t h, t in (0, 1]): |f'| = 1, the penalty "
                   "(|f'| - 1)^2 is 0"))


def unconstrained_critic() -> Proof:
    c = sp.Symbol("c", positive=True)
    d = sp.Symbol("delta", positive=True)
    th = sp.Symbol("theta", real=True)
    return (Proof("WGAN without the Lipschitz constraint has no optimal critic", Source("004", "6.17 Issue Analysis, Case 2", 1690),
                  "for point masses at theta (generated) and theta_0 = theta + delta (real) the critic loss "
                  "L_D = D(theta) - D(theta_0) of D(x) = c x is -c delta, unbounded below as c -> oo")
            .start(c * th - c * (th + d))
            .eq(-c * d, "L_D for D(x) = c x")
            .limit(-c * d, c, sp.oo, -sp.oo, "L_D -> -oo: there is no minimiser"))


def exchange() -> Proof:
    """x1 <= x2 and y1 <= y2 (x2 = x1 + alpha, y2 = y1 + beta): matching in order costs no more than crossing."""
    x1, y1 = sp.symbols("x1 y1", real=True)
    al, be = sp.symbols("alpha beta", positive=True)
    u, v = x1 - y1, x1 + al - y1 - be  # in order
    a, b = x1 - y1 - be, x1 + al - y1  # crossed: a <= u, v <= b and u + v = a + b
    lam = al / (al + be)
    c = sp.Function("c")
    t = sp.Symbol("t", real=True)
    generic = convex_combination_generic(c, a, b, lam, COST)
    generic2 = convex_combination_generic(c, b, a, lam, COST)
    sq = t**2
    return (Proof("Monotone matching is optimal for a convex cost (the exchange argument)",
                  Source("002", "Transport-Plan Interpretation", 576),
                  "for x1 <= x2, y1 <= y2 and a convex cost c: c(x1 - y1) + c(x2 - y2) <= c(x1 - y2) + c(x2 - y1): "
                  "u = x1 - y1 and v = x2 - y2 are convex combinations of a = x1 - y2 and b = x2 - y1 with the same "
                  "weights swapped; uncrossing any pair never raises the cost, so the monotone (quantile) coupling "
                  "is optimal for W_p, p >= 1; shown for a generic convex c and checked for c(t) = t^2", given=[COST])
            .start(c(u) + c(v))
            .le(lam * c(a) + (1 - lam) * c(b) + c(v), generic, "u = lam a + (1 - lam) b, lam = alpha/(alpha + beta)")
            .le(c(a) + c(b), generic2, "v = (1 - lam) a + lam b")
            .start(u**2 + v**2)
            .le(lam * a**2 + (1 - lam) * b**2 + v**2, convex_combination(sq, t, a, b, lam), "c(t) = t^2")
            .le(a**2 + b**2, convex_combination(sq, t, b, a, lam), "c(t) = t^2"))


def quantile_bruteforce() -> Proof:
    rng = random.Random(3)
    xs = [sp.Rational(rng.randint(-40, 40), 7) for _ in range(5)]
    ys = [sp.Rational(rng.randint(-40, 40), 5) for _ in range(5)]
    proof = Proof("W_p between empirical measures: the sorted matching is optimal (all permutations)",
                  Source("002", "Transport-Plan Interpretation", 576),
                  f"five points each, x = {[str(v) for v in xs]}, y = {[str(v) for v in ys]} (exact rationals): the "
                  "least cost over all 120 matchings equals the cost of matching in sorted order, for p = 1, 2, 3")
    for pw in (1, 2, 3):
        def best(pw=pw):
            return min(sum(abs(a - b) ** pw for a, b in zip(xs, perm)) for perm in itertools.permutations(ys))
        sorted_cost = sum(abs(a - b) ** pw for a, b in zip(sorted(xs), sorted(ys)))
        proof.computed(f"min cost, p = {pw}", best, sorted_cost, "brute force over all matchings",
                       method="exact computation (120 permutations)")
    return proof


def w2_gaussians_1d() -> Proof:
    m1, m2 = sp.symbols("m1 m2", real=True)
    s1, s2 = sp.symbols("s1 s2", positive=True)
    eps, e = sp.Symbol("eps", real=True), sp.Symbol("e", real=True)
    fid_1d = (m1 - m2) ** 2 + s1**2 + s2**2 - 2 * sp.sqrt(s1 * s2**2 * s1)
    return (Proof("W2^2 between 1-D Gaussians equals the FID expression", Source("002", "Fréchet Inception Distance", 878),
                  "the quantile coupling X = m1 + s1 eps, Y = m2 + s2 eps is monotone, hence optimal (exchange "
                  "argument above): W2^2 = E (X - Y)^2 = (m1 - m2)^2 + (s1 - s2)^2 = FID(N(m1, s1^2), N(m2, s2^2))",
                  var=e, densities=[gaussian.gaussian(e, 0, 1)])
            .start(E((m1 + s1 * eps - m2 - s2 * eps) ** 2))
            .eq((m1 - m2) ** 2 + (s1 - s2) ** 2, "expand; linearity; eps ~ N(0, 1): E eps = 0, E eps^2 = 1",
                rewrites=[linearity([eps]), lotus(eps, e, gaussian.gaussian(e, 0, 1), e), gaussian.moments_rule(e)])
            .eq(fid_1d, "(Sigma1^(1/2) Sigma2 Sigma1^(1/2))^(1/2) = s1 s2 in 1-D"))


def _fid_objects():
    n = sp.Symbol("d", positive=True, integer=True)
    R, M, S2, B = (sp.MatrixSymbol(name, n, n) for name in ("R", "M", "S2", "B"))
    X, Y = sp.MatrixSymbol("x", n, 1), sp.MatrixSymbol("y", n, 1)
    return n, R, M, S2, B, X, Y


def _fid_names(R, M, S2, B) -> dict:
    return {M**2: R * S2 * R, R * S2 * R: M**2, B * B.T: R.I * M * R.I}


FID_NAMES_TEXT = ("R = S1^(1/2), M = (R S2 R)^(1/2) (so R S2 R = M^2), and B with B B' = A = R^-1 M R^-1 "
                  "(A is symmetric positive definite)")


@functools.cache
def fid_map() -> Proof:
    """The map y = A x with A = R^-1 M R^-1 (R = S1^(1/2), M = (R S2 R)^(1/2)), A = B B': A S1 A = S2 and
    tr(A S1) = tr(A^-1 S2) = tr M."""
    n, R, M, S2, B, X, Y = _fid_objects()
    S1 = R * R
    A = R.I * M * R.I
    ok, detail = _fid_numeric()
    return (Proof("FID: the map y = A x and its traces", Source("002", "Fréchet Inception Distance", 876),
                  "with R = S1^(1/2), M = (R S2 R)^(1/2) and A = R^-1 M R^-1 = B B': y = A x has covariance "
                  "A S1 A = S2 (a coupling of the two centred Gaussians), and tr(A S1) = tr(A^-1 S2) = tr M "
                  "(matrix symbols, any dimension d)", names=_fid_names(R, M, S2, B),
                  given=[FID_NAMES_TEXT])
            .start(A * S1 * A)
            .eq(S2, "y = A x has covariance A S1 A' = S2 (A symmetric): the map is a coupling",
                rewrites=[replace_product((M**2,), R * S2 * R)])
            .start(sp.Trace(B * B.T * S1))
            .eq(sp.Trace(M), "E x'Ax = tr(A S1) = tr(R^-1 M R^-1 R R) = tr M (the trace is cyclic)",
                rewrites=[replace_product((B, B.T), A)])
            .start(sp.Trace((B * B.T).I * S2))
            .eq(sp.Trace(M.I * R * S2 * R), "(R^-1 M R^-1)^-1 = R M^-1 R; the trace is cyclic",
                rewrites=[replace_product((B, B.T), A)])
            .eq(sp.Trace(M), "M^-1 M^2 = M", rewrites=[replace_product((R, S2, R), M**2)])
            .computed("largest residual of A S1 A = S2 and of the cost", lambda: detail, 0,
                      "random 3x3 covariances at 40 digits", method=multiprecision(40, "matrix square roots")))


def fid_general() -> Proof:
    """Dual certificate: for symmetric positive definite A = B B', x'y <= x'Ax/2 + y'A^-1 y/2 (a squared norm),
    so E x'y <= (tr(A S1) + tr(A^-1 S2))/2 for every coupling; A = R^-1 M R^-1 with R = S1^(1/2) and
    M = (R S2 R)^(1/2) makes the bound tr M (cited), and the map y = A x attains it."""
    n, R, M, S2, B, X, Y = _fid_objects()
    S1 = R * R
    dvec = B.T * X - B.I * Y
    fy_lhs = sp.Trace(X.T * Y)
    fy_rhs = sp.Trace(X.T * B * B.T * X) / 2 + sp.Trace(Y.T * (B * B.T).I * Y) / 2
    Dm, t1, t2 = sp.symbols("|m1-m2|^2 trS1 trS2", real=True)
    covariances = {E(sp.Trace(X.T * B * B.T * X)): sp.Trace(B * B.T * S1),
                   E(sp.Trace(Y.T * (B * B.T).I * Y)): sp.Trace((B * B.T).I * S2)}
    return (Proof("FID = W2^2 between Gaussians (general covariances)", Source("002", "Fréchet Inception Distance", 876),
                  "W2^2(N(m1, S1), N(m2, S2)) = |m1 - m2|^2 + tr S1 + tr S2 - 2 E x'y for centred x, y of any "
                  "coupling; x'y <= x'Ax/2 + y'A^-1 y/2 for A = B B' positive definite (a squared norm); with A = "
                  "S1^(-1/2) M S1^(-1/2), M = (S1^(1/2) S2 S1^(1/2))^(1/2): E x'Ax = tr(A S1) = tr M and "
                  "E y'A^-1 y = tr(A^-1 S2) = tr M (cited), and the map y = A x is a coupling that attains the "
                  "bound, so W2^2 = |m1 - m2|^2 + tr(S1 + S2 - 2 M): the FID expression (matrix symbols, any "
                  "dimension d)", definitions=covariances, names=_fid_names(R, M, S2, B),
                  given=[FID_NAMES_TEXT, "x and y are centred with covariances S1 = R R and S2: E x'Ax = tr(A S1)"])
            .assume("A = S1^(-1/2) M S1^(-1/2) is symmetric positive definite, so A = B B' for an invertible B",
                    "congruence preserves positive definiteness, and a positive definite matrix has a Cholesky "
                    "factor (standard linear algebra, not proved here)")
            .start(fy_lhs)
            .le(fy_rhs, squared_norm(dvec), "Fenchel-Young for the quadratic x'Ax/2 (its conjugate is y'A^-1 y/2)",
                weight=sp.Rational(1, 2))
            .start(Dm + t1 + t2 - 2 * E(fy_lhs))
            .ge(Dm + t1 + t2 - 2 * E(fy_rhs), squared_norm(dvec), "E|X - Y|^2 for any coupling, bounded by "
                "Fenchel-Young for every draw")
            .eq(Dm + t1 + t2 - E(sp.Trace(X.T * B * B.T * X)) - E(sp.Trace(Y.T * (B * B.T).I * Y)), "linearity",
                rewrites=[linearity([X, Y])])
            .eq(Dm + t1 + t2 - sp.Trace(B * B.T * S1) - sp.Trace((B * B.T).I * S2), "the covariances of x and y")
            .eq(Dm + t1 + t2 - 2 * sp.Trace(M), "the traces of the map (cited)", rewrites=[cite(fid_map)]))


def fid_properties() -> Proof:
    """FID(P, Q) = |m1 - m2|^2 + tr(S1 + S2 - 2 (S1^(1/2) S2 S1^(1/2))^(1/2)) is symmetric, >= 0, and 0 exactly
    when the means and the covariances agree."""
    n = sp.Symbol("d", positive=True, integer=True)
    R, M, R1, R2 = (sp.MatrixSymbol(name, n, n) for name in ("R", "M", "R1", "R2"))
    m1, m2 = sp.MatrixSymbol("m1", n, 1), sp.MatrixSymbol("m2", n, 1)
    tr_sqrt = sp.Function("tr_sqrt")  # tr_sqrt(K) = tr K^(1/2)
    S2 = R.I * M**2 * R.I  # M = (R S2 R)^(1/2): R S2 R = M^2
    v = R - M * R.I
    dm = sp.Trace((m1 - m2).T * (m1 - m2))

    def fid(a, b, ra, rb):  # with S = R R' for each covariance (any factor)
        return (sp.Trace((a - b).T * (a - b)) + sp.Trace(ra * ra.T) + sp.Trace(rb * rb.T)
                - 2 * tr_sqrt(ra.T * rb * rb.T * ra))
    ok, sym, low, same = _fid_properties_numeric()
    multi = multiprecision(40, "matrix square roots")
    return (Proof("FID: symmetric, >= 0, and 0 exactly when the moments agree",
                  Source("002", "Fréchet Inception Distance", 884),
                  "symmetric: with S1 = R1 R1' and S2 = R2 R2', S1^(1/2) S2 S1^(1/2) is similar to C C' and "
                  "S2^(1/2) S1 S2^(1/2) to C' C for C = R1' R2, whose square roots have the same trace (the singular "
                  "values of C); >= 0: with R = S1^(1/2) and M = (R S2 R)^(1/2) (both symmetric), tr(S1 + S2 - 2 M) "
                  "= |R - M R^-1|^2 (Frobenius), so FID >= |m1 - m2|^2 >= 0; 0 exactly when m1 = m2 and "
                  "R = M R^-1, i.e. M = R^2 and then S2 = R^-1 M^2 R^-1 = R^2 = S1. Checked on random 3 x 3 "
                  "covariances at 40 digits as well",
                  definitions={R.T: R, M.T: M},
                  given=["R = S1^(1/2) and M = (R S2 R)^(1/2) are symmetric (principal square roots), so "
                         "S2 = R^-1 M^2 R^-1"])
            .start(fid(m1, m2, R1, R2))
            .eq(fid(m2, m1, R2, R1), "symmetric: tr (C C')^(1/2) = tr (C' C)^(1/2) for C = R1' R2",
                rewrites=[singular_values(tr_sqrt)])
            .start(dm + sp.Trace(R * R) + sp.Trace(S2) - 2 * sp.Trace(M))
            .ge(dm, squared_norm(v), "tr(R R) + tr(R^-1 M^2 R^-1) - 2 tr M = |R - M R^-1|^2")
            .iff(v, sp.ZeroMatrix(n, n), "the squared norm vanishes only at R = M R^-1")
            .start(dm)
            .ge(0, squared_norm(m1 - m2), "|m1 - m2|^2 >= 0")
            .iff(m1 - m2, sp.ZeroMatrix(n, 1), "0 exactly when m1 = m2")
            .start(R.I * (R * R) ** 2 * R.I)
            .eq(R * R, "where R = M R^-1, M = R^2 and S2 = R^-1 M^2 R^-1 = R^2 = S1: the covariances agree")
            .start(sp.Trace(R * R) + sp.Trace(R * R) - 2 * sp.Trace(R * R))
            .eq(0, "conversely, at m2 = m1 and S2 = S1: M = (R S1 R)^(1/2) = R^2 = S1, so FID = 0 + tr(S1 + S1 - 2 S1)")
            .computed("max |FID(P, Q) - FID(Q, P)|", lambda: sym, 0, "symmetric", method=multi)
            .computed("min over the trials of FID(P, Q) - |m1 - m2|^2", lambda: low, 0, ">= 0", method=multi,
                      relation=">=")
            .computed("max |FID(P, P)|", lambda: same, 0, "0 at equal moments", method=multi))


def _fid_properties_numeric(trials: int = 4, dim: int = 3):
    """(ok, max |FID(P, Q) - FID(Q, P)|, min of the trace term, max |FID(P, P)|) for random SPD covariances."""
    rng = random.Random(11)
    sym, low, same = mpmath.mpf(0), mpmath.inf, mpmath.mpf(0)
    with mpmath.workdps(40):
        def spd():
            g = mpmath.matrix([[rng.gauss(0, 1) for _ in range(dim)] for _ in range(dim)])
            return g * g.T + mpmath.eye(dim) * mpmath.mpf("0.1")

        def term(a, b):
            ra = mpmath.sqrtm(a)
            return sum((a + b - 2 * mpmath.sqrtm(ra * b * ra))[i, i] for i in range(dim))
        for _ in range(trials):
            a, b = spd(), spd()
            sym = max(sym, abs(term(a, b) - term(b, a)))
            low = min(low, term(a, b))
            same = max(same, abs(term(a, a)))
    return True, sym, low, same


def _fid_numeric(trials: int = 4, dim: int = 3):
    """A = S1^(-1/2) (S1^(1/2) S2 S1^(1/2))^(1/2) S1^(-1/2) has A S1 A = S2, and the map's cost
    tr(S1 - S1 A - A S1 + A S1 A) equals the FID trace term: the largest residual at 40 digits."""
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
    return worst < mpmath.mpf(10) ** -30, worst


def proofs() -> list[Proof]:
    return [weak_duality(), w1_via_kr(), w1_gaussians_numeric(), wgan_gaussians(), unconstrained_critic(),
            exchange(), quantile_bruteforce(), w2_gaussians_1d(), fid_map(), fid_general(), fid_properties(),
            weight_clipping(), gradient_penalty()]
