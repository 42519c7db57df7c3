"""End to end under Ray Train: 2 CPU workers (gloo DDP), the α hub actor, checkpoints and resume.

Real parts throughout: the tiny Qwen2 model, a labelled set made from real PIE programs with
hydra_ray.prefs, `hydra-ray train` as a subprocess (it starts its own 2-CPU Ray node and shuts it down).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PRESET = REPO / "configs" / "train" / "tiny-cpu.yaml"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from hydra_ray.train.sample_data import build_sample_labelled_set
    from hydra_ray.train.tiny_model import build_tiny_model

    model = build_tiny_model(tmp_path_factory.mktemp("tiny-model"))
    labelled = build_sample_labelled_set(tmp_path_factory.mktemp("labelled"), samples_per_pair=2)
    return model, labelled


def _cmd(model, labelled, out, *overrides):
    return [sys.executable, "-m", "hydra_ray.cli", "train", "--input", str(labelled), "--output", str(out),
            "--config", str(PRESET), f"model.name_or_path={model}", *overrides]


def _rows(out):
    return [json.loads(x) for x in (Path(out) / "metrics.jsonl").read_text().splitlines() if x.strip()]


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    model, labelled = data
    out = tmp_path_factory.mktemp("run")
    proc = subprocess.run(_cmd(model, labelled, out, "dpo.max_steps=36", "dpo.save_steps=18", "dpo.logging_steps=4"),
                          capture_output=True, text=True, timeout=900, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return model, labelled, out


@pytest.mark.slow
def test_loss_decreases_and_alpha_moves(trained):
    _, _, out = trained
    rows = _rows(out)
    assert [r["step"] for r in rows] == list(range(4, 37, 4))
    first, last = rows[0]["loss"], sum(r["loss"] for r in rows[-2:]) / 2
    assert last < first - 0.01, (first, last)
    assert rows[-1]["rewards/accuracies"] > 0.5
    alpha = json.loads((out / "alpha.json").read_text())
    assert alpha["completed"] and alpha["steps"] == 36
    assert len(alpha["trajectory"]) == 37            # initial + one update per optimizer step
    assert max(abs(a - 1.0) for a in alpha["alpha"].values()) > 0.005
    for key in ("alpha/latency", "region_loss/balanced", "advantage/memory", "rewards/margins",
                "divergence/kl_k3_per_token"):
        assert key in rows[-1]
    assert {p.name for p in (out / "plots").iterdir()} >= {"alpha_trajectory.png", "region_losses.png", "loss.png"}


@pytest.mark.slow
def test_two_workers_share_one_model(trained):
    """DDP, not two lone trainers: both ranks report 2 processes, identical trainable weights after
    training (different data shards, averaged gradients), and the hub got every step from each rank.
    The epoch counter proves the sharding: 36 steps × 4 per device × 2 workers over 96 examples = 3 epochs
    (one worker alone on all the data would be at 1.5)."""
    _, _, out = trained
    workers = json.loads((out / "workers.json").read_text())
    assert set(workers) == {"0", "1"}
    assert all(w["accelerate_processes"] == 2 and "MULTI_CPU" in w["distributed_type"] for w in workers.values())
    assert workers["0"]["trainable_checksum"] == pytest.approx(workers["1"]["trainable_checksum"], rel=1e-9)
    assert _rows(out)[-1]["epoch"] == pytest.approx(36 * 4 * 2 / 96)
    alpha = json.loads((out / "alpha.json").read_text())
    assert alpha["reports_by_worker"] == {"0": 36, "1": 36}
    assert alpha["examples"] == 36 * 4 * 2


@pytest.mark.slow
def test_adapter_reloads_with_peft(trained):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir, _, out = trained
    base = AutoModelForCausalLM.from_pretrained(model_dir)
    tok = AutoTokenizer.from_pretrained(out / "adapter")
    ids = tok("print(sum(map(int, input().split())))", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        before = base(ids).logits
    tuned = PeftModel.from_pretrained(base, out / "adapter")
    lora_b = [p for n, p in tuned.named_parameters() if "lora_B" in n]
    assert lora_b and any(p.abs().max() > 0 for p in lora_b)     # trained, not the zero init
    with torch.no_grad():
        after = tuned(ids).logits
    assert not torch.allclose(before, after)


@pytest.mark.slow
def test_a_finished_run_is_reported_for_the_same_request_and_kept_from_another(trained):
    """The same command again: exit 0, nothing trained; more steps or another learning rate: refused with
    exit 2 before Ray starts, naming the fields, and the finished run's files stay as they were."""
    model, labelled, out = trained
    files = ("config.yaml", "run.json", "alpha.json", "metrics.jsonl", "adapter/adapter_model.safetensors")
    before = {n: (out / n).read_bytes() for n in files}
    same = subprocess.run(_cmd(model, labelled, out, "dpo.max_steps=36", "dpo.save_steps=9", "dpo.logging_steps=4"),
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert same.returncode == 0, same.stderr[-4000:]
    assert "already holds this finished run (36 steps, same input and config)" in same.stdout
    other = subprocess.run(_cmd(model, labelled, out, "dpo.max_steps=80", "dpo.learning_rate=0.1"),
                           capture_output=True, text=True, timeout=300, cwd=REPO)
    assert other.returncode == 2, other.stderr[-4000:]
    assert "already holds a finished run (36 steps) made from different config" in other.stderr
    assert "dpo.max_steps: 36 → 80" in other.stderr and "dpo.learning_rate: 0.0005 → 0.1" in other.stderr
    assert "pass --overwrite to start over" in other.stderr
    assert {n: (out / n).read_bytes() for n in files} == before


def kill_run_past_checkpoint(cmd: list[str], out: Path, checkpoint_step: int, past_step: int,
                             sig: signal.Signals = signal.SIGKILL) -> tuple[int, str]:
    """Start `hydra-ray train` and send `sig` to its whole process group (as a terminal's Ctrl-C does)
    once checkpoint `checkpoint_step` is in Ray's storage and metrics.jsonl shows training at
    `past_step` or later. Returns the exit status and stderr."""
    err_file = out.parent / f"{out.name}.stderr"   # a file, not a pipe a long run could fill
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=err_file.open("w"),
                            start_new_session=True)
    ckpt = out / "ray" / "train" / f"checkpoint-{checkpoint_step:08d}"
    deadline = time.time() + 600
    try:
        while time.time() < deadline and proc.poll() is None:
            if (ckpt / "hydra_alpha.json").exists() and (out / "metrics.jsonl").exists() \
                    and any(r["step"] >= past_step for r in _rows(out)):
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        os.killpg(proc.pid, sig)
        proc.wait(timeout=120)
        return proc.returncode, err_file.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)


