"""Training plots from ``alpha.json`` and ``metrics.jsonl``: α trajectories, per-region losses, loss curve,
and the Hydra paper's training figures from any ``metrics.jsonl`` (e.g. one from a GPU run):

* Fig. 5 ``fig5_alpha.png``: α of each region against the training step (``alpha/<region>``);
* Fig. 6 ``fig6_preference.png``: per metric, after training, the preference rate (share of examples whose
  chosen program is better on the metric, ``pref_rate/<m>``; ties apart, ``tie_rate/<m>``) and the mean
  advantage Δ_k = ṽ_chosen,k − ṽ_rejected,k (``advantage/<m>``), averaged over the last quarter of the
  logged rows ("after training": the paper does not say over which steps its Fig. 6 is taken);
* Fig. 8 ``fig8_advantage.png``: the mean advantage of each metric against the step.

Rows written before ``pref_rate/*`` was logged give Fig. 6 without the preference-rate panel.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hydra_ray.metrics.names import METRIC_NAMES
from hydra_ray.prefs.dirichlet import REGIONS
from hydra_ray.train.figures import line_plot
from hydra_ray.train.simulate import plot_alpha_trajectory


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``hydra-ray train`` metrics.jsonl ([] when there is none); ValueError naming the file
    and line when it is not one."""
    p = Path(path)
    if not p.exists():
        return []
    rows = []
    for i, line in enumerate(p.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{p}: line {i} is not JSON ({e.msg}); expected a hydra-ray train metrics.jsonl, "
                             "one JSON object per line") from None
        if not isinstance(row, dict) or "step" not in row:
            raise ValueError(f"{p}: line {i} is not a training metrics row (a JSON object with 'step'); "
                             "expected a hydra-ray train metrics.jsonl")
        rows.append(row)
    return rows


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

    loss_series = {}
    for r in REGIONS:
        pts = [(s, row.get(f"region_loss/{r}")) for s, row in zip(steps, rows) if row.get(f"region_loss/{r}") is not None]
        loss_series[r] = ([p[0] for p in pts], [p[1] for p in pts])
    written.append(line_plot(loss_series, plots / "region_losses.png", xlabel="step", ylabel="mean DPO loss",
                             title="per-region DPO loss (between logged steps)", marker="o", markersize=3))

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
    written += write_paper_figures(rows, plots)
    return written


# ---- the paper's Fig. 5, 6 and 8 from metrics.jsonl rows ---------------------------------------------

def _series(rows: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    pts = [(r["step"], r[key]) for r in rows if r.get(key) is not None and r.get("step") is not None]
    return ([p[0] for p in pts], [float(p[1]) for p in pts]) if pts else ([], [])


def final_preference(rows: list[dict[str, Any]], fraction: float = 0.25) -> dict[str, dict[str, float | None]]:
    """Per metric, the mean over the last ``fraction`` of the rows (at least one) of the preference rate,
    tie rate and mean advantage; None where the rows do not carry it."""
    tail = rows[-max(1, int(round(len(rows) * fraction))):] if rows else []
    out: dict[str, dict[str, float | None]] = {}
    for m in METRIC_NAMES:
        entry: dict[str, float | None] = {}
        for name, key in (("pref_rate", f"pref_rate/{m}"), ("tie_rate", f"tie_rate/{m}"),
                          ("advantage", f"advantage/{m}")):
            vals = [float(r[key]) for r in tail if r.get(key) is not None]
            entry[name] = sum(vals) / len(vals) if vals else None
        out[m] = entry
    return out


def write_paper_figures(rows: list[dict[str, Any]], out_dir: str | Path) -> list[Path]:
    """Fig. 5, 6 and 8 of the paper from ``metrics.jsonl`` rows; a figure whose data is absent is skipped."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if any(_series(rows, f"alpha/{r}")[0] for r in REGIONS):
        written.append(line_plot({r: _series(rows, f"alpha/{r}") for r in REGIONS}, out / "fig5_alpha.png",
                                 xlabel="step", ylabel="α",
                                 title="Fig. 5 layout: Dirichlet α per region during training"))
    final = final_preference(rows)
    if any(v["advantage"] is not None for v in final.values()):
        has_rate = any(v["pref_rate"] is not None for v in final.values())
        fig, axes = plt.subplots(1, 2 if has_rate else 1, figsize=(10 if has_rate else 5.5, 4), squeeze=False)
        ms = list(METRIC_NAMES)
        if has_rate:
            ax = axes[0][0]
            pref = [100 * (final[m]["pref_rate"] or 0) for m in ms]
            tie = [100 * (final[m]["tie_rate"] or 0) for m in ms]
            ax.bar(ms, pref, label="chosen better")
            ax.bar(ms, tie, bottom=pref, color="lightgrey", label="tie (not significant)")
            ax.axhline(50, color="grey", linestyle=":", linewidth=1)
            ax.set_ylabel("% of training examples")
            ax.set_title("preference rate")
            ax.legend(fontsize=7)
        ax = axes[0][-1]
        ax.bar(ms, [final[m]["advantage"] or 0 for m in ms], color="tab:green")
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_ylabel("mean Δ_k (normalised, chosen − rejected)")
        ax.set_title("mean advantage")
        fig.suptitle("Fig. 6 layout: per-metric preference after training (last quarter of logged steps)", fontsize=9)
        fig.tight_layout()
        fig.savefig(out / "fig6_preference.png", dpi=100)
        plt.close(fig)
        written.append(out / "fig6_preference.png")
    if any(_series(rows, f"advantage/{m}")[0] for m in METRIC_NAMES):
        written.append(line_plot({m: _series(rows, f"advantage/{m}") for m in METRIC_NAMES},
                                 out / "fig8_advantage.png", xlabel="step",
                                 ylabel="mean Δ_k since the previous logged step", zero_line=True,
                                 title="Fig. 8 layout: per-metric advantage during training",
                                 marker=".", markersize=3))
    return written
