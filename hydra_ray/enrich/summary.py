"""The end-of-run summary of an enrich output: verdicts, metric sources, significant pairs, CPU steadiness.

The figures cover the whole output, files of earlier (resumed) runs included; beside them, this run's
wall time and the sets it measured.
"""
from __future__ import annotations

from collections import Counter

from hydra_ray.enrich.rows import arrow_schema
from hydra_ray.enrich.storage import OutputStore


def summarize_output(store: OutputStore, *, wall_s: float, measured_now: int, placement: str, config: dict) -> dict:
    """Figures over the whole output, computed in Arrow one file at a time from the few columns they
    need: a set's rows are always in one file (written together, compacted together), so per-file
    figures add up, and the driver holds one file's columns at a time however large the output."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from hydra_ray.metrics.names import METRICS

    cols = ["pair_id", "verdict", "node_id", "isolation", "cpu_speed_cv", "timing_rounds", "program_key"]
    steady_max = float((config.get("profile") or {}).get("steady_cv_max", 0.05))
    repeats = int((config.get("profile") or {}).get("repeats", 5))
    for m in METRICS:
        cols += [f"{m.column}_source", f"{m.column}_significant", f"{m.column}_estimated"]
    schema = pa.schema([f for f in arrow_schema() if f.name in cols])
    sets = candidates = all_passed = 0
    verdicts: Counter[str] = Counter()
    sources: dict[str, Counter[str]] = {m.column: Counter() for m in METRICS}
    significant: Counter[str] = Counter()
    estimated: set[str] = set()
    nodes: set[str] = set()
    isolation: set[str] = set()
    timed = unsteady = longer = same_program = 0

    def counts(table, col: str) -> dict[str, int]:
        return {d["values"]: d["counts"] for d in pc.value_counts(pc.drop_null(table.column(col))).to_pylist()}

    for path in store.part_files():
        table = pq.read_table(path, columns=cols, filesystem=store.fs, schema=schema)
        t = table.append_column("passed", pc.equal(table.column("verdict"), "passed"))
        aggs = [("pair_id", "count"), ("passed", "all"), ("cpu_speed_cv", "max"), ("timing_rounds", "max"),
                ("program_key", "count"), ("program_key", "count_distinct")] + [
            (f"{m.column}_significant", "any") for m in METRICS]
        g = t.group_by("pair_id").aggregate(aggs)
        speed_cv = g.column("cpu_speed_cv_max")   # one value a set (its candidates were timed together)
        timed += len(speed_cv) - speed_cv.null_count
        unsteady += int(pc.sum(pc.fill_null(pc.greater(speed_cv, steady_max), False)).as_py() or 0)
        longer += int(pc.sum(pc.fill_null(pc.greater(g.column("timing_rounds_max"), repeats), False)).as_py() or 0)
        # A set holding one syntax tree twice (files written before program_key: nulls, never counted).
        same_program += int(pc.sum(pc.greater(g.column("program_key_count"),
                                              g.column("program_key_count_distinct"))).as_py() or 0)
        two = pc.equal(g.column("pair_id_count"), 2)
        sets += g.num_rows
        candidates += table.num_rows
        all_passed += int(pc.sum(g.column("passed_all")).as_py() or 0)
        verdicts.update(counts(table, "verdict"))
        for m in METRICS:
            sources[m.column].update(counts(table, f"{m.column}_source"))
            sig = pc.and_kleene(two, pc.fill_null(g.column(f"{m.column}_significant_any"), False))
            significant[m.column] += int(pc.sum(sig).as_py() or 0)
            if pc.any(table.column(f"{m.column}_estimated")).as_py():
                estimated.add(m.column)
        nodes.update(pc.unique(pc.drop_null(table.column("node_id"))).to_pylist())
        isolation.update(pc.unique(pc.drop_null(table.column("isolation"))).to_pylist())
    return {
        "sets_total": sets, "candidates_total": candidates, "sets_all_passed": all_passed,
        "verdicts": dict(verdicts),
        "pairs_differing_significantly": {m.column: significant[m.column] for m in METRICS},
        "metric_sources": {k: dict(v) for k, v in sources.items()},
        "estimated_metrics": sorted(estimated),
        "nodes": sorted(nodes), "isolation": sorted(isolation),
        # Sets whose timing ran while the CPU's speed swung (profiler's speed probe above steady_cv_max).
        "sets_timed": timed, "sets_timed_on_unsteady_cpu": unsteady, "steady_cv_max": steady_max,
        # Pairs inconclusive in latency after `repeats` rounds, timed extra_repeats more
        # (metrics/profile_config.py, "Two looks").
        "pairs_timed_longer": longer,
        # Sets with two candidates of the same syntax tree (formatting or comments apart): label skips those pairs.
        "sets_with_same_program": same_program,
        "placement": placement,
        "wall_s_this_run": round(wall_s, 2), "sets_measured_this_run": measured_now,
        "sets_per_s_this_run": round(measured_now / wall_s, 3) if wall_s > 0 else None,
        "config": config,
    }
