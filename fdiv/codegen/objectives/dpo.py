"""Emit an f-DPO preference-loss module: `fdiv gen NAME --objective dpo -o DIR`.

Convention: D_f(pi||pi_ref) = E_{pi_ref}[f(pi/pi_ref)], so fdiv's `kl` (f = u log u) gives standard DPO.
The optimum of max_pi E_pi[r] - beta D_f(pi||pi_ref) satisfies r = beta f'(pi/pi_ref) + lambda wherever the
f-DPO link is valid (fdiv.codegen.objectives.link); lambda cancels in the Bradley-Terry probability, so with
g(r) = f'(e^r) and r = log pi - log pi_ref,

    implicit_reward(logp_policy, logp_ref, beta) = beta g(r)
    preference_loss(logp_w, logp_ref_w, logp_l, logp_ref_l, beta) = mean of -log sigmoid(beta (g(r_w) - g(r_l)))

The module takes log-probabilities, never probabilities. g, the margin g(r_w) - g(r_l) and log g' come from
fdiv.codegen.objectives.terms, pass through fdiv.codegen.lower.rules and print with fdiv.codegen.lower.printer.TorchPrinter. Values
and gradients are autograd Functions with the backward written out: the gradient of the loss with respect to
r_w is -sigmoid(-m) beta g'(r_w), formed from log g' so that it is never 0 * inf.

Safety is emit's: the module holds only what the printers produced (formulas through emit's _safe_text, the
spec through its _spec_line), the name is validated by names.module_name, the source is compiled before it is
written, and the write is atomic (emit.write_atomic).
"""
from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import sympy as sp

from ..._util import __version__
from ...spec import names
from ...derivation.engine import Derivation
from ..emit import (_backend, _directory, _runtime_sources, _safe_text, _spec_line, check_constants, helper_sources,
                    refuse_to_clobber, write_atomic)
from ...errors import FdivError
from ..lower.printer import BACKENDS, Printer
from ..lower.rules import apply_rules
from ...spec.spec import U
from . import terms as T
from .link import Link, link_of

RUNTIME = Path(__file__).with_name("dpo_runtime.py")
RUNTIME_JAX = Path(__file__).with_name("dpo_runtime_jax.py")
_BETA, _LOG_BETA = sp.Symbol("beta", positive=True), sp.Symbol("log_beta", real=True)
_LOWER_ORDER = ["_Softplus", "_softplus", "_log_softplus", "_log1mexp"]
_OWN_ORDER = ["_signed_sum", "_sigmoid_times"]


@cache
def _own_sources(backend: str = "torch") -> dict[str, str]:
    if backend == "jax":
        return helper_sources(RUNTIME_JAX)
    text = RUNTIME.read_text(encoding="utf-8")
    tree = ast.parse(text)
    return {node.name: ast.get_source_segment(text, node) for node in tree.body if isinstance(node, ast.FunctionDef)}


class _Printer(Printer):
    """The lowering printer plus Max (the backend's maximum) and signed_sum(s1, l1, s2, l2, ...), a call of the embedded
    _signed_sum."""

    def _print_Max(self, e: sp.Expr) -> str:
        out = self.emit(e.args[0])
        for arg in e.args[1:]:
            out = f"{self.backend.maximum}({out}, {self.emit(arg)})"
        return out

    def _print_signed_sum(self, e: sp.Expr) -> str:
        self.helpers.add("_signed_sum")
        pairs = ", ".join(f"({self.emit(e.args[i])}, {self.emit(e.args[i + 1])})" for i in range(0, len(e.args), 2))
        return f"_signed_sum({pairs})"


def dpo_link(d: Derivation) -> Link:
    if d.f.free_symbols - {U}:
        raise FdivError("the f-DPO module needs numeric parameter values; give them with --param K=V")
    return link_of(d.f, d.name if d.name != "custom" else "f")


