"""critic_loss + backward: fdiv's generated modules against hand-written stable torch, naive torch and a floor.

Run: python benchmarks/losses.py [--big] [--modes eager compile] [--dtypes float32 float64] [--rows NAME ...]
                                 [--repeat 15] [--threads N] [--clock cpu|wall] [--device cpu|cuda]
                                 [--no-memory] [--profile] [--backend torch|jax]

--backend jax: the generated JAX modules, jitted, against hand-written stable jnp forms and the torch modules
(float32, 1e6 logits by default; the table and its acceptance are described in benchmarks/jax_losses.py).

Every catalogue row and the numeric-conjugate losses (f's whose f' SymPy cannot invert), in one run, for each
mode (eager; torch.compile with inductor, fullgraph, static shapes), dtype (float32, float64) and size (1e6 logits
per input; --big adds 1e7). Each implementation runs loss(v_real, v_fake).backward() once per round, `repeat` rounds, the first place rotating;
a ratio is the median over rounds of the two times within a round, so drift in machine load between rounds cancels.
Times are CPU time of a single-threaded process by default (reproducible on a shared machine). Only ratios measured
in the same run are printed:

  gen/hand   generated / hand-written stable: the best stable form a careful engineer writes for the row (below:
             softplus, and the clamped where(x < -15, x - e^x/2, log softplus(x)) for log-softplus, so values and
             gradients stay finite over the whole float range); acceptance: <= 1.10 (eager, float32, 1e6 and 1e7)
  gen/naive  generated / fdiv's own f*(sigma_f(v)) and sigma_f(v) composed as written and lambdified by SymPy's
             torch printer (overflows or NaN gradients at large logits; none where torch lacks a function)
  gen/floor  generated / the memory floor: one read of each input's logits, one write of each gradient
  gen/exp    generated / the same with one exp per logit forward and one backward (the compute floor of any loss
             with a transcendental function: once compiled on a CPU, arithmetic, not memory, bounds the losses)
  gen/row    numeric-conjugate losses only: generated / the generated closed-form loss of a similar catalogue row
             (named in the table); acceptance: <= 3
  mem        peak bytes alive during one call, generated / hand-written (eager mode; every storage an op allocates,
             from its op to its free: benchmarks/memory.py; inputs excluded, the gradients written included);
             acceptance: <= 1.5

Each hand-written reference is first checked to give finite values and gradients at the extreme logits
(+-88.7, +-1000) where the exact ones are finite, so that it is stable and not merely fast.
"""
from __future__ import annotations

import argparse
import importlib
import os
import importlib.util
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("KINETO_LOG_LEVEL", "5")  # the profiler (--profile) is otherwise chatty on stderr
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from finite import FINITE  # noqa: E402
from memory import peak_bytes  # noqa: E402

LOG2 = math.log(2.0)
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# ------------------------------------------------------------------ the hand-written stable references
def log_softplus(x):
    """log(softplus(x)), finite with a finite gradient everywhere: the series x - e^x/2 below -15, both sides
    clamped so that the branch not taken cannot produce inf * 0 = NaN in the backward pass."""
    lo, hi = x.clamp(max=-15.0), x.clamp(min=-15.0)
    return torch.where(x < -15.0, lo - torch.exp(lo) / 2, torch.log(F.softplus(hi)))


class _Omega(torch.autograd.Function):
    """W(e^x): Newton from softplus(x) (>= omega) in the input's dtype, e^x (1 - e^x) below x = -20 (exact to
    1e-17); gradient omega/(1 + omega), not through the iterations."""

    @staticmethod
    def forward(ctx, x):
        xs = x.clamp(min=-20.0)
        w = F.softplus(xs)
        for _ in range(5 if x.dtype == torch.float64 else 4):
            w = w * (1 + (xs - w - torch.log(w)) / (1 + w))
        e = torch.exp(x.clamp(max=-20.0))
        w = torch.where(x < -20.0, e - e * e, w)
        ctx.save_for_backward(w)
        return w

    @staticmethod
    def backward(ctx, g):
        (w,) = ctx.saved_tensors
        return g * w / (1 + w)


