"""Dirichlet weights, presets and regions (hydra_ray.prefs.dirichlet) and LabelConfig validation."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hydra_ray.config import ConfigError, load_config
from hydra_ray.metrics.names import METRIC_NAMES
from hydra_ray.prefs.config import LabelConfig
from hydra_ray.prefs.dirichlet import (BALANCED, PRESETS, REGIONS, region_of, resolve_alpha, rng_for,
                                       sample_weights)

M = len(METRIC_NAMES)
alphas = st.lists(st.floats(min_value=0.05, max_value=50.0), min_size=M, max_size=M)


@settings(max_examples=60, deadline=None)
@given(alpha=alphas, n=st.integers(0, 40), seed=st.integers(0, 2**32 - 1))
def test_sampled_weights_lie_on_the_simplex(alpha, n, seed):
    w = sample_weights(alpha, n, seed)
    assert w.shape == (n, M)
    assert np.all(w >= 0)
    assert np.allclose(w.sum(axis=1), 1.0, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(alpha=alphas, seed=st.integers(0, 2**32 - 1))
def test_sampling_is_reproducible_from_the_seed(alpha, seed):
    assert np.array_equal(sample_weights(alpha, 5, seed), sample_weights(alpha, 5, seed))
    assert np.array_equal(sample_weights(alpha, 5, np.random.default_rng(seed)),
                          sample_weights(alpha, 5, np.random.default_rng(seed)))


def test_sample_mean_matches_dirichlet_mean():
    """E[w_k] = α_k / Σα. With n = 20000 draws the standard error of each mean is
    sqrt(Var[w_k]/n), Var[w_k] = m_k(1−m_k)/(Σα+1) ≤ 0.25/(Σα+1); we allow 5 standard errors."""
    alpha = np.array([4.0, 1.0, 0.5, 2.0, 2.5])
    w = sample_weights(alpha, 20000, 7)
    mean = alpha / alpha.sum()
    se = np.sqrt(mean * (1 - mean) / (alpha.sum() + 1) / 20000)
    assert np.all(np.abs(w.mean(axis=0) - mean) < 5 * se)


def test_presets_shape_the_weights_as_documented():
    """balanced draws stay near 1/M, dominant ones near a corner, latency-dominant favours latency."""
    bal = sample_weights("balanced", 4000, 1)
    dom = sample_weights("dominant", 4000, 1)
    lat = sample_weights("latency-dominant", 4000, 1)
    assert np.mean(np.abs(bal - 1 / M).max(axis=1)) < 0.15
    assert np.mean(dom.max(axis=1) > 0.5) > 0.6
    assert np.mean(bal.max(axis=1) > 0.5) < 0.01
    assert np.mean([region_of(w, 0.5) == "latency" for w in lat]) > 0.7
    assert abs(lat[:, 0].mean() - 5 / 7) < 0.02
    assert set(PRESETS) >= {"balanced", "intermediate", "dominant"} | {f"{m}-dominant" for m in METRIC_NAMES}


def test_rng_for_depends_only_on_seed_and_key():
    a = rng_for(3, "p1|slow|fast").random(4)
    assert np.array_equal(a, rng_for(3, "p1|slow|fast").random(4))
    assert not np.array_equal(a, rng_for(4, "p1|slow|fast").random(4))
    assert not np.array_equal(a, rng_for(3, "p2|slow|fast").random(4))


@settings(max_examples=100, deadline=None)
@given(w=st.lists(st.floats(0, 1), min_size=M, max_size=M).filter(lambda v: sum(v) > 0),
       threshold=st.floats(0.05, 0.95))
def test_region_is_the_metric_above_threshold_else_balanced(w, threshold):
    w = np.asarray(w) / sum(w)
    r = region_of(w, threshold)
    assert r in REGIONS
    if r == BALANCED:
        assert np.all(w <= threshold)
    else:
        k = METRIC_NAMES.index(r)
        assert w[k] > threshold and w[k] == w.max()


def test_region_examples():
    assert region_of([0.55, 0.05, 0.2, 0.1, 0.1], 0.5) == "latency"
    assert region_of([0.5, 0.05, 0.25, 0.1, 0.1], 0.5) == BALANCED      # strictly greater
    assert region_of([0.2] * 5, 0.5) == BALANCED
    assert region_of([0.1, 0.35, 0.4, 0.1, 0.05], 0.3) == "cycles"     # largest of several above
    with pytest.raises(ValueError, match="5 values"):
        region_of([0.5, 0.5], 0.5)


def test_resolve_alpha_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown α preset 'nope'"):
        resolve_alpha("nope")
    with pytest.raises(ValueError, match="needs 5 values"):
        resolve_alpha([1, 2])
    with pytest.raises(ValueError, match="> 0"):
        resolve_alpha([1, 1, 0, 1, 1])
    assert resolve_alpha(2.0).tolist() == [2.0] * M


def test_label_config_validation_reports_every_problem():
    with pytest.raises(ConfigError) as e:
        load_config(LabelConfig, None, ["alpha=[1, 2]", "epsilon=-1", "seed=x", "region_threshold=1",
                                         "normalization=zscore", "samples_per_pair=0"])
    text = str(e.value)
    for field in ("alpha", "epsilon", "seed", "region_threshold", "normalization", "samples_per_pair"):
        assert f"LabelConfig.{field}" in text
    assert "needs 5 values" in text and "'zscore'" in text


def test_label_presets_load_and_start_with_their_command(tmp_path):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "configs" / "label"
    for name in ("default.yaml", "runtime-focused.yaml"):
        path = root / name
        first = path.read_text().splitlines()[0]
        assert first.startswith("# hydra-ray label ") and f"configs/label/{name}" in first
        cfg = load_config(LabelConfig, path)
        assert cfg.alpha_vector().shape == (M,)
    assert load_config(LabelConfig, root / "runtime-focused.yaml").alpha == "latency-dominant"
