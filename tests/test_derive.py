"""derive(): validation reasons, the self-checks and how each is labelled, parameters, time limits."""
import pytest
import sympy as sp

import fdiv
from fdiv.derivation.conjugate import T
from fdiv.errors import DerivationTimeout, SpecError, ValidationError
from fdiv.spec.spec import U
from fdiv.spec import catalogue


@pytest.mark.parametrize("name", catalogue.names())
def test_catalogue_self_checks_pass_and_are_labelled(name):
    d = fdiv.derive(name)
    assert d.ok, [str(c) for c in d.checks if not c.passed]
    names = " ".join(c.name for c in d.checks)
    for needed in ("Fenchel-Young equality", "Fenchel-Young inequality", "f*(f'(1))", "biconjugate",
                   "activation maps R into dom f*", "convex"):
        assert needed in names
    for c in d.checks:
        assert c.method == "symbolic" or c.method.startswith("numeric (30 digits, ")


def test_fenchel_young_equality_is_symbolic_where_sympy_can_prove_it():
    methods = {c.name: c.method for c in fdiv.derive("kl").checks}
    assert methods["Fenchel-Young equality f*(f'(u)) + f(u) = u f'(u)"] == "symbolic"
    assert methods["biconjugate f**(u) = f(u)"].startswith("numeric")


def test_self_check_fails_for_a_wrong_conjugate():
    """The machinery can fail: feed the checks the f-GAN Pearson conjugate (no t <= -2 branch)."""
    from dataclasses import replace

    from fdiv.derivation.activation import activation
    from fdiv.derivation.conjugate import conjugate
    from fdiv.derivation.selfcheck import self_checks
    from fdiv.derivation.validate import analyse

    a = analyse((U - 1) ** 2)
    c = conjugate(a)
    wrong = replace(c, expr=T**2 / 4 + T)
    checks = {x.name: x for x in self_checks(a, wrong, activation(c.critic_range)[0], sp.Integer(0))}
    # t^2/4 + t is the conjugate of (u - 1)^2 over all u in R, so its biconjugate equals f on u >= 0 too:
    # these checks cannot see the missing branch; the independent supremum over u >= 0 does.
    assert checks["biconjugate f**(u) = f(u)"].passed
    from numerics.conjugate import numeric_conjugate
    assert abs(numeric_conjugate(lambda x: (x - 1) ** 2, -3) - (-1)) < 1e-30  # true f*(-3) = -1, published -3/4
    off = replace(c, expr=c.expr + sp.Rational(1, 10))
    checks = {x.name: x for x in self_checks(a, off, activation(c.critic_range)[0], sp.Integer(0))}
    assert not checks["f*(f'(1)) = f'(1)"].passed and not checks["biconjugate f**(u) = f(u)"].passed


def test_non_convex_names_a_point():
    with pytest.raises(ValidationError, match=r"f''\(1\) = -2\.0 < 0"):
        fdiv.derive("1 - u**2 + 2*(u - 1)")


def test_kink_with_falling_slope_is_not_convex():
    with pytest.raises(ValidationError, match="slope falls from 1 to -1 at u = 1"):
        fdiv.derive("Min(u - 1, 1 - u)")


def test_f_of_one_is_reported():
    d = fdiv.derive("(u - 1)**2 + 2")  # accepted: f(1) only shifts D_f(P||P)
    assert d.f_at_one == 2 and any("f(1) = 2" in note for note in d.notes())


def test_gan_row_keeps_its_f_of_one():
    d = fdiv.derive("gan")
    assert sp.simplify(d.f_at_one + sp.log(4)) == 0
    assert sp.simplify(d.f_prime_at_one + sp.log(2)) == 0


def test_limits_and_critic_range():
    d = fdiv.derive("pearson")
    assert (d.f_at_zero, d.f_prime_at_zero, d.f_prime_at_infinity) == (1, -2, sp.oo)
    assert str(d.critic_range) == "(-2, oo)" and d.activation.subs(sp.Symbol("v", real=True), 0) == sp.log(2) - 2
    tv = fdiv.derive("tv")
    assert str(tv.critic_range) == "[-1/2, 1/2]" and tv.f_prime_at_one == 0


def test_parameters_numeric_values():
    d = fdiv.derive("alpha", alpha="1/2")
    assert d.parameters == {"alpha": sp.Rational(1, 2)}
    assert sp.simplify(d.conjugate - (-2 + 2 / (1 - T) * 1)) == 0 or d.conjugate_domain.upper == 2
    with pytest.raises(SpecError, match="must not equal 0"):
        fdiv.derive("alpha", alpha=0)


def test_jeffrey_in_w_of_exp_form():
    d = fdiv.derive("jeffrey")
    w = sp.LambertW(sp.exp(1 - T))
    assert d.conjugate == w + 1 / w + T - 2
    assert d.ratio_from_critic == 1 / w


def test_real_cube_root_branch():
    d = fdiv.derive("(u - 1)**4")
    # u(t) = 1 + (t/4)^(1/3) with the real cube root: u(-4) = 0 and u(-1/2) = 1/2
    assert sp.simplify(d.ratio_from_critic.subs(T, -sp.Rational(1, 2)) - sp.Rational(1, 2)) == 0


def test_time_limit(monkeypatch):
    monkeypatch.setenv("FDIV_TIME_LIMIT", "0.0005")
    monkeypatch.setenv("FDIV_NO_CACHE", "1")
    with pytest.raises(DerivationTimeout, match="exceeded its time limit"):
        fdiv.derive("jeffrey")


def test_to_json_keys():
    keys = set(fdiv.derive("kl").to_json())
    assert {"name", "f", "parameters", "conjugate", "conjugate_domain", "critic_range", "activation",
            "optimal_critic", "ratio_from_critic", "f_prime_at_one"} <= keys
