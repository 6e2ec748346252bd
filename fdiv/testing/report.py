"""The answer of every check: a Report (verdict, worst point, errors, non-finite points, one-line diagnosis),
and the decorator that gives each check_* function its assert_* twin."""
from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from .reference import Point

AGREE, DISAGREE = "agree", "disagree"


@dataclass
class Report:
    """What a check found. `ok` is the verdict as a bool; str(report) is the text the CLI prints."""

    subject: str
    points: list[Point]
    diagnosis: str = ""
    notes: list[str] = field(default_factory=list)
    tolerance_rule: str = ""
    extra_failures: list[str] = field(default_factory=list)  # failed checks that are not a point comparison

    @property
    def failures(self) -> list[Point]:
        return [p for p in self.points if not p.ok]

    @property
    def ok(self) -> bool:
        return not self.failures and not self.extra_failures and bool(self.points)

    @property
    def verdict(self) -> str:
        return AGREE if self.ok else DISAGREE

    @property
    def worst(self) -> Point | None:
        """The failing point furthest outside its tolerance (non-finite first); else the closest call."""
        pool = self.failures or self.points
        return max(pool, key=lambda p: (p.badness, p.error if math.isfinite(p.error) else math.inf), default=None)

    @property
    def nonfinite(self) -> list[Point]:
        """Points where theirs is NaN or infinite while the exact value is finite (and representable)."""
        return [p for p in self.points if p.theirs is None or not math.isfinite(p.theirs)]

    @property
    def max_abs_error(self) -> float:
        return max((p.error for p in self.points if math.isfinite(p.error)), default=0.0)

    @property
    def max_rel_error(self) -> float:
        """Over the points where the tolerance is relative (next to 0 an absolute 10 ulps of 1 applies)."""
        return max((p.rel_error for p in self.points if p.relative_regime and math.isfinite(p.rel_error)),
                   default=0.0)

    def text(self) -> str:
        n, bad = len(self.points), len(self.failures) + len(self.extra_failures)
        head = f"{self.subject}: {self.verdict.upper()}"
        if not n:
            head += " (no point could be compared: every exact value was undefined or not representable)"
        else:
            head += f" ({n} comparisons" + (f", {bad} failed)" if bad else ", all within tolerance)")
        lines = [head]
        worst = self.worst
        if worst is not None:
            label = "worst" if self.failures else "closest call"
            against = (f"expected {worst.expected}" if worst.expected else
                       f"exact {_num(worst.exact)} (tolerance {worst.tolerance:.3g})")
            lines.append(f"  {label}: {worst.dtype} {worst.quantity} at {worst.where()}: theirs {_num(worst.theirs)}, "
                         f"{against}")
        lines.append(f"  max relative error {self.max_rel_error:.3g}, max absolute error {self.max_abs_error:.3g}"
                     + (f"; non-finite at {len(self.nonfinite)} points" if self.nonfinite else ""))
        lines += [f"  failed: {x}" for x in self.extra_failures]
        if self.diagnosis:
            lines.append(f"  diagnosis: {self.diagnosis}")
        lines += [f"  note: {x}" for x in self.notes]
        if self.tolerance_rule:
            lines.append(f"  tolerance: {self.tolerance_rule}")
        return "\n".join(lines)

    __str__ = text

    def to_json(self) -> dict:
        worst = self.worst
        return {"subject": self.subject, "verdict": self.verdict, "comparisons": len(self.points),
                "failed": len(self.failures) + len(self.extra_failures),
                "worst": worst.to_json() if worst is not None else None,
                "max_rel_error": _finite_or_str(self.max_rel_error),
                "max_abs_error": _finite_or_str(self.max_abs_error),
                "nonfinite": [p.to_json() for p in self.nonfinite[:20]],
                "failed_checks": list(self.extra_failures),
                "diagnosis": self.diagnosis, "notes": list(self.notes), "tolerance": self.tolerance_rule}


def _num(x) -> str:
    return "None" if x is None else f"{x:.17g}"


def _finite_or_str(x: float):
    return x if math.isfinite(x) else "inf"


ASSERTS: dict[str, Callable] = {}


def with_assert(check: Callable[..., Report]) -> Callable[..., Report]:
    """Register check_X's twin assert_X: same arguments, raises AssertionError(report text) on disagreement and
    returns the report otherwise."""
    name = check.__name__.replace("check_", "assert_", 1)

    @functools.wraps(check)
    def twin(*args, **kwargs) -> Report:
        report = check(*args, **kwargs)
        if not report.ok:
            raise AssertionError("\n" + report.text())
        return report

    twin.__name__ = twin.__qualname__ = name
    twin.__doc__ = f"Like {check.__name__}, but raises AssertionError (with the report) on disagreement."
    ASSERTS[name] = twin
    check.assert_twin = twin
    return check
