"""Flatten profiler results into the enriched output schema (one row per candidate).

Columns (also in the README): ``pair_id``, ``problem_id``, ``candidate``, ``code``, ``program_key``
(a hash of the code's syntax tree, :mod:`hydra_ray.data.programs`; null if it does not parse), ``verdict``,
``verdict_detail``, ``stderr_tail``, ``tests_passed``, ``tests_total``; for each metric column C of
``hydra_ray.metrics.names``: ``C`` (median), ``C_unit``, ``C_source``, ``C_estimated``, ``C_n``,
``C_spread`` (IQR), ``C_samples``, ``C_significant`` and ``C_p_value`` (vs the other candidate of a
2-candidate pair; null otherwise); ``peak_memory_net_kb``; how it was measured: ``measure_mode``
(process | inprocess | function), ``measure_mode_reason`` (why, when not the configured mode),
``memory_kind`` (what ``peak_memory_kb`` is: rss | rss_growth | tracemalloc_peak),
``tracemalloc_peak_kb``, ``rss_growth_kb``, ``function_calls``, and that mode's calibrated floor on
the node, ``floor_latency_ms``, ``floor_latency_iqr_ms``, ``floor_memory_kb``; how steady the CPU was
while the set was timed: ``cpu_speed_cv`` (CV of the CPU speed probe over the timing rounds; null if
nothing was timed) and ``timing_attempts`` (more than 1: timed again because the CPU swung);
``timing_rounds``, the measured rounds behind the samples (more than ``repeats``: a pair inconclusive at the
first look was timed longer, see metrics/profile_config.py, "Two looks"); and the node's
calibration: ``node_id``, ``cpu_model``, ``cpu_id``, ``clock_hz``, ``interpreter_rss_kb``,
``interpreter_ms``, ``isolation``.
"""
from __future__ import annotations

from typing import Any

from hydra_ray.data.programs import program_key
from hydra_ray.data.schema import ProgramSet
from hydra_ray.metrics.names import METRICS
from hydra_ray.metrics.candidate_result import CandidateResult
from hydra_ray.metrics.stats import summarize


MODE_COLUMNS = ("measure_mode", "measure_mode_reason", "memory_kind", "tracemalloc_peak_kb", "rss_growth_kb",
                "function_calls", "floor_latency_ms", "floor_latency_iqr_ms", "floor_memory_kb", "cpu_speed_cv",
                "timing_attempts", "timing_rounds")


def mode_columns(r: CandidateResult, floors: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
    """How ``r`` was measured, and the calibrated floor of that mode (``Profiler.baseline["floors"]``)."""
    floor = (floors or {}).get(r.floor_key or r.mode) or {}
    return {"measure_mode": r.mode, "measure_mode_reason": r.mode_reason, "memory_kind": r.memory_kind,
            "tracemalloc_peak_kb": r.tracemalloc_peak_kb, "rss_growth_kb": r.rss_growth_kb,
            "function_calls": r.function_calls, "floor_latency_ms": floor.get("latency_ms"),
            "floor_latency_iqr_ms": floor.get("latency_iqr_ms"), "floor_memory_kb": floor.get("memory_kb"),
            "cpu_speed_cv": r.cpu_speed_cv, "timing_attempts": r.timing_attempts,
            "timing_rounds": r.timing_rounds}


def candidate_rows(ps: ProgramSet, results: list[CandidateResult], node: dict[str, Any],
                   floors: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        row: dict[str, Any] = {
            "pair_id": ps.pair_id, "problem_id": ps.problem_id, "candidate": r.name, "code": r.code,
            "program_key": program_key(r.code), "verdict": r.verdict.value, "verdict_detail": r.detail,
            "stderr_tail": r.stderr_tail,
            "tests_passed": r.tests_passed, "tests_total": r.tests_total,
        }
        for spec in METRICS:
            mv = r.metrics.get(spec.column)
            s = summarize(mv.samples) if mv and mv.samples else None
            row[spec.column] = mv.value if mv else None
            row[f"{spec.column}_unit"] = mv.unit if mv else spec.unit
            row[f"{spec.column}_source"] = mv.source if mv else None
            row[f"{spec.column}_estimated"] = mv.estimated if mv else None
            row[f"{spec.column}_n"] = s.n if s else 0
            row[f"{spec.column}_spread"] = s.iqr if s else None
            row[f"{spec.column}_samples"] = [float(x) for x in mv.samples] if mv else []
            row[f"{spec.column}_significant"] = r.significant.get(spec.column)
            row[f"{spec.column}_p_value"] = r.p_values.get(spec.column)
        row["peak_memory_net_kb"] = r.peak_memory_net_kb
        row.update(mode_columns(r, floors))
        row.update(node)
        rows.append(row)
    return rows


def arrow_schema():
    """Explicit schema so files written by different batches (all-null columns included) agree."""
    import pyarrow as pa

    fields = [("pair_id", pa.string()), ("problem_id", pa.string()), ("candidate", pa.string()),
              ("code", pa.string()), ("program_key", pa.string()), ("verdict", pa.string()),
              ("verdict_detail", pa.string()),
              ("stderr_tail", pa.string()), ("tests_passed", pa.int64()), ("tests_total", pa.int64())]
    for spec in METRICS:
        c = spec.column
        fields += [(c, pa.float64()), (f"{c}_unit", pa.string()), (f"{c}_source", pa.string()),
                   (f"{c}_estimated", pa.bool_()), (f"{c}_n", pa.int64()), (f"{c}_spread", pa.float64()),
                   (f"{c}_samples", pa.list_(pa.float64())), (f"{c}_significant", pa.bool_()),
                   (f"{c}_p_value", pa.float64())]
    fields += [("peak_memory_net_kb", pa.float64()), ("measure_mode", pa.string()),
               ("measure_mode_reason", pa.string()), ("memory_kind", pa.string()),
               ("tracemalloc_peak_kb", pa.float64()), ("rss_growth_kb", pa.float64()),
               ("function_calls", pa.int64()), ("floor_latency_ms", pa.float64()),
               ("floor_latency_iqr_ms", pa.float64()), ("floor_memory_kb", pa.float64()),
               ("cpu_speed_cv", pa.float64()), ("timing_attempts", pa.int64()), ("timing_rounds", pa.int64()),
               ("node_id", pa.string()), ("cpu_model", pa.string()),
               ("cpu_id", pa.int64()), ("clock_hz", pa.float64()), ("interpreter_rss_kb", pa.float64()),
               ("interpreter_ms", pa.float64()), ("isolation", pa.string())]
    return pa.schema(fields)
