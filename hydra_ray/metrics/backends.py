"""What this node can measure, and the pieces the profiler composes to measure it.

CPU cycles come from, in order of preference:

* ``perf_cycles`` — the hardware counter via ``perf stat -x,`` (counts forked children too);
* ``valgrind_instructions`` — cachegrind's instruction count: deterministic, but ~40× slower, so
  used only when the config enables it;
* ``estimate_cpu_time_x_clock`` — user+system CPU time × nominal clock, labelled estimated.

Energy is in :mod:`hydra_ray.metrics.energy`. Everything here is pure apart from the probes in
:func:`detect_backends`, which run ``perf``/``valgrind`` once per process.
"""
from __future__ import annotations

import functools
import os
import platform
import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from hydra_ray.metrics import energy
from hydra_ray.metrics.names import METRICS

SOURCE_PERF = "perf_cycles"
SOURCE_VALGRIND = "valgrind_instructions"
SOURCE_CYCLES_ESTIMATE = "estimate_cpu_time_x_clock"
SOURCE_WALL = "wall_clock"
SOURCE_RUSAGE = "rusage"
SOURCE_RSS_GROWTH = "rusage_rss_growth"        # inprocess: ru_maxrss of the child − RSS at the fork point
SOURCE_TRACEMALLOC = "tracemalloc_peak"        # function: Python allocations of one call
SOURCE_FUNCTION_LOOP = "function_loop_clock"   # function: perf_counter around a timeit-style loop, per call
DEFAULT_CLOCK_HZ = 3.0e9     # used only when no clock source exists at all; flagged as such
_PROBE_TIMEOUT_S = 60


@dataclass(frozen=True)
class Capability:
    name: str
    available: bool
    detail: str          # what it is when available, why not otherwise


@dataclass(frozen=True)
class CpuInfo:
    model: str
    clock_hz: float
    clock_source: str    # cpufreq_base_frequency | cpufreq_max_freq | proc_cpuinfo | psutil | default
    usable_cpus: tuple[int, ...]   # os.sched_getaffinity: the CPUs runs may be pinned to


# ---- perf -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PerfCounts:
    cycles: int | None        # None: the counter reported <not supported> / <not counted>
    instructions: int | None
    note: str = ""            # why a counter is missing


def perf_command_prefix(output_path: str | os.PathLike[str]) -> list[str]:
    """``perf stat`` in machine format, writing counts to ``output_path`` (not the program's stderr)."""
    return ["perf", "stat", "-x", ",", "-e", "cycles,instructions", "-o", str(output_path), "--"]


def _event_base(field: str) -> str:
    """'cycles:u' -> 'cycles'; 'cpu_core/cycles/' (hybrid CPUs) -> 'cycles'."""
    if "/" in field:
        parts = [p for p in field.split("/") if p]
        field = parts[1] if len(parts) > 1 else parts[0]
    return field.split(":")[0].strip()


def parse_perf_output(text: str) -> PerfCounts:
    """Parse ``perf stat -x,`` output: value, unit, event, run time, %running, metric, metric unit.

    Optional leading columns (interval time stamp, CPU id) shift the fields, so the event column
    is found by name and the value read two columns to its left. Hybrid CPUs report one line per
    core type (cpu_core/…, cpu_atom/…); those are summed.
    """
    found: dict[str, list[int]] = {"cycles": [], "instructions": []}
    notes: list[str] = []
    seen = False
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split(",")
        for i in range(2, len(fields)):
            event = _event_base(fields[i])
            if event not in found:
                continue
            seen = True
            value = fields[i - 2].strip()
            if value.startswith("<"):          # <not supported> / <not counted>
                notes.append(f"{fields[i]} {value}")
            else:
                try:
                    found[event].append(int(float(value)))
                except ValueError:
                    notes.append(f"{fields[i]}: unreadable value {value!r}")
            break
    if not seen:
        raise ValueError("perf stat output has no cycles/instructions line (was it run with "
                         f"-x, -e cycles,instructions?); got: {text.strip()[:300]!r}")
    return PerfCounts(sum(found["cycles"]) if found["cycles"] else None,
                      sum(found["instructions"]) if found["instructions"] else None,
                      "; ".join(notes))


# ---- valgrind -------------------------------------------------------------------------------------

def valgrind_command_prefix(log_fd: int | None = None, log_file: str | None = None) -> list[str]:
    """Cachegrind counting instructions only; the ``I refs`` summary goes to ``log_fd``/``log_file``
    (default: stderr, mixed with the program's). ``--trace-children`` follows an exec (a launcher
    script, a shim), otherwise only the launcher would be counted."""
    if log_fd is not None and log_file is not None:
        raise ValueError("valgrind_command_prefix: give log_fd or log_file, not both")
    cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
           "--trace-children=yes"]
    if log_fd is not None:
        cmd.append(f"--log-fd={log_fd}")
    if log_file is not None:
        cmd.append(f"--log-file={log_file}")
    return cmd


