"""Emit a readable, deterministic torch module for one derivation (the API in shared/ARCHITECTURE.md)."""
from __future__ import annotations

import inspect
import keyword
import re
from pathlib import Path

import sympy as sp

from . import __version__
from .activation import V
from .conjugate import T
from .derive import Derivation
from .errors import FdivError
from .lower import runtime
from .lower.compose import lower
from .lower.printer import TorchPrinter

_HELPER_ORDER = ["_softplus", "_log_softplus", "_log1mexp", "_wright_omega_float64", "_WrightOmega", "_wright_omega"]
_NEEDS = {"_wright_omega": ["_wright_omega_float64", "_WrightOmega"]}


def module_name(d: Derivation, name: str | None = None) -> str:
    base = name or (d.name if d.name != "custom" else "custom_f")
    mod = re.sub(r"\W", "_", base.replace("-", "_")).lower()
    if not mod.isidentifier() or keyword.iskeyword(mod) or mod[0].isdigit():
        raise FdivError(f"--name {base!r}: not a usable Python module name")
    return mod


_SHARED = {"wright_omega": "w", "softplus": "s", "log_softplus": "ls"}


def _common(expr: sp.Expr) -> tuple[list[tuple[sp.Symbol, sp.Expr]], sp.Expr]:
    """Helper calls that occur more than once, bound once (Jeffrey's omega(1 - v) twice costs 2x): innermost
    first, named w0, s0, ls0, ... in a fixed order. Not inside a Piecewise, whose branches see other inputs."""
    if expr.has(sp.Piecewise):
        return [], expr
    bound: list[tuple[sp.Symbol, sp.Expr]] = []
    for fname, prefix in _SHARED.items():
        calls = [a for a in sp.preorder_traversal(expr) if getattr(a.func, "__name__", "") == fname]
        repeated = sorted({a for a in calls if calls.count(a) > 1}, key=sp.default_sort_key)
        for i, call in enumerate(repeated):
            sym = sp.Symbol(f"{prefix}{i}")
            expr = expr.subs(call, sym)
            bound.append((sym, call))
    # a later binding may contain an earlier call: substitute earlier names into later definitions
    out = []
    for sym, call in bound:
        for prev, prev_call in out:
            call = call.subs(prev_call, prev)
        out.append((sym, call))
    return sorted(out, key=lambda b: len(b[1].free_symbols & {s for s, _ in out})), expr


def _body(printer: TorchPrinter, expr: sp.Expr, var: str, result: str = "{}") -> str:
    """The statements of a function body: shared helper calls and a Piecewise's branch inputs, then `return`."""
    printer.branches = []
    if not expr.free_symbols:  # still a function of the input, so autograd sees a (zero) gradient
        return "return " + result.format(f"{var} * 0.0 + {printer.emit(expr)}")
    bound, expr = _common(expr)
    printer.local_names = {sym: sym.name for sym, _ in bound}
    lines = [f"{sym.name} = {printer.emit(call)}" for sym, call in bound]
    text = printer.emit(expr)
    printer.local_names = {}
    return "\n    ".join([*lines, *printer.branches, "return " + result.format(text)])


