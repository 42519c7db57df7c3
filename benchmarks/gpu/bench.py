"""The prepared GPU check: training and serving at the Qwen2.5-Coder-7B shape, one call, no downloads.

    bash benchmarks/gpu/run.sh                  # on a GPU machine: ~8 min on an H200
    bash benchmarks/gpu/run.sh --cpu-smoke      # anywhere: the same code paths on tiny shapes, CPU

Models have random weights built here from a config (no hub): the tiny Qwen2 of
``hydra-ray make-tiny-model`` and a model of Qwen2.5-Coder-7B's exact shape (hidden 3584, 28 layers,
28 heads / 4 KV heads, MLP 18944, vocab 152,064: 7.62 B parameters), both with the in-repo tokenizer.
Its lm_head rows past the tokenizer's 2k tokens are zero and the others scaled up, so sampling picks
tokens the tokenizer can decode; the compute is the 7B's. Data: the bundled PIE sample labelled set.

Stages, each a subprocess with its own time limit out of ``--budget-s`` (a stage that fails or runs
out of time is recorded as such, the others still run):

* ``serve`` per backend (vllm, then model = HF ``generate``): the service on a local Ray, the 7B
  shape + a random LoRA adapter (r=16) as a training output; /v1/chat/completions tokens/s at batch 1
  (one request at a time) and batch 8 (8 concurrent requests), and /v1/optimize latency with 4
  candidates (its ``generation_s`` too) -> ``results/gpu-serve.json`` (``vllm.batch1_tokens_per_s``,
  ``vllm.batch8_tokens_per_s``, ``hf.batch1_tokens_per_s``, ``hf.batch8_tokens_per_s``);
* ``train`` per model (tiny, then 7B): ``hydra-ray train`` with the QLoRA preset for a few steps, and
  plain TRL DPO on the same model, data, batch and steps: s/step, tokens/s, MFU, peak GPU memory and
  the ratio -> ``results/gpu-train.json``;
* ``tests``: ``tests/test_serve_model.py``'s CUDA tests -> ``results/gpu-tests.json``.

Then benchmarks/report.py renders the results into benchmarks/README.md. Without a CUDA GPU it exits
with status 2 and says so (``--cpu-smoke`` runs everything on CPU at tiny shapes, training without the
preset's 4-bit quantization, bf16 and checkpointing, which hydra-ray train refuses on CPU, and writes to a
scratch directory, never to results/).
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
RESULTS = REPO / "benchmarks" / "results"
QLORA = REPO / "configs" / "train" / "qwen2.5-coder-7b-qlora.yaml"

# Qwen2.5-Coder-7B(-Instruct) config.json, the fields that set the shape.
QWEN7B = dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
              num_key_value_heads=4, vocab_size=152064, max_position_embeddings=32768, rope_theta=1000000.0,
              rms_norm_eps=1e-6, tie_word_embeddings=False)
SMOKE = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, vocab_size=8192, max_position_embeddings=4096, rope_theta=1000000.0,
             rms_norm_eps=1e-6, tie_word_embeddings=False)
# Dense bf16 peak (no sparsity) by device name, for MFU; unknown devices get none.
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L4": 121e12, "A10G": 70e12}
CODE = "n = int(input())\ntotal = 0\nfor i in range(n):\n    total += i\nprint(total)\n"


# ---- building the models (no downloads) --------------------------------------------------------------

def build_big_model(out: Path, shape: dict, device: str) -> Path:
    """The tiny model's tokenizer and config, reshaped; random bf16 weights made on ``device``."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from hydra_ray.train.tiny_model import build_tiny_model

    build_tiny_model(out)
    for f in out.glob("model*.safetensors"):
        f.unlink()
    cfg = AutoConfig.from_pretrained(out)
    cfg.update(shape)
    n_tok = len(AutoTokenizer.from_pretrained(out))
    torch.manual_seed(0)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(cfg, dtype=dtype)
    with torch.no_grad():
        w = model.lm_head.weight
        w[n_tok:].zero_()
        w[:n_tok].normal_(0.0, 10.0 / shape["hidden_size"] ** 0.5)   # logits ~ N(0, 10): decodable ids win
    model.generation_config.eos_token_id = cfg.eos_token_id
    model.generation_config.pad_token_id = cfg.pad_token_id
    model.save_pretrained(out)
    n_params = sum(p.numel() for p in model.parameters())
    (out / "bench-shape.json").write_text(json.dumps({"parameters": n_params, "shape": shape,
                                                      "tokenizer_tokens": n_tok}))
    del model
    return out


