"""Check a user's torch or JAX loss pieces against fdiv's exact derivation, in float32 and float64, values and
gradients.

Roles (the generated modules' contract): activation(v), conjugate(t), conjugate_of_activation(v),
density_ratio(v) elementwise; critic_loss(v_real, v_fake), divergence_estimate(v_real, v_fake),
generator_loss(v_fake), generator_loss_nonsaturating(v_fake) scalars (means over the batch).

Where a check looks: the extreme logits of reference.LOGIT_GRID, the moderate +-3, +-6, and drawn ones
(default_logits), each rounded to the dtype; the reference is evaluated at the rounded input. A scalar loss is
called once per logit and argument (the other argument held at 0, so the report names the point) and once on a
whole batch (which checks the means); gradients come from autograd (jax.grad for a JAX function: calls.py). A loss
may use another activation than fdiv's sigma_f: the f-GAN paper's and the usual shapes onto dom f* (increasing or
decreasing) are recognised, or it is given (identify.py).

The function is called through a Callee (calls.py): on its own copies of the inputs (an input changed in place is
a failed check), in this process or, from the CLI, in a child process. Every call's end is that call's result: a
raise, a crash or a result of the wrong kind fails the inputs of that call and the others still run; only a
function that gives no usable result anywhere is an error (UserFunctionError). The outcome is agree, numerically
limited (right at every moderate logit |v| <= 6, failing elsewhere: the ranges are named) or wrong (outcome.py).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import mpmath
import numpy as np
import torch

from fdiv.errors import FdivError

from . import reference as R
from .calls import Callee, as_callee
from .diagnose import diagnose
from .reference import Point, compare
from .report import Report, with_assert


class UserFunctionError(FdivError):
    """The function under test cannot be used as its role requires: wrong signature, it raised on the first
    (simplest) input, or it returned something other than a tensor of the right shape."""


class UserFunctionRaised(UserFunctionError):
    """One call gave no usable result (it raised, ended its process, or returned the wrong kind of thing): that
    call's inputs fail. `why` is the sentence without the place."""

    def __init__(self, message: str, why: str = ""):
        super().__init__(message)
        self.why = why or message


def _raised_point(inputs: dict, dtype: str, exc: UserFunctionRaised) -> Point:
    why = exc.why
    return Point(tuple(inputs.items()), "value", dtype, None, None, 0.0, False,
                 expected=f"a value ({why})" if why.startswith("not run") else f"a value (it {why})")


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
TOLERANCE_SHORT = "rtol 1e-5 (float32), 1e-11 (float64) of the scale, 10 ulps of 1 next to 0"
MODERATE_BOUND = 6.0  # |logit| at or below which a loss has no numerical excuse (outcome.py)


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
    """The extreme grid (0, +-1, +-20, +-50, +-88.7, +-100, +-1000, +-1e4), the moderate +-3, +-6, plus `drawn`
    drawn logits."""
    return list(R.LOGIT_GRID) + list(R.MODERATE_LOGITS) + drawn_logits(drawn, seed)


# ------------------------------------------------------------------------------------------- calling their code
def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def check_signature(fn: Callee, role: Role) -> None:
    """Fail early, with one line, when fn cannot take the role's arguments."""
    sig = fn.signature
    if sig is None:
        return  # a builtin without a signature: the calls will tell
    try:
        sig.bind(*role.args)
    except TypeError:
        raise UserFunctionError(f"wrong signature: {role.name} is called as {role.signature}, but {fn.name}{sig} "
                                f"cannot take {len(role.args)} positional argument(s)") from None


class _Replay(torch.autograd.Function):
    """The values a callee returned, with the gradients it computed (of the sum of its output) as the backward:
    exact for the checks, which only ever differentiate out.sum()."""

    @staticmethod
    def forward(ctx, values, grads, *inputs):
        ctx.grads = grads
        ctx.meta = [(t.dtype, t.shape) for t in inputs]
        return values.clone()

    @staticmethod
    def backward(ctx, g):
        outs = []
        scalar = g.numel() == 1
        for grad, (dtype, shape) in zip(ctx.grads, ctx.meta):
            gt = torch.from_numpy(grad).to(g.dtype)
            outs.append((g.reshape(()) * gt if scalar else g * gt).reshape(shape).to(dtype))
        return (None, None, *outs)


