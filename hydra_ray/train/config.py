"""Training configuration (``configs/train/*.yaml``) and the node check run before Ray starts.

Pure: no torch or Ray at import time; :func:`check_node` imports torch lazily to look at the hardware.
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from hydra_ray.config import Config, in_range, integer_at_least, one_of, path_field, positive
from hydra_ray.placement import check_resource_map

FRAMEWORKS = ("enhanced", "base")
QUANTIZATIONS = ("none", "nf4")
DTYPES = ("float32", "bfloat16", "float16")



# Training loads models offline (nodes have no network): the driver puts these in the Ray workers'
# runtime environment, and each worker sets them too.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def offline_runtime_env() -> dict:
    return {"env_vars": dict(OFFLINE_ENV)}

@dataclass
class ModelSettings(Config):
    # A Hugging Face model id (must already be in the local cache: nodes have no network) or a local
    # directory, e.g. one written by `hydra-ray make-tiny-model`.
    name_or_path: str = path_field("", kind="model")
    dtype: str = "float32"
    # nf4: 4-bit NormalFloat weights with bitsandbytes (QLoRA); CUDA only.
    quantization: str = "none"
    double_quant: bool = True
    compute_dtype: str = "bfloat16"
    gradient_checkpointing: bool = False
    attn_implementation: Optional[str] = None
    # A peft LoRA adapter to start DPO from (e.g. an earlier run's OUTPUT/adapter), instead of a fresh
    # one: the paper's run "starts from a warm-start checkpoint trained on an earlier preference dataset"
    # (Sec. V-B). Its LoRA shape applies (lora.r and lora.alpha must match it). The DPO reference is the
    # start adapter itself: TRL keeps a frozen copy of it (adapter "ref"), so DPO measures the move away
    # from the warm start, not from the bare base model.
    init_adapter: Optional[str] = path_field(None, kind="model")

    def _check(self, errors: list[str]) -> None:
        if self.init_adapter is not None and (not isinstance(self.init_adapter, str) or not self.init_adapter.strip()):
            errors.append(f"init_adapter: expected a peft adapter directory, got {self.init_adapter!r}")
        if not isinstance(self.name_or_path, str) or not self.name_or_path:
            got = "nothing" if self.name_or_path in (None, "") else repr(self.name_or_path)
            errors.append(f"name_or_path: expected a Hugging Face model id or a local directory, got {got} "
                          "(e.g. model.name_or_path=runs/tiny-model after `hydra-ray make-tiny-model --output runs/tiny-model`)")
        one_of(errors, "dtype", self.dtype, DTYPES)
        one_of(errors, "quantization", self.quantization, QUANTIZATIONS)
        one_of(errors, "compute_dtype", self.compute_dtype, DTYPES)


@dataclass
class LoraSettings(Config):
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    # "all-linear" or a list of module names (never lm_head: TRL's fused head bypasses it).
    target_modules: object = "all-linear"

    def _check(self, errors: list[str]) -> None:
        integer_at_least(errors, "r", self.r, 1)
        positive(errors, "alpha", self.alpha)
        in_range(errors, "dropout", self.dropout, 0.0, 0.9)
        if isinstance(self.target_modules, list):
            if "lm_head" in self.target_modules:
                errors.append("target_modules: 'lm_head' cannot take an adapter in TRL's DPO (fused LM head)")
        elif self.target_modules != "all-linear":
            errors.append(f"target_modules: expected 'all-linear' or a list of module names, got {self.target_modules!r}")


@dataclass
class DPOSettings(Config):
    # Defaults suit the tiny CPU model (configs/train/tiny-cpu.yaml). The paper's run (Sec. V-B) used
    # β = 0.015 and learning rate 2e-6, as configs/train/qwen2.5-coder-7b-*.yaml and cluster.yaml do.
    beta: float = 0.1
    learning_rate: float = 5e-4
    per_device_batch_size: int = 4
    gradient_accumulation_steps: int = 1
    max_steps: int = 60
    max_length: int = 1024
    lr_scheduler_type: str = "constant"
    warmup_steps: int = 0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    logging_steps: int = 5
    save_steps: int = 20
    keep_checkpoints: int = 2
    bf16: bool = False
    seed: int = 0
    # DeepSpeed config for several GPUs: a mapping (inline in the preset) or a path to a JSON file.
    deepspeed: object = path_field(None)

    def _check(self, errors: list[str]) -> None:
        positive(errors, "beta", self.beta)
        positive(errors, "learning_rate", self.learning_rate)
        for name in ("per_device_batch_size", "gradient_accumulation_steps", "max_steps", "logging_steps",
                     "save_steps", "keep_checkpoints"):
            integer_at_least(errors, name, getattr(self, name), 1)
        integer_at_least(errors, "max_length", self.max_length, 16)
        integer_at_least(errors, "warmup_steps", self.warmup_steps, 0)
        positive(errors, "weight_decay", self.weight_decay, allow_zero=True)
        positive(errors, "max_grad_norm", self.max_grad_norm)
        one_of(errors, "lr_scheduler_type", self.lr_scheduler_type, ("constant", "linear", "cosine",
                                                                     "constant_with_warmup"))
        if self.deepspeed is not None and not isinstance(self.deepspeed, (str, dict)):
            errors.append(f"deepspeed: expected a mapping or a path to a JSON file, got {self.deepspeed!r}")


@dataclass
class AlphaConfig(Config):
    rule: str = "loss"                 # loss | advantage (see hydra_ray.train.alpha)
    lr: float = 0.002                  # η
    alpha_min: float = 0.75
    alpha_max: float = 1.5
    initial: float = 1.0
    # Optimizer steps between α updates. The paper's Sec. IV-E updates once per epoch, its Sec. V-B
    # "online"; ours every step by default (README, Differences from the paper; hydra_ray.train.alpha).
    update_interval: int = 1
    max_relabel_tries: int = 4         # fresh draws per example before falling back to its stored label

    def _check(self, errors: list[str]) -> None:
        one_of(errors, "rule", self.rule, ("loss", "advantage"))
        positive(errors, "lr", self.lr, allow_zero=True)
        positive(errors, "alpha_min", self.alpha_min)
        positive(errors, "alpha_max", self.alpha_max)
        if isinstance(self.alpha_min, (int, float)) and isinstance(self.alpha_max, (int, float)):
            if self.alpha_min > self.alpha_max:
                errors.append(f"alpha_min/alpha_max: alpha_min {self.alpha_min} > alpha_max {self.alpha_max}")
            elif not self.alpha_min <= self.initial <= self.alpha_max:
                errors.append(f"initial: expected within [{self.alpha_min}, {self.alpha_max}], got {self.initial!r}")
        integer_at_least(errors, "update_interval", self.update_interval, 1)
        integer_at_least(errors, "max_relabel_tries", self.max_relabel_tries, 1)


@dataclass
class ScalingSettings(Config):
    """Ray Train's worker group; hydra_ray.placement turns it into the ``ScalingConfig``."""

    num_workers: int = 2
    use_gpu: bool = False
    cpus_per_worker: int = 1
    # Further Ray resources each worker reserves, e.g. a custom resource that only one node type
    # advertises ({trainer: 1}) or memory in bytes. CPUs and GPUs come from the two fields above.
    resources_per_worker: dict = field(default_factory=dict)
    # Only nodes with this GPU model (Ray's `accelerator_type:<name>` resource, e.g. H100, A100),
    # for clusters that mix GPU types. Needs use_gpu.
    accelerator_type: Optional[str] = None

    def _check(self, errors: list[str]) -> None:
        integer_at_least(errors, "num_workers", self.num_workers, 1)
        integer_at_least(errors, "cpus_per_worker", self.cpus_per_worker, 1)
        check_resource_map(errors, "resources_per_worker", self.resources_per_worker)
        if isinstance(self.resources_per_worker, dict):
            for key in ("CPU", "GPU"):
                if key in self.resources_per_worker:
                    errors.append(f"resources_per_worker.{key}: set {'cpus_per_worker' if key == 'CPU' else 'use_gpu'} "
                                  f"instead (got {self.resources_per_worker[key]!r})")
        if self.accelerator_type is not None:
            if not isinstance(self.accelerator_type, str) or not self.accelerator_type:
                errors.append(f"accelerator_type: expected a GPU model name such as 'H100', got {self.accelerator_type!r}")
            elif not self.use_gpu:
                errors.append(f"accelerator_type: is {self.accelerator_type!r} but use_gpu is false; "
                              "set use_gpu: true or drop accelerator_type")


