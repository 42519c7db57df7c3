"""The measurement benchmark's design specs and report tables (no measuring: pure parsing/rendering)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import bench_measure  # noqa: E402
import measure_humaneval  # noqa: E402
import measure_pairs  # noqa: E402
import measure_setup  # noqa: E402
import measure_work  # noqa: E402
import report_format  # noqa: E402
import report_measure  # noqa: E402
import report_pooled  # noqa: E402


def test_spread_designs_parse_loops_gap_sample_and_retiming():
    d = measure_humaneval._spread_designs(["10x0", "120x5x0.5", "120x5x0.5r1"])
    assert d["back_to_back_10"] == {"function_loops": 10, "function_loop_gap_ms": 0.0, "remeasure_unsteady": 0}
    assert d["spread_120x5ms_of_0.5ms"]["function_min_sample_ms"] == 0.5
    assert d["spread_120x5ms_of_0.5ms"]["remeasure_unsteady"] == 0
    assert d["spread_120x5ms_of_0.5ms_retimed_up_to_1x"]["remeasure_unsteady"] == 1


@pytest.mark.parametrize("bad", ["120", "120x", "axb", "1x2x3x4", "120x5rx"])
def test_a_bad_design_names_the_expected_form(bad):
    with pytest.raises(SystemExit, match=f"'{bad}' is not LOOPSxGAP_MS"):
        measure_humaneval._spread_designs([bad])


def test_report_renders_a_retiming_comparison():
    designs = measure_humaneval._spread_designs(measure_humaneval.RETIMING_DESIGNS)
    once, again = designs
    ls = {"tasks": 164, "repeats": 5, "designs": designs, "wall_s": 10.0, "loadavg_before": [1.0, 1.0, 1.0],
          "loadavg_after": [1.1, 1.0, 1.0],
          "results": {once: {"passed": 164, "measurable_cv_le_5pct": 150, "share_measurable": 150 / 164,
                             "median_cv": 0.018, "retimed": 0, "seconds_per_task": 4.7},
                      again: {"passed": 164, "measurable_cv_le_5pct": 148, "share_measurable": 148 / 164,
                              "median_cv": 0.017, "retimed": 155, "seconds_per_task": 8.1}}}
    text = "\n".join(report_measure._loop_spread(ls, "timing a task again when the CPU swung"))
    assert "All 164" in text and "155 tasks were" in text and "**91%**" in text


def _pairs_record(modes, conclusive):
    """A pairs section as measure_pairs.pairs records it: pair -> two passes per mode."""
    per = {m: {pid: [{"significant": sig, "winner": "fast", "ratio": 2.0, "mode": m, "reason": None,
                      "cpu_speed_cv": 0.01, "timing_attempts": 1}] * 2 for pid, sig in conclusive.items()}
           for m in modes}
    share = sum(conclusive.values()) / len(conclusive)
    return {"source": "pie_python_pairs_cn.jsonl", "sample": "3 pairs", "pairs": 3, "wall_s": 5.0,
            "loadavg_before": [0.1] * 3, "loadavg_after": [0.1] * 3, "per_pair": per,
            "modes": {m: {"passing_pairs": 3, "failing_pairs": 0, "conclusive_pass1": 2, "conclusive_pass2": 2,
                          "conclusive_share": share, "conclusive_both": 2, "winner_agreement": 1.0,
                          "pie_fast_program_wins": 1.0, "fell_back": 0, "median_ratio_slow_over_fast": 2.0}
                      for m in modes}}


def test_the_verified_pair_source_is_recorded_apart_and_rendered_without_the_modes_it_skipped():
    """A ``--pairs-source cn --modes inprocess function`` run: its own report sections, the work
    cross-reference computed from its own pairs, and a dash where process mode was not run."""
    conclusive = {"a": True, "b": True, "c": False}
    work = {"a": {"work_ratio_slow_over_fast": 3.0}, "b": {"work_ratio_slow_over_fast": 1.5},
            "c": {"work_ratio_slow_over_fast": 1.01}}
    m = {"pairs_cn": _pairs_record(("inprocess", "function"), conclusive),
         "work_cn": {"per_pair": {p: {**w, "reported_speedup": 2.0, "net_instructions": {"slow": 1e6}}
                                  for p, w in work.items()}, "seconds": 9.0}}
    m["work_cn"]["conclusive_by_work"] = measure_work.conclusive_by_work(m["work_cn"]["per_pair"], m["pairs_cn"])
    row = m["work_cn"]["conclusive_by_work"]["work_differs_by_10%"]
    assert set(row) == {"inprocess", "function"}
    assert row["inprocess"] == {"pairs_differing": 2, "passing_pairs": 3, "conclusive_share": 1.0}
    text = "\n".join(report_measure.measure_section(m))
    assert "The same, on the verified pair file" in text
    assert "| inprocess | 3 | 2, 2 | **67%** |" in text
    assert "| ≥ 10% | 2 of 3 | – | **100%** | **100%** |" in text
    assert "1 passing pair(s) differ conclusively in no mode and no pass (c)" in text


def test_pairs_source_and_modes_are_checked_by_the_parser(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["bench_measure.py", "--sections", "pairs", "--pairs-source", "codenet"])
    with pytest.raises(SystemExit):
        bench_measure.main()
    assert "invalid choice: 'codenet'" in capsys.readouterr().err


def test_wilson_interval_matches_the_formula_and_stays_in_range():
    """Wilson score interval, z = 1.96: centre = (p + z²/2n)/(1 + z²/n),
    half = z·sqrt(p(1-p)/n + z²/4n²)/(1 + z²/n).
    p = 0.5, n = 10: centre 0.5, half = 1.96·sqrt(0.025 + 0.0096)/1.384 = 0.2634 → (0.2366, 0.7634).
    p = 0, n = 10: centre = half = 0.1920/1.384 = 0.1388 → (0, 0.2775): not zero-width at 0%.
    p = 25/30 (the verified file's function-mode share): (0.664, 0.927), so 90% is inside it."""
    lo, hi = report_format.wilson(0.5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    lo, hi = report_format.wilson(0.0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = report_format.wilson(25 / 30, 30)
    assert lo == pytest.approx(0.664, abs=1e-3) and hi == pytest.approx(0.927, abs=1e-3) and lo < 0.9 < hi
    assert report_format.wilson(1.0, 5)[1] == 1.0 and report_format.wilson(None, 5) is None and report_format.wilson(0.5, 0) is None
    assert report_format.interval(0.5, 10) == "24%–76%" and report_format.interval(None, 3) == "–"


def test_a_second_seed_is_recorded_apart_and_pooled_with_the_first(tmp_path, monkeypatch):
    """``--seed 1`` keys its sections by sample; the report renders it and pools the file's samples,
    a pair drawn in both counted once with all its passes: seed 0 {a: 2/2, b: 2/2, c: 0/2},
    seed 1 {c: 2/2, d: 0/2, e: 2/2} -> a 1, b 1, c 2/4, d 0, e 1 -> share 3.5/5 = 70% over 5 pairs;
    work ≥ 10% for a, b, d, e -> (1 + 1 + 0 + 1)/4 = 75%."""
    assert bench_measure.sample_key("pairs", "cn", 1) == "pairs_cn_s1"
    assert bench_measure.sample_key("work", "pie", 2) == "work_s2"
    assert bench_measure.sample_key("pairs", "cn", 0) == "pairs_cn" and bench_measure.sample_key("floors", "cn", 1) == "floors"
    modes = ("inprocess", "function")
    work = {"a": 3.0, "b": 1.5, "c": 1.01, "d": 0.5, "e": 2.0}
    per_work = lambda ids: {"per_pair": {p: {"work_ratio_slow_over_fast": work[p], "reported_speedup": 2.0,  # noqa: E731
                                             "net_instructions": {"slow": 1e6}} for p in ids}, "seconds": 9.0}
    m = {"pairs_cn": _pairs_record(modes, {"a": True, "b": True, "c": False}), "work_cn": per_work("abc"),
         "pairs_cn_s1": _pairs_record(modes, {"c": True, "d": False, "e": True}), "work_cn_s1": per_work("cde")}
    path = tmp_path / "measure.json"
    monkeypatch.setattr(bench_measure, "RESULTS", tmp_path)
    bench_measure._save(path, m)    # the cross-reference is computed for every sample
    assert m["work_cn_s1"]["conclusive_by_work"]["work_differs_by_10%"]["function"]["pairs_differing"] == 2
    assert report_pooled.sample_suffixes(m, "_cn") == ["_cn", "_cn_s1"] and report_pooled.sample_suffixes(m, "") == [""]
    pooled = report_pooled.pooled_conclusive(m, ["_cn", "_cn_s1"])["function"]
    assert pooled["pairs"] == 5 and pooled["share"] == pytest.approx(0.7)
    assert pooled["work_pairs"] == 4 and pooled["work_share"] == pytest.approx(0.75)
    text = "\n".join(report_measure.measure_section(m))
    assert "### Conclusive PIE pairs and winner agreement (another sample of the same file, `--seed 1`)" in text
    assert "| function | one look | 5 | **70%** | " + report_format.interval(0.7, 5) + " | – | 4 | 75% |" in text


def test_two_looks_are_rendered_beside_the_first_look_alone_and_a_partial_rerun_keeps_the_other_mode():
    """A function-mode re-run with two looks, merged into a sample recorded before them with two modes:
    inprocess keeps its passes and its run's conditions; function's passes carry the first-look verdict.
    Passes (first look -> final): a (T, T) -> (T, T); b (F, F) -> (T, T), both timed longer; c (F, F) -> (F, F).
    First look alone 2/6 = 33%, with the second 4/6 = 67%; pooled the same over 3 pairs."""
    old = _pairs_record(("inprocess", "function"), {"a": True, "b": True, "c": False})
    old["when"] = "2026-12-03T10:00:00"
    first = {"a": True, "b": False, "c": False}
    final = {"a": True, "b": True, "c": False}
    new = _pairs_record(("function",), final)
    new["when"] = "2026-12-04T20:00:00"
    new["per_pair"]["function"] = {
        pid: [{"significant": final[pid], "significant_first_look": first[pid], "winner": "fast",
               "winner_first_look": "fast", "timing_rounds": 5 if first[pid] else 15, "ratio": 2.0, "mode": "function",
               "reason": "", "cpu_speed_cv": 0.01, "timing_attempts": 1} for _ in range(2)] for pid in first}
    ok = new["per_pair"]["function"]
    from hydra_ray.metrics.profile_config import ProfileConfig

    new["modes"]["function"].update(measure_pairs.first_look_summary(ok, ProfileConfig()))
    r = new["modes"]["function"]
    assert (r["first_look_conclusive_pass1"], r["timed_longer"], r["found_at_second_look"]) == (1, 4, 2)
    assert r["first_look_conclusive_share"] == pytest.approx(2 / 6) and r["dropped_at_second_look"] == 0
    merged = bench_measure.merge_modes(old, new)
    assert merged["per_pair"]["inprocess"] == old["per_pair"]["inprocess"]
    assert merged["mode_runs"]["inprocess"]["when"] == "2026-12-03T10:00:00"
    assert merged["mode_runs"]["function"]["when"] == "2026-12-04T20:00:00"
    assert bench_measure.merge_modes({**old, "sample": "another"}, new) is new   # another sample replaces
    m = {"pairs_cn": merged}
    text = "\n".join(report_measure.measure_section(m))
    assert "| function | 1, 1 | 33% | **67%** | 4 | 2 | 0 | 100% |" in text
    assert "inprocess: recorded before two looks" in text
    assert "inprocess (2026-12-03T10:00:00): Load average" in text
    pooled = report_pooled.pooled_conclusive(m, ["_cn"])
    assert pooled["function"]["rule"] == "two looks" and pooled["inprocess"]["rule"] == "one look"
    assert pooled["function"]["first_look_share"] == pytest.approx(1 / 3)


def test_function_mode_is_read_against_the_work_of_one_call(tmp_path, monkeypatch):
    """``work_per_call`` records are keyed by sample, cross-referenced with function mode only, and pooled
    by how much one call differs: seed 0 {a 3.0x: 2/2, b 1.01x: 0/2}, seed 1 {c 1.03x: 2/2, d 1.015x: 2/2}
    -> alike (< 2%): b, d -> (0 + 1)/2 = 50%; >= 2%: a, c -> 100%; >= 5%: a alone."""
    assert bench_measure.sample_key("work_per_call", "cn", 1) == "work_per_call_cn_s1"
    calls = {"a": 3.0, "b": 1.01, "c": 1.03, "d": 1.015}
    per_call = lambda ids: {"per_pair": {p: {"work_ratio_slow_over_fast": calls[p], "extra_calls": 1}  # noqa: E731
                                         for p in ids}, "seconds": 9.0}
    m = {"pairs_cn": _pairs_record(("inprocess", "function"), {"a": True, "b": False}),
         "pairs_cn_s1": _pairs_record(("inprocess", "function"), {"c": True, "d": True}),
         "work_per_call_cn": per_call("ab"), "work_per_call_cn_s1": per_call("cd")}
    monkeypatch.setattr(bench_measure, "RESULTS", tmp_path)
    bench_measure._save(tmp_path / "measure.json", m)
    cross = m["work_per_call_cn_s1"]["conclusive_by_work"]
    assert set(cross) == {"work_differs_by_2%", "work_differs_by_5%", "work_differs_by_10%"}
    assert set(cross["work_differs_by_2%"]) == {"function"} and cross["work_differs_by_2%"]["function"]["pairs_differing"] == 1
    bands = report_pooled.per_call_conclusive(m, ["_cn", "_cn_s1"])
    assert bands["< 2% (alike per call)"] == {"pairs": 2, "share": 0.5}
    assert bands[">= 2% (the minimum effect)"] == {"pairs": 2, "share": 1.0}
    assert bands[">= 5%"] == {"pairs": 1, "share": 1.0} and bands[">= 10%"] == {"pairs": 1, "share": 1.0}
    text = "\n".join(report_measure.measure_section(m))
    assert "### Function mode against the work of one call" in text
    assert "| >= 2% (the minimum effect) | 2 | 100% | " + report_format.interval(1.0, 2) + " |" in text


def test_the_pairs_left_inconclusive_are_selected_over_every_sample_and_rendered(tmp_path, monkeypatch):
    """``work_per_call_left`` picks the pairs function mode left inconclusive in some pass of any seed of the
    file (b in seed 0, d in seed 1; not the other file's x), and its table lists them, alike first."""
    m = {"pairs_cn": _pairs_record(("inprocess", "function"), {"a": True, "b": False}),
         "pairs_cn_s1": _pairs_record(("inprocess", "function"), {"c": True, "d": False}),
         "pairs": _pairs_record(("function",), {"x": False})}
    assert measure_work.left_inconclusive(m, "cn") == ["b", "d"]
    assert measure_work.left_inconclusive(m, "pie") == ["x"]
    assert bench_measure.sample_key("work_per_call_left", "cn", 0) == "work_per_call_left_cn"
    m["work_per_call_left_cn"] = {"per_pair": {"b": {"work_ratio_slow_over_fast": 1.04},
                                               "d": {"work_ratio_slow_over_fast": 0.999}}, "seconds": 3.0}
    monkeypatch.setattr(bench_measure, "RESULTS", tmp_path)
    bench_measure._save(tmp_path / "measure.json", m)   # a selection: no cross-reference added
    assert "conclusive_by_work" not in m["work_per_call_left_cn"]
    text = "\n".join(report_measure.measure_section(m))
    assert "### The pairs function mode left inconclusive, against the work of one call" in text
    assert text.index("| d | 0.999 | 2.000, 2.000 |") < text.index("| b | 1.040 | 2.000, 2.000 |")


def test_table_iii_names_its_cycles_source_estimated_or_counted():
    """A Table III record says what its cycles column is: an estimate, or one call's instructions counted
    with valgrind (``--table3-cycles valgrind``, recorded as ``table3_valgrind``) beside the estimated one."""
    def record(source, estimated):
        side = lambda c: {"latency_ms": 1.0, "memory_kb": 1.0, "cycles": c, "cycles_estimated": estimated,  # noqa: E731
                          "cycles_source": source, "throughput_per_s": 1e3, "energy_mj": 0.1}
        return {"size": "small", "repeats": 4, "rows": [{"sample": "Triangular Sum", "mode": "function",
                                                         "orig": side(4e6), "opt": side(2e3), "latency_ratio": 2.0,
                                                         "latency_significant": True, "paper": None}],
                "paper_summary": {"cycles": "36.0% cycles reduction"}, "loadavg_before": [0.1], "loadavg_after": [0.1]}
    m = {"table3": record("estimate_cpu_time_x_clock", True), "table3_valgrind": record("valgrind_instructions", False)}
    text = "\n".join(report_measure.measure_section(m))
    assert "| cycles (ours, est.) |" in text and "Cycles and energy here are estimates" in text
    assert "### Table III: the patterns suite in function mode, beside the paper (cycles counted: `table3_valgrind`)" in text
    assert "| instructions per call (ours, valgrind_instructions) |" in text
    assert "| Triangular Sum | function | 1 → 1 | – | 2× (significant) |" in text


def test_pies_second_runtime_figure_is_copied_from_the_pair_file_and_splits_the_conclusive_share(tmp_path,
                                                                                                 monkeypatch):
    """``judge[_cn]`` copies the judge's CPU times of every recorded pair of that file (not of pairs no sample
    drew, not of the other file), and the report splits the pooled share by them: judge speedups
    a 300/100 = 3.0x, b 120/110 = 1.09x, c 60/50 = 1.2x -> both figures >= 1.2x: a, c (conclusive 2/2 each)
    -> 100%; only reported_speedup: b (0/2) -> 0%."""
    data = tmp_path / "data"
    data.mkdir()
    rows = [("a", 300, 100), ("b", 120, 110), ("c", 60, 50), ("never_drawn", 9, 1)]
    (data / measure_setup.PAIR_SOURCES["cn"]).write_text("".join(
        json.dumps({"pair_id": p, "reported_speedup": 1.5, "slow": {"cpu_time_ms": s, "code": "print((1))\n"},
                    "fast": {"cpu_time_ms": f, "code": "print(1)  # same tree\n" if p == "b" else "print(2)\n"}}) + "\n"
        for p, s, f in rows))
    m = {"pairs_cn": _pairs_record(("function",), {"a": True, "b": False}),
         "pairs_cn_s1": _pairs_record(("function",), {"c": True}),
         "pairs": _pairs_record(("function",), {"x": False})}
    measure_work.judge_figures(m, data)
    assert "judge" not in m   # that file is not in this data folder
    assert set(m["judge_cn"]["per_pair"]) == {"a", "b", "c"}
    assert m["judge_cn"]["per_pair"]["a"] == {"reported_speedup": 1.5, "cpu_time_ms": {"slow": 300, "fast": 100},
                                              "judge_speedup": 3.0, "same_syntax_tree": False}
    assert m["judge_cn"]["per_pair"]["b"]["same_syntax_tree"] is True
    split = report_pooled.judge_conclusive(m, ["_cn", "_cn_s1"], m["judge_cn"])
    assert split == {"function": {"both": {"pairs": 2, "share": 1.0}, "reported_only": {"pairs": 1, "share": 0.0}}}
    text = "\n".join(report_measure.measure_section(m))
    assert "### Conclusive pairs by PIE's two runtime figures" in text
    assert "| function | 2 | **100%** | " + report_format.interval(1.0, 2) + " | 1 | 0% |" in text
    assert "1 pair here has two programs of the same syntax tree" in text and "b (1.5×)" in text
