"""Judging closed forms by what their lowered code computes, not by how they look.

A closed-form branch of f* is kept in a generated module only when the module's own functions, run in torch in both
float32 and float64, agree with a high-precision evaluation of the exact derivation at the logit grid: the values
and gradients of f*(sigma_f(v)) and of the density ratio (f')^-1(sigma_f(v)), and f*(t) itself. Where they do
not (a closed form that cancels, or overflows in an intermediate before its value does), that branch is lowered
numerically instead, and `fdiv gen` says so in a note. The reference is the exact expression at a precision that
grows with |v| and is confirmed 20 digits higher, so a cancelling closed form is judged by its mathematics.
"""
from __future__ import annotations

import math

from dataclasses import dataclass

import mpmath
import sympy as sp

from ...derivation.activation import V
from ...derivation.conjugate import T
from ...derivation.engine import Derivation
from ...derivation.numeric import mp_function
from .rules import rule_log_repeated_factor

#: The logits the module is judged at: the campaign's grid and fdiv.testing's, both signs.
LOGITS = (0.0, 1.0, 5.0, 20.0, 30.0, 50.0, 88.7, 100.0, 1000.0, 1e4)
RTOL = {"float32": 1e-5, "float64": 1e-10}


@dataclass(frozen=True)
class Failure:
    """One closed-form branch the lowered code gets wrong: where, in which dtype, and by how much."""

    branch: int  # index into d.branches
    role: str  # "conjugate_of_activation", "density_ratio", "conjugate", "critic_loss" (its fused backward pass)
    what: str  # "value" or "gradient"
    dtype: str
    x: float  # the logit (or t for "conjugate")
    got: float
    exact: float

    @property
    def past_the_range(self) -> bool:
        """A value or gradient that is not finite where the exact one is past the dtype's range anyway (+inf
        expected): what runtime._past_the_range makes right, rather than a wrong formula."""
        import numpy as np

        big = float(np.finfo(np.float32 if self.dtype == "float32" else np.float64).max)
        tiny = float(np.finfo(np.float32 if self.dtype == "float32" else np.float64).tiny)
        # the density ratio's slope where the ratio underflows to 0 (runtime._ratio_past_the_range: slope 0)
        underflow = self.role == "density_ratio" and self.what == "gradient" and abs(self.exact) < tiny
        return not abs(self.got) < float("inf") and (self.exact > big or underflow)

    def text(self) -> str:
        error = "not finite" if self.got != self.got or abs(self.got) == float("inf") else \
            f"relative error {abs(self.got - self.exact) / max(abs(self.exact), 1e-300):.1e}"
        arg = "t" if self.role == "conjugate" else "v"
        return (f"its lowered closed form gives {self.role} {self.what} {self.got:.6g} at {arg} = {self.x:g} in "
                f"{self.dtype}, exactly {self.exact:.6g} ({error})")


def _judged(d: Derivation) -> list[int]:
    """The branches to judge: every branch with a closed form (a linear one is exact, but which branch sigma_f(v)
    lands in is the lowering's doing)."""
    return [i for i, b in enumerate(d.branches) if not b.numeric]


def _branch_of(d: Derivation, t) -> int | None:
    """The branch t lies in, its ends evaluated at the working precision: sigma_f(1000) lies e^-1000 below the end
    3 log(2)/2 of a GAN-family critic range, and that end rounded to 60 digits lay below it (no branch: the judge
    never compared the NaN slope of the density ratio there)."""
    digits = mpmath.mp.dps + 10
    for i, b in enumerate(d.branches):
        upper = mpmath.mpf(sp.N(b.upper, digits)) if b.upper.is_finite else (mpmath.inf if b.upper == sp.oo else -mpmath.inf)
        if t < upper or (b.closed and t == upper):
            return i
    return None


