"""Emit a readable, deterministic torch or JAX module for one derivation (the API in the design notes).

One lowering, two printers: the rewrite and compose stages (lower.compose, lower.rules) and the decisions taken on
the torch module (which closed forms lower.judge sends to a numeric solve, which functions need the past-the-range
guard) are the backends' common part; each backend then prints the same expressions with its own table
(lower.printer.Backend) and embeds its own runtime helpers (lower/runtime.py, lower/runtime_jax.py).

Safe by construction: the module holds only what the printers produced. User text (spec strings, titles,
file names) never reaches it: f and the derived formulas appear as SymPy's canonical printing of the parsed
expressions (whose alphabet has no quote, backslash or '#'), names are validated identifiers, and the source is
compiled before it is written. Writes are atomic (a temporary file in the target directory, fsync, rename), never
through a symlink, and a failure leaves any previous file untouched.
"""
from __future__ import annotations

import ast
import math
import os
import re
import sys
import tempfile
from functools import cache
from pathlib import Path

import sympy as sp

from .._util import __version__
from ..spec import names
from ..derivation.activation import V
from ..derivation.conjugate import T
from ..derivation.engine import Derivation
from ..errors import FdivError
from ..derivation.inverse import legend, readable
from .lower.compose import lower, with_numeric_branches
from ..spec.spec import U
from .lower.printer import BACKENDS, Backend, JaxPrinter, Printer, TorchPrinter, constant_value
from .lower.shared import bind_shared

RUNTIME = Path(__file__).with_name("lower") / "runtime.py"
RUNTIME_JAX = Path(__file__).with_name("lower") / "runtime_jax.py"
_HELPER_ORDER = ["_Softplus", "_softplus", "_Tanh", "_tanh", "_LogSoftplus", "_log_softplus", "_log1mexp", "_wright_omega_value", "_WrightOmega",
                 "_wright_omega",
                 "_log_wright_omega", "_log1mexp_ratio", "_log1mexp_softplus", "_LogGap", "_log_gap", "_wide_gap", "_XLog1pX", "_xlog1px", "_XLogX", "_xlogx",
                 "_hypot", "_InfSlope", "_past_the_range", "_ratio_past_the_range", "_bracketed_newton", "_chunked", "_FusedMean", "_fused_mean", "_solve_where", "_series_near", "_branchwise", "_past_top", "_beyond_float32", "_table_columns", "_exp_map", "_shifted_exp_map", "_logistic_map"]
_NEEDS = {"_softplus": ["_Softplus"], "_wright_omega": ["_wright_omega_value", "_WrightOmega"], "_log_softplus": ["_LogSoftplus"], "_tanh": ["_Tanh"],
          "_solve_where": ["_chunked"], "_fused_mean": ["_FusedMean"],
          "_log1mexp_softplus": ["_softplus"], "_log_gap": ["_LogGap"], "_xlog1px": ["_XLog1pX"], "_xlogx": ["_XLogX"]}
_HELPER_ORDER_JAX = ["_softplus", "_tanh", "_log_softplus", "_log1mexp", "_wright_omega_value", "_wright_omega",
                     "_log_wright_omega", "_log1mexp_ratio", "_log1mexp_softplus", "_log_gap", "_past_the_range", "_ratio_past_the_range",
                     "_in_float64", "_rescaled_reverse", "_series_near", "_wide", "_wide_gap", "_past_top", "_bracketed_newton", "_table_columns", "_xlog1px", "_xlogx", "_exp_map", "_shifted_exp_map", "_logistic_map"]
_NEEDS_JAX = {"_in_float64": ["_rescaled_reverse"], "_wright_omega": ["_wright_omega_value", "_softplus"], "_wright_omega_value": ["_softplus"],
              "_log_softplus": ["_softplus"], "_log1mexp_softplus": ["_softplus"], "_wide_gap": ["_wide"]}
#: What SymPy's printer of a parsed expression can produce; anything else in a derived formula is refused.
_PRINTED = re.compile(r"[A-Za-z0-9_ ().,*+\-/<>=!|&~^\[\]{}:;']*")
_NAME = re.compile(r"[a-z][a-z0-9_]*")


@cache
def _runtime_sources(backend: str = "torch") -> dict[str, str]:
    """The source of each runtime helper, read from runtime.py (runtime_jax.py) as text: emitting never imports
    torch or jax."""
    return helper_sources(RUNTIME if backend == "torch" else RUNTIME_JAX)


