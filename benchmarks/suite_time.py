"""How long `make test` takes, and what a quiet 2-core machine would take: the suite run as CI runs it
(`python -m pytest -q`, one worker per core), with every test's CPU time (user + system, of the worker and of the
subprocesses it waited for) recorded per test file.

Run: python benchmarks/suite_time.py [PYTEST ARGS ...]. Prints the wall time and the load average around the run,
the CPU time of the whole run, each worker's CPU time, and the files that cost the most CPU. On a machine shared
with other work the wall time is inflated by the other work; the busiest worker's CPU time is what the run needs
of a core of its own (xdist hands a whole file to whichever worker is free, so the workers' totals are what this
run's schedule gave them). A comparison that is not a finite number fails the script (benchmarks/finite.py).
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OUT = "FDIV_SUITE_TIME_DIR"


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


# --------------------------------------------------------------------- the plugin (loaded with -p suite_time)
_costs: dict[str, float] = defaultdict(float)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):  # noqa: ARG001
    start = _cpu()
    yield
    _costs[item.location[0]] += _cpu() - start


def pytest_sessionfinish(session):
    folder = os.environ.get(OUT)
    if folder:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        Path(folder, f"{worker}.json").write_text(json.dumps(dict(_costs)))


# ------------------------------------------------------------------------------------------------ the script
def main(argv: list[str]) -> int:
    from finite import FINITE

    with tempfile.TemporaryDirectory() as folder:
        env = dict(os.environ, **{OUT: folder}, PYTHONPATH=os.pathsep.join([str(ROOT / "benchmarks"), str(ROOT)]))
        load_before, before, start = os.getloadavg(), resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "suite_time", *argv], cwd=ROOT, env=env,
                             capture_output=True, text=True)
        code = run.returncode
        wall, after, load_after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN), os.getloadavg()
        workers = {p.stem: json.loads(p.read_text()) for p in Path(folder).glob("*.json")}
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    per_file: dict[str, float] = defaultdict(float)
    for costs in workers.values():
        for name, seconds in costs.items():
            per_file[name] += seconds
    lines = run.stdout.splitlines()
    for line in [x for x in lines if x.startswith(("FAILED", "ERROR"))] + lines[-1:]:
        print(line)
    print(f"warnings summary: {'yes' if any('warnings summary' in x for x in lines) else 'none'}")
    print(f"pytest exit code {code}; cores {os.cpu_count()}; load average before {load_before[0]:.1f}, "
          f"after {load_after[0]:.1f}")
    print(f"wall {FINITE.check('wall', wall):.0f} s; CPU of the whole run {FINITE.check('CPU', cpu):.0f} s "
          f"(tests {sum(per_file.values()):.0f} s, the rest is start-up and collection)")
    for worker, costs in sorted(workers.items()):
        print(f"  worker {worker}: {FINITE.check(worker, sum(costs.values())):.0f} s CPU in {len(costs)} files")
    print("costliest files (CPU s):")
    for name, seconds in sorted(per_file.items(), key=lambda x: -x[1])[:12]:
        print(f"  {seconds:6.1f}  {name}")
    return FINITE.exit_code(code)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main(sys.argv[1:]))
