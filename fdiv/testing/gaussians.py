"""Check a user's divergence between Gaussians, or Frechet distance (FID), against fdiv's references.

The function under test is fn(mean_p, cov_p, mean_q, cov_q) -> float, with float64 numpy arrays of shapes (d,)
and (d, d) (or (B, d) and (B, d, d) -> (B,) with batched=True). It is run on built-in hard cases (gaussian_cases):
1-D pairs from 1e-4 to 1e6 in variance, multivariate ones, an ill-conditioned pair (condition 1e8), nearly equal
pairs (the closed forms cancel), equal pairs (exactly 0), infinite divergences (chi^2 with Sigma_p >= 2 Sigma_q),
rank-deficient covariances (Frechet only), and d up to 2048.

References: numerics.gaussian's closed forms (Cholesky factors and log-determinants); the Frechet distance from
the exact low-rank factors where a case has them, else numerics.gaussian.frechet_distance (no matrix square root
of a product); 1-D quadrature for divergences without a closed form (any f); in d > 1 those are checked
against Monte Carlo, a statistical test with a stated false-failure probability.

Tolerance, per case: |theirs - exact| <= 1e-9 |exact| + 16 d eps kappa scale, where kappa is the larger
condition number of the two covariances and scale is the size of the terms the closed form adds up (trace,
Mahalanobis and log-determinant terms): a backward-stable float64 computation errs by about d eps kappa scale, and
no implementation is asked to beat the conditioning of its inputs. The Frechet distance uses 1e-9 (|exact| +
|dmu|^2 + tr Sp + tr Sq): fdiv's factor-and-SVD formula stays within 1e-15 of that scale on every case, while a
method that takes square roots of the rounding-noise eigenvalues of a singular covariance (sqrtm(Sp @ Sq), or
eigenvalues of Sp^1/2 Sq Sp^1/2 without dropping the noise) loses about 1e-8 of it.

Every case gets a verdict: a function that raises (or, from the CLI, crashes or hangs) on one case fails that
case and the others still run; only one that gives no number on any case is an error. Each case gets its own
copies of the arrays (an array changed in place is a failed check). The outcome is agree, numerically limited
(right at the well-conditioned moderate cases, MODERATE_CASES; failing on hard ones, named) or wrong.

Cost: the d = 2048 divergence case shares one rotation between its two covariances (Sp = H Wp H, Sq = H Wq H,
H a Householder reflection), so its reference is the sum of 1-D closed forms in H's basis (divergences are
invariant under an orthogonal map and additive, or multiplicative, over independent coordinates): O(d) instead
of O(d^3). Pairs with unrelated rotations are checked up to d = 256.
"""
from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from fdiv.errors import FdivError

from .calls import Callee, Returned, as_callee
from .reference import Point
from .report import Report, with_assert

EPS64 = float(np.finfo(np.float64).eps)
RTOL_GAUSS = 1e-9
COND_FACTOR = 16
FID_TOL = 1e-9
Z_FALSE_FAILURE = 5.326723886  # two-sided normal quantile: false-failure probability 1e-7 per Monte Carlo case


