"""Normalisers and noise-aware labels (hydra_ray.prefs.normalize, hydra_ray.prefs.labels)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hydra_ray.metrics.names import BY_NAME, METRIC_NAMES
from hydra_ray.prefs.config import LabelConfig
from hydra_ray.prefs.labels import DropReason, Labeler
from hydra_ray.prefs.normalize import LogRatioNormalizer, PaperNormalizer

M = len(METRIC_NAMES)
value = st.floats(min_value=1e-3, max_value=1e7, allow_nan=False)
raws = st.fixed_dictionaries({m: value for m in METRIC_NAMES})
sigs = st.fixed_dictionaries({m: st.sampled_from([True, False, None]) for m in METRIC_NAMES})
simplex = st.lists(st.floats(0, 1), min_size=M, max_size=M).filter(lambda v: sum(v) > 1e-6).map(
    lambda v: [x / sum(v) for x in v])
eps = st.sampled_from([0.0, 0.001, 0.005, 0.05])


def paper_labeler(epsilon=0.005, space="log"):
    cfg = LabelConfig(normalization="paper", epsilon=epsilon, paper_space=space)
    rng = np.random.default_rng(0)
    data = {m: list(np.exp(rng.normal(3, 1.5, 200))) for m in METRIC_NAMES}
    return Labeler.fit(cfg, data)


def labelers(epsilon):
    return [Labeler(LabelConfig(epsilon=epsilon)), paper_labeler(epsilon)]


# ---- normalisation maths ----------------------------------------------------------------------------

def test_log_ratio_closed_form():
    """ṽ_a = σ(log(x_b/x_a)) for lower-is-better. With σ(t) = 1/(1+e^(−t)) and t = log r:
    σ(log r) = 1/(1 + 1/r) = r/(r+1); r = x_b/x_a gives ṽ_a = x_b/(x_a+x_b).
    Latency 100 ms vs 300 ms: a is 3× faster, ṽ_a = 300/400 = 0.75, ṽ_b = 0.25.
    Throughput (higher better) 30 vs 10 runs/s: ṽ_a = σ(log(30/10)) = 30/40 = 0.75."""
    n = LogRatioNormalizer()
    assert n.pair("latency", 100.0, 300.0) == pytest.approx((0.75, 0.25))
    sig = 1 / (1 + math.exp(-math.log(300 / 100)))
    assert n.pair("latency", 100.0, 300.0)[0] == pytest.approx(sig)
    assert n.pair("throughput", 30.0, 10.0) == pytest.approx((0.75, 0.25))
    assert n.pair("energy", 0.0, 0.0) == (0.5, 0.5)
    assert n.pair("memory", 0.0, 5.0) == (1.0, 0.0)


@settings(max_examples=100, deadline=None)
@given(m=st.sampled_from(METRIC_NAMES), a=value, b=value, scale=st.floats(1e-3, 1e3))
def test_log_ratio_is_scale_free_and_symmetric(m, a, b, scale):
    n = LogRatioNormalizer()
    va, vb = n.pair(m, a, b)
    assert va + vb == pytest.approx(1.0)
    assert n.pair(m, b, a) == (vb, va)
    assert n.pair(m, a * scale, b * scale) == pytest.approx((va, vb), abs=1e-9)
    better_a = a > b if BY_NAME[m].higher_is_better else a < b
    if a != b:
        assert (va > vb) == better_a


def test_paper_normaliser_standardises_before_the_sigmoid():
    """z = (log x − μ)/σ over the dataset, ṽ = σ(−z) for lower-is-better. Latencies 10, 100, 1000 ms:
    log values have μ = log 100, σ = sqrt(2/3)·log 10 (population). x = 100 → z = 0 → ṽ = 0.5;
    x = 10 → z = −log10/σ = −sqrt(3/2) → ṽ = σ(1.2247) = 0.7729. Raw sigmoids would be σ(−220) ≈ 0
    for every realistic latency, which is why the values are standardised first."""
    vals = {"latency": [10.0, 100.0, 1000.0]}
    n = PaperNormalizer.fit(vals)
    assert n.center["latency"] == pytest.approx(math.log(100))
    assert n.scale["latency"] == pytest.approx(math.sqrt(2 / 3) * math.log(10))
    assert n.value("latency", 100.0) == pytest.approx(0.5)
    assert n.value("latency", 10.0) == pytest.approx(1 / (1 + math.exp(-math.sqrt(1.5))))
    assert n.value("throughput", 1.0) == pytest.approx(0.5)  # no data: μ=0, σ=1, σ(log 1) = 0.5
    raw = PaperNormalizer.fit({"latency": [10.0, 20.0, 30.0]}, space="raw")
    assert raw.value("latency", 20.0) == pytest.approx(0.5)
    assert raw.value("latency", 10.0) > 0.5 > raw.value("latency", 30.0)


# ---- label properties -------------------------------------------------------------------------------

@settings(max_examples=150, deadline=None)
@given(a=raws, b=raws, sig=sigs, w=simplex, epsilon=eps)
def test_swapping_candidates_swaps_the_label(a, b, sig, w, epsilon):
    for lab in labelers(epsilon):
        ab, ba = lab.label(a, b, sig, w), lab.label(b, a, sig, w)
        assert ab.drop_reason == ba.drop_reason
        assert ab.winner == {"a": "b", "b": "a", None: None}[ba.winner]
        assert (ab.reward_a, ab.reward_b) == (ba.reward_b, ba.reward_a)
        assert (ab.norm_a, ab.norm_b) == (ba.norm_b, ba.norm_a)


@settings(max_examples=150, deadline=None)
@given(a=raws, b=raws, k=st.integers(0, M - 1), epsilon=eps)
def test_one_hot_weight_prefers_the_candidate_better_on_that_metric(a, b, k, epsilon):
    """With w = e_k, R_a − R_b = ṽ_a,k − ṽ_b,k (every other term has weight 0), whose sign is the
    sign of the improvement on k. So the better candidate wins unless the gap is below ε."""
    m = METRIC_NAMES[k]
    assume(a[m] != b[m])
    w = [0.0] * M
    w[k] = 1.0
    sig = {x: True for x in METRIC_NAMES}
    better = "a" if (a[m] > b[m]) == BY_NAME[m].higher_is_better else "b"
    for lab in labelers(epsilon):
        res = lab.label(a, b, sig, w)
        gap = abs(res.norm_a[m] - res.norm_b[m])
        if gap == 0 or gap < epsilon:
            assert res.winner is None and res.drop_reason == DropReason.BELOW_EPSILON.value
        else:
            assert res.winner == better


@settings(max_examples=100, deadline=None)
@given(a=raws, b=raws, w=simplex, k=st.integers(0, M - 1), epsilon=eps)
def test_non_significant_metric_is_a_tie(a, b, w, k, epsilon):
    """A metric whose difference is not significant gets equal scores on both sides, so changing its
    raw values (keeping it non-significant) cannot change the rewards' difference or the label."""
    m = METRIC_NAMES[k]
    sig = {x: True for x in METRIC_NAMES}
    sig[m] = False
    for lab in labelers(epsilon):
        res = lab.label(a, b, sig, w)
        assert res.norm_a[m] == res.norm_b[m] and m in res.tied
        a2 = dict(a, **{m: a[m] * 7.0})
        res2 = lab.label(a2, b, sig, w)
        assert res2.winner == res.winner
        assert res2.reward_a - res2.reward_b == pytest.approx(res.reward_a - res.reward_b, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(a=raws, b=raws, w=simplex, unknown=st.sampled_from([False, None]))
def test_all_tied_pairs_are_dropped_and_counted_not_labelled(a, b, w, unknown):
    sig = {m: unknown for m in METRIC_NAMES}
    for lab in labelers(0.0):
        res = lab.label(a, b, sig, w)
        assert res.winner is None and res.drop_reason == DropReason.ALL_TIED.value
        assert res.reward_a == res.reward_b


def test_small_reward_gap_is_dropped_below_epsilon():
    """Latency 100 vs 101 ms, everything else tied, w = uniform 0.2: ṽ_a = 101/201, ṽ_b = 100/201,
    ΔR = 0.2·(1/201) = 0.000995. ε = 0.005 drops it, ε = 0.0005 keeps it with a winning."""
    a = {m: 10.0 for m in METRIC_NAMES} | {"latency": 100.0}
    b = {m: 10.0 for m in METRIC_NAMES} | {"latency": 101.0}
    sig = {m: m == "latency" for m in METRIC_NAMES}
    w = [0.2] * M
    res = Labeler(LabelConfig(epsilon=0.005)).label(a, b, sig, w)
    assert res.winner is None and res.drop_reason == "below_epsilon"
    assert res.margin == pytest.approx(0.2 / 201)
    res = Labeler(LabelConfig(epsilon=0.0005)).label(a, b, sig, w)
    assert res.winner == "a" and res.drop_reason is None


def test_reward_is_weighted_sum_of_normalised_values():
    """R = Σ w_k ṽ_k. a: latency 100 (vs 300), memory 2000 KB (vs 1000), rest tied at 0.5.
    ṽ_a = (0.75, 1/3, .5, .5, .5), ṽ_b = (0.25, 2/3, .5, .5, .5); w = (0.6, 0.4, 0, 0, 0):
    R_a = 0.45 + 0.1333 = 0.5833, R_b = 0.15 + 0.2667 = 0.4167, a wins. With w = (0.2, 0.8, 0, 0, 0):
    R_a = 0.15 + 0.2667 = 0.4167 < R_b = 0.05 + 0.5333 = 0.5833, b wins: the weights steer the label."""
    a = {"latency": 100.0, "memory": 2000.0, "cycles": 5.0, "throughput": 1.0, "energy": 1.0}
    b = {"latency": 300.0, "memory": 1000.0, "cycles": 5.0, "throughput": 1.0, "energy": 1.0}
    sig = {"latency": True, "memory": True, "cycles": False, "throughput": False, "energy": False}
    lab = Labeler(LabelConfig())
    r = lab.label(a, b, sig, [0.6, 0.4, 0, 0, 0])
    assert (r.reward_a, r.reward_b) == pytest.approx((0.45 + 0.4 / 3, 0.15 + 0.8 / 3))
    assert r.winner == "a"
    assert lab.label(a, b, sig, [0.2, 0.8, 0, 0, 0]).winner == "b"


def test_missing_values_count_as_ties_and_do_not_crash():
    a = {"latency": 100.0, "memory": 1000.0, "cycles": None, "throughput": float("nan"), "energy": -1.0}
    b = {"latency": 200.0, "memory": 1000.0}
    sig = {"latency": True, "memory": False}
    res = Labeler(LabelConfig()).label(a, b, sig, [0.2] * M)
    assert set(res.missing) == {"cycles", "throughput", "energy"}
    assert set(res.tied) == {"memory", "cycles", "throughput", "energy"}
    assert all(res.norm_a[m] == res.norm_b[m] == 0.5 for m in res.missing)
    assert res.winner == "a"


def test_bad_weights_and_unfitted_paper_are_rejected():
    lab = Labeler(LabelConfig())
    r = {m: 1.0 for m in METRIC_NAMES}
    with pytest.raises(ValueError, match="weights must be 5"):
        lab.label(r, r, {}, [0.5, 0.5])
    with pytest.raises(ValueError, match=">= 0"):
        lab.label(r, r, {}, [1.5, -0.5, 0, 0, 0])
    with pytest.raises(ValueError, match="Labeler.fit"):
        Labeler(LabelConfig(normalization="paper"))


@settings(max_examples=40, deadline=None)
@given(a=raws, b=raws, sig=sigs, w=simplex)
def test_save_and_load_relabel_identically(tmp_path_factory, a, b, sig, w):
    d = tmp_path_factory.mktemp("lab")
    for lab in labelers(0.005):
        lab.save(d / "labeler.json")
        again = Labeler.load(d / "labeler.json")
        assert again.config == lab.config
        assert again.label(a, b, sig, w) == lab.label(a, b, sig, w)


def test_load_rejects_foreign_files(tmp_path):
    p = tmp_path / "x.json"
    p.write_text('{"format": "something-else"}')
    with pytest.raises(ValueError, match="not a hydra-ray labeller file"):
        Labeler.load(p)
    p.write_text("not json")
    with pytest.raises(ValueError, match="cannot read labeller file"):
        Labeler.load(p)
