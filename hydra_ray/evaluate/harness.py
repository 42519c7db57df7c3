"""The evaluation loop: candidates from an optimiser, measured against the original, one results row
per task × input size × configuration × candidate.

``measure_task`` verifies and measures one program with the project's sandbox and profiler; around
it: proposing, de-duplicating measurements, ratios, intervals, significance, the table the reports read.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from hydra_ray.data.programs import program_key
from hydra_ray.evaluate.optimizers import Candidate, Optimizer
from hydra_ray.evaluate.stats import improvement
from hydra_ray.evaluate.tasks import Task
from hydra_ray.metrics.names import METRIC_NAMES

PASSED = "passed"
# Verdicts the loop itself assigns, beside the sandbox's (passed, wrong_answer, runtime_error, …).
NO_CODE = "no_code"                  # the optimiser returned nothing runnable
ORIGINAL_FAILED = "original_failed"  # the original fails its own tests: nothing to compare against


@dataclass(frozen=True)
class Measurement:
    """What ``measure_task`` returns for one program on one task (all of its tests).

    ``samples`` maps a metric name (METRIC_NAMES) to its repeat samples, over the whole test set
    (e.g. summed latency of all tests per repeat); it is filled only when ``verdict == "passed"``.
    """
    verdict: str
    detail: str = ""
    tests_passed: int = 0
    tests_total: int = 0
    samples: dict[str, list[float]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)   # metric -> backend, e.g. "wall_clock"
    estimated: dict[str, bool] = field(default_factory=dict)
    mode: str = ""                 # measurement mode used (process | inprocess | function)
    mode_reason: str = ""          # why, when it is not the configured one (a fallback)
    units: dict[str, str] = field(default_factory=dict)    # metric -> unit, e.g. "calls/s"
    tracemalloc_peak_kb: float | None = None
    # The profiler's verdict on each metric of an interleaved pair, floor of the mode included: False
    # means the difference is below what the node resolves in that mode, so no ratio is claimed.
    significant: dict[str, bool | None] = field(default_factory=dict)
    cpu_speed_cv: float | None = None   # the profiler's CPU speed probe while this was timed


_PROFILERS: dict[tuple, Any] = {}
STATISTICS_SECONDS = [0.0]   # time in bootstrap intervals and tests, for the evaluation benchmark


def phase_seconds() -> dict[str, float]:
    """Seconds spent so far in this process: sandbox verification, measurement, statistics."""
    out = {"verification": 0.0, "measurement": 0.0, "statistics": STATISTICS_SECONDS[0]}
    for prof in _PROFILERS.values():
        for k, v in prof.phase_seconds.items():
            out[k] += v
    return out


def _profiler(cfg: Any):
    """One calibrated profiler per measurement setting (calibration runs the interpreter 5 times)."""
    from hydra_ray.metrics.profiler import ProfileConfig, Profiler
    from hydra_ray.sandbox.limits import SandboxLimits

    m = cfg.measure
    mode = getattr(m, "mode", "inprocess")
    key = (m.repeats, m.timeout_s, m.memory_limit_mb, mode,
           getattr(m, "function_min_calls", ProfileConfig.function_min_calls),
           getattr(m, "function_min_sample_ms", ProfileConfig.function_min_sample_ms),
           getattr(m, "cycles_backend", ProfileConfig.cycles_backend))
    if key not in _PROFILERS:
        limits = SandboxLimits(wall_time_s=m.timeout_s, cpu_time_s=m.timeout_s, memory_mb=m.memory_limit_mb)
        _PROFILERS[key] = Profiler(ProfileConfig(repeats=m.repeats, throughput_bursts=m.repeats,
                                                 mode=mode, function_min_calls=key[4], function_min_sample_ms=key[5],
                                                 cycles_backend=key[6], sandbox=limits))
    return _PROFILERS[key]


def _to_measurement(res, wanted) -> Measurement:
    if not res.verdict.ok:
        return Measurement(res.verdict.value, res.detail, res.tests_passed, res.tests_total,
                           mode=res.mode, mode_reason=res.mode_reason)
    return Measurement(
        res.verdict.value, res.detail, res.tests_passed, res.tests_total,
        samples={m.name: list(res.metrics[m.column].samples) for m in wanted},
        sources={m.name: res.metrics[m.column].source for m in wanted},
        estimated={m.name: res.metrics[m.column].estimated for m in wanted},
        mode=res.mode, mode_reason=res.mode_reason,
        units={m.name: res.metrics[m.column].unit for m in wanted}, tracemalloc_peak_kb=res.tracemalloc_peak_kb,
        significant={m.name: res.significant.get(m.column) for m in wanted}, cpu_speed_cv=res.cpu_speed_cv)


def _program_set(task: Task, codes: list[tuple[str, str]]):
    """The task as a profiler program set. A function task (``meta["function_call"]``, e.g. HumanEval)
    keeps its entry point's call apart, so ``function`` mode times only that call; in the other modes
    the program run is the same ``task.runnable(code)`` either way."""
    from hydra_ray.data.schema import Candidate as Prog
    from hydra_ray.data.schema import ProgramSet, TestCase as Case

    tol = 1e-6 if task.compare == "float_tol" else None
    call = task.meta.get("function_call")
    if call:
        setup = task.meta.get("function_setup", "")
        progs = [Prog(name, code.rstrip("\n") + ("\n\n" + setup.strip() + "\n" if setup else "\n"))
                 for name, code in codes]
    else:
        progs = [Prog(name, task.runnable(code)) for name, code in codes]
    return ProgramSet(task.id, task.id, progs, [Case(t.input, t.expected) for t in task.tests], tol,
                      function_call=call or None)


def measure_pair(task: Task, original_code: str, candidate_code: str, cfg: Any) -> tuple[Measurement, Measurement]:
    """Original and candidate in one profiler session: same node, same CPU, interleaved A B, B A, …
    so drift cancels out of their ratio (the comparison every results row reports)."""
    from hydra_ray.metrics.names import BY_NAME

    wanted = [BY_NAME[n] for n in cfg.measure.metrics]
    orig, cand = _profiler(cfg).profile(_program_set(task, [("original", original_code),
                                                             ("candidate", candidate_code)]))
    return _to_measurement(orig, wanted), _to_measurement(cand, wanted)


def verify_task(task: Task, code: str, cfg: Any) -> Measurement:
    """Verdict of ``code`` on the task's tests, without measuring it (no samples)."""
    (res,) = _profiler(cfg).verify(_program_set(task, [("original", code)]))
    return Measurement(res.verdict.value, res.detail, res.tests_passed, res.tests_total)