HAND: dict[str, Loss] = {
    "total-variation": lambda r, f: 0.5 * (torch.tanh(f).mean() - torch.tanh(r).mean()),
    "kl": lambda r, f: torch.exp(f - 1).mean() - r.mean(),
    "reverse-kl": lambda r, f: F.softplus(-r).mean() - log_softplus(-f).mean() - 1,
    "pearson": lambda r, f: 0.25 * F.softplus(f).square().mean() - F.softplus(r).mean() + 1,
    # f*(1 - softplus(-v)) = 2 - 2 sqrt(softplus(-v)), the square root through log-softplus (finite slope at 0)
    "neyman": lambda r, f: F.softplus(-r).mean() - 2 * torch.exp(0.5 * log_softplus(-f)).mean() + 1,
    # f*(1 - softplus(-v)) = 1/softplus(-v) - 1, as exp(-log softplus(-v)): 1/s^2 would underflow in the gradient
    "squared-hellinger": lambda r, f: torch.exp(-log_softplus(-f)).mean() + F.softplus(-r).mean() - 2,
    "jeffrey": lambda r, f: (lambda w: (w + 1 / w + f).mean() - 2 - r.mean())(_Omega.apply(1 - f)),
    "jensen-shannon": lambda r, f: F.softplus(f).mean() + F.softplus(-r).mean() - 2 * LOG2,
    # -log(2 - e^(2 sigma))/2 = (softplus(v) - softplus(-softplus(-v)) - log 2)/2: finite where softplus(-v) = 0
    "jsd": lambda r, f: 0.5 * (F.softplus(f) - F.softplus(-F.softplus(-f))).mean() + F.softplus(-r).mean() - LOG2,
    # 3/4 log(3/4) - 3/4 log(1 - y^4), y = sigmoid(v): 1 - y^4 = (1 - y)(1 + y)(1 + y^2), log(1 - y) = -softplus(v)
    "js-weighted": lambda r, f: (lambda y: 0.75 * (F.softplus(f) - torch.log1p(y) - torch.log1p(y * y)).mean())(
        torch.sigmoid(f)) + F.softplus(-r).mean() + 0.75 * math.log(0.75) - 0.25 * math.log(4.0),
    "gan": lambda r, f: F.softplus(f).mean() + F.softplus(-r).mean(),
    "alpha": lambda r, f: (2 * math.sqrt(2) / 3) * F.softplus(f).pow(1.5).mean() - F.softplus(r).mean() + 1 / 6,
    # 4 sqrt(1 - sigma) = 8 sqrt(sigmoid(-2v)) = 8 exp(logsigmoid(-2v)/2)
    "triangular": lambda r, f: 6 - 2 * (torch.tanh(f).mean() + torch.tanh(r).mean())
    - 8 * torch.exp(0.5 * F.logsigmoid(-2 * f)).mean(),
    "kl-normalised": lambda r, f: torch.expm1(f).mean() - r.mean(),
    "reverse-kl-normalised": lambda r, f: F.softplus(-r).mean() - log_softplus(-f).mean() - 1,
}

# f's whose f' SymPy cannot invert (tests/test_any_f.py): f* is a root found by the generated module
# and the catalogue rows they are compared with: the same shape of f, and for the arithmetic-geometric f (f' =
# log(1 + u) - log(u)/2 - 1/(2u) + const) also Jeffrey (f' = log u + 1 - 1/u), whose conjugate is likewise found
# by Newton steps (Wright omega), where Jensen-Shannon's is one softplus
NUMERIC = {
    "(sqrt(u)-1)**4": ("squared-hellinger",),
    "(u-1)**2 + (1-u)**2/u": ("pearson",),
    "(1+u)*log((1+u)/sqrt(u)) - (1+u)*log(2)": ("jensen-shannon", "jeffrey"),
}


class _Floor(torch.autograd.Function):
    """One read of the logits (forward), one write of the gradient (backward)."""

    @staticmethod
    def forward(ctx, x):
        ctx.shape = x.shape
        return x.sum()

    @staticmethod
    def backward(ctx, g):
        return g.expand(ctx.shape).clone()


