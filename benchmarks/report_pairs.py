"""The pair tables of the measurement section: per sample of a pair file, then the samples pooled."""
from __future__ import annotations

from report_format import TARGETS, conditions, fmt, interval, meets, pct
from report_pooled import judge_conclusive, per_call_conclusive, pooled_conclusive, sample_suffixes


def file_sections(m: dict, file_suffix: str) -> list[str]:
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
            out += [f"| {mode} | {r['rule']} | {r['pairs']} | **{pct(r['share'])}** | {interval(r['share'], r['pairs'])} | "
                    f"{pct(r['first_look_share']) if r['first_look_share'] is not None else '–'} | "
                    f"{r['work_pairs']} | {pct(r['work_share'])} | {pct(r['agreement'])} ({r['both']} pairs) |"]
        out += [""]
    out += _judge_table(m, file_suffix, recorded)
    out += _per_call_table(m, recorded)
    out += _left_table(m, file_suffix, recorded)
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
        out += [f"| {mode} | {b['pairs']} | **{pct(b['share'])}** | "
                f"{interval(b['share'], b['pairs']) if b['share'] is not None else '–'} | {o['pairs']} | {pct(o['share'])} |"]
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
        out += [f"| {band} | {r['pairs']} | {pct(r['share'])} | "
                f"{interval(r['share'], r['pairs']) if r['share'] is not None else '–'} |"]
    return out + [""]


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
                f"{pct(r['first_look_conclusive_share'])} | **{pct(r['conclusive_share'])}** | {r['timed_longer']} | "
                f"{r['found_at_second_look']} | {r['dropped_at_second_look']} | {pct(r['first_look_winner_agreement'])} |"]
    return out


def _targets(p: dict) -> str:
    """'Targets: conclusive ≥ 90% (met in: …; not met in: …), agreement ≥ 99% (…).', computed per mode."""
    parts = []
    for what, key, target in (("conclusive", "conclusive_share", "pairs_conclusive"),
                              ("agreement", "winner_agreement", "pairs_agreement")):
        op, bound = TARGETS[target]
        verdicts = {mode: meets(r.get(key), TARGETS[target]) for mode, r in p["modes"].items()}
        met = [m for m, v in verdicts.items() if v]
        missed = [m for m, v in verdicts.items() if v is False]
        said = "; ".join(x for x in (f"met in {', '.join(met)}" if met else "",
                                     f"**not met** in {', '.join(missed)}" if missed else "") if x)
        parts.append(f"{what} {'≥' if op == '>=' else '≤'} {bound:.0%} ({said or 'no figure'})")
    return "Targets: " + ", ".join(parts) + "."


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
                    f"**{pct(r['conclusive_share'])}** | {interval(r['conclusive_share'], r['passing_pairs'])} | "
                    f"**{pct(r['winner_agreement'])}** "
                    f"({r['conclusive_both']} pairs) | {pct(r['pie_fast_program_wins'])} | {r['fell_back']} | "
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
            out += ["", _targets(p) + " " + " ".join(
                f"{mode} ({run['when']}): {conditions(run)} {fmt(run['wall_s'])} s." for mode, run in p["mode_runs"].items()
                if mode in p["modes"]), ""]
        else:
            out += ["", f"{_targets(p)} {conditions(p)} {fmt(p['wall_s'])} s.", ""]
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
            out += [f"| {mode} | {r['programs']} | **{r['false_conclusive']}** ({pct(r['false_conclusive_share'])}){looks} | "
                    f"{r['p_below_alpha']} | {r.get('paired_t_p_below_alpha', '–')} | "
                    f"{fmt(r['median_apparent_ratio'])}× | {fmt(r['max_apparent_ratio'])}× |"]
        out += ["", f"{conditions(same)} {fmt(same['wall_s'])} s.", ""]
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
                    + " | ".join("–" if mm not in row else f"**{pct(row[mm]['conclusive_share'])}**" if mm != "process"
                                 else pct(row[mm]['conclusive_share']) for mm in ("process", "inprocess", "function"))
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
