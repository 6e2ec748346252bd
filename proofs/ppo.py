"""PPO (notes 000 "Family of DGMs" 6. "RL-Based Alignment for LLMs: RLHF, PPO, DPO"; 002 "RL-based alignment for
LLMs, RLHF, PPO, DPO"): the policy-gradient identity, the clipped surrogate as a pessimistic bound, and the
KL-penalty variant.

References: Williams (1992), "Simple statistical gradient-following algorithms" (REINFORCE); Sutton et al.
(2000), "Policy gradient methods for reinforcement learning with function approximation"; Schulman et al.
(2017), "Proximal Policy Optimization Algorithms", eqs. 7 and 8.

rho = pi_theta(a|s)/pi_old(a|s) > 0 is the probability ratio, A the advantage, eps in (0, 1) the clip range:
L_clip = min(rho A, clip(rho, 1 - eps, 1 + eps) A). Each region of rho is written through a positive symbol
(rho = 1 + eps + s above the trust region, ...), so the case analysis is symbolic.
"""
from __future__ import annotations

import sympy as sp

from .engine import Proof, Source
from .lemmas import min_max_by_sign
from .numeric import float64

TITLE = "PPO: the policy gradient, the clipped surrogate and the KL penalty"

NOTE = Source("000", "the notes name RL-based alignment (RLHF, PPO, DPO) in their list of families (000 lines 14-15) "
                     "and as a heading of 002 (line 689, over GAN-inversion text); they derive nothing about it",
              held=False)

e = sp.Symbol("e", positive=True)
eps = e / (1 + e)  # the clip range, any value in (0, 1)
s, w = sp.symbols("s w", positive=True)
a = sp.Symbol("a", positive=True)  # |A|


def clip(rho: sp.Expr) -> sp.Expr:
    """clip(rho, 1 - eps, 1 + eps), shown as written (the steps decide it)."""
    return sp.Min(sp.Max(rho, 1 - eps, evaluate=False), 1 + eps, evaluate=False)


def surrogate(rho: sp.Expr, adv: sp.Expr) -> sp.Expr:
    return sp.Min(rho * adv, sp.Mul(clip(rho), adv, evaluate=False), evaluate=False)


# the three regions of rho > 0, each written through a positive symbol
ABOVE = 1 + eps + s  # rho > 1 + eps
INSIDE = 1 - eps + 2 * eps * w / (1 + w)  # 1 - eps < rho < 1 + eps
BELOW = (1 - eps) / (1 + s)  # 0 < rho < 1 - eps


RESOLVE = min_max_by_sign()


def score_function() -> Proof:
    theta = sp.Symbol("theta", real=True)
    p = sp.Function("pi", positive=True)(theta)
    t1, t2, t3 = th = sp.symbols("theta1:4", real=True)
    rewards = sp.symbols("R1:4", real=True)
    z = sum(sp.exp(t) for t in th)
    probs = [sp.exp(t) / z for t in th]
    expected = sum(pa * ra for pa, ra in zip(probs, rewards))
    proof = (Proof("Policy gradient: grad E_pi[R] = E_pi[R grad log pi] (score function)", NOTE,
                   "the log-derivative trick d pi = pi d log pi, then, for a softmax policy over three actions "
                   "with logits theta_i and rewards R_a, d/dtheta_i sum_a pi_a R_a = sum_a pi_a R_a d/dtheta_i log "
                   "pi_a; a baseline b leaves it unchanged because sum_a pi_a d log pi_a = d sum_a pi_a = 0 "
                   "(Williams, 1992; Sutton et al., 2000)")
             .start(sp.Derivative(p, theta))
             .eq(p * sp.Derivative(sp.log(p), theta), "the log-derivative trick"))
    for t in (t1, t2):
        proof.start(sp.Derivative(expected, t)).eq(
            sum(pa * ra * sp.Derivative(sp.log(pa), t) for pa, ra in zip(probs, rewards)),
            f"the score-function form, d/d{t}")
    proof.start(sum(pa * sp.Derivative(sp.log(pa), t1) for pa in probs)).eq(0, "a baseline adds nothing")

    def autograd_gap() -> sp.Float:  # torch autograd of E[R] against the score-function formula, float64
        import torch

        logits = torch.tensor([0.3, -0.2, 1.1], dtype=torch.float64, requires_grad=True)
        r = torch.tensor([1.5, -0.5, 0.25], dtype=torch.float64)
        (torch.softmax(logits, 0) * r).sum().backward()
        with torch.no_grad():
            pr = torch.softmax(logits, 0)
            score = torch.eye(3, dtype=torch.float64) - pr  # d log pi_a / d theta_i = [a = i] - pi_i
            formula = (pr[:, None] * r[:, None] * score).sum(0)
        return sp.Float(float((logits.grad - formula).abs().max()), 20)

    return proof.computed("max |autograd - score-function formula|", autograd_gap, 0,
                          "torch's gradient of E[R] is the score-function estimator's expectation",
                          method=float64("numeric (float64 torch autograd, 3 actions)"), tol=1e-14)


