"""The explicit claims the course notes make, each quoted verbatim with its file, section and line, the note's
formula as written (typos included) in the parser's syntax, and what it is checked against.

Every verdict is computed from the formula as parsed: substitute another formula and the verdict follows it.
`expected` is what the mathematics dictates (a test compares); a refuted claim carries its correction in words
and, where the correction is itself a formula, `fix`: the same claim with `fix` in place of `formula` must
verify (tests/test_notes.py checks both directions). Kinds: conjugate / domain / activation (the formula
against fdiv's derivation of a catalogue row), generator (the formula, an f, generates the named divergence:
f - g = c (u - 1)), identity (the formula equals `reference` for every admissible value of its symbols),
integral (integral(...) terms against `reference`, compared by quadrature over pairs of densities), custom (a
short computation on an exact model, described in `against`). The report shows the quote beside the parsed
formula.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import mpmath
import sympy as sp

from fdiv.derivation.activation import V
from fdiv.derivation.conjugate import T
from fdiv.spec.parse import EXTENDED, parse
from fdiv._util.timelimit import attempt

from . import claims
from .claims import REFUTED, UNDECIDED, VERIFIED, Verdict
from .derivations import derivation

#: Words a claim may use where its formula is a list of hypotheses (see _zero_iff_equal).
HYPOTHESES = ("convex", "f(1) = 0", "strictly convex at 1")


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
    fix: str | None = None  # the correction as a formula (substituted for `formula`, the claim must verify)

    def with_formula(self, text: str) -> NoteClaim:
        """The same claim with another formula in place of the note's (its verdict is recomputed)."""
        return replace(self, formula=text)

    def symbols(self) -> dict[str, sp.Symbol]:
        names = self.args.get("symbols") or claims._names(self.formula, self.args.get("reference", "0"))
        return {n: sp.Symbol(n, real=True) for n in names}

    def parsed(self) -> sp.Expr | str | tuple:
        a = self.args
        if self.kind == "domain":
            return self.formula
        if a.get("parse") == "hypotheses":
            return _hypotheses(self.formula)
        if self.kind in ("conjugate", "activation", "generator"):
            var = {"conjugate": T, "activation": V, "generator": sp.Symbol("u")}[self.kind]
            return claims.parse_claim(self.formula, var, derivation(a["name"]))
        functions = {**EXTENDED, **a.get("functions", {})}
        if self.kind == "integral":
            functions["integral"] = (claims.INTEGRAL, (1,))
        return parse(self.formula, self.symbols(), where=f"note {self.file}:{self.line}", functions=functions)

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
        if self.kind == "integral":
            return claims.check_integral(self.formula, a["reference"], a.get("assume"))
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
                "identity": f"{a.get('reference')}" + (f" for {a['assume']}" if a.get("assume") else ""),
                "integral": f"{a.get('reference')}" + (f" for {a['assume']}" if a.get("assume") else ""),
                }.get(self.kind, "")


def _hypotheses(text: str) -> tuple[str, ...]:
    """'convex, f(1) = 0' -> ('convex', 'f(1) = 0'): each item one of HYPOTHESES."""
    items = tuple(w.strip() for w in text.split(",") if w.strip())
    unknown = [w for w in items if w not in HYPOTHESES]
    if unknown or not items:
        from fdiv.errors import ParseError

        raise ParseError(f"hypotheses {text!r}: each must be one of {', '.join(HYPOTHESES)}")
    return items


def _sym(c: NoteClaim) -> dict[str, sp.Symbol]:
    return {n: sp.Symbol(n, real=True) for n in c.args.get("symbols", ())}


def _sup_over(g: sp.Expr, t: sp.Symbol) -> tuple[sp.Expr, bool]:
    """sup over real t of g (smooth in t): the largest of its values at real stationary points and its limits
    at -oo and +oo, and whether that supremum is attained (taken at a stationary point)."""
    ok, crit = attempt("stationary points", sp.solve, sp.diff(g, t), t, seconds=10)
    values = [g.subs(t, r) for r in (crit if ok else []) if r.is_real]
    limits = [sp.limit(g, t, end) for end in (-sp.oo, sp.oo)]
    candidates = values + limits
    if any(v == sp.oo for v in candidates):
        return sp.oo, False
    best = max(candidates, key=lambda v: sp.N(v, 30) if v.is_finite else -sp.oo)
    attained = any(claims._symbolic_zero(best - v) for v in values) if best.is_finite else False
    return best, attained


# ------------------------------------------------------------------------------------------- custom checks
def _biconjugate(c: NoteClaim) -> Verdict:
    """000 l. 217: f(u) = sup_t {bracket}. For KL (f* = e^(t-1), dom f* = R) the supremum of the parsed
    bracket over t is computed at u = 1/2, 1, 2 (stationary points and limits at +-oo) and compared with
    f(u) = u log u."""
    s = _sym(c)
    u, t = s["u"], s["t"]
    bracket = c.parsed()
    for point in (sp.Integer(1), sp.Rational(1, 2), sp.Integer(2)):
        sup, _ = _sup_over(bracket.subs(u, point), t)
        true = point * sp.log(point)
        if not (sup.is_finite and claims._symbolic_zero(sup - true)):
            return Verdict(REFUTED, f"sup over t of the bracket at u = {point} is {sup}, but f(u) = {true}",
                           "symbolic (stationary points and limits)",
                           {"u": str(point), "sup_t bracket": str(sup), "f(u) = u log u": str(true),
                            "bracket at t = -100": str(sp.N(bracket.subs({u: point, t: -100}), 12))})
    return Verdict(VERIFIED, "sup over t of the bracket equals u log u at u = 1/2, 1, 2 (f** = f for KL)",
                   "symbolic (stationary points and limits)")


def _stationary(c: NoteClaim) -> Verdict:
    """The claimed D is the stationary point of p log D + q log(1 - D) (or the claimed expression is its
    derivative), symbolically; with args p_equals_q the note's case p = q (000 l. 399: 1 - D(x) = D(x))."""
    s = {n: sp.Symbol(n, positive=True) for n in ("p", "q", "D")}
    formula = parse(c.formula, s, where="note", functions=EXTENDED)
    g = s["p"] * sp.log(s["D"]) + s["q"] * sp.log(1 - s["D"])
    if c.args.get("p_equals_q"):
        g, formula = g.subs(s["q"], s["p"]), formula.subs(s["q"], s["p"])
    if c.args.get("role") == "derivative":
        ok = claims._symbolic_zero(sp.diff(g, s["D"]) - formula)
        return Verdict(VERIFIED if ok else REFUTED, "d/dD (p log D + q log(1 - D))", "symbolic",
                       None if ok else {"claimed": str(formula), "derivative": str(sp.diff(g, s["D"]))})
    value = sp.diff(g, s["D"]).subs(s["D"], formula)
    inside = sp.And(formula > 0, formula < 1)
    ok = inside != sp.false and claims._symbolic_zero(value)
    where = " with p = q" if c.args.get("p_equals_q") else ""
    return Verdict(VERIFIED if ok else REFUTED, f"the derivative of p log D + q log(1 - D){where} vanishes at the "
                   "claimed D in (0, 1); the second derivative -p/D^2 - q/(1 - D)^2 < 0 makes it the maximiser"
                   if ok else f"the claimed D = {formula} is not the stationary point in (0, 1){where}", "symbolic",
                   None if ok else {"claimed D": str(formula), "derivative there": str(sp.simplify(value)),
                                    "stationary point": str(sp.solve(sp.diff(g, s["D"]), s["D"]))})


@functools.cache
def _js(theta: int) -> mpmath.mpf:
    """JSD(N(0, 1) || N(theta, 1)) by 20-digit quadrature (1/2 KL(p||m) + 1/2 KL(q||m), m = (p + q)/2)."""
    with mpmath.workdps(20):
        p = lambda x: mpmath.npdf(x, 0, 1)  # noqa: E731
        q = lambda x: mpmath.npdf(x, theta, 1)  # noqa: E731
        m = lambda x: (p(x) + q(x)) / 2  # noqa: E731
        return mpmath.quad(lambda x: (p(x) * mpmath.log(p(x) / m(x)) + q(x) * mpmath.log(q(x) / m(x))) / 2,
                           [-mpmath.inf, mpmath.mpf(theta) / 2, mpmath.inf])


@functools.cache
def _gan_value() -> mpmath.mpf:
    """V(G, D*) = integral of p log(p/(p+q)) + q log(q/(p+q)) for p = N(0, 1), q = N(1, 1), 20 digits."""
    with mpmath.workdps(20):
        p = lambda x: mpmath.npdf(x, 0, 1)  # noqa: E731
        q = lambda x: mpmath.npdf(x, 1, 1)  # noqa: E731
        return mpmath.quad(lambda x: p(x) * mpmath.log(p(x) / (p(x) + q(x))) + q(x) * mpmath.log(q(x) / (p(x) + q(x))),
                           [-mpmath.inf, 0.5, mpmath.inf])


def _minmax_value(c: NoteClaim) -> Verdict:
    """002 §3: min_theta max_phi V is a number. With p_X = N(0, 1), p_theta = N(theta, 1), max_phi V(theta) =
    2 JSD(theta) - 2 ln 2 (proof 'V(G, D*) = 2 JSD - log 4'), minimised over theta = 0, 1 by quadrature;
    the claimed right side, evaluated with D_JS = JSD(p_X || p_theta) at each theta, must equal that one
    number for every theta."""
    J = sp.Symbol("D_JS", real=True)
    claim = c.parsed()
    with mpmath.workdps(20):
        inner = {th: 2 * _js(th) - 2 * mpmath.log(2) for th in (0, 1)}
        value = min(inner.values())
        for th in (0, 1):
            claimed = claim.subs(J, sp.Float(_js(th), 20)) if claim.has(J) else claim
            got = mpmath.mpf(str(sp.N(claimed, 20)))
            if abs(got - value) > mpmath.mpf(10) ** -12:
                return Verdict(REFUTED, f"the right side depends on theta; min over theta of max_phi V is "
                               f"{mpmath.nstr(value, 12)}", "numeric (20-digit quadrature)",
                               {"p_X": "N(0, 1)", "p_theta": f"N({th}, 1)", "claimed": mpmath.nstr(got, 12),
                                "min_theta max_phi V": mpmath.nstr(value, 12) + " (theta = 0)"})
    return Verdict(VERIFIED, "equals min over theta of max_phi V at every theta of the family",
                   "numeric (20-digit quadrature, 2 values of theta)")


def _vstar(c: NoteClaim) -> Verdict:
    """004 §6.11: V(G, D*) against the claimed expression in K = KL(p||m) + KL(q||m), m = (p + q)/2, for
    p = N(0, 1), q = N(1, 1), both by quadrature."""
    with mpmath.workdps(20):
        value = _gan_value()
        kls = 2 * _js(1)
        s = _sym(c)
        claimed = mpmath.mpf(str(sp.N(c.parsed().subs(s["K"], sp.Float(kls, 20)), 20)))
    ok = abs(claimed - value) <= mpmath.mpf(10) ** -12
    return Verdict(VERIFIED if ok else REFUTED, "V(G, D*) = KL(p||m) + KL(q||m) - log 4" if ok else
                   "KL(p||m) + KL(q||m) is already 2 JSD: the factor 2 doubles it", "numeric (20-digit quadrature)",
                   None if ok else {"p_data": "N(0, 1)", "p_theta": "N(1, 1)", "claimed": mpmath.nstr(claimed, 12),
                                    "V(G, D*)": mpmath.nstr(value, 12)})


