"""Metric backends: real detection on this node, real perf/valgrind runs, parsers, estimators, doctor.

Tests that need a backend run when detection says it is available and are skipped (with the
detection's reason) otherwise; detection itself is always checked for consistency.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hydra_ray.commands import doctor
from hydra_ray.metrics import backends as be
from hydra_ray.metrics import energy
from hydra_ray.metrics.names import METRIC_NAMES

# Captured on the development VM (perf 6.1, AMD EPYC guest, no PMU exposed):
# `perf stat -x, -e cycles,instructions -o out.txt true; cat out.txt`
PERF_NOT_SUPPORTED = """# started on Fri Nov 27 10:31:10 2026

<not supported>,,cycles,0,100.00,,
<not supported>,,instructions,0,100.00,,
"""

# NOT captured (no machine with counters at hand): built from perf-stat(1) "CSV FORMAT" — fields
# [interval time stamp,] [CPU id,] value, unit, event, run time, % running, metric value, metric
# unit — with the ':u' modifier perf adds under perf_event_paranoid=2 and the per-core-type lines
# of hybrid CPUs (cpu_core/…/, cpu_atom/…/), one of them not counted.
PERF_SUPPORTED_SAMPLE = """# started on Mon Jan  1 00:00:00 2024

1093542,,cycles:u,853860,100.00,,
1037470,,instructions:u,853860,100.00,0.95,insn per cycle
"""
PERF_HYBRID_SAMPLE = """2254346,,cpu_core/cycles/,1034400,100.00,,
<not counted>,,cpu_atom/cycles/,0,0.00,,
3100000,,cpu_core/instructions/,1034400,100.00,1.38,insn per cycle
12000,,cpu_atom/instructions/,1034400,100.00,,
"""
PERF_INTERVAL_SAMPLE = """     1.001234567,5000,,cycles,999000,100.00,,
     1.001234567,7000,,instructions,999000,100.00,1.40,insn per cycle
