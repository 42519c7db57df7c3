"""Suites other than patterns: PIE held-out split, PIE pair files as suites, HumanEval, users' JSONL."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hydra_ray.evaluate.config import EvaluateConfig
from hydra_ray.evaluate.suites import load_tasks
from hydra_ray.evaluate.suites.humaneval import load_humaneval
from hydra_ray.evaluate.suites.jsonl import SuiteFormatError, load_jsonl_suite
from hydra_ray.evaluate.suites.pie import (DEFAULT_SPLIT, SplitError, SplitOverlapError, check_disjoint,
                                           hash_holdout, load_pairs, load_split, split_hash)

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
PAIRS_CN = DATA / "pie_python_pairs_cn.jsonl"
PAIRS = DATA / "pie_python_pairs.jsonl"
HUMANEVAL = DATA / "HumanEval.jsonl.gz"
needs_data = pytest.mark.skipif(not PAIRS_CN.is_file(), reason="shared data not present at ../shared/data")


def run(code: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], input=stdin, capture_output=True, text=True, timeout=60)


# ---- held-out split -----------------------------------------------------------------------------

def test_shipped_split_matches_its_rule_and_hash():
    split = load_split(DEFAULT_SPLIT)
    header = DEFAULT_SPLIT.read_text()
    assert split.sha256 in header                     # the hash written in the file is the ids' hash
    assert 20 <= len(split.problem_ids) <= 80
    assert split.record() == {"path": str(DEFAULT_SPLIT), "sha256": split.sha256,
                              "n_problems": len(split.problem_ids)}


def test_txt_and_json_forms_share_the_hash(tmp_path):
    ids = ["p02000", "p01000", "p03000"]
    (tmp_path / "s.txt").write_text("# comment\np02000\np01000  # inline\n\np03000\n")
    (tmp_path / "s.json").write_text(json.dumps({"problem_ids": ids, "sha256": split_hash(ids)}))
    a, b = load_split(tmp_path / "s.txt"), load_split(tmp_path / "s.json")
    assert a.problem_ids == b.problem_ids == frozenset(ids) and a.sha256 == b.sha256
    (tmp_path / "bad.json").write_text(json.dumps({"problem_ids": ids, "sha256": "0" * 64}))
    with pytest.raises(SplitError, match="does not match"):
        load_split(tmp_path / "bad.json")
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(SplitError, match="no problem ids"):
        load_split(tmp_path / "empty.txt")


def test_check_disjoint_names_the_shared_ids(tmp_path):
    (tmp_path / "s.txt").write_text("p1\np2\np3\n")
    split = load_split(tmp_path / "s.txt")
    check_disjoint(["p4", "p5"], split)               # disjoint: no error
    with pytest.raises(SplitOverlapError) as info:
        check_disjoint(["p9", "p3", "p1", "p3"], split)
    assert info.value.shared == ["p1", "p3"]
    assert "p1, p3" in str(info.value) and split.sha256[:12] in str(info.value)


def test_hash_holdout_is_stable_and_near_the_fraction():
    ids = [f"p{i:05d}" for i in range(2000)]
    held = hash_holdout(ids, 0.2)
    assert held == hash_holdout(reversed(ids), 0.2)   # order-free
    assert 0.17 < len(held) / len(ids) < 0.23
    assert set(hash_holdout(ids, 0.1)) <= set(held)   # nested: a smaller fraction is a subset


@needs_data
def test_pie_heldout_suite_only_has_held_out_problems():
    cfg = EvaluateConfig(suite="pie-heldout")
    cfg.pie.path = str(PAIRS_CN)
    cfg.pie.split = str(DEFAULT_SPLIT)
    loaded = load_tasks(cfg)
    split = load_split(DEFAULT_SPLIT)
    assert loaded.split["sha256"] == split.sha256
    pids = [t.meta["problem_id"] for t in loaded.tasks]
    assert pids and set(pids) <= split.problem_ids
    assert len(pids) == len(set(pids))                # max_pairs_per_problem = 1 by default
    all_pids = {json.loads(line)["problem_id"] for line in PAIRS_CN.open()}
    with pytest.raises(SplitOverlapError):            # training on the whole file would be caught
        check_disjoint(all_pids, split)
    check_disjoint(all_pids - split.problem_ids, split)


@needs_data
def test_pie_pair_file_is_a_suite_as_it_is():
    tasks = load_jsonl_suite(PAIRS)
    assert len(tasks) == sum(1 for line in PAIRS.open() if line.strip())
    first = json.loads(PAIRS.open().readline())
    t = tasks[0]
    assert t.id == first["pair_id"] and t.original_code == first["slow"]["code"]
    assert t.better_code == first["fast"]["code"] and t.tests[0].input == first["tests"][0]["input"]
    tol = [t for t in load_pairs(PAIRS_CN) if t.compare == "float_tol"]
    assert len(tol) == 14                             # the README's count of float-tolerance pairs


@needs_data
def test_pie_pair_programs_pass_their_tests():
    """Both sides of a verified pair really produce the expected output on its first test."""
    task = next(iter(load_pairs(PAIRS_CN, max_tasks=1)))
    for code in (task.original_code, task.better_code):
        r = run(code, task.tests[0].input)
        assert r.stdout.split() == task.tests[0].expected.split()


# ---- HumanEval ----------------------------------------------------------------------------------

@needs_data
def test_humaneval_tasks_run_their_check():
    tasks = list(load_humaneval(HUMANEVAL))
    assert len(tasks) == 164 and len({t.id for t in tasks}) == 164
    t = tasks[0]
    assert t.better_code is None and t.tests[0].input == "" and t.tests[0].expected == ""
    assert t.harness_suffix.rstrip().endswith(f"check({t.meta['entry_point']})")
    for t in tasks[:3]:
        r = run(t.runnable(t.original_code))
        assert r.returncode == 0 and r.stdout == "", r.stderr[-300:]
    # A wrong function fails the task's own assertions.
    broken = t.meta["prompt"] + "    return None\n"
    assert run(t.runnable(broken)).returncode != 0


# ---- users' JSONL suites ----------------------------------------------------------------------

GOOD = {"id": "sq", "original_code": "n=int(input())\nprint(sum(i*i for i in range(n)))\n",
        "tests": [{"input": "3\n", "expected": "5\n", "size": 3}, {"input": "10\n", "expected": "285\n", "size": 10}],
        "sizes": [10, 3], "better_code": "n=int(input())\nprint((n-1)*n*(2*n-1)//6)\n"}


def write_lines(path: Path, objs) -> Path:
    path.write_text("".join((o if isinstance(o, str) else json.dumps(o)) + "\n" for o in objs))
    return path


def test_jsonl_suite_loads(tmp_path):
    minimal = {"id": "m", "original_code": "print(1)\n", "tests": [{"input": "", "expected": "1\n"}]}
    tasks = load_jsonl_suite(write_lines(tmp_path / "mine.jsonl", [GOOD, "", minimal]))
    assert [t.id for t in tasks] == ["sq", "m"]
    assert tasks[0].sizes == (3, 10) and tasks[0].at_size(10).tests[0].expected == "285\n"
    assert tasks[1].better_code is None and tasks[1].sizes is None and tasks[0].suite == "mine"
    for t in tasks[0].tests:                          # the record's own tests hold for both programs
        for code in (tasks[0].original_code, tasks[0].better_code):
            assert run(code, t.input).stdout == t.expected


def test_jsonl_errors_name_their_lines(tmp_path):
    objs = [
        GOOD,
        "{not json",
        {"id": "", "original_code": "x", "tests": []},
        {"id": "b", "original_code": "print(1)", "tests": [{"input": 1, "expected": "1"}], "colour": "red"},
        {"id": "c", "original_code": "print(1)", "tests": [{"input": "", "expected": "1"}], "sizes": [5]},
        dict(GOOD),                                   # duplicate id
    ]
    with pytest.raises(SuiteFormatError) as info:
        load_jsonl_suite(write_lines(tmp_path / "bad.jsonl", objs))
    msg = str(info.value)
    assert "line 2: not valid JSON" in msg
    assert "line 3: field 'id'" in msg and "line 3: field 'tests'" in msg
    assert "line 4: tests[0].input: expected a string" in msg and "line 4: unknown field 'colour'" in msg
    assert "line 5: field 'sizes': no test has size [5]" in msg
    assert "line 6: id 'sq' already used on line 1" in msg
    assert not any("line 1:" in p for p in info.value.problems)


# ---- Task and configuration ------------------------------------------------------------------

def test_task_validation_and_helpers():
    from hydra_ray.evaluate.tasks import Task, TestCase

    t = Task("x", "print(1)\n", None, [TestCase("", "1\n", 5), TestCase("", "1\n", 50)], sizes=[50, 5],
             harness_suffix="check(f)\n")
    assert t.sizes == (5, 50) and t.largest_size == 50 and t.at_size(5).tests == (TestCase("", "1\n", 5),)
    assert t.runnable("def f(): pass\n\n\n") == "def f(): pass\n\ncheck(f)\n"
    with pytest.raises(KeyError, match="no input size 7"):
        t.at_size(7)
    with pytest.raises(ValueError, match="tests: expected at least one"):
        Task("y", "print(1)", None, [])
    with pytest.raises(ValueError, match="no test case has size"):
        Task("z", "print(1)", None, [TestCase("", "")], sizes=[3])


def test_evaluate_config_reports_every_problem():
    from hydra_ray.config import ConfigError, load_config

    with pytest.raises(ConfigError) as info:
        load_config(EvaluateConfig, None, ["optimizer=gpt", "prompts=[runtime/short]", "weights=[[0.5, 0.5]]"])
    msg = str(info.value)
    for needle in ("optimizer", "prompts[]", "weights[0]"):
        assert needle in msg, needle
    with pytest.raises(ConfigError, match=r"sizes\[\]: expected one of"):
        load_config(EvaluateConfig, None, ["patterns.sizes=[huge]"])
    cfg = load_config(EvaluateConfig, REPO / "configs" / "evaluate" / "hydra_steer.yaml")
    assert len(cfg.weight_vectors()) == 7 and cfg.openai.api_key_env == ""
    assert len(EvaluateConfig().weight_vectors()) == 6   # each metric alone, plus uniform


def test_a_misspelt_pattern_or_suite_is_a_config_error_with_a_suggestion(tmp_path):
    """A ValueError (the command's "bad input", exit 2) naming the field and the closest known name."""
    from hydra_ray.config import from_dict
    from hydra_ray.evaluate.config import EvaluateConfig
    from hydra_ray.evaluate.suites import load_tasks

    cfg = from_dict(EvaluateConfig, {"suite": "patterns", "patterns": {"names": ["bubblesort"]}})
    with pytest.raises(ValueError, match=r"patterns.names: unknown pattern 'bubblesort' \(did you mean 'bubble_sort'\?\)"):
        load_tasks(cfg)
    with pytest.raises(ValueError, match=r"got '.*pattern' \(did you mean 'patterns'\?\)"):
        load_tasks(from_dict(EvaluateConfig, {"suite": str(tmp_path / "pattern")}))
