"""fdiv.testing catches real loss bugs, names them, and raises no false alarm.

Known-bad implementations, each as it appears in public GAN / f-GAN code, must be refuted with the right
diagnosis and a worst point where the bug shows; known-good ones must pass. fdiv's own 15 generated modules are
checked, every function in both dtypes, by tests/test_losses_accuracy.py through the same check_loss.
"""
from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import fdiv.testing as ft
from fdiv.testing.losses import UserFunctionError

ROOT = Path(__file__).resolve().parents[1]
LOG2 = math.log(2.0)


# ---------------------------------------------------------------------------------------------- known bad
def naive_softplus_gan(v_real, v_fake):
    """GAN critic loss with softplus written as log(1 + exp(x)): overflows at large logits."""
    return torch.log(1 + torch.exp(-v_real)).mean() + torch.log(1 + torch.exp(v_fake)).mean()


def eps_capped_gan(v_real, v_fake):
    """-log(D) - log(1 - D) with D = sigmoid, kept finite by + 1e-8: saturates at -log(1e-8)."""
    d_real, d_fake = torch.sigmoid(v_real), torch.sigmoid(v_fake)
    return -torch.log(d_real + 1e-8).mean() - torch.log(1 - d_fake + 1e-8).mean()


def js_weighted_pi_literal(v_real, v_fake):
    """JS-weighted with its weight pi typed as 3.14159 (the catalogue's default weight is 1/4)."""
    pi = 3.14159
    act = lambda v: -pi * math.log(pi) - F.softplus(-v)
    conj = lambda t: (1 - pi) * torch.log((1 - pi) / (1 - pi * torch.exp(t / pi)))
    return -act(v_real).mean() + conj(act(v_fake)).mean()


def js_with_gan_conjugate(v_real, v_fake):
    """The JS activation log 2 - softplus(-v) paired with the GAN row's conjugate -log(1 - exp(t))."""
    act = lambda v: LOG2 - F.softplus(-v)
    return -act(v_real).mean() + (-torch.log(1 - torch.exp(act(v_fake)))).mean()


def gan_loss(v_real, v_fake):
    """A correct GAN critic loss (submitted below as if it were Jensen-Shannon's)."""
    return F.softplus(-v_real).mean() + F.softplus(v_fake).mean()


def js_truncated_log2(v_real, v_fake):
    """JS with log 2 written as 0.6931."""
    act = lambda v: 0.6931 - F.softplus(-v)
    return -act(v_real).mean() + (F.softplus(v_fake) - 0.6931).mean()


def gan_estimate_as_loss(v_real, v_fake):
    """Returns the divergence estimate (to maximise) where the critic loss (to minimise) is expected."""
    return -F.softplus(-v_real).mean() - F.softplus(v_fake).mean()


def gan_concatenated_bce(v_real, v_fake):
    """BCE over the concatenated batch: the mean of both terms, half the critic loss."""
    logits = torch.cat([v_real, v_fake])
    labels = torch.cat([torch.ones_like(v_real), torch.zeros_like(v_fake)])
    return F.binary_cross_entropy_with_logits(logits, labels)


def gan_detached_fake(v_real, v_fake):
    """The fake term detached by mistake: right values, a zero gradient for v_fake."""
    return F.softplus(-v_real).mean() + F.softplus(v_fake).detach().mean()


def pearson_published_conjugate(t):
    """The published smooth branch t^2/4 + t, without f*(t) = -1 for t <= -2."""
    return t**2 / 4 + t


def gan_identity_activation(v):
    """sigma(v) = v for the GAN row: leaves dom f* = (-oo, 0) for v >= 0."""
    return v


KNOWN_BAD = {  # the function, against, role, a phrase of the diagnosis, the outcome
    "naive log(1 + exp(v))": (naive_softplus_gan, "gan", "critic_loss", "overflow: inf", "limited"),
    "eps-capped log": (eps_capped_gan, "gan", "critic_loss", "-log(1e-08)", "limited"),
    "pi = 3.14159 in JS-weighted": (js_weighted_pi_literal, "js-weighted", "critic_loss", "NaN at", "wrong"),
    "GAN conjugate paired with the JS f": (js_with_gan_conjugate, "jensen-shannon", "critic_loss",
                                           "conjugate term is f* of gan", "wrong"),
    "the GAN loss submitted as JS": (gan_loss, "jensen-shannon", "critic_loss", "critic_loss of gan", "wrong"),
    "log 2 as 0.6931": (js_truncated_log2, "jensen-shannon", "critic_loss", "off by a constant", "wrong"),
    "sign flipped": (gan_estimate_as_loss, "gan", "critic_loss", "divergence_estimate", "wrong"),
    "mean over the concatenated batch": (gan_concatenated_bce, "gan", "critic_loss", "off by a factor", "wrong"),
    "detached fake term": (gan_detached_fake, "gan", "critic_loss", "values agree, gradients do not", "wrong"),
    "published Pearson conjugate": (pearson_published_conjugate, "pearson", "conjugate", "boundary branch",
                                    "wrong"),
    "identity activation for GAN": (gan_identity_activation, "gan", "activation", "leaves dom f*", "wrong"),
}
OUTCOME_WORDS = {"limited": "NUMERICALLY LIMITED", "wrong": "WRONG"}


