"""Hot paths of numerics/, each timed against a reference measured in the same run (medians of interleaved
repeats, CPU time of this process and wall time):

1. a warm closed form, numerics.closed_forms.divergence('kl', ...), against the bare 1-D KL formula in plain
   Python (target: < 1 ms per call, i.e. no derivation on the call path);
2. Monte Carlo D_f given a name against the same call given a derivation object (target: the same samples/s:
   the name is resolved once, not re-derived per call), and against re-deriving per call (what it cost before);
3. multivariate KL at d = 1024, float64, against torch.distributions.kl_divergence on MultivariateNormal with
   the same Cholesky factors (target: <= 1.1x), plus a near-equal pair, which takes the cancellation-free path.

Run: python benchmarks/numerics_hot_paths.py [--repeat N] [--dim D]
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fdiv.derive import derive  # noqa: E402
from numerics import gaussian as g  # noqa: E402
from numerics import montecarlo as mc  # noqa: E402
from numerics.closed_forms import divergence  # noqa: E402

from finite import FINITE  # noqa: E402


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(CPU seconds of this process, wall seconds) of one call."""
    c, w = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - c, time.perf_counter() - w


def interleaved(fns: dict[str, Callable[[], object]], repeat: int, inner: int = 1) -> dict[str, tuple[float, float]]:
    """Median (CPU, wall) seconds per call of each function, the functions run in turn `repeat` times."""
    samples: dict[str, list[tuple[float, float]]] = {k: [] for k in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            cpu, wall = timed(lambda: [fn() for _ in range(inner)])
            samples[name].append((cpu / inner, wall / inner))
    return {k: (statistics.median(c for c, _ in v), statistics.median(w for _, w in v)) for k, v in samples.items()}


def bare_kl(p: tuple[float, float], q: tuple[float, float]) -> float:
    (m1, v1), (m2, v2) = p, q
    r = v1 / v2
    return 0.5 * (r - 1 - math.log(r) + (m1 - m2) ** 2 / v2)


def random_cov(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.normal(size=(d, d))
    return a @ a.T / d + np.eye(d)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--dim", type=int, default=1024)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, numpy {np.__version__}")

    # 1. warm closed form against the bare formula
    p, q = (0.0, 1.0), (1.0, 2.0)
    cold = timed(lambda: divergence("kl", p, q))
    t = interleaved({"divergence": lambda: divergence("kl", p, q), "bare": lambda: bare_kl(p, q)}, args.repeat, 200)
    print(f"\n1. closed form, first call {cold[0] * 1e3:.2f} ms CPU")
    print(f"   warm divergence('kl')    {t['divergence'][0] * 1e6:8.1f} us CPU  {t['divergence'][1] * 1e6:8.1f} us wall")
    print(f"   bare formula (Python)    {t['bare'][0] * 1e6:8.1f} us CPU  {t['bare'][1] * 1e6:8.1f} us wall")
    print(f"   ratio {FINITE.check('warm closed form / bare', t['divergence'][0] / t['bare'][0]):.1f}x; target < 1 ms: "
          f"{'met' if t['divergence'][0] < 1e-3 else 'MISSED'}")

    # 2. Monte Carlo by name against by derivation (and re-deriving per call, the old cost)
    gp, gq = g.gaussian([0.0, 0.0], np.eye(2)), g.gaussian([0.5, 0.0], 2 * np.eye(2))
    n = 100_000
    d = derive("kl")
    mc.f_divergence("kl", gp, gq, n=n)  # warm the memo
    t = interleaved({"name": lambda: mc.f_divergence("kl", gp, gq, n=n),
                     "derivation": lambda: mc.f_divergence(d, gp, gq, n=n),
                     "re-derive": lambda: mc.f_divergence(derive("kl"), gp, gq, n=n)}, args.repeat)
    rate = {k: FINITE.check(f"Monte Carlo rate {k}", n / v[0]) for k, v in t.items()}
    print(f"\n2. Monte Carlo D_f, n = {n}, d = 2 (samples/s, CPU)")
    for k in t:
        print(f"   {k:<12} {rate[k] / 1e6:8.2f} M/s")
    print(f"   by name / by derivation: {rate['name'] / rate['derivation']:.2f} (1 = no re-derivation); "
          f"by name / re-deriving per call: {rate['name'] / rate['re-derive']:.1f}x")

    # 3. multivariate KL against torch at d = dim, float64, same inputs
    rng = np.random.default_rng(0)
    dim = args.dim
    sp_, sq = random_cov(rng, dim), random_cov(rng, dim)
    mp, mq = rng.normal(size=dim), rng.normal(size=dim)
    P, Q = g.gaussian(mp, sp_), g.gaussian(mq, sq)
    tP = torch.distributions.MultivariateNormal(torch.as_tensor(mp), scale_tril=torch.as_tensor(P.chol))
    tQ = torch.distributions.MultivariateNormal(torch.as_tensor(mq), scale_tril=torch.as_tensor(Q.chol))
    ours, theirs = float(g.kl(P, Q)), float(torch.distributions.kl_divergence(tP, tQ))
    FINITE.check("multivariate KL (numerics) - KL (torch)", ours - theirs)
    t = interleaved({"numerics": lambda: g.kl(P, Q), "torch": lambda: torch.distributions.kl_divergence(tP, tQ)},
                    args.repeat)
    print(f"\n3. multivariate KL, d = {dim}, float64 (values {ours:.12g} and {theirs:.12g})")
    for k, (c, w) in t.items():
        print(f"   {k:<9} {c * 1e3:8.1f} ms CPU  {w * 1e3:8.1f} ms wall")
    cpu_ratio = FINITE.check("KL numerics / torch, CPU", t["numerics"][0] / t["torch"][0])
    wall_ratio = FINITE.check("KL numerics / torch, wall", t["numerics"][1] / t["torch"][1])
    print(f"   ratio numerics / torch: {cpu_ratio:.2f} CPU, {wall_ratio:.2f} wall; target <= 1.1: "
          f"{'met' if max(cpu_ratio, wall_ratio) <= 1.1 else 'MISSED'}")

    near = g.gaussian(mq, sq + 1e-9 * np.eye(dim))
    t = interleaved({"numerics": lambda: g.kl(near, Q), "torch": lambda: torch.distributions.kl_divergence(
        torch.distributions.MultivariateNormal(torch.as_tensor(mq), scale_tril=torch.as_tensor(near.chol)), tQ)},
        max(3, args.repeat // 3))
    print(f"   near-equal pair (Sp = Sq + 1e-9 I, the cancellation-free path: a second Cholesky, of the difference): "
          f"{FINITE.check('near-equal KL numerics / torch', t['numerics'][0] / t['torch'][0]):.1f}x torch CPU")
    FINITE.check("near-equal KL", float(g.kl(near, Q)))
    return FINITE.exit_code()


if __name__ == "__main__":
    sys.exit(main())
