"""`python benchmarks/losses.py --backend jax`: the generated JAX modules (fdiv.losses_jax), jitted, against the
hand-written stable jnp forms (jax_forms.py) and against the torch modules, every catalogue row, one run.

Each implementation computes the critic loss and its gradients with respect to both inputs once per round:
JAX as jax.jit(jax.value_and_grad(critic_loss, argnums=(0, 1))) with jax.block_until_ready on the result (compiled
in the warm-up), torch as critic_loss(v_real, v_fake).backward() (eager). `repeat` rounds, the first place
rotating; a ratio is the median over rounds of the two times within a round. CPU time of the process, XLA and torch
each on one thread (--threads 0: their defaults, then use --clock wall):

  jit/hand   generated JAX / hand-written jnp form, both jitted; acceptance: <= 1.5 for every row (the last line
             names the rows that miss it; as in the torch table, only a non-finite comparison fails the run)
  jit/torch  generated JAX (jitted) / generated torch module (eager)
  hand/torch hand-written jnp form (jitted) / the hand-written stable torch form of benchmarks/losses.py (eager)

Before timing, every JAX implementation is checked against the torch module: float64 values and gradients at
moderate logits within 1e-8 (as the torch references are), and finite at the extreme logits in both dtypes.
"""
from __future__ import annotations

import importlib
import math
import os
import statistics
import time
from collections.abc import Callable

import numpy as np

from finite import FINITE

ACCEPT = 1.5


def _xla_threads(threads: int) -> None:
    """One XLA CPU thread (as torch gets one), set before jax is imported."""
    if threads == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        if "intra_op_parallelism_threads" not in flags:
            os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false "
                                       "intra_op_parallelism_threads=1").strip()


def generated_jax(name: str):
    """fdiv.losses_jax.<row>.critic_loss, or None when this checkout has no JAX module for the row."""
    try:
        return importlib.import_module(f"fdiv.losses_jax.{name.replace('-', '_')}").critic_loss
    except ModuleNotFoundError:
        return None


def _jax_values(fn, v_real: np.ndarray, v_fake: np.ndarray) -> np.ndarray:
    import jax

    with jax.enable_x64(v_real.dtype == np.float64):
        value, (gr, gf) = jax.jit(jax.value_and_grad(fn, argnums=(0, 1)))(v_real, v_fake)
        return np.concatenate([np.asarray(value, dtype=np.float64).reshape(1), np.asarray(gr, np.float64),
                               np.asarray(gf, np.float64)])


def _torch_values(fn, v_real: np.ndarray, v_fake: np.ndarray) -> np.ndarray:
    import torch

    r = torch.tensor(v_real, requires_grad=True)
    f = torch.tensor(v_fake, requires_grad=True)
    loss = fn(r, f)
    loss.backward()
    return torch.cat([loss.detach().reshape(1), r.grad, f.grad]).double().numpy()


def agrees_with_torch(fn, torch_fn) -> bool:
    """Values and gradients at moderate logits in float64 within 1e-8 of the torch module's (torch's softplus
    returns x above 20, a relative error of e^-20 = 2e-9)."""
    v_real = np.linspace(-20, 20, 101)
    v_fake = np.linspace(-15, 25, 101)
    return bool(np.allclose(_jax_values(fn, v_real, v_fake), _torch_values(torch_fn, v_real, v_fake),
                            rtol=1e-8, atol=1e-8))


def is_stable(fn) -> bool:
    """Finite value and gradients at the extreme logits in both dtypes (benchmarks/losses.py's hand_is_stable)."""
    for dtype, big in ((np.float32, 88.7), (np.float64, 700.0)):
        v_real = np.array([-1e3, -big, 0.0, big, 1e3], dtype=dtype)
        v_fake = np.array([-1e3, -big, 0.0, 20.0, 30.0], dtype=dtype)
        if not np.isfinite(_jax_values(fn, v_real, v_fake)).all():
            return False
    return True


def _timers(clock) -> tuple[Callable, Callable]:
    import jax

    def jax_timer(step, v_real, v_fake) -> float:
        start = clock()
        jax.block_until_ready(step(v_real, v_fake))
        return clock() - start

    def torch_timer(loss, v_real, v_fake) -> float:
        v_real.grad = v_fake.grad = None
        start = clock()
        loss(v_real, v_fake).backward()
        return clock() - start

    return jax_timer, torch_timer