@pytest.mark.slow
def test_ctrl_c_mid_run_says_so_exits_130_and_a_rerun_resumes(data, tmp_path):
    """Ray Train's own SIGINT handler aborts the run and left the process with status 1 and no word;
    the CLI's contract is a message and 130, as for every other command."""
    model, labelled = data
    out = tmp_path / "run"
    cmd = _cmd(model, labelled, out, "dpo.max_steps=16", "dpo.save_steps=8", "dpo.logging_steps=4")
    rc, err = kill_run_past_checkpoint(cmd, out, checkpoint_step=8, past_step=8, sig=signal.SIGINT)
    assert rc == 130 and "interrupted; finished work is kept and a rerun resumes" in err, (rc, err[-2000:])
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=REPO)
    assert done.returncode == 0 and "resumed from step" in done.stdout, done.stderr[-3000:]


@pytest.mark.slow
def test_killed_run_resumes_with_alpha_intact(data, tmp_path):
    model, labelled = data
    out = tmp_path / "run"
    cmd = _cmd(model, labelled, out, "dpo.max_steps=24", "dpo.save_steps=8", "dpo.logging_steps=4")
    kill_run_past_checkpoint(cmd, out, checkpoint_step=8, past_step=12)
    # What each checkpoint in storage held at the kill (Ray may rotate some away during the rerun).
    saved = {int(p.parent.name.split("-")[1]): json.loads(p.read_text())
             for p in (out / "ray" / "train").glob("checkpoint-*/hydra_alpha.json")}
    assert 8 in saved and saved[8]["step"] == 8
    assert not (out / "alpha.json").exists()

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=REPO)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "resumed from step" in done.stdout
    alpha = json.loads((out / "alpha.json").read_text())
    assert alpha["resumed_from"]["step"] >= 8
    # α after restore is what that checkpoint saved (the latest one before the kill).
    restored = saved[alpha["resumed_from"]["step"]]
    assert alpha["resumed_from"]["alpha"] == restored["alpha_state"]["alpha"]
    n = len(restored["alpha_state"]["updates"])
    assert [u["alpha"] for u in alpha["history"][:n]] == [u["alpha"] for u in restored["alpha_state"]["updates"]]
    assert alpha["steps"] == 24 and len(alpha["trajectory"]) == 25
    workers = json.loads((out / "workers.json").read_text())
    assert all(w["resumed_from_step"] == alpha["resumed_from"]["step"] for w in workers.values())
    steps = [r["step"] for r in _rows(out)]
    assert steps == sorted(set(steps)) and steps[-1] == 24


