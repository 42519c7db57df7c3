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


def improvement_ratio(metric: str, fast: float | None, slow: float | None) -> float | None:
    """How much better ``fast`` is than ``slow`` on ``metric``, > 1 meaning better: slow ÷ fast when lower
    is better, fast ÷ slow when higher is. A zero is a measured value (no net memory, say): against a
    non-zero one the ratio is 0 or inf (plots clip it), two zeros are a tie (1). None when a value is
    missing, negative or not finite."""
    import math

    if fast is None or slow is None or not (math.isfinite(fast) and math.isfinite(slow)) or fast < 0 or slow < 0:
        return None
    better, worse = (fast, slow) if BY_NAME[metric].higher_is_better else (slow, fast)
    if better == worse:
        return 1.0
    return better / worse if worse > 0 else math.inf