def _lowered(e: sp.Expr) -> sp.Expr:
    return apply_rules(e)


def _body(printer: _Printer, bindings: list[tuple[sp.Symbol, sp.Expr]], expr: sp.Expr) -> str:
    lines = [f"{sym.name} = {printer.emit(_lowered(value))}" for sym, value in bindings]
    return "\n    ".join([*lines, f"return {printer.emit(_lowered(expr))}"])


def render_module(d: Derivation, backend: str = "torch") -> str:
    """The module's source for `backend` ("torch" or "jax"), or an FdivError naming why the spec has no valid f-DPO
    link. Only f and f' are used (validated and derived by fdiv); f* and its self-checks play no part in the
    preference loss."""
    target = _backend(backend)
    what = "f" if d.name == "custom" else d.name
    verdict = dpo_link(d)
    if not verdict.valid:
        raise FdivError(f"{what} has no valid f-DPO link: {verdict.reason}")
    fp = d.optimal_critic
    try:
        terms = T.decompose(fp)
        log_slope = T.log_slope(fp)
    except T.Unsupported as exc:
        raise FdivError(f"{what}: no stable f-DPO lowering: {exc}") from None
    T.check(fp, terms, log_slope)

    helpers: set[str] = set()
    scale = {_BETA: "beta", _LOG_BETA: "log_beta"}
    reward_bindings, reward_expr = terms.reward(T.R, _BETA, _LOG_BETA)
    pr = _Printer(T.R, "r", {**scale, **{sym: sym.name for sym, _ in reward_bindings}}, target)
    reward = _body(pr, reward_bindings, reward_expr)
    slope = _body(pr, [], log_slope)
    helpers |= pr.helpers
    bindings, margin_expr = terms.margin(T.A, T.B, _BETA, _LOG_BETA)
    pm = _Printer(T.A, "r_w", {T.B: "r_l", **scale, **{sym: sym.name for sym, _ in bindings}}, target)
    margin = _body(pm, bindings, margin_expr)
    helpers |= pm.helpers
    if "_signed_sum" in helpers:
        helpers.add("_log1mexp")
    if target.name == "jax" and "_log_softplus" in helpers:
        helpers.add("_softplus")
    if target.name == "torch" and "_softplus" in helpers:  # the torch helper is an autograd Function's apply
        helpers.add("_Softplus")
    order = (["_softplus", "_tanh", "_log_softplus", "_log1mexp"] if target.name == "jax" else _LOWER_ORDER)
    lower_src = _runtime_sources(target.name)
    own_src = _own_sources(target.name)
    code = "\n\n\n".join([lower_src[h] for h in order if h in helpers] +
                         [own_src[h] for h in _OWN_ORDER if h in helpers or h == "_sigmoid_times"])
    g_r = fp.subs(U, sp.exp(T.R))
    if target.name == "jax":
        src = _jax_module(d, fp, g_r, code, reward, slope, margin)
    else:
        src = _torch_module(d, fp, g_r, code, reward, slope, margin)
    try:
        compile(src, "<generated module>", "exec")
    except SyntaxError as exc:  # a printer bug, never user text: still, never write a broken module
        raise FdivError(f"the generated module does not compile ({exc.msg}); nothing written") from None
    check_constants(src)
    return src


def _doc(d: Derivation, fp: sp.Expr, g_r: sp.Expr, regenerate: str) -> str:
    """The module docstring's derivation block, shared by the backends."""
    return f'''"""fdiv f-DPO preference loss for {_spec_line(d)}.

Generated by fdiv {__version__}. Do not edit: regenerate with {regenerate}.

The policy maximises E_pi[reward] - beta D_f(pi||pi_ref), D_f(pi||pi_ref) = E_pi_ref[f(pi/pi_ref)]; at the
optimum reward = beta f'(pi/pi_ref) + lambda, and lambda cancels in the Bradley-Terry probability. With
r = log pi - log pi_ref (inputs are log-probabilities):
    f(u)                = {_safe_text(d.f)}
    f'(u)               = {_safe_text(fp)}
    f'(0+)              = {_safe_text(d.f_prime_at_zero)}
    f'(e^r)             = {_safe_text(g_r)}
    implicit reward     = beta f'(e^r)
    preference loss     = -log sigmoid(beta (f'(e^r_w) - f'(e^r_l))), averaged over the batch'''


