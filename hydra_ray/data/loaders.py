"""Read program sets from JSONL/Parquet; every bad record becomes a ``Rejected`` with a reason.

Nothing here raises on bad data: a run over messy real data always gets the good records plus a
list of what was dropped and why. Only an unreadable *path* is an error.
"""
from __future__ import annotations

import ast
import gzip
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from hydra_ray.data.schema import Candidate, ProgramSet, Rejected, RejectReason, TestCase

SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".parquet")


@dataclass
class LoadResult:
    records: list[ProgramSet] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    def reject_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.rejected:
            counts[r.reason.value] = counts.get(r.reason.value, 0) + 1
        return counts


class InputError(ValueError):
    """The input path itself is unusable (missing, empty, unknown format)."""


def input_files(path: str | Path) -> list[Path]:
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.name.endswith(SUFFIXES))
        if not files:
            raise InputError(f"{p} is a directory with no {', '.join(SUFFIXES)} files")
        return files
    if not p.exists():
        raise InputError(f"input {p} does not exist; give a JSONL/Parquet file or a directory of them "
                         "(e.g. hydra_ray/sample_data/pie_sample.jsonl)")
    if not p.name.endswith(SUFFIXES):
        raise InputError(f"input {p}: unknown format; expected one of {', '.join(SUFFIXES)}")
    return [p]


def _raw_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                yield lineno, line


def _raw_records(path: Path) -> Iterator[tuple[str, Any]]:
    """Yield (source, object-or-Rejected) for every record of one file."""
    if path.name.endswith(".parquet"):
        import pyarrow.parquet as pq

        for i, row in enumerate(pq.read_table(path).to_pylist(), 1):
            yield f"{path.name}:{i}", row
        return
    for lineno, line in _raw_lines(path):
        src = f"{path.name}:{lineno}"
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            yield src, Rejected(src, src, RejectReason.INVALID_UTF8, f"byte {e.start}: {e.reason}")
            continue
        try:
            yield src, json.loads(text)
        except json.JSONDecodeError as e:
            yield src, Rejected(src, src, RejectReason.INVALID_JSON, f"{e.msg} at column {e.colno}")


def _syntax_problem(code: str) -> str | None:
    try:
        ast.parse(code)
        return None
    except SyntaxError as e:
        py2 = any(m in (e.msg or "") for m in ("Missing parentheses", "print", "exec"))
        hint = "Python 2 syntax; " if py2 else ""
        where = f"line {e.lineno}: " if e.lineno else ""   # None for NUL bytes: "line None" says nothing
        return f"{hint}{where}{e.msg}"
    except ValueError as e:  # e.g. source with NUL bytes
        return str(e)


def _tests(obj: dict, rid: str, src: str) -> list[TestCase] | Rejected:
    tests = obj.get("tests")
    if tests is None:
        return Rejected(rid, src, RejectReason.MISSING_FIELD, "field 'tests' is missing")
    if not isinstance(tests, list):
        return Rejected(rid, src, RejectReason.BAD_FIELD, f"'tests' must be a list, got {type(tests).__name__}")
    out = []
    for i, t in enumerate(tests):
        if not isinstance(t, dict) or not isinstance(t.get("input"), str) or not isinstance(t.get("expected"), str):
            return Rejected(rid, src, RejectReason.BAD_FIELD,
                            f"tests[{i}] must be an object with string 'input' and 'expected'")
        out.append(TestCase(t["input"], t["expected"]))
    if not out:
        return Rejected(rid, src, RejectReason.NO_TESTS,
                        "no test cases; attach tests (e.g. from codenet_sample_tests.jsonl.gz) to measure it")
    return out


def _candidates(obj: dict, rid: str, src: str) -> list[Candidate] | Rejected:
    if "slow" in obj or "fast" in obj:
        out = []
        for name in ("slow", "fast"):
            side = obj.get(name)
            if not isinstance(side, dict) or not isinstance(side.get("code"), str):
                return Rejected(rid, src, RejectReason.MISSING_FIELD, f"'{name}.code' is missing or not a string")
            out.append(Candidate(name, side["code"], {k: v for k, v in side.items() if k != "code"}))
        return out
    cands = obj.get("candidates")
    if cands is None:
        return Rejected(rid, src, RejectReason.MISSING_FIELD, "needs 'slow'/'fast' or 'candidates'")
    if not isinstance(cands, list):
        return Rejected(rid, src, RejectReason.BAD_FIELD, "'candidates' must be a list")
    out = []
    for i, c in enumerate(cands):
        if isinstance(c, str):
            out.append(Candidate(str(i), c))
        elif isinstance(c, dict) and isinstance(c.get("code"), str):
            name = str(c.get("name") or c.get("submission_id") or i)
            out.append(Candidate(name, c["code"], {k: v for k, v in c.items() if k not in ("code", "name")}))
        else:
            return Rejected(rid, src, RejectReason.BAD_FIELD, f"candidates[{i}] must be a string or have 'code'")
    # Rows are keyed by (pair_id, candidate): two candidates of one name would be two rows that
    # `label` and every reader take for one candidate.
    first: dict[str, int] = {}
    for i, c in enumerate(out):
        if c.name in first:
            return Rejected(rid, src, RejectReason.BAD_FIELD,
                            f"candidates[{i}] is named {c.name!r}, as candidates[{first[c.name]}] is; "
                            "names must differ within a set")
        first[c.name] = i
    return out