def call(fn: Callee, role: Role, args: list[torch.Tensor], where: str) -> torch.Tensor:
    """fn(*args) through the callee: a float64 tensor carrying fn's gradients (when args require them), or
    UserFunctionRaised saying how the call ended."""
    grad = torch.is_grad_enabled() and any(a.requires_grad for a in args)
    arrays = [a.detach().cpu().numpy().copy() for a in args]
    r = fn.call("torch", arrays, role.args, grad, where)
    if r.failure:
        raise UserFunctionRaised(f"{role.signature} {r.failure} at {where}", r.failure)
    assert r.values is not None
    shape = tuple(r.values.shape)
    if role.terms and r.values.size != 1:
        why = f"returned shape {shape}, expected a scalar"
        raise UserFunctionRaised(f"{role.signature} {why} at {where}", why)
    if role.elementwise and shape != tuple(args[0].shape):
        why = f"returned shape {shape} for an input of shape {tuple(args[0].shape)}, expected an elementwise result"
        raise UserFunctionRaised(f"{role.signature} {why} at {where}", why)
    out = torch.from_numpy(np.array(r.values, dtype=np.float64))
    if grad and r.requires_grad and r.grads is not None:
        return _Replay.apply(out, r.grads, *args)
    return out


def _grads(out: torch.Tensor, args: list[torch.Tensor]) -> list[torch.Tensor] | None:
    """d(sum out)/d(each arg), zeros for an argument it does not use; None when out carries no gradient."""
    if not out.requires_grad:
        return None
    grads = torch.autograd.grad(out.sum(), args, allow_unused=True)
    return [torch.zeros_like(a) if g is None else g for g, a in zip(grads, args)]


def _no_grad_point(inputs: dict, dtype: str) -> Point:
    return Point(tuple(inputs.items()), "gradient", dtype, None, None, 0.0, False,
                 expected="a differentiable output (it carries no gradient: detached, or computed outside torch's "
                          "autograd or jax's tracing, e.g. through numpy?)")


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


def _moderate_ts(d, dtypes: Sequence[str]) -> set[float]:
    """The t = sigma_f(v) of the moderate logits (and the first boundary-branch point), in each dtype."""
    from .exact import reference

    ref = reference(d)
    out: set[float] = set()
    for dtype in dtypes:
        ts = _conjugate_points(ref, [x for x in _MODERATE_GRID], dtype)
        out.update(ts[:len(_MODERATE_GRID) + 1])
    return out


_MODERATE_GRID = (0.0, 1.0, -1.0, 3.0, -3.0, 6.0, -6.0)


def _elementwise(fn, role: Role, ref, xs: Sequence[float], dtype: str, gradients: bool) -> list[Point]:
    key, arg = role.elementwise, role.args[0]
    inputs = _conjugate_points(ref, xs, dtype) if key == "conjugate" else list(xs)
    if not inputs:
        return []
    tdt = TORCH_DTYPES[dtype]
    x = torch.tensor(inputs, dtype=tdt, requires_grad=gradients)
    rounded = x.detach().double().tolist()  # the inputs as given, before any call
    per: list[tuple] = []  # (value, gradient, failure, no gradient) per input
    try:
        y = call(fn, role, [x], f"{len(inputs)} {dtype} inputs")
        grads = _grads(y, [x]) if gradients else None
        values = y.detach().double().tolist()
        grad_values = grads[0].double().tolist() if grads else None
        per = [(values[i], None if grad_values is None else grad_values[i], None, gradients and grads is None)
               for i in range(len(rounded))]
    except UserFunctionRaised:  # the batch failed: one call per input, so each failure is its input's
        for xi in rounded:
            xt = torch.tensor([xi], dtype=tdt, requires_grad=gradients)
            try:
                yi = call(fn, role, [xt], f"{arg}={xi:.9g} ({dtype})")
                gi = _grads(yi, [xt]) if gradients else None
                per.append((yi.item(), None if gi is None else gi[0].item(), None, gradients and gi is None))
            except UserFunctionRaised as exc:
                per.append((None, None, exc, False))
    ends = ref.domain_ends if key == "conjugate" else []
    eps = R.EPS[dtype]
    points: list[Point] = []
    for xi, (value, grad_value, failure, no_grad) in zip(rounded, per):
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
        exact_value = ref.value(key, xi)
        if failure is not None:
            if R.representable(exact_value, dtype):
                points.append(_raised_point(where, dtype, failure))
            continue
        p = compare(where, "value", dtype, value, exact_value, slack=slack_v)
        if p is not None:
            points.append(p)
        if gradients:
            if no_grad:
                points.append(_no_grad_point(where, dtype))
                continue
            p = compare(where, f"d/d{arg}", dtype, grad_value, ref.derivative(key, xi), slack=slack_g)
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


