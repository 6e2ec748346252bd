"""How long a full loss verification takes: check_critic_loss with values and gradients, float32 and float64,
at 40 logits (the 15 extreme ones and 25 drawn). "cold" is the first check in a fresh process after the imports
(the derivation and every mpmath reference included); "warm" repeats it (references cached). The reference
measured in the same run is the cold derivation alone (a fresh process that imports fdiv and derives the same
divergence, imports excluded likewise). Wall and CPU seconds are both shown: on a shared machine the CPU time
is the steadier figure.

Run: python benchmarks/verify_speed.py [--repeats N] [--names gan,kl,...]. Prints medians, the ratio of the cold
check to the derivation alone, and whether the cold check stays under the 5 s target; exits 1 when a comparison
is not a finite number (finite.py) or a check of fdiv's own loss disagrees.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from finite import FINITE

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 5.0

VERIFY = """
import importlib, json, sys, time
start = time.perf_counter()
import torch, torch.nn.functional as F, sympy, mpmath
import fdiv, fdiv.testing as ft
imports = time.perf_counter() - start
name = sys.argv[1]
loss = importlib.import_module("fdiv.losses." + name.replace("-", "_")).critic_loss  # fdiv's generated module
if name == "gan":  # the user's usual GAN loss: torch's BCE with logits
    loss = lambda r, f: (F.binary_cross_entropy_with_logits(r, torch.ones_like(r))
                         + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f)))
out = {"imports": imports}
for key in ("cold", "warm"):
    wall, cpu = time.perf_counter(), time.process_time()
    report = ft.check_critic_loss(loss, name)
    out[key], out[key + "_cpu"] = time.perf_counter() - wall, time.process_time() - cpu
out.update(ok=report.ok, comparisons=len(report.points), logits=len(ft.default_logits()))
print(json.dumps(out))
"""

DERIVE = """
import json, sys, time
import fdiv
wall, cpu = time.perf_counter(), time.process_time()
fdiv.derive(sys.argv[1])
print(json.dumps({"derive": time.perf_counter() - wall, "derive_cpu": time.process_time() - cpu}))
"""


def child(code: str, name: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code, name], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--names", default="gan,jensen-shannon,kl,jeffrey")
    args = parser.parse_args()
    print(f"{'divergence':16} {'points':>6} {'cold wall/cpu s':>16} {'warm wall/cpu s':>16} "
          f"{'derive wall/cpu s':>18} {'cold/derive (cpu)':>17} {'imports s':>9}  cold < {TARGET_S:g} s")
    failed = False
    for name in args.names.split(","):
        runs, derives = [], []
        for _ in range(args.repeats):  # interleaved, so both see the same machine load
            runs.append(child(VERIFY, name))
            derives.append(child(DERIVE, name))
        med = lambda rows, key: statistics.median(r[key] for r in rows)
        cold, cold_cpu, warm, warm_cpu = (med(runs, k) for k in ("cold", "cold_cpu", "warm", "warm_cpu"))
        derive, derive_cpu = med(derives, "derive"), med(derives, "derive_cpu")
        ok = all(r["ok"] for r in runs)
        failed |= not ok
        ratio = FINITE.check(f"{name}: cold check cpu / derivation cpu", cold_cpu / derive_cpu)
        print(f"{name:16} {runs[0]['comparisons']:>6} {cold:8.2f}/{cold_cpu:<7.2f} {warm:8.2f}/{warm_cpu:<7.2f} "
              f"{derive:9.2f}/{derive_cpu:<8.2f} {ratio:17.2f} {med(runs, 'imports'):9.2f}  "
              f"{'yes' if cold < TARGET_S else 'NO (wall)'}{'' if ok else '  (the check disagreed!)'}")
    print(f"({runs[0]['logits']} logits, values and gradients, float32 and float64; median of {args.repeats}; "
          f"imports: torch, SymPy, fdiv in the verifying process)")
    return FINITE.exit_code(1 if failed else 0)


if __name__ == "__main__":
    sys.exit(main())
