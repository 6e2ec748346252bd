"""`make bench` fails on a comparison that is not a finite number (an inf from compiled code once printed as a
result while the run reported success)."""
from __future__ import annotations

import ast
import importlib
import math
import re
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"


@pytest.fixture
def bench_modules(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))  # as `python benchmarks/x.py` puts the folder first on sys.path
    for name in ("finite", "compile_check"):
        sys.modules.pop(name, None)
    yield importlib.import_module
    for name in ("finite", "compile_check"):
        sys.modules.pop(name, None)


def test_finite_fails_on_inf_nan_and_non_numbers(bench_modules, capsys):
    finite = bench_modules("finite").Finite()
    assert finite.check("a", 1.5) == 1.5 and finite.exit_code() == 0
    for label, value in (("inf", math.inf), ("nan", math.nan), ("none", None)):
        finite.check(label, value)
    assert finite.exit_code() == 1
    err = capsys.readouterr().err
    assert [line.split(": ", 2)[2] for line in err.splitlines()] == ["inf = inf", "nan = nan", "none = None"]
    assert finite.exit_code(2) == 1  # a script's own failure code is kept only when every comparison was finite


def test_compile_check_fails_where_compiled_and_eager_disagree_on_finiteness(bench_modules):
    """The case that passed before: compiled inf where eager is finite gives rel_diff = inf, which now fails."""
    cc = bench_modules("compile_check")
    eager, compiled = torch.tensor([1.0, 2.0]), torch.tensor([1.0, math.inf])
    worst = [cc.rel_diff(compiled, eager), 0.0]
    assert worst[0] == math.inf
    line = cc.row("gan", worst, 1e-3, 1e-3)
    assert "inf" in line and cc.FINITE.bad == ["gan value vs eager = inf"] and cc.FINITE.exit_code() == 1


N_MEM = 4096  # a tensor of the batch: 16 KiB in float32


class _ThreeTemporaries(torch.autograd.Function):
    """Forward holds three float32 batches at once (a, b, c), then returns a scalar; backward writes one."""

    @staticmethod
    def forward(ctx, x):
        a = x * 2.0
        b = a + 1.0
        c = b * a
        return c.sum()

    @staticmethod
    def backward(ctx, grad):
        return torch.full((N_MEM,), 1.0) * grad


def test_peak_memory_counts_what_is_alive_inside_custom_functions_and_the_backward_pass(bench_modules):
    """Counted by hand: three temporaries alive at once inside an autograd Function (torch's profiler, replayed by
    self memory, credited their frees to the Function's start and reported fewer); exp(2a)'s saved result, the
    gradient written for b and the product of the backward pass alive at once (three). Views, in-place results and
    the inputs themselves are not allocations."""
    peak_bytes = bench_modules("memory").peak_bytes
    batch = 4 * N_MEM
    a = torch.linspace(-5.0, 5.0, N_MEM, requires_grad=True)
    b = torch.linspace(-5.0, 5.0, N_MEM, requires_grad=True)
    inside = peak_bytes(lambda x, y: _ThreeTemporaries.apply(x) + y.sum(), a, b)
    assert 3 * batch <= inside < 3 * batch + 64, inside  # + a few scalars (sums, the loss)
    got = peak_bytes(lambda x, y: torch.exp(x * 2.0).sum() + y.sum(), a, b)
    assert 3 * batch <= got < 3 * batch + 64, got
    with torch.no_grad(), bench_modules("memory").LiveBytes() as mode:
        views = (a.view(-1)[1:], a.detach(), a.t())  # views of an input: no allocation
        z = a * 2.0                                   # an allocation
        z.mul_(1.5)[1:].add_(1.0)                     # in-place results and their views: none
        assert (mode.live, mode.peak) == (batch, batch)
        del z
        assert mode.live == 0  # freed when its last reference goes
    del views


def test_every_make_bench_script_exits_with_the_finite_verdict():
    """Each script `make bench` runs records its comparisons and returns FINITE.exit_code() through sys.exit."""
    target = re.search(r"^bench:.*?\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    scripts = re.findall(r"benchmarks/(\w+\.py)", target.group(1))
    assert len(scripts) >= 5
    for script in scripts:
        tree = ast.parse((BENCH / script).read_text())
        source = ast.unparse(tree)
        assert "from finite import FINITE" in source, script
        assert "return FINITE.exit_code(" in source and "sys.exit(main())" in source, script
        assert source.count("FINITE.check(") >= 1, script


def test_compile_check_fails_on_opposite_infinities_nan_and_differences_over_its_tolerance(bench_modules):
    """Compiled +inf where eager is -inf (finite in neither) and NaN in both were 'no difference'; a finite
    difference above TOLERANCE (1e-4 normwise) printed and passed."""
    cc = bench_modules("compile_check")
    inf, nan = math.inf, math.nan
    assert cc.rel_diff(torch.tensor([1.0, inf]), torch.tensor([1.0, -inf])) == inf
    assert cc.rel_diff(torch.tensor([1.0, nan]), torch.tensor([1.0, nan])) == inf
    assert cc.rel_diff(torch.tensor([1.0, inf]), torch.tensor([1.0, inf])) == 0.0
    assert cc.rel_diff(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0 + 4e-4])) > cc.TOLERANCE
    assert cc.rel_diff(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0 + 1e-6])) <= cc.TOLERANCE


@pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                    reason="the jax extra is not installed (pip install 'fdiv[jax]')")
def test_the_hand_written_jax_forms_are_the_torch_modules_losses(monkeypatch):
    """`benchmarks/losses.py --backend jax` times the generated JAX modules against these forms: each computes the
    torch module's loss (float64 values and gradients within 1e-8 at moderate logits) and stays finite at the
    extreme logits. The check rejects a form clamped with jnp.maximum, whose gradient JAX halves at the tie
    x = -15 (the first version of log-softplus did that)."""
    import jax.numpy as jnp

    monkeypatch.syspath_prepend(str(BENCH))
    lj, forms = importlib.import_module("jax_losses"), importlib.import_module("jax_forms")
    from fdiv.spec import catalogue

    assert set(forms.FORMS) == set(catalogue.names())
    for row, form in forms.FORMS.items():
        torch_loss = importlib.import_module(f"fdiv.losses.{row.replace('-', '_')}").critic_loss
        assert lj.agrees_with_torch(form, torch_loss) and lj.is_stable(form), row
        assert form.__doc__ and "sigma" in form.__doc__, row  # its formula

    def tied(x):
        lo, hi = jnp.minimum(x, -15.0), jnp.maximum(x, -15.0)
        return jnp.where(x < -15.0, lo - jnp.exp(lo) / 2, jnp.log(forms.softplus(hi)))

    def planted(r, f):
        return jnp.mean(forms.softplus(-r)) - jnp.mean(tied(-f)) - 1

    assert not lj.agrees_with_torch(planted, importlib.import_module("fdiv.losses.reverse_kl").critic_loss)
