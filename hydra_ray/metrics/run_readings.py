"""What one sandbox run contributes to a sample, by mode: its latency, peak memory and CPU time.

In ``function`` mode a run is a loop of calls, so its figures are per call; in ``inprocess`` mode memory is
the RSS growth over the fork point; in ``process`` mode the kernel's figures for the whole process.
"""
from __future__ import annotations

from hydra_ray.metrics import backends as bk
from hydra_ray.sandbox.verdict import RunResult

MEMORY_KIND = {"process": "rss", "inprocess": "rss_growth", "function": "tracemalloc_peak"}
MEMORY_SOURCE = bk.MEMORY_SOURCE_BY_MODE


def run_latency_ms(r: RunResult, mode: str) -> float:
    if mode == "function":
        return r.extra["loop_ns"] / r.extra["calls"] / 1e6
    return r.wall_ms


def run_memory_kb(r: RunResult, mode: str) -> float:
    if mode == "function":
        return float(r.extra.get("tracemalloc_peak_kb") or 0.0)
    if mode == "inprocess":
        growth = r.extra.get("rss_growth_kb")
        return float(growth if growth is not None else r.max_rss_kb)
    return float(r.max_rss_kb)


def run_cpu_s(r: RunResult, mode: str) -> float:
    if mode == "function" and r.extra.get("loop_cpu_ns") is not None:
        return r.extra["loop_cpu_ns"] / r.extra["calls"] / 1e9
    return r.cpu_s
