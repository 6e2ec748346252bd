"""Torch helpers that generated modules embed (their source is copied in, so a module imports torch only).

Each is stable over the whole float range, for values and gradients: where() branches get clamped inputs,
so the branch not taken never produces inf/NaN gradients.
"""
import torch
import torch.nn.functional as F


def _softplus(x):
    """log(1 + exp(x)); threshold 40 keeps float64 exact to e^-40 (torch's default 20 loses 1e-10)."""
    return F.softplus(x, beta=1.0, threshold=40.0)


def _log_softplus(x):
    """log(softplus(x)); below -15, softplus(x) = e^x (1 - e^x/2 + ...), so log = x - e^x/2 to 1e-14."""
    low = torch.clamp(x, max=-15.0)
    high = torch.clamp(x, min=-15.0)
    return torch.where(x < -15.0, low - torch.exp(low) / 2, torch.log(F.softplus(high, beta=1.0, threshold=40.0)))


def _log1mexp(x):
    """log(1 - exp(x)) for x < 0 (Maechler's split at -log 2)."""
    near = torch.clamp(x, min=-0.6931471805599453)
    far = torch.clamp(x, max=-0.6931471805599453)
    return torch.where(x > -0.6931471805599453, torch.log(-torch.expm1(near)), torch.log1p(-torch.exp(far)))


def _wright_omega_float64(x):
    """omega(x) = W(e^x), the root of w + log w = x, by Newton's method from softplus(x) (float64)."""
    tiny = x < -700.0  # omega(x) = e^x to double precision, and log(e^x) would underflow below
    y = torch.where(tiny, torch.zeros_like(x), x)
    w = F.softplus(y, beta=1.0, threshold=40.0)
    for _ in range(6):  # quadratic convergence from softplus(y) >= omega(y)
        w = w * (1 + (y - w - torch.log(w)) / (1 + w))
    return torch.where(tiny, torch.exp(x), w)


class _WrightOmega(torch.autograd.Function):
    """omega(x) = W(e^x) with d omega/dx = omega/(1 + omega); computed in float64, returned in x's dtype."""

    @staticmethod
    def forward(ctx, x):
        w = _wright_omega_float64(x.double())
        ctx.save_for_backward(w)
        return w.to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (w,) = ctx.saved_tensors
        return grad * (w / (1 + w)).to(grad.dtype)


def _wright_omega(x):
    return _WrightOmega.apply(x)