def test_named_hub_actor_takes_reports_from_concurrent_workers():
    """The hub as the driver launches it (a named actor), fed by two Ray tasks standing in for the two
    training workers; each looks the actor up by name as any process in the cluster could."""
    import ray

    from hydra_ray.train.alpha import AlphaSettings
    from hydra_ray.train.hub import AlphaHub

    ray.init(num_cpus=2, include_dashboard=False)
    try:
        hub = ray.remote(AlphaHub).options(name="hydra-alpha-test", num_cpus=0).remote(
            AlphaSettings(lr=0.5, reports_per_update=2), None, True)

        @ray.remote(num_cpus=1)
        def worker(rank: int, n: int) -> int:
            h = ray.get_actor("hydra-alpha-test")
            for step in range(1, n + 1):
                conc = ray.get(h.concentration.remote())
                assert len(conc) == 5
                # Latency examples are hard (loss 0.9), balanced ones easy (0.4).
                ray.get(h.report.remote(["latency", "balanced"], [0.9, 0.4], [[0.1] * 5] * 2, rank, step))
            return n

        assert ray.get([worker.remote(0, 10), worker.remote(1, 10)]) == [10, 10]
        summary = ray.get(hub.summary.remote())
        assert summary["reports_by_worker"] == {"0": 10, "1": 10}
        assert summary["updates"] == 10 and summary["examples"] == 40
        assert summary["alpha"]["latency"] > 1.0 > summary["alpha"]["balanced"]
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_base_framework_keeps_alpha_and_stored_labels(data, tmp_path):
    """framework=base: weights fixed at dataset construction, so α never moves, yet per-region losses are
    still reported by both workers and logged."""
    model, labelled = data
    out, shared = tmp_path / "base", tmp_path / "shared-storage"
    proc = subprocess.run(_cmd(model, labelled, out, "framework=base", "dpo.max_steps=8", "dpo.save_steps=8",
                               "dpo.logging_steps=4", f"storage_path={shared}"),
                          capture_output=True, text=True, timeout=900, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-4000:]
    # storage_path (here a directory standing in for a shared mount) holds the checkpoints, in a run
    # directory of this output's own; OUTPUT holds no Ray storage.
    from hydra_ray.train.driver import has_checkpoints, train_storage
    from hydra_ray.config import load_config
    from hydra_ray.train.config import TrainConfig

    storage, run_name = train_storage(load_config(TrainConfig, PRESET, [f"storage_path={shared}"]), out.resolve())
    assert storage == str(shared) and run_name.startswith("base-") and has_checkpoints(storage, run_name)
    assert (shared / run_name / "checkpoint-00000008").is_dir() and not (out / "ray").exists()
    alpha = json.loads((out / "alpha.json").read_text())
    assert alpha["framework"] == "base" and not alpha["adaptive"]
    assert set(alpha["alpha"].values()) == {1.0} and alpha["updates"] == 0
    assert alpha["reports_by_worker"] == {"0": 8, "1": 8}
    rows = _rows(out)
    assert [r["step"] for r in rows] == [4, 8]
    assert sum(rows[-1][f"region_count/{r}"] for r in ("latency", "memory", "cycles", "throughput", "energy",
                                                        "balanced")) == 4 * 4 * 2
    workers = json.loads((out / "workers.json").read_text())
    assert all(w["relabel_fallbacks"] == 0 for w in workers.values())

    # The driver dying after training finished, before it wrote OUTPUT: a rerun writes the outputs from
    # the final checkpoint in storage instead of training again.
    adapter = (out / "adapter" / "adapter_model.safetensors").read_bytes()
    import shutil

    for name in ("alpha.json", "workers.json"):
        (out / name).unlink()
    shutil.rmtree(out / "adapter")
    again = subprocess.run(_cmd(model, labelled, out, "framework=base", "dpo.max_steps=8", "dpo.save_steps=8",
                                "dpo.logging_steps=4", f"storage_path={shared}"),
                           capture_output=True, text=True, timeout=300, cwd=REPO)
    assert again.returncode == 0, again.stderr[-4000:]
    assert "training had finished (final checkpoint in" in again.stdout and "trained 8 steps" in again.stdout
    assert json.loads((out / "alpha.json").read_text()) == alpha
    assert json.loads((out / "workers.json").read_text()) == workers
    assert (out / "adapter" / "adapter_model.safetensors").read_bytes() == adapter


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a node whose GPU is not usable")
def test_gpu_preset_on_a_worker_without_cuda_fails_with_the_workers_own_message(data, tmp_path, monkeypatch):
    """On a cluster the driver leaves hardware checks to the worker nodes. Here Ray is told the node has
    a GPU that torch cannot use; the QLoRA preset's pre-flight task, shaped like a training worker,
    finds that before Ray Train would fail on NCCL, and it reaches the caller as a ConfigError."""
    import ray

    from hydra_ray.config import ConfigError, load_config
    from hydra_ray.train.config import TrainConfig
    from hydra_ray.train.driver import run_training

    model, labelled = data
    cfg = load_config(TrainConfig, REPO / "configs/train/qwen2.5-coder-7b-qlora.yaml",
                      [f"model.name_or_path={model}", "scaling.cpus_per_worker=1", "max_failures=0"])
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False)
    monkeypatch.setenv("RAY_ADDRESS", ray.get_runtime_context().gcs_address)
    lines: list[str] = []
    try:
        with pytest.raises(ConfigError) as err:
            run_training(cfg, labelled, tmp_path / "out", emit=lines.append)
    finally:
        ray.shutdown()
    assert err.value.source.startswith("train (node check on node ") and "a node the workers would use" in err.value.source
    assert "model.quantization=nf4 (QLoRA) needs a CUDA GPU; node " in str(err.value)
    assert any("1 worker(s), each CPU 1, GPU 1" in line for line in lines), lines
    assert not (tmp_path / "out" / "adapter").exists()


def test_a_worker_trains_on_the_labelled_set_the_driver_shipped_not_on_a_path_it_cannot_see(tmp_path):
    """On a cluster the workers' nodes need not mount the driver's --input: the driver puts the files in
    Ray's object store and each rank writes its own copy. Here the driver's path does not exist at all."""
    import ray

    from hydra_ray.train.worker import _local_input

    ray.init(num_cpus=1, include_dashboard=False)
    try:
        shipped = ray.put({"labels.parquet": b"PAR1 rows", "labeler.json": b'{"format": 1}'})
        config = {"input_dir": "/nowhere/runs/labelled", "input_files": shipped}
        here = _local_input(config, tmp_path / "_work", rank=1)
        assert here == tmp_path / "_work" / "input-rank1"
        assert (here / "labels.parquet").read_bytes() == b"PAR1 rows"
        assert (here / "labeler.json").read_text() == '{"format": 1}'
        assert _local_input({"input_dir": "/old/driver"}, tmp_path, 0) == Path("/old/driver")
    finally:
        ray.shutdown()
