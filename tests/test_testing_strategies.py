"""fdiv.testing.strategies draw what they promise."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fdiv.testing as ft
from fdiv.testing import strategies as fst
from numerics import gaussian as g


@settings(max_examples=100)
@given(v=fst.logits("float32"), w=fst.logits("float64", extremes=False))
def test_logits_are_representable_finite_and_in_range(v, w):
    assert math.isfinite(v) and float(np.float32(v)) == v and abs(v) <= 1e4
    assert math.isfinite(w) and abs(w) <= 1e4


def test_logits_reach_the_extreme_grid():
    seen = set()

    @settings(max_examples=300)
    @given(v=fst.logits("float64"))
    def collect(v):
        seen.add(v)

    collect()
    assert {1e4, -1e4, 88.7, -88.7, 0.0} <= seen


@settings(max_examples=30)
@given(gauss=fst.gaussians(dim=st.integers(2, 16), condition=1e6))
def test_gaussians_have_the_stated_condition_number(gauss):
    mean, cov = gauss
    w = np.linalg.eigvalsh(cov)
    assert mean.shape == (cov.shape[0],) and np.allclose(cov, cov.T)
    assert w.min() > 0 and w.max() / w.min() == pytest.approx(1e6, rel=1e-6)  # exact up to rounding


@pytest.mark.parametrize("kind", fst.KINDS)
@settings(max_examples=15)
@given(data=st.data())
def test_gaussian_pairs_of_each_kind(kind, data):
    mean_p, cov_p, mean_q, cov_q = data.draw(fst.gaussian_pairs(dim=st.integers(1, 6), kinds=(kind,)))
    d = mean_p.shape[0]
    assert mean_q.shape == (d,) and cov_p.shape == cov_q.shape == (d, d)
    if kind == "rank-deficient":  # only the Frechet distance is defined, and it is finite
        smallest = min(np.linalg.eigvalsh(c).min() for c in (cov_p, cov_q))
        assert smallest <= 1e-9 * max(1.0, np.abs(cov_p).max(), np.abs(cov_q).max())
        assert math.isfinite(g.frechet_distance(mean_p, cov_p, mean_q, cov_q))
        return
    p, q = g.gaussian(mean_p, cov_p), g.gaussian(mean_q, cov_q)
    kl, chi2 = float(g.kl(p, q)), float(g.pearson_chi2(p, q))
    if kind == "equal":
        assert kl == pytest.approx(0.0, abs=1e-12)
    elif kind == "nearly-equal":
        assert 0 <= kl < 1e-8 or abs(kl) < 1e-12
    elif kind == "chi2-infinite":
        assert math.isinf(chi2) and np.linalg.eigvalsh(2 * cov_q - cov_p).min() <= 0
    else:
        assert math.isfinite(kl) and kl > 0


def test_pair_kinds_are_checked():
    with pytest.raises(ValueError, match="kinds"):
        fst.gaussian_pairs(kinds=("sideways",))


@settings(max_examples=2)  # a fresh derivation costs about a second
@given(d=fst.divergences(catalogue=False))
def test_random_divergences_are_valid_derivations(d):
    assert d.ok, [str(c) for c in d.checks if not c.passed]
    assert d.name == "custom" or d.parameters  # a multiple, a shifted f, or a family at a drawn parameter
