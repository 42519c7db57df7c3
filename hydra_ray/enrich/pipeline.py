"""`hydra-ray enrich`: a Ray Data stream — read → validate → profiling actors → rolling Parquet — resumable.

Input streams through Ray Data (see :mod:`hydra_ray.enrich.stream`): read and validated by tasks on
the driver's node, so the first set is measured seconds after the start however large the input, and
the driver holds only pair ids (in the ledger actor), never records or code.

Durability: finished sets collect in the driver until ``output.sets_per_file`` sets or
``output.seconds_per_file`` seconds have gathered, then go out as one Parquet file, written under a
temporary name and renamed (:class:`hydra_ray.enrich.storage.OutputStore`). A killed run loses at most
the sets of that window (plus sets being measured); a stopped one (Ctrl-C, SIGTERM, an error) writes
them, and ``rejected.jsonl`` and ``summary.json`` (``"finished": false``) with what it found so far. A
rerun reads only the ``pair_id`` column of ``OUTPUT/data`` and skips every set there, so nothing is
measured or written twice. Output works on any cluster without shared storage (only the driver
writes) and on ``s3://``/``gs://``/``file://``.
"""
from __future__ import annotations

import json
import os
import tempfile
import threading
import time
import warnings
from collections import Counter
from typing import Any, Callable

from hydra_ray import observability as obs
from hydra_ray.data.loaders import SUFFIXES
from hydra_ray.enrich.config import EnrichConfig, resolve_batch_size
from hydra_ray.enrich.identity import check_and_record
from hydra_ray.enrich.inflight import describe
from hydra_ray.enrich.rows import arrow_schema
from hydra_ray.enrich.stopped import keep_stopped, run_summary
from hydra_ray.enrich.storage import OutputStore, list_inputs


def init_ray(cfg: EnrichConfig) -> bool:
    """Connect to a cluster (address or $RAY_ADDRESS) or start an embedded one. True if we started it."""
    from hydra_ray.ray_runtime import connect

    return connect(cfg.ray.address, num_cpus=cfg.ray.num_cpus, include_dashboard=cfg.ray.include_dashboard)


# Seconds between progress lines: often enough to see a run move, rare enough that a day-long job's
# log stays readable (tests shorten it to see lines within a short run).
PROGRESS_EVERY_S = float(os.environ.get("HYDRA_RAY_ENRICH_PROGRESS_S", "10"))


class Progress:
    """A progress line every ``every_s`` (default :data:`PROGRESS_EVERY_S`, read when the run starts)
    when something changed (sets written, records read), else a heartbeat every ``idle_s``: sets
    written / sets found to measure so far."""

    def __init__(self, emit: Callable[[str], None], every_s: float | None = None, idle_s: float = 30.0):
        self.emit, self.idle_s = emit, idle_s
        self.every_s = PROGRESS_EVERY_S if every_s is None else every_s
        self.done, self.t0, self.last = 0, time.monotonic(), 0.0
        self.shown: tuple | None = None   # what the last line said: an unchanged line is not repeated
        self.counts: dict[str, Any] = {"to_measure": 0, "already": 0, "records_read": 0, "rejected": 0}
        self.verdicts: Counter[str] = Counter()
        self.written: set[str] = set()   # sets written: their last in-flight report is stale

    def update(self, pairs: int = 0, verdicts: list[str] | None = None, counts: dict | None = None,
               force: bool = False) -> None:
        self.done += pairs
        self.verdicts.update(verdicts or [])
        self.counts = counts or self.counts
        now = time.monotonic()
        c = self.counts
        inside = describe(c.get("in_flight") or [], self.written)   # progress within long sets
        state = (self.done, c["to_measure"], c["records_read"], c["rejected"], inside)
        due = now - self.last >= (self.every_s if state != self.shown else self.idle_s)
        if (force and state != self.shown) or (not force and due):
            self.last, self.shown = now, state
            rate = self.done / max(now - self.t0, 1e-9)
            left = c["to_measure"] - self.done
            eta = f"{left / rate:.0f}s" if rate > 0 else "?"
            if not (self.done or c["to_measure"] or c["records_read"] or c["rejected"]):
                # Nothing read yet: a row of zeros and an empty verdict list would only puzzle.
                self.emit("[enrich] reading input ...")
                return
            verdicts = " ".join(f"{k}={v}" for k, v in sorted(self.verdicts.items()))
            self.emit(f"[enrich] {self.done}/{c['to_measure']} sets ({c['already']} done before) · {rate:.2f} sets/s · "
                      f"ETA {eta} for the sets read so far · input: {c['records_read']} records read, "
                      f"{c['rejected']} rejected" + (f" · candidates: {verdicts}" if verdicts else "") + inside)