#: Convex candidates f for claims about every f of a class: an affine f, zero, an f that is flat around u = 1
#: (affine on [1/2, 2]), and catalogue rows.
_CANDIDATES = ("u - 1", "0*u", "Max(0, u - 2) + Max(0, 1/2 - u)", "u*log(u)", "(u - 1)**2", "Abs(u - 1)/2",
               "(sqrt(u) - 1)**2", "-log(u)")
_UNIT = sp.Interval(0, 1)


def _pairs():
    """(name, p, q, lo, hi) of density pairs with P != Q: two Gaussians, and two densities on [0, 1] whose ratio
    stays in [3/4, 3/2]."""
    return (("N(0, 1) vs N(1, 1)", lambda x: mpmath.npdf(x, 0, 1), lambda x: mpmath.npdf(x, 1, 1),
             -mpmath.inf, mpmath.inf),
            ("U(0, 1) vs density (2 + 2x)/3 on [0, 1]", lambda x: mpmath.mpf(1), lambda x: (2 + 2 * x) / 3, 0, 1))


def _holds(hyp: str, f: sp.Expr, u: sp.Symbol) -> bool:
    fn = sp.lambdify(u, f, "mpmath")
    with mpmath.workdps(30):
        if hyp == "f(1) = 0":
            return abs(fn(mpmath.mpf(1))) < mpmath.mpf(10) ** -25
        if hyp == "convex":  # second differences on a grid of ratios
            grid = [mpmath.mpf(k) / 8 for k in range(1, 64)]
            return all(fn(a) + fn(b) - 2 * fn((a + b) / 2) >= -mpmath.mpf(10) ** -25
                       for a, b in zip(grid, grid[2:]))
        # strictly convex at 1: f(1) < lam f(a) + (1 - lam) f(b) for a < 1 < b with lam a + (1 - lam) b = 1
        for a, b in ((mpmath.mpf(1) / 2, 2), (mpmath.mpf(9) / 10, mpmath.mpf(11) / 10),
                     (mpmath.mpf(99) / 100, mpmath.mpf(101) / 100)):
            lam = (b - 1) / (b - a)
            if lam * fn(a) + (1 - lam) * fn(mpmath.mpf(b)) - fn(mpmath.mpf(1)) <= mpmath.mpf(10) ** -25:
                return False
        return True


def _zero_iff_equal(c: NoteClaim) -> Verdict:
    """003 l. 96: 'D_f(p||q) = 0 <=> p = q' for every f with the listed hypotheses. Each candidate f (a few
    catalogue rows, an affine f, zero, one flat around 1) that meets the hypotheses must give D_f > 0 for two
    pairs P != Q (20-digit quadrature); one with D_f = 0 refutes the claim."""
    u = sp.Symbol("u", positive=True)
    hyps = c.parsed()
    tested = 0
    for text in _CANDIDATES:
        f = parse(text, {"u": u}, where="candidate")
        if not all(_holds(h, f, u) for h in hyps):
            continue
        tested += 1
        fn = sp.lambdify(u, f, "mpmath")
        for name, p, q, lo, hi in _pairs():
            with mpmath.workdps(20):
                d = mpmath.quad(lambda x: q(x) * fn(p(x) / q(x)), [lo, hi] if lo != -mpmath.inf else [lo, 0.5, hi])
            if abs(d) < mpmath.mpf(10) ** -15:
                return Verdict(REFUTED, f"f(u) = {f} meets every hypothesis ({', '.join(hyps)}), yet D_f = 0 for "
                               "two different distributions", "numeric (20-digit quadrature)",
                               {"f(u)": str(f), "P vs Q": name, "D_f": mpmath.nstr(d, 5)})
    return Verdict(VERIFIED, f"each of the {tested} candidate f's meeting the hypotheses gives D_f > 0 on both "
                   "pairs", f"numeric (20-digit quadrature, {tested} candidates, 2 pairs); not a proof")


def _sup_attained(c: NoteClaim) -> Verdict:
    """003 l. 172: 'sup_t g(x, t) has a definite value T(x) that achieves the maximum', for the parsed g(u, t)
    (u = p_X/p_theta): the supremum over t at u = 0, 1/2, 1, 2 from stationary points and limits; refuted
    where it is finite but attained by no t."""
    s = _sym(c)
    u, t = s["u"], s["t"]
    g = c.parsed()
    for point in (sp.Integer(0), sp.Rational(1, 2), sp.Integer(1), sp.Integer(2)):
        sup, attained = _sup_over(g.subs(u, point), t)
        if not attained:
            return Verdict(REFUTED, f"at u = {point} the supremum {sup} is a limit, with no maximiser",
                           "symbolic (stationary points and limits)",
                           {"u": str(point), "g(t)": str(g.subs(u, point)), "sup_t g": str(sup)})
    return Verdict(VERIFIED, "the supremum is attained at u = 0, 1/2, 1, 2", "symbolic (stationary points)")


def _elbo_gap(c: NoteClaim) -> Verdict:
    """004 §4.3: which KL is the ELBO's gap? On the exact model z ~ N(0, 1), x|z ~ N(z, 1), x = 1, with
    q = N(m, s^2): log p(x) - ELBO(q) computed from the model (Gaussian expectations) against the claimed
    quantity, a formula in m and s; they must agree for every m and s > 0."""
    m, s = sp.Symbol("m", real=True), sp.Symbol("s", positive=True)
    x = sp.Integer(1)
    log_px = -sp.log(2 * sp.pi * 2) / 2 - x**2 / 4  # x ~ N(0, 2)
    e_loglik = -sp.log(2 * sp.pi) / 2 - ((x - m) ** 2 + s**2) / 2
    e_logprior = -sp.log(2 * sp.pi) / 2 - (m**2 + s**2) / 2
    entropy = sp.log(2 * sp.pi * sp.E * s**2) / 2
    gap = log_px - (e_loglik + e_logprior + entropy)
    claimed = parse(c.formula, {"m": m, "s": s}, where="note", functions=EXTENDED)
    if claims._symbolic_zero(sp.expand_log(gap - claimed, force=True)):
        return Verdict(VERIFIED, "log p(x) - ELBO(q) equals the claimed quantity for every q = N(m, s^2)", "symbolic")
    at = {m: sp.Rational(1, 2), s: 1 / sp.sqrt(2)}
    return Verdict(REFUTED, "at q = p(z|x) the ELBO's gap is 0 while the claimed quantity is not", "symbolic",
                   {"model": "z ~ N(0,1), x|z ~ N(z,1), x = 1", "q": "N(1/2, 1/2) = p(z|x)",
                    "log p(x) - ELBO": str(sp.simplify(gap.subs(at))),
                    "claimed": f"{sp.simplify(claimed.subs(at))} = {sp.N(claimed.subs(at), 6)}"})


_W_COLS = sp.Function("W_cols")


def _matmul_shape(c: NoteClaim) -> Verdict:
    """004 §2.5: h_i = sigma(W_(:, a..b) x_<i + c), the columns a..b of W (H x d) as the parsed
    W_cols(a, b) gives them (1-based, inclusive), times x_<i ((i - 1) x 1): defined for every i = 1..d?"""
    i = sp.Symbol("i", integer=True, positive=True)
    expr = parse(c.formula, {"i": i}, where="note", functions={"W_cols": (_W_COLS, (2,))})
    calls = list(expr.atoms(_W_COLS))
    if len(calls) != 1:
        return Verdict(UNDECIDED, "the formula must name one column range W_cols(a, b)", "")
    H, d = 3, 4
    for k in (*range(2, d + 1), 1):  # i = 1 (no previous variables) last: it reads least well
        a, b = (int(e.subs(i, k)) for e in calls[0].args)
        exists = 1 <= a and b <= d and b >= a - 1  # b = a - 1: no columns (x_<1 is empty too)
        width = b - a + 1
        if not exists or width != k - 1:  # (H x width) times ((k - 1) x 1)
            return Verdict(REFUTED, f"the columns {a}..{b} of W times x_<i do not multiply at i = {k}", "exact shapes",
                           {"H": str(H), "d": str(d), "i": str(k),
                            "W columns": f"{H} x {width}" if exists else f"{a}..{b}: no such columns",
                            "x_<i": f"{k - 1} x 1", "product": "undefined"})
    return Verdict(VERIFIED, f"the product is defined for every i = 1..{d}", "exact shapes")


def _l_adv(w0, w1):
    """The domain classifier's cross-entropy with source features N(0, 1), target N(1, 1), D = sigmoid(w0 + w1 f)."""
    with mpmath.workdps(20):
        a = lambda v: w0 + w1 * v  # noqa: E731
        return (mpmath.quad(lambda v: mpmath.npdf(v, 0, 1) * mpmath.log1p(mpmath.exp(-a(v))), [-mpmath.inf, 0, mpmath.inf])
                + mpmath.quad(lambda v: mpmath.npdf(v, 1, 1) * mpmath.log1p(mpmath.exp(a(v))), [-mpmath.inf, 1, mpmath.inf]))


def _dann_ascent(c: NoteClaim) -> Verdict:
    """002 DANN: the objective the domain classifier w maximises, as the note states it (an expression in
    L_cls, L_adv, lambda_adv), against the min-max of l. 819-821, which needs w at the classifier that
    minimises L_adv. On an exact model (source features N(0, 1), target N(1, 1), D = sigmoid(w0 + w1 f)) the
    best classifier is w* = (1/2, -1); the claimed objective, with L_cls fixed (it does not depend on w) and
    lambda_adv = 1, must be larger at w* than along w = c (-1/2, 1)."""
    s = _sym(c)
    obj = c.parsed()
    values = {"w* = (1/2, -1)": _l_adv(mpmath.mpf(1) / 2, -1)}
    for k in (1, 4):
        values[f"w = {k} (-1/2, 1)"] = _l_adv(-mpmath.mpf(k) / 2, k)
    at = {s[n]: v for n, v in (("L_cls", 0), ("lambda_adv", 1)) if n in s}
    score = {name: sp.N(obj.subs({**at, s["L_adv"]: sp.Float(v, 20)}), 20) for name, v in values.items()}
    best = max(score, key=lambda k: score[k])
    ok = best == "w* = (1/2, -1)"
    return Verdict(VERIFIED if ok else REFUTED, "maximising the objective over w reaches the classifier the min-max "
                   "needs (it minimises L_adv)" if ok else "maximising the claimed objective drives w away from the "
                   "best domain classifier (L_adv grows without bound along w = c (-1/2, 1))",
                   "numeric (20-digit quadrature)",
                   None if ok else {"model": "source N(0,1), target N(1,1), D = sigmoid(w0 + w1 f)",
                                    **{f"L_adv at {k}": mpmath.nstr(v, 10) for k, v in values.items()},
                                    "objective largest at": best})


