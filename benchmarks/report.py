"""Render benchmarks/results/*.json into benchmarks/README.md (figures only come from those files)."""
from __future__ import annotations

import json
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent


def load(name: str, results: Path = HERE / "results") -> dict | None:
    f = results / f"{name}.json"
    return json.loads(f.read_text()) if f.exists() else None


def _gib(x) -> str:
    return "–" if x is None else f"{x:.1f} GiB"


def _pct(x) -> str:
    return "–" if x is None else f"{x:.0%}"


def wilson(share: float | None, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """95% Wilson score interval of a proportion ``share`` observed over ``n`` trials.

    p̂ = share; centre = (p̂ + z²/2n) / (1 + z²/n); half = z·sqrt(p̂(1-p̂)/n + z²/4n²) / (1 + z²/n).
    Unlike p̂ ± z·sqrt(p̂(1-p̂)/n) it stays inside [0, 1] and is not zero-width at 0% or 100%."""
    if share is None or n <= 0:
        return None
    d = 1 + z * z / n
    centre = (share + z * z / (2 * n)) / d
    half = z * ((share * (1 - share) / n + z * z / (4 * n * n)) ** 0.5) / d
    return max(0.0, centre - half), min(1.0, centre + half)


def _interval(share: float | None, n: int) -> str:
    w = wilson(share, n)
    return "–" if w is None else f"{w[0]:.0%}–{w[1]:.0%}"


def gpu_section(results: Path = HERE / "results") -> list[str]:
    """benchmarks/gpu/run.sh's results (gpu-serve.json, gpu-train.json, gpu-tests.json), when there."""
    s, t, k = load("gpu-serve", results), load("gpu-train", results), load("gpu-tests", results)
    if not (s or t or k):
        return []
    m = (s or t or k).get("machine", {})
    out = ["## GPU (`benchmarks/gpu/run.sh`)", "",
           f"{(s or t or {}).get('mode', '')} — {', '.join(m.get('gpus') or ['no GPU'])}; torch {m.get('torch')}, "
           f"transformers {m.get('transformers')}, vllm {m.get('vllm')}; {m.get('when', '')}.", ""]
    if s:
        out += [f"Generation through the service, {s.get('model')}:", "",
                "| backend | batch 1 tokens/s | batch 8 tokens/s | /v1/optimize, 4 candidates: latency (generation) | status |",
                "|---|---|---|---|---|"]
        for key, name in (("vllm", "vLLM"), ("hf", "HF generate")):
            r = s.get(key) or {}
            o = r.get("optimize_4_candidates") or {}
            status = (f"skipped: {r['skipped']}" if r.get("skipped") else r.get("status") or
                      ("ok" if "batch1_tokens_per_s" in r else "not run"))
            lat = f"{fmt(o.get('latency_s_median'))} s ({fmt(o.get('generation_s_median'))} s)" if o else "–"
            out += [f"| {name} | **{fmt(s.get(key + '.batch1_tokens_per_s'))}** | "
                    f"**{fmt(s.get(key + '.batch8_tokens_per_s'))}** | {lat} | {status} |"]
        hf, vl = (s.get("hf") or {}).get("optimize_4_candidates"), (s.get("vllm") or {}).get("optimize_4_candidates")
        if hf and vl and vl.get("generation_s_median"):
            out += ["", f"/v1/optimize generation, HF ÷ vLLM: **{fmt(hf['generation_s_median'] / vl['generation_s_median'])}×** "
                        "(target ≥ 5×)."]
        out += [""]
    if t:
        out += [f"Training, `{(t.get('big') or t.get('tiny') or {}).get('preset', 'QLoRA preset')}`, plain TRL vs "
                "`hydra-ray train` (Ray Train + α actor), same model, data, batch and steps:", "",
                "| model | side | s/step | tokens/s | MFU | peak GPU memory | hydra ÷ plain |", "|---|---|---|---|---|---|---|"]
        for which in ("tiny", "big"):
            r = t.get(which)
            if not r or "plain_trl" not in r:
                out += [f"| {which} | – | – | – | – | – | {(r or {}).get('status', 'not run')} |"]
                continue
            for side, name in (("plain_trl", "plain TRL"), ("hydra_ray", "hydra-ray")):
                x = r[side]
                ratio = f"**{fmt(r.get('ratio_step_time'))}×** (target ≤ 1.05×)" if side == "hydra_ray" else ""
                out += [f"| {which} ({r['parameters'] / 1e6:,.0f} M parameters), batch {r['per_device_batch_size']}, "
                        f"{r['steps']} steps | {name} | {fmt(x.get('step_time_median_s'))} | {fmt(x.get('tokens_per_s'))} | "
                        f"{_pct(x.get('mfu'))} | {_gib(x.get('peak_gpu_memory_gib'))} | {ratio} |"]
        out += [""]
    if k:
        out += [f"CUDA tests (`{k.get('command', 'pytest -k gpu')}`): {k.get('summary') or k.get('status', '–')}"]
        out += [f"- {line}" for line in k.get("gpu_lines", [])] + [""]
    return out


def fmt(x, nd=3):
    return "–" if x is None else (f"{x:.{nd}g}" if isinstance(x, float) else str(x))


def main() -> None:
    out = ["# Benchmarks", "",
           "Figures written by the scripts here into `results/*.json`; this page is rendered from them by",
           "`python benchmarks/report.py`. Ratios are measured side by side in one run, alternating the two",
           "sides, because these 2-core machines are noisy; each result records the load average at its start.",
           "GPU figures come only from `bash benchmarks/gpu/run.sh` run on a GPU machine (section \"GPU\" once",
           "it has run there; `--cpu-smoke` checks the script on CPU and writes elsewhere).", ""]
    o = load("sandbox_overhead")
    if o:
        out += ["## Sandbox overhead (`bench_enrich.py overhead`)", "",
                "| figure | value | target |", "|---|---|---|",
                f"| bare `python prog.py < in` (median ms) | {fmt(o['bare_subprocess_ms_median'])} | |",
                f"| same program, wall time measured inside the sandbox ÷ bare | **{fmt(o['ratio_measured_vs_bare'])}×** | ≤ 1.10× |",
                f"| end-to-end cost per run in a 5-run sandbox session ÷ bare | {fmt(o['ratio_end_to_end_batch_vs_bare'])}× | |",
                f"| a 1-run session (bwrap + runner start-up) ÷ bare | {fmt(o['ratio_single_session_vs_bare'])}× | (enrichment never does this) |",
                f"| load average at start | {fmt(o['machine']['loadavg_at_start'][0])} | |", ""]
    s = load("label_stability")
    if s:
        lat, ins = s.get("latency", {}), s.get("instruction_counts", {})
        out += ["## Label stability (`bench_enrich.py stability`)", "",
                f"{s['pairs']} real pairs from `{s['source']}` enriched twice with `{s['config']}`; a pair counts when "
                "its two candidates differ by ≥ 5% in both runs.", "",
                "| backend | pairs counted | winner agrees | target |", "|---|---|---|---|",
                f"| latency (wall clock) | {lat.get('pairs_differing_5pct_in_both_runs')} | **{fmt(lat.get('agreement'))}** | ≥ 0.99 |"]
        if ins:
            out += [f"| valgrind instruction counts ({ins['pairs']} pairs) | {ins['pairs_differing_5pct_in_both_runs']} | "
                    f"**{fmt(ins['agreement'])}** (max run-to-run difference {fmt(ins['max_relative_difference_between_runs'])}) | 1.0 |"]
        out += [f"", f"Load average at start: {fmt(s['machine']['loadavg_at_start'][0])}.", ""]
    c = load("enrich_scaling")
    if c:
        out += ["## Scaling (`bench_enrich.py scaling`)", "",
                f"{c['pairs']} pairs, sets/s with 2 profiling actors ÷ 1 (runs alternated 1, 2, 1, 2): "
                f"**{fmt(c['ratio_2_over_1'])}×** (target ≥ 1.8× on 2 cores); sets/s {c['sets_per_s']}. {c.get('note', '')}.",
                f"Load average at start: {fmt(c['machine']['loadavg_at_start'][0])}.", ""]
    sc = load("scale")
    if sc:
        res, inp = sc["resume_scan"], sc["input"]
        runs = [dict(sc["start_run"], what=f"full input, limit={sc['start_run']['limit']:,}")] + [
            dict(r, what=f"first {sc['window_records']:,} records, whole") for r in sc["overhead_runs"]]
        out += ["## Enrichment at a million pairs (`bench_scale.py`)", "",
                f"Input: {inp['records']:,} JSONL records ({inp['bytes'] / 1e9:.2f} GB) generated from "
                f"`{inp['source']}` with fresh ids. The real `run_enrich` pipeline (Ray Data read → validation → "
                "id ledger → actor pool → rolling Parquet writer → summary) with the program runs replaced by a "
                "benchmark-only stand-in (no program executed; users always get the real profiler). The first "
                "run reads the full input and stops at `limit=` (first set, driver RSS of a 1M input); the others "
                "read a window of the input whole, through the parallel validation a full run uses (overhead).", "",
                "| run | batch_size | sets | first set after pipeline start / command start (s) | driver peak RSS (MB) "
                "| overhead per set (ms): all / after the first set / driver CPU | output files (per 1,000 sets) "
                "| input records read |",
                "|---|---|---|---|---|---|---|---|"]
        for r in runs:
            files = f"{r['data_files']} ({fmt(r['files_per_1000_sets'])})"
            if r.get("files_after_compaction") is not None:
                files += f" → {r['files_after_compaction']} after compaction"
            bs = f"{r['batch_size']} → {r['batch_size_used']}" if r['batch_size'] == "auto" else r['batch_size']
            out += [f"| {r['what']} | {bs} | {r['sets_written']:,} | **{fmt(r['first_set_s_after_pipeline_start'])}** / "
                    f"{fmt(r['first_set_s_after_command_start'])} | **{fmt(r['driver_peak_rss_mb'])}** | "
                    f"**{fmt(r['overhead_ms_per_set'])}** / {fmt(r.get('steady_ms_per_set'))} / "
                    f"{fmt(r.get('driver_cpu_ms_per_set'))} | {files} | {r['records_read']:,} |"]
        out += ["", f"Targets: first set ≤ 30 s, driver RSS ≤ 1,024 MB, ≤ 1 file per 1,000 sets, overhead ≤ 5 ms/set. "
                f"Resume scan of an output of {res['sets']:,} sets ({res['candidate_rows']:,} rows in {res['files']} "
                f"files): **{fmt(res['scan_s'])} s** ({res['distinct_ids']:,} ids; scanning process peak RSS "
                f"{fmt(res['peak_rss_mb'])} MB)"
                + (f"; the end-of-run summary over that output: {fmt(res['summary_s'])} s, peak RSS "
                   f"{fmt(res['peak_rss_mb_with_summary'])} MB" if res.get("summary_s") is not None else "")
                + f". Load average at start {fmt(sc['loadavg_before'][0])}, at the end "
                f"{fmt(sc['loadavg_after'][0])}"
                + (" (2 cores shared with other work: per-set overhead is inflated by roughly that factor)"
                   if sc['loadavg_before'][0] > 3 else "") + f". {sc.get('note', '')}.", ""]
    t = load("train")
    if t:
        out += ["## Training step (`bench_train.py`)", "",
                f"{t['model']}, {t['data']}, batch {t['per_device_batch_size']}, {t['workers']} worker: "
                f"Ray Train + α actor {fmt(t['hydra_ray']['step_time_median_s'])} s/step vs plain TRL "
                f"{fmt(t['plain_trl']['step_time_median_s'])} s/step → **{fmt(t['ratio_step_time'])}×** (target ≤ 1.10×); "
                f"actor report round trip {fmt(t['actor']['report_round_trip_ms_median'])} ms (median).", ""]
        runs = t.get("all_runs") or {}
        if runs.get("plain_step_s"):
            out += [f"Best of {len(runs['plain_step_s'])} alternating runs per side (all: plain "
                    f"{', '.join(fmt(x) for x in runs['plain_step_s'])}; hydra "
                    f"{', '.join(fmt(x) for x in runs['hydra_step_s'])} s/step); load average at start "
                    f"{fmt(t['machine']['loadavg_before'][0])}."
                    + (f" Both sides processed {fmt(t['plain_trl']['tokens_per_step'])} vs "
                       f"{fmt(t['hydra_ray']['tokens_per_step'])} tokens per step (time per token ratio "
                       f"{fmt(t['ratio_time_per_token'])}×)." if t.get("ratio_time_per_token") else ""), ""]
    f = load("fault_tolerance")
    if f:
        out += ["## Fault tolerance (`bench_faults.py`)", ""]
        for key, scenario in (f.get("scenarios") or {}).items():
            head = ", ".join(f"{k} {v}" for k, v in scenario.get("headline", {}).items())
            out += [f"- **{key.replace('_', ' ')}** ({'passed' if scenario.get('passed') else 'FAILED'}): {head}"]
        out += [""]
    ev = load("evaluate")
    if ev:
        out += ["## Evaluation throughput (`bench_evaluate.py`)", "",
                "| suite | optimizer | tasks | tasks/min | verification | measurement | statistics |",
                "|---|---|---|---|---|---|---|"]
        for r in ev["suites"]:
            sh = r["share"]
            out += [f"| {r['suite']} | {r['optimizer']} | {r['tasks']} | {fmt(r['tasks_per_minute'])} | "
                    f"{sh['verification']:.0%} | {sh['measurement']:.0%} | {sh['statistics']:.1%} |"]
        out += ["", ev["note"] + f". Load average at start: {fmt(ev['machine']['loadavg_at_start'][0])}.", ""]
    out += measure_section(load("measure"))
    out += gpu_section()
    for name, title in (("serve", "Serving"),):
        r = load(name)
        if r:
            out += [f"## {title}", "", "```json", json.dumps({k: v for k, v in r.items() if k != "machine"}, indent=1)[:3000],
                    "```", ""]
    (HERE / "README.md").write_text("\n".join(out))
    print("\n".join(out))


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
        target = {"inprocess": "≤ 1 ms, ≤ 1 MB", "process": "(today: ~25 ms, ~13 MB)", "function": "",
                  "function_program": ""}
        label = {"function": "function (`pass` function, per call)",
                 "function_program": "function (empty program called whole, per call)"}
        for mode in ("process", "inprocess", "function", "function_program"):
            r = f.get(mode)
            if r:
                out += [f"| {label.get(mode, mode)} | {fmt(r['latency_ms_median'])} ms (each: "
                        f"{', '.join(fmt(x) for x in r['latency_ms_each'])}) | {fmt(r['memory_kb_median'])} KB | "
                        f"{r['memory_kind']} | {target[mode]} |"]
        out += ["", _conditions(f), ""]
    out += _file_sections(m, "")
    if m.get("pairs_cn"):
        out += ["### The same, on the verified pair file", "",
                "The sections below repeat the ones above on a seeded sample of `pie_python_pairs_cn.jsonl`: "
                "PIE pairs whose two programs both pass, with sample tests parsed from CodeNet's problem "
                "statements (`--pairs-source cn`). A second, independent sample for the conclusive share.", ""]
        out += _file_sections(m, "_cn")
    h = m.get("humaneval")
    if h:
        out += ["### HumanEval: canonical solutions measurable at CV ≤ 5%", "",
                f"{h['tasks']} tasks (the first {h['tasks']} of HumanEval.jsonl.gz), each canonical solution alone, "
                f"{h['repeats']} latency samples per mode; CV = stdev / mean of the samples.", "",
                "| mode | passed | CV ≤ 5% | share | 95% interval (Wilson) | median CV | median latency |",
                "|---|---|---|---|---|---|---|"]
        for mode, r in h["modes"].items():
            out += [f"| {mode} | {r['passed']} | {r['measurable_cv_le_5pct']} | **{_pct(r['share_measurable'])}** | "
                    f"{_interval(r['share_measurable'], r['passed'])} | "
                    f"{fmt(r['median_cv'])} | {fmt(r['median_latency_ms'])} ms |"]
        if any("timed_on_steady_cpu" in r for r in h["modes"].values()):
            out += ["", "Split by the profiler's CPU speed probe (README, Measurement): tasks timed while the CPU was "
                        "steady (probe CV ≤ 5%, after at most one re-timing) and the others.", "",
                    "| mode | timed on a steady CPU | CV ≤ 5% among them | timed on an unsteady CPU | CV ≤ 5% among them | re-timed |",
                    "|---|---|---|---|---|---|"]
            for mode, r in h["modes"].items():
                out += [f"| {mode} | {r['timed_on_steady_cpu']} | **{_pct(r['measurable_among_steady'])}** | "
                        f"{r['timed_on_unsteady_cpu']} | {_pct(r['measurable_among_unsteady'])} | {r['retimed']} |"]
        loops = h.get("function_loops")
        out += ["", (f"Function-mode runs: {loops} loops, {h.get('function_loop_gap_ms')} ms apart. " if loops else
                     "Function-mode runs: 10 loops back to back (measured before they were spread out; see below). ")
                + f"Target: ≥ 90% in function mode. {_conditions(h)}", ""]
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
            cells = [f"{_pct(row[k]['median_cv'])} ({row[k]['tasks_cv_le_5pct']}/{row[k]['tasks']})"
                     for k in ("fastest_loop", "fastest_loop_over_fastest_reference", "median_of_loop_over_reference",
                               "reference_alone")]
            spread = key.split("_")[1]
            out += [f"| {'back to back' if spread == '0ms' else spread + ' apart'} | " + " | ".join(cells) + " |"]
        out += ["", _conditions(e), ""]
    for key in [k for k in ("table3", "table3_valgrind", "table3_perf") if m.get(k)]:
        out += _table3(m[key], key)
    return out



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
        "", "Paper's summary row: " + "; ".join(t["paper_summary"].values()) + ".", _conditions(t), ""]


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


