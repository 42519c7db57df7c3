"""The vllm generation backend without vllm: what it asks the engine for, and where it refuses to run.

vLLM is a GPU-node extra that CPU machines and CI never install, so these tests cover the pure parts
(request -> SamplingParams arguments, config -> engine arguments, engine outputs -> ours) and the
refusals: a config naming backend vllm is turned down, with a message naming what is missing, on a
node without CUDA or without vllm (this one), by the replica's backend factory and by
``hydra-ray serve`` on a local Ray. Running the engine itself is benchmarks/gpu/run.sh's job.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from hydra_ray.config import ConfigError
from hydra_ray.serve.app import plan
from hydra_ray.serve.backends import GenRequest, make_backend
from hydra_ray.serve.config import check_node, load_preset, service_config, vllm_node_problems
from hydra_ray.serve.vllm_backend import engine_kwargs, generations_of, sample_rows, sampling_kwargs

REPO = Path(__file__).resolve().parents[1]
GPU_PRESET = REPO / "configs" / "serve" / "qwen2.5-coder-7b-gpu.yaml"
MESSAGES = [{"role": "user", "content": "print(1)"}]


def node_has_vllm() -> bool:
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def test_sampling_kwargs_carry_n_seed_and_limits():
    req = GenRequest.of(MESSAGES, n=4, max_new_tokens=300, temperature=0.7, top_p=0.95, seed=123)
    kw = sampling_kwargs(req, [151645, 151643, 151645])
    assert kw == {"n": 4, "max_tokens": 300, "temperature": 0.7, "top_p": 0.95, "seed": 123,
                  "skip_special_tokens": True, "stop_token_ids": [151643, 151645]}
    assert sampling_kwargs(GenRequest.of(MESSAGES, n=2, temperature=0.5))["seed"] is None


def test_greedy_requests_decode_once_and_repeat():
    req = GenRequest.of(MESSAGES, n=3, max_new_tokens=16, temperature=0.0, top_p=0.5, seed=9)
    kw = sampling_kwargs(req)
    assert (kw["n"], kw["temperature"], kw["top_p"], kw["seed"]) == (1, 0.0, 1.0, None)
    assert sample_rows(req) == 1 and "stop_token_ids" not in kw
    one = SimpleNamespace(index=0, text="x = 1", token_ids=[5, 6, 7], finish_reason="stop")
    gens = generations_of([one], req.n)
    assert [(g.text, g.finish_reason, g.completion_tokens) for g in gens] == [("x = 1", "stop", 3)] * 3


def test_generations_follow_the_engine_index_and_finish_reason():
    outs = [SimpleNamespace(index=1, text="b", token_ids=[1] * 8, finish_reason="length"),
            SimpleNamespace(index=0, text="a", token_ids=[2, 3], finish_reason="stop")]
    gens = generations_of(outs, 2)
    assert [(g.text, g.finish_reason, g.completion_tokens) for g in gens] == [("a", "stop", 2), ("b", "length", 8)]


def test_engine_kwargs_from_the_config():
    cfg = service_config({"backend": "vllm", "model": {"base": "/m", "dtype": "auto"},
                          "vllm": {"max_model_len": 8192, "max_num_seqs": 32, "gpu_memory_utilization": 0.8}})
    kw = engine_kwargs(cfg, "/m", "/tok", None)
    assert kw["model"] == "/m" and kw["tokenizer"] == "/tok" and kw["dtype"] == "bfloat16"
    assert (kw["max_model_len"], kw["max_num_seqs"], kw["gpu_memory_utilization"]) == (8192, 32, 0.8)
    assert "enable_lora" not in kw and kw["enable_prefix_caching"] is True
    lora = engine_kwargs(cfg, "/m", "/tok", 16)
    assert (lora["enable_lora"], lora["max_lora_rank"], lora["max_loras"]) == (True, 16, 1)
    assert engine_kwargs(cfg, "/m", "/tok", 4)["max_lora_rank"] == 8, "rounded up to a slot vLLM offers"
    assert engine_kwargs(cfg, "/m", "/tok", 48)["max_lora_rank"] == 64
    with pytest.raises(ConfigError, match="r=1024 is above the largest"):
        engine_kwargs(cfg, "/m", "/tok", 1024)
    small = service_config({"backend": "vllm", "model": {"base": "/m"}, "vllm": {"max_lora_rank": 8}})
    with pytest.raises(ConfigError, match="max_lora_rank: 8 is below the adapter's rank r=16"):
        engine_kwargs(small, "/m", "/tok", 16)
    f32 = service_config({"backend": "vllm", "model": {"base": "/m", "dtype": "float32"}})
    assert engine_kwargs(f32, "/m", "/tok", None)["dtype"] == "float32"


@pytest.mark.parametrize("args, words", [
    ({"backend": "vllm"}, ["backend 'vllm' needs model.training_output"]),
    ({"backend": "vllm", "model": {"base": "/m", "device": "cpu"}}, ["model.device", "'cpu'"]),
    ({"backend": "vllm", "model": {"base": "/m"}, "deployments": {"generation": {"use_gpu": False}}},
     ["deployments.generation.use_gpu", "needs a GPU"]),
    ({"backend": "vllm", "model": {"base": "/m"}, "vllm": {"gpu_memory_utilization": 1.5}},
     ["gpu_memory_utilization", "(0, 1]", "1.5"]),
    ({"backend": "vllm", "model": {"base": "/m"}, "vllm": {"max_num_seqs": 0, "enforce_eager": "yes"}},
     ["max_num_seqs", "enforce_eager", "'yes'"]),
])
def test_vllm_config_errors_name_the_field(args, words):
    with pytest.raises(ConfigError) as err:
        service_config(args)
    for w in words:
        assert w in str(err.value), str(err.value)


def test_node_problems_name_what_is_missing():
    both = vllm_node_problems(cuda_available=False, vllm_installed=False)
    assert len(both) == 2 and "vllm is not installed" in both[0] and "no CUDA GPU" in both[1]
    assert "hydra-ray[serve,vllm]" in both[0]
    assert vllm_node_problems(cuda_available=True, vllm_installed=False)[0].startswith("vllm is not installed")
    assert vllm_node_problems(cuda_available=False, vllm_installed=True)[0].startswith("no CUDA GPU")
    assert vllm_node_problems(cuda_available=True, vllm_installed=True) == []


@pytest.mark.skipif(node_has_vllm(), reason="this node has CUDA and vllm: nothing to refuse")
def test_this_node_refuses_backend_vllm(tmp_path):
    cfg = service_config({"backend": "vllm", "model": {"base": str(tmp_path)}})
    with pytest.raises(ConfigError) as err:
        check_node(cfg)
    assert "backend: 'vllm' cannot run on this node" in str(err.value)
    with pytest.raises(ConfigError) as err:   # what the Generator replica runs first
        make_backend(cfg)
    assert any(w in str(err.value) for w in ("vllm is not installed", "no CUDA GPU"))
    check_node(service_config({"backend": "model", "model": {"base": str(tmp_path)}}))   # other backends: fine


@pytest.mark.skipif(node_has_vllm(), reason="this node has CUDA and vllm: nothing to refuse")
def test_serve_command_on_a_local_ray_refuses_the_gpu_preset(tmp_path):
    from hydra_ray.commands.serve import check

    adapter = tmp_path / "train" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(tmp_path), "r": 16}))
    _, problems = check(GPU_PRESET, [f"model.training_output={tmp_path / 'train'}"], local=True)
    assert problems and all("cannot run on this node" in p for p in problems), problems
    _, remote = check(GPU_PRESET, [f"model.training_output={tmp_path / 'train'}"], local=False)
    assert remote == [], "for a cluster, this node's hardware is not the question"


def test_gpu_preset_uses_vllm_on_a_gpu_replica():
    args = load_preset(GPU_PRESET).app.args
    assert args.backend == "vllm"
    header = GPU_PRESET.read_text().split("http_options")[0]
    for need in ("driver", "CUDA", "hydra-ray[serve,vllm]"):
        assert need in header, need
    gen = plan(args, {"CPU": 8.0})["Generator"]   # no GPU up yet: still asks for one
    assert gen["ray_actor_options"]["num_gpus"] >= 1.0
    auto = service_config({"backend": "vllm", "model": {"base": "/m"}})
    assert plan(auto, {"CPU": 8.0})["Generator"]["ray_actor_options"]["num_gpus"] == 1.0
