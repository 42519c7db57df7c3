"""The isolated α simulation of the Hydra paper's Appendix E (Fig. 10 and 11): no model, 100 epochs.

The paper (Appendix E): "In the simulation, we configured the DPO loss to be higher for the memory,
CPU, and energy metrics and made it lower for runtime and throughput." "At the start of training, all
parameters are initialized roughly equally", "By epoch 50, memory and energy reach the hard-coded upper
bound value of 10", and (Fig. 11) "the average losses for memory and energy begin to stabilize and
decrease for CPU cycles. The balanced region maintains a moderate loss throughout, while runtime and
throughput losses remain low."

Each epoch draws ``n_per_epoch`` weight vectors from the controller's current concentration (the same
:class:`AlphaController` as training), assigns each its region, gives each example its region's loss
plus Gaussian noise, reports the batch and updates α once (the paper's ``loss`` rule).

**Loss model** (ours; the paper describes its losses only in words). A region's loss falls as the
region is sampled more — it is "trained on"::

    L_r(n_r) = floor_r + (start_r − floor_r) · exp(−n_r / scale_r)

where ``n_r`` is the number of examples of region r drawn in all *earlier* epochs. ``start`` is the loss
before any exposure, ``floor`` what remains after unlimited exposure, ``scale`` the exposure (examples)
that closes 1 − 1/e ≈ 63 % of the gap. ``start == floor`` is a fixed loss (the old behaviour).

The paper gives neither η nor α_min nor the region threshold of its simulation, nor how many samples
an epoch holds, nor how α of the ``balanced`` region enters the draws; we use η = 0.3, α_min = 0.1,
threshold 0.5, 256 draws an epoch with Gaussian noise (σ = 0.05) on each loss, and our controller's
concentration c_k = α_k · α_balanced (see :mod:`hydra_ray.train.alpha`). α_max = 10 and the 100 epochs
are the paper's; so is one α update per epoch (Sec. IV-E, "Over S samples in an epoch").
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from hydra_ray.prefs.dirichlet import REGIONS, regions_of, sample_weights
from hydra_ray.train.alpha import AlphaController, AlphaSettings


@dataclass(frozen=True)
class RegionLoss:
    """``L(n) = floor + (start − floor) · exp(−n / scale)`` after n examples of exposure."""
    start: float
    floor: float | None = None      # None: the same as start (a fixed loss)
    scale: float = 3000.0

    def __post_init__(self) -> None:
        floor = self.start if self.floor is None else self.floor
        object.__setattr__(self, "floor", float(floor))
        if not (math.isfinite(self.start) and self.start >= 0 and 0 <= floor <= self.start):
            raise ValueError(f"RegionLoss: expected 0 <= floor <= start, got start={self.start!r}, floor={floor!r}")
        if not (self.scale > 0 and math.isfinite(self.scale)):
            raise ValueError(f"RegionLoss.scale: expected a finite number > 0, got {self.scale!r}")

    def at(self, exposure: float) -> float:
        return float(self.floor + (self.start - self.floor) * math.exp(-exposure / self.scale))


# Appendix E: memory, CPU cycles and energy hard (high loss), runtime (latency) and throughput easy,
# balanced moderate. Memory and energy level off high ("stabilize"); CPU cycles falls further.
PAPER_LOSSES: dict[str, RegionLoss] = {
    "latency": RegionLoss(0.30, 0.25),
    "memory": RegionLoss(0.90, 0.78),
    "cycles": RegionLoss(0.85, 0.60, scale=1500.0),
    "throughput": RegionLoss(0.30, 0.25),
    "energy": RegionLoss(0.90, 0.78),
    "balanced": RegionLoss(0.55, 0.50),
}
DEFAULT_LOSSES = PAPER_LOSSES
PAPER_SETTINGS = AlphaSettings(lr=0.3, alpha_min=0.1, alpha_max=10.0, reports_per_update=1)
HIGH_REGIONS = ("memory", "cycles", "energy")
LOW_REGIONS = ("latency", "throughput")


@dataclass(frozen=True)
class SimulationConfig:
    epochs: int = 100
    n_per_epoch: int = 256
    noise: float = 0.05
    region_threshold: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        for name in ("epochs", "n_per_epoch"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                problems.append(f"{name}: expected an integer >= 1, got {v!r}")
        if not (self.noise >= 0 and math.isfinite(self.noise)):
            problems.append(f"noise: expected a finite number >= 0, got {self.noise!r}")
        if not 0 < self.region_threshold < 1:
            problems.append(f"region_threshold: expected a number in (0, 1), got {self.region_threshold!r}")
        if problems:
            raise ValueError("SimulationConfig: " + "; ".join(problems))


@dataclass
class SimulationResult:
    controller: AlphaController
    losses: dict[str, RegionLoss]
    epochs: list[dict[str, Any]] = field(default_factory=list)   # per epoch: alpha, mean_loss, count, model_loss

    def summary(self) -> dict[str, Any]:
        return {"losses": {r: vars(v) for r, v in self.losses.items()}, **self.controller.summary(),
                "epochs": self.epochs}


def as_region_losses(losses: Mapping[str, float | RegionLoss]) -> dict[str, RegionLoss]:
    missing = [r for r in REGIONS if r not in losses]
    if missing:
        raise ValueError(f"simulation losses lack regions {missing}; give one loss per region {list(REGIONS)}")
    return {r: v if isinstance(v, RegionLoss) else RegionLoss(float(v)) for r, v in losses.items() if r in REGIONS}


def simulate(losses: Mapping[str, float | RegionLoss] = PAPER_LOSSES, settings: AlphaSettings | None = None,
             sim: SimulationConfig = SimulationConfig()) -> SimulationResult:
    """Run the simulation; a plain number as a region's loss is a fixed loss."""
    model = as_region_losses(losses)
    ctl = AlphaController(settings or PAPER_SETTINGS)
    rng = np.random.default_rng(sim.seed)
    exposure = {r: 0 for r in REGIONS}
    result = SimulationResult(ctl, model)
    for epoch in range(1, sim.epochs + 1):
        current = {r: model[r].at(exposure[r]) for r in REGIONS}
        w = sample_weights(ctl.concentration(), sim.n_per_epoch, rng)
        regions = regions_of(w, sim.region_threshold)
        values = [max(0.0, current[r] + sim.noise * rng.standard_normal()) for r in regions]
        ctl.report(regions, values, step=epoch)   # reports_per_update=1: one update per epoch
        rec = ctl.updates[-1]
        for r in regions:
            exposure[r] += 1
        result.epochs.append({"epoch": epoch, "alpha": dict(rec.alpha), "mean_loss": dict(rec.mean_loss),
                              "count": dict(rec.count), "model_loss": current})
    return result


