"""Users' own suites: one JSON object a line (``--suite PATH``).

Format (fields marked ? are optional)::

    {"id": "sum-squares",                      # unique, non-empty string
     "original_code": "n = int(input())\\n...", # the program to optimise (reads stdin, writes stdout)
     "tests": [{"input": "3\\n", "expected": "14\\n", "size?": 3}, ...],   # at least one
     "sizes?": [3, 1000],                      # input sizes; each must be the size of some test
     "better_code?": "...",                    # a known better version (used by --optimizer reference)
     "compare?": "exact" | "float_tol",        # output comparison; default exact (line by line,
                                               # trailing whitespace ignored)
     "meta?": {...}}                           # anything; carried into the results

A file of PIE pair records (``pie_python_pairs*.jsonl``: ``slow``/``fast``/``tests``) is accepted as
it is. Problems are reported all together, each naming its line.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hydra_ray.evaluate.suites.pie import is_pair_record, task_from_pair
from hydra_ray.evaluate.tasks import COMPARE_MODES, Task, TestCase

FIELDS = {"id", "original_code", "tests", "sizes", "better_code", "compare", "meta"}
MAX_REPORTED = 50


class SuiteFormatError(ValueError):
    def __init__(self, path: str | Path, problems: list[str]):
        self.problems = problems
        shown = problems[:MAX_REPORTED]
        more = f"\n  … and {len(problems) - MAX_REPORTED} more" if len(problems) > MAX_REPORTED else ""
        super().__init__(f"suite file {path}: {len(problems)} problem(s):\n"
                         + "\n".join(f"  - {p}" for p in shown) + more
                         + "\n(format: see hydra_ray/evaluate/suites/jsonl.py)")


def _is_str(x: Any) -> bool:
    return isinstance(x, str)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_record(obj: Any, where: str, problems: list[str]) -> None:
    if not isinstance(obj, dict):
        problems.append(f"{where}: expected a JSON object, got {type(obj).__name__}")
        return
    for key in sorted(set(obj) - FIELDS):
        problems.append(f"{where}: unknown field {key!r}; known fields: {sorted(FIELDS)}")
    if not _is_str(obj.get("id")) or not obj.get("id"):
        problems.append(f"{where}: field 'id': expected a non-empty string, got {obj.get('id')!r}")
    if not _is_str(obj.get("original_code")) or not obj.get("original_code", "").strip():
        problems.append(f"{where}: field 'original_code': expected non-empty source code")
    if obj.get("better_code") is not None and not _is_str(obj["better_code"]):
        problems.append(f"{where}: field 'better_code': expected a string or null")
    if obj.get("compare", "exact") not in COMPARE_MODES:
        problems.append(f"{where}: field 'compare': expected one of {COMPARE_MODES}, got {obj['compare']!r}")
    if obj.get("meta") is not None and not isinstance(obj["meta"], dict):
        problems.append(f"{where}: field 'meta': expected an object")
    tests = obj.get("tests")
    test_sizes = set()
    if not isinstance(tests, list) or not tests:
        problems.append(f"{where}: field 'tests': expected a non-empty list of {{input, expected}}")
    else:
        for i, t in enumerate(tests):
            if not isinstance(t, dict):
                problems.append(f"{where}: tests[{i}]: expected an object, got {type(t).__name__}")
                continue
            for key in ("input", "expected"):
                if not _is_str(t.get(key)):
                    problems.append(f"{where}: tests[{i}].{key}: expected a string, got {t.get(key)!r}")
            extra = set(t) - {"input", "expected", "size"}
            if extra:
                problems.append(f"{where}: tests[{i}]: unknown field(s) {sorted(extra)}")
            if "size" in t and not (_is_int(t["size"]) and t["size"] >= 0):
                problems.append(f"{where}: tests[{i}].size: expected an integer >= 0, got {t['size']!r}")
            test_sizes.add(t.get("size"))
    sizes = obj.get("sizes")
    if sizes is not None:
        if not isinstance(sizes, list) or not sizes or not all(_is_int(s) and s >= 0 for s in sizes):
            problems.append(f"{where}: field 'sizes': expected a non-empty list of integers >= 0, got {sizes!r}")
        elif isinstance(tests, list):
            missing = sorted(set(sizes) - test_sizes)
            if missing:
                problems.append(f"{where}: field 'sizes': no test has size {missing}")


def _task(obj: dict, suite: str) -> Task:
    return Task(
        id=obj["id"],
        original_code=obj["original_code"],
        better_code=obj.get("better_code"),
        tests=[TestCase(t["input"], t["expected"], t.get("size")) for t in obj["tests"]],
        sizes=obj.get("sizes"),
        meta=dict(obj.get("meta") or {}),
        suite=suite,
        compare=obj.get("compare", "exact"),
    )


def load_jsonl_suite(path: str | Path) -> list[Task]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"suite file {p} does not exist; expected a JSONL file "
                                "(see hydra_ray/evaluate/suites/jsonl.py for the format)")
    suite = p.stem
    problems: list[str] = []
    tasks: list[Task] = []
    seen: dict[str, int] = {}
    with open(p) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"line {lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                problems.append(f"{where}: not valid JSON ({e.msg} at column {e.colno})")
                continue
            if is_pair_record(obj):
                if not obj.get("tests"):
                    problems.append(f"{where}: PIE pair {obj.get('pair_id')!r} has no tests; attach some "
                                    "first (e.g. from codenet_sample_tests.jsonl.gz)")
                    continue
                try:
                    tasks.append(task_from_pair(obj, suite))
                except (KeyError, TypeError, ValueError) as e:
                    problems.append(f"{where}: PIE pair record is incomplete ({e!r})")
                    continue
            else:
                before = len(problems)
                _check_record(obj, where, problems)
                if len(problems) > before:
                    continue
                tasks.append(_task(obj, suite))
            tid = tasks[-1].id
            if tid in seen:
                problems.append(f"{where}: id {tid!r} already used on line {seen[tid]}")
            seen[tid] = lineno
    if problems:
        raise SuiteFormatError(p, problems)
    if not tasks:
        raise SuiteFormatError(p, ["the file holds no records"])
    return tasks
