"""Configuration of the served optimizer, and the serve preset file that carries it (pure: no Ray, no torch).

A serve preset (``configs/serve/*.yaml``) is Ray Serve's own config file, so ``serve run`` /
``serve deploy`` and ``clusters/generate.py rayservice`` read it as is; the hydra-ray settings are the
application's ``args``, which Serve hands to :func:`hydra_ray.serve.app.build`::

    http_options: {host: 127.0.0.1, port: 8000}
    applications:
      - name: hydra-ray
        route_prefix: /
        import_path: hydra_ray.serve.app:build
        args:                       # -> ServiceConfig
          backend: model            # model (HF generate) | vllm (GPU nodes) | recorded
          model: {training_output: runs/train-tiny}
          deployments: {generation: {autoscaling: {min_replicas: 1, max_replicas: 4}}}

``load_preset(path, overrides)`` reads one, applies ``key=value`` overrides to the ``args`` and
validates everything, naming fields as ``applications[0].args.generation.max_new_tokens``.
"""
from __future__ import annotations

import importlib.util
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import yaml

from hydra_ray.config import (Config, ConfigError, apply_overrides, from_dict, in_range, integer_at_least, one_of,
                              path_field, positive, resolve_config_paths, with_origins)
from hydra_ray.metrics.profile_config import ProfileConfig
from hydra_ray.serve.deployment_config import BatchSection, DeploymentsSection

BUILD_PATH = "hydra_ray.serve.app:build"
BACKENDS = ("model", "vllm", "recorded")
MODEL_BACKENDS = ("model", "vllm")   # backends that load model.* (base + adapter)
RECORDED_MODES = ("prompt_hash", "round_robin")



@dataclass
class ModelSection(Config):
    """Where the policy comes from: a training output directory, or explicit base + adapter."""

    training_output: str | None = path_field(None)  # `hydra-ray train --output` dir: adapter/ inside, base named by it
    base: str | None = path_field(None, kind="model")            # HF id or local dir; overrides the base the adapter names
    adapter: str | None = path_field(None)          # peft adapter dir; overrides training_output/adapter
    device: str = "auto"                 # auto (cuda when the replica has a GPU) | cpu | cuda | cuda:N
    dtype: str = "auto"                  # auto (bfloat16 on GPU, float32 on CPU) | float32 | bfloat16 | float16
    merge_adapter: bool = True           # fold LoRA into the weights once: same outputs, faster decoding
    torch_threads: int = 0               # CPU threads for torch; 0 = the replica's num_cpus (at least 1)
    # weights | none (hydra_ray.prefs.prompt). None: what the adapter was trained with (its
    # hydra_prompt.json; 'weights' without one); a value that contradicts the adapter is refused.
    prompt_conditioning: str | None = None

    def _check(self, errors: list[str]) -> None:
        if self.prompt_conditioning is not None:
            one_of(errors, "prompt_conditioning", self.prompt_conditioning, ("weights", "none"))
        for name in ("training_output", "base", "adapter"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, str) or not v.strip()):
                errors.append(f"{name}: expected a path or model id, got {v!r}")
        if not (isinstance(self.device, str) and (self.device in ("auto", "cpu", "cuda")
                                                  or self.device.startswith("cuda:"))):
            errors.append(f"device: expected auto, cpu, cuda or cuda:N, got {self.device!r}")
        one_of(errors, "dtype", self.dtype, ("auto", "float32", "bfloat16", "float16"))
        if not isinstance(self.merge_adapter, bool):
            errors.append(f"merge_adapter: expected true or false, got {self.merge_adapter!r}")
        integer_at_least(errors, "torch_threads", self.torch_threads, 0)

    @property
    def given(self) -> bool:
        return any((self.training_output, self.base, self.adapter))


@dataclass
class RecordedSection(Config):
    """The recorded-completions backend (tests, offline demos); see :mod:`hydra_ray.serve.recorded`."""

    path: str | None = path_field(None, kind="data")      # JSONL; a relative path is tried from the working dir, then this package
    mode: str = "prompt_hash"     # prompt_hash: look the prompt up (then its program); round_robin: in turn

    def _check(self, errors: list[str]) -> None:
        one_of(errors, "mode", self.mode, RECORDED_MODES)


