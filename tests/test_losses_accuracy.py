"""Generated modules against the exact mathematics, through fdiv.testing: the checks users run on their own code.

For every catalogue module and seven user f's, every function of the module contract (activation, conjugate,
conjugate_of_activation, density_ratio, critic_loss, divergence_estimate, generator_loss,
generator_loss_nonsaturating), values and gradients, float32 and float64, at the extreme logits 0, +-1, +-20,
+-50, +-88.7, +-100, +-1000, +-1e4 plus drawn ones, against mpmath evaluating the derivation's exact expressions
(fdiv.testing.reference: 40 and 60 digits, or 40 + 0.4343 |v| digits where an e^-|v| could vanish next to 1).
Tolerances (fdiv.testing.losses.TOLERANCE_RULE): 1e-5 relative in float32, 1e-11 in float64, 10 ulps of 1 next
to 0, and for conjugate(t) the conditioning term near an end of dom f*. A point whose exact value is not
representable in the dtype is not compared.
"""
from __future__ import annotations

import importlib
import importlib.util

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fdiv.testing as ft
from fdiv.spec import catalogue
from fdiv.codegen.emit import module_name, write_module
from fdiv.testing import strategies as fst
from fdiv.testing.exact import derivation


def catalogue_module(name: str):
    return importlib.import_module(f"fdiv.losses.{module_name(derivation(name))}")


def assert_every_role(module, against: str, logits=None, roles=tuple(ft.ROLES)) -> None:
    for role in roles:
        report = ft.check_loss(getattr(module, role), against, role=role, logits=logits)
        assert report.ok, report.text()


@pytest.mark.parametrize("name", catalogue.names())
def test_every_function_at_the_extreme_and_drawn_logits(name):
    assert_every_role(catalogue_module(name), name)


# Drawn by hypothesis as well (the default logits above are drawn once, seeded): the reference costs up to
# |v|/2 digits, so the examples are few and each checks a batch of 6 logits of the elementwise functions.
ELEMENTWISE = ("activation", "conjugate", "conjugate_of_activation", "density_ratio")


@pytest.mark.parametrize("name", catalogue.names())
@settings(max_examples=3)
@given(logits=st.lists(fst.logits("float32"), min_size=6, max_size=6))
def test_elementwise_functions_at_hypothesis_logits(name, logits):
    assert_every_role(catalogue_module(name), name, logits=logits, roles=ELEMENTWISE)


# User-written f's: a quartic (real cube roots in f*), a kink with a 3/2-power conjugate (piecewise in v), a
# JS variant written by hand, scaled Hellinger, a rational f, reverse KL written out, KL plus a linear term.
USER_FS = ["(u-1)**4", "Abs(u-1)**3", "u*log(u) - (u+1)*log((u+1)/2)", "2*(sqrt(u)-1)**2", "(u-1)**2/(u+1)",
           "-log(u) + u - 1", "u*log(u) + 3*(u-1)"]


@pytest.fixture(scope="module")
def user_modules(tmp_path_factory):
    out = tmp_path_factory.mktemp("generated")
    modules = {}
    for i, f in enumerate(USER_FS):
        path = write_module(derivation(f), out, f"user_{i}")
        spec = importlib.util.spec_from_file_location(f"user_{i}", path)
        modules[f] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(modules[f])
    return modules


@pytest.mark.parametrize("f", USER_FS)
def test_user_f_every_function(f, user_modules):
    assert_every_role(user_modules[f], f, logits=ft.default_logits(drawn=10))
