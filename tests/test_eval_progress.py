"""What `hydra-ray evaluate` prints while it measures: one line per task, when the task ends, with how
long it took and an estimate of the rest (the mean per task so far); a task at one input size used to
print nothing while it ran (30 s and more at size `large`)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NAMES = ["triangular_sum", "string_concat", "bubble_sort"]
LINE = re.compile(r"^\[(\d)/3\] patterns/(\w+): 1 candidate\(s\), (\d+\.\d) s(?:; about (\d+) s left)?$")


def _evaluate(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hydra_ray", "evaluate", "--suite", "patterns", "--optimizer",
                           "reference", "--output", "out", f"patterns.names=[{','.join(NAMES)}]",
                           "measure.repeats=4", "stats.n_boot=100", "identity_baseline=false", *extra],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def test_each_task_says_how_long_it_took_and_about_how_long_the_rest_takes(tmp_path):
    r = _evaluate(tmp_path, "patterns.sizes=[small]")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "measuring 3 task(s)" in r.stderr
    found = [m for m in map(LINE.match, r.stderr.splitlines()) if m]
    assert [(int(m[1]), m[2]) for m in found] == list(enumerate(NAMES, 1)), r.stderr   # one line a task, in order
    took = [float(m[3]) for m in found]
    # the rest at the mean so far (the shown seconds are rounded to 0.1 s, the estimate to 1 s)
    assert abs(int(found[0][4]) - 2 * took[0]) <= 1.2, r.stderr
    assert abs(int(found[1][4]) - (took[0] + took[1]) / 2) <= 1.2, r.stderr
    assert found[2][4] is None, r.stderr   # nothing left after the last


def test_a_task_at_several_sizes_names_itself_on_each_size_line(tmp_path):
    r = _evaluate(tmp_path, "patterns.sizes=[small,medium]", "patterns.names=[triangular_sum]")
    assert r.returncode == 0, r.stderr[-3000:]
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("[1/1] patterns/triangular_sum")]
    assert [ln.split(":")[0] for ln in lines] == ["[1/1] patterns/triangular_sum size small",
                                                 "[1/1] patterns/triangular_sum size medium",
                                                 "[1/1] patterns/triangular_sum"], r.stderr
    assert re.search(r": 1 candidate\(s\), \d+\.\d s$", lines[-1]), lines[-1]