def helper_sources(path: Path) -> dict[str, str]:
    """Each top-level function or class of a runtime file by name, with its decorators and its companions: a
    function decorated @NAME.defjvp, NAME_fwd, NAME_bwd and the statement NAME.defvjp(...) belong to NAME."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()

    def segment(node) -> str:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        return "\n".join(lines[first - 1:node.end_lineno])

    out: dict[str, str] = {}
    for node in ast.parse(text).body:
        owner = None
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            decorated = [d.value.id for d in getattr(node, "decorator_list", []) if isinstance(d, ast.Attribute)
                         and isinstance(d.value, ast.Name) and d.attr in ("defjvp", "defvjp")]
            owner = decorated[0] if decorated else next(
                (node.name[:-len(end)] for end in ("_fwd", "_bwd") if node.name.endswith(end)
                 and node.name[:-len(end)] in out), None)
            if owner is None:
                out[node.name] = segment(node)
                continue
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and \
                isinstance(node.value.func, ast.Attribute) and isinstance(node.value.func.value, ast.Name):
            owner = node.value.func.value.id
        if owner in out:
            out[owner] += "\n\n\n" + segment(node)
    return out


def module_name(d: Derivation | None, name: str | None = None) -> str:
    """The module's name: --name, else the divergence's name (see names.module_name for what is refused)."""
    return names.module_name(name if name is not None else (d.name if d.name != "custom" else "custom_f"))


def _safe_text(e: object) -> str:
    """A formula as SymPy prints it (numeric branches shown as ustar/fstar_numeric), checked to hold only
    characters SymPy's printer produces: nothing can end a docstring or start a comment."""
    text = str(readable(e)) if isinstance(e, sp.Basic) else str(e)
    if not _PRINTED.fullmatch(text):
        raise FdivError("a derived formula holds characters SymPy does not print; refusing to emit it")
    return text


_SHARED = {"wright_omega": "w", "softplus": "s", "log_softplus": "ls", "sigmoid": "g"}


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


def _body(printer: Printer, expr: sp.Expr, var: str, result: str = "{}") -> str:
    """The statements of a function body: shared helper calls and a Piecewise's branch inputs, then `return`."""
    printer.branches = []
    if not expr.free_symbols:  # still a function of the input, so autograd sees a (zero) gradient
        return "return " + result.format(f"{var} * 0.0 + {printer.emit(expr)}")
    bound, expr = _common(expr)
    printer.local_names = {sym: sym.name for sym, _ in bound}
    lines = [f"{sym.name} = {printer.emit(call)}" for sym, call in bound]
    text = printer.emit(expr)
    printer.local_names = {}
    if isinstance(expr, sp.Piecewise) and not any(e.free_symbols for e, _ in expr.args):
        text = f"{var} * 0.0 + {text}"  # constant branches only (a density ratio at kinks): still a function of v
    shared, text = bind_shared(text)  # a term the branches repeat (tanh(v_4) five times): computed once
    statements = [*lines, *printer.branches, *shared, "return " + result.format(text)]
    return "\n    ".join(s.replace("\n", "\n    ") for s in statements)  # a branch function: its body indented


