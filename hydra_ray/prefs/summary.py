"""Dataset statistics for ``stats.json`` (and the data behind the plots).

* ``coverage``: per metric, how many fully-passed candidates have a value, by backend, how many estimated.
* ``significance``: per metric, among eligible pairs, how many differ significantly / are unknown /
  are missing on a side (missing and unknown are scored as ties).
* ``fast_vs_slow``: per metric, among eligible pairs with a fast and a slow side (PIE names, else lower
  median latency = fast), the share where the fast candidate is significantly better, significantly
  worse, or tied — the paper's "does the faster program also win on metric k" view.
* ``speedup``: per metric, the improvement ratio of fast over slow, oriented so > 1 means the fast
  candidate is better (x_slow/x_fast when lower is better, x_fast/x_slow when higher is better),
  clipped to [0.1, 10].
* ``regions``: labelled and dropped examples per region.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from hydra_ray.metrics.names import BY_NAME, METRIC_NAMES, improvement_ratio
from hydra_ray.prefs.dataset import LabelResult
from hydra_ray.prefs.dirichlet import REGIONS
from hydra_ray.prefs.labels import Labeler
from hydra_ray.prefs.pairs import CandidatePair, Pairing

SPEEDUP_CLIP = (0.1, 10.0)


def _frac(n: int, d: int) -> float | None:
    return round(n / d, 6) if d else None


def speedups(pairs: list[CandidatePair]) -> dict[str, np.ndarray]:
    """Metric → clipped fast-over-slow improvement ratios (see module docstring)."""
    out: dict[str, list[float]] = {m: [] for m in METRIC_NAMES}
    for p in pairs:
        if p.fast_side is None:
            continue
        fast, slow = (p.a, p.b) if p.fast_side == "a" else (p.b, p.a)
        for m in METRIC_NAMES:
            r = improvement_ratio(m, fast.raw[m], slow.raw[m])
            if r is not None:
                out[m].append(r)
    return {m: np.clip(np.asarray(v, dtype=float), *SPEEDUP_CLIP) for m, v in out.items()}


def fast_vs_slow(pairs: list[CandidatePair]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for m in METRIC_NAMES:
        c: Counter = Counter()
        for p in pairs:
            if p.fast_side is None:
                continue
            fast, slow = (p.a, p.b) if p.fast_side == "a" else (p.b, p.a)
            xf, xs = fast.raw[m], slow.raw[m]
            if xf is None or xs is None:
                c["missing"] += 1
            elif p.significant[m] is not True or xf == xs:
                c["tie"] += 1
            elif (xf > xs) == BY_NAME[m].higher_is_better:
                c["fast_better"] += 1
            else:
                c["slow_better"] += 1
        n = sum(c.values())
        out[m] = {"pairs": n, **{k: c[k] for k in ("fast_better", "tie", "slow_better", "missing")},
                  "fast_better_frac": _frac(c["fast_better"], n), "slow_better_frac": _frac(c["slow_better"], n),
                  "tie_frac": _frac(c["tie"] + c["missing"], n)}
    return out


def coverage(pairing: Pairing) -> dict[str, dict[str, Any]]:
    passed = [c for g in pairing.groups for c in g if c.fully_passed]
    out = {}
    for m in METRIC_NAMES:
        have = [c for c in passed if c.raw[m] is not None]
        out[m] = {"passed_candidates": len(passed), "with_value": len(have),
                  "fraction": _frac(len(have), len(passed)),
                  "sources": dict(Counter(str(c.source.get(m)) for c in have)),
                  "estimated": sum(1 for c in have if c.estimated.get(m))}
    return out


def significance(pairs: list[CandidatePair]) -> dict[str, dict[str, Any]]:
    out = {}
    for m in METRIC_NAMES:
        missing = sum(1 for p in pairs if p.a.raw[m] is None or p.b.raw[m] is None)
        unknown = sum(1 for p in pairs if p.significant[m] is None) - missing
        sig = sum(1 for p in pairs if p.significant[m] is True)
        out[m] = {"pairs": len(pairs), "significant": sig, "not_significant": len(pairs) - sig - unknown - missing,
                  "unknown": unknown, "missing_value": missing, "significant_frac": _frac(sig, len(pairs))}
    return out


def _quantiles(x: np.ndarray) -> dict[str, Any]:
    if x.size == 0:
        return {"n": 0}
    q = np.percentile(x, [10, 25, 50, 75, 90])
    return {"n": int(x.size), "p10": float(q[0]), "p25": float(q[1]), "median": float(q[2]),
            "p75": float(q[3]), "p90": float(q[4]),
            "geomean": float(np.exp(np.mean(np.log(x)))),
            "at_clip_low": int(np.sum(x <= SPEEDUP_CLIP[0])), "at_clip_high": int(np.sum(x >= SPEEDUP_CLIP[1]))}


def compute_stats(pairing: Pairing, result: LabelResult, labeler: Labeler) -> dict[str, Any]:
    cands = [c for g in pairing.groups for c in g]
    pairs = pairing.pairs
    labelled_regions = Counter(r["region"] for r in result.rows)
    chosen_fast = sum(1 for e in result.meta if e.pair.fast_side == e.chosen_side)
    with_role = sum(1 for e in result.meta if e.pair.fast_side is not None)
    chosen_original = sum(1 for e in result.meta
                          if (e.pair.a if e.chosen_side == "a" else e.pair.b) is e.pair.original)
    return {
        "candidates": {"total": len(cands), "fully_passed": sum(1 for c in cands if c.fully_passed),
                       "by_verdict": dict(Counter(c.verdict for c in cands))},
        "groups": {"total": len(pairing.groups),
                   "by_size": {str(k): v for k, v in sorted(Counter(len(g) for g in pairing.groups).items())}},
        "pairs": {"eligible": len(pairs), "skipped": dict(pairing.skipped),
                  "skipped_total": sum(pairing.skipped.values())},
        "examples": {"weight_draws": result.draws, "labelled": len(result.rows),
                     "dropped": dict(result.dropped), "dropped_total": sum(result.dropped.values()),
                     "chosen_is_fast": chosen_fast, "with_fast_slow_roles": with_role,
                     "chosen_is_fast_frac": _frac(chosen_fast, with_role),
                     "chosen_is_original": chosen_original},
        "regions": {"labelled": {r: labelled_regions.get(r, 0) for r in REGIONS},
                    "dropped": {r: result.dropped_regions.get(r, 0) for r in REGIONS}},
        "coverage": coverage(pairing),
        "significance": significance(pairs),
        "fast_vs_slow": fast_vs_slow(pairs),
        "speedup": {"clip": list(SPEEDUP_CLIP), **{m: _quantiles(v) for m, v in speedups(pairs).items()}},
        "labeler": labeler.to_dict(),
    }
