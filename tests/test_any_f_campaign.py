"""The any-f campaign (benchmarks/any_f.py) on a seeded sample of 20 f's, and the checks it rests on.

- Its reference, numerics.conjugate.SupremumSearch (sup over u >= 0 of u t - f(u), searched from u = 1e-60 to
  1e300 and beyond, never inverting f'), against closed forms at the extreme t the campaign meets (u* up to
  e^10000, t within e^-10000 of an end of dom f*, closed and open ends, kinks, the boundary branch), and against
  the golden-section supremum numerics.conjugate.numeric_conjugate (another algorithm) on drawn f's.
- Its accuracy rule rejects planted bugs: a factor 1 + 1e-4 (and 1 + 1e-8 in float64 only), a NaN at one logit,
  a clamp, a -inf, a dropped gradient, a shifted activation, the naive -log(1 - e^sigma) that overflows; the
  catalogue's modules it is run on pass (but Jeffrey's NaN gradient, below).
- The grammar's convexity check rejects non-convex f's; the critic-range check a wrong end; the harness names a
  CPU-time overrun a timeout.
- The sample: 0 tracebacks, refusals and gen failures, 0 accuracy failures, modules <= 100 KB and derive + gen
  <= 10 s CPU per f (the issue's acceptance). With the suite's derivation cache warm, derive is a cache read; on a
  fresh clone (CI) it is measured. No timing: speed and memory are for `python benchmarks/any_f.py`.
"""
from __future__ import annotations

import importlib
import importlib.util
import math
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import mpmath
import numpy as np
import pytest
import sympy as sp
import torch

import fdiv
from fdiv.spec.parse import parse
from fdiv.spec.spec import U
from numerics.conjugate import SupremumSearch, numeric_conjugate

_SPEC = importlib.util.spec_from_file_location("any_f_campaign", Path(__file__).resolve().parents[1] / "benchmarks" / "any_f.py")
A = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = A  # dataclasses look their module up there
_SPEC.loader.exec_module(A)

SAMPLE_SEED = 1  # the full campaign (the README's figures) uses seed 0
SAMPLE = 20


def _search(text: str) -> SupremumSearch:
    return SupremumSearch(parse(text, {"u": U}), U)


def _close(a, b, rel=mpmath.mpf(10) ** -30):
    return abs(a - b) <= rel * abs(b)


# ------------------------------------------------------------------------------------------------ the reference
@pytest.mark.parametrize("t", [-1000, -30, 0, 5, 30, 700, 1400])
def test_supremum_of_kl(t):
    """f = u log u: f*(t) = u* = d u*/dt = e^(t - 1), to 1e-30 (u* = e^1399 is past the start of the search, u* =
    e^-1001 below it); beyond 1e310 with u* past the search (t = 5000), +inf in every dtype."""
    assert _search("u*log(u)").at(5000).kind == "infinite"
    s = _search("u*log(u)").at(t)
    with mpmath.workdps(60):
        exact = mpmath.exp(mpmath.mpf(t) - 1)
    assert s.kind == "interior"
    assert _close(s.value, exact) and _close(s.maximiser, exact) and _close(s.slope, exact)


@pytest.mark.parametrize("t", [-1e4, -1.0, -1e-30])
def test_supremum_of_reverse_kl(t):
    """f = -log u: f*(t) = -1 - log(-t), u* = -1/t (1e30 at t = -1e-30), d u*/dt = 1/t^2; +oo at t >= 0."""
    s = _search("-log(u)").at(t)
    with mpmath.workdps(60):
        t = mpmath.mpf(t)
        assert _close(s.value, -1 - mpmath.log(-t)) and _close(s.maximiser, -1 / t) and _close(s.slope, 1 / t**2)
    assert _search("-log(u)").at(0.0).kind == "infinite" and _search("-log(u)").at(1e-300).kind == "infinite"


