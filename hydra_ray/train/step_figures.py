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
    return {"worker": worker, "step_time_median_s": worker["step_time_median_s"], "steps": worker["global_step"],
            "tokens_per_step": tokens_per_step(rows)}


def tokens_per_step(logs: list[dict]) -> float | None:
    """Tokens a step processed on average: TRL's running ``num_tokens`` at the last logged step, divided by
    that step (not by the steps run: with ``logging_steps`` 5 and 8 steps the last count is step 5's)."""
    rows = [r for r in logs if "num_tokens" in r and r.get("step")]
    if not rows:
        return None
    last = max(rows, key=lambda r: r["step"])
    return float(last["num_tokens"]) / last["step"]
