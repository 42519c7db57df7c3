"""The GPU check's train stage: ``hydra-ray train`` with the QLoRA preset against plain TRL DPO on the same
model, data, batch and steps (s/step, tokens/s, MFU, peak GPU memory)."""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from gpu_stage import REPO, run_stage_json

QLORA = REPO / "configs" / "train" / "qwen2.5-coder-7b-qlora.yaml"
# Dense bf16 peak (no sparsity) by device name, for MFU; unknown devices get none.
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L4": 121e12, "A10G": 70e12}


def _overrides(model: Path, steps: int, batch: int, smoke: bool) -> list[str]:
    o = [f"model.name_or_path={model}", f"dpo.max_steps={steps}", f"dpo.per_device_batch_size={batch}",
         f"dpo.save_steps={steps * 10}", "dpo.logging_steps=1", "dpo.warmup_steps=0"]
    if smoke:   # hydra-ray train refuses QLoRA/bf16 on CPU: the preset's CPU-runnable rest, both sides alike
        o += ["scaling.use_gpu=false", "scaling.cpus_per_worker=1", "model.quantization=none",
              "model.dtype=float32", "model.gradient_checkpointing=false", "dpo.bf16=false"]
    return o


def _peak_flops() -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name(0)
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def _derived(step_s: float | None, tokens_per_step: float | None, n_params: int, checkpointing: bool) -> dict:
    """tokens/s and MFU by FLOPs/token = 8·N (reference forward 2N, policy forward 2N and backward 4N),
    10·N with gradient checkpointing (one more policy forward), as shared/notes/gpu-measured.md counts."""
    if not step_s or not tokens_per_step:
        return {"tokens_per_s": None, "mfu": None}
    tps = tokens_per_step / step_s
    peak = _peak_flops()
    factor = 10 if checkpointing else 8
    return {"tokens_per_s": tps, "mfu": tps * factor * n_params / peak if peak else None,
            "flops_per_token": f"{factor}*N", "peak_flops": peak}


def stage_plain(model: Path, data: Path, steps: int, batch: int, smoke: bool, out: Path) -> dict:
    import torch
    from transformers import TrainerCallback
    from trl import DPOTrainer

    from hydra_ray.config import load_config
    from hydra_ray.train.builder import dpo_args, load_dataset, load_model, load_tokenizer, lora_config
    from hydra_ray.train.config import TrainConfig

    cfg = load_config(TrainConfig, QLORA, _overrides(model, steps, batch, smoke))
    times: list[float] = []

    class Timer(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            times.append(time.perf_counter())

    ds = load_dataset(data).select_columns(["prompt", "chosen", "rejected"])
    cuda = torch.cuda.is_available()
    trainer = DPOTrainer(model=load_model(cfg), args=dpo_args(cfg, out, use_cpu=not cuda), train_dataset=ds,
                         processing_class=load_tokenizer(cfg), peft_config=lora_config(cfg), callbacks=[Timer()])
    trainer.train()
    gaps = [b - a for a, b in zip(times[3:], times[4:])]
    from hydra_ray.train.step_figures import tokens_per_step

    tokens = tokens_per_step(trainer.state.log_history)   # at the last logged step, over that step
    return {"step_time_median_s": statistics.median(gaps) if gaps else None, "steps": len(times),
            "tokens_per_step": tokens,
            "peak_gpu_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None}


def stage_hydra(model: Path, data: Path, steps: int, batch: int, smoke: bool, out: Path) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "hydra_ray.cli", "train", "--input", str(data), "--output",
                           str(out), "--config", str(QLORA), *_overrides(model, steps, batch, smoke)],
                          capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        raise RuntimeError(f"hydra-ray train failed:\n{proc.stderr[-3000:]}")
    from hydra_ray.train.step_figures import step_figures

    figures = step_figures(out)
    worker = figures.pop("worker")
    return {**figures, "peak_gpu_memory_gib": worker.get("peak_gpu_memory_gib"), "device": worker.get("device"),
            "wall_s_including_ray_startup": time.perf_counter() - t0}


def stage_train(work: Path, which: str, smoke: bool, steps: int, batch: int) -> dict:
    from hydra_ray.config import load_config
    from hydra_ray.train.config import TrainConfig

    model = work / ("tiny" if which == "tiny" else "big")
    data = work / "labelled"
    n_params = json.loads((work / "big" / "bench-shape.json").read_text())["parameters"] if which == "big" else \
        _count_params(model)
    ckpt = load_config(TrainConfig, QLORA, _overrides(model, steps, batch, smoke)).model.gradient_checkpointing
    plain = run_stage_json(["--stage", "plain", "--model", str(model), "--steps", str(steps), "--batch", str(batch)],
                      work / f"plain-{which}.json", smoke)
    hydra = stage_hydra(model, data, steps, batch, smoke, work / f"hydra-{which}-{time.time_ns()}")
    plain.update(_derived(plain["step_time_median_s"], plain["tokens_per_step"], n_params, ckpt))
    hydra.update(_derived(hydra["step_time_median_s"], hydra["tokens_per_step"], n_params, ckpt))
    ratio = hydra["step_time_median_s"] / plain["step_time_median_s"] \
        if hydra["step_time_median_s"] and plain["step_time_median_s"] else None
    per_token = None
    if ratio and hydra["tokens_per_step"] and plain["tokens_per_step"]:
        per_token = ratio * plain["tokens_per_step"] / hydra["tokens_per_step"]
    return {"model": which, "parameters": n_params, "preset": str(QLORA.relative_to(REPO)), "steps": steps,
            "per_device_batch_size": batch, "gradient_checkpointing": ckpt, "plain_trl": plain, "hydra_ray": hydra,
            "ratio_step_time": ratio, "ratio_time_per_token": per_token, "target_ratio": 1.05}


def _count_params(model: Path) -> int:
    from transformers import AutoConfig, AutoModelForCausalLM

    return sum(p.numel() for p in AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model)).parameters())