def test_supremum_of_a_short_t_next_to_an_open_end():
    """f = 2/3 e^(-u/2) - log(u + 1)/2 has f'(oo) = 0; t = -2.147e-869 (sigma_f(1000) for its tanh activation, a
    43-digit mantissa) has u* ~ e^2000. The bracket was bounded by the digits t holds (e^1500), and the reference
    read t as beyond f'(oo): f* = +inf where f*(t) = -1/2 - t - log(-2t)/2 (up to e^-(u*/2)) = 999.24. Below f'(e^2000), u* < e^2000
    and the bracket now reaches it. (At sigma_f(1e4), 1e-8686 from f'(oo) and above f'(e^2000), it still reads
    +inf: a search to e^20000 at 9000 digits takes two minutes.)"""
    search = _search("2/3*exp(-u/2) - log(u + 1)/2")
    for t in (mpmath.mpf("-2.1471132274676247102e-869"),):
        s = search.at(t)
        with mpmath.workdps(60):
            exact = -mpmath.mpf(1) / 2 - t - mpmath.log(-2 * t) / 2
        assert s.kind == "interior" and _close(s.value, exact), (t, s)


@pytest.mark.parametrize("v", [30, 1000, 10000])
def test_supremum_next_to_an_open_end(v):
    """GAN, f*(t) = -log(1 - e^t) on t < 0, at t = sigma(v) = -log(1 + e^-v) held at 40 + 0.43 v digits: t is
    e^-v from the end, u* = e^v (e^10000 at v = 1e4), f* ~ v; to 1e-30."""
    with mpmath.workdps(40 + math.ceil(0.4343 * v)):
        t = -mpmath.log1p(mpmath.exp(-v))
        value, ratio = -mpmath.log(-mpmath.expm1(t)), mpmath.exp(t) / -mpmath.expm1(t)
        s = _search("u*log(u) - (u + 1)*log(u + 1)").at(t)
        assert s.kind == "interior" and _close(s.value, value) and _close(s.maximiser, ratio)


def test_supremum_at_and_beyond_the_ends():
    """Pearson's boundary branch f* = -1 for t <= -2 (u* = 0; slope 0 inside, none at its edge); triangular's
    closed end f*(1) = 3 (a limit as u -> oo) and +oo past it; squared Hellinger t/(1 - t) at one ulp below its open
    end 1 (u* = 2^104) and +oo at 1."""
    pearson = _search("(u - 1)**2")
    for t, slope in ((-3, 0), (-2, None)):
        s = pearson.at(t)
        assert (s.kind, s.maximiser, s.slope) == ("zero", 0, slope) and _close(s.value, mpmath.mpf(-1))
    assert _close(pearson.at(5).value, mpmath.mpf(45) / 4)
    tri = _search("(u - 1)**2/(u + 1)")
    end = tri.at(1)
    assert end.kind == "end" and _close(end.value, mpmath.mpf(3)) and end.maximiser == mpmath.inf
    assert tri.at(1 + 2.0**-52).kind == "infinite"
    with mpmath.workdps(50):
        t = mpmath.mpf(0.999)
        assert _close(tri.at(0.999).value, -t - 4 * mpmath.sqrt(1 - t) + 4)
    hel = _search("(sqrt(u) - 1)**2")
    t = 1 - 2.0**-53
    with mpmath.workdps(60):
        s = hel.at(t)
        assert _close(s.value, mpmath.mpf(t) / (1 - mpmath.mpf(t))) and _close(s.maximiser, mpmath.mpf(2) ** 106)
    assert hel.at(1.0).kind == "infinite"


def test_supremum_at_kinks():
    """Total variation |u - 1|/2: t inside the subdifferential [-1/2, 1/2] at u = 1 gives u* = 1, f* = t, slope 0;
    t = 1/2 is a closed end (f* = 1/2), t = -1/2 the edge of the boundary branch (the maximiser is any u in [0, 1]:
    none reported). Max(u - 2, 0)^3: f' = 0 on [0, 2], so at t = 0 no unique maximiser; at t = 1e-40, u* just above
    2 (f*'(t) = 2, not the 0 of the flat piece)."""
    tv = _search("Abs(u - 1)/2")
    for t in (-0.25, 0.0, 0.4):
        s = tv.at(t)
        assert (s.kind, s.maximiser, s.slope) == ("kink", 1, 0) and _close(s.value, mpmath.mpf(t))
    assert tv.at(0.5).kind == "end" and _close(tv.at(0.5).value, mpmath.mpf(0.5))
    assert tv.at(-0.5).maximiser is None and tv.at(-0.5).value == -0.5
    cube = _search("Max(u - 2, 0)**3")
    assert cube.at(0.0).maximiser is None
    s = cube.at(1e-40)
    with mpmath.workdps(60):
        assert _close(s.maximiser, 2 + mpmath.sqrt(mpmath.mpf(1e-40) / 3))