# ------------------------------------------------------------------------------------------------ hard cases
@dataclass(frozen=True)
class Case:
    """One pair of Gaussians; factors (A_p, A_q with cov = A A') when the case was built from them."""

    name: str
    mean_p: np.ndarray
    cov_p: np.ndarray
    mean_q: np.ndarray
    cov_q: np.ndarray
    factors: tuple[np.ndarray, np.ndarray] | None = field(default=None, compare=False)
    cond: float | None = field(default=None, compare=False)  # known condition number (built from a spectrum)
    # a shared eigenbasis: (means of p, of q in that basis, eigenvalues of Sp, of Sq): a product of 1-D pairs
    spectra: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, compare=False)

    def condition(self) -> float:
        """The larger condition number of the two covariances (at least 1)."""
        if self.cond is not None:
            return self.cond
        ws = [np.linalg.eigvalsh(c) for c in (self.cov_p, self.cov_q)]
        return float(max(max(w.max() / w.min() if w.min() > 0 else math.inf for w in ws), 1.0))

    @property
    def dim(self) -> int:
        return int(self.mean_p.shape[-1])

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The four arrays themselves (calls.py hands the function copies)."""
        return self.mean_p, self.cov_p, self.mean_q, self.cov_q

    def describe(self) -> dict:
        """The inputs for a report: in full for d <= 4, else a summary (the case is rebuilt by name)."""
        out: dict = {"case": self.name, "d": self.dim}
        if self.dim == 1:
            out.update(mean_p=float(self.mean_p[0]), var_p=float(self.cov_p[0, 0]), mean_q=float(self.mean_q[0]),
                       var_q=float(self.cov_q[0, 0]))
        elif self.dim <= 4:
            out.update(mean_p=self.mean_p.tolist(), cov_p=self.cov_p.tolist(), mean_q=self.mean_q.tolist(),
                       cov_q=self.cov_q.tolist())
        return out


def _rotation(rng: np.random.Generator, d: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def _spd(rng, d: int, log10_cond: float) -> np.ndarray:
    """A covariance with eigenvalues log-spaced over 10^log10_cond, rotated by a Householder reflection (O(d^2),
    so d = 2048 is cheap and the spectrum is known)."""
    w = np.logspace(-log10_cond / 2, log10_cond / 2, d) * rng.uniform(0.5, 2.0)
    v = rng.normal(size=d)
    v /= np.linalg.norm(v)
    wv = w * v
    s = np.diag(w) - 2 * np.outer(v, wv) - 2 * np.outer(wv, v) + 4 * float(v @ wv) * np.outer(v, v)
    return (s + s.T) / 2


def _low_rank_factor(rng, d: int, r: int, log10_range: float) -> np.ndarray:
    u, _ = np.linalg.qr(rng.normal(size=(d, r)))
    return u * np.logspace(-log10_range, log10_range, r)


def _case(name, mp, cp, mq, cq, factors=None, cond=None, spectra=None) -> Case:
    f = lambda x: np.array(x, dtype=np.float64)
    return Case(name, f(mp), f(cp), f(mq), f(cq), factors, cond, spectra)


def _rotated_pair(rng, d: int, log10_cond: float) -> Case:
    """Sp = H Wp H, Sq = H Wq H with one Householder reflection H = I - 2 v v' (O(d^2) to build) and spectra
    log-spaced over 10^log10_cond; the means, too, are given in H's basis (H m)."""
    wp = np.logspace(-log10_cond / 2, log10_cond / 2, d) * rng.uniform(0.5, 2.0)
    wq = rng.permutation(np.logspace(-log10_cond / 2, log10_cond / 2, d)) * rng.uniform(0.5, 2.0)
    v = rng.normal(size=d)
    v /= np.linalg.norm(v)

    def rotate(w):
        wv = w * v
        s = np.diag(w) - 2 * np.outer(v, wv) - 2 * np.outer(wv, v) + 4 * float(v @ wv) * np.outer(v, v)
        return (s + s.T) / 2

    mp, mq = rng.normal(size=d), rng.normal(size=d)
    rot = lambda m: m - 2 * v * float(v @ m)  # noqa: E731 - H m
    cond = float(max(wp.max() / wp.min(), wq.max() / wq.min()))
    return _case(f"d={d}", mp, rotate(wp), mq, rotate(wq), cond=cond, spectra=(rot(mp), rot(mq), wp, wq))


def gaussian_cases(*, psd: bool = False, max_dim: int = 2048, infinite: bool = True) -> list[Case]:
    """The built-in hard cases (deterministic). psd=True adds rank-deficient covariances (for Frechet)."""
    return list(_cases(bool(psd), int(max_dim), bool(infinite)))


@functools.lru_cache(maxsize=8)
def _cases(psd: bool, max_dim: int, infinite: bool) -> tuple[Case, ...]:
    """Built once per process (the arrays are never handed out: every call gets copies)."""
    rng = np.random.default_rng(20240612)
    cases = [
        _case("1-D", [0.0], [[1.0]], [1.0], [[2.0]]),
        _case("1-D narrow vs wide", [-3.0], [[1e-4]], [2.0], [[3.0]]),
        _case("1-D wide vs narrow", [2.0], [[3.0]], [-3.0], [[0.25]]),
        _case("1-D large scale", [1e3], [[1e6]], [-1e3], [[1.5e6]]),
        _case("1-D equal", [0.7], [[2.0]], [0.7], [[2.0]]),
        _case("1-D nearly equal variances", [5.0], [[0.5]], [5.0], [[0.5 * (1 + 1e-9)]]),
        _case("1-D nearly equal means", [0.0], [[1.0]], [1e-8], [[1.0]]),
    ]
    for d in (2, 8, 32):
        cases.append(_case(f"d={d}", rng.normal(size=d), _spd(rng, d, 1.0), rng.normal(size=d), _spd(rng, d, 1.0)))
    s = _spd(rng, 8, 2.0)
    cases.append(_case("d=8 equal", np.ones(8), s, np.ones(8), s))
    m, s = rng.normal(size=8), _spd(rng, 8, 2.0)
    e = rng.normal(size=(8, 8))
    cases.append(_case("d=8 nearly equal", m, s, m + 1e-9, s + 1e-9 * (e + e.T)))
    cases.append(_case("d=16 ill-conditioned (condition 1e8)", rng.normal(size=16), _spd(rng, 16, 8.0),
                       rng.normal(size=16), _spd(rng, 16, 8.0), cond=1e8))
    if infinite:
        cases.append(_case("1-D chi^2 infinite (var_p = 2.5 var_q)", [0.0], [[2.5]], [0.3], [[1.0]]))
        s = _spd(rng, 3, 1.0)
        cases.append(_case("d=3 chi^2 infinite (Sigma_p = 2.5 Sigma_q)", np.zeros(3), 2.5 * s, np.full(3, 0.1), s))
    if 256 <= max_dim:
        cases.append(_case("d=256", rng.normal(size=256), _spd(rng, 256, 2.0), rng.normal(size=256),
                           _spd(rng, 256, 2.0), cond=100.0))
    if 2048 <= max_dim and not psd:  # full-rank 2048 for divergences (Frechet: the low-rank one below)
        cases.append(_rotated_pair(rng, 2048, 2.0))
    if psd:
        for d, r, spread in ((16, 3, 2.0), (64, 10, 3.0), (2048, 64, 2.0)):
            if d <= max_dim:
                ap, aq = _low_rank_factor(rng, d, r, spread), _low_rank_factor(rng, d, r, spread)
                cases.append(_case(f"d={d} rank {r} (singular values 1e-{spread:g}..1e{spread:g})",
                                   rng.normal(size=d), ap @ ap.T, rng.normal(size=d), aq @ aq.T, (ap, aq)))
        a = _low_rank_factor(rng, 8, 8, 1.0)
        cases.append(_case("d=8 point mass vs Gaussian", np.zeros(8), np.zeros((8, 8)), np.ones(8), a @ a.T,
                           (np.zeros((8, 0)), a)))
    for c in cases:
        for arr in (c.mean_p, c.cov_p, c.mean_q, c.cov_q):
            arr.flags.writeable = False
    return tuple(cases)


