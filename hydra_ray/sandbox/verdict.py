"""Typed results of sandboxed runs."""
from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class Verdict(str, enum.Enum):
    PASSED = "passed"
    WRONG_ANSWER = "wrong_answer"
    RUNTIME_ERROR = "runtime_error"
    TIMEOUT = "timeout"
    MEMORY_LIMIT = "memory_limit"
    OUTPUT_LIMIT = "output_limit"
    SANDBOX_ERROR = "sandbox_error"

    @property
    def ok(self) -> bool:
        return self is Verdict.PASSED


@dataclass
class RunResult:
    """One execution of one program on one input, as the in-sandbox runner measured it."""

    verdict: Verdict
    detail: str = ""
    exit_code: int | None = None
    signal: int | None = None
    wall_ns: int = 0                 # fork → wait4, measured inside the sandbox
    user_s: float = 0.0              # from the program's own rusage (os.wait4)
    sys_s: float = 0.0
    max_rss_kb: int = 0
    stdout: str = ""
    stderr_tail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)   # e.g. parsed perf/valgrind counts

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    @property
    def wall_ms(self) -> float:
        return self.wall_ns / 1e6

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["verdict"] = self.verdict.value
        return d