def test_no_slope_is_certified_at_a_cusp_of_the_maximiser():
    """(sqrt(u) - 1)^4 at t = f'(1) = 0: u* = 1 where f''(1) = 0, so d u*/dt is +inf; the search's u* lies a
    rounding from 1, and 1/f''(u*) there (1e70) had been reported as the slope (the module's +inf then counted
    as an overflow). No slope is certified there now; next to it (t = 1e-6, u* - 1 ~ 1e-2) it still is, and it is
    1/f''(u*)."""
    quartic = _search("(sqrt(u) - 1)**4")
    s = quartic.at(0.0)
    assert s.kind == "interior" and _close(s.maximiser, mpmath.mpf(1), mpmath.mpf(10) ** -9) and s.slope is None
    s = quartic.at(1e-6)
    with mpmath.workdps(60):
        r = mpmath.sqrt(s.maximiser)
        second = 3 * (r - 1) ** 2 / r**2 - (r - 1) ** 3 / r**3  # f''(u) = d/du 2 (r - 1)^3 / r
        assert s.slope is not None and _close(s.slope, 1 / second, mpmath.mpf(10) ** -20)


def test_the_ends_of_f_prime_are_limits_past_the_kinks():
    """Max(3 - u, 0)^2 - 2 log(u + 3): SymPy's limit of f' as written (with the Max) failed, f'(oo) was read off
    at e^2000 as -5e-869, and t = -(20/3) e^-20000 (tanh's sigma_f(1e4)) lay beyond it: f* = +oo where it is
    -2 - 3t + 2 log(-2/t) = 39995.59 (u* = -2/t - 3). Past the last kink the limit is taken: f'(oo) = 0."""
    s = _search("Max(3 - u, 0)**2 + 2*(-log(u + 3))")
    low, high = s.ends()
    assert high == 0 and _close(low, -mpmath.mpf(20) / 3, mpmath.mpf(10) ** -15)
    with mpmath.workdps(8800):
        t = -mpmath.mpf(20) / 3 * mpmath.exp(-20000)
        exact = -2 - 3 * t + 2 * mpmath.log(-2 / t)
    got = s.at(t)
    assert got.kind == "interior" and _close(got.value, exact, mpmath.mpf(10) ** -25)


def test_supremum_agrees_with_the_golden_section_search():
    """Two algorithms (bracketing f' - t and Newton, against a golden-section search on u t - f(u)) agree to 1e-25
    on grammar f's drawn with seed 3, at t = f'(u) for u from 1e-3 to 1e3 (inside both searches' ranges)."""
    for i in range(6):
        text = A.draw_f(3, i)
        f = parse(text, {"u": U})
        g = f.rewrite(sp.Piecewise) if f.has(sp.Abs, sp.Max, sp.Min) else f
        df, fn = sp.lambdify(U, sp.diff(g, U), "mpmath"), sp.lambdify(U, g, "mpmath")
        search = SupremumSearch(f, U)
        with mpmath.workdps(50):
            for u in (mpmath.mpf("1e-3"), mpmath.mpf("0.37"), mpmath.mpf(2.5), mpmath.mpf(1000)):
                t = df(u)
                ours, golden = search.at(t).value, numeric_conjugate(fn, t)
                assert abs(ours - golden) <= mpmath.mpf(10) ** -25 * (1 + abs(golden)), (text, u, ours, golden)


