"""The benchmark scripts as a user meets them (--help, --list, --output) and the report's verdicts and
sections (no measuring: parsing, writing and rendering only)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
sys.path.insert(0, str(BENCH))

import report  # noqa: E402
import report_format  # noqa: E402
import report_pairs  # noqa: E402
import report_serve  # noqa: E402


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=REPO,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(Path.home())})


@pytest.mark.parametrize("script", ["run_all.py", "bench_evaluate.py", "bench_enrich.py", "bench_faults.py",
                                    "bench_scale.py", "bench_serve.py", "bench_train.py"])
def test_help_describes_and_runs_nothing(script):
    """`--help` used to start run_all's whole 20-30 minutes, and bench_evaluate had no parser at all."""
    proc = _run(str(BENCH / script), "--help", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout
    if script != "bench_train.py":
        assert "--output" in proc.stdout or script == "run_all.py"


def test_run_all_lists_its_steps_and_says_what_it_leaves_out():
    proc = _run(str(BENCH / "run_all.py"), "--list")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "python benchmarks/bench_enrich.py overhead --repeats 30"
    assert lines[-1] == "python benchmarks/report.py" and len(lines) == 8
    helptext = _run(str(BENCH / "run_all.py"), "--help").stdout
    assert "bench_scale.py" in helptext and "bench_measure.py" in helptext and "minutes" in helptext
    only = _run(str(BENCH / "run_all.py"), "--list", "--only", "train").stdout.splitlines()
    assert only == ["python benchmarks/bench_train.py --repeats 3", "python benchmarks/report.py"]


def test_enrich_results_record_the_load_at_the_start_and_go_where_output_says(tmp_path, monkeypatch):
    import bench_enrich

    monkeypatch.setattr(bench_enrich, "START", {**bench_enrich.START, "loadavg_at_start": (9.0, 9.0, 9.0)})
    bench_enrich.write("sandbox_overhead", {"figure": 1}, tmp_path)
    rec = json.loads((tmp_path / "sandbox_overhead.json").read_text())
    assert rec["machine"]["loadavg_at_start"] == [9.0, 9.0, 9.0] and len(rec["machine"]["loadavg_at_end"]) == 3
    assert "at start 9, at the end" in report_format.load_at_start(rec["machine"])


def test_a_result_without_the_end_load_says_its_one_reading_was_taken_at_the_end():
    """Results written before the fix read the load when they were written (the end) under the name
    loadavg_at_start: the report must not call that the load at the start."""
    text = report_format.load_at_start({"loadavg_at_start": [2.06, 1.0, 1.0]})
    assert "2.06" in text and "at the end" in text and "at start" not in text


def test_bench_measure_output_leaves_the_committed_results_alone(tmp_path, monkeypatch):
    import bench_measure

    committed = (BENCH / "results" / "measure.json").stat().st_mtime_ns
    out = tmp_path / "quick" / "measure.json"
    monkeypatch.setattr(sys, "argv", ["bench_measure.py", "--sections", "crossref", "--output", str(out)])
    bench_measure.main()
    assert json.loads(out.read_text())["benchmark"] == "measurement modes"
    assert (BENCH / "results" / "measure.json").stat().st_mtime_ns == committed


@pytest.mark.parametrize("ratio,verdict", [(1.79, "**not met**"), (1.8, "met"), (2.0, "met")])
def test_target_verdicts_are_computed_from_the_figure(ratio, verdict):
    assert report_format.target_text("scaling_ratio", ratio).endswith(": " + verdict)
    assert report_format.target_text("scaling_ratio", None).endswith(": no figure")
    assert report_format.meets(1.2, ("<=", 1.1)) is False and report_format.meets(1.1, ("<=", 1.1)) is True


def test_scale_and_train_verdicts_follow_their_figures():
    run = {"first_set_s_after_pipeline_start": 7.0, "driver_peak_rss_mb": 300.0, "files_per_1000_sets": 1.0,
           "overhead_ms_per_set": 2.8, "batch_size": "auto"}
    sc = {"targets": {"first_set_s": 30, "driver_peak_rss_mb": 1024, "files_per_1000_sets": 1,
                      "overhead_ms_per_set": 5}}
    assert "**not met**" not in report._scale_targets(sc, [run, run])
    slow = dict(run, overhead_ms_per_set=6.0)
    assert "overhead ≤ 5 ms/set over a whole input (batch_size auto): **not met**" in report._scale_targets(sc, [run, slow])
    assert report._train_target({"ratio_step_time": 1.2, "target_ratio": 1.1}) == "target ≤ 1.1×: **not met**"
    assert report._train_target({"ratio_step_time": 0.93, "target_ratio": 1.1}) == "target ≤ 1.1×: met"


def test_pair_targets_name_the_modes_that_meet_them():
    p = {"modes": {"inprocess": {"conclusive_share": 0.77, "winner_agreement": 1.0},
                   "function": {"conclusive_share": 0.92, "winner_agreement": 0.98}}}
    assert report_pairs._targets(p) == ("Targets: conclusive ≥ 90% (met in function; **not met** in inprocess), "
                                        "agreement ≥ 99% (met in inprocess; **not met** in function).")


def test_serving_renders_tables_not_a_truncated_json_dump():
    lat = {"p50_ms": 100.0, "p99_ms": 200.0, "mean_ms": 120.0}
    r = {"backend": "recorded completions (generation ~0 s)", "program": "n = int(input())\nprint(n * 2)\n",
         "verification_profile": {"warmup": 0, "repeats": 4, "throughput_bursts": 4}, "verification_replicas": 1,
         "batching": {"max_batch_size": 8}, "startup_s": 7.0,
         "optimize": [{"concurrency": c, "requests": 24, "requests_per_s": 1.0,
                       **{k: lat for k in ("latency", "overhead", "ingress_overhead", "proxy_and_http",
                                           "generation_wait", "verification_wait", "sandbox", "generation")}}
                      for c in (1, 4, 16)],
         "profile": [{"concurrency": c, "requests": 24, "requests_per_s": 2.0, "latency": lat} for c in (1, 4, 16)],
         "healthz_requests_per_s_at_16": 260.0,
         "machine": {"cpus": 2, "loadavg_at_start": [2.0, 2, 2], "loadavg_at_end": [4.0, 4, 4]}}
    text = "\n".join(report_serve.serve_section(r))
    assert "```" not in text and text.count("| 16 |") == 2 and "260 requests/s" in text
    assert "'repeats': 4" in text and "`n = int(input()); print(n * 2)`" in text
    assert "at start 2, at the end 4" in text and "Service start-up 7 s." in text and "{" not in text.split("batching")[0]
    old = {k: v for k, v in r.items() if k != "verification_profile"}   # a result from before the settings were kept
    assert "this result did not keep them" in "\n".join(report_serve.serve_section(old))


def test_the_committed_report_is_what_report_py_renders(tmp_path, monkeypatch):
    """benchmarks/README.md is exactly the rendering of results/*.json by this code."""
    monkeypatch.setattr(report, "HERE", tmp_path)
    report.main()
    assert (tmp_path / "README.md").read_text() == (BENCH / "README.md").read_text()


def test_tokens_per_step_divides_by_the_step_the_count_was_logged_at():
    """TRL logs its running num_tokens every logging_steps: 8 steps with logging_steps 5 leave step 5's count,
    which is 5 steps' tokens, not 8 (the old division by the steps run gave 5/8 of the true figure)."""
    from hydra_ray.train.step_figures import tokens_per_step

    logs = [{"loss": 0.7, "num_tokens": 5000.0, "step": 5}, {"train_runtime": 3.0, "step": 8}]
    assert tokens_per_step(logs) == 1000.0
    assert tokens_per_step([{"loss": 0.7, "step": 5}]) is None and tokens_per_step([]) is None


def test_a_cpu_smoke_gpu_result_is_never_shown_as_gpu_figures(tmp_path):
    import report_gpu

    (tmp_path / "gpu-serve.json").write_text(json.dumps({
        "mode": "cpu-smoke (tiny shapes, CPU: not GPU figures)", "machine": {}, "model": "smoke",
        "hf": {"batch1_tokens_per_s": 5.0}, "hf.batch1_tokens_per_s": 5.0, "hf.batch8_tokens_per_s": 9.0,
        "vllm": {"skipped": "no CUDA"}}))
    text = "\n".join(report_gpu.gpu_section(tmp_path))
    assert text.startswith("## GPU (`benchmarks/gpu/run.sh`): a --cpu-smoke run, no GPU figures")
    assert "**" not in text