def sample_suffixes(m: dict, file_suffix: str) -> list[str]:
    """The recorded samples of one pair file: ``file_suffix`` ("" or "_cn") first, then its ``_sN`` seeds."""
    seeds = sorted(int(k.rsplit("_s", 1)[1]) for k in m if re.fullmatch(rf"pairs{file_suffix}_s\d+", k))
    return [file_suffix] + [f"{file_suffix}_s{n}" for n in seeds]


def _file_sections(m: dict, file_suffix: str) -> list[str]:
    suffixes = sample_suffixes(m, file_suffix)
    out = _pair_sections(m, file_suffix)
    for suffix in suffixes[1:]:
        seed = suffix.rsplit("_s", 1)[1]
        out += _pair_sections(m, suffix, f" (another sample of the same file, `--seed {seed}`)")
    recorded = [x for x in suffixes if m.get("pairs" + x)]
    pooled = pooled_conclusive(m, recorded)
    if len(recorded) > 1 and pooled:
        out += ["### Conclusive pairs, the samples of this file pooled", "",
                "Every recorded sample of this file together (a pair drawn twice counts once, with all its passes). "
                "Share: each pair's conclusive passes ÷ its passes, averaged over the distinct pairs; interval: "
                "95% Wilson with n = the distinct pairs. Work: among the pairs whose valgrind net instructions differ "
                "by ≥ 10%.", "",
                "| mode | rule | distinct passing pairs | conclusive share | 95% interval | first look alone | "
                "pairs differing in work ≥ 10% | conclusive among them | agreement (pairs conclusive in both passes) |",
                "|---|---|---|---|---|---|---|---|---|"]
        for mode, r in pooled.items():
            out += [f"| {mode} | {r['rule']} | {r['pairs']} | **{_pct(r['share'])}** | {_interval(r['share'], r['pairs'])} | "
                    f"{_pct(r['first_look_share']) if r['first_look_share'] is not None else '–'} | "
                    f"{r['work_pairs']} | {_pct(r['work_share'])} | {_pct(r['agreement'])} ({r['both']} pairs) |"]
        out += [""]
    out += _judge_table(m, file_suffix, recorded)
    out += _per_call_table(m, recorded)
    out += _left_table(m, file_suffix, recorded)
    return out


