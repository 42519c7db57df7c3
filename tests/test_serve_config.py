"""Serve presets and ServiceConfig, deployment plans from placement, and the recorded-completions format."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from hydra_ray.config import ConfigError, from_dict
from hydra_ray.prefs.prompt import extract_code, render_messages
from hydra_ray.serve.app import plan
from hydra_ray.serve.config import BUILD_PATH, load_preset, service_config
from hydra_ray.serve.config_paths import absolutize
from hydra_ray.serve.recorded import (DEMO_FILE, RecordedCompletions, RecordedError, RecordedLine, code_key,
                                      demo_lines, load_recorded, prompt_key)

REPO = Path(__file__).resolve().parents[1]
PRESETS = sorted((REPO / "configs" / "serve").glob("*.yaml"))
RECORDED = {"backend": "recorded", "recorded": {"path": "demo_completions.jsonl"}}


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_every_preset_is_a_serve_config_and_a_valid_service_config(path):
    from ray.serve.schema import ServeDeploySchema

    first = path.read_text().splitlines()[0]
    assert first.startswith(f"# hydra-ray serve --config configs/serve/{path.name}"), first
    preset = load_preset(path)
    assert preset.app.import_path == BUILD_PATH
    ServeDeploySchema.model_validate(yaml.safe_load(path.read_text()))
    assert set(plan(preset.app.args, {"CPU": 64.0, "GPU": 8.0})) == {"HydraAPI", "Generator", "Verifier"}


def test_presets_cover_cpu_recorded_and_gpu():
    backends = {p.name: load_preset(p).app.args for p in PRESETS}
    assert {"tiny-cpu.yaml", "recorded-demo.yaml", "qwen2.5-coder-7b-gpu.yaml"} <= set(backends)
    assert backends["recorded-demo.yaml"].backend == "recorded"
    gpu = plan(backends["qwen2.5-coder-7b-gpu.yaml"], {})["Generator"]
    assert gpu["ray_actor_options"]["num_gpus"] == 1.0, "use_gpu: true asks for a GPU even before one is up"


def test_overrides_apply_to_the_application_args_and_errors_name_the_field():
    preset = load_preset(REPO / "configs/serve/tiny-cpu.yaml", ["generation.max_new_tokens=64", "model.training_output=x"])
    assert preset.app.args.generation.max_new_tokens == 64 and preset.app.args.model.training_output == str(Path.cwd() / "x")
    with pytest.raises(ConfigError) as err:
        load_preset(REPO / "configs/serve/tiny-cpu.yaml", ["generation.max_new_tokens=99999", "batching.max_batchsize=2"])
    msg = str(err.value)
    assert "applications[0].args.generation" in msg and "max_new_tokens_limit" in msg
    assert "did you mean 'max_batch_size'" in msg


@pytest.mark.parametrize("args, words", [
    ({}, ["backend 'model' needs model.training_output"]),
    ({"backend": "recorded"}, ["recorded.path"]),
    ({"backend": "magic"}, ["backend", "magic"]),
    ({**RECORDED, "generation": {"n_candidates": 9, "max_candidates": 8}}, ["n_candidates", "max_candidates=8"]),
    ({**RECORDED, "deployments": {"generation": {"autoscaling": {"min_replicas": 3, "max_replicas": 2}}}},
     ["min_replicas: 3 is above max_replicas=2"]),
    ({**RECORDED, "model": {"device": "tpu"}}, ["device", "tpu"]),
    ({**RECORDED, "verification": {"profile": {"repeats": 2}}}, ["repeats", "Mann-Whitney"]),
])
def test_invalid_service_configs_are_reported_precisely(args, words):
    with pytest.raises(ConfigError) as err:
        service_config(args)
    for w in words:
        assert w in str(err.value), str(err.value)


def test_the_power_check_judges_the_one_look_the_service_makes():
    """serve measures without extra_repeats (verify.py), so its one look gets all of significance_alpha.
    With 4 samples a side the smallest two-sided Mann-Whitney p is 2/C(8,4) = 2/70 ≈ 0.0286: below
    alpha = 0.03, so a difference can be significant and the config is taken. enrich takes a second look
    by default, which leaves its first look 0.03 × (1 − 0.2) = 0.024 < 0.0286: refused there."""
    from hydra_ray.enrich.config import EnrichConfig

    profile = {"repeats": 4, "throughput_bursts": 4, "significance_alpha": 0.03}
    cfg = service_config({**RECORDED, "verification": {"profile": profile}})
    assert cfg.verification.profile.repeats == 4
    with pytest.raises(ConfigError) as err:
        from_dict(EnrichConfig, {"profile": profile})
    assert "repeats" in str(err.value) and "Mann-Whitney" in str(err.value)


def test_plan_uses_placement_for_resources_and_serve_for_autoscaling():
    cfg = service_config({**RECORDED, "deployments": {
        "generation": {"num_replicas": 2, "num_gpus": 0.5, "num_cpus": 2,
                       "autoscaling": {"min_replicas": 1, "max_replicas": 4, "target_ongoing_requests": 3}},
        "verification": {"num_replicas": 3, "resources": {"profiler": 1}, "num_gpus": 1}}})
    with_gpu = plan(cfg, {"CPU": 32.0, "GPU": 2.0})
    gen = with_gpu["Generator"]
    assert gen["ray_actor_options"] == {"num_cpus": 2.0, "num_gpus": 0.5}
    assert "num_replicas" not in gen
    assert gen["autoscaling_config"]["initial_replicas"] == 2 and gen["autoscaling_config"]["max_replicas"] == 4
    ver = with_gpu["Verifier"]
    assert ver["num_replicas"] == 3 and "num_gpus" not in ver["ray_actor_options"], "verification never takes a GPU"
    assert ver["ray_actor_options"]["resources"] == {"profiler": 1.0}
    cpu_only = plan(cfg, {"CPU": 32.0})["Generator"]["ray_actor_options"]
    assert "num_gpus" not in cpu_only, "use_gpu: auto on a cluster without GPUs runs on CPUs"
    assert plan(cfg, {})["HydraAPI"]["ray_actor_options"] == {"num_cpus": 0.0}


def test_a_section_given_in_part_keeps_that_deployments_own_defaults():
    """Setting one field of deployments.verification (or .ingress) leaves the others at that
    deployment's defaults: 8 calls a sandbox replica, 16 queued, no GPU; the ingress on no CPU."""
    cfg = service_config({**RECORDED, "deployments": {"verification": {"num_replicas": 2},
                                                      "ingress": {"num_replicas": 2}}})
    ver, ingress = cfg.deployments.verification, cfg.deployments.ingress
    assert ver.num_replicas == 2 and (ver.max_ongoing_requests, ver.max_queued_requests, ver.use_gpu) == (8, 16, False)
    assert ingress.num_replicas == 2 and (ingress.num_cpus, ingress.max_ongoing_requests) == (0.0, 64)
    assert service_config(RECORDED).deployments.verification == type(ver)()   # as when not given at all