# ------------------------------------------------------------------------------------------------ the rule
def test_the_accuracy_rule():
    big = A.FLOAT_MAX["float32"]
    assert A.judge(1.0 + 5e-6, 1.0, "float32")[0] and not A.judge(1.0 + 5e-6, 1.0, "float64")[0]
    assert A.judge(1 + 5e-11, mpmath.mpf(1), "float64")[0]
    assert A.judge(float("nan"), 1.0, "float64")[1] == "nan"
    assert A.judge(float("nan"), mpmath.inf, "float64")[1] == "nan"
    assert A.judge(-math.inf, 2.0, "float32")[1] == "-inf"
    assert A.judge(math.inf, 2.0, "float32")[1] == "overflow"
    assert A.judge(math.inf, mpmath.mpf(10) ** 40, "float32")[0]  # exceeds float32: +inf is right
    assert A.judge(big, mpmath.mpf(10) ** 40, "float32")[1] == "finite where +inf"
    assert A.judge(0.0, mpmath.mpf(10) ** -320, "float64")[0]  # an underflow is no failure
    ok, _, _, near = A.judge(1e-17, 0.0, "float64")  # 10 ulps of 1 next to 0
    assert ok and near
    assert not A.judge(1e-3, mpmath.mpf(10) ** -8, "float32")[0]


def _catalogue(name: str, f: str):
    d = fdiv.derive(name)
    ends = (d.critic_range.lower, d.critic_range.upper, d.conjugate_domain.lower, d.conjugate_domain.upper)
    module = importlib.import_module(f"fdiv.losses.{name.replace('-', '_')}")
    return module, f, d.activation, ends


def _failures(module, f_text, sigma, ends, **overrides) -> list:
    planted = SimpleNamespace(**{r: getattr(module, r) for r in A.ROLES})
    for k, fn in overrides.items():
        setattr(planted, k, fn)
    result = A.accuracy(planted, f_text, sigma, ends)
    assert not result["raised"]
    return [p for p in result["points"] if not p.ok]


@pytest.fixture(scope="module")
def kl():
    return _catalogue("kl", "u*log(u)")


@pytest.fixture(scope="module")
def gan():
    return _catalogue("gan", "u*log(u) - (u + 1)*log(u + 1)")


def _kinds(failures, role=None, dtype=None) -> set[str]:
    return {p.kind for p in failures if (role is None or p.role == role) and (dtype is None or p.dtype == dtype)}


def test_the_rule_passes_the_catalogue_modules_it_rejects_planted_bugs_in(kl, gan):
    assert _failures(*kl) == [] and _failures(*gan) == []


def test_planted_factor(kl):
    """f*(sigma(v)) off by 1e-4 fails in both dtypes; off by 1e-8, in float64 only (float32's rtol is 1e-5)."""
    m = kl[0]
    bad = _failures(*kl, conjugate_of_activation=lambda v: m.conjugate_of_activation(v) * (1 + 1e-4))
    assert _kinds(bad, "conjugate_of_activation", "float32") == {"inaccurate"}
    assert _kinds(bad, "conjugate_of_activation", "float64") == {"inaccurate"}
    bad = _failures(*kl, conjugate=lambda t: m.conjugate(t) * (1 + 1e-8))
    assert _kinds(bad, dtype="float32") == set() and _kinds(bad, "conjugate", "float64") == {"inaccurate"}


def test_conjugate_is_judged_far_past_the_logits_reach():
    """conjugate(t) at t = +-1e10 ... +-1e300 too: a planted f* right wherever sigma_f(v) of the logit grid reaches
    (|t| <= 1e4 for Pearson's identity activation) and 0.1 % off past |t| = 1e20 fails there, and only there:
    where f* is finite (t + t^2/4 to 1e200, -1 for every t <= -2, float32's -1e30 too), not where it exceeds the
    dtype and +inf is right."""
    pearson = _catalogue("pearson", "(u - 1)**2")
    m = pearson[0]
    assert _failures(*pearson) == []
    far_off = lambda t: torch.where(t.abs() > 1e20, m.conjugate(t) * 1.001, m.conjugate(t))  # noqa: E731
    bad = _failures(*pearson, conjugate=far_off)
    assert {(p.dtype, p.x) for p in bad if p.quantity == "value"} == {
        ("float64", 1e30), ("float64", -1e30), ("float64", 1e100), ("float64", -1e100), ("float64", -1e300),
        ("float32", float(torch.tensor(-1e30, dtype=torch.float32)))}
    assert all(math.isnan(p.v) and p.kind == "inaccurate" for p in bad)


def test_planted_nan_at_one_logit(kl):
    m = kl[0]
    nan_at_30 = lambda v: torch.where(v == 30, torch.full_like(v, math.nan), m.conjugate_of_activation(v))  # noqa: E731
    bad = _failures(*kl, conjugate_of_activation=nan_at_30)
    # torch.where sends no gradient to the branch it did not take: 0 where the exact gradient is e^29
    assert {(p.v, p.quantity, p.kind) for p in bad} == {(30.0, "value", "nan"), (30.0, "gradient", "inaccurate")}


