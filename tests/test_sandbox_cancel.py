"""Cancelling a caller's sandbox work from another thread (hydra_ray.sandbox.cancel): what the service
does when a client goes away mid-measurement."""
from __future__ import annotations

import threading
import time

import psutil
import pytest

from hydra_ray.sandbox.cancel import CancelToken, SandboxCancelled, cancelling
from hydra_ray.sandbox.limits import SandboxLimits
from hydra_ray.sandbox.runner import RunSpec, Sandbox

LIMITS = SandboxLimits(wall_time_s=3, cpu_time_s=3, memory_mb=512)
NAP = "import time\ntime.sleep(0.5)\nprint('ok')\n"


def session_processes() -> list[psutil.Process]:
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            if any(a.endswith("job.json") for a in p.cmdline()):
                out.append(p)
        except psutil.Error:
            pass
    return out


@pytest.fixture(scope="module")
def sandbox():
    return Sandbox(LIMITS)


def test_cancel_kills_the_session_in_flight_and_starts_no_other(sandbox):
    """Ten half-second runs (5 s) cancelled after 1 s: the worker thread ends within a second with
    SandboxCancelled, and no process of the session is left."""
    token, outcome = CancelToken(), {}

    def work():
        with cancelling(token):
            try:
                outcome["runs"] = sandbox.run_batch({"nap": NAP}, [RunSpec("nap") for _ in range(10)])
            except SandboxCancelled as e:
                outcome["cancelled"] = e

    thread = threading.Thread(target=work)
    thread.start()
    time.sleep(1.0)
    assert session_processes(), "the session should be running"
    t0 = time.monotonic()
    token.cancel()
    thread.join(timeout=5)
    assert not thread.is_alive() and time.monotonic() - t0 < 1.0
    assert "cancelled" in outcome and "runs" not in outcome, outcome
    assert not session_processes()


def test_a_cancelled_token_starts_nothing_and_others_are_unaffected(sandbox):
    token = CancelToken()
    token.cancel()
    with cancelling(token), pytest.raises(SandboxCancelled):
        sandbox.run_batch({"nap": NAP}, [RunSpec("nap")])
    # Outside that context (another request, another thread) the sandbox runs as ever.
    run = sandbox.run_batch({"nap": NAP}, [RunSpec("nap", expected="ok\n")])[0]
    assert run.verdict.ok, run