def _scalar(fn, role: Role, ref, xs: Sequence[float], dtype: str, gradients: bool, pair: float = 0.0) -> list[Point]:
    """One call per logit and argument (the others held at `pair`) and one on the whole batch; a call that
    fails fails its inputs."""
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
        tensors = [torch.tensor(v, dtype=tdt, requires_grad=gradients) for v in lists]
        rounded = [t.detach().double().tolist() for t in tensors]
        where = ", ".join(f"{a}={v[0]:.9g}" for a, v in zip(role.args, rounded)) if k is not None else \
            f"a batch of {len(values)}"
        inputs = ({a: v[0] for a, v in zip(role.args, rounded)} if k is not None else {"batch": f"{len(values)} logits"})
        exact, scale, held = _loss_value(role, ref, rounded, k)
        try:
            out = call(fn, role, tensors, where)
        except UserFunctionRaised as exc:
            if exact is not None and R.representable(exact, dtype):
                points.append(_raised_point(inputs, dtype, exc))
            continue
        grads = _grads(out, tensors) if gradients else None
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
            points += _elementwise(fn, role, ref, xs, dtype, gradients)
        else:
            points += _scalar(fn, role, ref, xs, dtype, gradients)
    return points


def _unusable(points: list[Point], role: Role) -> None:
    """UserFunctionError when no call gave a usable result (every point is a failed call)."""
    if points and all(p.expected.startswith("a value (") for p in points):
        p = points[0]
        why = p.expected.removeprefix("a value (").removesuffix(")").removeprefix("it ")
        raise UserFunctionError(f"{role.signature} gave no usable result at any input: it {why} "
                                f"(e.g. at {p.where()}, {p.dtype})")


# ---------------------------------------------------------------------------------------------------- checks
def _subject(role: Role, d, fn: Callee) -> str:
    from .exact import label

    return f"{role.name} {fn.name} against {label(d)}"


def logits_in(lo: float, hi: float, logits: Sequence[float] | None = None) -> list[float]:
    """The default logits (or `logits`) inside [lo, hi], plus lo, hi and nine evenly spaced points between."""
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise FdivError(f"logit range [{lo}, {hi}]: expected two finite numbers LO < HI")
    base = default_logits() if logits is None else [float(x) for x in logits]
    grid = [lo + (hi - lo) * i / 10 for i in range(11)]
    out = sorted({float(np.float32(x)) for x in [*base, *grid] if lo <= float(np.float32(x)) <= hi})
    return out


