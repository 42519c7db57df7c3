"""Where the GPU check runs from, and how one of its stages runs: bench.py again, in a fresh process."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))   # hydra_ray from this checkout, for the stages run in this process
BENCH = Path(__file__).with_name("bench.py")   # the driver; its --stage runs one stage


def run_stage_json(extra: list[str], out: Path, smoke: bool, timeout: float | None = None) -> dict:
    """bench.py's ``--stage`` in a fresh process (its own CUDA context and memory peak)."""
    cmd = [sys.executable, str(BENCH), *extra, "--stage-output", str(out), "--work", str(out.parent)]
    if smoke:
        cmd.append("--cpu-smoke")
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"stage {' '.join(extra)} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(out.read_text())
