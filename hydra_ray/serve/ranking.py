"""Score candidates against the original program and pick the best one (pure: numpy/scipy only).

Each candidate that passed verification is compared with the original, metric by metric, exactly as a
training pair is labelled (:class:`hydra_ray.prefs.labels.Labeler`), with the candidate as side ``a``
and the original as side ``b``:

1. ``significant[k]`` = ``compare_samples(original_k, candidate_k)`` (Mann–Whitney + minimum effect,
   :mod:`hydra_ray.metrics.stats`) on the repeat samples of both, measured interleaved in one session;
2. the labeller normalises each metric pair (a non-significant one becomes a tie at its mean) and
   computes ``R_cand = Σ w_k ṽ_cand,k`` and ``R_orig = Σ w_k ṽ_orig,k``;
3. the candidate *beats the original* when the labeller names it the winner: some metric differs
   significantly and ``R_cand − R_orig >= ε``.

Ranking: candidates that beat the original by margin ``R_cand − R_orig`` (largest first), then the
other passing ones by margin, then the failed ones in request order. The best is the first that beats
the original; when none does there is no best and the answer is the original program. A candidate
that failed verification has no score, so it can never be best.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from hydra_ray.metrics.names import BY_NAME, METRIC_NAMES
from hydra_ray.metrics.stats import compare_samples
from hydra_ray.prefs.labels import Labeler

Samples = Mapping[str, Sequence[float]]   # metric name -> repeat samples


@dataclass(frozen=True)
class Score:
    reward: float                         # R_cand under the request's weights
    original_reward: float                # R_orig
    beats_original: bool
    drop_reason: str | None               # why not, when the labeller found no winner ("all_tied", …)
    significant: dict[str, bool]          # metric name -> differs significantly from the original
    ratios: dict[str, float | None]       # metric name -> median(candidate) / median(original)

    @property
    def margin(self) -> float:
        return self.reward - self.original_reward


def _median(xs: Sequence[float] | None) -> float | None:
    vals = [float(x) for x in (xs or []) if x is not None and math.isfinite(float(x))]
    return float(np.median(vals)) if vals else None


def score_against_original(candidate: Samples, original: Samples, weights: Sequence[float], labeler: Labeler,
                           *, alpha: float = 0.05, min_effect: float = 0.02) -> Score:
    raw_c = {m: _median(candidate.get(m)) for m in METRIC_NAMES}
    raw_o = {m: _median(original.get(m)) for m in METRIC_NAMES}
    significant: dict[str, bool] = {}
    ratios: dict[str, float | None] = {}
    for m in METRIC_NAMES:
        c, o = candidate.get(m) or [], original.get(m) or []
        if raw_c[m] is None or raw_o[m] is None:
            significant[m], ratios[m] = False, None
            continue
        significant[m] = compare_samples(o, c, alpha=alpha, min_effect=min_effect).significant
        ratios[m] = raw_c[m] / raw_o[m] if raw_o[m] else None
    label = labeler.label(raw_c, raw_o, significant, weights)
    return Score(label.reward_a, label.reward_b, label.winner == "a", label.drop_reason, significant, ratios)


@dataclass(frozen=True)
class Entry:
    index: int
    verdict: str                    # "passed" or why not
    score: Score | None = None      # None unless measured and passed
    duplicate: bool = False         # the same program as an earlier candidate (same score; not counted)


@dataclass(frozen=True)
class Ranking:
    order: list[int]                # candidate indices, best first
    best: int | None                # None: nothing beats the original; answer with the original
    reason: str
    ranks: dict[int, int] = field(default_factory=dict)   # index -> 1-based rank


_WHY = {"all_tied": "with no significant difference", "below_epsilon": "with a reward gain below epsilon",
        "worse": "worse"}


def _improved(metric: str, ratio: float | None) -> bool:
    if ratio is None:
        return False
    return ratio > 1 if BY_NAME[metric].higher_is_better else ratio < 1


def rank(entries: Sequence[Entry]) -> Ranking:
    scored = [e for e in entries if e.verdict == "passed" and e.score is not None]
    winners = sorted((e for e in scored if e.score.beats_original), key=lambda e: (-e.score.margin, e.index))
    others = sorted((e for e in scored if not e.score.beats_original), key=lambda e: (-e.score.margin, e.index))
    scored_ids = {e.index for e in scored}
    failed = sorted((e for e in entries if e.index not in scored_ids), key=lambda e: e.index)
    order = [e.index for e in (*winners, *others, *failed)]
    ranks = {i: k + 1 for k, i in enumerate(order)}
    if winners:
        w = winners[0]
        better = [m for m, sig in w.score.significant.items() if sig and _improved(m, w.score.ratios.get(m))]
        reason = (f"candidate {w.index} beats the original: reward {w.score.reward:.3f} vs "
                  f"{w.score.original_reward:.3f} under the requested weights (significant differences: "
                  f"{', '.join(better) or 'none'})")
        return Ranking(order, w.index, reason, ranks)
    if not entries:
        return Ranking(order, None, "no candidates were generated; returning the original", ranks)
    if not scored:
        verdicts = Counter(e.verdict for e in entries)
        shown = ", ".join(f"{n} {v}" for v, n in verdicts.most_common())
        return Ranking(order, None, f"no candidate passed verification ({shown}); returning the original", ranks)
    unique = [e for e in scored if not e.duplicate]
    drops = Counter(e.score.drop_reason or "worse" for e in unique)
    why = ", ".join(f"{n} {_WHY.get(d, d)}" for d, n in drops.most_common())
    return Ranking(order, None, f"no candidate is better than the original under these weights ({len(unique)} "
                                f"distinct passed: {why}); returning the original", ranks)
