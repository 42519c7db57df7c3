"""`hydra-ray enrich`: read → map_batches over pinned profiling actors → Parquet, resumable.

Durability: the driver writes every batch of results as its own Parquet file the moment it arrives
(written to a temporary name, then renamed), so a killed run loses only sets still being measured,
and a rerun skips every set already in ``OUTPUT/data`` — nothing is measured or written twice.
Output works on any cluster without shared storage, since only the driver writes.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from hydra_ray import observability as obs
from hydra_ray.data.loaders import load_program_sets
from hydra_ray.enrich.config import EnrichConfig
from hydra_ray.enrich.rows import arrow_schema


@dataclass
class EnrichPaths:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def rejected(self) -> Path:
        return self.root / "rejected.jsonl"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"


def finished_pair_ids(data_dir: Path) -> set[str]:
    import pyarrow.parquet as pq

    done: set[str] = set()
    for f in sorted(data_dir.glob("part-*.parquet")):
        done.update(pq.read_table(f, columns=["pair_id"]).column("pair_id").to_pylist())
    return done


def write_part(data_dir: Path, rows: dict[str, list]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = arrow_schema()
    table = pa.Table.from_pydict({f.name: rows.get(f.name, [None] * len(rows["pair_id"])) for f in schema},
                                 schema=schema)
    final = data_dir / f"part-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}.parquet"
    tmp = final.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, final)  # atomic: a reader (or a resumed run) never sees half a file
    return final


def init_ray(cfg: EnrichConfig) -> bool:
    """Connect to a cluster (address or $RAY_ADDRESS) or start an embedded one. True if we started it."""
    from hydra_ray.ray_runtime import connect

    return connect(cfg.ray.address, num_cpus=cfg.ray.num_cpus, include_dashboard=cfg.ray.include_dashboard)


class Progress:
    def __init__(self, total: int, already: int, emit: Callable[[str], None], every_s: float = 5.0):
        self.total, self.already, self.emit, self.every_s = total, already, emit, every_s
        self.done, self.t0, self.last = 0, time.monotonic(), 0.0
        self.shown = -1            # `done` at the last line printed: the closing update never repeats it
        self.verdicts: Counter[str] = Counter()

    def update(self, pairs: int, verdicts: list[str], force: bool = False) -> None:
        self.done += pairs
        self.verdicts.update(verdicts)
        now = time.monotonic()
        if self.done == self.shown:
            return
        if force or now - self.last >= self.every_s or self.done == self.total:
            self.last, self.shown = now, self.done
            rate = self.done / max(now - self.t0, 1e-9)
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            counts = " ".join(f"{k}={v}" for k, v in sorted(self.verdicts.items()))
            self.emit(f"[enrich] {self.done}/{self.total} sets ({self.already} done before) · "
                      f"{rate:.2f} sets/s · ETA {eta:.0f}s · candidates: {counts}")


def run_enrich(input_path: str | Path, output: str | Path, cfg: EnrichConfig,
               emit: Callable[[str], None] = print) -> dict[str, Any]:
    paths = EnrichPaths(Path(output))
    paths.data.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    loaded = load_program_sets(input_path, limit=cfg.limit)
    with open(paths.rejected, "w") as f:  # loading is deterministic: rewritten whole on every run
        for r in loaded.rejected:
            f.write(json.dumps(r.to_row()) + "\n")
    done = finished_pair_ids(paths.data)
    pending = [r for r in loaded.records if r.pair_id not in done]
    emit(f"[enrich] {len(loaded.records)} valid program sets, {len(loaded.rejected)} rejected rows "
         f"({dict(loaded.reject_counts())}); {len(loaded.records) - len(pending)} already measured, "
         f"{len(pending)} to measure → {paths.root}")
    started_ray, plan_reason, nodes_left, measure_s = False, "nothing to measure", [], 0.0
    if pending:
        started_ray = init_ray(cfg)
        try:
            if not done:  # once per output directory: a resumed run re-reads the same rejected rows
                for reason, n in loaded.reject_counts().items():
                    obs.inc(obs.ENRICH_REJECTED, n, reason=reason)
            t_measure = time.monotonic()
            plan_reason, nodes_left = _measure(pending, paths, cfg, emit,
                                               already=len(loaded.records) - len(pending))
            measure_s = time.monotonic() - t_measure
        finally:
            if started_ray:  # also on Ctrl-C / SIGTERM: no Ray process of ours outlives the command
                from hydra_ray.ray_runtime import shutdown

                shutdown()
    summary = summarize_output(paths, loaded, wall_s=time.monotonic() - t_start, measured_now=len(pending),
                               placement=plan_reason, config=cfg.to_dict())
    summary["nodes_left_this_run"] = nodes_left
    # Excluding Ray start-up: the rate a long run converges to.
    summary["measure_wall_s_this_run"] = round(measure_s, 2)
    summary["sets_per_s_measuring"] = round(len(pending) / measure_s, 3) if measure_s > 0 else None
    paths.summary.write_text(json.dumps(summary, indent=2))
    return summary


def _measure(pending, paths: EnrichPaths, cfg: EnrichConfig, emit, already: int) -> tuple[str, list[dict]]:
    import ray
    import ray.data

    from hydra_ray.enrich.worker import ProfilerWorker
    from hydra_ray.placement import profiler_actors

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # our own progress line is the one users read
    plan = profiler_actors(ray.cluster_resources(), cfg.placement)
    n_actors = max(1, min(plan.count, len(pending)))
    emit(f"[enrich] placement: {plan.reason}; using {n_actors}")
    ds = ray.data.from_items([r.to_row() for r in pending], override_num_blocks=max(1, len(pending)))
    out = ds.map_batches(
        ProfilerWorker, fn_constructor_kwargs={"profile": cfg.profile.to_dict()},
        batch_size=cfg.batch_size, compute=ray.data.ActorPoolStrategy(size=n_actors), **plan.options)
    progress = Progress(len(pending), already, emit)
    nodes_before = _alive_nodes()
    written: set[str] = set()
    for batch in out.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=0):
        rows = _drop_written(batch.to_pydict(), written)
        if not rows["pair_id"]:
            continue
        write_part(paths.data, rows)
        written.update(rows["pair_id"])
        progress.update(len(set(rows["pair_id"])), rows["verdict"])
        _record_metrics(rows)
    progress.update(0, [], force=True)
    nodes_left = _nodes_left(nodes_before)
    if nodes_left:
        which = "; ".join(f"{n['node_id'][:12]}: {n['reason']}" for n in nodes_left)
        emit(f"[enrich] {len(nodes_left)} node(s) left the cluster during this run ({which}); sets in flight "
             f"there were retried on restarted actors, and each set was written once")
    return plan.reason, nodes_left


def _drop_written(rows: dict[str, list], written: set[str]) -> dict[str, list]:
    """Rows of sets not yet written by this run. A retried task (actor restarted after a node died)
    must not produce a second copy of a set, whatever Ray re-delivers."""
    keep = [i for i, p in enumerate(rows["pair_id"]) if p not in written]
    if len(keep) == len(rows["pair_id"]):
        return rows
    return {k: [v[i] for i in keep] for k, v in rows.items()}


def _record_metrics(rows: dict[str, list]) -> None:
    """Dashboard counters for one written batch (the driver counts what reached the output)."""
    obs.inc(obs.ENRICH_PAIRS, len(set(rows["pair_id"])))
    for verdict, n in Counter(rows["verdict"]).items():
        obs.inc(obs.ENRICH_VERDICTS, n, verdict=verdict)
    for verdict, median, iqr in zip(rows["verdict"], rows["latency_ms"], rows["latency_ms_spread"]):
        if verdict == "passed" and median and iqr is not None:
            obs.observe(obs.ENRICH_REL_SPREAD, iqr / median)


def _alive_nodes() -> set[str]:
    import ray

    return {n["NodeID"] for n in ray.nodes() if n["Alive"]}


def _nodes_left(before: set[str]) -> list[dict]:
    """Nodes alive when measuring started and gone now, with Ray's reason (crash, preemption, idle)."""
    import ray

    info = {n["NodeID"]: n for n in ray.nodes()}
    gone = sorted(nid for nid in before if not info.get(nid, {}).get("Alive", False))
    return [{"node_id": nid, "reason": str(info.get(nid, {}).get("DeathReasonMessage") or "unknown")}
            for nid in gone]


