"""Training plots from ``alpha.json`` and ``metrics.jsonl``: α trajectories, per-region losses, loss curve."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hydra_ray.prefs.dirichlet import REGIONS
from hydra_ray.train.simulate import plot_alpha_trajectory


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


def write_training_plots(output_dir: str | Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(output_dir)
    plots = out / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    alpha = json.loads((out / "alpha.json").read_text())
    written.append(plot_alpha_trajectory(alpha["trajectory"], plots / "alpha_trajectory.png",
                                         title="α per region (per update)"))
    rows = read_metrics(out / "metrics.jsonl")
    if not rows:
        return written
    steps = [r["step"] for r in rows]

    fig, ax = plt.subplots(figsize=(7, 4))
    for r in REGIONS:
        pts = [(s, row.get(f"region_loss/{r}")) for s, row in zip(steps, rows) if row.get(f"region_loss/{r}") is not None]
        if pts:
            ax.plot(*zip(*pts), marker="o", markersize=3, label=r)
    ax.set_xlabel("step")
    ax.set_ylabel("mean DPO loss")
    ax.set_title("per-region DPO loss (between logged steps)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(plots / "region_losses.png", dpi=100)
    plt.close(fig)
    written.append(plots / "region_losses.png")

    fig, ax1 = plt.subplots(figsize=(7, 4))
    ax1.plot(steps, [r.get("loss") for r in rows], label="DPO loss", color="tab:blue")
    ax1.set_xlabel("step")
    ax1.set_ylabel("loss")
    ax2 = ax1.twinx()
    ax2.plot(steps, [r.get("rewards/accuracies") for r in rows], label="reward accuracy", color="tab:orange")
    ax2.set_ylabel("reward accuracy")
    ax1.set_title("training loss")
    fig.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(plots / "loss.png", dpi=100)
    plt.close(fig)
    written.append(plots / "loss.png")
    return written
