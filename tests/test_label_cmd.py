"""``hydra-ray label`` end to end on a small enriched dataset built here.

The programs are real PIE submissions (shared/data/pie_python_pairs_cn.jsonl). The *measurements are
synthetic*, made up for this labeller test only (the lead's enrich→label test uses real ones):

* latency_ms: 20 ms start-up + 0.25 × the judge's cpu_time_ms, 7 repeats with 3 % log-normal noise;
* peak_memory_kb: the judge's memory_kb with 0.5 % noise; cpu_cycles: 2.5e6 × the noise-free latency,
  identical repeats (a deterministic, valgrind-like backend);
* throughput_per_s: 1000 / each latency sample; energy_j: 12 W × each latency sample (estimated).

``*_significant`` is filled as enrich would (compare_samples) for 2-candidate groups, null for the
3-candidate group so the labeller recomputes it. Special cases: one pair whose fast side fails
(wrong_answer), one pair whose two sides are measured from the same base (nothing significant: all
ties, dropped), one pair with no energy backend, one 3-candidate group for one problem.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hydra_ray.cli import main
from hydra_ray.enrich.rows import arrow_schema
from hydra_ray.metrics.names import METRIC_NAMES, METRICS
from hydra_ray.metrics.stats import compare_samples
from hydra_ray.prefs.dirichlet import region_of
from hydra_ray.prefs.labels import Labeler
from hydra_ray.prefs.prompt import extract_code

ROOT = Path(__file__).resolve().parents[1]
PIE = next((p for p in (ROOT.parent / "shared" / "data" / "pie_python_pairs_cn.jsonl",
                        Path("/work/shared/data/pie_python_pairs_cn.jsonl")) if p.is_file()), None)
pytestmark = pytest.mark.skipif(PIE is None, reason="shared/data/pie_python_pairs_cn.jsonl not found")

CONTRACT_COLUMNS = ["example_id", "pair_id", "problem_id", "prompt", "chosen", "rejected", "weights", "region",
                    "original_code", "code_a", "code_b", "chosen_side", "raw_a", "raw_b", "significant",
                    "norm_a", "norm_b", "reward_a", "reward_b"]
SAMPLES_PER_PAIR = 2


def _measure(cpu_ms: float, mem_kb: float, rng: np.random.Generator, *, energy: bool = True) -> dict:
    base = 20.0 + 0.25 * cpu_ms
    lat = base * np.exp(0.03 * rng.standard_normal(7))
    mem = mem_kb * (1 + 0.005 * rng.standard_normal(7))
    samples = {"latency_ms": lat, "peak_memory_kb": mem, "cpu_cycles": np.full(7, round(base * 2.5e6)),
               "throughput_per_s": 1000.0 / lat, "energy_j": 0.012 * lat}
    src = {"latency_ms": "wall_clock", "peak_memory_kb": "rusage", "cpu_cycles": "valgrind_instructions",
           "throughput_per_s": "wall_clock", "energy_j": "estimate_cpu_time_x_clock"}
    out = {}
    for m in METRICS:
        c = m.column
        have = energy or c != "energy_j"
        out[c] = float(np.median(samples[c])) if have else None
        out[f"{c}_samples"] = [float(x) for x in samples[c]] if have else None
        out[f"{c}_source"] = src[c] if have else "unavailable"
        out[f"{c}_estimated"] = c == "energy_j" if have else None
        out[f"{c}_n"] = 7 if have else 0
        out[f"{c}_spread"] = float(np.subtract(*np.percentile(samples[c], [75, 25]))) if have else None
        out[f"{c}_significant"] = None
    return out


def _row(pair_id, problem_id, cand, code, verdict, metrics, total=3):
    r = {"pair_id": pair_id, "problem_id": problem_id, "candidate": cand, "code": code, "verdict": verdict,
         "verdict_detail": "" if verdict == "passed" else "line 1: expected 7900, got 7901",
         "tests_passed": total if verdict == "passed" else total - 1, "tests_total": total,
         "node_id": "node-0", "cpu_model": "synthetic"}
    if verdict != "passed":  # enrich leaves every metric field null for a failed candidate
        metrics = {k: None for k in metrics}
    r.update(metrics)
    return r


def _mark_significance(a: dict, b: dict) -> None:
    for m in METRICS:
        c = m.column
        if a[f"{c}_samples"] and b[f"{c}_samples"]:
            a[f"{c}_significant"] = b[f"{c}_significant"] = compare_samples(a[f"{c}_samples"],
                                                                            b[f"{c}_samples"]).significant


def build_enriched(path: Path) -> dict:
    """Write ENRICHED_DIR/data/part-0.parquet; return facts the tests check against."""
    lines = [json.loads(line) for line in PIE.read_text().splitlines()]
    rng = np.random.default_rng(1234)
    rows, facts = [], {"normal": [], "failed": None, "tied": None, "no_energy": None, "group": None}
    for i, rec in enumerate(lines[:9]):
        pid, prob = rec["pair_id"], rec["problem_id"]
        s, f = rec["slow"], rec["fast"]
        tied, no_energy = i == 7, i == 8
        ms = _measure(s["cpu_time_ms"], s["memory_kb"], rng, energy=not no_energy)
        fbase = (s["cpu_time_ms"], s["memory_kb"]) if tied else (f["cpu_time_ms"], f["memory_kb"])
        mf = _measure(*fbase, rng, energy=not no_energy)
        verdict_fast = "wrong_answer" if i == 6 else "passed"
        a = _row(pid, prob, "slow", s["code"], "passed", ms)
        b = _row(pid, prob, "fast", f["code"], verdict_fast, mf)
        if verdict_fast == "passed":
            _mark_significance(a, b)
        rows += [a, b]
        key = "failed" if i == 6 else "tied" if tied else "no_energy" if no_energy else None
        if key:
            facts[key] = pid
        else:
            facts["normal"].append(pid)
    # one problem's several submissions as a 3-candidate group (significance left null)
    prob = "p03371"
    subs = {}
    for rec in lines:
        if rec["problem_id"] == prob:
            for side in ("slow", "fast"):
                subs.setdefault(rec[side]["submission_id"], rec[side])
    chosen = sorted(subs.values(), key=lambda s: -s["cpu_time_ms"])[:3]
    gid = f"{prob}:set"
    group = [_row(gid, prob, str(k), s["code"], "passed", _measure(s["cpu_time_ms"], s["memory_kb"], rng))
             for k, s in enumerate(chosen)]
    rows += group
    facts["group"] = gid
    facts["group_original"] = max(group, key=lambda r: r["latency_ms"])["code"]
    facts["rows"] = rows

    d = path / "data"
    d.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema()), d / "part-0.parquet")
    return facts


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    base = tmp_path_factory.mktemp("label")
    enriched, out = base / "enriched", base / "labelled"
    facts = build_enriched(enriched)
    # The real console entry point, as a user runs it.
    proc = subprocess.run([sys.executable, "-m", "hydra_ray.cli", "label", "--input", str(enriched),
                           "--output", str(out), "--jsonl", f"samples_per_pair={SAMPLES_PER_PAIR}"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return {"base": base, "enriched": enriched, "out": out, "facts": facts, "stdout": proc.stdout}


def test_writes_the_contract_files_and_columns(labelled):
    out = labelled["out"]
    for name in ("labels.parquet", "labels.jsonl", "labeler.json", "stats.json"):
        assert (out / name).is_file(), name
    table = pq.read_table(out / "labels.parquet")
    assert table.column_names == CONTRACT_COLUMNS
    assert table.schema.field("prompt").type == pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    assert [f.name for f in table.schema.field("raw_a").type] == list(METRIC_NAMES)
    jsonl = (out / "labels.jsonl").read_text().splitlines()
    assert len(jsonl) == table.num_rows > 0
    assert json.loads(jsonl[0])["example_id"] == table.column("example_id")[0].as_py()
    assert "wrote labels.parquet, labels.jsonl, labeler.json, stats.json" in labelled["stdout"]
    assert f"in {out}" in labelled["stdout"]
    assert "eligible pairs" in labelled["stdout"]


def test_rows_follow_the_labelling_rules(labelled):
    facts = labelled["facts"]
    rows = pq.read_table(labelled["out"] / "labels.parquet").to_pylist()
    pair_ids = {r["pair_id"] for r in rows}
    assert facts["failed"] not in pair_ids and facts["tied"] not in pair_ids
    assert set(facts["normal"]) <= pair_ids
    group_rows = [r for r in rows if r["pair_id"] == facts["group"]]
    assert {r["example_id"].rsplit("|", 1)[0] for r in group_rows} <= {
        f"{facts['group']}|0|1", f"{facts['group']}|0|2", f"{facts['group']}|1|2"}
    assert all(r["original_code"] == facts["group_original"] for r in group_rows)
    for r in rows:
        w = np.asarray(r["weights"])
        assert np.all(w >= 0) and w.sum() == pytest.approx(1.0)
        assert r["region"] == region_of(w, 0.5)
        chosen_code = r["code_a"] if r["chosen_side"] == "a" else r["code_b"]
        rejected_code = r["code_b"] if r["chosen_side"] == "a" else r["code_a"]
        assert extract_code(r["chosen"][0]["content"]) == chosen_code.rstrip()
        assert extract_code(r["rejected"][0]["content"]) == rejected_code.rstrip()
        assert (r["reward_a"] > r["reward_b"]) == (r["chosen_side"] == "a")
        user = r["prompt"][1]["content"]
        assert f"runtime {w[0]:.2f}, peak memory {w[1]:.2f}" in user
        assert extract_code(user) == r["original_code"].rstrip()
        if r["pair_id"] in facts["normal"]:
            assert r["original_code"] == r["code_a"]              # PIE: the slow program is the original
        if r["pair_id"] == facts["no_energy"]:
            assert r["raw_a"]["energy"] is None and r["norm_a"]["energy"] == r["norm_b"]["energy"] == 0.5


def test_stored_values_relabel_exactly(labelled):
    """Training re-labels from labels.parquet + labeler.json without re-measuring: same winner and rewards."""
    lab = Labeler.load(labelled["out"] / "labeler.json")
    for r in pq.read_table(labelled["out"] / "labels.parquet").to_pylist():
        res = lab.label(r["raw_a"], r["raw_b"], r["significant"], r["weights"])
        assert res.winner == r["chosen_side"]
        assert (res.reward_a, res.reward_b) == (r["reward_a"], r["reward_b"])
        one_hot = np.eye(len(METRIC_NAMES))[0]             # re-label under new weights: runtime only
        res = lab.label(r["raw_a"], r["raw_b"], r["significant"], one_hot)
        if res.winner is not None:
            faster = "a" if r["raw_a"]["latency"] < r["raw_b"]["latency"] else "b"
            assert res.winner == faster


def test_stats_and_plots(labelled):
    out, facts = labelled["out"], labelled["facts"]
    stats = json.loads((out / "stats.json").read_text())
    eligible = stats["pairs"]["eligible"]
    assert eligible == len(facts["normal"]) + 2 + 3          # normal + tied + no_energy + group of 3
    assert stats["pairs"]["skipped"] == {"wrong_answer": 1}
    ex = stats["examples"]
    assert ex["weight_draws"] == eligible * SAMPLES_PER_PAIR == ex["labelled"] + ex["dropped_total"]
    assert ex["dropped"].get("all_tied", 0) >= SAMPLES_PER_PAIR   # the pair measured from one base
    assert sum(stats["regions"]["labelled"].values()) == ex["labelled"]
    assert stats["coverage"]["energy"]["with_value"] == stats["coverage"]["latency"]["with_value"] - 2
    assert stats["coverage"]["cycles"]["sources"] == {"valgrind_instructions": stats["coverage"]["cycles"]["with_value"]}
    for m in METRIC_NAMES:
        fv = stats["fast_vs_slow"][m]
        assert fv["fast_better"] + fv["tie"] + fv["slow_better"] + fv["missing"] == fv["pairs"]
        sp = stats["speedup"][m]
        if sp["n"]:
            assert 0.1 <= sp["p10"] <= sp["median"] <= sp["p90"] <= 10
    assert stats["fast_vs_slow"]["latency"]["fast_better"] >= len(facts["normal"]) - 1
    assert stats["run"]["config"]["samples_per_pair"] == SAMPLES_PER_PAIR
    pngs = sorted(p.name for p in (out / "plots").glob("*.png"))
    assert pngs == ["fast_vs_slow.png", "metric_coverage.png", "regions.png", "speedup.png"]
    for p in (out / "plots").glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000


def test_output_is_never_silently_replaced(labelled, capsys):
    enriched, out = str(labelled["enriched"]), labelled["out"]
    before = (out / "labels.parquet").read_bytes()
    # same input, same config: an identical rerun is allowed and gives the same dataset
    assert main(["label", "--input", enriched, "--output", str(out), "--jsonl",
                 f"samples_per_pair={SAMPLES_PER_PAIR}"]) == 0
    assert pq.read_table(out / "labels.parquet").equals(pq.read_table(pa.BufferReader(before)))
    capsys.readouterr()
    # a different config is refused, naming what changed
    assert main(["label", "--input", enriched, "--output", str(out), "seed=1"]) == 2
    err = capsys.readouterr().err
    assert "--overwrite" in err and "seed" in err
    assert (out / "labels.parquet").read_bytes() == before
    # --overwrite replaces it; the stale JSONL of the old run goes too
    assert main(["label", "--input", enriched, "--output", str(out), "--overwrite", "seed=1"]) == 0
    assert not (out / "labels.jsonl").exists()
    assert json.loads((out / "stats.json").read_text())["run"]["config"]["seed"] == 1
    assert not [p for p in out.iterdir() if p.name.startswith(".label-tmp")]


def test_paper_normalisation_and_runtime_preset(labelled):
    out = labelled["base"] / "runtime"
    assert main(["label", "--input", str(labelled["enriched"]), "--output", str(out),
                 "--config", str(ROOT / "configs/label/runtime-focused.yaml"), "normalization=paper"]) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["labeler"]["normalizer"]["name"] == "paper"
    regions = stats["regions"]["labelled"]
    assert regions["latency"] >= max(v for k, v in regions.items() if k != "latency")
    lab = Labeler.load(out / "labeler.json")
    for r in pq.read_table(out / "labels.parquet").to_pylist():
        assert lab.label(r["raw_a"], r["raw_b"], r["significant"], r["weights"]).winner == r["chosen_side"]


def test_missing_input_says_what_was_expected(tmp_path, capsys):
    (tmp_path / "enriched").mkdir()
    assert main(["label", "--input", str(tmp_path / "enriched"), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "no Parquet files" in err and "hydra-ray enrich" in err
    assert not (tmp_path / "out").exists()
    assert main(["label", "--input", str(tmp_path / "enriched"), "--output", str(tmp_path / "out"),
                 "epsilon=-1"]) == 2
    assert "LabelConfig.epsilon" in capsys.readouterr().err


def test_an_output_path_that_is_a_file_is_refused_before_labelling(tmp_path):
    from hydra_ray.prefs.config import LabelConfig
    from hydra_ray.prefs.run import OutputExistsError, label_directory

    (tmp_path / "afile").write_text("not a folder\n")
    for out in (tmp_path / "afile", tmp_path / "afile" / "labelled"):
        with pytest.raises(OutputExistsError, match=r"afile is a file, not a folder"):
            label_directory(tmp_path / "no-enriched-data-needed", out, LabelConfig())


def test_label_says_when_its_input_is_unfinished_mixed_or_estimated(labelled, tmp_path):
    """An enriched folder without summary.json comes from an enrich run that did not finish; sets
    measured in different modes hold unlike memory/latency quantities; energy here is an estimate.
    label says each before its figures (stdout and stats.json), and marks estimated regions."""
    out = labelled["stdout"]
    assert "has no summary.json: the enrich run that wrote it did not finish" in out
    assert "estimated metrics" in out and "energy (" in out and "cycles (" not in out   # valgrind: measured
    assert "energy* " in out and "(* an estimated metric)" in out
    assert any("no summary.json" in n for n in json.loads((labelled["out"] / "stats.json").read_text())["input_notes"])

    enriched = tmp_path / "mixed"
    (enriched / "data").mkdir(parents=True)
    table = pq.read_table(labelled["enriched"] / "data" / "part-0.parquet")
    modes = ["process" if i < 4 else "inprocess" for i in range(table.num_rows)]   # the first 2 pairs
    table = table.set_column(table.schema.get_field_index("measure_mode"), "measure_mode", pa.array(modes))
    pq.write_table(table, enriched / "data" / "part-0.parquet")
    sets = len(set(table.column("pair_id").to_pylist()))
    (enriched / "summary.json").write_text(json.dumps({"sets_total": sets}))
    proc = subprocess.run([sys.executable, "-m", "hydra_ray.cli", "label", "--input", str(enriched),
                           "--output", str(tmp_path / "lab")], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "no summary.json" not in proc.stdout and "did not finish" not in proc.stdout
    assert f"measured in different modes (inprocess {sets - 2}, process 2 sets)" in proc.stdout

    (enriched / "summary.json").write_text(json.dumps({"sets_total": sets - 3}))   # a later run stopped
    proc = subprocess.run([sys.executable, "-m", "hydra_ray.cli", "label", "--input", str(enriched),
                           "--output", str(tmp_path / "lab2")], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert f"summary.json counts {sets - 3} sets but data/ holds {sets}" in proc.stdout
