"""The service under real use: clients that give up, several clients at once.

Real Ray Serve on ``ray.init(num_cpus=2)`` (Ray's processes are this process's descendants, so the
sandbox sessions of *this* service can be told from other services' on the machine), recorded
completions for generation; the sandbox, measurement and HTTP are the production path.
"""
from __future__ import annotations

import time

import httpx
import psutil
import pytest

ray = pytest.importorskip("ray")
from ray import serve  # noqa: E402

from hydra_ray.serve.testing import deploy, free_port, write_recorded  # noqa: E402

# ~0.3 s a run: a request on it measures four programs for ~10 s, long enough to give up midway.
SLOW = "import time\nn = int(input())\ntime.sleep(0.3)\nprint(sum(range(n)))\n"
SLOW_CANDIDATES = ["import time\nn = int(input())\ntime.sleep(0.2)\nprint(sum(range(n)))\n",
                   "import time\nn = int(input())\ntime.sleep(0.25)\nprint(n * (n - 1) // 2)\n",
                   "import time\nn = int(input())\ntime.sleep(0.35)\nprint(sum(range(n)))\n"]
CHEAP = "n = int(input())\nprint(n * 2)\n"


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    recorded = write_recorded(tmp_path_factory.mktemp("serve-use") / "recorded.jsonl",
                              by_code={SLOW: SLOW_CANDIDATES, CHEAP: ["n = int(input())\nprint(n + n)\n"]})
    args = {
        "backend": "recorded", "recorded": {"path": str(recorded)},
        "generation": {"n_candidates": 3, "max_candidates": 6},
        "deployments": {"generation": {"num_cpus": 0.25}, "verification": {"num_cpus": 1}},
        "verification": {"profile": {
            "warmup": 0, "repeats": 5, "throughput_bursts": 4, "remeasure_unsteady": 0,
            "sandbox": {"wall_time_s": 2, "cpu_time_s": 2, "memory_mb": 512}}},
    }
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    try:
        yield deploy(args, free_port())
    finally:
        serve.shutdown()
        ray.shutdown()


def sandbox_processes() -> int:
    """Processes of sandbox sessions running in this test's Ray (the runner's command line names its job file)."""
    n = 0
    for p in psutil.Process().children(recursive=True):
        try:
            if any(a.endswith("job.json") for a in p.cmdline()) and "bwrap" not in p.name():
                n += 1
        except psutil.Error:
            pass
    return n


def optimize(url: str, code: str, inp: str, timeout: float = 300) -> httpx.Response:
    return httpx.post(url + "v1/optimize", json={"code": code, "inputs": [inp], "preset": "runtime"},
                      timeout=timeout)


def test_a_client_that_gives_up_stops_its_measurement(url):
    """The client's HTTP timeout closes the connection 3 s into a ~10 s request: its sandbox session is
    killed at once (it ran to its end, ~10 s more, beside the next request's measurements), and the
    service answers the next request normally."""
    assert optimize(url, CHEAP, "3\n").status_code == 200   # warm: the slow request below is all measurement
    with pytest.raises(httpx.TimeoutException):
        optimize(url, SLOW, "100\n", timeout=3)
    gave_up = time.monotonic()
    while sandbox_processes() and time.monotonic() - gave_up < 10:
        time.sleep(0.1)
    assert sandbox_processes() == 0 and time.monotonic() - gave_up < 2.5, \
        f"sandbox work of the abandoned request still running {time.monotonic() - gave_up:.1f} s after it"
    r = optimize(url, CHEAP, "21\n")
    assert r.status_code == 200, r.text
    assert r.json()["original"]["verdict"] == "passed" and r.json()["candidates"][0]["verdict"] == "passed"
