"""A small labelled dataset from real PIE programs, built with ``hydra_ray.prefs``, for tests and benchmarks.

``sample_pairs.jsonl`` holds 48 PIE Python pairs (one per problem, both programs ≤ 500 characters,
both passing their sample tests; IBM Project CodeNet submissions, CDLA-Permissive-2.0, via the PIE
sample ``madaan/pie-perf@8f74491065``) with what the judge and the PIE authors reported for each
program. The five metrics come from those reports, not from ``hydra-ray enrich``:

* latency = PIE's measured runtime (ms); memory = the judge's peak memory (KB);
* cycles = judge CPU time × 3 GHz and energy = judge CPU time × 10 W (estimates);
* throughput = 1000 / latency (runs per second).

Significance per metric is a 10 % relative difference (there are no repeat samples to test). The
programs, prompts and completions are real; the labels are as good as those reports.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from hydra_ray.metrics.names import METRIC_NAMES
from hydra_ray.prefs.config import LabelConfig
from hydra_ray.prefs.dataset import label_pairs, write_parquet
from hydra_ray.prefs.labels import Labeler
from hydra_ray.prefs.pairs import Candidate, CandidatePair

SAMPLE_PAIRS = Path(__file__).with_name("sample_pairs.jsonl")
_RELATIVE_SIGNIFICANCE = 0.10


def _raw(p: dict) -> dict[str, float]:
    latency_ms = float(p["measured_runtime_s"]) * 1000.0
    cpu_s = float(p["cpu_time_ms"]) / 1000.0
    return {"latency": latency_ms, "memory": float(p["memory_kb"]), "cycles": cpu_s * 3.0e9,
            "throughput": 1000.0 / latency_ms, "energy": cpu_s * 10.0}


def _significant(a: dict[str, float], b: dict[str, float]) -> dict[str, bool]:
    return {m: abs(math.log(max(a[m], 1e-12) / max(b[m], 1e-12))) > math.log1p(_RELATIVE_SIGNIFICANCE)
            for m in METRIC_NAMES}


def sample_pairs(limit: int | None = None) -> list[CandidatePair]:
    pairs = []
    for line in SAMPLE_PAIRS.read_text().splitlines()[:limit]:
        r = json.loads(line)
        cands = {}
        for side in ("slow", "fast"):
            p = r[side]
            cands[side] = Candidate(r["pair_id"], r["problem_id"], side, p["code"], "passed", 1, 1, _raw(p),
                                    {m: None for m in METRIC_NAMES}, {m: None for m in METRIC_NAMES})
        a, b = cands["slow"], cands["fast"]
        pairs.append(CandidatePair(r["pair_id"], r["problem_id"], a, b, a, _significant(a.raw, b.raw), "b"))
    return pairs


def build_sample_labelled_set(out_dir: str | Path, *, samples_per_pair: int = 2, limit: int | None = None,
                              alpha: str = "intermediate", seed: int = 0,
                              prompt_conditioning: str = "weights") -> Path:
    """Write ``labels.parquet``, ``labeler.json`` and ``stats.json`` (the labelled-dataset contract)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    labeler = Labeler(LabelConfig(alpha=alpha, samples_per_pair=samples_per_pair, seed=seed,
                                  prompt_conditioning=prompt_conditioning))
    result = label_pairs(sample_pairs(limit), labeler)
    if not result.rows:
        raise ValueError("the sample pairs gave no labelled example")
    write_parquet(result.rows, out / "labels.parquet")
    labeler.save(out / "labeler.json")
    (out / "stats.json").write_text(json.dumps({
        "examples": len(result.rows), "draws": result.draws, "dropped": dict(result.dropped),
        "source": "hydra_ray/train/sample_pairs.jsonl (PIE judge/author reports, see sample_data.py)"},
        indent=2) + "\n")
    return out
