"""Measurement modes (profile.mode): floors, conclusive PIE pairs, HumanEval CV, Table III.

    python benchmarks/bench_measure.py                       # every section -> results/measure.json
    python benchmarks/bench_measure.py --sections floors pairs --pairs 40
    python benchmarks/bench_measure.py --sections humaneval --wait-steady 900   # a shared host: wait for calm
    python benchmarks/bench_measure.py --sections pairs work --pairs-source cn --modes inprocess function
    python benchmarks/bench_measure.py --sections pairs work --pairs-source cn --modes function --seed 1
    python benchmarks/bench_measure.py --sections work_per_call --pairs-source cn --seed 2
    python benchmarks/bench_measure.py --sections floors --floor-rounds 1 --output /tmp/quick/measure.json  # quick

Sections are merged into the file at ``--output`` (default results/measure.json): a quick run written there
replaces the committed section, so quick looks go elsewhere.

Sections (each records the load average and the CPU's steadiness, :func:`cpu_steadiness`, before and
after it; the machine is shared, and so is the host it runs on):

- ``floors``: latency and memory of an empty program in each mode (in function mode: a ``pass``
  function called through its entry point, and an empty program called whole), as the profiler
  calibrates them, over ``--floor-rounds`` fresh calibrations;
- ``pairs``: a seeded sample of ``--pairs`` real PIE pairs from pie_python_pairs.jsonl (every pair
  there has a PIE-reported speedup >= 1.2x), each profiled twice per mode (two passes over the
  sample, one after the other, modes interleaved pair by pair); conclusive = the profiler calls
  the latency difference significant (Mann-Whitney, 2% effect, above the mode's floor); agreement =
  same winner in both passes among pairs conclusive in both; pairs failing their tests are left
  out and counted; ``--pairs-source cn`` samples pie_python_pairs_cn.jsonl instead (every pair passes,
  tests from CodeNet's problem statements; recorded as ``pairs_cn``, likewise ``identical_cn``, ``work_cn``);
  ``--seed N`` (not 0) draws another sample, recorded under ``<section>[_cn]_sN``: the report pools the
  samples of one file, so more pairs narrow the conclusive share's interval; each pass also records the
  verdict of the first look alone (after ``repeats`` rounds, before the profiler's second look), so the
  second look's gain is measured on the same passes; a sample re-run for some of its modes keeps the
  others, each with the conditions of its own run (``mode_runs``);
- ``identical``: the false-conclusive rate of the same rule. For each program of the sampled pairs that
  passes its tests, a set of that program against an exact copy of itself, profiled once per mode:
  any "significant" latency difference between the two is a false positive (the share should stay
  near 0 whatever the host does; alpha alone allows 5% before the effect and floor thresholds). Beside
  it, from the same samples, the p-value of the alternative test considered, a paired t-test on the
  per-round log ratio (the rounds are interleaved, so a round's slowdown hits both programs);
- ``humaneval``: each canonical solution alone, per mode, latency over ``repeats`` samples; share of
  tasks with a coefficient of variation (stdev / mean) <= 5%;
- ``loop_spread``: HumanEval in function mode with the loops of a run back to back (10 of them, the
  first default) and spread out (20, 10 ms apart; 40, 10 ms apart: the second default), task by task,
  rotating which runs first: the share of tasks with a latency CV <= 5% for each;
- ``loop_spread_wider``: the same, with 40 loops of >= 2 ms 10 ms apart against 120 short loops (>= 0.5
  ms: the default now; >= 1 ms) 5 ms apart; ``--spread-designs`` names others;
- ``retiming``: the same, with the default design timed once against timed again when the CPU speed
  probe swung (``remeasure_unsteady`` 1): does the second timing buy measurable tasks in function mode?
- ``table3``: the Table III patterns in function mode beside the paper's printed values;
  ``--table3-cycles valgrind`` counts one call's instructions for the cycles column (``table3_valgrind``);
- ``estimators``: can an estimator inside the VM cancel the host's CPU speed swings? For a seeded
  sample of HumanEval canonical solutions (called directly, no sandbox), 5 runs of 10 loops each
  (~2 ms of calls per loop, a fixed reference loop before and after each), and per estimator the CV
  over the 5 runs: fastest loop (what the profiler uses), fastest loop over fastest reference loop,
  and the median of the per-loop ratios; run twice, with loops back to back and spread 30 ms apart.
  All estimators see the same loops, so they are compared side by side in one run;
- ``crossref``: measures nothing; recomputes the ``work`` × ``pairs`` figures from what is recorded,
  and copies PIE's second runtime figure (the judge's ``cpu_time_ms``) for every recorded pair
  (``judge[_cn]``; done after every section anyway);
- ``work``: how much the two programs of each sampled pair really differ in work on the sample tests:
  valgrind instruction counts (deterministic) of each program minus those of an empty program (the
  interpreter's start-up), summed over the tests. Read beside ``pairs`` (same seeded sample), it
  gives the conclusive share among the pairs whose work differs by at least 5/10/20%: a pair whose
  programs execute the same instructions cannot be told apart by any timer, whatever PIE reports;
- ``work_per_call``: the same for one call as function mode makes it (valgrind: 2 calls minus 1 call,
  ``--counter-calls``; metrics/counters.py), which leaves compiling and imports out as a function-mode call
  does: function mode's conclusive share among the pairs whose work per call differs by >= 2% (the
  profiler's minimum effect), 5%, 10%;
- ``work_per_call_left``: the same for only the pairs that function mode left inconclusive in some pass
  of the recorded samples of ``--pairs-source`` (all seeds): how much one call of theirs differs in work.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from measure_humaneval import (DEFAULT_SPREAD_DESIGNS, RETIMING_DESIGNS, WIDER_SPREAD_DESIGNS, estimators, humaneval,
                               loop_spread)
from measure_pairs import identical, pairs
from measure_setup import MODES, PAIR_SOURCES, ROOT, cpu_steadiness, machine, wait_until_steady
from measure_work import conclusive_by_work, judge_figures, left_inconclusive, work, work_per_call

RESULTS = ROOT / "benchmarks" / "results"


def floors(rounds: int) -> dict:
    from hydra_ray.metrics.profiler import ProfileConfig, Profiler

    names = (*MODES, "function_program")
    per = {m: {"latency_ms": [], "memory_kb": []} for m in names}
    kinds = {}
    for _ in range(rounds):
        b = Profiler(ProfileConfig(cycles_backend="estimate")).baseline["floors"]
        for m in names:
            per[m]["latency_ms"].append(b[m]["latency_ms"])
            per[m]["memory_kb"].append(b[m]["memory_kb"])
            kinds[m] = b[m]["memory_kind"]
    return {m: {"latency_ms_median": statistics.median(v["latency_ms"]),
                "memory_kb_median": statistics.median(v["memory_kb"]), "memory_kind": kinds[m],
                "latency_ms_each": v["latency_ms"], "memory_kb_each": v["memory_kb"]} for m, v in per.items()}


def table3(size: str, repeats: int, cycles_backend: str = "auto") -> dict:
    from hydra_ray.evaluate.table3 import PAPER_SUMMARY, measure_table_iii

    rows = measure_table_iii(size=size, repeats=repeats, cycles_backend=cycles_backend,
                             log=lambda s: print(s, flush=True))
    return {"size": size, "repeats": repeats, "cycles_backend": cycles_backend, "rows": rows,
            "paper_summary": PAPER_SUMMARY}


def sample_key(section: str, pair_source: str = "pie", seed: int = 0) -> str:
    """Where a section is recorded: pairs/identical/work are keyed by their sample (file and seed)."""
    if section not in ("pairs", "identical", "work", "work_per_call", "work_per_call_left"):
        return section
    return section + ("" if pair_source == "pie" else f"_{pair_source}") + (f"_s{seed}" if seed else "")


RUN_FIELDS = ("when", "loadavg_before", "loadavg_after", "cpu_steadiness_before", "cpu_steadiness_after",
              "waited_for_steady_cpu", "wall_s", "seconds")




def merge_modes(old: dict | None, new: dict) -> dict:
    """A pairs/identical record re-run for some of its modes keeps the modes it did not re-run, each with
    the run it came from (``mode_runs``: when, load, CPU steadiness), so a mode's figures are never
    described by another run's conditions. A different sample (pairs, seed) replaces the record."""
    per_key = "per_pair" if "per_pair" in new else "per_program"
    if not old or old.get("sample") != new.get("sample") or not set(old.get("modes", {})) - set(new["modes"]):
        return new
    runs = old.get("mode_runs") or {m: {f: old.get(f) for f in RUN_FIELDS} for m in old["modes"]}
    merged = {**old, **{k: v for k, v in new.items() if k not in ("modes", per_key, "floors")}}
    merged["modes"] = {**old["modes"], **new["modes"]}
    merged[per_key] = {**old.get(per_key, {}), **new[per_key]}
    if "floors" in new:
        merged["floors"] = {**old.get("floors", {}), **new["floors"]}
    merged["mode_runs"] = {**runs, **{m: {f: new.get(f) for f in RUN_FIELDS} for m in new["modes"]}}
    return merged


