"""Where work runs: Ray resource requests decided from config and the cluster, in one place.

Pure (no Ray import). Every function takes ``cluster_resources`` — the dict ``ray.cluster_resources()``
returns, e.g. ``{"CPU": 16.0, "GPU": 2.0, "profiler": 16.0, "memory": ...}`` — plus a config section,
and returns plain option dicts for ``Actor.options(**...)``, ``ScalingConfig(**...)`` or
``Deployment.options(**...)``. Nothing else in hydra-ray should write ``num_cpus=``/``num_gpus=``.

The clusters in ``clusters/`` give profiling nodes one ``profiler`` resource per physical core (SMT
off), so one profiling actor per core never shares a core with another measurement.

``ray.cluster_resources()`` lists only the nodes that are up. An autoscaling cluster that starts with
no profiling or GPU workers therefore looks CPU-only; its presets say ``mode: require`` /
``use_gpu: true`` so the pending requests make the autoscaler add those nodes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from hydra_ray.config import Config, one_of, positive

PROFILER_RESOURCE = "profiler"
# Ray's built-in resources; anything else in resources_per_worker is a custom resource.
_BUILTIN = ("CPU", "GPU", "memory")


class PlacementError(ValueError):
    """The config asks for something the cluster cannot give; the message says what to change."""


def _gpu_flag(errors: list[str], name: str, value: Any) -> None:
    if not (isinstance(value, bool) or value == "auto"):
        errors.append(f"{name}: expected true, false or 'auto', got {value!r}")


def _resolve_gpu(flag: bool | str, cluster_resources: Mapping[str, float]) -> bool:
    # "auto" sees only nodes that are up now (see module docstring).
    return bool(cluster_resources.get("GPU", 0) >= 1) if flag == "auto" else bool(flag)


def check_resource_map(errors: list[str], name: str, value: Any) -> None:
    if not isinstance(value, dict):
        errors.append(f"{name}: expected a mapping of resource name to amount, got {value!r}")
        return
    for key, amount in value.items():
        if not isinstance(key, str) or not key:
            errors.append(f"{name}: resource names must be non-empty strings, got {key!r}")
        else:
            positive(errors, f"{name}.{key}", amount, allow_zero=True)


# ---- enrichment: profiling actors ----------------------------------------------------------------

@dataclass
class ProfilerPlacement(Config):
    """How many measurement actors to start and what each reserves.

    mode: ``auto`` uses the ``resource`` when the cluster has it now and else falls back to plain
    CPUs; ``require`` always asks for it (an autoscaling cluster then adds profiling nodes);
    ``off`` never does (e.g. a laptop whose Ray was started with a ``profiler`` resource anyway).
    num_actors: 0 means one per profiler slot (or per ``cpus_per_actor`` CPUs in the fallback).
    """

    mode: str = "auto"
    resource: str = PROFILER_RESOURCE
    num_actors: int = 0
    cpus_per_actor: float = 1.0

    def _check(self, errors: list[str]) -> None:
        one_of(errors, "mode", self.mode, ("auto", "require", "off"))
        if not isinstance(self.resource, str) or not self.resource or self.resource in _BUILTIN:
            errors.append(f"resource: expected a custom resource name such as 'profiler', got {self.resource!r}")
        if not isinstance(self.num_actors, int) or isinstance(self.num_actors, bool) or self.num_actors < 0:
            errors.append(f"num_actors: expected an integer >= 0 (0 = one per core), got {self.num_actors!r}")
        positive(errors, "cpus_per_actor", self.cpus_per_actor)


@dataclass(frozen=True)
class ActorPlan:
    count: int
    options: dict[str, Any]      # pass as ActorClass.options(**options)
    uses_profiler: bool
    reason: str                  # one line for the log: why this choice


def profiler_actors(cluster_resources: Mapping[str, float],
                    cfg: ProfilerPlacement | None = None) -> ActorPlan:
    """One measurement actor per profiler slot when the cluster has them, else per CPU."""
    cfg = cfg or ProfilerPlacement()
    slots = float(cluster_resources.get(cfg.resource, 0))
    use = cfg.mode == "require" or (cfg.mode == "auto" and slots >= 1)
    cpus = float(cluster_resources.get("CPU", 0))
    if use:
        count = cfg.num_actors or int(slots)
        if count == 0:
            raise PlacementError(
                f"placement.mode is 'require' but the cluster has no {cfg.resource!r} resource now "
                f"(resources: {dict(cluster_resources)}); set num_actors to the number of profiling "
                f"cores wanted so the pending actors make the autoscaler add profiling nodes")
        options = {"num_cpus": cfg.cpus_per_actor, "resources": {cfg.resource: 1}}
        why = (f"{count} actor(s), each holding 1 {cfg.resource!r} slot "
               f"({slots:g} in the cluster now, mode={cfg.mode})")
        return ActorPlan(count, options, True, why)
    count = cfg.num_actors or int(math.floor(cpus / cfg.cpus_per_actor + 1e-9))
    if count == 0:
        raise PlacementError(
            f"the cluster has {cpus:g} CPU(s) now, fewer than cpus_per_actor={cfg.cpus_per_actor:g}; "
            f"set num_actors so the autoscaler adds CPU workers, or start Ray with more CPUs")
    why = (f"{count} actor(s) on plain CPUs ({cfg.cpus_per_actor:g} each; no {cfg.resource!r} resource "
           f"used, mode={cfg.mode}); measurements may share cores with other work")
    return ActorPlan(count, {"num_cpus": cfg.cpus_per_actor}, False, why)


# ---- training: Ray Train workers -----------------------------------------------------------------

@dataclass
class ScalingSection(Config):
    """The ``scaling`` section of a training preset (the fields of ``ray.train.ScalingConfig``).

    num_workers: 0 means one per GPU in the cluster now (GPU training) or 1 (CPU training).
    use_gpu: true, false or ``auto`` (GPUs if the cluster has one now).
    resources_per_worker: e.g. ``{CPU: 4, GPU: 1}``; missing CPU defaults to 1, missing GPU to 1
    when use_gpu.
    """

    num_workers: int = 0
    use_gpu: bool | str = "auto"
    resources_per_worker: dict[str, float] = field(default_factory=dict)

    def _check(self, errors: list[str]) -> None:
        if not isinstance(self.num_workers, int) or isinstance(self.num_workers, bool) or self.num_workers < 0:
            errors.append(f"num_workers: expected an integer >= 0 (0 = one per GPU), got {self.num_workers!r}")
        _gpu_flag(errors, "use_gpu", self.use_gpu)
        check_resource_map(errors, "resources_per_worker", self.resources_per_worker)
        if self.use_gpu is False and isinstance(self.resources_per_worker, dict) \
                and self.resources_per_worker.get("GPU", 0):
            errors.append(f"resources_per_worker.GPU: is {self.resources_per_worker['GPU']!r} but use_gpu "
                          f"is false; remove GPU or set use_gpu: true")


@dataclass(frozen=True)
class TrainPlan:
    num_workers: int
    use_gpu: bool
    resources_per_worker: dict[str, float]
    notes: tuple[str, ...]       # e.g. "needs 4 GPU, 0 in the cluster now"
    accelerator_type: str | None = None

    def scaling_config_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``ray.train.ScalingConfig``."""
        kwargs = {"num_workers": self.num_workers, "use_gpu": self.use_gpu,
                  "resources_per_worker": dict(self.resources_per_worker)}
        if self.accelerator_type:
            kwargs["accelerator_type"] = self.accelerator_type
        return kwargs

    def describe(self) -> str:
        """One line for the log: what each worker reserves and whether the cluster has it now."""
        per = ", ".join(f"{k} {v:g}" for k, v in self.resources_per_worker.items())
        gpu = f" ({self.accelerator_type})" if self.accelerator_type else ""
        waits = "; " + "; ".join(self.notes) if self.notes else ""
        return f"{self.num_workers} worker(s), each {per}{gpu}{waits}"