@dataclass
class TrainConfig(Config):
    # enhanced: fresh weights from the adaptive α for every batch, re-labelled and re-prompted;
    # base: the weights, labels and prompts stored in the labelled dataset, fixed.
    framework: str = "enhanced"
    model: ModelSettings = field(default_factory=ModelSettings)
    lora: LoraSettings = field(default_factory=LoraSettings)
    dpo: DPOSettings = field(default_factory=DPOSettings)
    alpha: AlphaConfig = field(default_factory=AlphaConfig)
    scaling: ScalingSettings = field(default_factory=ScalingSettings)
    # Address of a running Ray cluster; None starts a local one with `num_cpus` CPUs (None: all).
    ray_address: Optional[str] = None
    num_cpus: Optional[int] = None
    # Ray Train's FailureConfig.max_failures: how many times a failed worker group (a worker process or
    # its node died) is restarted within one run, from the latest checkpoint (model, optimizer, step, α).
    # Steps since that checkpoint are computed again (alpha.json `restarts` says how many). 0: the first
    # failure ends the run (rerunning the command still resumes); -1: no limit.
    max_failures: int = 2
    # Where Ray Train keeps checkpoints. None: OUTPUT/ray, right for one machine or when OUTPUT is on a
    # filesystem every node mounts (NFS, EFS, Filestore, a ReadWriteMany volume). On a multi-node
    # cluster without one: a bucket (s3://bucket/prefix, gs://bucket/prefix; workers need write
    # access). Each OUTPUT gets its own run directory there, so rerunning the command resumes.
    storage_path: Optional[str] = path_field(None)
    # Problems held out for evaluation (a split file, e.g. configs/evaluate/splits/pie_heldout.txt):
    # training refuses a labelled set that contains any of them. None: no check.
    heldout_split: Optional[str] = path_field(None)
    # weights | none: what the prompts hold (hydra_ray.prefs.prompt). None: what the labelled set's
    # labeler.json says (`hydra-ray label prompt_conditioning=...`); a value that differs is refused.
    prompt_conditioning: Optional[str] = None

    def _check(self, errors: list[str]) -> None:
        one_of(errors, "framework", self.framework, FRAMEWORKS)
        if self.prompt_conditioning is not None:
            one_of(errors, "prompt_conditioning", self.prompt_conditioning, ("weights", "none"))
        if self.num_cpus is not None:
            integer_at_least(errors, "num_cpus", self.num_cpus, 1)
        if self.storage_path is not None and (not isinstance(self.storage_path, str) or not self.storage_path.strip()):
            errors.append(f"storage_path: expected a bucket URI (s3://..., gs://...) or a shared directory, "
                          f"got {self.storage_path!r}")
        m = self.max_failures
        if not isinstance(m, int) or isinstance(m, bool) or m < -1:
            errors.append(f"max_failures: expected an integer >= 0 (worker-group restarts per run) or -1 "
                          f"(no limit), got {m!r}")