def summarize_output(paths: EnrichPaths, loaded, *, wall_s: float, measured_now: int, placement: str,
                     config: dict) -> dict:
    import pyarrow.parquet as pq

    from hydra_ray.metrics.names import METRICS

    files = sorted(paths.data.glob("part-*.parquet"))
    table = pq.read_table(files).to_pylist() if files else []  # read_table takes a list of paths
    by_pair: dict[str, list[dict]] = {}
    for row in table:
        by_pair.setdefault(row["pair_id"], []).append(row)
    verdicts = Counter(r["verdict"] for r in table)
    sources = {m.column: dict(Counter(r[f"{m.column}_source"] for r in table if r[f"{m.column}_source"]))
               for m in METRICS}
    significant = {m.column: sum(1 for rows in by_pair.values() if len(rows) == 2
                                 and rows[0][f"{m.column}_significant"]) for m in METRICS}
    both_passed = sum(1 for rows in by_pair.values() if all(r["verdict"] == "passed" for r in rows))
    return {
        "sets_total": len(by_pair), "candidates_total": len(table),
        "sets_all_passed": both_passed,
        "verdicts": dict(verdicts),
        "pairs_differing_significantly": significant,
        "rejected_rows": len(loaded.rejected), "rejected_by_reason": loaded.reject_counts(),
        "metric_sources": sources,
        "estimated_metrics": sorted({m.column for m in METRICS for r in table if r[f"{m.column}_estimated"]}),
        "nodes": sorted({r["node_id"] for r in table}),
        "isolation": sorted({r["isolation"] for r in table}),
        "placement": placement,
        "wall_s_this_run": round(wall_s, 2), "sets_measured_this_run": measured_now,
        "sets_per_s_this_run": round(measured_now / wall_s, 3) if wall_s > 0 else None,
        "config": config,
    }
