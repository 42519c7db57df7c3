"""Output comparison: whitespace-tolerant, with an optional float tolerance.

Rule: both outputs are split into lines; trailing whitespace on each line and trailing empty lines
are ignored (judges accept a missing final newline). Lines are then compared token by token
(split on whitespace). With ``float_tol`` set, two tokens that both parse as floats match when
``|a − b| <= float_tol * max(1, |b|)`` (absolute near zero, relative above 1 — the usual judge rule
for "1e-6 relative or absolute"); all other tokens must match exactly.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mismatch:
    line: int            # 1-based
    expected: str
    actual: str

    def describe(self) -> str:
        return f"line {self.line}: expected {self.expected!r}, got {self.actual!r}"


def _lines(text: str) -> list[str]:
    lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _tokens_match(a: str, b: str, float_tol: float | None) -> bool:
    if a == b:
        return True
    if float_tol is None:
        return False
    try:
        fa, fb = float(a), float(b)
    except ValueError:
        return False
    return abs(fa - fb) <= float_tol * max(1.0, abs(fb))


def first_mismatch(actual: str, expected: str, float_tol: float | None = None) -> Mismatch | None:
    got, want = _lines(actual), _lines(expected)
    for i in range(max(len(got), len(want))):
        g = got[i] if i < len(got) else "<missing line>"
        w = want[i] if i < len(want) else "<no more lines>"
        if i >= len(got) or i >= len(want):
            return Mismatch(i + 1, w, g)
        gt, wt = g.split(), w.split()
        if len(gt) != len(wt) or not all(_tokens_match(x, y, float_tol) for x, y in zip(gt, wt)):
            return Mismatch(i + 1, w, g)
    return None


def outputs_match(actual: str, expected: str, float_tol: float | None = None) -> bool:
    return first_mismatch(actual, expected, float_tol) is None
