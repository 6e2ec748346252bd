"""The f-DPO link: when max_pi E_pi[r] - beta D_f(pi||pi_ref) gives the reward back from the policy.

With D_f(pi||pi_ref) = E_{pi_ref}[f(pi/pi_ref)], the KKT conditions on the simplex read
r(y) - beta f'(pi(y)/pi_ref(y)) - lam + mu(y) = 0 with mu(y) >= 0 and mu(y) pi(y) = 0. The reward is then
beta f'(pi/pi_ref) + lam with one lam for every response (which cancels in the Bradley-Terry probability
sigma(r_w - r_l)) exactly when mu = 0 everywhere, that is when the optimum gives every response positive
probability; that holds for every reward exactly when f'(0+) = -oo. f' must also be a function of
pi/pi_ref (no kink, where the subdifferential is an interval) and strictly increasing (no affine piece), so
that the optimum is unique and the reward determines pi/pi_ref (Wang et al., 2023, Theorem 1).
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..validate import Analysis, analyse


@dataclass(frozen=True)
class Link:
    valid: bool
    reasons: tuple[str, ...] = ()  # why not (empty when valid)

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)

    def describe(self) -> str:
        return "valid" if self.valid else f"no: {self.reason}"


def link_of_analysis(a: Analysis) -> Link:
    """The verdict from fdiv's validation of f (its smooth pieces and the one-sided limits of f')."""
    reasons = []
    for left, right in zip(a.pieces, a.pieces[1:]):
        jump = sp.simplify(right.df_lo - left.df_hi)
        if jump != 0:
            reasons.append(f"f has a kink at u = {left.hi} (f' jumps from {left.df_hi} to {right.df_lo}), so "
                           "the reward does not determine pi/pi_ref there")
    for p in a.pieces:
        if p.affine:
            reasons.append(f"f is affine on ({p.lo}, {p.hi}), so f' is constant there and not invertible")
    if a.f_prime_at_zero != -sp.oo:
        reasons.append(f"f'(0+) = {a.f_prime_at_zero} is finite, so the optimum gives zero probability to "
                       f"responses with r < lambda + beta*({a.f_prime_at_zero}), where mu > 0 and the "
                       "normaliser does not cancel")
    return Link(not reasons, tuple(reasons))


def link_of(f: sp.Expr, name: str = "f") -> Link:
    """The verdict for a generator f in u (with numeric parameters)."""
    return link_of_analysis(analyse(f, name=name))