def _split_constant(e: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    const = sp.Add(*[a for a in sp.Add.make_args(e) if not a.free_symbols])
    return const, e - const


def _critic_loss(low, helpers: set[str]) -> str:
    """mean f*(sigma(v_fake)) + mean(-sigma(v_real)), each printed inline with its constant taken out of the
    mean: one fused pass per input instead of two calls and a negation (as fast as hand-written). A Piecewise
    needs statements, so it keeps the calls."""
    c1, fake = _split_constant(low.conjugate_of_activation)
    c2, real = _split_constant(-low.activation)
    if fake.has(sp.Piecewise) or real.has(sp.Piecewise) or not (fake.free_symbols and real.free_symbols):
        return "return conjugate_of_activation(v_fake).mean() - activation(v_real).mean()"
    bf, fake = _common(fake)
    br, real = _common(real)
    names_f = {sym: f"{sym.name}_fake" for sym, _ in bf}
    names_r = {sym: f"{sym.name}_real" for sym, _ in br}
    pf, pr = TorchPrinter(V, "v_fake", names_f), TorchPrinter(V, "v_real", names_r)
    lines = [f"{names_f[sym]} = {pf.emit(call)}" for sym, call in bf]
    lines += [f"{names_r[sym]} = {pr.emit(call)}" for sym, call in br]
    def mean(text: str) -> str:
        return f"{text}.mean()" if text.isidentifier() else f"({text}).mean()"

    if real.could_extract_minus_sign():
        text = f"return {mean(pf.emit(fake))} - {mean(pr.emit(-real))}"
    else:
        text = f"return {mean(pf.emit(fake))} + {mean(pr.emit(real))}"
    text = "\n    ".join([*lines, text])
    helpers |= pf.helpers | pr.helpers
    const = c1 + c2
    return text + (f" + {float(const)!r}" if const > 0 else f" - {float(-const)!r}" if const < 0 else "")


def _imports(code: str) -> str:
    lines = ["import math", ""] if "math." in code else []
    lines.append("import torch")
    if "F." in code:
        lines.append("import torch.nn.functional as F")
    return "\n".join(lines)


def render_module(d: Derivation) -> str:
    low = lower(d)
    pv, pt = TorchPrinter(V), TorchPrinter(T)
    act = _body(pv, low.activation, "v")
    conj_act = _body(pv, low.conjugate_of_activation, "v")
    ratio = _body(pv, low.density_ratio, "v", "({}).to(dtype)")
    conj = _body(pt, low.conjugate, "t")
    helpers = pv.helpers | pt.helpers
    critic = _critic_loss(low, helpers)
    for h in list(helpers):
        helpers |= set(_NEEDS.get(h, []))
    if "_log_softplus" in helpers or "_softplus" in helpers:
        helpers.add("_softplus")
    helper_src = "\n\n".join(inspect.getsource(getattr(runtime, h)).rstrip() for h in _HELPER_ORDER if h in helpers)
    params = ", ".join(f"{k} = {v}" for k, v in d.parameters.items()) or "none"
    dom, crit = d.conjugate_domain, d.critic_range
    return f'''"""fdiv loss module for {d.name}: {d.spec.title or d.name}.

Generated by fdiv {__version__} from the spec
    name: {d.name}
    f(u) = {d.spec.f}
    parameters: {params}
Do not edit: regenerate with `fdiv gen`.

Derived exactly over u >= 0 (D_f(P||Q) = E_Q[f(p/q)]):
    f(u)            = {d.f}
    f*(t)           = {d.conjugate}
    dom f*          = {dom}
    critic range    = {crit}
    sigma_f(v)      = {d.activation}
    T*(u) = f'(u)   = {d.optimal_critic}
    (f')^-1(t)      = {d.ratio_from_critic}
    f'(1)           = {d.f_prime_at_one}
"""
{_imports(helper_src + act + conj + conj_act + ratio + critic)}


{helper_src + chr(10) + chr(10) + chr(10) if helper_src else ""}def activation(v):
    """sigma_f(v) = {d.activation}: maps R onto the critic range {crit}."""
    {act}


def conjugate(t):
    """f*(t) = {d.conjugate} on dom f* = {dom}; +inf outside."""
    {conj}


def conjugate_of_activation(v):
    """f*(sigma_f(v)), simplified for stability: {low.conjugate_of_activation}."""
    {conj_act}


def critic_loss(v_real, v_fake):
    """Scalar to minimise over the critic: -(mean sigma_f(v_real) - mean f*(sigma_f(v_fake)))."""
    {critic}


def generator_loss(v_fake):
    """Saddle-point generator loss: -mean f*(sigma_f(v_fake))."""
    return -conjugate_of_activation(v_fake).mean()


def generator_loss_nonsaturating(v_fake):
    """Non-saturating generator loss: -mean sigma_f(v_fake)."""
    return -activation(v_fake).mean()


def divergence_estimate(v_real, v_fake):
    """Lower-bound estimate of D_f(P||Q): mean sigma_f(v_real) - mean f*(sigma_f(v_fake))."""
    return activation(v_real).mean() - conjugate_of_activation(v_fake).mean()


def density_ratio(v):
    """Estimate of p/q from a critic logit: (f')^-1(sigma_f(v)) = {low.density_ratio}.

    Evaluated in float64 and returned in v's dtype: a ratio can lie within a factor of 2 of float32's
    largest value, where reverse mode overflows on the way to a finite gradient."""
    dtype, v = v.dtype, v.double()
    {ratio}


class Loss(torch.nn.Module):
    """The {d.name} losses as a module: forward(v_real, v_fake) is the critic loss."""

    def forward(self, v_real, v_fake):
        return critic_loss(v_real, v_fake)

    def generator(self, v_fake, nonsaturating=False):
        return generator_loss_nonsaturating(v_fake) if nonsaturating else generator_loss(v_fake)

    def divergence(self, v_real, v_fake):
        return divergence_estimate(v_real, v_fake)
'''


def write_module(d: Derivation, out_dir: str | Path, name: str | None = None) -> Path:
    """Render first, then write: a failed derivation or lowering writes nothing."""
    out = Path(out_dir)
    if not out.is_dir():
        raise FdivError(f"-o {out_dir}: no such directory")
    text = render_module(d)
    target = out / f"{module_name(d, name)}.py"
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise FdivError(f"-o {out_dir}: cannot write {target.name} ({exc.strerror})") from None
    return target


LOSSES_DIR = Path(__file__).with_name("losses")


def catalogue_modules() -> dict[Path, str]:
    """The checked-in modules fdiv/losses/<name>.py, one per catalogue entry (defaults for parameters)."""
    from .parallel import derive_all

    return {LOSSES_DIR / f"{module_name(d)}.py": render_module(d) for d in derive_all()}
