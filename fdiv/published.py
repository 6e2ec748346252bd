"""Cross-check against the f-GAN paper's table (Nowozin et al. 2016): where the exact u >= 0 result differs.

For every catalogue row that records the published formulas, compare branch by branch on dom f*:
  - the conjugate (30-digit evaluation at points of each branch of the exact f*);
  - dom f* (ends and closedness);
  - the activation (the paper's versus fdiv's rule; both must map R into dom f*);
  - whether the published conjugate still gives a valid lower bound: where it is real and not below the exact
    f*, E_P[T] - E_Q[f*_pub(T)] <= E_P[T] - E_Q[f*(T)] <= D_f, so the bound is valid, only looser.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import mpmath
import sympy as sp

from . import catalogue
from .activation import V
from .conjugate import T, Interval
from .derive import Derivation, derive
from .numeric import mp_function, real_value, sample_points
from .parse import EXTENDED, parse
from .spec import Spec, SymbolicRange

_TOL = mpmath.mpf(10) ** -20


@dataclass
class RowCheck:
    name: str
    derivation: Derivation
    published: dict[str, str]
    differences: list[str] = field(default_factory=list)
    agreements: list[str] = field(default_factory=list)
    published_is_upper_bound: bool = True  # published f* >= exact f* wherever both are real

    @property
    def differs(self) -> bool:
        return bool(self.differences)


def _published_for(spec: Spec, values: dict[str, sp.Expr]) -> dict[str, str]:
    pub = {k: v for k, v in spec.published.items() if not k.endswith("_alpha_gt_1")}
    alpha = values.get("alpha")
    # a symbolic range lies on one side of 1 (the spec excludes 1): (1, oo) or above is the alpha > 1 case
    above_one = bool(alpha.lower >= 1) if isinstance(alpha, SymbolicRange) else alpha is not None and bool(alpha > 1)
    if above_one:  # the paper gives the alpha > 1 case its own row
        pub.update({k.removesuffix("_alpha_gt_1"): v for k, v in spec.published.items() if k.endswith("_alpha_gt_1")})
    return pub


def check_row(spec: Spec, **params) -> RowCheck:
    d = derive(spec, **params)
    pub = _published_for(spec, d.parameters)
    syms = {"t": T, "v": V, **{k: sp.Symbol(k, real=True) for k in d.parameters}}
    subs = {syms[k]: v for k, v in d.parameters.items()}
    conj = parse(pub["conjugate"], syms, where=f"{spec.name}: published conjugate", functions=EXTENDED).xreplace(subs)
    lo, hi, lo_c, hi_c = _interval_with_params(pub["domain"], syms, subs, spec.name)
    pub_domain = Interval(lo, hi, lo_c, hi_c)
    row = RowCheck(spec.name, d, pub)

    if _same_interval(pub_domain, d.conjugate_domain):
        row.agreements.append(f"dom f* = {d.conjugate_domain} as published")
    else:
        row.differences.append(f"dom f*: published {pub_domain}, exact over u >= 0 {d.conjugate_domain}"
                               + _domain_reason(pub_domain, d))

    pub_fn = mp_function(conj, T)
    lower = -sp.oo
    for branch in d.branches:
        upper = branch.upper if branch is not d.branches[-1] else d.conjugate_domain.upper
        inside = pub_domain.as_set()
        pts = sorted((x for x in sample_points(lower, upper, 6) if inside.contains(x) is sp.true),
                     key=lambda x: len(str(x)))  # the most readable counterexample first
        if not pts:
            row.agreements.append(f"t in {_range_text(lower, upper, branch.closed)} (exact f* = {branch.expr}) lies "
                                  f"outside the published domain, so the published row makes no claim there")
            lower = branch.upper
            continue
        exact_fn = mp_function(branch.expr, T)
        where = _range_text(lower, upper, branch.closed or (branch is d.branches[-1] and d.conjugate_domain.upper_closed))
        mismatch, not_real = [], []
        for x in pts:
            e, p = real_value(exact_fn, x), real_value(pub_fn, x)
            if p is None:
                not_real.append(x)
            elif e is not None and abs(e - p) > _TOL * (1 + abs(e)):
                mismatch.append(x)
                if p < e - _TOL * (1 + abs(e)):
                    row.published_is_upper_bound = False
        if not mismatch and not not_real:
            row.agreements.append(f"f* = {branch.expr} on t in {where} as published")
        else:
            text = f"f* on t in {where}: exact {branch.expr}, published {conj}"
            if not_real:
                text += (f" (the published formula is not real there, e.g. at t = {not_real[0]}: a critic output "
                         "there makes the published loss NaN)")
            if mismatch:
                text += f" (they differ, e.g. at t = {mismatch[0]})"
            row.differences.append(text)
        lower = branch.upper

    if "activation" in pub:
        act = parse(pub["activation"], syms, where=f"{spec.name}: published activation", functions=EXTENDED).xreplace(subs)
        if sp.simplify(act - d.activation) != 0:
            a_lo, a_hi = sp.limit(act, V, -sp.oo), sp.limit(act, V, sp.oo)
            row.agreements.append(f"activation: the paper's {act} maps R onto ({a_lo}, {a_hi}); fdiv's rule gives "
                                  f"{d.activation} onto the critic range {d.critic_range}")
    return row


def _interval_with_params(text, syms, subs, name):
    inner = text.strip()[1:-1]
    lo_text, hi_text = inner.split(",")
    ends = [(-sp.oo if s.strip() == "-oo" else sp.oo if s.strip() == "oo" else
             parse(s.strip(), syms, where=f"{name}: published domain").xreplace(subs)) for s in (lo_text, hi_text)]
    return ends[0], ends[1], text.strip()[0] == "[", text.strip()[-1] == "]"


def _same_interval(a: Interval, b: Interval) -> bool:
    def eq(x, y):
        return x == y or (x.is_finite and y.is_finite and sp.simplify(x - y) == 0)
    return eq(a.lower, b.lower) and eq(a.upper, b.upper) and a.lower_closed == b.lower_closed \
        and (a.upper_closed == b.upper_closed or a.upper == sp.oo)


def _domain_reason(pub: Interval, d: Derivation) -> str:
    if pub.upper == d.conjugate_domain.upper and d.conjugate_domain.upper_closed and not pub.upper_closed:
        return (f"; the supremum at t = {pub.upper} is finite ({d.conjugate.subs(T, pub.upper) if not d.conjugate.has(sp.Piecewise) else 'finite'}), "
                "so the end belongs to dom f*")
    if pub.lower.is_finite:
        return (f"; for t < {pub.lower} the sup over u >= 0 is attained at u = 0 and equals -f(0) = {-d.f_at_zero}: "
                "restricting T to the published interval keeps the bound valid (T* = f'(p/q) lies in it)")
    return ""


def _range_text(lo, hi, closed: bool) -> str:
    return f"({lo}, {hi}{']' if closed else ')'}"


def all_rows() -> list[RowCheck]:
    rows = [check_row(s) for s in catalogue.specs() if s.published]
    alpha = catalogue.get("alpha")
    rows.append(check_row(alpha, alpha="1/2"))
    return rows


def document() -> str:
    """docs/published-table.md."""
    out = ["# fdiv versus the f-GAN paper's table", "",
           "Generated by `python -m fdiv.docs --write`; checked in CI (`tests/test_docs.py`). The paper is Nowozin, "
           "Cseke and Tomioka, *f-GAN* (NeurIPS 2016), Tables 1, 2 and 6. fdiv's conjugate is the exact "
           "f*(t) = sup over u >= 0 of (u t - f(u)), since u = p/q is a density ratio.", "",
           "Why a published formula that differs still gives a valid, looser bound: a formula obtained by "
           "maximising over all real u (or by dropping the boundary branch) is never below the exact f* on "
           "dom f*, so E_P[T] - E_Q[f*_pub(T)] <= E_P[T] - E_Q[f*(T)] <= D_f(P||Q) for every critic T. "
           "Where the published domain is smaller, the supremum over critics is taken over fewer functions, "
           "but the optimal critic T* = f'(p/q) lies inside it, so the bound stays tight.", ""]
    for row in all_rows():
        d = row.derivation
        label = d.name + ("(" + ", ".join(f"{k}={v}" for k, v in d.parameters.items()) + ")" if d.parameters else "")
        out += [f"## {label}: {d.spec.title}", "", f"f(u) = `{d.f}`", ""]
        if row.differences:
            out.append("Differences:")
            out += [f"- {x}" for x in row.differences]
            bound = ("yes: wherever the published conjugate is real it is >= the exact f*, so its bound is valid and looser"
                     if row.published_is_upper_bound else "NO: the published conjugate falls below the exact f*")
            out += ["", f"Published bound still valid: {bound}."]
        else:
            out.append("No difference: the published row is exact over u >= 0.")
        out += ["", "Agreements and notes:"] + [f"- {x}" for x in row.agreements]
        if d.spec.notes:
            out.append(f"- {d.spec.notes}")
        if d.spec.reference:
            out.append(f"- Reference: {d.spec.reference}")
        out.append("")
    js, jsd = derive("jensen-shannon"), derive("jsd")
    ratio = sp.simplify(js.f / jsd.f)
    out += ["## Jensen-Shannon scaling", "",
            f"The paper's Jensen-Shannon f is `{js.f}`; the usual JSD (1/2 convention, at most log 2) has "
            f"f = `{jsd.f}`. Their ratio is {ratio}: the paper's 'JS' objective is {ratio} JSD, and its GAN row "
            "is 2 JSD - log 4 (f(1) = -log 4).", "",
            "## Pearson versus Neyman", "",
            "With D_f(P||Q) = E_Q[f(p/q)], f = (u - 1)^2 gives the integral of (p - q)^2/q (Pearson chi^2 of P from Q) and "
            "f = (1 - u)^2/u gives the integral of (p - q)^2/p (Neyman). The paper's integral column pairs these two f's "
            "with the opposite integrals; sources disagree on the names, so fdiv names each by its f and states the integral.", ""]
    return "\n".join(out)