def _zero_integral(c: NoteClaim) -> Verdict:
    """004 §6.4: from 'integral of g dx = 0' the note concludes the integrand g = q/(1 - D) - p/D is 0. D = 1/2
    everywhere makes the integral of the parsed g equal to 0 (p and q integrate to 1) for p = N(0, 1),
    q = N(1, 1), by quadrature, while g at x = 0 is not 0."""
    s = {n: sp.Symbol(n, positive=True) for n in ("p", "q", "D")}
    g = parse(c.formula, s, where="note", functions=EXTENDED).subs(s["D"], sp.Rational(1, 2))
    fn = sp.lambdify([s["p"], s["q"]], g, "mpmath")
    with mpmath.workdps(30):
        total = mpmath.quad(lambda x: fn(mpmath.npdf(x, 0, 1), mpmath.npdf(x, 1, 1)), [-mpmath.inf, 0.5, mpmath.inf])
        at0 = fn(mpmath.npdf(0, 0, 1), mpmath.npdf(0, 1, 1))
    if abs(total) < mpmath.mpf(10) ** -20 and abs(at0) > mpmath.mpf(10) ** -20:
        return Verdict(REFUTED, "a zero integral does not make the integrand zero: D = 1/2 everywhere is a "
                       "counterexample", "numeric (30-digit quadrature)",
                       {"D(x)": "1/2", "integral": mpmath.nstr(total, 5), "integrand": str(g),
                        "integrand at x = 0, p = N(0,1), q = N(1,1)": mpmath.nstr(at0, 8)})
    return Verdict(UNDECIDED, "D = 1/2 is no counterexample for this integrand", "")


def _sum_approx(c: NoteClaim) -> Verdict:
    d = sp.Symbol("d", positive=True, integer=True)
    i = sp.Symbol("i", positive=True, integer=True)
    exact = sp.summation(i, (i, 1, d))
    ratio = sp.limit(exact / parse(c.formula, {"d": d}, where="note"), d, sp.oo)
    return Verdict(VERIFIED if ratio == 1 else REFUTED, f"1 + ... + d = {sp.factor(exact)}, and its ratio to the "
                   f"claim tends to {ratio}", "symbolic limit",
                   None if ratio == 1 else {"1 + ... + d": str(sp.factor(exact)), "ratio as d -> oo": str(ratio)})


def _log10_approx(c: NoteClaim) -> Verdict:
    value = sp.N(parse(c.formula, {}, where="note", functions=EXTENDED), 20)
    close = abs(value - 236) < sp.Rational(1, 2)
    return Verdict(VERIFIED if close else REFUTED, f"the exponent is {sp.N(value, 8)}; 10^236 rounds it",
                   "exact, evaluated at 20 digits", None if close else {"exponent": str(sp.N(value, 8))})


def _update_direction(c: NoteClaim) -> Verdict:
    """An update rule w <- formula(w, alpha, g, J) (g the gradient of the objective J at w, alpha the step)
    for an objective the note maximises (role max) or minimises (role min). Symbolic first: to first order in
    alpha the objective changes by alpha g d(formula)/d(alpha) at alpha = 0, which must have the role's sign
    for every g and J (and the rule must leave w unchanged at alpha = 0); then steps of 1/100 on the quadratic
    J(w) = -+(w - 1)^2 from w = -2, 0, 3, one of which a wrong rule worsens."""
    s = {n: sp.Symbol(n, real=True) for n in ("w", "alpha", "g", "J")}
    rule = parse(c.formula, s, where="note", functions=EXTENDED)
    sign = 1 if c.args["role"] == "max" else -1
    w = s["w"]
    objective = sign * -(w - 1) ** 2
    for start in (-2, 0, 3):
        at = {w: start, s["g"]: sp.diff(objective, w).subs(w, start), s["J"]: objective.subs(w, start),
              s["alpha"]: sp.Rational(1, 100)}
        new = rule.subs(at)
        before, after = objective.subs(w, start), objective.subs(w, new)
        if sign * (after - before) <= 0:
            return Verdict(REFUTED, f"the step makes the {'maximised' if sign > 0 else 'minimised'} objective "
                           "worse", "exact", {"objective": f"J(w) = {objective} ({c.args['role']}imised)",
                                             "w": str(start), "alpha": "1/100", "w after": str(new),
                                             "J before": str(before), "J after": str(after)})
    first = (sign * s["g"] * sp.diff(rule, s["alpha"])).subs(s["alpha"], 0)
    if claims._symbolic_zero(rule.subs(s["alpha"], 0) - w) and first.is_nonnegative and \
            claims._symbolic_zero(first.subs(s["g"], 0)):
        return Verdict(VERIFIED, f"to first order the step changes the objective by alpha ({first}) "
                       f"{'>=' if sign > 0 else '<='} 0 in the right direction", "symbolic")
    return Verdict(VERIFIED, "the step improves a quadratic objective from three starting points",
                   "exact, on one objective (not a proof for every objective)")


def _sup_real(g: sp.Expr, a: sp.Symbol) -> sp.Expr:
    """sup over real a of g, where g may hold Abs(a): the two half-lines a = +b, a = -b (b > 0) separately,
    each from its stationary points and its limits at 0 and oo."""
    b = sp.Symbol("b", positive=True)
    best = -sp.oo
    for side in (b, -b):
        h = g.subs(a, side)
        ok, crit = attempt("stationary points", sp.solve, sp.diff(h, b), b, seconds=10)
        values = [h.subs(b, r) for r in (crit if ok else []) if r.is_positive]
        values += [sp.limit(h, b, 0, "+"), sp.limit(h, b, sp.oo)]
        for v in values:
            if v == sp.oo:
                return sp.oo
            if best == -sp.oo or (v != -sp.oo and sp.simplify(v - best).is_positive):
                best = v if v != -sp.oo else best
    return best


def _gradient_penalty(c: NoteClaim) -> Verdict:
    """002 WGAN-GP: the critic's objective with the penalty as the note adds it, on an exact model: a linear
    critic f(x) = a x (its gradient norm is |a|) between two laws whose means differ by Delta = 1 (W1 = 1).
    The critic maximises the objective over a; for a Lipschitz penalty the supremum must be finite and tend to
    W1 = 1 as the weight lambda_ grows (symbolic sup over a, then the limit lambda_ -> oo)."""
    a, lam = sp.Symbol("a", real=True), sp.Symbol("lambda_", positive=True)
    obj = parse(c.formula, {"a": a, "Delta": sp.Symbol("Delta", real=True), "lambda_": lam}, where="note",
                functions=EXTENDED).subs(sp.Symbol("Delta", real=True), 1)
    sup = _sup_real(obj, a)
    if sup == sp.oo:
        return Verdict(REFUTED, "the maximised objective is unbounded: steep critics are rewarded, not penalised "
                       "(W1 = 1 here)", "symbolic (sup over the critic's slope)",
                       {"model": "f(x) = a x, E_data x - E_gen x = 1, W1 = 1", "objective": str(obj),
                        "at a = 10, lambda = 1": str(obj.subs({a: 10, lam: 1})), "sup over a": "oo"})
    limit = sp.limit(sup, lam, sp.oo)
    if claims._symbolic_zero(limit - 1):
        return Verdict(VERIFIED, f"sup over a = {sp.simplify(sup)}, finite, and -> W1 = 1 as lambda -> oo",
                       "symbolic (sup over the critic's slope, then a limit)")
    return Verdict(REFUTED, f"sup over a = {sp.simplify(sup)} does not tend to W1 = 1", "symbolic",
                   {"sup over a": str(sup), "limit lambda -> oo": str(limit)})


def _clipping(c: NoteClaim) -> Verdict:
    """002 WGAN: the Lipschitz constant weight clipping at c enforces, as claimed (a formula in c, n0, n1),
    against the largest gradient norm of a clipped two-layer critic f(x) = W2 W1 x (W1: n1 x n0, W2: 1 x n1,
    every entry in [-c, c]): each entry of W2 W1 is at most n1 c^2 in size, and all entries = c attain it,
    so the largest norm is exactly n1 c^2 sqrt(n0). Checked for WGAN's c = 0.01 with 784 inputs and 512 hidden
    units, and two small networks."""
    cc, n0, n1 = sp.Symbol("c", positive=True), sp.Symbol("n0", positive=True), sp.Symbol("n1", positive=True)
    bound = parse(c.formula, {"c": cc, "n0": n0, "n1": n1}, where="note", functions=EXTENDED)
    for cv, k0, k1 in ((sp.Rational(1, 100), 784, 512), (sp.Rational(1, 10), 2, 3), (sp.Rational(1, 2), 3, 2)):
        if k0 * k1 <= 16:  # small: the product of the all-c matrices, exactly
            W1, W2 = sp.Matrix(k1, k0, lambda i, j: cv), sp.Matrix(1, k1, lambda i, j: cv)
            steepest = (W2 * W1).norm()
        else:
            steepest = k1 * cv**2 * sp.sqrt(k0)  # the row W2 W1 = (k1 c^2, ..., k1 c^2), k0 entries
        claimed = bound.subs({cc: cv, n0: k0, n1: k1})
        if sp.N(steepest - claimed, 30) > 1e-25:
            return Verdict(REFUTED, "a clipped critic is steeper than the claimed Lipschitz bound", "exact",
                           {"clip c": str(cv), "layers": f"{k0} -> {k1} -> 1 (linear)", "all weights": str(cv),
                            "gradient norm": f"{steepest} = {sp.N(steepest, 6)}", "claimed bound": str(claimed)})
    return Verdict(VERIFIED, "no clipped critic of the three networks is steeper than the claimed bound",
                   "exact, on three networks (not a proof for every architecture)")


def _domain_gap(c: NoteClaim) -> Verdict:
    """002 DANN: a bound on a classifier's target error eps_T in terms of its source error eps_S, the total
    variation d_TV between the source and target feature laws and lambda_star = min over classifiers of
    eps_S + eps_T. Checked exactly on four models with features t in {-1, 1} (aligned with labels flipped,
    aligned and agreeing, misaligned, noisy) for every classifier h: {-1, 1} -> {0, 1}."""
    from itertools import product

    names = ("eps_S", "d_TV", "lambda_star")
    syms = {n: sp.Symbol(n, real=True) for n in names}
    bound = parse(c.formula, syms, where="note", functions=EXTENDED)
    R = sp.Rational
    # (p_S(t = -1), P_S(y = 1 | t = -1), P_S(y = 1 | t = 1), p_T(t = -1), P_T(y = 1 | -1), P_T(y = 1 | 1))
    models = {"aligned features, labels flipped": (R(1, 2), 0, 1, R(1, 2), 1, 0),
              "aligned features, same labels": (R(1, 2), 0, 1, R(1, 2), 0, 1),
              "misaligned features, same labels": (R(9, 10), 0, 1, R(1, 10), 0, 1),
              "noisy labels": (R(1, 3), R(1, 5), R(4, 5), R(2, 3), R(2, 5), R(7, 10))}

    def error(h, pt, y_neg, y_pos):
        return pt * (y_neg if h[0] == 0 else 1 - y_neg) + (1 - pt) * (y_pos if h[1] == 0 else 1 - y_pos)

    for name, (ps, sn, sp_, pt, tn, tp) in models.items():
        hs = list(product((0, 1), repeat=2))
        d_tv = abs(ps - pt)
        lam = min(error(h, ps, sn, sp_) + error(h, pt, tn, tp) for h in hs)
        for h in hs:
            e_s, e_t = error(h, ps, sn, sp_), error(h, pt, tn, tp)
            allowed = bound.subs({syms["eps_S"]: e_s, syms["d_TV"]: d_tv, syms["lambda_star"]: lam})
            if e_t > allowed:
                return Verdict(REFUTED, "the target error exceeds the claimed bound", "exact",
                               {"model": name, "classifier h(-1), h(1)": str(h), "eps_S": str(e_s),
                                "eps_T": str(e_t), "d_TV": str(d_tv), "lambda_star": str(lam),
                                "claimed bound": str(allowed)})
    return Verdict(VERIFIED, "every classifier of the four models meets the bound",
                   "models (exact arithmetic, 4 models, every classifier; not a proof)")


