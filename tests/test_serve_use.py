"""The service under real use: clients that give up, several clients at once.

Real Ray Serve on ``ray.init(num_cpus=2)`` (Ray's processes are this process's descendants, so the
sandbox sessions of *this* service can be told from other services' on the machine), recorded
completions for generation; the sandbox, measurement and HTTP are the production path.
"""
from __future__ import annotations

import threading
import time

import httpx
import psutil
import pytest
import yaml

ray = pytest.importorskip("ray")
from ray import serve  # noqa: E402

from hydra_ray.serve.testing import free_port, write_recorded  # noqa: E402

# ~0.3 s a run: a request on it measures four programs for ~10 s, long enough to give up midway.
SLOW = "import time\nn = int(input())\ntime.sleep(0.3)\nprint(sum(range(n)))\n"
SLOW_CANDIDATES = ["import time\nn = int(input())\ntime.sleep(0.2)\nprint(sum(range(n)))\n",
                   "import time\nn = int(input())\ntime.sleep(0.25)\nprint(n * (n - 1) // 2)\n",
                   "import time\nn = int(input())\ntime.sleep(0.35)\nprint(sum(range(n)))\n"]
CHEAP = "n = int(input())\nprint(n * 2)\n"
# ~0.6 s a run: measuring it and its candidates takes ~20 s, past VERIFY_TIMEOUT_S.
SLOWER = SLOW.replace("0.3", "0.6")
VERIFY_TIMEOUT_S = 12


REQUEST_TIMEOUT_S = 120
RETRY_AFTER_S = 7


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    """Started as ``hydra-ray serve`` starts it (start_service on a preset file), on this test's Ray."""
    from hydra_ray.serve.service import start_service, stop_service

    tmp = tmp_path_factory.mktemp("serve-use")
    recorded = write_recorded(tmp / "recorded.jsonl",
                              by_code={SLOW: SLOW_CANDIDATES, SLOWER: SLOW_CANDIDATES,
                                       CHEAP: ["n = int(input())\nprint(n + n)\n"]})
    args = {
        "backend": "recorded", "recorded": {"path": str(recorded)},
        "generation": {"n_candidates": 3, "max_candidates": 6},
        # One call at a time in the verifier and one waiting: a third is refused (saturation test).
        "deployments": {"generation": {"num_cpus": 0.25},
                        "verification": {"num_cpus": 1, "max_ongoing_requests": 1, "max_queued_requests": 1,
                                         "retry_after_s": RETRY_AFTER_S}},
        "verification": {"timeout_s": VERIFY_TIMEOUT_S, "profile": {
            "warmup": 0, "repeats": 5, "throughput_bursts": 4, "remeasure_unsteady": 0,
            "sandbox": {"wall_time_s": 2, "cpu_time_s": 2, "memory_mb": 512}}},
    }
    preset = tmp / "preset.yaml"
    preset.write_text(yaml.safe_dump({
        "http_options": {"host": "127.0.0.1", "port": 8000, "request_timeout_s": REQUEST_TIMEOUT_S},
        "applications": [{"name": "hydra-ray", "route_prefix": "/", "import_path": "hydra_ray.serve.app:build",
                          "args": args}]}))
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    try:
        yield start_service(preset, port=free_port(), timeout_s=300)
    finally:
        stop_service()
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


def test_the_presets_http_options_reach_serve(url):
    """request_timeout_s of the preset bounds a request (hydra-ray serve dropped it: no bound at all)."""
    from ray.serve.context import _get_global_client

    assert _get_global_client().http_config.request_timeout_s == REQUEST_TIMEOUT_S


def test_a_saturated_service_says_so_with_503_and_retry_after(url):
    """The verifier busy with a slow request and one request waiting: two more are refused at once with
    503, Retry-After and the setting to change (they waited behind everything before); once the slow
    client gives up, the waiting request is answered."""
    slow = threading.Thread(target=lambda: pytest.raises(httpx.TimeoutException, optimize, url, SLOW, "100\n", 6))
    slow.start()
    time.sleep(1.5)   # its measurement has started
    answers: dict[int, tuple[httpx.Response, float]] = {}

    def cheap(k: int) -> None:
        t0 = time.monotonic()
        r = optimize(url, CHEAP, f"{k}\n", timeout=120)
        answers[k] = (r, time.monotonic() - t0)

    others = [threading.Thread(target=cheap, args=(k,)) for k in range(3)]
    for t in others:
        t.start()
        time.sleep(0.2)   # in order: the first one is the one that waits
    for t in [slow, *others]:
        t.join(timeout=120)
    statuses = sorted(r.status_code for r, _ in answers.values())
    assert statuses == [200, 503, 503], [(r.status_code, r.text[:300]) for r, _ in answers.values()]
    for r, seconds in answers.values():
        if r.status_code == 503:
            err = r.json()["error"]
            assert err["type"] == "overloaded" and "deployments.verification.max_queued_requests" in err["message"]
            assert r.headers["Retry-After"] == str(RETRY_AFTER_S) and seconds < 3, (r.headers, seconds)
        else:
            assert r.json()["candidates"][0]["verdict"] == "passed"
            # It waited behind the slow request (~4 s) and says so, apart from its own sandbox time.
            t = r.json()["timings"]
            assert t["waiting_s"] > 2 and t["waiting_s"] + t["sandbox_s"] <= t["total_s"] + 0.01, t


def test_optimize_waits_as_retry_after_asks_and_then_gets_its_answer(url, tmp_path):
    """`hydra-ray optimize` against a saturated service (the verifier busy with a slow request, one more
    waiting): it is refused with 503 overloaded, says so, waits Retry-After and retries; by then the slow
    client has given up, so the retry is answered. Run as a user runs it: relative paths, its own cwd."""
    import subprocess
    import sys

    (tmp_path / "prog.py").write_text(CHEAP)
    (tmp_path / "in.txt").write_text("5\n")
    slow = threading.Thread(target=lambda: pytest.raises(httpx.TimeoutException, optimize, url, SLOW, "100\n", 4))
    waiting = threading.Thread(target=lambda: optimize(url, CHEAP, "4\n", timeout=120))
    slow.start()
    time.sleep(1.5)   # its measurement has started
    waiting.start()
    time.sleep(0.3)   # and this one waits in the queue
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "hydra_ray", "optimize", "prog.py", "--input", "in.txt",
                           "--url", url, "--timeout", "120"], capture_output=True, text=True, timeout=200,
                          cwd=tmp_path)
    took = time.monotonic() - t0
    for t in (slow, waiting):
        t.join(timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"at capacity (HTTP 503); retrying in {RETRY_AFTER_S} s as it asks (1 of 3)" in proc.stderr, proc.stderr
    assert "best:" in proc.stdout and took >= RETRY_AFTER_S


def test_verification_past_its_timeout_is_a_504_naming_the_setting_and_stops(url):
    """verification.timeout_s bounds a request's measurement: a 504 that names the setting (not the
    proxy's plain 408 at request_timeout_s), and the sandbox work stops with it."""
    t0 = time.monotonic()
    r = optimize(url, SLOWER, "100\n", timeout=60)
    took = time.monotonic() - t0
    assert r.status_code == 504, r.text
    err = r.json()["error"]
    assert err["type"] == "timeout" and f"longer than {VERIFY_TIMEOUT_S} s (verification.timeout_s)" in err["message"]
    assert VERIFY_TIMEOUT_S <= took < VERIFY_TIMEOUT_S + 6, took
    deadline = time.monotonic() + 5
    while sandbox_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sandbox_processes() == 0