# ---------------------------------------------------------------------------------------------- references
@dataclass(frozen=True)
class Exact:
    value: float  # +inf for an infinite divergence
    tolerance: float
    method: str
    std_error: float = 0.0  # Monte Carlo only
    scale: float = 0.0  # what the error is measured against (the closed form's terms, or |value|)

    def loosened(self, rtol: float | None) -> Exact:
        """The tolerance raised to rtol x scale (a user's --rtol), never lowered."""
        if rtol is None or not math.isfinite(self.value):
            return self
        return replace(self, tolerance=max(self.tolerance, rtol * max(self.scale, abs(self.value))))


@dataclass(frozen=True)
class GaussianReference:
    name: str
    closed_form: Callable | None  # (p, q, params) -> array, numerics.gaussian.Gaussian arguments
    scale: Callable[[float, float, dict], float] | None  # (terms scale S, exact value, params) -> error scale
    params: tuple[str, ...] = ()
    description: str = ""


GAUSSIAN_REFERENCES: dict[str, GaussianReference] = {}


def gaussian_reference(*names: str, scale: Callable | None = None, params: tuple[str, ...] = (),
                       description: str = ""):
    """Register a closed form under one or more names (a decorator)."""
    def register(fn):
        for name in names:
            GAUSSIAN_REFERENCES[name] = GaussianReference(names[0], fn, scale or (lambda s, v, p: s), params,
                                                          description or (fn.__doc__ or "").strip())
        return fn
    return register


def _g():
    from numerics import gaussian

    return gaussian


@gaussian_reference("kl", "kl-normalised")
def _kl(p, q, params):
    """KL(P||Q)."""
    return _g().kl(p, q)


@gaussian_reference("reverse-kl", "reverse-kl-normalised")
def _reverse_kl(p, q, params):
    """KL(Q||P)."""
    return _g().kl(q, p)


@gaussian_reference("jeffrey")
def _jeffrey(p, q, params):
    """KL(P||Q) + KL(Q||P)."""
    return _g().jeffrey(p, q)


@gaussian_reference("squared-hellinger")
def _hellinger(p, q, params):
    """int (sqrt p - sqrt q)^2 = 2 (1 - BC), fdiv's f = (sqrt(u) - 1)^2 (half of it is the other convention)."""
    return _g().squared_hellinger(p, q)


@gaussian_reference("bhattacharyya")
def _bhattacharyya(p, q, params):
    """Bhattacharyya distance -log BC."""
    return _g().bhattacharyya_distance(p, q)


@gaussian_reference("pearson", scale=lambda s, v, p: (1 + v) * s)
def _pearson(p, q, params):
    """chi^2(P||Q) = int (p - q)^2/q, infinite unless 2 Sigma_q - Sigma_p is positive definite."""
    return _g().pearson_chi2(p, q)


@gaussian_reference("neyman", scale=lambda s, v, p: (1 + v) * s)
def _neyman(p, q, params):
    """int (p - q)^2/p = chi^2(Q||P)."""
    return _g().neyman_chi2(p, q)


@gaussian_reference("renyi", params=("alpha",), scale=lambda s, v, p: s / abs(p["alpha"] - 1))
def _renyi(p, q, params):
    """Renyi divergence of order alpha, log(int p^a q^(1-a))/(a - 1)."""
    return _g().renyi(p, q, params["alpha"])


@gaussian_reference("alpha", params=("alpha",),
                    scale=lambda s, v, p: (1 + abs(p["alpha"] * (p["alpha"] - 1) * v)) * s / abs(p["alpha"] * (p["alpha"] - 1)))
def _alpha(p, q, params):
    """fdiv's alpha row, (int p^a q^(1-a) - 1)/(a(a - 1))."""
    return _g().alpha_divergence(p, q, params["alpha"])