def init_adapter_problems(cfg: TrainConfig) -> list[str]:
    """model.init_adapter must be a peft LoRA adapter of the shape lora.* asks for."""
    import json

    d = Path(str(cfg.model.init_adapter))
    f = d / "adapter_config.json"
    if not f.is_file():
        return [f"model.init_adapter: {d} has no adapter_config.json; expected a peft adapter directory such as "
                f"an earlier `hydra-ray train` run's OUTPUT/adapter"]
    a = json.loads(f.read_text())
    problems = []
    for ours, theirs in (("r", "r"), ("alpha", "lora_alpha")):
        if a.get(theirs) is not None and a.get(theirs) != getattr(cfg.lora, ours):
            problems.append(f"lora.{ours}: is {getattr(cfg.lora, ours)!r} but model.init_adapter {d} has "
                            f"{theirs}={a.get(theirs)!r}; training continues that adapter, so set "
                            f"lora.{ours}={a.get(theirs)}")
    return problems


def check_node(cfg: TrainConfig, input_dir: str | Path | None = None) -> list[str]:
    """What this node lacks for ``cfg``: each problem says what was asked, what is missing, what to do.

    Run before Ray starts, so a QLoRA preset on a CPU box fails in a second rather than inside a worker.
    """
    from hydra_ray.train.labelled_input import conditioning_problems, heldout_problems, input_problems

    problems: list[str] = []
    if input_dir is not None:
        d = Path(input_dir)
        if not d.is_dir():
            problems.append(f"--input {d}: no such directory; expected `hydra-ray label`'s output "
                            f"(labels.parquet, labeler.json): `hydra-ray label --input ENRICHED_DIR --output {d}`")
        elif not (d / "labels.parquet").exists() and (d / "data").is_dir() and (d / "summary.json").is_file():
            problems.append(f"--input {d}: this is `hydra-ray enrich`'s output (data/, summary.json); training "
                            f"reads labelled pairs: `hydra-ray label --input {d} --output LABELLED_DIR`, then "
                            "train with --input LABELLED_DIR")
        else:
            for name in ("labels.parquet", "labeler.json"):
                if not (d / name).is_file():
                    problems.append(f"--input {d}: {name} is missing; produce it with "
                                    f"`hydra-ray label --input ENRICHED_DIR --output {d}`")
            problems += input_problems(d)
            # These read the files too; one that cannot be read was reported just above.
            try:
                if cfg.heldout_split and (d / "labels.parquet").is_file():
                    problems += heldout_problems(cfg.heldout_split, d / "labels.parquet")
            except (OSError, ValueError, KeyError):   # pyarrow's ArrowInvalid is a ValueError
                pass
            try:
                if (d / "labeler.json").is_file():
                    problems += conditioning_problems(cfg, d / "labeler.json")
            except (OSError, ValueError, AttributeError):   # not JSON, or not a mapping
                pass
    if cfg.model.init_adapter:
        problems += init_adapter_problems(cfg)
    # Under `ray job submit` ($RAY_ADDRESS) or with ray_address the workers run on other nodes (a head
    # without GPUs or GPU packages is usual): hardware checks then run on each worker (worker_problems).
    local = cfg.ray_address is None and not os.environ.get("RAY_ADDRESS")
    if cfg.model.quantization == "nf4" and not cfg.scaling.use_gpu:
        problems.append("model.quantization=nf4 needs scaling.use_gpu=true")
    if local:
        problems.extend(worker_problems(cfg, where="this node"))
        import torch

        n_gpu = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if cfg.scaling.use_gpu and n_gpu < cfg.scaling.num_workers:
            problems.append(f"scaling.use_gpu=true with {cfg.scaling.num_workers} workers needs "
                            f"{cfg.scaling.num_workers} GPUs; this node has {n_gpu}. Lower scaling.num_workers or "
                            "set ray_address to a cluster that has them")
    if not cfg.scaling.use_gpu:
        if cfg.dpo.bf16:
            problems.append("dpo.bf16=true needs scaling.use_gpu=true; on CPU train in float32 (dpo.bf16=false)")
        if cfg.model.gradient_checkpointing:
            problems.append("model.gradient_checkpointing=true is for GPU memory; on CPU set it to false")
        if cfg.model.dtype != "float32":
            problems.append(f"model.dtype={cfg.model.dtype} on CPU: use float32")
    if cfg.dpo.deepspeed is not None:
        # DeepSpeed also runs on CPU workers (its CPU accelerator over gloo): slow, but the same path.
        if isinstance(cfg.dpo.deepspeed, str) and not Path(cfg.dpo.deepspeed).is_file():
            problems.append(f"dpo.deepspeed: {cfg.dpo.deepspeed} does not exist")
    if local:
        need = cfg.scaling.num_workers * cfg.scaling.cpus_per_worker
        have = cfg.num_cpus or os.cpu_count() or 1
        if need > have:
            problems.append(_cpu_problem(cfg, need, have))
    return problems


