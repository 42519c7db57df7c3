"""The evaluation loop, aggregates, report files, ``compare`` and the command line.

The profiler is not part of this work (``harness.measure_task`` is a stub), so the loop is driven by
``marked_measure``: a stand-in that reads the candidate's speed and memory factors from a marker
comment and returns repeat samples accordingly. Everything downstream of measurement is the real code.
"""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from hydra_ray.cli import main as cli_main
from hydra_ray.evaluate import aggregate
from hydra_ray.evaluate.compare import compare, paired_significant
from hydra_ray.evaluate.config import EvaluateConfig
from hydra_ray.evaluate.harness import Measurement, evaluate, measure_task, rows_to_frame
from hydra_ray.evaluate.optimizers import Candidate
from hydra_ray.evaluate.plots import pareto_front
from hydra_ray.evaluate.report import write_report
from hydra_ray.evaluate.tasks import Task, TestCase

SPREAD = [0.98, 0.99, 1.0, 1.01, 1.02]   # the same relative spread on both sides: median ratios are exact


def marked_measure(calls: list):
    """Stand-in profiler. Code carrying ``_m = "speed=S mem=M"`` runs S× faster and uses M× the memory of
    the original; ``_m = "fail=SIZE"`` fails at that size; ``_m = "fail"`` always fails. (A statement, not
    a comment: candidates that differ only in comments are one program, measured once.)"""
    def measure(task: Task, code: str, cfg) -> Measurement:
        calls.append((task.id, task.sizes, code))
        size = task.sizes[0] if task.sizes else 100
        m = re.search(r'_m = "(.*)"', code)
        opts = dict(kv.split("=") if "=" in kv else (kv, "all") for kv in m.group(1).split()) if m else {}
        if opts.get("fail") in ("all", str(size)):
            return Measurement("wrong_answer", "line 1 differs", 0, len(task.tests))
        speed, mem = float(opts.get("speed", 1)), float(opts.get("mem", 1))
        base_ms = 0.01 * size
        return Measurement("passed", "", len(task.tests), len(task.tests),
                           samples={"latency": [base_ms / speed * s for s in SPREAD],
                                    "memory": [9000.0 * mem * s for s in SPREAD]},
                           sources={"latency": "wall_clock", "memory": "rusage"})
    return measure


def make_tasks(n: int = 4, broken_original: bool = False) -> list[Task]:
    tasks = []
    for i in range(n):
        tests = [TestCase(f"{s}\n", f"{s}\n", s) for s in (10, 100, 1000)]
        orig = f"print(input())  # task {i}\n" + ('_m = "fail"\n' if broken_original and i == n - 1 else "")
        tasks.append(Task(f"t{i}", orig, None, tests, sizes=[10, 100, 1000], suite="unit",
                          meta={"size_labels": {"10": "small", "100": "medium", "1000": "large"}}))
    return tasks


class Scripted:
    """An optimiser whose candidates are given per task (a real Optimizer, just not a model)."""
    name = "scripted"

    def __init__(self, script):
        self.script = script

    def propose(self, tasks):
        return {t.id: [Candidate(cfg, i, None if code is None else t.original_code + code, w)
                       for cfg, i, code, w in self.script(t)] for t in tasks}


RUNTIME, MEMORY = (1.0, 0, 0, 0, 0), (0, 1.0, 0, 0, 0)


def script_a(task):
    k = int(task.id[1:])
    return [
        ("runtime/minimal", 0, '_m = "speed=1.5 mem=1.1"\n', RUNTIME),
        ("runtime/minimal", 1, '_m = "speed=3 mem=1.2"\n', RUNTIME),            # the better sample
        ("memory/minimal", 0, '_m = "speed=1.0 mem=0.5"\n' if k != 1 else '_m = "fail=10"\n', MEMORY),
        ("memory/minimal", 1, None, MEMORY),                                   # no code came back
    ]


@pytest.fixture()
def cfg():
    c = EvaluateConfig()
    c.stats.n_boot = 300
    return c


