"""Progress inside sets being measured, for the enrich progress line.

A set is measured in one actor call, and the progress line counted only finished sets, so a run on
per-problem sets (up to 92 candidates, minutes a set) showed the same line for minutes. Each worker
now tells the ledger actor what its set is doing (phase, runs done of the phase's session); the
driver reads it with the counts it already drains every second, and the line shows it.

Cost for ordinary pairs: none on the wire. A worker reports only once its set has been measured for
``QUIET_S`` seconds, then at most once per ``EVERY_S``, fire-and-forget; a 2-candidate set takes
about a second, so it never reports. Per finished run the worker only counts (a Python call).
The candidates of a set are measured together, interleaved round by round (ABBA), so none is
finished before the set is: progress is in runs of the current phase, not in finished candidates.
"""
from __future__ import annotations

import os
import time
from typing import Any

QUIET_S = float(os.environ.get("HYDRA_RAY_INFLIGHT_QUIET_S", "2"))
EVERY_S = float(os.environ.get("HYDRA_RAY_INFLIGHT_EVERY_S", "2"))
STALE_S = 900.0   # a report this old is from a worker that died mid-set: its set is retried elsewhere
SHOWN = 3


class SetProgress:
    """A :class:`hydra_ray.sandbox.progress.Sink` for one set, in the worker; sends to ``board``
    (an actor with ``report(worker, seq, state)``)."""

    def __init__(self, board, worker: str, seq_start: int, set_id: str, candidates: int):
        self.board, self.worker, self.seq = board, worker, seq_start
        self.state: dict[str, Any] = {"set": set_id, "candidates": candidates, "phase": "starting",
                                      "done": 0, "runs": 0}
        self.t0 = self.last = time.monotonic()
        self.sent = False

    def phase(self, name: str) -> None:
        self.state["phase"] = name

    def session(self, runs: int) -> None:
        self.state["done"], self.state["runs"] = 0, runs
        self._maybe_send()

    def run_done(self) -> None:
        self.state["done"] += 1
        self._maybe_send()

    def _maybe_send(self) -> None:
        now = time.monotonic()
        if now - self.t0 < QUIET_S or now - self.last < EVERY_S:
            return
        self.last, self.sent = now, True
        self._send(dict(self.state, t=time.time()))

    def finish(self) -> int:
        """The set is done: clear its entry (only if one was sent). Returns the next sequence number."""
        if self.sent:
            self._send(None)
        return self.seq

    def _send(self, state: dict | None) -> None:
        self.seq += 1   # the board keeps a worker's latest report: calls to an async actor may reorder
        self.board.report.remote(self.worker, self.seq, state)


class Board:
    """Held by the ledger actor: each worker's latest report."""

    def __init__(self) -> None:
        self.latest: dict[str, tuple[int, dict | None]] = {}

    def report(self, worker: str, seq: int, state: dict | None) -> None:
        if seq > self.latest.get(worker, (0, None))[0]:
            self.latest[worker] = (seq, state)

    def states(self) -> list[dict]:
        now = time.time()
        return [s for _, s in self.latest.values() if s is not None and now - s["t"] < STALE_S]


def describe(states: list[dict], written: set[str] | frozenset = frozenset()) -> str:
    """`` · in flight: p03796 (92 candidates) timing 1520/5520 runs; …`` or "" when nothing is reported
    (sets that were written since their last report are left out)."""
    live = sorted((s for s in states if s["set"] not in written), key=lambda s: s["set"])
    if not live:
        return ""
    parts = [f"{s['set']} ({s['candidates']} candidates) {s['phase']} {s['done']}/{s['runs']} runs"
             for s in live[:SHOWN]]
    more = f"; {len(live) - SHOWN} more" if len(live) > SHOWN else ""
    return " · in flight: " + "; ".join(parts) + more
