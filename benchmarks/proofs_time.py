"""CPU time of `python -m proofs`, before and after: the code at a base revision (exported with git archive
into a temporary directory) against the working tree, run alternately in one session.

    python benchmarks/proofs_time.py [--before REV] [--runs N]

CPU time (user + system, of the process and its children) is what the proofs cost on a shared machine; wall
time is printed too. Every run starts with an empty derivation cache directory (cold): the after tree still
reads the catalogue derivations it ships (fdiv/catalogue_derivations.json), as a fresh clone does. The default base is the last revision before the proofs' second wave, where the Gaussian
KL went through SymPy's Meijer-G integrator and the catalogue was derived in a worker pool.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEFORE = "2d06d9d"
BUDGET = 30.0  # CPU seconds `python -m proofs` may take with a cold cache (issue #22)


def _cpu_of_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_once(tree: Path) -> tuple[float, float, int]:
    """(CPU seconds, wall seconds, exit code) of one `python -m proofs` in `tree`, with an empty derivation cache
    directory (cold, as on a fresh machine: what the checkout ships is all there is)."""
    with tempfile.TemporaryDirectory(prefix="proofs-cache-") as cache_dir:
        env = {**os.environ, "PYTHONPATH": str(tree), "FDIV_CACHE_DIR": cache_dir}
        env.pop("FDIV_NO_CACHE", None)
        cpu0, wall0 = _cpu_of_children(), time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "proofs"], cwd=tree, env=env, capture_output=True, text=True)
        return _cpu_of_children() - cpu0, time.perf_counter() - wall0, done.returncode


def export(rev: str, into: Path) -> Path:
    archive = subprocess.run(["git", "archive", "--format=tar", rev], cwd=ROOT, capture_output=True, check=True)
    tar_path = into / "tree.tar"
    tar_path.write_bytes(archive.stdout)
    with tarfile.open(tar_path) as tar:
        tar.extractall(into / "tree", filter="data")
    return into / "tree"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=BEFORE, help=f"base revision (default {BEFORE})")
    parser.add_argument("--runs", type=int, default=2, help="runs of each, alternating (default 2)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="proofs-before-") as tmp:
        before_tree = export(args.before, Path(tmp))
        rows: dict[str, list[tuple[float, float, int]]] = {"before": [], "after": []}
        for _ in range(args.runs):
            rows["before"].append(run_once(before_tree))
            rows["after"].append(run_once(ROOT))
    print(f"python -m proofs, {args.runs} alternating runs each; CPU seconds of each run, then the median:")
    med = {}
    for name, runs in rows.items():
        cpu = statistics.median(r[0] for r in runs)
        wall = statistics.median(r[1] for r in runs)
        codes = sorted({r[2] for r in runs})
        med[name] = cpu
        label = f"{name} ({args.before})" if name == "before" else "after (working tree)"
        each = " ".join(f"{r[0]:.1f}" for r in runs)
        print(f"  {label:28s} runs [{each}]  CPU {cpu:6.1f} s   wall {wall:6.1f} s   exit {codes}")
    print(f"  after / before CPU: {med['after'] / med['before']:.2f}")
    within = med["after"] <= BUDGET
    print(f"  after: {med['after']:.1f} s CPU, {'within' if within else 'OVER'} the budget of {BUDGET:g} s")
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