def _argmin_of(expr: sp.Expr, th: sp.Symbol, lo, hi) -> sp.Expr:
    """The minimiser of a smooth expr over [lo, hi]: the smallest value at the ends and stationary points."""
    ok, crit = attempt("stationary points", sp.solve, sp.diff(expr, th), th, seconds=10)
    cands = [sp.Integer(lo), sp.Integer(hi)] + [r for r in (crit if ok else []) if r.is_real and lo <= r <= hi]
    return min(cands, key=lambda r: sp.N(expr.subs(th, r), 30))


def _saddle(c: NoteClaim) -> Verdict:
    """002 VDM: what the outer arg min over theta minimises, as an expression in the inner problem's
    maximiser w_star and its value J_star. Exact model J(theta, w) = -(w - theta)^2 + (theta - 1)^2 on
    theta in [-2, 2]: w_star(theta) = theta, J_star(theta) = (theta - 1)^2, and the saddle point has
    theta = 1."""
    th = sp.Symbol("theta", real=True)
    syms = {"w_star": sp.Symbol("w_star", real=True), "J_star": sp.Symbol("J_star", real=True)}
    outer = parse(c.formula, syms, where="note", functions=EXTENDED)
    w_star, j_star = th, (th - 1) ** 2
    chosen = _argmin_of(outer.subs({syms["w_star"]: w_star, syms["J_star"]: j_star}), th, -2, 2)
    saddle = _argmin_of(j_star, th, -2, 2)
    if chosen == saddle:
        return Verdict(VERIFIED, f"the outer problem picks theta = {chosen}, the saddle point", "symbolic")
    return Verdict(REFUTED, "the outer problem picks another theta than the saddle point", "symbolic",
                   {"model": "J(theta, w) = -(w - theta)^2 + (theta - 1)^2, theta in [-2, 2]",
                    "argmax_w J": "w = theta", "max_w J": "(theta - 1)^2", "theta chosen": str(chosen),
                    "saddle point theta": str(saddle)})


def _generated_input(c: NoteClaim) -> Verdict:
    """003 VDM objective: the second expectation is over x ~ p_theta, and the critic is evaluated at the
    parsed h(x, theta). Exact model: z ~ N(0, 1), g_theta(z) = z + theta (so p_theta = N(theta, 1)), data
    p_X = N(1, 1), KL's f*(t) = e^(t - 1). Against its best critic the objective is KL(p_X || law of h(x))
    (the variational representation, equality at T* = f'(ratio)); minimised over theta it must give
    p_theta = p_X, theta = 1."""
    x, th = sp.Symbol("x", real=True), sp.Symbol("theta", real=True)
    h = parse(c.formula, {"x": x, "theta": th}, where="note", functions=EXTENDED)
    slope = sp.diff(h, x)
    if slope.has(x) or slope == 0:
        return Verdict(UNDECIDED, "the model handles maps affine in x", "")
    mean, sd = sp.expand(h.subs(x, th)), sp.Abs(slope)  # h(x) ~ N(h(theta), slope^2) for x ~ N(theta, 1)
    kl = sp.log(sd) + (1 + (1 - mean) ** 2) / (2 * sd**2) - sp.Rational(1, 2)
    chosen = _argmin_of(kl, th, -3, 3)
    if claims._symbolic_zero(chosen - 1):
        return Verdict(VERIFIED, "the objective's minimiser is theta = 1 (p_theta = p_X)", "symbolic")
    return Verdict(REFUTED, "the objective trains the generator towards the wrong law", "symbolic",
                   {"model": "g_theta(z) = z + theta, z ~ N(0,1), p_X = N(1,1), KL", "critic's input": str(h),
                    "law of the critic's input": f"N({mean}, {sp.simplify(sd**2)})",
                    "objective at the best critic": str(sp.simplify(kl)), "minimiser": f"theta = {chosen}",
                    "right minimiser": "theta = 1 (p_theta = p_X)"})


def _limit_claim(c: NoteClaim) -> Verdict:
    """A claimed limit: the parsed formula as args['var'] -> args['point'] (one-sided '+' or '-' if given)
    tends to args['value'], for each assignment of the other symbols in args['cases'] (so a sign that
    depends on them is found)."""
    a = c.args
    syms = {n: sp.Symbol(n, real=True) for n in a["symbols"]}
    expr = c.parsed().xreplace({v: syms[str(v)] for v in c.parsed().free_symbols if str(v) in syms})
    var = syms[a["var"]]
    target = parse(a["value"], {}, where="value", functions=EXTENDED)
    for case in a.get("cases", [{}]):
        at = {syms[k]: v for k, v in case.items()}
        ok, got = attempt("a limit", sp.limit, expr.subs(at), var, a["point"], a.get("dir", "+-"), seconds=20)
        if not ok:
            return Verdict(UNDECIDED, str(got), "")
        if not (got == target or (got.is_finite and target.is_finite and claims._symbolic_zero(got - target))):
            return Verdict(REFUTED, f"the limit is {got}, not {target}", "symbolic limit",
                           {**{str(k): str(v) for k, v in at.items()}, "expression": str(expr.subs(at)),
                            f"limit {a['var']} -> {a['point']}": str(got), "claimed": str(target)})
    return Verdict(VERIFIED, f"the limit is {target}" + (f" in all {len(a['cases'])} cases" if a.get("cases") else ""),
                   "symbolic limit")


def _count_states(c: NoteClaim) -> Verdict:
    """The number of free parameters of a joint distribution over variables with the given numbers of values:
    the number of joint states (their product) minus one (the probabilities sum to 1), for n = 1..6 binary
    variables or the given sizes, against the parsed formula."""
    n = sp.Symbol("n", positive=True, integer=True)
    formula = parse(c.formula, {"n": n}, where="note")
    from math import prod

    cases = c.args.get("cases") or [{"sizes": [2] * k, "n": k} for k in range(1, 7)]
    for case in cases:
        states = prod(case["sizes"])
        claimed = formula.subs(n, case.get("n", len(case["sizes"])))
        if claimed != states - 1:
            return Verdict(REFUTED, "the count is the number of joint states minus one", "exact",
                           {"value counts": str(case["sizes"]), "states": str(states), "free parameters":
                            str(states - 1), "claimed": str(claimed)})
    return Verdict(VERIFIED, "the number of joint states minus one", "exact")


def _naive_bayes(c: NoteClaim) -> Verdict:
    """004 §1.2: the posterior P(Y = 1 | x1, x2) from the naive-Bayes joint p(y) p(x1|y) p(x2|y) (Bayes' rule:
    the joint over its sum over y), symbolically in the parameters P1 = P(Y = 1), a_i = p(x_i | Y = 1),
    b_i = p(x_i | Y = 0), against the parsed formula."""
    s = {n: sp.Symbol(n, positive=True) for n in ("P1", "a1", "a2", "b1", "b2")}
    claimed = parse(c.formula, s, where="note")
    joint = {1: s["P1"] * s["a1"] * s["a2"], 0: (1 - s["P1"]) * s["b1"] * s["b2"]}
    true = joint[1] / (joint[0] + joint[1])
    if claims._symbolic_zero(claimed - true):
        return Verdict(VERIFIED, "Bayes' rule on the naive-Bayes joint", "symbolic")
    at = {s["P1"]: sp.Rational(1, 3), s["a1"]: sp.Rational(1, 2), s["a2"]: sp.Rational(1, 4),
          s["b1"]: sp.Rational(1, 5), s["b2"]: sp.Rational(2, 3)}
    return Verdict(REFUTED, "not the posterior of the naive-Bayes joint", "exact",
                   {**{str(k): str(v) for k, v in at.items()}, "claimed": str(claimed.subs(at)),
                    "posterior": str(true.subs(at))})


def _bayes_rule(c: NoteClaim) -> Verdict:
    """004 §1.2: p(x|y) from the parsed formula in pyx = p(y|x), px = p(x), py = p(y), against the conditional
    computed from an exact joint table (2 values of y, 3 of x, unequal rational probabilities)."""
    s = {n: sp.Symbol(n, positive=True) for n in ("pyx", "px", "py")}
    claimed = parse(c.formula, s, where="note")
    R = sp.Rational
    joint = {(0, 0): R(1, 10), (1, 0): R(2, 10), (2, 0): R(1, 20), (0, 1): R(3, 20), (1, 1): R(1, 4), (2, 1): R(1, 4)}
    for (x, y), pxy in joint.items():
        px = sum(v for (a, _), v in joint.items() if a == x)
        py = sum(v for (_, b), v in joint.items() if b == y)
        value = claimed.subs({s["pyx"]: pxy / px, s["px"]: px, s["py"]: py})
        if value != pxy / py:
            return Verdict(REFUTED, "not the conditional of the joint table", "exact",
                           {"x": str(x), "y": str(y), "p(x, y)": str(pxy), "p(x|y)": str(pxy / py),
                            "claimed": str(value)})
    return Verdict(VERIFIED, "equals p(x|y) = p(x, y)/p(y) for every cell of an exact joint table",
                   "exact, on one joint table (not a proof)")


def _softmax(c: NoteClaim) -> Verdict:
    """004 §2.5: the parsed k-th softmax component (in a_k and a1, a2, a3, K = 3) gives K numbers that are
    positive and sum to 1, symbolically."""
    s = {n: sp.Symbol(n, real=True) for n in ("a_k", "a1", "a2", "a3")}
    comp = parse(c.formula, s, where="note", functions=EXTENDED)
    parts = [comp.subs(s["a_k"], s[f"a{k}"]) for k in (1, 2, 3)]
    total = sp.Add(*parts)
    if claims._symbolic_zero(total - 1) and all(p.is_positive for p in parts):
        return Verdict(VERIFIED, "the three components are positive and sum to 1", "symbolic")
    at = {s["a1"]: 1, s["a2"]: 2, s["a3"]: -1}
    return Verdict(REFUTED, "the components are not probabilities", "exact",
                   {"a": "(1, 2, -1)", "components": str([sp.N(p.subs(at), 6) for p in parts]),
                    "sum": str(sp.N(total.subs(at), 8))})


def _gradient_reversal(c: NoteClaim) -> Verdict:
    """002 DANN: the feature extractor descends L_cls - lambda_adv L_adv (line 828); with the gradient reversal
    layer its gradient is grad L_cls + m grad L_adv for the parsed multiplier m. The two must agree for every
    L_cls, L_adv (as functions of phi)."""
    phi, lam = sp.Symbol("phi", real=True), sp.Symbol("lambda_adv", positive=True)
    m = parse(c.formula, {"lambda_adv": lam}, where="note", functions=EXTENDED)
    cls, adv = sp.Function("L_cls")(phi), sp.Function("L_adv")(phi)
    wanted = sp.diff(cls - lam * adv, phi)
    got = sp.diff(cls, phi) + m * sp.diff(adv, phi)
    if claims._symbolic_zero(sp.expand(wanted - got)):
        return Verdict(VERIFIED, "grad L_cls + m grad L_adv = grad (L_cls - lambda_adv L_adv)", "symbolic")
    return Verdict(REFUTED, "the reversed gradient is not the gradient of the objective the features descend",
                   "symbolic", {"wanted": str(wanted), "with the layer": str(got)})


