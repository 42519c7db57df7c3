"""bench_measure.py's pair sections: PIE pairs profiled twice per mode (``pairs``), and each program
against a copy of itself (``identical``, the false-conclusive rate)."""
from __future__ import annotations

import statistics
import time

from measure_setup import MODES, pie_sample, profiler


def pairs(n: int, modes=MODES, pair_source: str = "pie", seed: int = 0) -> dict:
    records, speed, source = pie_sample(n, seed, pair_source)
    profs = {m: profiler(m) for m in modes}
    outcome = {m: {} for m in modes}   # pair_id -> [(significant, winner, ratio, mode used)] per pass
    t0 = time.perf_counter()
    for rnd in range(2):
        for k, ps in enumerate(records):
            for m in (modes if (k + rnd) % 2 == 0 else modes[::-1]):
                slow, fast = profs[m].profile(ps)
                if not (slow.verdict.ok and fast.verdict.ok):
                    outcome[m].setdefault(ps.pair_id, []).append(None)
                    continue
                ls, lf = slow.metrics["latency_ms"].value, fast.metrics["latency_ms"].value
                n1 = profs[m].cfg.repeats
                ls1, lf1 = (statistics.median(r.metrics["latency_ms"].samples[:n1]) for r in (slow, fast))
                outcome[m].setdefault(ps.pair_id, []).append(
                    {"significant": bool(slow.significant.get("latency_ms")), "winner": "fast" if lf < ls else "slow",
                     "ratio": ls / lf if lf else None, "mode": slow.mode, "reason": slow.mode_reason,
                     "cpu_speed_cv": slow.cpu_speed_cv, "timing_attempts": slow.timing_attempts,
                     # the verdict after `repeats` rounds alone (the rule before two looks), from the same run
                     "significant_first_look": bool(slow.significant_first_look.get("latency_ms")),
                     "winner_first_look": "fast" if lf1 < ls1 else "slow", "timing_rounds": slow.timing_rounds})
            print(f"pass {rnd + 1} pair {k + 1}/{len(records)} {time.perf_counter() - t0:.0f}s", flush=True)
    out = {"source": source, "seed": seed,
           "sample": f"{len(records)} pairs, random.Random({seed}).sample of the pairs with reported_speedup >= 1.2",
           "pairs": len(records), "modes": {}}
    for m in modes:
        ok = {p: r for p, r in outcome[m].items() if all(x is not None for x in r)}
        conclusive = [sum(r[i]["significant"] for r in ok.values()) for i in range(2)]
        both = [r for r in ok.values() if r[0]["significant"] and r[1]["significant"]]
        agree = sum(r[0]["winner"] == r[1]["winner"] for r in both)
        fast_wins = sum(r[0]["winner"] == "fast" for r in both)
        fallbacks = sum(r[0]["mode"] != m for r in ok.values())
        out["modes"][m] = {
            "passing_pairs": len(ok), "failing_pairs": len(outcome[m]) - len(ok),
            "conclusive_pass1": conclusive[0], "conclusive_pass2": conclusive[1],
            "conclusive_share": (sum(conclusive) / (2 * len(ok))) if ok else None,
            "conclusive_both": len(both), "winner_agreement": agree / len(both) if both else None,
            "pie_fast_program_wins": fast_wins / len(both) if both else None,
            "fell_back": fallbacks,
            "median_ratio_slow_over_fast": statistics.median([r[0]["ratio"] for r in ok.values() if r[0]["ratio"]])
            if ok else None,
            **first_look_summary(ok, profs[m].cfg),
        }
    out["seconds"] = round(time.perf_counter() - t0, 1)
    # Each mode's calibrated floor: a noisy calibration raises the smallest difference it resolves.
    out["floors"] = {m: profs[m].baseline["floors"] for m in modes}
    out["per_pair"] = {m: outcome[m] for m in modes}
    return out