def judge_conclusive(m: dict, suffixes: list[str], judge: dict, threshold: float = 1.2) -> dict:
    """Each mode's pooled conclusive share split by PIE's other runtime figure, the judge's CPU time
    (``judge`` record, bench_measure.judge_figures): the pairs where it too says >= ``threshold`` apart
    (both of PIE's figures agree with the sample's criterion), and the pairs where only ``reported_speedup`` does."""
    ratio = {pid: r["judge_speedup"] for pid, r in (judge.get("per_pair") or {}).items()
             if r.get("judge_speedup") is not None}
    out = {}
    for mode, per in pooled_flags(m, suffixes).items():
        share = {pid: sum(f) / len(f) for pid, f in per.items() if pid in ratio}
        row = {}
        for group, keep in (("both", lambda r: r >= threshold), ("reported_only", lambda r: r < threshold)):
            ids = [pid for pid in share if keep(ratio[pid])]
            row[group] = {"pairs": len(ids), "share": sum(share[p] for p in ids) / len(ids) if ids else None}
        out[mode] = row
    return out


def _same_tree_note(judge: dict) -> str:
    same = sorted((pid, r["reported_speedup"]) for pid, r in (judge.get("per_pair") or {}).items()
                  if r.get("same_syntax_tree"))
    if not same:
        return "No pair here has two programs of the same syntax tree."
    listed = ", ".join(f"{pid} ({x:.1f}×)" for pid, x in same)
    return (f"{len(same)} pair{'s' if len(same) > 1 else ''} here {'have' if len(same) > 1 else 'has'} two programs "
            f"of the same syntax tree (formatting or comments apart; `reported_speedup` in brackets): {listed}.")


