"""The GPU check's serve stage: the service on a local Ray with one backend, chat tokens/s at batch 1 and 8,
and /v1/optimize latency with 4 candidates."""
from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CODE = "n = int(input())\ntotal = 0\nfor i in range(n):\n    total += i\nprint(total)\n"


def stage_serve(work: Path, backend: str, smoke: bool, repeats: int, chat_tokens: int, opt_tokens: int) -> dict:
    import httpx
    import ray
    from ray import serve

    from hydra_ray.prefs.prompt import render_messages
    from hydra_ray.serve.config import vllm_node_problems
    from hydra_ray.serve.testing import deploy, free_port

    if backend == "vllm" and (problems := vllm_node_problems()):
        return {"skipped": "; ".join(problems)}
    args = {
        "backend": backend,
        "model": {"training_output": str(work / "big-train"), "merge_adapter": backend == "model",
                  "device": "cpu" if smoke else "auto", "dtype": "float32" if smoke else "bfloat16"},
        "generation": {"n_candidates": 4, "max_candidates": 8, "max_new_tokens": opt_tokens,
                       "max_new_tokens_limit": 4096, "temperature": 0.7, "timeout_s": 600},
        "batching": {"max_batch_size": 8, "batch_wait_timeout_s": 0.05},
        "deployments": {"generation": {"num_cpus": 1, "num_gpus": 0 if smoke else 1, "use_gpu": not smoke,
                                       "max_ongoing_requests": 32},
                        "verification": {"num_cpus": 1}},
        "verification": {"profile": {"warmup": 0, "repeats": 4, "throughput_bursts": 4}},
    }
    ray.init(address="local", include_dashboard=False, num_cpus=max(2, min(8, os.cpu_count() or 2)))
    try:
        t0 = time.perf_counter()
        url = deploy(args, free_port(), timeout_s=900)
        startup = time.perf_counter() - t0
        health = httpx.get(url + "healthz", timeout=60).json()["generation"]

        def chat(k: int) -> tuple[int, float]:
            body = {"messages": render_messages(f"print({k})\n", [0.2] * 5), "max_tokens": chat_tokens,
                    "temperature": 0.7, "seed": k}
            t = time.perf_counter()
            r = httpx.post(url + "v1/chat/completions", json=body, timeout=900)
            r.raise_for_status()
            return r.json()["usage"]["completion_tokens"], time.perf_counter() - t

        chat(10_000)   # warm-up: first call of a shape (kernels, graphs)
        one = [chat(k) for k in range(repeats)]
        batch1 = statistics.median(n / s for n, s in one)
        eights = []
        for rep in range(max(1, repeats - 1)):
            t = time.perf_counter()
            with ThreadPoolExecutor(max_workers=8) as pool:
                outs = list(pool.map(chat, range(100 * (rep + 1), 100 * (rep + 1) + 8)))
            eights.append(sum(n for n, _ in outs) / (time.perf_counter() - t))
        opt = []
        for k in range(repeats):
            t = time.perf_counter()
            r = httpx.post(url + "v1/optimize", json={"code": CODE, "inputs": ["10\n"], "preset": "runtime",
                                                      "n_candidates": 4, "max_new_tokens": opt_tokens, "seed": k},
                           timeout=900)
            r.raise_for_status()
            body = r.json()
            opt.append({"latency_s": time.perf_counter() - t, "generation_s": body["timings"]["generation_s"],
                        "completion_tokens": body["generation"]["completion_tokens"]})
    finally:
        serve.shutdown()
        ray.shutdown()
    return {"startup_s": startup, "generation_replica": health,
            "batch1_tokens_per_s": batch1, "batch8_tokens_per_s": statistics.median(eights),
            "batch1_runs": [{"tokens": n, "seconds": s} for n, s in one], "batch8_runs_tokens_per_s": eights,
            "chat_max_tokens": chat_tokens,
            "optimize_4_candidates": {"max_new_tokens": opt_tokens, "runs": opt,
                                      "latency_s_median": statistics.median(o["latency_s"] for o in opt),
                                      "generation_s_median": statistics.median(o["generation_s"] for o in opt)}}