@gaussian_reference("total-variation")
def _tv(p, q, params):
    """1/2 int |p - q|: exact in 1-D and for equal covariances; otherwise bounded (Hellinger, Pinsker)."""
    return _g().total_variation(p, q)


def _product_pair(case: Case):
    """The 1-D pairs of a case with a shared eigenbasis (a batch of d univariate Gaussians each)."""
    g = _g()
    mp, mq, wp, wq = case.spectra
    return g.univariate(mp, wp, name="p"), g.univariate(mq, wq, name="q")


def _sum_log_alpha(p1, q1, alpha: float) -> float:
    from numerics.gaussian import _log_alpha_integral

    return float(np.sum(_log_alpha_integral(p1, q1, alpha)))


def _alpha_from_log(log_i: float, alpha: float) -> float:
    if math.isinf(log_i):
        return math.inf
    scale = alpha * (alpha - 1)
    return math.exp(log_i - math.log(abs(scale))) if log_i > 700 else math.expm1(log_i) / scale


#: Divergences of a product of independent 1-D pairs, from the 1-D closed forms: additive ones summed,
#: the others from summed log-integrals (int p^a q^(1-a) is a product over the coordinates).
_PRODUCT: dict[str, Callable] = {
    "kl": lambda p, q, a: float(np.sum(_g().kl(p, q))),
    "reverse-kl": lambda p, q, a: float(np.sum(_g().kl(q, p))),
    "jeffrey": lambda p, q, a: float(np.sum(_g().jeffrey(p, q))),
    "bhattacharyya": lambda p, q, a: float(np.sum(_g().bhattacharyya_distance(p, q))),
    "squared-hellinger": lambda p, q, a: float(-2.0 * np.expm1(-np.sum(_g().bhattacharyya_distance(p, q)))),
    "pearson": lambda p, q, a: math.expm1(_sum_log_alpha(p, q, 2.0)) if math.isfinite(_sum_log_alpha(p, q, 2.0))
    else math.inf,
    "neyman": lambda p, q, a: math.expm1(_sum_log_alpha(q, p, 2.0)) if math.isfinite(_sum_log_alpha(q, p, 2.0))
    else math.inf,
    "renyi": lambda p, q, a: _sum_log_alpha(p, q, a["alpha"]) / (a["alpha"] - 1),
    "alpha": lambda p, q, a: _alpha_from_log(_sum_log_alpha(p, q, a["alpha"]), a["alpha"]),
}


def _product_terms_scale(case: Case) -> float:
    mp, mq, wp, wq = case.spectra
    delta2 = (mp - mq) ** 2
    return float(case.dim + np.sum(wp / wq) + np.sum(wq / wp) + np.sum(delta2 / wq) + np.sum(delta2 / wp)
                 + abs(np.sum(np.log(wp))) + abs(np.sum(np.log(wq))))


def _frechet_reference(case: Case) -> tuple[float, float]:
    """(W2^2, |dmu|^2 + tr Sp + tr Sq): from the low-rank factors when the case has them (exact to rounding),
    else numerics.gaussian.frechet_distance."""
    delta = case.mean_p - case.mean_q
    scale = float(delta @ delta + np.trace(case.cov_p) + np.trace(case.cov_q))
    if case.factors is not None:
        ap, aq = case.factors
        nuclear = np.linalg.svd(ap.T @ aq, compute_uv=False).sum() if ap.size and aq.size else 0.0
        value = float(delta @ delta + (ap * ap).sum() + (aq * aq).sum() - 2 * nuclear)
        return max(value, 0.0), scale
    return float(_g().frechet_distance(case.mean_p, case.cov_p, case.mean_q, case.cov_q)), scale


def _terms_scale(p, q, case: Case) -> tuple[float, float]:
    """(S, kappa): the size of the terms the closed forms add up, and the larger condition number."""
    solve = np.linalg.solve  # on the triangular factors (scipy's triangular solver is slower for small d here)
    a, b = solve(q.chol, p.chol), solve(p.chol, q.chol)
    delta = p.mean - q.mean
    s = (p.dim + float((a * a).sum()) + float((b * b).sum()) + float(np.sum(solve(q.chol, delta[..., None]) ** 2))
         + float(np.sum(solve(p.chol, delta[..., None]) ** 2)) + abs(float(p.logdet())) + abs(float(q.logdet())))
    return s, case.condition()


def resolve(against: str) -> tuple[str, GaussianReference | None]:
    """The canonical name of `against` and its closed form (None: quadrature in 1-D, Monte Carlo above)."""
    key = against.strip().lower().replace("_", "-")
    if key in GAUSSIAN_REFERENCES:
        return GAUSSIAN_REFERENCES[key].name, GAUSSIAN_REFERENCES[key]
    if key in ("hellinger", "hellinger2"):
        return "squared-hellinger", GAUSSIAN_REFERENCES["squared-hellinger"]
    if key in ("fid", "frechet", "w2"):
        raise FdivError("the Frechet distance is checked by check_fid (fdiv verify fid)")
    from fdiv import catalogue

    spec = catalogue.find(against)
    if spec is not None:
        return spec.name, GAUSSIAN_REFERENCES.get(spec.name)
    from fdiv.errors import ParseError
    from fdiv.parse import parse
    from fdiv.spec import U

    try:
        parse(against, {"u": U}, where="f")
    except ParseError:
        raise FdivError(f"unknown divergence {against!r}: a catalogue name (see 'fdiv list'), renyi, bhattacharyya, "
                        f"or an expression f(u)") from None
    return against, None