def _split_constant(e: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    const = sp.Add(*[a for a in sp.Add.make_args(e) if not a.free_symbols])
    return const, e - const


def _mean(printer: Printer, e: sp.Expr) -> str:
    """mean(k X) as mean(X) * k: the constant factor (a sign included) is applied to the scalar, not to every
    element (one kernel less forward and one backward)."""
    factors = sp.Mul.make_args(sp.factor_terms(e))
    k = sp.Mul(*[f for f in factors if not f.free_symbols])
    # the factored rest as it stands: expanding it would also split exp(a + b) into a product that can overflow
    text = printer.emit(sp.Mul(*[f for f in factors if f.free_symbols]) if k != 1 else e)
    text = f"{text}.mean()" if text.isidentifier() else f"({text}).mean()"
    return text if k == 1 else f"-{text}" if k == -1 else f"{text} * {float(k)!r}"


def _multiple_of_one(e: sp.Expr) -> bool:
    """k * x for a number k and a symbol x."""
    coeff, rest = e.as_coeff_Mul()
    return coeff.is_Number and coeff != 1 and rest.is_Symbol


def _fused_fake(fake: sp.Expr, slope: sp.Expr, helpers: set[str], identity: bool = True) -> str:
    """class _CriticFake: mean f*(v) over v_fake, whose backward pass is the derivation's slope (f')^-1(v) times the
    incoming gradient, instead of autograd's graph through f*. Subexpressions of f*(v) that the slope shares
    (omega(1 - v), e^(v - 1)) are computed once in the forward pass and saved."""
    bindings, (value, grad) = sp.cse([fake, slope], symbols=sp.numbered_symbols("x"), optimizations="basic")
    constants: dict[sp.Symbol, sp.Expr] = {}  # a shared constant (sqrt(6)) is a literal, not a tensor to save
    for sym, e in bindings:
        if not e.xreplace(constants).free_symbols:
            constants[sym] = e.xreplace(constants)
    bindings = [(sym, e.xreplace(constants)) for sym, e in bindings if sym not in constants]
    value, grad = value.xreplace(constants), grad.xreplace(constants)
    names = {sym: sym.name for sym, _ in bindings}
    # a saved tensor that is a multiple of v or of another one (-v, 12 x1) is recomputed in the backward pass
    # instead: one kernel there, one tensor of the batch less held between the passes
    bound = dict(bindings)
    while True:
        cheap = {sym: bound[sym] for sym in grad.free_symbols & set(bound) if _multiple_of_one(bound[sym])}
        if not cheap:
            break
        grad = grad.xreplace(cheap)
    needed = (value.free_symbols | grad.free_symbols) & set(bound)
    for sym, e in reversed(bindings):  # what the forward pass still uses (cse binds in order of use)
        if sym in needed:
            needed |= e.free_symbols & set(bound)
    bindings = [(sym, e) for sym, e in bindings if sym in needed]
    p = TorchPrinter(V, "v", names)
    body = [f"{sym.name} = {p.emit(e)}" for sym, e in bindings]
    saved = sorted((sym.name for sym in grad.free_symbols if sym in names), key=lambda x: int(x[1:]))
    saved += ["v"] if V in grad.free_symbols else []
    mean = _mean(p, value)
    k = sp.Mul(*[f for f in sp.Mul.make_args(grad) if not f.free_symbols])
    scale = "grad * ctx.scale" if k == 1 else f"grad * (ctx.scale * {float(k)!r})"
    slope_text = p._wrap(grad / k, sp.Mul)
    helpers |= p.helpers
    unpack = f"{', '.join(saved)}, = ctx.saved_tensors" if saved else ""
    doc = ['    """mean f*(sigma_f(v)) over v_fake; backward: d/dv f*(v) = (f\')^-1(v), the density ratio (sigma_f(v) = v),',
           '    in place of autograd\'s graph through f*."""'] if identity else [
           '    """mean f*(sigma_f(v)) over v_fake; backward: d/dv f*(sigma_f(v)) = (f\')^-1(sigma_f(v)) sigma_f\'(v), the',
           '    density ratio times the activation\'s slope, in place of autograd\'s graph through f*(sigma_f(v))."""']
    return "\n".join([
        "class _CriticFake(torch.autograd.Function):",
        *doc,
        "",
        "    @staticmethod",
        "    def forward(ctx, v):",
        *[f"        {line}" for line in body],
        "        ctx.scale = 1.0 / v.numel()",
        f"        ctx.save_for_backward({', '.join(saved)})",
        f"        return {mean}",
        "",
        "    @staticmethod",
        "    @once_differentiable",
        "    def backward(ctx, grad):",
        *([f"        {unpack}"] if unpack else []),
        f"        return {slope_text} * ({scale})" if not (grad / k).is_Pow or (grad / k).exp != -1 else
        f"        return ({scale}) / {p._wrap((grad / k).base, sp.Pow)}",
    ])


def _critic_loss(low, helpers: set[str], backend: Backend = BACKENDS["torch"], calls: bool = False) -> tuple[str, str]:
    """(classes, body): mean f*(sigma(v_fake)) + mean(-sigma(v_real)), each printed inline with its constant taken
    out of the mean: one fused pass per input instead of two calls and a negation (as fast as hand-written). Where
    the slope of f*(sigma_f(v)) is derived, the fake side is one autograd.Function (_fused_fake). A Piecewise
    needs statements, so it keeps the calls."""
    c1, fake = _split_constant(low.conjugate_of_activation)
    c2, real = _split_constant(-low.activation)
    fused_slope = low.conjugate_of_activation_slope is not None and low.conjugate_of_activation_slope.free_symbols
    if backend.name == "torch" and not fused_slope and (low.pieces or fake.has(sp.Piecewise)):
        # a numeric or piecewise f*: its gradient slice by slice in the forward pass (runtime._FusedMean), not
        # autograd's graph of every intermediate over the whole batch (3 to 10 times the memory of the catalogue's
        # Jeffrey loss for a numeric f*). A closed form stays inline: fused, the catalogue's alpha row ran at 1.30x
        # its hand-written loss (0.97x inline), though 2/3 e^u's softplus(v) log(3 softplus(v) + 2) - ... holds
        # 3.5x Jeffrey's memory inline and 1.5x fused
        helpers |= {"_fused_mean"}
        return "", "return _fused_mean(conjugate_of_activation, v_fake) - activation(v_real).mean()"
    # calls: f*(v) is guarded past the float range (JAX, where torch's fused backward takes the derivation's slope)
    if calls or fake.has(sp.Piecewise) or real.has(sp.Piecewise) or not (fake.free_symbols and real.free_symbols):
        return "", "return conjugate_of_activation(v_fake).mean() - activation(v_real).mean()"
    classes, lines = "", []
    br, real = _common(real)
    names_r = {sym: f"{sym.name}_real" for sym, _ in br}
    pr = Printer(V, "v_real", names_r, backend)
    slope = low.conjugate_of_activation_slope
    if slope is not None and slope.free_symbols and backend.name == "torch":  # JAX: autodiff through f*
        classes = _fused_fake(fake, slope, helpers, identity=low.activation == V)
        fake_text = "_CriticFake.apply(v_fake)"
    else:
        bf, fake = _common(fake)
        names_f = {sym: f"{sym.name}_fake" for sym, _ in bf}
        pf = Printer(V, "v_fake", names_f, backend)
        lines = [f"{names_f[sym]} = {pf.emit(call)}" for sym, call in bf]
        # a term the printed f*(sigma_f(v)) repeats, computed once (sqrt(4 softplus(-v) + 1) ten times in f* of
        # -log u + (u - 1)^2/u + u - 1: 5.9x Jeffrey's time; conjugate_of_activation binds them too)
        shared, fake_text = bind_shared(_mean(pf, fake), prefix="c_fake")
        lines += shared
        helpers |= pf.helpers
    lines += [f"{names_r[sym]} = {pr.emit(call)}" for sym, call in br]
    text = f"return {fake_text} + {_mean(pr, real)}".replace("+ -", "- ")
    text = "\n    ".join([*lines, text])
    helpers |= pr.helpers
    const = c1 + c2
    try:
        value = float(const)
    except TypeError:  # a helper's call in it (expm1(-2) from a tanh activation's halves): its definition's value
        value = constant_value(const)
    return classes, text + (f" + {value!r}" if value > 0 else f" - {-value!r}" if value < 0 else "")


def _imports(code: str, backend: str = "torch") -> str:
    lines = ["import math", ""] if "math." in code else []
    if backend == "jax":
        stdlib = [f"import {m}" for m in ("functools", "math") if f"{m}." in code]
        third = (["import jax"] if re.search(r"\bjax\.", code) else []) + ["import jax.numpy as jnp"]
        return "\n".join(stdlib + [""] * bool(stdlib) + third)
    lines.append("import torch")
    if "F." in code:
        lines.append("import torch.nn.functional as F")
    if "once_differentiable" in code:
        lines.append("from torch.autograd.function import once_differentiable")
    return "\n".join(lines)


def _spec_line(d: Derivation) -> str:
    """The spec as the module names it: the catalogue name (validated) or 'user f', with parameter values as
    SymPy prints them."""
    name = d.name if _NAME.fullmatch(d.name.replace("-", "_")) else "user f"
    params = ", ".join(f"{k} = {_safe_text(v)}" for k, v in d.parameters.items()
                       if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k)) or "none"
    return f"{'user f' if d.name == 'custom' else name} (parameters: {params})"


