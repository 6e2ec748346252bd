"""The critic loss of a numeric or piecewise f*: its gradient taken slice by slice in the forward pass
(runtime._FusedMean) gives autograd's numbers over the whole batch, to float64 rounding of the sum's order."""
from __future__ import annotations

import importlib.util
import inspect

import pytest
import torch

import fdiv
from fdiv.codegen.emit import write_module


@pytest.fixture(scope="module")
def quartic(tmp_path_factory):
    """A numeric f*'s module: (sqrt(u) - 1)^4, f' = 2 (sqrt(u) - 1)^3/sqrt(u) has no closed-form inverse."""
    path = write_module(fdiv.derive("(sqrt(u) - 1)**4"), tmp_path_factory.mktemp("fused"), "quartic")
    spec = importlib.util.spec_from_file_location("quartic_fused", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def test_the_fused_critic_loss_is_autograds_over_the_whole_batch(quartic):
    assert "_fused_mean(conjugate_of_activation, v_fake)" in inspect.getsource(quartic.critic_loss)
    gen = torch.Generator().manual_seed(0)
    v_real, v_fake = (torch.randn(100_003, generator=gen, dtype=torch.float64) * 5 for _ in range(2))  # 4 slices
    fused, plain = _run(quartic.critic_loss, v_real, v_fake), _run(lambda a, b: _plain(quartic, a, b), v_real, v_fake)
    assert _agree(fused, plain)
    with torch.no_grad():  # no gradient asked for: the values alone
        assert torch.allclose(quartic.critic_loss(v_real, v_fake), plain[0], rtol=1e-12, atol=0.0)


def test_a_fused_mean_without_its_scale_is_caught(quartic, monkeypatch):
    """The comparison above rejects a planted bug: a backward pass that drops the 1/n of the mean."""
    def unscaled(ctx, grad):
        (slope,) = ctx.saved_tensors
        return slope * grad, None

    gen = torch.Generator().manual_seed(1)
    v_real, v_fake = (torch.randn(100_003, generator=gen, dtype=torch.float64) for _ in range(2))
    plain = _run(lambda a, b: _plain(quartic, a, b), v_real, v_fake)
    monkeypatch.setattr(quartic._FusedMean, "backward", staticmethod(unscaled))
    assert not _agree(_run(quartic.critic_loss, v_real, v_fake), plain)


@pytest.mark.parametrize("n", [1, 61, 32768])
def test_one_slice_or_less_is_the_plain_mean(quartic, n):
    """Up to one slice the loss is fn(v).mean() itself: the numbers torch.compile gives, to the bit."""
    v = torch.linspace(-30, 30, n, dtype=torch.float64)
    assert torch.equal(quartic.critic_loss(v, v.flip(0)), _plain(quartic, v, v.flip(0)))
