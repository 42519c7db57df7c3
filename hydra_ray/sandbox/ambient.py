"""What a caller hands the sandbox without passing it down every layer between them (a cancel token,
a progress sink): the work is several layers deep (worker or engine → profiler → timing rounds →
sandbox) and only the sandbox has anything to kill or to count. A context variable, so it follows the
work into ``asyncio.to_thread`` and stays out of other threads' and requests' work."""
from __future__ import annotations

import contextlib
import contextvars
import os
import signal
from typing import Generic, Iterator, TypeVar

T = TypeVar("T")


class Ambient(Generic[T]):
    def __init__(self, name: str) -> None:
        self._var: contextvars.ContextVar[T | None] = contextvars.ContextVar(name, default=None)

    def current(self) -> T | None:
        return self._var.get()

    @contextlib.contextmanager
    def using(self, value: T) -> Iterator[T]:
        reset = self._var.set(value)
        try:
            yield value
        finally:
            self._var.reset(reset)


def kill_group(pgid: int) -> None:
    """SIGKILL a session's process group; one that has already ended is fine."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