def _backend(backend: str) -> Backend:
    if backend not in BACKENDS:
        raise FdivError(f"--backend {ascii(backend)}: expected one of {', '.join(BACKENDS)}")
    return BACKENDS[backend]


def render_module(d: Derivation, notes: list[str] | None = None, backend: str = "torch") -> str:
    """The module's source for `backend` ("torch" or "jax"). A closed-form branch of f* whose lowered code loses
    accuracy on the logit grid (lower.judge, run on the torch module) is lowered numerically instead, with a line
    in `notes` saying where and by how much; the JAX module is printed from the same decisions."""
    target = _backend(backend)
    src, plan = _plan(d, notes)
    return src if target.name == "torch" else _render(*plan, backend=target)


def render_modules(d: Derivation, notes: list[str] | None = None) -> dict[str, str]:
    """The module's source for every backend, from one lowering and one set of decisions."""
    src, plan = _plan(d, notes)
    return {name: src if name == "torch" else _render(*plan, backend=b) for name, b in BACKENDS.items()}


def _floated_radicals(d: Derivation) -> Derivation:
    """d with each number raised to a fraction of denominator above 12 (engine.high_order_radicals) as a 40-digit
    float: the module holds a float64 there anyway, and as generators of SymPy's polynomials they made factor, in
    the lowering's search for an accurate form of f, run past the step's 20 s (gen failed after derive)."""
    from dataclasses import fields, replace

    from ..derivation.engine import high_order_radicals

    def floated(e):
        if not isinstance(e, sp.Basic):
            return e
        big = high_order_radicals(e)
        return e.xreplace({p: sp.Float(sp.N(p, 40), 40) for p in big}) if big else e

    if not high_order_radicals(d.f):
        return d
    changes = {x.name: floated(getattr(d, x.name)) for x in fields(d) if isinstance(getattr(d, x.name), sp.Basic)}
    changes["branches"] = tuple(replace(b, expr=floated(b.expr), upper=floated(b.upper), ratio=floated(b.ratio))
                                for b in d.branches)
    return replace(d, **changes)


