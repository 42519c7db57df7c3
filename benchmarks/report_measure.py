"""The measurement-modes section of the benchmarks README (`bench_measure.py`, results/measure.json)."""
from __future__ import annotations

from report_format import TARGETS, conditions, fmt, interval, meets, pct
from report_pairs import file_sections


def measure_section(m: dict | None) -> list[str]:
    """`bench_measure.py`: floors, conclusive pairs, HumanEval CV and Table III, per measurement mode."""
    if not m:
        return []
    out = ["## Measurement modes (`bench_measure.py`)", "",
           "The same programs measured in each `profile.mode` (see README, Measurement). Every section "
           "records the load average around it and the CPU's steadiness (the CV of a fixed ~1 ms pure-Python "
           "loop, fastest of 5, 20 times 50 ms apart): these are 2 cores of a VM on a shared host, whose "
           "speed swings by up to ~1.5× for stretches of 100s of ms when neighbours are busy, at any load "
           "average inside the VM. A steadiness CV of a few % is the floor of every CV below.", ""]
    f = m.get("floors")
    if f:
        out += ["### Floor per mode (empty program / `pass` function)", "",
                "| mode | latency (median of calibrations) | memory | memory is | target |", "|---|---|---|---|---|"]
        ip = f.get("inprocess") or {}
        ok = [meets(ip.get("latency_ms_median"), TARGETS["inprocess_floor_ms"]),
              meets(ip.get("memory_kb_median"), TARGETS["inprocess_floor_kb"])]
        target = {"inprocess": "≤ 1 ms, ≤ 1 MB: " + ("no figure" if None in ok else "met" if all(ok) else "**not met**"),
                  "process": "", "function": "", "function_program": ""}
        label = {"function": "function (`pass` function, per call)",
                 "function_program": "function (empty program called whole, per call)"}
        for mode in ("process", "inprocess", "function", "function_program"):
            r = f.get(mode)
            if r:
                out += [f"| {label.get(mode, mode)} | {fmt(r['latency_ms_median'])} ms (each: "
                        f"{', '.join(fmt(x) for x in r['latency_ms_each'])}) | {fmt(r['memory_kb_median'])} KB | "
                        f"{r['memory_kind']} | {target[mode]} |"]
        out += ["", conditions(f), ""]
    out += file_sections(m, "")
    if m.get("pairs_cn"):
        out += ["### The same, on the verified pair file", "",
                "The sections below repeat the ones above on a seeded sample of `pie_python_pairs_cn.jsonl`: "
                "PIE pairs whose two programs both pass, with sample tests parsed from CodeNet's problem "
                "statements (`--pairs-source cn`). A second, independent sample for the conclusive share.", ""]
        out += file_sections(m, "_cn")
    h = m.get("humaneval")
    if h:
        out += ["### HumanEval: canonical solutions measurable at CV ≤ 5%", "",
                f"{h['tasks']} tasks (the first {h['tasks']} of HumanEval.jsonl.gz), each canonical solution alone, "
                f"{h['repeats']} latency samples per mode; CV = stdev / mean of the samples.", "",
                "| mode | passed | CV ≤ 5% | share | 95% interval (Wilson) | median CV | median latency |",
                "|---|---|---|---|---|---|---|"]
        for mode, r in h["modes"].items():
            out += [f"| {mode} | {r['passed']} | {r['measurable_cv_le_5pct']} | **{pct(r['share_measurable'])}** | "
                    f"{interval(r['share_measurable'], r['passed'])} | "
                    f"{fmt(r['median_cv'])} | {fmt(r['median_latency_ms'])} ms |"]
        if any("timed_on_steady_cpu" in r for r in h["modes"].values()):
            out += ["", "Split by the profiler's CPU speed probe (README, Measurement): tasks timed while the CPU was "
                        "steady (probe CV ≤ 5%, after at most one re-timing) and the others.", "",
                    "| mode | timed on a steady CPU | CV ≤ 5% among them | timed on an unsteady CPU | CV ≤ 5% among them | re-timed |",
                    "|---|---|---|---|---|---|"]
            for mode, r in h["modes"].items():
                out += [f"| {mode} | {r['timed_on_steady_cpu']} | **{pct(r['measurable_among_steady'])}** | "
                        f"{r['timed_on_unsteady_cpu']} | {pct(r['measurable_among_unsteady'])} | {r['retimed']} |"]
        loops = h.get("function_loops")
        out += ["", (f"Function-mode runs: {loops} loops, {h.get('function_loop_gap_ms')} ms apart. " if loops else
                     "Function-mode runs: 10 loops back to back (measured before they were spread out; see below). ")
                + f"Target: ≥ 90% in function mode: {_humaneval_verdict(h)}. {conditions(h)}", ""]
    for key, title in (("loop_spread", "loops back to back or spread out"),
                       ("loop_spread_wider", "spreading the loops further"),
                       ("retiming", "timing a task again when the CPU swung")):
        out += _loop_spread(m.get(key), title)
    e = m.get("estimators")
    if e:
        out += ["### Estimators against the host's speed swings", "",
                "HumanEval canonical solutions called directly (a seeded sample), 5 runs of 10 loops each (~2 ms "
                "of calls a loop, a fixed reference loop before and after each); the median over tasks of each "
                "estimator's CV over the 5 runs, and how many tasks reach CV ≤ 5%. Every estimator sees the same "
                "loops, so they are compared side by side.", "",
                "| loops | fastest loop (the profiler's) | fastest loop ÷ fastest reference | median of loop ÷ reference | reference loop alone |",
                "|---|---|---|---|---|"]
        for key, row in e.items():
            if not key.startswith("spread_"):
                continue
            cells = [f"{pct(row[k]['median_cv'])} ({row[k]['tasks_cv_le_5pct']}/{row[k]['tasks']})"
                     for k in ("fastest_loop", "fastest_loop_over_fastest_reference", "median_of_loop_over_reference",
                               "reference_alone")]
            spread = key.split("_")[1]
            out += [f"| {'back to back' if spread == '0ms' else spread + ' apart'} | " + " | ".join(cells) + " |"]
        out += ["", conditions(e), ""]
    for key in [k for k in ("table3", "table3_valgrind", "table3_perf") if m.get(k)]:
        out += _table3(m[key], key)
    return out