def clipped_surrogate() -> Proof:
    return (Proof("PPO: the clipped surrogate is a pessimistic bound of the unclipped one", NOTE,
                  "L_clip = min(rho A, clip(rho, 1 - eps, 1 + eps) A) <= rho A for every rho > 0 and A, with "
                  "equality in the trust region 1 - eps <= rho <= 1 + eps and wherever moving rho further worsens the "
                  "objective; strictly below it where rho has moved past the region in the improving direction "
                  "(A > 0, rho > 1 + eps, or A < 0, rho < 1 - eps). Case by case, for A = a > 0 and A = -a < 0 "
                  "(Schulman et al., 2017, eq. 7 and figure 1)")
            .start(surrogate(ABOVE, a))
            .eq((1 + eps) * a, "A > 0, rho > 1 + eps: clipped at (1 + eps) A", rewrites=[RESOLVE])
            .start(ABOVE * a - surrogate(ABOVE, a))
            .eq(s * a, "the gap rho A - L_clip = (rho - 1 - eps) A", rewrites=[RESOLVE])
            .sign(s * a, ">", "strictly pessimistic there")
            .start(surrogate(INSIDE, a))
            .eq(INSIDE * a, "A > 0 inside the trust region: the unclipped value", rewrites=[RESOLVE])
            .start(surrogate(BELOW, a))
            .eq(BELOW * a, "A > 0, rho < 1 - eps: the unclipped (worse) value is kept", rewrites=[RESOLVE])
            .start(surrogate(ABOVE, -a))
            .eq(ABOVE * -a, "A < 0, rho > 1 + eps: the unclipped (worse) value is kept", rewrites=[RESOLVE])
            .start(surrogate(INSIDE, -a))
            .eq(INSIDE * -a, "A < 0 inside the trust region: the unclipped value", rewrites=[RESOLVE])
            .start(surrogate(BELOW, -a))
            .eq((1 - eps) * -a, "A < 0, rho < 1 - eps: clipped at (1 - eps) A", rewrites=[RESOLVE])
            .start(BELOW * -a - surrogate(BELOW, -a))
            .eq((1 - eps) * a * s / (1 + s), "the gap (1 - eps - rho) |A|", rewrites=[RESOLVE])
            .sign((1 - eps) * a * s / (1 + s), ">", "strictly pessimistic there"))


def clipped_gradient() -> Proof:
    return (Proof("PPO: no gradient past the trust region in the improving direction", NOTE,
                  "where rho has left [1 - eps, 1 + eps] in the direction that improves the objective (A > 0 and "
                  "rho > 1 + eps, or A < 0 and rho < 1 - eps), L_clip is constant in rho, so its gradient is 0 and "
                  "the update stops pushing; in the other direction the gradient is that of rho A, d/drho = A")
            .start(sp.Derivative(surrogate(ABOVE, a), s))
            .eq(0, "A > 0, rho = 1 + eps + s: constant in s", rewrites=[RESOLVE])
            .start(sp.Derivative(surrogate(BELOW, -a), s))
            .eq(0, "A < 0, rho = (1 - eps)/(1 + s): constant in s", rewrites=[RESOLVE])
            .start(sp.Derivative(surrogate(BELOW, a), s))
            .eq(sp.diff(BELOW, s) * a, "A > 0, rho < 1 - eps: the gradient of rho A (d rho/ds times A)",
                rewrites=[RESOLVE]))


def kl_penalty() -> Proof:
    th = sp.symbols("theta1:4", real=True)
    old = sp.symbols("phi1:4", real=True)  # the old policy's logits
    adv = sp.symbols("A1:4", real=True)
    beta = sp.Symbol("beta", positive=True)

    def softmax(logits):
        z = sum(sp.exp(t) for t in logits)
        return [sp.exp(t) / z for t in logits]

    p, q = softmax(th), softmax(old)
    kl = sum(qa * (sp.log(qa) - sp.log(pa)) for qa, pa in zip(q, p))  # KL(pi_old || pi_theta)
    surrogate_ = sum(qa * (pa / qa) * aa for qa, pa, aa in zip(q, p, adv))  # E_old[rho A]
    at_old = dict(zip(th, old))
    hessian = sp.Matrix(3, 3, lambda i, j: sp.Subs(sp.Derivative(kl, th[i], th[j]), th, old))
    fisher = sp.Matrix(3, 3, lambda i, j: (q[i] if i == j else 0) - q[i] * q[j])
    proof = Proof("PPO with a KL penalty: at pi_theta = pi_old the penalty has zero gradient and the Fisher "
                  "information as its Hessian", NOTE,
                  "L_KLPEN(theta) = E_old[rho A] - beta KL(pi_old||pi_theta), for a softmax policy over three "
                  "actions: the gradient of KL(pi_old||pi_theta) vanishes at theta = theta_old (its minimum, "
                  "KL >= 0 = KL(pi_old||pi_old)), so the first update follows the policy gradient E_old[A grad log "
                  "pi] exactly, and the Hessian there is the Fisher information diag(pi) - pi pi', the penalty's "
                  "local quadratic (Schulman et al., 2017, eq. 8)")
    for t in th:
        proof.start(sp.Subs(sp.Derivative(kl, t), th, old)).eq(0, f"d KL/d{t} = 0 at theta = theta_old")
    proof.start(sp.Subs(sp.Derivative(surrogate_ - beta * kl, th[0]), th, old)).eq(
        sum(qa * aa * sp.Subs(sp.Derivative(sp.log(pa), th[0]), th, old) for qa, pa, aa in zip(q, p, adv)),
        "the penalised surrogate's gradient at theta_old is the policy gradient E_old[A d log pi]")
    proof.start(hessian).eq(fisher, "the Hessian of the KL at theta_old is the Fisher information")
    del at_old
    return proof


def proofs() -> list[Proof]:
    return [score_function(), clipped_surrogate(), clipped_gradient(), kl_penalty()]