def _plan(d: Derivation, notes: list[str] | None) -> tuple[str, tuple]:
    """(the torch module's source, (derivation, lowering, forced spans, guards)): the decisions every backend
    prints. Compositions and numeric pieces' rewrites are remembered within it (lower.compose.remembered,
    lower.numeric.remembered_rewrites), not across gens."""
    from .lower.compose import remembered
    from .lower.numeric import remembered_rewrites

    with remembered(), remembered_rewrites():
        return _planned(d, notes)


def _lowered(d: Derivation):
    """(lowering, torch source) of d, the fused backward pass kept only where it lowers the critic loss's peak."""
    low = lower(d)
    src = _render(d, low)
    if low.conjugate_of_activation_slope is not None and low.activation != V:
        # the fused backward pass only where the critic loss's peak memory (forward and backward, counted exactly:
        # codegen.memory) is lower with it than with autograd's graph, in whole tensors of the batch: a count, not
        # a timing, so the same spec gives the same module on every machine. It is not always lower: the fused
        # forward pass forms f*(sigma_f(v)) whole and its backward pass the slope's own temporaries (the GAN
        # family weighted by 2/3: 9 tensors fused, 8 through autograd; -3 u^(1/3): 5 against 6)
        from dataclasses import replace

        plain = replace(low, conjugate_of_activation_slope=None)
        plain_src = _render(d, plain)
        if not _peak_tensors(src) < _peak_tensors(plain_src):
            low, src = plain, plain_src
    return low, src


def _settled(d: Derivation, low, src: str, failures: list) -> tuple[str, tuple] | None:
    """The module and its plan where the judge found nothing wrong, or only gradients past the float range (inf * 0
    in reverse mode where the value overflowed: those roles guarded, and judged again); else None."""
    from .lower.judge import judge

    if failures and all(x.past_the_range for x in failures):
        guards = frozenset(x.role for x in failures)
        guarded = _render(d, low, guards=guards)
        if not judge(d, guarded):
            return guarded, (d, low, None, guards)
    return None if failures else (src, (d, low))