def _exact(fn, x, extra: int):
    """fn(x) at a precision that grows with |x| (sigma_f(v) approaches an end of the critic range like e^-|v|),
    confirmed 20 digits higher; None where it is not real or the two disagree."""
    values = []
    for more in (0, 20):
        with mpmath.workdps(40 + extra + more):
            try:
                y = fn(mpmath.mpf(x))
            except (ValueError, ZeroDivisionError, OverflowError, TypeError):
                return None
            if isinstance(y, mpmath.mpc):
                if abs(y.imag) > mpmath.mpf(10) ** -30 * (1 + abs(y.real)):
                    return None
                y = y.real
            values.append(+y)
    a, b = values
    if mpmath.isinf(a) and a == b:
        return a
    if not (mpmath.isfinite(a) and mpmath.isfinite(b)) or abs(a - b) > mpmath.mpf(10) ** -25 * max(abs(b), 1):
        return None
    return b


def digits_for(d: Derivation, x: float) -> int:
    """Digits beyond 40 that resolve sigma_f(x) from an end of the critic range: it lies e^-|x| from it (softplus),
    e^-2|x| for tanh. At 0.43 |x| digits a tanh's sigma(1000) rounded onto the end, where the ratio is +inf, and a
    closed ratio right at 4000 was judged wrong and sent numeric (then 64 Newton steps, NaN slopes). Up to |x| =
    2000: at 1e4 the 8700 digits cost minutes of gen (a numeric branch's f* solved at each), and sigma_f(1e4) is
    left on the end as before."""
    tanh = d.activation.has(sp.tanh) and abs(x) <= 2000
    return int(abs(x) / (1.15 if tanh else 2.3))


_EXACT: dict = {}  # exact values already computed in this process, by (what, the expressions, x)


def exact_value(key: tuple, fn, x: float, extra: int):
    """_exact(fn, x, extra), remembered under `key` (which names the expressions fn evaluates) and x: a form's
    score (lower.compose) and the module's judgement need the same values, each worth thousands of digits at |v| = 1e4."""
    if (key, x) not in _EXACT:
        if len(_EXACT) > 20000:
            _EXACT.clear()
        _EXACT[key, x] = _exact(fn, x, extra)
    return _EXACT[key, x]


def _close(got: float, exact, dtype: str) -> bool:
    import math

    import numpy as np

    big = float(np.finfo(np.float32 if dtype == "float32" else np.float64).max)
    if mpmath.isinf(exact) or abs(exact) > big:
        return got == float("inf") if exact > 0 else got == float("-inf")
    if not math.isfinite(got):
        return False
    eps = float(np.finfo(np.float32 if dtype == "float32" else np.float64).eps)
    exact = float(exact)
    return abs(got - exact) <= RTOL[dtype] * abs(exact) + (10 * eps if abs(exact) < 1 else 0.0)


