"""The explicit claims the course notes make, each with its file, section and line, checked by the claims checker.

`expected` is what the mathematics dictates; every refuted claim carries its correction. Kinds:
conjugate / domain / activation (a catalogue entry and a claim), generator (the claimed f generates the named
divergence: f - g = c (u - 1)), identity (lhs = rhs for the free symbols under the assumptions; a pointwise
integrand identity stands for its integral), custom (a short computation, described in `text`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import mpmath
import sympy as sp

from fdiv.activation import V
from fdiv.conjugate import T

from . import claims
from .claims import REFUTED, VERIFIED, Verdict
from .derivations import derivation


@dataclass
class NoteClaim:
    file: str
    section: str
    line: int
    says: str  # what the note states
    kind: str
    args: dict
    expected: str
    correction: str = ""
    check: Callable[[], Verdict] | None = field(default=None, repr=False)

    def run(self) -> Verdict:
        a = self.args
        if self.kind == "custom":
            return self.check()
        if self.kind == "identity":
            return claims.check_identity(a["lhs"], a["rhs"], a.get("assume"))
        d = derivation(a["name"])
        if self.kind == "domain":
            return claims.check_domain(d, a["claim"])
        if self.kind == "conjugate":
            return claims.check_conjugate(d, claims.parse_claim(a["claim"], T, d))
        if self.kind == "activation":
            return claims.check_activation(d, claims.parse_claim(a["claim"], V, d))
        if self.kind == "generator":
            return claims.check_generator(d, claims.parse_claim(a["claim"], sp.Symbol("u"), d))
        raise ValueError(self.kind)


def _biconjugate_sign() -> Verdict:
    """000 writes f(u) = sup_t {-t u - f*(t)}. For KL (f* = e^(t-1)) at u = 1 the bracket is -t - e^(t-1),
    which grows without bound as t -> -oo, so the supremum is +oo, not f(1) = 0."""
    t = sp.Symbol("t", real=True)
    bracket = -t * 1 - sp.exp(t - 1)
    value = bracket.subs(t, -100)
    return Verdict(REFUTED, "sup_t (-t u - f*(t)) is +oo for KL at u = 1 (the bracket tends to +oo as t -> -oo)",
                   "symbolic limit", {"u": "1", "t": "-100", "claimed sup >=": str(sp.N(value, 20)),
                                      "true f(1)": "0", "limit t -> -oo": str(sp.limit(bracket, t, -sp.oo))})


def _zero_iff_equal() -> Verdict:
    """003: D_f(p||q) = 0 <=> p = q for every convex f with f(1) = 0. f(u) = u - 1 is convex (linear) with
    f(1) = 0, and D_f = integral of (p - q) = 0 for every pair."""
    with mpmath.workdps(30):
        value = mpmath.quad(lambda x: mpmath.npdf(x, 0, 1) - mpmath.npdf(x, 1, 1), [-mpmath.inf, 0.5, mpmath.inf])
    return Verdict(REFUTED, "f(u) = u - 1 is convex with f(1) = 0, yet D_f(N(0,1)||N(1,1)) = 0 although the two "
                   "differ", "numeric (30-digit quadrature)",
                   {"f(u)": "u - 1", "P": "N(0, 1)", "Q": "N(1, 1)", "D_f": mpmath.nstr(value, 5)})


def _elbo_gap_is_posterior_kl() -> Verdict:
    """004 §4.3: 'the closer q(z|x) is to p(z|x), the smaller KL(q(z|x) || p(z))'. The gap log p(x) - ELBO is
    KL(q || p(z|x)); KL(q || p(z)) is another quantity. Model z ~ N(0, 1), x|z ~ N(z, 1): p(z|x) = N(x/2, 1/2).
    With q = p(z|x) at x = 1 the gap is 0, but KL(q || p(z)) = (log 2 - 1/4)/2 > 0."""
    mu, var = sp.Rational(1, 2), sp.Rational(1, 2)
    kl_prior = (mu**2 + var - 1 - sp.log(var)) / 2
    return Verdict(REFUTED, "at q = p(z|x) the ELBO gap is 0 while KL(q || p(z)) is not", "symbolic",
                   {"model": "z ~ N(0,1), x|z ~ N(z,1), x = 1", "q": "N(1/2, 1/2) = p(z|x)",
                    "log p(x) - ELBO": "0", "KL(q || p(z))": f"{sp.simplify(kl_prior)} = {sp.N(kl_prior, 6)}"})


def _gan_table_integral() -> Verdict:
    """004 §6.18, GAN row: integral of p log((p+q)/(p+q)) dx - log 4 is -log 4 for every pair, but
    D_f with f = u log u - (u+1) log(u+1) is 2 JSD - log 4, which is > -log 4 when P != Q."""
    with mpmath.workdps(30):
        p = lambda x: mpmath.npdf(x, 0, 1)  # noqa: E731
        q = lambda x: mpmath.npdf(x, 1, 1)  # noqa: E731
        true = mpmath.quad(lambda x: p(x) * mpmath.log(p(x) / (p(x) + q(x)))
                           + q(x) * mpmath.log(q(x) / (p(x) + q(x))), [-mpmath.inf, 0.5, mpmath.inf])
    return Verdict(REFUTED, "the table's integral is the constant -log 4; the GAN f gives 2 JSD - log 4",
                   "numeric (30-digit quadrature)",
                   {"P": "N(0, 1)", "Q": "N(1, 1)", "claimed": mpmath.nstr(-mpmath.log(4), 12),
                    "true": mpmath.nstr(true, 12)})


_PQ = "p>0,q>0"
NOTES: list[NoteClaim] = [
    # ------------------------------------------------------------------------------------------------ 000
    NoteClaim("000", "Examples of f-divergence b)", 154, "f(u) = 1/2 (u log u - (u+1) log((u+1)/2)) is JS",
              "generator", {"name": "jsd", "claim": "(u*log(u) - (u+1)*log((u+1)/2))/2"}, VERIFIED),
    NoteClaim("000", "Examples of f-divergence c)", 158, "f(u) = 1/2 |u - 1| is total variation",
              "generator", {"name": "total-variation", "claim": "Abs(u-1)/2"}, VERIFIED),
    NoteClaim("000", "Properties of Conjugate ii)", 217, "f(u) = sup_t {-t u - f*(t)}", "custom", {}, REFUTED,
              "f(u) = sup_t {t u - f*(t)} (biconjugation; the sign of t u is +)", _biconjugate_sign),
    NoteClaim("000", "Generative Adversarial Networks", 321, "GAN: f*(t) = -log(1 - e^t)", "conjugate",
              {"name": "gan", "claim": "-log(1-exp(t))"}, VERIFIED),
    NoteClaim("000", "Generative Adversarial Networks", 321, "GAN: dom f* = R-bar (all reals)", "domain",
              {"name": "gan", "claim": "(-oo, oo)"}, REFUTED, "dom f* = (-oo, 0)"),
    NoteClaim("000", "Generative Adversarial Networks", 323, "GAN: sigma_f(v) = -log(1 + e^-v)", "activation",
              {"name": "gan", "claim": "-log(1+exp(-v))"}, VERIFIED),
    NoteClaim("000", "Generative Adversarial Networks", 340, "f*(sigma_f(V)) = -log(1 - D) with D = sigmoid(V)",
              "identity", {"lhs": "-log(1-exp(-log(1+exp(-v))))", "rhs": "-log(1 - 1/(1+exp(-v)))"}, VERIFIED),
    NoteClaim("000", "TO TRAIN THE DISCRIMINATOR", 401, "at p = q the optimal discriminator is D(x) = sqrt(2)",
              "identity", {"lhs": "p/(p+p)", "rhs": "sqrt(2)", "assume": "p>0"}, REFUTED, "D*(x) = 1/2"),
    NoteClaim("000", "Vanilla GAN", 456, "the loss's second term is E_{P_theta}[-log D(x^)]", "identity",
              {"lhs": "-log(D)", "rhs": "log(1-D)", "assume": "D>0,D<1"}, REFUTED,
              "E_{P_theta}[log(1 - D(x^))], as in the next line of the note"),
    # ------------------------------------------------------------------------------------------------ 001
    NoteClaim("001", "Conjugate Function and Activation", 140, "GAN: f*(t) = -log(1 - exp(t))", "conjugate",
              {"name": "gan", "claim": "-log(1-exp(t))"}, VERIFIED),
    NoteClaim("001", "Conjugate Function and Activation", 140, "GAN: dom f* = R", "domain",
              {"name": "gan", "claim": "(-oo, oo)"}, REFUTED, "dom f* = (-oo, 0)"),
    NoteClaim("001", "Conjugate Function and Activation", 144, "GAN: sigma_f(v) = -log(1 + e^-v)", "activation",
              {"name": "gan", "claim": "-log(1+exp(-v))"}, VERIFIED),
    NoteClaim("001", "Generator Update Step", 244,
              "the generator minimises J_GAN = -(1/B2) sum log(1 - D(g(z_j)))", "identity",
              {"lhs": "-log(1-D)", "rhs": "log(1-D)", "assume": "D>0,D<1"}, REFUTED,
              "the generator minimises +(1/B2) sum log(1 - D(g(z_j))) (the saddle objective's second term); "
              "minimising the negated term would push D(g(z)) to 0"),
    # ------------------------------------------------------------------------------------------------ 002
    NoteClaim("002", "7. Special Case: GANs", 319, "for f = u ln u - (u+1) ln((u+1)/2): f*(t) = -log(1 - e^t)",
              "conjugate", {"name": "jensen-shannon", "claim": "-log(1-exp(t))"}, REFUTED,
              "f*(t) = -log(2 - e^t) on t < log 2; -log(1 - e^t) belongs to the GAN f = u log u - (u+1) log(u+1)"),
    NoteClaim("002", "7. Special Case: GANs", 321, "for that f: dom f* = (t < 0)", "domain",
              {"name": "jensen-shannon", "claim": "(-oo, 0)"}, REFUTED, "dom f* = (-oo, log 2)"),
    NoteClaim("002", "7. Special Case: GANs", 323, "for that f: sigma_f(v) = -log(1 + e^-v)", "activation",
              {"name": "jensen-shannon", "claim": "-log(1+exp(-v))"}, VERIFIED,
              "(maps R into the critic range (-oo, log 2), though not onto it: log 2 - log(1 + e^-v) is onto)"),
    NoteClaim("002", "2. Definition of f-Divergences", 254,
              "JS: f(u) = u ln u - (u+1) ln((u+1)/2), with D_JS = 1/2 KL(p||m) + 1/2 KL(q||m) (§1)", "generator",
              {"name": "jsd", "claim": "u*log(u) - (u+1)*log((u+1)/2)"}, REFUTED,
              "that f gives 2 D_JS; D_JS itself has f = 1/2 (u ln u - (u+1) ln((u+1)/2))"),
    NoteClaim("002", "3. The GAN Minimax Formulation", 148, "D*(x) = p_X/(p_X + p_theta) (first-order condition)",
              "identity", {"lhs": "p/(p/(p+q)) - q/(1 - p/(p+q))", "rhs": "0", "assume": _PQ}, VERIFIED),
    NoteClaim("002", "3. The GAN Minimax Formulation", 153, "min max V = 2 D_JS - 2 ln 2 (integrand at D*)",
              "identity", {"lhs": "p*log(p/(p+q)) + q*log(q/(p+q))",
                           "rhs": "(p*log(2*p/(p+q)) + q*log(2*q/(p+q))) - (p+q)*log(2)", "assume": _PQ}, VERIFIED),
    NoteClaim("002", "Fréchet Inception Distance", 878, "FID = |m1 - m2|^2 + Tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2) "
              "(1-D: W2^2 = (m1 - m2)^2 + (s1 - s2)^2)", "identity",
              {"lhs": "(m1-m2)**2 + s1**2 + s2**2 - 2*sqrt(s1*s2**2*s1)", "rhs": "(m1-m2)**2 + (s1-s2)**2",
               "assume": "s1>0,s2>0"}, VERIFIED),
    # ------------------------------------------------------------------------------------------------ 003
    NoteClaim("003", "Properties of f-Divergence", 96, "D_f(p||q) = 0 <=> p = q, for every f", "custom", {},
              REFUTED, "only for f strictly convex at u = 1; f(u) = c (u - 1) gives D_f = 0 for every pair",
              _zero_iff_equal),
    NoteClaim("003", "Examples 2)", 114, "JS: f(u) = 1/2 (u log u (u+1) log(1+u))", "generator",
              {"name": "jsd", "claim": "(u*log(u)*(u+1)*log(1+u))/2"}, REFUTED,
              "f(u) = 1/2 (u log u - (u+1) log((u+1)/2))"),
    NoteClaim("003", "Generative Adversarial Networks", 229, "GAN: f*(t) = -log(1 - e^t)", "conjugate",
              {"name": "gan", "claim": "-log(1-exp(t))"}, VERIFIED),
    NoteClaim("003", "Generative Adversarial Networks", 229, "GAN: dom f* = (-oo, 0)", "domain",
              {"name": "gan", "claim": "(-oo, 0)"}, VERIFIED),
    NoteClaim("003", "Generative Adversarial Networks", 241, "-f*(sigma_f(V)) = log(1 - 1/(1 + e^-V))", "identity",
              {"lhs": "log(1-exp(-log(1+exp(-v))))", "rhs": "log(1 - 1/(1+exp(-v)))"}, VERIFIED),
    # ------------------------------------------------------------------------------------------------ 004
    NoteClaim("004", "4.3 Definition & Property", 1050,
              "the closer q(z|x) is to p(z|x), the smaller KL(q(z|x) || p(z)), the tighter the ELBO", "custom", {},
              REFUTED, "the ELBO's gap is KL(q(z|x) || p(z|x)); KL(q(z|x) || p(z)) is the ELBO's regulariser",
              _elbo_gap_is_posterior_kl),
    NoteClaim("004", "4.3 Decomposition & Calculation", 1068,
              "KL(N(mu, sigma^2) || N(0, 1)) = 1/2 (mu^2 + sigma^2 - 1 - log sigma^2)", "identity",
              {"lhs": "log(1/s) + (s**2 + mu**2)/2 - 1/2", "rhs": "(mu**2 + s**2 - 1 - log(s**2))/2",
               "assume": "s>0"}, VERIFIED),
    NoteClaim("004", "5.1 Change of Variables, 1-D", 1301, "p_X(x) = p_Z(z) / |f'(x)|", "identity",
              {"lhs": "exp(-log(x)**2/2)/sqrt(2*pi)/exp(x)", "rhs": "exp(-log(x)**2/2)/sqrt(2*pi)/x",
               "assume": "x>0"}, REFUTED,
              "p_X(x) = p_Z(z)/|f'(z)| at z = h(x) (shown for X = e^Z, Z ~ N(0, 1): f'(z) = e^z = x)"),
    NoteClaim("004", "6.4 Discriminator Loss", 1473, "the optimal logit is h*(x) = log(p_data/p_theta)", "identity",
              {"lhs": "1/(1+exp(-log(p/q)))", "rhs": "p/(p+q)", "assume": _PQ}, VERIFIED),
    NoteClaim("004", "6.11 Standard GAN", 1584, "sigma'(x) = e^-x / (1 + e^-x)^-2", "identity",
              {"lhs": "exp(-x)/(1+exp(-x))**(-2)", "rhs": "exp(-x)/(1+exp(-x))**2"}, REFUTED,
              "sigma'(x) = e^-x/(1 + e^-x)^2 (the note's final sigma'(x)/(1 - sigma(x)) = sigma(x) is right)"),
    NoteClaim("004", "6.11 Standard GAN", 1584, "sigma'(x)/(1 - sigma(x)) = sigma(x)", "identity",
              {"lhs": "(exp(-x)/(1+exp(-x))**2)/(1 - 1/(1+exp(-x)))", "rhs": "1/(1+exp(-x))"}, VERIFIED),
    NoteClaim("004", "6.17 Issue Analysis, Case 1", 1645,
              "L_G = E_{p_theta}[log(1 - D)] - E_{p_theta}[log(1 - D)]", "identity",
              {"lhs": "log(1-D) - log(1-D)", "rhs": "log(1-D) - log(D)", "assume": "D>0,D<1"}, REFUTED,
              "L_G = E_{p_theta}[log(1 - D)] - E_{p_theta}[log D] (the KL-based loss of §6.7); as written it is 0"),
    NoteClaim("004", "6.17 Issue Analysis, Case 1", 1649, "KL(N(theta, eps^2) || N(theta_0, eps^2)) = "
              "(theta - theta_0)^2/(2 eps^2)", "identity",
              {"lhs": "log(e/e) + (e**2 + (th - th0)**2)/(2*e**2) - 1/2", "rhs": "(th - th0)**2/(2*e**2)",
               "assume": "e>0"}, VERIFIED),
    NoteClaim("004", "6.18 f-divergence table", 1707, "total variation: 1/2 int |p - q| with f = 1/2 |u - 1|",
              "identity", {"lhs": "q*Abs(p/q - 1)/2", "rhs": "Abs(p - q)/2", "assume": _PQ}, VERIFIED),
    NoteClaim("004", "6.18 f-divergence table", 1709, "reverse KL: int q log(q/p) with f = -log u", "identity",
              {"lhs": "-q*log(p/q)", "rhs": "q*log(q/p)", "assume": _PQ}, VERIFIED),
    NoteClaim("004", "6.18 f-divergence table", 1710, "Pearson chi^2: int (q - p)^2/p with f = (u - 1)^2", "identity",
              {"lhs": "q*(p/q - 1)**2", "rhs": "(q - p)**2/p", "assume": _PQ}, REFUTED,
              "f = (u - 1)^2 gives int (p - q)^2/q (the integrals of the Pearson and Neyman rows are swapped)"),
    NoteClaim("004", "6.18 f-divergence table", 1711, "Neyman chi^2: int (p - q)^2/q with f = (1 - u)^2/u", "identity",
              {"lhs": "q*(1 - p/q)**2/(p/q)", "rhs": "(p - q)**2/q", "assume": _PQ}, REFUTED,
              "f = (1 - u)^2/u gives int (p - q)^2/p"),
    NoteClaim("004", "6.18 f-divergence table", 1712, "squared Hellinger: int (sqrt p - sqrt q)^2 with "
              "f = (sqrt u - 1)^2", "identity",
              {"lhs": "q*(sqrt(p/q) - 1)**2", "rhs": "(sqrt(p) - sqrt(q))**2", "assume": _PQ}, VERIFIED),
    NoteClaim("004", "6.18 f-divergence table", 1713, "Jeffrey: int (p - q) log(p/q) with f = (u - 1) log u",
              "identity", {"lhs": "q*(p/q - 1)*log(p/q)", "rhs": "(p - q)*log(p/q)", "assume": _PQ}, VERIFIED),
    NoteClaim("004", "6.18 f-divergence table", 1714, "Jensen-Shannon: 1/2 int p log(2p/(p+q)) + q log(2q/(p+q)) "
              "with f = -(u+1) log((1+u)/2) + u log u", "identity",
              {"lhs": "q*(-(p/q+1)*log((1+p/q)/2) + (p/q)*log(p/q))",
               "rhs": "(p*log(2*p/(p+q)) + q*log(2*q/(p+q)))/2", "assume": _PQ}, REFUTED,
              "that f gives int p log(2p/(p+q)) + q log(2q/(p+q)) = 2 JSD: drop the 1/2, or halve f"),
    NoteClaim("004", "6.18 f-divergence table", 1715, "JS-weighted: int pi p log((pi p + (1-pi) q)/(p + (1-pi) q)) "
              "+ (1-pi) q log(same) with f = pi u log u - (1 - pi + pi u) log(1 - pi + pi u)", "identity",
              {"lhs": "q*(pi_*(p/q)*log(p/q) - (1 - pi_ + pi_*p/q)*log(1 - pi_ + pi_*p/q))",
               "rhs": "pi_*p*log((pi_*p + (1-pi_)*q)/(p + (1-pi_)*q)) + (1-pi_)*q*log((pi_*p + (1-pi_)*q)/(p + (1-pi_)*q))",
               "assume": "p>0,q>0,pi_>0,pi_<1"}, REFUTED,
              "int pi p log(p/m) + (1 - pi) q log(q/m) with m = pi p + (1 - pi) q"),
    NoteClaim("004", "6.18 f-divergence table", 1716, "GAN: int p log((p+q)/(p+q)) - log 4 with "
              "f = u log u - (u+1) log(u+1)", "custom", {}, REFUTED,
              "int p log(p/(p+q)) + q log(q/(p+q)) = 2 JSD - log 4", _gan_table_integral),
    NoteClaim("004", "6.18 f-divergence table", 1717, "alpha: 1/(alpha(alpha-1)) int p [(q/p)^alpha - 1] - "
              "alpha (q - p) with f = (u^alpha - 1 - alpha (u - 1))/(alpha(alpha-1))", "identity",
              {"lhs": "q*((p/q)**a - 1 - a*(p/q - 1))/(a*(a-1))", "rhs": "(p*((q/p)**a - 1) - a*(q - p))/(a*(a-1))",
               "assume": "p>0,q>0,a>1"}, REFUTED,
              "int q [(p/q)^alpha - 1] - alpha (p - q), all over alpha(alpha - 1): p and q are swapped"),
]

#: Mistakes the checker cannot express as a formula; listed in the report with their correction.
NOT_EXPRESSIBLE = [
    ("003", "Explanation", 166, "'Interchanging sup and integral (Jensen's inequality)'",
     "the step is sup_T of the integral <= the integral of sup_t, which holds because the pointwise supremum "
     "dominates every T(x); it is not Jensen's inequality"),
    ("002", "4. Variational (Dual) Representation", 274, "'By Fenchel-Young we have f(u) = sup_t {u t - f*(t)}'",
     "that is the Fenchel-Moreau theorem (f** = f for convex lower semicontinuous f); Fenchel-Young is the "
     "inequality f(u) + f*(t) >= u t"),
    ("004", "6.17 Issue Analysis, Case 1", 1661, "'If eps != eps_0, the distributions have almost no overlap'",
     "the means differ (theta != theta_0); both variances are eps^2"),
    ("001", "Training Algorithm Summary", 300, "'w <- w + alpha_1 J_D'", "w <- w + alpha_1 grad_w J_D: the "
     "update uses the gradient, not the loss value"),
]


def run() -> list[tuple[NoteClaim, Verdict]]:
    return [(c, c.run()) for c in NOTES]
