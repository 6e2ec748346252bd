"""The oracle on other people's code: every valid activation recognised (decreasing ones too), a DPO check, a
verdict for every case, three outcomes, true diagnoses, short reports; and it owns its inputs (a function that
edits them in place is caught). The implementations here are our own, written with the patterns of public code
(f-GAN code with -exp(v) and 1 - exp(v) critics, DPO/f-DPO losses with exp overflows, clamps and a dtype table,
FID functions that cannot take 1-D inputs)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fdiv
import fdiv.testing as ft
from fdiv.testing.calls import LocalFunction
from fdiv.testing.report import _SHOWN_RULES

LOG2 = math.log(2.0)


# ------------------------------------------------------------------------------- activations: mirrored forms
class Dual:
    """A critic T(v) and f*(T(v)) per divergence, with the decreasing activations some public code uses."""

    T = {"reverse-kl": lambda v: -torch.exp(v), "neyman": lambda v: 1.0 - torch.exp(v),
         "squared-hellinger": lambda v: 1.0 - torch.exp(v), "jensen-shannon": lambda v: LOG2 - F.softplus(-v),
         "kl": lambda v: v, "pearson": lambda v: v}
    FSTAR_T = {"reverse-kl": lambda v: -1.0 - v, "neyman": lambda v: 2.0 - 2.0 * torch.exp(0.5 * v),
               "squared-hellinger": lambda v: torch.exp(-v) - 1.0, "jensen-shannon": lambda v: F.softplus(v) - LOG2,
               "kl": lambda v: torch.exp(v - 1.0), "pearson": lambda v: 0.25 * v * v + v}

    def __init__(self, name: str):
        self.name = name

    def critic_loss(self, v_s, v_t):
        return -(torch.mean(self.T[self.name](v_s)) - torch.mean(self.FSTAR_T[self.name](v_t)))

    def generator_loss(self, v_t):
        return -torch.mean(self.FSTAR_T[self.name](v_t))


@pytest.mark.parametrize("name", ["reverse-kl", "neyman", "squared-hellinger", "jensen-shannon", "kl"])
def test_decreasing_activations_are_valid_critics(name):
    """-exp(v) and 1 - exp(v) map R onto the critic range, decreasing: a valid critic, so no alarm (these were 14
    false alarms); the note names the activation as the f-GAN paper's, mirrored. (JS through F.softplus loses
    float64 accuracy above 20, torch's threshold: numerically limited, and said so.)"""
    dual = Dual(name)
    report = ft.check_critic_loss(dual.critic_loss, name)
    if name == "jensen-shannon":
        assert report.outcome == "limited" and "asymptote too early" in report.diagnosis, report.text()
    else:
        assert report.ok, report.text()
    if name in ("reverse-kl", "neyman", "squared-hellinger"):
        assert any("paper's activation mirrored" in n and "exp(v)" in n and "(decreasing)" in n
                   for n in report.notes), report.notes
    assert ft.check_generator_loss(dual.generator_loss, name, dtypes=["float32"]).ok


def test_the_published_smooth_branch_in_a_loss_is_wrong_below_f_prime_at_zero():
    """Pearson with sigma(v) = v and the published f*(t) = t^2/4 + t: f* is -1 for t <= -2, so the loss is
    wrong for v_fake <= -2 (the moderate logits -3 and -6 show it), and the diagnosis says where."""
    report = ft.check_critic_loss(Dual("pearson").critic_loss, "pearson")
    assert report.outcome == "wrong", report.text()
    assert "sigma(v_fake) <= f'(0+) = -2" in report.diagnosis and "boundary branch" in report.diagnosis


def test_an_activation_read_off_the_loss_is_named_and_one_fdiv_cannot_fit_gets_a_suggestion():
    def scaled(v_real, v_fake):  # sigma(v) = -2 exp(v) for reverse KL: f*(sigma) = -1 - log(2) - v
        return torch.mean(2 * torch.exp(v_real)) + torch.mean(-1.0 - LOG2 - v_fake)

    report = ft.check_critic_loss(scaled, "reverse-kl")
    assert report.ok and any("read off the loss" in n and "-2*exp(v)" in n for n in report.notes), report.text()

    def unusual(v_real, v_fake):  # sigma(v) = -exp(v) - exp(3v): valid, but no shape fdiv fits
        s = lambda v: -torch.exp(v) - torch.exp(3 * v)  # noqa: E731
        return -(torch.mean(s(v_real)) - torch.mean(-1.0 - torch.log(-s(v_fake))))

    report = ft.check_critic_loss(unusual, "reverse-kl")
    assert not report.ok and "--activation" in report.diagnosis and "does not recognise" in report.diagnosis
    given = ft.check_critic_loss(unusual, "reverse-kl", activation="-exp(v) - exp(3*v)", logit_range=(-20, 20))
    assert given.ok, given.text()