# ---- Appendix E's qualitative statements, checked ---------------------------------------------------

# Fewer epochs: the first and last epochs' windows are too short (or the same epochs) to show a trend,
# and a statement about one would pass or fail by construction.
TREND_MIN_EPOCHS = 10


@dataclass(frozen=True)
class Check:
    statement: str      # quoted from the paper
    ok: bool | None     # None: this run cannot judge it (too few epochs)
    observed: str       # what this run shows


def check_mark(ok: bool | None) -> str:
    return "–" if ok is None else "✓" if ok else "✗"


def _mean_loss_window(epochs: list[dict], region: str, lo: int, hi: int) -> float:
    vals = [e["mean_loss"][region] for e in epochs[lo:hi] if e["mean_loss"][region] is not None]
    return float(np.mean(vals)) if vals else float("nan")


def _trend(statement: str, ok: bool, observed: str, n_epochs: int) -> Check:
    """A statement about how something changes over the run: judged only with enough epochs."""
    if n_epochs < TREND_MIN_EPOCHS:
        return Check(statement, None, f"too few epochs to judge ({n_epochs}; needs ≥ {TREND_MIN_EPOCHS}): {observed}")
    return Check(statement, ok, observed)


def _bound_check(ep: list[dict], alpha_max: float) -> Check:
    statement = (f"By epoch 50, memory and energy reach the hard-coded upper bound value of 10 "
                 f"(ours: α_max = {alpha_max:g})")
    reach = {}
    for r in ("memory", "energy"):
        hit = [e["epoch"] for e in ep if e["alpha"][r] >= 0.999 * alpha_max]
        reach[r] = hit[0] if hit else None
    observed = ", ".join(f"{r} at epoch {v}" if v else f"{r} never" for r, v in reach.items())
    ok = alpha_max == 10 and all(v is not None and v <= 50 for v in reach.values())
    if not ok and alpha_max == 10 and len(ep) < 50 and all(v is None or v <= 50 for v in reach.values()):
        return Check(statement, None, f"too few epochs to judge ({len(ep)}; the run ends before epoch 50): {observed}")
    return Check(statement, ok, observed)


