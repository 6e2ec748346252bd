"""A tiny exact world for preference optimisation: prompts x responses, a known reward and a reference policy.

The KL-regularised objective, and its f-divergence version, max_pi E_pi[r] - beta D_f(pi(.|x)||pi_ref(.|x)) with
D_f(pi||pi_ref) = E_pi_ref[f(pi/pi_ref)], has the optimum (KKT, with f'(0+) = -oo so every response keeps
positive probability)

    pi*(y|x) = pi_ref(y|x) (f')^-1((r(x, y) - lambda_x)/beta),   lambda_x the root of sum_y pi*(y|x) = 1,

which for f = u log u is pi_ref exp(r/beta)/Z. `optimal_policy` computes it at `dps` digits: the inner
equation f'(u) = t is solved for s = log u (f'(e^s) is increasing), the outer one for lambda (the sum falls as
lambda rises), both by bracketing and mpmath's Anderson-Bjorck iteration.

`population_loss` is the expected preference loss of a policy over every pair of distinct responses of each
prompt (prompts weighted by `prompt_weights`, pairs uniformly), with y preferred to y' with the Bradley-Terry
probability sigma(r(y) - r(y')). Its unique minimiser over all policies is pi*: the logistic loss is minimised
exactly when each implicit reward difference beta (g(y) - g(y')) equals r(y) - r(y'), which pi* attains.
`fit` minimises it over a tabular softmax policy with torch's L-BFGS (float64), through a generated
preference-loss module.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import mpmath
import numpy as np
import sympy as sp

from .errors import NumericsError

_S = sp.Symbol("s", real=True)


@dataclass(frozen=True)
class World:
    reward: np.ndarray  # (prompts, responses)
    reference: np.ndarray  # (prompts, responses), each row a distribution with positive entries
    beta: float
    prompt_weights: np.ndarray = field(default=None)  # (prompts,); uniform when None

    def __post_init__(self):
        r, q = np.asarray(self.reward, float), np.asarray(self.reference, float)
        if r.ndim != 2 or r.shape != q.shape or r.shape[1] < 2:
            raise NumericsError("World: reward and reference must have the same shape (prompts, responses >= 2)")
        if not (np.isfinite(r).all() and (q > 0).all() and np.allclose(q.sum(1), 1, atol=1e-12)):
            raise NumericsError("World: rewards must be finite and each reference row a positive distribution")
        if not self.beta > 0:
            raise NumericsError(f"World: beta must be positive, got {self.beta}")
        w = np.full(r.shape[0], 1 / r.shape[0]) if self.prompt_weights is None else np.asarray(self.prompt_weights)
        object.__setattr__(self, "reward", r)
        object.__setattr__(self, "reference", q)
        object.__setattr__(self, "prompt_weights", w / w.sum())


def default_world() -> World:
    """Two prompts, four responses, rewards of both signs and a reference far from uniform."""
    return World(reward=np.array([[1.0, 0.5, -0.25, -1.5], [0.25, 2.0, -0.5, 0.0]]),
                 reference=np.array([[0.1, 0.2, 0.3, 0.4], [0.25, 0.05, 0.5, 0.2]]), beta=0.5,
                 prompt_weights=np.array([0.4, 0.6]))


def _root(fn, lo, hi, grow):
    """fn increasing: a root bracketed by moving lo down and hi up (by `grow`), then Anderson-Bjorck."""
    for _ in range(400):
        if fn(lo) <= 0:
            break
        lo = grow(lo, -1)
    for _ in range(400):
        if fn(hi) >= 0:
            break
        hi = grow(hi, 1)
    if not (fn(lo) <= 0 <= fn(hi)):
        raise NumericsError("no root bracketed")
    return mpmath.findroot(fn, (lo, hi), solver="anderson")


def optimal_policy(world: World, f_prime: sp.Expr, u: sp.Symbol, dps: int = 50) -> np.ndarray:
    """pi*(y|x) in float64, computed at `dps` digits. f_prime is f'(u), strictly increasing with f'(0+) = -oo."""
    g = sp.lambdify(_S, f_prime.subs(u, sp.exp(_S)), modules="mpmath")  # f'(e^s), increasing in s
    top = sp.limit(f_prime, u, sp.oo)  # f'(oo): (r - lambda)/beta must stay below it
    out = np.empty_like(world.reward)
    with mpmath.workdps(dps + 10):
        double = lambda x, side: x + side * (1 + abs(x))  # noqa: E731 - the bracket doubles outwards

        def ratio(t):  # (f')^-1(t) = e^s with f'(e^s) = t
            return mpmath.exp(_root(lambda s: g(s) - t, mpmath.mpf(-1), mpmath.mpf(1), double))

        def bracket(lam_min):  # lambda > lam_min, approached by halving the distance
            return lambda x, side: x + side * (1 + abs(x)) if side > 0 or lam_min is None else \
                lam_min + (x - lam_min) / 2

        for x in range(world.reward.shape[0]):
            r = [mpmath.mpf(v) for v in world.reward[x]]
            q = [mpmath.mpf(v) for v in world.reference[x]]
            beta = mpmath.mpf(world.beta)

            def excess(lam):  # 1 - sum_y pi(y): increasing in lambda
                return 1 - mpmath.fsum(qy * ratio((ry - lam) / beta) for qy, ry in zip(q, r))

            # the sum is finite only for (r - lam)/beta below f'(oo): lambda > max r - beta f'(oo)
            lam_min = None if top == sp.oo else max(r) - beta * mpmath.mpf(sp.N(top, dps + 10))
            start = max(r) + 1 if lam_min is None else lam_min + 1
            lam = _root(excess, start, start + 1, bracket(lam_min))
            out[x] = [float(qy * ratio((ry - lam) / beta)) for qy, ry in zip(q, r)]
    return out


def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    i, j = np.triu_indices(n, k=1)
    return i, j


def population_loss(world: World, module, logits):
    """The expected preference loss of the policy softmax(logits) (a torch tensor (prompts, responses))."""
    import torch

    logp = torch.log_softmax(logits, dim=1)
    logq = torch.log(torch.as_tensor(world.reference, dtype=logits.dtype))
    reward = torch.as_tensor(world.reward, dtype=logits.dtype)
    i, j = (torch.as_tensor(a) for a in _pairs(world.reward.shape[1]))
    p = torch.sigmoid(reward[:, i] - reward[:, j])  # P(y_i preferred to y_j)
    forward = module.preference_loss(logp[:, i], logq[:, i], logp[:, j], logq[:, j], world.beta, reduction="none")
    backward = module.preference_loss(logp[:, j], logq[:, j], logp[:, i], logq[:, i], world.beta, reduction="none")
    per_prompt = (p * forward + (1 - p) * backward).mean(dim=1)
    return (torch.as_tensor(world.prompt_weights, dtype=logits.dtype) * per_prompt).sum()


def fit(world: World, module, max_iter: int = 200, tolerance: float = 1e-10) -> np.ndarray:
    """The policy minimising population_loss, by L-BFGS (strong Wolfe line search) in float64 from pi_ref, on
    one torch thread (on tensors this small, synchronising more threads costs more than it saves)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _fit(world, module, max_iter, tolerance)
    finally:
        torch.set_num_threads(threads)


def _fit(world: World, module, max_iter: int, tolerance: float) -> np.ndarray:
    import torch

    logits = torch.tensor(np.log(world.reference), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([logits], lr=1, max_iter=max_iter, tolerance_grad=tolerance,
                            tolerance_change=1e-300, history_size=50, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = population_loss(world, module, logits)
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return torch.softmax(logits, dim=1).numpy()