# Seconds without a measured set before the log says why no profiling actor can start (if so).
WAIT_NOTE_S = float(os.environ.get("HYDRA_RAY_ENRICH_WAIT_NOTE_S", "60"))


class RollingWriter:
    """Buffers finished sets; writes a file at ``sets_per_file`` sets or ``seconds_per_file`` seconds."""

    def __init__(self, store: OutputStore, sets_per_file: int, seconds_per_file: float):
        self.store, self.sets_per_file, self.seconds_per_file = store, sets_per_file, seconds_per_file
        self.schema = arrow_schema()
        self.lock = threading.Lock()
        self.tables: list = []
        self.sets = 0
        self.oldest: float | None = None
        self.files_written = 0
        self.sets_written = 0

    def add(self, rows: dict[str, list], n_sets: int) -> None:
        import pyarrow as pa

        n = len(rows["pair_id"])
        table = pa.Table.from_pydict({f.name: rows.get(f.name, [None] * n) for f in self.schema}, schema=self.schema)
        with self.lock:
            self.tables.append(table)
            self.sets += n_sets
            self.oldest = self.oldest or time.monotonic()
            if self.sets >= self.sets_per_file:
                self._flush()

    def tick(self) -> None:
        with self.lock:
            if self.oldest is not None and time.monotonic() - self.oldest >= self.seconds_per_file:
                self._flush()

    def close(self) -> None:
        with self.lock:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if not self.tables:
            return
        self.store.write_part(pa.concat_tables(self.tables))
        self.files_written += 1
        self.sets_written += self.sets
        self.tables, self.sets, self.oldest = [], 0, None


def run_enrich(input_path: str | os.PathLike, output: str | os.PathLike, cfg: EnrichConfig,
               emit: Callable[[str], None] = print, *, worker_cls: type | None = None) -> dict[str, Any]:
    """Measure every valid set of the input not yet in ``output``; returns (and writes) the summary.

    ``worker_cls`` replaces :class:`ProfilerWorker` for the scale benchmark only (benchmarks/bench_scale.py
    times the pipeline around the measuring); users always get the real profiler.
    """
    import ray

    t_start = time.monotonic()
    fs, files = list_inputs(str(input_path), SUFFIXES)   # InputError before anything starts
    store = OutputStore(str(output))
    stale = store.clean_temporaries()
    t_scan = time.monotonic()
    done_ids = store.pair_id_column()
    scan_s = time.monotonic() - t_scan
    # Before Ray starts: a resume asking for other measurement settings is refused here (identity.py).
    check_and_record(store, cfg.profile.to_dict(), has_rows=len(done_ids) > 0, emit=emit)
    emit(f"[enrich] streaming {len(files)} input file(s) ({sum(s for _, s in files) / 1e6:.1f} MB) → {store.location}; "
         f"{len(done_ids)} candidate rows already in the output (pair_id scan {scan_s:.2f} s"
         f"{f'; removed {stale} unfinished temporary file(s)' if stale else ''})")
    # SIGTERM (`ray job stop`, a pod's graceful stop) raises like Ctrl-C (ray_runtime.handle_sigterm),
    # so the `except` below writes the buffered sets (and what else the run knows) before the driver exits.
    started_ray = init_ray(cfg)
    spool = tempfile.NamedTemporaryFile("w", prefix="hydra-rejected-", suffix=".jsonl", delete=False)
    writer = RollingWriter(store, cfg.output.sets_per_file, cfg.output.seconds_per_file)
    run = _Run(cfg, emit, writer, spool, count_rejects=len(done_ids) == 0)
    try:
        plan_reason, nodes_left = run.measure(fs, files, done_ids, worker_cls)
        spool.close()
        store.upload(spool.name, "rejected.jsonl")   # rewritten whole each run: each run re-reads the input
        compacted = None
        if cfg.output.compact:
            compacted = store.compact(cfg.output.compact_rows, arrow_schema())
            if compacted[1] < compacted[0]:   # on a rerun with nothing new there is nothing to merge
                emit(f"[enrich] compacted {compacted[0]} file(s) into {compacted[1]}")
        counts = run.counts
        summary = run_summary(store, run, cfg, t_start=t_start, scan_s=scan_s, placement=plan_reason,
                              nodes_left=nodes_left, compacted=compacted)
        summary["finished"] = True
        emit(f"[enrich] {counts['valid']} valid program sets, {counts['rejected']} rejected rows "
             f"({counts['rejected_by_reason']}); {counts['already']} already measured, {counts['to_measure']} to "
             f"measure: {writer.sets_written} written in {writer.files_written} file(s) → {store.location}")
        store.write_text("summary.json", json.dumps(summary, indent=2))
    except BaseException as e:
        # Whatever stopped it (an error, Ctrl-C, `ray job stop`), the measured sets reach the output,
        # with the rejects and counts so far; the note saying so is printed last (by the CLI after its
        # own line, or in a traceback).
        e.add_note(keep_stopped(e, store, run, cfg, t_start=t_start, scan_s=scan_s))
        raise
    finally:
        spool.close()
        os.unlink(spool.name)
        if started_ray:  # also on Ctrl-C / SIGTERM: no Ray process of ours outlives the command
            from hydra_ray.ray_runtime import shutdown

            shutdown()
    return summary


