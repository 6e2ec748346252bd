"""Check a user's torch loss pieces against fdiv's exact derivation, in float32 and float64, values and gradients.

Roles (the generated modules' contract): activation(v), conjugate(t), conjugate_of_activation(v),
density_ratio(v) elementwise; critic_loss(v_real, v_fake), divergence_estimate(v_real, v_fake),
generator_loss(v_fake), generator_loss_nonsaturating(v_fake) scalars (means over the batch).

Where a check looks: the extreme logits of reference.LOGIT_GRID plus drawn ones (default_logits), each rounded to
the dtype; the reference is evaluated at the rounded input. A scalar loss is called once per logit and argument
(the other argument held at 0, so the report names the point) and once on a whole batch (which checks the means);
gradients come from autograd. A loss may use another activation than fdiv's sigma_f: the f-GAN paper's and the
usual shapes onto dom f* are recognised, or it is given (identify.py). A function that raises on its first call is
an error (UserFunctionError); one that raises on a later, harder input fails that input.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from fdiv.errors import FdivError

from . import reference as R
from .diagnose import diagnose
from .reference import Point, compare
from .report import Report, with_assert


class UserFunctionError(FdivError):
    """The function under test cannot be used as its role requires: wrong signature, it raised on the first
    (simplest) input, or it returned something other than a tensor of the right shape."""


class UserFunctionRaised(UserFunctionError):
    """It raised. On the first call that makes it unusable; on a later, harder input it fails that input."""


def _raised_point(inputs: dict, dtype: str, exc: UserFunctionRaised) -> Point:
    why = str(exc).split(" raised ", 1)[-1]
    return Point(tuple(inputs.items()), "value", dtype, None, None, 0.0, False, expected=f"a value (it raised {why})")


@dataclass(frozen=True)
class Role:
    name: str
    args: tuple[str, ...]
    terms: tuple[tuple[int, str, int], ...] = ()  # scalar roles: (sign, exact function, argument index)
    elementwise: str = ""  # elementwise roles: the exact function

    @property
    def signature(self) -> str:
        return f"{self.name}({', '.join(self.args)})"

    @property
    def uses_activation(self) -> bool:
        return self.elementwise != "conjugate"


ROLES: dict[str, Role] = {}


def _role(name: str, args: tuple[str, ...], **kw) -> None:
    ROLES[name] = Role(name, args, **kw)


_role("activation", ("v",), elementwise="activation")
_role("conjugate", ("t",), elementwise="conjugate")
_role("conjugate_of_activation", ("v",), elementwise="conjugate_of_activation")
_role("density_ratio", ("v",), elementwise="density_ratio")
_role("critic_loss", ("v_real", "v_fake"), terms=((-1, "activation", 0), (1, "conjugate_of_activation", 1)))
_role("divergence_estimate", ("v_real", "v_fake"), terms=((1, "activation", 0), (-1, "conjugate_of_activation", 1)))
_role("generator_loss", ("v_fake",), terms=((-1, "conjugate_of_activation", 0),))
_role("generator_loss_nonsaturating", ("v_fake",), terms=((-1, "activation", 0),))

TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}

TOLERANCE_RULE = ("|theirs - exact| <= rtol * scale (+ 10 ulps of 1 when scale < 1), rtol 1e-5 in float32 and "
                  "1e-11 in float64; scale = |exact|, or for a loss the sum of its terms' magnitudes; conjugate(t) "
                  "adds 4 eps (|t| + |b|) |f*'(t)| (|f*''| for the gradient) near an end b of dom f*, where one "
                  "rounding of t or of b moves t - b")


def drawn_logits(n: int, seed: int = 0) -> list[float]:
    """n seeded logits from a mixture like strategies.logits (float32-representable, so both dtypes share one
    reference): half in [-40, 40], some at the float32 exp edge |v| in [80, 110], a few up to |v| = 800 and 1e4."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.5:
            x = rng.uniform(-40, 40)
        elif kind < 0.8:
            x = rng.choice([-1, 1]) * rng.uniform(80, 110)
        elif kind < 0.95:
            x = rng.uniform(-800, 800)
        else:
            x = rng.uniform(-1e4, 1e4)
        out.append(float(np.float32(x)))
    return out