def judge(d: Derivation, source: str) -> list[Failure]:
    """The closed-form branches whose lowered code (`source`, a generated module) is wrong somewhere on the grid."""
    import torch

    names = (str(d.conjugate), str(d.ratio_from_critic), str(d.activation))

    def exact_of(key, fn, x, extra):
        return exact_value((*key, *names), fn, x, extra)

    branches = set(_judged(d))
    if not branches:
        return []
    namespace: dict = {}
    exec(compile(source, "<fdiv judged module>", "exec"), namespace)  # noqa: S102 - fdiv's own generated code
    sigma = mp_function(d.activation, V)
    dsigma = mp_function(sp.diff(d.activation, V), V)
    # logs of repeated roots split, as lower.compose's reference (exact; expanded they cancel twice the digits)
    fstar = mp_function(rule_log_repeated_factor(d.conjugate), T)
    ratio = mp_function(rule_log_repeated_factor(d.ratio_from_critic), T)
    # sign(t) or Abs(t) in the ratio (|u - 1|^3) differentiates to DiracDelta: 0 away from its point (at it, the
    # sqrt(|t|) beside it carries the infinite slope); mpmath has no DiracDelta
    dratio = mp_function(sp.diff(d.ratio_from_critic, T).replace(sp.DiracDelta, lambda *a: sp.S.Zero), T)
    logits = sorted({s * x for x in LOGITS for s in (1.0, -1.0)})
    failures: list[Failure] = []
    finite_at: dict[str, bool] = {}  # per end of the critic range (see _finite_at)

    def record(branch, role, what, dtype, x, got, exact):
        failures.append(Failure(branch, role, what, dtype, x, got, float(exact)))

    for dtype_name, dtype in (("float32", torch.float32), ("float64", torch.float64)):
        v = torch.tensor(logits, dtype=dtype, requires_grad=True)
        coa = namespace["conjugate_of_activation"](v)
        (g_coa,) = torch.autograd.grad(coa.sum(), v, allow_unused=True)
        v2 = v.detach().clone().requires_grad_()
        dr = namespace["density_ratio"](v2)
        (g_dr,) = torch.autograd.grad(dr.sum(), v2, allow_unused=True)
        t_in = v.detach().clone().requires_grad_()
        conj = namespace["conjugate"](t_in)
        (g_conj,) = torch.autograd.grad(conj.sum(), t_in, allow_unused=True)
        # f*(t) at t = sigma_f(v) as the module rounds it too: next to a finite end of dom f*, where the grid's own
        # t never lands (1/(432 t^2 - 2592 t + 3888) at t = 3 - 9e-14 was 1e11 times too small)
        t_sig = namespace["activation"](v.detach()).detach().requires_grad_()
        conj_sig = namespace["conjugate"](t_sig)
        (g_sig,) = torch.autograd.grad(conj_sig.sum(), t_sig, allow_unused=True)
        t_sig, conj_sig = t_sig.detach(), conj_sig.detach()
        g_sig = torch.zeros_like(t_sig) if g_sig is None else g_sig
        g_coa, g_dr, g_conj = (torch.zeros_like(v) if g is None else g for g in (g_coa, g_dr, g_conj))
        g_fused = None
        if "_CriticFake" in namespace:
            # the critic loss's fused backward pass (the derivation's slope, not autograd's): per logit, n times
            # the gradient of the mean
            v3 = v.detach().clone().requires_grad_()
            (g_fused,) = torch.autograd.grad(namespace["_CriticFake"].apply(v3), v3)
            g_fused = g_fused * len(logits)
        coa, dr, conj = coa.detach(), dr.detach(), conj.detach()
        for k, x in enumerate(v.detach().double().tolist()):
            extra = digits_for(d, x)
            # f*(sigma(v)) and the density ratio at v
            with mpmath.workdps(40 + extra):
                t = sigma(mpmath.mpf(x))
                # at the digits t carries: at the default 15, -137/3 + e^-10000 (the softplus at v = -1e4) fell
                # below the end -137/3 rounded to 25 digits, the boundary branch was judged there, and its
                # reference solved the numeric branch beside it at 4400 digits for minutes (gen timed out)
                i = _branch_of(d, t)
            end = _end_reached(d, t, extra)
            if end is not None and i is not None:
                # sigma_f(v) rounded onto (or, by a last-digit rounding, past) an end of the critic range at these
                # digits (tanh's e^-20000 at v = 1e4). Where f* and the ratio are finite at that end, the module's
                # value and slope there are their limits, computed by the branch just inside it (the composed code
                # never selects the boundary branch beyond): judged as that branch's. Elsewhere (f* or u* infinite
                # at the end) the value at the end is not the value at sigma_f(v); nothing is compared.
                inside = _inside(d, end, extra)
                if end[0] not in finite_at:
                    finite_at[end[0]] = _finite_at(d, fstar, ratio, end[0])
                i = inside if inside is not None and finite_at[end[0]] else -1
            if i is None and float(dr[k]) == math.inf and float(g_dr[k]) != math.inf:
                # sigma_f(v) at the reference's digits rounded onto the open end of the critic range (e^-2000 from
                # it at v = 1000): the branch just below it, where a ratio past the float range has slope +inf
                with mpmath.workdps(50 + extra):
                    j = _branch_of(d, t - mpmath.mpf(10) ** -(40 + extra))
                if j in branches:
                    record(j, "density_ratio", "gradient", dtype_name, x, float(g_dr[k]), math.inf)
            if i in branches:
                comp = (lambda y: fstar(sigma(y)))
                slope = (lambda y: ratio(sigma(y)) * dsigma(y))
                r_val = (lambda y: ratio(sigma(y)))
                r_slope = (lambda y: dratio(sigma(y)) * dsigma(y))
                r_exact = None
                fused = () if g_fused is None else (("critic_loss", "gradient", slope, g_fused[k]),)
                for role, what, fn, got in (("conjugate_of_activation", "value", comp, coa[k]),
                                            ("conjugate_of_activation", "gradient", slope, g_coa[k]),
                                            *fused,
                                            ("density_ratio", "value", r_val, dr[k]),
                                            ("density_ratio", "gradient", r_slope, g_dr[k])):
                    exact = exact_of(("conjugate_of_activation" if role == "critic_loss" else role, what), fn, x,
                                     extra)
                    if role == "density_ratio" and what == "gradient" and _past_range(dr[k], r_exact, dtype):
                        # a ratio past the dtype's range is +inf, and so is its slope (the ratio increases in v):
                        # NaN there (inf * 0 through a term that underflowed) is wrong, and runtime._past_the_range
                        # fixes it (the GAN f weighted by 8/3 at v = 1000)
                        if float(got) != math.inf:
                            record(i, role, what, dtype_name, x, float(got), math.inf)
                        continue
                    if what == "value" and role == "density_ratio":
                        r_exact = exact
                    if exact is not None and not _close(float(got), exact, dtype_name):
                        record(i, role, what, dtype_name, x, float(got), exact)
            # f*(t) at t = x, and at t = sigma_f(x) as rounded, inside dom f*; the slope with the conditioning of t
            # (autograd's slope of sqrt(2t + 1)(2t + 1)/3 - 1/3 adds -1/sqrt(2t + 1) and 1/sqrt(2t + 1), 1.6e-4 of
            # it at t = -1/2 + 1e-13, within one rounding of t times d u*/dt there); an expanded cubic's slope
            # 8e-9 next to t = -23/6 was 1.9e-6 in float32 (seed 17320, index 159)
            for t_k, value_k, slope_k, sig in ((x, conj[k], g_conj[k], False),
                                               (float(t_sig[k]), conj_sig[k], g_sig[k], True)):
                if sig and _next_to_the_end(d, t_k, dtype_name):
                    continue
                j = _branch_of(d, mpmath.mpf(t_k))
                if j in branches and d.conjugate_domain.as_set().contains(sp.Float(t_k, 30)) is sp.true:
                    # the branch's own slope (u* = 0 on the boundary branch t <= f'(0+), where the inner ratio is not)
                    slope_j = mp_function(d.branches[j].ratio, T)
                    for what, fn, got in (("value", fstar, value_k), ("gradient", slope_j, slope_k)):
                        exact = exact_of(("conjugate", what, j), fn, t_k, 0)
                        if what == "gradient" and d.branches[j].kind == "end" and exact is not None and \
                                mpmath.isinf(exact):
                            # the one point t = f'(oo) closing dom f*, where u* = oo: f*'s one-sided slope is
                            # infinite, past every dtype (not judged, as the grid's other unrepresentable slopes
                            # are not); autograd's 0 through the point's constant was read as a lowering bug and
                            # gen refused 4 u^(-1/2) + u^(-3/2)/4 (seed 16180, index 22)
                            continue
                        if exact is not None and not _close_conditioned(float(got), exact, dtype_name, t_k, d, what):
                            record(j, "conjugate", what, dtype_name, t_k, float(got), exact)
    return failures