def test_planted_clamp(kl):
    """f*(sigma(100)) = e^99 clamped at 1e30: wrong in float64, and finite where float32 must overflow."""
    m = kl[0]
    bad = _failures(*kl, conjugate_of_activation=lambda v: m.conjugate_of_activation(v).clamp(max=1e30))
    assert "inaccurate" in _kinds(bad, "conjugate_of_activation", "float64")
    assert "finite where +inf" in _kinds(bad, "conjugate_of_activation", "float32")


def test_planted_minus_inf_and_dropped_gradient(kl):
    m = kl[0]
    bad = _failures(*kl, density_ratio=lambda v: torch.where(v < -5000, torch.full_like(v, -math.inf),
                                                              m.density_ratio(v)))
    assert _kinds(bad, "density_ratio") == {"-inf"}
    bad = _failures(*kl, activation=lambda v: m.activation(v).detach() + 0 * v)
    assert {(p.role, p.quantity, p.kind) for p in bad} == {("activation", "gradient", "inaccurate")}
    bad = _failures(*kl, activation=lambda v: m.activation(v) + 1e-3)
    assert _kinds(bad, "activation") == {"inaccurate"}


def test_planted_naive_overflow(gan):
    """-log(1 - exp(sigma(v))) with sigma = -log(1 + e^-v) written as such: sigma rounds to 0 at v = 100 in float32
    (and 1000 in float64), so f* = +inf where it is about v; the rule calls it an overflow."""
    naive = lambda v: -torch.log(1 - torch.exp(-torch.log(1 + torch.exp(-v))))  # noqa: E731
    bad = _failures(*gan, conjugate_of_activation=naive)
    assert "overflow" in _kinds(bad, "conjugate_of_activation", "float32")
    assert any(p.v == 1000 for p in bad if p.dtype == "float64" and p.kind == "overflow")


def test_jeffrey_float32_gradient_is_nan_where_it_overflows():
    """Found by the campaign's rule in a catalogue module (fdiv.testing compares only representable values):
    d/dv f*(v) = 1/omega(1 - v) is e^99 at v = 100, beyond float32, and comes out NaN, not +inf. Kept as a test of
    the rule: it must keep seeing it until the module is fixed, then this test says so. The same for conjugate(t)
    past the grid (below)."""
    bad = _failures(*_catalogue("jeffrey", "(u - 1)*log(u)"))
    assert {(p.role, p.quantity, p.dtype, p.v, p.kind) for p in bad if not math.isnan(p.v)} <= {
        ("conjugate_of_activation", "gradient", "float32", 100.0, "nan"), ("conjugate", "gradient", "float32", 100.0, "nan")}
    # past the grid (FAR_T), also open: f*(t) = expm1(t + omega(1 - t) - 1) - log omega(1 - t), where t + omega(1 - t)
    # rounds to 0 from t ~ -1e18 in float64 (-1e8 in float32), and f* comes out 1/e too high (-69.71 for -70.08 at
    # t = -1e30). Exactly, t + omega(1 - t) - 1 = -log omega(1 - t): f* = 1/omega - 1 - log omega, with nothing to
    # cancel
    assert {(p.quantity, p.dtype, p.x, p.kind) for p in bad if math.isnan(p.v)} == {
        ("value", "float32", -1e10, "inaccurate"), ("value", "float32", float(np.float32(-1e30)), "inaccurate"),
        ("value", "float64", -1e30, "inaccurate"), ("value", "float64", -1e100, "inaccurate"),
        ("value", "float64", -1e300, "inaccurate")}


# ------------------------------------------------------------------------------------------------ the other checks
@pytest.mark.parametrize("f", ["u**3 - 3*u**2", "log(u)", "Abs(u - 1) - 2*Max(u - 2, 0)", "exp(-u**2)"])
def test_convexity_check_rejects_non_convex_f(f):
    assert A.convexity_problem(f) is not None


