"""The DeepSpeed ZeRO-2 preset's path under Ray Train: `hydra-ray train` with
configs/train/qwen2.5-coder-7b-zero2.yaml on the tiny model, 2 CPU workers, DeepSpeed's CPU accelerator
over gloo (the same engine, optimizer sharding and checkpoint format as on GPUs; not their speed).

Overrides only what a CPU node cannot do (GPU, bf16, gradient checkpointing) and the sizes."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_train_ray import kill_run_past_checkpoint

pytest.importorskip("deepspeed", reason="scripts/setup.sh installs deepspeed (the `deepspeed` extra)")

REPO = Path(__file__).resolve().parents[1]
ZERO2 = REPO / "configs" / "train" / "qwen2.5-coder-7b-zero2.yaml"
CPU_OVERRIDES = ["model.dtype=float32", "model.gradient_checkpointing=false", "dpo.bf16=false",
                 "scaling.use_gpu=false", "scaling.num_workers=2", "scaling.cpus_per_worker=1", "num_cpus=2"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from hydra_ray.train.sample_data import build_sample_labelled_set
    from hydra_ray.train.tiny_model import build_tiny_model

    model = build_tiny_model(tmp_path_factory.mktemp("tiny-model"))
    labelled = build_sample_labelled_set(tmp_path_factory.mktemp("labelled"), samples_per_pair=1, limit=16)
    return model, labelled


def _cmd(model, labelled, out, *overrides):
    return [sys.executable, "-m", "hydra_ray.cli", "train", "--input", str(labelled), "--output", str(out),
            "--config", str(ZERO2), f"model.name_or_path={model}", *CPU_OVERRIDES, "lora.r=4", "lora.alpha=8",
            "dpo.per_device_batch_size=2", "dpo.warmup_steps=0", *overrides]


@pytest.mark.slow   # 85 s on 2 cores; the ZeRO-2 code path is for GPU clusters (make test-slow runs it)
def test_zero2_preset_trains_under_ray_train_with_deepspeed_checkpoints(data, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model, labelled = data
    out = tmp_path / "run"
    proc = subprocess.run(_cmd(model, labelled, out, "dpo.max_steps=4", "dpo.save_steps=2", "dpo.logging_steps=2",
                               "max_failures=0"), capture_output=True, text=True, timeout=900, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "trained 4 steps" in proc.stdout

    workers = json.loads((out / "workers.json").read_text())
    assert set(workers) == {"0", "1"}
    for w in workers.values():
        assert (w["distributed_type"], w["world_size"], w["global_step"]) == ("DistributedType.DEEPSPEED", 2, 4)
    # ZeRO-2 shards optimizer state and gradients, not the weights: both ranks hold the same adapter.
    assert workers["0"]["trainable_checksum"] == pytest.approx(workers["1"]["trainable_checksum"], rel=1e-9)

    # Checkpoints are DeepSpeed's own (engine state per step), handed to Ray Train with hydra's α file.
    ckpt = out / "ray" / "train" / "checkpoint-00000004"
    assert (ckpt / "global_step4").is_dir() and (ckpt / "hydra_alpha.json").is_file()
    shards = sorted(p.name for p in (ckpt / "global_step4").glob("*optim_states.pt"))
    assert shards == ["zero_pp_rank_0_mp_rank_00_optim_states.pt", "zero_pp_rank_1_mp_rank_00_optim_states.pt"], \
        f"expected one ZeRO optimizer shard per rank: {shards}"

    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if x.strip()]
    assert [r["step"] for r in rows] == [2, 4] and all(0 < r["loss"] < 2 for r in rows)
    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model), str(out / "adapter"))
    assert sum(p.numel() for n, p in tuned.named_parameters() if "lora_" in n) > 0


@pytest.mark.slow
def test_killed_zero2_run_resumes_from_its_deepspeed_checkpoint(data, tmp_path):
    """SIGKILL the whole run after a checkpoint; the rerun restores DeepSpeed's engine state (ZeRO shards,
    scheduler, step) and the α hub from it and finishes."""
    model, labelled = data
    out = tmp_path / "run"
    cmd = _cmd(model, labelled, out, "dpo.max_steps=8", "dpo.save_steps=2", "dpo.logging_steps=1")
    kill_run_past_checkpoint(cmd, out, checkpoint_step=2, past_step=3)
    assert not (out / "alpha.json").exists()

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=REPO)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert "resumed from step" in done.stdout and "trained 8 steps" in done.stdout
    alpha = json.loads((out / "alpha.json").read_text())
    workers = json.loads((out / "workers.json").read_text())
    assert alpha["resumed_from"]["step"] >= 2
    for w in workers.values():
        assert w["distributed_type"] == "DistributedType.DEEPSPEED"
        assert w["resumed_from_step"] == alpha["resumed_from"]["step"] and w["global_step"] == 8