_I_REFS = re.compile(r"^==(\d+)==\s+I\s+refs:\s+([\d,]+)\s*$", re.MULTILINE)


def parse_valgrind_by_pid(text: str) -> dict[int, int]:
    """``I refs`` of each process in a cachegrind/callgrind log (the last summary per pid)."""
    return {int(pid): int(n.replace(",", "")) for pid, n in _I_REFS.findall(text)}


def parse_valgrind_instructions(text: str) -> int:
    """Instructions executed, summed over the processes in the log.

    A forked child's counter starts from its parent's count at the fork, so for a program that
    forks the sum counts the pre-fork work again: an upper bound, never an undercount that a
    program could exploit by moving work into children.
    """
    by_pid = parse_valgrind_by_pid(text)
    if not by_pid:
        raise ValueError("no '==PID== I refs: N' summary in the valgrind log (did the program exit "
                         f"through exec without --trace-children, or run with -q?); got: "
                         f"{text.strip()[-300:]!r}")
    return sum(by_pid.values())


# ---- estimate -------------------------------------------------------------------------------------

def estimate_cycles(cpu_time_s: float, clock_hz: float) -> float:
    """Cycles ≈ CPU seconds (user + system) × clock in Hz (source ``estimate_cpu_time_x_clock``)."""
    if cpu_time_s < 0:
        raise ValueError(f"estimate_cycles: cpu_time_s must be >= 0, got {cpu_time_s!r}")
    if clock_hz <= 0:
        raise ValueError(f"estimate_cycles: clock_hz must be > 0, got {clock_hz!r}")
    return cpu_time_s * clock_hz


# ---- detection ------------------------------------------------------------------------------------

