"""`hydra-ray reproduce`: the quick run CI makes (a real subprocess from another working directory, real
sandbox, real Ray, real tiny training), its report and figures; the statistics it reports; bad input."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from hydra_ray.reproduce.coverage import coverage_stats, wilson

REPO = Path(__file__).resolve().parents[1]
SECTIONS = ["## Summary", "## Fig. 10 and Fig. 11", "## Fig. 7", "## Table III", "## Table II and Fig. 2 / Fig. 3",
            "## Fig. 5, Fig. 6 and Fig. 8", "## How this run was made"]
FIGURES = ["fig10_alpha_simulation.png", "fig11_region_losses.png", "fig7_coverage.png", "fig2_pareto_detailed.png",
           "fig3_pareto_minimal.png", "fig5_alpha.png", "fig6_preference.png", "fig8_advantage.png"]
VERDICTS = ("reproduced", "reproduced in shape only", "not reproducible here", "not reproduced")


def _cli(args, cwd, timeout):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "hydra_ray.cli", "reproduce", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_quick_run_writes_every_section_and_figure(tmp_path):
    """What CI runs: `hydra-ray reproduce --quick --output <relative dir>` from a directory that is not the
    repository. The output lands under that directory; every section has a verdict; Appendix E passes."""
    proc = _cli(["--quick", "--output", "out/repro"], tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = tmp_path / "out" / "repro"
    report = (out / "REPORT.md").read_text()
    for header in SECTIONS:
        assert header in report, header
    for name in FIGURES:
        png = out / "figures" / name
        assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 5000, name
        assert f"figures/{name}" in report
    meta = json.loads((out / "reproduce.json").read_text())
    assert [s["key"] for s in meta["sections"]] == ["simulation", "coverage", "table3", "table2", "training"]
    assert all(s["verdict"] in VERDICTS for s in meta["sections"]), meta["sections"]
    simulation = report.split("## Fig. 10 and Fig. 11")[1].split("## Fig. 7")[0]
    assert meta["sections"][0]["verdict"] == "reproduced" and "✗" not in simulation and simulation.count("✓") >= 8
    assert "39.4%" in report and "1.412" in report and "Measurement mode (Table III/II): `" in report
    assert meta["plan"]["quick"] and meta["wall_s"] > 0
    # train's note on held-out problems is about evaluating the adapter, which reproduce never does
    assert "held out for evaluation" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_metrics_from_another_run_and_simulation_only(tmp_path):
    """--metrics draws Fig. 5/6/8 from a metrics.jsonl written elsewhere (here by a real AlphaHub), without
    training; --only limits the sections."""
    from hydra_ray.train.alpha import AlphaSettings
    from hydra_ray.train.hub import AlphaHub

    path = tmp_path / "gpu-run" / "metrics.jsonl"
    path.parent.mkdir()
    hub = AlphaHub(AlphaSettings(lr=0.5), str(path))
    for step in range(1, 9):
        # memory is tied in half the examples and its advantage is small: the paper's pattern
        hub.report(["latency", "memory"], [0.7, 0.5], [[0.2, 0.0, 0.1, 0.1, 0.1], [0.1, 0.01, 0.1, 0.1, 0.1]],
                   worker=0, step=step)
        hub.log_metrics({"step": step, "loss": 0.6})
    proc = _cli(["--output", "r", "--metrics", str(path), "--only", "training", "--only", "simulation"],
                tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = (tmp_path / "r" / "REPORT.md").read_text()
    assert "## Fig. 5, Fig. 6 and Fig. 8" in report and "## Fig. 7" not in report
    assert "given with --metrics" in report and "| memory |" in report
    assert "✓ | lowest preference rate: memory" in report
    assert (tmp_path / "r" / "figures" / "fig6_preference.png").is_file()


@pytest.mark.parametrize("args, message", [
    (["--profile-mode", "cycles"], "--profile-mode"),
    (["--metrics", "missing.jsonl"], "--metrics"),
    (["--pairs", "0"], "--pairs"),
    (["--metrics", "notes.md"], "notes.md: line 1 is not JSON"),
])
def test_bad_input_is_refused_before_anything_runs(tmp_path, args, message):
    (tmp_path / "notes.md").write_text("# not metrics\n")
    proc = _cli(["--output", "r", *args], tmp_path, timeout=120)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert not (tmp_path / "r" / "REPORT.md").exists()


def _pair(fast, slow, sig):
    mk = lambda raw: SimpleNamespace(raw=raw, estimated={})   # noqa: E731
    return SimpleNamespace(a=mk(fast), b=mk(slow), fast_side="a", significant=sig)


def test_coverage_counts_ties_apart():
    """Three pairs. latency: fast 1 vs slow 2 (significant → beats), 1 vs 1.05 (not significant → tie),
    2 vs 1 (significant, slow better). memory missing in one pair → coverage 2 of 3.
    Rate over available = 1/3, without ties = 1/2; speed-ups slow/fast = 2, 1.05, 0.5."""
    m = {"cycles": 1.0, "throughput": 1.0, "energy": 1.0}
    pairs = [_pair({"latency": 1, "memory": 5, **m}, {"latency": 2, "memory": 5, **m}, {"latency": True, "memory": False}),
             _pair({"latency": 1, "memory": None, **m}, {"latency": 1.05, "memory": 3, **m}, {"latency": False}),
             _pair({"latency": 2, "memory": 4, **m}, {"latency": 1, "memory": 8, **m}, {"latency": True, "memory": True})]
    s = coverage_stats(pairs)
    lat, mem = s["latency"], s["memory"]
    assert (lat["fast_better"], lat["ties"], lat["slow_better"], lat["available"]) == (1, 1, 1, 3)
    assert lat["rate"] == pytest.approx(1 / 3) and lat["rate_untied"] == pytest.approx(0.5)
    assert sorted(lat["speedups"]) == pytest.approx([0.5, 1.05, 2.0])
    assert (mem["available"], mem["fast_better"], mem["ties"]) == (2, 1, 1)


def test_a_zero_memory_reading_is_a_measured_win_and_no_data_is_not_a_failed_check():
    """Fig. 7 read 0 KB (no RSS growth, usual in inprocess mode) as missing: a real memory win of
    192 KB → 0 KB was dropped, and the memory statements were then marked ✗ on no data at all."""
    from hydra_ray.reproduce.sections import coverage_section

    m = {"latency": 1.0, "cycles": 1.0, "throughput": 1.0, "energy": 1.0}
    win = _pair({**m, "latency": 1, "memory": 0.0}, {**m, "latency": 2, "memory": 192.0},
                {"latency": True, "memory": True})
    tie = _pair({**m, "latency": 1, "memory": 0.0}, {**m, "latency": 2, "memory": 0.0}, {"latency": True})
    mem = coverage_stats([win, tie])["memory"]
    assert (mem["available"], mem["fast_better"], mem["ties"]) == (2, 1, 1)
    assert sorted(mem["speedups"]) == [1.0, 10.0]                   # 0 vs 192: at the clip; 0 vs 0: a tie
    none = coverage_stats([_pair({**m, "memory": None}, {**m, "memory": None}, {"latency": True})])
    text = "\n".join(coverage_section(none, 1, "test", {}, []).body)
    assert "| the paper's memory rate 39.4% lies in our 95% interval | – |" in text, text
    assert "memory has the lowest fast-beats-slow rate (Fig. 7b) | ✗" not in text


def test_wilson_interval():
    """Wilson score interval, z = 1.96: for 0 of n it is [0, z²/(n + z²)] (the centre and half-width
    coincide); for 5 of 10 it is symmetric around 0.5: 0.5 ± z·sqrt(0.025 + z²/400)/(1 + z²/10) ≈ [0.237, 0.763]."""
    z = 1.959964
    lo, hi = wilson(0, 10)
    assert lo == 0 and hi == pytest.approx(z * z / (10 + z * z))
    lo, hi = wilson(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-3) and hi == pytest.approx(0.7634, abs=1e-3)
    assert wilson(10, 10)[1] == 1.0 and all(math.isnan(x) for x in wilson(0, 0))


def test_a_simulation_too_short_to_judge_a_trend_says_so_in_the_report():
    from hydra_ray.reproduce.sections import NOT_REPRODUCED, simulation_section
    from hydra_ray.train.simulate import PAPER_LOSSES, PAPER_SETTINGS, SimulationConfig, appendix_e_checks, simulate

    res = simulate(PAPER_LOSSES, PAPER_SETTINGS, SimulationConfig(epochs=1))
    data = {**res.summary(), "checks": [vars(c) for c in appendix_e_checks(res)]}
    section = simulation_section(data, PAPER_SETTINGS, [])
    assert section.verdict == NOT_REPRODUCED and "cannot be judged in so few epochs (– below)" in section.why
    body = "\n".join(section.body)
    assert "steadily increase” | – | too few epochs to judge" in body and "| ✗ |" not in body
