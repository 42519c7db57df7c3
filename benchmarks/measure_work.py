"""bench_measure.py's work sections (valgrind instructions of each pair's programs, per process and per
call) and the cross-references recomputed from what measure.json holds (work × pairs, PIE's judge figures)."""
from __future__ import annotations

import json
import time
from pathlib import Path

from measure_setup import DATA, PAIR_SOURCES, pie_sample


def work(n: int, pair_source: str = "pie", seed: int = 0) -> dict:
    from hydra_ray.metrics import backends as bk
    from hydra_ray.sandbox.limits import SandboxLimits
    from hydra_ray.sandbox.runner import RunSpec, Sandbox

    if not bk.probe_valgrind().available:
        return {"skipped": "valgrind is not available on this machine"}
    records, speed, source = pie_sample(n, seed, pair_source)
    limits = SandboxLimits(wall_time_s=600, cpu_time_s=600)
    sandbox, prefix = Sandbox(limits), bk.valgrind_command_prefix()
    per_pair, t0 = {}, time.perf_counter()
    for k, ps in enumerate(records):
        programs = {c.name: ps.program(c.code) for c in ps.candidates} | {"empty": "pass\n"}
        specs = [RunSpec(name, t.input, argv_prefix=prefix, want_stdout=False)
                 for name in programs for t in ps.tests]
        runs = sandbox.run_batch(programs, specs)
        total: dict[str, float | None] = {}
        for spec, run in zip(specs, runs):
            try:
                count = bk.parse_valgrind_instructions(run.stderr_tail) if run.verdict.ok else None
            except ValueError:
                count = None
            prev = total.get(spec.program, 0.0)
            total[spec.program] = None if prev is None or count is None else prev + count
        empty = total.pop("empty")
        net = {name: (v - empty if v is not None and empty is not None else None) for name, v in total.items()}
        slow, fast = net.get("slow"), net.get("fast")
        per_pair[ps.pair_id] = {
            "reported_speedup": speed.get(ps.pair_id), "tests": len(ps.tests), "empty_instructions": empty,
            "net_instructions": net,
            "work_ratio_slow_over_fast": slow / fast if slow is not None and fast and fast > 0 else None}
        print(f"work {k + 1}/{len(records)} {ps.pair_id}: {per_pair[ps.pair_id]['work_ratio_slow_over_fast']}",
              flush=True)
    return {"source": source, "sample": "the same seeded sample as 'pairs'", "pairs": len(records),
            "seconds": round(time.perf_counter() - t0, 1), "per_pair": per_pair}


def pairs_records(result: dict, pair_source: str) -> list[dict]:
    """The recorded ``pairs`` samples of one pair file: ``pairs[_cn]`` and its ``_sN`` seeds."""
    prefix = "pairs" + ("" if pair_source == "pie" else f"_{pair_source}")
    return [rec or {} for key, rec in result.items()
            if key == prefix or (key.startswith(prefix + "_s") and key[len(prefix) + 2:].isdigit())]


def left_inconclusive(result: dict, pair_source: str = "cn", mode: str = "function") -> list[str]:
    """The pairs of every recorded sample of ``pair_source`` that ``mode`` left inconclusive in some pass."""
    ids = []
    for rec in pairs_records(result, pair_source):
        for pid, runs in ((rec.get("per_pair") or {}).get(mode) or {}).items():
            if all(x is not None for x in runs) and not all(x["significant"] for x in runs) and pid not in ids:
                ids.append(pid)
    return ids