def test_a_loss_under_a_fitted_map_that_leaves_dom_f_star_is_not_accepted():
    def leaves(v_real, v_fake):  # sigma(v) = 1 - exp(v) with f* of reverse KL (dom f* = (-oo, 0)): NaN for v < 0
        s = lambda v: 1.0 - torch.exp(v)  # noqa: E731
        return -(torch.mean(s(v_real)) - torch.mean(-1.0 - torch.log(-s(v_fake))))

    report = ft.check_critic_loss(leaves, "reverse-kl")
    assert not report.ok and report.outcome == "wrong", report.text()


# --------------------------------------------------------------------------------------- diagnoses that are true
def test_wrong_variable_is_told_apart_from_overflow():
    """The conjugate term evaluated at v_real: at extreme logits it also overflows, but the diagnosis names the
    argument, and the outcome is wrong (it differs at moderate logits)."""
    def same_argument(v_real, v_fake):
        return -torch.mean(-torch.exp(-v_real)) + torch.mean(v_real - 1)  # reverse KL's terms, both at v_real

    report = ft.check_critic_loss(same_argument, "reverse-kl")
    assert report.outcome == "wrong" and report.diagnosis.startswith("both terms use v_real"), report.text()

    def swapped(v_real, v_fake):  # the paper's reverse-KL loss exp(-v_real) + v_fake - 1, arguments swapped
        return torch.exp(-v_fake).mean() + (v_real - 1).mean()

    report = ft.check_critic_loss(swapped, "reverse-kl")
    assert report.outcome == "wrong" and "v_real and v_fake are swapped" in report.diagnosis, report.text()

    def gan_swapped(v_real, v_fake):  # for GAN a swap is the mirrored activation -softplus(v): a valid critic
        return torch.mean(F.softplus(v_real)) + torch.mean(F.softplus(-v_fake))

    assert ft.check_critic_loss(gan_swapped, "gan", dtypes=["float32"]).ok


def test_wrong_constant_is_told_apart_from_overflow():
    """log(1 + exp(x)) (overflows at extreme logits) plus a stray constant: wrong, and the diagnosis leads with
    the constant, not the overflow."""
    def naive_plus_constant(v_real, v_fake):
        return torch.log(1 + torch.exp(-v_real)).mean() + torch.log(1 + torch.exp(v_fake)).mean() + 1e-3

    report = ft.check_critic_loss(naive_plus_constant, "gan")
    assert report.outcome == "wrong" and report.diagnosis.startswith("off by a constant"), report.text()
    assert "overflow" not in report.wrong_because


def test_the_sign_of_an_infinity_is_reported():
    def log_of_one_minus_sigmoid(v_fake):  # the saddle GAN generator loss as log(1 - D): log(0) = -inf
        return torch.log(1 - torch.sigmoid(v_fake)).mean()

    report = ft.check_generator_loss(log_of_one_minus_sigmoid, "gan")
    assert report.outcome == "limited" and "overflow: -inf" in report.diagnosis, report.text()
    assert "overflow: inf " not in report.diagnosis


def test_exact_values_under_the_codes_own_activation_once_identified():
    """JS's activation log 2 - exp(-v) (a valid one) in the activation term, GAN's conjugate in the other: the
    comparison is redone under log 2 - exp(-v), so the worst point's exact value is the code's activation's."""
    act = lambda v: LOG2 - torch.exp(-v)  # noqa: E731

    def mixed(v_real, v_fake):
        return -act(v_real).mean() + (-torch.log(1 - torch.exp(act(v_fake)))).mean()

    report = ft.check_critic_loss(mixed, "jensen-shannon")
    assert not report.ok and any("own activation" in n and "exp(-v)" in n for n in report.notes), report.text()
    at_zero = [p for p in report.points if p.dtype == "float64" and p.quantity == "value"
               and dict(p.inputs) == {"v_real": 1.0, "v_fake": 0.0}][0]
    sigma = lambda v: LOG2 - math.exp(-v)  # noqa: E731
    exact = -sigma(1.0) - math.log(2 - math.exp(sigma(0.0)))  # -sigma(1) + f*_JS(sigma(0))
    assert at_zero.exact == pytest.approx(exact, rel=1e-12)


