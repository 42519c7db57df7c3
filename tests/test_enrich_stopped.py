"""An enrich run stopped before its end (Ctrl-C, SIGTERM, an error) keeps what it knows: the sets
it measured, ``rejected.jsonl`` with the rejects found so far and ``summary.json`` with the counts so
far and ``"finished": false``; it says so last, and a rerun finishes it. ``label`` reads such a
summary as unfinished."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from hydra_ray.cli import _report_error
from hydra_ray.config import from_dict
from hydra_ray.enrich.config import EnrichConfig
from hydra_ray.enrich.pipeline import run_enrich
from hydra_ray.prefs.input_notes import input_notes

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "hydra_ray" / "sample_data" / "pie_sample.jsonl"
QUICK = {"profile": {"warmup": 0, "repeats": 4, "throughput_bursts": 4, "remeasure_unsteady": 0, "extra_repeats": 0,
                     "sandbox": {"wall_time_s": 5, "cpu_time_s": 5}},
         "ray": {"include_dashboard": False, "num_cpus": 1}}


def _messy_input(path: Path, good: int) -> dict[str, str]:
    """``good`` sample pairs with two bad records among the first lines (read in the first block, so
    found before the first set is measured); returns the rejects' file:line → reason."""
    lines = SAMPLE.read_text().splitlines()[:good]
    first = json.loads(lines[0])
    bad = ['{"pair_id": "truncated", ', json.dumps(dict(first, pair_id="no-tests", tests=[]))]
    path.write_text("\n".join(lines[:1] + bad + lines[1:]) + "\n")
    return {f"{path.name}:2": "invalid_json", f"{path.name}:3": "no_tests"}


def _rejected(out: Path) -> dict[str, str]:
    return {r["source"]: r["reason"] for r in map(json.loads, (out / "rejected.jsonl").read_text().splitlines())}