def check_loss(fn: Callable, against, *, role: str, params: dict | None = None, activation=None,
               logits: Sequence[float] | None = None, dtypes: Sequence = R.DTYPES, gradients: bool = True,
               logit_range: tuple[float, float] | None = None, rtol: float | None = None,
               backend: str = "auto") -> Report:
    """Compare fn, in the given role, with the exact derivation of `against` (a catalogue name, an expression in
    u, or a Derivation), values and gradients, at `logits` (default: default_logits()) in each dtype.

    activation: the critic's activation sigma(v) if it is not fdiv's sigma_f (an expression in v, e.g.
    "-exp(-v)"), checked to map R into dom f*. When not given, fdiv's sigma_f is tried first, then the f-GAN
    paper's activation, its mirror image and the usual shapes onto dom f*, increasing and decreasing
    (identify.py); the report names the one that matched.
    logit_range (lo, hi): compare only there (the verdict says so); rtol: a looser relative tolerance.
    backend: "torch", "jax" (fn gets jax Arrays of the dtype, its gradients come from jax.grad) or "auto" (the
    library fn's module uses, else the kind of array fn returns).
    The outcome is agree, limited (right formula, named ranges where it fails) or wrong.
    """
    from .exact import derivation
    from .outcome import classify

    start = time.process_time()
    if role not in ROLES:
        raise FdivError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    r = ROLES[role]
    if activation is not None and not r.uses_activation:
        raise FdivError(f"role {role}: f*(t) does not depend on an activation; drop activation=")
    if rtol is not None and not (math.isfinite(rtol) and 0 < rtol < 1):
        raise FdivError(f"rtol {rtol}: expected a number in (0, 1)")
    callee = as_callee(fn, backend=backend)
    check_signature(callee, r)
    d = derivation(against, params)
    xs = logits_in(*logit_range, logits) if logit_range is not None else \
        [float(x) for x in (default_logits() if logits is None else logits)]
    dts = [R.dtype_name(x) for x in dtypes]
    with R.loosened(rtol):
        report = _check(callee, r, d, activation, xs, dts, gradients)
    if logit_range is not None:
        report.scope = f"logits in [{logit_range[0]:g}, {logit_range[1]:g}] only"
    report.rtol = rtol
    report.tolerance_short = TOLERANCE_SHORT if rtol is None else \
        f"rtol max(1e-5 (float32), 1e-11 (float64), {rtol:g}) of the scale, 10 ulps of 1 next to 0"
    if callee.backend_note():
        report.notes.append(callee.backend_note())
    moved = callee.in_place_failure()
    if moved:
        report.extra_failures.append(moved)
    shapes = [p for p in report.points if "returned shape" in p.expected]
    if shapes:  # not a numerical matter: the function does not compute what the role returns
        report.extra_failures.append(f"{r.signature} {shapes[0].expected.removeprefix('a value (it ').rstrip(')')} "
                                     f"at {shapes[0].where()} ({shapes[0].dtype})")
    moderate_ts = _moderate_ts(d, dts) if r.elementwise == "conjugate" else set()
    moderate = lambda p: _is_moderate(p, moderate_ts)  # noqa: E731
    classify(report, moderate)
    if not report.ok and report.tolerance_rule == TOLERANCE_RULE:
        _numeric_diagnosis(report, moderate)
    total = time.process_time() - start
    local = not hasattr(callee, "import_seconds")
    report.user_seconds = callee.seconds
    report.own_seconds = max(total - callee.seconds, 0.0) if local else total
    return report


def _is_moderate(p: Point, moderate_ts: set[float]) -> bool:
    inputs = dict(p.inputs)
    if "batch" in inputs:
        return False
    if "t" in inputs:
        return inputs["t"] in moderate_ts
    floats = [v for v in inputs.values() if isinstance(v, float)]
    return bool(floats) and all(abs(v) <= MODERATE_BOUND for v in floats)


