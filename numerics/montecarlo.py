"""Monte Carlo references in torch (any device, float64) with standard errors and confidence intervals.

D_f(P||Q) = E_Q[f(p/q)] is estimated in log space: u = exp(log p(x) - log q(x)), with f shifted to
g(u) = f(u) - f(1) - f'(1)(u - 1) >= 0 (same expectation, far lower variance near p = q). Only f is needed
(numerics.generator); the variational bound needs f*, from fdiv's derivation. Both, and the torch functions
made from them, are memoised: a name costs SymPy once per process, not once per call.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sympy as sp
import torch

from fdiv.derivation.conjugate import T
from fdiv.derivation.engine import Derivation
from fdiv.spec.spec import U, Spec

from .errors import NumericsError
from .gaussian import Gaussian
from .generator import Generator, derivation, generator

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class MCEstimate:
    value: float
    std_error: float
    n: int

    @property
    def ci95(self) -> tuple[float, float]:
        return self.value - Z_95 * self.std_error, self.value + Z_95 * self.std_error

    def to_json(self) -> dict:
        return {"value": self.value, "method": "monte-carlo", "abs_error": Z_95 * self.std_error,
                "std_error": self.std_error, "n": self.n}


@functools.lru_cache(maxsize=256)
def torch_function(expr: sp.Expr, var: sp.Symbol) -> Callable[[torch.Tensor], torch.Tensor]:
    """expr as a function of a float64 tensor: SymPy's torch printer where it works, else numpy/scipy on CPU
    (memoised per expression)."""
    try:
        fn = sp.lambdify(var, expr, "torch")
        probe = torch.linspace(-0.5, 0.5, 3, dtype=torch.float64)
        out = fn(probe)
        if isinstance(out, torch.Tensor) or isinstance(out, (int, float)):
            return lambda x: torch.as_tensor(fn(x), dtype=x.dtype, device=x.device) * torch.ones_like(x)
    except (TypeError, AttributeError, NameError, KeyError, RuntimeError):
        pass
    np_fn = sp.lambdify(var, expr, ["scipy", "numpy"])

    def via_numpy(x: torch.Tensor) -> torch.Tensor:
        with np.errstate(all="ignore"):
            y = np.real(np_fn(x.detach().cpu().numpy()))
        return torch.as_tensor(np.broadcast_to(y, x.shape).copy(), dtype=x.dtype, device=x.device)

    return via_numpy


def mvn(g: Gaussian, device: str | torch.device = "cpu") -> torch.distributions.MultivariateNormal:
    """g as a torch distribution; g was validated on construction, so torch's argument checks are skipped."""
    return torch.distributions.MultivariateNormal(torch.as_tensor(g.mean, device=device),
                                                  scale_tril=torch.as_tensor(g.chol, device=device),
                                                  validate_args=False)


def _mean_se(values: torch.Tensor) -> MCEstimate:
    n = values.numel()
    return MCEstimate(float(values.mean()), float(values.std(unbiased=True) / math.sqrt(n)), n)


def f_divergence(spec: str | Spec | Derivation | Generator, p: Gaussian, q: Gaussian, *, n: int = 100_000,
                 seed: int = 0, device: str = "cpu", **params) -> MCEstimate:
    """E_Q[f(p/q)] by sampling Q (f(1) != 0 is included: D_f(P||P) = f(1)). Where the catalogue has a Gaussian
    closed form that says the divergence is infinite, the answer is +inf: a sample mean of an infinite
    expectation is a finite number, and wrong."""
    from .closed_forms import CLOSED_FORMS

    d = generator(spec, **params)
    if d.catalogue_name in CLOSED_FORMS:
        try:
            infinite = bool(np.isinf(CLOSED_FORMS[d.catalogue_name](p, q, d.parameters)).all())
        except NumericsError:  # the closed form does not cover this pair (TV with unequal covariances)
            infinite = False
        if infinite:
            return MCEstimate(math.inf, 0.0, n)
    g = torch_function(d.shifted, U)
    gen = torch.Generator(device=device).manual_seed(seed)
    P, Q = mvn(p, device), mvn(q, device)
    x = Q.loc + torch.randn((n, q.dim), generator=gen, dtype=torch.float64, device=device) @ Q.scale_tril.T
    u = torch.exp(P.log_prob(x) - Q.log_prob(x))
    est = _mean_se(g(u))
    return MCEstimate(est.value + float(d.f_at_one), est.std_error, n)


def variational_bound(critic: Callable[[torch.Tensor], torch.Tensor], spec: str | Spec | Derivation, p: Gaussian,
                      q: Gaussian, *, n: int = 100_000, seed: int = 0, device: str = "cpu", **params) -> MCEstimate:
    """E_P[T] - E_Q[f*(T)] for a critic T (a function of x, shape (n, d) -> (n,)), independent samples."""
    d = derivation(spec, **params)
    conj = torch_function(d.conjugate, T)
    gen = torch.Generator(device=device).manual_seed(seed)
    P, Q = mvn(p, device), mvn(q, device)
    xp = P.loc + torch.randn((n, p.dim), generator=gen, dtype=torch.float64, device=device) @ P.scale_tril.T
    xq = Q.loc + torch.randn((n, q.dim), generator=gen, dtype=torch.float64, device=device) @ Q.scale_tril.T
    a, b = critic(xp), conj(critic(xq))
    value = float(a.mean() - b.mean())
    se = math.sqrt(float(a.var(unbiased=True)) / n + float(b.var(unbiased=True)) / n)
    return MCEstimate(value, se, n)
