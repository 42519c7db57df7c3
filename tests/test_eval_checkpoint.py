"""evaluate's partial results (hydra_ray/evaluate/checkpoint.py): what a stopped run leaves, what a rerun takes."""
from __future__ import annotations

import json

import numpy as np

from hydra_ray.evaluate.checkpoint import FILENAME, Checkpoint


def test_a_line_cut_short_is_dropped_and_never_glued_to_the_next(tmp_path):
    first = Checkpoint(tmp_path, "fp")
    assert first.load() == {}
    first.add("t1", [{"cand_latency": np.float64(1.5), "sig_latency": np.bool_(True), "samples": np.array([1.0, 2.0])}])
    with open(tmp_path / FILENAME, "a") as f:
        f.write('{"task_id": "t2", "rows": [{"cand_lat')          # the stop came mid-write
    again = Checkpoint(tmp_path, "fp")
    done = again.load()
    assert done == {"t1": [{"cand_latency": 1.5, "sig_latency": True, "samples": [1.0, 2.0]}]}
    again.add("t2", [{"cand_latency": 2.5}])
    assert Checkpoint(tmp_path, "fp").load() == {**done, "t2": [{"cand_latency": 2.5}]}
    lines = (tmp_path / FILENAME).read_text().splitlines()
    assert [json.loads(line).get("task_id") for line in lines] == [None, "t1", "t2"]


def test_another_fingerprint_starts_over_and_says_so(tmp_path):
    said = []
    Checkpoint(tmp_path, "old").load()
    Checkpoint(tmp_path, "old").add("t1", [{"x": 1}])
    assert Checkpoint(tmp_path, "new", said.append).load() == {}
    assert "another configuration or other candidates; starting over" in said[0]
    assert Checkpoint(tmp_path, "new").load() == {} and Checkpoint(tmp_path, "old").load() == {}
    Checkpoint(tmp_path, "x").finish()
    assert not (tmp_path / FILENAME).exists()


def test_reproduce_evaluation_resumes_with_the_tasks_a_stopped_run_kept(tmp_path):
    """`hydra-ray reproduce` measures the patterns through the same checkpoint: a task kept by a stopped
    run with this configuration and these candidates is taken as kept (its rows, here marked, reach the
    report) and only the other task is measured; the file is gone once the report is written."""
    from hydra_ray.evaluate.optimizers import IdentityOptimizer, ReferenceOptimizer, openai_optimizer
    from hydra_ray.evaluate.prompts import PROMPT_CONFIGS
    from hydra_ray.evaluate.suites import load_tasks
    from hydra_ray.reproduce.evaluation import CombinedOptimizer, RecordedChatClient, evaluate_config, run_evaluation

    out = tmp_path / "evaluation"
    cfg = evaluate_config(["bubble_sort", "triangular_sum"], ["small"], 4, 100, out)
    tasks = load_tasks(cfg).tasks
    proposals = CombinedOptimizer([ReferenceOptimizer(), openai_optimizer(RecordedChatClient(), PROMPT_CONFIGS, 1),
                                   IdentityOptimizer()]).propose(tasks)
    first = run_evaluation(cfg, out, log=lambda s: None)["frame"]          # a whole run, for the row shape
    for name in ("rows.jsonl", "results.parquet"):                           # ... then as if it had stopped
        (out / name).unlink()
    kept_task = tasks[0].id
    marked = first[first["task_id"] == kept_task].to_dict("records")
    for row in marked:
        row["cand_latency"] = 12345.0                                       # could only come from the file
    Checkpoint.for_run(out, cfg, proposals).load()
    Checkpoint.for_run(out, cfg, proposals).add(kept_task, marked)
    said: list[str] = []
    df = run_evaluation(cfg, out, log=said.append)["frame"]
    assert any("resuming: 1 task(s)" in s for s in said) and any(f"{kept_task}: measured by the earlier run" in s
                                                               for s in said)
    assert (df[df["task_id"] == kept_task]["cand_latency"] == 12345.0).all()
    assert not (df[df["task_id"] == tasks[1].id]["cand_latency"] == 12345.0).any()
    assert not (out / FILENAME).exists()
    # A rerun of the finished reproduction measures nothing: every task is kept, the marked rows too.
    said.clear()
    df = run_evaluation(cfg, out, log=said.append)["frame"]
    assert any("already finished (2 task(s)" in s for s in said)
    assert not any("candidate(s)" in s for s in said)
    assert (df[df["task_id"] == kept_task]["cand_latency"] == 12345.0).all()
    # Its own scratch folder: another plan measures again rather than being refused.
    other = evaluate_config(["triangular_sum"], ["small"], 4, 100, out)
    said.clear()
    df = run_evaluation(other, out, log=said.append)["frame"]
    assert set(df["task_id"]) == {"patterns/triangular_sum"} and any("replacing" in s for s in said)


