"""Render benchmarks/results/*.json into benchmarks/README.md (figures only come from those files).

Each section renders from its own result file; the long ones live beside this script (report_measure,
report_gpu), with the shared formatting in report_format.
"""
from __future__ import annotations

from report_format import HERE, TARGETS, fmt, load, load_at_start, meets, target_text
from report_gpu import gpu_section
from report_measure import measure_section
from report_serve import serve_section


def _x(bound: float) -> str:
    return f"{bound:.2f}×"


def _scale_targets(sc: dict, runs: list[dict]) -> str:
    """bench_scale.py's targets (recorded in the result) with verdicts computed from the figures: first set
    and RSS over every run; files and overhead per set over the whole-input runs (the limit= run stops early,
    so its per-set overhead carries the whole start-up)."""
    t = sc.get("targets") or {}
    whole = runs[1:]
    checks = []
    if "first_set_s" in t:
        v = max((r["first_set_s_after_pipeline_start"] or float("inf")) for r in runs)
        checks.append((f"first set ≤ {fmt(t['first_set_s'])} s", v <= t["first_set_s"]))
    if "driver_peak_rss_mb" in t:
        v = max(r["driver_peak_rss_mb"] for r in runs)
        checks.append((f"driver RSS ≤ {t['driver_peak_rss_mb']:,} MB", v <= t["driver_peak_rss_mb"]))
    if "files_per_1000_sets" in t and whole:
        v = whole[0]["files_per_1000_sets"]
        checks.append((f"≤ {fmt(t['files_per_1000_sets'])} file per 1,000 sets", v <= t["files_per_1000_sets"]))
    if "overhead_ms_per_set" in t and whole:
        v = whole[0]["overhead_ms_per_set"]
        checks.append((f"overhead ≤ {fmt(t['overhead_ms_per_set'])} ms/set over a whole input "
                       f"(batch_size {whole[0]['batch_size']})", v <= t["overhead_ms_per_set"]))
    return "Targets: " + ", ".join(f"{what}: {'met' if ok else '**not met**'}" for what, ok in checks) + "."


def _train_target(t: dict) -> str:
    bound = t.get("target_ratio", TARGETS["train_ratio"][1])
    ok = meets(t.get("ratio_step_time"), ("<=", bound))
    return f"target ≤ {fmt(bound)}×: " + ("no figure" if ok is None else "met" if ok else "**not met**")


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
                f"| same program, wall time measured inside the sandbox ÷ bare (medians of {o['repeats']} rounds) | "
                f"**{fmt(o['ratio_measured_vs_bare'])}×** | {target_text('sandbox_ratio', o['ratio_measured_vs_bare'], _x)} |",
                f"| end-to-end cost per run in a 5-run sandbox session ÷ bare | {fmt(o['ratio_end_to_end_batch_vs_bare'])}× | |",
                f"| a 1-run session (bwrap + runner start-up) ÷ bare | {fmt(o['ratio_single_session_vs_bare'])}× | (enrichment never does this) |",
                "", load_at_start(o["machine"]).capitalize() + ".", ""]
    s = load("label_stability")
    if s:
        lat, ins = s.get("latency", {}), s.get("instruction_counts", {})
        out += ["## Label stability (`bench_enrich.py stability`)", "",
                f"The first {s['pairs']} real pairs of `{s['source']}` enriched twice with `{s['config']}`; a pair counts when "
                "its two candidates differ by ≥ 5% in both runs.", "",
                "| backend | pairs counted | winner agrees | target |", "|---|---|---|---|",
                f"| latency (wall clock) | {lat.get('pairs_differing_5pct_in_both_runs')} | "
                f"**{fmt(lat.get('agreement'))}** ({lat.get('winner_agrees')} of {lat.get('pairs_differing_5pct_in_both_runs')}) | "
                f"{target_text('label_agreement_latency', lat.get('agreement'))} |"]
        if ins:
            out += [f"| valgrind instruction counts ({ins['pairs']} pairs) | {ins['pairs_differing_5pct_in_both_runs']} | "
                    f"**{fmt(ins['agreement'])}** ({ins.get('winner_agrees')} of {ins['pairs_differing_5pct_in_both_runs']}; max run-to-run difference {fmt(ins['max_relative_difference_between_runs'])}) | "
                    f"{target_text('label_agreement_instructions', ins['agreement'])} |"]
        out += ["", load_at_start(s["machine"]).capitalize() + ".", ""]
    c = load("enrich_scaling")
    if c:
        out += ["## Scaling (`bench_enrich.py scaling`)", "",
                f"The first {c['pairs']} pairs of `{c.get('source', '?')}` (`{c.get('config', '?')}`), sets/s with 2 profiling actors ÷ 1 (runs alternated 1, 2, 1, 2): "
                f"**{fmt(c['ratio_2_over_1'])}×** (median ÷ median; {target_text('scaling_ratio', c['ratio_2_over_1'], _x)}, "
                f"on {c['machine'].get('cpus')} cores); sets/s {c['sets_per_s']}. {c.get('note', '')}.",
                load_at_start(c["machine"]).capitalize() + ".", ""]
    sc = load("scale")
    if sc:
        res, inp = sc["resume_scan"], sc["input"]
        runs = [dict(sc["start_run"], what=f"full input, limit={sc['start_run']['limit']:,}")] + [
            dict(r, what=f"first {sc['window_records']:,} records, whole") for r in sc["overhead_runs"]]
        out += [f"## Enrichment at {'a million' if inp['records'] == 1_000_000 else format(inp['records'], ',')} "
                "pairs (`bench_scale.py`)", "",
                f"Input: {inp['records']:,} JSONL records ({inp['bytes'] / 1e9:.2f} GB) generated from "
                f"`{inp['source']}` with fresh ids. The real `run_enrich` pipeline (Ray Data read → validation → "
                "id ledger → actor pool → rolling Parquet writer → summary) with the program runs replaced by a "
                "benchmark-only stand-in (no program executed; users always get the real profiler). The first "
                f"run reads the full input and stops at `limit=` (first set, driver RSS of a {inp['records']:,}-record "
                "input); the others "
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
        out += ["", _scale_targets(sc, runs) + " "
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
                f"{fmt(t['plain_trl']['step_time_median_s'])} s/step → **{fmt(t['ratio_step_time'])}×** "
                f"({_train_target(t)}); "
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
        settings = [f"{r['suite']}: {', '.join(r['settings'])}" for r in ev["suites"]
                    if r.get("settings")]
        out += ["", ev["note"] + (f". Settings: {'; '.join(settings)}" if settings else
                                  " (subsets of each suite; settings not recorded in this result)")
                + f". {load_at_start(ev['machine']).capitalize()}.", ""]
    out += measure_section(load("measure"))
    out += gpu_section()
    out += serve_section(load("serve"))
    (HERE / "README.md").write_text("\n".join(out))
    print("\n".join(out))


if __name__ == "__main__":
    main()