def _judge_table(m: dict, file_suffix: str, recorded: list[str]) -> list[str]:
    judge = m.get("judge" + file_suffix)
    rows = judge_conclusive(m, recorded, judge) if judge and recorded else {}
    if not rows:
        return []
    out = ["### Conclusive pairs by PIE's two runtime figures", "",
           "PIE gives two runtime figures for each pair: `reported_speedup` (the PIE authors' re-measurement, "
           "`measured_runtime_s`, slow ÷ fast), by which the samples above are drawn (≥ 1.2×), and the judge's CPU "
           "time of each program (`cpu_time_ms`; PIE's `improvement_frac` is 1 − fast ÷ slow of it). Here the "
           f"pooled pairs of the samples above ({len(recorded)} sample{'s' if len(recorded) > 1 else ''}) are "
           "split by whether the judge's CPU times are ≥ 1.2× apart too. Share and interval as in the pooled table "
           "(interval: 95% Wilson, n = the pairs). Nothing is re-measured: the same passes, grouped. "
           f"{_same_tree_note(judge)}", "",
           "| mode | both figures ≥ 1.2× : pairs | conclusive | 95% interval | only `reported_speedup` ≥ 1.2× : pairs | conclusive |",
           "|---|---|---|---|---|---|"]
    for mode, r in rows.items():
        b, o = r["both"], r["reported_only"]
        out += [f"| {mode} | {b['pairs']} | **{_pct(b['share'])}** | "
                f"{_interval(b['share'], b['pairs']) if b['share'] is not None else '–'} | {o['pairs']} | {_pct(o['share'])} |"]
    return out + [""]


