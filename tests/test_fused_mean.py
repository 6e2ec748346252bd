"""The critic loss of a numeric or long f*: its gradient taken slice by slice in the forward pass (runtime._FusedMean)
gives autograd's numbers over the whole batch, to float64 rounding of the sum's order."""
from __future__ import annotations

import inspect

import pytest
import torch

from fdiv.losses import neyman


def _plain(module, v_real, v_fake):
    return module.conjugate_of_activation(v_fake).mean() - module.activation(v_real).mean()


def _run(loss, v_real, v_fake):
    v_real, v_fake = (x.clone().requires_grad_() for x in (v_real, v_fake))
    value = loss(v_real, v_fake)
    value.backward()
    return value.detach(), v_real.grad, v_fake.grad


def _agree(a, b) -> bool:
    # the slices' sums are added in another order than one sum over the batch: float64 rounding, 1e-12 relative
    return all(torch.allclose(x, y, rtol=1e-12, atol=0.0) for x, y in zip(a, b))


def test_the_fused_critic_loss_is_autograds_over_the_whole_batch():
    assert "_fused_mean(conjugate_of_activation, v_fake)" in inspect.getsource(neyman.critic_loss)
    gen = torch.Generator().manual_seed(0)
    v_real, v_fake = (torch.randn(100_003, generator=gen, dtype=torch.float64) * 5 for _ in range(2))  # 4 slices
    fused, plain = _run(neyman.critic_loss, v_real, v_fake), _run(lambda a, b: _plain(neyman, a, b), v_real, v_fake)
    assert _agree(fused, plain)
    with torch.no_grad():  # no gradient asked for: the values alone
        assert torch.allclose(neyman.critic_loss(v_real, v_fake), plain[0], rtol=1e-12, atol=0.0)


def test_a_fused_mean_without_its_scale_is_caught(monkeypatch):
    """The comparison above rejects a planted bug: a backward pass that drops the 1/n of the mean."""
    def unscaled(ctx, grad):
        (slope,) = ctx.saved_tensors
        return slope * grad, None

    gen = torch.Generator().manual_seed(1)
    v_real, v_fake = (torch.randn(100_003, generator=gen, dtype=torch.float64) for _ in range(2))
    plain = _run(lambda a, b: _plain(neyman, a, b), v_real, v_fake)
    monkeypatch.setattr(neyman._FusedMean, "backward", staticmethod(unscaled))
    assert not _agree(_run(neyman.critic_loss, v_real, v_fake), plain)


@pytest.mark.parametrize("n", [1, 61, 32768])
def test_one_slice_or_less_is_the_plain_mean(n):
    """Up to one slice the loss is fn(v).mean() itself: the numbers torch.compile gives, to the bit."""
    v = torch.linspace(-30, 30, n, dtype=torch.float64)
    assert torch.equal(neyman.critic_loss(v, v.flip(0)), _plain(neyman, v, v.flip(0)))
