"""Stop a caller's sandbox work from another thread: the session running now is killed, and no further
session starts.

The service runs a request's verification (many sandbox sessions: correctness, timing rounds,
throughput bursts, counters) in a worker thread. When the client goes away, Serve cancels the request's
coroutine, but a thread cannot be cancelled: without this the orphaned measurement ran to its end (13 s
measured for a 3-candidate request), on the replica's one measuring core, beside the next request's.

    token = CancelToken()
    with cancelling(token):          # in the thread doing the work (contextvars reach asyncio.to_thread)
        sandbox.run_batch(...)       # raises SandboxCancelled once token.cancel() was called
    token.cancel()                   # from the event loop: kills the session in flight at once

A token is found through a context variable, not passed down, because the work is several layers deep
(engine → profiler → timing rounds → sandbox) and only the sandbox has anything to kill.
"""
from __future__ import annotations

import threading

from hydra_ray.sandbox.ambient import Ambient, kill_group


class SandboxCancelled(RuntimeError):
    """The caller cancelled this work; the sandbox session in flight was killed."""


class CancelToken:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancelled = False
        self._pgid: int | None = None   # the session in flight (its leader starts a new session)

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            if self._pgid is not None:
                kill_group(self._pgid)

    def attach(self, pgid: int) -> None:
        """A session started (its leader's pid is its process group); killed now if already cancelled."""
        with self._lock:
            self._pgid = pgid
            if self._cancelled:
                kill_group(pgid)

    def detach(self) -> None:
        """The session ended. (Its leader is reaped just before this, as Popen.communicate waits; a pid
        reused in that instant is the one race left, the same one Popen.send_signal accepts.)"""
        with self._lock:
            self._pgid = None

    def check(self) -> None:
        if self._cancelled:
            raise SandboxCancelled("the request was cancelled (the client went away)")


_ambient: Ambient[CancelToken] = Ambient("hydra_sandbox_cancel")


# Functions, not the bound methods: Ray pickles what a deployment's module imports, and a bound method
# would carry its ContextVar, which cannot be pickled.
def current() -> CancelToken | None:
    return _ambient.current()


def cancelling(token: CancelToken):
    """``with cancelling(token):`` work in this context stops when ``token.cancel()`` is called."""
    return _ambient.using(token)