def _left_table(m: dict, file_suffix: str, recorded: list[str]) -> list[str]:
    """The pairs function mode left inconclusive in some pass: one call's work beside their timings."""
    left = (m.get("work_per_call_left" + file_suffix) or {}).get("per_pair") or {}
    if not left:
        return []
    out = ["### The pairs function mode left inconclusive, against the work of one call", "",
           "Every pair of the samples above that function mode called inconclusive in at least one pass (section "
           "`work_per_call_left`): valgrind instructions of one call (2 calls minus 1 call) of the slow program over "
           "the fast one, beside the per-call latency ratios (slow ÷ fast) function mode measured in each pass. "
           "A difference below the profiler's 2% minimum effect is never called significant, however sure the test.", "",
           "| pair | work of one call, slow ÷ fast | function mode: latency ratio per pass (conclusive?) |", "|---|---|---|"]
    same = {pid for pid, r in ((m.get("judge" + file_suffix) or {}).get("per_pair") or {}).items()
            if r.get("same_syntax_tree")}
    for pid, r in sorted(left.items(), key=lambda kv: abs((kv[1]["work_ratio_slow_over_fast"] or 1) - 1)):
        passes = [x for s in recorded for x in ((((m.get("pairs" + s) or {}).get("per_pair") or {})
                                                  .get("function") or {}).get(pid) or []) if x]
        timing = ", ".join(f"{x['ratio']:.3f}{' (yes)' if x['significant'] else ''}" for x in passes)
        label = pid + (" (the same syntax tree)" if pid in same else "")
        out += [f"| {label} | {r['work_ratio_slow_over_fast']:.3f} | {timing} |"]
    return out + [""]


def pooled_flags(m: dict, suffixes: list[str]) -> dict[str, dict[str, list[bool]]]:
    """mode -> pair -> the conclusive flag of each pass, over the samples ``suffixes`` (pairs failing their
    tests in some pass are left out)."""
    flags: dict[str, dict[str, list[bool]]] = {}
    for suffix in suffixes:
        for mode, per in (((m.get("pairs" + suffix) or {}).get("per_pair")) or {}).items():
            for pid, runs in per.items():
                if not any(x is None for x in runs):
                    flags.setdefault(mode, {}).setdefault(pid, []).extend(x["significant"] for x in runs)
    return flags


