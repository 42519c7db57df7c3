"""hydra_ray.placement: resource decisions from config + cluster resources, checked against real Ray."""
from __future__ import annotations

import subprocess
import sys

import pytest

from hydra_ray.config import ConfigError, from_dict
from hydra_ray.placement import (
    PlacementError,
    ProfilerPlacement,
    ReplicaSection,
    ScalingSection,
    generation_replicas,
    profiler_actors,
    train_workers,
    verification_replicas,
)

LAPTOP = {"CPU": 2.0, "memory": 8e9, "object_store_memory": 2e9, "node:127.0.0.1": 1.0}
PROFILING_CLUSTER = {"CPU": 16.0, "profiler": 16.0, "memory": 6e10}
GPU_CLUSTER = {"CPU": 32.0, "GPU": 4.0, "profiler": 8.0}


def test_module_does_not_import_ray():
    code = "import sys, hydra_ray.placement; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---- profiling actors ----------------------------------------------------------------------------

def test_profiler_resource_used_when_present_one_actor_per_slot():
    plan = profiler_actors(PROFILING_CLUSTER)
    assert plan.uses_profiler
    assert plan.count == 16
    assert plan.options == {"num_cpus": 1.0, "resources": {"profiler": 1}}


def test_profiler_falls_back_to_one_cpu_each():
    plan = profiler_actors(LAPTOP)
    assert not plan.uses_profiler
    assert plan.count == 2
    assert plan.options == {"num_cpus": 1.0}
    assert "resources" not in plan.options


def test_profiler_fallback_count_divides_cpus():
    """floor(CPU / cpus_per_actor): 7 CPUs / 2 per actor = 3 actors (the 7th CPU stays free)."""
    plan = profiler_actors({"CPU": 7.0}, ProfilerPlacement(cpus_per_actor=2.0))
    assert plan.count == 3 and plan.options == {"num_cpus": 2.0}


def test_profiler_mode_off_ignores_the_resource():
    plan = profiler_actors(PROFILING_CLUSTER, ProfilerPlacement(mode="off"))
    assert not plan.uses_profiler and plan.count == 16 and plan.options == {"num_cpus": 1.0}


def test_profiler_require_on_cluster_without_slots_needs_explicit_count():
    # The autoscaling cluster before any profiling node is up: only the head (0 CPU) is there.
    head_only = {"memory": 4e9}
    with pytest.raises(PlacementError, match="num_actors"):
        profiler_actors(head_only, ProfilerPlacement(mode="require"))
    plan = profiler_actors(head_only, ProfilerPlacement(mode="require", num_actors=32))
    assert plan.uses_profiler and plan.count == 32
    assert plan.options["resources"] == {"profiler": 1}


def test_profiler_no_cpus_at_all_is_an_error_naming_the_fix():
    with pytest.raises(PlacementError, match="num_actors"):
        profiler_actors({"memory": 1e9})


def test_profiler_custom_resource_name():
    plan = profiler_actors({"CPU": 4.0, "bench_core": 3.0}, ProfilerPlacement(resource="bench_core"))
    assert plan.count == 3 and plan.options["resources"] == {"bench_core": 1}


@pytest.mark.parametrize("data, field", [
    ({"mode": "sometimes"}, "mode"),
    ({"resource": "CPU"}, "resource"),
    ({"num_actors": -1}, "num_actors"),
    ({"cpus_per_actor": 0}, "cpus_per_actor"),
])
def test_profiler_config_errors_name_the_field(data, field):
    with pytest.raises(ConfigError, match=field):
        from_dict(ProfilerPlacement, data)


# ---- training workers ----------------------------------------------------------------------------

def test_train_auto_on_gpu_cluster_one_worker_per_gpu():
    plan = train_workers(GPU_CLUSTER)
    assert plan.use_gpu and plan.num_workers == 4
    assert plan.resources_per_worker == {"CPU": 1.0, "GPU": 1.0}
    assert plan.notes == ()


def test_train_auto_on_cpu_cluster_single_cpu_worker():
    plan = train_workers(LAPTOP)
    assert not plan.use_gpu and plan.num_workers == 1
    assert plan.resources_per_worker == {"CPU": 1.0}


def test_train_fractional_gpu_share_packs_workers():
    """4 GPUs / 0.5 GPU per worker = 8 workers."""
    plan = train_workers(GPU_CLUSTER, ScalingSection(resources_per_worker={"GPU": 0.5, "CPU": 2}))
    assert plan.num_workers == 8 and plan.resources_per_worker == {"GPU": 0.5, "CPU": 2.0}


def test_train_use_gpu_true_on_empty_cluster_waits_for_autoscaler():
    plan = train_workers({"CPU": 0.0}, ScalingSection(num_workers=2, use_gpu=True,
                                                      resources_per_worker={"CPU": 4}))
    assert plan.use_gpu and plan.num_workers == 2
    assert any("needs 2 GPU" in n for n in plan.notes)
    assert any("needs 8 CPU" in n for n in plan.notes)


def test_train_one_per_gpu_needs_gpus_now():
    with pytest.raises(PlacementError, match="num_workers"):
        train_workers(LAPTOP, ScalingSection(use_gpu=True))


def test_train_gpu_resource_without_use_gpu_is_rejected():
    with pytest.raises(ConfigError, match="resources_per_worker.GPU"):
        from_dict(ScalingSection, {"use_gpu": False, "resources_per_worker": {"GPU": 1}})


