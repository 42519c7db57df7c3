"""Enrichment on real programs and a real Ray: rejects, measurement, resume, multi-node placement."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from hydra_ray.config import from_dict
from hydra_ray.data.loaders import load_program_sets
from hydra_ray.data.programs import program_key
from hydra_ray.data.schema import Candidate, ProgramSet, TestCase
from hydra_ray.enrich.config import EnrichConfig
from hydra_ray.enrich.pipeline import run_enrich
from hydra_ray.metrics.profiler import ProfileConfig, Profiler

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "hydra_ray" / "sample_data" / "pie_sample.jsonl"
QUICK = {"profile": {"warmup": 0, "repeats": 4, "throughput_bursts": 4,
                     "remeasure_unsteady": 0,   # these tests are not about timing: never time a set twice
                     "extra_repeats": 2,        # ... and a second look at an inconclusive pair stays short
                     "sandbox": {"wall_time_s": 5, "cpu_time_s": 5}},
         "ray": {"include_dashboard": False}}


def sample_lines(n: int, start: int = 0) -> list[str]:
    return SAMPLE.read_text().splitlines()[start:start + n]


def test_bad_records_become_rejected_rows_with_reasons(tmp_path):
    good = json.loads(sample_lines(1)[0])
    py2 = dict(good, pair_id="py2", slow=dict(good["slow"], code="print 'hello'\n"),
               fast=dict(good["fast"], code="print 'hi'\n"))
    lines = [
        json.dumps(good).encode(),
        json.dumps(good).encode(),                                     # duplicate id
        json.dumps({k: v for k, v in good.items() if k != "tests"} | {"pair_id": "nt"}).encode(),
        json.dumps(dict(good, pair_id="empty", tests=[])).encode(),    # no tests
        json.dumps(py2).encode(),                                      # Python 2 syntax
        b'{"pair_id": "bad-utf8", "code": "\xff\xfe"}',                 # invalid UTF-8
        b'{"pair_id": "truncated", ',                                  # invalid JSON
        json.dumps({"id": "one", "candidates": ["print(1)"], "tests": [{"input": "", "expected": "1"}]}).encode(),
        json.dumps(dict(good, pair_id=123)).encode(),                  # an id that is not a string
    ]
    f = tmp_path / "messy.jsonl"
    f.write_bytes(b"\n".join(lines) + b"\n")
    res = load_program_sets(f)
    assert [r.pair_id for r in res.records] == [good["pair_id"]]
    counts = res.reject_counts()
    assert counts == {"duplicate_id": 1, "missing_field": 1, "no_tests": 1, "syntax_error": 2,
                      "invalid_utf8": 1, "invalid_json": 1, "too_few_candidates": 1, "bad_field": 1}
    assert [r.detail for r in res.rejected if r.reason.value == "bad_field"] == ["'pair_id' must be a string, got int 123"]
    py2_rejects = [r for r in res.rejected if r.reason.value == "syntax_error"]
    assert all("Python 2" in r.detail for r in py2_rejects)
    assert all(":" in r.source for r in res.rejected)  # file:line, so a user can find it


def test_generic_and_problem_set_formats(tmp_path):
    f = tmp_path / "generic.jsonl"
    f.write_text(json.dumps({"id": "g1", "candidates": [{"name": "loop", "code": "print(sum(range(int(input()))))"},
                                                        "n=int(input())\nprint(n*(n-1)//2)"],
                             "tests": [{"input": "10\n", "expected": "45\n"}], "float_tol": 1e-6}) + "\n")
    (rec,) = load_program_sets(f).records
    assert [c.name for c in rec.candidates] == ["loop", "1"] and rec.float_tol == 1e-6



def test_float_tol_and_candidate_names_are_checked_per_record(tmp_path):
    """A float_tol that is not a number >= 0 and two candidates of one name are rejected with the
    record's file:line; a bad float_tol used to raise (and, under enrich, stop the whole run)."""
    tests = [{"input": "", "expected": "1\n"}]
    base = {"candidates": ["print(1)", "print(2-1)"], "tests": tests}
    records = [dict(base, id="ok", float_tol="1e-6"), dict(base, id="word", float_tol="abc"),
               dict(base, id="list", float_tol=[1]), dict(base, id="bool", float_tol=True),
               dict(base, id="neg", float_tol=-1), dict(base, id="nan", float_tol="nan"),
               dict(base, id="same", candidates=[{"name": "a", "code": "print(1)"}, {"name": "a", "code": "print(2-1)"}])]
    f = tmp_path / "user.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in records))
    res = load_program_sets(f)
    assert [(r.pair_id, r.float_tol) for r in res.records] == [("ok", 1e-6)]
    bad = {r.record_id: (r.source, r.reason.value, r.detail) for r in res.rejected}
    assert sorted(bad) == ["bool", "list", "nan", "neg", "same", "word"]
    assert bad["word"][:2] == ("user.jsonl:2", "bad_field") and "'float_tol' must be a number >= 0" in bad["word"][2]
    assert "candidates[1] is named 'a', as candidates[0] is" in bad["same"][2]