def _planned(d: Derivation, notes: list[str] | None) -> tuple[str, tuple]:
    if not d.ok:
        failed = next(c for c in d.checks if not c.passed)
        raise FdivError(f"self-check failed: {failed.name}: {failed.detail}; refusing to generate a loss from it")
    d = _floated_radicals(d)
    low, src = _lowered(d)
    if all(b.numeric for b in d.branches if b.kind != "boundary") or d.f.free_symbols != {U}:
        return src, (d, low)
    from .lower.judge import judge

    failures = judge(d, src)
    fused = next((x for x in failures if x.role == "critic_loss"), None)
    if fused is not None:
        # the critic loss's backward pass from the derivation's slope is wrong somewhere on the grid: autograd's
        # graph through f*(sigma_f(v)) instead (more memory, the values judged below)
        from dataclasses import replace

        low = replace(low, conjugate_of_activation_slope=None)
        src = _render(d, low)
        if notes is not None:
            notes.append(f"the critic loss's fused backward pass is off ({fused.text()}); it is differentiated "
                         "by autograd instead")
        failures = judge(d, src)
    settled = _settled(d, low, src, failures)
    if settled is not None:
        return settled
    if any(d.branches[x.branch].kind == "smooth" for x in failures):
        # before a branch goes numeric: its square roots' radicands factored (lower.compose.radicands_factored),
        # the module kept only where the judge then finds nothing wrong
        from .lower.compose import radicands_factored

        with radicands_factored() as changed:
            alt, alt_src = _lowered(d)
            if changed and fused is not None:
                from dataclasses import replace

                alt = replace(alt, conjugate_of_activation_slope=None)
                alt_src = _render(d, alt)
            settled = _settled(d, alt, alt_src, judge(d, alt_src)) if changed else None
            if settled is not None:
                return settled
    wrong = next((x for x in failures if d.branches[x.branch].kind != "smooth"), None)
    if wrong is not None:  # a lowering bug, never to be shipped silently
        raise FdivError(f"the generated module disagrees with the derivation on a {d.branches[wrong.branch].kind} "
                        f"branch of f*: {wrong.text()}; refusing to write it (please report it)")
    forced = sorted({x.branch for x in failures})
    numeric_d = with_numeric_branches(d, forced)
    for i in forced:
        first = next(x for x in failures if x.branch == i)
        lower_t = d.branches[i - 1].upper if i else -sp.oo
        line = (f"f* on t in ({lower_t}, {d.branches[i].upper}): {first.text()}; the module solves f'(u) = t "
                "numerically there")
        if notes is not None:
            notes.append(line)
    spans = [(d.branches[i - 1].upper if i else -sp.oo, d.branches[i].upper) for i in forced]
    numeric_low = lower(numeric_d)
    return _render(numeric_d, numeric_low, forced=spans), (numeric_d, numeric_low, spans)


_PEAK_LOGITS = 256


def _peak_tensors(src: str) -> int:
    """The peak of the module's critic loss and its backward pass at _PEAK_LOGITS float32 logits (fixed inputs), in
    whole tensors of the batch (codegen.memory): the inputs excluded, the gradients written included."""
    import torch

    from .memory import peak_bytes

    namespace: dict = {}
    exec(compile(src, "<fdiv module>", "exec"), namespace)  # noqa: S102 - fdiv's own generated code
    v_fake = torch.linspace(-5.0, 5.0, _PEAK_LOGITS, requires_grad=True)
    v_real = torch.linspace(-5.0, 5.0, _PEAK_LOGITS, requires_grad=True)
    return peak_bytes(namespace["critic_loss"], v_real, v_fake) // (4 * _PEAK_LOGITS)


_JAX_NOTE = """
For JAX: pure functions of jax.numpy arrays, usable under jax.jit, jax.grad and jax.vmap, printed from the same
lowering as the torch module. Custom derivatives (jax.custom_jvp/custom_vjp) stand where the torch module has
autograd Functions; those written as custom_vjp support reverse mode only. There is no Loss class (no
torch.nn.Module in JAX): compose the functions. float64 needs jax.config.update("jax_enable_x64", True)."""


