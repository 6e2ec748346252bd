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

A function that raises on the first (simplest) case cannot be used (an error); one that raises on a later, harder
case fails that case.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from fdiv.errors import FdivError

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
        return self.mean_p.copy(), self.cov_p.copy(), self.mean_q.copy(), self.cov_q.copy()

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


def _case(name, mp, cp, mq, cq, factors=None, cond=None) -> Case:
    f = lambda x: np.array(x, dtype=np.float64)
    return Case(name, f(mp), f(cp), f(mq), f(cq), factors, cond)


def gaussian_cases(*, psd: bool = False, max_dim: int = 2048, infinite: bool = True) -> list[Case]:
    """The built-in hard cases (deterministic). psd=True adds rank-deficient covariances (for Frechet)."""
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
    for d in (256, 2048):
        if d <= max_dim and not (psd and d > 256):  # full-rank 2048 for divergences (Frechet: the low-rank one)
            cases.append(_case(f"d={d}", rng.normal(size=d), _spd(rng, d, 2.0), rng.normal(size=d),
                               _spd(rng, d, 2.0), cond=100.0))
    if psd:
        for d, r, spread in ((16, 3, 2.0), (64, 10, 3.0), (2048, 64, 2.0)):
            if d <= max_dim:
                ap, aq = _low_rank_factor(rng, d, r, spread), _low_rank_factor(rng, d, r, spread)
                cases.append(_case(f"d={d} rank {r} (singular values 1e-{spread:g}..1e{spread:g})",
                                   rng.normal(size=d), ap @ ap.T, rng.normal(size=d), aq @ aq.T, (ap, aq)))
        a = _low_rank_factor(rng, 8, 8, 1.0)
        cases.append(_case("d=8 point mass vs Gaussian", np.zeros(8), np.zeros((8, 8)), np.ones(8), a @ a.T,
                           (np.zeros((8, 0)), a)))
    return cases


# ---------------------------------------------------------------------------------------------- references
@dataclass(frozen=True)
class Exact:
    value: float  # +inf for an infinite divergence
    tolerance: float
    method: str
    std_error: float = 0.0  # Monte Carlo only


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
        p, q = g.gaussian(case.mean_p, case.cov_p, name="p"), g.gaussian(case.mean_q, case.cov_q, name="q")
        if name == "total-variation" and case.dim > 1 and not np.array_equal(case.cov_p, case.cov_q):
            lo, hi = g.total_variation_bounds(p, q)
            return Exact(math.nan, 0.0, f"bounds [{float(lo):.17g}, {float(hi):.17g}] (no closed form in d > 1 with "
                                        f"unequal covariances)")
        value = float(ref.closed_form(p, q, values))
        if math.isinf(value):
            return Exact(value, 0.0, "closed form")
        s, kappa = _terms_scale(p, q, case)
        tol = RTOL_GAUSS * abs(value) + COND_FACTOR * case.dim * EPS64 * kappa * ref.scale(s, value, values)
        return Exact(value, tol, "closed form")
    from fdiv.testing.exact import derivation

    d = derivation(name, params)
    if case.dim == 1:
        from numerics.quadrature import f_divergence

        est = f_divergence(d, (case.mean_p[0], case.cov_p[0, 0]), (case.mean_q[0], case.cov_q[0, 0]))
        tol = RTOL_GAUSS * abs(est.value) + 4 * est.abs_error + COND_FACTOR * EPS64 if math.isfinite(est.value) else 0.0
        return Exact(est.value, tol, "quadrature")
    from numerics import montecarlo

    p, q = g.gaussian(case.mean_p, case.cov_p, name="p"), g.gaussian(case.mean_q, case.cov_q, name="q")
    est = montecarlo.f_divergence(d, p, q, n=mc_samples, seed=0)
    return Exact(est.value, Z_FALSE_FAILURE * est.std_error, "monte carlo", est.std_error)


