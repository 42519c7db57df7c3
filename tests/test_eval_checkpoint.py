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
