"""How a set's runs are laid out for timing: ABBA rounds, the CPU speed probe, and throughput bursts.

Each call here is one sandbox session, so every candidate of the set runs on the same node and CPU;
what the runs mean (metrics, significance) is the profiler's business (:mod:`hydra_ray.metrics.profiler`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from hydra_ray.data.schema import ProgramSet
from hydra_ray.metrics.profile_config import ProfileConfig
from hydra_ray.metrics.stats import coefficient_of_variation
from hydra_ray.sandbox.runner import RunSpec, Sandbox
from hydra_ray.sandbox.verdict import RunResult

# process mode's CPU speed probe: an empty in-process run, for the probe its child takes (sandbox/_warm.py).
SPEED_PROBE = "__cpu_speed_probe__"
SPEED_PROBE_SOURCE = "pass\n"


@dataclass
class Timing:
    """What the timing phase of one set ran: runs per candidate and round (warm-up rounds included),
    the CPU speed probe per measured round, and the throughput bursts and cycle counts beside them."""
    per: dict[str, dict[int, list[RunResult]]]
    speed: dict[int, float]
    rounds: int                       # rounds run so far, warm-up included
    throughput: dict[str, list[float]] = field(default_factory=dict)
    cycles: dict[str, list[float]] = field(default_factory=dict)

    @property
    def speed_cv(self) -> float | None:
        return coefficient_of_variation(list(self.speed.values()))


def abba_order(names: list[str], rnd: int) -> list[str]:
    """Round ``rnd`` of the ABBA interleaving: A B, B A, A B, ..."""
    return names if rnd % 2 == 0 else names[::-1]


def abba_rounds(names: list[str], n_rounds: int) -> list[list[str]]:
    return [abba_order(names, r) for r in range(n_rounds)]


def timed_spec(cfg: ProfileConfig, ps: ProgramSet, name: str, test, mode: str, **kw) -> RunSpec:
    if mode == "function":
        # The first call's output is checked too: a program that behaves differently when called
        # again (state left in modules) shows up here, and the set falls back to inprocess.
        return RunSpec(name, test.input, test.expected, float_tol=ps.float_tol, mode=mode,
                       call=ps.function_call, min_calls=cfg.function_min_calls,
                       min_sample_ms=cfg.function_min_sample_ms, loops=cfg.function_loops,
                       loop_gap_ms=cfg.function_loop_gap_ms, **kw)
    return RunSpec(name, test.input, want_stdout=False, mode=mode, **kw)


def timing_runs(sandbox: Sandbox, cfg: ProfileConfig, ps: ProgramSet, programs, names: list[str], mode: str,
                rounds: range):
    """Timing rounds ``rounds`` (ABBA by the round's number; those below ``warmup`` are warm-up):
    (runs per name and round, the CPU speed probe's median per measured round). Warm runs carry the
    probe themselves (``probe_ns``, timed by the child before any program code); a ``process`` round
    ends with one probe run of its own."""
    probe_runs = mode == "process" and SPEED_PROBE not in programs
    specs, owners = [], []
    for rnd in rounds:
        for name in abba_order(names, rnd):
            for t in ps.tests:
                specs.append(timed_spec(cfg, ps, name, t, mode, speed_probe=mode != "process"))
                owners.append((rnd, name))
        if probe_runs:
            specs.append(RunSpec(SPEED_PROBE, want_stdout=False, mode="inprocess", speed_probe=True))
            owners.append((rnd, SPEED_PROBE))
    runs = sandbox.run_batch({**programs, SPEED_PROBE: SPEED_PROBE_SOURCE} if probe_runs else programs, specs)
    per: dict[str, dict[int, list[RunResult]]] = {n: {} for n in [*names, SPEED_PROBE]}
    for (rnd, name), run in zip(owners, runs):
        per[name].setdefault(rnd, []).append(run)
    probes = per.pop(SPEED_PROBE)
    speed: dict[int, float] = {}   # one figure a measured round: how fast the CPU was then
    for rnd in rounds:
        if rnd < cfg.warmup:
            continue
        rr = probes.get(rnd, []) if probe_runs else [r for n in names for r in per[n].get(rnd, [])]
        ns = [r.extra.get("probe_ns") for r in rr if r.verdict.ok and r.extra.get("probe_ns")]
        if ns:
            speed[rnd] = float(sorted(ns)[len(ns) // 2])
    return per, speed


def throughput_bursts(sandbox: Sandbox, cfg: ProfileConfig, programs, names, tests,
                      mode: str = "process") -> dict[str, list[float]]:
    """Runs/s of each candidate in bursts of back-to-back runs: runs ÷ (end of last − start of first)."""
    specs, owners = [], []
    for burst, order in enumerate(abba_rounds(names, cfg.throughput_bursts)):
        for name in order:
            for _ in range(cfg.throughput_burst_runs):
                for t in tests:
                    specs.append(RunSpec(name, t.input, want_stdout=False, mode=mode))
                    owners.append((burst, name))
    runs = sandbox.run_batch(programs, specs)
    spans: dict[tuple[int, str], list[RunResult]] = {}
    for key, run in zip(owners, runs):
        spans.setdefault(key, []).append(run)
    out: dict[str, list[float]] = {n: [] for n in names}
    for (burst, name), rr in sorted(spans.items()):
        start = min(r.extra.get("t_start_ns", 0) for r in rr)
        end = max(r.extra.get("t_end_ns", 0) for r in rr)
        if end > start and all(r.verdict.ok for r in rr):
            out[name].append(len(rr) / ((end - start) / 1e9))
    return out