def _end_reached(d: Derivation, t, extra: int):
    """The finite end of the critic range (an mpf) that t, computed at 40 + extra digits, lies on or beyond, or
    None: the critic range is open, so a t there is sigma_f(v) rounded at the reference's digits."""
    with mpmath.workdps(40 + extra):
        lo, hi = d.critic_range.lower, d.critic_range.upper
        if lo.is_finite:
            e = mpmath.mpf(sp.N(lo, 50 + extra))
            if t <= e:
                return ("lower", e)
        if hi.is_finite:
            e = mpmath.mpf(sp.N(hi, 50 + extra))
            if t >= e:
                return ("upper", e)
    return None


def _inside(d: Derivation, end, extra: int) -> int | None:
    """The branch of f* just inside the critic range at `end` (from _end_reached)."""
    side, e = end
    with mpmath.workdps(50 + extra):
        step = mpmath.mpf(10) ** -(40 + extra)
        return _branch_of(d, e + step if side == "lower" else e - step)


def _finite_at(d: Derivation, fstar, ratio, side: str) -> bool:
    """Whether f* and the density ratio are finite at the `side` end of the critic range: their values there are the
    limits of the module's. A property of the end, not of the logit that reached it: evaluated once, at 50 digits
    (at the logit's digits, 4 400 at v = 1e4, a numeric piece's bracket search towards u* = oo took 7 of the 10 s
    gen of 2/3 |u - 2| + 1/(3(u + 2)) + e^-u + affine, seed 7777 index 116)."""
    with mpmath.workdps(50):
        end = mpmath.mpf(sp.N(d.critic_range.lower if side == "lower" else d.critic_range.upper, 60))
        try:
            return all(mpmath.isfinite(fn(end)) for fn in (fstar, ratio))
        except (ValueError, ZeroDivisionError, OverflowError, TypeError):
            return False


