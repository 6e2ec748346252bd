"""How long the CLI takes to reject bad input: every bad-argument case of tests/test_cli.py and a few more, each
in a fresh interpreter, CPU seconds (user + system of the child, so the machine's load does not count), against
the bare interpreter start and `import sympy` measured in the same run.

    python benchmarks/cli_errors.py [--repeat 3]

Arguments are checked before SymPy or torch load, so most cases cost about one interpreter start; a case that
must parse an expression pays for SymPy's import. The target is < 1 s for every case.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_cli import BAD  # noqa: E402

EXTRA = {
    "missing -o directory": ["gen", "kl", "-o", "/nonexistent/dir"],
    "zero variance": ["gauss", "kl", "--p", "0,0", "--q", "0,1"],
    "bad --time-limit": ["derive", "kl", "--time-limit", "inf"],
    "shadowing --name": ["gen", "kl", "--name", "torch", "-o", "."],
}


def cpu_seconds(argv: list[str]) -> tuple[float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), result.returncode


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    python = [sys.executable]
    ref_start = statistics.median(cpu_seconds(python + ["-c", "pass"])[0] for _ in range(args.repeat))
    ref_sympy = statistics.median(cpu_seconds(python + ["-c", "import sympy"])[0] for _ in range(args.repeat))
    print(f"interpreter start: {ref_start:.3f} s CPU; import sympy: {ref_sympy:.3f} s CPU")
    print(f"{'case':34} {'CPU s':>7} {'/ start':>8} {'/ sympy':>8}  exit")
    worst = 0.0
    for name, argv in {**BAD, **EXTRA}.items():
        times, codes = zip(*(cpu_seconds(python + ["-m", "fdiv", *argv]) for _ in range(args.repeat)))
        t = statistics.median(times)
        worst = max(worst, t)
        print(f"{name[:34]:34} {t:7.3f} {t / ref_start:8.2f} {t / ref_sympy:8.2f}  {codes[0]}")
    print(f"slowest case: {worst:.3f} s CPU ({'under' if worst < 1 else 'OVER'} the 1 s target)")


if __name__ == "__main__":
    main()