@dataclass
class VllmSection(Config):
    """The vLLM engine of ``backend: vllm`` (one per generation replica; see serve.vllm_backend)."""

    gpu_memory_utilization: float = 0.90   # share of the replica's GPU memory for weights + KV cache
    max_model_len: int = 4096              # prompt + completion tokens of one sequence
    max_num_seqs: int = 64                 # sequences decoded together (a request's n samples count n)
    tensor_parallel_size: int = 1          # GPUs one replica shards the model over
    enforce_eager: bool = False            # skip CUDA graphs (faster start, slower decoding)
    enable_prefix_caching: bool = True     # requests sharing a prompt prefix share its KV blocks
    max_lora_rank: int = 0                 # LoRA slot size; 0 = the adapter's own rank
    merged_dir: str = field(default_factory=lambda: str(Path(tempfile.gettempdir()) / "hydra-ray-merged"))

    def _check(self, errors: list[str]) -> None:
        if not isinstance(self.gpu_memory_utilization, (int, float)) or isinstance(self.gpu_memory_utilization, bool) \
                or not 0 < self.gpu_memory_utilization <= 1:
            errors.append(f"gpu_memory_utilization: expected a number in (0, 1], got {self.gpu_memory_utilization!r}")
        integer_at_least(errors, "max_model_len", self.max_model_len, 16)
        integer_at_least(errors, "max_num_seqs", self.max_num_seqs, 1)
        integer_at_least(errors, "tensor_parallel_size", self.tensor_parallel_size, 1)
        integer_at_least(errors, "max_lora_rank", self.max_lora_rank, 0)
        for name in ("enforce_eager", "enable_prefix_caching"):
            if not isinstance(getattr(self, name), bool):
                errors.append(f"{name}: expected true or false, got {getattr(self, name)!r}")
        if not isinstance(self.merged_dir, str) or not self.merged_dir.strip():
            errors.append(f"merged_dir: expected a directory path, got {self.merged_dir!r}")


def vllm_node_problems(cuda_available: bool | None = None, vllm_installed: bool | None = None) -> list[str]:
    """What this node lacks to run ``backend: vllm`` (empty: nothing). The facts are probed unless given."""
    problems = []
    if vllm_installed is None:
        vllm_installed = importlib.util.find_spec("vllm") is not None
    if not vllm_installed:
        problems.append("vllm is not installed (GPU nodes: pip install 'hydra-ray[serve,vllm]'; CPU machines "
                        "use backend 'model' or 'recorded')")
    if cuda_available is None:
        if importlib.util.find_spec("torch") is None:
            cuda_available = False
        else:
            import torch

            cuda_available = torch.cuda.is_available()
    if not cuda_available:
        problems.append("no CUDA GPU is visible (torch.cuda.is_available() is false): vLLM needs an NVIDIA GPU, "
                        "a driver new enough for torch's CUDA build and the replica placed with num_gpus > 0")
    return problems


@dataclass
class GenerationSection(Config):
    n_candidates: int = 4              # per request when the request does not say
    max_candidates: int = 8            # the most a request may ask for
    max_new_tokens: int = 512
    max_new_tokens_limit: int = 2048   # the most a request may ask for
    temperature: float = 0.7           # sampling for /v1/optimize (several different candidates wanted)
    top_p: float = 0.95
    timeout_s: float = 300.0           # a generation call that takes longer fails the request with 504

    def _check(self, errors: list[str]) -> None:
        integer_at_least(errors, "n_candidates", self.n_candidates, 1)
        integer_at_least(errors, "max_candidates", self.max_candidates, 1)
        integer_at_least(errors, "max_new_tokens", self.max_new_tokens, 1)
        integer_at_least(errors, "max_new_tokens_limit", self.max_new_tokens_limit, 1)
        if isinstance(self.n_candidates, int) and isinstance(self.max_candidates, int) \
                and self.n_candidates > self.max_candidates:
            errors.append(f"n_candidates: {self.n_candidates} is above max_candidates={self.max_candidates}")
        if isinstance(self.max_new_tokens, int) and isinstance(self.max_new_tokens_limit, int) \
                and self.max_new_tokens > self.max_new_tokens_limit:
            errors.append(f"max_new_tokens: {self.max_new_tokens} is above max_new_tokens_limit="
                          f"{self.max_new_tokens_limit}")
        in_range(errors, "temperature", self.temperature, 0.0, 5.0)
        in_range(errors, "top_p", self.top_p, 1e-6, 1.0)
        positive(errors, "timeout_s", self.timeout_s)


