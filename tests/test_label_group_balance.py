"""One large candidate group must not silently dominate the labelled pairs.

A group of n candidates gives n(n-1)/2 pairs. By default ``label`` keeps at most
``max_pairs_per_group`` (100) labelled pairs of a group; with the cap off it says which group makes up
most of the labelled pairs, its share, and the setting to change. Runs the real ``hydra-ray label`` as a subprocess on
a small synthetic enriched folder: 11 two-candidate groups and one 30-candidate group (435 pairs).
"""
from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hydra_ray.enrich.rows import arrow_schema
from hydra_ray.metrics.names import METRICS
from hydra_ray.prefs.group_balance import dominance_note

ROOT = Path(__file__).resolve().parents[1]
BIG = 30


def _metrics(cpu_ms: float, rng: np.random.Generator) -> dict:
    lat = (20.0 + cpu_ms) * np.exp(0.03 * rng.standard_normal(5))
    samples = {"latency_ms": lat, "peak_memory_kb": 9000 + 100 * rng.standard_normal(5),
               "cpu_cycles": lat * 2.5e6, "throughput_per_s": 1000.0 / lat, "energy_j": 0.012 * lat}
    out = {}
    for m in METRICS:
        c, xs = m.column, [float(x) for x in samples[m.column]]
        out.update({c: float(np.median(xs)), f"{c}_samples": xs, f"{c}_source": "wall_clock",
                    f"{c}_estimated": False, f"{c}_n": 5, f"{c}_spread": 0.0, f"{c}_significant": None})
    return out


def _enriched(path: Path) -> None:
    rng = np.random.default_rng(7)
    groups = {f"p{i:05d}:pair": 2 for i in range(11)} | {"p99999:big": BIG}
    rows = []
    for gid, n in groups.items():
        for k in range(n):
            rows.append({"pair_id": gid, "problem_id": gid.split(":")[0], "candidate": str(k),
                         # distinct programs (another syntax tree each), so no pair is `same_program`
                         "code": f"print(sum(range({k + 1})) * {len(rows) + 1})\n", "verdict": "passed",
                         "verdict_detail": "", "tests_passed": 2, "tests_total": 2, "node_id": "n",
                         "cpu_model": "synthetic", **_metrics(5.0 * (k + 1), rng)})
    (path / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema()), path / "data" / "part-0.parquet")


def _label(enriched: Path, out: Path, *overrides: str) -> tuple[str, dict]:
    proc = subprocess.run([sys.executable, "-m", "hydra_ray.cli", "label", "--input", str(enriched),
                           "--output", str(out), *overrides], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, json.loads((out / "stats.json").read_text())


@pytest.fixture(scope="module")
def enriched(tmp_path_factory):
    path = tmp_path_factory.mktemp("balance") / "enriched"
    _enriched(path)
    return path


def _labelled_pairs(out: Path) -> dict[str, int]:
    """Group → how many of its pairs gave at least one example (distinct pairs in labels.parquet)."""
    rows = pq.read_table(out / "labels.parquet", columns=["pair_id", "example_id"]).to_pylist()
    pairs = {r["example_id"].rsplit("|", 1)[0]: r["pair_id"] for r in rows}
    return dict(Counter(pairs.values()))


def test_default_caps_a_large_group(enriched, tmp_path):
    stdout, stats = _label(enriched, tmp_path / "capped")
    # 435 pairs of the big group: walked in the seeded order until 100 gave an example. 3 met on the way
    # have every metric within noise (all_tied) and stay in as dropped draws; the 332 after are the cap's.
    assert _labelled_pairs(tmp_path / "capped")["p99999:big"] == 100
    assert "over_group_cap 332" in stdout and stats["examples"]["dropped"] == {"all_tied": 3}, stdout
    assert "over_group_cap: eligible pairs left unlabelled because their group already had " \
           "max_pairs_per_group=100 pairs that give an example" in stdout
    # Still 100 of 111 pairs in this small dataset: said, with the cap in force and a smaller one.
    assert "1 of 12 groups make up 90% of the 111 pairs" in stdout, stdout
    assert "With max_pairs_per_group=100 now, set e.g. max_pairs_per_group=25" in stdout
    assert stats["run"]["config"]["max_pairs_per_group"] == 100


def test_uncapped_large_group_is_named_with_its_share_and_the_setting(enriched, tmp_path):
    stdout, stats = _label(enriched, tmp_path / "all", "max_pairs_per_group=0")
    # All 446 pairs are eligible; 13 of the big group's 435 have every metric within noise and give no
    # example. The note counts what the dataset holds: 422 of 433 labelled pairs.
    assert stats["pairs"]["eligible"] == 446 and stats["examples"]["dropped"] == {"all_tied": 13}
    per_group = _labelled_pairs(tmp_path / "all")
    assert per_group["p99999:big"] == 422 and sum(per_group.values()) == 433
    share = round(100 * 422 / 433)
    note = next((n for n in stats["input_notes"] if "groups make up" in n), None)
    assert note is not None, stats["input_notes"]
    assert f"1 of 12 groups make up {share}% of the 433 pairs" in note
    assert f"p99999:big 422 pairs ({share}%)" in note and "max_pairs_per_group=100" in note
    assert note in stdout


def test_an_output_of_the_old_cap_rule_is_not_silently_relabelled(enriched, tmp_path):
    """Before pairing_rules 2 the cap sampled all combinations: the same input and config now give other
    pairs where a group was capped, so such an output is refused like a config change (--overwrite
    replaces it). An old output with no capped group would come out the same and is rewritten."""
    out = tmp_path / "old"
    _label(enriched, out)
    stats_file = out / "stats.json"
    stats = json.loads(stats_file.read_text())
    assert stats["run"].pop("pairing_rules") == 2
    stats_file.write_text(json.dumps(stats))               # as the old rule's output recorded it
    before = (out / "labels.parquet").read_bytes()
    proc = subprocess.run([sys.executable, "-m", "hydra_ray.cli", "label", "--input", str(enriched),
                           "--output", str(out)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "pairing rules (pairing_rules: 1 → 2" in proc.stderr and "--overwrite" in proc.stderr, proc.stderr
    assert (out / "labels.parquet").read_bytes() == before
    stats["pairs"]["skipped"].pop("over_group_cap")        # an old output with no capped group
    stats_file.write_text(json.dumps(stats))
    _label(enriched, out)
    assert json.loads(stats_file.read_text())["run"]["pairing_rules"] == 2


def test_even_groups_or_few_groups_get_no_note():
    assert dominance_note([f"g{i}" for i in range(50) for _ in range(3)], 0) is None
    assert dominance_note(["a"] * 100 + ["b"], 0) is None      # two groups: any is a large share
