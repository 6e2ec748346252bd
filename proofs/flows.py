"""Normalizing flows (notes 004 §5.1 "Change of Variables formula", §5.3 "Normalizing Flows", "A Flow of
Transformations", "Learning and Inference")."""
from __future__ import annotations

import sympy as sp

from . import gaussian
from .engine import Proof, Source, integral
from .lemmas import abbreviate, cdf_derivative, evaluate

TITLE = "Normalizing flows: change of variables, coupling layers, log-likelihood"

z, x_ = sp.symbols("z x", real=True)
Fz = sp.Function("F_Z")  # the CDF of Z
pz = sp.Function("p_Z")
h = sp.Function("h")  # h = f^-1
xi = sp.Symbol("xi")


def change_of_variables_1d() -> Proof:
    k = sp.Symbol("k", positive=True)  # |h'(x)| at the point
    hi, hd = sp.Function("h_inc"), sp.Function("h_dec")  # the inverse of an increasing and of a decreasing f
    rule = cdf_derivative(Fz, pz)
    return (Proof("Change of variables in 1-D, increasing and decreasing maps",
                  Source("004", "5.1 Change of Variables formula, 1-D", 1301),
                  "X = f(Z) with f strictly monotone and inverse h: if f increases, P(X <= x) = F_Z(h(x)); if it "
                  "decreases, P(X <= x) = 1 - F_Z(h(x)). Differentiating: p_X(x) = p_Z(h(x)) |h'(x)| in both cases",
                  definitions={sp.Derivative(hi(x_), x_): k, sp.Derivative(hd(x_), x_): -k},
                  given=["h_inc = f^-1 for an increasing f (h_inc' = k > 0 at x), h_dec = f^-1 for a decreasing f "
                         "(h_dec' = -k < 0 at x)"])
            .start(sp.diff(Fz(hi(x_)), x_))
            .eq(pz(hi(x_)) * sp.diff(hi(x_), x_), "chain rule; F_Z' = p_Z", rewrites=[rule])
            .eq(pz(hi(x_)) * sp.Abs(sp.diff(hi(x_), x_)), "increasing: h' = |h'|")
            .start(sp.diff(1 - Fz(hd(x_)), x_))
            .eq(-pz(hd(x_)) * sp.diff(hd(x_), x_), "chain rule; F_Z' = p_Z", rewrites=[rule])
            .eq(pz(hd(x_)) * sp.Abs(sp.diff(hd(x_), x_)), "decreasing: -h' = |h'|"))


def change_of_variables_nd() -> Proof:
    n = sp.Symbol("n", positive=True, integer=True)
    J = sp.MatrixSymbol("J_f", n, n)  # the Jacobian of f at z
    return (Proof("Change of variables in n dimensions, for a general diffeomorphism",
                  Source("004", "5.1 Change of Variables formula, general transformation", 1313),
                  "for a C^1 diffeomorphism f: R^n -> R^n and X = f(Z): P(X in B) = P(Z in f^-1(B)) = integral over "
                  "f^-1(B) of p_Z = integral over B of p_Z(f^-1(x)) |det J_(f^-1)(x)| dx, so p_X(x) = "
                  "p_Z(f^-1(x)) |det J_(f^-1)(x)|; by the chain rule J_(f^-1)(f(z)) J_f(z) = I, so "
                  "det J_(f^-1)(x) = 1/det J_f(z) at z = f^-1(x): both forms of the note agree")
            .assume("for a C^1 diffeomorphism the integral of g(x) dx over B equals the integral of "
                    "g(f(z)) |det J_f(z)| dz over f^-1(B)",
                    "the substitution theorem for multiple integrals, not proved here: its proof needs the "
                    "local approximation of f by its Jacobian on small cubes and the measure of their images "
                    "(Rudin, Real and Complex Analysis, Theorem 7.26), beyond a symbolic engine")
            .start(sp.MatMul(J.I, J, evaluate=False))
            .eq(sp.Identity(n), "the chain rule for f^-1 o f = id: J_(f^-1)(f(z)) = J_f(z)^-1")
            .start(sp.Determinant(J.I))
            .eq(1 / sp.Determinant(J), "det of the inverse (det is multiplicative)"))


def coupling_layer() -> Proof:
    """An affine coupling layer (RealNVP): x1 = z1, x2 = z2 e^s(z1) + t(z1), with arbitrary functions s, t."""
    z1, z2, x1, x2 = sp.symbols("z1 z2 x1 x2", real=True)
    s, t = sp.Function("s", real=True), sp.Function("t", real=True)
    fwd = sp.Matrix([z1, z2 * sp.exp(s(z1)) + t(z1)])
    inv = sp.Matrix([x1, (x2 - t(x1)) * sp.exp(-s(x1))])
    Jf = fwd.jacobian([z1, z2])
    Jinv = inv.jacobian([x1, x2])
    at_fz = {x1: z1, x2: z2 * sp.exp(s(z1)) + t(z1)}
    density = (gaussian.gaussian(x1, 0, 1) * gaussian.gaussian(inv[1], 0, 1) * sp.exp(-s(x1)))
    return (Proof("An affine coupling layer: triangular Jacobian, exact inverse, normalised density",
                  Source("004", "5.3 Normalizing Flows", 1344),
                  "x1 = z1, x2 = z2 e^(s(z1)) + t(z1) for any functions s, t: the inverse is explicit, the Jacobian "
                  "is triangular with det e^(s(z1)), J_(f^-1)(f(z)) J_f(z) = I, and with Z ~ N(0, I) the change of "
                  "variables gives p_X(x) = N(x1; 0, 1) N(x2; t(x1), e^(2 s(x1))), which integrates to 1",
                  var=x2)
            .start(sp.ImmutableMatrix([sp.Subs(e, (x1, x2), (fwd[0], fwd[1])) for e in inv]))
            .eq(sp.Matrix([z1, z2]), "f^-1(f(z)) = z")
            .start(sp.Determinant(sp.ImmutableMatrix(Jf)))
            .eq(sp.exp(s(z1)), "det J_f: the Jacobian is lower triangular",
                rewrites=[evaluate("evaluate the determinant")])
            .start(Jinv.subs(at_fz) * Jf)
            .eq(sp.eye(2), "J_(f^-1)(f(z)) J_f(z) = I")
            .start(integral(density, x2))
            .eq(gaussian.gaussian(x1, 0, 1), "integrating out x2: a Gaussian in x2 with mean t(x1) and variance "
                                              "e^(2 s(x1)) (moment 0)", rewrites=[gaussian.moments_rule(x2)]))


