"""The ``humaneval`` suite: OpenAI HumanEval's 164 function-level tasks (the Hydra paper's baseline study).

The original program is ``prompt + canonical_solution``. What runs is a candidate followed by the
task's ``test`` code and ``check(<entry_point>)`` (``Task.harness_suffix``), with empty stdin; a pass is
a clean exit with empty stdout, so the assertions in ``check`` are the tests. HumanEval has no
reference "better" programs, so ``better_code`` is None. In ``function`` measurement mode the timed
call is ``check(entry_point)`` (``meta["function_call"]``): one pass over the task's own assertions,
the comparisons included, after the candidate and ``check`` were defined once.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Iterator

from hydra_ray.evaluate.tasks import Task, TestCase

REQUIRED = ("task_id", "prompt", "canonical_solution", "test", "entry_point")


def _open(path: Path):
    # Read the gzip as shipped; a plain .jsonl copy works too.
    return gzip.open(path, "rt") if path.suffix == ".gz" else open(path)


def load_humaneval(path: str | Path, *, max_tasks: int | None = None) -> Iterator[Task]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"HumanEval file {p} does not exist; expected HumanEval.jsonl.gz "
                                "(e.g. ../shared/data/HumanEval.jsonl.gz); set humaneval.path")
    with _open(p) as f:
        count = 0
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            if max_tasks is not None and count >= max_tasks:
                return
            obj = json.loads(line)
            missing = [k for k in REQUIRED if not isinstance(obj.get(k), str)]
            if missing:
                raise ValueError(f"{p}:{lineno}: HumanEval record lacks string field(s) {missing}")
            count += 1
            yield Task(
                id=obj["task_id"],
                original_code=obj["prompt"] + obj["canonical_solution"],
                better_code=None,
                tests=(TestCase("", ""),),
                # function mode: the candidate plus the test's `check` is the setup, and the timed call
                # is `check(entry_point)`, i.e. one pass over the task's own assertions.
                meta={"entry_point": obj["entry_point"], "prompt": obj["prompt"],
                      "function_setup": obj["test"].strip(), "function_call": f"check({obj['entry_point']})"},
                suite="humaneval",
                harness_suffix=f"{obj['test'].strip()}\n\n\ncheck({obj['entry_point']})\n",
            )
