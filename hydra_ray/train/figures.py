"""One line per series against a shared x axis: the shape of the training figures (α per region,
per-region losses, per-metric advantage) and of the α simulation's Fig. 10 and 11."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence


def line_plot(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], path: str | Path, *, xlabel: str,
              ylabel: str, title: str, zero_line: bool = False, **style) -> Path:
    """Write a PNG with one labelled line per non-empty series; ``style`` goes to ``Axes.plot``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, (xs, ys) in series.items():
        if len(xs):
            ax.plot(xs, ys, label=label, **style)
    if zero_line:
        ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
