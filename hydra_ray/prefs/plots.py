"""PNG figures of a labelled dataset, after the Hydra paper's dataset figure (matplotlib, Agg backend).

``metric_coverage.png``  share of passed candidates with a value per metric, and share of pairs that
                         differ significantly;
``fast_vs_slow.png``     per metric, share of pairs where the fast candidate is better / tied / worse;
``speedup.png``          per metric, histogram of fast-over-slow improvement ratios, clipped to [0.1×, 10×];
``regions.png``          labelled (and dropped) examples per weight region.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hydra_ray.metrics.names import BY_NAME, METRIC_NAMES
from hydra_ray.prefs.dirichlet import REGIONS
from hydra_ray.prefs.summary import SPEEDUP_CLIP


def _plt():
    import matplotlib
    matplotlib.use("Agg")  # no display on workers or CI
    import matplotlib.pyplot as plt
    return plt


def _estimated(stats: dict[str, Any]) -> set[str]:
    """Metrics whose values are (partly) estimates on this dataset, as ``coverage`` counted them."""
    return {m for m in METRIC_NAMES if stats["coverage"][m].get("estimated")}


def _labels(stats: dict[str, Any]) -> list[str]:
    est = _estimated(stats)
    return [BY_NAME[m].label + (" *" if m in est else "") for m in METRIC_NAMES]


def _estimate_note(fig, stats: dict[str, Any]) -> None:
    if _estimated(stats):
        fig.text(0.99, 0.01, "* estimated (no hardware counter): see stats.json coverage", ha="right",
                 va="bottom", fontsize=7, color="dimgray")


def plot_coverage(stats: dict[str, Any], path: Path) -> None:
    plt = _plt()
    cov = [stats["coverage"][m]["fraction"] or 0.0 for m in METRIC_NAMES]
    sig = [stats["significance"][m]["significant_frac"] or 0.0 for m in METRIC_NAMES]
    x = np.arange(len(METRIC_NAMES))
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.bar(x - 0.2, cov, 0.4, label="passed candidates with a value")
    ax.bar(x + 0.2, sig, 0.4, label="pairs differing significantly")
    ax.set_xticks(x, _labels(stats))
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("fraction")
    ax.set_title(f"Metric coverage ({stats['coverage'][METRIC_NAMES[0]]['passed_candidates']} passed candidates, "
                 f"{stats['pairs']['eligible']} pairs)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    _estimate_note(fig, stats)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_fast_vs_slow(stats: dict[str, Any], path: Path) -> None:
    plt = _plt()
    fv = stats["fast_vs_slow"]
    parts = [("fast_better", "fast better", "tab:green"), ("tie", "tie (not significant)", "tab:gray"),
             ("missing", "missing value", "lightgray"), ("slow_better", "slow better", "tab:red")]
    y = np.arange(len(METRIC_NAMES))
    fig, ax = plt.subplots(figsize=(7, 3.4))
    left = np.zeros(len(METRIC_NAMES))
    for key, label, color in parts:
        frac = np.array([fv[m][key] / fv[m]["pairs"] if fv[m]["pairs"] else 0.0 for m in METRIC_NAMES])
        ax.barh(y, frac, left=left, color=color, label=label)
        left += frac
    ax.set_yticks(y, _labels(stats))
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("fraction of pairs")
    ax.set_title("Does the fast candidate also win on each metric?")
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.22))
    fig.tight_layout()
    _estimate_note(fig, stats)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_speedups(speedups: dict[str, np.ndarray], path: Path, stats: dict[str, Any]) -> None:
    plt = _plt()
    lo, hi = SPEEDUP_CLIP
    bins = np.logspace(np.log10(lo), np.log10(hi), 31)
    fig, axes = plt.subplots(1, len(METRIC_NAMES), figsize=(14, 3), sharey=False)
    for ax, m, label in zip(axes, METRIC_NAMES, _labels(stats)):
        v = speedups.get(m, np.array([]))
        if v.size:
            ax.hist(v, bins=bins, color="tab:blue")
            ax.axvline(float(np.median(v)), color="k", lw=1, ls=":", label=f"median {np.median(v):.2f}×")
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        ax.axvline(1.0, color="tab:red", lw=1)
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        ax.set_title(f"{label} (n={v.size})", fontsize=9)
        ax.set_xlabel("fast vs slow (>1: fast better)", fontsize=8)
    fig.suptitle(f"Improvement ratio per metric, clipped to [{lo}×, {hi}×] (a zero against a non-zero value "
                 "sits at the clip)", fontsize=10)
    fig.tight_layout()
    _estimate_note(fig, stats)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_regions(stats: dict[str, Any], path: Path) -> None:
    plt = _plt()
    lab = [stats["regions"]["labelled"][r] for r in REGIONS]
    drop = [stats["regions"]["dropped"][r] for r in REGIONS]
    x = np.arange(len(REGIONS))
    fig, ax = plt.subplots(figsize=(7, 3.4))
    ax.bar(x, lab, label="labelled")
    ax.bar(x, drop, bottom=lab, color="lightgray", label="dropped (tie / below ε)")
    ax.set_xticks(x, [BY_NAME[r].label if r in BY_NAME else r for r in REGIONS])
    ax.set_ylabel("examples")
    ax.set_title("Weight regions")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_plots(stats: dict[str, Any], speedups: dict[str, np.ndarray], out_dir: str | Path) -> list[Path]:
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    paths = [d / "metric_coverage.png", d / "fast_vs_slow.png", d / "speedup.png", d / "regions.png"]
    plot_coverage(stats, paths[0])
    plot_fast_vs_slow(stats, paths[1])
    plot_speedups(speedups, paths[2], stats)
    plot_regions(stats, paths[3])
    return paths
