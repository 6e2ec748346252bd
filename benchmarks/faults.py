"""The fault suite's long run: the classes of tests/faults.py for as many cases as you like.

    python benchmarks/faults.py --cases 1000 [--seed 1] [--only cache,signals]

Cases are split over the classes by weight (the subprocess classes -- signals, io, oracle -- cost a second or
more each, the in-process ones a few milliseconds to a few seconds). Prints the count of each class and the five
counts the suite judges (tracebacks, hangs, wrong results, files clobbered, files or processes left behind),
then every problem; exits 1 if there is any.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WEIGHTS = {"cache": 0.25, "text": 0.08, "gen": 0.15, "constants": 0.04, "numerics": 0.25, "history": 0.06,
           "io": 0.04, "signals": 0.08, "oracle": 0.05}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=1000, help="total cases, split over the classes by weight")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", default="", help="comma-separated classes (default: all)")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from tests import faults

    chosen = [c for c in args.only.split(",") if c] or list(WEIGHTS)
    total = sum(WEIGHTS[c] for c in chosen)
    counts = {c: max(1, round(args.cases * WEIGHTS[c] / total)) for c in chosen}
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fdiv-faults-") as tmp:
        os.environ["FDIV_CACHE_DIR"] = os.environ.get("FDIV_CACHE_DIR") or str(Path(tmp) / "suite-cache")

        def progress(line: str) -> None:
            if sys.stderr.isatty():
                sys.stderr.write(f"\r{line[:150]:150}")
                sys.stderr.flush()

        tally = faults.run(counts, args.seed, Path(tmp) / "cases", progress=progress)
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    print(f"seed {args.seed}, {time.monotonic() - start:.0f} s wall")
    for cls in chosen:
        print(f"  {cls:10} {tally.cases.get(cls, 0):6d} cases")
    print(tally.summary())
    for kind, items in tally.problems.items():
        for item in items:
            print(f"{kind}: {item}")
    return 1 if any(tally.problems.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