# -------------------------------------------------------------------------------------- outcomes and ranges
def clamped_gan(v_real, v_fake):
    """A GAN critic loss whose code clamps the logits to +-15: right there, saturated beyond."""
    r, f = v_real.clamp(-15, 15), v_fake.clamp(-15, 15)
    return F.softplus(-r).mean() + F.softplus(f).mean()


def test_a_clamp_is_numerically_limited_and_agrees_on_the_range_it_supports():
    report = ft.check_critic_loss(clamped_gan, "gan")
    assert report.outcome == "limited" and report.limits, report.text()
    assert all("v_real" in x or "v_fake" in x or "batch" in x for x in report.limits)
    ok = ft.check_critic_loss(clamped_gan, "gan", logit_range=(-15, 15), dtypes=["float32"])
    assert ok.ok and "logits in [-15, 15] only" in ok.headline()


def test_outcome_json_and_reporting_precision():
    data = ft.check_critic_loss(clamped_gan, "gan", dtypes=["float64"]).to_json()
    assert data["outcome"] == "limited" and data["verdict"] == "disagree" and data["limits"]
    assert data["reporting_precision"]["digits"] == 4 and data["reporting_precision"]["below"] is False
    good = ft.check_critic_loss(lambda r, f: F.softplus(-r).mean() + F.softplus(f).mean(), "gan",
                                logits=[0.0, 1.0, -3.0], dtypes=["float32"]).to_json()
    assert good["outcome"] == "agree" and good["reporting_precision"]["below"] is True


def test_rtol_loosens_and_is_stated():
    def float32_inside(v_real, v_fake):  # right formula, computed in float32 whatever the input
        return (F.softplus(-v_real.float()).mean() + F.softplus(v_fake.float()).mean()).to(v_real.dtype)

    strict = ft.check_critic_loss(float32_inside, "gan", dtypes=["float64"], logits=[0.0, 1.0, -2.0, 5.0])
    assert strict.outcome == "limited"  # float32 accuracy is not a formula error
    loose = ft.check_critic_loss(float32_inside, "gan", dtypes=["float64"], logits=[0.0, 1.0, -2.0, 5.0], rtol=1e-6)
    assert loose.ok and "rtol loosened to 1e-06" in loose.headline()


# ------------------------------------------------------------------------------------------------ Gaussians
def factor_fid(mu1, sigma1, mu2, sigma2):
    def factor(s):
        w, v = np.linalg.eigh(s)
        keep = w > len(w) * np.finfo(float).eps * max(w.max(), 0.0)
        return v[:, keep] * np.sqrt(w[keep])
    f1, f2 = factor(sigma1), factor(sigma2)
    nuclear = np.linalg.svd(f1.T @ f2, compute_uv=False).sum() if f1.size and f2.size else 0.0
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * nuclear)


def fid_unpacks(mu1, sigma1, mu2, sigma2):
    """Like code that unpacks a (matrix, info) pair its linear-algebra call returns only for d > 1."""
    covmean, _ = (np.array([[1.0]]),) if len(mu1) == 1 else (None, 0)
    return factor_fid(mu1, sigma1, mu2, sigma2)


def eig_fid(mu1, sigma1, mu2, sigma2):
    """The trace term from the eigenvalues of the product (rounding noise of singular covariances kept)."""
    diff = mu1 - mu2
    tr = np.sum(np.sqrt(np.linalg.eigvals(sigma1 @ sigma2).astype(complex)).real)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr)


def test_a_raise_on_some_cases_fails_those_cases_and_the_rest_still_run():
    report = ft.check_fid(fid_unpacks, max_dim=64)
    ones = [p for p in report.points if dict(p.inputs)["d"] == 1]
    others = [p for p in report.points if dict(p.inputs)["d"] > 1]
    assert ones and all(not p.ok and "raised ValueError" in p.expected for p in ones)
    assert others and all(p.ok for p in others)
    assert report.outcome == "limited" and any("raised ValueError" in x and "'1-D'" in x for x in report.limits)
    picked = ft.check_fid(fid_unpacks, dims=[2, 8, 32])
    assert picked.ok and "d in {2, 8, 32} only" in picked.headline()
    assert {dict(p.inputs)["d"] for p in picked.points} == {2, 8, 32}


def test_singular_noise_is_limited_below_the_reporting_precision_and_rtol_accepts_it():
    report = ft.check_fid(eig_fid, max_dim=64)
    assert report.outcome == "limited" and "below the reporting precision" in report.precision_line()
    assert ft.check_fid(eig_fid, max_dim=64, rtol=1e-6).ok