def test_train_zero_gpu_share_with_gpu_is_rejected():
    with pytest.raises(PlacementError, match="GPU share"):
        train_workers(GPU_CLUSTER, ScalingSection(use_gpu=True, resources_per_worker={"GPU": 0}))


@pytest.mark.parametrize("data, field", [
    ({"use_gpu": "yes"}, "use_gpu"),
    ({"num_workers": -2}, "num_workers"),
    ({"resources_per_worker": {"CPU": -1}}, "resources_per_worker.CPU"),
    ({"resources_per_worker": [1]}, "resources_per_worker"),
])
def test_scaling_config_errors_name_the_field(data, field):
    with pytest.raises(ConfigError, match=field):
        from_dict(ScalingSection, data)


def test_scaling_section_from_yaml_shape():
    section = from_dict(ScalingSection, {"num_workers": 2, "use_gpu": True,
                                         "resources_per_worker": {"CPU": 8, "GPU": 1}})
    plan = train_workers(GPU_CLUSTER, section)
    assert plan.scaling_config_kwargs() == {"num_workers": 2, "use_gpu": True,
                                            "resources_per_worker": {"CPU": 8.0, "GPU": 1.0}}


def test_train_accepts_a_section_with_cpus_per_worker():
    """Duck-typed: a preset section that states CPUs per worker instead of a resource map."""
    from dataclasses import dataclass

    @dataclass
    class OtherScaling:
        num_workers: int = 2
        use_gpu: bool = True
        cpus_per_worker: int = 4

    plan = train_workers(GPU_CLUSTER, OtherScaling())
    assert plan.scaling_config_kwargs() == {"num_workers": 2, "use_gpu": True,
                                            "resources_per_worker": {"CPU": 4.0, "GPU": 1.0}}


# ---- serve replicas ------------------------------------------------------------------------------

def test_generation_on_gpu_cluster_takes_gpus():
    opts = generation_replicas(GPU_CLUSTER, ReplicaSection(num_replicas=2, num_gpus=0.5))
    assert opts == {"num_replicas": 2, "ray_actor_options": {"num_cpus": 1.0, "num_gpus": 0.5}}


def test_generation_on_cpu_cluster_falls_back_to_cpu():
    opts = generation_replicas(LAPTOP)
    assert opts["ray_actor_options"] == {"num_cpus": 1.0}


def test_generation_required_gpu_without_share_is_an_error():
    with pytest.raises(PlacementError, match="num_gpus"):
        generation_replicas(LAPTOP, ReplicaSection(use_gpu=True, num_gpus=0))


def test_verification_never_takes_gpus():
    opts = verification_replicas(ReplicaSection(num_replicas=4, num_cpus=2, use_gpu=True,
                                                resources={"profiler": 1}))
    assert opts == {"num_replicas": 4,
                    "ray_actor_options": {"num_cpus": 2.0, "resources": {"profiler": 1.0}}}


def test_replica_section_rejects_builtin_in_custom_resources():
    with pytest.raises(ConfigError, match="resources.GPU"):
        from_dict(ReplicaSection, {"resources": {"GPU": 1}})


# ---- the option dicts are accepted by the real Ray APIs -------------------------------------------

@pytest.fixture(scope="module")
def ray_with_profiler():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, resources={"profiler": 2}, include_dashboard=False,
             log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_profiler_actors_schedule_one_per_slot_on_real_ray(ray_with_profiler):
    ray = ray_with_profiler
    plan = profiler_actors(ray.cluster_resources())
    assert plan.uses_profiler and plan.count == 2

    @ray.remote
    class Probe:
        def where(self):
            return ray.get_runtime_context().get_assigned_resources()

    actors = [Probe.options(**plan.options).remote() for _ in range(plan.count)]
    assigned = ray.get([a.where.remote() for a in actors], timeout=60)
    assert all(r.get("profiler") == 1 and r.get("CPU") == 1 for r in assigned)
    # Every slot is taken: one more actor cannot start.
    extra = Probe.options(**plan.options).remote()
    ready, _ = ray.wait([extra.where.remote()], timeout=2)
    assert ready == []
    for a in actors + [extra]:
        ray.kill(a)


def test_train_kwargs_build_a_real_scaling_config(ray_with_profiler):
    from ray.train import ScalingConfig

    plan = train_workers({"CPU": 2.0}, ScalingSection(num_workers=2, resources_per_worker={"CPU": 1}))
    sc = ScalingConfig(**plan.scaling_config_kwargs())
    assert sc.num_workers == 2 and sc.use_gpu is False
    assert sc.resources_per_worker == {"CPU": 1.0}
    gpu = ScalingConfig(**train_workers(GPU_CLUSTER).scaling_config_kwargs())
    assert gpu.use_gpu and gpu.resources_per_worker == {"CPU": 1.0, "GPU": 1.0}


def test_serve_options_accepted_by_real_deployments():
    serve = pytest.importorskip("ray.serve")

    @serve.deployment
    class Generator:
        pass

    for opts in (generation_replicas(GPU_CLUSTER, ReplicaSection(num_gpus=0.5)),
                 verification_replicas(ReplicaSection(num_replicas=3, resources={"profiler": 1}))):
        d = Generator.options(**opts)
        assert d.num_replicas == opts["num_replicas"]
        assert d.ray_actor_options["num_cpus"] == opts["ray_actor_options"]["num_cpus"]
        assert d.ray_actor_options.get("num_gpus", 0) == opts["ray_actor_options"].get("num_gpus", 0)
