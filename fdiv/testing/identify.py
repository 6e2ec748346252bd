"""Which activation a loss uses, and what a wrong loss actually is.

Any sigma that maps R into dom f* gives a valid critic T = sigma(v): -E_P[sigma(v)] + E_Q[f*(sigma(v))] is still
the negated variational bound. A check therefore tries, after fdiv's sigma_f, the f-GAN paper's activation and
its mirror image sigma(-v), and the usual shapes built from the ends of dom f* and of the critic range, both
increasing and decreasing (b - softplus(-/+v), b - exp(-/+v), a + softplus(+/-v), a + exp(+/-v), tanh and sigmoid
onto (a, b) either way round), each of which maps into dom f* by construction (the published one is checked).
A candidate is screened at moderate logits in float64, then compared in full.

When none of those matches a two-term loss, its activation term is read off the loss itself (sigma(x) - sigma(c)
from L(x, c) - L(c, c)), the unknown constant sigma(c) is solved for from the conjugate term, and a map
a + k h(+/-v) (h = v, exp, softplus, tanh, sigmoid) is fitted to it: a fit that maps into dom f* is one more
candidate, compared in full like the others; otherwise the report suggests --activation.

When nothing matches, `explain` screens the loss against the other catalogue divergences (with their own
activations), splits a two-term loss into its activation term and its conjugate term and names each (a term
evaluated at the wrong argument, or the arguments swapped, included), and tries the negated loss and the
sibling role.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import mpmath
import numpy as np
import sympy as sp
import torch

from fdiv.activation import V
from fdiv.derive import Derivation

from . import reference as R
from .calls import Callee, Returned
from .exact import derivation, label, parse_activation, published_activation, reference
from .reference import Point
from .report import Report

MODERATE = (-6.0, -3.0, -1.5, -0.5, 0.0, 0.5, 1.5, 3.0, 6.0)
_PAIRS = (0.0, -1.0, -2.0, 1.0, -4.0, 2.0)  # the held value of the other argument: the first with a finite loss
_SCREEN_RTOL = 1e-9  # naming a match, not a verdict: looser than float64's 1e-11, far tighter than any mix-up


def _softplus(x: sp.Expr) -> sp.Expr:
    return sp.log(1 + sp.exp(x))


def _family(d: Derivation) -> list[tuple[sp.Expr, str]]:
    """Activations that map R into dom f* by construction, from the ends of dom f* and of the critic range,
    increasing ones first, then their mirror images (v -> -v)."""
    dom, crit = d.conjugate_domain, d.critic_range
    out: list[sp.Expr] = []
    uppers = sorted({e for e in (dom.upper, crit.upper) if e.is_finite and e <= dom.upper}, key=sp.default_sort_key)
    lowers = sorted({e for e in (crit.lower, dom.lower) if e.is_finite and e >= dom.lower}, key=sp.default_sort_key)
    if dom.lower == -sp.oo and dom.upper == sp.oo:
        out.append(V)
    if dom.lower == -sp.oo:
        for b in uppers:
            out += [b - _softplus(-V), b - sp.exp(-V)]
    if dom.upper == sp.oo:
        for a in lowers:
            out += [a + _softplus(V), a + sp.exp(V)]
    for a in lowers:
        for b in uppers:
            if a < b:
                out += [(a + b) / 2 + (b - a) / 2 * sp.tanh(V), a + (b - a) / (1 + sp.exp(-V))]
    out += [sigma.xreplace({V: -V}) for sigma in out]
    return [(sigma, f"the activation sigma(v) = {sigma}" + (" (decreasing)" if i >= len(out) // 2 else ""))
            for i, sigma in enumerate(out)]


def maps_into_domain(d: Derivation, sigma: sp.Expr) -> tuple[bool | None, str]:
    """(True, why) when sigma(R) lies in dom f*, (False, where it leaves) when not, (None, why) if undecided."""
    from dataclasses import replace

    from proofs.claims import REFUTED, VERIFIED, check_activation

    verdict = check_activation(replace(d, critic_range=d.conjugate_domain), sigma)
    if verdict.verdict == VERIFIED:
        return True, verdict.reason.replace("critic range", "dom f*")
    if verdict.verdict == REFUTED:
        at = verdict.counterexample
        return False, (f"the activation {sigma} leaves dom f* = {d.conjugate_domain} at v = {at.get('v')} "
                       f"(sigma = {at.get('sigma(v)')}): no loss built on it is a valid bound")
    return None, verdict.reason.replace("critic range", "dom f*")


def activation_candidates(d: Derivation, activation):
    """The activations to try, in order, lazily (the later ones cost SymPy work only when the first fails):
    the given one alone, or fdiv's sigma_f, the published one and its mirror image (if they map into dom f*),
    and the family."""
    if activation is not None:
        sigma = parse_activation(activation, d)
        yield sigma, f"the given activation sigma(v) = {sigma}"
        return
    yield None, f"fdiv's sigma_f(v) = {d.activation}"
    seen = [d.activation]
    pub = published_activation(d)
    if pub is not None:
        for sigma, name in ((pub, f"the f-GAN paper's activation sigma(v) = {pub}"),
                            (pub.xreplace({V: -V}), f"the f-GAN paper's activation mirrored, sigma(v) = "
                                                    f"{pub.xreplace({V: -V})} (decreasing)")):
            if not any(_same_function(sigma, x) for x in seen) and maps_into_domain(d, sigma)[0]:
                seen.append(sigma)
                yield sigma, name
    for sigma, name in _family(d):
        if not any(_same_function(sigma, x) for x in seen):
            seen.append(sigma)
            yield sigma, _named(sigma, name, d, pub)


def _named(sigma: sp.Expr, name: str, d: Derivation, pub: sp.Expr | None) -> str:
    """A family member that is, as a function, fdiv's sigma_f or the paper's activation is named as such."""
    if pub is not None and _same_function(sigma, pub):
        return f"the f-GAN paper's activation sigma(v) = {sigma}"
    return name


def _same_function(a: sp.Expr, b: sp.Expr) -> bool:
    if sp.srepr(a) == sp.srepr(b):
        return True
    fa, fb = _mp(a), _mp(b)
    with mpmath.workdps(30):
        try:
            return all(abs(fa(mpmath.mpf(x)) - fb(mpmath.mpf(x))) < 1e-20 for x in (-2.5, 0.3, 1.7))
        except (ValueError, ZeroDivisionError, TypeError, OverflowError):
            return False


_MP: dict[str, Callable] = {}


def _mp(e: sp.Expr) -> Callable:
    from fdiv.numeric import mp_function

    key = sp.srepr(e)
    if key not in _MP:
        _MP[key] = mp_function(e, V)
    return _MP[key]


# --------------------------------------------------------------------------- a different but valid activation
def accept_other_activation(fn, role, d: Derivation, xs, dtypes, first: Report) -> tuple[Report | None, str]:
    """For role 'activation': any map into dom f* is a valid critic parametrisation. Accept fn when every value
    is finite and inside dom f* (an open end is allowed only where fdiv's own sigma_f rounds onto it too);
    otherwise (None, where it leaves dom f*)."""
    if role.name != "activation":
        return None, ""
    from .losses import TORCH_DTYPES, UserFunctionRaised, call

    dom = d.conjugate_domain
    sigma_f = reference(d)
    points: list[Point] = []
    for dtype in dtypes:
        x = torch.tensor(list(xs), dtype=TORCH_DTYPES[dtype])
        try:
            with torch.no_grad():
                y = call(fn, role, [x], f"{len(xs)} {dtype} inputs").double().tolist()
        except UserFunctionRaised:
            return None, ""
        for xi, yi in zip(x.double().tolist(), y):
            ok = math.isfinite(yi) and _inside(yi, dom)
            if not ok and math.isfinite(yi) and _at_open_end(yi, dom):
                ref = sigma_f.value("activation", xi)
                ok = ref is not None and float(torch.tensor(R.to_float(ref), dtype=TORCH_DTYPES[dtype])) == yi
            points.append(Point((("v", xi),), "value", dtype, yi, None, 0.0, ok, expected=f"in dom f* = {dom}"))
    report = Report(first.subject, points, tolerance_rule="every value finite and inside dom f*")
    if not report.ok:
        from .diagnose import diagnose

        return None, diagnose(points)
    finite = [p for p in first.points if p.theirs is not None and p.exact is not None and math.isfinite(p.rel_error)]
    worst = max(finite, key=lambda p: p.rel_error)
    report.notes.append(f"differs from fdiv's sigma_f(v) = {d.activation} (e.g. at {worst.where()}: theirs "
                        f"{worst.theirs:.9g}, sigma_f {worst.exact:.9g}) but maps every tested logit into dom f* = "
                        f"{dom}: a valid critic parametrisation; a loss built on it must use f* o sigma with this sigma")
    return report, ""


def _inside(y: float, dom) -> bool:
    lo, hi = float(dom.lower), float(dom.upper)
    return (lo < y or (dom.lower_closed and y == lo)) and (y < hi or (dom.upper_closed and y == hi))


def _at_open_end(y: float, dom) -> bool:
    return (not dom.upper_closed and y == float(dom.upper)) or (not dom.lower_closed and y == float(dom.lower))


# ------------------------------------------------------------------------------------------------ explanations
class _Negated(Callee):
    """-fn: the same calls, values and gradients negated."""

    def __init__(self, inner: Callee):
        super().__init__(name=inner.name, signature=inner.signature)
        self.inner = inner

    def _call(self, kind, args, names, grad) -> Returned:
        r = self.inner.call(kind, args, names, grad)
        if r.failure or r.values is None:
            return r
        return Returned(np.asarray(-r.values), requires_grad=r.requires_grad,
                        grads=None if r.grads is None else [np.asarray(-g) for g in r.grads])


def _value(fn: Callee, role, args: list[float]) -> float:
    """fn at float64 scalars (no gradient); nan when the call fails."""
    from .losses import UserFunctionRaised, call

    ts = [torch.tensor([a], dtype=torch.float64) for a in args]
    try:
        with torch.no_grad():
            return call(fn, role, ts, ", ".join(f"{n}={a:.6g}" for n, a in zip(role.args, args))).reshape(-1)[0].item()
    except UserFunctionRaised:
        return math.nan


def _terms(fn, role, xs) -> tuple[float, list[list[float]], float] | None:
    """(held value c, per term j the user's L(x at j, c elsewhere) - L(c, ..., c) at xs, L(c,...,c)) in
    float64, for the first c where L(c, ..., c) is finite."""
    n = len(role.args)
    for c in _PAIRS:
        base = _value(fn, role, [c] * n)
        if not math.isfinite(base):
            continue
        rows = []
        for j in range(n):
            rows.append([_value(fn, role, [x if i == j else c for i in range(n)]) - base for x in xs])
        return c, rows, base
    return None


def _matches(theirs: list[float], exact: Callable[[float], object], xs, c: float, scale: float, sign: int) -> bool:
    """theirs[i] == sign (F(x_i) - F(c)) at every x_i, NaN/inf exactly where F has no value (screen tolerance)."""
    fc = exact(c)
    if fc is None:
        return False
    hits = 0
    for x, t in zip(xs, theirs):
        fx = exact(x)
        if fx is None or not R.representable(fx, "float64"):
            if math.isfinite(t):
                return False
            continue
        if not math.isfinite(t):
            return False
        want = sign * (fx - fc)
        if abs(mpmath.mpf(t) - want) > _SCREEN_RTOL * (abs(fx) + abs(fc) + scale) + 1e-12:
            return False
        hits += 1
    return hits >= 3


def _matches_sum(theirs: list[float], parts: list[tuple[int, Callable]], xs, c: float, scale: float) -> bool:
    """theirs[i] == sum of sign (F(x_i) - F(c)) over the parts (an empty list: theirs is 0 everywhere)."""
    if not parts:
        return all(math.isfinite(t) and abs(t) <= _SCREEN_RTOL * (scale + 1) for t in theirs)
    total = []
    for x in xs:
        acc = mpmath.mpf(0)
        for sign, fn in parts:
            fx, fc = fn(x), fn(c)
            if fx is None or fc is None:
                return False
            acc += sign * (fx - fc)
        total.append(acc)
    return all(math.isfinite(t) and abs(mpmath.mpf(t) - w) <= _SCREEN_RTOL * (abs(w) + scale + 1)
               for t, w in zip(theirs, total))


def _others(d: Derivation) -> list[Derivation]:
    from fdiv import catalogue

    out = []
    for name in catalogue.names():
        try:
            g = derivation(name)
        except Exception:  # a catalogue entry that does not derive here is simply not a suspect
            continue
        if not (g.name == d.name and g.parameters == d.parameters):
            out.append(g)
    return out


def _activations(g: Derivation) -> list[tuple[sp.Expr, str]]:
    out = [(g.activation, f"{label(g)}'s sigma_f(v) = {g.activation}")]
    pub = published_activation(g)
    if pub is not None and sp.srepr(pub) != sp.srepr(g.activation):
        out.append((pub, f"{label(g)}'s published activation sigma(v) = {pub}"))
    return out


def _informative(fn, role) -> bool:
    return any(math.isfinite(_value(fn, role, [x] * len(role.args))) for x in MODERATE)


def explain(fn, role, d: Derivation) -> str:
    """What fn is, when it is not what its role says (empty when nothing fits)."""
    return explain_with_activation(fn, role, d)[0]


def explain_with_activation(fn, role, d: Derivation) -> tuple[str, tuple[sp.Expr, str] | None]:
    """(what fn is, the activation its activation term was seen to use, as (sigma, name), or None)."""
    from .losses import ROLES, _screen

    if not _informative(fn, role):
        return "", None  # NaN or inf at every moderate logit: nothing to match
    # the negated function, or its sibling role, of the same divergence
    siblings = {"critic_loss": "divergence_estimate", "divergence_estimate": "critic_loss",
                "generator_loss": "generator_loss_nonsaturating",
                "generator_loss_nonsaturating": "generator_loss"}
    if role.name in siblings and _screen(fn, ROLES[siblings[role.name]], reference(d)):
        return f"this is {label(d)}'s {siblings[role.name]}, not its {role.name}", None
    if role.name in ("critic_loss", "divergence_estimate") and _screen(_Negated(fn), role, reference(d)):
        return "the sign is flipped: this is the negated " + role.name, None
    others = _others(d)
    for g in others:
        for sigma, name in _activations(g):
            if _screen(fn, role, reference(g, sigma, name)):
                return f"this is the {role.name} of {label(g)} (with {name}), not of {label(d)}", None
    if len(role.terms) == 2:
        return _split(fn, role, d, others)
    return "", None


def _library(gs: list[Derivation]) -> list[tuple[sp.Expr, str]]:
    library, seen = [], set()
    for g in gs:
        for sigma, name in _activations(g) + _family(g):
            if sp.srepr(sigma) not in seen:
                seen.add(sp.srepr(sigma))
                library.append((sigma, name))
    return library


def _split(fn, role, d: Derivation, others: list[Derivation]) -> tuple[str, tuple[sp.Expr, str] | None]:
    """Name the activation term and the conjugate term of a two-term loss separately. Term by term a loss is
    known only up to a constant (JS's loss with sigma is GAN's with sigma - log 2, plus log 4), so a match is
    confirmed by the loss's value at the held point."""
    found = _terms(fn, role, MODERATE)
    if found is None:
        return "", None
    c, (real, fake), base = found
    scale = abs(base)
    (s_real, _, _), (s_fake, _, _) = role.terms
    wrong_argument = _wrong_argument(role, d, c, real, fake, scale)
    if wrong_argument:
        return wrong_argument, None
    seen: tuple[sp.Expr, str] | None = None  # the activation the activation term uses
    library = _library([d, *others])
    near: list[str] = []  # term-by-term matches whose constant is off
    for sigma, name in library:
        ref = reference(d, sigma, name)
        if not _matches(real, lambda x: ref.value("activation", x), MODERATE, c, scale, s_real):
            continue
        if seen is None:
            seen = (sigma, name)
        matched_fake = False
        for g in [d, *others]:
            rg = reference(g, sigma, name)
            if not _matches(fake, lambda x: rg.value("conjugate_of_activation", x), MODERATE, c, scale, s_fake):
                continue
            matched_fake = True
            a, b = rg.value("activation", c), rg.value("conjugate_of_activation", c)
            offset = base - float(s_real * a + s_fake * b)
            if abs(offset) <= _SCREEN_RTOL * (abs(a) + abs(b) + scale) + 1e-12:
                if g is d:
                    return "", seen  # right at moderate logits with this activation: the failures are elsewhere
                own = f"{label(g)}'s sigma_f" if sp.srepr(sigma) == sp.srepr(g.activation) else name
                if any(rg.value("conjugate_of_activation", x) is None for x in MODERATE):
                    return (f"the activation term uses {own} ({sigma}), but the conjugate term is f* of {label(g)} "
                            f"(f*(t) = {g.conjugate}), not of {label(d)} (f*(t) = {d.conjugate}); sigma leaves "
                            f"{label(g)}'s dom f* = {g.conjugate_domain}, so the loss is NaN or inf there"), seen
                return f"this is the {role.name} of {label(g)} (with {own}), not of {label(d)}", None
            near.append(f"its terms are those of {label(g)}'s {role.name} with {name}, but it is off by the "
                        f"constant {offset:.9g}")
        if not matched_fake and not near:
            other = _conjugate_term_activation(d, fake, c, scale, s_fake, library, sigma)
            if other is not None:
                near.append(f"the two terms use different activations: the activation term uses {name}, the "
                            f"conjugate term is f*({other[0]}) with {label(d)}'s f* (f*(t) = {d.conjugate}), that "
                            f"is {other[1]}")
            else:
                near.append(f"the activation term uses {name}, but the conjugate term is f* o sigma of no catalogue "
                            f"divergence ({label(d)} has f*(t) = {d.conjugate})")
    if near:
        return near[0], seen
    return "", seen


def _conjugate_term_activation(d: Derivation, fake: list[float], c: float, scale: float, s_fake: int, library,
                               not_this: sp.Expr) -> tuple[sp.Expr, str] | None:
    """The library activation under which the conjugate term is d's f* o sigma (up to its constant), if any."""
    for sigma, name in library:
        if sp.srepr(sigma) == sp.srepr(not_this):
            continue
        ref = reference(d, sigma, name)
        if _matches(fake, lambda x: ref.value("conjugate_of_activation", x), MODERATE, c, scale, s_fake):
            return sigma, name
    return None


def _wrong_argument(role, d: Derivation, c: float, real: list[float], fake: list[float], scale: float) -> str:
    """Both terms evaluated at one argument, or the two arguments swapped, with any candidate activation."""
    (s_real, k_real, j_real), (s_fake, k_fake, j_fake) = role.terms
    a_name, b_name = role.args[j_real], role.args[j_fake]
    for sigma, name in _library([d]):
        ref = reference(d, sigma, name)
        act = (s_real, lambda x: ref.value(k_real, x))
        conj = (s_fake, lambda x: ref.value(k_fake, x))
        if _matches_sum(real, [act, conj], MODERATE, c, scale) and _matches_sum(fake, [], MODERATE, c, scale):
            return (f"both terms use {a_name}: the conjugate term f*(sigma({a_name})) should be evaluated at "
                    f"{b_name} (with {name})")
        if _matches_sum(real, [], MODERATE, c, scale) and _matches_sum(fake, [act, conj], MODERATE, c, scale):
            return (f"both terms use {b_name}: the activation term sigma({b_name}) should be evaluated at "
                    f"{a_name} (with {name})")
        if _matches_sum(real, [conj], MODERATE, c, scale) and _matches_sum(fake, [act], MODERATE, c, scale):
            return f"{a_name} and {b_name} are swapped (the terms are {label(d)}'s with {name})"
    return ""
