"""torch.compile(fullgraph=True) with the inductor backend on every generated catalogue module.

Run: python benchmarks/compile_check.py [--device cpu|cuda] [--n 1000000]

For each module: every public function compiles with fullgraph=True (a graph break is an error, exit 1);
values and gradients on logits in [-30, 30] are compared with eager mode (normwise relative difference:
max |compiled - eager| / max |eager|; above 1e-4, or any value or gradient finite in one mode only, is an error,
exit 1); critic_loss + backward on n float32 logits is timed compiled against eager in the same run (median of
15). The tests check fullgraph capture on CPU with the aot_eager backend, which needs no C compiler.
"""
from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time

import torch

from fdiv.spec import catalogue
from finite import FINITE

FUNCTIONS = ("activation", "conjugate", "conjugate_of_activation", "density_ratio", "critic_loss")
#: Normwise relative difference allowed between compiled and eager float32 results: a reassociated sum of the
#: critic loss's 241 terms and vectorised exp/log differ by a few hundred eps at most; a value that is finite in one
#: mode and not in the other is never allowed.
TOLERANCE = 1e-4


def rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """Normwise: max |a - b| / max |b| over the finite entries (inf where finiteness differs, or the infinities'
    signs do)."""
    both = torch.isfinite(a) & torch.isfinite(b)
    if not torch.equal(torch.isfinite(a), torch.isfinite(b)) or not torch.equal(a[~both], b[~both]):
        return float("inf")
    if not both.any():
        return 0.0
    scale = b[both].abs().max().clamp(min=torch.finfo(b.dtype).tiny)
    return ((a[both] - b[both]).abs().max() / scale).item()


def row(name: str, worst: list[float], eager_t: float, comp_t: float) -> str:
    """One module's line; a non-finite difference (compiled and eager disagree on where the values or gradients
    are finite: rel_diff gives inf) or ratio is recorded, and fails the run."""
    return (f"{name:24} {FINITE.check(f'{name} value vs eager', worst[0]):20.1e} "
            f"{FINITE.check(f'{name} gradient vs eager', worst[1]):19.1e} {eager_t * 1e3:8.2f}ms "
            f"{comp_t * 1e3:8.2f}ms {FINITE.check(f'{name} time ratio', comp_t / eager_t):6.2f}")


def median_time(fn, v_real, v_fake, sync, repeat=15) -> float:
    out = []
    for _ in range(repeat + 2):
        v_real.grad = v_fake.grad = None
        sync()
        start = time.perf_counter()
        fn(v_real, v_fake).backward()
        sync()
        out.append(time.perf_counter() - start)
    return statistics.median(out[2:])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n", type=float, default=1e6)
    args = parser.parse_args()
    device, n = torch.device(args.device), int(args.n)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    print(f"torch {torch.__version__}, device {device}, inductor, fullgraph=True")
    print(f"{'module':24} {'max rel diff (value, grad) vs eager':>40} {'eager':>10} {'compiled':>10} {'ratio':>6}")
    failed = 0
    gen = torch.Generator().manual_seed(0)
    v_real = (torch.randn(n, generator=gen) * 3).to(device).requires_grad_()
    v_fake = (torch.randn(n, generator=gen) * 3).to(device).requires_grad_()
    for name in catalogue.names():
        module = importlib.import_module(f"fdiv.losses.{name.replace('-', '_')}")
        worst = [0.0, 0.0]
        try:
            for fn_name in FUNCTIONS:
                fn = getattr(module, fn_name)
                compiled = torch.compile(fn, fullgraph=True)
                grid = torch.linspace(-30, 30, 241, dtype=torch.float32, device=device)
                if fn_name == "conjugate":  # inside dom f*: f*(sigma(v))'s argument
                    grid = module.activation(grid)
                inputs = (grid, 0.5 * grid.flip(0) + 1) if fn_name == "critic_loss" else (grid,)  # no exact cancellation
                results = []
                for f in (fn, compiled):
                    xs = [x.clone().requires_grad_() for x in inputs]
                    y = f(*xs)
                    y.sum().backward()
                    results.append((y.detach(), xs[0].grad))
                (y0, g0), (y1, g1) = results
                worst = [max(worst[0], rel_diff(y1, y0)), max(worst[1], rel_diff(g1, g0))]
            compiled_loss = torch.compile(module.critic_loss, fullgraph=True)
            eager_t = median_time(module.critic_loss, v_real, v_fake, sync)
            comp_t = median_time(compiled_loss, v_real, v_fake, sync)
        except Exception as exc:  # a graph break under fullgraph=True, or a compile error
            failed += 1
            print(f"{name:24} FAILED: {type(exc).__name__}: {str(exc).splitlines()[0]}")
            continue
        verdict = ""
        if not max(worst) <= TOLERANCE:  # inf (a value finite in one mode only) or NaN fails too
            failed += 1
            verdict = f"  FAILED: compiled and eager differ (tolerance {TOLERANCE:g})"
        print(row(name, worst, eager_t, comp_t) + verdict)
    print(f"{len(catalogue.names()) - failed} of {len(catalogue.names())} modules compile with fullgraph=True and agree "
          "with eager mode")
    return FINITE.exit_code(1 if failed else 0)


if __name__ == "__main__":
    sys.exit(main())