def test_loop_rows_dedup_and_verdicts(cfg):
    calls: list = []
    rows = evaluate(make_tasks(broken_original=True), Scripted(script_a), cfg, measure=marked_measure(calls))
    df = rows_to_frame(rows)
    assert len(df) == 4 * 3 * 4                       # tasks × sizes × candidates
    assert set(df["verdict"]) == {"passed", "no_code", "wrong_answer", "original_failed"}
    # Per task and size: the original once plus each distinct candidate code once (3), none for no_code;
    # the task whose original fails gets no candidate measured at all.
    assert len(calls) == 3 * 3 * (1 + 3) + 3 * 1
    ok = df[(df["verdict"] == "passed") & (df["size"] == 1000)]
    assert np.allclose(ok[ok["candidate"] == 1]["ratio_latency"][ok["config"] == "runtime/minimal"], 3.0)
    assert ok["sig_latency"][ok["config"] == "runtime/minimal"].all()
    assert (df[df["verdict"] == "no_code"]["ratio_latency"].isna()).all()


def test_aggregates(cfg):
    """4 tasks, task t3's original fails → 3 tasks count.
    runtime/minimal: best sample has speedup 3 on all 3 → correctness 1, %Opt 100, gmean 3.
    memory/minimal: t1's candidate fails at the smallest size (so it is wrong, though it passes at
    the largest) → 2/3 correct; speedup 1.0 → %Opt 0; gmean speedup with fallback = 1.
    Table II: tasks both configurations got right = {t0, t2} → N = 2; memory/minimal memory ratio
    = 9000 / 4500 = 2."""
    df = rows_to_frame(evaluate(make_tasks(broken_original=True), Scripted(script_a), cfg,
                                measure=marked_measure([])))
    summary = {s["config"]: s for s in aggregate.config_summary(df, cfg.stats)}
    rt, mem = summary["runtime/minimal"], summary["memory/minimal"]
    assert (rt["n_tasks"], rt["n_correct"], rt["n_original_failed"]) == (3, 3, 1)
    assert rt["correctness_rate"] == 1 and rt["pct_optimized"] == 100
    assert rt["gmean_speedup"] == pytest.approx(3.0) and rt["gmean_speedup_lo"] == pytest.approx(3.0)
    assert mem["n_correct"] == 2 and mem["correctness_rate"] == pytest.approx(2 / 3)
    assert mem["pct_optimized"] == 0 and mem["gmean_speedup"] == pytest.approx(1.0)
    assert mem["gmean_ratio_memory"] == pytest.approx(2.0)
    t2 = aggregate.table2(df, ["latency", "memory"]).set_index(["config", "metric"])
    assert (t2["N"] == 2).all()
    assert t2.loc[("memory/minimal", "memory"), "ratio"] == pytest.approx(2.0)
    assert t2.loc[("runtime/minimal", "latency"), "before"] == pytest.approx(10.0)   # 0.01 ms × 1000
    assert t2.loc[("runtime/minimal", "latency"), "after"] == pytest.approx(10.0 / 3)


def test_steerability_from_weight_vectors(cfg):
    """Hydra-style candidates at weights (1,0,…) and (0,1,…): the latency-weighted one is faster, the
    memory-weighted one leaner, on every task → ρ(w_latency, log speedup) = +1 over the observations."""
    def script(task):
        return [("w=1,0,0,0,0", 0, '_m = "speed=2 mem=1"\n', RUNTIME), ("w=0,1,0,0,0", 0, '_m = "speed=1 mem=0.5"\n', MEMORY)]
    df = rows_to_frame(evaluate(make_tasks(6), Scripted(script), cfg, measure=marked_measure([])))
    steer = {s["metric"]: s for s in aggregate.steer(df, cfg.stats)}
    assert steer["latency"]["spearman"] == pytest.approx(1.0) and steer["memory"]["spearman"] == pytest.approx(1.0)
    assert steer["latency"]["n_tasks"] == 6 and steer["latency"]["lo"] > 0


def test_pareto_front():
    """Minimising both: (1,1) is beaten by (0.5, 0.9); (0.4, 1.2) and (0.9, 0.5) are not beaten;
    (1.0, 0.6) is beaten by (0.9, 0.5)."""
    pts = [(1, 1), (0.5, 0.9), (0.4, 1.2), (0.9, 0.5), (1.0, 0.6)]
    assert pareto_front(pts) == [2, 1, 3]


def run_dir(tmp_path, name, script, cfg):
    df = rows_to_frame(evaluate(make_tasks(), Scripted(script), cfg, measure=marked_measure([])))
    out = tmp_path / name
    write_report(df, out, suite="unit", optimizer="scripted", stats_cfg=cfg.stats, config=cfg.to_dict(),
                 split={"path": "s.txt", "sha256": "ab" * 32, "n_problems": 3})
    return out