def default_logits(drawn: int = 25, seed: int = 0) -> list[float]:
    """The extreme grid (0, +-1, +-20, +-50, +-88.7, +-100, +-1000, +-1e4) plus `drawn` drawn logits."""
    return list(R.LOGIT_GRID) + drawn_logits(drawn, seed)


# ------------------------------------------------------------------------------------------- calling their code
def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def check_signature(fn: Callable, role: Role) -> None:
    """Fail early, with one line, when fn cannot take the role's arguments."""
    if not callable(fn):
        raise UserFunctionError(f"{role.name}: expected a callable, got {type(fn).__name__}")
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # a builtin without a signature: the first call will tell
    try:
        sig.bind(*role.args)
    except TypeError:
        name = getattr(fn, "__name__", "the function")
        raise UserFunctionError(f"wrong signature: {role.name} is called as {role.signature}, but {name}{sig} "
                                f"cannot take {len(role.args)} positional argument(s)") from None


def call(fn: Callable, role: Role, args: list[torch.Tensor], where: str) -> torch.Tensor:
    try:
        out = fn(*args)
    except Exception as exc:  # their code: report any failure with the inputs that caused it
        raise UserFunctionRaised(f"{role.signature} raised {type(exc).__name__} at {where}: {_first_line(exc)}") from None
    if not isinstance(out, torch.Tensor):
        raise UserFunctionError(f"{role.signature} returned {type(out).__name__} at {where}; expected a torch tensor")
    if role.terms and out.numel() != 1:
        raise UserFunctionError(f"{role.signature} returned shape {tuple(out.shape)} at {where}; expected a scalar")
    if role.elementwise and out.shape != args[0].shape:
        raise UserFunctionError(f"{role.signature} returned shape {tuple(out.shape)} for an input of shape "
                                f"{tuple(args[0].shape)}; expected an elementwise result")
    return out


def _grads(out: torch.Tensor, args: list[torch.Tensor]) -> list[torch.Tensor] | None:
    """d(sum out)/d(each arg), zeros for an argument it does not use; None when out carries no gradient."""
    if not out.requires_grad:
        return None
    grads = torch.autograd.grad(out.sum(), args, allow_unused=True)
    return [torch.zeros_like(a) if g is None else g for g, a in zip(grads, args)]


def _no_grad_point(inputs: dict, dtype: str) -> Point:
    return Point(tuple(inputs.items()), "gradient", dtype, None, None, 0.0, False,
                 expected="a differentiable output (it carries no gradient: detached or computed outside torch?)")


# ------------------------------------------------------------------------------------------------ comparisons
def _conjugate_points(ref, xs: Sequence[float], dtype: str) -> list[float]:
    """t at which to test f*: sigma_f(v) for every logit v, as the dtype rounds it, plus three points of the
    boundary branch t <= f'(0+) where f* = -f(0) (published tables often omit it)."""
    import sympy as sp

    from .exact import reference

    sigma = reference(ref.d)
    ts = []
    for x in xs:
        y = sigma.value("activation", x)
        if y is not None:
            ts.append(float(torch.tensor(R.to_float(y), dtype=TORCH_DTYPES[dtype])))
    lo = ref.d.critic_range.lower
    if lo.is_finite and ref.d.conjugate_domain.lower == -sp.oo:
        ts += [float(lo) - 1.0, float(lo) - 10.0, float(lo) - 1000.0]
    return ts