def _update(file: str, section: str, line: int, quote: str, formula: str, role: str, expected: str = VERIFIED,
            correction: str = "", fix: str | None = None) -> NoteClaim:
    """A parameter update w <- w +- alpha (...) for an objective the note maximises or minimises."""
    return NoteClaim(file, section, line, quote, formula, "custom", {"role": role}, expected, correction,
                     _update_direction, f"the {'maximised' if role == 'max' else 'minimised'} objective, to first "
                     "order in the step alpha (w: parameters, g: the gradient, J: the objective's value)", fix=fix)


def _table(line: int, quote: str, formula: str, reference: str, expected: str, f_text: str, correction: str = "",
           fix: str | None = None, assume: str = "p>0,q>0") -> NoteClaim:
    """A row of the f-divergence table of 004 §6.18: the row's D_f(P||Q) against the integral of q f(p/q)."""
    return NoteClaim("004", "6.18 f-divergence table", line, quote, formula, "integral",
                     {"reference": reference, "assume": assume}, expected, correction,
                     against=f"the integral of q f(p/q) for the row's f = {f_text}", fix=fix)


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
              "f(u) = sup_t {t u - f*(t)} (biconjugation; the sign of t u is +)", _biconjugate,
              "sup over t of the bracket for KL (f*(t) = e^(t-1)), against f(u) = u log u", fix="t*u - exp(t - 1)"),
    NoteClaim("000", "Generative Adversarial Networks", 318, r"$\text{wlog } u = (u+1)\log(u/(u+1))$",
              "(u+1)*log(u/(u+1))", "generator", {"name": "gan"}, REFUTED,
              "f(u) = u log u - (u+1) log(u+1) (as the note says at line 345); (u+1) log(u/(u+1)) is concave "
              "(f'' = -1/(u^2 (u+1)) < 0) and differs from it by log u", fix="u*log(u) - (u+1)*log(u+1)"),
    NoteClaim("000", "Generative Adversarial Networks", 321, r"f^*(t) = -\log(1-e^t)", "-log(1-exp(t))",
              "conjugate", {"name": "gan"}, VERIFIED),
    NoteClaim("000", "Generative Adversarial Networks", 321, r"\text{dom } f^* = \bar{\mathbb{R}}", "(-oo, oo)",
              "domain", {"name": "gan"}, REFUTED, "dom f* = (-oo, 0)", fix="(-oo, 0)"),
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
              against="-f*(sigma_f(V)) = log(1 - exp(sigma_f(V))) with the note's f* (line 321) and sigma_f (line 339)",
              fix="log(1 - 1/(1+exp(-v)))"),
    NoteClaim("000", "Generative Adversarial Networks", 341,
              r"E_{P_\theta} \log\left(1 - \frac{1}{1+e^{-V_\omega(x)}}\right)", "log(1 - 1/(1+exp(-v)))",
              "identity", {"reference": _GAN_STAR}, VERIFIED,
              against="-f*(sigma_f(V)) = log(1 - exp(sigma_f(V))) with the note's f* (line 321)"),
    NoteClaim("000", "GAN ARCHITECTURE (heading)", 345, r"u \log u - (u+1) \log(u+1)", "u*log(u) - (u+1)*log(u+1)",
              "generator", {"name": "gan"}, VERIFIED),
    _update("000", "IMPLEMENTATION OF GAN IN PRACTICE", 365, r"\omega^{t+1} \leftarrow \omega^t + \alpha_1 \nabla J_{GAN}",
            "w + alpha*g", "max"),
    _update("000", "IMPLEMENTATION OF GAN IN PRACTICE", 378, r"\theta^{t+1} \leftarrow \theta^t - \alpha_2 \nabla J_{GAN}",
            "w - alpha*g", "min"),
    NoteClaim("000", "TO TRAIN THE DISCRIMINATOR", 397,
              r"\frac{P_x(x)}{D(x)} + \frac{P_\theta(x) (-1)}{1-D(x)}", "p/D + q*(-1)/(1-D)", "custom",
              {"role": "derivative"}, VERIFIED, check=_stationary,
              against="d/dD of p log D + q log(1 - D) (line 394)"),
    NoteClaim("000", "TO TRAIN THE DISCRIMINATOR", 401, r"$$D(x)=\sqrt{2}$$", "sqrt(2)", "custom",
              {"p_equals_q": True}, REFUTED, "2 D(x) = 1 gives D*(x) = 1/2", _stationary,
              "the stationary point of p log D + q log(1 - D) in the note's case p = q (1 - D(x) = D(x), line 399)",
              fix="1/2"),
    _update("000", "TO TRAIN THE GENERATOR", 415, r"\theta^{t+1} \leftarrow \theta^t - \alpha_2 \nabla_{\theta} \bar{J}_{GAN}",
            "w - alpha*g", "min"),
    NoteClaim("000", "Vanilla GAN", 456, r"\underset{P_\theta}{\mathbb{E}} \left[-\log D_\omega(\hat{x}) \right]",
              "-log(D)", "identity", {"reference": "log(1-D)", "assume": "D>0,D<1"}, REFUTED,
              "E_{P_theta}[log(1 - D(x^))], as in the next line of the note",
              against="the saddle objective's term log(1 - D) (line 463)", fix="log(1-D)"),
    _update("000", "Vanilla GAN", 477, r"\omega^{t+1} \leftarrow \omega^t + \alpha_1 \nabla_\omega J(\theta, \omega)",
            "w + alpha*g", "max"),
    _update("000", "Vanilla GAN", 509, r"\theta^{t+1} \leftarrow \theta^t - \alpha_2 \nabla_{\theta} J(\theta, w)",
            "w - alpha*g", "min"),
    # ------------------------------------------------------------------------------------------------ 001
    NoteClaim("001", "f-Divergence for GANs", 132, r"f(u) = u \log u - (u + 1) \log(u + 1)",
              "u*log(u) - (u+1)*log(u+1)", "generator", {"name": "gan"}, VERIFIED),
    NoteClaim("001", "Conjugate Function and Activation", 140, r"f^*(t) = -\log(1 - \exp(t))", "-log(1-exp(t))",
              "conjugate", {"name": "gan"}, VERIFIED),
    NoteClaim("001", "Conjugate Function and Activation", 140, r"\text{dom } f^* = \mathbb{R}", "(-oo, oo)",
              "domain", {"name": "gan"}, REFUTED, "dom f* = (-oo, 0)", fix="(-oo, 0)"),
    NoteClaim("001", "Conjugate Function and Activation", 144, r"\sigma_f(v) = -\log(1 + e^{-v})",
              "-log(1+exp(-v))", "activation", {"name": "gan"}, VERIFIED),
    _update("001", "Discriminator Update Step", 222, r"w^{t+1} \leftarrow w^t + \alpha_1 \nabla_w J_{GAN}(\theta, w)",
            "w + alpha*g", "max"),
    _update("001", "Generator Update Step", 240,
            r"\theta^{t+1} \leftarrow \theta^t - \alpha_2 \nabla_{\theta} J_{GAN}(\theta, w)", "w - alpha*g", "min"),
    NoteClaim("001", "Generator Update Step", 244,
              r"J_{GAN} = -\frac{1}{B_2} \sum_{j=1}^{B_2} \log(1 - D_w(g_\theta(z_j)))", "-log(1-D)", "identity",
              {"reference": "log(1-D)", "assume": "D>0,D<1"}, REFUTED,
              "the generator minimises +(1/B2) sum log(1 - D(g(z_j))) (the saddle objective's second term); "
              "minimising the negated term would push D(g(z)) to 0",
              against="the per-sample term log(1 - D) of J_GAN (line 192), which the generator minimises",
              fix="log(1-D)"),
    _update("001", "Training the Discriminator", 270, r"w^{t+1} \leftarrow w^t + \alpha_1 \nabla_w J_{GAN}",
            "w + alpha*g", "max"),
    NoteClaim("001", "Training the Generator", 285,
              r"J_{GAN} = -\frac{1}{B_2} \sum_{j=1}^{B_2} \log(1 - D_w(g_\theta(z_j)))", "-log(1-D)", "identity",
              {"reference": "log(1-D)", "assume": "D>0,D<1"}, REFUTED,
              "as at line 244: the generator loss is +(1/B2) sum log(1 - D(g(z_j)))",
              against="the per-sample term log(1 - D) of J_GAN (line 192), which the generator minimises",
              fix="log(1-D)"),
    _update("001", "Training the Generator", 289,
            r"\theta^{t+1} \leftarrow \theta^t - \alpha_2 \nabla_\theta J_{GAN}(\theta, w)", "w - alpha*g", "min"),
    _update("001", "Training Algorithm Summary", 300, r"$w^{t+1} \leftarrow w^t + \alpha_1 J_D$", "w + alpha*J",
            "max", REFUTED, "w <- w + alpha_1 grad_w J_D: the update uses the gradient, not the loss value",
            fix="w + alpha*g"),
    _update("001", "Training Algorithm Summary", 304, r"$\theta^{t+1} \leftarrow \theta^t - \alpha_2 J_G$",
            "w - alpha*J", "min", REFUTED,
            "theta <- theta - alpha_2 grad_theta J_G: the update uses the gradient, not the loss value",
            fix="w - alpha*g"),
    # ------------------------------------------------------------------------------------------------ 002
    NoteClaim("002", "7. Special Case: GANs (repeated at the top)", 13, r"f^*(t)=-\log\bigl(1-e^t\bigr),\; t<0,",
              "-log(1-exp(t))", "conjugate", {"name": "jensen-shannon"}, REFUTED,
              "f*(t) = -log(2 - e^t) on t < log 2 for f = u ln u - (u+1) ln((u+1)/2) (line 11)",
              fix="-log(2-exp(t))"),
    NoteClaim("002", "2. f-Divergences and Their Variational Forms", 101, r"f(u)=u\ln u", "u*log(u)", "generator",
              {"name": "kl"}, VERIFIED),
    NoteClaim("002", "2. f-Divergences and Their Variational Forms", 103, r"= \int p(x)\ln\frac{p(x)}{q(x)}\,dx.",
              "integral(p*log(p/q))", "integral", {"reference": "integral(q*(p/q)*log(p/q))", "assume": _PQ},
              VERIFIED, against="the integral of q f(p/q) for f = u ln u (line 101)"),
    NoteClaim("002", "2. f-Divergences and Their Variational Forms", 109,
              r"= \tfrac{1}{2}D_{\mathrm{KL}}\Bigl(p\Big\|\tfrac{p+q}{2}\Bigr)",
              "integral(p*log(p/((p+q)/2))/2 + q*log(q/((p+q)/2))/2)", "integral",
              {"reference": "integral(q*((p/q)*log(p/q) - (p/q+1)*log((p/q+1)/2))/2)", "assume": _PQ}, VERIFIED,
              against="the integral of q f(p/q) for fdiv's jsd row f = (u log u - (u+1) log((u+1)/2))/2"),
    NoteClaim("002", "3. The GAN Minimax Formulation", 148,
              r"$$D_\phi^*(x)=\frac{p_X(x)}{p_X(x)+p_\theta(x)},$$", "p/(p+q)", "custom", {}, VERIFIED,
              check=_stationary, against="the maximiser of p log D + q log(1 - D) over D in (0, 1)"),
    NoteClaim("002", "3. The GAN Minimax Formulation", 153, r"= 2\,D_{\mathrm{JS}}\bigl(p_X\| p_\theta\bigr) - 2\ln2.",
              "2*D_JS - 2*log(2)", "custom", {"symbols": ("D_JS",)}, REFUTED,
              "max_phi V(theta, phi) = 2 D_JS(p_X||p_theta) - 2 ln 2 for each theta; min_theta max_phi V = -2 ln 2, "
              "attained at p_theta = p_X", _minmax_value,
              "min over theta of max_phi V for p_X = N(0, 1), p_theta = N(theta, 1)", fix="-2*log(2)"),
    NoteClaim("002", "WGAN (repeated at the top)", 63,
              "and enforces a 1-Lipschitz discriminator via weight clipping or gradient penalty (WGAN-GP).", "1",
              "custom", {}, REFUTED,
              "clipping every weight to [-c, c] bounds the Lipschitz constant by a K that grows with c and the "
              "widths (n1 c^2 sqrt(n0) for a two-layer linear critic), not by 1; the critic then estimates K W1, "
              "which is why clipping works up to scale. A gradient penalty is a soft constraint: the best linear "
              "critic of the penalised objective has slope 1 + Delta/(2 lambda) > 1 (the corrected objective of "
              "line 563)",
              _clipping, "the steepest two-layer critic whose weights are clipped to [-c, c]",
              fix="n1*sqrt(n0)*c**2"),
    NoteClaim("002", "2. Definition of f-Divergences", 252, r"$f(u)=u\log u$", "u*log(u)", "generator",
              {"name": "kl"}, VERIFIED),
    NoteClaim("002", "2. Definition of f-Divergences", 253, r"$f(u)=(u-1)^2$", "(u-1)**2", "generator",
              {"name": "pearson"}, VERIFIED),
    NoteClaim("002", "2. Definition of f-Divergences", 254, r"$f(u)=u\ln u - (u+1)\ln\tfrac{u+1}{2}$",
              "u*log(u) - (u+1)*log((u+1)/2)", "generator", {"name": "jsd"}, REFUTED,
              "that f gives 2 D_JS (D_JS as defined in §2, line 108); D_JS itself has f = 1/2 (u ln u - (u+1) "
              "ln((u+1)/2))", fix="1/2*(u*log(u) - (u+1)*log((u+1)/2))"),
    NoteClaim("002", "5. Variational Divergence Minimization (VDM) Objective", 299,
              r"= \arg\min_{\theta}\,\arg\max_{w}\;\mathcal{J}(\theta,w).", "w_star", "custom",
              {"symbols": ("w_star", "J_star")}, REFUTED,
              "(theta*, w*) = arg min_theta max_w J(theta, w): the generator minimises the critic's best value "
              "max_w J, not the maximiser arg max_w J (a parameter vector); w* = arg max_w J(theta*, w)", _saddle,
              "the saddle point of an exact model, where arg max_w J and max_w J differ", fix="J_star"),
    _update("002", "6. Implementation Details", 311, r"w &\gets w + \eta_w\,\nabla_w\,\mathcal{J}(\theta,w)",
            "w + alpha*g", "max"),
    _update("002", "6. Implementation Details", 312, r"\theta &\gets \theta - \eta_\theta\,\nabla_\theta\,\mathcal{J}(\theta,w)",
            "w - alpha*g", "min"),
    NoteClaim("002", "7. Special Case: GANs", 321, r"f^*(t)=-\log\bigl(1-e^t\bigr),\; t<0,", "-log(1-exp(t))",
              "conjugate", {"name": "jensen-shannon"}, REFUTED,
              "f*(t) = -log(2 - e^t) on t < log 2; -log(1 - e^t) belongs to the GAN f = u log u - (u+1) log(u+1)",
              fix="-log(2-exp(t))"),
    NoteClaim("002", "7. Special Case: GANs", 321, r"f^*(t)=-\log\bigl(1-e^t\bigr),\; t<0,", "(-oo, 0)",
              "domain", {"name": "jensen-shannon"}, REFUTED, "dom f* = (-oo, log 2)", fix="(-oo, log(2))"),
    NoteClaim("002", "7. Special Case: GANs", 323, r"\sigma_f(v)=-\log\bigl(1+e^{-v}\bigr).", "-log(1+exp(-v))",
              "activation", {"name": "jensen-shannon"}, VERIFIED,
              "(maps R into the critic range (-oo, log 2), though not onto it: log 2 - log(1 + e^-v) is onto)"),
    NoteClaim("002", "7. Special Case: GANs", 329,
              r"+ \mathbb E_{z\sim p_z}[\log\bigl(1-D_w(g_\theta(z))\bigr)].", "log(1 - 1/(1+exp(-v)))", "identity",
              {"reference": "log(2 - exp(-log(1+exp(-v))))"}, REFUTED,
              "with the Jensen-Shannon f of line 319 the second term is -f*(sigma_f(V)) = log(2 - D) (f*(t) = "
              "-log(2 - e^t)), so the game is E log D + E log(2 - D); the classical game E log D + E log(1 - D) "
              "comes from the GAN f = u log u - (u+1) log(u+1), whose conjugate line 321 quotes",
              against="-f*(sigma_f(V)) for the f of line 319, f*(t) = -log(2 - e^t), and sigma_f(v) = -log(1 + e^-v)",
              fix="log(2 - 1/(1+exp(-v)))"),
    _update("002", "Training Algorithm (DDPM chapter)", 423,
            r"\omega \leftarrow \omega + \alpha_1\,\nabla_{\omega}\,\widehat{J}_D(\omega).", "w + alpha*g", "max"),
    _update("002", "Training Algorithm (DDPM chapter)", 436,
            r"\theta \leftarrow \theta - \alpha_2\,\nabla_{\theta}\,\widehat{J}_G(\theta).", "w - alpha*g", "min"),
    NoteClaim("002", "Deep Convolutional GAN (DCGAN) Architecture", 503,
              r"\xrightarrow{\text{ConvTranspose}(256,4,2)} 8\times8\times256", "(4 - 1)*2 - 2*0 + 4", "identity",
              {"reference": "8"}, REFUTED,
              "a transpose convolution with kernel 4 and stride 2 maps side 4 to (4 - 1) 2 - 2 p + 4 = 10 - 2 p: "
              "doubling needs padding p = 1, ConvTranspose(256, 4, 2, 1); with no padding (the default) it is 10",
              against="the side 8 of 8 x 8 x 256, for the output side (n - 1) s - 2 p + k with n = 4, s = 2, k = 4, "
                      "p = 0", fix="(4 - 1)*2 - 2*1 + 4"),
    NoteClaim("002", "Wasserstein GAN (WGAN) and Optimal Transport", 563,
              r"**Gradient penalty** (Gulrajani et al., 2017): add", "a*Delta + lambda_*(Abs(a) - 1)**2", "custom",
              {}, REFUTED,
              "the critic maximises E_data f - E_gen f - lambda E (|grad f| - 1)^2 (equivalently it minimises "
              "E_gen f - E_data f + lambda E (|grad f| - 1)^2, Gulrajani et al.'s loss), with x^ drawn on segments "
              "between real and generated samples; added to the objective the critic maximises (lines 569-573), "
              "the penalty rewards steep critics and the maximum is +oo", _gradient_penalty,
              "the objective the critic maximises (lines 569-573) with the penalty added, for a linear critic f(x) = "
              "a x between two laws whose means differ by Delta = 1", fix="a*Delta - lambda_*(Abs(a) - 1)**2"),
    NoteClaim("002", "Domain-Adversarial Neural Networks (DANN)", 827,
              r"ascend in \(w\) to maximize \(L_{\rm adv}\)", "L_adv", "custom",
              {"symbols": ("L_cls", "lambda_adv", "L_adv")}, REFUTED,
              "descend in w to minimise L_adv (the domain classifier's cross-entropy), i.e. ascend L_cls - lambda "
              "L_adv, as the min-max of line 819 says", _dann_ascent,
              "the classifier the min-max of lines 819-821 needs (the one minimising L_adv), on an exact model",
              fix="L_cls - lambda_adv*L_adv"),
    NoteClaim("002", "Domain-Adversarial Neural Networks (DANN)", 829,
              r"multiplying the back‐propagated domain‐loss gradient by \(-\lambda_{\rm adv}\)", "-lambda_adv",
              "custom", {"symbols": ("lambda_adv",)}, VERIFIED, check=_gradient_reversal,
              against="the gradient of L_cls - lambda_adv L_adv, which the features descend (line 828)"),
    NoteClaim("002", "Domain-Adversarial Neural Networks (DANN), Inference on Target", 837,
              r"Since adversarial training aligns \(p_S(\Phi(x))\approx p_T(\Phi(x))\), the classifier generalizes "
              r"across domains.", "eps_S", "custom", {"symbols": ("eps_S", "d_TV", "lambda_star")}, REFUTED,
              "aligned feature laws do not make the target error small: eps_T(h) <= eps_S(h) + d_TV(p_S, p_T) + "
              "lambda* (Ben-David et al.), and lambda*, the best joint error, is 1 when the labels flip between "
              "the domains; DANN needs the labelling functions to agree as well", _domain_gap,
              "a classifier's target error on exact models, against the claimed bound (eps_S: its source error)",
              fix="eps_S + d_TV + lambda_star"),
    NoteClaim("002", "Fréchet Inception Distance", 874,
              "Under the closed-form for the 2-Wasserstein distance between Gaussians,",
              "(m1-m2)**2 + s1**2 + s2**2 - 2*sqrt(s1*s2**2*s1)", "identity",
              {"reference": "sqrt((m1-m2)**2 + (s1-s2)**2)", "assume": "s1>0,s2>0"}, REFUTED,
              "FID = W2^2, the squared 2-Wasserstein distance (proof 'FID = W2^2 between Gaussians')",
              against="W2 between N(m1, s1^2) and N(m2, s2^2) (the quantile coupling), for the FID of lines 877-880 "
                      "in one dimension", fix="sqrt((m1-m2)**2 + s1**2 + s2**2 - 2*sqrt(s1*s2**2*s1))"),
    NoteClaim("002", "Fréchet Inception Distance", 878, r"= \|\mu_{\rm real}-\mu_{\rm gen}\|_2^2",
              "(m1-m2)**2 + s1**2 + s2**2 - 2*sqrt(s1*s2**2*s1)", "identity",
              {"reference": "(m1-m2)**2 + (s1-s2)**2", "assume": "s1>0,s2>0"}, VERIFIED,
              against="W2^2 between N(m1, s1^2) and N(m2, s2^2) (the FID of lines 877-880 in one dimension)"),
    # ------------------------------------------------------------------------------------------------ 003
    NoteClaim("003", "Properties of f-Divergence", 96, r"$D_f(p_X||p_\theta) = 0 \Leftrightarrow p_X = p_\theta$",
              "convex, f(1) = 0", "custom", {"parse": "hypotheses"}, REFUTED,
              "only for f strictly convex at u = 1; f(u) = c (u - 1) gives D_f = 0 for every pair", _zero_iff_equal,
              "D_f for convex candidates f meeting the hypotheses of lines 89-91, on two pairs P != Q",
              fix="convex, f(1) = 0, strictly convex at 1"),
    NoteClaim("003", "Examples a)", 106, r"$f(u) = u \log u$, then it becomes KL-divergence", "u*log(u)",
              "generator", {"name": "kl"}, VERIFIED),
    NoteClaim("003", "Examples 2)", 114, r"$f(u) = \frac{1}{2} (u \log u (u+1) \log(1+u))$",
              "1/2*(u*log(u)*(u+1)*log(1+u))", "generator", {"name": "jsd"}, REFUTED,
              "f(u) = 1/2 (u log u - (u+1) log((u+1)/2))", fix="1/2*(u*log(u) - (u+1)*log((u+1)/2))"),
    NoteClaim("003", "Examples 3)", 115, r"$f(u) = \frac{1}{2}|u-1|$: Total Variation Distance", "1/2*Abs(u-1)",
              "generator", {"name": "total-variation"}, VERIFIED),
    NoteClaim("003", "Explanation", 172, r"$\sup_t g(x,t)$ has a definite value T(x) that achieves the maximum",
              "u*t - exp(t - 1)", "custom", {"symbols": ("u", "t")}, REFUTED,
              "the supremum need not be attained (for KL where p_X(x) = 0 it is approached as t -> -oo); the bound "
              "needs only sup_T of the integral <= the integral of sup_t", _sup_attained,
              "g(x, t) = u t - f*(t) for KL (f*(t) = e^(t-1)), u = p_X/p_theta = 0, 1/2, 1, 2"),
    NoteClaim("003", "Implementing VDM for Generative Modelling", 211,
              r"\mathcal{J}(\theta,\omega) = \mathbb{E}_{p_X}[T_{\omega}(x)] - \mathbb{E}_{p_{\theta}}[f^*(T_{\omega}(g_{\theta}(z)))]",
              "x + theta", "custom", {}, REFUTED,
              "J = E_{x ~ p_X}[T(x)] - E_{x ~ p_theta}[f*(T(x))] = E_{p_X}[T(x)] - E_{z ~ p_z}[f*(T(g_theta(z)))]: "
              "under E_{p_theta} the draw is already g_theta(z); applying g_theta to it again (the integrand as "
              "written, with x ~ p_theta in the place of z) trains the generator towards the wrong law",
              _generated_input,
              "the objective at its best critic on an exact model, where the critic sees g_theta applied to the "
              "p_theta draw x (the formula is the critic's input)", fix="x"),
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
    NoteClaim("003", "Generative Adversarial Networks", 245,
              r"\mathbb{E}_{p_{\theta}}[\log(1 - D_{\omega}(g_{\theta}(z)))]", "x + theta", "custom", {}, REFUTED,
              "E_{x ~ p_theta}[log(1 - D(x))] = E_{z ~ p_z}[log(1 - D(g_theta(z)))] (as at line 211)",
              _generated_input,
              "the objective at its best critic on an exact model (KL stands in for the GAN f: the defect is the "
              "critic's input, whatever f), the critic seeing g_theta applied to the p_theta draw x", fix="x"),
    _update("003", "Implementation of GAN in Practice", 262,
            r"\theta^{t+1} = \theta^t - \alpha_\theta \nabla_\theta \mathcal{J}_{GAN}(\theta, \omega)", "w - alpha*g",
            "min"),
    _update("003", "To Train the Generator Network", 315,
            r"\theta^{t+1} = \theta^t - \alpha_2 \nabla_{\theta} \mathcal{J}_{GAN}(\theta, \omega)", "w - alpha*g",
            "min"),
    NoteClaim("003", "To Train the Generator Network", 320,
              r"The loss is minimized when $D_{\omega}(g_{\theta}(z)) \to 1$", "log(1 - D)", "custom",
              {"symbols": ("D",), "var": "D", "point": 1, "dir": "-", "value": "-oo"}, VERIFIED, check=_limit_claim,
              against="the generator loss log(1 - D) as D -> 1 (it has no minimum: it decreases without bound)"),
    # ------------------------------------------------------------------------------------------------ 004
    NoteClaim("004", "1.2 Background, Bernoulli distribution", 206,
              r"The number of parameters required to specify the joint distribution is $2^n - 1$", "2**n - 1",
              "custom", {}, VERIFIED, check=_count_states,
              against="the number of joint states of n binary pixels minus one, n = 1..6"),
    NoteClaim("004", "1.2 Background, Categorical distribution", 219,
              r"The number of parameters required to specify the joint distribution is $256^3 - 1$", "256**3 - 1",
              "custom", {"cases": [{"sizes": [256, 256, 256]}]}, VERIFIED, check=_count_states,
              against="the number of joint states of three 256-valued channels minus one"),
    NoteClaim("004", "1.2 Background, Bayes' Rule", 232, r"p(x | y) = \frac{p(y | x) p(x)}{p(y)}", "pyx*px/py",
              "custom", {"symbols": ("pyx", "px", "py")}, VERIFIED, check=_bayes_rule,
              against="the conditional p(x, y)/p(y) of an exact joint table"),
    NoteClaim("004", "1.2 Background, Naive Bayes", 263,
              r"p(Y = 1 | x_1, \dots, x_n) = \frac{p(Y = 1) \prod_{i=1}^n p(x_i | Y = 1)}",
              "P1*a1*a2/((1 - P1)*b1*b2 + P1*a1*a2)", "custom", {}, VERIFIED, check=_naive_bayes,
              against="Bayes' rule on the naive-Bayes joint p(y) p(x1|y) p(x2|y), n = 2"),
    NoteClaim("004", "2.3 Fully Visible Sigmoid Belief Network (FVSBN)", 453,
              r"$1 + 2 + \dots + d \approx \frac{d^2}{2}$", "d**2/2", "custom", {"symbols": ("d",)}, VERIFIED,
              check=_sum_approx, against="1 + 2 + ... + d, as d grows"),
    NoteClaim("004", "2.5 General Discrete Distributions", 504, r"\mathbf{h}_i &= \sigma(W_{:,i} \mathbf{x}_{<i} + \mathbf{c})",
              "W_cols(i, i)", "custom", {"functions": {"W_cols": (_W_COLS, (2,))}, "symbols": ("i",)}, REFUTED,
              "h_i = sigma(W_(:, <i) x_<i + c): the first i - 1 columns, as in §2.4 (line 475)", _matmul_shape,
              "the shapes of the named columns of W (H x d) and x_<i ((i - 1) x 1), i = 1..d",
              fix="W_cols(1, i - 1)"),
    NoteClaim("004", "2.5 General Discrete Distributions", 509,
              r"\left(\frac{\exp(a^1)}{\sum_i \exp(a^i)}, \dots, \frac{\exp(a^K)}{\sum_i \exp(a^i)} \right)",
              "exp(a_k)/(exp(a1) + exp(a2) + exp(a3))", "custom", {"symbols": ("a_k", "a1", "a2", "a3")}, VERIFIED,
              check=_softmax, against="K = 3 probabilities: positive, summing to 1"),
    NoteClaim("004", "3.1 Relationship Between Loss and KL Divergence", 761,
              r"the term $-\log p_{\theta}(\mathbf{x}) \rightarrow \infty$ as $p_{\theta}(\mathbf{x}) \rightarrow 0$",
              "-log(P)", "custom", {"symbols": ("P",), "var": "P", "point": 0, "dir": "+", "value": "oo"},
              VERIFIED, check=_limit_claim, against="the limit of -log p as p -> 0+"),
    NoteClaim("004", "3.1 Relationship Between Loss and KL Divergence", 769,
              r"&\approx \mathbb{E}_{\mathbf{x} \sim p_{\text{data}}} [\log(p_{\text{data}}(\mathbf{x}))] + \mathcal{L}(\theta)",
              "-(log(P1) + log(P2))", "identity", {"reference": "-(log(P1) + log(P2))/2", "assume": "P1>0,P2>0"},
              REFUTED, "E_data[-log p_theta] is approximated by L(theta)/n, the average: KL ~ E log p_data + L/n",
              against="the sample average of -log p_theta (n = 2 examples with p_theta(x_i) = P1, P2), against "
                      "L(theta) = -sum log p_theta(x_i) (line 758)", fix="-(log(P1) + log(P2))/2"),
    NoteClaim("004", "Goal of Learning", 827, r"$2^{784} \approx 10^{236}$", "784*log(2)/log(10)", "custom", {},
              VERIFIED, check=_log10_approx, against="the exponent 236 of 10^236 (log10 of 2^784)"),
    _update("004", "3.2 MLE for Autoregressive Models", 886, r"$\theta^{t+1} = \theta^t + \alpha_t \nabla_{\theta} \ell(\theta)$",
            "w + alpha*g", "max"),
    NoteClaim("004", "4.3 Definition & Property", 1050,
              r"the smaller the KL divergence $D_{\text{KL}}(q_\phi(\mathbf{z} | \mathbf{x}) \| p_\theta(\mathbf{z}))$ becomes",
              "(m**2 + s**2 - 1 - log(s**2))/2", "custom", {"symbols": ("m", "s")}, REFUTED,
              "the ELBO's gap is KL(q(z|x) || p(z|x)); KL(q(z|x) || p(z)) is the ELBO's regulariser",
              _elbo_gap, "log p(x) - ELBO(q) on the linear-Gaussian model, with KL(q || p(z)) = KL(N(m, s^2) || "
              "N(0, 1)) as the formula", fix="(log((1/2)/s**2) + (s**2 + (m - 1/2)**2)/(1/2) - 1)/2"),
    NoteClaim("004", "4.3 Decomposition & Calculation", 1068,
              r"\frac{1}{2} \sum_{i=1}^L (\mu_i^2 + \sigma_i^2 - 1 - \log \sigma_i^2)",
              "(mu**2 + s**2 - 1 - log(s**2))/2", "identity",
              {"reference": "log(1/s) + (s**2 + mu**2)/2 - 1/2", "assume": "s>0"}, VERIFIED,
              against="KL(N(mu, s^2) || N(0, 1)) by Gaussian moments (one term of the sum)"),
    NoteClaim("004", "4.5 Proof for Property 2", 1188,
              r"\log \left(\mathbb{E}_{\mathbf{z} \sim q_\phi(\mathbf{z}|\mathbf{x})} \left[\frac{p_\theta(\mathbf{x}, \mathbf{z})}{q_\phi(\mathbf{z} | \mathbf{x})} \right] \right)",
              "log(3/4*(2/15) + 1/4*(6/5))", "identity", {"reference": "3/4*log(2/15) + 1/4*log(6/5)"},
              REFUTED, "the expectation cannot move inside the log at finite m (that would make L_m = log p(x) for "
              "every m); L_m -> log p(x) needs a limit argument (proof 'IWAE: L_k -> log p(x) for weights bounded "
              "below')",
              against="L_1 = E log w on the exact discrete model of the proofs (w = 2/15 w.p. 3/4, 6/5 w.p. 1/4), "
                      "which the step's first line is at m = 1"),
    NoteClaim("004", "4.6 Assumptions of VAEs", 1195,
              r"\mathcal{N}(x \mu_\theta(z), \Sigma_\theta(z)) = \mathcal{N}(x \mu_\theta(z), I)",
              "exp(1/(1+exp(-a)))", "identity", {"reference": "1"}, REFUTED,
              "with Sigma_theta(z) = diag(e^(sigma(B z + d))) each variance lies in (1, e), never 1: either the "
              "decoder variance is learned (and not I) or it is fixed at I (as §4.7 step 5 does)",
              against="a diagonal entry e^(sigma(a)) of Sigma_theta(z) = diag(e^(sigma(B z + d))), against 1 (I)",
              fix="exp(0*a)"),
    NoteClaim("004", "5.1 Change of Variables formula, 1-D", 1301, r"p_Z(z) \frac{1}{|f'(x)|}",
              "exp(-log(x)**2/2)/sqrt(2*pi)/exp(x)", "identity",
              {"reference": "exp(-log(x)**2/2)/sqrt(2*pi)/x", "assume": "x>0"}, REFUTED,
              "p_X(x) = p_Z(z)/|f'(z)| at z = h(x) (shown for X = e^Z, Z ~ N(0, 1): f'(z) = e^z = x)",
              against="p_Z(h(x)) |h'(x)| for X = e^Z, Z ~ N(0, 1) (the formula's first form)",
              fix="exp(-log(x)**2/2)/sqrt(2*pi)/exp(log(x))"),
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
              "two KLs is 2 JSD, not JSD", _vstar,
              "V(G, D*) by quadrature, with K = KL(p_data||m) + KL(p_theta||m)", fix="K - log(4)"),
    NoteClaim("004", "6.11 Standard GAN", 1584, r"\frac{e^{-x}}{(1+e^{-x})^{-2}}", "exp(-x)/(1+exp(-x))**(-2)",
              "identity", {"reference": "exp(-x)/(1+exp(-x))**2"}, REFUTED,
              "sigma'(x) = e^-x/(1 + e^-x)^2 (the note's final sigma'(x)/(1 - sigma(x)) = sigma(x) is right)",
              against="sigma'(x) = e^(-x)/(1 + e^(-x))^2", fix="exp(-x)/(1+exp(-x))**2"),
    NoteClaim("004", "6.11 Standard GAN", 1584, r"= \frac{\frac{e^{-x}}{(1+e^{-x})^{-1}}}{e^{-x}} = \frac{1}{(1 + e^{-x})}",
              "(exp(-x)/(1+exp(-x))**(-1))/exp(-x)", "identity", {"reference": "1/(1+exp(-x))"}, REFUTED,
              "with the exponents corrected the chain reads (e^-x/(1 + e^-x)^2)/(e^-x/(1 + e^-x)) = 1/(1 + e^-x); "
              "as written the third expression equals 1 + e^-x",
              against="the next expression 1/(1 + e^(-x)) of the same chain", fix="(exp(-x)/(1+exp(-x)))/exp(-x)"),
    NoteClaim("004", "6.11 Standard GAN", 1584, r"\frac{\sigma'(x)}{1 - \sigma(x)}",
              "(exp(-x)/(1+exp(-x))**2)/(1 - 1/(1+exp(-x)))", "identity", {"reference": "1/(1+exp(-x))"}, VERIFIED,
              against="sigma(x) (the chain's conclusion)"),
    NoteClaim("004", "6.17 Issue Analysis, Case 1", 1645,
              r"\mathcal{L}_G(\theta; \phi) &= \mathbb{E}_{x \sim p_\theta(x)}[\log(1 - D_\phi(x))] - \mathbb{E}_{x \sim p_\theta(x)}[\log(1 - D_\phi(x))]",
              "log(1-D) - log(1-D)", "identity", {"reference": "log(1-D) - log(D)", "assume": "D>0,D<1"}, REFUTED,
              "L_G = E_{p_theta}[log(1 - D)] - E_{p_theta}[log D] (the KL-based loss of §6.7); as written it is 0",
              against="the KL-based generator loss of §6.7 (line 1520)", fix="log(1-D) - log(D)"),
    NoteClaim("004", "6.17 Issue Analysis, Case 1", 1649, r"D_{\text{KL}}(p_\theta(x) \| p_{\text{data}}(x)) &= \frac{(\theta - \theta_0)^2}{2\epsilon^2}",
              "(th - th0)**2/(2*e**2)", "identity",
              {"reference": "log(e/e) + (e**2 + (th - th0)**2)/(2*e**2) - 1/2", "assume": "e>0"}, VERIFIED,
              against="KL(N(theta, eps^2) || N(theta_0, eps^2)) by Gaussian moments"),
    NoteClaim("004", "6.17 Issue Analysis, Case 1", 1653,
              r"\frac{\partial}{\partial \theta} \mathcal{L}_G(\theta; \phi) \rightarrow \infty", "(th - th0)/e**2",
              "custom", {"symbols": ("th", "th0", "e"), "var": "e", "point": 0, "dir": "+", "value": "oo",
                         "cases": [{"th": 1, "th0": 0}, {"th": 0, "th0": 1}]}, REFUTED,
              "|d L_G/d theta| = |theta - theta_0|/eps^2 -> oo; the derivative itself tends to -oo when "
              "theta < theta_0", _limit_claim,
              "the derivative (theta - theta_0)/eps^2 of line 1649 as eps -> 0+, for theta above and below theta_0",
              fix="Abs(th - th0)/e**2"),
    NoteClaim("004", "6.18 f-divergence table", 1707, r"$\frac{1}{2} \int p(x) - q(x) dx$	$\frac{1}{2} u - 1 $",
              "1/2*u - 1", "generator", {"name": "total-variation"}, REFUTED,
              "1/2 int |p - q| with f = 1/2 |u - 1|: the bars |.| are missing as written (with them the row is right, "
              "as 000 line 158 has it)", fix="1/2*Abs(u - 1)"),
    NoteClaim("004", "6.18 f-divergence table", 1707, r"$\frac{1}{2} \int p(x) - q(x) dx$", "integral((p - q)/2)",
              "integral", {"reference": "integral(q*Abs(p/q - 1)/2)", "assume": _PQ}, REFUTED,
              "1/2 int |p - q| dx (the integral of p - q is 0 for every pair)",
              against="the integral of q f(p/q) for the total variation f = 1/2 |u - 1|", fix="integral(Abs(p - q)/2)"),
    _table(1708, r"$\int p(x) \log \frac{p(x)}{q(x)} dx$	$u \log u$", "integral(p*log(p/q))",
           "integral(q*(p/q)*log(p/q))", VERIFIED, "u log u"),
    _table(1709, r"$\int q(x) \log \frac{q(x)}{p(x)} dx$	$-\log u$", "integral(q*log(q/p))",
           "integral(-q*log(p/q))", VERIFIED, "-log u"),
    _table(1710, r"$\int \frac{(q(x) - p(x))^2}{p(x)} dx$	$(u - 1)^2$", "integral((q - p)**2/p)",
           "integral(q*(p/q - 1)**2)", REFUTED, "(u - 1)^2",
           "f = (u - 1)^2 gives int (p - q)^2/q (the integrals of the Pearson and Neyman rows are swapped)",
           fix="integral((p - q)**2/q)"),
    _table(1711, r"$\int \frac{(p(x) - q(x))^2}{q(x)} dx$	$\frac{(1-u)^2}{u}$", "integral((p - q)**2/q)",
           "integral(q*(1 - p/q)**2/(p/q))", REFUTED, "(1 - u)^2/u", "f = (1 - u)^2/u gives int (p - q)^2/p",
           fix="integral((q - p)**2/p)"),
    _table(1712, r"$\int (\sqrt{p(x)} - \sqrt{q(x)})^2 dx$	$(\sqrt{u} - 1)^2$", "integral((sqrt(p) - sqrt(q))**2)",
           "integral(q*(sqrt(p/q) - 1)**2)", VERIFIED, "(sqrt(u) - 1)^2"),
    _table(1713, r"$\int (p(x) - q(x)) \log \frac{p(x)}{q(x)} dx$	$(u - 1) \log u$", "integral((p - q)*log(p/q))",
           "integral(q*(p/q - 1)*log(p/q))", VERIFIED, "(u - 1) log u"),
    _table(1714, r"$\frac{1}{2} \int p(x) \log \frac{2p(x)}{p(x)+q(x)} + q(x) \log \frac{2q(x)}{p(x)+q(x)} dx$",
           "integral((p*log(2*p/(p+q)) + q*log(2*q/(p+q)))/2)",
           "integral(q*(-(p/q+1)*log((1+p/q)/2) + (p/q)*log(p/q)))", REFUTED, "-(u+1) log((1+u)/2) + u log u",
           "the row's f gives int p log(2p/(p+q)) + q log(2q/(p+q)) = 2 JSD: drop the 1/2, or halve f",
           fix="integral(p*log(2*p/(p+q)) + q*log(2*q/(p+q)))"),
    _table(1715, r"$\int p(x) \pi \log \frac{\pi p(x)+(1-\pi)q(x)}{p(x)+(1-\pi)q(x)} dx + (1-\pi)q(x) \log \frac{\pi p(x)+(1-\pi)q(x)}{p(x)+(1-\pi)q(x)} dx$",
           "integral(pi_*p*log((pi_*p + (1-pi_)*q)/(p + (1-pi_)*q)) + (1-pi_)*q*log((pi_*p + (1-pi_)*q)/(p + (1-pi_)*q)))",
           "integral(q*(pi_*(p/q)*log(p/q) - (1 - pi_ + pi_*p/q)*log(1 - pi_ + pi_*p/q)))", REFUTED,
           "pi u log u - (1 - pi + pi u) log(1 - pi + pi u)",
           "int pi p log(p/m) + (1 - pi) q log(q/m) with m = pi p + (1 - pi) q",
           fix="integral(pi_*p*log(p/(pi_*p + (1-pi_)*q)) + (1-pi_)*q*log(q/(pi_*p + (1-pi_)*q)))",
           assume="p>0,q>0,pi_>0,pi_<1"),
    _table(1716, r"$\int p(x) \log \frac{p(x)+q(x)}{p(x)+q(x)} dx - \log(4)$", "integral(p*log((p+q)/(p+q))) - log(4)",
           "integral(q*((p/q)*log(p/q) - (p/q+1)*log(p/q+1)))", REFUTED, "u log u - (u+1) log(u+1)",
           "int p log(p/(p+q)) + q log(q/(p+q)) dx = 2 JSD - log 4 (the table's integrand is 0)",
           fix="integral(p*log(p/(p+q)) + q*log(q/(p+q)))"),
    _table(1717, r"$\frac{1}{\alpha(\alpha-1)} \int (p(x) [\left(\frac{q(x)}{p(x)}\right)^\alpha - 1] - \alpha(q(x) - p(x))) dx$",
           "integral((p*((q/p)**a - 1) - a*(q - p))/(a*(a-1)))",
           "integral(q*((p/q)**a - 1 - a*(p/q - 1))/(a*(a-1)))", REFUTED,
           "(u^alpha - 1 - alpha (u - 1))/(alpha (alpha - 1))",
           "int q [(p/q)^alpha - 1] - alpha (p - q), all over alpha(alpha - 1): p and q are swapped",
           fix="integral((q*((p/q)**a - 1) - a*(p - q))/(a*(a-1)))", assume="p>0,q>0,a>1"),
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
    ("002", "2. f-Divergences and Their Variational Forms", 121, r"$\mathcal{T}$ is a rich class of functions (e.g., neural networks)",
     "the equality D_f = sup_T {...} (line 116) holds over all measurable T: X -> dom f*; over a restricted class "
     "such as neural networks only >= holds (as §4, line 284, says)"),
    ("002", "4. Variational (Dual) Representation via Convex Conjugate", 274, "By Fenchel–Young we have",
     "f(u) = sup_t {u t - f*(t)} is the Fenchel-Moreau theorem (f** = f for convex lower semicontinuous f); "
     "Fenchel-Young is the inequality f(u) + f*(t) >= u t"),
    ("002", "Inference and Sampling", 536, r"\hat x\sim p_{\theta}(x\mid y^*)=G_{\theta^*}(z, y^*).",
     "x^ = G_theta*(z, y*) ~ p_theta(x | y*): a sample is not equal to a density"),
    ("002", "Domain-Adversarial Neural Networks (DANN)", 796, r"\(C_{\psi}\colon\mathbb{R}^d\to\{1,\dots,C\}\)",
     "C_psi maps a feature to class probabilities, a point of the simplex (line 805 takes log C_psi(Phi(x))_c and "
     "line 835 the arg max over c); a map into the labels {1, ..., C} has no c-th component"),
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