def test_report_files(tmp_path, cfg):
    out = run_dir(tmp_path, "a", script_a, cfg)
    for f in ("results.parquet", "table.md", "table.csv", "table2.csv", "summary.json", "pareto.png", "sizes.png"):
        assert (out / f).is_file() and (out / f).stat().st_size > 0, f
    md = (out / "table.md").read_text()
    assert "latency original (ms)" in md and "memory optimised (KB)" in md and "Table II" in md
    assert "latency gmean" in md and "mean over tasks of each task's before/after" in md
    # Fig. 3 layout (minimal prompts) only: the script has no detailed configuration.
    assert (out / "pareto_minimal.png").stat().st_size > 0 and not (out / "pareto_detailed.png").exists()
    # A figure an earlier report in this folder drew (as after --overwrite) goes: this run does not draw it.
    (out / "pareto_detailed.png").write_bytes(b"an earlier run's figure")
    write_report(pd.read_parquet(out / "results.parquet"), out, suite="unit", optimizer="scripted",
                 stats_cfg=cfg.stats, config=cfg.to_dict(), split={"path": "s.txt", "sha256": "ab" * 32, "n_problems": 3})
    assert not (out / "pareto_detailed.png").exists() and (out / "pareto_minimal.png").is_file()
    assert re.search(r"\| t0 \| runtime/minimal \| passed \| 10 \| 3\.333 \| 3×\* \[2\.9\d*, 3\.\d+\]", md)
    assert "| t1 | memory/minimal | wrong_answer@10 |" in md   # failed at the small size only
    assert "latency before (ms)" in md and "memory after (KB)" in md
    t3 = pd.read_csv(out / "table.csv")
    assert len(t3) == 4 * 2 and {"program", "config", "latency original (ms)", "latency ratio"} <= set(t3.columns)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["split"]["sha256"] == "ab" * 32 and summary["metrics"] == ["latency", "memory"]
    assert {c["config"] for c in summary["configs"]} == {"runtime/minimal", "memory/minimal"}
    assert pd.read_parquet(out / "results.parquet").shape[0] == 4 * 3 * 4


def test_compare_runs_and_cli(tmp_path, cfg):
    """Run B's runtime candidates are 6× instead of 3× faster → paired B/A speedup = 2 on all tasks."""
    def script_b(task):
        return [(c, i, code.replace("speed=3", "speed=6") if code else code, w) for c, i, code, w in script_a(task)]
    a, b = run_dir(tmp_path, "a", script_a, cfg), run_dir(tmp_path, "b", script_b, cfg)
    result = compare(a, b, n_boot=200)
    rows = {r["config"]: r for r in result.rows}
    assert rows["runtime/minimal"]["paired_b_over_a"] == pytest.approx(2.0)
    assert rows["runtime/minimal"]["n_common_correct"] == 4 and paired_significant(rows["runtime/minimal"])
    assert rows["memory/minimal"]["paired_b_over_a"] == pytest.approx(1.0)
    assert result.warnings == []
    assert cli_main(["evaluate", "compare", str(a), str(b), "--output", str(tmp_path / "cmp")]) == 0
    table = (tmp_path / "cmp" / "compare.md").read_text()
    assert "| runtime/minimal | 100.0% | 100.0% |" in table, table   # rates as the summary shows them
    assert cli_main(["evaluate", "compare", str(a)]) == 2


def test_measure_task_verifies_then_measures_in_the_sandbox():
    from hydra_ray.evaluate.suites.patterns import load_pattern
    from hydra_ray.metrics.names import METRIC_NAMES

    task = load_pattern("triangular_sum", sizes=["small"])
    small = task.at_size(task.sizes[0])
    cfg = EvaluateConfig()
    good = measure_task(small, task.better_code, cfg)
    assert good.verdict == "passed" and good.tests_passed == good.tests_total > 0
    assert set(good.samples) == set(METRIC_NAMES) and all(len(v) >= 4 for v in good.samples.values())
    assert good.sources["latency"] == "wall_clock"
    assert good.estimated["energy"] == (good.sources["energy"] != "rapl")
    wrong = measure_task(small, "print(42)\n", cfg)
    assert wrong.verdict == "wrong_answer" and not wrong.samples