@dataclass
class LimitsSection(Config):
    max_code_bytes: int = 64 * 1024        # the original program (413 above it)
    max_tests: int = 32
    max_inputs: int = 32
    max_io_bytes: int = 4 * 1024 * 1024    # all test inputs and expected outputs of one request together
    max_body_bytes: int = 16 * 1024 * 1024  # the raw HTTP body, checked before it is parsed
    max_prompt_chars: int = 256 * 1024     # /v1/chat/completions: all message contents together

    def _check(self, errors: list[str]) -> None:
        for name in ("max_code_bytes", "max_tests", "max_inputs", "max_io_bytes", "max_body_bytes",
                     "max_prompt_chars"):
            integer_at_least(errors, name, getattr(self, name), 1)


@dataclass
class VerificationSection(Config):
    """Sandbox verification and measurement. A replica runs one sandbox session at a time (see
    ``deployments.Verifier``): more throughput means more replicas (``deployments.verification``)."""

    profile: ProfileConfig = field(default_factory=ProfileConfig)
    # One verification call (checking the original, or measuring the candidates) that takes longer
    # fails the request with 504 naming this setting, and its sandbox work is stopped. Keep it below
    # the preset's http_options.request_timeout_s, whose own answer (Serve's plain 408) names nothing.
    timeout_s: float = 300.0

    def _check(self, errors: list[str]) -> None:
        positive(errors, "timeout_s", self.timeout_s)
        # Candidates are compared with the original: samples that could never differ significantly are
        # refused. One look only: the service measures without extra_repeats (hydra_ray.serve.verify).
        if isinstance(self.profile, ProfileConfig):
            errors.extend(f"profile.{p}" for p in self.profile.comparison_problems(second_look=False))


@dataclass
class RewardSection(Config):
    """How a candidate is scored against the original (hydra_ray.prefs.labels.Labeler)."""

    labeler: str | None = path_field(None, kind="data")    # labeler.json from `hydra-ray label`: score exactly as training labelled
    epsilon: float = 0.005         # without a labeler: a reward gap below this is "no better" (log_ratio)

    def _check(self, errors: list[str]) -> None:
        positive(errors, "epsilon", self.epsilon, allow_zero=True)


@dataclass
class ServiceConfig(Config):
    """The ``args`` of the hydra-ray Serve application."""

    backend: str = "model"
    model: ModelSection = field(default_factory=ModelSection)
    recorded: RecordedSection = field(default_factory=RecordedSection)
    vllm: VllmSection = field(default_factory=VllmSection)
    generation: GenerationSection = field(default_factory=GenerationSection)
    batching: BatchSection = field(default_factory=BatchSection)
    deployments: DeploymentsSection = field(default_factory=DeploymentsSection)
    limits: LimitsSection = field(default_factory=LimitsSection)
    verification: VerificationSection = field(default_factory=VerificationSection)
    reward: RewardSection = field(default_factory=RewardSection)
    served_model_name: str = "hydra"   # what /v1/models lists and answers carry; requests may name any model

    def _check(self, errors: list[str]) -> None:
        one_of(errors, "backend", self.backend, BACKENDS)
        if self.backend in MODEL_BACKENDS and isinstance(self.model, ModelSection) and not self.model.given:
            errors.append(f"model: backend '{self.backend}' needs model.training_output (a hydra-ray train output "
                          "directory) or model.base (an HF id or model directory, optionally with model.adapter)")
        if self.backend == "vllm" and isinstance(self.model, ModelSection) and self.model.device == "cpu":
            errors.append("model.device: backend 'vllm' runs on a CUDA GPU, got 'cpu' (use backend 'model' on CPU)")
        if self.backend == "vllm" and isinstance(self.deployments, DeploymentsSection) \
                and self.deployments.generation.use_gpu is False:
            errors.append("deployments.generation.use_gpu: backend 'vllm' needs a GPU per generation replica, got "
                          "false (set true or auto)")
        if self.backend == "recorded" and isinstance(self.recorded, RecordedSection) and not self.recorded.path:
            errors.append("recorded.path: backend 'recorded' needs a recorded-completions JSONL file")
        if not isinstance(self.served_model_name, str) or not self.served_model_name:
            errors.append(f"served_model_name: expected a non-empty string, got {self.served_model_name!r}")