def exact_divergence(against: str, case: Case, params: dict | None = None, *, mc_samples: int = 200_000) -> Exact:
    """fdiv's reference value for one case, with the tolerance it allows (see the module notes)."""
    g = _g()
    name, ref = resolve(against)
    values = {k: float(_number(v)) for k, v in (params or {}).items()}
    if ref is not None:
        missing = [k for k in ref.params if k not in values]
        if missing:
            raise FdivError(f"{name} needs the parameter {missing[0]} (for example --param {missing[0]}=0.5)")
        if case.spectra is not None and (ref.name in _PRODUCT or ref.name == "total-variation"):
            p1, q1 = _product_pair(case)
            if ref.name == "total-variation":
                d_b = float(np.sum(g.bhattacharyya_distance(p1, q1)))
                kl = float(np.sum(g.kl(p1, q1)))
                lo, hi = -math.expm1(-d_b), min(math.sqrt(-math.expm1(-2 * d_b)), math.sqrt(kl / 2), 1.0)
                return Exact(math.nan, 0.0, f"bounds [{lo:.17g}, {hi:.17g}] (no closed form in d > 1 with unequal "
                                            f"covariances)")
            value = float(_PRODUCT[ref.name](p1, q1, values))
            s, kappa = _product_terms_scale(case), case.condition()
            method = "closed form (1-D forms in the shared eigenbasis)"
        else:
            p, q = _pair(case)
            if name == "total-variation" and case.dim > 1 and not np.array_equal(case.cov_p, case.cov_q):
                lo, hi = g.total_variation_bounds(p, q)
                return Exact(math.nan, 0.0, f"bounds [{float(lo):.17g}, {float(hi):.17g}] (no closed form in d > 1 "
                                            f"with unequal covariances)")
            value = float(ref.closed_form(p, q, values))
            if math.isinf(value):
                return Exact(value, 0.0, "closed form")
            s, kappa = _terms_scale(p, q, case)
            method = "closed form"
        if math.isinf(value):
            return Exact(value, 0.0, "closed form")
        scale = ref.scale(s, value, values)
        tol = RTOL_GAUSS * abs(value) + COND_FACTOR * case.dim * EPS64 * kappa * scale
        return Exact(value, tol, method, scale=max(scale, abs(value)))
    from fdiv.testing.exact import derivation

    d = derivation(name, params)
    if case.dim == 1:
        from numerics.quadrature import f_divergence

        est = f_divergence(d, (case.mean_p[0], case.cov_p[0, 0]), (case.mean_q[0], case.cov_q[0, 0]))
        tol = RTOL_GAUSS * abs(est.value) + 4 * est.abs_error + COND_FACTOR * EPS64 if math.isfinite(est.value) else 0.0
        return Exact(est.value, tol, "quadrature", scale=abs(est.value) if math.isfinite(est.value) else 0.0)
    from numerics import montecarlo

    p, q = _pair(case)
    est = montecarlo.f_divergence(d, p, q, n=mc_samples, seed=0)
    return Exact(est.value, Z_FALSE_FAILURE * est.std_error, "monte carlo", est.std_error,
                 scale=abs(est.value) if math.isfinite(est.value) else 0.0)


def _number(text) -> float:
    if isinstance(text, (int, float)):
        return float(text)
    from fdiv.parse import parse_number

    return float(parse_number(str(text), where="--param"))


# ---------------------------------------------------------------------------------------------------- checks
class GaussianFunctionError(FdivError):
    """fn cannot be used as fn(mean_p, cov_p, mean_q, cov_q) -> float: it gives no number on any case."""


#: Cases where a correct closed form has no numerical excuse: small, well-conditioned, exactly representable,
#: and the infinite chi^2 ones (infinity is a property of the formula). A formula-sized error here is "wrong".
MODERATE_CASES = frozenset({"1-D", "1-D narrow vs wide", "1-D wide vs narrow", "1-D equal", "d=2", "d=8", "d=32",
                            "d=8 equal", "1-D chi^2 infinite (var_p = 2.5 var_q)",
                            "d=3 chi^2 infinite (Sigma_p = 2.5 Sigma_q)"})
_NAMES = ("mean_p", "cov_p", "mean_q", "cov_q")
_PAIRS: dict[int, tuple] = {}


def _pair(case: Case):
    """numerics.gaussian objects for a case (Cholesky factors), cached for the life of the case."""
    key = id(case)
    hit = _PAIRS.get(key)
    if hit is None or hit[0] is not case:
        g = _g()
        hit = _PAIRS[key] = (case, g.gaussian(case.mean_p, case.cov_p, name="p"),
                             g.gaussian(case.mean_q, case.cov_q, name="q"))
        if len(_PAIRS) > 64:
            _PAIRS.pop(next(iter(_PAIRS)))
    return hit[1], hit[2]


