"""The α controller's math: loss rule, advantage rule, clipping, concentration, state round trip.

The loss rule is the paper's (Sec. IV-E): L̄_r = (1/|S_r|) Σ_{i∈S_r} L_r^(i), L̄_global = (1/R) Σ_r L̄_r (an
unweighted mean over regions, not over examples), α_r ← clip(α_r·exp(η(L̄_r − L̄_global)), α_min, α_max).
Ours differs only where a region has no example in the interval: its L̄_r is undefined, so it keeps its α
and L̄ is the mean over the regions seen (README, Differences from the paper).
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from hydra_ray.metrics.names import METRIC_NAMES
from hydra_ray.prefs.dirichlet import REGIONS, regions_of, sample_weights
from hydra_ray.train.alpha import (AlphaController, AlphaSettings, UpdateRule, advantage_of, advantage_rule,
                                   loss_rule)


def test_loss_rule_matches_the_closed_form():
    """Two regions seen, losses 0.9 and 0.5: L̄ = 0.7, so with η = 0.1
    α_lat = 1 · exp(0.1 · (0.9 − 0.7)) = e^{0.02} ≈ 1.0202 and α_mem = e^{−0.02} ≈ 0.9802;
    unseen regions keep α and do not enter L̄."""
    alpha = {r: 1.0 for r in REGIONS}
    means = {r: None for r in REGIONS} | {"latency": 0.9, "memory": 0.5}
    out = loss_rule(alpha, means, 0.1, 0.5, 2.0)
    assert out["latency"] == pytest.approx(math.exp(0.02), rel=1e-12)
    assert out["memory"] == pytest.approx(math.exp(-0.02), rel=1e-12)
    assert all(out[r] == 1.0 for r in REGIONS if r not in ("latency", "memory"))



def test_global_mean_is_over_regions_not_examples():
    """Sec. IV-E: L̄_global = (1/R) Σ_r L̄_r. Three latency examples at loss 1.0 and one balanced example
    at 0.0: L̄_lat = 1, L̄_bal = 0, so L̄ = (1 + 0)/2 = 0.5 and, with η = 0.4,
    α_lat = exp(0.4 · 0.5) = e^{0.2}, α_bal = e^{−0.2}. A mean over the four examples (0.75) would give
    e^{0.1} and e^{−0.3} instead."""
    ctl = AlphaController(AlphaSettings(lr=0.4, alpha_min=0.1, alpha_max=10.0, reports_per_update=1))
    ctl.report(["latency", "latency", "latency", "balanced"], [1.0, 1.0, 1.0, 0.0])
    a = ctl.get_alpha()
    assert a["latency"] == pytest.approx(math.exp(0.2), rel=1e-12)
    assert a["balanced"] == pytest.approx(math.exp(-0.2), rel=1e-12)
    assert ctl.updates[-1].mean_loss["latency"] == 1.0 and ctl.updates[-1].count["latency"] == 3

def test_loss_rule_preserves_geometric_mean_before_clipping():
    """Σ_r log α'_r = Σ_r log α_r + η Σ_r (L̄_r − L̄) = Σ_r log α_r, since Σ_r (L̄_r − L̄) = 0:
    without clipping the rule only redistributes α, it never inflates or deflates all of it."""
    rng = np.random.default_rng(3)
    alpha = {r: float(v) for r, v in zip(REGIONS, rng.uniform(0.9, 1.1, len(REGIONS)))}
    means = {r: float(v) for r, v in zip(REGIONS, rng.uniform(0.2, 1.2, len(REGIONS)))}
    out = loss_rule(alpha, means, 0.05, 1e-3, 1e3)
    assert sum(math.log(v) for v in out.values()) == pytest.approx(sum(math.log(v) for v in alpha.values()))
    hardest = max(means, key=means.get)
    easiest = min(means, key=means.get)
    assert out[hardest] > alpha[hardest] and out[easiest] < alpha[easiest]


def test_clipping_bounds_alpha():
    """A huge step exp(10 · (2 − 1)) would leave [0.75, 1.5]; clip keeps α at the bounds."""
    alpha = {r: 1.0 for r in REGIONS}
    means = {r: 1.0 for r in REGIONS} | {"latency": 7.0, "memory": -5.0}
    out = loss_rule(alpha, means, 10.0, 0.75, 1.5)
    assert out["latency"] == 1.5 and out["memory"] == 0.75


def test_advantage_rule_rewards_consistent_metrics():
    """Latency advantage is always +0.2: t = 0.2 / rms = 0.2 / 0.2 = 1; memory flips ±0.2: mean 0, t = 0;
    the rest are always tied (Δ = 0): t = 0. mean t = 0.2, so with η = 0.01
    α_lat = exp(0.01 · 0.8) and every other metric exp(−0.01 · 0.2); balanced is untouched."""
    ctl = AlphaController(AlphaSettings(lr=0.01, rule=UpdateRule.ADVANTAGE, reports_per_update=1))
    adv = [[0.2, 0.2 * (-1) ** i, 0.0, 0.0, 0.0] for i in range(10)]
    ctl.report(["balanced"] * 10, [0.7] * 10, adv)
    a = ctl.get_alpha()
    assert a["latency"] == pytest.approx(math.exp(0.008))
    assert all(a[m] == pytest.approx(math.exp(-0.002)) for m in METRIC_NAMES if m != "latency")
    assert a["balanced"] == 1.0
    rec = ctl.updates[-1]
    assert rec.advantage_mean["latency"] == pytest.approx(0.2)
    assert rec.advantage_mean["memory"] == pytest.approx(0.0)
    assert rec.advantage_consistency["latency"] == pytest.approx(1.0)


def test_advantage_rule_is_centred():
    """Equal t_k for every metric: t_k − mean t = 0, so nothing moves."""
    alpha = {r: 1.1 for r in REGIONS}
    assert advantage_rule(alpha, {m: 0.3 for m in METRIC_NAMES}, 0.5, 0.5, 2.0) == alpha


def test_advantage_of_signs():
    chosen = dict(zip(METRIC_NAMES, [0.7, 0.5, 0.6, 0.3, 0.5]))
    rejected = dict(zip(METRIC_NAMES, [0.3, 0.5, 0.4, 0.7, 0.5]))
    assert advantage_of(chosen, rejected) == pytest.approx([0.4, 0.0, 0.2, -0.4, 0.0])


def test_interval_buffers_until_enough_reports():
    """reports_per_update = 3 (e.g. 3 steps × 1 worker): the first two reports only buffer; the third
    updates using all three batches: L̄_lat = mean(1, 1, 1) = 1, L̄_bal = mean(0, 0.5, 0.5) = 1/3,
    L̄ = 2/3, α_lat = exp(η/3)."""
    ctl = AlphaController(AlphaSettings(lr=0.3, reports_per_update=3))
    assert not ctl.report(["latency", "balanced"], [1.0, 0.0], worker=0, step=1)
    assert not ctl.report(["latency", "balanced"], [1.0, 0.5], worker=1, step=1)
    assert ctl.get_alpha()["latency"] == 1.0
    assert ctl.report(["latency", "balanced"], [1.0, 0.5], worker=0, step=2)
    assert ctl.get_alpha()["latency"] == pytest.approx(math.exp(0.3 / 3))
    assert ctl.get_alpha()["balanced"] == pytest.approx(math.exp(-0.3 / 3))
    assert ctl.reports_by_worker == {"0": 2, "1": 1}
    assert ctl.updates[-1].count["latency"] == 3 and ctl.updates[-1].step == 2


def test_concentration_multiplies_balanced():
    """c_k = α_k · α_bal: E[w_k] = α_k / Σα regardless of α_bal; larger α_bal → more balanced draws."""
    ctl = AlphaController()
    ctl.alpha = {r: 1.0 for r in REGIONS} | {"latency": 1.5}
    ctl.alpha["balanced"] = 1.5
    c = ctl.concentration()
    assert c[0] == pytest.approx(2.25) and c[1] == pytest.approx(1.5)
    rng = np.random.default_rng(0)
    w = sample_weights(c, 20000, rng)
    assert w[:, 0].mean() == pytest.approx(1.5 / 5.5, abs=0.01)
    frac_bal = lambda conc: np.mean(np.array(regions_of(sample_weights(conc, 20000, rng), 0.5)) == "balanced")
    assert frac_bal([1.5] * 5) > frac_bal([0.75] * 5) + 0.05


def test_state_round_trip_is_exact_and_json_safe():
    ctl = AlphaController(AlphaSettings(lr=0.2, reports_per_update=2))
    rng = np.random.default_rng(1)
    for step in range(7):
        regs = list(rng.choice(REGIONS, 4))
        ctl.report(regs, list(rng.uniform(0, 1, 4)), list(rng.uniform(-1, 1, (4, 5))), worker=step % 2, step=step)
    state = json.loads(json.dumps(ctl.state_dict()))
    other = AlphaController(AlphaSettings(lr=0.2, reports_per_update=2))
    other.load_state_dict(state)
    assert other.get_alpha() == ctl.get_alpha()
    assert other.trajectory() == ctl.trajectory()
    # The half-filled interval survives too: the next report updates both identically.
    ctl.report(["latency"], [0.9], [[0.1] * 5], step=8)
    other.report(["latency"], [0.9], [[0.1] * 5], step=8)
    assert other.get_alpha() == ctl.get_alpha() and len(other.updates) == len(ctl.updates)


@pytest.mark.parametrize("bad", [dict(alpha_min=2.0, alpha_max=1.0), dict(lr=-1.0), dict(initial=3.0),
                                 dict(reports_per_update=0)])
def test_settings_reject_bad_values(bad):
    with pytest.raises(ValueError, match="AlphaSettings"):
        AlphaSettings(**bad)


def test_report_rejects_unknown_region_and_nan():
    ctl = AlphaController()
    with pytest.raises(ValueError, match="unknown region 'speed'"):
        ctl.report(["speed"], [0.5])
    with pytest.raises(ValueError, match="not finite"):
        ctl.report(["latency"], [float("nan")])