def per_call_conclusive(m: dict, suffixes: list[str], mode: str = "function") -> dict:
    """``mode``'s conclusive share among the pooled pairs, by how much the work of one call differs
    (``work_per_call`` records: valgrind instructions of one call as function mode makes it)."""
    calls: dict[str, float] = {}
    for suffix in suffixes:
        for pid, r in ((m.get("work_per_call" + suffix) or {}).get("per_pair") or {}).items():
            if r.get("work_ratio_slow_over_fast") is not None:
                calls[pid] = r["work_ratio_slow_over_fast"]
    flags = pooled_flags(m, suffixes).get(mode, {})
    share = {pid: sum(f) / len(f) for pid, f in flags.items() if pid in calls}
    bands = {"< 2% (alike per call)": lambda d: d < 0.02, ">= 2% (the minimum effect)": lambda d: d >= 0.02,
             ">= 5%": lambda d: d >= 0.05, ">= 10%": lambda d: d >= 0.10}
    out = {}
    for band, keep in bands.items():
        ids = [pid for pid in share if keep(abs(calls[pid] - 1))]
        out[band] = {"pairs": len(ids), "share": sum(share[p] for p in ids) / len(ids) if ids else None}
    return out


def _per_call_table(m: dict, suffixes: list[str]) -> list[str]:
    if not any(m.get("work_per_call" + s) for s in suffixes):
        return []
    rows = per_call_conclusive(m, suffixes)
    ns = sorted({r.get("extra_calls") for s in suffixes
                 for r in ((m.get("work_per_call" + s) or {}).get("per_pair") or {}).values()} - {None})
    counted = " or ".join("2 calls minus 1 call" if n == 1 else f"1 + {n} calls minus 1 call, over {n}"
                          for n in ns) or "1 + N calls minus 1 call, over N"
    seeds = ", ".join("seed " + (s.rsplit("_s", 1)[1] if "_s" in s else "0")
                      for s in suffixes if m.get("work_per_call" + s))
    out = ["### Function mode against the work of one call", "",
           f"The pooled pairs of the samples with a `work_per_call` record ({seeds}), grouped by how much one call "
           f"of the two programs differs in work: valgrind instructions of one call as function mode makes it "
           f"({counted}), which leaves compiling and imports out as a function-mode call does. Process-level "
           "work (above) counts them, and overstates some pairs for this mode.", "",
           "| work of one call differs by | pairs | conclusive share (function) | 95% interval |", "|---|---|---|---|"]
    for band, r in rows.items():
        out += [f"| {band} | {r['pairs']} | {_pct(r['share'])} | "
                f"{_interval(r['share'], r['pairs']) if r['share'] is not None else '–'} |"]
    return out + [""]


def pooled_conclusive(m: dict, suffixes: list[str]) -> dict:
    """Conclusive share per mode over several samples' ``pairs`` records (see :func:`_file_sections`)."""
    flags: dict[str, dict[str, list[bool]]] = {}
    first: dict[str, dict[str, list[bool | None]]] = {}   # the first look alone (None: recorded before two looks)
    agree: dict[str, list[bool]] = {}
    work: dict[str, float] = {}
    for suffix in suffixes:
        for pid, r in ((m.get("work" + suffix) or {}).get("per_pair") or {}).items():
            if r.get("work_ratio_slow_over_fast") is not None:
                work[pid] = r["work_ratio_slow_over_fast"]
        for mode, per in ((m.get("pairs" + suffix) or {}).get("per_pair") or {}).items():
            for pid, runs in per.items():
                if any(x is None for x in runs):
                    continue
                flags.setdefault(mode, {}).setdefault(pid, []).extend(x["significant"] for x in runs)
                first.setdefault(mode, {}).setdefault(pid, []).extend(x.get("significant_first_look") for x in runs)
                if len(runs) == 2 and all(x["significant"] for x in runs):
                    agree.setdefault(mode, []).append(runs[0]["winner"] == runs[1]["winner"])
    out = {}
    for mode, per in flags.items():
        shares = {pid: sum(f) / len(f) for pid, f in per.items()}
        differ = [pid for pid in shares if pid in work and abs(work[pid] - 1) >= 0.10]
        out[mode] = {"pairs": len(shares), "share": sum(shares.values()) / len(shares),
                     "work_pairs": len(differ),
                     "work_share": sum(shares[p] for p in differ) / len(differ) if differ else None,
                     "both": len(agree.get(mode, [])),
                     "rule": _rule(first[mode]),
                     "first_look_share": (sum(sum(map(bool, f)) / len(f) for f in first[mode].values()) / len(shares)
                                          if _rule(first[mode]) == "two looks" else None),
                     "agreement": sum(agree[mode]) / len(agree[mode]) if agree.get(mode) else None}
    return out


