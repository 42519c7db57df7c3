"""Measure a set of equivalent candidates: verdicts first, then five metrics with repeat statistics.

Phases, each one sandbox session so every candidate of the set runs on the same node and CPU:

1. **correctness** – every candidate on every test once, outputs compared (also warms the page cache);
2. **timing** – ``warmup + repeats`` rounds; each round runs every passing candidate over all tests,
   interleaved in ABBA order (A B, B A, …) so drift and order effects cancel. One sample per
   candidate and round: latency = Σ wall over the tests, peak memory = max RSS over the tests (kernel
   rusage, no instrumentation), CPU time = Σ user+sys;
3. **throughput** – bursts of back-to-back runs per candidate; runs/s = runs ÷ (end of last − start
   of first), so the sandbox's per-run cost is part of what is measured;
4. **cycles** – ``perf stat`` around each program when counters work; else, when enabled, valgrind
   instruction counts (deterministic); else CPU time × nominal clock (estimated);
5. **energy** – RAPL package energy around each timing run when readable; else cycles × 2.5e-10 J
   (estimated).
Instrumented runs (perf, valgrind) are separate from the timing runs so one never distorts another.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from hydra_ray.config import Config, in_range, one_of, positive
from hydra_ray.data.schema import ProgramSet
from hydra_ray.metrics import backends as bk
from hydra_ray.metrics import energy as en
from hydra_ray.metrics.names import METRICS
from hydra_ray.metrics.stats import compare_samples, summarize
from hydra_ray.sandbox.limits import SandboxLimits
from hydra_ray.sandbox.runner import RunSpec, Sandbox
from hydra_ray.sandbox.verdict import RunResult, Verdict


@dataclass
class ProfileConfig(Config):
    warmup: int = 1
    repeats: int = 5
    throughput_bursts: int = 5
    throughput_burst_runs: int = 1        # back-to-back passes over all tests per burst
    cycles_backend: str = "auto"          # auto | perf | valgrind | estimate
    energy_backend: str = "auto"          # auto | rapl | estimate
    valgrind_time_factor: float = 80.0    # valgrind runs ~40x slower; its time limits scale by this
    significance_alpha: float = 0.05
    min_effect: float = 0.02              # relative difference of medians below this is never "significant"
    sandbox: SandboxLimits = field(default_factory=SandboxLimits)

    def _check(self, errors: list[str]) -> None:
        positive(errors, "warmup", self.warmup, allow_zero=True)
        positive(errors, "repeats", self.repeats)
        positive(errors, "throughput_bursts", self.throughput_bursts)
        for name in ("repeats", "throughput_bursts"):
            n = getattr(self, name)
            if isinstance(n, int) and n > 0 and isinstance(self.significance_alpha, float):
                smallest_p = 2 / math.comb(2 * n, n)  # two-sided Mann-Whitney, n vs n, complete separation
                if smallest_p >= self.significance_alpha:
                    errors.append(f"{name}: with {n} samples per candidate a two-sided Mann-Whitney test cannot "
                                  f"reach p < {self.significance_alpha} (smallest p is {smallest_p:.3g}), so no "
                                  f"difference could ever be significant; expected >= 4")
        positive(errors, "throughput_burst_runs", self.throughput_burst_runs)
        one_of(errors, "cycles_backend", self.cycles_backend, ("auto", "perf", "valgrind", "estimate"))
        one_of(errors, "energy_backend", self.energy_backend, ("auto", "rapl", "estimate"))
        positive(errors, "valgrind_time_factor", self.valgrind_time_factor)
        in_range(errors, "significance_alpha", self.significance_alpha, 1e-6, 0.5)
        in_range(errors, "min_effect", self.min_effect, 0.0, 10.0)


@dataclass
class MetricValue:
    value: float | None
    unit: str
    source: str
    estimated: bool
    samples: list[float]

    @property
    def summary(self):
        return summarize(self.samples) if self.samples else None


@dataclass
class CandidateResult:
    name: str
    code: str
    verdict: Verdict
    detail: str = ""
    tests_passed: int = 0
    tests_total: int = 0
    metrics: dict[str, MetricValue] = field(default_factory=dict)   # by metric column
    peak_memory_net_kb: float | None = None
    significant: dict[str, bool | None] = field(default_factory=dict)
    p_values: dict[str, float | None] = field(default_factory=dict)
    stderr_tail: str = ""


def resolve_sources(cfg: ProfileConfig, nb: bk.NodeBackends) -> tuple[str, str]:
    """(cycles source, energy source) for this config on this node; explicit choices must be possible."""
    want = cfg.cycles_backend
    if want == "perf" and not nb.perf.available:
        raise RuntimeError(f"profile.cycles_backend=perf but perf counters are unavailable: {nb.perf.detail}")
    if want == "valgrind" and not nb.valgrind.available:
        raise RuntimeError(f"profile.cycles_backend=valgrind but valgrind is unavailable: {nb.valgrind.detail}")
    if want == "auto":
        cycles = bk.SOURCE_PERF if nb.perf.available else bk.SOURCE_CYCLES_ESTIMATE
    else:
        cycles = {"perf": bk.SOURCE_PERF, "valgrind": bk.SOURCE_VALGRIND,
                  "estimate": bk.SOURCE_CYCLES_ESTIMATE}[want]
    if cfg.energy_backend == "rapl" and not nb.rapl.available:
        raise RuntimeError(f"profile.energy_backend=rapl but RAPL is unreadable: {nb.rapl.detail}")
    energy = en.SOURCE_RAPL if (cfg.energy_backend != "estimate" and nb.rapl.available) else en.SOURCE_ESTIMATE
    return cycles, energy


class Profiler:
    """Measures program sets on this node. Construct once per worker (it calibrates the node)."""

    def __init__(self, cfg: ProfileConfig):
        self.cfg = cfg
        self.sandbox = Sandbox(cfg.sandbox)
        self.backends = bk.detect_backends()
        self.cycles_source, self.energy_source = resolve_sources(cfg, self.backends)
        if self.energy_source == en.SOURCE_RAPL:
            zones, _ = en.find_package_zones()
            self.sandbox.rapl_files = [str(z.energy_path) for z in zones]
        self.baseline = self._calibrate()
        # Seconds spent per phase since construction: where a run's time goes (benchmarks read it).
        self.phase_seconds: dict[str, float] = {"verification": 0.0, "measurement": 0.0}

    def _calibrate(self) -> dict[str, Any]:
        """The interpreter's own start-up cost on this node: subtracted for net memory, recorded."""
        runs = self.sandbox.run_batch({"empty": "pass\n"}, [RunSpec("empty", want_stdout=False)] * 5)
        ok = [r for r in runs if r.verdict.ok]
        if not ok:
            raise RuntimeError(f"calibration failed: an empty program does not run in the sandbox: "
                               f"{runs[0].verdict.value} {runs[0].detail}")
        return {"interpreter_rss_kb": summarize([r.max_rss_kb for r in ok]).median,
                "interpreter_ms": summarize([r.wall_ms for r in ok]).median,
                "isolation": self.sandbox.info.mechanism, "cpu_model": self.backends.cpu.model,
                "clock_hz": self.backends.cpu.clock_hz}

    # ---------------------------------------------------------------------------------------------
    def profile(self, ps: ProgramSet) -> list[CandidateResult]:
        programs = {c.name: c.code for c in ps.candidates}
        results = [CandidateResult(c.name, c.code, Verdict.PASSED, tests_total=len(ps.tests)) for c in ps.candidates]
        t0 = time.perf_counter()
        self._check_correctness(ps, programs, results)
        t1 = time.perf_counter()
        self.phase_seconds["verification"] += t1 - t0
        passing = [r for r in results if r.verdict.ok]
        if passing:
            self._measure(ps, programs, passing)
            self.phase_seconds["measurement"] += time.perf_counter() - t1
        passing = [r for r in results if r.verdict.ok]
        if len(passing) == 2 and len(results) == 2:
            self._significance(*passing)
        return results

    def verify(self, ps: ProgramSet) -> list[CandidateResult]:
        """Verdicts only (every candidate on every test once), no measurement."""
        results = [CandidateResult(c.name, c.code, Verdict.PASSED, tests_total=len(ps.tests)) for c in ps.candidates]
        t0 = time.perf_counter()
        self._check_correctness(ps, {c.name: c.code for c in ps.candidates}, results)
        self.phase_seconds["verification"] += time.perf_counter() - t0
        return results

    def _check_correctness(self, ps, programs, results) -> None:
        specs = [RunSpec(c.name, t.input, t.expected, float_tol=ps.float_tol) for c in ps.candidates for t in ps.tests]
        runs = self.sandbox.run_batch(programs, specs)
        n = len(ps.tests)
        for k, res in enumerate(results):
            mine = runs[k * n:(k + 1) * n]
            res.tests_passed = sum(r.verdict.ok for r in mine)
            bad = next((i for i, r in enumerate(mine) if not r.verdict.ok), None)
            if bad is not None:
                res.verdict = mine[bad].verdict
                res.detail = f"test {bad + 1}/{n}: {mine[bad].detail}"
                res.stderr_tail = mine[bad].stderr_tail[-2000:]

    def _rounds(self, names: list[str], n_rounds: int) -> list[list[str]]:
        return [names if r % 2 == 0 else names[::-1] for r in range(n_rounds)]

    def _measure(self, ps: ProgramSet, programs, passing: list[CandidateResult]) -> None:
        cfg, names, tests = self.cfg, [r.name for r in passing], ps.tests
        n_rounds = cfg.warmup + cfg.repeats
        specs, owners = [], []
        for rnd, order in enumerate(self._rounds(names, n_rounds)):
            for name in order:
                for t in tests:
                    specs.append(RunSpec(name, t.input, want_stdout=False))
                    owners.append((rnd, name))
        runs = self.sandbox.run_batch(programs, specs)
        per: dict[str, dict[int, list[RunResult]]] = {n: {} for n in names}
        for (rnd, name), run in zip(owners, runs):
            per[name].setdefault(rnd, []).append(run)
        tput = self._throughput(programs, names, tests)
        cyc = self._cycles(programs, names, tests)
        for res in passing:
            rounds = [per[res.name][r] for r in range(cfg.warmup, n_rounds)]
            failed = next((run for rr in rounds for run in rr if not run.verdict.ok), None)
            if failed is not None:  # flaky: passed once, failed while being measured
                res.verdict, res.detail = failed.verdict, f"failed during repeated runs: {failed.detail}"
                continue
            lat = [sum(r.wall_ms for r in rr) for rr in rounds]
            mem = [float(max(r.max_rss_kb for r in rr)) for rr in rounds]
            cpu_s = [sum(r.cpu_s for r in rr) for rr in rounds]
            m = res.metrics
            m["latency_ms"] = MetricValue(None, "ms", bk.SOURCE_WALL, False, lat)
            m["peak_memory_kb"] = MetricValue(None, "KB", bk.SOURCE_RUSAGE, False, mem)
            m["throughput_per_s"] = MetricValue(None, "runs/s", bk.SOURCE_WALL, False, tput[res.name])
            if self.cycles_source == bk.SOURCE_CYCLES_ESTIMATE:
                cycles = [bk.estimate_cycles(c, self.backends.cpu.clock_hz) for c in cpu_s]
                m["cpu_cycles"] = MetricValue(None, "cycles", self.cycles_source, True, cycles)
            else:
                unit = "instructions" if self.cycles_source == bk.SOURCE_VALGRIND else "cycles"
                m["cpu_cycles"] = MetricValue(None, unit, self.cycles_source, False, cyc[res.name])
            if self.energy_source == en.SOURCE_RAPL:
                joules = [sum((r.extra.get("energy_uj") or 0) for r in rr) / 1e6 for rr in rounds]
                m["energy_j"] = MetricValue(None, "J", en.SOURCE_RAPL, False, joules)
            else:
                joules = [en.estimate_energy_j(c) for c in m["cpu_cycles"].samples]
                m["energy_j"] = MetricValue(None, "J", en.SOURCE_ESTIMATE, True, joules)
            for mv in m.values():
                mv.value = summarize(mv.samples).median if mv.samples else None
            res.peak_memory_net_kb = max(0.0, m["peak_memory_kb"].value - self.baseline["interpreter_rss_kb"])

    def _throughput(self, programs, names, tests) -> dict[str, list[float]]:
        cfg = self.cfg
        specs, owners = [], []
        for burst, order in enumerate(self._rounds(names, cfg.throughput_bursts)):
            for name in order:
                for _ in range(cfg.throughput_burst_runs):
                    for t in tests:
                        specs.append(RunSpec(name, t.input, want_stdout=False))
                        owners.append((burst, name))
        runs = self.sandbox.run_batch(programs, specs)
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

    def _cycles(self, programs, names, tests) -> dict[str, list[float]]:
        if self.cycles_source == bk.SOURCE_CYCLES_ESTIMATE:
            return {}
        if self.cycles_source == bk.SOURCE_VALGRIND:
            prefix, limits, n_rounds = bk.valgrind_command_prefix(), self.cfg.sandbox.scaled(self.cfg.valgrind_time_factor), 1
        else:
            prefix, limits, n_rounds = bk.perf_command_prefix("/dev/stderr"), None, self.cfg.repeats
        specs, owners = [], []
        for rnd, order in enumerate(self._rounds(names, n_rounds)):
            for name in order:
                for t in tests:
                    specs.append(RunSpec(name, t.input, argv_prefix=prefix, want_stdout=False, limits=limits))
                    owners.append((rnd, name))
        runs = self.sandbox.run_batch(programs, specs)
        totals: dict[tuple[int, str], float] = {}
        for key, run in zip(owners, runs):
            try:
                if not run.verdict.ok:
                    raise ValueError(run.detail)
                if self.cycles_source == bk.SOURCE_VALGRIND:
                    count = float(bk.parse_valgrind_instructions(run.stderr_tail))
                else:
                    count = float(bk.parse_perf_output(run.stderr_tail).cycles or math.nan)
            except ValueError:
                count = math.nan  # that round yields no sample; n tells how many did
            totals[key] = totals.get(key, 0.0) + count
        out: dict[str, list[float]] = {n: [] for n in names}
        for (_, name), v in sorted(totals.items()):
            if not math.isnan(v):
                out[name].append(v)
        return out

    def _significance(self, a: CandidateResult, b: CandidateResult) -> None:
        for spec in METRICS:
            ma, mb = a.metrics.get(spec.column), b.metrics.get(spec.column)
            if not ma or not mb or not ma.samples or not mb.samples:
                continue
            cmp = compare_samples(ma.samples, mb.samples, alpha=self.cfg.significance_alpha,
                                  min_effect=self.cfg.min_effect)
            for r in (a, b):
                r.significant[spec.column] = cmp.significant
                r.p_values[spec.column] = cmp.p_value
