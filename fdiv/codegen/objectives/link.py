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

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import sympy as sp

from ...derivation.validate import Analysis, analyse


@dataclass(frozen=True)
class Link:
    valid: bool
    failures: tuple[tuple[str, str], ...] = ()  # (what fails, why that breaks the link); empty when valid

    @property
    def short(self) -> str:
        """What fails, in a few words ('' when valid)."""
        return "; ".join(what for what, _ in self.failures)

    @property
    def reason(self) -> str:
        return "; ".join(f"{what}: {why}" for what, why in self.failures)


def link_of_analysis(a: Analysis) -> Link:
    """The verdict from fdiv's validation of f (its smooth pieces and the one-sided limits of f')."""
    failures = []
    for left, right in zip(a.pieces, a.pieces[1:]):
        if sp.simplify(right.df_lo - left.df_hi) != 0:
            failures.append((f"f' jumps at u = {left.hi}", f"f' jumps from {left.df_hi} to {right.df_lo}, so the "
                             "reward does not determine pi/pi_ref there"))
    for p in a.pieces:
        if p.affine:
            failures.append((f"f is affine on ({p.lo}, {p.hi})", "f' is constant there, so pi/pi_ref is not "
                             "determined by the reward"))
    if a.f_prime_at_zero != -sp.oo:
        failures.append((f"f'(0+) = {a.f_prime_at_zero} is finite", "the optimum gives zero probability to "
                         f"responses with reward below lambda + beta*({a.f_prime_at_zero}), where the KKT multiplier "
                         "of pi >= 0 is positive and the normaliser lambda does not cancel"))
    return Link(not failures, tuple(failures))


@functools.cache
def link_of(f: sp.Expr, name: str = "f") -> Link:
    """The verdict for a generator f in u (with numeric parameters); memoised per process."""
    return link_of_analysis(analyse(f, name=name))


def catalogue_links(specs) -> dict[str, Link]:
    """The verdict for each catalogue spec at its default parameters, through the text cache (fdiv.derivation.cache): the
    validation behind it costs about a second for the catalogue, which `fdiv list` need not pay every time. The
    address covers each spec's f and defaults and this module's source; an entry of the wrong shape is
    recomputed."""
    from ...derivation import cache

    own = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    keys = [json.dumps([s.name, s.f, [[p.name, p.default] for p in s.params]]) for s in specs] + [own]
    address = cache.text_key(keys, "fdpo-links")
    text = cache.get_text(address)
    if text is not None:
        try:
            record = json.loads(text)
            links = {s.name: Link(bool(record[s.name][0]), tuple((str(w), str(y)) for w, y in record[s.name][1]))
                     for s in specs}
            return links
        except (ValueError, KeyError, TypeError, IndexError):
            pass
    links = {s.name: link_of(s.expr({})[0], s.name) for s in specs}
    cache.put_text(address, json.dumps({name: [v.valid, [list(f) for f in v.failures]] for name, v in links.items()}))
    return links
