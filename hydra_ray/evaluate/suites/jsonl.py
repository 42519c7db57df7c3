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

Function tasks name the function to call and each test's arguments instead of stdin/stdout::

    {"id": "add", "original_code": "def add(a, b):\n    return a + b\n",
     "entry_point": "add",
     "tests": [{"args": [2, 3], "expected": 5}, ...]}   # args: a JSON list; expected: any JSON value

Each test calls ``entry_point(*args)``; the result passes when ``json.dumps`` of it equals that of
``expected`` (so tuples match lists). In ``measure.mode=function`` only that call is timed (the
arguments are parsed once per run, before timing); in the other modes the program defines the
function, reads the arguments from stdin, calls it once and prints the JSON of the result.

A file of PIE pair records (``pie_python_pairs*.jsonl``: ``slow``/``fast``/``tests``) is accepted as
it is. Problems are reported all together, each naming its line.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hydra_ray.evaluate.suites.pie import is_pair_record, task_from_pair
from hydra_ray.evaluate.tasks import COMPARE_MODES, Task, TestCase

FIELDS = {"id", "original_code", "tests", "sizes", "better_code", "compare", "meta", "entry_point"}
# Appended to a function task's code: arguments from stdin (parsed once per run, before any timing),
# and a call that prints the JSON of its first result only, so repeated calls stay cheap.
FUNCTION_SETUP = """
import json as _hydra_json, sys as _hydra_sys
_HYDRA_ARGS = _hydra_json.loads(_hydra_sys.stdin.read())
_hydra_printed = []


def _hydra_out(value):
    if not _hydra_printed:
        _hydra_printed.append(1)
        print(_hydra_json.dumps(value, sort_keys=True))
"""
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
    entry = obj.get("entry_point")
    if entry is not None and not (_is_str(entry) and entry.isidentifier()):
        problems.append(f"{where}: field 'entry_point': expected the name of a function, got {entry!r}")
    if not isinstance(tests, list) or not tests:
        problems.append(f"{where}: field 'tests': expected a non-empty list of "
                        + ("{args, expected}" if entry is not None else "{input, expected}"))
    else:
        for i, t in enumerate(tests):
            if not isinstance(t, dict):
                problems.append(f"{where}: tests[{i}]: expected an object, got {type(t).__name__}")
                continue
            if entry is not None:
                if not isinstance(t.get("args"), list):
                    problems.append(f"{where}: tests[{i}].args: expected a JSON list of arguments for "
                                    f"{entry}(*args), got {t.get('args')!r}")
                if "expected" not in t:
                    problems.append(f"{where}: tests[{i}].expected: missing (the value {entry}(*args) returns)")
                allowed = {"args", "expected", "size"}
            else:
                for key in ("input", "expected"):
                    if not _is_str(t.get(key)):
                        problems.append(f"{where}: tests[{i}].{key}: expected a string, got {t.get(key)!r}")
                allowed = {"input", "expected", "size"}
            extra = set(t) - allowed
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
    meta = dict(obj.get("meta") or {})
    entry = obj.get("entry_point")
    if entry is None:
        tests = [TestCase(t["input"], t["expected"], t.get("size")) for t in obj["tests"]]
        suffix = ""
    else:
        tests = [TestCase(json.dumps(t["args"]), json.dumps(t["expected"], sort_keys=True) + "\n", t.get("size"))
                 for t in obj["tests"]]
        call = f"_hydra_out({entry}(*_HYDRA_ARGS))"
        meta.update(entry_point=entry, function_setup=FUNCTION_SETUP.strip(), function_call=call)
        suffix = FUNCTION_SETUP.strip() + "\n\n" + call + "\n"
    return Task(
        id=obj["id"],
        original_code=obj["original_code"],
        better_code=obj.get("better_code"),
        tests=tests,
        sizes=obj.get("sizes"),
        meta=meta,
        suite=suite,
        compare=obj.get("compare", "exact"),
        harness_suffix=suffix,
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