def _cpu_problem(cfg: TrainConfig, need: int, have: int) -> str:
    """Too few local CPUs: name the fields that can change it (not num_workers when it is already 1)."""
    s, machine = cfg.scaling, os.cpu_count() or 1
    fields = [f"lower scaling.{n} (given {v})" for n, v in (("num_workers", s.num_workers),
                                                            ("cpus_per_worker", s.cpus_per_worker)) if v > 1]
    if cfg.num_cpus and machine > cfg.num_cpus:
        fields.append(f"raise num_cpus (given {cfg.num_cpus}; this machine has {machine})")
    return (f"scaling: {s.num_workers} worker(s) × {s.cpus_per_worker} CPU(s) = {need} CPUs, but the local Ray "
            f"node has {have}; {' or '.join(fields)}")


def worker_problems(cfg: TrainConfig, where: str = "this worker's node") -> list[str]:
    """What a training worker's node lacks for ``cfg`` (CUDA, bitsandbytes, DeepSpeed).

    The driver runs it for a local run; each Ray Train worker runs it first on a cluster, so a GPU
    preset that lands on a node without CUDA fails with this message, not deep inside TRL."""
    problems: list[str] = []
    needs_cuda = cfg.scaling.use_gpu or cfg.model.quantization == "nf4"
    if needs_cuda:
        import torch

        if not torch.cuda.is_available():
            what = "model.quantization=nf4 (QLoRA)" if cfg.model.quantization == "nf4" else "scaling.use_gpu=true"
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            problems.append(f"{what} needs a CUDA GPU; {where} has none usable (torch {torch.__version__} is "
                            f"{build}). Use a CPU preset (e.g. configs/train/tiny-cpu.yaml) or run on a GPU node")
    if cfg.model.quantization == "nf4" and importlib.util.find_spec("bitsandbytes") is None:
        problems.append(f"model.quantization=nf4 needs bitsandbytes, which {where} lacks; install it with "
                        "`pip install 'hydra-ray[gpu]'` on the GPU nodes")
    if cfg.dpo.deepspeed is not None and importlib.util.find_spec("deepspeed") is None:
        problems.append(f"dpo.deepspeed is set but deepspeed is not installed on {where}; "
                        "`pip install 'hydra-ray[deepspeed]'` on the GPU nodes")
    # The model directory or Hugging Face cache must be on the node that loads it.
    problems.extend(_check_model_available(cfg.model.name_or_path))
    return problems


