"""fdiv's own CPU time per Gaussian check at the default max_dim (2048), as `fdiv verify` reports it (the function
under test runs in a child process, so its time is not counted; the JSON gives both), for `fdiv verify fid` and
`fdiv verify gaussian-divergence --against kl` with an agreeing function and with a wrong one (which adds the
diagnosis). The reference measured in the same run: one full closed-form KL at d = 2048 (numerics.gaussian, the
O(d^3) Cholesky route the d = 2048 case used before its shared eigenbasis), in a fresh process.

Run: python benchmarks/verify_gaussian_speed.py [--repeats N]. Prints medians and whether fdiv's CPU per check
stays under the 2 s target; exits 1 when a comparison is not a finite number (finite.py) or a check misses the
target or gives the wrong outcome.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from finite import FINITE

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 2.0

USER = '''
import numpy as np
from numerics import gaussian as g


def kl(mp, cp, mq, cq):
    return float(g.kl(g.gaussian(mp, cp), g.gaussian(mq, cq)))


def kl_wrong(mp, cp, mq, cq):
    return 2 * kl(mp, cp, mq, cq)


def fid(mp, cp, mq, cq):
    return g.frechet_distance(mp, cp, mq, cq)


def fid_wrong(mp, cp, mq, cq):
    return fid(mp, cp, mq, cq) + 1.0
'''

REFERENCE = """
import json, time
import numpy as np
from numerics import gaussian as g
from fdiv.testing.gaussians import gaussian_cases
case = [c for c in gaussian_cases() if c.dim == 2048][0]
cpu = time.process_time()
g.kl(g.gaussian(case.mean_p, case.cov_p), g.gaussian(case.mean_q, case.cov_q))
print(json.dumps({"cpu": time.process_time() - cpu}))
"""


def cli(args: list[str]) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-m", "fdiv", "verify", *args, "--format", "json"], capture_output=True,
                         text=True, env=env)
    return json.loads(out.stdout)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        user = Path(tmp) / "user.py"
        user.write_text(USER)
        runs = {"fid (agrees)": ["fid", f"{user}:fid"], "fid (wrong, diagnosed)": ["fid", f"{user}:fid_wrong"],
                "kl (agrees)": ["gaussian-divergence", f"{user}:kl", "--against", "kl"],
                "kl (wrong, diagnosed)": ["gaussian-divergence", f"{user}:kl_wrong", "--against", "kl"]}
        expected = {"fid (agrees)": "agree", "fid (wrong, diagnosed)": "wrong", "kl (agrees)": "agree",
                    "kl (wrong, diagnosed)": "wrong"}
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        refs = []
        rows: dict[str, list[dict]] = {k: [] for k in runs}
        for _ in range(args.repeats):  # interleaved, so both see the same machine load
            for name, argv in runs.items():
                rows[name].append(cli(argv))
            refs.append(json.loads(subprocess.run([sys.executable, "-c", REFERENCE], capture_output=True, text=True,
                                                  env=env, check=True).stdout)["cpu"])
    ref = statistics.median(refs)
    print(f"reference: one full closed-form KL at d = 2048, {ref:.2f} s CPU (median of {args.repeats})")
    print(f"{'check':26} {'outcome':8} {'fdiv cpu s':>10} {'function cpu s':>14} {'fdiv/ref':>8}  fdiv < {TARGET_S:g} s")
    failed = False
    for name, rs in rows.items():
        own = statistics.median(r["cpu_seconds"]["fdiv"] for r in rs)
        fn = statistics.median(r["cpu_seconds"]["function"] for r in rs)
        ratio = FINITE.check(f"{name}: fdiv cpu / reference", own / ref)
        fast = own < TARGET_S
        failed |= not fast or any(r["outcome"] != expected[name] for r in rs)
        print(f"{name:26} {rs[0]['outcome']:8} {own:10.2f} {fn:14.2f} {ratio:8.2f}  {'yes' if fast else 'NO'}")
    return FINITE.exit_code(1 if failed else 0)


if __name__ == "__main__":
    sys.exit(main())