def measure_task(task: Task, candidate_code: str, cfg: Any) -> Measurement:
    """Verify ``candidate_code`` on the task's tests in the sandbox, then measure it with the profiler."""
    from hydra_ray.metrics.names import BY_NAME

    (res,) = _profiler(cfg).profile(_program_set(task, [("candidate", candidate_code)]))
    return _to_measurement(res, [BY_NAME[n] for n in cfg.measure.metrics])


MeasureFn = Callable[[Task, str, Any], Measurement]


def _code_key(code: str) -> str:
    """Candidates with the same syntax tree are one program (formatting, comments): measured once."""
    return program_key(code) or hashlib.sha256(code.encode()).hexdigest()


def measurement_units(task: Task) -> list[Task]:
    """One unit per input size (so metric-vs-size can be plotted), or the task itself."""
    return [task.at_size(s) for s in task.sizes] if task.sizes else [task]


def _base_row(task: Task, unit: Task, cand: Candidate) -> dict[str, Any]:
    size = unit.sizes[0] if unit.sizes else None
    return {
        "suite": task.suite, "task_id": task.id, "size": size,
        "size_label": task.size_label(size) if size is not None else "",
        "is_final": size is None or size == task.largest_size,
        "config": cand.config, "candidate": cand.index,
        "weights": list(cand.weights) if cand.weights is not None else None,
        "cached_answer": cand.cached, "code": cand.code,
    }


def _metric_columns(row: dict[str, Any], orig: Measurement, cand: Measurement | None, cfg: Any) -> None:
    for m in METRIC_NAMES:
        o = orig.samples.get(m) or []
        c = (cand.samples.get(m) or []) if cand is not None else []
        row[f"orig_{m}_samples"], row[f"cand_{m}_samples"] = list(o), list(c)
        row[f"orig_{m}"] = row[f"cand_{m}"] = None
        row[f"ratio_{m}"] = row[f"ratio_{m}_lo"] = row[f"ratio_{m}_hi"] = row[f"p_{m}"] = None
        row[f"sig_{m}"] = None
        row[f"{m}_source"] = (cand.sources.get(m) if cand is not None else None) or orig.sources.get(m)
        row[f"{m}_estimated"] = bool(orig.estimated.get(m) or (cand is not None and cand.estimated.get(m)))
        row[f"{m}_unit"] = (cand.units.get(m) if cand is not None else None) or orig.units.get(m)
        if o:
            row[f"orig_{m}"] = float(np.median(o))
        if not (o and c):
            continue
        s = cfg.stats
        t0 = time.perf_counter()
        r = improvement(m, o, c, alpha=s.alpha, min_effect=s.min_effect, n_boot=s.n_boot, level=s.level,
                        seed=s.seed)
        STATISTICS_SECONDS[0] += time.perf_counter() - t0
        within_floor = cand.significant.get(m) is False and r.significant   # the profiler's floor rule
        row.update({f"orig_{m}": r.orig_median, f"cand_{m}": r.cand_median, f"ratio_{m}": r.ratio,
                    f"ratio_{m}_lo": r.lo, f"ratio_{m}_hi": r.hi, f"sig_{m}": r.significant and not within_floor,
                    f"p_{m}": r.p_value})


