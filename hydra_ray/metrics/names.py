"""The five objectives, their output columns and units, in one place (pure: no Ray, no torch)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricSpec:
    name: str            # short name used in weights and prompts
    column: str          # column in enriched output
    unit: str
    higher_is_better: bool
    label: str           # human wording for prompts and tables


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("latency", "latency_ms", "ms", False, "runtime"),
    MetricSpec("memory", "peak_memory_kb", "KB", False, "peak memory"),
    MetricSpec("cycles", "cpu_cycles", "cycles", False, "CPU cycles"),
    MetricSpec("throughput", "throughput_per_s", "runs/s", True, "throughput"),
    MetricSpec("energy", "energy_j", "J", False, "energy"),
)
METRIC_NAMES: tuple[str, ...] = tuple(m.name for m in METRICS)
BY_NAME: dict[str, MetricSpec] = {m.name: m for m in METRICS}
BY_COLUMN: dict[str, MetricSpec] = {m.column: m for m in METRICS}