def _as_in_a_terminal() -> None:
    # SIGINT as a terminal delivers it (a suite started in the background ignores it; see test_user_path)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_stopped_run_writes_rejects_and_an_unfinished_summary_and_a_rerun_finishes_it(tmp_path, sig):
    """As a user runs it: from their folder, a relative --output. Ctrl-C reaches the whole foreground
    process group (Ray's processes too); SIGTERM (`ray job stop`, a pod's stop) the driver."""
    reasons = _messy_input(tmp_path / "pairs.jsonl", good=5)
    (tmp_path / "quick.yaml").write_text(json.dumps(QUICK))
    cmd = [sys.executable, "-m", "hydra_ray", "enrich", "--input", "pairs.jsonl", "--output", "runs/enrich",
           "--config", "quick.yaml", "output.sets_per_file=1"]   # a file a set: the first appears early
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    env.pop("RAY_ADDRESS", None)
    out = tmp_path / "runs" / "enrich"
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=_as_in_a_terminal)
    try:
        deadline = time.monotonic() + 300
        while not list((out / "data").glob("part-*.parquet")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
            time.sleep(0.2)
        if sig == "SIGINT":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGTERM)
        printed, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == (130 if sig == "SIGINT" else 143), printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["finished"] is False and summary["stopped_by"] == ("interrupt" if sig == "SIGINT" else "sigterm")
    assert summary["error"] is None and summary["config"]["profile"]["repeats"] == 4
    assert 1 <= summary["sets_total"] == summary["sets_measured_this_run"] < 5, summary
    assert summary["rejected_rows"] == 2 and summary["rejected_by_reason"] == {"invalid_json": 1, "no_tests": 1}
    assert _rejected(out) == reasons
    last = printed.strip().splitlines()[-1]
    assert last.startswith(f"[enrich] stopped ({'interrupted' if sig == 'SIGINT' else 'SIGTERM'}): "
                           f"{summary['sets_total']} set(s) measured this run are kept in {out} "), printed
    assert "rejected.jsonl (2 row(s) found so far) and summary.json (unfinished) written" in last
    assert last.endswith("rerun the same command to resume"), last

    again = subprocess.run(cmd, cwd=tmp_path, env=env, text=True, capture_output=True, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["finished"] is True and "stopped_by" not in summary
    assert summary["sets_total"] == 5 and summary["sets_done_before_this_run"] >= 1
    assert summary["rejected_rows"] == 2 and _rejected(out) == reasons   # rewritten whole, nothing twice
    assert len((out / "rejected.jsonl").read_text().splitlines()) == 2


def test_a_run_stopped_by_an_error_keeps_its_rejects_and_says_why_in_the_summary(tmp_path, capsys):
    """An error mid-run (here every profiling call fails) stops the run; what it had found is kept."""

    class Failing:   # defined here, so Ray pickles it by value (the tests folder is no package)
        def __init__(self, profile: dict):
            pass

        def __call__(self, batch: dict) -> dict:
            try:
                {}["timer"]
            except KeyError as e:   # a chain inside the actor: the error it raised is the one to show
                raise RuntimeError("the profiler broke\non this block") from e

    inp = tmp_path / "pairs.jsonl"
    reasons = _messy_input(inp, good=2)
    out = tmp_path / "out"
    with pytest.raises(Exception) as stopped:
        run_enrich(inp, out, from_dict(EnrichConfig, QUICK), emit=lambda s: None, worker_cls=Failing)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["finished"] is False and summary["stopped_by"] == "error"
    # Ray Data's "UDF failed to process a data block" wrapper is seen through, in the summary and in
    # what the CLI prints (the same line)
    assert summary["error"] == "RuntimeError: the profiler broke\non this block", summary["error"]
    capsys.readouterr()
    _report_error("enrich", stopped.value)
    printed = capsys.readouterr().err
    assert printed.startswith("hydra-ray enrich: error: RuntimeError: the profiler broke\non this block\n"), printed
    assert "UserCodeException" not in printed and "UDF failed" not in printed, printed
    # The error may stop the stream before every block was validated (Ray Data may split a block): the
    # rejects found by then, at least one, are the ones kept, and the file and the count agree.
    found = _rejected(out)
    assert summary["sets_total"] == 0 and 1 <= summary["rejected_rows"] == len(found) <= 2
    assert found.items() <= reasons.items(), found
    note = (getattr(stopped.value, "__notes__", None) or [""])[-1]
    assert note.startswith("[enrich] stopped (by an error): 0 set(s) measured this run are kept"), note


def test_a_stopped_resume_keeps_the_rejects_an_earlier_run_found(tmp_path):
    """A resumed run stopped early may not have re-read as far as the earlier run had: the earlier
    rows it did not find again stay in rejected.jsonl, once each (a finished run rewrites it whole)."""
    from hydra_ray.enrich.stopped import add_earlier_rejects

    earlier = "\n".join(json.dumps({"source": f"in.jsonl:{i}", "reason": "invalid_json"}) for i in (2, 7, 9)) + "\n"
    spool = tmp_path / "spool.jsonl"
    spool.write_text(json.dumps({"source": "in.jsonl:2", "reason": "invalid_json"}) + "\n")
    assert add_earlier_rejects(str(spool), earlier) == 2
    assert [json.loads(ln)["source"] for ln in spool.read_text().splitlines()] == ["in.jsonl:2", "in.jsonl:7",
                                                                                  "in.jsonl:9"]
    assert add_earlier_rejects(str(spool), None) == 0 and add_earlier_rejects(str(spool), "") == 0


@pytest.mark.parametrize("summary, says", [
    (None, "has no summary.json: the enrich run that wrote it did not finish"),
    ({"sets_total": 3, "finished": False, "stopped_by": "interrupt"}, "did not finish (interrupted (Ctrl-C))"),
    ({"sets_total": 3, "finished": False, "stopped_by": "sigterm"}, "did not finish (terminated (SIGTERM))"),
    ({"sets_total": 3, "finished": False, "stopped_by": "error", "error": "OSError: disk full"},
     "did not finish (stopped by an error (OSError: disk full))"),
    ({"sets_total": 3, "finished": True}, None),
    ({"sets_total": 3}, None),                                     # written before `finished` existed: finished
    ({"sets_total": 2}, "summary.json counts 2 sets but data/ holds 3"),
])
def test_label_reads_a_stopped_runs_summary_as_unfinished(tmp_path, summary, says):
    if summary is not None:
        (tmp_path / "summary.json").write_text(json.dumps(summary))
    df = pd.DataFrame({"pair_id": ["a", "a", "b", "b", "c", "c"]})
    unfinished = [n for n in input_notes(tmp_path, df, {}) if "finish" in n]
    if says is None:
        assert unfinished == []
    else:
        assert len(unfinished) == 1 and says in unfinished[0], unfinished
        assert "these 3 sets are part of its input" in unfinished[0] or "holds 3" in unfinished[0]
