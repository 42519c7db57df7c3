"""What the profiler reports for one candidate of a set: its verdict and each metric with its samples.

Plain records, so rows (enrich, serve) can read them without loading the sandbox or the profiler.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from hydra_ray.metrics.stats import summarize
from hydra_ray.sandbox.verdict import Verdict


@dataclass
class MetricValue:
    value: float | None
    unit: str
    source: str
    estimated: bool
    samples: list[float]

    @property
    def summary(self):
        return summarize(self.samples) if self.samples else None


@dataclass
class CandidateResult:
    name: str
    code: str
    verdict: Verdict
    detail: str = ""
    tests_passed: int = 0
    tests_total: int = 0
    metrics: dict[str, MetricValue] = field(default_factory=dict)   # by metric column
    peak_memory_net_kb: float | None = None
    significant: dict[str, bool | None] = field(default_factory=dict)
    p_values: dict[str, float | None] = field(default_factory=dict)
    stderr_tail: str = ""
    mode: str = "process"                      # the mode this set was measured in
    mode_reason: str = ""                      # why, when it is not the configured one
    memory_kind: str = "rss"                   # what peak_memory_kb is: rss | rss_growth | tracemalloc_peak
    tracemalloc_peak_kb: float | None = None   # Python allocations (inprocess: correctness run; function: a call)
    rss_growth_kb: float | None = None         # inprocess: median RSS growth over the fork point
    function_calls: int | None = None          # function: calls per sample (median)
    floor_key: str = ""                        # which calibrated floor applies (a key of baseline["floors"])
    cpu_speed_cv: float | None = None          # CV of the CPU speed probe over the timing rounds (module doc)
    timing_attempts: int = 0                   # timing phases run (more than 1: the CPU was unsteady)
    cpu_speed_cv_each: list[float | None] = field(default_factory=list)   # the probe's CV in each attempt
    timing_rounds: int = 0                     # measured rounds in the samples (more than repeats: a second look)
    significant_first_look: dict[str, bool] = field(default_factory=dict)   # 2-candidate sets: after `repeats`
