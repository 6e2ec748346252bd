"""A benchmark's comparisons must be numbers: an inf or NaN ratio, error or difference is a bug to look at, never
a result to print and pass over. Each script records what it compares here and exits with `exit_code()`:
0 when every comparison was finite, 1 (after naming each non-finite one) otherwise, so `make bench` fails.

    from finite import FINITE
    print(f"ratio {FINITE.check('derive --all / import', f / r):.2f}")
    ...
    sys.exit(FINITE.exit_code())
"""
from __future__ import annotations

import math
import sys


class Finite:
    def __init__(self) -> None:
        self.bad: list[str] = []

    def check(self, label: str, value: float) -> float:
        """value, unchanged; noted when it is not a finite number."""
        try:
            ok = math.isfinite(float(value))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            self.bad.append(f"{label} = {value}")
        return value

    def exit_code(self, code: int = 0) -> int:
        """code, or 1 when a comparison was not finite (each named on stderr)."""
        for line in self.bad:
            print(f"FAILED: non-finite comparison: {line}", file=sys.stderr)
        return 1 if self.bad else code


FINITE = Finite()
