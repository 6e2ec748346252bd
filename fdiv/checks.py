"""A check result: what was verified, how (symbolic, or numeric with its precision and point count), outcome."""
from __future__ import annotations

from dataclasses import dataclass

SYMBOLIC = "symbolic"


def numeric_method(points: int, digits: int = 30) -> str:
    return f"numeric ({digits} digits, {points} point{'' if points == 1 else 's'})"


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    method: str  # "symbolic" or "numeric (30 digits, k points)"
    detail: str = ""

    def to_json(self) -> dict:
        return {"name": self.name, "passed": self.passed, "method": self.method, "detail": self.detail}

    def __str__(self) -> str:
        mark = "ok" if self.passed else "FAILED"
        return f"[{mark}] {self.name} ({self.method}){': ' + self.detail if self.detail else ''}"
