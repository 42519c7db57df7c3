"""Writing an evaluation run to disk.

OUTPUT/
  results.parquet   every row (task × size × configuration × candidate), samples included
  table.md          per-configuration summary, Table III layout (per program: original and optimised
                    per metric, with units) and Table II layout (per configuration: N, before, after, ratio)
  table.csv         Table III layout, machine-readable;  table2.csv: Table II layout (both say which
                    metrics are estimates: ``<metric> estimated`` columns, an ``estimated`` column)
  summary.json      aggregates, steerability, split identity, configuration
  pareto.png, sizes.png; pareto_minimal.png, pareto_detailed.png (the paper's Fig. 3 and 2) when the
                    configurations are prompt configurations of both styles
"""
from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from hydra_ray import __version__
from hydra_ray.evaluate import aggregate
from hydra_ray.evaluate.plots import plot_pareto, plot_pareto_by_detail, plot_sizes
from hydra_ray.metrics.names import BY_NAME, METRIC_NAMES


def pct(rate: Any) -> str:
    """A rate (0.846) as tables show it (84.6%); "–" when there is none."""
    return f"{100 * rate:.1f}%" if isinstance(rate, (int, float)) and np.isfinite(rate) else "–"


def fmt(x: Any, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return f"{float(x):.{digits}g}"


def measured_metrics(df: pd.DataFrame) -> list[str]:
    return [m for m in METRIC_NAMES if f"orig_{m}" in df and pd.to_numeric(df[f"orig_{m}"], errors="coerce").notna().any()]


def table3(df: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Per program and configuration (best candidate, largest size): original and optimised value
    per metric, the improvement ratio, its interval and significance; then per metric whether its
    values are estimates (``<metric> estimated``: cycles and energy without hardware counters)."""
    metrics = list(metrics or measured_metrics(df))
    best = aggregate.select_best(df)
    rows = []
    for _, r in best.iterrows():
        row = {"program": r["task_id"], "config": r["config"], "verdict": r["task_verdict"]}
        if r.get("size") is not None and not pd.isna(r.get("size")):
            row["size"] = int(r["size"])
        for m in metrics:
            unit = BY_NAME[m].unit
            row[f"{m} original ({unit})"] = r.get(f"orig_{m}")
            row[f"{m} optimised ({unit})"] = r.get(f"cand_{m}")
            row[f"{m} ratio"] = r.get(f"ratio_{m}")
            row[f"{m} ratio lo"] = r.get(f"ratio_{m}_lo")
            row[f"{m} ratio hi"] = r.get(f"ratio_{m}_hi")
            row[f"{m} significant"] = r.get(f"sig_{m}")
        for m in metrics:   # after the columns above, which keep their places for readers by position
            est = r.get(f"{m}_estimated")
            row[f"{m} estimated"] = None if est is None or pd.isna(est) else bool(est)
        rows.append(row)
    return pd.DataFrame(rows)


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _ratio_cell(r: Any, lo: Any, hi: Any, sig: Any) -> str:
    if r is None or pd.isna(r):
        return "–"
    mark = "*" if bool(sig) and not pd.isna(sig) else ""
    return f"{fmt(r, 3)}×{mark} [{fmt(lo, 3)}, {fmt(hi, 3)}]"


def _over_tasks(s: dict[str, Any]) -> str:
    """The gmean speed-up with its interval over tasks; one task has none (a bootstrap over one value
    would print [x, x] as if it were certain)."""
    if s["n_tasks"] == 1:
        return f"{fmt(s['gmean_speedup'], 3)} (one task: no interval)"
    return f"{fmt(s['gmean_speedup'], 3)} [{fmt(s['gmean_speedup_lo'], 3)}, {fmt(s['gmean_speedup_hi'], 3)}]"


def render_markdown(summary: dict[str, Any], t3: pd.DataFrame, t2: pd.DataFrame, metrics: Sequence[str]) -> str:
    out = [f"# Evaluation: suite `{summary['suite']}`, optimizer `{summary['optimizer']}`", ""]
    if summary.get("split"):
        out += [f"Held-out split: `{summary['split']['path']}` (sha256 `{summary['split']['sha256'][:16]}…`, "
                f"{summary['split']['n_problems']} problems)", ""]
    out += ["## Summary", "",
            "Speedup = original/candidate latency; failed candidates count as 1 (PIE). "
            "%Opt = correct, ≥10 % faster and significant.", ""]
    out.append(md_table(
        ["config", "tasks", "correct", "%Opt", "gmean speedup [95% CI]", "gmean speedup (correct only)"],
        [[s["config"], s["n_tasks"], pct(s["correctness_rate"]) if s["n_tasks"] else "–",
          fmt(s["pct_optimized"], 3), _over_tasks(s), fmt(s["gmean_speedup_correct"], 3)] for s in summary["configs"]]))
    out += ["", "## Per program (Table III layout)", "",
            "Medians of repeats at the largest input size; ratio > 1 = better, * = significant, "
            "[95% bootstrap interval].", ""]
    estimated = summary.get("estimated_metrics") or {}
    if estimated:
        out += ["**Estimated, not measured by a counter on this node:** "
                + "; ".join(f"{m} ({src})" for m, src in estimated.items()) + ".", ""]
    header = ["program", "config", "verdict"]
    for m in metrics:
        unit = BY_NAME[m].unit
        header += [f"{m} original ({unit})", f"{m} optimised ({unit})", f"{m} ratio"]
    rows = []
    for _, r in t3.iterrows():
        row = [r["program"], r["config"], r["verdict"]]
        for m in metrics:
            unit = BY_NAME[m].unit
            row += [fmt(r[f"{m} original ({unit})"]), fmt(r[f"{m} optimised ({unit})"]),
                    _ratio_cell(r[f"{m} ratio"], r[f"{m} ratio lo"], r[f"{m} ratio hi"], r[f"{m} significant"])]
        rows.append(row)
    out.append(md_table(header, rows))
    out += ["", "## Per configuration (Table II layout)", "",
            "Means over the N tasks that every configuration got right. before = a shared averaged baseline, as "
            "in the Hydra paper: each task's original averaged over its measurements beside every "
            "configuration's candidate, so it is the same in every row (`before_paired` in table2.csv: this "
            "configuration's own). ratio = the mean over tasks of each task's before/after (after/before for "
            "throughput) within its interleaved pair, our reading of the paper's numbers (it does not define "
            "its ratio); gmean = the geometric mean of the same per-task ratios. Both > 1 = better.", ""]
    cols = ("before", "after", "ratio", "gmean_ratio")
    names = {"ratio": "ratio", "gmean_ratio": "gmean"}
    header = ["config", "N"] + [f"{m} {names.get(c, c)}" + (f" ({BY_NAME[m].unit})" if c in ("before", "after") else "")
                                for m in metrics for c in cols]
    rows = []
    for config, g in t2.groupby("config", sort=False):
        by = g.set_index("metric")
        n = int(by["N"].max()) if len(by) else 0
        rows.append([config, n] + [fmt(by.loc[m, c]) if m in by.index and c in by else "–"
                                   for m in metrics for c in cols])
    out.append(md_table(header, rows))
    if summary.get("steerability"):
        out += ["", "## Steerability", "", "Spearman ρ between the weight on a metric and the log improvement on it.", ""]
        out.append(md_table(["metric", "ρ", "95% CI", "observations", "tasks"],
                             [[s["metric"], fmt(s["spearman"], 3), f"[{fmt(s['lo'], 3)}, {fmt(s['hi'], 3)}]",
                               s["n_obs"], s["n_tasks"]] for s in summary["steerability"]]))
    return "\n".join(out) + "\n"


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


# Every file write_report may write. Those of an earlier report go first: a figure this run does not
# draw (no sized task, one prompt style) must not stay beside this run's tables as if it were this run's.
REPORT_FILES = ("results.parquet", "summary.json", "table.csv", "table2.csv", "table.md", "pareto.png",
                "pareto_minimal.png", "pareto_detailed.png", "sizes.png")


def write_report(df: pd.DataFrame, out_dir: str | Path, *, suite: str, optimizer: str, stats_cfg: Any,
                 config: dict[str, Any] | None = None, split: dict[str, Any] | None = None) -> dict[str, Any]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in REPORT_FILES:
        (out / name).unlink(missing_ok=True)
    df.to_parquet(out / "results.parquet", index=False)
    metrics = measured_metrics(df)
    configs = aggregate.config_summary(df, stats_cfg)
    t2 = aggregate.table2(df, metrics)
    t3 = table3(df, metrics)
    summary = _jsonable({
        "suite": suite, "optimizer": optimizer, "split": split,
        "n_tasks": int(df["task_id"].nunique()) if len(df) else 0, "metrics": metrics,
        "configs": configs, "table2": t2.to_dict(orient="records"),
        "steerability": aggregate.steer(df, stats_cfg),
        "hydra_ray_version": __version__, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": config,
        "estimated_metrics": {m: ", ".join(sorted(set(df[f"{m}_source"].dropna()))) for m in metrics
                              if f"{m}_estimated" in df and df[f"{m}_estimated"].fillna(False).astype(bool).any()},
    })
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    t3.to_csv(out / "table.csv", index=False)
    t2.to_csv(out / "table2.csv", index=False)
    (out / "table.md").write_text(render_markdown(summary, t3, t2, metrics))
    plot_pareto(summary["configs"], out / "pareto.png")
    plot_pareto_by_detail(summary["configs"], out)
    plot_sizes(df, out / "sizes.png")
    return summary
