"""The Ray Train worker: TRL DPO + LoRA on this worker's shard, α from and losses to the shared hub actor.

Checkpoints are TRL/transformers checkpoints (adapter, optimizer, scheduler, trainer state, RNG), plus
``hydra_alpha.json`` (the hub's α state at that step), handed to Ray Train with ``ray.train.report``.
A restarted run gets the latest one from ``ray.train.get_checkpoint()``: rank 0 restores the hub's α,
every rank resumes the trainer from the same files.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path
from typing import Any

ALPHA_FILE = "hydra_alpha.json"
OUTCOME_FILE = "hydra_outcome.json"
_FLUSH_EVERY = 16


class HubClient:
    """The worker's side of the hub: fetch the concentration, send losses, surface actor errors."""

    def __init__(self, hub, rank: int):
        self.hub = hub
        self.rank = rank
        self._pending: list = []

    def concentration(self):
        import ray

        return ray.get(self.hub.concentration.remote())

    def report(self, batch, step: int) -> None:
        meta = batch.meta or {}
        # Fire and forget (actor calls from one caller run in order); errors surface at the next flush.
        self._pending.append(self.hub.report.remote(meta["region"], batch.per_example.tolist(),
                                                    meta["advantage"], self.rank, step))
        if len(self._pending) >= _FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        import ray

        pending, self._pending = self._pending, []
        ray.get(pending + [self.hub.ping.remote()])


class WorkerConfigError(Exception):
    """Another rank found a configuration problem; this rank stops too (the hub holds the problem)."""


def _all_ranks_ok(ok: bool) -> bool:
    """Whether every rank's check passed: a rank that found a problem must not leave the others
    waiting at the next collective, so all agree before any of them goes on."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return ok
    flag = torch.tensor([1 if ok else 0], dtype=torch.int32)
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item())


def _barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def _make_callback(client: HubClient, rank: int, step_times: list[float]):
    import time

    import ray.train
    from transformers import TrainerCallback

    class HubCallback(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            step_times.append(time.perf_counter())

        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and logs and "loss" in logs:
                client.hub.log_metrics.remote({"step": state.global_step, **logs})

        def on_save(self, args, state, control, **kwargs):
            client.flush()
            _barrier()   # every rank's reports are in the hub before its state is saved
            ckpt_dir = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            checkpoint = None
            if rank == 0:
                alpha_state = ray.get(client.hub.state_dict.remote())
                (ckpt_dir / ALPHA_FILE).write_text(json.dumps({"step": state.global_step,
                                                               "alpha_state": alpha_state}))
                checkpoint = ray.train.Checkpoint.from_directory(str(ckpt_dir))
            ray.train.report({"step": state.global_step}, checkpoint=checkpoint,
                             checkpoint_dir_name=f"checkpoint-{state.global_step:08d}")

    return HubCallback()


def _restore(work: Path, rank: int, hub) -> tuple[str | None, int]:
    import ray
    import ray.train

    ckpt = ray.train.get_checkpoint()
    if ckpt is None:
        return None, 0
    local = work / f"resume-rank{rank}"
    shutil.rmtree(local, ignore_errors=True)
    with ckpt.as_directory() as d:
        shutil.copytree(d, local)
    saved = json.loads((local / ALPHA_FILE).read_text())
    if rank == 0:
        ray.get(hub.restore.remote(saved["alpha_state"], saved["step"]))
    return str(local), int(saved["step"])


def _median_step(times: list[float], warmup: int = 3) -> float | None:
    """Median wall time between consecutive optimizer steps, after ``warmup`` steps (checkpoint steps included)."""
    import statistics

    gaps = [b - a for a, b in zip(times[warmup:], times[warmup + 1:])]
    return statistics.median(gaps) if gaps else None


def _peak_gpu_memory_gib() -> float | None:
    """Peak memory torch allocated on this worker's GPU during training (None on CPU workers)."""
    import torch

    return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None


def _trainable_checksum(model) -> float:
    import torch

    with torch.no_grad():
        return float(sum(p.detach().double().abs().sum().item() + p.detach().double().sum().item()
                         for p in model.parameters() if p.requires_grad))