def test_gaussian_checks_report_their_own_time_and_the_functions_separately():
    report = ft.check_gaussian_divergence(lambda *a: 0.0, "kl", max_dim=8)
    assert report.own_seconds is not None and report.user_seconds is not None
    assert "CPU time: fdiv" in report.text() and "the function under test" in report.text()


def test_the_large_divergence_case_reference_matches_the_full_closed_form():
    """The d = 2048 case's reference is the sum of 1-D forms in the shared eigenbasis; at d = 64 the same
    construction is checked against numerics.gaussian's full closed forms (1e-12 relative)."""
    from fdiv.testing.gaussians import _rotated_pair, exact_divergence
    from numerics import gaussian as g

    case = _rotated_pair(np.random.default_rng(5), 64, 2.0)
    full = fdiv.testing.gaussians.Case("full", case.mean_p, case.cov_p, case.mean_q, case.cov_q)
    for name, params in (("kl", None), ("reverse-kl", None), ("jeffrey", None), ("squared-hellinger", None),
                         ("bhattacharyya", None), ("renyi", {"alpha": "0.3"}), ("alpha", {"alpha": "0.5"}),
                         ("pearson", None), ("neyman", None)):
        a, b = exact_divergence(name, case, params), exact_divergence(name, full, params)
        assert a.value == pytest.approx(b.value, rel=1e-12, abs=1e-300), name
        if math.isfinite(b.value):
            assert "eigenbasis" in a.method and b.method == "closed form"
    del g


# ------------------------------------------------------------------------------------------- short reports
def test_assertion_first_line_is_the_verdict_and_the_rule_is_spelled_out_once():
    _SHOWN_RULES.clear()
    with pytest.raises(AssertionError) as first:
        ft.assert_critic_loss(clamped_gan, "gan", dtypes=["float64"])
    with pytest.raises(AssertionError) as second:
        ft.assert_critic_loss(clamped_gan, "gan", dtypes=["float64"])
    assert str(first.value).startswith("NUMERICALLY LIMITED: critic_loss clamped_gan against gan (")
    rule = ft.losses.TOLERANCE_RULE
    assert rule in str(first.value) and rule not in str(second.value)
    assert "rule in full: verbose" in str(second.value)


# ---------------------------------------------------------------------------------------- owning the inputs
def test_an_input_changed_in_place_is_caught_and_references_use_the_input_as_given():
    def clamps_in_place(v):  # KL's f*(sigma_f(v)) = exp(v - 1), with the input clamped in place
        with torch.no_grad():
            v.clamp_(max=20)
        return torch.exp(v - 1)

    report = ft.check_conjugate_of_activation(clamps_in_place, "kl", gradients=False)
    assert not report.ok and any("changes its argument v in place" in x for x in report.extra_failures)
    assert any(not p.ok for p in report.points if dict(p.inputs).get("v", 0.0) > 20)  # compared with the input

    def zeroes(v):  # exp(-1) is f*(sigma(0)) for KL: right only at the zeroed input
        with torch.no_grad():
            v.zero_()
        return torch.full_like(v, math.exp(-1))

    report = ft.check_conjugate_of_activation(zeroes, "kl", gradients=False)
    assert report.outcome == "wrong"

    def gauss_edits(mean_p, cov_p, mean_q, cov_q):
        cov_p[...] = cov_q
        return 0.0

    report = ft.check_gaussian_divergence(gauss_edits, "kl", max_dim=8)
    assert any("changes its argument cov_p in place" in x for x in report.extra_failures)


def test_every_end_of_a_call_is_a_result_in_process():
    """In-process (the Python API): SystemExit and any BaseException are that call's result."""
    class Stop(BaseException):
        pass

    def raises_base(v):
        raise Stop("stop")

    def exits(v):
        raise SystemExit(3)

    for fn, words in ((raises_base, "raised Stop: stop"), (exits, "raised SystemExit(3)")):
        r = LocalFunction(fn).call("torch", [np.zeros(2)], ["v"], True)
        assert r.failure.startswith(words), r.failure
    for fn, words in ((lambda v: v.to(torch.complex64), "complex tensor"),
                      (lambda v: torch.empty(2, device="meta"), "meta tensor"),
                      (lambda v: [1.0, 2.0], "returned list")):
        assert words in LocalFunction(fn).call("torch", [np.zeros(2)], ["v"], True).failure
