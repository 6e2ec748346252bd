"""The fault suite in CI (tests/faults.py): a fixed seed, every class, a few minutes. It must show 0
tracebacks, 0 hangs, 0 wrong results, 0 files clobbered and 0 left behind. `python benchmarks/faults.py`
runs the same classes for longer."""
from __future__ import annotations

import pytest

from . import faults

# cases per class: the subprocess classes (signals, io, oracle) cost a second or more each
CI_COUNTS = {"cache": 40, "text": 12, "gen": 30, "constants": 4, "numerics": 60, "history": 10, "io": 4,
             "signals": 6, "oracle": 3}


@pytest.mark.parametrize("cls", list(CI_COUNTS))
def test_fault_class(cls, tmp_path):
    tally = faults.run({cls: CI_COUNTS[cls]}, seed=24, root=tmp_path)
    assert tally.total == CI_COUNTS[cls]
    problems = {k: v for k, v in tally.problems.items() if v}
    assert not problems, tally.summary() + "\n" + "\n".join(p for v in problems.values() for p in v)