def first_look_summary(ok: dict, cfg) -> dict:
    """The same passes judged after ``repeats`` rounds alone (the rule before two looks) beside the final
    verdicts: both from one run, so the second look's gain is measured side by side."""
    passes = [x for r in ok.values() for x in r]
    if not passes or "significant_first_look" not in passes[0]:
        return {}   # recorded before two looks
    first = [sum(r[i]["significant_first_look"] for r in ok.values()) for i in range(2)]
    both = [r for r in ok.values() if r[0]["significant_first_look"] and r[1]["significant_first_look"]]
    return {"repeats": cfg.repeats, "extra_repeats": cfg.extra_repeats,
            "first_look_alpha": cfg.look_alphas()[0], "second_look_alpha": cfg.look_alphas()[1],
            "first_look_conclusive_pass1": first[0], "first_look_conclusive_pass2": first[1],
            "first_look_conclusive_share": sum(first) / len(passes),
            "first_look_winner_agreement": (sum(r[0]["winner_first_look"] == r[1]["winner_first_look"] for r in both)
                                            / len(both)) if both else None,
            "timed_longer": sum(x["timing_rounds"] > cfg.repeats for x in passes),
            "found_at_second_look": sum(x["significant"] and not x["significant_first_look"] for x in passes),
            "dropped_at_second_look": sum(x["significant_first_look"] and not x["significant"] for x in passes)}


def identical(n: int, modes=MODES, pair_source: str = "pie", seed: int = 0) -> dict:
    import dataclasses
    import math

    from scipy.stats import ttest_1samp

    records, _, source = pie_sample(n, seed, pair_source)
    profs = {m: profiler(m) for m in modes}
    per: dict[str, list] = {m: [] for m in modes}
    t0 = time.perf_counter()
    for k, ps in enumerate(records):
        for c in ps.candidates:
            twin = dataclasses.replace(ps, candidates=[dataclasses.replace(c, name="a"),
                                                       dataclasses.replace(c, name="b")])
            for m in modes:
                a, b = profs[m].profile(twin)
                if not (a.verdict.ok and b.verdict.ok):
                    continue
                la, lb = a.metrics["latency_ms"].value, b.metrics["latency_ms"].value
                # The alternative considered (rounds are interleaved, so pair them): a paired t-test on the
                # per-round log ratio, from the same samples; recorded to compare false positives, not used.
                log_ratios = [math.log(x / y) for x, y in zip(a.metrics["latency_ms"].samples,
                                                              b.metrics["latency_ms"].samples) if x > 0 and y > 0]
                p_paired = float(ttest_1samp(log_ratios, 0.0).pvalue) if len(log_ratios) > 2 else None
                per[m].append({"program": f"{ps.pair_id}/{c.name}", "significant": bool(a.significant.get("latency_ms")),
                               "significant_first_look": bool(a.significant_first_look.get("latency_ms")),
                               "timing_rounds": a.timing_rounds,
                               "p_value": a.p_values.get("latency_ms"), "p_paired_t": p_paired,
                               "ratio": la / lb if lb else None,
                               "latency_ms": la, "mode": a.mode, "cpu_speed_cv": a.cpu_speed_cv})
        print(f"identical {k + 1}/{len(records)} {time.perf_counter() - t0:.0f}s", flush=True)
    out = {"source": source, "sample": "Each program of the `pairs` sample that passes its tests, against a copy of "
                                       "itself", "modes": {}}
    for m in modes:
        rows = per[m]
        ratios = sorted(max(x["ratio"], 1 / x["ratio"]) for x in rows if x["ratio"])
        out["modes"][m] = {"programs": len(rows), "false_conclusive": sum(x["significant"] for x in rows),
                           "false_conclusive_first_look": sum(x.get("significant_first_look", False) for x in rows),
                           "false_conclusive_share": sum(x["significant"] for x in rows) / len(rows) if rows else None,
                           "p_below_alpha": sum((x["p_value"] or 1) < 0.05 for x in rows),
                           "paired_t_p_below_alpha": sum((x["p_paired_t"] or 1) < 0.05 for x in rows),
                           "median_apparent_ratio": statistics.median(ratios) if ratios else None,
                           "max_apparent_ratio": ratios[-1] if ratios else None}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    out["per_program"] = per
    return out