def _two_look_table(p: dict) -> list[str]:
    """The first look alone (the rule before two looks) beside the verdict after the second, from one run."""
    rows = {mode: r for mode, r in p["modes"].items() if "first_look_conclusive_share" in r}
    if not rows:
        return []
    one = [mode for mode in p["modes"] if mode not in rows]
    r0 = next(iter(rows.values()))
    out = ["", f"Two looks (the profiler's default): the first after {r0['repeats']} rounds at p < "
               f"{fmt(r0['first_look_alpha'])}, and for a pair inconclusive there {r0['extra_repeats']} rounds more and a "
               f"second look at all samples at p < {fmt(r0['second_look_alpha'])} (levels adding up to 0.05). Both "
               "verdicts come from the same passes, so the second look's gain is measured side by side."
               + (f" {', '.join(one)}: recorded before two looks (one look at 0.05)." if one else ""), "",
           "| mode | first look alone: conclusive (pass 1, pass 2) | share | with the second look | passes timed longer | "
           "found at the second look | dropped by it | agreement, first look alone |", "|---|---|---|---|---|---|---|---|"]
    for mode, r in rows.items():
        out += [f"| {mode} | {r['first_look_conclusive_pass1']}, {r['first_look_conclusive_pass2']} | "
                f"{_pct(r['first_look_conclusive_share'])} | **{_pct(r['conclusive_share'])}** | {r['timed_longer']} | "
                f"{r['found_at_second_look']} | {r['dropped_at_second_look']} | {_pct(r['first_look_winner_agreement'])} |"]
    return out


def _rule(first_looks: dict[str, list[bool | None]]) -> str:
    """Which significance rule a mode's passes were judged by: "two looks", "one look" or "mixed"."""
    recorded = {x is not None for f in first_looks.values() for x in f}
    return "mixed" if len(recorded) > 1 else "two looks" if recorded == {True} else "one look"