@pytest.mark.parametrize("case", KNOWN_BAD)
def test_known_bad_is_refuted_with_its_diagnosis(case):
    """Each bug is caught (not ok) with the right outcome: a formula that differs at moderate logits is wrong, a
    right formula that overflows or saturates only at extreme ones is numerically limited. The assertion's first
    line is the verdict (pytest's short summary shows it)."""
    fn, against, role, diagnosis, outcome = KNOWN_BAD[case]
    report = ft.check_loss(fn, against, role=role)
    assert not report.ok and report.outcome == outcome, report.text()
    assert diagnosis in report.diagnosis, report.text()
    worst = report.worst
    assert worst is not None and not worst.ok
    assert f"worst: {worst.dtype} {worst.quantity} at {worst.where()}" in report.text()
    with pytest.raises(AssertionError) as raised:
        ft.assert_loss(fn, against, role=role)
    first = str(raised.value).splitlines()[0]
    assert first.startswith(f"{OUTCOME_WORDS[outcome]}: {role} ") and "comparisons" in first


def test_worst_points_sit_where_the_bugs_are():
    naive = ft.check_critic_loss(naive_softplus_gan, "gan")
    where = dict(naive.worst.inputs)
    assert naive.worst.theirs is not None and math.isinf(naive.worst.theirs)
    assert max(abs(where["v_real"]), abs(where["v_fake"])) >= 88.7  # exp overflows beyond float32's 88.72
    capped = ft.check_critic_loss(eps_capped_gan, "gan")
    assert {p.dtype for p in capped.failures} == {"float32", "float64"}
    assert all(max(abs(x) for _, x in p.inputs if isinstance(x, float)) >= 10 for p in capped.failures
               if p.quantity == "value" and p.dtype == "float32" and "batch" not in dict(p.inputs)), capped.text()
    pearson = ft.check_conjugate(pearson_published_conjugate, "pearson")
    assert all(dict(p.inputs)["t"] < -2 for p in pearson.failures)  # the branch the published table omits


# --------------------------------------------------------------------------------------------- known good
def bce_gan_critic(v_real, v_fake):
    return F.binary_cross_entropy_with_logits(v_real, torch.ones_like(v_real)) + \
        F.binary_cross_entropy_with_logits(v_fake, torch.zeros_like(v_fake))


def bce_nonsaturating_generator(v_fake):
    return F.binary_cross_entropy_with_logits(v_fake, torch.ones_like(v_fake))


def bce_saddle_generator(v_fake):
    return -F.binary_cross_entropy_with_logits(v_fake, torch.zeros_like(v_fake))


def logsigmoid_activation(v):
    return F.logsigmoid(v)


def reverse_kl_published(v_real, v_fake):
    """The f-GAN paper's reverse-KL row: sigma(v) = -exp(-v), f*(t) = -1 - log(-t) = v - 1 on it."""
    return torch.exp(-v_real).mean() + (v_fake - 1).mean()


def kl_doubled_logit(v_real, v_fake):
    """KL with the critic T = 2 v: -mean(2 v_real) + mean(exp(2 v_fake - 1))."""
    return -(2 * v_real).mean() + torch.exp(2 * v_fake - 1).mean()


def gan_exp_activation(v):
    """sigma(v) = -exp(-v): not fdiv's sigma_f, but it maps R into dom f* = (-oo, 0)."""
    return -torch.exp(-v)