def test_critic_range_check_rejects_a_wrong_end():
    d = fdiv.derive("gan")
    assert A.critic_range_problem(d) is None
    wrong = replace(d, critic_range=replace(d.critic_range, upper=sp.Rational(1, 10**12)))
    assert "critic range end" in A.critic_range_problem(wrong)
    wrong = replace(d, critic_range=replace(d.critic_range, lower=sp.Integer(-5)))
    assert "critic range end" in A.critic_range_problem(wrong)


def test_a_cpu_overrun_is_a_timeout_and_a_memory_cap_an_oom():
    """A derivation given 1 CPU second (no cache; this f takes several) is stopped by RLIMIT_CPU and reported as a
    timeout of derive; given no address space beyond the parent's, it runs out of memory and is reported as such
    (fdiv's own error says so, and the campaign files it under oom, not refused)."""
    heavy = "log(1 + u**2) + u**2 + (sqrt(u) - 1)**4 + (u - 1)**2/u"
    (rec,) = A.run([("t", None, None, heavy)], cpu_limit=1, measure_limit=1, timing=False, cache=False)
    assert (rec.outcome, rec.stage) == ("timeout", "derive"), (rec.outcome, rec.stage, rec.message)
    (rec,) = A.run([("m", None, None, "(u - 1)**2 + (1 - u)**2/u")], mem_limit=0, timing=False, cache=False)
    assert rec.outcome == "oom", (rec.outcome, rec.stage, rec.message)


def test_how_a_child_that_ends_early_is_filed():
    """A child killed by SIGXCPU or SIGKILL (the hard CPU limit) is a timeout, by another signal a crash, past the
    wall-clock limit a timeout; while measuring a built module, the message says so."""
    import signal

    def filed(msgs, exitcode, overdue=False):
        rec = A.Record("x", None, None, "u")
        A._finish(rec, msgs, exitcode, overdue)
        return rec.outcome, rec.stage, rec.message

    assert filed([], -signal.SIGXCPU)[:2] == ("timeout", "derive")
    assert filed([], -signal.SIGKILL)[:2] == ("timeout", "derive")
    assert filed([], -signal.SIGSEGV)[:2] == ("crash", "derive")
    assert filed([], None, overdue=True)[0] == "timeout"
    built = ("build", {"outcome": "ok", "stage": "import", "derive_cpu": 1.0, "gen_cpu": 1.0})
    outcome, stage, message = filed([built], -signal.SIGXCPU)
    assert (outcome, stage) == ("timeout", "measure") and message.startswith("while measuring")
    refused = ("build", {"outcome": "refused", "stage": "derive", "message": "self-check failed: x"})
    assert filed([refused], 0) == ("refused", "derive", "self-check failed: x")


# ------------------------------------------------------------------------------------------------ the sample
@pytest.mark.parametrize("index", range(SAMPLE))
def test_sample_meets_the_acceptance_criteria(index):
    text = A.draw_f(SAMPLE_SEED, index)
    assert A.convexity_problem(text) is None, text
    (rec,) = A.run([(f"seed {SAMPLE_SEED} index {index}", SAMPLE_SEED, index, text)], cpu_limit=60,
                   measure_limit=120, timing=False, cache=True)
    assert rec.failure_classes() == [], A.summary([rec])


def test_a_normalising_constant_is_written_as_the_parser_takes_it():
    """f(1) = 5/2 - 4 log 2 was written by nsimplify as a ratio of 190-digit integers times sqrt(15) 7^(1/4), past
    the parser's 1e300 limit on a constant, and the campaign stopped with a traceback before its first f (seed 2718,
    index 63). Such a constant is now written as SymPy has it."""
    text = A.draw_f(2718, 63)
    assert len(text) < 200 and "(5/2 - 4*log(2))" in text
    assert A.convexity_problem(text) is None
    assert A._plain_constant(sp.Rational(3, 4)) == sp.Rational(3, 4)