def _pair_sections(m: dict, suffix: str, title: str = "") -> list[str]:
    """Conclusive pairs, false conclusives and work for one sample (``suffix`` "", "_cn", "_cn_s1", ...)."""
    out: list[str] = []
    p = m.get("pairs" + suffix)
    if p:
        looks = ("; in two looks where the table below says so" if any(
            "first_look_conclusive_share" in r for r in p["modes"].values()) else "")
        out += [f"### Conclusive PIE pairs and winner agreement{title}", "",
                f"{p['sample']} (`{p['source']}`), each profiled twice per mode (two passes over the sample; "
                "modes interleaved pair by pair). Conclusive: the profiler calls the latency difference "
                f"significant (Mann–Whitney p < 0.05{looks}, ≥ 2% effect, above the mode's floor). Agreement: same "
                "winner in both passes, among pairs conclusive in both. Interval: 95% Wilson interval of the "
                "conclusive share with n = the passing pairs (the two passes of a pair are not independent, "
                "so they count once).", "",
                "| mode | pairs passing | conclusive (pass 1, pass 2) | conclusive share | 95% interval | agreement | PIE's faster program wins | fell back | median slow ÷ fast |",
                "|---|---|---|---|---|---|---|---|---|"]
        for mode, r in p["modes"].items():
            out += [f"| {mode} | {r['passing_pairs']} | {r['conclusive_pass1']}, {r['conclusive_pass2']} | "
                    f"**{_pct(r['conclusive_share'])}** | {_interval(r['conclusive_share'], r['passing_pairs'])} | "
                    f"**{_pct(r['winner_agreement'])}** "
                    f"({r['conclusive_both']} pairs) | {_pct(r['pie_fast_program_wins'])} | {r['fell_back']} | "
                    f"{fmt(r['median_ratio_slow_over_fast'])}× |"]
        per = p.get("per_pair") or {}
        never = [pid for pid in per.get("inprocess", {})
                 if all(per[mm].get(pid) and all(x is not None and not x["significant"] for x in per[mm][pid])
                        for mm in per)]
        if never:
            out += ["", f"{len(never)} passing pair(s) differ conclusively in no mode and no pass ({', '.join(never)}): "
                        "the two programs ran alike on these sample inputs in every mode (PIE's speed-up was measured "
                        "on the judge's hidden inputs, not these)."]
        out += _two_look_table(p)
        if p.get("mode_runs"):   # modes re-run at different times: each with its own conditions
            out += ["", "Targets: conclusive ≥ 90%, agreement ≥ 99%. " + " ".join(
                f"{mode} ({run['when']}): {_conditions(run)} {fmt(run['wall_s'])} s." for mode, run in p["mode_runs"].items()
                if mode in p["modes"]), ""]
        else:
            out += ["", f"Targets: conclusive ≥ 90%, agreement ≥ 99%. {_conditions(p)} {fmt(p['wall_s'])} s.", ""]
    same = m.get("identical" + suffix)
    if same:
        out += [f"### False conclusives: a program against a copy of itself{title}", "",
                f"{same['sample']}, profiled once per mode with the same rule as above. Every \"conclusive\" "
                "here is a false positive; the apparent ratio (larger ÷ smaller median) shows how far apart two "
                "identical programs can look on this host.", "",
                "| mode | programs | false conclusive | Mann–Whitney p < 0.05 (before the effect and floor checks) | "
                "paired t-test p < 0.05 (considered, not used) | median apparent ratio | largest |",
                "|---|---|---|---|---|---|---|"]
        for mode, r in same["modes"].items():
            looks = (f" (first look alone: {r['false_conclusive_first_look']})"
                     if "false_conclusive_first_look" in r else "")
            out += [f"| {mode} | {r['programs']} | **{r['false_conclusive']}** ({_pct(r['false_conclusive_share'])}){looks} | "
                    f"{r['p_below_alpha']} | {r.get('paired_t_p_below_alpha', '–')} | "
                    f"{fmt(r['median_apparent_ratio'])}× | {fmt(r['max_apparent_ratio'])}× |"]
        out += ["", f"{_conditions(same)} {fmt(same['wall_s'])} s.", ""]
    w = m.get("work" + suffix)
    if w and w.get("conclusive_by_work") and "skipped" not in w["conclusive_by_work"]:
        out += [f"### Conclusive pairs among pairs that differ in work{title}", "",
                "How much the two programs of each sampled pair differ in work on the sample tests: valgrind "
                "instruction counts (deterministic) of each program minus those of an empty program (the "
                "interpreter's start-up), summed over the tests. The conclusive shares above, recomputed "
                "among the pairs whose net instruction counts differ by at least 5/10/20%. A pair whose "
                "programs execute about the same instructions on these inputs cannot be told apart by any "
                "timer, whatever PIE reported on the judge's inputs.", "",
                "| work differs by | pairs | process | inprocess | function |", "|---|---|---|---|---|"]
        for key, row in w["conclusive_by_work"].items():
            first = next(iter(row.values()))
            out += [f"| ≥ {key.rsplit('_', 1)[1]} | {first['pairs_differing']} of {first['passing_pairs']} | "
                    + " | ".join("–" if mm not in row else f"**{_pct(row[mm]['conclusive_share'])}**" if mm != "process"
                                 else _pct(row[mm]['conclusive_share']) for mm in ("process", "inprocess", "function"))
                    + " |"]
        alike = sorted(((pid, r["work_ratio_slow_over_fast"], r["reported_speedup"], r["net_instructions"].get("slow"))
                        for pid, r in w["per_pair"].items()
                        if r["work_ratio_slow_over_fast"] is not None and abs(r["work_ratio_slow_over_fast"] - 1) < 0.3),
                       key=lambda x: x[1])
        if alike:
            out += ["", "Pairs within 30% in work (slow ÷ fast net instructions; the slow program's net instructions "
                        "over all tests): " + "; ".join(
                            f"{pid} (work {fmt(ratio)}×, {fmt(net)} instructions; PIE {fmt(rep)}×)"
                            for pid, ratio, rep, net in alike) + "."]
        pairs_rec = (m.get("pairs" + suffix) or {}).get("per_pair") or {}
        split = []
        for mode in ("process", "inprocess", "function"):
            steady, unsteady = [], []
            for pid, runs in pairs_rec.get(mode, {}).items():
                ratio = (w["per_pair"].get(pid) or {}).get("work_ratio_slow_over_fast")
                if any(x is None for x in runs) or ratio is None or abs(ratio - 1) < 0.10:
                    continue
                for x in runs:
                    if x.get("cpu_speed_cv") is not None:
                        (steady if x["cpu_speed_cv"] <= 0.05 else unsteady).append(x["significant"])
            if steady or unsteady:
                split.append(f"{mode} {sum(steady)}/{len(steady)} on a steady CPU, {sum(unsteady)}/{len(unsteady)} "
                             "on an unsteady one")
        if split:
            out += ["", "Conclusive timings of the pairs differing in work by ≥ 10%, split by the profiler's CPU speed "
                        "probe (each pass counts once; steady: probe CV ≤ 5% after at most one re-timing): "
                        + "; ".join(split) + "."]
        out += ["", f"{fmt(w['seconds'])} s of valgrind.", ""]
    return out

def _conditions(section: dict) -> str:
    """The machine around a measurement section: load average, and the CPU's steadiness when recorded."""
    text = f"Load average before/after: {fmt(section['loadavg_before'][0])} / {fmt(section['loadavg_after'][0])}"
    a, b = section.get("cpu_steadiness_before"), section.get("cpu_steadiness_after")
    if a and b:
        text += f"; CPU steadiness (CV of a fixed loop) before/after: {_pct(a['cv'])} / {_pct(b['cv'])}"
    w = section.get("waited_for_steady_cpu")
    if w:
        text += (f"; waited {fmt(w['waited_s'])} s for a steady CPU first"
                 + ("" if w["steady"] else " (it did not settle; measured anyway)"))
    return text + "."


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
        out += [f"| {what} | {r['measurable_cv_le_5pct']} of {r['passed']} | **{_pct(r['share_measurable'])}** | "
                f"{_interval(r['share_measurable'], r['passed'])} | {_pct(r['median_cv'])} | {fmt(r.get('seconds_per_task')) if r.get('seconds_per_task') else '–'} |"]
    out += ["", f"{_conditions(ls)} {fmt(ls['wall_s'])} s.", ""]
    return out


if __name__ == "__main__":
    main()
