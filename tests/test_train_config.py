"""Presets load and validate; a node that lacks what a preset needs is told so before Ray starts."""
from __future__ import annotations

import json
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
    assert "9 worker(s)" in text and "dpo.bf16=true needs scaling.use_gpu=true" in text


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


def test_scaling_extra_resources_and_gpu_model_validate_and_reach_the_scaling_config():
    from hydra_ray.placement import train_workers

    preset = REPO / "configs/train/tiny-cpu.yaml"
    with pytest.raises(ConfigError) as err:
        load_config(TrainConfig, preset, ["scaling.resources_per_worker={CPU: 2, trainer: -1}",
                                          "scaling.accelerator_type=H100"])
    text = str(err.value)
    assert "resources_per_worker.CPU: set cpus_per_worker instead" in text
    assert "resources_per_worker.trainer: expected >= 0, got -1" in text
    assert "accelerator_type: is 'H100' but use_gpu is false" in text

    cfg = load_config(TrainConfig, preset, ["scaling.num_workers=1", "scaling.resources_per_worker={trainer: 1}"])
    plan = train_workers({"CPU": 2.0}, cfg.scaling)
    assert plan.scaling_config_kwargs() == {"num_workers": 1, "use_gpu": False,
                                            "resources_per_worker": {"trainer": 1.0, "CPU": 1.0}}
    assert "needs 1 trainer, 0 in the cluster now: waits for the autoscaler" in plan.describe()

    gpu = load_config(TrainConfig, REPO / "configs/train/qwen2.5-coder-7b-qlora.yaml", ["scaling.accelerator_type=H100"])
    plan = train_workers({"CPU": 8.0, "GPU": 1.0, "accelerator_type:A100": 1.0}, gpu.scaling)
    assert plan.scaling_config_kwargs() == {"num_workers": 1, "use_gpu": True, "accelerator_type": "H100",
                                            "resources_per_worker": {"CPU": 4.0, "GPU": 1.0}}
    assert plan.notes == ("needs 0.001 accelerator_type:H100, 0 in the cluster now: waits for the autoscaler",)
    from ray.train import ScalingConfig

    ScalingConfig(**plan.scaling_config_kwargs())   # Ray accepts what placement produces


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks a node without CUDA")
def test_on_a_cluster_hardware_checks_move_from_the_driver_to_the_workers(tmp_path, monkeypatch):
    """Under `ray job submit` the driver runs on the head, which has no GPU (clusters/*.yaml): refusing
    the QLoRA preset there would block every real run, so the workers check their own node."""
    from hydra_ray.train.config import worker_problems

    cfg = load_config(TrainConfig, REPO / "configs/train/qwen2.5-coder-7b-qlora.yaml")
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    driver = "\n".join(check_node(cfg, tmp_path))
    assert "labels.parquet is missing" in driver and "CUDA" not in driver and "bitsandbytes" not in driver
    worker = "\n".join(worker_problems(cfg, where="node abc"))
    assert "model.quantization=nf4 (QLoRA) needs a CUDA GPU; node abc has none usable" in worker
    monkeypatch.delenv("RAY_ADDRESS")
    assert "needs a CUDA GPU" in "\n".join(check_node(cfg, tmp_path))


def test_config_errors_cross_process_boundaries_intact():
    import pickle

    err = pickle.loads(pickle.dumps(ConfigError(["a: expected 1", "b: expected 2"], "train (worker)")))
    assert err.problems == ["a: expected 1", "b: expected 2"] and err.source == "train (worker)"
    assert str(err).startswith("2 configuration problem(s) in train (worker)")


def test_checkpoint_storage_is_per_output_and_read_through_pyarrow_filesystems(tmp_path):
    from hydra_ray.train.driver import has_checkpoints, train_storage

    preset = REPO / "configs/train/tiny-cpu.yaml"
    assert train_storage(load_config(TrainConfig, preset), tmp_path / "out") == (str(tmp_path / "out" / "ray"), "train")
    bucket = load_config(TrainConfig, preset, ["storage_path=s3://bucket/hydra-ray/"])
    a, b = train_storage(bucket, tmp_path / "a" / "run"), train_storage(bucket, tmp_path / "b" / "run")
    assert a[0] == b[0] == "s3://bucket/hydra-ray" and a[1] != b[1] and a[1].startswith("run-")
    with pytest.raises(ConfigError, match="storage_path: expected a bucket URI"):
        load_config(TrainConfig, preset, ["storage_path=''"])

    root = tmp_path / "storage"
    assert not has_checkpoints(str(root), "run-1")                 # nothing there yet
    (root / "run-1" / "checkpoint-00000004").mkdir(parents=True)
    (root / "run-2").mkdir()
    (root / "run-2" / "checkpoint-00000004.tmp").write_text("")   # a file is not a checkpoint
    assert has_checkpoints(str(root), "run-1") and not has_checkpoints(str(root), "run-2")
    assert has_checkpoints(f"file://{root}", "run-1")              # URIs go through pyarrow.fs.from_uri