def test_the_reference_reads_f_prime_at_infinity_as_its_limit(monkeypatch):
    """-log(u + 1) under tanh's sigma_f: t = sigma_f(1e4) = -1.29e-8686 lies below f'(oo) = 0, and f*(t) =
    -1 - t + log(-1/t) = 19999.0 (u* = e^20000). Read off at e^2000, f'(oo) was -e^-2000, t lay beyond it and the
    reference said +inf (seed 8191, indices 5 and 150: a false "finite where +inf"); SymPy's limit of f' puts it
    at 0, and the bracket widens to u* however far it lies. With the limit withheld (the old reading), the same
    search says +inf."""
    f = parse("-log(u + 1)", {"u": U})
    with mpmath.workdps(8800):
        t = mpmath.tanh(mpmath.mpf(10000)) / 2 - mpmath.mpf(1) / 2
        exact = -1 - t + mpmath.log(-1 / t)
    search = SupremumSearch(f, U)
    assert search.ends()[1] == 0
    found = search.at(t)
    assert found.kind == "interior" and abs(found.value - exact) < mpmath.mpf(10) ** -20 * abs(exact)
    import fdiv._util.timelimit as tl

    monkeypatch.setattr(tl, "attempt", lambda *a, **k: (False, "withheld"))
    old = SupremumSearch(f, U)
    assert old.ends()[1] < 0 and old.at(t).kind == "infinite"


def test_the_reference_takes_an_exponential_past_every_precision_as_zero():
    """-1/3 u^(2/3) - 5/2 sqrt(u) + 2/3 e^(-u/2) (seed 24601, index 78): at v = 1e4 the search works at 8726
    digits and its bracket reaches u = e^50000, where mpmath computed e^(-u/2) exactly and the campaign's child ran
    past its 5 minutes of CPU. Below x = -1e400 e^x is 0 in the search's f, f' and f'' (as in fdiv's mpmath
    functions); above, mpmath's."""
    import time

    search = _search("1/3*(-u**(2/3)) + 5/2*(-sqrt(u)) + 2/3*(exp(-u/2))")
    start = time.process_time()
    with mpmath.workdps(8726):
        u = mpmath.exp(mpmath.mpf(50000))
        assert search.f(u) == -u ** (mpmath.mpf(2) / 3) / 3 - mpmath.mpf(5) / 2 * mpmath.sqrt(u)
        assert search.df(u) < 0
    assert time.process_time() - start < 2.0  # CPU seconds: each call was minutes
    with mpmath.workdps(50):
        assert search.f(mpmath.mpf(100)) == -mpmath.mpf(100) ** (mpmath.mpf(2) / 3) / 3 - 25 + mpmath.exp(-50) * 2 / 3


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_one_job_is_timed_with_every_other_one_stopped():
    """A job that asks to be timed gets "go" only once every other running job is stopped (SIGSTOP: state T), and
    they run again when it is done; a job started meanwhile starts stopped, and one that never asked keeps running
    when the timed one ends. Planted out (no stop), the state check fails."""
    import multiprocessing
    import signal
    import time

    ctx = multiprocessing.get_context("fork")

    def sleeper(conn):
        conn.recv()  # "go" for the first; the others wait for nothing
        time.sleep(60)

    procs, conns = [], []
    for _ in range(3):
        mine, theirs = ctx.Pipe(duplex=True)
        p = ctx.Process(target=sleeper, args=(theirs,), daemon=True)
        p.start()
        procs.append(p)
        conns.append(mine)
    running = {p.sentinel: (p, c, None, time.monotonic(), []) for p, c in zip(procs[:2], conns[:2])}
    quiet = A._Quiet(running)
    try:
        conns[0].send("ask")  # stands for the child's ("quiet", None)
        quiet.queue.append(procs[0].sentinel)
        quiet.grant()
        assert quiet.owner == procs[0].sentinel
        time.sleep(0.2)
        assert _state(procs[1].pid) == "T" and _state(procs[0].pid) in "SR"
        running[procs[2].sentinel] = (procs[2], conns[2], None, time.monotonic(), [])
        quiet.hold(procs[2].sentinel)
        time.sleep(0.2)
        assert _state(procs[2].pid) == "T"
        time.sleep(0.3)
        assert quiet.stopped_for(procs[1].sentinel) >= 0.5  # not counted towards its wall-clock limit
        quiet.release(procs[0].sentinel)
        time.sleep(0.2)
        assert quiet.owner is None and all(_state(p.pid) in "SR" for p in procs)
    finally:
        quiet.resume_all()
        for p in procs:
            p.kill()
            p.join()
    assert all(p.exitcode == -signal.SIGKILL for p in procs)