def appendix_e_checks(result: SimulationResult) -> list[Check]:
    """Each qualitative statement of Appendix E about Fig. 10 and 11, checked on a run.

    "Rise" means the final α is above the initial one; "decrease or remain steady" means it ends no more
    than 5 % above it; "reach the bound by epoch 50" means α ≥ 0.999·α_max at some epoch ≤ 50. Early and
    late losses are means of the observed region losses over the first and last 10 epochs. A statement
    about change over the run is not judged (ok None) with fewer than ``TREND_MIN_EPOCHS`` epochs.
    """
    ctl, ep = result.controller, result.epochs
    s = ctl.settings
    a0 = {r: float(s.initial) for r in REGIONS}
    a1 = ctl.get_alpha()
    n = len(ep)
    checks = []
    checks.append(Check("all parameters are initialized roughly equally",
                        max(a0.values()) - min(a0.values()) < 1e-9, f"α₀ = {s.initial:g} for every region"))
    rising = {r: a1[r] > a0[r] for r in HIGH_REGIONS}
    checks.append(_trend("the α values associated with memory, CPU, and energy steadily increase",
                         all(rising.values()), ", ".join(f"{r} {a0[r]:g}→{a1[r]:.3g}" for r in HIGH_REGIONS), n))
    steady = {r: a1[r] <= 1.05 * a0[r] for r in LOW_REGIONS}
    checks.append(_trend("those corresponding to runtime and throughput decrease or remain steady",
                         all(steady.values()), ", ".join(f"{r} {a0[r]:g}→{a1[r]:.3g}" for r in LOW_REGIONS), n))
    checks.append(_bound_check(ep, s.alpha_max))
    w = max(1, min(10, n // 4))
    early = {r: _mean_loss_window(ep, r, 0, w) for r in REGIONS}
    late = {r: _mean_loss_window(ep, r, n - w, n) for r in REGIONS}
    g_early = float(np.nanmean(list(early.values())))
    checks.append(Check("Initially, the losses for memory, CPU, and energy regions are high",
                        all(early[r] > g_early for r in HIGH_REGIONS),
                        ", ".join(f"{r} {early[r]:.3f}" for r in HIGH_REGIONS) + f" (mean of regions {g_early:.3f})"))
    checks.append(Check("Runtime and throughput start with lower losses",
                        all(early[r] < g_early for r in LOW_REGIONS),
                        ", ".join(f"{r} {early[r]:.3f}" for r in LOW_REGIONS)))
    checks.append(_trend("the average losses for memory and energy begin to stabilize",
                         all(abs(late[r] - early[r]) < 0.25 * early[r] and late[r] > g_early for r in ("memory", "energy")),
                         ", ".join(f"{r} {early[r]:.3f}→{late[r]:.3f}" for r in ("memory", "energy")), n))
    checks.append(_trend("and decrease for CPU cycles", late["cycles"] < early["cycles"] - 0.05,
                         f"cycles {early['cycles']:.3f}→{late['cycles']:.3f}", n))
    lows = [v for r in LOW_REGIONS for v in (early[r], late[r])]
    highs = [v for r in HIGH_REGIONS for v in (early[r], late[r])]
    checks.append(_trend("The balanced region maintains a moderate loss throughout",
                         all(max(lows) < v < min(highs) for v in (early["balanced"], late["balanced"])),
                         f"balanced {early['balanced']:.3f}→{late['balanced']:.3f} (low regions ≤ {max(lows):.3f}, "
                         f"high ≥ {min(highs):.3f})", n))
    unsampled = not all(math.isfinite(v) for r in LOW_REGIONS for v in (early[r], late[r]))
    checks.append(_trend("runtime and throughput losses remain low",
                         all(late[r] < float(np.nanmean(list(late.values()))) for r in LOW_REGIONS if math.isfinite(late[r]))
                         and all(early[r] < g_early for r in LOW_REGIONS),
                         ", ".join(f"{r} {early[r]:.3f}→{late[r]:.3f}" for r in LOW_REGIONS)
                         + (" (nan: not sampled in the first or last epochs)" if unsampled else ""), n))
    return checks


# ---- Fig. 10 and Fig. 11 ---------------------------------------------------------------------------

def plot_alpha_trajectory(trajectory: list[dict], path: str | Path, title: str = "α per region",
                          xlabel: str = "α update") -> Path:
    from hydra_ray.train.figures import line_plot

    xs = [t["update"] for t in trajectory]
    return line_plot({r: (xs, [t["alpha"][r] for t in trajectory]) for r in REGIONS}, path,
                     xlabel=xlabel, ylabel="α", title=title)


def plot_region_losses(epochs: list[dict], path: str | Path,
                       title: str = "average loss per preference region (simulated)") -> Path:
    """Fig. 11: the observed mean loss of each region per epoch (gaps: region not drawn that epoch)."""
    from hydra_ray.train.figures import line_plot

    xs = [e["epoch"] for e in epochs]
    series = {r: (xs, [e["mean_loss"][r] if e["mean_loss"][r] is not None else float("nan") for e in epochs])
              for r in REGIONS}
    return line_plot(series, path, xlabel="epoch", ylabel="mean DPO loss (simulated)", title=title,
                     marker=".", markersize=3, linewidth=1)


def write_simulation(result: SimulationResult, out: str | Path, title_suffix: str = "") -> dict:
    """Fig. 10 and 11 plus the JSON into ``out``; returns the JSON written."""
    import json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    s = result.controller.settings
    plot_alpha_trajectory(result.controller.trajectory(), out / "alpha_simulation.png", xlabel="epoch",
                          title=f"Fig. 10: simulated α ({len(result.epochs)} epochs, η={s.lr:g}, "
                                f"clip [{s.alpha_min:g}, {s.alpha_max:g}]){title_suffix}")
    plot_region_losses(result.epochs, out / "region_losses.png",
                       title=f"Fig. 11: average loss per preference region (simulated){title_suffix}")
    checks = appendix_e_checks(result)
    data = {**result.summary(), "checks": [vars(c) for c in checks]}
    (out / "alpha_simulation.json").write_text(json.dumps(data, indent=2) + "\n")
    return data
