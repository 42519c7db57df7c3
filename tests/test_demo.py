"""The one-command pipeline end to end: enrich → label → train → serve → optimize, on real data."""
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_demo_runs_the_whole_pipeline(tmp_path):
    out = tmp_path / "demo"
    r = subprocess.run([sys.executable, "-m", "hydra_ray.cli", "demo", "--output", str(out), "--pairs", "6",
                        "--steps", "8"], capture_output=True, text=True, cwd=REPO, timeout=900)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    for stage in ("1/5 enrich", "2/5 label", "3/5 train", "4/5 serve", "5/5 optimize", "demo finished"):
        assert stage in r.stdout
    assert list((out / "enrich" / "data").glob("part-*.parquet"))
    assert (out / "labelled" / "labels.parquet").exists()
    assert (out / "train" / "adapter" / "adapter_config.json").exists()
    resp = json.loads((out / "optimize_response.json").read_text())
    # Whatever the tiny random model proposes, an unverified candidate is never the best.
    best = resp["best"]
    if best["index"] is None:
        assert not best["improved"] and best["reason"]
    else:
        assert resp["candidates"][best["index"]]["verdict"] == "passed"
