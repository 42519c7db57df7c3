"""Every hydra-ray metric for the Ray dashboard / Prometheus, defined once, created lazily.

Ray serves ``ray.util.metrics`` objects on each node's metrics port with a ``ray_`` prefix, so
``hydra_enrich_pairs_total`` is scraped as ``ray_hydra_enrich_pairs_total``;
``clusters/grafana/hydra-ray.json`` charts exactly the names and types in ``SPECS``. Counters keep
their ``_total`` suffix in the Ray name: Ray 2.60 exports such a name unchanged with both its
OpenTelemetry and its older OpenCensus exporter.

Use from any Ray process (driver, task, actor, Serve replica)::

    from hydra_ray import observability as obs
    obs.inc(obs.ENRICH_VERDICTS, verdict="passed")
    obs.observe(obs.TRAIN_STEP_SECONDS, 1.7)
    obs.set_gauge(obs.TRAIN_ALPHA, 2.5, region="latency")

The Ray objects are made on first use in each process (a Ray metric belongs to the process that
records it), and the helpers do nothing when Ray is not initialised, so library code can call them
unconditionally (CLI runs without Ray, unit tests). Importing this module does not import Ray.
"""
from __future__ import annotations

import enum
import threading
from dataclasses import dataclass
from typing import Any


class Kind(str, enum.Enum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


@dataclass(frozen=True)
class MetricSpec:
    name: str                          # the Ray metric name; Prometheus sees "ray_" + name
    kind: Kind
    description: str
    tag_keys: tuple[str, ...] = ()
    boundaries: tuple[float, ...] = ()  # histograms only: upper bucket bounds

    @property
    def exported(self) -> str:
        return "ray_" + self.name


# Relative spread is IQR / median: 0.01 = 1 %. Buckets resolve the range where significance tests
# stop working (a few percent) and show outliers up to 2x.
_REL_SPREAD_BUCKETS = (0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
# Seconds: a DPO step on CPU takes seconds, on a GPU tenths; a sandbox run milliseconds to the limit.
_SECONDS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

ENRICH_PAIRS = "hydra_enrich_pairs_total"
ENRICH_VERDICTS = "hydra_enrich_verdicts_total"
ENRICH_REJECTED = "hydra_enrich_rejected_total"
ENRICH_REL_SPREAD = "hydra_enrich_measurement_rel_spread"
TRAIN_LOSS = "hydra_train_loss"
TRAIN_ALPHA = "hydra_train_alpha"
TRAIN_REGION_LOSS = "hydra_train_region_loss"
TRAIN_STEP_SECONDS = "hydra_train_step_seconds"
SERVE_REQUESTS = "hydra_serve_requests_total"
SERVE_CANDIDATE_VERDICTS = "hydra_serve_candidate_verdicts_total"
SERVE_GENERATION_SECONDS = "hydra_serve_generation_seconds"
SERVE_GENERATION_CANCELLED = "hydra_serve_generation_cancelled_total"
SERVE_SANDBOX_SECONDS = "hydra_serve_sandbox_seconds"

SPECS: dict[str, MetricSpec] = {s.name: s for s in (
    MetricSpec(ENRICH_PAIRS, Kind.COUNTER, "program sets measured and written to the enriched output"),
    MetricSpec(ENRICH_VERDICTS, Kind.COUNTER, "measured candidates by sandbox verdict", ("verdict",)),
    MetricSpec(ENRICH_REJECTED, Kind.COUNTER,
               "input rows rejected while loading, by reason (counted by the run that starts an output "
               "directory; resumed runs re-read the same rows and do not count them again)", ("reason",)),
    MetricSpec(ENRICH_REL_SPREAD, Kind.HISTOGRAM,
               "latency IQR / median of each passed candidate (measurement noise)", (), _REL_SPREAD_BUCKETS),
    MetricSpec(TRAIN_LOSS, Kind.GAUGE, "DPO training loss of the latest logged step"),
    MetricSpec(TRAIN_ALPHA, Kind.GAUGE, "adaptive Dirichlet alpha per preference region", ("region",)),
    MetricSpec(TRAIN_REGION_LOSS, Kind.GAUGE, "recent DPO loss per preference region", ("region",)),
    MetricSpec(TRAIN_STEP_SECONDS, Kind.HISTOGRAM, "wall time of one optimiser step", (), _SECONDS_BUCKETS),
    MetricSpec(SERVE_REQUESTS, Kind.COUNTER, "HTTP requests by route and status code", ("route", "status")),
    MetricSpec(SERVE_CANDIDATE_VERDICTS, Kind.COUNTER, "generated candidates by sandbox verdict", ("verdict",)),
    MetricSpec(SERVE_GENERATION_SECONDS, Kind.HISTOGRAM, "generation backend time per request (its batch's wall time)", (),
               _SECONDS_BUCKETS),
    MetricSpec(SERVE_GENERATION_CANCELLED, Kind.COUNTER,
               "requests whose decoding stopped early because the client had gone"),
    MetricSpec(SERVE_SANDBOX_SECONDS, Kind.HISTOGRAM, "sandbox verification and measurement time per call", (),
               _SECONDS_BUCKETS),
)}

_made: dict[str, Any] = {}
_lock = threading.Lock()  # Serve replicas and Ray Train report from several threads


def get(name: str) -> Any:
    """The process's ``ray.util.metrics`` object for ``name`` (created on first use, after ray.init)."""
    spec = SPECS.get(name)
    if spec is None:
        raise KeyError(f"unknown metric {name!r}; defined in hydra_ray/observability.py: {sorted(SPECS)}")
    with _lock:
        metric = _made.get(name)
        if metric is None:
            from ray.util import metrics as rm

            if spec.kind is Kind.COUNTER:
                metric = rm.Counter(spec.name, spec.description, tag_keys=spec.tag_keys)
            elif spec.kind is Kind.GAUGE:
                metric = rm.Gauge(spec.name, spec.description, tag_keys=spec.tag_keys)
            else:
                metric = rm.Histogram(spec.name, spec.description, boundaries=list(spec.boundaries),
                                      tag_keys=spec.tag_keys)
            _made[name] = metric
    return metric


def _active() -> bool:
    import ray

    return ray.is_initialized()


def _checked(name: str, kind: Kind, tags: dict[str, str]) -> bool:
    spec = SPECS.get(name)
    if spec is None or spec.kind is not kind:
        raise ValueError(f"metric {name!r} is {spec.kind.value if spec else 'not defined'}, not a {kind.value}")
    if set(tags) != set(spec.tag_keys):
        raise ValueError(f"metric {name!r} takes tags {spec.tag_keys}, got {tuple(sorted(tags))}")
    return _active()


def inc(name: str, value: float = 1.0, **tags: str) -> None:
    """Add ``value`` (> 0) to a counter; no-op outside Ray or for value 0."""
    if _checked(name, Kind.COUNTER, tags) and value > 0:
        get(name).inc(value, tags={k: str(v) for k, v in tags.items()} or None)


def observe(name: str, value: float, **tags: str) -> None:
    """Record one value in a histogram; no-op outside Ray."""
    if _checked(name, Kind.HISTOGRAM, tags):
        get(name).observe(float(value), tags={k: str(v) for k, v in tags.items()} or None)


def set_gauge(name: str, value: float, **tags: str) -> None:
    """Set a gauge; no-op outside Ray."""
    if _checked(name, Kind.GAUGE, tags):
        get(name).set(float(value), tags={k: str(v) for k, v in tags.items()} or None)
