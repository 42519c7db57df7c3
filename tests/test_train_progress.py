"""The driver's progress lines while Ray Train runs, read from the rows the α hub appends."""
from __future__ import annotations

import json
import time

from hydra_ray.train.progress import ProgressTail


def _append(path, *rows):
    with path.open("a") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def test_each_new_logged_step_is_one_line_and_a_resumed_runs_old_rows_are_not(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    _append(metrics, {"step": 20, "loss": 0.7})             # from before a resume
    lines: list[str] = []
    with ProgressTail(metrics, 100, lines.append, interval=0.05):
        time.sleep(0.2)
        assert lines == []                                   # nothing new yet
        _append(metrics, {"step": 40, "loss": 0.5})
        deadline = time.monotonic() + 5
        while not lines and time.monotonic() < deadline:
            time.sleep(0.05)
        with metrics.open("a") as f:
            f.write('{"step": 4')                            # a row half written: skipped, not fatal
        time.sleep(0.2)
    assert len(lines) == 1, lines
    assert lines[0].startswith("[train] step 40/100 · loss 0.5 · ") and "left" in lines[0], lines


def test_the_line_says_speed_and_time_left_from_the_steps_done_here():
    """20 steps in 10 s from step 20 → 2 steps/s; 60 steps to go → about 30 s left."""
    tail = ProgressTail.__new__(ProgressTail)
    tail.max_steps, tail._step0, tail._t0 = 100, 20, 0.0
    assert tail.line({"step": 40, "loss": 0.25}, now=10.0) == "[train] step 40/100 · loss 0.25 · 2 steps/s · about 30 s left"
    assert tail.line({"step": 21}, now=100.0) == "[train] step 21/100 · 100 s/step · about 132 min left"
