"""``hydra-ray train`` on the driver: check the node, start the α hub actor, run Ray Train, write outputs.

Output directory::

    adapter/          peft LoRA adapter + tokenizer (PeftModel.from_pretrained(base, OUT/adapter))
    alpha.json        final α, its trajectory, per-update region losses, worker reports, resume info
    metrics.jsonl     one line per logged step (TRL's DPO metrics + α, region losses, advantages)
    workers.json      what each Ray Train worker reported (world size, trainable-weight checksum, …)
    plots/            alpha_trajectory.png, region_losses.png, loss.png
    config.yaml       the resolved configuration
    ray/              Ray Train storage (checkpoints); rerunning the same command resumes from here
    _work/            per-node scratch (TRL checkpoints before upload)

Within one run, Ray Train restarts a failed worker group (a worker process or its node died) up to
``max_failures`` times from the latest checkpoint; ``alpha.json`` lists each restart under ``restarts``.
"""
from __future__ import annotations

import os

import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from hydra_ray.config import ConfigError, dump_config
from hydra_ray.train.alpha import AlphaSettings
from hydra_ray.train.config import TrainConfig, check_node

RUN_NAME = "train"


@dataclass
class TrainOutcome:
    output_dir: Path
    steps: int
    alpha: dict[str, float]
    resumed_from_step: int | None
    skipped: bool = False
    restarts: int = 0          # worker-group restarts after failures within this run


def alpha_settings(cfg: TrainConfig) -> AlphaSettings:
    a = cfg.alpha
    # One report per micro-batch per worker: an update every `update_interval` optimizer steps.
    per_update = a.update_interval * cfg.scaling.num_workers * cfg.dpo.gradient_accumulation_steps
    return AlphaSettings(lr=a.lr, alpha_min=a.alpha_min, alpha_max=a.alpha_max, initial=a.initial,
                         rule=a.rule, reports_per_update=per_update)


def train_attempt(config: dict) -> None:
    """The function each Ray Train worker runs, once per attempt (the first, and once per restart).

    Rank 0 first tells the hub a worker group is starting, and whether it resumes from a checkpoint,
    so a restart from scratch also drops what the failed attempt did to α (see AlphaHub.begin_attempt);
    the other ranks wait for rank 0 at the worker's first barrier before they draw weights."""
    import ray
    import ray.train

    from hydra_ray.train.worker import train_loop_per_worker

    if ray.train.get_context().get_world_rank() == 0:
        ray.get(config["hub"].begin_attempt.remote(ray.train.get_checkpoint() is not None))
    train_loop_per_worker(config)


def run_training(cfg: TrainConfig, input_dir: str | Path, output_dir: str | Path) -> TrainOutcome:
    input_dir, out = Path(input_dir).resolve(), Path(output_dir).resolve()
    problems = check_node(cfg, input_dir)
    if problems:
        raise ConfigError(problems, "train (node check, before Ray starts)")
    done = out / "alpha.json"
    if done.exists() and json.loads(done.read_text()).get("completed"):
        a = json.loads(done.read_text())
        return TrainOutcome(out, a.get("steps", 0), a["alpha"], None, skipped=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(dump_config(cfg))
    storage = out / "ray"
    resuming = (storage / RUN_NAME).is_dir() and any((storage / RUN_NAME).glob("checkpoint-*"))
    if not resuming and (out / "metrics.jsonl").exists():
        (out / "metrics.jsonl").unlink()   # a fresh run: rows of an earlier, unfinished attempt are stale

    import os

    # Ray Train's print patch defeats dill's stdout capture inside `datasets` (it then prints bytecode).
    os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")
    import ray
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from hydra_ray.train.hub import AlphaHub

    started = False
    if not ray.is_initialized():
        # A cluster when asked (config or $RAY_ADDRESS, as under `ray job submit`); else our own
        # embedded Ray ("local"), never a cluster someone else started on this machine.
        address = cfg.ray_address or os.environ.get("RAY_ADDRESS") or "local"
        ray.init(address=address, num_cpus=cfg.num_cpus if address == "local" else None,
                 include_dashboard=False,
                 runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                                           "TOKENIZERS_PARALLELISM": "false"}})
        started = True
    try:
        # On the driver's node, so metrics.jsonl lands in OUT whichever node rank 0 runs on.
        node = ray.get_runtime_context().get_node_id()
        hub = ray.remote(AlphaHub).options(
            name=f"hydra-alpha-{uuid.uuid4().hex[:8]}", num_cpus=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
        ).remote(alpha_settings(cfg), str(out / "metrics.jsonl"), cfg.framework == "enhanced")
        trainer = TorchTrainer(
            train_attempt,
            train_loop_config={"cfg": cfg.to_dict(), "hub": hub, "input_dir": str(input_dir),
                               "work_dir": str(out / "_work")},
            scaling_config=ScalingConfig(num_workers=cfg.scaling.num_workers, use_gpu=cfg.scaling.use_gpu,
                                         resources_per_worker={"CPU": cfg.scaling.cpus_per_worker,
                                                               **({"GPU": 1} if cfg.scaling.use_gpu else {})}),
            run_config=RunConfig(name=RUN_NAME, storage_path=str(storage),
                                 checkpoint_config=CheckpointConfig(num_to_keep=cfg.dpo.keep_checkpoints + 1),
                                 failure_config=FailureConfig(max_failures=cfg.max_failures)),
        )
        result = trainer.fit()
        if result.error is not None:
            raise result.error
        summary = ray.get(hub.summary.remote())
        workers = ray.get(hub.worker_info.remote())
        with result.checkpoint.as_directory() as d:
            shutil.rmtree(out / "adapter", ignore_errors=True)
            shutil.copytree(Path(d) / "adapter", out / "adapter")
    finally:
        if started:
            ray.shutdown()

    steps = max((int(w.get("global_step", 0)) for w in workers.values()), default=0)
    (out / "workers.json").write_text(json.dumps(workers, indent=2) + "\n")
    (out / "alpha.json").write_text(json.dumps({"completed": True, "steps": steps, "framework": cfg.framework,
                                                **summary}, indent=2) + "\n")
    from hydra_ray.train.plots import write_training_plots

    write_training_plots(out)
    resumed = summary.get("resumed_from")
    return TrainOutcome(out, steps, summary["alpha"], resumed["step"] if resumed else None,
                        restarts=len(summary.get("restarts", [])))
