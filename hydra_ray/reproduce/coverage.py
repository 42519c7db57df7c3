"""Fig. 7 of the paper: the enriched dataset's metric coverage and optimisation signal, from our own
enrichment of PIE pairs (``hydra-ray enrich``'s output, read through :mod:`hydra_ray.prefs.pairs`).

Per metric, over the pairs whose two programs both passed every test:

* coverage (Fig. 7a): pairs where both programs have a value for the metric;
* fast beats slow (Fig. 7b): the fast program is better and the difference is significant (the
  enrichment's Mann–Whitney test plus minimum effect); **ties** (not significantly different) are
  counted apart, and so are pairs where the slow program is significantly better. Rates come with 95 %
  Wilson score intervals. The paper's "preference rate" does not say how it treats ties; we give the rate
  over all pairs (ties count as not beating) and over the pairs that are not tied;
* speed-up (Fig. 7c/d): slow ÷ fast (fast ÷ slow for throughput), so > 1 means the fast program is
  better; histograms clipped to [0.1, 10] as the paper's Fig. 7(d). A zero (no net memory, usual in
  ``inprocess`` mode) is a measured value: against a non-zero one it is recorded at the clip.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hydra_ray.metrics.names import METRIC_NAMES, improvement_ratio

CLIP = (0.1, 10.0)


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion k/n: (p̂ + z²/2n ± z·sqrt(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n)."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half) if k < n else 1.0


def coverage_stats(pairs: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """Per metric: counts, rates with intervals and speed-ups (see the module docstring).

    ``pairs`` are :class:`hydra_ray.prefs.pairs.CandidatePair` with ``fast_side`` set (PIE slow/fast pairs).
    """
    out: dict[str, dict[str, Any]] = {}
    usable = [p for p in pairs if p.fast_side in ("a", "b")]
    for m in METRIC_NAMES:
        better = worse = ties = available = 0
        speedups: list[float] = []
        estimated = False
        for p in usable:
            fast, slow = (p.a, p.b) if p.fast_side == "a" else (p.b, p.a)
            s = improvement_ratio(m, fast.raw.get(m), slow.raw.get(m))
            if s is None:
                continue
            available += 1
            estimated = estimated or bool(fast.estimated.get(m) or slow.estimated.get(m))
            speedups.append(min(max(s, CLIP[0]), CLIP[1]) if s in (0.0, math.inf) else s)   # a zero: at the clip
            if p.significant.get(m) is not True:
                ties += 1
            elif s > 1:
                better += 1
            else:
                worse += 1
        untied = better + worse
        out[m] = {"pairs": len(usable), "available": available, "fast_better": better, "slow_better": worse,
                  "ties": ties, "rate": better / available if available else float("nan"),
                  "rate_ci": wilson(better, available), "tie_rate": ties / available if available else float("nan"),
                  "rate_untied": better / untied if untied else float("nan"), "rate_untied_ci": wilson(better, untied),
                  "speedups": speedups, "estimated": estimated,
                  "median_speedup": float(np.median(speedups)) if speedups else float("nan"),
                  "share_1_to_1_5": float(np.mean([(1 <= s <= 1.5) for s in speedups])) if speedups else float("nan")}
    return out


def plot_fig7(stats: dict[str, dict[str, Any]], path: str | Path, paper_memory_rate: float | None = None,
              title: str = "") -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ms = list(METRIC_NAMES)
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    ax = axes[0][0]
    n = max((stats[m]["pairs"] for m in ms), default=0)
    ax.bar(ms, [100 * stats[m]["available"] / n if n else 0 for m in ms])
    ax.set_ylim(0, 105)
    ax.set_ylabel("% of passing pairs with the metric")
    ax.set_title("(a) metric coverage")
    ax = axes[0][1]
    rate = np.array([100 * stats[m]["rate"] for m in ms])
    lo = np.array([100 * stats[m]["rate_ci"][0] for m in ms])
    hi = np.array([100 * stats[m]["rate_ci"][1] for m in ms])
    tie = np.array([100 * stats[m]["tie_rate"] for m in ms])
    ax.bar(ms, rate, yerr=[np.maximum(0, np.nan_to_num(rate - lo)), np.maximum(0, np.nan_to_num(hi - rate))], capsize=4, label="fast better (95% CI)")
    ax.bar(ms, tie, bottom=rate, color="lightgrey", label="tie (not significant)")
    if paper_memory_rate is not None:
        ax.scatter(["memory"], [100 * paper_memory_rate], marker="*", s=150, color="red", zorder=5,
                   label=f"paper: memory {100 * paper_memory_rate:.1f}%")
    ax.set_ylim(0, 105)
    ax.set_ylabel("% of pairs")
    ax.set_title("(b) fast program beats slow, per metric")
    ax.legend(fontsize=7)
    bins = np.logspace(math.log10(CLIP[0]), math.log10(CLIP[1]), 31)
    ax = axes[1][0]
    lat = np.clip(stats["latency"]["speedups"], *CLIP) if stats["latency"]["speedups"] else []
    ax.hist(lat, bins=bins, color="tab:blue")
    ax.axvline(1, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("latency speed-up slow/fast (clipped to [0.1, 10])")
    ax.set_ylabel("pairs")
    ax.set_title("(c) latency speed-up")
    ax = axes[1][1]
    for m in ms:
        if stats[m]["speedups"]:
            ax.hist(np.clip(stats[m]["speedups"], *CLIP), bins=bins, histtype="step", label=m)
    ax.axvline(1, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("speed-up (> 1: fast program better), clipped to [0.1, 10]")
    ax.set_title("(d) speed-up per metric")
    ax.legend(fontsize=7)
    fig.suptitle(title or "Fig. 7 layout: dataset coverage and optimisation signal", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def pairs_of(enriched_dir: str | Path):
    """The slow/fast pairs of an enrichment output directory, with significance (prefs.pairs)."""
    from hydra_ray.prefs.pairs import candidates_from_frame, form_pairs, read_enriched

    pairing = form_pairs(candidates_from_frame(read_enriched(enriched_dir)))
    return pairing.pairs, dict(pairing.skipped), len(pairing.groups)