def test_cli_dry_run_and_stubbed_measurement(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["evaluate", "--suite", "patterns", "--optimizer", "reference", "--output", str(out),
            "patterns.names=[triangular_sum, bubble_sort]", "patterns.sizes=[small]"]
    assert cli_main(args + ["--dry-run"]) == 0
    cands = [json.loads(line) for line in (out / "candidates.jsonl").open()]
    ref = [c for c in cands if c["config"] == "reference"]
    assert [c["task_id"] for c in ref] == ["patterns/triangular_sum", "patterns/bubble_sort"]
    assert all(c["code"] for c in ref)
    # the noise floor is always reported beside the optimiser
    assert sorted(c["task_id"] for c in cands if c["config"] == "identity") == sorted(c["task_id"] for c in ref)
    assert "suite: patterns" in (out / "config.yaml").read_text()
    assert cli_main(args + ["measure.repeats=4"]) == 0     # real sandboxed measurement
    summary = json.loads((out / "summary.json").read_text())
    assert {c["config"] for c in summary["configs"]} == {"reference", "identity"}
    assert all(c["correctness_rate"] == 1.0 for c in summary["configs"])
    assert "Estimated" in (out / "table.md").read_text() or not summary["estimated_metrics"]
    assert cli_main(["evaluate", "--suite", "patterns", "--output", str(out), "stats.nboot=5"]) == 2


def test_table2_ratio_is_the_mean_of_task_ratios():
    """The paper's Table II ratio is the mean over tasks of each task's before/after, not the ratio of the
    means. Two tasks, latency before 10 and 20, after 5 and 20: per-task ratios 2 and 1 →
    ratio = (2 + 1)/2 = 1.5, gmean = √(2·1) ≈ 1.414, ratio of means = 15 / 12.5 = 1.2.
    Throughput (higher is better) is after/before: 10→20 and 10→5 give 2 and 0.5 → ratio 1.25, gmean 1."""
    rows = []
    for t, (lb, la, tb, ta) in enumerate([(10, 5, 10, 20), (20, 20, 10, 5)]):
        rows.append({"task_id": f"t{t}", "config": "runtime/minimal", "candidate": 0, "correct": True,
                     "verdict": "passed", "size": np.nan, "is_final": True, "orig_verdict": "passed",
                     "weights": [1.0, 0, 0, 0, 0], "orig_latency": lb, "cand_latency": la,
                     "ratio_latency": lb / la, "orig_throughput": tb, "cand_throughput": ta,
                     "ratio_throughput": ta / tb})
    t2 = aggregate.table2(pd.DataFrame(rows), ["latency", "throughput"]).set_index("metric")
    assert t2.loc["latency", "ratio"] == pytest.approx(1.5)
    assert t2.loc["latency", "gmean_ratio"] == pytest.approx(2 ** 0.5)
    assert t2.loc["latency", "ratio_of_means"] == pytest.approx(15 / 12.5)
    assert t2.loc["throughput", "ratio"] == pytest.approx(1.25)
    assert t2.loc["throughput", "gmean_ratio"] == pytest.approx(1.0)
    assert (t2["N"] == 2).all() and (t2["n_ratio"] == 2).all()


def test_table2_before_is_a_shared_averaged_baseline():
    """The paper's caption: "before values use a shared averaged baseline". The original is measured beside
    each configuration's candidate, so task t0's original reads 10 ms beside A's and 14 ms beside B's; its
    shared baseline is (10 + 14)/2 = 12, t1's is (20 + 20)/2 = 20, and before = (12 + 20)/2 = 16 in BOTH
    rows. The ratio stays within each pair: A: 10/5 = 2 and 20/10 = 2 → 2; B: 14/7 = 2 and 20/20 = 1 → 1.5.
    before_paired is each configuration's own originals: A (10 + 20)/2 = 15, B (14 + 20)/2 = 17.
    ratio_of_means = before / after: A 16 / 7.5, B 16 / 13.5."""
    rows = []
    for config, pairs in [("A", [(10, 5), (20, 10)]), ("B", [(14, 7), (20, 20)])]:
        for t, (before, after) in enumerate(pairs):
            rows.append({"task_id": f"t{t}", "config": config, "candidate": 0, "correct": True,
                         "verdict": "passed", "size": np.nan, "is_final": True, "orig_verdict": "passed",
                         "weights": [1.0, 0, 0, 0, 0], "orig_latency": before, "cand_latency": after,
                         "ratio_latency": before / after})
    t2 = aggregate.table2(pd.DataFrame(rows), ["latency"]).set_index("config")
    assert t2.loc["A", "before"] == pytest.approx(16) and t2.loc["B", "before"] == pytest.approx(16)
    assert t2.loc["A", "before_paired"] == pytest.approx(15) and t2.loc["B", "before_paired"] == pytest.approx(17)
    assert t2.loc["A", "ratio"] == pytest.approx(2.0) and t2.loc["B", "ratio"] == pytest.approx(1.5)
    assert t2.loc["A", "ratio_of_means"] == pytest.approx(16 / 7.5)
    assert t2.loc["B", "ratio_of_means"] == pytest.approx(16 / 13.5)


def test_compare_says_when_runs_are_not_comparable_and_writes_valid_json(tmp_path, cfg):
    """Another measurement mode, another task set, one common task (no interval) or none (null, not NaN)."""
    import shutil

    a = run_dir(tmp_path, "a", script_a, cfg)
    df = pd.read_parquet(a / "results.parquet")
    one = tmp_path / "one"
    shutil.copytree(a, one)
    first = sorted(df["task_id"])[0]
    df[df["task_id"] == first].assign(measure_mode="process").to_parquet(one / "results.parquet")
    result = compare(a, one, n_boot=200)
    assert any("different measurement modes" in w and "process" in w for w in result.warnings), result.warnings
    assert any(f"A has {df['task_id'].nunique()}, B has 1, 1 in common" in w for w in result.warnings)
    row = {r["config"]: r for r in result.rows}["runtime/minimal"]
    assert row["n_common_correct"] == 1 and row["paired_lo"] is None and row["paired_hi"] is None
    assert "(one task: no interval)" in result.markdown and "[2." not in result.markdown

    none = tmp_path / "none"
    shutil.copytree(a, none)
    df.assign(task_id=df["task_id"] + "-other").to_parquet(none / "results.parquet")
    assert cli_main(["evaluate", "compare", str(a), str(none), "--output", str(tmp_path / "cmp")]) == 0
    def no_nan(c):
        raise AssertionError(f"compare.json holds {c}: not valid JSON")
    saved = json.loads((tmp_path / "cmp" / "compare.json").read_text(), parse_constant=no_nan)
    assert all(r["paired_b_over_a"] is None for r in saved["rows"])
    assert any("no task both runs got right" in w for w in saved["warnings"])
    assert "no common task" in (tmp_path / "cmp" / "compare.md").read_text()


def test_one_task_gets_no_interval_over_tasks():
    """A bootstrap over one task's speed-up prints [x, x], as if certain: say there is no interval."""
    from hydra_ray.evaluate.report import _over_tasks

    one = {"n_tasks": 1, "gmean_speedup": 1.22, "gmean_speedup_lo": 1.22, "gmean_speedup_hi": 1.22}
    assert _over_tasks(one) == "1.22 (one task: no interval)"
    assert _over_tasks({**one, "n_tasks": 3, "gmean_speedup_lo": 1.1, "gmean_speedup_hi": 1.3}) == "1.22 [1.1, 1.3]"


def test_the_csv_tables_say_which_metrics_are_estimates(tmp_path):
    """A real run: cycles (without perf counters) and energy (always cycles × a constant) are estimates.
    table.md and summary.json said so; table.csv and table2.csv now do too, in columns after theirs."""
    out = tmp_path / "eval"
    assert cli_main(["evaluate", "--suite", "patterns", "--optimizer", "reference", "--output", str(out),
                     "patterns.names=[triangular_sum]", "patterns.sizes=[small]", "measure.repeats=4",
                     "stats.n_boot=100"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    metrics, estimated = summary["metrics"], summary["estimated_metrics"]
    assert "energy" in estimated and "latency" not in estimated, estimated
    t3 = pd.read_csv(out / "table.csv")
    flags = [f"{m} estimated" for m in metrics]
    assert list(t3.columns[-len(metrics):]) == flags   # appended: the columns before keep their places
    assert list(t3.columns[:4]) == ["program", "config", "verdict", "size"]
    for m in metrics:
        assert t3[f"{m} estimated"].tolist() == [m in estimated] * len(t3), (m, t3[f"{m} estimated"])
    t2 = pd.read_csv(out / "table2.csv")
    assert list(t2.columns) == [*aggregate.TABLE2_COLUMNS[:-1], "estimated"]
    assert {(r["metric"], bool(r["estimated"])) for _, r in t2.iterrows()} == {(m, m in estimated) for m in metrics}
    assert len(t2) == len(metrics) * 2   # reference and identity