def _render(d: Derivation, low, forced: list | None = None, guards: frozenset = frozenset(),
            backend: Backend = BACKENDS["torch"]) -> str:
    """The module's source; `guards` names the functions whose value, where it leaves the float range, is +inf with
    slope +inf (runtime._past_the_range) rather than differentiated there."""
    jax = backend.name == "jax"
    pv, pt = Printer(V, backend=backend), Printer(T, backend=backend)

    def guarded(role: str, printer: Printer, expr: sp.Expr, var: str, result: str = "{}") -> str:
        if role not in guards:
            return _body(printer, expr, var, result)
        inner = _body(printer, expr, var).replace("\n    ", "\n        ")
        helper = "_ratio_past_the_range" if role == "density_ratio" else "_past_the_range"
        printer.helpers |= {helper, "_InfSlope"}
        return f"def inside({var}):\n        {inner}\n\n    return {result.format(f'{helper}(inside, {var})')}"

    act = _body(pv, low.activation, "v")
    conj_act = guarded("conjugate_of_activation", pv, low.conjugate_of_activation, "v")
    if jax:  # evaluated by _in_float64: float64 under jax_enable_x64, else float32 with a rescaled reverse pass
        inner = guarded("density_ratio", pv, low.density_ratio, "v").replace("\n    ", "\n        ")
        ratio = f"def ratio(v):\n        {inner}\n\n    return _in_float64(ratio, v)"
    else:
        ratio = guarded("density_ratio", pv, low.density_ratio, "v", "({}).to(dtype)")
    conj = guarded("conjugate", pt, low.conjugate, "t")
    helpers = pv.helpers | pt.helpers
    critic_classes, critic = _critic_loss(low, helpers, backend, jax and "conjugate_of_activation" in guards)
    from .lower.numeric import piece_source

    pieces_src = "\n\n\n".join(piece_source(p, helpers, backend) for p in low.pieces)
    if jax:
        helpers.add("_in_float64")
    needs, order = (_NEEDS_JAX, _HELPER_ORDER_JAX) if jax else (_NEEDS, _HELPER_ORDER)
    for h in list(helpers):
        helpers |= set(needs.get(h, []))
    for h in list(helpers):  # a need's own needs (JAX: omega's value uses softplus)
        helpers |= set(needs.get(h, []))
    sources = _runtime_sources(backend.name)
    helper_src = "\n\n\n".join(sources[h] for h in order if h in helpers)
    code = "\n\n\n".join(x for x in (helper_src, pieces_src, critic_classes) if x)
    dom, crit = d.conjugate_domain, d.critic_range
    numeric = legend(d.conjugate)
    numeric_doc = "".join(f"\n    {_safe_text(line)}" for line in numeric)
    evaluation = ("numeric: f' has no closed-form inverse, so u* is a root found from a table of the inverse "
                  "and a fixed number of Newton steps inside the table's bracket, with gradients from the implicit "
                  "function theorem" if numeric else "closed form")
    if forced:
        spans = ", ".join(f"({_safe_text(a)}, {_safe_text(b)})" for a, b in forced)
        evaluation += (f"; on t in {spans} the closed form (fdiv derive) loses accuracy in floating point, so this "
                       "module solves f'(u) = t there instead")
    regenerate = "`fdiv gen --backend jax`" if jax else "`fdiv gen`"
    wide = ("Evaluated in float64 where JAX has it (jax_enable_x64) and returned in v's dtype: a ratio can lie\n"
            "    within a factor of 2 of float32's largest value, where reverse mode overflows on the way to a finite\n"
            "    gradient. Without x64, in float32 with a reverse pass rerun scaled where it overflows (reverse mode\n"
            "    only)." if jax else
            "Evaluated in float64 and returned in v's dtype: a ratio can lie within a factor of 2 of float32's\n"
            "    largest value, where reverse mode overflows on the way to a finite gradient.")
    widen = "" if jax else "dtype, v = v.dtype, v.double()\n    "
    loss_class = "" if jax else '''


class Loss(torch.nn.Module):
    """The losses as a module: forward(v_real, v_fake) is the critic loss."""

    def forward(self, v_real, v_fake):
        return critic_loss(v_real, v_fake)

    def generator(self, v_fake, nonsaturating=False):
        return generator_loss_nonsaturating(v_fake) if nonsaturating else generator_loss(v_fake)

    def divergence(self, v_real, v_fake):
        return divergence_estimate(v_real, v_fake)'''
    src = f'''"""fdiv loss module for {_spec_line(d)}.

Generated by fdiv {__version__}. Do not edit: regenerate with {regenerate}.

Derived over u >= 0 (D_f(P||Q) = E_Q[f(p/q)]); f* is {evaluation}:
    f(u)            = {_safe_text(d.f)}
    f(1)            = {_safe_text(d.f_at_one)}
    f*(t)           = {_safe_text(d.conjugate)}
    dom f*          = {_safe_text(dom)}
    critic range    = {_safe_text(crit)}
    sigma_f(v)      = {_safe_text(d.activation)}
    T*(u) = f'(u)   = {_safe_text(d.optimal_critic)}
    (f')^-1(t)      = {_safe_text(d.ratio_from_critic)}
    f'(1)           = {_safe_text(d.f_prime_at_one)}{numeric_doc}{_JAX_NOTE if jax else ""}
"""
{_imports(code + act + conj + conj_act + ratio + critic, backend.name)}


{code + chr(10) + chr(10) + chr(10) if code else ""}def activation(v):
    """sigma_f(v) = {_safe_text(d.activation)}: maps R onto the critic range {_safe_text(crit)}."""
    {act}


def conjugate(t):
    """f*(t) on dom f* = {_safe_text(dom)}; +inf outside."""
    {conj}


def conjugate_of_activation(v):
    """f*(sigma_f(v)), composed and rewritten for stability."""
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
    """Estimate of p/q from a critic logit: (f')^-1(sigma_f(v)).

    {wide}"""
    {widen}{ratio}{loss_class}
'''
    try:
        compile(src, "<generated module>", "exec")
    except SyntaxError as exc:  # a printer bug, never user text: still, never write a broken module
        raise FdivError(f"the generated module does not compile ({exc.msg}); nothing written") from None
    check_constants(src)
    return src


