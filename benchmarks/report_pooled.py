"""Conclusive shares of bench_measure.py's pair samples pooled over samples (computed, not rendered).

A pair drawn in several samples counts once, with all its passes; these figures feed the pair tables of
:mod:`report_pairs` and are checked by tests/test_bench_measure_cli.py.
"""
from __future__ import annotations

import re


def sample_suffixes(m: dict, file_suffix: str) -> list[str]:
    """The recorded samples of one pair file: ``file_suffix`` ("" or "_cn") first, then its ``_sN`` seeds."""
    seeds = sorted(int(k.rsplit("_s", 1)[1]) for k in m if re.fullmatch(rf"pairs{file_suffix}_s\d+", k))
    return [file_suffix] + [f"{file_suffix}_s{n}" for n in seeds]


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


def pooled_conclusive(m: dict, suffixes: list[str]) -> dict:
    """Conclusive share per mode over several samples' ``pairs`` records (see :func:`report_pairs.file_sections`)."""
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


def _rule(first_looks: dict[str, list[bool | None]]) -> str:
    """Which significance rule a mode's passes were judged by: "two looks", "one look" or "mixed"."""
    recorded = {x is not None for f in first_looks.values() for x in f}
    return "mixed" if len(recorded) > 1 else "two looks" if recorded == {True} else "one look"
