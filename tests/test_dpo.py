"""f-DPO preference-loss modules (fdiv gen --objective dpo): fdiv's kl is standard DPO to rounding; every module
with a valid link is stable for log-ratios from -1e4 to 1e4 in float32 and float64, values and gradients,
against the exact losses (fdiv.codegen.objectives.reference, mpmath); specs without a valid link are refused with the
reason; the module is deterministic, compiles, imports torch only and carries no raw user text."""
from __future__ import annotations

import ast
import importlib.util
import json
import math

import mpmath
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import fdiv
from fdiv.spec import catalogue
from fdiv.errors import FdivError
from fdiv.codegen.objectives import dpo, reference
from fdiv.codegen.objectives.link import link_of
from tests.test_cli import run

VALID = [n for n in catalogue.names() if link_of(fdiv.derive(n).f, n).valid]
INVALID = {"total-variation": "f' jumps at u = 1", "pearson": "f'(0+) = -2 is finite",
           "triangular": "f'(0+) = -3 is finite", "alpha": "f'(0+) = -1/2 is finite"}
# user f's: two exponential terms of opposite signs (inf - inf unless combined), a polynomial of sqrt(u) whose
# slope factor changes sign, KL plus Pearson (an e^r term growing to the right), a slope 2/3 that is not a binary
# fraction (k a - k b cancels where k (a - b) does not), a coefficient 1e-6 (e^-r overflows where 1e-6 e^-r
# does not)
USER = ["-log(u) + (u - 1)**2", "(sqrt(u) - 1)**4", "u*log(u) + (u - 1)**2", "-u**(1/3)", "-log(u)/1000000"]
BETA = 0.5
# 0, +-1, +-20, +-50, the float32 exp edge, +-100, +-1000, +-1e4: each a float32 number, so both dtypes share one
# reference; the pairs are all combinations plus each point with its float32 neighbour (the closest margins)
GRID = [float(np.float32(v)) for v in (0, 1, -1, 20, -20, 50, -50, 88.7, -88.7, 100, -100, 1000, -1000, 1e4, -1e4)]
PAIRS = [(a, b) for a in GRID for b in GRID] + [(a, float(np.nextafter(np.float32(a), np.float32(np.inf))))
                                                 for a in GRID]
RTOL = {torch.float32: 1e-5, torch.float64: 1e-11}  # as fdiv.testing.losses.TOLERANCE_RULE for the f-GAN losses


