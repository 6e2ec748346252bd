"""pytest plugin (entry point pytest11 'fdiv.testing.plugin'): fixtures for testing code against fdiv.

    def test_my_gan_loss(fdiv_reference, fdiv_dtype):
        fdiv_reference.assert_critic_loss(my_loss, "gan", dtypes=[fdiv_dtype])

Fixtures:
    fdiv_reference   the oracle: every check_*/assert_* of fdiv.testing (losses, check_dpo, Gaussians, FID,
                     estimators), plus exact values (value, divergence, frechet) and the built-in Gaussian hard
                     cases. The function under test runs in the test's own process, on its own copies of the
                     inputs; `fdiv verify` isolates it in a child process instead.
    fdiv_dtype       "float32" and "float64" (tests using it run once per dtype)
    fdiv_logits      the extreme grid plus drawn logits (a list of floats)
    fdiv_gaussian_cases  the built-in hard Gaussian cases up to d = 64 (fdiv_reference.gaussian_cases for more)

pytest loads this module in every project of an environment where fdiv is installed, so it imports only pytest
(and fdiv's light package module): torch, numpy and SymPy load when a fixture is first used
(tests/test_plugin_cost.py holds it to the modules it loads).
"""
from __future__ import annotations

import pytest
from .._util.siblings import load


class Oracle:
    """fdiv as a reference: checks (check_*, assert_*) and exact values."""

    def __getattr__(self, name: str):
        import fdiv.testing as ft

        if name.startswith(("check_", "assert_")) or name in ft.__all__:
            return getattr(ft, name)
        raise AttributeError(f"fdiv_reference has no attribute {name!r}")

    def value(self, against: str, what: str, x: float, **params) -> float:
        """The exact activation, conjugate_of_activation, density_ratio (at a logit x) or conjugate (at t = x)."""
        from fdiv.testing.exact import derivation, reference
        from fdiv.testing.reference import to_float

        ref = reference(derivation(against, params or None))
        return to_float(ref.value(what, float(x)))

    def divergence(self, against: str, mean_p, cov_p, mean_q, cov_q, **params) -> float:
        """fdiv's D(P||Q) between Gaussians (closed form, or quadrature in 1-D); +inf where infinite."""
        from fdiv.testing.estimators import _gaussian_pair
        from fdiv.testing.gaussians import exact_divergence

        return exact_divergence(against, _gaussian_pair((mean_p, cov_p), (mean_q, cov_q)), params or None).value

    def frechet(self, mean_p, cov_p, mean_q, cov_q) -> float:
        """The squared Frechet distance (what FID reports), without a square root of a product."""
        frechet_distance = load("numerics.gaussian").frechet_distance

        return frechet_distance(mean_p, cov_p, mean_q, cov_q)

    def gaussian_cases(self, **kwargs):
        from fdiv.testing.gaussians import gaussian_cases

        return gaussian_cases(**kwargs)


@pytest.fixture(scope="session")
def fdiv_reference() -> Oracle:
    return Oracle()


@pytest.fixture(params=["float32", "float64"])
def fdiv_dtype(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def fdiv_logits() -> list[float]:
    from fdiv.testing.losses import default_logits

    return default_logits()


@pytest.fixture(scope="session")
def fdiv_gaussian_cases():
    from fdiv.testing.gaussians import gaussian_cases

    return gaussian_cases(max_dim=64)
