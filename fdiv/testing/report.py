"""The answer of every check: a Report with one of three outcomes, and the decorator that gives each check_*
function its assert_* twin.

Outcomes:
- agree: every comparison within its stated tolerance;
- limited ("numerically limited"): the formula is right (it agrees at every moderate input where it returned a
  value, none of the failures is a formula-sized difference there), but it overflows, cancels, saturates or
  raises somewhere; `limits` names those ranges;
- wrong: the formula differs (the worst counterexample is a formula-sized difference at a moderate input), or a
  check that is not a point comparison failed (an input changed in place, an activation leaving dom f*).
`verdict` keeps the two-valued form (agree / disagree) and `ok` the bool.

The text puts the verdict first; the tolerance rule is one short line (the full paragraph with verbose=True,
and in the first failing assertion of a process).
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from .reference import Point

AGREE, DISAGREE = "agree", "disagree"
LIMITED, WRONG = "limited", "wrong"
OUTCOME_TEXT = {AGREE: "AGREE", LIMITED: "NUMERICALLY LIMITED", WRONG: "WRONG"}
#: The reporting precision every report measures its largest error against: 4 significant digits of the
#: scale (a logged loss, a published FID) hide an error below half a unit in the 4th digit of 9.999.
REPORT_DIGITS = 4
REPORT_PRECISION = 0.5 * 10.0 ** -REPORT_DIGITS


@dataclass
class Report:
    """What a check found. `ok` is the verdict as a bool; str(report) is the text the CLI prints."""

    subject: str
    points: list[Point]
    diagnosis: str = ""
    notes: list[str] = field(default_factory=list)
    tolerance_rule: str = ""
    extra_failures: list[str] = field(default_factory=list)  # failed checks that are not a point comparison
    classified: str = ""  # LIMITED or WRONG, set by the check's classifier (failures and none: WRONG)
    limits: list[str] = field(default_factory=list)  # where a numerically limited function fails
    wrong_because: str = ""  # one line: why the formula is wrong
    scope: str = ""  # the inputs compared when restricted ("logits in [-15, 15]", "d in {2, 8}")
    rtol: float | None = None  # a loosened tolerance the user asked for
    tolerance_short: str = ""  # one line; tolerance_rule is the full paragraph
    user_seconds: float | None = None  # CPU time spent in the function under test
    own_seconds: float | None = None  # CPU time fdiv spent (references, comparisons)

    @property
    def failures(self) -> list[Point]:
        return [p for p in self.points if not p.ok]

    @property
    def ok(self) -> bool:
        return not self.failures and not self.extra_failures and bool(self.points)

    @property
    def outcome(self) -> str:
        if self.ok:
            return AGREE
        if self.extra_failures or not self.points:
            return WRONG
        return self.classified or WRONG

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

    @property
    def max_scaled_error(self) -> float:
        """The largest |theirs - exact| / max(scale, 1) over the points where theirs is a finite number (next to 0
        the tolerances are absolute, 10 ulps of 1, and so is this measure)."""
        out = 0.0
        for p in self.points:
            err = p.error
            if p.expected or not math.isfinite(err):
                continue
            out = max(out, err / max(p.scale, 1.0))
        return out

    @property
    def without_value(self) -> int:
        """Points where it gave no finite value (a raise, NaN, an infinity) or one outside a required set."""
        return sum(1 for p in self.points if not p.ok and (p.expected or not math.isfinite(p.error)))

    def precision_line(self) -> str:
        err, missing = self.max_scaled_error, self.without_value
        below = err < REPORT_PRECISION and not missing
        where = f" where it gave a finite value ({missing} point(s) did not)" if missing else ""
        verdict = (f"below the reporting precision {REPORT_PRECISION:.0e} ({REPORT_DIGITS} significant digits: "
                   f"invisible in a value reported to {REPORT_DIGITS} digits)" if below else
                   f"{'below' if err < REPORT_PRECISION else 'above'} the reporting precision {REPORT_PRECISION:.0e} "
                   f"({REPORT_DIGITS} significant digits)" + ("; the points without a finite value show in any "
                                                               "report" if missing else ""))
        return f"largest error relative to the scale: {err:.2g}{where}, {verdict}"

    def headline(self) -> str:
        n, bad = len(self.points), len(self.failures) + len(self.extra_failures)
        head = f"{OUTCOME_TEXT[self.outcome]}: {self.subject}"
        if not n:
            return head + " (no point could be compared: every exact value was undefined or not representable)"
        extras = [f"{n} comparisons" + (f", {bad} failed" if bad else ", all within tolerance")]
        if self.scope:
            extras.append(self.scope)
        if self.rtol is not None:
            extras.append(f"rtol loosened to {self.rtol:g}")
        return f"{head} ({'; '.join(extras)})"

    def text(self, verbose: bool = False) -> str:
        lines = [self.headline()]
        outcome = self.outcome
        if outcome == LIMITED:
            lines.append("  the formula is right (it agrees at every moderate input), but it fails:")
            lines += [f"    - {x}" for x in self.limits]
        if outcome == WRONG and self.wrong_because:
            lines.append(f"  wrong: {self.wrong_because}")
        lines += [f"  failed: {x}" for x in self.extra_failures]
        worst = self.worst
        if worst is not None:
            label = "worst" if self.failures else "closest call"
            against = (f"expected {worst.expected}" if worst.expected else
                       f"exact {_num(worst.exact)} (tolerance {worst.tolerance:.3g})")
            lines.append(f"  {label}: {worst.dtype} {worst.quantity} at {worst.where()}: theirs {_num(worst.theirs)}, "
                         f"{against}")
        if self.points:
            lines.append(f"  {self.precision_line()}")
        if self.diagnosis:
            lines.append(f"  diagnosis: {self.diagnosis}")
        lines += [f"  note: {x}" for x in self.notes]
        if self.user_seconds is not None or self.own_seconds is not None:
            parts = []
            if self.own_seconds is not None:
                parts.append(f"fdiv {self.own_seconds:.2f} s")
            if self.user_seconds is not None:
                parts.append(f"the function under test {self.user_seconds:.2f} s")
            lines.append(f"  CPU time: {', '.join(parts)}")
        if verbose and self.tolerance_rule:
            lines.append(f"  tolerance: {self.tolerance_rule}")
        elif self.tolerance_short or self.tolerance_rule:
            lines.append(f"  tolerance: {self.tolerance_short or _shorten(self.tolerance_rule)}"
                         + (" (the rule in full: verbose)" if self.tolerance_short else ""))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def to_json(self) -> dict:
        worst = self.worst
        err = self.max_scaled_error
        return {"subject": self.subject, "verdict": self.verdict, "outcome": self.outcome,
                "comparisons": len(self.points),
                "failed": len(self.failures) + len(self.extra_failures),
                "worst": worst.to_json() if worst is not None else None,
                "max_rel_error": _finite_or_str(self.max_rel_error),
                "max_abs_error": _finite_or_str(self.max_abs_error),
                "max_error_relative_to_scale": _finite_or_str(err),
                "points_without_a_finite_value": self.without_value,
                "reporting_precision": {"digits": REPORT_DIGITS, "relative": REPORT_PRECISION,
                                        "below": bool(err < REPORT_PRECISION and not self.without_value)},
                "limits": list(self.limits), "wrong_because": self.wrong_because,
                "scope": self.scope, "rtol": self.rtol,
                "nonfinite": [p.to_json() for p in self.nonfinite[:20]],
                "failed_checks": list(self.extra_failures),
                "diagnosis": self.diagnosis, "notes": list(self.notes), "tolerance": self.tolerance_rule,
                "cpu_seconds": {"fdiv": self.own_seconds, "function": self.user_seconds}}


def _shorten(rule: str) -> str:
    return rule if len(rule) <= 100 else rule[:rule.rfind(" ", 0, 97)] + " ... (the rule in full: verbose)"


def _num(x) -> str:
    return "None" if x is None else f"{x:.17g}"


def _finite_or_str(x: float):
    return x if math.isfinite(x) else "inf"


ASSERTS: dict[str, Callable] = {}
_SHOWN_RULES: set[str] = set()


def assertion_text(report: Report) -> str:
    """The AssertionError message: the verdict on the first line; the tolerance paragraph in full the first
    time a process shows that rule."""
    verbose = bool(report.tolerance_rule) and report.tolerance_rule not in _SHOWN_RULES
    if verbose:
        _SHOWN_RULES.add(report.tolerance_rule)
    return report.text(verbose=verbose)


def with_assert(check: Callable[..., Report]) -> Callable[..., Report]:
    """Register check_X's twin assert_X: same arguments, raises AssertionError(report text) on disagreement and
    returns the report otherwise."""
    name = check.__name__.replace("check_", "assert_", 1)

    @functools.wraps(check)
    def twin(*args, **kwargs) -> Report:
        report = check(*args, **kwargs)
        if not report.ok:
            raise AssertionError(assertion_text(report))
        return report

    twin.__name__ = twin.__qualname__ = name
    twin.__doc__ = f"Like {check.__name__}, but raises AssertionError (with the report) on disagreement."
    ASSERTS[name] = twin
    check.assert_twin = twin
    return check
