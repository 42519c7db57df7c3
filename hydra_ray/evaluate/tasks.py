"""What an evaluation suite yields: tasks (a program to optimise plus its tests), pure data.

A :class:`Task` is self-contained: the measurement loop runs ``task.runnable(code)`` on every
``TestCase.input`` (stdin) and compares stdout with ``TestCase.expected`` using ``task.compare``.
Tasks with ``sizes`` carry tests at several input sizes (``TestCase.size``); ``task.at_size(n)`` is
the same task restricted to one size, which is what gets measured for the metric-vs-size plots.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

COMPARE_MODES = ("exact", "float_tol")  # exact: line by line, trailing whitespace ignored


@dataclass(frozen=True)
class TestCase:
    __test__ = False  # a data class, not a pytest test class

    input: str
    expected: str
    size: int | None = None


@dataclass(frozen=True)
class Task:
    id: str
    original_code: str
    better_code: str | None
    tests: tuple[TestCase, ...]
    sizes: tuple[int, ...] | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    suite: str = ""
    compare: str = "exact"
    # Appended to any candidate before it runs; HumanEval needs its `check(entry_point)` call here so
    # an optimiser only ever sees (and rewrites) the function itself.
    harness_suffix: str = ""

    def __post_init__(self) -> None:
        problems = []
        if not self.id:
            problems.append("id: expected a non-empty string")
        if not isinstance(self.original_code, str) or not self.original_code.strip():
            problems.append("original_code: expected non-empty source code")
        if not self.tests:
            problems.append("tests: expected at least one test case")
        if self.compare not in COMPARE_MODES:
            problems.append(f"compare: expected one of {COMPARE_MODES}, got {self.compare!r}")
        if self.sizes is not None:
            missing = sorted(set(self.sizes) - {t.size for t in self.tests})
            if missing:
                problems.append(f"sizes: no test case has size {missing}")
        if problems:
            raise ValueError(f"task {self.id!r}: " + "; ".join(problems))
        # Lists are accepted for convenience and frozen so tasks can be hashed and shared.
        object.__setattr__(self, "tests", tuple(self.tests))
        if self.sizes is not None:
            object.__setattr__(self, "sizes", tuple(sorted(self.sizes)))

    def runnable(self, code: str) -> str:
        """The program that is actually executed for a candidate ``code``."""
        if not self.harness_suffix:
            return code
        return code.rstrip("\n") + "\n\n" + self.harness_suffix

    def at_size(self, size: int) -> "Task":
        if not self.sizes or size not in self.sizes:
            raise KeyError(f"task {self.id!r} has no input size {size}; sizes: {self.sizes}")
        tests = tuple(t for t in self.tests if t.size == size)
        return dataclasses.replace(self, tests=tests, sizes=(size,), meta={**self.meta, "size": size})

    @property
    def largest_size(self) -> int | None:
        return max(self.sizes) if self.sizes else None

    def size_label(self, size: int) -> str:
        """'small'/'medium'/'large' where the suite named its sizes, else the number."""
        labels = self.meta.get("size_labels") or {}
        return str(labels.get(str(size), labels.get(size, size)))