# ---- the preset file -----------------------------------------------------------------------------

@dataclass
class ApplicationSection(Config):
    """One entry of ``applications`` (Ray Serve's ServeApplicationSchema) whose args are typed."""

    args: ServiceConfig
    name: str = "hydra-ray"
    route_prefix: str = "/"
    import_path: str = BUILD_PATH
    runtime_env: dict | None = None
    deployments: list | None = None          # Serve's own per-deployment overrides, applied last
    host: Any = None
    port: Any = None
    autoscaling_policy: Any = None
    logging_config: Any = None
    external_scaler_enabled: Any = None

    def _check(self, errors: list[str]) -> None:
        if self.import_path != BUILD_PATH:
            errors.append(f"import_path: a hydra-ray preset serves {BUILD_PATH}, got {self.import_path!r}")
        if not isinstance(self.route_prefix, str) or not self.route_prefix.startswith("/"):
            errors.append(f"route_prefix: expected a path starting with '/', got {self.route_prefix!r}")


@dataclass
class ServePreset(Config):
    """A whole ``configs/serve/*.yaml`` file (Ray Serve's ServeDeploySchema, args typed)."""

    applications: list[ApplicationSection]
    proxy_location: Any = None
    http_options: dict | None = None
    grpc_options: Any = None
    controller_options: Any = None
    logging_config: Any = None
    tracing_config: Any = None
    target_capacity: Any = None

    def _check(self, errors: list[str]) -> None:
        if not isinstance(self.applications, list) or len(self.applications) != 1:
            n = len(self.applications) if isinstance(self.applications, list) else self.applications
            errors.append(f"applications: a hydra-ray preset serves exactly one application, got {n!r}")

    @property
    def app(self) -> ApplicationSection:
        return self.applications[0]

    def http(self) -> tuple[str, int]:
        opts = self.http_options or {}
        return str(opts.get("host", "127.0.0.1")), int(opts.get("port", 8000))


def read_preset_data(path: str | Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The preset as plain data, with ``key=value`` overrides applied to the application's args."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError([f"serve preset {p} does not exist"], str(p))
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError([f"not valid YAML: {e}"], str(p)) from e
    if not isinstance(data, dict) or not isinstance(data.get("applications"), list) or not data["applications"]:
        raise ConfigError(["applications: expected a non-empty list with the hydra-ray application "
                           f"(import_path: {BUILD_PATH})"], str(p))
    if overrides:
        app = data["applications"][0]
        if not isinstance(app, dict):
            raise ConfigError([f"applications[0]: expected a mapping, got {app!r}"], str(p))
        app["args"] = apply_overrides(app.get("args") or {}, overrides)
    return data


def load_preset(path: str | Path, overrides: Sequence[str] = ()) -> ServePreset:
    """The preset with its path fields absolute against the working directory (replicas run elsewhere)."""
    try:
        preset = from_dict(ServePreset, read_preset_data(path, overrides), str(path))
    except ConfigError as e:
        raise with_origins(ServePreset, read_preset_data(path), overrides, e, "applications[0].args.") from None
    return resolve_config_paths(preset)


def service_config(args: dict[str, Any] | ServiceConfig | None, source: str | None = None) -> ServiceConfig:
    """A validated ServiceConfig from an application's args (what Serve hands the builder)."""
    if isinstance(args, ServiceConfig):
        return args
    return from_dict(ServiceConfig, args or {}, source)


def check_node(cfg: ServiceConfig) -> None:
    """Refuse a config this node cannot serve: ``backend: vllm`` without CUDA or without vllm installed
    (called where the generation replica will run: ``hydra-ray serve`` on a local Ray, the replica)."""
    if cfg.backend == "vllm":
        problems = vllm_node_problems()
        if problems:
            raise ConfigError([f"backend: 'vllm' cannot run on this node: {p}" for p in problems],
                              "serve application args")
