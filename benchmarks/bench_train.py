"""Training-step overhead of the Ray Train + α-actor path against plain TRL DPO, and the actor round trip.

Same model (the tiny Qwen2 from `hydra-ray make-tiny-model`, or --model DIR), same labelled data
(the PIE sample set from hydra_ray.train.sample_data, or --input DIR), same per-device batch size,
one worker with one CPU thread on both sides:

* plain: trl.DPOTrainer on the stored examples, in this process (torch threads = 1);
* hydra: `hydra-ray train` with 1 Ray Train worker, enhanced framework: every batch fetches α from the
  hub actor, re-labels, re-renders and re-tokenizes prompts, and reports per-example losses.

Step time = median gap between consecutive optimizer steps after 3 warm-up steps (a callback in both).
Also times the hub actor: report() of a 4-example batch and concentration(), blocking round trips.
Writes benchmarks/results/train.json. Target: hydra ÷ plain ≤ 1.10.

    python benchmarks/bench_train.py [--steps 40] [--batch 4] [--model DIR] [--input DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def plain_trl(model_dir: Path, input_dir: Path, steps: int, batch: int, work: Path) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, TrainerCallback
    from trl import DPOTrainer

    from hydra_ray.config import load_config
    from hydra_ray.train.builder import dpo_args, load_dataset, load_tokenizer, lora_config
    from hydra_ray.train.config import TrainConfig

    torch.set_num_threads(1)
    cfg = load_config(TrainConfig, REPO / "configs/train/tiny-cpu.yaml",
                      [f"model.name_or_path={model_dir}", f"dpo.max_steps={steps}",
                       f"dpo.per_device_batch_size={batch}", f"dpo.save_steps={steps * 10}"])
    times: list[float] = []

    class Timer(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            times.append(time.perf_counter())

    ds = load_dataset(input_dir).select_columns(["prompt", "chosen", "rejected"])
    trainer = DPOTrainer(model=AutoModelForCausalLM.from_pretrained(model_dir),
                         args=dpo_args(cfg, work / "plain", use_cpu=True), train_dataset=ds,
                         processing_class=load_tokenizer(cfg), peft_config=lora_config(cfg), callbacks=[Timer()])
    t0 = time.perf_counter()
    trainer.train()
    gaps = [b - a for a, b in zip(times[3:], times[4:])]
    from hydra_ray.train.step_figures import tokens_per_step

    tokens = tokens_per_step(trainer.state.log_history)   # at the last logged step, over that step
    return {"step_time_median_s": statistics.median(gaps), "steps": len(times),
            "tokens_per_step": tokens, "wall_s": time.perf_counter() - t0}


def plain_trl_subprocess(model_dir: Path, input_dir: Path, steps: int, batch: int, work: Path) -> dict:
    """plain_trl in a fresh process with OMP_NUM_THREADS=1, as Ray gives a 1-CPU worker."""
    out = work / "plain.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, __file__, "--plain-only", str(out), "--model", str(model_dir),
                           "--input", str(input_dir), "--steps", str(steps), "--batch", str(batch)],
                          capture_output=True, text=True, cwd=REPO, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"plain TRL run failed:\n{proc.stderr[-3000:]}")
    return json.loads(out.read_text())


def hydra_ray_train(model_dir: Path, input_dir: Path, steps: int, batch: int, work: Path) -> dict:
    out = work / f"hydra-{time.time_ns()}"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "hydra_ray.cli", "train", "--input", str(input_dir),
                           "--output", str(out), "--config", str(REPO / "configs/train/tiny-cpu.yaml"),
                           f"model.name_or_path={model_dir}", f"dpo.max_steps={steps}",
                           f"dpo.per_device_batch_size={batch}", f"dpo.save_steps={steps * 10}",
                           "scaling.num_workers=1"], capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        raise RuntimeError(f"hydra-ray train failed:\n{proc.stderr[-3000:]}")
    from hydra_ray.train.step_figures import step_figures

    figures = step_figures(out)
    worker = figures.pop("worker")
    return {**figures, "wall_s_including_ray_startup": time.perf_counter() - t0,
            "relabel_fallbacks": worker["relabel_fallbacks"]}


def actor_round_trip(n: int = 300) -> dict:
    import ray

    from hydra_ray.train.alpha import AlphaSettings
    from hydra_ray.train.hub import AlphaHub

    ray.init(num_cpus=2, include_dashboard=False)
    try:
        hub = ray.remote(AlphaHub).options(num_cpus=0).remote(AlphaSettings(reports_per_update=2), None, True)
        ray.get(hub.ping.remote())
        regions, losses, adv = ["latency", "balanced", "memory", "balanced"], [0.7, 0.6, 0.65, 0.69], [[0.1] * 5] * 4
        rep, conc = [], []
        for i in range(n):
            t = time.perf_counter()
            ray.get(hub.report.remote(regions, losses, adv, 0, i))
            rep.append(time.perf_counter() - t)
            t = time.perf_counter()
            ray.get(hub.concentration.remote())
            conc.append(time.perf_counter() - t)
    finally:
        ray.shutdown()
    return {"report_round_trip_ms_median": 1e3 * statistics.median(rep[20:]),
            "report_round_trip_ms_p90": 1e3 * sorted(rep[20:])[int(0.9 * (n - 20))],
            "concentration_round_trip_ms_median": 1e3 * statistics.median(conc[20:]), "calls": n}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--input", type=Path, default=None)
    ap.add_argument("--output", type=Path, default=REPO / "benchmarks/results/train.json")
    ap.add_argument("--repeats", type=int, default=2, help="alternating plain/hydra runs; the best of each counts")
    ap.add_argument("--plain-only", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.plain_only:
        with tempfile.TemporaryDirectory() as tmp:
            res = plain_trl(args.model, args.input, args.steps, args.batch, Path(tmp))
        args.plain_only.write_text(json.dumps(res))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = args.model
        if model is None:
            from hydra_ray.train.tiny_model import build_tiny_model
            model = build_tiny_model(work / "tiny-model")
        data = args.input
        if data is None:
            from hydra_ray.train.sample_data import build_sample_labelled_set
            data = build_sample_labelled_set(work / "labelled", samples_per_pair=2)
        load_before = os.getloadavg()
        # Alternate the two so that load from other processes on the machine hits both alike.
        plains, hydras = [], []
        for _ in range(args.repeats):
            plains.append(plain_trl_subprocess(model, data, args.steps, args.batch, work))
            hydras.append(hydra_ray_train(model, data, args.steps, args.batch, work))
        plain = min(plains, key=lambda r: r["step_time_median_s"])
        hydra = min(hydras, key=lambda r: r["step_time_median_s"])
        actor = actor_round_trip()
        load_after = os.getloadavg()
    ratio = hydra["step_time_median_s"] / plain["step_time_median_s"]
    # The enhanced framework re-renders prompts with fresh weights, so its batches need not hold the
    # same number of tokens as the stored examples: per token is the like-for-like comparison.
    per_token = None
    if hydra.get("tokens_per_step") and plain.get("tokens_per_step"):
        per_token = (hydra["step_time_median_s"] / hydra["tokens_per_step"]) / \
                    (plain["step_time_median_s"] / plain["tokens_per_step"])
    result = {
        "benchmark": "train step: Ray Train + α hub (enhanced) vs plain TRL DPO",
        "model": str(args.model or "tiny Qwen2 (hidden 64, 2 layers, vocab 2048)"),
        "data": str(args.input or "PIE sample labelled set (96 examples)"),
        "per_device_batch_size": args.batch, "steps": args.steps, "workers": 1, "torch_threads": 1,
        "plain_trl": plain, "hydra_ray": hydra, "ratio_step_time": ratio, "target_ratio": 1.10,
        "meets_target": ratio <= 1.10, "ratio_time_per_token": per_token, "actor": actor,
        "all_runs": {"plain_step_s": [r["step_time_median_s"] for r in plains],
                     "hydra_step_s": [r["step_time_median_s"] for r in hydras]},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "loadavg_before": load_before, "loadavg_after": load_after},
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"ratio": round(ratio, 3), "plain_s": round(plain["step_time_median_s"], 4),
                      "hydra_s": round(hydra["step_time_median_s"], 4),
                      "report_ms": round(actor["report_round_trip_ms_median"], 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