def linear_flow() -> Proof:
    n = sp.Symbol("n", positive=True, integer=True)
    A = sp.MatrixSymbol("A", n, n)
    X = sp.MatrixSymbol("x", n, 1)
    dA = sp.Symbol("det_A", real=True, nonzero=True)
    names = {sp.Determinant(A): dA, sp.Determinant(A.T): dA}  # det A' = det A, real and non-zero (invertible)
    return (Proof("Linear flow: p_X(x) = p_Z(A^-1 x) |det A^-1| is the N(0, A A') density",
                  Source("004", "5.1 Change of Variables, linear", 1307),
                  "X = A Z with Z ~ N(0, I_n) and A invertible: the quadratic form (A^-1 x)'(A^-1 x) = x'(A A')^-1 x "
                  "and |det A^-1| = 1/sqrt(det(A A')) (matrix symbols, any n)", names=names)
            .start(sp.Trace((A.I * X).T * (A.I * X)))
            .eq(sp.Trace(sp.MatMul(X.T, sp.Inverse(A * A.T), X, evaluate=False)), "(A^-1)' A^-1 = (A A')^-1")
            .start(1 / sp.sqrt(sp.Determinant(A * A.T)))
            .eq(sp.Abs(sp.Determinant(A.I)), "det(A A') = det(A)^2 and det(A^-1) = 1/det(A)",
                rewrites=[evaluate("det of a product and of an inverse"), abbreviate(tuple(names.items()))]))


def composed_flows() -> Proof:
    n = sp.Symbol("n", positive=True, integer=True)
    K1, K2, K3 = (sp.MatrixSymbol(f"K{i}", n, n) for i in (1, 2, 3))  # Jacobians of the inverse layers
    dets = {sp.Determinant(K): sp.Symbol(f"det_K{i}", real=True, nonzero=True) for i, K in enumerate((K1, K2, K3), 1)}
    named = abbreviate(tuple(dets.items()))  # the layers' determinants, real and non-zero
    return (Proof("Composition of flows: log-dets add", Source("004", "5.3 A Flow of Transformations", 1362),
                  "the inverse of f^3 o f^2 o f^1 has Jacobian K1 K2 K3 (chain rule, K_m the Jacobian of (f^m)^-1 "
                  "at z_m); det is multiplicative, so log|det| of the composition is the sum of the layers' "
                  "log|det| (matrix symbols, any n)", names=dets)
            .start(sp.Determinant(K1 * K2 * K3))
            .eq(sp.Determinant(K1) * sp.Determinant(K2) * sp.Determinant(K3), "det of a product")
            .start(sp.log(sp.Abs(sp.Determinant(K1) * sp.Determinant(K2) * sp.Determinant(K3))))
            .eq(sum(sp.log(sp.Abs(sp.Determinant(K))) for K in (K1, K2, K3)), "log of a product of absolute values",
                rewrites=[named]))


def affine_flow_likelihood() -> Proof:
    """Two affine layers in 1-D on Z ~ N(0, 1): x = a2 (a1 z + b1) + b2."""
    a1, a2 = sp.symbols("a1 a2", positive=True)
    b1, b2 = sp.symbols("b1 b2", real=True)
    z1 = (x_ - b2) / a2  # inverse of the second layer
    z0 = (z1 - b1) / a1  # inverse of the first layer
    loglik = sp.log(gaussian.gaussian(z0, 0, 1)) + sp.log(1 / a2) + sp.log(1 / a1)
    return (Proof("Flow log-likelihood on an exact model: two affine layers", Source("004", "5.3 Learning and Inference", 1372),
                  "Z ~ N(0, 1), x = a2 (a1 z + b1) + b2 (a1, a2 > 0): log p_Z(f^-1(x)) + sum of the layers' "
                  "log|det J_((f^m)^-1)| equals log N(x; a2 b1 + b2, (a1 a2)^2), the exact law of X")
            .start(loglik)
            .eq(sp.log(gaussian.gaussian(x_, a2 * b1 + b2, (a1 * a2) ** 2)), "the exact density of X"))


def proofs() -> list[Proof]:
    return [change_of_variables_1d(), change_of_variables_nd(), coupling_layer(), linear_flow(), composed_flows(),
            affine_flow_likelihood()]
