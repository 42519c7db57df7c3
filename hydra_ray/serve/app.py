"""The Serve application builder: ``import_path: hydra_ray.serve.app:build`` in every serve preset.

``serve run configs/serve/X.yaml``, ``serve deploy``, a KubeRay RayService and ``hydra-ray serve`` all
end here: ``build(args)`` validates the args (:class:`ServiceConfig`), asks
:mod:`hydra_ray.placement` for each deployment's resources (GPU for generation when the cluster has or
must have one; CPUs only for verification) and binds the three deployments::

    HydraAPI (FastAPI ingress) ──► Generator   (HF model + @serve.batch, vLLM, or recorded completions)
                               └─► Verifier    (sandbox + profiler + scoring)

Serve's own ``deployments:`` overrides in the preset still apply on top of what is set here.
"""
from __future__ import annotations

from typing import Any

from hydra_ray.placement import generation_replicas, verification_replicas
from hydra_ray.serve.config import ServiceConfig, service_config
from hydra_ray.serve.config_paths import absolutize
from hydra_ray.serve.deployment_config import DeploymentSection


def _cluster_resources() -> dict[str, float]:
    import ray

    # serve run / serve deploy call the builder with Ray up; a bare import (tests, docs) sees no cluster.
    return dict(ray.cluster_resources()) if ray.is_initialized() else {}


def deployment_options(base: dict[str, Any], section: DeploymentSection) -> dict[str, Any]:
    """Placement's replica options plus Serve's: autoscaling bounds replace the fixed replica count."""
    opts = dict(base)
    opts["max_ongoing_requests"] = section.max_ongoing_requests
    opts["max_queued_requests"] = section.max_queued_requests
    if section.max_queued_requests != -1:
        # The proxy's answer for the ingress; for the others the ingress answers (api.HydraAPI._call).
        # Plain data here (serve --check prints the plan); Serve's type in build_app.
        opts["backpressure_config"] = {"retry_after_s": float(section.retry_after_s)}
    # A replica that cannot start (model path wrong, sandbox broken) fails the deployment after a few
    # tries, with its error, instead of being retried for minutes.
    opts["max_constructor_retry_count"] = 3
    if section.autoscaling is not None:
        opts.pop("num_replicas", None)
        opts["autoscaling_config"] = section.autoscaling.serve_options(section.num_replicas)
    return opts


def plan(cfg: ServiceConfig, cluster_resources: dict[str, float] | None = None) -> dict[str, dict[str, Any]]:
    """Deployment options by deployment name, from the config and the cluster now."""
    res = _cluster_resources() if cluster_resources is None else cluster_resources
    d = cfg.deployments
    gen = d.generation
    if cfg.backend == "vllm" and gen.use_gpu == "auto":
        gen = gen.replace(use_gpu=True)   # vLLM only runs on a GPU: ask for one even where none is up yet
    return {
        "HydraAPI": deployment_options(verification_replicas(d.ingress), d.ingress),
        "Generator": deployment_options(generation_replicas(res, gen), gen),
        "Verifier": deployment_options(verification_replicas(d.verification), d.verification),
    }


def build_app(cfg: ServiceConfig, cluster_resources: dict[str, float] | None = None):
    from hydra_ray.serve.api import HydraAPI
    from hydra_ray.serve.deployments import Generator, Verifier

    from ray.serve.config import BackpressureConfig

    cfg = absolutize(cfg)
    opts = plan(cfg, cluster_resources)
    for o in opts.values():
        if "backpressure_config" in o:
            o["backpressure_config"] = BackpressureConfig(**o["backpressure_config"])
    gen_cpus = opts["Generator"]["ray_actor_options"].get("num_cpus", 1.0)
    generator = Generator.options(**opts["Generator"]).bind(cfg, gen_cpus)
    verifier = Verifier.options(**opts["Verifier"]).bind(cfg)
    return HydraAPI.options(**opts["HydraAPI"]).bind(generator, verifier, cfg)


def build(args: dict[str, Any] | None = None):
    """Serve's application builder: the preset's ``args`` in, the bound application out."""
    return build_app(service_config(args, "serve application args"))