def _check(callee: Callee, r: Role, d, activation, xs, dts, gradients) -> Report:
    from .exact import reference
    from .identify import accept_other_activation, activation_candidates

    notes: list[str] = []
    invalid = ""
    candidates = activation_candidates(d, activation) if r.uses_activation else iter([(None, "")])
    first: Report | None = None
    for sigma, name in candidates:
        if activation is not None:  # the only candidate then
            invalid = _invalid_activation(d, sigma, notes)
        ref = reference(d, sigma, name or None)
        if first is not None and not _screen(callee, r, ref):
            continue
        report = Report(_subject(r, d, callee), compare_role(callee, r, ref, xs, dts, gradients),
                        notes=list(notes), tolerance_rule=TOLERANCE_RULE)
        if first is None:
            _unusable(report.points, r)
        if invalid:
            report.extra_failures.append(invalid)
        if report.ok:
            if sigma is not None:
                report.notes.append(f"uses {name}, which maps R into dom f* = {d.conjugate_domain}: a valid "
                                    f"critic parametrisation")
            return report
        if first is not None:  # it matched at moderate logits: this is their activation, failing elsewhere
            report.notes.append(f"uses {name} (it matches at moderate logits)")
            return _diagnosed(report, callee, r, d, explain_mixups=False)
        first = report
        if not _moderate_failures(report):
            break  # right at moderate logits: no other activation can match there
    assert first is not None
    lead = ""
    if not invalid:
        accepted, lead = accept_other_activation(callee, r, d, xs, dts, first)
        if accepted is not None:
            return accepted
    hint = ""
    if activation is None and r.uses_activation and r.name != "activation" and _moderate_failures(first):
        recovered, hint = _recovered(callee, r, d, xs, dts, gradients)
        if recovered is not None:
            return recovered
    report = _diagnosed(first, callee, r, d, explain_mixups=_moderate_failures(first) and not lead, lead=lead,
                        xs=xs, dts=dts, gradients=gradients)
    if hint and not report.diagnosis.startswith("this is"):
        report.diagnosis = "; ".join(filter(None, (report.diagnosis, hint)))
    return report


def _recovered(callee: Callee, r: Role, d, xs, dts, gradients) -> tuple[Report | None, str]:
    """The loss under the activation read off the loss itself (recover.py): a report when that activation is a
    valid critic and the loss matches under it at moderate logits; else (None, a suggestion of --activation)."""
    from .exact import label, reference
    from .identify import maps_into_domain
    from .recover import describe, fit, sigma_values

    values = sigma_values(callee, r, d)
    if values is None:
        return None, ""
    sigma = fit(values)
    what = f"the {r.name} of {label(d)}"
    if sigma is None:
        return None, (f"it looks like {what} under an activation fdiv does not recognise ({describe(values)}); if "
                      f"so, give that activation with --activation EXPR (activation= in Python)")
    ok, why = maps_into_domain(d, sigma)
    flag = f"--activation='{sigma}'"
    if ok is False:
        return None, (f"it looks like {what} under the activation sigma(v) = {sigma} (read off the loss), but that "
                      f"is not a valid critic: {why}")
    name = f"the activation sigma(v) = {sigma}, read off the loss (fdiv does not try this map by itself; {flag} " \
           f"states it)"
    ref = reference(d, sigma, name)
    report = Report(_subject(r, d, callee), compare_role(callee, r, ref, xs, dts, gradients),
                    tolerance_rule=TOLERANCE_RULE)
    if report.ok:
        report.notes.append(f"uses {name}, which maps R into dom f* = {d.conjugate_domain}: a valid critic "
                            f"parametrisation")
        return report, ""
    if not _moderate_failures(report):
        report.notes.append(f"uses {name} (it matches at moderate logits)")
        return _diagnosed(report, callee, r, d, explain_mixups=False), ""
    return None, f"if its critic uses the activation sigma(v) = {sigma}, check it with {flag}"


def _moderate_failures(report: Report) -> bool:
    """A mix-up of divergences, terms, signs or factors changes values at moderate logits by far more than
    rounding (here: 1e-3 relative); failures only at extreme logits, or tiny ones, are numerics."""
    return any("batch" not in dict(p.inputs) and p.quantity == "value"
               and all(not isinstance(x, float) or abs(x) <= 6 for _, x in p.inputs)
               and (p.error > 1e-3 * max(abs(p.exact or 0.0), 1.0)) for p in report.failures)


