"""Configuration of `hydra-ray enrich`."""
from __future__ import annotations

from dataclasses import dataclass, field

from hydra_ray.config import Config, positive
from hydra_ray.metrics.profiler import ProfileConfig
from hydra_ray.placement import ProfilerPlacement


@dataclass
class RayConfig(Config):
    address: str | None = None        # None: $RAY_ADDRESS if set (ray job submit), else an embedded local Ray
    num_cpus: int | None = None       # embedded Ray only: CPUs to give it (default: all)
    include_dashboard: bool | None = None

    def _check(self, errors: list[str]) -> None:
        if self.num_cpus is not None:
            positive(errors, "num_cpus", self.num_cpus)


@dataclass
class EnrichConfig(Config):
    profile: ProfileConfig = field(default_factory=ProfileConfig)
    placement: ProfilerPlacement = field(default_factory=ProfilerPlacement)
    ray: RayConfig = field(default_factory=RayConfig)
    batch_size: int = 1               # program sets per actor call; 1 keeps the loss window of a kill small
    limit: int | None = None          # only the first N valid records (quick looks, tests)

    def _check(self, errors: list[str]) -> None:
        positive(errors, "batch_size", self.batch_size)
        if self.limit is not None:
            positive(errors, "limit", self.limit)