def _float_tol(obj: dict, rid: str, src: str) -> float | None | Rejected:
    """The record's float tolerance: ``float_tol`` (a number ≥ 0, or a string holding one), else 1e-6
    when ``verification.compare`` lists ``float_tol`` (the shared data's convention), else None.
    Anything else is a bad field of this record, never an error of the run (a bad value used to
    raise inside a Ray Data task and stop the whole run without naming the record)."""
    tol = obj.get("float_tol")
    if tol is None:
        verification = obj.get("verification")
        compare = verification.get("compare") if isinstance(verification, dict) else None
        return 1e-6 if isinstance(compare, list) and "float_tol" in compare else None
    value = None
    if not isinstance(tol, bool) and isinstance(tol, (int, float, str)):
        try:
            value = float(tol)
        except ValueError:
            value = None
    # bool is excluded: true would silently become a tolerance of 1.0 (every float matches).
    if value is None or not math.isfinite(value) or value < 0:
        return Rejected(rid, src, RejectReason.BAD_FIELD,
                        f"'float_tol' must be a number >= 0 (a relative-or-absolute tolerance such as 1e-6), "
                        f"got {type(tol).__name__} {tol!r:.60}")
    return value


def parse_record(obj: Any, src: str) -> tuple[ProgramSet | None, list[Rejected]]:
    if not isinstance(obj, dict):
        return None, [Rejected(src, src, RejectReason.BAD_FIELD, "record is not a JSON object")]
    rid = obj.get("pair_id") or obj.get("id") or obj.get("problem_id")
    if not isinstance(rid, str) or not rid:
        # The first id field present (and not a string) is the one to fix: say which, and what it holds.
        given = next(((k, obj[k]) for k in ("pair_id", "id", "problem_id") if obj.get(k) not in (None, "")), None)
        if given is not None:
            return None, [Rejected(src, src, RejectReason.BAD_FIELD,
                                   f"{given[0]!r} must be a string, got {type(given[1]).__name__} {given[1]!r:.60}")]
        return None, [Rejected(src, src, RejectReason.MISSING_FIELD, "needs a string 'pair_id', 'id' or 'problem_id'")]
    problem = obj.get("problem_id") if isinstance(obj.get("problem_id"), str) else rid
    cands = _candidates(obj, rid, src)
    if isinstance(cands, Rejected):
        return None, [cands]
    tests = _tests(obj, rid, src)
    if isinstance(tests, Rejected):
        return None, [tests]
    tol = _float_tol(obj, rid, src)
    if isinstance(tol, Rejected):
        return None, [tol]
    rejected, good = [], []
    for c in cands:
        problem_text = _syntax_problem(c.code)
        if problem_text:
            rejected.append(Rejected(f"{rid}/{c.name}", src, RejectReason.SYNTAX_ERROR, problem_text))
        else:
            good.append(c)
    if len(good) < 2:
        if not rejected:
            rejected.append(Rejected(rid, src, RejectReason.TOO_FEW_CANDIDATES,
                                     f"{len(good)} candidate(s); at least 2 are needed to compare"))
        return None, rejected
    return ProgramSet(rid, problem, good, tests, tol, src), rejected


def load_program_sets(path: str | Path, limit: int | None = None) -> LoadResult:
    result = LoadResult()
    seen: set[str] = set()
    for file in input_files(path):
        for src, obj in _raw_records(file):
            if isinstance(obj, Rejected):
                result.rejected.append(obj)
                continue
            record, rejected = parse_record(obj, src)
            result.rejected.extend(rejected)
            if record is None:
                continue
            if record.pair_id in seen:
                result.rejected.append(Rejected(record.pair_id, src, RejectReason.DUPLICATE_ID,
                                                "an earlier record has the same id; the first one is kept"))
                continue
            seen.add(record.pair_id)
            result.records.append(record)
            if limit is not None and len(result.records) >= limit:
                return result
    return result