def test_build_binds_three_deployments_without_a_cluster():
    from ray.serve.deployment import Application

    from hydra_ray.serve.testing import builder

    app = builder()(RECORDED)
    assert isinstance(app, Application)
    with pytest.raises(ConfigError, match="recorded.path"):
        builder()({"backend": "recorded"})


def test_relative_paths_become_absolute_for_replicas(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    cfg = absolutize(service_config({"model": {"training_output": "out"}}))
    assert cfg.model.training_output == str(tmp_path / "out")
    assert absolutize(service_config(RECORDED)).recorded.path == str(DEMO_FILE)
    # The adapter names its base relative to where training ran: pinned to what exists here.
    (tmp_path / "models" / "base").mkdir(parents=True)
    (tmp_path / "out" / "adapter").mkdir()
    (tmp_path / "out" / "adapter" / "adapter_config.json").write_text(json.dumps(
        {"base_model_name_or_path": "models/base"}))
    pinned = absolutize(service_config({"model": {"training_output": "out"}})).model
    assert pinned.base == str(tmp_path / "models" / "base")
    hub_id = tmp_path / "out" / "adapter" / "adapter_config.json"
    hub_id.write_text(json.dumps({"base_model_name_or_path": "Qwen/Qwen2.5-Coder-7B-Instruct"}))
    assert absolutize(service_config({"model": {"training_output": "out"}})).model.base is None, \
        "an HF id is left for the replica to load from its cache"


# ---- recorded completions -------------------------------------------------------------------------

def test_lookup_prefers_exact_prompt_then_program_then_pool():
    code = "print(1)\n"
    msgs = render_messages(code, [0.2] * 5)
    other_weights = render_messages(code, [1.0, 0, 0, 0, 0])
    store = RecordedCompletions([RecordedLine(("by prompt",), prompt_sha256=prompt_key(msgs)),
                                 RecordedLine(("by code",), code_sha256=code_key(code + "\n\n")),
                                 RecordedLine(("pool a",)), RecordedLine(("pool b",))])
    assert store.complete(msgs, 1) == ["by prompt"]
    assert store.complete(other_weights, 3) == ["by code"] * 3, "the program's key matches under any weights"
    unknown = render_messages("print(2)\n", [0.2] * 5)
    assert [store.complete(unknown, 1)[0] for _ in range(3)] == ["pool a", "pool b", "pool a"]


def test_round_robin_and_missing_answers():
    lines = [RecordedLine(("a1", "a2")), RecordedLine(("b1",), code_sha256="x")]
    rr = RecordedCompletions(lines, mode="round_robin")
    msgs = render_messages("print(1)\n", [0.2] * 5)
    assert rr.complete(msgs, 3) == ["a1", "a2", "a1"] and rr.complete(msgs, 1) == ["b1"]
    keyed_only = RecordedCompletions([RecordedLine(("b1",), code_sha256="x")])
    with pytest.raises(RecordedError, match="prompt_sha256 [0-9a-f]{64}, code_sha256 [0-9a-f]{64}"):
        keyed_only.complete(msgs, 1)


def test_bad_recorded_files_are_reported_with_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"completions": ["x"]}\n{"completions": []}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: expected \"completions\""):
        load_recorded(bad)
    bad.write_text("not json\n")
    with pytest.raises(ValueError, match="bad.jsonl:1: not JSON"):
        load_recorded(bad)


def test_shipped_demo_file_is_up_to_date_and_holds_real_programs():
    shipped = [json.loads(x) for x in DEMO_FILE.read_text().splitlines()]
    assert shipped == [json.loads(json.dumps(x, sort_keys=True)) for x in demo_lines()], \
        "stale: run python -m hydra_ray.serve.recorded"
    for line in shipped:
        better, wrong, same = (extract_code(c) for c in line["completions"])
        compile(better, line["pattern"], "exec")
        assert better != same and wrong.startswith('print("optimised!")')