def evaluate(tasks: Iterable[Task], optimizer: Optimizer, cfg: Any, *, measure: MeasureFn | None = None,
             log: Callable[[str], None] = lambda s: None, done: dict[str, list[dict[str, Any]]] | None = None,
             on_task: Callable[[str, list[dict[str, Any]]], None] | None = None) -> list[dict[str, Any]]:
    """Results rows (see ``_base_row`` and ``_metric_columns`` for the columns). ``done``: rows of tasks
    finished by an earlier, stopped run (:mod:`~hydra_ray.evaluate.checkpoint`), taken as they are;
    ``on_task`` is called with each task's rows as soon as the task is measured."""
    interleaved = measure is None
    measure = measure or measure_task
    tasks = list(tasks)
    proposals = optimizer.propose(tasks)
    rows: list[dict[str, Any]] = []
    to_measure = [t.id for t in tasks if not (done and t.id in done)]
    if to_measure:
        log(f"measuring {len(to_measure)} task(s); each one's line comes when it is measured")
    took: list[float] = []   # seconds of each task measured by this run, for the estimate of the rest
    for n, task in enumerate(tasks, 1):
        candidates = proposals.get(task.id, [])
        tag = f"[{n}/{len(tasks)}] {task.id}"
        if done and task.id in done:
            log(f"{tag}: measured by the earlier run, kept")
            rows.extend(done[task.id])
            continue
        t_task = time.perf_counter()
        first_row = len(rows)
        units = measurement_units(task)
        for unit in units:
            t_unit = time.perf_counter()
            # With the real profiler the original is measured inside each interleaved pair below, so
            # here it is only verified; rows without a candidate then carry no original medians.
            orig = (verify_task if interleaved else measure)(unit, task.original_code, cfg)
            # the same program (syntax tree) is measured once per unit; with the real profiler, interleaved
            # with the original
            measured: dict[str, tuple[Measurement, Measurement]] = {}
            for cand in candidates:
                row = _base_row(task, unit, cand)
                row["orig_verdict"] = orig.verdict
                result: Measurement | None = None
                pair_orig = orig
                if cand.code is None:
                    row.update(verdict=NO_CODE, verdict_detail=cand.detail, tests_passed=0,
                               tests_total=len(unit.tests))
                elif orig.verdict != PASSED:
                    row.update(verdict=ORIGINAL_FAILED, verdict_detail=f"original: {orig.verdict} {orig.detail}",
                               tests_passed=0, tests_total=len(unit.tests))
                else:
                    key = _code_key(cand.code)
                    if key not in measured:
                        if interleaved:
                            measured[key] = measure_pair(unit, task.original_code, cand.code, cfg)
                        else:
                            measured[key] = (orig, measure(unit, cand.code, cfg))
                    pair_orig, result = measured[key]
                    row.update(verdict=result.verdict, verdict_detail=result.detail,
                               tests_passed=result.tests_passed, tests_total=result.tests_total)
                row["correct"] = row["verdict"] == PASSED
                baseline = pair_orig if result is not None and pair_orig.verdict == PASSED else orig
                # How it was measured: the pair shares one mode (a fallback applies to both programs).
                row["measure_mode"] = (result.mode if result is not None else "") or baseline.mode or None
                row["measure_mode_reason"] = (result.mode_reason if result is not None else "") or baseline.mode_reason
                # How steady the CPU was while the pair (or the candidate) was timed (profiler's probe).
                row["cpu_speed_cv"] = (result.cpu_speed_cv if result is not None and result.cpu_speed_cv is not None
                                       else baseline.cpu_speed_cv)
                row["orig_tracemalloc_peak_kb"] = baseline.tracemalloc_peak_kb
                row["cand_tracemalloc_peak_kb"] = result.tracemalloc_peak_kb if result is not None else None
                _metric_columns(row, baseline, result if row["correct"] else None, cfg)
                rows.append(row)
            if len(units) > 1:   # a task's sizes take minutes together: show each as it ends
                size = unit.sizes[0] if unit.sizes else None
                log(f"{tag} size {task.size_label(size) if size is not None else '-'}: original {orig.verdict}, "
                    f"{len(measured)} program(s) measured beside it, {time.perf_counter() - t_unit:.1f} s")
        if on_task is not None:
            on_task(task.id, rows[first_row:])
        took.append(time.perf_counter() - t_task)
        log(f"{tag}: {len(candidates)} candidate(s), {took[-1]:.1f} s" + _time_left(took, len(to_measure)))
    return rows


def _time_left(took: list[float], total: int) -> str:
    """``; about 4 min left`` for the tasks after these: the mean per task so far times how many
    remain (tasks differ, so an estimate, and said to be one); nothing after the last."""
    if len(took) >= total:
        return ""
    left = (total - len(took)) * sum(took) / len(took)
    if left < 60:
        return f"; about {max(round(left), 1)} s left"
    minutes = round(left / 60)
    return f"; about {minutes} min left" if minutes < 60 else f"; about {minutes // 60} h {minutes % 60} min left"


def rows_to_frame(rows: Sequence[dict[str, Any]]):
    import pandas as pd

    return pd.DataFrame(list(rows))
