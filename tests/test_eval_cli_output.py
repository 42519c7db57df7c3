"""What `hydra-ray evaluate --optimizer hydra` (the model in process) prints: the run's own lines, not
libraries' notes that read as failures ("Failed to load CPU gemm_4bit_forward … pip install kernels"
from bitsandbytes, a transformers FutureWarning on every adapter load); -v still shows them."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.test_eval_inprocess import _training_output  # a random adapter laid out as train writes it

REPO = Path(__file__).resolve().parents[1]
NOISE = ("Failed to load CPU gemm_4bit_forward", "FutureWarning", "pip install kernels")


def test_hydra_in_process_prints_no_library_noise(tmp_path):
    trained = _training_output(tmp_path)
    cmd = [sys.executable, "-m", "hydra_ray", "evaluate", "--suite", "patterns", "--optimizer", "hydra",
           "--output", "eval", "--dry-run", "patterns.names=[triangular_sum]", "patterns.sizes=[small]",
           "weights=[[1,0,0,0,0]]", "openai.max_tokens=8", f"hydra_in_process={REPO / 'configs/serve/tiny-cpu.yaml'}",
           f"hydra_overrides=[model.training_output={trained}]"]
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stderr
    assert "hydra: 2 candidate(s)" in r.stderr, r.stderr   # the run itself is reported
    assert not [n for n in NOISE if n in r.stdout + r.stderr], r.stderr