def test_a_finished_run_is_kept_and_another_refused_naming_what_changed(tmp_path):
    import pytest

    from hydra_ray.evaluate.checkpoint import FINISHED
    from hydra_ray.paths import OutputExistsError

    cfg = {"patterns": {"names": ["triangular_sum", "string_concat"]}, "measure": {"repeats": 4}}
    first = Checkpoint(tmp_path, "fp", config=cfg)
    first.load()
    first.add("t1", [{"x": 1}])
    first.add("t2", [{"x": 2}])
    first.finish()
    assert not (tmp_path / FILENAME).exists() and (tmp_path / FINISHED).exists()
    said: list[str] = []
    again = Checkpoint(tmp_path, "fp", said.append, config=cfg)
    assert again.load() == {"t1": [{"x": 1}], "t2": [{"x": 2}]}
    assert "already finished (2 task(s)" in said[0]
    again.finish()                                          # nothing was measured: the record stands
    assert Checkpoint(tmp_path, "fp", config=cfg).load() == {"t1": [{"x": 1}], "t2": [{"x": 2}]}

    fewer = {**cfg, "patterns": {"names": ["triangular_sum"]}}
    with pytest.raises(OutputExistsError) as e:
        Checkpoint(tmp_path, "other", config=fewer).load()
    assert "patterns.names: ['triangular_sum', 'string_concat'] → ['triangular_sum']" in str(e.value)
    assert "--overwrite" in str(e.value) and "another --output" in str(e.value)
    with pytest.raises(OutputExistsError, match="candidates"):   # same settings, other programs
        Checkpoint(tmp_path, "other", config=cfg).check()
    assert Checkpoint(tmp_path, "fp", config=cfg).load() != {}   # refusals touched nothing

    replaced = Checkpoint(tmp_path, "other", said.append, config=fewer, overwrite=True)
    assert replaced.load() == {} and not (tmp_path / FINISHED).exists()
    assert "replacing the finished evaluation" in said[-1]


def test_results_of_a_run_that_kept_no_record_are_not_replaced_unasked(tmp_path):
    import pytest

    from hydra_ray.paths import OutputExistsError

    (tmp_path / "results.parquet").write_bytes(b"")
    with pytest.raises(OutputExistsError, match="not recorded.*--overwrite"):
        Checkpoint(tmp_path, "fp").load()
    assert Checkpoint(tmp_path, "fp", overwrite=True).load() == {}


def test_evaluate_rerun_keeps_a_finished_output_and_refuses_other_settings(tmp_path):
    """The audit's case: a 2-task run, then the same command (nothing measured again), then one task into
    the same output (refused, exit 2, the 2-task results still there), then --overwrite."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import pandas as pd

    repo = Path(__file__).resolve().parents[1]
    out = tmp_path / "eval"

    def hydra(*extra, output=out):
        return subprocess.run([sys.executable, "-m", "hydra_ray", "evaluate", "--suite", "patterns", "--optimizer",
                               "reference", "--output", str(output), "patterns.sizes=[small]", "measure.repeats=4",
                               "stats.n_boot=100", "identity_baseline=false", *extra], capture_output=True,
                              text=True, cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)}, timeout=300)

    two = "patterns.names=[triangular_sum,string_concat]"
    assert hydra(two).returncode == 0
    tasks = set(pd.read_parquet(out / "results.parquet")["task_id"])
    again = hydra(two)
    assert again.returncode == 0 and "already finished (2 task(s)" in again.stderr
    assert "candidate(s)," not in again.stderr.split("already finished")[1]   # no task measured
    # A finished output moved elsewhere is the same run there: where it is written is not a setting.
    moved = tmp_path / "moved"
    shutil.copytree(out, moved)
    there = hydra(two, output=moved)
    assert there.returncode == 0 and "already finished (2 task(s)" in there.stderr, there.stderr
    one = hydra("patterns.names=[triangular_sum]")
    assert one.returncode == 2, one.stderr
    assert "patterns.names: ['triangular_sum', 'string_concat'] → ['triangular_sum']" in one.stderr
    assert set(pd.read_parquet(out / "results.parquet")["task_id"]) == tasks
    assert "string_concat" in (out / "config.yaml").read_text()
    assert hydra("patterns.names=[triangular_sum]", "--overwrite").returncode == 0
    assert set(pd.read_parquet(out / "results.parquet")["task_id"]) == {"patterns/triangular_sum"}