class _Run:
    """One pass over the stream: the driver loop plus a housekeeping thread (rejects, timed flushes, progress)."""

    def __init__(self, cfg: EnrichConfig, emit, writer: RollingWriter, spool, count_rejects: bool):
        self.cfg, self.emit, self.writer, self.spool = cfg, emit, writer, spool
        self.count_rejects = count_rejects     # once per output directory: a resumed run re-reads the same rejects
        self.progress = Progress(emit)
        self.counts: dict[str, Any] = {}
        self.first_set_at: float | None = None
        self.t0 = time.monotonic()
        self.measure_s = 0.0
        self.batch_size: int | None = None    # sets per actor call, as resolved (auto)
        self.ledger = None
        self.drain_lock = threading.Lock()
        self.plan = None                      # placement.ActorPlan, once known
        self.waiting_noted = False

    def _drain(self, timeout: float | None = None) -> None:
        import ray

        with self.drain_lock:   # the housekeeping thread's and a stopped run's last one
            rows, self.counts = ray.get(self.ledger.drain.remote(), timeout=timeout)
            for r in rows:
                self.spool.write(json.dumps(r) + "\n")
        if self.count_rejects:
            for reason, n in Counter(r["reason"] for r in rows).items():
                obs.inc(obs.ENRICH_REJECTED, n, reason=reason)

    def final_drain(self) -> None:
        """The rows and counts the ledger still holds, when a run stops early (nothing when it had not
        started; on a Ray that no longer answers, the spool keeps what was drained each second)."""
        if self.ledger is not None and not self.spool.closed:
            try:
                self._drain(timeout=10)
            except Exception:  # noqa: BLE001 - the stop goes on with what was fetched before
                pass

    def _housekeeping(self, stop: threading.Event) -> None:
        while not stop.wait(1.0):
            self._drain()
            self.writer.tick()
            self.progress.update(counts=self.counts)
            self._note_unplaceable()

    def _note_unplaceable(self) -> None:
        """Once, when nothing was measured after WAIT_NOTE_S and the cluster cannot host a single
        profiling actor (``placement.mode: require`` on a cluster without the resource, e.g.
        configs/enrich/cluster.yaml on a fixed cluster): say what the actors wait for. Without it the
        log shows "0/N sets · ETA ?" forever, and Ray's own infeasibility warning stays in its logs."""
        import ray

        if self.waiting_noted or self.progress.done or self.plan is None:
            return
        if time.monotonic() - self.t0 < WAIT_NOTE_S:
            return
        self.waiting_noted = True
        need = {"CPU": float(self.plan.options.get("num_cpus") or 0), **self.plan.options.get("resources", {})}
        have = ray.cluster_resources()
        short = {k: v for k, v in need.items() if v and float(have.get(k, 0)) < v}
        if not short:
            return
        lacking = ", ".join(f"{float(have.get(k, 0)):g} {k!r}" for k in short)
        self.emit(f"[enrich] waiting: no profiling actor can start: each needs {need} and the cluster has "
                  f"{lacking} now. They start when nodes with it join (an autoscaler adds them for the pending "
                  f"actors); on a fixed cluster use placement.mode=auto, or start nodes with "
                  f"--resources='{{\"profiler\": N}}' (README, On a cluster)")

    def measure(self, fs, files, done_ids, worker_cls) -> tuple[str, list[dict]]:
        import ray
        import ray.data
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from hydra_ray.ray_runtime import quiet_console_handlers

        quiet_console_handlers()   # Ray Data's console handler (INFO) exists from its import on

        from hydra_ray.enrich.stream import Ledger, make_datasource, validate_block
        from hydra_ray.enrich.worker import ProfilerWorker
        from hydra_ray.placement import profiler_actors

        cfg = self.cfg
        here = ray.get_runtime_context().get_node_id()
        # The ledger and the read/validate tasks stay on the driver's node: local input paths work on a
        # cluster without shared storage, and profiling nodes only measure.
        self.ledger = ray.remote(Ledger).options(
            num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False)).remote(done_ids, cfg.limit)
        del done_ids
        # Ray Data warns when an operator gets fewer inputs than its concurrency (one input file, few sets):
        # expected here, and not something a user can act on.
        warnings.filterwarnings("ignore", message="The (maximum|minimum) number of concurrent", category=UserWarning)
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # our own progress line is the one users read
        plan = self.plan = profiler_actors(ray.cluster_resources(), cfg.placement)
        n_actors = max(1, min(plan.count, cfg.limit or plan.count))
        batch_size = resolve_batch_size(cfg.batch_size, sum(size for _, size in files), cfg.limit, n_actors)
        self.batch_size = batch_size
        auto = " (auto)" if cfg.batch_size == "auto" else ""
        self.emit(f"[enrich] placement: {plan.reason}; using {n_actors}; {batch_size} set(s) per actor call{auto}")
        near = {"num_cpus": cfg.input.cpus_per_task, "scheduling_strategy": NodeAffinitySchedulingStrategy(here, soft=True)}
        tasks = ray.data.TaskPoolStrategy(size=cfg.input.validate_tasks)
        source = make_datasource(fs, files, cfg.input.block_rows, self.ledger if cfg.limit else None)
        with warnings.catch_warnings():  # scheduling_strategy has no named parameter on read_datasource in 2.60
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")   # RayDeprecationWarning
            ds = ray.data.read_datasource(source, compute=tasks, ray_remote_args=near)
            if not cfg.limit:   # with a limit the read task validates, in file order (stream.read_in_order)
                ds = ds.map_batches(validate_block, batch_format="pyarrow", batch_size=None,
                                    fn_kwargs={"ledger": self.ledger}, compute=tasks, **near)
        # Blocks of batch_size sets, so each actor call gets one batch and its results stream out at once.
        ds = ds.repartition(target_num_rows_per_block=batch_size)
        _same_task_args(ds, near)
        # The real worker reports long sets' progress to the ledger (inflight.py); the scale benchmark's
        # stand-in measures nothing, so it gets no handle.
        worker_kwargs = {"profile": cfg.profile.to_dict(), **({} if worker_cls else {"progress": self.ledger})}
        out = ds.map_batches(
            worker_cls or ProfilerWorker, fn_constructor_kwargs=worker_kwargs,
            batch_size=batch_size, compute=ray.data.ActorPoolStrategy(size=n_actors), **plan.options)
        nodes_before = _alive_nodes()
        written = self.progress.written
        stop = threading.Event()
        keeper = threading.Thread(target=self._housekeeping, args=(stop,), name="enrich-housekeeping", daemon=True)
        self.t0 = t0 = time.monotonic()
        keeper.start()
        try:
            for batch in out.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=0):
                rows = _drop_written(batch.to_pydict(), written)
                if not rows.get("pair_id"):
                    continue
                self.first_set_at = self.first_set_at or time.monotonic()
                sets = set(rows["pair_id"])
                self.writer.add(rows, len(sets))
                written.update(sets)
                self.progress.update(len(sets), rows["verdict"])
                _record_metrics(rows, len(sets))
        finally:
            stop.set()
            keeper.join()
            self.measure_s = time.monotonic() - t0
        self.writer.close()
        self._drain()
        self.progress.update(counts=self.counts, force=True)
        nodes_left = _nodes_left(nodes_before)
        if nodes_left:
            which = "; ".join(f"{n['node_id'][:12]}: {n['reason']}" for n in nodes_left)
            self.emit(f"[enrich] {len(nodes_left)} node(s) left the cluster during this run ({which}); sets in "
                      f"flight there were retried on restarted actors, and each set was written once")
        return plan.reason, nodes_left