def _printed_functions(reward: str, slope: str, margin: str) -> str:
    """The three printed functions of an f-DPO module, the same text for both backends."""
    return f'''def _reward(r, beta, log_beta):
    """beta f'(e^r), each term finite wherever its true value is."""
    {reward}


def _log_slope(r):
    """log of d/dr f'(e^r) = u f''(u) at u = e^r."""
    {slope}


def _margin(r_w, r_l, beta, log_beta):
    """beta (f'(e^r_w) - f'(e^r_l)), without overflow before the true value overflows, exactly 0 when
    r_w = r_l."""
    {margin}'''


def _torch_module(d, fp, g_r, code, reward, slope, margin) -> str:
    return f'''{_doc(d, fp, g_r, "`fdiv gen --objective dpo`")}
"""
import torch
import torch.nn.functional as F


{code}


{_printed_functions(reward, slope, margin)}


def _beta(beta, like):
    if not like.is_floating_point():  # an integer beta would round to 0 and be refused for the wrong reason
        raise TypeError("log-probabilities must be floating-point tensors")
    beta = beta.to(dtype=like.dtype, device=like.device) if isinstance(beta, torch.Tensor) else \\
        torch.tensor(float(beta), dtype=like.dtype, device=like.device)
    if not bool((beta > 0).all()):
        raise ValueError("beta must be positive")
    return beta


class _ImplicitReward(torch.autograd.Function):
    """beta f'(e^r); d/dr = beta exp(log slope) (no 0 * inf), d/dbeta = f'(e^r)."""

    @staticmethod
    def forward(ctx, r, beta):
        reward = _reward(r, beta, torch.log(beta))
        ctx.save_for_backward(r, beta, reward)
        return reward

    @staticmethod
    def backward(ctx, grad):
        r, beta, reward = ctx.saved_tensors
        slope = torch.exp(torch.log(beta) + _log_slope(r))
        grad_r = torch.where(grad == 0, torch.zeros_like(grad), grad * slope)
        grad_beta = None
        if ctx.needs_input_grad[1]:
            grad_beta = torch.where(grad == 0, torch.zeros_like(grad), grad * reward / beta).sum_to_size(beta.shape)
        return grad_r.sum_to_size(r.shape), grad_beta


class _PreferenceLoss(torch.autograd.Function):
    """-log sigmoid(m), m = beta (f'(e^r_w) - f'(e^r_l)); d/dr_w = -sigmoid(-m) beta g'(r_w), d/dr_l the
    opposite at r_l, d/dbeta = -sigmoid(-m) (g(r_w) - g(r_l)), each formed without 0 * inf."""

    @staticmethod
    def forward(ctx, r_w, r_l, beta):
        m = _margin(r_w, r_l, beta, torch.log(beta))
        ctx.save_for_backward(r_w, r_l, beta, m)
        return -F.logsigmoid(m)

    @staticmethod
    def backward(ctx, grad):
        r_w, r_l, beta, m = ctx.saved_tensors
        log_beta = torch.log(beta)
        log_w = log_beta + _log_slope(r_w)
        log_l = log_beta + _log_slope(r_l)
        w = _sigmoid_times(m, torch.exp(log_w), log_w)
        l = _sigmoid_times(m, torch.exp(log_l), log_l)
        grad_w = torch.where(grad == 0, torch.zeros_like(grad), -grad * w).sum_to_size(r_w.shape)
        grad_l = torch.where(grad == 0, torch.zeros_like(grad), grad * l).sum_to_size(r_l.shape)
        grad_beta = None
        if ctx.needs_input_grad[2]:
            delta = m / beta
            b = _sigmoid_times(m, delta, torch.log(torch.abs(m)) - log_beta)
            grad_beta = torch.where(grad == 0, torch.zeros_like(grad), -grad * b).sum_to_size(beta.shape)
        return grad_w, grad_l, grad_beta


def implicit_reward(logp_policy, logp_ref, beta):
    """beta f'(pi/pi_ref) from log-probabilities (the reward up to a per-prompt constant)."""
    r = logp_policy - logp_ref
    return _ImplicitReward.apply(r, _beta(beta, r))


def preference_loss(logp_w, logp_ref_w, logp_l, logp_ref_l, beta, reduction="mean"):
    """Mean over the batch of -log sigmoid(beta (f'(pi_w/pi_ref_w) - f'(pi_l/pi_ref_l))), from the
    log-probabilities of the chosen (w) and rejected (l) responses under the policy and the reference;
    reduction "sum" or "none" gives the sum or the per-pair losses."""
    r_w = logp_w - logp_ref_w
    r_l = logp_l - logp_ref_l
    losses = _PreferenceLoss.apply(r_w, r_l, _beta(beta, r_w))
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    raise ValueError("reduction must be 'mean', 'sum' or 'none'")


class Loss(torch.nn.Module):
    """The preference loss as a module: forward(logp_w, logp_ref_w, logp_l, logp_ref_l) with a fixed beta."""

    def __init__(self, beta=0.1):
        super().__init__()
        if not float(beta) > 0:
            raise ValueError("beta must be positive")
        self.beta = float(beta)

    def forward(self, logp_w, logp_ref_w, logp_l, logp_ref_l):
        return preference_loss(logp_w, logp_ref_w, logp_l, logp_ref_l, self.beta)

    def implicit_reward(self, logp_policy, logp_ref):
        return implicit_reward(logp_policy, logp_ref, self.beta)
'''