def test_a_non_uniform_label_alpha_is_noted_when_enhanced_training_will_redraw_from_its_own(tmp_path):
    """The label preset's α shapes only the stored labels: enhanced training draws from α_initial."""
    import json

    from hydra_ray.train.labelled_input import labelled_alpha_note

    cfg = load_config(TrainConfig, REPO / "configs/train/tiny-cpu.yaml")
    assert cfg.framework == "enhanced"
    for alpha, noted in (("latency-dominant", True), ([5, 0.5, 0.5, 0.5, 0.5], True), ("intermediate", False),
                         (2.0, False)):
        f = tmp_path / "labeler.json"
        f.write_text(json.dumps({"config": {"alpha": alpha}}))
        note = labelled_alpha_note(cfg, f)
        assert (note is not None) == noted, (alpha, note)
        assert labelled_alpha_note(cfg.replace(framework="base"), f) is None   # base keeps the labels' weights
    f.write_text(json.dumps({"config": {"alpha": "latency-dominant"}}))
    assert "framework=base" in labelled_alpha_note(cfg, f) and "starts at 1 " in labelled_alpha_note(cfg, f)


def test_a_labelled_set_sharing_problems_with_the_evaluation_split_is_noted_unless_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hydra_ray.evaluate.suites.pie import DEFAULT_SPLIT, load_split
    from hydra_ray.train.labelled_input import heldout_overlap_note

    held = sorted(load_split(DEFAULT_SPLIT).problem_ids)[:2]
    cfg = load_config(TrainConfig, REPO / "configs/train/tiny-cpu.yaml")
    labels = tmp_path / "labels.parquet"
    pq.write_table(pa.table({"problem_id": [*held, "p_not_held_out", held[0]]}), labels)
    note = heldout_overlap_note(cfg, labels)
    assert note.startswith(f"note: 2 of the labelled set's 3 problems ({held[0]}, {held[1]})"), note
    assert heldout_overlap_note(cfg.replace(heldout_split=str(DEFAULT_SPLIT)), labels) is None  # refused instead
    pq.write_table(pa.table({"problem_id": ["p_not_held_out"]}), labels)
    assert heldout_overlap_note(cfg, labels) is None
    labels.write_bytes(b"not parquet")                   # reported by the workers' reader, not here
    assert heldout_overlap_note(cfg, labels) is None


@pytest.fixture(scope="module")
def tiny_inputs(tmp_path_factory):
    from hydra_ray.train.sample_data import build_sample_labelled_set
    from hydra_ray.train.tiny_model import build_tiny_model

    base = tmp_path_factory.mktemp("rerun")
    return (build_tiny_model(base / "model"), build_sample_labelled_set(base / "labelled", limit=4),
            build_sample_labelled_set(base / "unweighted", limit=4, prompt_conditioning="none"))


class _RayStarted(BaseException):
    """Raised where Ray would start: everything up to it ran for real, nothing after it (a BaseException,
    so the CLI does not report it as an error)."""


