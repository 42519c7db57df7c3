"""Finished tasks of an ``evaluate`` run, kept on disk so a stopped run resumes where it stopped.

Measuring a suite takes minutes to hours; the report is written at the end. So each task's result rows
are appended to ``OUTPUT/partial_rows.jsonl`` as soon as the task is measured (one JSON line a task,
flushed), under a header line with the run's fingerprint: the configuration and the candidates. A rerun
with the same fingerprint takes the finished tasks from there and measures the rest; a different
configuration or different candidates (a sampling optimiser without a cache, an edited preset) start
over, and say so. A line cut short by the stop is ignored.

Once the report is written the file becomes ``OUTPUT/rows.jsonl``, marked finished and holding the
configuration it was made from. A rerun with the same fingerprint then measures nothing ("already
finished") and only writes the report again; a rerun asking for something else is refused, naming the
fields that changed, unless ``overwrite`` is given, so a finished evaluation is never replaced unawares.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

FILENAME = "partial_rows.jsonl"
FINISHED = "rows.jsonl"


def fingerprint(config_text: str, candidates_text: str) -> str:
    return hashlib.sha256(config_text.encode() + b"\0" + candidates_text.encode()).hexdigest()


def run_settings(cfg: Any) -> dict[str, Any]:
    """The settings that decide a run's rows: the whole configuration but where it is written, so a
    finished output moved to another folder is still recognised there."""
    return {k: v for k, v in json.loads(json.dumps(cfg.to_dict(), default=str)).items() if k != "output"}


def run_fingerprint(settings: dict[str, Any], proposals: dict[str, list[Any]]) -> str:
    """What decides a run's rows: its settings and each candidate's code (not whether it came
    from a cache)."""
    programs = json.dumps([[task_id, c.config, c.index, c.code, c.weights] for task_id, cands in proposals.items()
                           for c in cands], default=list)
    return fingerprint(json.dumps(settings, sort_keys=True), programs)


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
    @classmethod
    def for_run(cls, out_dir: Path, cfg: Any, proposals: dict[str, list[Any]],
                log: Callable[[str], None] = lambda s: None, overwrite: bool = False) -> "Checkpoint":
        """The checkpoint of an evaluation with this configuration and these candidates in ``out_dir``."""
        settings = run_settings(cfg)
        return cls(out_dir, run_fingerprint(settings, proposals), log, config=settings, overwrite=overwrite)

    def __init__(self, out_dir: Path, fp: str, log: Callable[[str], None] = lambda s: None,
                 config: dict[str, Any] | None = None, overwrite: bool = False):
        self.out = Path(out_dir)
        self.path, self.finished_path = self.out / FILENAME, self.out / FINISHED
        # As JSON gives it back, so that a rerun compares like with like (tuples as lists, paths as text).
        self.config = json.loads(json.dumps(config or {}, default=str))
        self.fp, self.log, self.overwrite = fp, log, overwrite
        self._checked: tuple[dict[str, list[dict[str, Any]]] | None] | None = None

    def check(self) -> dict[str, list[dict[str, Any]]] | None:
        """The rows of a finished run with this fingerprint (None when the output holds no finished run);
        raises :class:`~hydra_ray.paths.OutputExistsError` for one made from something else, unless
        ``overwrite`` (then the finished rows are dropped and the run starts over)."""
        if self._checked is None:
            self._checked = (self._check(),)
        return self._checked[0]

    def _check(self) -> dict[str, list[dict[str, Any]]] | None:
        from hydra_ray.run_identity import changed_fields, refusal

        lines = self.finished_path.read_text().splitlines() if self.finished_path.exists() else []
        header = _parse(lines[0]) if lines else None
        if header and header.get("fingerprint") == self.fp:
            done = _rows(lines[1:])
            self.log(f"{self.out}: already finished ({len(done)} task(s), {self.finished_path.name}); "
                     "the results are kept and the report written again")
            return done
        # Results without any record (and no run under way) were finished by a version that kept none.
        legacy = not lines and not self.path.exists() and (self.out / "results.parquet").exists()
        if not lines and not legacy:
            return None
        if not self.overwrite:
            if legacy:
                raise refusal(self.out, "finished evaluation results (results.parquet)", ["settings (not recorded)"],
                              "pass --overwrite to measure again and replace them")
            changes = changed_fields((header or {}).get("config") or {}, self.config)
            raise refusal(self.out, "a finished evaluation", [f"settings ({'; '.join(changes)})"] if changes
                          else ["candidates (the optimiser proposed other programs)"],
                          "pass --overwrite to measure again and replace it")
        self.log(f"{self.out}: replacing the finished evaluation there (--overwrite)")
        # Its results go with it, so a replacement stopped half-way is never read as the old run's.
        for stale in (self.finished_path, self.path, self.out / "results.parquet"):
            stale.unlink(missing_ok=True)
        return None

    def load(self) -> dict[str, list[dict[str, Any]]]:
        """Rows of the tasks an earlier run with this fingerprint finished; {} (and a fresh file) otherwise."""
        finished = self.check()
        if finished is not None:
            return finished
        done: dict[str, list[dict[str, Any]]] = {}
        if self.path.exists():
            lines = self.path.read_text().splitlines()
            header = _parse(lines[0]) if lines else None
            if header and header.get("fingerprint") == self.fp:
                done = _rows(lines[1:])
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
        """Keep the rows as the finished record (header: fingerprint, configuration, finished), so a rerun
        can tell the same run (nothing to measure) from another (refused)."""
        if not self.path.exists():   # a rerun of a finished run: its record stands
            return
        lines = self.path.read_text().splitlines()[1:]
        tmp = self.finished_path.with_name(self.finished_path.name + ".tmp")
        tmp.write_text(json.dumps({"fingerprint": self.fp, "config": self.config, "finished": True},
                                  default=_plain) + "\n" + "".join(line + "\n" for line in lines if _parse(line)))
        tmp.replace(self.finished_path)
        self.path.unlink()


def _rows(lines: list[str]) -> dict[str, list[dict[str, Any]]]:
    done: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        rec = _parse(line)
        if rec and isinstance(rec.get("rows"), list):
            done[rec["task_id"]] = rec["rows"]
    return done


def _parse(line: str) -> dict[str, Any] | None:
    try:
        rec = json.loads(line)
    except ValueError:   # the last line, cut short when the run was stopped
        return None
    return rec if isinstance(rec, dict) else None
