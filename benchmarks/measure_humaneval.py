"""bench_measure.py's HumanEval sections: latency CV per mode (``humaneval``), function-mode loop designs
(``loop_spread``, ``loop_spread_wider``, ``retiming``) and in-VM estimators of the host's speed swings."""
from __future__ import annotations

import json
import random
import statistics
import time

from measure_setup import DATA, MODES, STEADY_CV_MAX, profiler


def humaneval(max_tasks: int | None, repeats: int) -> dict:
    from hydra_ray.evaluate.harness import _program_set
    from hydra_ray.evaluate.suites.humaneval import load_humaneval

    tasks = list(load_humaneval(DATA / "HumanEval.jsonl.gz", max_tasks=max_tasks))
    profs = {m: profiler(m, repeats) for m in MODES}
    res = {m: [] for m in MODES}
    t0 = time.perf_counter()
    for k, task in enumerate(tasks):
        ps = _program_set(task, [("canonical", task.original_code)])
        for m in MODES:
            (r,) = profs[m].profile(ps)
            if not r.verdict.ok:
                res[m].append({"task": task.id, "verdict": r.verdict.value, "cv": None})
                continue
            lat = r.metrics["latency_ms"].samples
            cv = statistics.stdev(lat) / statistics.mean(lat)
            res[m].append({"task": task.id, "verdict": "passed", "cv": cv, "latency_ms": statistics.median(lat),
                           "mode": r.mode, "cpu_speed_cv": r.cpu_speed_cv, "timing_attempts": r.timing_attempts})
        if (k + 1) % 20 == 0:
            print(f"humaneval {k + 1}/{len(tasks)} {time.perf_counter() - t0:.0f}s", flush=True)
    out = {"tasks": len(tasks), "repeats": repeats, "modes": {},
           "function_loops": profs["function"].cfg.function_loops,
           "function_loop_gap_ms": profs["function"].cfg.function_loop_gap_ms}
    for m in MODES:
        cvs = [x["cv"] for x in res[m] if x["cv"] is not None]
        # Split by the profiler's CPU speed probe: was the CPU steady while this task was timed?
        steady = [x["cv"] for x in res[m] if x["cv"] is not None and x["cpu_speed_cv"] is not None
                  and x["cpu_speed_cv"] <= STEADY_CV_MAX]
        unsteady = [x["cv"] for x in res[m] if x["cv"] is not None and x["cpu_speed_cv"] is not None
                    and x["cpu_speed_cv"] > STEADY_CV_MAX]
        out["modes"][m] = {"timed_on_steady_cpu": len(steady),
                           "measurable_among_steady": sum(c <= 0.05 for c in steady) / len(steady) if steady else None,
                           "timed_on_unsteady_cpu": len(unsteady),
                           "measurable_among_unsteady": sum(c <= 0.05 for c in unsteady) / len(unsteady)
                           if unsteady else None,
                           "retimed": sum(x.get("timing_attempts", 0) > 1 for x in res[m]),
                           "passed": len(cvs), "measurable_cv_le_5pct": sum(c <= 0.05 for c in cvs),
                           "share_measurable": sum(c <= 0.05 for c in cvs) / len(tasks),
                           "median_cv": statistics.median(cvs) if cvs else None,
                           "median_latency_ms": statistics.median(
                               [x["latency_ms"] for x in res[m] if x["cv"] is not None]) if cvs else None}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    out["per_task"] = res
    return out


DEFAULT_SPREAD_DESIGNS = ("10x0", "20x10", "40x10")
WIDER_SPREAD_DESIGNS = ("40x10", "120x5x0.5", "120x5x1")   # the old default against many short loops (recorded)
RETIMING_DESIGNS = ("120x5x0.5", "120x5x0.5r1")   # the default design timed once, or again when the probe swung


def _spread_designs(specs) -> dict:
    """``"40x10"`` -> 40 loops 10 ms apart; ``"10x0"`` -> 10 loops back to back; ``"120x5x0.5"`` -> 120
    loops 5 ms apart, each at least 0.5 ms of calls (otherwise the profiler's ``function_min_sample_ms``).
    A suffix ``rN`` (``"120x5x0.5r1"``) lets the profiler time a task again up to N times when its CPU
    speed probe was unsteady (``remeasure_unsteady``; without it, 0: every task timed once)."""
    designs = {}
    for spec in specs:
        try:
            design_spec, _, retime = spec.lower().partition("r")
            remeasure = int(retime) if retime else 0
            parts = design_spec.split("x")
            if len(parts) not in (2, 3):
                raise ValueError(spec)
            loops, gap = int(parts[0]), float(parts[1])
            sample_ms = float(parts[2]) if len(parts) == 3 else None
        except ValueError:
            raise SystemExit(f"--spread-designs: {spec!r} is not LOOPSxGAP_MS[xLOOP_MS][rRETIMES] (e.g. 40x10 = 40 "
                             "loops 10 ms apart; 120x5x0.5 = 120 loops of 0.5 ms, 5 ms apart; 120x5x0.5r1 = the same, "
                             "timed again once when the CPU speed probe was unsteady)")
        name = f"back_to_back_{loops}" if gap == 0 else f"spread_{loops}x{gap:g}ms"
        design = {"function_loops": loops, "function_loop_gap_ms": gap, "remeasure_unsteady": remeasure}
        if sample_ms is not None:
            name += f"_of_{sample_ms:g}ms"
            design["function_min_sample_ms"] = sample_ms
        if remeasure:
            name += f"_retimed_up_to_{remeasure}x"
        designs[name] = design
    return designs


