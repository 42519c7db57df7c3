"""Serving: the weight-conditioned optimizer as a Ray Serve application with a FastAPI ingress.

Modules: ``config`` (ServiceConfig, serve presets), ``deployment_config`` (replicas, queue bounds,
autoscaling, batching), ``weights`` (request weights and presets),
``backends`` (model / recorded-completions generation), ``recorded`` (the recorded JSONL format),
``verify`` (sandbox verification + measurement), ``ranking`` (scores against the original),
``views`` (request checks, response bodies), ``schemas`` (pydantic/OpenAPI), ``deployments``
(Generator, Verifier), ``api`` (HydraAPI ingress), ``body_limit`` (limits.max_body_bytes as the body
arrives), ``docs_page`` (GET /docs, offline too), ``app`` (``build``: the Serve import path),
``service`` (``start_service``/``stop_service``), ``client`` (``hydra-ray optimize``), ``telemetry``.
"""
from __future__ import annotations


def start_service(cfg, **kwargs) -> str:
    """Deploy the service and return its URL; see :func:`hydra_ray.serve.service.start_service`."""
    from hydra_ray.serve.service import start_service as _start

    return _start(cfg, **kwargs)


def stop_service(graceful: bool = True) -> None:
    """Stop the service; see :func:`hydra_ray.serve.service.stop_service`."""
    from hydra_ray.serve.service import stop_service as _stop

    _stop(graceful=graceful)
