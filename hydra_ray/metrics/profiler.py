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
   instruction counts (deterministic); else CPU time × nominal clock (estimated). The counters wrap a
   process, so in ``inprocess`` and ``function`` mode they count the difference of two processes that
   leaves the interpreter's start-up out (an empty program's run; one call against 1 + N calls):
   :mod:`hydra_ray.metrics.counters`;
5. **energy** – RAPL package energy around each timing run when readable; else cycles × 2.5e-10 J
   (estimated).
Instrumented runs (perf, valgrind) are separate from the timing runs so one never distorts another.

``mode`` (see :mod:`hydra_ray.sandbox.modes`) says how each run is executed and so what a sample is:

- ``process``: a fresh interpreter per run; latency and memory include its start-up (~25 ms, ~13 MB);
- ``inprocess``: forked from a warm runner in the same sandbox; latency from the start of execution to
  the child's exit, ``peak_memory_kb`` = RSS growth over the fork point (kernel ``ru_maxrss`` minus
  the forked baseline, which the program cannot forge); the ``tracemalloc`` peak of the correctness
  run is recorded beside it (``tracemalloc_peak_kb``). Sets with a candidate that must be its own
  process (multiprocessing, re-exec; or failing in-process but passing as a process) fall back to
  ``process``, and the result says so (``mode``, ``mode_reason``);
- ``function``: the entry point (``ProgramSet.function_call``; else the whole program, stdin rewound)
  in a ``timeit``-style loop, ``function_loops`` loops per run, ``function_loop_gap_ms`` apart, of
  which the fastest counts (as ``timeit.repeat`` advises: slower loops measure other processes; short
  loops (>= 0.5 ms) spread over ~2/3 s, so some of them fall in the few-ms fast stretches of a swinging
  host CPU: ``bench_measure.py`` loop_spread_wider); latency and CPU time per call,
  throughput = calls/s, memory = ``tracemalloc`` peak of one call. As with ``timeit``, a whole
  program's imports run in its first call only (the module cache keeps them), so they are not in its
  latency. These figures are taken inside
  the process that runs the code under test, so a hostile function could forge them (the loop time
  is checked against the outside clock); use it for trusted tasks, ``inprocess`` for untrusted ones.
  Correctness comes from the task's own tests, run in-process; a set whose candidate fails as a
  function call falls back to ``inprocess``.

CPU speed probe: the child of every warm run times a fixed loop before any program code runs
(``probe_ns``, outside the timed window; see ``sandbox/_warm.py``); in ``process`` mode each round ends
with one empty in-process run for that probe. ``cpu_speed_cv`` is the coefficient of variation over
the measured rounds of each round's median probe: how much the node's CPU speed moved while this set
was timed (on a shared cloud host a neighbour can slow a vCPU by ~1.5× for seconds, which no
estimator inside the VM removes).
Above ``steady_cv_max`` the timing phase is run again, up to ``remeasure_unsteady`` times, and the
steadiest attempt is kept (unset: once in ``process`` and ``inprocess`` mode, never in ``function``
mode, where two runs over 204 HumanEval tasks measured no gain in measurable tasks for 1.4-3 s more a
task: README, "A CPU whose speed swings"); the row records the probe's CV and the attempts, so labels
and evaluations can tell a set timed on a swinging CPU from one timed on a steady CPU. (Not in the
paper, which in Sec. VIII assumes measurements "reliable and comparable across executions"; README,
Differences.)

Two looks (sequential testing; not in the paper): :mod:`hydra_ray.metrics.profile_config`. Rows
record ``timing_rounds``.