def _elementwise(fn, role: Role, ref, xs: Sequence[float], dtype: str, gradients: bool,
                 first_call: bool = True) -> list[Point]:
    key, arg = role.elementwise, role.args[0]
    inputs = _conjugate_points(ref, xs, dtype) if key == "conjugate" else list(xs)
    if first_call and inputs:  # a raise on one simple input makes fn unusable; on the whole batch, it fails it
        call(fn, role, [torch.tensor(inputs[:1], dtype=TORCH_DTYPES[dtype])], f"{arg}={inputs[0]:.9g} ({dtype})")
    x = torch.tensor(inputs, dtype=TORCH_DTYPES[dtype], requires_grad=True)
    try:
        y = call(fn, role, [x], f"{len(inputs)} {dtype} inputs")
    except UserFunctionRaised as exc:
        return [_raised_point({"batch": f"{len(inputs)} {dtype} inputs"}, dtype, exc)]
    grads = _grads(y, [x]) if gradients else None
    values = y.detach().double().tolist()
    grad_values = grads[0].double().tolist() if grads else None
    ends = ref.domain_ends if key == "conjugate" else []
    eps = R.EPS[dtype]
    points: list[Point] = []
    for i, xi in enumerate(x.detach().double().tolist()):
        where = {arg: xi}
        slack_v = slack_g = 0.0
        if key == "conjugate":
            if any(abs(xi - b) <= eps * abs(b) for b in ends):
                continue  # t = fl(b): whether it is inside dom f* depends on b's rounding
            d1, d2 = ref.derivative(key, xi), R.exact(ref.conjugate_second, xi)
            if d1 is None or d2 is None:
                continue
            end = max((abs(b) for b in ends), default=0.0)
            slack_v = 4 * eps * (abs(xi) + end) * R.to_float(abs(d1))
            slack_g = 4 * eps * (abs(xi) + end) * R.to_float(abs(d2))
        p = compare(where, "value", dtype, values[i], ref.value(key, xi), slack=slack_v)
        if p is not None:
            points.append(p)
        if gradients:
            if grad_values is None:
                points.append(_no_grad_point(where, dtype))
                continue
            p = compare(where, f"d/d{arg}", dtype, grad_values[i], ref.derivative(key, xi), slack=slack_g)
            if p is not None:
                points.append(p)
    return points


def _loss_value(role: Role, ref, args: list[list[float]], varying: int | None = None):
    """(exact mean-form loss, sum of the magnitudes of its terms, the part from arguments other than `varying`)
    at float inputs, or (None, None, None)."""
    total, scale, held = 0, 0, 0
    for sign, key, j in role.terms:
        vals = [ref.value(key, x) for x in args[j]]
        if any(v is None for v in vals):
            return None, None, None
        total += sign * sum(vals) / len(vals)
        scale += sum(abs(v) for v in vals) / len(vals)
        if j != varying:
            held += sign * sum(vals) / len(vals)
    return total, scale, held