def _next_to_the_end(d: Derivation, t: float, dtype: str) -> bool:
    """Whether t lies within 4 ulps of the dtype of a finite end b of dom f*: the module compares t with b rounded
    to the dtype, so a t that rounds there may be just inside dom f* (JS-weighted's f* = 12.8 at t = 0.361192 in
    float32) and +inf in the module; the rounding of b, not a formula, decides that."""
    import numpy as np

    b = d.conjugate_domain.upper
    if not b.is_finite:
        return False
    float_type = np.float32 if dtype == "float32" else np.float64
    if b.is_Rational and sp.Rational(float(float_type(float(b)))) == b:
        # b is a float of the dtype (0, 1/2): the module compares t with b itself, and f* at a t next to it is
        # judged like any other (4 (u log u - (u + 1) log(u + 1)) gave +inf for f*(-9e-14) in float32, 125.5)
        return False
    eps = float(np.finfo(float_type).eps)
    return abs(t - float(b)) <= 4 * eps * max(abs(float(b)), 1.0)


def _past_range(got, exact, dtype) -> bool:
    """The module's ratio is +inf where the exact one is +oo or exceeds the dtype's largest value."""
    import torch

    big = torch.finfo(dtype).max
    return float(got) == math.inf and (exact is None or not mpmath.isfinite(exact) or abs(exact) > big)


def _close_conditioned(got: float, exact, dtype: str, t: float, d: Derivation, what: str = "value") -> bool:
    """f*(t) or its slope u*(t) compared with the conditioning of t and of the finite ends b of the critic range
    (the module holds them as floats: one rounding moves t - b by eps (|t| + |b|), f* by that times u*, u* by that
    times du*/dt): fdiv.testing's allowance, 4 eps (|t| + |b|) |f*'(t)| (|f*''(t)| for the slope)."""
    if _close(got, exact, dtype):
        return True
    import numpy as np

    ends = [abs(float(b)) for b in (d.critic_range.lower, d.critic_range.upper, d.conjugate_domain.upper)
            if b.is_finite]
    if not ends:
        return False
    eps = float(np.finfo(np.float32 if dtype == "float32" else np.float64).eps)
    ratio = d.ratio_from_critic if what == "value" else \
        sp.diff(d.ratio_from_critic, T).replace(sp.DiracDelta, lambda *a: sp.S.Zero)
    try:
        slope = abs(float(mp_function(ratio, T)(mpmath.mpf(t))))
    except (ValueError, ZeroDivisionError, OverflowError, TypeError):
        return False
    return math.isfinite(got) and math.isfinite(slope) and \
        abs(got - float(exact)) <= 4 * eps * (abs(t) + max(ends)) * slope + RTOL[dtype] * abs(float(exact))
