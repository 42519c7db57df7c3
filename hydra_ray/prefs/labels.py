"""Noise-aware preference labels: which of two candidates wins under a weight vector.

For candidates a and b with raw metric medians ``x_a, x_b`` and weights ``w`` (simplex, METRIC_NAMES order):

1. Per metric k, the normaliser (:mod:`hydra_ray.prefs.normalize`) gives scores ``ṽ_a,k, ṽ_b,k``.
2. *Ties.* When the difference on k is not significant given the repeat statistics
   (``significant[k]`` is not True), both get the mean ``(ṽ_a,k + ṽ_b,k)/2``: equal values, so the
   metric cannot decide the pair. A value missing on either side (backend unavailable) is a tie at 0.5.
3. Rewards ``R_a = Σ_k w_k ṽ_a,k`` and ``R_b = Σ_k w_k ṽ_b,k``; the higher reward wins.
4. *Drops.* If every metric is tied the pair is dropped as ``all_tied``; otherwise if
   ``|R_a − R_b| < ε`` (or exactly 0) it is dropped as ``below_epsilon``. A dropped pair is counted,
   never labelled at random.

Steps 2 and 4 are ours (README, Differences from the paper): Sec. IV-C of the paper labels every pair,
"the submission with higher reward is labeled as the *winner*, C_w , and the other as the *loser*", with
no significance test, tie or threshold. Step 3 is the paper's R_i = w · ṽ_i = Σ_k w_k ṽ_i,k.

The rule is symmetric: swapping a and b swaps the scores, the rewards and the winner, bit for bit
(every operation used is commutative in floating point).

``Labeler`` bundles the config and the fitted normaliser; ``save``/``load`` (JSON) let training
re-label stored raw values exactly as ``hydra-ray label`` did.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from hydra_ray.config import from_dict
from hydra_ray.metrics.names import METRIC_NAMES
from hydra_ray.prefs.config import LabelConfig
from hydra_ray.prefs.dirichlet import region_of, sample_weights
from hydra_ray.prefs.normalize import (NEUTRAL, LogRatioNormalizer, Normalizer, fit_normalizer,
                                       normalizer_from_dict, valid_value)

FORMAT = "hydra-ray-labeler"
VERSION = 1


class DropReason(str, Enum):
    ALL_TIED = "all_tied"            # no metric differs significantly (or all are missing)
    BELOW_EPSILON = "below_epsilon"  # some metric differs, but the weighted reward gap is < ε


@dataclass(frozen=True)
class PairLabel:
    winner: str | None                 # "a", "b", or None when dropped
    drop_reason: str | None            # a DropReason value when dropped
    reward_a: float
    reward_b: float
    norm_a: dict[str, float]
    norm_b: dict[str, float]
    tied: tuple[str, ...] = field(default=())     # metrics scored as ties (incl. missing)
    missing: tuple[str, ...] = field(default=())  # metrics with no usable value on a side

    @property
    def margin(self) -> float:
        return self.reward_a - self.reward_b


class Labeler:
    def __init__(self, config: LabelConfig, normalizer: Normalizer | None = None):
        if normalizer is None:
            if config.normalization != "log_ratio":
                raise ValueError(f"{config.normalization} normalisation needs dataset statistics: build the "
                                 "labeller with Labeler.fit(config, values) or Labeler.load(path)")
            normalizer = LogRatioNormalizer()
        if normalizer.name != config.normalization:
            raise ValueError(f"normaliser {normalizer.name!r} does not match config.normalization "
                             f"{config.normalization!r}")
        self.config = config
        self.normalizer = normalizer

    @classmethod
    def fit(cls, config: LabelConfig, values: Mapping[str, Iterable[float | None]]) -> "Labeler":
        """Fit dataset statistics when the normaliser needs them. ``values``: metric → raw medians
        of every passed candidate in the dataset."""
        return cls(config, fit_normalizer(config.normalization, values, config.paper_space))

    # ---- weights ---------------------------------------------------------------------------------
    def sample_weights(self, n: int, rng: np.random.Generator | int | None) -> np.ndarray:
        return sample_weights(self.config.alpha_vector(), n, rng)

    def region(self, weights: Sequence[float]) -> str:
        return region_of(weights, self.config.region_threshold)

    # ---- labelling -------------------------------------------------------------------------------
    def label(self, raw_a: Mapping[str, Any], raw_b: Mapping[str, Any],
              significant: Mapping[str, bool | None], weights: Sequence[float]) -> PairLabel:
        """Label one pair under ``weights``. ``raw_*``: metric name → median (None/NaN = missing);
        ``significant``: metric name → bool (None or absent = unknown, scored as a tie)."""
        w = np.asarray(weights, dtype=float)
        if w.shape != (len(METRIC_NAMES),) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(f"weights must be {len(METRIC_NAMES)} finite numbers >= 0 with a positive sum "
                             f"(order {list(METRIC_NAMES)}), got {list(weights)!r}")
        norm_a: dict[str, float] = {}
        norm_b: dict[str, float] = {}
        tied: list[str] = []
        missing: list[str] = []
        for m in METRIC_NAMES:
            xa, xb = valid_value(raw_a.get(m)), valid_value(raw_b.get(m))
            if xa is None or xb is None:
                missing.append(m)
                tied.append(m)
                norm_a[m] = norm_b[m] = NEUTRAL
                continue
            va, vb = self.normalizer.pair(m, xa, xb)
            if significant.get(m) is not True:
                tied.append(m)
                va = vb = (va + vb) / 2
            norm_a[m], norm_b[m] = va, vb
        ra = math.fsum(float(wk) * norm_a[m] for wk, m in zip(w, METRIC_NAMES))
        rb = math.fsum(float(wk) * norm_b[m] for wk, m in zip(w, METRIC_NAMES))
        diff = ra - rb
        if len(tied) == len(METRIC_NAMES):
            winner, reason = None, DropReason.ALL_TIED.value
        elif diff == 0 or abs(diff) < self.config.epsilon:
            winner, reason = None, DropReason.BELOW_EPSILON.value
        else:
            winner, reason = ("a" if diff > 0 else "b"), None
        return PairLabel(winner, reason, ra, rb, norm_a, norm_b, tuple(tied), tuple(missing))

    # ---- persistence -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "metrics": list(METRIC_NAMES),
                "config": self.config.to_dict(), "normalizer": self.normalizer.to_dict()}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str | None = None) -> "Labeler":
        where = f" ({source})" if source else ""
        if d.get("format") != FORMAT or d.get("version") != VERSION:
            raise ValueError(f"not a hydra-ray labeller file{where}: expected format {FORMAT!r} version "
                             f"{VERSION}, got {d.get('format')!r} version {d.get('version')!r}")
        if list(d.get("metrics", [])) != list(METRIC_NAMES):
            raise ValueError(f"labeller{where} was made for metrics {d.get('metrics')}, this code has "
                             f"{list(METRIC_NAMES)}; re-run hydra-ray label")
        config = from_dict(LabelConfig, d["config"], source)
        return cls(config, normalizer_from_dict(d["normalizer"]))

    @classmethod
    def load(cls, path: str | Path) -> "Labeler":
        p = Path(path)
        try:
            data = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"cannot read labeller file {p}: {e}") from e
        return cls.from_dict(data, str(p))
