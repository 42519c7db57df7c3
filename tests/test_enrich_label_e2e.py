"""Real data end to end: enrich bundled PIE pairs in the sandbox on a local Ray, then label them."""
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "hydra_ray" / "sample_data" / "pie_sample.jsonl"


@pytest.mark.slow   # ~50 s; the default suite runs enrich → label on real pairs in test_fresh_clone
def test_enrich_then_label_on_real_pairs(tmp_path):
    # 5 pairs whose slow program is clearly slower, 2 quick ones, 1 that fails as real data does
    lines = SAMPLE.read_text().splitlines()
    inp = tmp_path / "pairs.jsonl"
    inp.write_text("\n".join(lines[:5] + lines[20:22] + lines[40:41]) + "\n")
    enriched, labelled = tmp_path / "enriched", tmp_path / "labelled"
    cli = [sys.executable, "-m", "hydra_ray.cli"]
    r = subprocess.run(cli + ["enrich", "--input", str(inp), "--output", str(enriched),
                              "--config", str(REPO / "configs/enrich/quick.yaml"), "ray.num_cpus=2"],
                       capture_output=True, text=True, cwd=REPO, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "[enrich]" in r.stdout and "sets/s" in r.stdout  # progress is shown
    summary = json.loads((enriched / "summary.json").read_text())
    assert summary["sets_total"] == 8 and summary["verdicts"].get("passed", 0) >= 12
    r = subprocess.run(cli + ["label", "--input", str(enriched), "--output", str(labelled), "seed=3"],
                       capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = pq.read_table(labelled / "labels.parquet").to_pylist()
    assert rows, "the clearly slower pairs must yield labelled examples"
    for row in rows:
        assert abs(sum(row["weights"]) - 1) < 1e-6
        assert row["prompt"][-1]["role"] == "user" and row["chosen"][0]["role"] == "assistant"
        chosen_code = row["code_a"] if row["chosen_side"] == "a" else row["code_b"]
        assert chosen_code.strip() in row["chosen"][0]["content"]
        winner = "a" if row["reward_a"] > row["reward_b"] else "b"
        assert row["chosen_side"] == winner
    stats = json.loads((labelled / "stats.json").read_text())
    assert stats and (labelled / "labeler.json").exists()
    assert list((labelled / "plots").glob("*.png"))