def _jax_module(d, fp, g_r, code, reward, slope, margin) -> str:
    """The same functions for JAX: custom_vjp functions with the torch module's backward passes (a 0 incoming
    gradient stays 0 where a slope is infinite), pure functions of arrays (jax.jit, jax.grad, jax.vmap)."""
    return f'''{_doc(d, fp, g_r, "`fdiv gen --objective dpo --backend jax`")}

For JAX: pure functions of jax.numpy arrays, usable under jax.jit, jax.grad and jax.vmap (reverse mode: the
gradients are custom_vjp rules). There is no Loss class (no torch.nn.Module in JAX). A beta that is not positive
raises ValueError when it is a Python number, and gives NaN when it is an array (a traced value cannot raise).
float64 needs jax.config.update("jax_enable_x64", True).
"""
import jax
import jax.numpy as jnp


{code}


{_printed_functions(reward, slope, margin)}


def _beta(beta, like):
    if not jnp.issubdtype(like.dtype, jnp.floating):  # an integer beta would round to 0
        raise TypeError("log-probabilities must be floating-point arrays")
    if isinstance(beta, (int, float)):
        if not float(beta) > 0:
            raise ValueError("beta must be positive")
        return jnp.asarray(beta, dtype=like.dtype)
    beta = jnp.asarray(beta, dtype=like.dtype)
    return jnp.where(beta > 0, beta, jnp.nan)


@jax.custom_vjp
def _implicit_reward(r, beta):
    """beta f'(e^r); d/dr = beta exp(log slope) (no 0 * inf), d/dbeta = f'(e^r)."""
    return _reward(r, beta, jnp.log(beta))


def _implicit_reward_fwd(r, beta):
    reward = _reward(r, beta, jnp.log(beta))
    return reward, (r, beta, reward)


def _implicit_reward_bwd(res, grad):
    r, beta, reward = res
    slope = jnp.exp(jnp.log(beta) + _log_slope(r))
    grad_r = jnp.where(grad == 0, 0.0, grad * slope)
    grad_beta = jnp.where(grad == 0, 0.0, grad * reward / beta)
    return grad_r, grad_beta


_implicit_reward.defvjp(_implicit_reward_fwd, _implicit_reward_bwd)


@jax.custom_vjp
def _preference_loss(r_w, r_l, beta):
    """-log sigmoid(m), m = beta (f'(e^r_w) - f'(e^r_l)); d/dr_w = -sigmoid(-m) beta g'(r_w), d/dr_l the
    opposite at r_l, d/dbeta = -sigmoid(-m) (g(r_w) - g(r_l)), each formed without 0 * inf."""
    return -jax.nn.log_sigmoid(_margin(r_w, r_l, beta, jnp.log(beta)))


def _preference_loss_fwd(r_w, r_l, beta):
    m = _margin(r_w, r_l, beta, jnp.log(beta))
    return -jax.nn.log_sigmoid(m), (r_w, r_l, beta, m)


def _preference_loss_bwd(res, grad):
    r_w, r_l, beta, m = res
    log_beta = jnp.log(beta)
    log_w = log_beta + _log_slope(r_w)
    log_l = log_beta + _log_slope(r_l)
    w = _sigmoid_times(m, jnp.exp(log_w), log_w)
    l = _sigmoid_times(m, jnp.exp(log_l), log_l)
    grad_w = jnp.where(grad == 0, 0.0, -grad * w)
    grad_l = jnp.where(grad == 0, 0.0, grad * l)
    b = _sigmoid_times(m, m / beta, jnp.log(jnp.abs(m)) - log_beta)
    grad_beta = jnp.where(grad == 0, 0.0, -grad * b)
    return grad_w, grad_l, grad_beta


_preference_loss.defvjp(_preference_loss_fwd, _preference_loss_bwd)


def implicit_reward(logp_policy, logp_ref, beta):
    """beta f'(pi/pi_ref) from log-probabilities (the reward up to a per-prompt constant)."""
    r = logp_policy - logp_ref
    r, beta = jnp.broadcast_arrays(r, _beta(beta, r))
    return _implicit_reward(r, beta)


def preference_loss(logp_w, logp_ref_w, logp_l, logp_ref_l, beta, reduction="mean"):
    """Mean over the batch of -log sigmoid(beta (f'(pi_w/pi_ref_w) - f'(pi_l/pi_ref_l))), from the
    log-probabilities of the chosen (w) and rejected (l) responses under the policy and the reference;
    reduction "sum" or "none" gives the sum or the per-pair losses."""
    r_w = logp_w - logp_ref_w
    r_l = logp_l - logp_ref_l
    r_w, r_l, beta = jnp.broadcast_arrays(r_w, r_l, _beta(beta, r_w))
    losses = _preference_loss(r_w, r_l, beta)
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    raise ValueError("reduction must be 'mean', 'sum' or 'none'")
'''


def module_name(d: Derivation, name: str | None = None) -> str:
    """--name, else <divergence>_dpo (so it sits beside the f-GAN module of the same divergence)."""
    return names.module_name(name if name is not None else
                             (f"{d.name}_dpo" if d.name != "custom" else "custom_f_dpo"))


def write_module(d: Derivation, out_dir: str | Path, name: str | None = None, *, force: bool = False,
                 backend: str = "torch") -> Path:
    """Render first, then write atomically: a spec without a valid link, a failed rewrite or a failed write
    leaves nothing new behind; an existing file is replaced only when fdiv generated it (or with force=True)."""
    out = _directory(out_dir)
    target = out / f"{module_name(d, name)}.py"
    refuse_to_clobber(target, force)
    write_atomic(target, render_module(d, backend), force=force)
    return target