def _read(path: str | Path) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def detect_cpu() -> CpuInfo:
    cpuinfo = _read("/proc/cpuinfo") or ""
    m = re.search(r"^(?:model name|Model|cpu model)\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    model = m.group(1).strip() if m else (platform.processor() or platform.machine() or "unknown")
    usable = tuple(sorted(os.sched_getaffinity(0)))
    # Nominal clock first (base_frequency, intel_pstate); the others may be turbo or current.
    cpufreq = Path("/sys/devices/system/cpu/cpu0/cpufreq")
    for fname, source in (("base_frequency", "cpufreq_base_frequency"),
                          ("cpuinfo_max_freq", "cpufreq_max_freq")):
        khz = (_read(cpufreq / fname) or "").strip()
        if khz.isdigit() and int(khz) > 0:
            return CpuInfo(model, int(khz) * 1e3, source, usable)
    m = re.search(r"^cpu MHz\s*:\s*([\d.]+)", cpuinfo, re.MULTILINE)
    if m and float(m.group(1)) > 0:
        return CpuInfo(model, float(m.group(1)) * 1e6, "proc_cpuinfo", usable)
    import psutil

    freq = psutil.cpu_freq()
    mhz = (freq.max or freq.current) if freq else 0.0
    if mhz > 0:
        return CpuInfo(model, mhz * 1e6, "psutil", usable)
    return CpuInfo(model, DEFAULT_CLOCK_HZ, "default", usable)


def probe_perf() -> Capability:
    if shutil.which("perf") is None:
        return Capability("perf", False, "perf not on PATH (apt-get install linux-perf)")
    paranoid = (_read("/proc/sys/kernel/perf_event_paranoid") or "?").strip()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "perf.csv"
        try:
            proc = subprocess.run(perf_command_prefix(out) + ["true"], capture_output=True, text=True,
                                  timeout=_PROBE_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as e:
            return Capability("perf", False, f"perf stat could not run: {e}")
        try:
            counts = parse_perf_output(out.read_text() if out.exists() else "")
        except ValueError as e:
            return Capability("perf", False, f"perf stat exited {proc.returncode}: "
                                             f"{proc.stderr.strip()[:200]} ({e})")
    if counts.cycles and counts.instructions:
        return Capability("perf", True, f"hardware counters work (cycles={counts.cycles} for `true`; "
                                        f"perf_event_paranoid={paranoid})")
    return Capability("perf", False, f"perf runs but the hardware counters are missing ({counts.note}; "
                                     f"perf_event_paranoid={paranoid}): no PMU exposed, e.g. a VM")


def probe_valgrind() -> Capability:
    if shutil.which("valgrind") is None:
        return Capability("valgrind", False, "valgrind not on PATH (apt-get install valgrind)")
    try:
        version = subprocess.run(["valgrind", "--version"], capture_output=True, text=True,
                                 timeout=_PROBE_TIMEOUT_S).stdout.strip()
        proc = subprocess.run(valgrind_command_prefix() + ["true"], capture_output=True, text=True,
                              timeout=_PROBE_TIMEOUT_S)
        n = parse_valgrind_instructions(proc.stderr)
    except (OSError, subprocess.TimeoutExpired, ValueError) as e:
        return Capability("valgrind", False, f"valgrind cachegrind failed: {e}")
    return Capability("valgrind", True, f"{version} cachegrind counts instructions ({n} for `true`); "
                                        "~40x slower, used only with profile.cycles_backend=valgrind")


def probe_rapl(root: Path = energy.POWERCAP_ROOT) -> Capability:
    zones, why = energy.find_package_zones(root)
    if not zones:
        return Capability("rapl", False, why)
    return Capability("rapl", True, "readable package counters: " + ", ".join(z.name for z in zones)
                      + " (package-wide: includes other processes; subtract idle power)")


def probe_pyrapl() -> Capability:
    # A note only: hydra-ray reads the same sysfs counters itself and does not depend on pyRAPL.
    if find_spec("pyRAPL") is not None:
        return Capability("pyRAPL", True, "importable (not used: hydra-ray reads RAPL sysfs directly)")
    return Capability("pyRAPL", False, "not installed (not needed: hydra-ray reads RAPL sysfs directly)")


@dataclass(frozen=True)
class NodeBackends:
    perf: Capability
    valgrind: Capability
    rapl: Capability
    pyrapl: Capability
    cpu: CpuInfo

    def capabilities(self) -> list[Capability]:
        cpu = self.cpu
        clock_ok = cpu.clock_source != "default"
        return [
            self.perf, self.valgrind, self.rapl, self.pyrapl,
            Capability("cpu_model", cpu.model != "unknown", cpu.model),
            Capability("clock", clock_ok, f"{cpu.clock_hz / 1e9:.3f} GHz from {cpu.clock_source}"
                       + ("" if clock_ok else " (no clock source found: assumed)")),
            Capability("pinning", len(cpu.usable_cpus) > 0,
                       f"{len(cpu.usable_cpus)} usable CPU(s): {list(cpu.usable_cpus)}"),
        ]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@functools.lru_cache(maxsize=1)
def detect_backends() -> NodeBackends:
    """Probe this node once per process (perf and valgrind each run a trivial program)."""
    return NodeBackends(probe_perf(), probe_valgrind(), probe_rapl(), probe_pyrapl(), detect_cpu())


def node_capabilities() -> list[Capability]:
    """The capability lines of this node (for ``hydra-ray doctor``)."""
    return detect_backends().capabilities()


# ---- which source each metric uses ----------------------------------------------------------------

@dataclass(frozen=True)
class MetricSource:
    metric: str
    column: str
    source: str
    estimated: bool


def cycles_source(backends: NodeBackends, use_valgrind: bool = False) -> tuple[str, bool]:
    if backends.perf.available:
        return SOURCE_PERF, False
    if use_valgrind and backends.valgrind.available:
        return SOURCE_VALGRIND, False   # exact count of instructions, a deterministic cycle proxy
    return SOURCE_CYCLES_ESTIMATE, True


def energy_source(backends: NodeBackends) -> tuple[str, bool]:
    if backends.rapl.available:
        return energy.SOURCE_RAPL, False
    return energy.SOURCE_ESTIMATE, True


# What peak memory is in each profile.mode (metrics/run_readings.py MEMORY_SOURCE says the same for rows).
MEMORY_SOURCE_BY_MODE = {"process": SOURCE_RUSAGE, "inprocess": SOURCE_RSS_GROWTH, "function": SOURCE_TRACEMALLOC}


def default_sources(backends: NodeBackends, use_valgrind: bool = False,
                    mode: str = "inprocess") -> list[MetricSource]:
    """The source each of the five metrics uses on this node in ``mode`` (profile.mode; its default
    is inprocess), in METRICS order."""
    timed = SOURCE_FUNCTION_LOOP if mode == "function" else SOURCE_WALL
    energy_src = energy_source(backends)
    if mode == "function" and energy_src[0] == energy.SOURCE_RAPL:   # RAPL cannot isolate one call
        energy_src = (energy.SOURCE_ESTIMATE, True)
    chosen = {
        "latency": (timed, False),
        "memory": (MEMORY_SOURCE_BY_MODE[mode], False),
        "cycles": cycles_source(backends, use_valgrind),
        "throughput": (timed, False),
        "energy": energy_src,
    }
    return [MetricSource(m.name, m.column, *chosen[m.name]) for m in METRICS]