def _humaneval_verdict(h: dict) -> str:
    r = (h.get("modes") or {}).get("function") or {}
    ok = meets(r.get("share_measurable"), TARGETS["humaneval_function_share"])
    return "no figure" if ok is None else (f"met ({r['measurable_cv_le_5pct']} of {r['passed']})" if ok
                                           else f"**not met** ({r['measurable_cv_le_5pct']} of {r['passed']})")


def _table3(t: dict, key: str) -> list[str]:
    """One Table III record; its cycles column says what was counted (an estimate, or a counter per call)."""
    sources = {r[side].get("cycles_source") for r in t["rows"] for side in ("orig", "opt")} - {None}
    estimated = any(r[side].get("cycles_estimated") for r in t["rows"] for side in ("orig", "opt"))
    if estimated or not sources:
        cycles_head, note = "cycles (ours, est.)", ("Cycles and energy here are estimates (CPU time × clock; cycles × "
                                                     "2.5e-10 J)")
    else:
        unit = "instructions" if sources == {"valgrind_instructions"} else "cycles"
        cycles_head = f"{unit} per call (ours, {', '.join(sorted(sources))})"
        note = (f"The cycles column is counted, not estimated: {unit} of one call (1 + 3 calls minus 1 call under "
                f"{'valgrind' if unit == 'instructions' else 'perf'}; metrics/counters.py); energy is still that count × "
                "2.5e-10 J (estimated)")
    return ["### Table III: the patterns suite in function mode, beside the paper" + (
                    "" if key == "table3" else f" (cycles counted: `{key}`)"), "",
            f"Our Table III patterns (size `{t['size']}`, one input each), original vs our reference rewrite "
            f"(`better.py`, not the paper's model output or programs), {t['repeats']} interleaved samples each; "
            "paper values as printed in its Table III (orig → opt). " + note + "; memory is the `tracemalloc` peak "
            "of one call." + (f" Section `{key}`." if key != "table3" else ""), "",
            f"| sample | mode | latency ms (ours) | paper | speed-up (ours) | memory KB (ours) | paper | {cycles_head} | paper | "
            "throughput calls/s (ours) | paper | energy mJ (ours, est.) | paper |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"] + [_table3_row(r) for r in t["rows"]] + [
        "", "Paper's summary row: " + "; ".join(t["paper_summary"].values()) + ".", conditions(t), ""]


def _table3_row(r: dict) -> str:
    o, n, pp = r["orig"], r["opt"], r.get("paper") or {}

    def pair(key, scale=1.0):
        a, b = o.get(key), n.get(key)
        return "–" if a is None or b is None else f"{fmt(a * scale)} → {fmt(b * scale)}"

    def paper(key):
        v = pp.get(key)
        return f"{v[0]} → {v[1]}" if v else "–"
    sig = "significant" if r.get("latency_significant") else "not significant"
    speed = f"{fmt(r['latency_ratio'])}× ({sig})" if r.get("latency_ratio") else "–"
    return (f"| {r['sample']} | {r['mode']} | {pair('latency_ms')} | {paper('latency_ms')} | {speed} | "
            f"{pair('memory_kb')} | {paper('memory_kb')} | {pair('cycles')} | {paper('cycles')} | "
            f"{pair('throughput_per_s')} | {paper('throughput')} | {pair('energy_mj')} | {paper('energy_mj')} |")


def _loop_spread(ls, title) -> list:
    if not ls:
        return []
    which = f"All {ls['tasks']}" if ls["tasks"] >= 164 else f"The first {ls['tasks']} of the 164"
    out = [f"### HumanEval in function mode: {title}", "",
           f"{which} canonical solutions, each profiled in function mode with every design, task by "
           f"task, rotating which goes first; {ls['repeats']} latency samples each (a sample is the "
           "fastest loop of one run).", "",
           "| loops of a run | CV ≤ 5% | share | 95% interval (Wilson) | median CV | seconds a task |",
           "|---|---|---|---|---|---|"]
    for key, r in ls["results"].items():
        d = ls["designs"][key]
        gap = d["function_loop_gap_ms"]
        what = f"{d['function_loops']}, " + (f"{fmt(gap)} ms apart" if gap else "back to back")
        if d.get("function_min_sample_ms"):
            what += f", each ≥ {fmt(d['function_min_sample_ms'])} ms of calls"
        if d.get("remeasure_unsteady"):
            what += (f"; timed again (up to {d['remeasure_unsteady']}×) when the CPU speed probe swung: "
                     f"{r.get('retimed', '?')} tasks were")
        out += [f"| {what} | {r['measurable_cv_le_5pct']} of {r['passed']} | **{pct(r['share_measurable'])}** | "
                f"{interval(r['share_measurable'], r['passed'])} | {pct(r['median_cv'])} | {fmt(r.get('seconds_per_task')) if r.get('seconds_per_task') else '–'} |"]
    out += ["", f"{conditions(ls)} {fmt(ls['wall_s'])} s.", ""]
    return out