def _save(path: Path, result: dict) -> None:
    """Write results/measure.json, with the work × pairs cross-references recomputed from what it holds."""
    for key in [k for k in result if k == "work" or k.startswith("work_")]:
        work_rec = result[key]
        if not (isinstance(work_rec, dict) and "per_pair" in work_rec):
            continue
        if key.startswith("work_per_call_left"):
            continue   # a selection of pairs, not a sample: nothing to cross-reference
        if key.startswith("work_per_call"):   # per call: the denominator of function mode, from 2% (min_effect)
            work_rec["conclusive_by_work"] = conclusive_by_work(
                work_rec["per_pair"], result.get("pairs" + key[len("work_per_call"):]), modes=("function",),
                thresholds=(0.02, 0.05, 0.10))
        else:
            work_rec["conclusive_by_work"] = conclusive_by_work(work_rec["per_pair"], result.get("pairs" + key[len("work"):]))
    judge_figures(result)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, default=str))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sections", nargs="+",
                    default=["floors", "pairs", "identical", "work", "humaneval", "loop_spread", "estimators",
                             "table3"])
    ap.add_argument("--pairs", type=int, default=40)
    ap.add_argument("--pairs-source", choices=sorted(PAIR_SOURCES), default="pie",
                    help="pairs / identical / work: sample %s (pie, the default) or %s (cn: every pair passes; "
                         "recorded as <section>_cn)" % (PAIR_SOURCES["pie"], PAIR_SOURCES["cn"]))
    ap.add_argument("--seed", type=int, default=0,
                    help="pairs / identical / work: the sample's seed (not 0: recorded as <section>[_cn]_s<seed>)")
    ap.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES),
                    help="pairs / identical: the modes profiled (default: all three)")
    ap.add_argument("--floor-rounds", type=int, default=3)
    ap.add_argument("--counter-calls", type=int, default=1,
                    help="work_per_call: count 1 + N calls against 1 call (valgrind is exact: 1 suffices)")
    ap.add_argument("--humaneval-tasks", type=int, default=None)
    ap.add_argument("--spread-designs", nargs="+", default=None, metavar="LOOPSxGAP_MS",
                    help="loop_spread / loop_spread_wider / retiming: the function-mode designs compared, e.g. "
                         "40x10 80x10 120x5x0.5r1 (defaults: %s / %s / %s)" % (
                             " ".join(DEFAULT_SPREAD_DESIGNS), " ".join(WIDER_SPREAD_DESIGNS), " ".join(RETIMING_DESIGNS)))
    ap.add_argument("--estimator-tasks", type=int, default=24)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--table3-size", default="large")
    ap.add_argument("--table3-cycles", choices=["auto", "perf", "valgrind", "estimate"], default="auto",
                    help="table3: the cycles source (measure.cycles_backend); not auto: recorded as table3_<source>")
    ap.add_argument("--wait-steady", type=float, default=0.0, metavar="SECONDS",
                    help="before each section, wait up to this long for a steady CPU (loop CV <= 3%%)")
    ap.add_argument("--output", type=Path, default=None,
                    help="the result file sections are merged into (default benchmarks/results/measure.json)")
    args = ap.parse_args()
    path = args.output or RESULTS / "measure.json"
    result = json.loads(path.read_text()) if path.exists() else {"benchmark": "measurement modes"}
    for section in args.sections:
        waited = wait_until_steady(args.wait_steady) if args.wait_steady else None
        load0, steady0 = os.getloadavg(), cpu_steadiness()
        t0 = time.perf_counter()
        if section == "floors":
            data = floors(args.floor_rounds)
        elif section == "pairs":
            data = pairs(args.pairs, tuple(args.modes), args.pairs_source, args.seed)
        elif section == "identical":
            data = identical(args.pairs, tuple(args.modes), args.pairs_source, args.seed)
        elif section == "humaneval":
            data = humaneval(args.humaneval_tasks, args.repeats)
        elif section == "loop_spread":
            data = loop_spread(args.humaneval_tasks, args.repeats, args.spread_designs or DEFAULT_SPREAD_DESIGNS)
        elif section == "loop_spread_wider":
            data = loop_spread(args.humaneval_tasks, args.repeats, args.spread_designs or WIDER_SPREAD_DESIGNS)
        elif section == "retiming":
            data = loop_spread(args.humaneval_tasks, args.repeats, args.spread_designs or RETIMING_DESIGNS)
        elif section == "table3":
            data = table3(args.table3_size, args.repeats, args.table3_cycles)
        elif section == "work":
            data = work(args.pairs, args.pairs_source, args.seed)
        elif section == "work_per_call":
            data = work_per_call(args.pairs, args.pairs_source, args.seed, args.counter_calls)
        elif section == "work_per_call_left":
            data = work_per_call(0, args.pairs_source, 0, args.counter_calls,
                                 only=left_inconclusive(result, args.pairs_source))
        elif section == "estimators":
            data = estimators(args.estimator_tasks)
        elif section == "crossref":
            data = None   # nothing to measure: only the work/pairs cross-reference below
        else:
            raise SystemExit(f"unknown section {section!r}; expected floors, pairs, identical, humaneval, loop_spread, loop_spread_wider, retiming, "
                             "table3, work, work_per_call, work_per_call_left, estimators or crossref")
        if data is None:
            _save(path, result)
            continue
        data["when"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        data["loadavg_before"], data["loadavg_after"] = load0, os.getloadavg()
        data["cpu_steadiness_before"], data["cpu_steadiness_after"] = steady0, cpu_steadiness()
        data["waited_for_steady_cpu"] = waited
        data["wall_s"] = round(time.perf_counter() - t0, 1)
        data["machine"] = machine()
        key = sample_key(section, args.pairs_source, args.seed)
        if section == "table3" and args.table3_cycles != "auto":
            key = f"table3_{args.table3_cycles}"
        result[key] = merge_modes(result.get(key), data) if section in ("pairs", "identical") else data
        _save(path, result)
        print(json.dumps({k: v for k, v in data.items() if k not in ("per_pair", "per_task", "per_program", "rows")},
                         indent=1, default=str), flush=True)


if __name__ == "__main__":
    main()
