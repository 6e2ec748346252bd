"""The explicit claims the course notes make, each quoted verbatim with its file, section and line, the note's
formula as written (typos included) in the parser's syntax, and what it is checked against.

`expected` is what the mathematics dictates; every refuted claim carries its correction. Kinds:
conjugate / domain / activation (the formula against fdiv's derivation of a catalogue row), generator (the
formula, an f, generates the named divergence: f - g = c (u - 1)), identity (the formula equals `reference`
for every admissible value of its symbols; a pointwise integrand identity stands for its integral), custom (a
short computation, described in `against`). The report shows the quote beside the parsed formula.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import mpmath
import sympy as sp

from fdiv.derivation.activation import V
from fdiv.derivation.conjugate import T
from fdiv.spec.parse import EXTENDED, parse
from fdiv._util.timelimit import attempt

from . import claims
from .claims import REFUTED, UNDECIDED, VERIFIED, Verdict
from .derivations import derivation


@dataclass
class NoteClaim:
    file: str
    section: str
    line: int
    quote: str  # the note's text at that line, verbatim
    formula: str  # the note's formula as written, in the parser's syntax
    kind: str
    args: dict
    expected: str
    correction: str = ""
    check: Callable[[NoteClaim], Verdict] | None = field(default=None, repr=False)
    against: str = ""  # what the formula is compared with, in words

    def parsed(self) -> sp.Expr | str:
        a = self.args
        if self.kind == "domain":
            return self.formula
        if self.kind in ("conjugate", "activation", "generator"):
            var = {"conjugate": T, "activation": V, "generator": sp.Symbol("u")}[self.kind]
            return claims.parse_claim(self.formula, var, derivation(a["name"]))
        names = a.get("symbols") or claims._names(self.formula, a.get("reference", "0"))
        return parse(self.formula, {n: sp.Symbol(n, real=True) for n in names}, where=f"note {self.file}:{self.line}",
                     functions=EXTENDED)

    def run(self) -> Verdict:
        """The verdict, under a time limit (a claim that runs past it is undecided, with the reason)."""
        ok, out = attempt(f"checking note {self.file} line {self.line}", self._run, seconds=60)
        return out if ok else Verdict(UNDECIDED, str(out), "")

    def _run(self) -> Verdict:
        a = self.args
        if self.kind == "custom":
            return self.check(self)
        if self.kind == "identity":
            return claims.check_identity(self.formula, a["reference"], a.get("assume"))
        d = derivation(a["name"])
        if self.kind == "domain":
            return claims.check_domain(d, self.formula)
        if self.kind == "conjugate":
            return claims.check_conjugate(d, self.parsed())
        if self.kind == "activation":
            return claims.check_activation(d, self.parsed())
        if self.kind == "generator":
            return claims.check_generator(d, self.parsed())
        raise ValueError(self.kind)

    def compared_with(self) -> str:
        if self.against:
            return self.against
        a = self.args
        return {"conjugate": f"f* of fdiv's {a.get('name')} row", "domain": f"dom f* of fdiv's {a.get('name')} row",
                "activation": f"the critic range of fdiv's {a.get('name')} row",
                "generator": f"the f of fdiv's {a.get('name')} row (up to c (u - 1))",
                "identity": f"{a.get('reference')}" + (f" for {a['assume']}" if a.get("assume") else "")}.get(self.kind, "")


def _sym(c: NoteClaim) -> dict[str, sp.Symbol]:
    return {n: sp.Symbol(n, real=True) for n in c.args.get("symbols", ())}


# ------------------------------------------------------------------------------------------- custom checks
def _biconjugate_sign(c: NoteClaim) -> Verdict:
    """000: f(u) = sup_t {-t u - f*(t)}. For KL (f* = e^(t-1)) at u = 1 the bracket -t - e^(t-1) grows without
    bound as t -> -oo, so the supremum is +oo, not f(1) = 0."""
    s = _sym(c)
    bracket = c.parsed().subs(s["u"], 1)
    t = s["t"]
    return Verdict(REFUTED, "sup_t (-t u - f*(t)) is +oo for KL at u = 1 (the bracket tends to +oo as t -> -oo)",
                   "symbolic limit", {"u": "1", "t": "-100", "bracket": str(sp.N(bracket.subs(t, -100), 20)),
                                      "true f(1)": "0", "limit t -> -oo": str(sp.limit(bracket, t, -sp.oo))})


def _stationary(c: NoteClaim) -> Verdict:
    """The claimed D is the stationary point of p log D + q log(1 - D) (or the claimed expression is its
    derivative), symbolically."""
    s = {n: sp.Symbol(n, positive=True) for n in ("p", "q", "D")}
    formula = parse(c.formula, s, where="note", functions=EXTENDED)
    g = s["p"] * sp.log(s["D"]) + s["q"] * sp.log(1 - s["D"])
    if c.args.get("role") == "derivative":
        ok = sp.simplify(sp.diff(g, s["D"]) - formula) == 0
        return Verdict(VERIFIED if ok else REFUTED, "d/dD (p log D + q log(1 - D))", "symbolic")
    ok = sp.simplify(sp.diff(g, s["D"]).subs(s["D"], formula)) == 0
    return Verdict(VERIFIED if ok else REFUTED, "the derivative of p log D + q log(1 - D) vanishes there; the second "
                   "derivative -p/D^2 - q/(1 - D)^2 < 0 makes it the maximiser", "symbolic")


@functools.cache
def _gan_value() -> mpmath.mpf:
    """V = integral of p log(p/(p+q)) + q log(q/(p+q)) for p = N(0, 1), q = N(1, 1) at 30 digits; then
    KL(p||m) + KL(q||m) = V + log 4 = 2 JSD (m = (p + q)/2)."""
    with mpmath.workdps(30):
        p = lambda x: mpmath.npdf(x, 0, 1)  # noqa: E731
        q = lambda x: mpmath.npdf(x, 1, 1)  # noqa: E731
        return mpmath.quad(lambda x: p(x) * mpmath.log(p(x) / (p(x) + q(x))) + q(x) * mpmath.log(q(x) / (p(x) + q(x))),
                           [-mpmath.inf, 0.5, mpmath.inf])


def _minmax_value(c: NoteClaim) -> Verdict:
    """002 §3: min_theta max_phi V = 2 D_JS(p_X||p_theta) - 2 ln 2. With p_X = N(0, 1), p_theta = N(theta, 1):
    max_phi V(theta) = 2 JSD(theta) - 2 ln 2, whose minimum over theta is -2 ln 2 (at theta = 0); the claimed
    right side depends on theta and is not the min-max value."""
    J = sp.Symbol("D_JS", real=True)
    with mpmath.workdps(30):
        js = (_gan_value() + mpmath.log(4)) / 2
        claimed = c.parsed().subs(J, sp.Float(js, 30))
        true = -2 * mpmath.log(2)
    return Verdict(REFUTED, "the right side depends on theta; min over theta of max_phi V is -2 ln 2",
                   "numeric (30-digit quadrature)",
                   {"p_X": "N(0, 1)", "p_theta": "N(1, 1) (theta = 1)", "claimed": mpmath.nstr(sp.N(claimed, 30), 12),
                    "min_theta max_phi V": mpmath.nstr(true, 12) + " (theta = 0)"})


def _gan_table_integral(c: NoteClaim) -> Verdict:
    """004 §6.18, GAN row: integral of p log((p+q)/(p+q)) dx - log 4 is -log 4 for every pair, but D_f with
    f = u log u - (u+1) log(u+1) is 2 JSD - log 4, which is > -log 4 when P != Q."""
    true = _gan_value()
    return Verdict(REFUTED, "the table's integral is the constant -log 4; the GAN f gives 2 JSD - log 4",
                   "numeric (30-digit quadrature)",
                   {"P": "N(0, 1)", "Q": "N(1, 1)", "claimed": mpmath.nstr(-mpmath.log(4), 12),
                    "true": mpmath.nstr(true, 12)})


def _vstar_off_by_two(c: NoteClaim) -> Verdict:
    """004 §6.11: V(G, D*) = 2 [KL(p||m) + KL(q||m)] - log 4, m = (p + q)/2: twice too large (the sum of the two
    KLs is already 2 JSD)."""
    with mpmath.workdps(30):
        value = _gan_value()
        kls = value + mpmath.log(4)
        s = _sym(c)
        claimed = sp.N(c.parsed().subs(s["K"], sp.Float(kls, 30)), 30)
    return Verdict(REFUTED, "KL(p||m) + KL(q||m) is already 2 JSD: the factor 2 doubles it",
                   "numeric (30-digit quadrature)",
                   {"p_data": "N(0, 1)", "p_theta": "N(1, 1)", "claimed": mpmath.nstr(claimed, 12),
                    "V(G, D*)": mpmath.nstr(value, 12)})


def _zero_iff_equal(c: NoteClaim) -> Verdict:
    """003: D_f(p||q) = 0 <=> p = q for every convex f with f(1) = 0. f(u) = u - 1 is convex (linear) with
    f(1) = 0, and D_f = integral of (p - q) = 0 for every pair."""
    with mpmath.workdps(30):
        value = mpmath.quad(lambda x: mpmath.npdf(x, 0, 1) - mpmath.npdf(x, 1, 1), [-mpmath.inf, 0.5, mpmath.inf])
    return Verdict(REFUTED, "f(u) = u - 1 is convex with f(1) = 0, yet D_f(N(0,1)||N(1,1)) = 0 although the two "
                   "differ", "numeric (30-digit quadrature)",
                   {"f(u)": "u - 1", "P": "N(0, 1)", "Q": "N(1, 1)", "D_f": mpmath.nstr(value, 5)})


def _sup_attained(c: NoteClaim) -> Verdict:
    """003: 'sup_t g(x, t) has a definite value T(x) that achieves the maximum'. For KL, g = u t - e^(t-1); where
    p_X(x) = 0 (u = 0) the supremum 0 is approached as t -> -oo but never attained: g < 0 for every t."""
    s = _sym(c)
    g0 = c.parsed().subs(s["u"], 0)
    t = s["t"]
    limit = sp.limit(g0, t, -sp.oo)
    maxima = sp.solve(sp.diff(g0, t), t)
    return Verdict(REFUTED, "at u = 0 (p_X(x) = 0) the supremum 0 is a limit, with no maximiser",
                   "symbolic limit", {"u": "0", "g(t)": str(g0), "sup (t -> -oo)": str(limit),
                                      "stationary points": str(maxima) if maxima else "none"})


def _elbo_gap_is_posterior_kl(c: NoteClaim) -> Verdict:
    """004 §4.3: 'the closer q(z|x) is to p(z|x), the smaller KL(q(z|x) || p(z))'. The gap log p(x) - ELBO is
    KL(q || p(z|x)); KL(q || p(z)) is another quantity. Model z ~ N(0, 1), x|z ~ N(z, 1): p(z|x) = N(x/2, 1/2).
    With q = p(z|x) at x = 1 the gap is 0, but KL(q || p(z)) = (log 2 - 1/2)/2 + 1/8 > 0."""
    mu, var = sp.Rational(1, 2), sp.Rational(1, 2)
    kl_prior = (mu**2 + var - 1 - sp.log(var)) / 2
    return Verdict(REFUTED, "at q = p(z|x) the ELBO gap is 0 while KL(q || p(z)) is not", "symbolic",
                   {"model": "z ~ N(0,1), x|z ~ N(z,1), x = 1", "q": "N(1/2, 1/2) = p(z|x)",
                    "log p(x) - ELBO": "0", "KL(q || p(z))": f"{sp.simplify(kl_prior)} = {sp.N(kl_prior, 6)}"})


def _matmul_shape(c: NoteClaim) -> Verdict:
    """004 §2.5: h_i = sigma(W_(:, i) x_<i + c). W_(:, i) is one column (H x 1), x_<i has i - 1 entries: the
    product is undefined for i >= 3."""
    H, i = 3, 3
    W = sp.MatrixSymbol("W", H, 4)
    col, xs = W[:, i - 1], sp.MatrixSymbol("x", i - 1, 1)
    try:
        col * xs
        shapes_ok = True
    except sp.ShapeError:
        shapes_ok = False
    return Verdict(REFUTED if not shapes_ok else VERIFIED, "W_(:, i) x_<i multiplies an H x 1 column by an "
                   "(i - 1) x 1 vector", "exact shapes",
                   {"H": str(H), "i": str(i), "W_(:, i)": f"{H} x 1", "x_<i": f"{i - 1} x 1", "product": "undefined"})


def _dann_ascent(c: NoteClaim) -> Verdict:
    """002 DANN: 'ascend in w to maximize L_adv' against min_(phi, psi) max_w L_cls - lambda L_adv. With source
    features N(0, 1), target N(1, 1) and D_w(f) = sigmoid(w0 + w1 f): L_adv is smallest at w* = (1/2, -1)
    (the Bayes classifier) and grows along w = c (-1/2, 1)."""
    s = _sym(c)
    d_obj = sp.diff(c.parsed(), s["L_adv"])  # the derivative of the objective w maximises in L_adv

    def l_adv(w0, w1):
        with mpmath.workdps(20):
            a = lambda v: w0 + w1 * v  # noqa: E731
            return (mpmath.quad(lambda v: mpmath.npdf(v, 0, 1) * mpmath.log1p(mpmath.exp(-a(v))), [-mpmath.inf, 0, mpmath.inf])
                    + mpmath.quad(lambda v: mpmath.npdf(v, 1, 1) * mpmath.log1p(mpmath.exp(a(v))), [-mpmath.inf, 1, mpmath.inf]))
    with mpmath.workdps(20):
        best, up1 = l_adv(mpmath.mpf(1) / 2, -1), l_adv(-mpmath.mpf(1) / 2, 1)
    return Verdict(REFUTED, f"w maximises L_cls - lambda L_adv, whose derivative in L_adv is {d_obj} < 0: w must "
                   "descend L_adv; ascending it makes the classifier maximally wrong", "numeric (20-digit quadrature)",
                   {"model": "source N(0,1), target N(1,1), D = sigmoid(w0 + w1 f)",
                    "L_adv at w* = (1/2, -1)": mpmath.nstr(best, 10), "L_adv at (-1/2, 1)": mpmath.nstr(up1, 10)})


def _zero_integral(c: NoteClaim) -> Verdict:
    """004 §6.4: from 'integral of (p_theta/(1 - D) - p_data/D) dx = 0' the note concludes the integrand is 0.
    D = 1/2 everywhere makes the integral 2 - 2 = 0 for every pair, but the integrand 2 p_theta - 2 p_data is not
    0 where the densities differ."""
    s = {n: sp.Symbol(n, positive=True) for n in ("p", "q", "D")}
    integrand = parse(c.formula, s, where="note", functions=EXTENDED).subs(s["D"], sp.Rational(1, 2))
    at = {s["p"]: sp.N(1 / sp.sqrt(2 * sp.pi), 12), s["q"]: sp.N(sp.exp(-sp.Rational(1, 2)) / sp.sqrt(2 * sp.pi), 12)}
    return Verdict(REFUTED, "a zero integral does not make the integrand zero: D = 1/2 everywhere is a "
                   "counterexample", "symbolic",
                   {"D(x)": "1/2", "integral": "2 - 2 = 0 (p and q integrate to 1)", "integrand": str(integrand),
                    "at x = 0, p = N(0,1), q = N(1,1)": str(sp.N(integrand.subs(at), 8))})


def _iwae_inside(c: NoteClaim) -> Verdict:
    return claims.check_identity(c.formula, c.args["reference"])


def _sum_approx(c: NoteClaim) -> Verdict:
    d = sp.Symbol("d", positive=True, integer=True)
    i = sp.Symbol("i", positive=True, integer=True)
    exact = sp.summation(i, (i, 1, d))
    ratio = sp.limit(exact / parse(c.formula, {"d": d}, where="note"), d, sp.oo)
    return Verdict(VERIFIED if ratio == 1 else REFUTED, f"1 + ... + d = {sp.factor(exact)}, and its ratio to d^2/2 "
                   f"tends to {ratio}", "symbolic")


def _log10_approx(c: NoteClaim) -> Verdict:
    value = sp.N(parse(c.formula, {}, where="note", functions=EXTENDED), 20)
    close = abs(value - 236) < sp.Rational(1, 100)
    return Verdict(VERIFIED if close else REFUTED, f"log10(2^784) = {sp.N(value, 8)}, so 2^784 = 1.02 x 10^236",
                   "exact, evaluated at 20 digits")


_PQ = "p>0,q>0"
_GAN_STAR = "log(1-exp(log(1/(1+exp(-v)))))"  # -f*(sigma_f(V)) with the note's own f* and sigma_f
NOTES: list[NoteClaim] = [
    # ------------------------------------------------------------------------------------------------ 000
    NoteClaim("000", "Examples of f-divergence a)", 141, r"$f(u) = u \log u$: KL-Divergence", "u*log(u)",
              "generator", {"name": "kl"}, VERIFIED),
    NoteClaim("000", "Examples of f-divergence b)", 154,
              r"$f(u) = \frac{1}{2} \left(u \log u - (u+1) \log\left(\frac{u+1}{2}\right) \right)$: JS-Divergence",
              "1/2*(u*log(u) - (u+1)*log((u+1)/2))", "generator", {"name": "jsd"}, VERIFIED),
    NoteClaim("000", "Examples of f-divergence c)", 158, r"$f(u) = \frac{1}{2}|u-1|$: Total Variational Distance",
              "1/2*Abs(u-1)", "generator", {"name": "total-variation"}, VERIFIED),
    NoteClaim("000", "Properties of Conjugate ii)", 217, r"f(u) = \sup_{t \in \text{dom}(f^*)} \{-tu - f^*(t)\}",
              "-t*u - exp(t - 1)", "custom", {"symbols": ("t", "u")}, REFUTED,
              "f(u) = sup_t {t u - f*(t)} (biconjugation; the sign of t u is +)", _biconjugate_sign,
              "the bracket for KL (f*(t) = e^(t-1)) at u = 1, against f(1) = 0"),
    NoteClaim("000", "Generative Adversarial Networks", 318, r"$\text{wlog } u = (u+1)\log(u/(u+1))$",
              "(u+1)*log(u/(u+1))", "generator", {"name": "gan"}, REFUTED,
              "f(u) = u log u - (u+1) log(u+1) (as the note says at line 345); (u+1) log(u/(u+1)) is concave "
              "(f'' = -1/(u^2 (u+1)) < 0) and differs from it by log u"),
    NoteClaim("000", "Generative Adversarial Networks", 321, r"f^*(t) = -\log(1-e^t)", "-log(1-exp(t))",
              "conjugate", {"name": "gan"}, VERIFIED),
    NoteClaim("000", "Generative Adversarial Networks", 321, r"\text{dom } f^* = \bar{\mathbb{R}}", "(-oo, oo)",
              "domain", {"name": "gan"}, REFUTED, "dom f* = (-oo, 0)"),
    NoteClaim("000", "Generative Adversarial Networks", 323, r"g_f(v) = -\log(1+e^{-v})", "-log(1+exp(-v))",
              "activation", {"name": "gan"}, VERIFIED),
    NoteClaim("000", "Generative Adversarial Networks", 339,
              r"E_{P_X} \log\left(\frac{1}{1+e^{-V_\omega(x)}}\right)", "log(1/(1+exp(-v)))", "identity",
              {"reference": "-log(1+exp(-v))"}, VERIFIED,
              against="sigma_f(V) = -log(1 + e^(-V)) (line 338)"),
    NoteClaim("000", "Generative Adversarial Networks", 340,
              r"E_{P_\theta} \log\left(\frac{1}{1+e^{-\log\left(\frac{1}{1+e^{-V_\omega(x)}}\right)}}\right)",
              "log(1/(1+exp(-log(1/(1+exp(-v))))))", "identity", {"reference": _GAN_STAR}, REFUTED,
              "-f*(sigma_f(V)) = log(1 - 1/(1 + e^(-V))) = -log(1 + e^V) = log(1 - D), as line 341 has it; the line "
              "applies log(1/(1 + e^(-t))) instead of -f*(t) = log(1 - e^t), giving -log(2 + e^(-V))",
              against="-f*(sigma_f(V)) = log(1 - exp(sigma_f(V))) with the note's f* (line 321) and sigma_f (line 339)"),
    NoteClaim("000", "Generative Adversarial Networks", 341,
              r"E_{P_\theta} \log\left(1 - \frac{1}{1+e^{-V_\omega(x)}}\right)", "log(1 - 1/(1+exp(-v)))",
              "identity", {"reference": _GAN_STAR}, VERIFIED,
              against="-f*(sigma_f(V)) = log(1 - exp(sigma_f(V))) with the note's f* (line 321)"),
    NoteClaim("000", "TO TRAIN THE DISCRIMINATOR", 397,
              r"\frac{P_x(x)}{D(x)} + \frac{P_\theta(x) (-1)}{1-D(x)}", "p/D + q*(-1)/(1-D)", "custom",
              {"role": "derivative"}, VERIFIED, check=_stationary,
              against="d/dD of p log D + q log(1 - D) (line 394)"),
    NoteClaim("000", "TO TRAIN THE DISCRIMINATOR", 401, r"$$D(x)=\sqrt{2}$$", "2*sqrt(2)", "identity",
              {"reference": "1"}, REFUTED, "2 D(x) = 1 gives D*(x) = 1/2",
              against="2 D(x) = 1 (line 400), with the claimed D(x) = sqrt(2)"),
    NoteClaim("000", "Vanilla GAN", 456, r"\underset{P_\theta}{\mathbb{E}} \left[-\log D_\omega(\hat{x}) \right]",
              "-log(D)", "identity", {"reference": "log(1-D)", "assume": "D>0,D<1"}, REFUTED,
              "E_{P_theta}[log(1 - D(x^))], as in the next line of the note",
              against="the saddle objective's term log(1 - D) (line 463)"),
    # ------------------------------------------------------------------------------------------------ 001
    NoteClaim("001", "f-Divergence for GANs", 132, r"f(u) = u \log u - (u + 1) \log(u + 1)",
              "u*log(u) - (u+1)*log(u+1)", "generator", {"name": "gan"}, VERIFIED),
    NoteClaim("001", "Conjugate Function and Activation", 140, r"f^*(t) = -\log(1 - \exp(t))", "-log(1-exp(t))",
              "conjugate", {"name": "gan"}, VERIFIED),
    NoteClaim("001", "Conjugate Function and Activation", 140, r"\text{dom } f^* = \mathbb{R}", "(-oo, oo)",
              "domain", {"name": "gan"}, REFUTED, "dom f* = (-oo, 0)"),
    NoteClaim("001", "Conjugate Function and Activation", 144, r"\sigma_f(v) = -\log(1 + e^{-v})",
              "-log(1+exp(-v))", "activation", {"name": "gan"}, VERIFIED),
    NoteClaim("001", "Generator Update Step", 244,
              r"J_{GAN} = -\frac{1}{B_2} \sum_{j=1}^{B_2} \log(1 - D_w(g_\theta(z_j)))", "-log(1-D)", "identity",
              {"reference": "log(1-D)", "assume": "D>0,D<1"}, REFUTED,
              "the generator minimises +(1/B2) sum log(1 - D(g(z_j))) (the saddle objective's second term); "
              "minimising the negated term would push D(g(z)) to 0",
              against="the per-sample term log(1 - D) of J_GAN (line 192), which the generator minimises"),
    NoteClaim("001", "Training the Generator", 285,
              r"J_{GAN} = -\frac{1}{B_2} \sum_{j=1}^{B_2} \log(1 - D_w(g_\theta(z_j)))", "-log(1-D)", "identity",
              {"reference": "log(1-D)", "assume": "D>0,D<1"}, REFUTED,
              "as at line 244: the generator loss is +(1/B2) sum log(1 - D(g(z_j)))",
              against="the per-sample term log(1 - D) of J_GAN (line 192), which the generator minimises"),
    # ------------------------------------------------------------------------------------------------ 002
    NoteClaim("002", "7. Special Case: GANs (repeated at the top)", 13, r"f^*(t)=-\log\bigl(1-e^t\bigr),\; t<0,",
              "-log(1-exp(t))", "conjugate", {"name": "jensen-shannon"}, REFUTED,
              "f*(t) = -log(2 - e^t) on t < log 2 for f = u ln u - (u+1) ln((u+1)/2) (line 11)"),
    NoteClaim("002", "2. f-Divergences and Their Variational Forms", 109,
              r"= \tfrac{1}{2}D_{\mathrm{KL}}\Bigl(p\Big\|\tfrac{p+q}{2}\Bigr)",
              "p*log(p/((p+q)/2))/2 + q*log(q/((p+q)/2))/2", "identity",
              {"reference": "q*((p/q)*log(p/q) - (p/q+1)*log((p/q+1)/2))/2", "assume": _PQ}, VERIFIED,
              against="q f(p/q) for fdiv's jsd row f = (u log u - (u+1) log((u+1)/2))/2 (integrands)"),
    NoteClaim("002", "3. The GAN Minimax Formulation", 148,
              r"$$D_\phi^*(x)=\frac{p_X(x)}{p_X(x)+p_\theta(x)},$$", "p/(p+q)", "custom", {}, VERIFIED,
              check=_stationary, against="the maximiser of p log D + q log(1 - D) over D in (0, 1)"),
    NoteClaim("002", "3. The GAN Minimax Formulation", 153, r"= 2\,D_{\mathrm{JS}}\bigl(p_X\| p_\theta\bigr) - 2\ln2.",
              "2*D_JS - 2*log(2)", "custom", {"symbols": ("D_JS",)}, REFUTED,
              "max_phi V(theta, phi) = 2 D_JS(p_X||p_theta) - 2 ln 2 for each theta; min_theta max_phi V = -2 ln 2, "
              "attained at p_theta = p_X", _minmax_value,
              "min over theta of max_phi V for p_X = N(0, 1), p_theta = N(theta, 1)"),
    NoteClaim("002", "2. Definition of f-Divergences", 252, r"$f(u)=u\log u$", "u*log(u)", "generator",
              {"name": "kl"}, VERIFIED),
    NoteClaim("002", "2. Definition of f-Divergences", 253, r"$f(u)=(u-1)^2$", "(u-1)**2", "generator",
              {"name": "pearson"}, VERIFIED),
    NoteClaim("002", "2. Definition of f-Divergences", 254, r"$f(u)=u\ln u - (u+1)\ln\tfrac{u+1}{2}$",
              "u*log(u) - (u+1)*log((u+1)/2)", "generator", {"name": "jsd"}, REFUTED,
              "that f gives 2 D_JS (D_JS as defined in §2, line 108); D_JS itself has f = 1/2 (u ln u - (u+1) "
              "ln((u+1)/2))"),
    NoteClaim("002", "7. Special Case: GANs", 321, r"f^*(t)=-\log\bigl(1-e^t\bigr),\; t<0,", "-log(1-exp(t))",
              "conjugate", {"name": "jensen-shannon"}, REFUTED,
              "f*(t) = -log(2 - e^t) on t < log 2; -log(1 - e^t) belongs to the GAN f = u log u - (u+1) log(u+1)"),
    NoteClaim("002", "7. Special Case: GANs", 321, r"f^*(t)=-\log\bigl(1-e^t\bigr),\; t<0,", "(-oo, 0)",
              "domain", {"name": "jensen-shannon"}, REFUTED, "dom f* = (-oo, log 2)"),
    NoteClaim("002", "7. Special Case: GANs", 323, r"\sigma_f(v)=-\log\bigl(1+e^{-v}\bigr).", "-log(1+exp(-v))",
              "activation", {"name": "jensen-shannon"}, VERIFIED,
              "(maps R into the critic range (-oo, log 2), though not onto it: log 2 - log(1 + e^-v) is onto)"),
    NoteClaim("002", "Deep Convolutional GAN (DCGAN) Architecture", 503,
              r"\xrightarrow{\text{ConvTranspose}(256,4,2)} 8\times8\times256", "(4 - 1)*2 - 2*0 + 4", "identity",
              {"reference": "8"}, REFUTED,
              "a transpose convolution with kernel 4 and stride 2 maps side 4 to (4 - 1) 2 - 2 p + 4 = 10 - 2 p: "
              "doubling needs padding p = 1, ConvTranspose(256, 4, 2, 1); with no padding (the default) it is 10",
              against="the side 8 of 8 x 8 x 256, for the output side (n - 1) s - 2 p + k with n = 4, s = 2, k = 4, "
                      "p = 0"),
    NoteClaim("002", "Domain-Adversarial Neural Networks (DANN)", 827,
              r"ascend in \(w\) to maximize \(L_{\rm adv}\)", "L_cls - lambda_adv*L_adv", "custom",
              {"symbols": ("L_cls", "lambda_adv", "L_adv")}, REFUTED,
              "descend in w to minimise L_adv (the domain classifier's cross-entropy), i.e. ascend L_cls - lambda "
              "L_adv, as the min-max of line 819 says", _dann_ascent,
              "the objective w maximises in the min-max (line 821), and L_adv on an exact model"),
    NoteClaim("002", "Fréchet Inception Distance", 874,
              "Under the closed-form for the 2-Wasserstein distance between Gaussians,",
              "(m1-m2)**2 + s1**2 + s2**2 - 2*sqrt(s1*s2**2*s1)", "identity",
              {"reference": "sqrt((m1-m2)**2 + (s1-s2)**2)", "assume": "s1>0,s2>0"}, REFUTED,
              "FID = W2^2, the squared 2-Wasserstein distance (proof 'FID = W2^2 between Gaussians')",
              against="W2 between N(m1, s1^2) and N(m2, s2^2) (the quantile coupling), for the FID of lines 877-880 "
                      "in one dimension"),
    NoteClaim("002", "Fréchet Inception Distance", 878, r"= \|\mu_{\rm real}-\mu_{\rm gen}\|_2^2",
              "(m1-m2)**2 + s1**2 + s2**2 - 2*sqrt(s1*s2**2*s1)", "identity",
              {"reference": "(m1-m2)**2 + (s1-s2)**2", "assume": "s1>0,s2>0"}, VERIFIED,
              against="W2^2 between N(m1, s1^2) and N(m2, s2^2) (the FID of lines 877-880 in one dimension)"),
    # ------------------------------------------------------------------------------------------------ 003
    NoteClaim("003", "Properties of f-Divergence", 96, r"$D_f(p_X||p_\theta) = 0 \Leftrightarrow p_X = p_\theta$",
              "u - 1", "custom", {"symbols": ("u",)}, REFUTED,
              "only for f strictly convex at u = 1; f(u) = c (u - 1) gives D_f = 0 for every pair", _zero_iff_equal,
              "D_f for the convex f(u) = u - 1 (f(1) = 0) and two different Gaussians"),
    NoteClaim("003", "Examples a)", 106, r"$f(u) = u \log u$, then it becomes KL-divergence", "u*log(u)",
              "generator", {"name": "kl"}, VERIFIED),
    NoteClaim("003", "Examples 2)", 114, r"$f(u) = \frac{1}{2} (u \log u (u+1) \log(1+u))$",
              "1/2*(u*log(u)*(u+1)*log(1+u))", "generator", {"name": "jsd"}, REFUTED,
              "f(u) = 1/2 (u log u - (u+1) log((u+1)/2))"),
    NoteClaim("003", "Examples 3)", 115, r"$f(u) = \frac{1}{2}|u-1|$: Total Variation Distance", "1/2*Abs(u-1)",
              "generator", {"name": "total-variation"}, VERIFIED),
    NoteClaim("003", "Explanation", 172, r"$\sup_t g(x,t)$ has a definite value T(x) that achieves the maximum",
              "u*t - exp(t - 1)", "custom", {"symbols": ("u", "t")}, REFUTED,
              "the supremum need not be attained (for KL where p_X(x) = 0 it is approached as t -> -oo); the bound "
              "needs only sup_T of the integral <= the integral of sup_t", _sup_attained,
              "g(x, t) = u t - f*(t) for KL (f*(t) = e^(t-1)) at u = p_X/p_theta = 0"),
    NoteClaim("003", "Generative Adversarial Networks", 223, r"f(u) = u \log u - (u+1) \log(1+u)",
              "u*log(u) - (u+1)*log(1+u)", "generator", {"name": "gan"}, VERIFIED),
    NoteClaim("003", "Generative Adversarial Networks", 229, r"f^*(t) = -\log(1 - e^t)", "-log(1-exp(t))",
              "conjugate", {"name": "gan"}, VERIFIED),
    NoteClaim("003", "Generative Adversarial Networks", 229, r"\text{dom } f^* = (-\infty, 0)", "(-oo, 0)",
              "domain", {"name": "gan"}, VERIFIED),
    NoteClaim("003", "Generative Adversarial Networks", 233, r"= -\log(1 + e^{-V_{\omega}(x)})",
              "-log(1+exp(-v))", "activation", {"name": "gan"}, VERIFIED),
    NoteClaim("003", "Generative Adversarial Networks", 241,
              r"\log \left(1 - \frac{1}{1 + e^{-V_{\omega}(x)}} \right)", "log(1 - 1/(1+exp(-v)))", "identity",
              {"reference": "log(1-exp(-log(1+exp(-v))))"}, VERIFIED,
              against="-f*(sigma_f(V)) = log(1 - exp(sigma_f(V))) with the note's f* (line 229) and sigma_f (233)"),
    # ------------------------------------------------------------------------------------------------ 004
    NoteClaim("004", "2.3 Fully Visible Sigmoid Belief Network (FVSBN)", 453,
              r"$1 + 2 + \dots + d \approx \frac{d^2}{2}$", "d**2/2", "custom", {"symbols": ("d",)}, VERIFIED,
              check=_sum_approx, against="1 + 2 + ... + d, as d grows"),
    NoteClaim("004", "2.5 General Discrete Distributions", 504, r"\mathbf{h}_i &= \sigma(W_{:,i} \mathbf{x}_{<i} + \mathbf{c})",
              "W_col_i*x_lt_i", "custom", {"symbols": ("W_col_i", "x_lt_i")}, REFUTED,
              "h_i = sigma(W_(:, <i) x_<i + c): the first i - 1 columns, as in §2.4 (line 475)", _matmul_shape,
              "the shapes of W_(:, i) (H x 1) and x_<i ((i - 1) x 1)"),
    NoteClaim("004", "3.1 Relationship Between Loss and KL Divergence", 769,
              r"&\approx \mathbb{E}_{\mathbf{x} \sim p_{\text{data}}} [\log(p_{\text{data}}(\mathbf{x}))] + \mathcal{L}(\theta)",
              "-(log(P1) + log(P2))", "identity", {"reference": "-(log(P1) + log(P2))/2", "assume": "P1>0,P2>0"},
              REFUTED, "E_data[-log p_theta] is approximated by L(theta)/n, the average: KL ~ E log p_data + L/n",
              against="the sample average of -log p_theta (n = 2 examples with p_theta(x_i) = P1, P2), against "
                      "L(theta) = -sum log p_theta(x_i) (line 758)"),
    NoteClaim("004", "Goal of Learning", 827, r"$2^{784} \approx 10^{236}$", "784*log(2)/log(10)", "custom", {},
              VERIFIED, check=_log10_approx, against="236 = log10(10^236)"),
    NoteClaim("004", "4.3 Definition & Property", 1050,
              r"the smaller the KL divergence $D_{\text{KL}}(q_\phi(\mathbf{z} | \mathbf{x}) \| p_\theta(\mathbf{z}))$ becomes",
              "KL_q_prior", "custom", {"symbols": ("KL_q_prior",)}, REFUTED,
              "the ELBO's gap is KL(q(z|x) || p(z|x)); KL(q(z|x) || p(z)) is the ELBO's regulariser",
              _elbo_gap_is_posterior_kl, "the ELBO gap on the linear-Gaussian model"),
    NoteClaim("004", "4.3 Decomposition & Calculation", 1068,
              r"\frac{1}{2} \sum_{i=1}^L (\mu_i^2 + \sigma_i^2 - 1 - \log \sigma_i^2)",
              "(mu**2 + s**2 - 1 - log(s**2))/2", "identity",
              {"reference": "log(1/s) + (s**2 + mu**2)/2 - 1/2", "assume": "s>0"}, VERIFIED,
              against="KL(N(mu, s^2) || N(0, 1)) by Gaussian moments (one term of the sum)"),
    NoteClaim("004", "4.5 Proof for Property 2", 1188,
              r"\log \left(\mathbb{E}_{\mathbf{z} \sim q_\phi(\mathbf{z}|\mathbf{x})} \left[\frac{p_\theta(\mathbf{x}, \mathbf{z})}{q_\phi(\mathbf{z} | \mathbf{x})} \right] \right)",
              "log(3/4*(2/15) + 1/4*(6/5))", "custom", {"reference": "3/4*log(2/15) + 1/4*log(6/5)", "symbols": ()},
              REFUTED, "the expectation cannot move inside the log at finite m (that would make L_m = log p(x) for "
              "every m); L_m -> log p(x) needs a limit argument (proof 'IWAE: L_k -> log p(x) for weights bounded "
              "below')", _iwae_inside,
              "L_1 = E log w on the exact discrete model of the proofs (w = 2/15 w.p. 3/4, 6/5 w.p. 1/4)"),
    NoteClaim("004", "4.6 Assumptions of VAEs", 1195,
              r"\mathcal{N}(x \mu_\theta(z), \Sigma_\theta(z)) = \mathcal{N}(x \mu_\theta(z), I)",
              "exp(1/(1+exp(-a)))", "identity", {"reference": "1"}, REFUTED,
              "with Sigma_theta(z) = diag(e^(sigma(B z + d))) each variance lies in (1, e), never 1: either the "
              "decoder variance is learned (and not I) or it is fixed at I (as §4.7 step 5 does)",
              against="a diagonal entry e^(sigma(a)) of Sigma_theta(z) = diag(e^(sigma(B z + d))), against 1 (I)"),
    NoteClaim("004", "5.1 Change of Variables formula, 1-D", 1301, r"p_Z(z) \frac{1}{|f'(x)|}",
              "exp(-log(x)**2/2)/sqrt(2*pi)/exp(x)", "identity",
              {"reference": "exp(-log(x)**2/2)/sqrt(2*pi)/x", "assume": "x>0"}, REFUTED,
              "p_X(x) = p_Z(z)/|f'(z)| at z = h(x) (shown for X = e^Z, Z ~ N(0, 1): f'(z) = e^z = x)",
              against="p_Z(h(x)) |h'(x)| for X = e^Z, Z ~ N(0, 1) (the formula's first form)"),
    NoteClaim("004", "6.4 Discriminator Loss", 1466,
              r"\frac{p_\theta(\mathbf{x})}{1 - D_\phi(\mathbf{x})} - \frac{p_{\text{data}}(\mathbf{x})}{D_\phi(\mathbf{x})} = 0",
              "q/(1-D) - p/D", "custom", {}, REFUTED,
              "the pointwise condition holds because the integral is minimised for each x separately (the "
              "integrand's derivative in D(x) vanishes), not because the integral of the derivative is 0",
              _zero_integral, "the integrand for D = 1/2 everywhere, whose integral is 0 (line 1465)"),
    NoteClaim("004", "6.4 Discriminator Loss", 1473, r"h_\phi(\mathbf{x}) = \log \left(\frac{p_{\text{data}}(\mathbf{x})}{p_\theta(\mathbf{x})} \right)",
              "1/(1+exp(-log(p/q)))", "identity", {"reference": "p/(p+q)", "assume": _PQ}, VERIFIED,
              against="D* = p_data/(p_theta + p_data), through sigmoid(h)"),
    NoteClaim("004", "6.11 Standard GAN", 1574,
              r"&= 2 \cdot \underbrace{D_{\text{KL}} \left(p_{\text{data}}(\mathbf{x}) \middle\| \frac{p_\theta(\mathbf{x}) + p_{\text{data}}(\mathbf{x})}{2} \right) + D_{\text{KL}} \left(p_\theta(\mathbf{x}) \middle\| \frac{p_\theta(\mathbf{x}) + p_{\text{data}}(\mathbf{x})}{2} \right)}_{\text{Jensen-Shannon divergence (JSD)}} - \log 4",
              "2*K - log(4)", "custom", {"symbols": ("K",)}, REFUTED,
              "V(G, D*) = KL(p_data||m) + KL(p_theta||m) - log 4 = 2 JSD - log 4 (the previous line); the sum of the "
              "two KLs is 2 JSD, not JSD", _vstar_off_by_two,
              "V(G, D*) by quadrature, with K = KL(p_data||m) + KL(p_theta||m)"),
    NoteClaim("004", "6.11 Standard GAN", 1584, r"\frac{e^{-x}}{(1+e^{-x})^{-2}}", "exp(-x)/(1+exp(-x))**(-2)",
              "identity", {"reference": "exp(-x)/(1+exp(-x))**2"}, REFUTED,
              "sigma'(x) = e^-x/(1 + e^-x)^2 (the note's final sigma'(x)/(1 - sigma(x)) = sigma(x) is right)",
              against="sigma'(x) = e^(-x)/(1 + e^(-x))^2"),
    NoteClaim("004", "6.11 Standard GAN", 1584, r"= \frac{\frac{e^{-x}}{(1+e^{-x})^{-1}}}{e^{-x}} = \frac{1}{(1 + e^{-x})}",
              "(exp(-x)/(1+exp(-x))**(-1))/exp(-x)", "identity", {"reference": "1/(1+exp(-x))"}, REFUTED,
              "with the exponents corrected the chain reads (e^-x/(1 + e^-x)^2)/(e^-x/(1 + e^-x)) = 1/(1 + e^-x); "
              "as written the third expression equals 1 + e^-x",
              against="the next expression 1/(1 + e^(-x)) of the same chain"),
    NoteClaim("004", "6.11 Standard GAN", 1584, r"\frac{\sigma'(x)}{1 - \sigma(x)}",
              "(exp(-x)/(1+exp(-x))**2)/(1 - 1/(1+exp(-x)))", "identity", {"reference": "1/(1+exp(-x))"}, VERIFIED,
              against="sigma(x) (the chain's conclusion)"),
    NoteClaim("004", "6.17 Issue Analysis, Case 1", 1645,
              r"\mathcal{L}_G(\theta; \phi) &= \mathbb{E}_{x \sim p_\theta(x)}[\log(1 - D_\phi(x))] - \mathbb{E}_{x \sim p_\theta(x)}[\log(1 - D_\phi(x))]",
              "log(1-D) - log(1-D)", "identity", {"reference": "log(1-D) - log(D)", "assume": "D>0,D<1"}, REFUTED,
              "L_G = E_{p_theta}[log(1 - D)] - E_{p_theta}[log D] (the KL-based loss of §6.7); as written it is 0",
              against="the KL-based generator loss of §6.7 (line 1520)"),
    NoteClaim("004", "6.17 Issue Analysis, Case 1", 1649, r"D_{\text{KL}}(p_\theta(x) \| p_{\text{data}}(x)) &= \frac{(\theta - \theta_0)^2}{2\epsilon^2}",
              "(th - th0)**2/(2*e**2)", "identity",
              {"reference": "log(e/e) + (e**2 + (th - th0)**2)/(2*e**2) - 1/2", "assume": "e>0"}, VERIFIED,
              against="KL(N(theta, eps^2) || N(theta_0, eps^2)) by Gaussian moments"),
    NoteClaim("004", "6.18 f-divergence table", 1707, r"$\frac{1}{2} \int p(x) - q(x) dx$	$\frac{1}{2} u - 1 $",
              "1/2*u - 1", "generator", {"name": "total-variation"}, REFUTED,
              "1/2 int |p - q| with f = 1/2 |u - 1|: the bars |.| are missing as written (with them the row is right, "
              "as 000 line 158 has it)"),
    NoteClaim("004", "6.18 f-divergence table", 1708, r"$\int p(x) \log \frac{p(x)}{q(x)} dx$	$u \log u$",
              "q*(p/q)*log(p/q)", "identity", {"reference": "p*log(p/q)", "assume": _PQ}, VERIFIED,
              against="the row's integrand p log(p/q), with f = u log u"),
    NoteClaim("004", "6.18 f-divergence table", 1709, r"$\int q(x) \log \frac{q(x)}{p(x)} dx$	$-\log u$",
              "-q*log(p/q)", "identity", {"reference": "q*log(q/p)", "assume": _PQ}, VERIFIED,
              against="the row's integrand q log(q/p), with f = -log u"),
    NoteClaim("004", "6.18 f-divergence table", 1710, r"$\int \frac{(q(x) - p(x))^2}{p(x)} dx$	$(u - 1)^2$",
              "(q - p)**2/p", "identity", {"reference": "q*(p/q - 1)**2", "assume": _PQ}, REFUTED,
              "f = (u - 1)^2 gives int (p - q)^2/q (the integrals of the Pearson and Neyman rows are swapped)",
              against="q f(p/q) for the row's f = (u - 1)^2"),
    NoteClaim("004", "6.18 f-divergence table", 1711, r"$\int \frac{(p(x) - q(x))^2}{q(x)} dx$	$\frac{(1-u)^2}{u}$",
              "(p - q)**2/q", "identity", {"reference": "q*(1 - p/q)**2/(p/q)", "assume": _PQ}, REFUTED,
              "f = (1 - u)^2/u gives int (p - q)^2/p", against="q f(p/q) for the row's f = (1 - u)^2/u"),
    NoteClaim("004", "6.18 f-divergence table", 1712, r"$\int (\sqrt{p(x)} - \sqrt{q(x)})^2 dx$	$(\sqrt{u} - 1)^2$",
              "(sqrt(p) - sqrt(q))**2", "identity", {"reference": "q*(sqrt(p/q) - 1)**2", "assume": _PQ}, VERIFIED,
              against="q f(p/q) for the row's f = (sqrt(u) - 1)^2"),
    NoteClaim("004", "6.18 f-divergence table", 1713, r"$\int (p(x) - q(x)) \log \frac{p(x)}{q(x)} dx$	$(u - 1) \log u$",
              "(p - q)*log(p/q)", "identity", {"reference": "q*(p/q - 1)*log(p/q)", "assume": _PQ}, VERIFIED,
              against="q f(p/q) for the row's f = (u - 1) log u"),
    NoteClaim("004", "6.18 f-divergence table", 1714,
              r"$\frac{1}{2} \int p(x) \log \frac{2p(x)}{p(x)+q(x)} + q(x) \log \frac{2q(x)}{p(x)+q(x)} dx$",
              "(p*log(2*p/(p+q)) + q*log(2*q/(p+q)))/2", "identity",
              {"reference": "q*(-(p/q+1)*log((1+p/q)/2) + (p/q)*log(p/q))", "assume": _PQ}, REFUTED,
              "the row's f gives int p log(2p/(p+q)) + q log(2q/(p+q)) = 2 JSD: drop the 1/2, or halve f",
              against="q f(p/q) for the row's f = -(u+1) log((1+u)/2) + u log u"),
    NoteClaim("004", "6.18 f-divergence table", 1715,
              r"$\int p(x) \pi \log \frac{\pi p(x)+(1-\pi)q(x)}{p(x)+(1-\pi)q(x)} dx + (1-\pi)q(x) \log \frac{\pi p(x)+(1-\pi)q(x)}{p(x)+(1-\pi)q(x)} dx$",
              "pi_*p*log((pi_*p + (1-pi_)*q)/(p + (1-pi_)*q)) + (1-pi_)*q*log((pi_*p + (1-pi_)*q)/(p + (1-pi_)*q))",
              "identity", {"reference": "q*(pi_*(p/q)*log(p/q) - (1 - pi_ + pi_*p/q)*log(1 - pi_ + pi_*p/q))",
                           "assume": "p>0,q>0,pi_>0,pi_<1"}, REFUTED,
              "int pi p log(p/m) + (1 - pi) q log(q/m) with m = pi p + (1 - pi) q",
              against="q f(p/q) for the row's f = pi u log u - (1 - pi + pi u) log(1 - pi + pi u)"),
    NoteClaim("004", "6.18 f-divergence table", 1716, r"$\int p(x) \log \frac{p(x)+q(x)}{p(x)+q(x)} dx - \log(4)$",
              "-log(4)", "custom", {}, REFUTED, "int p log(p/(p+q)) + q log(q/(p+q)) = 2 JSD - log 4",
              _gan_table_integral, "D_f for the row's f = u log u - (u+1) log(u+1), by quadrature"),
    NoteClaim("004", "6.18 f-divergence table", 1717,
              r"$\frac{1}{\alpha(\alpha-1)} \int (p(x) [\left(\frac{q(x)}{p(x)}\right)^\alpha - 1] - \alpha(q(x) - p(x))) dx$",
              "(p*((q/p)**a - 1) - a*(q - p))/(a*(a-1))", "identity",
              {"reference": "q*((p/q)**a - 1 - a*(p/q - 1))/(a*(a-1))", "assume": "p>0,q>0,a>1"}, REFUTED,
              "int q [(p/q)^alpha - 1] - alpha (p - q), all over alpha(alpha - 1): p and q are swapped",
              against="q f(p/q) for the row's f = (u^alpha - 1 - alpha (u - 1))/(alpha (alpha - 1))"),
]

#: Mistakes that are not formulas the checker evaluates; each is listed with its correction.
NOT_EXPRESSIBLE = [
    ("000", "Variational Divergence Minimization", 129, "convex, left-semicontinuous",
     "lower semicontinuous (the condition under which f** = f)"),
    ("000", "Algorithm for F-Divergence Minimization", 185, r"\lim_{n \rightarrow \infty} \frac{1}{n} \sum_{i=1}^n h(x_i) \approx \mathbb{E}_{P_X} [h(x)]",
     "the limit equals E[h(x)] almost surely (strong law of large numbers); '~' belongs to finite n"),
    ("000", "Vanilla GAN", 469, r"\log (1 - D_\omega(g_\theta(\hat{x}_j)))",
     "log(1 - D(g_theta(z_j))): the generator is applied to the noise z_j (line 471), and x^_j = g_theta(z_j)"),
    ("001", "Discriminator Update Step", 224, r"**Keep  $\theta$  constant and optimize:**",
     "in the discriminator step theta is fixed and w is maximised; the argmin over theta (line 226) belongs to "
     "the generator step"),
    ("001", "Training Algorithm Summary", 300, r"$w^{t+1} \leftarrow w^t + \alpha_1 J_D$",
     "w <- w + alpha_1 grad_w J_D: the update uses the gradient, not the loss value"),
    ("001", "Training Algorithm Summary", 304, r"$\theta^{t+1} \leftarrow \theta^t - \alpha_2 J_G$",
     "theta <- theta - alpha_2 grad_theta J_G: the update uses the gradient, not the loss value"),
    ("002", "2. f-Divergences and Their Variational Forms", 121, r"$\mathcal{T}$ is a rich class of functions (e.g., neural networks)",
     "the equality D_f = sup_T {...} (line 116) holds over all measurable T: X -> dom f*; over a restricted class "
     "such as neural networks only >= holds (as §4, line 284, says)"),
    ("002", "4. Variational (Dual) Representation via Convex Conjugate", 274, "By Fenchel–Young we have",
     "f(u) = sup_t {u t - f*(t)} is the Fenchel-Moreau theorem (f** = f for convex lower semicontinuous f); "
     "Fenchel-Young is the inequality f(u) + f*(t) >= u t"),
    ("002", "Inference and Sampling", 536, r"\hat x\sim p_{\theta}(x\mid y^*)=G_{\theta^*}(z, y^*).",
     "x^ = G_theta*(z, y*) ~ p_theta(x | y*): a sample is not equal to a density"),
    ("002", "GAN Inversion via Latent Regression", 713, r"p_{x}(x)",
     "the generative model's marginal is p_theta(x) = integral of p_z(z) p_theta(x|z) dz; p_x is the data "
     "distribution it approximates (line 696)"),
    ("003", "Explanation", 166, "Interchanging sup and integral (Jensen's inequality)",
     "the step is sup_T of the integral <= the integral of sup_t, which holds because the pointwise supremum "
     "dominates every T(x); it is not Jensen's inequality"),
    ("003", "Implementation of GAN in Practice", 257, "This step is one gradient ascent step on the discriminator.",
     "one ascent step is w <- w + alpha grad_w J (line 255 writes the full argmax over w)"),
    ("003", "Implementation of SAN in Practice", 279, r"$\tilde{x}_1, \tilde{x}_1, ..., \tilde{x}_{B_3} \sim P_X$",
     "the generated samples x~_j are drawn from P_theta, not P_X"),
    ("004", "2.4 Neural Autoregressive Density Estimation (NADE)", 492,
     r"weights $W \in \mathbb{R}^{H \times d}$, biases $\mathbf{c} \in \mathbb{R}^d$, and n logistic regression coefficient vectors $\boldsymbol{\alpha}_i, b_i \in \mathbb{R}^{d+1}$",
     "with H hidden units and n variables: W in R^(H x n), c in R^H and n vectors (alpha_i, b_i) in R^(H + 1): "
     "H n + H + n (H + 1) parameters, linear in n (checked against torch numel() in the proofs)"),
    ("004", "3.2 MLE for Autoregressive Models", 886, r"$\theta^{t+1} = \theta^t + \alpha_t \nabla_{\theta} \ell(\theta)$",
     "with + this is gradient ascent on the log-likelihood (right for maximising l); the heading calls it "
     "gradient descent"),
    ("004", "3.2 MLE for Autoregressive Models", 900, r"\nabla_{\theta_i} \sum_{i=1}^n",
     "the summation index shadows the fixed i: grad_theta_i sum_(k = 1..n) log p(x_k | x_<k; theta_k) = "
     "grad_theta_i log p(x_i | x_<i; theta_i) when the conditionals share no parameters"),
    ("004", "4.3 Training Objective", 1080, r"\arg \max_{\theta} \sum_{\mathbf{x}^{(i)} \in \mathcal{D}} \log p_{\theta}(\mathbf{x}^{(i)}) &\geq \arg \max",
     "max_theta sum log p_theta >= max_(theta, phi) sum ELBO compares values; argmax returns maximisers, which "
     "cannot be ordered this way"),
    ("004", "4.4 beta-VAE", 1095, r"Reconstruct the input data \mathbf{z}",
     "reconstruct the input data x (z is the latent code)"),
    ("004", "4.6 Assumptions of VAEs", 1195, r"$\mu_\theta(z) = \sigma(Az + c) \in \mathbb{R}^L$",
     "mu_theta(z) is in R^D, the data space (as §4.7 step 4 says); L is the latent dimension"),
    ("004", "6.10 WGAN Generator Loss", 1550, r"-\mathbb{E}_{z \sim p_\theta(z)}[D_\phi(x)]",
     "-E_{x ~ p_theta(x)}[D_phi(x)] = -E_{z ~ p(z)}[D_phi(G_theta(z))] (the next line)"),
    ("004", "6.14 Conditional GAN with Projection Discriminator", 1619, "- Definition:",
     "the section is empty: the proofs 'cGAN: the optimal discriminator on (x, y)' and 'Projection "
     "discriminator' supply the objective and the optimal logit y'V phi(x) + psi(phi(x))"),
    ("004", "6.17 Issue Analysis, Case 1", 1653, r"\frac{\partial}{\partial \theta} \mathcal{L}_G(\theta; \phi) \rightarrow \infty",
     "|d L_G/d theta| = |theta - theta_0|/eps^2 -> oo; the derivative itself tends to -oo when theta < theta_0"),
    ("004", "6.17 Issue Analysis, Case 1", 1661, r"If $\epsilon \neq \epsilon_0$",
     "the means differ (theta != theta_0); both variances are eps^2"),
    ("004", "6.17 Issue Analysis, Case 2", 1676, r"p_\theta(x) = \theta, \quad p_{\text{data}}(x) = \theta_0",
     "the laws collapse to point masses at theta and theta_0; no density equals theta"),
    ("004", "6.17 Issue Analysis, Case 3", 1694, r"\frac{dD_\phi}{dx} : \mathbb{R} \rightarrow [-1, 1]",
     "the case stops without its conclusion: with a 1-Lipschitz critic W1 = |theta - theta_0| and the generator's "
     "gradient stays 1 in size for every eps (proof 'WGAN on two Gaussians with equal variances')"),
]


def run() -> list[tuple[NoteClaim, Verdict]]:
    return [(c, c.run()) for c in NOTES]


def quotes_in(lines_by_file: dict[str, list[str]]) -> list[str]:
    """The claims whose quote is not found verbatim at their line (for a check against the notes' text)."""
    missing = []
    rows = [(c.file, c.line, c.quote) for c in NOTES] + [(f, ln, q) for f, _, ln, q, _ in NOT_EXPRESSIBLE]
    for file, line, quote in rows:
        text = lines_by_file.get(file, [])
        if not (0 < line <= len(text)) or quote not in text[line - 1]:
            missing.append(f"{file}:{line}: {quote}")
    return missing