def _call(fn: Callee, cases: list[Case], batched: bool) -> list[Returned]:
    """One Returned per case (from a batched call when batched, with one call per case where that failed)."""
    out: list[Returned | None] = [None] * len(cases)
    if batched:
        by_dim: dict[int, list[int]] = {}
        for i, c in enumerate(cases):
            by_dim.setdefault(c.dim, []).append(i)
        for d, idx in by_dim.items():
            stack = [np.stack([getattr(cases[i], a) for i in idx]) for a in _NAMES]
            r = fn.call("numpy-many", stack, _NAMES, False, f"a batch of {len(idx)} pairs with d = {d}")
            if not r.failure and r.values is not None and r.values.shape == (len(idx),):
                for k, i in enumerate(idx):
                    out[i] = Returned(np.array(r.values[k]), modified=r.modified)
            elif not r.failure and r.values is not None:
                for i in idx:
                    out[i] = Returned(failure=f"returned shape {r.values.shape} for {len(idx)} pairs (batched: "
                                              f"expected ({len(idx)},))")
        for i, c in enumerate(cases):  # a failed batch: each case alone (a batch of one)
            if out[i] is None:
                r = fn.call("numpy-many", [getattr(c, a)[None] for a in _NAMES], _NAMES, False, f"case '{c.name}'")
                if not r.failure and r.values is not None and r.values.size != 1:
                    r = Returned(failure=f"returned shape {r.values.shape} for 1 pair (batched: expected (1,))")
                out[i] = r if r.failure else Returned(np.array(r.values.reshape(-1)[0]), modified=r.modified)
    else:
        for i, c in enumerate(cases):
            out[i] = fn.call("numpy", list(c.arrays()), _NAMES, False, f"case '{c.name}'")
    return [r for r in out if r is not None]


def _unusable(theirs: list[Returned], pool: list[Case]) -> None:
    if theirs and all(r.failure for r in theirs):
        raise GaussianFunctionError(f"fn(mean_p, cov_p, mean_q, cov_q) gave no number on any case: it "
                                    f"{theirs[0].failure} (e.g. at case '{pool[0].name}')")


def _point(case: Case, theirs: Returned, ref: Exact, quantity: str = "value") -> Point:
    inputs = tuple(case.describe().items())
    exact = None if math.isnan(ref.value) else ref.value
    if theirs.failure:
        why = theirs.failure
        return Point(inputs, quantity, "float64", None, exact, ref.tolerance, False,
                     expected=f"a value ({why})" if why.startswith("not run") else f"a value (it {why})",
                     scale=ref.scale)
    value, imag = float(np.asarray(theirs.values).reshape(-1)[0]), theirs.imag
    if imag != 0.0:
        return Point(inputs, quantity, "float64", value, exact, ref.tolerance, False,
                     expected=f"a real number (imaginary part {imag:.3g})", scale=ref.scale)
    if ref.method.startswith("bounds"):
        lo, hi = (float(x) for x in ref.method[ref.method.index("[") + 1:ref.method.index("]")].split(","))
        ok = lo - 1e-12 <= value <= hi + 1e-12
        return Point(inputs, quantity, "float64", value, None, 0.0, ok, expected=f"within {ref.method}")
    if math.isinf(ref.value):
        return Point(inputs, quantity, "float64", value, None, 0.0, value == math.inf,
                     expected="+inf (the divergence is infinite)")
    ok = math.isfinite(value) and abs(value - ref.value) <= ref.tolerance
    return Point(inputs, quantity, "float64", value, ref.value, ref.tolerance, ok, scale=ref.scale)


def _rules_note(method_counts: dict[str, int]) -> str:
    return ", ".join(f"{n} by {m}" for m, n in sorted(method_counts.items()))


def _select(pool: list[Case], dims: Sequence[int] | None, max_dim: int) -> tuple[list[Case], str]:
    if max_dim < 1:
        raise FdivError(f"max_dim must be at least 1, got {max_dim}")
    pool = [c for c in pool if c.dim <= max_dim]
    scope = ""
    if dims is not None:
        wanted = sorted({int(x) for x in dims})
        if not wanted or min(wanted) < 1:
            raise FdivError(f"dims {list(dims)}: expected positive dimensions")
        pool = [c for c in pool if c.dim in wanted]
        scope = f"d in {{{', '.join(map(str, wanted))}}} only"
        if not pool:
            raise FdivError(f"no built-in case has d in {wanted} (up to max_dim {max_dim}); the dimensions are "
                            f"1, 2, 3, 8, 16, 32, 64, 256 and 2048")
    return pool, scope


def _finish(report: Report, fn: Callee, start: float, rtol: float | None, scope: str) -> None:
    from .outcome import classify

    moved = fn.in_place_failure()
    if moved:
        report.extra_failures.append(moved)
    report.rtol, report.scope = rtol, scope
    classify(report, lambda p: str(dict(p.inputs).get("case")) in MODERATE_CASES)
    total = time.process_time() - start
    local = not hasattr(fn, "import_seconds")
    report.user_seconds = fn.seconds
    report.own_seconds = max(total - fn.seconds, 0.0) if local else total


