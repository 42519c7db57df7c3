"""How the service's three deployments run (pure: no Ray): replicas, resources, Serve's queue bounds and
autoscaling, and ``@serve.batch`` for generation. Part of :class:`hydra_ray.serve.config.ServiceConfig`
(``deployments``, ``batching``); each deployment's defaults are its own class's.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from hydra_ray.config import Config, integer_at_least, positive
from hydra_ray.placement import ReplicaSection


@dataclass
class BatchSection(Config):
    """``@serve.batch`` on the generation deployment: requests that arrive together decode together."""

    max_batch_size: int = 8
    batch_wait_timeout_s: float = 0.05

    def _check(self, errors: list[str]) -> None:
        integer_at_least(errors, "max_batch_size", self.max_batch_size, 1)
        positive(errors, "batch_wait_timeout_s", self.batch_wait_timeout_s, allow_zero=True)


@dataclass
class AutoscalingSection(Config):
    """Serve autoscaling bounds; with it, the deployment's num_replicas is the initial count."""

    min_replicas: int = 1
    max_replicas: int = 1
    target_ongoing_requests: float = 2.0
    upscale_delay_s: float = 30.0
    downscale_delay_s: float = 600.0

    def _check(self, errors: list[str]) -> None:
        integer_at_least(errors, "min_replicas", self.min_replicas, 0)
        integer_at_least(errors, "max_replicas", self.max_replicas, 1)
        if isinstance(self.min_replicas, int) and isinstance(self.max_replicas, int) \
                and self.min_replicas > self.max_replicas:
            errors.append(f"min_replicas: {self.min_replicas} is above max_replicas={self.max_replicas}")
        positive(errors, "target_ongoing_requests", self.target_ongoing_requests)
        positive(errors, "upscale_delay_s", self.upscale_delay_s, allow_zero=True)
        positive(errors, "downscale_delay_s", self.downscale_delay_s, allow_zero=True)

    def serve_options(self, initial: int) -> dict[str, Any]:
        return {"min_replicas": self.min_replicas, "max_replicas": self.max_replicas,
                "initial_replicas": max(self.min_replicas, min(self.max_replicas, initial)),
                "target_ongoing_requests": float(self.target_ongoing_requests),
                "upscale_delay_s": float(self.upscale_delay_s), "downscale_delay_s": float(self.downscale_delay_s)}


@dataclass
class DeploymentSection(ReplicaSection):
    """Replicas (placement's fields) plus what Serve needs besides resources."""

    max_ongoing_requests: int = 16
    autoscaling: Optional[AutoscalingSection] = None   # Optional[]: config._coerce misses X | None
    # Calls waiting for a replica beyond max_ongoing_requests × replicas; more are refused at once with
    # 503 and Retry-After: retry_after_s, rather than waiting for minutes (-1: no bound, Serve's default).
    max_queued_requests: int = -1
    retry_after_s: float = 10.0

    def _check(self, errors: list[str]) -> None:
        super()._check(errors)
        integer_at_least(errors, "max_ongoing_requests", self.max_ongoing_requests, 1)
        if self.max_queued_requests != -1:
            integer_at_least(errors, "max_queued_requests", self.max_queued_requests, 0)
        positive(errors, "retry_after_s", self.retry_after_s, allow_zero=True)


# Each deployment's defaults are its class's, so a preset that sets one field of a section keeps the
# section's other defaults (not those of a generic deployment: 16 calls and use_gpu auto for the sandbox).
@dataclass
class IngressDeployment(DeploymentSection):
    """Routing and validation only: the heavy work is in the other two deployments."""

    num_cpus: float = 0.0
    use_gpu: bool | str = False
    max_ongoing_requests: int = 64


@dataclass
class VerificationDeployment(DeploymentSection):
    """One sandbox session at a time per replica: 8 calls inside a replica plus 16 waiting already mean
    minutes for the last one; beyond that a client is better told to come back."""

    use_gpu: bool | str = False
    max_ongoing_requests: int = 8
    max_queued_requests: int = 16


@dataclass
class DeploymentsSection(Config):
    ingress: IngressDeployment = field(default_factory=IngressDeployment)
    generation: DeploymentSection = field(default_factory=DeploymentSection)
    verification: VerificationDeployment = field(default_factory=VerificationDeployment)