def _check_model_available(name: str) -> list[str]:
    p = Path(name)
    if p.exists():
        if not (p / "config.json").is_file():
            return [f"model.name_or_path={name}: the directory has no config.json (not a Hugging Face model dir)"]
        return []
    from hydra_ray.paths import looks_like_path

    build = f"build the tiny test model with `hydra-ray make-tiny-model --output {name}`"
    if looks_like_path(name):
        return [f"model.name_or_path={name}: no such directory ({build}, or give an existing model directory)"]
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(name, "config.json")
    except (ImportError, ValueError):
        cached = None
    if not isinstance(cached, str):
        # "org/name" reads as a directory or a hub id: say what was looked for under both readings.
        # The build hint only where the local reading is likely (`runs/` exists here, `Qwen/` does not):
        # "make-tiny-model --output Qwen/Qwen2.5-Coder-7B-Instruct" is no advice for a hub id.
        local = f": {build}" if (Path.cwd() / name.split("/")[0]).is_dir() else ""
        return [f"model.name_or_path={name}: neither a directory here ({Path.cwd() / name} does not exist{local}) "
                f"nor a model in the local Hugging Face cache; training never downloads (it runs offline): "
                f"`hf download {name}` on this node first (clusters/*.yaml do that when a GPU node starts)"]
    return []