def _scalar(fn, role: Role, ref, xs: Sequence[float], dtype: str, gradients: bool, pair: float = 0.0,
            first_call: bool = True) -> list[Point]:
    """first_call: a raise on the first call makes fn unusable (an error); later ones fail their inputs."""
    tdt = TORCH_DTYPES[dtype]
    n_args = len(role.args)
    points: list[Point] = []
    calls = [(k, [x]) for k in range(n_args) for x in xs]
    # one batch: each argument gets every logit, in a different order, so the means and pairing are exercised
    calls.append((None, list(xs)))
    for k, values in calls:
        if k is None:
            lists = [list(np.roll(values, 7 * j)) for j in range(n_args)]
        else:
            lists = [values if j == k else [pair] for j in range(n_args)]
        tensors = [torch.tensor(v, dtype=tdt, requires_grad=True) for v in lists]
        rounded = [t.detach().double().tolist() for t in tensors]
        where = ", ".join(f"{a}={v[0]:.9g}" for a, v in zip(role.args, rounded)) if k is not None else \
            f"a batch of {len(values)}"
        inputs = ({a: v[0] for a, v in zip(role.args, rounded)} if k is not None else {"batch": f"{len(values)} logits"})
        try:
            out = call(fn, role, tensors, where)
        except UserFunctionRaised as exc:
            if first_call:
                raise
            points.append(_raised_point(inputs, dtype, exc))
            continue
        first_call = False
        grads = _grads(out, tensors) if gradients else None
        exact, scale, held = _loss_value(role, ref, rounded, k)
        p = compare(inputs, "value", dtype, out.item(), exact, scale=scale, held=held) if exact is not None else None
        if p is not None:
            points.append(p)
        if not gradients:
            continue
        if grads is None:
            points.append(_no_grad_point(inputs, dtype))
            continue
        for j in ([k] if k is not None else range(n_args)):
            keys = [(sign, key) for sign, key, jj in role.terms if jj == j]
            g = grads[j].double().tolist()
            for i, x in enumerate(rounded[j]):
                ds = [ref.derivative(key, x) for _, key in keys]
                if any(dv is None for dv in ds):
                    continue
                exact_grad = sum(sign * dv for (sign, _), dv in zip(keys, ds))
                if not R.representable(exact_grad, dtype):
                    continue  # d(term)/dx overflows before autograd divides it by the batch size
                exact_grad /= len(rounded[j])
                at = inputs if k is not None else {"batch": f"{len(values)} logits", role.args[j]: x}
                p = compare(at, f"d/d{role.args[j]}", dtype, g[i], exact_grad)
                if p is not None:
                    points.append(p)
    return points


def compare_role(fn, role: Role, ref, xs: Sequence[float], dtypes: Sequence[str], gradients: bool) -> list[Point]:
    points: list[Point] = []
    for dtype in dtypes:
        if role.elementwise:
            points += _elementwise(fn, role, ref, xs, dtype, gradients, first_call=dtype == dtypes[0])
        else:
            points += _scalar(fn, role, ref, xs, dtype, gradients, first_call=dtype == dtypes[0])
    return points


# ---------------------------------------------------------------------------------------------------- checks
def _subject(role: Role, d, fn) -> str:
    from .exact import label

    name = getattr(fn, "__name__", type(fn).__name__)
    return f"{role.name} {name} against {label(d)}"


def check_loss(fn: Callable, against, *, role: str, params: dict | None = None, activation=None,
               logits: Sequence[float] | None = None, dtypes: Sequence = R.DTYPES, gradients: bool = True) -> Report:
    """Compare fn, in the given role, with the exact derivation of `against` (a catalogue name, an expression in
    u, or a Derivation), values and gradients, at `logits` (default: default_logits()) in each dtype.

    activation: the critic's activation sigma(v) if it is not fdiv's sigma_f (an expression in v, e.g.
    "-exp(-v)"), checked to map R into dom f*. When not given, fdiv's sigma_f is tried first, then the f-GAN
    paper's activation and the usual shapes onto dom f* (identify.py); the report names the one that matched.
    """
    from .exact import derivation, reference
    from .identify import accept_other_activation, activation_candidates

    if role not in ROLES:
        raise FdivError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    r = ROLES[role]
    if activation is not None and not r.uses_activation:
        raise FdivError(f"role {role}: f*(t) does not depend on an activation; drop activation=")
    check_signature(fn, r)
    d = derivation(against, params)
    xs = [float(x) for x in (default_logits() if logits is None else logits)]
    dts = [R.dtype_name(x) for x in dtypes]
    notes: list[str] = []
    invalid = ""
    candidates = activation_candidates(d, activation) if r.uses_activation else iter([(None, "")])
    first: Report | None = None
    for sigma, name in candidates:
        if activation is not None:  # the only candidate then
            invalid = _invalid_activation(d, sigma, notes)
        ref = reference(d, sigma, name or None)
        if first is not None and not _screen(fn, r, ref):
            continue
        report = Report(_subject(r, d, fn), compare_role(fn, r, ref, xs, dts, gradients),
                        notes=list(notes), tolerance_rule=TOLERANCE_RULE)
        if invalid:
            report.extra_failures.append(invalid)
        if report.ok:
            if sigma is not None:
                report.notes.append(f"uses {name}, which maps R into dom f* = {d.conjugate_domain}: a valid "
                                    f"critic parametrisation")
            return report
        if first is not None:  # it matched at moderate logits: this is their activation, failing elsewhere
            report.notes.append(f"uses {name} (it matches at moderate logits)")
            return _diagnosed(report, fn, r, d, explain_mixups=False)
        first = report
        if not _moderate_failures(report):
            break  # right at moderate logits: no other activation can match there
    assert first is not None
    lead = ""
    if not invalid:
        accepted, lead = accept_other_activation(fn, r, d, xs, dts, first)
        if accepted is not None:
            return accepted
    return _diagnosed(first, fn, r, d, explain_mixups=_moderate_failures(first) and not lead, lead=lead)