def load(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def modules(tmp_path_factory):
    out = tmp_path_factory.mktemp("dpo")
    made = {}
    for i, name in enumerate(VALID + USER):
        d = fdiv.derive(name)
        made[name] = (load(dpo.write_module(d, out, f"m{i}")), d)
    return made


def _agrees(got: float, point: reference.Point, dtype: torch.dtype) -> bool:
    """got against the exact value: within reference.tolerance; where the exact value lies beyond the dtype's
    largest number by more than the tolerance, an infinity of the right sign; within the tolerance of it,
    either."""
    info = torch.finfo(dtype)
    tol = reference.tolerance(point, info.eps, RTOL[dtype])
    exact = point.value
    if abs(exact) - tol > info.max:
        return math.isinf(got) and (got > 0) == (exact > 0)
    if abs(exact) + tol >= info.max and math.isinf(got):
        return (got > 0) == (exact > 0)
    return math.isfinite(got) and abs(mpmath.mpf(got) - exact) <= tol


# ------------------------------------------------------------------------------------------------ DPO itself
@pytest.mark.parametrize("dtype, rtol", [(torch.float32, 1e-6), (torch.float64, 1e-12)])
def test_kl_module_is_standard_dpo(modules, dtype, rtol):
    """fdiv's kl (f = u log u, D_f(pi||pi_ref) = KL(pi||pi_ref)) against -logsigmoid(beta ((lw - lrw) - (ll -
    lrl))), values and the gradients of all four inputs, over log-ratios +-1e4 with reference log-probabilities
    that are not 0. Relative tolerance 1e-6 / 1e-12 (a few roundings: the module forms the gradient as sigmoid(-m)
    beta, torch's logsigmoid backward as 1/(1 + e^-|m|)); below the smallest normal number results are
    subnormal and carry fewer digits, so there the difference may be up to finfo.tiny."""
    module, _ = modules["kl"]
    rng = np.random.default_rng(0)
    rw = torch.tensor([a for a, _ in PAIRS], dtype=dtype)
    rl = torch.tensor([b for _, b in PAIRS], dtype=dtype)
    ref_w = torch.tensor(rng.uniform(-50, 0, len(PAIRS)), dtype=dtype)
    ref_l = torch.tensor(rng.uniform(-50, 0, len(PAIRS)), dtype=dtype)
    tiny = torch.finfo(dtype).tiny
    for beta in (0.1, 1.0, 3.0):
        ours = [t.clone().requires_grad_(True) for t in (rw + ref_w, ref_w, rl + ref_l, ref_l)]
        std = [t.clone().requires_grad_(True) for t in (rw + ref_w, ref_w, rl + ref_l, ref_l)]
        lo = module.preference_loss(*ours, beta, reduction="none")
        ls = -F.logsigmoid(beta * ((std[0] - std[1]) - (std[2] - std[3])))
        lo.sum().backward()
        ls.sum().backward()
        for got, want in [(lo, ls)] + [(o.grad, s.grad) for o, s in zip(ours, std)]:
            got, want = got.detach(), want.detach()
            assert torch.isfinite(want).any() and not torch.isnan(got).any()
            bad = (got - want).abs() > rtol * want.abs() + tiny
            assert not bad.any(), (beta, rw[bad][:3], rl[bad][:3], got[bad][:3], want[bad][:3])
        mean = module.preference_loss(*(t.detach() for t in ours), beta)
        assert torch.allclose(mean, ls.detach().mean(), rtol=rtol, atol=0)


@pytest.mark.parametrize("name", VALID + USER)
def test_every_fdpo_module_is_stable_on_the_grid(modules, name):
    """Every pair of log-ratios of the grid (with log pi_ref = 0, so the log-ratios are exact inputs): the loss
    and both gradients, float32 and float64, against the exact values (60-digit mpmath from f' itself; the
    inputs are float32 numbers, so distinct ones differ by at least 2^-24 relatively and 60 digits leave 30
    after the worst cancellation). Tolerance: rtol |exact| + 10 ulps of 1 where |exact| < 1 (fdiv's rule for
    losses), no condition term. Also the implicit reward beta f'(e^r) and its gradient at every grid point."""
    module, d = modules[name]
    ex = reference.exact(d.optimal_critic)
    with mpmath.workdps(reference.DPS):
        exact = [ex.loss(a, b, BETA) for a, b in PAIRS]
        rewards = [ex.reward(r, BETA) for r in GRID]
    strict = lambda p: reference.Point(p.value, mpmath.mpf(0))  # noqa: E731 - exact inputs: no condition term
    failures = []
    for dtype in (torch.float32, torch.float64):
        a = torch.tensor([p[0] for p in PAIRS], dtype=dtype, requires_grad=True)
        b = torch.tensor([p[1] for p in PAIRS], dtype=dtype, requires_grad=True)
        zero = torch.zeros_like(a)
        loss = module.preference_loss(a, zero, b, zero, BETA, reduction="none")
        loss.sum().backward()
        for i, pair in enumerate(PAIRS):
            for what, got, point in zip(("loss", "d/dr_w", "d/dr_l"), (loss[i], a.grad[i], b.grad[i]), exact[i]):
                if not _agrees(got.item(), strict(point), dtype):
                    failures.append((dtype, pair, what, got.item(), mpmath.nstr(point.value, 10)))
        r = torch.tensor(GRID, dtype=dtype, requires_grad=True)
        reward = module.implicit_reward(r, torch.zeros_like(r), BETA)
        reward.sum().backward()
        for i, x in enumerate(GRID):
            for what, got, point in zip(("reward", "d reward/dr"), (reward[i], r.grad[i]), rewards[i]):
                if not _agrees(got.item(), strict(point), dtype):
                    failures.append((dtype, x, what, got.item(), mpmath.nstr(point.value, 10)))
    assert failures == []


@pytest.mark.parametrize("name", ["jeffrey", "js-weighted", "reverse-kl", "(sqrt(u) - 1)**4"])
@settings(max_examples=8)
@given(data=st.data())
def test_drawn_log_probabilities(modules, name, data):
    """Log-probabilities drawn in [-1e4, 0] (float32 numbers), so log pi - log pi_ref is rounded inside the
    module: the tolerance adds the condition term sum |d value/d r_i| |r_i| (one rounding of each log-ratio
    moves the exact value by that much times eps; no implementation taking log-probabilities does better)."""
    module, d = modules[name]
    ex = reference.exact(d.optimal_critic)
    logp = st.floats(-1e4, 0, width=32)
    rows = data.draw(st.lists(st.tuples(logp, logp, logp, logp), min_size=4, max_size=4))
    with mpmath.workdps(reference.DPS):
        exact = [ex.loss(mpmath.mpf(w) - mpmath.mpf(rw), mpmath.mpf(l_) - mpmath.mpf(rl), BETA)
                 for w, rw, l_, rl in rows]
    for dtype in (torch.float32, torch.float64):
        ins = [torch.tensor(col, dtype=dtype, requires_grad=True) for col in zip(*rows)]
        loss = module.preference_loss(*ins, BETA, reduction="none")
        loss.sum().backward()
        for i in range(len(rows)):
            got = (loss[i].item(), ins[0].grad[i].item(), ins[2].grad[i].item())
            assert all(_agrees(g, p, dtype) for g, p in zip(got, exact[i])), (dtype, rows[i], got, exact[i])
            # d/dlogp_ref = -d/dlogp: the loss depends on the log-ratios only
            assert ins[1].grad[i].item() == -ins[0].grad[i].item() and ins[3].grad[i].item() == -got[2]


def test_beta_reduction_and_loss_class(modules):
    """beta must be positive and the log-probabilities floating-point; the Loss class and the reductions agree with preference_loss; a beta tensor gets
    its gradient -mean sigmoid(-m) (g(r_w) - g(r_l)), here against the exact value (float64, 1e-12)."""
    module, d = modules["jensen-shannon"]
    lw, lrw, ll, lrl = (torch.tensor(v, dtype=torch.float64) for v in ([-1.0, -30.0], [-2.0, -1.0],
                                                                        [-3.0, -0.5], [-1.0, -40.0]))
    with pytest.raises(ValueError, match="beta must be positive"):
        module.preference_loss(lw, lrw, ll, lrl, 0.0)
    with pytest.raises(TypeError, match="floating-point"):
        module.preference_loss(*(t.long() for t in (lw, lrw, ll, lrl)), 0.5)
    with pytest.raises(ValueError, match="reduction"):
        module.preference_loss(lw, lrw, ll, lrl, 0.5, reduction="max")
    per_pair = module.preference_loss(lw, lrw, ll, lrl, 0.5, reduction="none")
    assert per_pair.shape == (2,)
    assert module.Loss(0.5)(lw, lrw, ll, lrl).item() == module.preference_loss(lw, lrw, ll, lrl, 0.5).item()
    assert module.preference_loss(lw, lrw, ll, lrl, 0.5, reduction="sum").item() == per_pair.sum().item()
    beta = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    module.preference_loss(lw, lrw, ll, lrl, beta).backward()
    ex = reference.exact(d.optimal_critic)
    with mpmath.workdps(40):
        want = 0
        for a, b in zip((lw - lrw).tolist(), (ll - lrl).tolist()):
            delta = ex.g(a) - ex.g(b)
            want -= delta / (1 + mpmath.exp(mpmath.mpf(0.5) * delta)) / 2
    assert abs(beta.grad.item() - float(want)) <= 1e-12 * abs(float(want))


# ------------------------------------------------------------------------------------------ generation, refusals
@pytest.mark.parametrize("name", sorted(INVALID))
def test_specs_without_a_valid_link_are_refused_with_the_reason(name, tmp_path):
    result = run("gen", name, "--objective", "dpo", "-o", str(tmp_path))
    assert result.returncode == 2 and result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "no valid f-DPO link" in result.stderr and INVALID[name] in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, message", [
    (["--f", "u*log(u) + u**2*log(u)"], "no stable f-DPO lowering"),  # a term r e^r
    (["alpha", "--param", "alpha=(0, 1)"], "numeric parameter values"),
    (["kl", "--name", "os"], "importable module"),
])
def test_other_refusals_write_nothing(args, message, tmp_path):
    result = run("gen", *args, "--objective", "dpo", "-o", str(tmp_path))
    assert result.returncode == 2 and message in result.stderr and result.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_cli_writes_a_deterministic_torch_only_module(tmp_path):
    """kl -> kl_dpo.py (beside the f-GAN kl.py); a parameter value; a user f typed with odd spacing appears only
    as SymPy prints it; regenerating gives the same bytes; the module imports torch only."""
    first = run("gen", "kl", "--objective", "dpo", "-o", str(tmp_path))
    assert first.returncode == 0 and first.stdout.strip().endswith("kl_dpo.py")
    text = (tmp_path / "kl_dpo.py").read_text()
    assert run("gen", "kl", "--objective", "dpo", "-o", str(tmp_path)).returncode == 0
    assert (tmp_path / "kl_dpo.py").read_text() == text
    assert run("gen", "alpha", "--param", "alpha=1/2", "--objective", "dpo", "-o", str(tmp_path)).returncode == 0
    odd = run("gen", "--f", "u * log( u )   -  log(u)", "--name", "odd", "--objective", "dpo", "-o", str(tmp_path))
    assert odd.returncode == 0, odd.stderr
    source = (tmp_path / "odd.py").read_text()
    assert "u * log( u )" not in source and "f(u)                = u*log(u) - log(u)" in source
    for path in tmp_path.glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                    for alias in node.names} | {node.module.split(".")[0] for node in ast.walk(tree)
                                                if isinstance(node, ast.ImportFrom) and node.module}
        assert imported == {"torch"}, (path.name, imported)