def work_per_call(n: int, pair_source: str = "pie", seed: int = 0, extra_calls: int = 1,
                  only: list[str] | None = None) -> dict:
    """Valgrind instructions of one call of each program, called as function mode calls it: (1 + N calls
    - 1 call) / N, as the profiler counts them (hydra_ray/metrics/counters.py; valgrind is exact, so N = 1
    suffices here, and each extra call costs ~50x its native time). 'work' counts a whole
    process net of an empty one, so it includes compiling and the imports, which a function-mode call
    leaves out: this is the denominator that fits function mode's conclusive share."""
    from hydra_ray.metrics import backends as bk
    from hydra_ray.metrics import counters
    from hydra_ray.sandbox.limits import SandboxLimits
    from hydra_ray.sandbox.runner import Sandbox

    if not bk.probe_valgrind().available:
        return {"skipped": "valgrind is not available on this machine"}
    records, speed, source = pie_sample(n, seed, pair_source, only)
    sandbox = Sandbox(SandboxLimits(wall_time_s=600, cpu_time_s=600))
    prefix = bk.valgrind_command_prefix()
    per_pair, t0 = {}, time.perf_counter()
    for k, ps in enumerate(records):
        names = [c.name for c in ps.candidates]
        programs = {c.name: ps.program(c.code) for c in ps.candidates}
        counts = counters.count_rounds(sandbox, ps, programs, [names], "function", extra_calls, prefix, None,
                                       lambda text: float(bk.parse_valgrind_instructions(text)))
        per_call = {name: (counts[name][0] if counts[name] else None) for name in names}
        slow, fast = per_call.get("slow"), per_call.get("fast")
        per_pair[ps.pair_id] = {
            "reported_speedup": speed.get(ps.pair_id), "tests": len(ps.tests), "extra_calls": extra_calls,
            "instructions_per_call": per_call,
            "work_ratio_slow_over_fast": slow / fast if slow is not None and fast else None}
        print(f"work per call {k + 1}/{len(records)} {ps.pair_id}: {per_pair[ps.pair_id]['work_ratio_slow_over_fast']}",
              flush=True)
    sample = ("the same seeded sample as 'pairs'" if only is None else
              "the pairs function mode left inconclusive in some pass of the recorded samples of this file")
    return {"source": source, "sample": sample, "pairs": len(records),
            "seconds": round(time.perf_counter() - t0, 1), "per_pair": per_pair}


def conclusive_by_work(work_per_pair: dict, recorded: dict | None, modes=None,
                       thresholds=(0.05, 0.10, 0.20)) -> dict:
    """Conclusive share of the ``pairs`` section (``recorded``) among pairs whose net work differs by at
    least each threshold; the pairs that pass their tests in every mode only. Recomputed whenever either
    section is (re)measured, so it always reads the two sections as they are in results/measure.json."""
    if not recorded:
        return {"skipped": "no 'pairs' section recorded yet: run --sections pairs"}
    out = {}
    for threshold in thresholds:
        row = {}
        for m, outcome in recorded["per_pair"].items():
            if modes is not None and m not in modes:
                continue
            ok = {p: r for p, r in outcome.items() if all(x is not None for x in r)}
            differ = [p for p in ok if (work_per_pair.get(p) or {}).get("work_ratio_slow_over_fast") is not None
                      and abs(work_per_pair[p]["work_ratio_slow_over_fast"] - 1) >= threshold]
            conclusive = sum(x["significant"] for p in differ for x in ok[p])
            row[m] = {"pairs_differing": len(differ), "passing_pairs": len(ok),
                      "conclusive_share": conclusive / (2 * len(differ)) if differ else None}
        out[f"work_differs_by_{threshold:.0%}"] = row
    return out


def judge_figures(result: dict, data: Path | None = None) -> None:
    """PIE's other runtime figure beside ``reported_speedup``, for every pair of the recorded ``pairs``
    samples of each file: the judge's CPU time of each program (``cpu_time_ms``; PIE's
    ``improvement_frac`` is 1 - fast/slow of it, in %). ``reported_speedup`` is the PIE authors' own
    re-measurement (``measured_runtime_s``). Where the two disagree, "PIE reports >= 1.2x" depends on
    which figure is read: recorded as ``judge[_cn]`` so the report can split the conclusive share by it,
    with whether the two programs have the same syntax tree (hydra_ray/data/programs.py).
    Nothing is measured here; skipped when the pair file is not beside the repo."""
    from hydra_ray.data.programs import same_program

    data = data or DATA
    for source, name in PAIR_SOURCES.items():
        suffix = "" if source == "pie" else f"_{source}"
        ids = {pid for rec in pairs_records(result, source) for per in (rec.get("per_pair") or {}).values()
               for pid in per}
        if not ids or not (data / name).exists():
            continue
        per_pair = {}
        for line in (data / name).read_text().splitlines():
            row = json.loads(line) if line.strip() else None
            if row and row["pair_id"] in ids:
                slow, fast = row["slow"].get("cpu_time_ms"), row["fast"].get("cpu_time_ms")
                per_pair[row["pair_id"]] = {
                    "reported_speedup": row["reported_speedup"], "cpu_time_ms": {"slow": slow, "fast": fast},
                    "judge_speedup": slow / fast if slow and fast else None,
                    # formatting or comments apart, one program: no measurement can separate them
                    "same_syntax_tree": same_program(row["slow"]["code"], row["fast"]["code"])}
        if per_pair:
            result["judge" + suffix] = {
                "source": name, "measured": "nothing: figures copied from the pair file",
                "field": "cpu_time_ms of each program, as CodeNet records the judge's report", "per_pair": per_pair}
