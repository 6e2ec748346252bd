"""The exact preference world (numerics.preference): pi* from the KKT conditions at 50 digits, checked against
the closed form for KL and against its own optimality conditions; every generated preference loss, minimised
over a tabular policy, recovers pi*."""
from __future__ import annotations

import importlib.util

import mpmath
import numpy as np
import pytest

import fdiv
from fdiv.spec import catalogue
from fdiv.codegen.objectives import dpo
from fdiv.codegen.objectives.link import link_of
from fdiv.spec.spec import U
from numerics import preference
from numerics.errors import NumericsError

VALID = [n for n in catalogue.names() if link_of(fdiv.derive(n).f, n).valid]
WORLD = preference.default_world()


def test_kl_optimum_is_the_gibbs_policy():
    """f = u log u: pi* = pi_ref e^(r/beta)/Z, computed in float64 directly; the root-finding agrees to 1e-15
    (a few roundings of the float64 closed form)."""
    star = preference.optimal_policy(WORLD, fdiv.derive("kl").optimal_critic, U)
    gibbs = WORLD.reference * np.exp(WORLD.reward / WORLD.beta)
    gibbs /= gibbs.sum(axis=1, keepdims=True)
    assert np.abs(star - gibbs).max() <= 1e-15


@pytest.mark.parametrize("name", ["jensen-shannon", "reverse-kl", "neyman", "jeffrey"])
def test_optimum_satisfies_its_kkt_conditions(name):
    """r(y) - beta f'(pi*(y)/pi_ref(y)) is the same lambda for every response of a prompt, and pi* sums to 1:
    checked at 30 digits from the float64 pi*, so to float64 resolution (1e-12 relative to the rewards' scale:
    f' is evaluated at ratios that carry float64 rounding, amplified by f'' up to ~1e3 here)."""
    d = fdiv.derive(name)
    star = preference.optimal_policy(WORLD, d.optimal_critic, U)
    fp = __import__("sympy").lambdify(U, d.optimal_critic, modules="mpmath")
    assert np.abs(star.sum(axis=1) - 1).max() <= 1e-15
    with mpmath.workdps(30):
        for x in range(star.shape[0]):
            lams = [WORLD.reward[x, y] - WORLD.beta * fp(mpmath.mpf(star[x, y]) / mpmath.mpf(WORLD.reference[x, y]))
                    for y in range(star.shape[1])]
            assert max(lams) - min(lams) <= 1e-12


@pytest.fixture(scope="module")
def modules(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    made = {}
    for i, name in enumerate(VALID):
        path = dpo.write_module(fdiv.derive(name), out, f"w{i}")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        made[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(made[name])
    return made


@pytest.mark.parametrize("name", VALID)
def test_minimising_the_preference_loss_recovers_pi_star(modules, name):
    """The population preference loss (every pair, Bradley-Terry labels) through the generated module, minimised
    by L-BFGS from pi_ref in float64, lands on the closed-form pi*. Tolerance 1e-6 (the issue asks for 1e-4):
    L-BFGS stops at a gradient norm of 1e-10 and the loss is strongly convex in the policy near pi*, so the
    policy error is of that order times the inverse curvature (measured: below 1e-8 for every spec)."""
    d = fdiv.derive(name)
    star = preference.optimal_policy(WORLD, d.optimal_critic, U)
    fitted = preference.fit(WORLD, modules[name])
    assert np.abs(fitted - star).max() <= 1e-6
    # and pi* is not pi_ref: the world moves the policy (by at least 0.05 somewhere)
    assert np.abs(star - WORLD.reference).max() >= 0.05


def test_bad_worlds_are_refused():
    with pytest.raises(NumericsError, match="positive distribution"):
        preference.World(np.zeros((1, 3)), np.array([[0.5, 0.5, 0.0]]), 1.0)
    with pytest.raises(NumericsError, match="beta must be positive"):
        preference.World(np.zeros((1, 2)), np.array([[0.5, 0.5]]), -1.0)
    with pytest.raises(NumericsError, match="same shape"):
        preference.World(np.zeros((1, 3)), np.array([[0.5, 0.5]]), 1.0)