def test_a_rerun_asking_for_another_run_is_refused_before_anything_is_written(tiny_inputs, tmp_path, capsys,
                                                                             monkeypatch):
    """A stopped run (its record, config.yaml and a checkpoint in Ray storage) is continued only by the
    same request: other input or training fields are refused with exit 2 before Ray starts, naming what
    changed; operational fields (save_steps, logging_steps, max_failures) may change."""
    from hydra_ray import ray_runtime
    from hydra_ray.cli import main

    def stop(*a, **kw):
        raise _RayStarted

    monkeypatch.setattr(ray_runtime, "connect", stop)
    model, labelled, unweighted = tiny_inputs
    out = tmp_path / "run"

    def train(inp, *overrides):
        return main(["train", "--input", str(inp), "--output", str(out), "--config",
                     str(REPO / "configs/train/tiny-cpu.yaml"), f"model.name_or_path={model}", *overrides])

    with pytest.raises(_RayStarted):
        train(labelled, "dpo.save_steps=5")
    (out / "ray" / "train" / "checkpoint-00000005").mkdir(parents=True)   # what Ray Train had saved
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert {"config.yaml", "run.json"} <= set(before)

    assert train(unweighted, "dpo.learning_rate=0.1", "lora.r=4") == 2
    err = capsys.readouterr().err
    assert "already holds checkpoints of an unfinished run" in err
    assert f"input ({labelled} → {unweighted})" in err
    assert "lora.r: 8 → 4" in err and "dpo.learning_rate: 0.0005 → 0.1" in err
    assert "prompt_conditioning: 'weights' → 'none'" in err and "pass --overwrite" in err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before

    # the same labelled data rewritten in place with other contents is another input too
    (labelled / "labeler.json").write_text((labelled / "labeler.json").read_text() + "\n")
    try:
        assert train(labelled) == 2
        assert f"input data ({labelled} has changed since)" in capsys.readouterr().err
    finally:
        (labelled / "labeler.json").write_text((labelled / "labeler.json").read_text()[:-1])

    with pytest.raises(_RayStarted):   # operational fields only: it goes on to resume
        train(labelled, "dpo.save_steps=7", "dpo.logging_steps=1", "max_failures=0")
    assert (out / "ray" / "train" / "checkpoint-00000005").is_dir()

    # an output written before run.json existed: its config.yaml still tells a changed field
    (out / "run.json").unlink()
    assert train(labelled, "dpo.learning_rate=0.1") == 2
    err = capsys.readouterr().err
    assert "made from different config (dpo.learning_rate: 0.0005 → 0.1)" in err and "input" not in err


def test_overwrite_deletes_the_other_run_then_starts_over(tiny_inputs, tmp_path, monkeypatch):
    from hydra_ray import ray_runtime
    from hydra_ray.train.driver import run_training

    def stop(*a, **kw):
        raise _RayStarted

    monkeypatch.setattr(ray_runtime, "connect", stop)
    model, labelled, _ = tiny_inputs
    preset = REPO / "configs/train/tiny-cpu.yaml"
    cfg = load_config(TrainConfig, preset, [f"model.name_or_path={model}"])
    out = tmp_path / "run"
    with pytest.raises(_RayStarted):
        run_training(cfg, labelled, out, emit=lambda _: None)
    (out / "ray" / "train" / "checkpoint-00000005").mkdir(parents=True)
    (out / "metrics.jsonl").write_text('{"step": 5}\n')
    lines: list[str] = []
    with pytest.raises(_RayStarted):   # the same run, with overwrite: nothing to replace, it resumes
        run_training(cfg, labelled, out, emit=lines.append, overwrite=True)
    assert (out / "ray" / "train" / "checkpoint-00000005").is_dir() and not lines
    other = cfg.replace(dpo=cfg.dpo.replace(max_steps=80))
    with pytest.raises(_RayStarted):
        run_training(other, labelled, out, emit=lines.append, overwrite=True)
    assert lines == ["[train] --overwrite: deleted checkpoints of an unfinished run "
                     f"({out / 'ray'}/train) made from other input or config; starting over"]
    assert not (out / "ray" / "train").exists() and not (out / "metrics.jsonl").exists()
    assert "max_steps: 80" in (out / "config.yaml").read_text()
    assert json.loads((out / "run.json").read_text())["config"]["dpo.max_steps"] == 80


def test_an_empty_labelled_set_is_refused_before_ray(tiny_inputs, tmp_path):
    import shutil

    import pyarrow.parquet as pq

    model, labelled, _ = tiny_inputs
    empty = tmp_path / "empty"
    shutil.copytree(labelled, empty)
    pq.write_table(pq.read_table(labelled / "labels.parquet").slice(0, 0), empty / "labels.parquet")
    cfg = load_config(TrainConfig, REPO / "configs/train/tiny-cpu.yaml", [f"model.name_or_path={model}"])
    problems = check_node(cfg, empty)
    assert problems == [f"--input {empty}: labels.parquet has no rows, nothing to train on (every pair was "
                        f"skipped or every draw dropped: {empty / 'stats.json'} counts why)"]
    assert check_node(cfg, labelled) == []


def test_too_few_cpus_names_the_fields_that_can_change(tmp_path):
    preset = REPO / "configs/train/tiny-cpu.yaml"
    one = load_config(TrainConfig, preset, ["scaling.num_workers=1", "scaling.cpus_per_worker=64", "num_cpus=2"])
    text = "\n".join(check_node(one))
    assert "1 worker(s) × 64 CPU(s) = 64 CPUs" in text and "lower scaling.cpus_per_worker (given 64)" in text
    assert "scaling.num_workers" not in text
    many = load_config(TrainConfig, preset, ["scaling.num_workers=64", "num_cpus=2"])
    text = "\n".join(check_node(many))
    assert "lower scaling.num_workers (given 64)" in text and "cpus_per_worker" not in text
