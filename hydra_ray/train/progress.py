"""Progress lines while Ray Train runs: the driver is blocked in ``fit()`` and the workers' own output
stays in Ray's logs (unless ``-v``), so without this a run under ``ray job logs --follow`` is silent for
hours. A thread reads the rows the α hub appends to ``metrics.jsonl`` (on the driver's node) and prints
one line per logged step, at most every ``interval`` seconds: step, loss, speed and time left.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Callable


class ProgressTail:
    def __init__(self, metrics: Path, max_steps: int, emit: Callable[[str], None], interval: float = 15.0):
        self.metrics, self.max_steps, self.emit, self.interval = Path(metrics), max_steps, emit, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="train-progress", daemon=True)
        self._seen = self._last_step()   # a resumed run's earlier rows are not news
        self._t0, self._step0 = time.monotonic(), self._seen

    def __enter__(self) -> "ProgressTail":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _last_row(self) -> dict | None:
        try:
            lines = self.metrics.read_text(errors="replace").splitlines()
        except OSError:
            return None
        for line in reversed(lines):
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue   # a row being written
            if isinstance(row, dict) and "step" in row:
                return row
        return None

    def _last_step(self) -> int:
        row = self._last_row()
        return int(row["step"]) if row else 0

    def line(self, row: dict, now: float) -> str:
        step = int(row["step"])
        parts = [f"[train] step {step}/{self.max_steps}" if self.max_steps > 0 else f"[train] step {step}"]
        if isinstance(row.get("loss"), (int, float)):
            parts.append(f"loss {row['loss']:.4g}")
        done, took = step - self._step0, now - self._t0
        if done > 0 and took > 0:
            rate = done / took
            parts.append(f"{rate:.3g} steps/s" if rate >= 0.1 else f"{1 / rate:.3g} s/step")
            if self.max_steps > step:
                left = (self.max_steps - step) / rate
                parts.append(f"about {left / 60:.0f} min left" if left >= 90 else f"about {left:.0f} s left")
        return " · ".join(parts)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            row = self._last_row()
            if row is not None and int(row["step"]) > self._seen:
                self._seen = int(row["step"])
                self.emit(self.line(row, time.monotonic()))