def build_adapter(base: Path, out: Path) -> Path:
    """A hydra-ray train output around a random LoRA (r=16, all linear layers): OUT/adapter + config."""
    import torch
    import yaml
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.bfloat16 if device == "cuda" else None)
    torch.manual_seed(1)
    peft_model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear",
                                                  init_lora_weights=False))
    peft_model.save_pretrained(out / "adapter")
    AutoTokenizer.from_pretrained(base).save_pretrained(out / "adapter")
    (out / "config.yaml").write_text(yaml.safe_dump({"model": {"name_or_path": str(base)}}))
    return out


def stage_prepare(work: Path, smoke: bool) -> dict:
    from hydra_ray.train.sample_data import build_sample_labelled_set
    from hydra_ray.train.tiny_model import build_tiny_model

    t0 = time.perf_counter()
    build_tiny_model(work / "tiny")
    build_sample_labelled_set(work / "labelled", samples_per_pair=2)
    t1 = time.perf_counter()
    build_big_model(work / "big", SMOKE if smoke else QWEN7B, "cpu" if smoke else "cuda")
    t2 = time.perf_counter()
    build_adapter(work / "big", work / "big-train")
    info = json.loads((work / "big" / "bench-shape.json").read_text())
    return {"tiny_and_data_s": t1 - t0, "big_model_build_and_save_s": t2 - t1,
            "adapter_s": time.perf_counter() - t2, **info}


# ---- serving ------------------------------------------------------------------------------------------

def stage_serve(work: Path, backend: str, smoke: bool, repeats: int, chat_tokens: int, opt_tokens: int) -> dict:
    import httpx
    import ray
    from ray import serve

    from hydra_ray.prefs.prompt import render_messages
    from hydra_ray.serve.config import vllm_node_problems
    from hydra_ray.serve.testing import deploy, free_port

    if backend == "vllm" and (problems := vllm_node_problems()):
        return {"skipped": "; ".join(problems)}
    args = {
        "backend": backend,
        "model": {"training_output": str(work / "big-train"), "merge_adapter": backend == "model",
                  "device": "cpu" if smoke else "auto", "dtype": "float32" if smoke else "bfloat16"},
        "generation": {"n_candidates": 4, "max_candidates": 8, "max_new_tokens": opt_tokens,
                       "max_new_tokens_limit": 4096, "temperature": 0.7, "timeout_s": 600},
        "batching": {"max_batch_size": 8, "batch_wait_timeout_s": 0.05},
        "deployments": {"generation": {"num_cpus": 1, "num_gpus": 0 if smoke else 1, "use_gpu": not smoke,
                                       "max_ongoing_requests": 32},
                        "verification": {"num_cpus": 1}},
        "verification": {"profile": {"warmup": 0, "repeats": 4, "throughput_bursts": 4}},
    }
    ray.init(address="local", include_dashboard=False, num_cpus=max(2, min(8, os.cpu_count() or 2)))
    try:
        t0 = time.perf_counter()
        url = deploy(args, free_port(), timeout_s=900)
        startup = time.perf_counter() - t0
        health = httpx.get(url + "healthz", timeout=60).json()["generation"]

        def chat(k: int) -> tuple[int, float]:
            body = {"messages": render_messages(f"print({k})\n", [0.2] * 5), "max_tokens": chat_tokens,
                    "temperature": 0.7, "seed": k}
            t = time.perf_counter()
            r = httpx.post(url + "v1/chat/completions", json=body, timeout=900)
            r.raise_for_status()
            return r.json()["usage"]["completion_tokens"], time.perf_counter() - t

        chat(10_000)   # warm-up: first call of a shape (kernels, graphs)
        one = [chat(k) for k in range(repeats)]
        batch1 = statistics.median(n / s for n, s in one)
        eights = []
        for rep in range(max(1, repeats - 1)):
            t = time.perf_counter()
            with ThreadPoolExecutor(max_workers=8) as pool:
                outs = list(pool.map(chat, range(100 * (rep + 1), 100 * (rep + 1) + 8)))
            eights.append(sum(n for n, _ in outs) / (time.perf_counter() - t))
        opt = []
        for k in range(repeats):
            t = time.perf_counter()
            r = httpx.post(url + "v1/optimize", json={"code": CODE, "inputs": ["10\n"], "preset": "runtime",
                                                      "n_candidates": 4, "max_new_tokens": opt_tokens, "seed": k},
                           timeout=900)
            r.raise_for_status()
            body = r.json()
            opt.append({"latency_s": time.perf_counter() - t, "generation_s": body["timings"]["generation_s"],
                        "completion_tokens": body["generation"]["completion_tokens"]})
    finally:
        serve.shutdown()
        ray.shutdown()
    return {"startup_s": startup, "generation_replica": health,
            "batch1_tokens_per_s": batch1, "batch8_tokens_per_s": statistics.median(eights),
            "batch1_runs": [{"tokens": n, "seconds": s} for n, s in one], "batch8_runs_tokens_per_s": eights,
            "chat_max_tokens": chat_tokens,
            "optimize_4_candidates": {"max_new_tokens": opt_tokens, "runs": opt,
                                      "latency_s_median": statistics.median(o["latency_s"] for o in opt),
                                      "generation_s_median": statistics.median(o["generation_s"] for o in opt)}}


