"""The optimizer service's own overhead, and /v1/profile throughput, on a local Ray Serve.

Setup: a local Ray (2 CPUs), the hydra-ray application with the recorded-completions backend (so
generation costs ~nothing and its time is still reported), one verification replica, small profiles
(warmup 0, repeats 4, throughput bursts 4). A cheap program (``n*2``) with one differential input.

* **/v1/optimize overhead** at each concurrency: ``overhead = client latency − generation_s −
  sandbox_s`` (both reported by the service from inside its replicas), p50/p99 over the requests.
  It contains everything that is not model or sandbox work: HTTP proxy, JSON, validation, handle
  routing, and *queueing* for a busy replica (with one verification replica, concurrent requests
  wait for each other's sandbox time). So it is split into ``ingress_overhead`` (inside the
  ingress: routing + queueing at the worker deployments) and ``proxy_and_http`` (client latency −
  the ingress's total time); ``generation_wait`` / ``verification_wait`` are the ingress's calls to
  each deployment minus the work done there (routing, queueing, and the ``@serve.batch`` wait, which
  is ``batching.batch_wait_timeout_s`` when requests arrive alone).
* **/v1/profile** requests/s at each concurrency (sandbox-bound), and GET /healthz requests/s (the
  HTTP stack alone).

Writes benchmarks/results/serve.json (``--output FILE`` elsewhere).

    python benchmarks/bench_serve.py [--requests 24] [--concurrency 1 4 16] [--port 0] [--output FILE]
    python benchmarks/bench_serve.py --requests 4 --concurrency 1 --output /tmp/quick/serve.json   # a quick look
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PROGRAM = "n = int(input())\nprint(n * 2)\n"
CANDIDATE = "n = int(input())\nprint(n + n)\n"


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    k = (len(s) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(xs: list[float]) -> dict[str, float]:
    return {"p50_ms": pct(xs, 50) * 1e3, "p99_ms": pct(xs, 99) * 1e3, "mean_ms": statistics.fmean(xs) * 1e3}


def burst(fn, n: int, concurrency: int) -> tuple[list, float]:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        out = list(pool.map(fn, range(n)))
    return out, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=24, help="requests per concurrency level")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--port", type=int, default=0, help="0 = a free port")
    ap.add_argument("--output", default=str(REPO / "benchmarks" / "results" / "serve.json"))
    args = ap.parse_args()

    import httpx
    import ray
    from ray import serve

    from hydra_ray.serve.testing import deploy, free_port, write_recorded

    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    recorded = write_recorded(tmp / "recorded.jsonl", by_code={PROGRAM: [CANDIDATE]})
    service_args = {
        "backend": "recorded", "recorded": {"path": str(recorded)},
        "generation": {"n_candidates": 1},
        "batching": {"max_batch_size": 8, "batch_wait_timeout_s": 0.05},
        "deployments": {"generation": {"num_cpus": 0.25}, "verification": {"num_cpus": 1, "max_ongoing_requests": 64}},
        "verification": {"profile": {"warmup": 0, "repeats": 4, "throughput_bursts": 4}},
    }
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    result: dict = {"benchmark": "hydra-ray serve: service overhead and /v1/profile throughput",
                    "backend": "recorded completions (generation ~0 s)", "program": PROGRAM,
                    # the verification replica's profile settings; "profile" below is /v1/profile's throughput
                    "verification_profile": service_args["verification"]["profile"], "verification_replicas": 1,
                    "batching": service_args["batching"],
                    "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                "loadavg_at_start": os.getloadavg()}}
    try:
        t0 = time.perf_counter()
        url = deploy(service_args, args.port or free_port())
        result["startup_s"] = time.perf_counter() - t0
        client = httpx.Client(timeout=600, limits=httpx.Limits(max_connections=64))

        def optimize(k: int) -> dict:
            t = time.perf_counter()
            r = client.post(url + "v1/optimize", json={"code": PROGRAM, "inputs": [f"{k}\n"], "preset": "runtime"})
            latency = time.perf_counter() - t
            if r.status_code != 200:
                raise RuntimeError(f"HTTP {r.status_code}: {r.text[:300]}")
            return {"latency": latency, **r.json()["timings"]}

        def profile(k: int) -> float:
            t = time.perf_counter()
            r = client.post(url + "v1/profile", json={"code": PROGRAM, "inputs": [f"{k}\n"]})
            if r.status_code != 200:
                raise RuntimeError(f"HTTP {r.status_code}: {r.text[:300]}")
            return time.perf_counter() - t

        burst(optimize, 3, 1)   # warm-up: first calls build handles and routers
        result["optimize"] = []
        for c in args.concurrency:
            rows, wall = burst(optimize, args.requests, c)
            overhead = [r["latency"] - r["generation_s"] - r["sandbox_s"] for r in rows]
            result["optimize"].append({
                "concurrency": c, "requests": len(rows), "requests_per_s": len(rows) / wall,
                "latency": summary([r["latency"] for r in rows]),
                "overhead": summary(overhead),
                "ingress_overhead": summary([r["overhead_s"] for r in rows]),
                "proxy_and_http": summary([r["latency"] - r["total_s"] for r in rows]),
                "generation_wait": summary([r["generation_call_s"] - r["generation_s"] for r in rows]),
                "verification_wait": summary([r["verification_call_s"] - r["sandbox_s"] for r in rows]),
                "sandbox": summary([r["sandbox_s"] for r in rows]),
                "generation": summary([r["generation_s"] for r in rows]),
            })
            print(json.dumps(result["optimize"][-1]), flush=True)
        result["profile"] = []
        for c in args.concurrency:
            lat, wall = burst(profile, args.requests, c)
            result["profile"].append({"concurrency": c, "requests": len(lat), "requests_per_s": len(lat) / wall,
                                      "latency": summary(lat)})
            print(json.dumps(result["profile"][-1]), flush=True)
        n = 200
        _, wall = burst(lambda k: client.get(url + "healthz").raise_for_status(), n, 16)
        result["healthz_requests_per_s_at_16"] = n / wall
        result["machine"]["loadavg_at_end"] = os.getloadavg()
        result["note"] = ("overhead = client latency - generation_s - sandbox_s; at concurrency > 1 it includes "
                          "queueing for the single verification replica (ingress_overhead), which is why it "
                          "grows with concurrency; proxy_and_http is the HTTP proxy and JSON cost alone. "
                          "The machine is shared (see machine.loadavg_at_start): absolute numbers are noisy.")
        client.close()
    finally:
        serve.shutdown()
        ray.shutdown()
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