@with_assert
def check_gaussian_divergence(fn: Callable, against: str, *, params: dict | None = None,
                              cases: Sequence[Case] | None = None, batched: bool = False, max_dim: int = 2048,
                              dims: Sequence[int] | None = None, rtol: float | None = None) -> Report:
    """fn(mean_p, cov_p, mean_q, cov_q) against fdiv's D(P||Q) for `against` (kl, reverse-kl, jeffrey,
    squared-hellinger, bhattacharyya, renyi (params alpha), pearson, neyman, alpha, total-variation, a catalogue
    name such as jensen-shannon or gan, or an expression f(u)), on the built-in hard cases or `cases`; dims
    selects case dimensions, rtol loosens the tolerance (rtol x scale)."""
    start = time.process_time()
    name, ref = resolve(against)
    if ref is not None:
        missing = [k for k in ref.params if k not in (params or {})]
        if missing:
            raise FdivError(f"{name} needs the parameter {missing[0]} (for example --param {missing[0]}=0.5)")
    callee = as_callee(fn)
    pool, scope = _select(list(cases) if cases is not None else gaussian_cases(max_dim=max_dim), dims, max_dim)
    if ref is None:  # quadrature in 1-D, Monte Carlo above: keep the Monte Carlo cases few and small
        pool = [c for c in pool if c.dim == 1 or (c.dim <= 8 and "ill" not in c.name)]
    theirs = _call(callee, pool, batched)  # first: a function that cannot run fails before any reference work
    _unusable(theirs, pool)
    exacts = [exact_divergence(name, c, params).loosened(rtol) for c in pool]
    points = [_point(c, t, e) for c, t, e in zip(pool, theirs, exacts)]
    report = Report(f"gaussian divergence {callee.name} against {name}", points,
                    tolerance_rule=f"1e-9 |exact| + 16 d eps kappa scale per case (kappa: condition number; scale: "
                                   f"the closed form's terms); Monte Carlo: {Z_FALSE_FAILURE:.2f} standard errors "
                                   f"(false-failure probability 1e-7 per case); +inf exactly where the divergence "
                                   f"is infinite", tolerance_short="1e-9 |exact| + 16 d eps kappa (terms) per case")
    counts: dict[str, int] = {}
    for e in exacts:
        key = "bounds" if e.method.startswith("bounds") else e.method
        counts[key] = counts.get(key, 0) + 1
    report.notes.append(f"{len(pool)} cases: {_rules_note(counts)}")
    _finish(report, callee, start, rtol, scope)
    if not report.ok:
        report.diagnosis = _diagnose_gaussian(report, name, pool, theirs, exacts)
    return report


def _value(name: str, case: Case) -> float:
    """A parameter-free reference's value at a case (the product form where the case has one)."""
    ref = GAUSSIAN_REFERENCES[name]
    if case.spectra is not None and name in _PRODUCT:
        return float(_PRODUCT[name](*_product_pair(case), {}))
    return float(ref.closed_form(*_pair(case), {}))


def _numbers(theirs: list[Returned]) -> list[float | None]:
    return [None if r.failure or r.values is None else float(np.asarray(r.values).reshape(-1)[0]) for r in theirs]


def _diagnose_gaussian(report: Report, name: str, pool, theirs: list[Returned], exacts) -> str:
    from .diagnose import diagnose

    bad = report.failures
    finite_when_infinite = [p for p in bad if p.expected.startswith("+inf")]
    if finite_when_infinite:
        p = finite_when_infinite[0]
        return f"finite where the divergence is infinite: {p.theirs!r} at case '{dict(p.inputs)['case']}'"
    complex_ = [p for p in bad if p.expected.startswith("a real")]
    if complex_:
        return f"returns a complex number at {len(complex_)} case(s), e.g. '{dict(complex_[0].inputs)['case']}'"
    values = _numbers(theirs)
    # another reference that fits every finite case
    for other, ref in GAUSSIAN_REFERENCES.items():
        if other == name or ref.name != other or ref.params:
            continue
        try:
            alt = [_value(other, c) for c in pool]
        except FdivError:
            continue
        pairs = [(t, a, e) for t, a, e in zip(values, alt, exacts)
                 if t is not None and math.isfinite(a) and math.isfinite(e.value)]
        if pairs and all(math.isfinite(t) and abs(t - a) <= max(e.tolerance, 1e-9 * abs(a)) for t, a, e in pairs):
            if not all(abs(a - e.value) <= e.tolerance for _, a, e in pairs):
                return f"this is {other} ({ref.description}), not {name}"
    return _term_fit(pool, values, exacts) or diagnose(bad)


_TERMS = ("tr(Sq^-1 Sp)", "tr(Sp^-1 Sq)", "(mq - mp)' Sq^-1 (mq - mp)", "(mq - mp)' Sp^-1 (mq - mp)", "d",
          "(log det Sq - log det Sp)")


