"""Candidate pairs + labeller → DPO examples (rows of the labelled-dataset contract) and their files.

Per eligible pair, ``samples_per_pair`` weight vectors are drawn from a generator seeded by
(seed, pair key) (:func:`hydra_ray.prefs.dirichlet.rng_for`), so a pair's weights do not depend on the
rest of the dataset. Each vector gives one example unless the labeller drops it. Columns and types are
:data:`LABEL_SCHEMA`; everything needed to re-label under new weights (raw medians, significance) is
stored, so nothing has to be measured again.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hydra_ray.metrics.names import METRIC_NAMES
from hydra_ray.prefs.dirichlet import rng_for
from hydra_ray.prefs.labels import Labeler, PairLabel
from hydra_ray.prefs.pairs import CandidatePair
from hydra_ray.prefs.prompt import render_completion, render_messages

_MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
_FLOATS = pa.struct([(m, pa.float64()) for m in METRIC_NAMES])
_BOOLS = pa.struct([(m, pa.bool_()) for m in METRIC_NAMES])

LABEL_SCHEMA = pa.schema([
    ("example_id", pa.string()), ("pair_id", pa.string()), ("problem_id", pa.string()),
    ("prompt", pa.list_(_MESSAGE)), ("chosen", pa.list_(_MESSAGE)), ("rejected", pa.list_(_MESSAGE)),
    ("weights", pa.list_(pa.float64())), ("region", pa.string()),
    ("original_code", pa.string()), ("code_a", pa.string()), ("code_b", pa.string()),
    ("chosen_side", pa.string()),
    ("raw_a", _FLOATS), ("raw_b", _FLOATS), ("significant", _BOOLS),
    ("norm_a", _FLOATS), ("norm_b", _FLOATS),
    ("reward_a", pa.float64()), ("reward_b", pa.float64()),
])


@dataclass
class ExampleMeta:
    """What the statistics need about an example beyond its row."""
    pair: CandidatePair
    chosen_side: str


@dataclass
class LabelResult:
    rows: list[dict[str, Any]] = field(default_factory=list)
    meta: list[ExampleMeta] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)           # drop reason → examples
    dropped_regions: Counter = field(default_factory=Counter)   # region → dropped examples
    draws: int = 0


def pair_labels(pair: CandidatePair, labeler: Labeler) -> list[tuple[np.ndarray, PairLabel]]:
    """The pair's ``samples_per_pair`` weight draws (seeded by seed and pair key) and their labels."""
    cfg = labeler.config
    weights = labeler.sample_weights(cfg.samples_per_pair, rng_for(cfg.seed, f"weights|{pair.key}"))
    return [(w, labeler.label(pair.a.raw, pair.b.raw, pair.significant, w)) for w in weights]


def gives_example(pair: CandidatePair, labeler: Labeler) -> bool:
    """Does at least one of the pair's draws label it (not every one dropped)? What ``label``'s
    ``max_pairs_per_group`` counts (:func:`hydra_ray.prefs.pairs.form_pairs`, ``usable``)."""
    return any(lab.winner is not None for _, lab in pair_labels(pair, labeler))


def label_pairs(pairs: list[CandidatePair], labeler: Labeler,
                progress: Callable[[int, int], None] | None = None) -> LabelResult:
    cfg = labeler.config
    out = LabelResult()
    for i, pair in enumerate(pairs):
        for j, (w, lab) in enumerate(pair_labels(pair, labeler)):
            out.draws += 1
            region = labeler.region(w)
            if lab.winner is None:
                out.dropped[lab.drop_reason] += 1
                out.dropped_regions[region] += 1
                continue
            chosen, rejected = (pair.a, pair.b) if lab.winner == "a" else (pair.b, pair.a)
            out.rows.append({
                "example_id": f"{pair.key}|{j}",
                "pair_id": pair.pair_id,
                "problem_id": pair.problem_id,
                "prompt": render_messages(pair.original.code, w, cfg.prompt_conditioning),
                "chosen": render_completion(chosen.code),
                "rejected": render_completion(rejected.code),
                "weights": [float(x) for x in w],
                "region": region,
                "original_code": pair.original.code,
                "code_a": pair.a.code,
                "code_b": pair.b.code,
                "chosen_side": lab.winner,
                "raw_a": dict(pair.a.raw),
                "raw_b": dict(pair.b.raw),
                "significant": dict(pair.significant),
                "norm_a": lab.norm_a,
                "norm_b": lab.norm_b,
                "reward_a": lab.reward_a,
                "reward_b": lab.reward_b,
            })
            out.meta.append(ExampleMeta(pair, lab.winner))
        if progress:
            progress(i + 1, len(pairs))
    return out


def write_parquet(rows: list[dict[str, Any]], path: str | Path) -> None:
    pq.write_table(pa.Table.from_pylist(rows, schema=LABEL_SCHEMA), str(path))


def write_jsonl(rows: list[dict[str, Any]], path: str | Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def read_labels(path: str | Path) -> list[dict[str, Any]]:
    """labels.parquet back as row dicts (structs as dicts), e.g. to re-label under new weights."""
    return pq.read_table(str(path)).to_pylist()