def check_constants(src: str) -> None:
    """Every number in a generated module is a finite, normal float64 (or 0), and no bare `inf`/`nan` name
    stands for one: a constant outside float64 would make the module fail on first call (NameError) or compute
    a loss that is identically 0 or inf. Refused with the constant named; nothing is written."""
    smallest = sys.float_info.min
    tree = ast.parse(src)
    bound = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
    bound |= {a.arg for n in ast.walk(tree) if isinstance(n, ast.arguments) for a in n.args + n.kwonlyargs}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in ("inf", "nan", "infinity") and node.id not in bound:
            raise FdivError(f"the generated module would use {node.id!r} as a number (a constant outside "
                            "float64's range); nothing written: rescale f so its constants stay within "
                            "[2.2e-308, 1e300]")
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            value = abs(float(node.value)) if abs(node.value) < 2**1023 else math.inf
            if value != 0 and not smallest <= value < math.inf:
                raise FdivError(f"the generated module would need the constant {node.value!r}, outside float64's "
                                "normal range; nothing written: rescale f so its constants stay within "
                                "[2.2e-308, 1e300]")


def write_module(d: Derivation, out_dir: str | Path, name: str | None = None, notes: list[str] | None = None, *,
                 force: bool = False, backend: str = "torch") -> Path:
    """Render first, then write atomically: a failed derivation, lowering or write leaves nothing new behind
    and any previous module untouched. An existing file is replaced only when fdiv generated it (or with
    force=True). What a user should know about the module goes to `notes`."""
    out = _directory(out_dir)
    target = out / f"{module_name(d, name)}.py"
    refuse_to_clobber(target, force)
    text = render_module(d, notes, backend)
    write_atomic(target, text, force=force)
    return target


def _directory(out_dir: str | Path) -> Path:
    if not isinstance(out_dir, (str, Path)) or str(out_dir) == "":
        raise FdivError("-o: give an existing directory")
    out = Path(out_dir)
    if not out.is_dir():
        what = "not a directory" if out.exists() else "no such directory"
        raise FdivError(f"-o {ascii(str(out_dir))}: {what}")
    return out


#: The first lines of every module fdiv writes (f-GAN losses and f-DPO preference losses).
_HEADER = re.compile(r'"""fdiv (loss module|f-DPO preference loss) for [^\n]*\n\nGenerated by fdiv [^\s]+\. Do not edit')


def is_generated(path: Path) -> bool:
    """Whether the regular file at path starts with the header of a module fdiv generated."""
    from .._util.atomic import ReadError, read_bounded

    try:
        head = read_bounded(path, 1 << 24, follow_symlinks=False)[:4096]
    except ReadError:
        return False
    return _HEADER.match(head.decode("utf-8", errors="replace")) is not None


def refuse_to_clobber(target: Path, force: bool = False) -> None:
    """FdivError for a target that is a symbolic link or not a regular file, and (unless force) for an existing
    file that fdiv did not generate: a hand-written kl.py or setup.py is never replaced by accident."""
    if target.is_symlink():
        raise FdivError(f"{target.name}: is a symbolic link; refusing to write through it")
    if target.exists() and not target.is_file():
        raise FdivError(f"{target.name}: exists and is not a regular file")
    if not force and target.exists() and not is_generated(target):
        raise FdivError(f"{target}: exists and is not a module fdiv generated; refusing to replace it "
                        "(--force replaces it)")


def write_atomic(target: Path, text: str, *, force: bool = False) -> None:
    """Write text to target via a temporary file in the same directory, fsync and os.replace (after
    refuse_to_clobber)."""
    refuse_to_clobber(target, force)
    data = text.encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise FdivError(f"cannot write {target.name} ({exc.strerror or exc}); nothing written") from None
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


LOSSES_DIR = Path(__file__).parents[1] / "losses"
LOSSES_DIRS = {"torch": LOSSES_DIR, "jax": Path(__file__).parents[1] / "losses_jax"}


def catalogue_modules(backend: str = "torch") -> dict[Path, str]:
    """The checked-in modules fdiv/losses/<name>.py (fdiv/losses_jax/<name>.py for backend="jax"), one per
    catalogue entry (defaults for parameters)."""
    from ..derivation.parallel import derive_all

    _backend(backend)
    return {LOSSES_DIRS[backend] / f"{d.name.replace('-', '_')}.py": render_module(d, backend=backend)
            for d in derive_all()}
