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
    from hydra_ray.config import dump_config
    from hydra_ray.evaluate.checkpoint import run_fingerprint
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
    kept_task = tasks[0].id
    marked = first[first["task_id"] == kept_task].to_dict("records")
    for row in marked:
        row["cand_latency"] = 12345.0                                       # could only come from the file
    Checkpoint(out, run_fingerprint(dump_config(cfg), proposals)).load()
    Checkpoint(out, run_fingerprint(dump_config(cfg), proposals)).add(kept_task, marked)
    said: list[str] = []
    df = run_evaluation(cfg, out, log=said.append)["frame"]
    assert any("resuming: 1 task(s)" in s for s in said) and any(f"{kept_task}: measured by the earlier run" in s
                                                               for s in said)
    assert (df[df["task_id"] == kept_task]["cand_latency"] == 12345.0).all()
    assert not (df[df["task_id"] == tasks[1].id]["cand_latency"] == 12345.0).any()
    assert not (out / FILENAME).exists()
