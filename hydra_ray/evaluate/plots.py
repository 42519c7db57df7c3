"""Figures of an evaluation run: ``pareto.png`` (runtime vs memory per configuration, frontier drawn)
and ``sizes.png`` (metric vs input size per sized task, original against each configuration)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from hydra_ray.evaluate.aggregate import select_best
from hydra_ray.metrics.names import BY_NAME


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on servers
    import matplotlib.pyplot as plt

    return plt


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both coordinates (both minimised), by x."""
    idx = [i for i, (x, y) in enumerate(points) if np.isfinite(x) and np.isfinite(y)]
    front = [i for i in idx
             if not any(points[j][0] <= points[i][0] and points[j][1] <= points[i][1]
                        and points[j] != points[i] for j in idx)]
    return sorted(front, key=lambda i: points[i])


def plot_pareto(summary: Sequence[dict[str, Any]], path: Path, title: str | None = None) -> Path:
    """Each configuration at (relative runtime, relative peak memory) = 1 / geometric-mean improvement
    over its correct tasks; the original program sits at (1, 1)."""
    plt = _pyplot()
    labels = ["original"] + [s["config"] for s in summary]
    pts = [(1.0, 1.0)] + [(1 / s["gmean_ratio_latency"] if s.get("gmean_ratio_latency") else math.nan,
                           1 / s["gmean_ratio_memory"] if s.get("gmean_ratio_memory") else math.nan)
                          for s in summary]
    fig, ax = plt.subplots(figsize=(6, 5))
    for i, ((x, y), label) in enumerate(zip(pts, labels)):
        if np.isfinite(x) and np.isfinite(y):
            ax.scatter([x], [y], marker="s" if i == 0 else "o", color="black" if i == 0 else f"C{i % 10}")
            ax.annotate(label, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
    front = pareto_front(pts)
    if len(front) > 1:
        fx, fy = zip(*(pts[i] for i in front))
        ax.step(fx, fy, where="post", linestyle="--", color="grey", label="Pareto frontier")
        ax.legend(fontsize=8)
    ax.set_xlabel("relative runtime (candidate / original, geometric mean)")
    ax.set_ylabel("relative peak memory (candidate / original, geometric mean)")
    ax.set_title(title or "Runtime vs memory per configuration (lower-left is better)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_pareto_by_detail(summary: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    """One Pareto plot per prompt detail level (``<objective>/minimal`` and ``<objective>/detailed``
    configurations; the Hydra paper's Fig. 3 and Fig. 2): ``pareto_minimal.png``, ``pareto_detailed.png``.
    Configurations of any other name (identity, weight vectors) appear in neither."""
    from hydra_ray.evaluate.prompts import STYLES

    written = []
    for style in STYLES:
        group = [s for s in summary if str(s["config"]).endswith(f"/{style}")]
        if group:
            fig = {"minimal": "Fig. 3", "detailed": "Fig. 2"}.get(style, "")
            written.append(plot_pareto(group, Path(out_dir) / f"pareto_{style}.png",
                                       title=f"Runtime vs memory, {style} prompts ({fig} layout)"))
    return written


def size_series(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Long table task_id, config, size, original, candidate — for the best candidate of each
    (task, configuration), at every size it was measured."""
    sized = df[df["size"].notna()]
    if sized.empty:
        return pd.DataFrame(columns=["task_id", "config", "size", "original", "candidate"])
    best = select_best(sized)[["task_id", "config", "candidate"]]
    rows = sized.merge(best, on=["task_id", "config", "candidate"])
    out = rows[["task_id", "config", "size", f"orig_{metric}", f"cand_{metric}"]]
    out = out.rename(columns={f"orig_{metric}": "original", f"cand_{metric}": "candidate"})
    return out.sort_values(["task_id", "config", "size"]).reset_index(drop=True)


def plot_sizes(df: pd.DataFrame, path: Path, metrics: Sequence[str] = ("latency", "memory")) -> Path | None:
    series = {m: size_series(df, m) for m in metrics}
    tasks = sorted(set().union(*(set(s["task_id"]) for s in series.values())))
    if not tasks:
        return None
    plt = _pyplot()
    from matplotlib.ticker import NullFormatter

    per_row = 3
    nrows = math.ceil(len(tasks) / per_row)
    ncols = per_row * len(metrics)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.6 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.set_visible(False)
    for t, task in enumerate(tasks):
        for k, m in enumerate(metrics):
            ax = axes[t // per_row][(t % per_row) * len(metrics) + k]
            ax.set_visible(True)
            s = series[m][series[m]["task_id"] == task]
            orig = s.groupby("size")["original"].median()
            ax.plot(orig.index, orig.values, "k-o", ms=3, label="original")
            for i, (config, g) in enumerate(s.groupby("config")):
                ax.plot(g["size"], g["candidate"], "-o", ms=3, color=f"C{i % 10}", label=config)
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())   # minor log labels overlap on small panels
            ax.set_title(f"{task.split('/')[-1]}: {m}", fontsize=8)
            ax.set_ylabel(f"{m} ({BY_NAME[m].unit})", fontsize=7)
            ax.tick_params(labelsize=6)
            if t == 0 and k == 0:
                ax.legend(fontsize=6)
    fig.suptitle("Metric vs input size (median of repeats; best candidate per configuration)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
