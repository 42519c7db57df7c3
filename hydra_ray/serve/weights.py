"""Preference weights in requests: a mapping or a list, or a named preset, checked precisely (pure).

A request states what to optimise for in one of three ways::

    "weights": {"runtime": 0.7, "memory": 0.3}        # names; metrics left out weigh 0
    "weights": [0.7, 0.3, 0, 0, 0]                    # METRIC_NAMES order: latency, memory, cycles, throughput, energy
    "preset": "runtime"                               # a name from PRESETS

Names are the metric names (``latency``, ``memory``, ``cycles``, ``throughput``, ``energy``), their
columns (``latency_ms`` …) or an alias (``runtime``, ``time``, ``cpu``, ``cpu_cycles``, ``peak_memory``).
Every weight must be a finite number >= 0 and they must sum to 1 within :data:`SUM_TOLERANCE` (weights
rounded to three decimals, such as 0.333 × 3, pass); the accepted vector is then rescaled to sum to
exactly 1. Each rule broken gives its own message naming the weight, so a client can fix it.

The ``balanced`` preset is the centre of the simplex (0.2 each), the same point training calls the
balanced region; ``runtime+memory`` is the evaluation harness's two-objective "balanced" (0.5, 0.5).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from hydra_ray.metrics.names import METRIC_NAMES, METRICS

M = len(METRIC_NAMES)
SUM_TOLERANCE = 1e-3


def _one_hot(name: str) -> tuple[float, ...]:
    return tuple(1.0 if m == name else 0.0 for m in METRIC_NAMES)


PRESETS: dict[str, tuple[float, ...]] = {
    "balanced": (1.0 / M,) * M,
    "runtime": _one_hot("latency"),
    "latency": _one_hot("latency"),
    "memory": _one_hot("memory"),
    "cycles": _one_hot("cycles"),
    "cpu": _one_hot("cycles"),
    "throughput": _one_hot("throughput"),
    "energy": _one_hot("energy"),
    "runtime+memory": (0.5, 0.5, 0.0, 0.0, 0.0),
    "green": (0.2, 0.1, 0.2, 0.0, 0.5),       # energy first, without giving up speed entirely
}

ALIASES: dict[str, str] = {
    **{m: m for m in METRIC_NAMES},
    **{spec.column: spec.name for spec in METRICS},
    "runtime": "latency", "time": "latency", "speed": "latency",
    "peak_memory": "memory", "mem": "memory",
    "cpu": "cycles", "cpu_cycles": "cycles",
}


class WeightsError(ValueError):
    """A weight specification that cannot be used; ``field`` names the offending part of the request."""

    def __init__(self, message: str, field: str = "weights"):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Weights:
    values: tuple[float, ...]        # METRIC_NAMES order, sums to 1
    preset: str | None = None        # the preset name when given by name

    def as_dict(self) -> dict[str, float]:
        return dict(zip(METRIC_NAMES, self.values))


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WeightsError(f"{where}: expected a number, got {value!r}", where)
    x = float(value)
    if not math.isfinite(x):
        raise WeightsError(f"{where}: expected a finite number, got {value!r}", where)
    return x


def parse_weights(weights: Mapping[str, Any] | Sequence[Any] | None = None, preset: str | None = None,
                  default_preset: str | None = "balanced") -> Weights:
    """The weight vector a request asks for; raises :class:`WeightsError` saying exactly what is wrong."""
    if weights is not None and preset is not None:
        raise WeightsError("give either weights or preset, not both", "preset")
    if weights is None:
        name = preset if preset is not None else default_preset
        if name is None:
            raise WeightsError(f"no weights given: send weights (e.g. {{\"runtime\": 0.7, \"memory\": 0.3}}) "
                               f"or a preset ({', '.join(sorted(PRESETS))})", "weights")
        if not isinstance(name, str) or name not in PRESETS:
            raise WeightsError(f"unknown preset {name!r}; known presets: {', '.join(sorted(PRESETS))}", "preset")
        return Weights(PRESETS[name], name)
    if isinstance(weights, Mapping):
        values = [0.0] * M
        seen: dict[str, str] = {}
        for key, raw in weights.items():
            name = ALIASES.get(str(key).strip().lower())
            if name is None:
                raise WeightsError(f"weights.{key}: unknown objective; expected one of {list(METRIC_NAMES)} "
                                   f"(aliases: runtime, cpu, …)", f"weights.{key}")
            if name in seen:
                raise WeightsError(f"weights.{key}: {name} is already given as weights.{seen[name]}",
                                   f"weights.{key}")
            seen[name] = str(key)
            values[METRIC_NAMES.index(name)] = _number(raw, f"weights.{key}")
        labels = [f"weights.{seen.get(m, m)}" for m in METRIC_NAMES]
        names = [seen.get(m, m) for m in METRIC_NAMES]
    elif isinstance(weights, (list, tuple)):
        if len(weights) != M:
            raise WeightsError(f"weights: expected {M} numbers in the order {list(METRIC_NAMES)}, "
                               f"got {len(weights)}", "weights")
        values = [_number(x, f"weights[{i}] ({m})") for i, (x, m) in enumerate(zip(weights, METRIC_NAMES))]
        labels = [f"weights[{i}] ({m})" for i, m in enumerate(METRIC_NAMES)]
        names = list(METRIC_NAMES)
    else:
        raise WeightsError(f"weights: expected an object such as {{\"runtime\": 0.7, \"memory\": 0.3}} or a list "
                           f"of {M} numbers, got {type(weights).__name__}", "weights")
    negative = [f"{label} = {v:g}" for label, v in zip(labels, values) if v < 0]
    if negative:
        raise WeightsError(f"weights must be >= 0; negative: {', '.join(negative)}", "weights")
    total = math.fsum(values)
    if abs(total - 1.0) > SUM_TOLERANCE + 1e-12:
        shown = ", ".join(f"{name}={v:g}" for name, v in zip(names, values) if v)
        raise WeightsError(f"weights must sum to 1 (±{SUM_TOLERANCE:g}); these sum to {total:.6g} "
                           f"({shown or 'all zero'})", "weights")
    return Weights(tuple(v / total for v in values))


def parse_weights_arg(text: str) -> dict[str, float]:
    """``runtime=0.7,memory=0.3`` (the ``hydra-ray optimize --weights`` syntax) → a mapping for a request."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, raw = part.partition("=")
        if not sep or not key.strip():
            raise WeightsError(f"--weights: {part!r} is not name=value (e.g. runtime=0.7,memory=0.3)")
        if key.strip() in out:   # a dict would keep the last silently; the service then named only it
            raise WeightsError(f"--weights: {key.strip()} is given twice ({text})")
        try:
            out[key.strip()] = float(raw)
        except ValueError:
            raise WeightsError(f"--weights: {key.strip()}={raw!r}: not a number") from None
    if not out:
        raise WeightsError("--weights: empty; e.g. runtime=0.7,memory=0.3")
    return out
