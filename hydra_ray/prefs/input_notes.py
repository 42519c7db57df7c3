"""What ``label`` tells the user about the enriched input before its figures: is the enrichment
finished, were all sets measured the same way, which metrics are estimates.

``label`` reads whatever Parquet files are under ``ENRICHED_DIR/data/``. Those may be

* **unfinished**: ``enrich`` writes ``summary.json`` at the end of a run, with ``"finished": true``,
  and when a run is stopped (Ctrl-C, SIGTERM, an error), with ``"finished": false``. An output whose
  summary says ``false``, or that has none (killed, still running), or whose summary counts other than
  the sets the files hold, comes from a run that did not finish; labelling it is fine, but the user
  should know the dataset is partial. A summary without ``finished`` (hydra-ray before it had the
  field) is a finished run's: stopped runs wrote none;
* **mixed**: sets measured in different ``profile.mode``s (files copied together, or a resume from an
  older hydra-ray that did not refuse it). Each pair's two candidates share a mode, so a label compares
  like with like, but ``peak_memory_kb`` is whole-process RSS in one mode and RSS growth in another,
  and dataset-wide figures (stats.json, the plots, ``normalization: paper``) pool them;
* **estimated**: cycles and energy come from CPU time × clock when the node has no hardware counter
  or energy meter. Regions and rewards that weigh them rest on those estimates.

Each note is printed and kept in ``stats.json`` (``input_notes``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hydra_ray.metrics.names import METRIC_NAMES


def _summary(input_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((input_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def input_notes(input_dir: str | Path, df, coverage: dict[str, dict[str, Any]]) -> list[str]:
    """Warnings and notes about ``df`` (the enriched rows read from ``input_dir``)."""
    inp = Path(input_dir)
    notes: list[str] = []
    sets = int(df["pair_id"].nunique())
    summary = _summary(inp)
    finish = "rerun `hydra-ray enrich` with the same --output to finish it, then label again"
    if summary is None:
        notes.append(f"warning: {inp} has no summary.json: the enrich run that wrote it did not finish "
                     f"(stopped, killed, or still running), so these {sets} sets are part of its input; {finish}")
    elif summary.get("finished") is False:
        why = {"interrupt": "interrupted (Ctrl-C)", "sigterm": "terminated (SIGTERM)"}.get(
            summary.get("stopped_by"), f"stopped by an error ({summary.get('error')})"
            if summary.get("error") else "stopped")
        notes.append(f"warning: {inp}/summary.json says the enrich run that wrote it did not finish ({why}), "
                     f"so these {sets} sets are part of its input; {finish}")
    elif isinstance(summary.get("sets_total"), int) and summary["sets_total"] != sets:
        notes.append(f"warning: {inp}/summary.json counts {summary['sets_total']} sets but data/ holds {sets}: "
                     f"a later enrich run into it did not finish (or files were added by hand); {finish}")
    if "measure_mode" in df.columns:
        modes = df.groupby(df["measure_mode"].fillna("unknown"))["pair_id"].nunique().sort_values(ascending=False)
        if len(modes) > 1:
            counts = ", ".join(f"{mode} {n}" for mode, n in modes.items())
            notes.append(f"warning: the sets were measured in different modes ({counts} sets): memory is "
                         "whole-process RSS in process mode, RSS growth in inprocess, a tracemalloc peak in "
                         "function, and only process latency includes interpreter start-up. Each pair "
                         "compares like with like, but stats.json, the plots and normalization: paper pool "
                         "unlike quantities; enrich each mode into its own --output")
    estimated = []
    for m in METRIC_NAMES:
        cov = coverage.get(m) or {}
        if cov.get("estimated"):
            sources = ", ".join(sorted(cov.get("sources") or {}))
            estimated.append(f"{m} ({cov['estimated']} of {cov.get('with_value', '?')} candidates, {sources})")
    if estimated:
        notes.append("note: estimated metrics (no hardware counter or energy meter where they were measured): "
                     + "; ".join(estimated) + ". Rewards and regions that weigh them rest on estimates")
    return notes


def estimated_metrics(coverage: dict[str, dict[str, Any]]) -> set[str]:
    return {m for m in METRIC_NAMES if (coverage.get(m) or {}).get("estimated")}
