"""Service metrics exported through Ray's metrics agent (Prometheus names get Ray's ``ray_`` prefix).

The names and labels are the ones the Grafana dashboard (``clusters/grafana/hydra-ray.json``) and
``clusters/README.md`` expect; each replica creates the set once, lazily.
"""
from __future__ import annotations

import functools

_SECONDS = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0]


class ServeMetrics:
    def __init__(self) -> None:
        from ray.util.metrics import Counter, Histogram

        self.requests = Counter("hydra_serve_requests_total", description="HTTP requests by route and status",
                                tag_keys=("route", "status"))
        self.verdicts = Counter("hydra_serve_candidate_verdicts_total",
                                description="generated candidates by verification verdict", tag_keys=("verdict",))
        self.generation = Histogram("hydra_serve_generation_seconds", description="generation backend time per "
                                    "request (its batch's wall time)", boundaries=_SECONDS)
        self.sandbox = Histogram("hydra_serve_sandbox_seconds", description="sandbox verification and "
                                 "measurement time per call", boundaries=_SECONDS)


@functools.lru_cache(maxsize=1)
def metrics() -> ServeMetrics:
    return ServeMetrics()