Calibration (the floor of every mode, and the smallest difference it resolves):
:mod:`hydra_ray.metrics.calibration`. How runs are laid out (ABBA rounds, the speed probe, bursts):
:mod:`hydra_ray.metrics.timing_rounds`.
"""
from __future__ import annotations

import math
import time
from typing import Any

from hydra_ray.data.schema import ProgramSet
from hydra_ray.metrics import backends as bk
from hydra_ray.metrics import counters
from hydra_ray.metrics import energy as en
from hydra_ray.metrics.calibration import calibrate, floor_key, resolvable
from hydra_ray.metrics.candidate_result import CandidateResult, MetricValue
from hydra_ray.metrics.names import METRICS
from hydra_ray.metrics.profile_config import ProfileConfig
from hydra_ray.metrics.run_readings import MEMORY_KIND, MEMORY_SOURCE, run_cpu_s, run_latency_ms, run_memory_kb
from hydra_ray.metrics.stats import Look, coefficient_of_variation, compare_samples, decide_two_looks, summarize
from hydra_ray.metrics.timing_rounds import Timing, abba_rounds, throughput_bursts, timing_runs
from hydra_ray.sandbox import progress
from hydra_ray.sandbox.modes import process_only_reason
from hydra_ray.sandbox.runner import RunSpec, Sandbox
from hydra_ray.sandbox.verdict import RunResult, Verdict


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
        self.baseline = calibrate(self.sandbox, cfg, self.backends)
        # Seconds spent per phase since construction: where a run's time goes (benchmarks read it).
        self.phase_seconds: dict[str, float] = {"verification": 0.0, "measurement": 0.0}

    # ---------------------------------------------------------------------------------------------
    def initial_mode(self, ps: ProgramSet) -> tuple[str, str]:
        """(mode, reason) for a set before anything runs: the configured mode unless a candidate's source
        says it must be its own process."""
        if self.cfg.mode == "process":
            return "process", ""
        for c in ps.candidates:
            why = process_only_reason(ps.program(c.code))
            if why:
                return "process", f"candidate {c.name} {why}: measured as a process"
        return self.cfg.mode, ""

    def profile(self, ps: ProgramSet) -> list[CandidateResult]:
        programs = {c.name: ps.program(c.code) for c in ps.candidates}
        results = [CandidateResult(c.name, c.code, Verdict.PASSED, tests_total=len(ps.tests)) for c in ps.candidates]
        t0 = time.perf_counter()
        progress.phase("verifying")   # names what the following sandbox sessions do (enrich's progress line)
        mode, reason = self._check_correctness(ps, programs, results)
        t1 = time.perf_counter()
        self.phase_seconds["verification"] += t1 - t0
        passing = [r for r in results if r.verdict.ok]
        timing = None
        if passing and mode == "function":
            failed, timing = self._measure(ps, programs, passing, mode)
            if failed:   # fails as a function call but passed in-process: the whole set in-process
                mode, reason = "inprocess", failed
                for r in passing:
                    r.verdict, r.detail, r.metrics = Verdict.PASSED, "", {}
                _, timing = self._measure(ps, programs, passing, mode)
        elif passing:
            _, timing = self._measure(ps, programs, passing, mode)
        for r in results:
            r.mode, r.mode_reason, r.floor_key = mode, reason, floor_key(mode, ps)
            r.memory_kind = MEMORY_KIND[mode]
        passing = [r for r in results if r.verdict.ok]
        if len(passing) == 2 and len(results) == 2:
            self._two_looks(ps, programs, passing, mode, timing)
        if timing is not None:
            self.phase_seconds["measurement"] += time.perf_counter() - t1
        return results

    def _two_looks(self, ps: ProgramSet, programs, pair: list[CandidateResult], mode: str, timing: Timing) -> None:
        """Which differences of a 2-candidate set are significant (profile_config's module doc, "Two
        looks"): the first look after ``repeats`` rounds; if latency is inconclusive there,
        ``extra_repeats`` more rounds and a second look at every sample."""
        first_alpha, second_alpha = self.cfg.look_alphas()
        floor = self.floor_of(mode, ps)
        first = self._compare(*pair, floor, first_alpha, first_n=self.cfg.repeats)
        decided = first
        if self.cfg.extra_repeats and not first.get("latency_ms", Look(True, 0.0, 0.0)).significant:
            self._extend(ps, programs, pair, mode, timing)
            if not all(r.verdict.ok for r in pair):   # one failed in the extra rounds: nothing is compared
                return
            second = self._compare(*pair, floor, second_alpha)
            decided = {c: decide_two_looks(first[c], second.get(c)) for c in first}
        for r in pair:
            r.significant_first_look = {c: v.significant for c, v in first.items()}
            r.significant = {c: v.significant for c, v in decided.items()}
            r.p_values = {c: v.p_value for c, v in decided.items()}

    def floor_of(self, mode: str, ps: ProgramSet) -> dict[str, Any]:
        """The calibrated floor that applies to ``ps`` measured in ``mode``."""
        return self.baseline["floors"][floor_key(mode, ps)]

    def verify(self, ps: ProgramSet) -> list[CandidateResult]:
        """Verdicts only (every candidate on every test once), no measurement."""
        results = [CandidateResult(c.name, c.code, Verdict.PASSED, tests_total=len(ps.tests)) for c in ps.candidates]
        t0 = time.perf_counter()
        mode, reason = self._check_correctness(ps, {c.name: ps.program(c.code) for c in ps.candidates}, results)
        for r in results:
            r.mode, r.mode_reason, r.memory_kind = mode, reason, MEMORY_KIND[mode]
        self.phase_seconds["verification"] += time.perf_counter() - t0
        return results

    def _correctness_runs(self, ps, programs, names, mode) -> dict[str, list[RunResult]]:
        specs = [RunSpec(name, t.input, t.expected, float_tol=ps.float_tol, mode=mode,
                         trace_memory=mode == "inprocess") for name in names for t in ps.tests]
        runs = self.sandbox.run_batch(programs, specs)
        n = len(ps.tests)
        return {name: runs[k * n:(k + 1) * n] for k, name in enumerate(names)}

    def _check_correctness(self, ps, programs, results) -> tuple[str, str]:
        """Verdicts of every candidate; returns the (mode, reason) the set is measured in."""
        mode, reason = self.initial_mode(ps)
        check = "process" if mode == "process" else "inprocess"
        names = [r.name for r in results]
        by_name = self._correctness_runs(ps, programs, names, check)
        # Tried again as a process: a failure the warm interpreter may cause. Not a timeout or an output
        # flood alone: without the interpreter's start-up a program is faster, so it would time out again,
        # and each retry costs the whole limit once more.
        failing = [n for n in names
                   if any(r.verdict not in _PROCESS_CANNOT_HELP for r in by_name[n] if not r.verdict.ok)]
        if check == "inprocess" and failing:
            as_process = self._correctness_runs(ps, programs, failing, "process")
            for name in failing:
                if all(r.verdict.ok for r in as_process[name]):
                    bad = next(r for r in by_name[name] if not r.verdict.ok)
                    mode = "process"
                    reason = (f"candidate {name} fails in-process ({bad.verdict.value}: {bad.detail[:120]}) but "
                              "passes as a process: measured as a process")
                    break
            by_name.update(as_process)   # a program failing both ways keeps the process verdict
        n = len(ps.tests)
        for res in results:
            mine = by_name[res.name]
            res.tests_passed = sum(r.verdict.ok for r in mine)
            bad = next((i for i, r in enumerate(mine) if not r.verdict.ok), None)
            if bad is not None:
                res.verdict = mine[bad].verdict
                res.detail = f"test {bad + 1}/{n}: {mine[bad].detail}"
                res.stderr_tail = mine[bad].stderr_tail[-2000:]
            peaks = [r.extra.get("tracemalloc_peak_kb") for r in mine]
            if peaks and all(p is not None for p in peaks):
                res.tracemalloc_peak_kb = max(peaks)
        return mode, reason

    def _measure(self, ps: ProgramSet, programs, passing: list[CandidateResult], mode: str) -> tuple[str, Timing]:
        """Timing, throughput, cycles and energy of the passing candidates: (in function mode, why the set
        must fall back to inprocess, "" when it need not; what was timed, for :meth:`_extend`)."""
        cfg, names, tests = self.cfg, [r.name for r in passing], ps.tests
        rounds = range(cfg.warmup + cfg.repeats)
        t, each = None, []
        while True:   # again while the CPU's speed swung (module doc); keep the steadiest attempt
            progress.phase("timing" if not each else "timing again (CPU speed swung)")
            per, speed = timing_runs(self.sandbox, cfg, ps, programs, names, mode, rounds)
            cv = coefficient_of_variation(list(speed.values()))
            each.append(cv)
            if t is None or (cv is not None and (t.speed_cv is None or cv < t.speed_cv)):
                t = Timing(per, speed, len(rounds))
            if t.speed_cv is None or t.speed_cv <= cfg.steady_cv_max or len(each) > cfg.retimings(mode):
                break
        for res in passing:
            res.timing_attempts, res.cpu_speed_cv_each = len(each), list(each)
        if mode == "function":
            for name in names:
                bad = next((r for rr in t.per[name].values() for r in rr if not r.verdict.ok), None)
                if bad is not None:
                    return (f"candidate {name} fails as a function call ({bad.verdict.value}: {bad.detail[:120]}) "
                            "but passes in-process: measured in-process"), t
        else:
            progress.phase("throughput")
            t.throughput = throughput_bursts(self.sandbox, cfg, programs, names, tests, mode)
        progress.phase("counting cycles")
        t.cycles = self._cycles(ps, programs, names, mode)
        self._derive(ps, passing, mode, t)
        return "", t

    def _extend(self, ps: ProgramSet, programs, passing: list[CandidateResult], mode: str, t: Timing) -> None:
        """``extra_repeats`` more timing rounds, continuing the ABBA order, merged into ``t``; the metrics
        are derived again from every measured round (profile_config's module doc, "Two looks")."""
        more = range(t.rounds, t.rounds + self.cfg.extra_repeats)
        progress.phase("timing (extra rounds)")
        per, speed = timing_runs(self.sandbox, self.cfg, ps, programs, [r.name for r in passing], mode, more)
        for name, by_round in per.items():
            t.per[name].update(by_round)
        t.speed.update(speed)
        t.rounds = more.stop
        self._derive(ps, passing, mode, t)

    def _derive(self, ps: ProgramSet, passing: list[CandidateResult], mode: str, t: Timing) -> None:
        """Every metric of every passing candidate from the measured rounds of ``t``."""
        cfg = self.cfg
        floor = self.floor_of(mode, ps)
        for res in passing:
            res.cpu_speed_cv, res.timing_rounds = t.speed_cv, t.rounds - cfg.warmup
            rounds = [t.per[res.name][r] for r in range(cfg.warmup, t.rounds)]
            failed = next((run for rr in rounds for run in rr if not run.verdict.ok), None)
            if failed is not None:  # flaky: passed once, failed while being measured
                res.verdict, res.detail = failed.verdict, f"failed during repeated runs: {failed.detail}"
                res.stderr_tail = failed.stderr_tail[-2000:]
                continue
            lat = [sum(run_latency_ms(r, mode) for r in rr) for rr in rounds]
            mem = [float(max(run_memory_kb(r, mode) for r in rr)) for rr in rounds]
            cpu_s = [sum(run_cpu_s(r, mode) for r in rr) for rr in rounds]
            m = res.metrics
            lat_source = bk.SOURCE_FUNCTION_LOOP if mode == "function" else bk.SOURCE_WALL
            m["latency_ms"] = MetricValue(None, "ms", lat_source, False, lat)
            m["peak_memory_kb"] = MetricValue(None, "KB", MEMORY_SOURCE[mode], False, mem)
            if mode == "function":   # calls/s of one pass over the tests: the paper's throughput
                m["throughput_per_s"] = MetricValue(None, "calls/s", bk.SOURCE_FUNCTION_LOOP, False,
                                                    [1e3 / x for x in lat if x > 0])
            else:
                m["throughput_per_s"] = MetricValue(None, "runs/s", bk.SOURCE_WALL, False, t.throughput[res.name])
            if self.cycles_source == bk.SOURCE_CYCLES_ESTIMATE:
                cycles = [bk.estimate_cycles(c, self.backends.cpu.clock_hz) for c in cpu_s]
                m["cpu_cycles"] = MetricValue(None, "cycles", self.cycles_source, True, cycles)
            else:
                unit = "instructions" if self.cycles_source == bk.SOURCE_VALGRIND else "cycles"
                m["cpu_cycles"] = MetricValue(None, unit, self.cycles_source, False, t.cycles[res.name])
            if self.energy_source == en.SOURCE_RAPL and mode != "function":
                joules = [sum((r.extra.get("energy_uj") or 0) for r in rr) / 1e6 for rr in rounds]
                m["energy_j"] = MetricValue(None, "J", en.SOURCE_RAPL, False, joules)
            else:
                joules = [en.estimate_energy_j(c) for c in m["cpu_cycles"].samples]
                m["energy_j"] = MetricValue(None, "J", en.SOURCE_ESTIMATE, True, joules)
            for mv in m.values():
                mv.value = summarize(mv.samples).median if mv.samples else None
            if mode == "process":
                res.peak_memory_net_kb = max(0.0, m["peak_memory_kb"].value - self.baseline["interpreter_rss_kb"])
            else:   # already net of the fork point (inprocess) / of the warm interpreter (function)
                res.peak_memory_net_kb = max(0.0, m["peak_memory_kb"].value - floor["memory_kb"])
            if mode == "inprocess":
                res.rss_growth_kb = m["peak_memory_kb"].value
            if mode == "function":
                peaks = [r.extra.get("tracemalloc_peak_kb") for rr in rounds for r in rr]
                res.tracemalloc_peak_kb = max(p for p in peaks if p is not None) if any(
                    p is not None for p in peaks) else None
                calls = [r.extra.get("calls") or 0 for rr in rounds for r in rr]
                res.function_calls = int(summarize(calls).median) if calls else None

    def _cycles(self, ps: ProgramSet, programs, names: list[str], mode: str) -> dict[str, list[float]]:
        """perf/valgrind counts of each candidate, one per round, of what ``mode`` measures: the whole
        process, the program net of an empty one's start-up, or one call (:mod:`~hydra_ray.metrics.counters`)."""
        if self.cycles_source == bk.SOURCE_CYCLES_ESTIMATE:
            return {}
        # A counted function-mode run makes 1 + counter_calls calls where a test run makes one: more time.
        calls = 1 + self.cfg.counter_calls if mode == "function" else 1
        if self.cycles_source == bk.SOURCE_VALGRIND:
            prefix, factor, n_rounds = bk.valgrind_command_prefix(), self.cfg.valgrind_time_factor * calls, 1
            parse = lambda text: float(bk.parse_valgrind_instructions(text))  # noqa: E731
        else:
            prefix, factor, n_rounds = bk.perf_command_prefix("/dev/stderr"), calls, self.cfg.repeats
            parse = lambda text: float(bk.parse_perf_output(text).cycles or math.nan)  # noqa: E731
        limits = self.cfg.sandbox.scaled(factor) if factor != 1 else None
        return counters.count_rounds(self.sandbox, ps, programs, abba_rounds(names, n_rounds), mode,
                                     self.cfg.counter_calls, prefix, limits, parse)

    def _compare(self, a: CandidateResult, b: CandidateResult, floor: dict[str, Any], alpha: float,
                 first_n: int | None = None) -> dict[str, Look]:
        """Each metric of ``a`` against ``b`` at level ``alpha``, from their first ``first_n`` samples (all:
        None); a difference below what this mode's floor resolves is never significant (module doc)."""
        smallest = resolvable(floor, self.cfg.floor_multiple)
        out: dict[str, Look] = {}
        for spec in METRICS:
            ma, mb = a.metrics.get(spec.column), b.metrics.get(spec.column)
            if not ma or not mb or not ma.samples or not mb.samples:
                continue
            xa, xb = ma.samples[:first_n], mb.samples[:first_n]
            cmp = compare_samples(xa, xb, alpha=alpha, min_effect=self.cfg.min_effect)
            diff = summarize(xb).median - summarize(xa).median
            significant = cmp.significant
            if significant and spec.column in smallest and abs(diff) < smallest[spec.column]:
                significant = False   # below what the floor of this mode lets us resolve
            out[spec.column] = Look(significant, cmp.p_value, diff)
        return out


# In-process failures that a run as a process would only repeat, at the cost of the limit (_check_correctness).
_PROCESS_CANNOT_HELP = (Verdict.TIMEOUT, Verdict.OUTPUT_LIMIT)
