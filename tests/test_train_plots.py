"""The paper's training figures (Fig. 5, 6, 8) from metrics.jsonl rows, as a GPU run would write them."""
from __future__ import annotations

import json

import pytest

from hydra_ray.metrics.names import METRIC_NAMES
from hydra_ray.prefs.dirichlet import REGIONS
from hydra_ray.train.hub import AlphaHub
from hydra_ray.train.alpha import AlphaSettings
from hydra_ray.train.plots import final_preference, read_metrics, write_paper_figures


def _rows(n=12):
    rows = []
    for i in range(n):
        row = {"step": 5 * (i + 1), "loss": 0.69 - 0.01 * i}
        row.update({f"alpha/{r}": 1.0 + 0.01 * i * (k - 2) for k, r in enumerate(REGIONS)})
        row.update({f"advantage/{m}": 0.1 * k - 0.1 for k, m in enumerate(METRIC_NAMES)})
        row.update({f"pref_rate/{m}": 0.9 if m != "memory" else 0.4 for m in METRIC_NAMES})
        row.update({f"tie_rate/{m}": 0.05 if m != "memory" else 0.3 for m in METRIC_NAMES})
        rows.append(row)
    return rows


def test_final_preference_takes_the_last_quarter():
    """12 rows → the last 3; memory's rate is 0.4 in every row, so its mean is 0.4. Rows without pref_rate
    (older runs) give None, not 0."""
    rows = _rows()
    rows[-1]["advantage/latency"] = 0.4            # last three: -0.1, -0.1, 0.4 → mean 0.0667
    final = final_preference(rows)
    assert final["memory"]["pref_rate"] == pytest.approx(0.4)
    assert final["latency"]["advantage"] == pytest.approx((-0.1 - 0.1 + 0.4) / 3)
    old = [{k: v for k, v in r.items() if not k.startswith(("pref_rate", "tie_rate"))} for r in rows]
    assert final_preference(old)["memory"]["pref_rate"] is None


def test_figures_written(tmp_path):
    paths = write_paper_figures(_rows(), tmp_path)
    assert [p.name for p in paths] == ["fig5_alpha.png", "fig6_preference.png", "fig8_advantage.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" and p.stat().st_size > 5000 for p in paths)
    assert write_paper_figures([{"step": 1, "loss": 0.7}], tmp_path / "none") == []


def test_hub_rows_feed_the_figures(tmp_path):
    """A real AlphaHub writes metrics.jsonl; its rows carry what Fig. 5, 6 and 8 read. Δ_memory = 0 in one of
    two examples and > 0 in the other → pref_rate 0.5, tie_rate 0.5."""
    path = tmp_path / "metrics.jsonl"
    hub = AlphaHub(AlphaSettings(lr=0.5), str(path))
    for step in (1, 2, 3, 4):
        hub.report(["latency", "memory"], [0.7, 0.5], [[0.2, 0.0, 0.1, 0.1, 0.1], [0.1, 0.3, 0.1, 0.1, 0.1]],
                   worker=0, step=step)
        hub.log_metrics({"step": step, "loss": 0.6})
    rows = read_metrics(path)
    assert rows[-1]["pref_rate/memory"] == 0.5 and rows[-1]["tie_rate/memory"] == 0.5
    assert len(write_paper_figures(rows, tmp_path / "plots")) == 3
    json.dumps(final_preference(rows))