def _moderate_failures(report: Report) -> bool:
    """A mix-up of divergences, terms, signs or factors changes values at moderate logits by far more than
    rounding (here: 1e-3 relative); failures only at extreme logits, or tiny ones, are numerics."""
    return any("batch" not in dict(p.inputs) and p.quantity == "value"
               and all(not isinstance(x, float) or abs(x) <= 6 for _, x in p.inputs)
               and (p.error > 1e-3 * max(abs(p.exact or 0.0), 1.0)) for p in report.failures)


def _diagnosed(report: Report, fn, role: Role, d, explain_mixups: bool, lead: str = "") -> Report:
    from .identify import explain

    report.diagnosis = "; ".join(filter(None, (lead, explain(fn, role, d) if explain_mixups else "",
                                               _boundary_branch(report, role, d), diagnose(report.points))))
    return report


def _boundary_branch(report: Report, role: Role, d) -> str:
    """Published tables give only the smooth branch of f*: say so when only t <= f'(0+) fails."""
    lo = d.critic_range.lower
    if role.name != "conjugate" or not report.failures or not lo.is_finite:
        return ""
    ts = [dict(p.inputs).get("t") for p in report.failures]
    if all(isinstance(t, float) and t <= float(lo) for t in ts):
        return (f"wrong only on the boundary branch t <= f'(0+) = {lo}, where f*(t) = -f(0) = {-d.f_at_zero} "
                f"(the smooth branch alone, as published tables give it, is not f* there)")
    return ""


def _invalid_activation(d, sigma, notes: list[str]) -> str:
    """The failure message when a given activation leaves dom f* (a note when that cannot be decided)."""
    from .identify import maps_into_domain

    ok, why = maps_into_domain(d, sigma)
    if ok is None:
        notes.append(f"could not decide whether the given activation maps into dom f*: {why}")
    return why if ok is False else ""


def _screen(fn, role: Role, ref) -> bool:
    """A cheap float64 look at moderate logits before a full comparison with another candidate activation."""
    from .identify import MODERATE

    try:
        points = compare_role(fn, role, ref, MODERATE, ["float64"], gradients=False)
    except UserFunctionError:
        return False
    return bool(points) and all(p.ok for p in points)


def _role_check(role: str):
    def check(fn: Callable, against, **kwargs) -> Report:
        return check_loss(fn, against, role=role, **kwargs)

    check.__name__ = check.__qualname__ = f"check_{role}"
    check.__doc__ = f"check_loss(fn, against, role={role!r}, ...): {ROLES[role].signature} against the exact one."
    return with_assert(check)


check_activation = _role_check("activation")
check_conjugate = _role_check("conjugate")
check_conjugate_of_activation = _role_check("conjugate_of_activation")
check_density_ratio = _role_check("density_ratio")
check_critic_loss = _role_check("critic_loss")
check_divergence_estimate = _role_check("divergence_estimate")
check_generator_loss = _role_check("generator_loss")
check_generator_loss_nonsaturating = _role_check("generator_loss_nonsaturating")
with_assert(check_loss)
