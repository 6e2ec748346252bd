"""Time `fdiv derive --all` from a cold process, against a cold `import sympy` measured in the same run.

Run: python benchmarks/derive_all.py [--repeat N]. Prints the median wall time of each and their ratio; the
acceptance target is derive --all < 10 s on a 2-core machine.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from finite import FINITE  # noqa: E402


def wall(cmd: list[str]) -> float:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env, cwd=ROOT)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    repeat = parser.parse_args().repeat
    ref = [wall([sys.executable, "-c", "import sympy"]) for _ in range(repeat)]
    full = [wall([sys.executable, "-m", "fdiv", "derive", "--all"]) for _ in range(repeat)]
    r, f = statistics.median(ref), statistics.median(full)
    print(f"cores: {os.cpu_count()}")
    print(f"cold import sympy             median {r:6.2f} s  ({', '.join(f'{x:.2f}' for x in ref)})")
    print(f"cold fdiv derive --all        median {f:6.2f} s  ({', '.join(f'{x:.2f}' for x in full)})")
    print(f"ratio derive --all / import   {FINITE.check('derive --all / import', f / r):6.1f}x")
    print(f"target < 10 s: {'met' if f < 10 else 'MISSED'}")
    return FINITE.exit_code()


if __name__ == "__main__":
    sys.exit(main())