KNOWN_GOOD = {
    "torch BCE-with-logits as the GAN critic loss": (bce_gan_critic, "gan", "critic_loss", {}),
    "torch BCE as the non-saturating generator loss": (bce_nonsaturating_generator, "gan",
                                                       "generator_loss_nonsaturating", {}),
    "torch BCE as the saddle-point generator loss": (bce_saddle_generator, "gan", "generator_loss", {}),
    "torch logsigmoid as the GAN activation": (logsigmoid_activation, "gan", "activation", {}),
    "published reverse-KL activation": (reverse_kl_published, "reverse-kl", "critic_loss", {}),
    "a given activation 2 v": (kl_doubled_logit, "kl", "critic_loss", {"activation": "2*v"}),
    "another activation into dom f*": (gan_exp_activation, "gan", "activation", {}),
}


@pytest.mark.parametrize("case", KNOWN_GOOD)
def test_known_good_passes(case):
    fn, against, role, kwargs = KNOWN_GOOD[case]
    report = ft.assert_loss(fn, against, role=role, **kwargs)
    assert report.ok and report.verdict == "agree" and report.failures == []
    assert len(report.points) > 100  # both dtypes, values and gradients, ~40 logits


def test_a_different_activation_is_named():
    report = ft.check_critic_loss(reverse_kl_published, "reverse-kl")
    assert report.ok and any("f-GAN paper's activation" in n and "-exp(-v)" in n for n in report.notes)
    report = ft.check_activation(gan_exp_activation, "gan")
    assert report.ok and any("valid critic parametrisation" in n for n in report.notes)


def test_a_given_activation_that_leaves_dom_f_star_is_refuted():
    # for GAN, T = v is not a critic: f*(t) is infinite for t >= 0, so this "loss" is no bound at all
    report = ft.check_critic_loss(lambda v_real, v_fake: -v_real.mean() - torch.log(1 - torch.exp(v_fake)).mean(),
                                  "gan", activation="v")
    assert not report.ok and any("leaves dom f*" in x for x in report.extra_failures)


# -------------------------------------------------------------------------------------------- bad usage
def test_wrong_signature_and_first_call_raising_are_errors():
    with pytest.raises(UserFunctionError, match="wrong signature"):
        ft.check_critic_loss(lambda v: v.mean(), "gan")
    with pytest.raises(UserFunctionError, match="no usable result at any input: it raised RuntimeError: boom"):
        ft.check_critic_loss(_raises, "gan")
    unreduced = ft.check_critic_loss(lambda r, f: F.softplus(-r) + F.softplus(f), "gan")  # per element, no mean
    assert unreduced.outcome == "wrong" and any("expected a scalar" in x for x in unreduced.extra_failures)
    with pytest.raises(UserFunctionError, match="no usable result at any input: it returned float, not a torch tensor"):
        ft.check_activation(lambda v: 0.0, "gan")


def _raises(v_real, v_fake):
    raise RuntimeError("boom")


def test_raising_at_an_extreme_logit_fails_that_point():
    def refuses_large(v_real, v_fake):
        if v_real.abs().max() > 500:
            raise ValueError("logit too large")
        return gan_loss(v_real, v_fake)

    report = ft.check_critic_loss(refuses_large, "gan", logits=[0.0, 1.0, -1000.0])
    assert not report.ok
    assert any(p.expected.startswith("a value (it raised ValueError") for p in report.failures)


def test_report_json_has_the_contract_keys():
    data = ft.check_critic_loss(naive_softplus_gan, "gan", logits=[0.0, 100.0]).to_json()
    assert {"subject", "verdict", "comparisons", "failed", "worst", "max_rel_error", "max_abs_error", "nonfinite",
            "diagnosis", "notes", "tolerance"} <= set(data)
    assert data["verdict"] == "disagree" and data["worst"]["theirs"] == "inf"
    assert data["worst"]["inputs"] == {"v_real": 0.0, "v_fake": 100.0} or data["worst"]["dtype"] == "float32"


def test_light_import():
    """fdiv.testing's torch-facing modules import neither SymPy nor the derivation engine at module level."""
    heavy = {"sympy", "fdiv.derive", "fdiv.activation", "fdiv.conjugate", "fdiv.parse", "numerics", "proofs",
             "hypothesis", "scipy"}
    for name in ("__init__", "losses", "reference", "report", "diagnose", "gaussians", "estimators", "plugin", "calls",
                 "isolate", "outcome", "dpo", "../_sandbox"):
        tree = ast.parse((ROOT / "fdiv" / "testing" / f"{name}.py").read_text())
        top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        modules = {a.name for n in top if isinstance(n, ast.Import) for a in n.names}
        modules |= {n.module for n in top if isinstance(n, ast.ImportFrom) and n.module and n.level == 0}
        assert not {m for m in modules if m.split(".")[0] in heavy or m in heavy}, (name, modules)
