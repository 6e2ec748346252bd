"""D_f between two sample sets: a trained critic with the generated loss, or Gaussians fitted to the samples.

critic_estimate: the variational bound F(T) = E_P[T] - E_Q[f*(T)] <= D_f(P||Q) holds for every critic T,
with equality at T* = f'(p/q). The critic is trained on one part of the samples and F is evaluated on the
other (held-out) part. Bias direction:
  - held-out: the critic is independent of the held-out samples, so the estimate is an unbiased estimate
    of F(T) <= D_f: in expectation it is a LOWER bound, low by the critic's suboptimality, plus noise
    (the standard error, from the per-sample terms);
  - training split (train_value, reported too): the critic was fitted to those very samples, so the
    empirical bound is biased UPWARD and can exceed D_f (overfitting). It is never the estimate.
So the bound is a lower bound only at the optimum of the held-out objective, and then only in expectation.

gaussian_fit_estimate: D_f between N(mean, cov) fitted to each sample set (plug-in, closed forms from
numerics.gaussian), standard error by bootstrap. It estimates the divergence between the two Gaussians
that match the first two moments, which equals D_f(P||Q) only when P and Q are Gaussian. The plug-in is
biased UPWARD for small n: for KL and P = Q its expectation is about k/2 (1/n_p + 1/n_q) > 0, with
k = d + d(d + 1)/2 fitted parameters per Gaussian (delta method).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .errors import FdivError
from ._util.siblings import load


class EstimateError(FdivError):
    """Bad input to an estimator (shapes, too few samples, non-finite values)."""


@dataclass(frozen=True)
class SampleEstimate:
    value: float
    standard_error: float
    method: str
    n_p: int  # samples of P the value is computed from (held-out, for the critic estimate)
    n_q: int
    train_value: float | None = None  # the critic's bound on its own training split (biased upward)

    def to_json(self) -> dict:
        return {"value": self.value, "standard_error": self.standard_error, "method": self.method,
                "n_p": self.n_p, "n_q": self.n_q, "train_value": self.train_value}


def _samples(x, what: str, min_n: int) -> torch.Tensor:
    try:
        t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x.detach())
    except (TypeError, ValueError, RuntimeError):
        raise EstimateError(f"{what}: expected an array of real numbers") from None
    if t.is_complex() or t.dtype == torch.bool:
        raise EstimateError(f"{what}: expected real numbers, got {t.dtype}")
    if not t.is_floating_point():
        t = t.double()
    if t.dim() == 1:
        t = t.unsqueeze(-1)
    if t.dim() != 2:
        raise EstimateError(f"{what}: expected samples of shape (n,) or (n, d), got {tuple(t.shape)}")
    if t.shape[0] < min_n:
        raise EstimateError(f"{what}: need at least {min_n} samples, got {t.shape[0]}")
    if not bool(torch.isfinite(t).all()):
        raise EstimateError(f"{what}: samples must be finite (found NaN or inf)")
    return t


def critic_estimate(samples_p, samples_q, divergence: str = "kl", *, critic: torch.nn.Module | None = None,
                    steps: int = 500, holdout: float = 0.5, batch_size: int = 256, lr: float = 1e-2,
                    seed: int = 0, threads: int | None = 1, **params) -> SampleEstimate:
    """The variational bound on held-out samples, for a critic trained with the generated loss of `divergence`
    (a catalogue name or an expression in u) on the rest. Default critic: fdiv.train.mlp (SiLU, 32 x 32).
    Returns the held-out value, its standard error, and the (upward-biased) training-split value.
    threads: torch's threads while training (see fdiv.train.fit_critic)."""
    from .train import fit_critic, load_loss, mlp, set_seed

    if not (isinstance(holdout, float) and 0 < holdout < 1):
        raise EstimateError(f"holdout must be a fraction in (0, 1), got {holdout!r}")
    xp, xq = _samples(samples_p, "samples_p", 4), _samples(samples_q, "samples_q", 4)
    if xp.shape[1] != xq.shape[1]:
        raise EstimateError(f"samples_p have dimension {xp.shape[1]} but samples_q have {xq.shape[1]}")
    loss = load_loss(divergence, **params)
    set_seed(seed)  # validates it, and seeds the default critic's initialisation
    gen = torch.Generator().manual_seed(seed)
    split = []
    for x, what in ((xp, "samples_p"), (xq, "samples_q")):
        n_test = int(round(holdout * x.shape[0]))
        if n_test < 2 or x.shape[0] - n_test < 2:
            raise EstimateError(f"{what}: {x.shape[0]} samples leave fewer than 2 on one side of the split")
        perm = torch.randperm(x.shape[0], generator=gen)
        split.append((x[perm[n_test:]], x[perm[:n_test]]))
    (p_train, p_test), (q_train, q_test) = split
    dtype = next(critic.parameters()).dtype if critic is not None else torch.get_default_dtype()
    p_train, p_test, q_train, q_test = (t.to(dtype) for t in (p_train, p_test, q_train, q_test))
    if critic is None:
        critic = mlp(xp.shape[1])
    fit_critic(loss, p_train, q_train, critic, steps, batch_size=batch_size, lr=lr, seed=seed, threads=threads)
    with torch.no_grad():
        value, se = _bound(loss, critic, p_test, q_test)
        train_value, _ = _bound(loss, critic, p_train, q_train)
    return SampleEstimate(value, se, f"critic ({divergence}, held-out {holdout:g})", p_test.shape[0],
                          q_test.shape[0], train_value)


