"""Presets load and validate; a node that lacks what a preset needs is told so before Ray starts."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from hydra_ray.config import ConfigError, load_config
from hydra_ray.train.config import TrainConfig, check_node
from hydra_ray.train.driver import alpha_settings

REPO = Path(__file__).resolve().parents[1]
PRESETS = sorted((REPO / "configs" / "train").glob("*.yaml"))


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_presets_validate(preset):
    cfg = load_config(TrainConfig, preset)
    assert cfg.alpha.alpha_min <= cfg.alpha.initial <= cfg.alpha.alpha_max


def test_qlora_preset_matches_paper_settings():
    cfg = load_config(TrainConfig, REPO / "configs/train/qwen2.5-coder-7b-qlora.yaml")
    assert (cfg.model.quantization, cfg.model.double_quant, cfg.model.compute_dtype) == ("nf4", True, "bfloat16")
    assert (cfg.dpo.learning_rate, cfg.dpo.beta, cfg.alpha.lr) == (2e-6, 0.015, 0.002)
    assert (cfg.alpha.alpha_min, cfg.alpha.alpha_max) == (0.75, 1.5)


def test_overrides_and_field_errors_name_the_field():
    cfg = load_config(TrainConfig, REPO / "configs/train/tiny-cpu.yaml", ["alpha.rule=advantage", "dpo.max_steps=7"])
    assert cfg.alpha.rule == "advantage" and cfg.dpo.max_steps == 7
    with pytest.raises(ConfigError, match=r"AlphaConfig\.rule: expected one of"):
        load_config(TrainConfig, REPO / "configs/train/tiny-cpu.yaml", ["alpha.rule=vibes"])
    with pytest.raises(ConfigError, match="did you mean 'beta'"):
        load_config(TrainConfig, REPO / "configs/train/tiny-cpu.yaml", ["dpo.betta=0.1"])
    with pytest.raises(ConfigError, match="initial"):
        load_config(TrainConfig, REPO / "configs/train/tiny-cpu.yaml", ["alpha.initial=3.0"])


def test_reports_per_update_counts_workers_and_accumulation():
    cfg = load_config(TrainConfig, REPO / "configs/train/tiny-cpu.yaml",
                      ["alpha.update_interval=3", "dpo.gradient_accumulation_steps=2"])
    assert alpha_settings(cfg).reports_per_update == 3 * 2 * cfg.scaling.num_workers


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks a node without CUDA")
def test_qlora_on_cpu_node_is_refused_before_ray(tmp_path):
    cfg = load_config(TrainConfig, REPO / "configs/train/qwen2.5-coder-7b-qlora.yaml")
    problems = check_node(cfg, tmp_path)
    text = "\n".join(problems)
    assert "needs a CUDA GPU" in text and "labels.parquet is missing" in text
    assert "not in the local Hugging Face cache" in text or "Qwen" in text
    t0 = time.time()
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "hydra_ray.cli", "train", "--input", str(tmp_path), "--output",
                           str(out), "--config", str(REPO / "configs/train/qwen2.5-coder-7b-qlora.yaml")],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 2
    assert "nf4 (QLoRA) needs a CUDA GPU" in proc.stderr and "before Ray starts" in proc.stderr
    assert not (out / "ray").exists()
    assert time.time() - t0 < 60


def test_cpu_node_checks(tmp_path):
    cfg = load_config(TrainConfig, REPO / "configs/train/tiny-cpu.yaml",
                      [f"model.name_or_path={tmp_path / 'nope'}", "scaling.num_workers=9", "dpo.bf16=true"])
    text = "\n".join(check_node(cfg))
    assert "no such directory" in text and "make-tiny-model" in text
    assert "9 workers" in text and "dpo.bf16=true needs scaling.use_gpu=true" in text


def test_training_refuses_problems_held_out_for_evaluation(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    split = tmp_path / "split.txt"
    split.write_text("p00001\np00002\n")
    labelled = tmp_path / "labelled"
    labelled.mkdir()
    (labelled / "labeler.json").write_text("{}")
    pq.write_table(pa.table({"problem_id": ["p00002", "p09999"]}), labelled / "labels.parquet")
    preset = Path(__file__).resolve().parents[1] / "configs" / "train" / "tiny-cpu.yaml"
    cfg = load_config(TrainConfig, preset, [f"heldout_split={split}"])
    problems = [p for p in check_node(cfg, labelled) if "heldout_split" in p]
    assert len(problems) == 1 and "p00002" in problems[0] and "p09999" not in problems[0]
    pq.write_table(pa.table({"problem_id": ["p09999"]}), labelled / "labels.parquet")
    assert not [p for p in check_node(cfg, labelled) if "heldout_split" in p]
    missing = load_config(TrainConfig, preset, [f"heldout_split={tmp_path / 'nope.txt'}"])
    assert any("does not exist" in p for p in check_node(missing, labelled))
