"""Evaluation statistics; each docstring shows the hand derivation the assertion checks."""
from __future__ import annotations

import math

import numpy as np
import pytest

from hydra_ray.evaluate import stats as st


def test_improvement_ratio_lower_is_better():
    """Latency: original samples all 10 ms, candidate all 4 ms (deterministic, zero spread).
    ratio = median(orig)/median(cand) = 10/4 = 2.5; every bootstrap replicate is 10/4, so the
    interval is [2.5, 2.5]; the relative effect |10-4|/4 = 1.5 ≥ 2 % → significant."""
    r = st.improvement("latency", [10.0] * 5, [4.0] * 5)
    assert (r.ratio, r.lo, r.hi, r.significant, r.improved) == (2.5, 2.5, 2.5, True, True)


def test_improvement_ratio_higher_is_better_is_flipped():
    """Throughput: original 100 runs/s, candidate 250 runs/s → improvement = 250/100 = 2.5 (> 1 means
    better for every metric); a slower candidate (50 runs/s) gives 50/100 = 0.5."""
    assert st.improvement("throughput", [100.0] * 3, [250.0] * 3).ratio == 2.5
    worse = st.improvement("throughput", [100.0] * 3, [50.0] * 3)
    assert worse.ratio == 0.5 and worse.significant and not worse.improved


def test_improvement_noise_is_not_significant():
    """Two draws from the same distribution: the ratio's interval must cover 1 and the test must not
    call it significant (Mann–Whitney p ≥ 0.05 or effect < 2 %)."""
    rng = np.random.default_rng(3)
    a, b = rng.normal(100, 5, 15), rng.normal(100, 5, 15)
    r = st.improvement("memory", a, b)
    assert r.lo <= 1 <= r.hi and not r.significant


def test_percent_optimized_counts_correct_significant_and_10pct():
    """Five tasks: (speedup, significant, correct) =
    (1.5, T, T) ✓ | (1.05, T, T) ✗ < 1.1 | (2.0, F, T) ✗ not significant | (3.0, T, F) ✗ wrong |
    (1.1, T, T) ✓ exactly at threshold.  → 2/5 = 40 %."""
    pct = st.percent_optimized([1.5, 1.05, 2.0, 3.0, 1.1], [1, 1, 0, 1, 1], [1, 1, 1, 0, 1])
    assert pct == pytest.approx(40.0)


def test_correctness_rate():
    """3 correct out of 4 → 0.75."""
    assert st.correctness_rate([True, False, True, True]) == 0.75


def test_geomean_and_fallback():
    """geomean(1, 4) = sqrt(4) = 2; geomean(2, 8, 0.5) = (8)^(1/3) = 2.
    PIE fallback: speedups (3, 0.5, nan) with correct (T, F, T) → (3, 1, 1) (failed or unmeasured = 1),
    geomean = 3^(1/3)."""
    assert st.geomean([1, 4]) == pytest.approx(2.0)
    assert st.geomean([2, 8, 0.5]) == pytest.approx(2.0)
    fb = st.speedups_with_fallback([3.0, 0.5, float("nan")], [True, False, True])
    assert fb.tolist() == [3.0, 1.0, 1.0]
    assert st.geomean(fb) == pytest.approx(3 ** (1 / 3))


def test_geomean_ci():
    """Constant values: every bootstrap mean of logs is log 2 → interval [2, 2].
    Spread values: the interval brackets the point estimate and lies within [min, max]."""
    assert st.geomean_ci([2.0] * 10) == pytest.approx((2.0, 2.0, 2.0))
    g, lo, hi = st.geomean_ci([1.0, 2.0, 4.0, 8.0, 16.0], n_boot=4000)
    assert g == pytest.approx(4.0) and 1.0 <= lo < g < hi <= 16.0
    assert all(math.isnan(v) for v in st.geomean_ci([]))


def test_rankdata_with_ties():
    """x = (10, 20, 20, 5): sorted 5,10,20,20 → ranks 5→1, 10→2, the two 20s share (3+4)/2 = 3.5."""
    assert st.rankdata([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]


def test_spearman_by_hand():
    """x = (1, 2, 2, 3) → ranks (1, 2.5, 2.5, 4), mean 2.5, deviations (-1.5, 0, 0, 1.5);
    y = (1, 3, 2, 4) → ranks (1, 3, 2, 4), deviations (-1.5, 0.5, -0.5, 1.5).
    Σ dx·dy = 2.25 + 0 + 0 + 2.25 = 4.5; Σ dx² = 4.5; Σ dy² = 2.25+0.25+0.25+2.25 = 5.
    ρ = 4.5 / sqrt(4.5 · 5) = 0.9487."""
    assert st.spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / math.sqrt(22.5))
    assert st.spearman([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)
    assert math.isnan(st.spearman([1, 1, 1], [1, 2, 3]))   # constant side: undefined


def test_steerability_detects_a_steerable_optimizer():
    """30 tasks × weights w ∈ {0, 0.25, 0.5, 1}: log improvement = 0.4·w + task effect + small noise.
    Within every task improvement rises with w, so ρ is high and the task-cluster bootstrap interval
    stays above 0. With improvement independent of w, the interval covers 0."""
    rng = np.random.default_rng(0)
    ws = np.tile([0.0, 0.25, 0.5, 1.0], 30)
    groups = np.repeat(np.arange(30), 4)
    task_effect = rng.normal(0, 0.05, 30)[groups]
    steer = st.steerability("latency", ws, 0.4 * ws + task_effect + rng.normal(0, 0.02, ws.size), groups,
                            n_boot=500)
    assert steer.rho > 0.8 and steer.lo > 0.5 and steer.n_groups == 30 and steer.n_obs == 120
    flat = st.steerability("latency", ws, rng.normal(0, 0.1, ws.size), groups, n_boot=500)
    assert flat.lo < 0 < flat.hi


def test_steerability_ignores_non_finite_observations():
    """log(0) = -inf and NaN improvements (failed candidates) are dropped, not ranked."""
    s = st.steerability("memory", [0, 0.5, 1, 1], [0.0, 0.1, 0.2, -np.inf], ["a", "a", "b", "b"], n_boot=50)
    assert s.n_obs == 3 and s.rho == pytest.approx(1.0)


def test_nothing_on_either_side_is_no_ratio_not_an_infinite_improvement():
    """rss_growth is 0 KB before and after for most patterns in inprocess mode: table.csv and
    results.parquet said `inf` (an infinite memory improvement) where table.md said '–'."""
    import math

    from hydra_ray.evaluate.stats import improvement

    none = improvement("memory", [0.0] * 5, [0.0] * 5)
    assert math.isnan(none.ratio) and not none.improved and not none.significant
    assert math.isinf(improvement("memory", [5.0] * 5, [0.0] * 5).ratio)   # something → nothing: kept as it was