def _diagnosed(report: Report, fn, role: Role, d, explain_mixups: bool, lead: str = "", xs=None, dts=None,
               gradients: bool = True) -> Report:
    """The structural part of the diagnosis (another divergence, a mixed-up term, the boundary branch); the
    numerical part follows the classification (_numeric_diagnosis). When the explanation identifies the
    activation the loss's activation term uses, the comparison is redone under it, so that the exact values
    shown are those of the code's own activation."""
    from .exact import reference
    from .identify import _same_function, explain_with_activation

    why, seen = explain_with_activation(fn, role, d) if explain_mixups else ("", None)
    if seen is not None and xs is not None and not _same_function(seen[0], d.activation):
        sigma, name = seen
        redone = Report(report.subject, compare_role(fn, role, reference(d, sigma, name), xs, dts, gradients),
                        notes=list(report.notes), tolerance_rule=report.tolerance_rule,
                        extra_failures=list(report.extra_failures))
        redone.notes.append(f"exact values under the loss's own activation, {name} (its activation term uses it)")
        report = redone
    sigma = seen[0] if seen is not None else _reference_sigma(report, d)
    report.diagnosis = "; ".join(filter(None, (lead, _boundary_branch(report, role, d, sigma) or why)))
    return report


def _reference_sigma(report: Report, d):
    """The activation the report's exact values used (named in its notes), else fdiv's sigma_f."""
    from .exact import published_activation

    if any("paper's activation mirrored" in n for n in report.notes):
        pub = published_activation(d)
        from fdiv.derivation.activation import V

        return pub.xreplace({V: -V}) if pub is not None else d.activation
    if any("paper's activation" in n for n in report.notes):
        pub = published_activation(d)
        return pub if pub is not None else d.activation
    return d.activation


def _numeric_diagnosis(report: Report, moderate) -> None:
    """Append what the failed points show: for a wrong formula, the moderate failures first (a constant, a
    factor: the formula), then the rest (overflow ...)."""
    from .report import WRONG

    parts = [report.diagnosis] if report.diagnosis else []
    if report.outcome == WRONG:
        first = diagnose([p for p in report.points if moderate(p)])
        if first and (not parts or first.startswith(("off by", "NaN", "overflow"))):
            parts.append(first)
        if not parts:
            parts.append(diagnose(report.points))
    else:
        parts.append(diagnose(report.points))
    report.diagnosis = "; ".join(dict.fromkeys(x for x in parts if x))


def _boundary_branch(report: Report, role: Role, d, sigma=None) -> str:
    """Published tables give only the smooth branch of f*: say so when only t <= f'(0+) fails (for a loss: only
    where its activation puts the conjugate term's argument there)."""
    import sympy as sp

    lo = d.critic_range.lower
    if not report.failures or not lo.is_finite or d.conjugate_domain.lower != -sp.oo:
        return ""
    branch = (f"the boundary branch t <= f'(0+) = {lo}, where f*(t) = -f(0) = {-d.f_at_zero} (the smooth branch "
              f"alone, as published tables give it, is not f* there)")
    if role.name == "conjugate":
        ts = [dict(p.inputs).get("t") for p in report.failures]
        if all(isinstance(t, float) and t <= float(lo) for t in ts):
            return f"wrong only on {branch}"
        return ""
    conj = [j for _, key, j in role.terms if key == "conjugate_of_activation"]
    if role.elementwise == "conjugate_of_activation":
        conj = [0]
    if not conj or sigma is None:
        return ""
    from fdiv.derivation.activation import V
    from fdiv.derivation.numeric import mp_function

    s = mp_function(sigma, V)
    arg = role.args[conj[0]]
    ts = []
    for p in report.failures:
        x = dict(p.inputs).get(arg)
        if "batch" in dict(p.inputs) or not isinstance(x, float):
            continue
        try:
            with mpmath.workdps(30):
                ts.append(float(s(mpmath.mpf(x))))
        except (ValueError, ZeroDivisionError, OverflowError, TypeError):
            return ""
    if ts and all(t <= float(lo) for t in ts):
        return f"wrong where sigma({arg}) <= f'(0+) = {lo}: its conjugate term uses {branch}"
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