def train_workers(cluster_resources: Mapping[str, float], section: Any = None) -> TrainPlan:
    """Ray Train scaling from a ``ScalingSection`` or any object with ``num_workers``, ``use_gpu`` and
    ``resources_per_worker`` and/or ``cpus_per_worker`` (e.g. a training preset's own section)."""
    section = section or ScalingSection()
    use_gpu = _resolve_gpu(section.use_gpu, cluster_resources)
    per = {k: float(v) for k, v in (getattr(section, "resources_per_worker", None) or {}).items()}
    cpus = getattr(section, "cpus_per_worker", None)
    per.setdefault("CPU", float(cpus) if cpus is not None else 1.0)
    if use_gpu:
        per.setdefault("GPU", 1.0)
        if per["GPU"] <= 0:
            raise PlacementError("scaling.resources_per_worker.GPU is 0 but use_gpu resolved to true; "
                                 "give each worker a GPU share (e.g. 1 or 0.5) or set use_gpu: false")
    n = section.num_workers
    if n == 0:
        if use_gpu:
            n = int(math.floor(cluster_resources.get("GPU", 0) / per["GPU"] + 1e-9))
            if n == 0:
                raise PlacementError(
                    "scaling.num_workers is 0 (one per GPU) but the cluster has no GPU now; "
                    "an autoscaling cluster needs an explicit num_workers to scale GPU nodes up")
        else:
            n = 1
    accelerator = getattr(section, "accelerator_type", None) or None
    if accelerator and not use_gpu:
        raise PlacementError(f"scaling.accelerator_type={accelerator!r} needs use_gpu: true")
    notes = []
    wanted = dict(per)
    if accelerator:   # Ray's GPU nodes advertise `accelerator_type:<model>`; Ray Train asks for a sliver
        wanted[f"accelerator_type:{accelerator}"] = 0.001
    for key, amount in wanted.items():
        need, have = n * amount, float(cluster_resources.get(key, 0))
        if need > have:
            notes.append(f"needs {need:g} {key}, {have:g} in the cluster now: waits for the autoscaler")
    return TrainPlan(n, use_gpu, per, tuple(notes), accelerator)


