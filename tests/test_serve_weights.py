"""Request weights: the three ways to state them, and one precise message for each way to get them wrong."""
from __future__ import annotations

import math

import pytest

from hydra_ray.metrics.names import METRIC_NAMES
from hydra_ray.serve.weights import PRESETS, SUM_TOLERANCE, WeightsError, parse_weights, parse_weights_arg


def test_mapping_with_aliases_fills_missing_metrics_with_zero():
    w = parse_weights({"runtime": 0.7, "memory": 0.3})
    assert w.values == pytest.approx((0.7, 0.3, 0.0, 0.0, 0.0))
    assert w.as_dict() == pytest.approx(dict(zip(METRIC_NAMES, (0.7, 0.3, 0, 0, 0))))
    assert w.preset is None
    assert parse_weights({"cpu_cycles": 0.5, "energy_j": 0.5}).values == pytest.approx((0, 0, 0.5, 0, 0.5))


def test_list_in_metric_order():
    assert parse_weights([0.1, 0.2, 0.3, 0.2, 0.2]).values == pytest.approx((0.1, 0.2, 0.3, 0.2, 0.2))


def test_rounded_weights_are_accepted_and_rescaled_to_sum_exactly_one():
    """0.333 × 3 = 0.999: within SUM_TOLERANCE, so accepted; each becomes 0.333/0.999 = 1/3."""
    w = parse_weights({"latency": 0.333, "memory": 0.333, "energy": 0.333})
    assert math.fsum(w.values) == pytest.approx(1.0, abs=1e-15)
    assert w.values[0] == pytest.approx(1 / 3)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_on_the_simplex(name):
    w = parse_weights(preset=name)
    assert w.preset == name
    assert min(w.values) >= 0 and math.fsum(w.values) == pytest.approx(1.0)


def test_runtime_preset_is_latency_only_and_default_is_balanced():
    assert parse_weights(preset="runtime").values == (1.0, 0.0, 0.0, 0.0, 0.0)
    assert parse_weights().values == pytest.approx((0.2,) * 5)
    assert parse_weights().preset == "balanced"


@pytest.mark.parametrize("weights, preset, field, words", [
    ({"runtime": -0.5, "memory": 1.5}, None, "weights", ["negative", "weights.runtime = -0.5"]),
    ([0.5, 0.6, 0, 0, 0], None, "weights", ["sum to 1", "1.1", "latency=0.5", "memory=0.6"]),
    ({"runtime": 0.5}, None, "weights", ["sum to 1", "0.5"]),
    ({"speed": 0.5, "latency": 0.5}, None, "weights.latency", ["already given as weights.speed"]),
    ({"runtime": 0.5, "karma": 0.5}, None, "weights.karma", ["unknown objective", "karma"]),
    ({"runtime": "fast"}, None, "weights.runtime", ["expected a number"]),
    ({"runtime": True}, None, "weights.runtime", ["expected a number"]),
    ([1.0, 0.0], None, "weights", ["expected 5 numbers", "got 2"]),
    ([float("nan"), 1, 0, 0, 0], None, "weights[0] (latency)", ["finite"]),
    ("runtime", None, "weights", ["expected an object"]),
    ({"runtime": 0.0}, None, "weights", ["all zero"]),
    (None, "fast", "preset", ["unknown preset 'fast'", "runtime"]),
    ({"runtime": 1.0}, "runtime", "preset", ["either weights or preset"]),
])
def test_each_mistake_gets_its_own_message(weights, preset, field, words):
    with pytest.raises(WeightsError) as err:
        parse_weights(weights, preset)
    assert err.value.field == field
    for w in words:
        assert w in str(err.value), str(err.value)


def test_sum_tolerance_boundary():
    ok = 1 - SUM_TOLERANCE
    parse_weights([ok, 0, 0, 0, 0])
    with pytest.raises(WeightsError, match="sum to 1"):
        parse_weights([ok - 1e-4, 0, 0, 0, 0])


def test_no_default_preset_means_weights_are_required():
    with pytest.raises(WeightsError, match="no weights given"):
        parse_weights(default_preset=None)


def test_cli_weights_syntax():
    assert parse_weights_arg("runtime=0.7, memory=0.3") == {"runtime": 0.7, "memory": 0.3}
    for bad, msg in (("runtime", "name=value"), ("runtime=fast", "not a number"), ("", "empty")):
        with pytest.raises(WeightsError, match=msg):
            parse_weights_arg(bad)
