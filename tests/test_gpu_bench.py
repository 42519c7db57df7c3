"""benchmarks/gpu/run.sh, the prepared GPU check, on a machine without a GPU.

Without CUDA it must refuse at once, saying why, and write nothing. ``--cpu-smoke`` runs its real
stages (model building, the service with the HF backend, the vllm backend's refusal) on tiny shapes, so
the script a GPU session runs in one call is known to work up to the hardware; the results render
into the benchmarks README section. The GPU figures themselves come only from a GPU run.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RUN = REPO / "benchmarks" / "gpu" / "run.sh"


def cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(cuda(), reason="this node has a GPU: the script would run for real")
def test_without_a_gpu_it_refuses_and_writes_nothing(tmp_path):
    proc = subprocess.run(["bash", str(RUN), "--results", str(tmp_path)], capture_output=True, text=True,
                          timeout=300, cwd=REPO)
    assert proc.returncode == 2, proc.stderr
    assert "no CUDA GPU is visible" in proc.stderr and "--cpu-smoke" in proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_cpu_smoke_runs_the_serve_stages_and_renders(tmp_path):
    results, work = tmp_path / "results", tmp_path / "work"
    proc = subprocess.run(["bash", str(RUN), "--cpu-smoke", "--only", "serve-vllm", "serve-model",
                           "--results", str(results), "--work", str(work), "--budget-s", "900"],
                          capture_output=True, text=True, timeout=1200, cwd=REPO)
    serve = json.loads((results / "gpu-serve.json").read_text())
    assert serve["stages"]["serve-model"]["status"] == "ok", (serve["stages"], proc.stderr[-3000:])
    assert serve["hf.batch1_tokens_per_s"] > 0 and serve["hf.batch8_tokens_per_s"] > 0
    assert serve["hf"]["generation_replica"]["backend"] == "model"
    opt = serve["hf"]["optimize_4_candidates"]
    assert all(len(r["completion_tokens"]) == 4 for r in opt["runs"]) and opt["latency_s_median"] > 0
    if "skipped" in serve["vllm"]:   # this node has no CUDA/vllm: said so, no figure
        assert "vllm" in serve["vllm"]["skipped"] or "CUDA" in serve["vllm"]["skipped"]
        assert serve["vllm.batch1_tokens_per_s"] is None
    assert serve["mode"].startswith("cpu-smoke")
    sys.path.insert(0, str(REPO / "benchmarks"))
    from report_gpu import gpu_section

    text = "\n".join(gpu_section(results))
    assert "## GPU" in text and "HF generate" in text and "cpu-smoke" in text