def loop_spread(max_tasks: int | None, repeats: int, specs=DEFAULT_SPREAD_DESIGNS) -> dict:
    """HumanEval in function mode, one profiler per loop design (``specs``, see :func:`_spread_designs`),
    task by task, rotating which goes first."""
    from hydra_ray.config import from_dict
    from hydra_ray.evaluate.harness import _program_set
    from hydra_ray.evaluate.suites.humaneval import load_humaneval
    from hydra_ray.metrics.profiler import ProfileConfig, Profiler

    designs = _spread_designs(specs)
    profs = {k: Profiler(from_dict(ProfileConfig, {"mode": "function", "warmup": 1, "repeats": repeats, **v}))
             for k, v in designs.items()}
    tasks = list(load_humaneval(DATA / "HumanEval.jsonl.gz", max_tasks=max_tasks))
    per = {k: [] for k in designs}
    spent = {k: 0.0 for k in designs}   # wall seconds of profiling, per design: what the spreading costs
    t0 = time.perf_counter()
    for i, task in enumerate(tasks):
        ps = _program_set(task, [("canonical", task.original_code)])
        names = list(designs)
        for k in names[i % len(names):] + names[:i % len(names)]:
            t_task = time.perf_counter()
            (r,) = profs[k].profile(ps)
            spent[k] += time.perf_counter() - t_task
            if r.verdict.ok:
                lat = r.metrics["latency_ms"].samples
                per[k].append({"task": task.id, "cv": statistics.stdev(lat) / statistics.mean(lat),
                               "cpu_speed_cv": r.cpu_speed_cv, "timing_attempts": r.timing_attempts})
        if (i + 1) % 20 == 0:
            print(f"loop spread {i + 1}/{len(tasks)} {time.perf_counter() - t0:.0f}s", flush=True)
    out = {"tasks": len(tasks), "repeats": repeats, "designs": designs, "results": {}}
    for k, rows in per.items():
        cvs = [x["cv"] for x in rows]
        out["results"][k] = {"passed": len(cvs), "measurable_cv_le_5pct": sum(c <= 0.05 for c in cvs),
                             "share_measurable": sum(c <= 0.05 for c in cvs) / len(tasks) if tasks else None,
                             "median_cv": statistics.median(cvs) if cvs else None,
                             "retimed": sum(x["timing_attempts"] > 1 for x in rows),
                             "seconds_per_task": round(spent[k] / len(tasks), 2) if tasks else None}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    out["per_task"] = per
    return out


def estimators(n_tasks: int) -> dict:
    import gzip
    import itertools

    tasks = [json.loads(line) for line in gzip.open(DATA / "HumanEval.jsonl.gz", "rt")]
    chosen = random.Random(1).sample(tasks, n_tasks)

    def reference() -> int:
        total = 0
        for i in range(10_000):
            total += i
        return total

    def timed(fn, number: int) -> int:
        t0 = time.perf_counter_ns()
        for _ in itertools.repeat(None, number):
            fn()
        return time.perf_counter_ns() - t0

    def cv(x):
        return statistics.stdev(x) / statistics.mean(x)

    names = ("fastest_loop", "fastest_loop_over_fastest_reference", "median_of_loop_over_reference",
             "reference_alone")
    out = {}
    for spread_s in (0.0, 0.03):
        per = {k: [] for k in names}
        for task in chosen:
            g: dict = {}
            exec(task["prompt"] + task["canonical_solution"] + "\n" + task["test"], g)
            entry, calls = g[task["entry_point"]], []

            def recording(*a, _entry=entry, _calls=calls, **k):
                _calls.append((a, k))
                return _entry(*a, **k)
            g["check"](recording)

            def fn(_entry=entry, _calls=calls):
                for a, k in _calls:
                    _entry(*a, **k)
            number = 1
            while timed(fn, number) < 2e6:
                number *= 2
            runs = {k: [] for k in names}
            for _ in range(5):
                loops = []
                for _ in range(10):
                    r0, f, r1 = timed(reference, 1), timed(fn, number), timed(reference, 1)
                    loops.append((f / number, (r0 + r1) / 2))
                    if spread_s:
                        time.sleep(spread_s)
                best_ref = min(r for _, r in loops)
                runs["fastest_loop"].append(min(f for f, _ in loops))
                runs["fastest_loop_over_fastest_reference"].append(min(f for f, _ in loops) / best_ref)
                runs["median_of_loop_over_reference"].append(statistics.median(f / r for f, r in loops))
                runs["reference_alone"].append(best_ref)
                time.sleep(0.05)
            for k in names:
                per[k].append(cv(runs[k]))
        out[f"spread_{int(spread_s * 1000)}ms"] = {
            k: {"median_cv": round(statistics.median(v), 4), "tasks_cv_le_5pct": sum(c <= 0.05 for c in v),
                "tasks": len(v)} for k, v in per.items()}
        print(f"estimators, loops spread {spread_s * 1000:.0f} ms: {out[f'spread_{int(spread_s * 1000)}ms']}",
              flush=True)
    return out
