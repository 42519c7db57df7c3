"""The measurement benchmark's design specs and report tables (no measuring: pure parsing/rendering)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import bench_measure  # noqa: E402
import report  # noqa: E402


def test_spread_designs_parse_loops_gap_sample_and_retiming():
    d = bench_measure._spread_designs(["10x0", "120x5x0.5", "120x5x0.5r1"])
    assert d["back_to_back_10"] == {"function_loops": 10, "function_loop_gap_ms": 0.0, "remeasure_unsteady": 0}
    assert d["spread_120x5ms_of_0.5ms"]["function_min_sample_ms"] == 0.5
    assert d["spread_120x5ms_of_0.5ms"]["remeasure_unsteady"] == 0
    assert d["spread_120x5ms_of_0.5ms_retimed_up_to_1x"]["remeasure_unsteady"] == 1


@pytest.mark.parametrize("bad", ["120", "120x", "axb", "1x2x3x4", "120x5rx"])
def test_a_bad_design_names_the_expected_form(bad):
    with pytest.raises(SystemExit, match=f"'{bad}' is not LOOPSxGAP_MS"):
        bench_measure._spread_designs([bad])


def test_report_renders_a_retiming_comparison():
    designs = bench_measure._spread_designs(bench_measure.RETIMING_DESIGNS)
    once, again = designs
    ls = {"tasks": 164, "repeats": 5, "designs": designs, "wall_s": 10.0, "loadavg_before": [1.0, 1.0, 1.0],
          "loadavg_after": [1.1, 1.0, 1.0],
          "results": {once: {"passed": 164, "measurable_cv_le_5pct": 150, "share_measurable": 150 / 164,
                             "median_cv": 0.018, "retimed": 0, "seconds_per_task": 4.7},
                      again: {"passed": 164, "measurable_cv_le_5pct": 148, "share_measurable": 148 / 164,
                              "median_cv": 0.017, "retimed": 155, "seconds_per_task": 8.1}}}
    text = "\n".join(report._loop_spread(ls, "timing a task again when the CPU swung"))
    assert "All 164" in text and "155 tasks were" in text and "**91%**" in text
