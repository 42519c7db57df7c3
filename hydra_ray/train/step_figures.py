"""The step figures of a finished ``hydra-ray train`` run, read from its output folder: what the
training benchmarks (CPU and GPU) compare against plain TRL."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def step_figures(out: str | Path) -> dict[str, Any]:
    """Worker 0's record (``workers.json``) with its median step time and steps, and the tokens a step
    processed on average (TRL's running ``num_tokens`` in ``metrics.jsonl`` over the steps taken)."""
    out = Path(out)
    worker = json.loads((out / "workers.json").read_text())["0"]
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if x.strip()]
    tokens = max((float(r["num_tokens"]) for r in rows if "num_tokens" in r), default=None)
    return {"worker": worker, "step_time_median_s": worker["step_time_median_s"], "steps": worker["global_step"],
            "tokens_per_step": tokens / worker["global_step"] if tokens else None}
