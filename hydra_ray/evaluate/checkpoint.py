"""Finished tasks of an ``evaluate`` run, kept on disk so a stopped run resumes where it stopped.

Measuring a suite takes minutes to hours; the report is written at the end. So each task's result rows
are appended to ``OUTPUT/partial_rows.jsonl`` as soon as the task is measured (one JSON line a task,
flushed), under a header line with the run's fingerprint: the configuration and the candidates. A rerun
with the same fingerprint takes the finished tasks from there and measures the rest; a different
configuration or different candidates (a sampling optimiser without a cache, an edited preset) start
over, and say so. A line cut short by the stop is ignored. The file is removed once the report is
written, since ``results.parquet`` then holds every row.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

FILENAME = "partial_rows.jsonl"


def fingerprint(config_text: str, candidates_text: str) -> str:
    return hashlib.sha256(config_text.encode() + b"\0" + candidates_text.encode()).hexdigest()


def run_fingerprint(config_text: str, proposals: dict[str, list[Any]]) -> str:
    """What decides a run's rows: the configuration and each candidate's code (not whether it came
    from a cache)."""
    programs = json.dumps([[task_id, c.config, c.index, c.code, c.weights] for task_id, cands in proposals.items()
                           for c in cands], default=list)
    return fingerprint(config_text, programs)


class Proposed:
    """An optimiser that returns proposals collected earlier (so they are fingerprinted and written first)."""

    def __init__(self, name: str, proposals: dict[str, list[Any]]):
        self.name, self._p = name, proposals

    def propose(self, tasks):
        return self._p


def _plain(x: Any) -> Any:
    """numpy scalars and arrays as Python values (rows hold medians and samples from numpy)."""
    if hasattr(x, "tolist"):
        return x.tolist()
    if hasattr(x, "item"):
        return x.item()
    raise TypeError(f"cannot store {type(x).__name__} in {FILENAME}")


class Checkpoint:
    def __init__(self, out_dir: Path, fp: str, log: Callable[[str], None] = lambda s: None):
        self.path, self.fp, self.log = Path(out_dir) / FILENAME, fp, log

    def load(self) -> dict[str, list[dict[str, Any]]]:
        """Rows of the tasks an earlier run with this fingerprint finished; {} (and a fresh file) otherwise."""
        done: dict[str, list[dict[str, Any]]] = {}
        if self.path.exists():
            lines = self.path.read_text().splitlines()
            header = _parse(lines[0]) if lines else None
            if header and header.get("fingerprint") == self.fp:
                for line in lines[1:]:
                    rec = _parse(line)
                    if rec and isinstance(rec.get("rows"), list):
                        done[rec["task_id"]] = rec["rows"]
            else:
                self.log(f"{self.path}: from a run with another configuration or other candidates; starting over")
        if done:
            self.log(f"resuming: {len(done)} task(s) measured by an earlier run are kept ({self.path})")
        # Written afresh with only whole lines, so what this run appends never follows a line cut short.
        self.path.write_text("".join(json.dumps(rec, default=_plain) + "\n" for rec in (
            {"fingerprint": self.fp}, *({"task_id": t, "rows": rows} for t, rows in done.items()))))
        return done

    def add(self, task_id: str, rows: list[dict[str, Any]]) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps({"task_id": task_id, "rows": rows}, default=_plain) + "\n")
            f.flush()

    def finish(self) -> None:
        self.path.unlink(missing_ok=True)


def _parse(line: str) -> dict[str, Any] | None:
    try:
        rec = json.loads(line)
    except ValueError:   # the last line, cut short when the run was stopped
        return None
    return rec if isinstance(rec, dict) else None
