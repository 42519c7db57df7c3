"""Render benchmarks/results/*.json into benchmarks/README.md (figures only come from those files).

Each section renders from its own result file; the long ones live beside this script (report_measure,
report_gpu), with the shared formatting in report_format.
"""
from __future__ import annotations

import json

from report_format import HERE, fmt, load
from report_gpu import gpu_section
from report_measure import measure_section


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


if __name__ == "__main__":
    main()