def floor(v_real, v_fake):
    return _Floor.apply(v_real) + _Floor.apply(v_fake)


class _ExpFloor(torch.autograd.Function):
    """One read and one exp per logit forward; one read, one exp and one write backward: the least a loss with
    a transcendental function costs (compute, not memory, bounds it once compiled on a CPU)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.exp(x).sum()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return torch.exp(x) * g


def exp_floor(v_real, v_fake):
    return _ExpFloor.apply(v_real) + _ExpFloor.apply(v_fake)


# ------------------------------------------------------------------ generated and naive implementations
def _catalogue_module(name: str):
    return importlib.import_module(f"fdiv.losses.{name.replace('-', '_')}")


def _numeric_module(f: str, out: Path, i: int):
    import fdiv
    from fdiv.codegen.emit import write_module

    path = write_module(fdiv.derive(f), out, f"numeric_{i}")
    spec = importlib.util.spec_from_file_location(f"numeric_{i}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def naive(name: str) -> Loss | None:
    """fdiv's derived f* and sigma_f composed literally (the branch of f* that the critic range lies in) and
    lambdified with SymPy's torch printer: the same function as the generated loss, without stable rewriting."""
    import sympy as sp

    from fdiv.derivation.activation import V
    from fdiv.derivation.conjugate import T
    from fdiv.testing.exact import derivation

    d = derivation(name)
    conj = d.conjugate
    if isinstance(conj, sp.Piecewise):
        t0 = d.activation.subs(V, 0)
        conj = next(e for e, c in conj.args if c.subs(T, t0) in (True, sp.true))
    if conj.has(sp.LambertW) or d.numeric:
        return None
    act = sp.lambdify(V, sp.N(d.activation), "torch")
    conj_act = sp.lambdify(V, sp.N(conj.subs(T, d.activation)), "torch")

    def loss(v_real, v_fake):
        return conj_act(v_fake).mean() - act(v_real).mean()
    return loss


def hand_agrees(generated: Loss, hand: Loss) -> bool:
    """The reference computes the same loss as the generated module: values and gradients at moderate logits in
    float64 within 1e-8 (torch's softplus returns x above 20, a relative error of e^-20 = 2e-9)."""
    out = []
    for fn in (generated, hand):
        v_real = torch.linspace(-20, 20, 101, dtype=torch.float64, requires_grad=True)
        v_fake = torch.linspace(-15, 25, 101, dtype=torch.float64, requires_grad=True)
        loss = fn(v_real, v_fake)
        loss.backward()
        out.append(torch.cat([loss.detach().reshape(1), v_real.grad, v_fake.grad]))
    return torch.allclose(out[0], out[1], rtol=1e-8, atol=1e-8)


def hand_is_stable(name: str, hand: Loss) -> bool:
    """Finite value and gradients at the extreme logits, in both dtypes (the exact ones are finite there for every
    row at +-88.7 in float32 except where f* itself overflows, which the real and fake sides below avoid)."""
    for dtype in (torch.float32, torch.float64):
        big = 88.7 if dtype == torch.float32 else 700.0
        v_real = torch.tensor([-1e3, -big, 0.0, big, 1e3], dtype=dtype, requires_grad=True)
        v_fake = torch.tensor([-1e3, -big, 0.0, 20.0, 30.0], dtype=dtype, requires_grad=True)
        loss = hand(v_real, v_fake)
        loss.backward()
        if not (torch.isfinite(loss) and torch.isfinite(v_real.grad).all() and torch.isfinite(v_fake.grad).all()):
            return False
    return True


# ------------------------------------------------------------------ measurement
CLOCK = time.process_time


def timed(fn: Loss, v_real, v_fake, sync) -> float:
    v_real.grad = v_fake.grad = None
    sync()
    start = CLOCK()
    fn(v_real, v_fake).backward()
    sync()
    return CLOCK() - start


