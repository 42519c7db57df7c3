"""Runs finished inside a sandbox session, as they finish: for progress of long measurements.

A set of many candidates is measured in a few sandbox sessions (correctness, timing rounds,
throughput, counters), each of thousands of runs, and one session of a 92-candidate set takes
minutes. Without this, nobody outside the actor can tell it is moving. A sink is found through a
context variable, like :mod:`hydra_ray.sandbox.cancel`, because the work is several layers below the
caller (worker → profiler → timing rounds → sandbox) and only the sandbox sees runs finish.

    with reporting(sink):            # sink.session(n), sink.run_done(), sink.phase(name)
        profiler.profile(ps)

Without a sink the sandbox reads a session's output as before (``communicate``); with one, it reads
the runner's result lines as they are written (the runner flushes each) and calls ``run_done`` per
line: no extra process, pipe or wake-up, as ``communicate`` also wakes per write.
"""
from __future__ import annotations

import threading
from typing import Protocol

from hydra_ray.sandbox.ambient import Ambient, kill_group


class Sink(Protocol):
    def phase(self, name: str) -> None: ...        # what the runs now starting are for
    def session(self, runs: int) -> None: ...      # a session of ``runs`` runs starts
    def run_done(self) -> None: ...                # one of them finished


_ambient: Ambient[Sink] = Ambient("hydra_sandbox_progress")


def current() -> Sink | None:   # functions, not bound methods: see cancel.py
    return _ambient.current()


def reporting(sink: Sink):
    """``with reporting(sink):`` this context's sandbox sessions report to ``sink``."""
    return _ambient.using(sink)


def phase(name: str) -> None:
    """Tell the sink (if any) what the following sessions measure."""
    sink = current()
    if sink is not None:
        sink.phase(name)


def read_session(proc, budget_s: float, sink: Sink) -> tuple[bytes, bytes]:
    """(stdout, stderr) of a session process, like ``communicate(timeout=budget_s)`` followed by a kill
    of its process group on timeout, calling ``sink.run_done()`` for each result line as it arrives."""
    err: list[bytes] = []
    drain = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)
    drain.start()   # stderr read beside stdout, so a full stderr pipe never stalls the runner

    timer = threading.Timer(budget_s, kill_group, args=(proc.pid,))
    timer.daemon = True
    timer.start()
    lines: list[bytes] = []
    try:
        for line in proc.stdout:   # ends at EOF: the runner exited or was killed
            lines.append(line)
            if line.startswith(b'{"result"'):
                try:
                    sink.run_done()
                except Exception:  # noqa: BLE001 - progress must never fail a measurement
                    pass
    finally:
        timer.cancel()
        proc.wait()
        drain.join()
    return b"".join(lines), b"".join(err)