def _number(text) -> float:
    if isinstance(text, (int, float)):
        return float(text)
    from fdiv.parse import parse_number

    return float(parse_number(str(text), where="--param"))


# ---------------------------------------------------------------------------------------------------- checks
class GaussianFunctionError(FdivError):
    """fn cannot be used as fn(mean_p, cov_p, mean_q, cov_q) -> float."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _call(fn: Callable, cases: list[Case], batched: bool):
    """Their values, one per case, as (real part, imaginary part)."""
    out = []
    if batched:
        by_dim: dict[int, list[int]] = {}
        for i, c in enumerate(cases):
            by_dim.setdefault(c.dim, []).append(i)
        results: dict[int, object] = {}
        for d, idx in by_dim.items():
            stack = [np.stack([getattr(cases[i], a) for i in idx]) for a in ("mean_p", "cov_p", "mean_q", "cov_q")]
            values = np.asarray(_invoke(fn, stack, f"a batch of {len(idx)} pairs with d = {d}"))
            if values.shape != (len(idx),):
                raise GaussianFunctionError(f"batched fn returned shape {values.shape} for {len(idx)} pairs; "
                                            f"expected ({len(idx)},)")
            results.update(zip(idx, values.tolist()))
        raw = [results[i] for i in range(len(cases))]
    else:
        raw = []
        for i, c in enumerate(cases):
            try:
                raw.append(_invoke(fn, list(c.arrays()), f"case '{c.name}'"))
            except GaussianFunctionError as exc:
                if i == 0:
                    raise
                raw.append(exc)
    for c, r in zip(cases, raw):
        out.append(r if isinstance(r, GaussianFunctionError) else _as_number(r, c))
    return out


def _invoke(fn, args, where: str):
    try:
        return fn(*args)
    except Exception as exc:  # their code: report any failure with the case that caused it
        raise GaussianFunctionError(f"fn(mean_p, cov_p, mean_q, cov_q) raised {type(exc).__name__} at {where}: "
                                    f"{_first_line(exc)}") from None


def _as_number(r, case: Case) -> tuple[float, float]:
    if hasattr(r, "detach"):  # a torch scalar
        r = r.detach().cpu().numpy()
    arr = np.asarray(r)
    if arr.size != 1 or not (np.issubdtype(arr.dtype, np.number)):
        raise GaussianFunctionError(f"fn returned {type(r).__name__} of shape {arr.shape} at case '{case.name}'; "
                                    f"expected a float")
    x = arr.reshape(()).item()
    if isinstance(x, complex):
        return x.real, x.imag
    return float(x), 0.0


def _point(case: Case, theirs, ref: Exact, quantity: str = "value") -> Point:
    inputs = tuple(case.describe().items())
    if isinstance(theirs, GaussianFunctionError):
        why = str(theirs).split(" raised ", 1)[-1]
        return Point(inputs, quantity, "float64", None, None if math.isnan(ref.value) else ref.value, ref.tolerance,
                     False, expected=f"a value (it raised {why})")
    value, imag = theirs
    if imag != 0.0:
        return Point(inputs, quantity, "float64", value, None if math.isnan(ref.value) else ref.value, ref.tolerance,
                     False, expected=f"a real number (imaginary part {imag:.3g})")
    if ref.method.startswith("bounds"):
        lo, hi = (float(x) for x in ref.method[ref.method.index("[") + 1:ref.method.index("]")].split(","))
        ok = lo - 1e-12 <= value <= hi + 1e-12
        return Point(inputs, quantity, "float64", value, None, 0.0, ok, expected=f"within {ref.method}")
    if math.isinf(ref.value):
        return Point(inputs, quantity, "float64", value, None, 0.0, value == math.inf,
                     expected="+inf (the divergence is infinite)")
    ok = math.isfinite(value) and abs(value - ref.value) <= ref.tolerance
    return Point(inputs, quantity, "float64", value, ref.value, ref.tolerance, ok)


def _rules_note(method_counts: dict[str, int]) -> str:
    return ", ".join(f"{n} by {m}" for m, n in sorted(method_counts.items()))


@with_assert
def check_gaussian_divergence(fn: Callable, against: str, *, params: dict | None = None,
                              cases: Sequence[Case] | None = None, batched: bool = False, max_dim: int = 2048,
                              dims: Sequence[int] | None = None) -> Report:
    """fn(mean_p, cov_p, mean_q, cov_q) against fdiv's D(P||Q) for `against` (kl, reverse-kl, jeffrey,
    squared-hellinger, bhattacharyya, renyi (params alpha), pearson, neyman, alpha, total-variation, a catalogue
    name such as jensen-shannon or gan, or an expression f(u)), on the built-in hard cases or `cases`."""
    name, ref = resolve(against)
    if ref is not None:
        missing = [k for k in ref.params if k not in (params or {})]
        if missing:
            raise FdivError(f"{name} needs the parameter {missing[0]} (for example --param {missing[0]}=0.5)")
    pool = list(cases) if cases is not None else gaussian_cases(max_dim=max_dim)
    if dims is not None:
        pool = [c for c in pool if c.dim in dims]
    if ref is None:  # quadrature in 1-D, Monte Carlo above: keep the Monte Carlo cases few and small
        pool = [c for c in pool if c.dim == 1 or (c.dim <= 8 and "ill" not in c.name)]
    theirs = _call(fn, pool, batched)  # first: a function that cannot run fails before any reference work
    exacts = [exact_divergence(name, c, params) for c in pool]
    points = [_point(c, t, e) for c, t, e in zip(pool, theirs, exacts)]
    report = Report(f"gaussian divergence {getattr(fn, '__name__', 'fn')} against {name}", points,
                    tolerance_rule=f"1e-9 |exact| + 16 d eps kappa scale per case (kappa: condition number; scale: "
                                   f"the closed form's terms); Monte Carlo: {Z_FALSE_FAILURE:.2f} standard errors "
                                   f"(false-failure probability 1e-7 per case); +inf exactly where the divergence "
                                   f"is infinite")
    counts: dict[str, int] = {}
    for e in exacts:
        key = "bounds" if e.method.startswith("bounds") else e.method
        counts[key] = counts.get(key, 0) + 1
    report.notes.append(f"{len(pool)} cases: {_rules_note(counts)}")
    if not report.ok:
        report.diagnosis = _diagnose_gaussian(fn, report, name, pool, theirs, exacts, params, batched)
    return report


def _diagnose_gaussian(fn, report: Report, name: str, pool, theirs, exacts, params, batched) -> str:
    from .diagnose import diagnose

    bad = report.failures
    finite_when_infinite = [p for p in bad if p.expected.startswith("+inf")]
    if finite_when_infinite:
        p = finite_when_infinite[0]
        return f"finite where the divergence is infinite: {p.theirs!r} at case '{dict(p.inputs)['case']}'"
    complex_ = [p for p in bad if p.expected.startswith("a real")]
    if complex_:
        return f"returns a complex number at {len(complex_)} case(s), e.g. '{dict(complex_[0].inputs)['case']}'"
    # another reference that fits every finite case
    for other, ref in GAUSSIAN_REFERENCES.items():
        if other == name or ref.name != other or ref.params:
            continue
        try:
            alt = [float(ref.closed_form(*_pair(c), {})) for c in pool]
        except FdivError:
            continue
        pairs = [(t[0], a, e) for t, a, e in zip(theirs, alt, exacts)
                 if not isinstance(t, GaussianFunctionError) and math.isfinite(a) and math.isfinite(e.value)]
        if pairs and all(math.isfinite(t) and abs(t - a) <= max(e.tolerance, 1e-9 * abs(a)) for t, a, e in pairs):
            if not all(abs(a - e.value) <= e.tolerance for _, a, e in pairs):
                return f"this is {other} ({ref.description}), not {name}"
    return _term_fit(pool, theirs, exacts) or diagnose(bad)


_TERMS = ("tr(Sq^-1 Sp)", "tr(Sp^-1 Sq)", "(mq - mp)' Sq^-1 (mq - mp)", "(mq - mp)' Sp^-1 (mq - mp)", "d",
          "(log det Sq - log det Sp)")


def _terms_of(case: Case) -> np.ndarray:
    p, q = _pair(case)
    solve = np.linalg.solve
    a, b = solve(q.chol, p.chol), solve(p.chol, q.chol)
    delta = (q.mean - p.mean)[..., None]
    return np.array([(a * a).sum(), (b * b).sum(), np.sum(solve(q.chol, delta) ** 2),
                     np.sum(solve(p.chol, delta) ** 2), case.dim, q.logdet() - p.logdet()], dtype=float)


def _term_fit(pool, theirs, exacts) -> str:
    """theirs - exact as a combination of the closed forms' terms with coefficients in halves (a sign or factor
    slip in one term), fitted over every finite case."""
    rows, errs = [], []
    for c, t, e in zip(pool, theirs, exacts):
        if isinstance(t, GaussianFunctionError) or not (math.isfinite(e.value) and math.isfinite(t[0])):
            continue
        try:
            rows.append(_terms_of(c))
        except FdivError:
            continue
        errs.append(t[0] - e.value)
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


def _pair(case: Case):
    g = _g()
    return g.gaussian(case.mean_p, case.cov_p, name="p"), g.gaussian(case.mean_q, case.cov_q, name="q")


@with_assert
def check_fid(fn: Callable, *, cases: Sequence[Case] | None = None, batched: bool = False,
              max_dim: int = 2048) -> Report:
    """fn(mean_p, cov_p, mean_q, cov_q) -> |mu_p - mu_q|^2 + tr Sp + tr Sq - 2 tr (Sp^1/2 Sq Sp^1/2)^1/2, the
    squared Frechet (2-Wasserstein) distance that FID reports, on the hard cases (rank-deficient included)."""
    pool = list(cases) if cases is not None else gaussian_cases(psd=True, max_dim=max_dim, infinite=False)
    theirs = _call(fn, pool, batched)
    exacts = []
    for c in pool:
        value, scale = _frechet_reference(c)
        exacts.append(Exact(value, FID_TOL * (value + scale), "frechet"))
    points = [_point(c, t, e) for c, t, e in zip(pool, theirs, exacts)]
    report = Report(f"frechet distance {getattr(fn, '__name__', 'fn')}", points,
                    tolerance_rule="1e-9 (|exact| + |dmu|^2 + tr Sp + tr Sq) per case")
    report.notes.append(f"{len(pool)} cases, {sum('rank' in c.name or 'point mass' in c.name for c in pool)} of "
                        f"them with singular covariances")
    if not report.ok:
        from .diagnose import diagnose

        complex_ = [p for p in report.failures if p.expected.startswith("a real")]
        singular = [p for p in report.failures if "rank" in str(dict(p.inputs)["case"]) or
                    "point mass" in str(dict(p.inputs)["case"])]
        if complex_:
            report.diagnosis = (f"returns a complex number at {len(complex_)} case(s) (a matrix square root of a "
                                f"product of covariances?)")
        elif singular and len(singular) == len(report.failures):
            report.diagnosis = ("wrong only where a covariance is singular: square roots of its rounding-noise "
                                "eigenvalues (sqrtm(Sp @ Sq), or eigenvalues kept without a noise threshold) cost "
                                "about 1e-8 of the scale; the nuclear norm of Fp' Fq for factors Fp Fp' = Sp, "
                                "Fq Fq' = Sq needs no square root of a product; " + diagnose(report.failures))
        else:
            report.diagnosis = diagnose(report.failures)
    return report