@pytest.fixture(scope="module")
def profiler():
    return Profiler(from_dict(ProfileConfig, {"warmup": 1, "repeats": 5, "throughput_bursts": 5}))


def test_known_slower_program_measures_slower_on_latency_and_cycles(profiler):
    slow = "n = int(input())\ns = 0\nfor i in range(n):\n    for j in range(n):\n        s += i * j\nprint(s)\n"
    fast = "n = int(input())\nt = n * (n - 1) // 2\nprint(t * t)\n"
    slow_res, fast_res = profiler.profile(ProgramSet("p", "p", [Candidate("slow", slow), Candidate("fast", fast)],
                                                     [TestCase("1000\n", str((1000 * 999 // 2) ** 2))]))
    assert slow_res.verdict.ok and fast_res.verdict.ok
    # Different programs, same answer: the measured difference must be real and significant.
    assert slow_res.significant["latency_ms"] and slow_res.significant["cpu_cycles"]
    assert slow_res.metrics["latency_ms"].value > 1.2 * fast_res.metrics["latency_ms"].value
    assert slow_res.metrics["cpu_cycles"].value > 1.2 * fast_res.metrics["cpu_cycles"].value
    for res in (slow_res, fast_res):
        m = res.metrics
        assert m["latency_ms"].unit == "ms" and m["latency_ms"].source == "wall_clock"
        assert len(m["latency_ms"].samples) == 5
        assert m["energy_j"].estimated == (m["energy_j"].source != "rapl")


def test_real_pie_pair_verdicts_and_failure_reasons(profiler):
    records = load_program_sets(SAMPLE).records
    failing = [r for r in records if r.pair_id.startswith(tuple(json.loads(l)["pair_id"] for l in sample_lines(12, 38)))]
    assert failing
    verdicts = {res.verdict.value for ps in failing[:4] for res in profiler.profile(ps)}
    assert verdicts - {"passed"}, "the known-failing real pairs must not all pass"


def _kill_processes_mentioning(text: str) -> None:
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if text in cmdline or text in environ:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass


def _enrich_cfg(**extra) -> EnrichConfig:
    return from_dict(EnrichConfig, {**QUICK, **extra})


def _rows(out: Path) -> list[dict]:
    return pq.read_table(sorted((out / "data").glob("part-*.parquet"))).to_pylist()


def test_enrich_local_ray_writes_schema_summary_and_resumes(tmp_path):
    inp = tmp_path / "in.jsonl"
    # One more set whose fast program is its slow one reformatted (a comment, spacing): the same program.
    first = json.loads(sample_lines(1)[0])
    same = dict(first, pair_id=first["pair_id"] + "-reformatted",
                fast=dict(first["slow"], code="# reformatted\n" + first["slow"]["code"].replace("\n", "\n\n")))
    inp.write_text("\n".join(sample_lines(3) + sample_lines(1, 45) + [json.dumps(same)]) + "\n")
    out = tmp_path / "out"
    summary = run_enrich(inp, out, _enrich_cfg(ray={"num_cpus": 2, "include_dashboard": False}), emit=lambda s: None)
    assert summary["sets_with_same_program"] == 1
    rows = _rows(out)
    assert summary["sets_total"] == len({r["pair_id"] for r in rows}) == summary["sets_measured_this_run"]
    assert len(rows) == 2 * summary["sets_total"]
    longer = {r["pair_id"] for r in rows if (r["timing_rounds"] or 0) > 4}   # second look: 4 + 2 rounds
    assert summary["pairs_timed_longer"] == len(longer)
    assert all(r["latency_ms_n"] == 6 for r in rows if r["pair_id"] in longer and r["verdict"] == "passed")
    passed = [r for r in rows if r["verdict"] == "passed"]
    assert passed
    for r in passed:
        for col in ("latency_ms", "peak_memory_kb", "cpu_cycles", "throughput_per_s", "energy_j"):
            # In-process, memory is RSS growth over the fork point: 0 for a program that allocates little.
            floor = 0 if (col == "peak_memory_kb" and r["memory_kind"] == "rss_growth") else 1e-12
            assert r[col] >= floor and r[f"{col}_source"] and r[f"{col}_n"] == len(r[f"{col}_samples"]) > 0
        assert r["node_id"] and r["isolation"] == "bwrap"
        assert r["program_key"] == program_key(r["code"]) is not None   # the syntax tree's hash, for label
        assert r["measure_mode"] in ("inprocess", "process") and r["floor_latency_ms"] > 0
    assert set(summary["verdicts"]) <= {"passed", "wrong_answer", "runtime_error", "timeout", "memory_limit",
                                        "output_limit", "sandbox_error"}
    assert json.loads((out / "summary.json").read_text())["sets_total"] == summary["sets_total"]
    # Every set with a passing candidate was timed, each with its CPU speed probe; the summary counts
    # the sets timed on an unsteady CPU from those rows.
    timed = {r["pair_id"]: r["cpu_speed_cv"] for r in passed}
    assert all(cv is not None and cv > 0 for cv in timed.values()) and summary["sets_timed"] == len(timed)
    assert summary["sets_timed_on_unsteady_cpu"] == sum(cv > summary["steady_cv_max"] for cv in timed.values())
    said: list[str] = []
    again = run_enrich(inp, out, _enrich_cfg(output={"compact": True}), emit=said.append)
    assert again["sets_measured_this_run"] == 0
    assert not any("compacted" in line for line in said), said   # nothing was merged, so nothing is claimed
    assert len(_rows(out)) == len(rows)


def test_killed_run_loses_no_finished_set_and_duplicates_none(tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_text("\n".join(sample_lines(6, 12)) + "\n")
    out = tmp_path / "out"
    cfg = tmp_path / "quick.yaml"
    import yaml
    cfg.write_text(yaml.safe_dump(QUICK))
    cmd = [sys.executable, "-m", "hydra_ray.cli", "enrich", "--input", str(inp), "--output", str(out),
           "--config", str(cfg), "ray.num_cpus=1", "output.sets_per_file=1"]  # a file a set: the kill lands between
    # The killed driver's embedded Ray gets its own temp dir, so we can clean up exactly that Ray
    # (a global `ray stop` would also kill other Ray instances on the machine).
    ray_tmp = tempfile.mkdtemp(prefix="hr-", dir="/tmp")  # short: Ray's socket paths must stay < 108 chars
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            cwd=REPO, env={**os.environ, "RAY_TMPDIR": ray_tmp})
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not list((out / "data").glob("part-*.parquet")):
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    _kill_processes_mentioning(ray_tmp)
    first = {r["pair_id"] for r in _rows(out)}
    assert 1 <= len(first) < 6
    summary = run_enrich(inp, out, _enrich_cfg(ray={"num_cpus": 2, "include_dashboard": False}), emit=lambda s: None)
    rows = _rows(out)
    assert summary["sets_measured_this_run"] == 6 - len(first)
    per_pair = {}
    for r in rows:
        per_pair.setdefault(r["pair_id"], []).append(r["candidate"])
    assert len(per_pair) == 6 and all(sorted(c) == ["fast", "slow"] for c in per_pair.values())


def test_multinode_pairs_are_measured_on_one_node(tmp_path):
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    try:
        inp = tmp_path / "in.jsonl"
        inp.write_text("\n".join(sample_lines(6, 14)) + "\n")
        out = tmp_path / "out"
        ray.init(address=cluster.address)
        run_enrich(inp, out, _enrich_cfg(), emit=lambda s: None)
        rows = _rows(out)
        by_pair: dict[str, set] = {}
        for r in rows:
            by_pair.setdefault(r["pair_id"], set()).add((r["node_id"], r["cpu_id"]))
        assert len(by_pair) == 6
        assert all(len(v) == 1 for v in by_pair.values()), "a pair's candidates ran on different nodes/CPUs"
        assert len({r["node_id"] for r in rows}) == 2, "both nodes should have profiled"
    finally:
        ray.shutdown()
        cluster.shutdown()
