"""The profiling worker: a plain class that Ray Data runs as an actor (one per profiling core).

Each worker pins itself to one CPU of its node (claimed with a lock file, so two workers on a node
never share a core) and keeps that pin for its lifetime: both candidates of a set are measured by
one worker call, so on the same node and the same CPU, interleaved.
"""
from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path
from typing import Any

from hydra_ray.config import from_dict
from hydra_ray.data.schema import ProgramSet
from hydra_ray.enrich.inflight import SetProgress
from hydra_ray.enrich.rows import candidate_rows
from hydra_ray.metrics.profiler import ProfileConfig, Profiler
from hydra_ray.sandbox.progress import reporting

LOCK_DIR = Path("/tmp/hydra-ray-cpu-locks")


def claim_cpu() -> tuple[int | None, Any]:
    """Pin this process to the first CPU no other worker on this node holds; (cpu, lock handle)."""
    cpus = sorted(os.sched_getaffinity(0))
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    for cpu in cpus:
        handle = open(LOCK_DIR / f"cpu{cpu}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        os.sched_setaffinity(0, {cpu})
        return cpu, handle
    return None, None  # more workers than CPUs: run unpinned rather than stack two on one core


def _node_id() -> str:
    try:
        import ray

        if ray.is_initialized():
            return ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001 - outside Ray the hostname identifies the node
        pass
    return socket.gethostname()


class ProfilerWorker:
    def __init__(self, profile: dict[str, Any], progress=None):
        # progress: the ledger actor, told what a long set is doing (enrich/inflight.py); None: silent
        self.progress, self.seq, self.key = progress, 0, f"{socket.gethostname()}:{os.getpid()}"
        self.cpu, self._lock = claim_cpu()
        self.profiler = Profiler(from_dict(ProfileConfig, profile))
        b = self.profiler.baseline
        self.node = {"node_id": _node_id(), "cpu_model": b["cpu_model"], "cpu_id": self.cpu,
                     "clock_hz": b["clock_hz"], "interpreter_rss_kb": b["interpreter_rss_kb"],
                     "interpreter_ms": b["interpreter_ms"], "isolation": b["isolation"]}

    def measure(self, ps: ProgramSet) -> list[dict[str, Any]]:
        if self.progress is None:
            return candidate_rows(ps, self.profiler.profile(ps), self.node, self.profiler.baseline["floors"])
        sink = SetProgress(self.progress, self.key, self.seq, ps.pair_id, len(ps.candidates))
        try:
            with reporting(sink):
                results = self.profiler.profile(ps)
        finally:
            self.seq = sink.finish()
        return candidate_rows(ps, results, self.node, self.profiler.baseline["floors"])

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        """Ray Data entry point: a batch of program-set rows in, a batch of candidate rows out."""
        n = len(batch["pair_id"])
        rows: list[dict[str, Any]] = []
        for i in range(n):
            record = {k: (v[i].tolist() if hasattr(v[i], "tolist") else v[i]) for k, v in batch.items()}
            rows.extend(self.measure(ProgramSet.from_row(record)))
        return {k: [r[k] for r in rows] for k in (rows[0] if rows else {})}
