"""Evaluation statistics (pure numpy): per-task improvement ratios and suite-level aggregates.

Conventions, fixed here for every table and plot:

- An *improvement ratio* is > 1 when the candidate is better. For lower-is-better metrics (latency,
  memory, cycles, energy) it is median(original) / median(candidate); for throughput it is
  median(candidate) / median(original). The latency ratio is the *speedup*.
- Significance is :func:`hydra_ray.metrics.stats.compare_samples` (Mann–Whitney plus a minimum
  effect), the interval :func:`hydra_ray.metrics.stats.bootstrap_ratio_ci`.
- %Opt (PIE): the share of tasks whose candidate is correct, ≥ 10 % faster (speedup ≥ 1.1) and
  significantly so. Geometric-mean speedup follows PIE in counting a task whose candidate failed as
  speedup 1 (one falls back to the original program); the mean over correct candidates only is
  reported beside it.
- Steerability: Spearman's ρ between the weight put on metric k and the log improvement on k,
  over (task, weight vector) observations, with an interval from resampling whole tasks (the
  observations of one task are not independent).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from hydra_ray.metrics.names import BY_NAME
from hydra_ray.metrics.stats import bootstrap_ratio_ci, compare_samples


@dataclass(frozen=True)
class MetricResult:
    metric: str
    orig_median: float
    cand_median: float
    ratio: float          # improvement ratio, > 1 = candidate better
    lo: float             # bootstrap interval of the improvement ratio
    hi: float
    significant: bool
    p_value: float

    @property
    def improved(self) -> bool:
        return self.significant and self.ratio > 1


def improvement(metric: str, orig: Sequence[float], cand: Sequence[float], *, alpha: float = 0.05,
                min_effect: float = 0.02, n_boot: int = 2000, level: float = 0.95,
                seed: int = 0) -> MetricResult:
    """Improvement ratio of ``cand`` over ``orig`` on one metric, its interval and significance."""
    spec = BY_NAME[metric]
    cmp = compare_samples(orig, cand, alpha=alpha, min_effect=min_effect)
    mo, mc = float(np.median(orig)), float(np.median(cand))
    if mo == 0 and mc == 0:
        # Nothing on either side (rss_growth of a program that allocates little): no ratio, not an
        # infinite improvement, which is what `inf` read as in table.csv and results.parquet.
        ratio = float("nan")
        lo, hi = bootstrap_ratio_ci(orig, cand, n_boot=n_boot, level=level, seed=seed)
    elif spec.higher_is_better:
        ratio = mc / mo if mo else float("inf")
        lo, hi = bootstrap_ratio_ci(cand, orig, n_boot=n_boot, level=level, seed=seed)
    else:
        ratio = mo / mc if mc else float("inf")
        lo, hi = bootstrap_ratio_ci(orig, cand, n_boot=n_boot, level=level, seed=seed)
    return MetricResult(metric, mo, mc, ratio, lo, hi, cmp.significant, cmp.p_value)


def correctness_rate(correct: Sequence[bool]) -> float:
    c = np.asarray(correct, dtype=bool)
    return float(c.mean()) if c.size else float("nan")


def percent_optimized(speedup: Sequence[float], significant: Sequence[bool], correct: Sequence[bool],
                      threshold: float = 1.10) -> float:
    """Percentage of tasks (all of them, failed ones included) optimised in PIE's sense."""
    s = np.asarray(speedup, dtype=float)
    sig = np.asarray(significant, dtype=bool)
    ok = np.asarray(correct, dtype=bool)
    if s.size == 0:
        return float("nan")
    hit = ok & sig & (np.nan_to_num(s, nan=0.0) >= threshold)
    return float(100.0 * hit.mean())


def geomean(x: Sequence[float]) -> float:
    v = np.asarray(x, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    return float(np.exp(np.log(v).mean())) if v.size else float("nan")


def geomean_ci(x: Sequence[float], *, n_boot: int = 2000, level: float = 0.95,
               seed: int = 0) -> tuple[float, float, float]:
    """Geometric mean of positive finite values and a percentile-bootstrap interval over them."""
    v = np.asarray(x, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    logs = np.log(v)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.size, size=(n_boot, v.size))
    boots = logs[idx].mean(axis=1)
    lo, hi = np.percentile(boots, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return float(np.exp(logs.mean())), float(np.exp(lo)), float(np.exp(hi))


def speedups_with_fallback(speedup: Sequence[float], correct: Sequence[bool]) -> np.ndarray:
    """PIE's convention: a failed candidate counts as the original program (speedup 1)."""
    s = np.asarray(speedup, dtype=float)
    ok = np.asarray(correct, dtype=bool) & np.isfinite(s) & (s > 0)
    return np.where(ok, s, 1.0)


def rankdata(x: Sequence[float]) -> np.ndarray:
    """Ranks 1..n, ties sharing their average rank (as Spearman's ρ needs)."""
    v = np.asarray(x, dtype=float)
    order = np.argsort(v, kind="mergesort")
    sorted_v = v[order]
    # Runs of equal values: each run gets the mean of the 1-based positions it spans.
    new_run = np.r_[True, sorted_v[1:] != sorted_v[:-1]] if v.size else np.zeros(0, dtype=bool)
    starts = np.flatnonzero(new_run)
    ends = np.r_[starts[1:], v.size]
    ranks = np.empty(v.size, dtype=float)
    ranks[order] = ((starts + ends + 1) / 2.0)[np.cumsum(new_run) - 1]
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson correlation of the ranks; NaN when either side is constant (ρ is undefined)."""
    rx, ry = rankdata(x), rankdata(y)
    if rx.size < 2 or np.ptp(rx) == 0 or np.ptp(ry) == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


@dataclass(frozen=True)
class Steer:
    metric: str
    rho: float
    lo: float
    hi: float
    n_obs: int
    n_groups: int


def steerability(metric: str, weight: Sequence[float], log_improvement: Sequence[float],
                 groups: Sequence[object], *, n_boot: int = 2000, level: float = 0.95,
                 seed: int = 0) -> Steer:
    """Spearman ρ(weight on ``metric``, log improvement on ``metric``) with a cluster bootstrap:
    each replicate draws whole groups (tasks) with replacement."""
    w = np.asarray(weight, dtype=float)
    d = np.asarray(log_improvement, dtype=float)
    g = np.asarray([str(x) for x in groups])
    keep = np.isfinite(w) & np.isfinite(d)
    w, d, g = w[keep], d[keep], g[keep]
    rho = spearman(w, d)
    uniq, inverse = np.unique(g, return_inverse=True)
    members = [np.flatnonzero(inverse == i) for i in range(uniq.size)]
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot if uniq.size > 1 else 0):
        pick = rng.integers(0, uniq.size, size=uniq.size)
        idx = np.concatenate([members[i] for i in pick])
        r = spearman(w[idx], d[idx])
        if np.isfinite(r):
            boots.append(r)
    if boots:
        lo, hi = np.percentile(boots, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    else:
        lo = hi = float("nan")
    return Steer(metric, rho, float(lo), float(hi), int(w.size), int(uniq.size))