def _bound(loss, critic: torch.nn.Module, xp: torch.Tensor, xq: torch.Tensor) -> tuple[float, float]:
    """mean sigma_f(V(x_P)) - mean f*(sigma_f(V(x_Q))) and its standard error (independent samples)."""
    a = loss.activation(critic(xp).reshape(-1)).double()
    b = loss.conjugate_of_activation(critic(xq).reshape(-1)).double()
    value = float(a.mean() - b.mean())
    se = math.sqrt(float(a.var()) / a.numel() + float(b.var()) / b.numel())
    return value, se


def gaussian_fit_estimate(samples_p, samples_q, divergence: str = "kl", *, bootstrap: int = 200, seed: int = 0,
                          **params) -> SampleEstimate:
    """D_f between the Gaussians fitted to each sample set (closed forms: kl, reverse-kl, pearson, neyman,
    squared-hellinger, jeffrey, total-variation, alpha); standard error from `bootstrap` resamples."""
    g = load("numerics.gaussian")
    CLOSED_FORMS = load("numerics.closed_forms").CLOSED_FORMS

    from .spec import catalogue

    spec = catalogue.find(divergence)
    if spec is None or spec.name not in CLOSED_FORMS:
        names = ", ".join(sorted(CLOSED_FORMS))
        raise EstimateError(f"gaussian_fit_estimate: no Gaussian closed form for {divergence!r} (one of: {names})")
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, int) or bootstrap < 2:
        raise EstimateError(f"bootstrap must be an integer >= 2, got {bootstrap!r}")
    xp = _samples(samples_p, "samples_p", 2).double().numpy()
    xq = _samples(samples_q, "samples_q", 2).double().numpy()
    d = xp.shape[1]
    if xq.shape[1] != d:
        raise EstimateError(f"samples_p have dimension {d} but samples_q have {xq.shape[1]}")
    for x, what in ((xp, "samples_p"), (xq, "samples_q")):
        if x.shape[0] <= d:
            raise EstimateError(f"{what}: {x.shape[0]} samples cannot fit a covariance in dimension {d}")
    values = {k: float(v) for k, v in _parameters(spec, params).items()}
    closed = CLOSED_FORMS[spec.name]

    def fit(x: np.ndarray, name: str):
        mean = x.mean(axis=-2)
        centred = x - mean[..., None, :]
        cov = np.swapaxes(centred, -1, -2) @ centred / (x.shape[-2] - 1)
        return g.gaussian(mean, cov, name=name)

    value = float(closed(fit(xp, "Gaussian fit to samples_p"), fit(xq, "Gaussian fit to samples_q"), values))
    rng = np.random.default_rng(seed)
    bp = xp[rng.integers(0, xp.shape[0], size=(bootstrap, xp.shape[0]))]
    bq = xq[rng.integers(0, xq.shape[0], size=(bootstrap, xq.shape[0]))]
    try:
        boot = np.asarray(closed(fit(bp, "a bootstrap resample of samples_p"),
                                 fit(bq, "a bootstrap resample of samples_q"), values), dtype=float)
    except FdivError:
        boot = np.array([np.nan])
    se = float(np.std(boot, ddof=1)) if np.isfinite(boot).all() else math.inf
    return SampleEstimate(value, se, f"Gaussian fit ({spec.name}, plug-in, bootstrap {bootstrap})",
                          xp.shape[0], xq.shape[0])


def _parameters(spec, params: dict) -> dict:
    """Parameter values of a catalogue entry (defaults filled in), as exact SymPy numbers."""
    from .derivation.engine import derive

    return derive(spec, **params).parameters if spec.params else {}


__all__ = ["EstimateError", "SampleEstimate", "critic_estimate", "gaussian_fit_estimate"]