def round_times(impls: dict[str, Loss], v_real, v_fake, sync, repeat: int) -> dict[str, list[float]]:
    """Per implementation, one time per round; all implementations run once per round, in rotating order."""
    times: dict[str, list[float]] = {k: [] for k in impls}
    for k, fn in impls.items():  # warm-up (and compilation)
        for _ in range(2):
            timed(fn, v_real, v_fake, sync)
    order = list(impls)
    for r in range(repeat):  # rotate who goes first: caches and allocator state favour no one
        for k in order[r % len(order):] + order[:r % len(order)]:
            times[k].append(timed(impls[k], v_real, v_fake, sync))
    return times


def median_ratio(times: dict[str, list[float]], a: str, b: str) -> float | None:
    """The median over rounds of time(a) / time(b) within a round: drift in machine load between rounds cancels."""
    if a not in times or b not in times:
        return None
    return statistics.median(x / y for x, y in zip(times[a], times[b]))


def profile_table(fn: Loss, v_real, v_fake, rows: int = 8) -> str:
    """The ops one call runs (forward and backward), by self CPU time: what bounds a row."""
    from torch.profiler import ProfilerActivity, profile

    v_real.grad = v_fake.grad = None
    fn(v_real, v_fake).backward()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                v_real.grad = v_fake.grad = None
                fn(v_real, v_fake).backward()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def fmt(x: float | None) -> str:
    return f"{x:6.2f}" if x is not None else f"{'-':>6}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", action="store_true", help="add 1e7 logits per input")
    parser.add_argument("--sizes", type=float, nargs="+", default=None)
    parser.add_argument("--modes", nargs="+", default=["eager", "compile"], choices=["eager", "compile"])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    parser.add_argument("--rows", nargs="+", default=None, help="catalogue names or numeric f's (default: all)")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (0: torch's default)")
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                        help="CPU time of this process (default: robust on a shared machine) or wall time")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="also print the ops of one call of the generated and hand-written loss per row")
    parser.add_argument("--backend", choices=["torch", "jax"], default="torch",
                        help="jax: jitted generated JAX modules against hand-written jnp forms and the torch modules")
    args = parser.parse_args()
    global CLOCK
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.clock == "wall" or args.device != "cpu":
        CLOCK = time.perf_counter
    sizes = [int(s) for s in (args.sizes or ([1e6, 1e7] if args.big else [1e6]))]
    if args.backend == "jax":
        import jax_losses

        args.sizes = sizes
        if "--dtypes" not in sys.argv:
            args.dtypes = ["float32"]
        return jax_losses.run(args, lambda row: _catalogue_module(row).critic_loss, HAND)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    from fdiv.spec import catalogue

    rows = args.rows or [*catalogue.names(), *NUMERIC]
    tmp = tempfile.TemporaryDirectory()
    generated, hand, naive_fn, similar = {}, {}, {}, {}
    for i, row in enumerate(rows):
        if row in NUMERIC:
            generated[row] = _numeric_module(row, Path(tmp.name), i).critic_loss
            similar[row] = NUMERIC[row]
            for other in similar[row]:
                if other not in generated:
                    generated[other] = _catalogue_module(other).critic_loss
        else:
            generated[row] = _catalogue_module(row).critic_loss
            hand[row] = HAND[row]
            naive_fn[row] = naive(row)
    unstable = [r for r, h in hand.items() if not hand_is_stable(r, h)]
    differ = [r for r, h in hand.items() if not hand_agrees(generated[r], h)]
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, "
          f"{'CPU' if CLOCK is time.process_time else 'wall'} time, median of {args.repeat} "
          f"interleaved calls of critic_loss(v_real, v_fake).backward(), v ~ 3 N(0, 1)")
    for r in unstable:  # a reference that is not finite where the exact loss is cannot be compared with
        FINITE.check(f"hand-written {r} at the extreme logits", math.inf)
    if unstable:
        print(f"warning: hand-written references not finite at the extreme logits: {', '.join(unstable)}")
    if differ:
        print(f"warning: hand-written references differ from the generated losses: {', '.join(differ)}")
    header = (f"{'row':42} {'mode':7} {'dtype':7} {'n':>5} {'gen/hand':>8} {'gen/naive':>9} {'gen/floor':>9} "
              f"{'gen/exp':>7} {'gen/row':>7} {'mem':>5}")
    print(header)
    worst: dict[tuple, float] = {}
    worst_numeric: dict[tuple, float] = {}
    gen = torch.Generator().manual_seed(0)
    for mode in args.modes:
        compiled: dict[tuple[str, str], Loss] = {}

        def impl(kind: str, row: str, fn: Loss) -> Loss:
            if mode == "eager":
                return fn
            if (kind, row) not in compiled:
                compiled[kind, row] = torch.compile(fn, fullgraph=True, dynamic=False)
            return compiled[kind, row]

        torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
        for dtype_name in args.dtypes:
            dtype = getattr(torch, dtype_name)
            for n in sizes:
                v_real = (torch.randn(n, generator=gen, dtype=dtype) * 3).to(device).requires_grad_()
                v_fake = (torch.randn(n, generator=gen, dtype=dtype) * 3).to(device).requires_grad_()
                for row in rows:
                    impls = {"gen": impl("gen", row, generated[row]), "floor": impl("floor", "", floor),
                             "exp": impl("exp", "", exp_floor)}
                    if row in hand:
                        impls["hand"] = impl("hand", row, hand[row])
                    if naive_fn.get(row) is not None and mode == "eager":
                        impls["naive"] = naive_fn[row]
                    for other in similar.get(row, ()):
                        impls[f"row {other}"] = impl("gen", other, generated[other])
                    times = round_times(impls, v_real, v_fake, sync, args.repeat)
                    for kind, fn in impls.items():  # what was timed computed numbers (naive may overflow: that
                        if kind == "naive":           # is why it is naive; only its time is compared)
                            continue
                        FINITE.check(f"{kind} loss of {row} ({mode}, {dtype_name}, n = {n:.0e})",
                                     float(fn(v_real, v_fake).detach()))
                    mem = "-"
                    if "hand" in impls and not args.no_memory and device.type == "cpu" and mode == "eager":
                        m = peak_bytes(impls["gen"], v_real, v_fake) / max(peak_bytes(impls["hand"], v_real, v_fake), 1)
                        mem = f"{m:5.2f}"
                    r = {k: median_ratio(times, "gen", k) for k in ("hand", "naive", "floor", "exp")}
                    for k, value in r.items():
                        if value is not None:
                            FINITE.check(f"gen/{k} of {row} ({mode}, {dtype_name}, n = {n:.0e})", value)
                    for other in similar.get(row, (None,)):  # one line per similar row
                        label = row if other is None else f"{row} (row: {other})"
                        rel = None if other is None else median_ratio(times, "gen", f"row {other}")
                        print(f"{label:42} {mode:7} {dtype_name:7} {n:5.0e} {fmt(r['hand']):>8} {fmt(r['naive']):>9} "
                              f"{fmt(r['floor']):>9} {fmt(r['exp']):>7} {fmt(rel):>7} {mem:>5}", flush=True)
                        if other is not None:
                            worst_numeric[row, other, mode, dtype_name, n] = rel
                    if args.profile:
                        for kind in ("gen", "hand"):
                            if kind in impls:
                                print(f"-- {kind} ({row}, {mode}, {dtype_name}, n = {n:.0e})")
                                print(profile_table(impls[kind], v_real, v_fake))
                    if mode == "eager" and dtype_name == "float32" and r["hand"] is not None:
                        worst[row, n] = r["hand"]
    eager = {k: v for k, v in worst_numeric.items() if k[2] == "eager" and v is not None}
    if eager:
        (row, other, _, dtype_name, n), value = max(eager.items(), key=lambda x: x[1])
        print(f"worst eager numeric-conjugate gen/row: {value:.2f} ({row} against {other}, {dtype_name}, n = {n:.0e})")
    if worst:
        (row, n), value = max(worst.items(), key=lambda x: x[1])
        print(f"worst eager float32 gen/hand: {value:.2f} ({row}, n = {n:.0e})")
    tmp.cleanup()
    return FINITE.exit_code()


if __name__ == "__main__":
    sys.exit(main())
