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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gpu_models import stage_prepare
from gpu_serve import stage_serve
from gpu_stage import REPO, run_stage_json
from gpu_train import stage_plain, stage_train

RESULTS = REPO / "benchmarks" / "results"


def stage_tests() -> dict:
    proc = subprocess.run([sys.executable, "-m", "pytest", "tests/test_serve_model.py", "-q", "-k", "gpu", "-rA",
                           "-p", "no:cacheprovider"], capture_output=True, text=True, cwd=REPO)
    lines = proc.stdout.strip().splitlines()
    outcomes = [ln for ln in lines if ln.startswith(("PASSED", "FAILED", "SKIPPED", "ERROR"))]
    return {"command": "python -m pytest tests/test_serve_model.py -k gpu", "exit_code": proc.returncode,
            "summary": lines[-1] if lines else "", "outcomes": outcomes,
            "gpu_lines": [ln for ln in lines if "tokens/s" in ln]}


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
            res = run_stage_json(extra, work / f"{name}.json", smoke, timeout=min(cap, left))
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
