"""Scoring candidates against the original and choosing the best (pure; the real Labeler and stats)."""
from __future__ import annotations

import pytest

from hydra_ray.metrics.names import METRIC_NAMES
from hydra_ray.prefs.config import LabelConfig
from hydra_ray.prefs.labels import Labeler
from hydra_ray.serve.ranking import Entry, rank, score_against_original

LABELER = Labeler(LabelConfig())
RUNTIME = (1.0, 0.0, 0.0, 0.0, 0.0)
MEMORY = (0.0, 1.0, 0.0, 0.0, 0.0)


def samples(latency=100.0, memory=20000.0, cycles=1e8, throughput=10.0, energy=0.025):
    """Five repeats around each median, spread ±1 % (enough for a rank test, far below 2× effects)."""
    spread = (-0.01, -0.005, 0.0, 0.005, 0.01)
    vals = dict(latency=latency, memory=memory, cycles=cycles, throughput=throughput, energy=energy)
    return {m: [vals[m] * (1 + s) for s in spread] for m in METRIC_NAMES}


ORIGINAL = samples()


def test_twice_as_fast_beats_the_original_by_a_third():
    """Latency 50 vs 100 ms, everything else equal, weights runtime = 1.

    log_ratio (lower is better): ṽ_cand = x_orig / (x_cand + x_orig) = 100 / 150 = 2/3, ṽ_orig = 1/3.
    The other metrics are identical, hence not significant: ties at 0.5, but their weight is 0.
    R_cand = 1 · 2/3, R_orig = 1 · 1/3, margin = 1/3 > ε = 0.005: the candidate wins.
    """
    s = score_against_original(samples(latency=50.0), ORIGINAL, RUNTIME, LABELER)
    assert s.beats_original
    assert s.reward == pytest.approx(2 / 3)
    assert s.original_reward == pytest.approx(1 / 3)
    assert s.margin == pytest.approx(1 / 3)
    assert s.significant["latency"] and not s.significant["memory"]
    assert s.ratios["latency"] == pytest.approx(0.5)


def test_weights_steer_which_candidate_wins():
    """A is 2× faster but uses 1.5× the memory; B is as fast as the original and uses 1/3 less memory.

    Under runtime = 1: R_A = 2/3 vs 1/3 (wins); B differs only on memory, weight 0 → R_B = R_orig → no win.
    Under memory = 1: ṽ_A = 20000 / (30000 + 20000) = 0.4 < 0.6 → A is worse;
    ṽ_B = 20000 / (20000 * 2/3 + 20000) = 0.6 > 0.4 → B wins, margin 0.2.
    """
    a = samples(latency=50.0, memory=30000.0)
    b = samples(memory=20000.0 * 2 / 3)
    for weights, winner in ((RUNTIME, "a"), (MEMORY, "b")):
        sa = score_against_original(a, ORIGINAL, weights, LABELER)
        sb = score_against_original(b, ORIGINAL, weights, LABELER)
        ranking = rank([Entry(0, "passed", sa), Entry(1, "passed", sb)])
        assert ranking.best == {"a": 0, "b": 1}[winner]
    sb = score_against_original(b, ORIGINAL, MEMORY, LABELER)
    assert sb.margin == pytest.approx(0.2)
    sa = score_against_original(a, ORIGINAL, MEMORY, LABELER)
    assert sa.reward == pytest.approx(0.4) and not sa.beats_original and sa.drop_reason is None


def test_noise_is_not_an_improvement():
    """Samples that overlap (a 1 % shift inside a ±1 % spread) are not significant: every metric ties."""
    s = score_against_original(samples(latency=99.0), ORIGINAL, RUNTIME, LABELER)
    assert not s.beats_original and s.drop_reason == "all_tied"
    assert s.reward == s.original_reward == pytest.approx(0.5)


def test_a_failed_candidate_is_never_best_even_with_a_winning_score():
    winning = score_against_original(samples(latency=10.0), ORIGINAL, RUNTIME, LABELER)
    modest = score_against_original(samples(latency=80.0), ORIGINAL, RUNTIME, LABELER)
    assert winning.margin > modest.margin > 0
    ranking = rank([Entry(0, "wrong_answer", winning), Entry(1, "passed", modest)])
    assert ranking.best == 1
    assert ranking.order == [1, 0]
    only_failed = rank([Entry(0, "timeout", winning), Entry(1, "rejected", None)])
    assert only_failed.best is None
    assert "no candidate passed verification" in only_failed.reason
    assert "1 timeout" in only_failed.reason and "1 rejected" in only_failed.reason


def test_order_winners_by_margin_then_other_passers_then_failures():
    big = score_against_original(samples(latency=25.0), ORIGINAL, RUNTIME, LABELER)
    small = score_against_original(samples(latency=70.0), ORIGINAL, RUNTIME, LABELER)
    worse = score_against_original(samples(latency=300.0), ORIGINAL, RUNTIME, LABELER)
    tie = score_against_original(samples(), ORIGINAL, RUNTIME, LABELER)
    entries = [Entry(0, "timeout"), Entry(1, "passed", worse), Entry(2, "passed", small), Entry(3, "rejected"),
               Entry(4, "passed", big), Entry(5, "passed", tie)]
    ranking = rank(entries)
    assert ranking.order == [4, 2, 5, 1, 0, 3]
    assert ranking.best == 4
    assert ranking.ranks[4] == 1 and ranking.ranks[3] == 6
    assert "candidate 4 beats the original" in ranking.reason and "latency" in ranking.reason


def test_nothing_better_says_so():
    worse = score_against_original(samples(latency=300.0), ORIGINAL, RUNTIME, LABELER)
    ranking = rank([Entry(0, "passed", worse), Entry(1, "wrong_answer")])
    assert ranking.best is None
    assert ranking.reason.startswith("no candidate is better than the original")
    assert "1 worse" in ranking.reason
    assert rank([]).best is None


def test_missing_metric_is_a_tie_not_an_error():
    cand = samples(latency=50.0)
    cand["energy"] = []
    s = score_against_original(cand, ORIGINAL, (0.5, 0.0, 0.0, 0.0, 0.5), LABELER)
    assert s.ratios["energy"] is None and not s.significant["energy"]
    # R = 0.5·2/3 + 0.5·0.5 vs 0.5·1/3 + 0.5·0.5
    assert s.reward == pytest.approx(0.5 * 2 / 3 + 0.25)
    assert s.beats_original
