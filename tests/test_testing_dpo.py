"""fdiv.testing.check_dpo: fdiv's own generated f-DPO modules pass it (every catalogue divergence with a valid link
and five user f's, the mean and the per-pair form); standard DPO and the f-DPO paper's JS and alpha losses agree
(the paper's alpha through convention="f-dpo-paper"); NaN gradients, NaN losses, a clamp, a dtype that raises,
the wrong divergence, the other alpha convention and a sum instead of a mean are caught, each with the right
outcome and diagnosis. The implementations are ours, written with the patterns of public DPO code."""
from __future__ import annotations

import importlib.util

import pytest
import torch
import torch.nn.functional as F

import fdiv
import fdiv.testing as ft
from fdiv.spec import catalogue
from fdiv.codegen.objectives import dpo
from fdiv.codegen.objectives.link import link_of
from fdiv.testing.dpo import DPOFunctionError

pytest_plugins = ["pytester"]

VALID = [n for n in catalogue.names() if link_of(fdiv.derive(n).f, n).valid]
USER = ["-log(u) + (u - 1)**2", "(sqrt(u) - 1)**4", "u*log(u) + (u - 1)**2", "-u**(1/3)", "-log(u)/1000000"]


def _load(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def modules(tmp_path_factory):
    out = tmp_path_factory.mktemp("dpo_modules")
    return {name: (_load(dpo.write_module(fdiv.derive(name), out, f"m{i}")), fdiv.derive(name))
            for i, name in enumerate(VALID + USER)}


@pytest.mark.parametrize("name", VALID + USER)
def test_fdivs_own_modules_are_never_flagged(modules, name):
    """The tolerance (rtol (|L| + conditioning in r), 1e-5 / 1e-11) is met by fdiv's modules at every grid pair
    and drawn realistic row, values and the four gradients, both dtypes, as a mean and per pair."""
    module, d = modules[name]
    mean = ft.check_dpo(module.preference_loss, d)
    assert mean.ok, mean.text()
    per_pair = ft.check_dpo(lambda a, b, c, e, beta: module.preference_loss(a, b, c, e, beta, reduction="none"), d,
                            beta=1.0)
    assert per_pair.ok and any("per-pair" in n for n in per_pair.notes), per_pair.text()


# ------------------------------------------------------------------------------------------------ known good
def sigmoid_dpo(logp_w, logp_ref_w, logp_l, logp_ref_l, beta):
    logits = (logp_w - logp_l) - (logp_ref_w - logp_ref_l)
    return -F.logsigmoid(beta * logits)


def sigmoid_dpo_tuple(logp_w, logp_ref_w, logp_l, logp_ref_l, beta):
    losses = sigmoid_dpo(logp_w, logp_ref_w, logp_l, logp_ref_l, beta)
    return losses, beta * (logp_w - logp_ref_w).detach(), beta * (logp_l - logp_ref_l).detach()


def js_scores(logp_w, logp_ref_w, logp_l, logp_ref_l, beta):
    """JS f-DPO from the scores log sigmoid(r) (f'(u) = log(2u/(1 + u)) less log 2)."""
    delta = F.logsigmoid(logp_w - logp_ref_w) - F.logsigmoid(logp_l - logp_ref_l)
    return -F.logsigmoid(beta * delta)


def alpha_paper(alpha):
    """The f-DPO paper's alpha divergence, f'(u) = (1 - u^-alpha)/alpha, written with log-space exponents."""
    def loss(logp_w, logp_ref_w, logp_l, logp_ref_l, beta):
        r_w, r_l = logp_w - logp_ref_w, logp_l - logp_ref_l
        return -F.logsigmoid(beta * (torch.exp(-alpha * r_l) - torch.exp(-alpha * r_w)) / alpha)
    return loss


@pytest.mark.parametrize("fn, against", [(sigmoid_dpo, "kl"), (sigmoid_dpo_tuple, "kl"), (js_scores, "jensen-shannon")],
                         ids=["standard DPO", "a tuple (losses, rewards, rewards)", "JS f-DPO"])
def test_known_good_agrees(fn, against):
    report = ft.assert_dpo(fn, against)  # log-ratios to +-1e4, both dtypes, values and the four gradients
    assert report.ok and len(report.points) > 2500


def test_the_papers_alpha_agrees_under_its_convention_and_is_named_without_it(monkeypatch):
    # alpha = 0.3 derives in about 15 s of CPU on an idle machine, its solve step alone close to the default 20 s
    # limit (a fresh clone has no cached derivation; it failed there once): the limit raised, as a user would
    monkeypatch.setenv("FDIV_TIME_LIMIT", "60")
    fn = alpha_paper(0.3)
    assert ft.check_dpo(fn, "alpha", params={"alpha": "0.3"}, convention="f-dpo-paper", ratio_range=(-30, 30)).ok
    report = ft.check_dpo(fn, "alpha", params={"alpha": "0.3"})
    assert report.outcome == "wrong" and "its alpha is 1 - alpha" in report.diagnosis, report.text()
    assert "--convention f-dpo-paper" in report.diagnosis


# ------------------------------------------------------------------------------------------------- known bad
def forward_kl_scores(logp_w, logp_ref_w, logp_l, logp_ref_l, beta):
    """Reverse KL (some code calls it forward KL) from the scores -exp(-r): exp overflows for r < -88.7 in float32,
    and logsigmoid's backward multiplies its 0 by that inf."""
    delta = -torch.exp(-(logp_w - logp_ref_w)) + torch.exp(-(logp_l - logp_ref_l))
    return -F.logsigmoid(beta * delta)


def alpha_clamped(alpha):
    """fdiv's alpha convention with the exponent clamped at 80 in float32, the clamp chosen from a dtype table
    that has no float64 entry."""
    def loss(logp_w, logp_ref_w, logp_l, logp_ref_l, beta):
        t_w, t_l = (alpha - 1) * (logp_w - logp_ref_w), (alpha - 1) * (logp_l - logp_ref_l)
        cap = {torch.float16: 11.0, torch.bfloat16: 80.0, torch.float32: 80.0}[t_w.dtype]
        delta = (torch.exp(t_w.clamp(max=cap)) - torch.exp(t_l.clamp(max=cap))) / (alpha - 1)
        return -F.logsigmoid(beta * delta)
    return loss


def alpha_capped_paper(alpha):
    """The paper's convention with each exponent capped at log(finfo.max): the difference of two capped terms
    divided by alpha < 1 overflows to inf - inf."""
    def loss(logp_w, logp_ref_w, logp_l, logp_ref_l, beta):
        cap = torch.log(torch.tensor(torch.finfo(logp_w.dtype).max, dtype=logp_w.dtype))
        e = lambda x: torch.exp(torch.clamp(x, max=cap))  # noqa: E731
        r_w, r_l = logp_w - logp_ref_w, logp_l - logp_ref_l
        logits = e(-alpha * r_l) / alpha - e(-alpha * r_w) / alpha
        return -F.logsigmoid(beta * logits)
    return loss


def summed(logp_w, logp_ref_w, logp_l, logp_ref_l, beta):
    return sigmoid_dpo(logp_w, logp_ref_w, logp_l, logp_ref_l, beta).sum()


def test_nan_gradients_are_numerically_limited_with_the_range_named():
    report = ft.check_dpo(forward_kl_scores, "reverse-kl")
    assert report.outcome == "limited", report.text()
    nan_grads = [x for x in report.limits if x.startswith("float32 gradients NaN")]
    assert nan_grads and "r_l in [-10000, -100]" in nan_grads[0], report.limits
    # moderate log-ratios are right: restricted to them it agrees (beyond, e^-r of neighbouring log-ratios cancel)
    assert ft.check_dpo(forward_kl_scores, "reverse-kl", ratio_range=(-10, 10)).ok


def test_the_wrong_divergence_is_named():
    report = ft.check_dpo(forward_kl_scores, "kl")
    assert report.outcome == "wrong" and "this is the f-DPO loss of reverse-kl, not of kl" in report.diagnosis


def test_a_clamp_and_a_dtype_that_raises_are_caught():
    report = ft.check_dpo(alpha_clamped(0.5), "alpha", params={"alpha": "0.5"})
    assert report.outcome == "limited", report.text()
    assert any(x.startswith("float64: raised KeyError") for x in report.limits)
    assert any("finite where the exact value is beyond" in x or "exactly 0" in x for x in report.limits), report.limits
    assert "a clamp" in report.diagnosis


def test_nan_losses_are_caught():
    report = ft.check_dpo(alpha_capped_paper(0.3), "alpha", params={"alpha": "0.3"}, convention="f-dpo-paper")
    assert report.outcome == "limited" and any(x.startswith("float32 values NaN") for x in report.limits)


def test_a_sum_is_not_a_mean():
    report = ft.check_dpo(summed, "kl", ratio_range=(-10, 10))
    assert report.outcome == "wrong" and any("the sum of the pairs' losses, not their mean" in x
                                             for x in report.extra_failures)


def test_bad_dpo_functions_are_errors():
    with pytest.raises(DPOFunctionError, match="wrong signature"):
        ft.check_dpo(lambda a, b: a, "kl")
    with pytest.raises(DPOFunctionError, match="no usable result at any input"):
        ft.check_dpo(lambda a, b, c, d, beta: 1 / 0, "kl")
    with pytest.raises(fdiv.errors.FdivError, match="no valid f-DPO link"):
        ft.check_dpo(sigmoid_dpo, "pearson")
    with pytest.raises(fdiv.errors.FdivError, match="convention f-dpo-paper maps"):
        ft.check_dpo(sigmoid_dpo, "kl", convention="f-dpo-paper")


def test_the_fixture_exposes_the_dpo_check(pytester):
    pytester.makepyfile(test_mine="""
import torch.nn.functional as F

def dpo(lw, lrw, ll, lrl, beta):
    return -F.logsigmoid(beta * ((lw - lrw) - (ll - lrl))).mean()

def test_dpo(fdiv_reference):
    fdiv_reference.assert_dpo(dpo, "kl", ratio_range=(-30, 30))
""")
    result = pytester.runpytest_inprocess("-p", "fdiv.testing.plugin", "-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