def run(args, torch_generated: Callable[[str], Callable], torch_hand: dict[str, Callable]) -> int:
    """The JAX table (see the module notes); args: benchmarks/losses.py's, of which rows, dtypes, sizes, repeat,
    threads and clock apply."""
    _xla_threads(args.threads)
    import jax
    import jax.numpy as jnp
    import torch

    from fdiv.spec import catalogue
    from jax_forms import FORMS

    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    rows = [r for r in (args.rows or catalogue.names()) if r in catalogue.names()]
    skipped = [r for r in (args.rows or []) if r not in catalogue.names()]
    if skipped:
        print(f"note: not catalogue rows (the JAX table has only those): {', '.join(skipped)}")
    gen = {r: generated_jax(r) for r in rows}
    missing = [r for r in rows if gen[r] is None]
    tgen = {r: torch_generated(r) for r in rows}
    bad = [f"hand-written {r}" for r in rows if not (agrees_with_torch(FORMS[r], tgen[r]) and is_stable(FORMS[r]))]
    bad += [f"generated {r}" for r in rows if gen[r] is not None
            and not (agrees_with_torch(gen[r], tgen[r]) and is_stable(gen[r]))]
    for what in bad:  # a form that computes something else, or overflows, cannot be compared with
        FINITE.check(f"{what} JAX loss against the torch module", math.inf)
    print(f"jax {jax.__version__}, torch {torch.__version__}, CPU, {'one thread each' if args.threads == 1 else 'default threads'}, "
          f"{'CPU' if clock is time.process_time else 'wall'} time, median of {args.repeat} interleaved rounds; JAX: "
          f"jit(value_and_grad(critic_loss)) + block_until_ready, torch: critic_loss(...).backward() eager; "
          f"v ~ 3 N(0, 1)")
    if missing:
        print(f"note: no generated JAX module (fdiv.losses_jax) for {', '.join(missing)}: jit/hand and jit/torch "
              f"are not measured there")
    if bad:
        print(f"warning: not the torch module's loss, or not finite at the extreme logits: {', '.join(bad)}")
    print(f"{'row':24} {'dtype':7} {'n':>5} {'jit/hand':>8} {'jit/torch':>9} {'hand/torch':>10}")
    jax_timer, torch_timer = _timers(clock)
    rng = np.random.default_rng(0)
    worst: dict[tuple, float] = {}
    for dtype_name in args.dtypes:
        np_dtype = np.dtype(dtype_name)
        with jax.enable_x64(np_dtype == np.float64):
            for n in args.sizes:
                r_np = (rng.standard_normal(n) * 3).astype(np_dtype)
                f_np = (rng.standard_normal(n) * 3).astype(np_dtype)
                vr_j, vf_j = jnp.asarray(r_np), jnp.asarray(f_np)
                vr_t = torch.tensor(r_np, requires_grad=True)
                vf_t = torch.tensor(f_np, requires_grad=True)
                for row in rows:
                    impls: dict[str, tuple[Callable, Callable, tuple]] = {
                        "hand": (jax_timer, jax.jit(jax.value_and_grad(FORMS[row], argnums=(0, 1))), (vr_j, vf_j)),
                        "torch": (torch_timer, tgen[row], (vr_t, vf_t)),
                        "torch hand": (torch_timer, torch_hand[row], (vr_t, vf_t))}
                    if gen[row] is not None:
                        impls["jit"] = (jax_timer, jax.jit(jax.value_and_grad(gen[row], argnums=(0, 1))),
                                        (vr_j, vf_j))
                    times = _round_times(impls, args.repeat)
                    for kind in ("jit", "hand"):
                        if kind in impls:
                            value = impls[kind][1](vr_j, vf_j)[0]
                            FINITE.check(f"{kind} JAX loss of {row} ({dtype_name}, n = {n:.0e})", float(value))
                    ratios = {"jit/hand": _ratio(times, "jit", "hand"), "jit/torch": _ratio(times, "jit", "torch"),
                              "hand/torch": _ratio(times, "hand", "torch hand")}
                    for k, value in ratios.items():
                        if value is not None:
                            FINITE.check(f"{k} of {row} ({dtype_name}, n = {n:.0e})", value)
                    print(f"{row:24} {dtype_name:7} {n:5.0e} {_fmt(ratios['jit/hand']):>8} "
                          f"{_fmt(ratios['jit/torch']):>9} {_fmt(ratios['hand/torch']):>10}", flush=True)
                    if ratios["jit/hand"] is not None:
                        worst[row, dtype_name, n] = ratios["jit/hand"]
    if worst:
        (row, dtype_name, n), value = max(worst.items(), key=lambda x: x[1])
        over = sorted({k[0] for k, v in worst.items() if v > ACCEPT})
        print(f"worst jit/hand: {value:.2f} ({row}, {dtype_name}, n = {n:.0e}); acceptance <= {ACCEPT}: "
              + ("met for every row" if not over else f"missed by {', '.join(over)}"))
    return FINITE.exit_code()


def _round_times(impls: dict, repeat: int) -> dict[str, list[float]]:
    for timer, fn, inputs in impls.values():  # warm-up: compilation, allocator
        for _ in range(2):
            timer(fn, *inputs)
    times: dict[str, list[float]] = {k: [] for k in impls}
    order = list(impls)
    for r in range(repeat):
        for k in order[r % len(order):] + order[:r % len(order)]:
            timer, fn, inputs = impls[k]
            times[k].append(timer(fn, *inputs))
    return times


def _ratio(times: dict[str, list[float]], a: str, b: str) -> float | None:
    if a not in times or b not in times:
        return None
    return statistics.median(x / y for x, y in zip(times[a], times[b]))


def _fmt(x: float | None) -> str:
    return f"{x:.2f}" if x is not None else "-"