def _local_input(config: dict[str, Any], work: Path, rank: int) -> Path:
    """The labelled set as the driver read it (shipped through Ray's object store), written to this
    worker's own folder: a worker on another node does not see the driver's --input. Per rank, so two
    ranks of one node never write the same file."""
    import ray

    files = config.get("input_files")
    if files is None:   # a driver from before the set travelled with the run
        return Path(config["input_dir"])
    here = work / f"input-rank{rank}"
    here.mkdir(parents=True, exist_ok=True)
    for name, data in ray.get(files).items():
        (here / name).write_bytes(data)
    return here


def train_loop_per_worker(config: dict[str, Any]) -> None:
    from hydra_ray.train.config import OFFLINE_ENV

    for key, value in OFFLINE_ENV.items():   # nodes have no network: never try the hub
        os.environ.setdefault(key, value)
    import ray
    import ray.train

    from hydra_ray.config import ConfigError, from_dict
    from hydra_ray.train.builder import build_trainer
    from hydra_ray.train.config import TrainConfig, worker_problems

    cfg = from_dict(TrainConfig, config["cfg"])
    node_id = ray.get_runtime_context().get_node_id()
    problems = worker_problems(cfg, where=f"node {node_id[:12]} ({socket.gethostname()})")
    if not _all_ranks_ok(not problems):
        if problems:
            raise ConfigError(problems, "train (on a Ray Train worker)")
        raise WorkerConfigError("another rank found a configuration problem")
    use_cpu = not cfg.scaling.use_gpu
    # Not with DeepSpeed: ACCELERATE_USE_CPU switches its engine off (plain DDP would run instead);
    # DeepSpeed finds its CPU accelerator itself.
    if use_cpu and cfg.dpo.deepspeed is None:
        os.environ["ACCELERATE_USE_CPU"] = "true"
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    hub = config["hub"]
    work = Path(config["work_dir"])
    work.mkdir(parents=True, exist_ok=True)

    resume_dir, resume_step = _restore(work, rank, hub)
    _barrier()   # α is restored before any rank draws weights from it
    client = HubClient(hub, rank)
    holder: dict[str, Any] = {}
    step_times: list[float] = []

    def sink(batch):
        client.report(batch, holder["trainer"].state.global_step + 1)

    local = _local_input(config, work, rank)
    try:
        trainer = build_trainer(cfg, local, work / "hf", use_cpu=use_cpu,
                                concentration=client.concentration, rank=rank, loss_sink=sink,
                                callbacks=[_make_callback(client, rank, step_times)])
    except ConfigError as e:   # named as the user gave it, not by this worker's copy
        raise ConfigError([p.replace(str(local), config["input_dir"]) for p in e.problems], e.source) from None
    holder["trainer"] = trainer
    trainer.data_collator.calls = resume_step * cfg.dpo.gradient_accumulation_steps
    trainer.train(resume_from_checkpoint=resume_dir)
    client.flush()

    acc = trainer.accelerator
    ray.get(hub.note_worker.remote(rank, {
        "node_id": node_id, "hostname": socket.gethostname(),
        "world_size": world, "accelerate_processes": acc.num_processes,
        "distributed_type": str(acc.distributed_type), "device": str(acc.device),
        "trainable_checksum": _trainable_checksum(trainer.model), "global_step": trainer.state.global_step,
        "resumed_from_step": resume_step, "relabel_fallbacks": trainer.data_collator.fallbacks,
        "batches": trainer.data_collator.calls, "step_time_median_s": _median_step(step_times),
        "peak_gpu_memory_gib": _peak_gpu_memory_gib()}))

    _barrier()
    checkpoint = None
    if rank == 0:
        final = work / "final"
        shutil.rmtree(final, ignore_errors=True)
        # The adapter only: saving a peft-wrapped model in place corrupts later reloads of the base weights.
        trainer.model.save_pretrained(str(final / "adapter"))
        trainer.processing_class.save_pretrained(str(final / "adapter"))
        (final / ALPHA_FILE).write_text(json.dumps({"step": trainer.state.global_step,
                                                    "alpha_state": ray.get(hub.state_dict.remote())}))
        # Everything the driver writes into OUTPUT, so a driver that dies after this report can be
        # finalized from storage on rerun instead of training again (every rank noted itself above).
        (final / OUTCOME_FILE).write_text(json.dumps({"summary": ray.get(hub.summary.remote()),
                                                      "workers": ray.get(hub.worker_info.remote())}))
        checkpoint = ray.train.Checkpoint.from_directory(str(final))
    ray.train.report({"step": trainer.state.global_step, "final": True}, checkpoint=checkpoint,
                     checkpoint_dir_name="final")