# ---- serving: Ray Serve replicas -----------------------------------------------------------------

@dataclass
class ReplicaSection(Config):
    """Replicas of one Serve deployment. GPU fields apply to generation, not verification."""

    num_replicas: int = 1
    num_cpus: float = 1.0
    num_gpus: float = 1.0          # per generation replica when it runs on GPU; 0.5 packs two per GPU
    use_gpu: bool | str = "auto"
    resources: dict[str, float] = field(default_factory=dict)

    def _check(self, errors: list[str]) -> None:
        if not isinstance(self.num_replicas, int) or isinstance(self.num_replicas, bool) or self.num_replicas < 1:
            errors.append(f"num_replicas: expected an integer >= 1, got {self.num_replicas!r}")
        positive(errors, "num_cpus", self.num_cpus, allow_zero=True)
        positive(errors, "num_gpus", self.num_gpus, allow_zero=True)
        _gpu_flag(errors, "use_gpu", self.use_gpu)
        check_resource_map(errors, "resources", self.resources)
        if isinstance(self.resources, dict):
            for key in set(self.resources) & set(_BUILTIN):
                errors.append(f"resources.{key}: set num_cpus/num_gpus instead of {key} in resources")


def _deployment(section: ReplicaSection, num_gpus: float) -> dict[str, Any]:
    actor: dict[str, Any] = {"num_cpus": float(section.num_cpus)}
    if num_gpus:
        actor["num_gpus"] = float(num_gpus)
    if section.resources:
        actor["resources"] = {k: float(v) for k, v in section.resources.items()}
    return {"num_replicas": section.num_replicas, "ray_actor_options": actor}


def generation_replicas(cluster_resources: Mapping[str, float],
                        section: ReplicaSection | None = None) -> dict[str, Any]:
    """Options for the model-serving deployment: GPUs when there are (or must be) any, else CPUs."""
    section = section or ReplicaSection()
    use_gpu = _resolve_gpu(section.use_gpu, cluster_resources)
    if use_gpu and section.num_gpus <= 0:
        raise PlacementError("serve generation replicas: use_gpu resolved to true but num_gpus is 0; "
                             "set num_gpus (e.g. 1, or 0.5 to pack two replicas per GPU)")
    return _deployment(section, section.num_gpus if use_gpu else 0.0)


def verification_replicas(section: ReplicaSection | None = None) -> dict[str, Any]:
    """Options for the sandbox-verification deployment: CPUs only, whatever the GPU fields say."""
    return _deployment(section or ReplicaSection(), 0.0)