"""

# Captured on the development VM: valgrind-3.19.0 cachegrind --cache-sim=no on `python3 -c pass`.
VALGRIND_LOG = """==7552== Cachegrind, a cache and branch-prediction profiler
==7552== Copyright (C) 2002-2017, and GNU GPL'd, by Nicholas Nethercote et al.
==7552== Using Valgrind-3.19.0 and LibVEX; rerun with -h for copyright info
==7552== Command: /root/.pyenv/versions/3.11.7/bin/python3 -c pass
==7552== 
--7552-- warning: L3 cache found, using its data for the LL simulation.
--7552-- warning: specified LL cache: line_size 64  assoc 1  total_size 402,653,184
--7552-- warning: simulated LL cache: line_size 64  assoc 2  total_size 536,870,912
==7552== 
==7552== I   refs:      143,098,845"""


@pytest.fixture(scope="module")
def node() -> be.NodeBackends:
    return be.detect_backends()


# ---- perf -------------------------------------------------------------------------------------------

def test_parse_perf_not_supported_captured():
    counts = be.parse_perf_output(PERF_NOT_SUPPORTED)
    assert counts.cycles is None and counts.instructions is None
    assert "not supported" in counts.note


def test_parse_perf_supported_documented_formats():
    assert be.parse_perf_output(PERF_SUPPORTED_SAMPLE) == be.PerfCounts(1093542, 1037470, "")
    hybrid = be.parse_perf_output(PERF_HYBRID_SAMPLE)
    assert (hybrid.cycles, hybrid.instructions) == (2254346, 3112000)
    assert "not counted" in hybrid.note
    interval = be.parse_perf_output(PERF_INTERVAL_SAMPLE)
    assert (interval.cycles, interval.instructions) == (5000, 7000)


def test_parse_perf_rejects_unrelated_output():
    with pytest.raises(ValueError, match="no cycles/instructions line"):
        be.parse_perf_output("Error:\nThe sys_perf_event_open() syscall returned with 1\n")


def test_perf_live_run_agrees_with_detection(node, tmp_path):
    if shutil.which("perf") is None:
        assert not node.perf.available
        pytest.skip(node.perf.detail)
    out = tmp_path / "perf.csv"
    prog = [sys.executable, "-c", "print(sum(range(100000)))"]
    proc = subprocess.run(be.perf_command_prefix(out) + prog, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == str(sum(range(100000)))
    counts = be.parse_perf_output(out.read_text())
    works = bool(counts.cycles and counts.instructions)
    assert works == node.perf.available, (counts, node.perf)


# ---- valgrind ---------------------------------------------------------------------------------------

def test_parse_valgrind_captured_log():
    assert be.parse_valgrind_instructions(VALGRIND_LOG) == 143_098_845
    with pytest.raises(ValueError, match="I refs"):
        be.parse_valgrind_instructions(VALGRIND_LOG.rsplit("\n", 1)[0])


def test_valgrind_prefix_options():
    assert "--log-fd=9" in be.valgrind_command_prefix(log_fd=9)
    with pytest.raises(ValueError, match="not both"):
        be.valgrind_command_prefix(log_fd=9, log_file="x")


def _valgrind_count(code: str, tmp_path: Path, tag: str) -> tuple[int, subprocess.CompletedProcess]:
    log = tmp_path / f"vg-{tag}.log"
    proc = subprocess.run(be.valgrind_command_prefix(log_file=str(log)) + [sys.executable, "-c", code],
                          capture_output=True, text=True, timeout=120)
    return be.parse_valgrind_instructions(log.read_text()), proc


def test_valgrind_counts_are_positive_ordered_and_repeatable(node, tmp_path):
    if not node.valgrind.available:
        pytest.skip(node.valgrind.detail)
    light1, proc = _valgrind_count("pass", tmp_path, "a")
    light2, _ = _valgrind_count("pass", tmp_path, "b")
    heavy, heavy_proc = _valgrind_count("import sys; print(sum(i * i for i in range(300000))); "
                                        "sys.exit(3)", tmp_path, "c")
    assert light1 > 0 and abs(light1 - light2) / light1 < 0.01, (light1, light2)
    assert heavy > 1.5 * light1, (heavy, light1)
    # The program's own streams and exit status pass through; the summary stays in the log file.
    assert heavy_proc.returncode == 3
    assert heavy_proc.stdout.strip() == str(sum(i * i for i in range(300000)))
    assert "I   refs" not in heavy_proc.stderr


def test_valgrind_sums_forked_children(node, tmp_path):
    if not node.valgrind.available:
        pytest.skip(node.valgrind.detail)
    code = ("import os\npid = os.fork()\nif pid == 0:\n    sum(range(200000)); os._exit(0)\n"
            "os.waitpid(pid, 0)\n")
    total, proc = _valgrind_count(code, tmp_path, "fork")
    by_pid = be.parse_valgrind_by_pid((tmp_path / "vg-fork.log").read_text())
    assert proc.returncode == 0 and len(by_pid) == 2
    assert total == sum(by_pid.values()) and min(by_pid.values()) > 0


# ---- estimates and CPU --------------------------------------------------------------------------------

def test_estimate_cycles():
    """cycles = CPU seconds × Hz: 0.5 s at 2.6 GHz is 0.5 × 2.6e9 = 1.3e9 cycles."""
    assert be.estimate_cycles(0.5, 2.6e9) == pytest.approx(1.3e9)
    assert be.estimate_cycles(0.0, 2.6e9) == 0.0
    with pytest.raises(ValueError, match="cpu_time_s"):
        be.estimate_cycles(-1.0, 2.6e9)
    with pytest.raises(ValueError, match="clock_hz"):
        be.estimate_cycles(1.0, 0.0)


def test_cpu_detection_matches_the_os(node):
    cpu = node.cpu
    assert cpu.usable_cpus == tuple(sorted(os.sched_getaffinity(0)))
    assert cpu.clock_hz > 0 and cpu.clock_source in (
        "cpufreq_base_frequency", "cpufreq_max_freq", "proc_cpuinfo", "psutil", "default")
    if cpu.clock_source == "proc_cpuinfo":
        mhz = [float(line.split(":")[1]) for line in Path("/proc/cpuinfo").read_text().splitlines()
               if line.startswith("cpu MHz")]
        assert cpu.clock_hz == pytest.approx(mhz[0] * 1e6)


def test_pinning_count_follows_affinity():
    if shutil.which("taskset") is None:
        pytest.skip("taskset not installed")
    first = min(os.sched_getaffinity(0))
    out = subprocess.run(["taskset", "-c", str(first), sys.executable, "-c",
                          "from hydra_ray.metrics.backends import detect_cpu; print(detect_cpu().usable_cpus)"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == str((first,))


def test_detection_is_cached(node):
    assert be.detect_backends() is node


# ---- energy ------------------------------------------------------------------------------------------

def test_energy_estimate():
    """E = cycles × 2.5e-10 J: 4e9 cycles (1 s at 4 GHz) × 2.5e-10 J = 1 J."""
    assert energy.estimate_energy_j(4e9) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        energy.estimate_energy_j(-1)


def test_energy_delta_wraparound():
    """Counter in [0, R]: from b=R-100 it wraps to a=50, so the energy is (R - b) + a = 100 + 50."""
    r = 262_143_328_850
    assert energy.energy_delta_uj(1_000, 5_000, r) == 4_000
    assert energy.energy_delta_uj(r - 100, 50, r) == 150
    with pytest.raises(ValueError, match="wraparound"):
        energy.energy_delta_uj(10, 5, 0)


def test_idle_baseline():
    """5 J over 2 s with 1.5 W idle: 5 - 1.5 × 2 = 2 J; noise below idle clamps to 0."""
    assert energy.subtract_idle_baseline(5.0, 2.0, 1.5) == pytest.approx(2.0)
    assert energy.subtract_idle_baseline(1.0, 2.0, 1.5) == 0.0


def _zone(root: Path, name: str, label: str, value: int, max_range: int) -> Path:
    d = root / name
    d.mkdir()
    (d / "name").write_text(label + "\n")
    (d / "energy_uj").write_text(f"{value}\n")
    (d / "max_energy_range_uj").write_text(f"{max_range}\n")
    return d / "energy_uj"


def test_rapl_reader_sums_packages_skips_subzones_and_unwraps(tmp_path):
    """A sysfs-shaped tree on disk: two packages and a dram sub-zone (inside package 0's count)."""
    p0 = _zone(tmp_path, "intel-rapl:0", "package-0", 900, 1000)
    p1 = _zone(tmp_path, "intel-rapl:1", "package-1", 10, 1000)
    _zone(tmp_path, "intel-rapl:0:0", "dram", 500, 1000)
    reader = energy.RaplReader(tmp_path)
    assert [z.name for z in reader.zones] == ["package-0", "package-1"]
    assert reader.read_uj() == 0
    p0.write_text("100\n")           # wrapped: (1000 - 900) + 100 = 200
    p1.write_text("40\n")            # +30
    assert reader.read_uj() == 230
    assert be.probe_rapl(tmp_path).available


def test_rapl_detection_agrees_with_reader(node):
    try:
        reader = energy.RaplReader()
    except energy.RaplUnavailable as e:
        assert not node.rapl.available
        assert node.rapl.detail in str(e)
        return
    assert node.rapl.available
    assert reader.read_uj() >= 0


# ---- source selection and doctor ------------------------------------------------------------------------

def _with(node: be.NodeBackends, perf: bool, valgrind: bool, rapl: bool) -> be.NodeBackends:
    return be.NodeBackends(be.Capability("perf", perf, ""), be.Capability("valgrind", valgrind, ""),
                           be.Capability("rapl", rapl, ""), node.pyrapl, node.cpu)


def test_source_preference_order(node):
    def pick(metric: str, perf: bool, valgrind: bool, rapl: bool, use_valgrind: bool):
        sources = be.default_sources(_with(node, perf, valgrind, rapl), use_valgrind)
        return next((m.source, m.estimated) for m in sources if m.metric == metric)

    assert pick("cycles", True, True, True, True) == ("perf_cycles", False)
    assert pick("cycles", False, True, True, True) == ("valgrind_instructions", False)
    assert pick("cycles", False, True, True, False) == ("estimate_cpu_time_x_clock", True)
    assert pick("cycles", False, False, True, True) == ("estimate_cpu_time_x_clock", True)
    assert pick("energy", False, False, True, True) == ("rapl", False)
    assert pick("energy", True, True, False, True) == ("estimate_cycles_x_2.5e-10", True)


def test_doctor_json_lists_all_five_metrics(node):
    proc = subprocess.run([sys.executable, "-m", "hydra_ray.cli", "doctor", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [m["metric"] for m in report["metrics"]] == list(METRIC_NAMES)
    caps = {c["name"]: c for s in report["sections"] for c in s["capabilities"]}
    for name in ("perf", "valgrind", "rapl", "pyRAPL", "cpu_model", "clock", "pinning"):
        assert caps[name]["detail"], name
    assert caps["perf"]["available"] == node.perf.available
    cycles = next(m for m in report["metrics"] if m["metric"] == "cycles")
    assert cycles["source"] == be.cycles_source(node)[0]


def test_sources_follow_the_mode_as_the_profiler_records_them(node):
    """What `doctor` shows is what rows record: peak memory is RSS, RSS growth over the fork point or the
    tracemalloc peak of one call; function mode times the call loop and cannot read RAPL for one call."""
    from hydra_ray.metrics.run_readings import MEMORY_SOURCE

    for mode in ("process", "inprocess", "function"):
        got = {m.metric: m.source for m in be.default_sources(_with(node, False, False, True), False, mode)}
        assert got["memory"] == MEMORY_SOURCE[mode]
        assert got["latency"] == got["throughput"] == (be.SOURCE_FUNCTION_LOOP if mode == "function" else be.SOURCE_WALL)
        assert got["energy"] == ("rapl" if mode != "function" else "estimate_cycles_x_2.5e-10")
    assert "metric sources (profile.mode=function;" in doctor.render_text(doctor.collect(mode="function"))


def test_doctor_text_one_line_per_capability(node):
    report = doctor.collect()
    text = doctor.render_text(report)
    marked = [line for line in text.splitlines() if line.strip()[:1] in ("✓", "✗")]
    caps = [c for s in report["sections"] for c in s["capabilities"]]
    assert len(caps) >= len(node.capabilities()) + 1  # measurement backends + sandbox isolation
    assert len(marked) == len(caps)
    assert sum(line.lstrip().startswith("✓") for line in marked) == sum(c["available"] for c in caps)


def test_doctor_skips_a_section_whose_module_is_missing():
    assert doctor._run_section("later", "hydra_ray.no_such_module:probe") is None
    with pytest.raises(ModuleNotFoundError):
        doctor._run_section("broken", "no_such_top_package.sub:probe")


def test_doctor_says_what_to_do_about_each_estimate(node):
    """doctor listed "(estimated)" and the missing counters but not the setting or package that gives a
    counted figure (valgrind said "used only when enabled in config"), nor that energy stays estimated."""
    proc = subprocess.run([sys.executable, "-m", "hydra_ray.cli", "doctor"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = doctor.collect()
    estimated = [m["metric"] for m in report["metrics"] if m["estimated"]]
    assert [a.split(":")[0] for a in report["advice"]] == estimated
    assert ("to measure rather than estimate:" in proc.stdout) == bool(estimated), proc.stdout
    for a in report["advice"]:
        assert f"  - {a}" in proc.stdout
    if node.valgrind.available:
        assert "used only with profile.cycles_backend=valgrind" in proc.stdout

    def said(perf: bool, valgrind: bool, rapl: bool, mode: str = "inprocess") -> list[str]:
        backends = _with(node, perf, valgrind, rapl)
        return doctor.advice(backends, {m.metric for m in be.default_sources(backends, False, mode) if m.estimated},
                             mode)

    assert said(True, True, True) == []
    assert said(False, True, True) == [next(a for a in said(False, True, False) if a.startswith("cycles"))]
    assert "profile.cycles_backend=valgrind" in said(False, True, True)[0]
    assert "apt-get install valgrind" in said(False, False, True)[0]
    assert "stays an estimate" in said(True, True, False)[0]
    assert "RAPL cannot isolate one call" in said(True, True, True, "function")[0]
