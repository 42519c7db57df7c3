"""Energy: Intel/AMD RAPL package counters from sysfs, else an estimate from CPU cycles.

RAPL (``/sys/class/powercap/intel-rapl:N/energy_uj``) counts the energy of a whole CPU *package*:
every process on the socket, the kernel and idle power included, not just the measured program.
The profiler should therefore

1. measure the idle power once per node, with nothing of its own running:
   ``idle_w = measure_idle_power_w(reader, seconds=2.0)``;
2. for each run, read the counter just before and after the program (``read_uj()`` twice) and
   report ``subtract_idle_baseline(delta_uj / 1e6, wall_s, idle_w)``.

The counter updates about once a millisecond, so runs shorter than ~10 ms are dominated by
quantisation: repeat them (the throughput loop) and divide. Without RAPL the energy is
``cycles × 2.5e-10 J`` (0.25 nJ a cycle, 1 W at 4 GHz), labelled estimated: proportional to
cycles, so it ranks candidates exactly as cycles do and its absolute scale is nominal. Since 2020 (CVE-2020-8694) ``energy_uj`` is readable by root only.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

POWERCAP_ROOT = Path("/sys/class/powercap")
# Top-level zones are packages ("intel-rapl:0"); "intel-rapl:0:0" (core, dram…) are sub-zones of
# a package and already inside its count, so summing them too would double count.
_PACKAGE_ZONE = re.compile(r"^intel-rapl:\d+$")

JOULES_PER_CYCLE = 2.5e-10
SOURCE_RAPL = "rapl"
SOURCE_ESTIMATE = "estimate_cycles_x_2.5e-10"


class RaplUnavailable(RuntimeError):
    """No readable RAPL package counter on this node."""


def estimate_energy_j(cycles: float) -> float:
    """Energy estimate in joules from a cycle count (source :data:`SOURCE_ESTIMATE`, estimated)."""
    if cycles < 0:
        raise ValueError(f"estimate_energy_j: cycles must be >= 0, got {cycles!r}")
    return cycles * JOULES_PER_CYCLE


def energy_delta_uj(before: int, after: int, max_range_uj: int) -> int:
    """Energy between two raw readings of one wrapping counter.

    The counter runs 0 … max_range_uj and then restarts at 0, so when ``after < before`` it
    wrapped once: the energy is (max_range_uj − before) up to the wrap plus ``after`` since.
    Two wraps between readings cannot be told apart from one: read at least once a wrap period
    (max_range_uj / power; ~262 kJ / 100 W ≈ 44 min on common parts).
    """
    if after >= before:
        return after - before
    if max_range_uj <= 0:
        raise ValueError(f"counter went back from {before} to {after} µJ and max_energy_range_uj "
                         f"is {max_range_uj}: cannot correct the wraparound")
    return max_range_uj - before + after


def subtract_idle_baseline(energy_j: float, wall_s: float, idle_w: float) -> float:
    """Program energy = package energy − idle power × wall time, floored at 0 (noise can undershoot)."""
    return max(0.0, energy_j - idle_w * wall_s)


@dataclass(frozen=True)
class RaplZone:
    name: str            # e.g. "package-0", from the zone's ``name`` file
    energy_path: Path
    max_range_uj: int


def find_package_zones(root: Path = POWERCAP_ROOT) -> tuple[list[RaplZone], str]:
    """Readable package zones under ``root`` and, when there are none, why not."""
    if not root.is_dir():
        return [], f"{root} does not exist (no powercap driver: a VM, or not an Intel/AMD CPU)"
    zones: list[RaplZone] = []
    problems: list[str] = []
    for d in sorted(p for p in root.iterdir() if _PACKAGE_ZONE.match(p.name)):
        energy = d / "energy_uj"
        try:
            int(energy.read_text())
            max_range = int((d / "max_energy_range_uj").read_text())
        except (OSError, ValueError) as e:
            problems.append(f"{energy}: {e.__class__.__name__}: {e}")
            continue
        name_file = d / "name"
        name = name_file.read_text().strip() if name_file.is_file() else d.name
        zones.append(RaplZone(name, energy, max_range))
    if zones:
        return zones, ""
    if problems:
        return [], "; ".join(problems) + " (energy_uj is root-only since CVE-2020-8694)"
    return [], f"no intel-rapl:N package zone under {root}"


class RaplReader:
    """Monotonic package energy in µJ, summed over packages, wraparound corrected.

    ``read_uj()`` returns the energy accumulated since the reader was created; take the
    difference of two calls around a run.
    """

    def __init__(self, root: Path = POWERCAP_ROOT):
        self.zones, why = find_package_zones(Path(root))
        if not self.zones:
            raise RaplUnavailable(f"RAPL unavailable: {why}")
        self._last = [self._raw(z) for z in self.zones]
        self._total = 0

    @staticmethod
    def _raw(zone: RaplZone) -> int:
        return int(zone.energy_path.read_text())

    def read_uj(self) -> int:
        for i, zone in enumerate(self.zones):
            now = self._raw(zone)
            self._total += energy_delta_uj(self._last[i], now, zone.max_range_uj)
            self._last[i] = now
        return self._total


def measure_idle_power_w(reader: RaplReader, seconds: float = 2.0) -> float:
    """Average package power while this process sleeps: the baseline to subtract from each run."""
    if seconds <= 0:
        raise ValueError(f"measure_idle_power_w: seconds must be > 0, got {seconds!r}")
    e0, t0 = reader.read_uj(), time.perf_counter()
    time.sleep(seconds)
    e1, t1 = reader.read_uj(), time.perf_counter()
    return (e1 - e0) / 1e6 / (t1 - t0)
