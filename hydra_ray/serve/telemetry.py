"""Service metrics exported through Ray's metrics agent (Prometheus names get Ray's ``ray_`` prefix).

The metrics themselves (names, kinds, tags, buckets) are defined once, in :mod:`hydra_ray.observability`,
with the names the Grafana dashboard (``clusters/grafana/hydra-ray.json``) and ``clusters/README.md``
expect; this module gives the serve deployments short attribute names for them.
"""
from __future__ import annotations

import functools
from typing import Any


class ServeMetrics:
    def __init__(self) -> None:
        from hydra_ray import observability as obs

        self.requests: Any = obs.get(obs.SERVE_REQUESTS)
        self.verdicts: Any = obs.get(obs.SERVE_CANDIDATE_VERDICTS)
        self.generation: Any = obs.get(obs.SERVE_GENERATION_SECONDS)
        self.cancelled: Any = obs.get(obs.SERVE_GENERATION_CANCELLED)
        self.sandbox: Any = obs.get(obs.SERVE_SANDBOX_SECONDS)


@functools.lru_cache(maxsize=1)
def metrics() -> ServeMetrics:
    return ServeMetrics()