def _same_task_args(ds, args: dict) -> None:
    """Give the streaming repartition the read/validate tasks' resources, so Ray Data fuses the three
    into one task chain. ``Dataset.repartition`` takes no resource arguments; left alone it asks for
    1 CPU, which the profiling actors hold, and the stream would wait forever."""
    op = ds._logical_plan.dag
    if not hasattr(op, "ray_remote_args") or "StreamingRepartition" not in type(op).__name__:
        raise RuntimeError(f"Ray Data {type(op).__name__}: hydra-ray expects a StreamingRepartition with "
                           f"ray_remote_args (Ray 2.60); this Ray version is not supported")
    op.ray_remote_args.update(args)


def _drop_written(rows: dict[str, list], written: set[str]) -> dict[str, list]:
    """Rows of sets not yet written by this run. A retried task (actor restarted after a node died)
    must not produce a second copy of a set, whatever Ray re-delivers."""
    keep = [i for i, p in enumerate(rows.get("pair_id", [])) if p not in written]
    if len(keep) == len(rows.get("pair_id", [])):
        return rows
    return {k: [v[i] for i in keep] for k, v in rows.items()}


def _record_metrics(rows: dict[str, list], n_sets: int) -> None:
    """Dashboard counters for one finished batch (the driver counts what reaches the output)."""
    obs.inc(obs.ENRICH_PAIRS, n_sets)
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
