"""Hypothesis strategies for testing code against fdiv: logits, Gaussians, Gaussian pairs, divergences.

    from hypothesis import given
    from fdiv.testing import strategies as fst

    @given(v=fst.logits("float32"))
    def test_my_activation(v): ...

Gaussians are drawn as a seed (which hypothesis shrinks) and built with numpy, so a d = 64 covariance costs one
draw, not 4096.
"""
from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from .reference import LOGIT_GRID, dtype_name


def _round(x: float, dtype: str) -> float:
    return float(np.float32(x)) if dtype == "float32" else float(x)


def logits(dtype="float32", *, extremes: bool = True) -> st.SearchStrategy[float]:
    """Logits representable in dtype: mostly in [-40, 40], often at the float32 exp edge |v| in [80, 110], some up
    to |v| = 800 (the float64 edge) and 1e4; with extremes=True also the grid 0, +-1, +-20, +-50, +-88.7, +-100,
    +-1000, +-1e4 (the points where stable and naive code part ways)."""
    dtype = dtype_name(dtype)
    width = 32 if dtype == "float32" else 64
    parts = [st.floats(-40, 40, width=width),
             st.floats(80, 110, width=width).flatmap(lambda x: st.sampled_from([x, -x])),
             st.floats(-800, 800, width=width),
             st.floats(-1e4, 1e4, width=width)]
    if extremes:
        parts.insert(0, st.sampled_from([_round(x, dtype) for x in LOGIT_GRID]))
    return st.one_of(parts)


def _covariance(rng: np.random.Generator, d: int, condition: float, rank: int | None = None) -> np.ndarray:
    """A random rotation of eigenvalues log-uniform over [1, condition] (times a random overall scale); with
    rank < d, a PSD matrix of that rank."""
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    q *= np.sign(np.diag(r))
    w = np.exp(rng.uniform(0, math.log(condition), d)) if condition > 1 else np.ones(d)
    w *= 10 ** rng.uniform(-1, 1)
    if d > 1 and condition > 1:
        w[0], w[-1] = w.min(), w.min() * condition  # attain the stated condition number
    if rank is not None:
        w[rank:] = 0.0
    s = (q * w) @ q.T
    return (s + s.T) / 2


def _dims(dim) -> st.SearchStrategy[int]:
    return dim if isinstance(dim, st.SearchStrategy) else st.just(int(dim))


def gaussians(dim=st.integers(1, 8), *, condition: float = 1e3) -> st.SearchStrategy[tuple[np.ndarray, np.ndarray]]:
    """(mean, cov) as float64 arrays of shapes (d,), (d, d); cov positive definite with condition number
    `condition` (exactly, for d > 1)."""
    def build(d: int, seed: int):
        rng = np.random.default_rng(seed)
        return rng.normal(scale=2.0, size=d), _covariance(rng, d, condition)
    return st.tuples(_dims(dim), st.integers(0, 2**32 - 1)).map(lambda a: build(*a))


KINDS = ("random", "nearly-equal", "equal", "rank-deficient", "chi2-infinite")


def gaussian_pairs(dim=st.integers(1, 8), *, condition: float = 1e3, kinds=("random", "nearly-equal", "equal")):
    """(mean_p, cov_p, mean_q, cov_q). kinds: 'random' (independent), 'nearly-equal' (q = p moved by 1e-9
    relative: the closed forms cancel), 'equal', 'rank-deficient' (PSD covariances of rank < d, for the Frechet
    distance only), 'chi2-infinite' (Sigma_p = c Sigma_q with c in [2, 4]: chi^2(P||Q) is infinite)."""
    unknown = set(kinds) - set(KINDS)
    if unknown or not kinds:
        raise ValueError(f"kinds must be a non-empty subset of {KINDS}")

    def build(d: int, seed: int, kind: str):
        rng = np.random.default_rng(seed)
        mp = rng.normal(scale=2.0, size=d)
        cp = _covariance(rng, d, condition)
        if kind == "random":
            return mp, cp, rng.normal(scale=2.0, size=d), _covariance(rng, d, condition)
        if kind == "equal":
            return mp, cp, mp.copy(), cp.copy()
        if kind == "nearly-equal":
            e = rng.normal(size=(d, d))
            return mp, cp, mp * (1 + 1e-9) + 1e-9, cp + 1e-9 * np.abs(cp).max() * (e + e.T) / (2 * d)
        if kind == "chi2-infinite":
            return mp, rng.uniform(2, 4) * cp, rng.normal(scale=2.0, size=d), cp
        rank = int(rng.integers(0, d)) if d > 1 else 0
        return mp, _covariance(rng, d, condition, rank), rng.normal(scale=2.0, size=d), \
            _covariance(rng, d, condition, int(rng.integers(0, d + 1)))
    return st.tuples(_dims(dim), st.integers(0, 2**32 - 1), st.sampled_from(list(kinds))).map(lambda a: build(*a))


# f's built from catalogue entries that stay valid generators: positive multiples, an added c (u - 1) (same
# divergence on densities, a shifted conjugate), and the parametric families at random parameters.
_SCALES = ("1/2", "2", "3")
_SHIFTS = ("-1", "1/2", "2")


def divergences(*, catalogue: bool = True, random_f: bool = True):
    """fdiv Derivations: catalogue entries (at their default parameters) and random valid f's: c f (c > 0),
    f + c (u - 1), alpha(alpha) and js-weighted(pi) at random rational parameters. Each is derived once per
    process (cached); a draw costs up to a second the first time."""
    from fdiv.spec import catalogue as cat

    from .exact import derivation

    names = cat.names()
    parts = []
    if catalogue:
        parts.append(st.sampled_from(names).map(derivation))
    if random_f:
        # entries whose multiples and shifts derive in about a second (3 times JS's f runs past SymPy's limit)
        simple = ["kl", "reverse-kl", "pearson", "squared-hellinger", "neyman", "triangular"]

        def scaled(name: str, c: str):
            return derivation(f"{c}*({cat.get(name).f})")

        def shifted(name: str, c: str):
            return derivation(f"{cat.get(name).f} + {c}*(u - 1)")

        alphas = st.sampled_from(["-2", "-1/2", "1/3", "1/2", "2/3", "3/2", "2", "5/2", "4"])
        pis = st.sampled_from(["1/10", "1/3", "1/2"])  # pi = 2/3 and 9/10 do not derive in closed form today
        parts += [st.tuples(st.sampled_from(simple), st.sampled_from(_SCALES)).map(lambda a: scaled(*a)),
                  st.tuples(st.sampled_from(simple), st.sampled_from(_SHIFTS)).map(lambda a: shifted(*a)),
                  alphas.map(lambda a: derivation("alpha", {"alpha": a})),
                  pis.map(lambda p: derivation("js-weighted", {"pi": p}))]
    if not parts:
        raise ValueError("divergences: nothing to draw (catalogue=False and random_f=False)")
    return st.one_of(parts)