def _terms_of(case: Case) -> np.ndarray:
    if case.spectra is not None:
        mp, mq, wp, wq = case.spectra
        delta2 = (mq - mp) ** 2
        return np.array([np.sum(wp / wq), np.sum(wq / wp), np.sum(delta2 / wq), np.sum(delta2 / wp), case.dim,
                         np.sum(np.log(wq)) - np.sum(np.log(wp))], dtype=float)
    p, q = _pair(case)
    solve = np.linalg.solve
    a, b = solve(q.chol, p.chol), solve(p.chol, q.chol)
    delta = (q.mean - p.mean)[..., None]
    return np.array([(a * a).sum(), (b * b).sum(), np.sum(solve(q.chol, delta) ** 2),
                     np.sum(solve(p.chol, delta) ** 2), case.dim, q.logdet() - p.logdet()], dtype=float)


def _term_fit(pool, values: list[float | None], exacts) -> str:
    """theirs - exact as a combination of the closed forms' terms with coefficients in halves (a sign or factor
    slip in one term), fitted over every finite case."""
    rows, errs = [], []
    for c, t, e in zip(pool, values, exacts):
        if t is None or not (math.isfinite(e.value) and math.isfinite(t)):
            continue
        try:
            rows.append(_terms_of(c))
        except FdivError:
            continue
        errs.append(t - e.value)
    if len(rows) < len(_TERMS) + 2:
        return ""
    a, y = np.array(rows), np.array(errs)
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    halves = np.round(coef * 2) / 2
    fit = a @ halves
    # coefficients that are halves to 1e-6, and a fit as good as the cases' own rounding allows
    if not np.any(halves) or np.max(np.abs(coef - halves)) > 1e-6 or \
            np.max(np.abs(fit - y)) > 1e-4 * max(np.max(np.abs(y)), 1e-300):
        return ""
    parts = [f"{h:+g} x {name}" for h, name in zip(halves, _TERMS) if h]
    return (f"theirs - exact = {' '.join(parts)} at every case: a term with the wrong sign or factor "
            f"(KL(P||Q) = 1/2 [tr(Sq^-1 Sp) + (mq - mp)' Sq^-1 (mq - mp) - d + log det Sq - log det Sp])")


@with_assert
def check_fid(fn: Callable, *, cases: Sequence[Case] | None = None, batched: bool = False,
              max_dim: int = 2048, dims: Sequence[int] | None = None, rtol: float | None = None) -> Report:
    """fn(mean_p, cov_p, mean_q, cov_q) -> |mu_p - mu_q|^2 + tr Sp + tr Sq - 2 tr (Sp^1/2 Sq Sp^1/2)^1/2, the
    squared Frechet (2-Wasserstein) distance that FID reports, on the hard cases (rank-deficient included);
    dims selects case dimensions, rtol loosens the tolerance (rtol x scale)."""
    start = time.process_time()
    callee = as_callee(fn)
    pool, scope = _select(list(cases) if cases is not None else gaussian_cases(psd=True, max_dim=max_dim,
                                                                                infinite=False), dims, max_dim)
    theirs = _call(callee, pool, batched)
    _unusable(theirs, pool)
    exacts = []
    for c in pool:
        value, scale = _frechet_reference(c)
        exacts.append(Exact(value, FID_TOL * (value + scale), "frechet", scale=value + scale).loosened(rtol))
    points = [_point(c, t, e) for c, t, e in zip(pool, theirs, exacts)]
    report = Report(f"frechet distance {callee.name}", points,
                    tolerance_rule="1e-9 (|exact| + |dmu|^2 + tr Sp + tr Sq) per case",
                    tolerance_short="1e-9 (|exact| + |dmu|^2 + tr Sp + tr Sq) per case")
    report.notes.append(f"{len(pool)} cases, {sum(_singular(c.name) for c in pool)} of them with singular "
                        f"covariances")
    _finish(report, callee, start, rtol, scope)
    if not report.ok:
        from .diagnose import diagnose

        complex_ = [p for p in report.failures if p.expected.startswith("a real")]
        singular = [p for p in report.failures if _singular(str(dict(p.inputs)["case"]))]
        numeric = [p for p in singular if not p.expected]
        if complex_:
            report.diagnosis = (f"returns a complex number at {len(complex_)} case(s) (a matrix square root of a "
                                f"product of covariances?)")
        elif numeric:
            lead = ("off only where a covariance is singular: " if len(singular) == len(report.failures) else
                    "where a covariance is singular: ")
            report.diagnosis = (lead + "square roots of its rounding-noise eigenvalues (sqrtm(Sp @ Sq), or "
                                "eigenvalues kept without a noise threshold) cost about 1e-8 of the scale; the "
                                "nuclear norm of Fp' Fq for factors Fp Fp' = Sp, Fq Fq' = Sq needs no square root "
                                "of a product; " + diagnose(report.failures))
        else:
            report.diagnosis = diagnose(report.failures)
    return report


def _singular(name: str) -> bool:
    return "rank" in name or "point mass" in name
