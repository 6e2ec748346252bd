"""Generated losses under torch.compile with inductor (the backend users train with) agree with eager mode.

Two catalogue modules in one graph, so inductor compiles once: Jeffrey (its critic loss is an autograd.Function
whose backward pass is the derivation's slope, around the Wright-omega Function) and reverse KL (the log-softplus
Function). benchmarks/compile_check.py runs every module through inductor; the fullgraph capture of every public
function is tested in tests/test_lower.py with the aot_eager backend.
"""
from __future__ import annotations

import shutil

import pytest
import torch

from fdiv.losses import jeffrey, reverse_kl

pytestmark = pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None,
                                reason="inductor on CPU needs a C++ compiler")


def both(v_real, v_fake):
    return jeffrey.critic_loss(v_real, v_fake), reverse_kl.critic_loss(v_real, v_fake)


def normwise(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max().clamp(min=torch.finfo(b.dtype).tiny)).item()


# Inductor fuses each loss into one loop and may sum the mean's 1000 terms in another order, with vectorised
# exp/log: a reassociated float sum of n terms is within n eps of the exact one in the worst case (1e-4 in float32,
# 2e-13 in float64), ~sqrt(n) eps typically. The bounds below sit between the two.
TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-12}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_inductor_agrees_with_eager(dtype):
    torch._dynamo.reset()
    compiled = torch.compile(both, fullgraph=True, backend="inductor")
    g = torch.Generator().manual_seed(0)
    # logits of both signs out to +-80 (Jeffrey's f* and its slope stay finite in float32 up to v = 88)
    v_real = (torch.randn(1000, generator=g, dtype=dtype) * 20).clamp(-80, 80).requires_grad_()
    v_fake = (torch.randn(1000, generator=g, dtype=dtype) * 20).clamp(-80, 80).requires_grad_()
    results = []
    for fn in (both, compiled):
        losses = fn(v_real, v_fake)
        grads = [torch.autograd.grad(loss, (v_real, v_fake), retain_graph=True) for loss in losses]
        results.append((losses, grads))
    (eager_losses, eager_grads), (comp_losses, comp_grads) = results
    for k in range(2):
        assert torch.isfinite(comp_losses[k])
        assert normwise(comp_losses[k], eager_losses[k]) <= TOLERANCE[dtype], k
        for ge, gc in zip(eager_grads[k], comp_grads[k]):
            assert torch.isfinite(gc).all()
            assert normwise(gc, ge) <= TOLERANCE[dtype], k


def test_gan_conjugate_near_the_end_of_its_domain_under_inductor():
    """f*(t) = -log(1 - e^t) for the GAN row: inductor's CPU code computes expm1(t) as e^t - 1 in float32, which is
    0 at t = -1e-8, so the compiled conjugate was +inf there while eager mode gives 18.42. The runtime's log1mexp
    uses a series under compilation. Tolerance 1e-5 relative to the float64 value: the float32 series and log
    are good to a few eps."""
    from fdiv.losses import gan

    torch._dynamo.reset()
    compiled = torch.compile(gan.conjugate, fullgraph=True, backend="inductor")
    t = torch.tensor([-1e-8, -1e-6, -1e-3, -0.05, -0.0999, -0.1001, -0.2, -1.0, -30.0])
    exact = gan.conjugate(t.double())
    got = compiled(t)
    assert torch.isfinite(got).all(), got
    assert torch.allclose(got.double(), exact, rtol=1e-5, atol=0), (got, exact)

