"""In-memory records: a set of functionally equivalent candidates with shared tests.

Accepted input formats (JSONL, one object a line, or Parquet with the same columns):

* **PIE pairs** (``../shared/data/pie_python_pairs*.jsonl``): ``pair_id``, ``problem_id``,
  ``slow`` and ``fast`` (objects with ``code``), ``tests`` (list of ``{input, expected}``);
  optional ``verification.compare`` containing ``"float_tol"``.
* **Per-problem sets** (``pie_python_problems_cn.jsonl``): ``problem_id``, ``candidates`` (objects with
  ``code`` and optional ``submission_id``), ``tests``.
* **Generic**: ``id``, optional ``problem_id``, ``candidates`` (list of source strings or
  ``{name, code}`` objects; two or more), ``tests`` (list of ``{input, expected}``; ``input`` is stdin,
  ``expected`` the expected stdout), optional ``float_tol`` (number: relative-or-absolute tolerance
  for float tokens).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TestCase:
    input: str
    expected: str | None   # None: run without comparing output (hydra-ray profile without --expected)


@dataclass(frozen=True)
class Candidate:
    name: str            # "slow"/"fast" for PIE pairs, else the submission id or an index
    code: str
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass
class ProgramSet:
    pair_id: str
    problem_id: str
    candidates: list[Candidate]
    tests: list[TestCase]
    float_tol: float | None = None
    source: str = ""      # file:line it came from
    # Function tasks (HumanEval): the expression that calls the entry point, evaluated after running a
    # candidate's code as setup. A candidate's program is then ``code + "\n" + function_call``.
    # Not carried by to_row/from_row (enrich sets are stdin programs).
    function_call: str | None = None

    def program(self, code: str) -> str:
        """The stdin/stdout program that runs for ``code`` (the entry point's call appended, if any)."""
        return code if not self.function_call else code.rstrip("\n") + "\n\n" + self.function_call + "\n"

    def to_row(self) -> dict[str, Any]:
        """A flat, Arrow-friendly row (for Ray Data)."""
        return {
            "pair_id": self.pair_id, "problem_id": self.problem_id, "source": self.source,
            "float_tol": self.float_tol,
            "candidate_names": [c.name for c in self.candidates],
            "candidate_codes": [c.code for c in self.candidates],
            "test_inputs": [t.input for t in self.tests],
            "test_expected": [t.expected for t in self.tests],
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "ProgramSet":
        return cls(
            pair_id=row["pair_id"], problem_id=row["problem_id"], source=row.get("source", ""),
            float_tol=row.get("float_tol"),
            candidates=[Candidate(n, c) for n, c in zip(row["candidate_names"], row["candidate_codes"])],
            tests=[TestCase(i, e) for i, e in zip(row["test_inputs"], row["test_expected"])],
        )


class RejectReason(str, enum.Enum):
    INVALID_JSON = "invalid_json"
    INVALID_UTF8 = "invalid_utf8"
    MISSING_FIELD = "missing_field"
    BAD_FIELD = "bad_field"
    SYNTAX_ERROR = "syntax_error"          # does not parse as Python 3 (often Python 2 code)
    NO_TESTS = "no_tests"
    TOO_FEW_CANDIDATES = "too_few_candidates"
    DUPLICATE_ID = "duplicate_id"


@dataclass(frozen=True)
class Rejected:
    record_id: str        # the id if one could be read, else "<file>:<line>"
    source: str
    reason: RejectReason
    detail: str

    def to_row(self) -> dict[str, Any]:
        return {"record_id": self.record_id, "source": self.source, "reason": self.reason.value,
                "detail": self.detail}
