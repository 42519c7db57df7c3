"""Repeat statistics and the significance test used everywhere a difference is claimed.

Pure numpy/scipy. Two candidates *differ significantly* on a metric when

1. their samples differ under a two-sided Mann–Whitney U test at level ``alpha`` (rank-based, so one
   outlier run — a page-cache miss, a scheduler hiccup — cannot manufacture a difference), and
2. the relative difference of medians, |m_a − m_b| / min(m_a, m_b), is at least ``min_effect``
   (a "significant" 0.3 % is noise for any practical purpose).

A pair measured in two looks (more rounds when the first is inconclusive) is significant at either
look, at levels that add up to ``alpha``: :func:`decide_two_looks`.

Deterministic backends (valgrind instruction counts) repeat exactly, so a rank test on n identical
values says nothing; when both spreads are ~0 the rule is the effect size alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class Summary:
    n: int
    median: float
    mean: float
    iqr: float          # interquartile range: the spread reported with every metric
    min: float
    max: float

    @property
    def rel_spread(self) -> float:
        return self.iqr / self.median if self.median else 0.0


def summarize(samples: Sequence[float]) -> Summary:
    x = np.asarray(samples, dtype=float)
    if x.size == 0:
        raise ValueError("summarize() needs at least one sample")
    q1, med, q3 = np.percentile(x, [25, 50, 75])
    return Summary(int(x.size), float(med), float(x.mean()), float(q3 - q1), float(x.min()), float(x.max()))


def coefficient_of_variation(samples: Sequence[float]) -> float | None:
    """Sample standard deviation over the mean (None for fewer than two samples or a zero mean)."""
    x = np.asarray(samples, dtype=float)
    if x.size < 2 or x.mean() == 0:
        return None
    return float(x.std(ddof=1) / x.mean())


@dataclass(frozen=True)
class Comparison:
    significant: bool
    p_value: float
    rel_diff: float      # (median_b - median_a) / median_a
    ratio: float         # median_a / median_b (>1: b is smaller)
    method: str


def compare_samples(a: Sequence[float], b: Sequence[float], *, alpha: float = 0.05,
                    min_effect: float = 0.02, deterministic_tol: float = 1e-9) -> Comparison:
    """Is ``b`` different from ``a``? See the module docstring for the rule."""
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if xa.size == 0 or xb.size == 0:
        raise ValueError("compare_samples() needs samples on both sides")
    ma, mb = float(np.median(xa)), float(np.median(xb))
    base = min(abs(ma), abs(mb))
    rel_effect = abs(ma - mb) / base if base > 0 else (0.0 if ma == mb else float("inf"))
    rel_diff = (mb - ma) / ma if ma else float("inf") if mb != ma else 0.0
    ratio = ma / mb if mb else float("inf")

    def flat(x: np.ndarray, m: float) -> bool:
        return float(np.ptp(x)) <= deterministic_tol * max(abs(m), 1.0)

    if rel_effect < min_effect:  # below the practical threshold: not significant whatever the test says
        return Comparison(False, float("nan"), rel_diff, ratio, "below-min-effect")  # test not run
    if flat(xa, ma) and flat(xb, mb):
        return Comparison(rel_effect >= min_effect, 0.0 if ma != mb else 1.0, rel_diff, ratio, "deterministic")
    from scipy.stats import mannwhitneyu

    p = float(mannwhitneyu(xa, xb, alternative="two-sided").pvalue)
    return Comparison(p < alpha and rel_effect >= min_effect, p, rel_diff, ratio, "mann-whitney")


@dataclass(frozen=True)
class Look:
    """One look at a pair's metric: the verdict, its p-value, and median(b) - median(a) over the samples seen."""
    significant: bool
    p_value: float
    diff: float


def decide_two_looks(first: Look, second: Look | None) -> Look:
    """A metric's verdict over a sequential test's two looks (metrics/profile_config.py, "Two looks"): significant at
    either look, each at its own level (the levels add up to alpha). A first-look difference stands only
    while all the samples still point the same way: more rounds may show it was a swing of the CPU."""
    if second is None:
        return first
    if first.significant and first.diff * second.diff > 0:
        return first
    return second


def bootstrap_ratio_ci(a: Sequence[float], b: Sequence[float], *, n_boot: int = 2000,
                       level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap interval of median(a)/median(b), resampling each side independently."""
    rng = np.random.default_rng(seed)
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ia = rng.integers(0, xa.size, size=(n_boot, xa.size))
    ib = rng.integers(0, xb.size, size=(n_boot, xb.size))
    num = np.median(xa[ia], axis=1)
    den = np.median(xb[ib], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):   # 0/0 (two zero medians) and inf - inf: nan, said as "–"
        ratios = np.where(den > 0, num / den, np.inf)
        lo, hi = np.percentile(ratios, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return float(lo), float(hi)
