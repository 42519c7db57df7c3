"""Progress inside a set of many candidates: the enrich progress line moves while one long set is
measured (before, it said "0/1 sets" until the whole set was done), and a short set sends nothing."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from hydra_ray.config import from_dict
from hydra_ray.data.loaders import parse_record
from hydra_ray.enrich import inflight, pipeline
from hydra_ray.enrich.config import EnrichConfig
from hydra_ray.enrich.pipeline import run_enrich
from hydra_ray.metrics.profiler import ProfileConfig, Profiler
from hydra_ray.sandbox.progress import reporting

PROFILE = {"warmup": 0, "repeats": 4, "throughput_bursts": 4, "remeasure_unsteady": 0, "extra_repeats": 0,
           "sandbox": {"wall_time_s": 5, "cpu_time_s": 5}}
N = 16


def _problem(n: int) -> dict:
    # n different programs with the same output: a per-problem candidate set in the generic format
    return {"id": "many", "problem_id": "many",
            "candidates": [f"n = int(input())\nprint(sum(i for i in range(n)) + 0 * {k})\n" for k in range(n)],
            "tests": [{"input": "400000\n", "expected": "79999800000\n"}, {"input": "10\n", "expected": "45\n"}]}


@pytest.mark.slow
def test_progress_line_moves_inside_a_long_set(tmp_path, monkeypatch):
    # Reports within a second, lines twice a second: the set takes ~10-30 s on 2 busy cores.
    monkeypatch.setenv("HYDRA_RAY_INFLIGHT_QUIET_S", "0.3")
    monkeypatch.setenv("HYDRA_RAY_INFLIGHT_EVERY_S", "0.3")
    monkeypatch.setattr(pipeline, "PROGRESS_EVERY_S", 0.5)
    inp, out = tmp_path / "in.jsonl", tmp_path / "out"
    inp.write_text(json.dumps(_problem(N)) + "\n")
    lines: list[str] = []
    cfg = from_dict(EnrichConfig, {"profile": PROFILE, "ray": {"num_cpus": 2, "include_dashboard": False}})
    summary = run_enrich(inp, out, cfg, emit=lines.append)
    inside = [ln for ln in lines if "in flight: many (16 candidates)" in ln]
    assert inside, "\n".join(lines)
    assert all(ln.startswith("[enrich] 0/1 sets") for ln in inside)        # before the set was written
    phases = {ph for ln in inside for ph in ("verifying", "timing", "throughput") if f") {ph} " in ln}
    assert len(phases) >= 2, inside                                        # it moves through the phases
    assert len({ln.split("in flight:")[1] for ln in inside}) >= 3, inside  # and within them
    done = [ln for ln in lines if ln.startswith("[enrich] 1/1 sets")]
    assert done and "in flight" not in done[-1]
    # Per-set writing is unchanged: the set's 16 rows went out together, in one file.
    files = sorted((out / "data").glob("part-*.parquet"))
    assert len(files) == 1 and pq.read_table(files[0]).num_rows == N and summary["sets_total"] == 1


class _Recorder:
    """Stands in for the ledger actor's handle: records what a worker would send (``report.remote``)."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.report = self

    def remote(self, *args):
        self.calls.append((time.monotonic(), *args))


def test_reports_are_rate_limited_and_a_short_set_sends_nothing():
    profiler = Profiler(from_dict(ProfileConfig, PROFILE))
    pair, rejected = parse_record(_problem(2), "t:1")
    assert pair is not None, rejected
    board = _Recorder()
    sink = inflight.SetProgress(board, "w", 0, pair.pair_id, 2)
    sink.t0 -= inflight.QUIET_S   # as if the set had already run QUIET_S: reports are due from the start
    t0 = time.monotonic()
    with reporting(sink):
        profiler.profile(pair)
    took = time.monotonic() - t0
    assert sink.state["done"] == sink.state["runs"] > 0          # every run of the last session counted
    assert len(board.calls) <= took / inflight.EVERY_S + 1, (took, board.calls)
    seqs = [c[2] for c in board.calls]
    assert seqs == sorted(set(seqs))
    # A set shorter than QUIET_S (an ordinary pair) sends nothing at all, not even its end.
    quiet = inflight.SetProgress(board, "w", 0, pair.pair_id, 2)
    quiet.session(8)
    for _ in range(8):
        quiet.run_done()
    before = len(board.calls)
    quiet.finish()
    assert len(board.calls) == before


def test_board_keeps_a_workers_latest_report_and_describe_hides_written_sets():
    board = inflight.Board()
    now = time.time()
    board.report("w1", 2, {"set": "a", "candidates": 9, "phase": "timing", "done": 5, "runs": 90, "t": now})
    board.report("w1", 1, {"set": "old", "candidates": 9, "phase": "verifying", "done": 1, "runs": 9, "t": now})
    board.report("w2", 1, {"set": "b", "candidates": 3, "phase": "verifying", "done": 2, "runs": 6, "t": now})
    board.report("w2", 2, None)   # b finished
    assert [s["set"] for s in board.states()] == ["a"]
    assert inflight.describe(board.states()) == " · in flight: a (9 candidates) timing 5/90 runs"
    assert inflight.describe(board.states(), {"a"}) == ""