def test_render_refuses_an_invalid_link_and_names_it():
    with pytest.raises(FdivError, match=r"pearson has no valid f-DPO link: f'\(0\+\) = -2 is finite"):
        dpo.render_module(fdiv.derive("pearson"))


def test_fdiv_list_shows_the_link():
    text = run("list").stdout
    lines = {line.split()[0]: line for line in text.splitlines() if line and not line.startswith("f-DPO")}
    assert all(lines[n].endswith("f-DPO: yes") for n in VALID)
    assert lines["pearson"].endswith("f-DPO: no (f'(0+) = -2 is finite)")
    data = {e["name"]: e["fdpo"] for e in json.loads(run("list", "--format", "json").stdout)}
    assert data["kl"] == {"valid": True, "reason": ""} and not data["triangular"]["valid"]
    assert "normaliser lambda does not cancel" in data["triangular"]["reason"]


def test_list_verdicts_come_back_from_the_cache_unchanged(tmp_path, monkeypatch):
    """fdiv list reads the catalogue's verdicts from the text cache: the cached verdicts equal the computed ones,
    and an entry of the wrong shape is recomputed (and rewritten), never trusted."""
    from fdiv.codegen.objectives.link import catalogue_links

    monkeypatch.setenv("FDIV_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("FDIV_NO_CACHE", raising=False)
    specs = catalogue.specs()
    computed = {s.name: link_of(s.expr({})[0], s.name) for s in specs}
    assert catalogue_links(specs) == computed
    (entry,) = tmp_path.glob("*.txt")
    assert catalogue_links(specs) == computed  # read back
    for bad in ('{"kl": [true]}', "[1, 2]", "not json"):
        entry.write_text(bad)
        assert catalogue_links(specs) == computed
    assert json.loads(entry.read_text())["pearson"][0] is False