# ---- training -----------------------------------------------------------------------------------------

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
    tokens = max((h["num_tokens"] for h in trainer.state.log_history if "num_tokens" in h), default=None)
    return {"step_time_median_s": statistics.median(gaps) if gaps else None, "steps": len(times),
            "tokens_per_step": tokens / len(times) if tokens else None,
            "peak_gpu_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None}


def stage_hydra(model: Path, data: Path, steps: int, batch: int, smoke: bool, out: Path) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "hydra_ray.cli", "train", "--input", str(data), "--output",
                           str(out), "--config", str(QLORA), *_overrides(model, steps, batch, smoke)],
                          capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        raise RuntimeError(f"hydra-ray train failed:\n{proc.stderr[-3000:]}")
    worker = json.loads((out / "workers.json").read_text())["0"]
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if x.strip()]
    tokens = max((float(r["num_tokens"]) for r in rows if "num_tokens" in r), default=None)
    return {"step_time_median_s": worker["step_time_median_s"], "steps": worker["global_step"],
            "tokens_per_step": tokens / worker["global_step"] if tokens else None,
            "peak_gpu_memory_gib": worker.get("peak_gpu_memory_gib"), "device": worker.get("device"),
            "wall_s_including_ray_startup": time.perf_counter() - t0}


def stage_train(work: Path, which: str, smoke: bool, steps: int, batch: int) -> dict:
    from hydra_ray.config import load_config
    from hydra_ray.train.config import TrainConfig

    model = work / ("tiny" if which == "tiny" else "big")
    data = work / "labelled"
    n_params = json.loads((work / "big" / "bench-shape.json").read_text())["parameters"] if which == "big" else \
        _count_params(model)
    ckpt = load_config(TrainConfig, QLORA, _overrides(model, steps, batch, smoke)).model.gradient_checkpointing
    plain = _run_json(["--stage", "plain", "--model", str(model), "--steps", str(steps), "--batch", str(batch)],
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


def _run_json(extra: list[str], out: Path, smoke: bool, timeout: float | None = None) -> dict:
    """This file's ``--stage`` in a fresh process (its own CUDA context and memory peak)."""
    cmd = [sys.executable, __file__, *extra, "--stage-output", str(out), "--work", str(out.parent)]
    if smoke:
        cmd.append("--cpu-smoke")
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"stage {' '.join(extra)} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(out.read_text())


# ---- CUDA tests ---------------------------------------------------------------------------------------

def stage_tests() -> dict:
    proc = subprocess.run([sys.executable, "-m", "pytest", "tests/test_serve_model.py", "-q", "-k", "gpu", "-rA",
                           "-p", "no:cacheprovider"], capture_output=True, text=True, cwd=REPO)
    lines = proc.stdout.strip().splitlines()
    outcomes = [ln for ln in lines if ln.startswith(("PASSED", "FAILED", "SKIPPED", "ERROR"))]
    return {"command": "python -m pytest tests/test_serve_model.py -k gpu", "exit_code": proc.returncode,
            "summary": lines[-1] if lines else "", "outcomes": outcomes,
            "gpu_lines": [ln for ln in lines if "tokens/s" in ln]}


# ---- the driver ---------------------------------------------------------------------------------------

def machine() -> dict:
    import importlib.metadata as md

    info: dict = {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
                  "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    for pkg in ("torch", "transformers", "peft", "trl", "bitsandbytes", "vllm", "ray"):
        try:
            info[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            info[pkg] = None
    try:
        q = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=30)
        info["gpus"] = q.stdout.strip().splitlines()
    except (OSError, subprocess.TimeoutExpired):
        info["gpus"] = []
    return info


def gpu_problem() -> str | None:
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return (f"no CUDA GPU is visible to torch {torch.__version__} (driver missing or older than this torch's "
                "CUDA build needs, or CUDA_VISIBLE_DEVICES empty)")
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cpu-smoke", action="store_true", help="tiny shapes on CPU, results to a scratch dir")
    ap.add_argument("--budget-s", type=float, default=470.0, help="wall-clock budget for all stages")
    ap.add_argument("--results", type=Path, default=None, help="where gpu-*.json go (default benchmarks/results; "
                    "with --cpu-smoke a scratch directory)")
    ap.add_argument("--work", type=Path, default=None, help="scratch directory (default: /dev/shm when there)")
    ap.add_argument("--only", nargs="*", default=None, help="stages: serve-vllm serve-model train-tiny train-big tests")
    ap.add_argument("--stage", help=argparse.SUPPRESS)
    ap.add_argument("--stage-output", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--backend", help=argparse.SUPPRESS)
    ap.add_argument("--which", help=argparse.SUPPRESS)
    ap.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")   # nothing is downloaded: every model is built here
    smoke = args.cpu_smoke
    repeats, chat_tokens, opt_tokens = (2, 8, 8) if smoke else (3, 128, 256)
    if args.stage:   # one stage, in this (child) process
        work = args.work
        res = {"prepare": lambda: stage_prepare(work, smoke),
               "serve": lambda: stage_serve(work, args.backend, smoke, repeats, chat_tokens, opt_tokens),
               "train": lambda: stage_train(work, args.which, smoke, args.steps, args.batch),
               "plain": lambda: stage_plain(args.model, work / "labelled", args.steps, args.batch, smoke,
                                            work / f"plain-out-{time.time_ns()}"),
               "tests": stage_tests}[args.stage]()
        args.stage_output.write_text(json.dumps(res, indent=2))
        return 0

    if not smoke and (why := gpu_problem()):
        print(f"benchmarks/gpu: {why}.\nThis check needs an NVIDIA GPU (it measures training and generation at "
              "the 7B shape); nothing was written. On a CPU machine run it with --cpu-smoke to check the "
              "script itself.", file=sys.stderr)
        return 2
    results = args.results or (Path(tempfile.mkdtemp(prefix="gpu-smoke-results-")) if smoke else RESULTS)
    shm = Path("/dev/shm")
    work = args.work or Path(tempfile.mkdtemp(prefix="hydra-gpu-bench-", dir=shm if shm.is_dir() and not smoke
                                              else None))
    work.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + args.budget_s
    wanted = set(args.only or ["serve-vllm", "serve-model", "train-tiny", "train-big", "tests"])
    log: dict[str, dict] = {}

    def run(name: str, extra: list[str], cap: float) -> dict | None:
        left = deadline - time.monotonic()
        cap *= 5 if smoke else 1   # CPU runs of the same stages are slower (and share the machine)
        if left < 20:
            log[name] = {"status": "not run: out of budget"}
            return None
        t = time.perf_counter()
        try:
            res = _run_json(extra, work / f"{name}.json", smoke, timeout=min(cap, left))
            log[name] = {"status": "ok", "seconds": time.perf_counter() - t}
            return res
        except subprocess.TimeoutExpired:
            log[name] = {"status": f"timed out after {min(cap, left):.0f} s", "seconds": time.perf_counter() - t}
        except RuntimeError as e:
            log[name] = {"status": "failed", "error": str(e)[-2000:], "seconds": time.perf_counter() - t}
        print(f"benchmarks/gpu: stage {name}: {log[name]['status']}", file=sys.stderr, flush=True)
        return None

    base = {"machine": machine(), "mode": "cpu-smoke (tiny shapes, CPU: not GPU figures)" if smoke else "gpu"}
    prep = run("prepare", ["--stage", "prepare"], 240)
    serve_res: dict = {"benchmark": "generation at the 7B shape through the service: HF generate vs vLLM",
                       "model": "Qwen2.5-Coder-7B shape, random weights, + random LoRA r=16" if not smoke
                       else "smoke shape (hidden 64, 2 layers), random weights + LoRA r=16", **base, "prepare": prep}
    train_res: dict = {"benchmark": "hydra-ray train (QLoRA preset) vs plain TRL DPO, same steps", **base}
    if prep is not None:
        for backend, key in (("vllm", "vllm"), ("model", "hf")):
            if f"serve-{backend}" in wanted:
                r = run(f"serve-{backend}", ["--stage", "serve", "--backend", backend], 300)
                serve_res[key] = r if r is not None else log[f"serve-{backend}"]
                for fig in ("batch1_tokens_per_s", "batch8_tokens_per_s"):
                    serve_res[f"{key}.{fig}"] = (r or {}).get(fig)
        steps = {"tiny": (8, 4), "big": (6, 8)} if not smoke else {"tiny": (5, 2), "big": (5, 2)}
        for which in ("tiny", "big"):
            if f"train-{which}" in wanted:
                s, b = steps[which]
                r = run(f"train-{which}", ["--stage", "train", "--which", which, "--steps", str(s),
                                           "--batch", str(b)], 240)
                train_res[which] = r if r is not None else log[f"train-{which}"]
    tests = run("tests", ["--stage", "tests"], 120) if "tests" in wanted else None
    stages = {"stages": log, "budget_s": args.budget_s}
    results.mkdir(parents=True, exist_ok=True)
    (results / "gpu-serve.json").write_text(json.dumps({**serve_res, **stages}, indent=2) + "\n")
    (results / "gpu-train.json").write_text(json.dumps({**train_res, **stages}, indent=2) + "\n")
    (results / "gpu-tests.json").write_text(json.dumps({**(tests or log.get("tests", {})), **base}, indent=2) + "\n")
    if results.resolve() == RESULTS.resolve():
        subprocess.run([sys.executable, str(REPO / "benchmarks" / "report.py")], check=True, cwd=REPO)
    print(json.dumps({"results": str(results), "stages": {k: v["status"] for k, v in log.items()},
                      "vllm.batch1_tokens_per_s": serve_res.get("vllm.batch1_tokens_per_s"),
                      "hf.batch1_tokens_per_s": serve_res.get("hf.batch1_tokens_per_s")}, indent=1))
    return 0 if all(v["status"] == "ok" for v in log.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
