"""The isolated α simulation (as in the paper): fixed per-region losses, no model, 100 epochs.

Each epoch draws ``n_per_epoch`` weight vectors from the controller's current concentration, assigns
each its region, gives it the region's configured loss plus Gaussian noise, reports the batch and
updates α once. Regions configured with an above-average loss should gain α, below-average ones lose it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from hydra_ray.prefs.dirichlet import REGIONS, regions_of, sample_weights
from hydra_ray.train.alpha import AlphaController, AlphaSettings

# The paper's illustration: latency and throughput hard, memory easy.
DEFAULT_LOSSES: dict[str, float] = {"latency": 0.80, "memory": 0.45, "cycles": 0.65, "throughput": 0.75,
                                    "energy": 0.55, "balanced": 0.60}


@dataclass(frozen=True)
class SimulationConfig:
    epochs: int = 100
    n_per_epoch: int = 256
    noise: float = 0.05
    region_threshold: float = 0.5
    seed: int = 0


def simulate(losses: Mapping[str, float] = DEFAULT_LOSSES, settings: AlphaSettings | None = None,
             sim: SimulationConfig = SimulationConfig()) -> AlphaController:
    missing = [r for r in REGIONS if r not in losses]
    if missing:
        raise ValueError(f"simulation losses lack regions {missing}; give one loss per region {list(REGIONS)}")
    settings = settings or AlphaSettings(lr=0.05, reports_per_update=1)
    ctl = AlphaController(settings)
    rng = np.random.default_rng(sim.seed)
    for epoch in range(sim.epochs):
        w = sample_weights(ctl.concentration(), sim.n_per_epoch, rng)
        regions = regions_of(w, sim.region_threshold)
        values = [losses[r] + sim.noise * rng.standard_normal() for r in regions]
        ctl.report(regions, values, step=epoch + 1)   # reports_per_update=1: one update per epoch
    return ctl


def plot_alpha_trajectory(trajectory: list[dict], path: str | Path, title: str = "α per region") -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4))
    xs = [t["update"] for t in trajectory]
    for r in REGIONS:
        ax.plot(xs, [t["alpha"][r] for t in trajectory], label=r)
    ax.set_xlabel("α update")
    ax.set_ylabel("α")
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
