"""Suite-level aggregates over the results table (one row per task × size × configuration × candidate).

Steps, in order:
1. ``final_rows``: keep the largest input size of each task (all rows of unsized tasks); a candidate
   is correct only if it passed at *every* size.
2. ``select_best``: per (task, configuration), the best candidate — correct first, then the highest
   weighted log improvement Σ_k w_k·log(ratio_k) under the weights it was asked to optimise (PIE's
   best@k). Tasks whose original failed its own tests are left out and counted.
3. ``config_summary`` (correctness, %Opt, geometric-mean speedup), ``table2`` (per-metric means over
   the tasks every configuration got right and the mean of per-task ratios, as the Hydra paper's
   Table II, with the geometric mean beside it) and ``steer``.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from hydra_ray.evaluate import stats as st
from hydra_ray.metrics.names import BY_NAME, METRIC_NAMES


def _task_verdict(g: pd.DataFrame) -> str:
    """'passed', or the first failing verdict with the size it happened at (e.g. 'wrong_answer@10')."""
    bad = g[g["verdict"] != "passed"].sort_values("size", na_position="last")
    if bad.empty:
        return "passed"
    size = bad["size"].iloc[0]
    return str(bad["verdict"].iloc[0]) + ("" if pd.isna(size) or len(g) == 1 else f"@{int(size)}")


def final_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Largest-size rows; ``correct`` and ``task_verdict`` cover every size of the candidate."""
    keys = ["task_id", "config", "candidate"]
    grouped = df.groupby(keys, dropna=False)
    all_ok = grouped["correct"].all().rename("_all_ok")
    verdicts = grouped[["verdict", "size"]].apply(_task_verdict).rename("task_verdict")
    out = df[df["is_final"].astype(bool)].join(all_ok, on=keys).join(verdicts, on=keys)
    out = out.assign(correct=out["correct"].astype(bool) & out["_all_ok"].astype(bool)).drop(columns="_all_ok")
    return out.reset_index(drop=True)


def _score(row: pd.Series) -> float:
    w = row.get("weights")
    weights = list(w) if w is not None and not (isinstance(w, float) and np.isnan(w)) else [1.0, 0, 0, 0, 0]
    total = 0.0
    for wk, m in zip(weights, METRIC_NAMES):
        r = row.get(f"ratio_{m}")
        if wk and r is not None and np.isfinite(r) and r > 0:
            total += wk * float(np.log(r))
    return total


def select_best(df: pd.DataFrame) -> pd.DataFrame:
    rows = final_rows(df)
    rows = rows[rows["orig_verdict"] == "passed"]
    if rows.empty:
        return rows
    rows = rows.assign(_score=rows.apply(_score, axis=1))
    rows = rows.sort_values(["task_id", "config", "correct", "_score", "candidate"],
                            ascending=[True, True, False, False, True], kind="mergesort")
    return rows.groupby(["task_id", "config"], sort=False).head(1).drop(columns="_score").reset_index(drop=True)


def _num(s: pd.Series) -> np.ndarray:
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)


def config_summary(df: pd.DataFrame, cfg: Any) -> list[dict[str, Any]]:
    """One dict per configuration; ``cfg`` is a StatsConfig."""
    best = select_best(df)
    final = final_rows(df)
    out = []
    for config in sorted(final["config"].unique()):
        b = best[best["config"] == config]
        skipped = final[(final["config"] == config) & (final["orig_verdict"] != "passed")]["task_id"].nunique()
        ok = b["correct"].to_numpy(dtype=bool)
        speed = _num(b["ratio_latency"]) if "ratio_latency" in b else np.full(len(b), np.nan)
        sig = b["sig_latency"].fillna(False).to_numpy(dtype=bool) if "sig_latency" in b else np.zeros(len(b), bool)
        g, glo, ghi = st.geomean_ci(st.speedups_with_fallback(speed, ok), n_boot=cfg.n_boot, level=cfg.level,
                                    seed=cfg.seed)
        gc, gclo, gchi = st.geomean_ci(speed[ok], n_boot=cfg.n_boot, level=cfg.level, seed=cfg.seed)
        entry = {
            "config": config, "n_tasks": int(len(b)), "n_correct": int(ok.sum()),
            "n_original_failed": int(skipped),
            "correctness_rate": st.correctness_rate(ok),
            "pct_optimized": st.percent_optimized(speed, sig, ok, cfg.opt_threshold),
            "gmean_speedup": g, "gmean_speedup_lo": glo, "gmean_speedup_hi": ghi,
            "gmean_speedup_correct": gc, "gmean_speedup_correct_lo": gclo, "gmean_speedup_correct_hi": gchi,
        }
        for m in METRIC_NAMES:
            r = _num(b[f"ratio_{m}"])[ok] if f"ratio_{m}" in b else np.zeros(0)
            s = b[f"sig_{m}"].fillna(False).to_numpy(dtype=bool)[ok] if f"sig_{m}" in b else np.zeros(0, bool)
            finite = np.isfinite(r)
            entry[f"gmean_ratio_{m}"] = st.geomean(r[finite])
            entry[f"pct_improved_{m}"] = float(100 * (s[finite] & (r[finite] > 1)).mean()) if finite.any() else float("nan")
        out.append(entry)
    return out


def common_correct_tasks(best: pd.DataFrame, configs: Sequence[str]) -> list[str]:
    """Tasks that every one of ``configs`` got right."""
    ok = best[best["correct"]].groupby("task_id")["config"].apply(set)
    need = set(configs)
    return sorted(t for t, cs in ok.items() if need <= cs)


# ``estimated``: whether the metric's values in this configuration's rows are estimates (cycles and
# energy without hardware counters), as summary.json and table.md say; last, so the columns before it
# keep their places for readers by position.
TABLE2_COLUMNS = ["config", "metric", "unit", "N", "before", "after", "ratio", "ratio_of_means", "gmean_ratio",
                  "n_ratio", "before_paired", "estimated"]


def any_estimated(rows: pd.DataFrame, metric: str) -> bool | None:
    """Whether any of ``rows`` holds an estimate of ``metric``; None when the rows do not say (no column)."""
    col = f"{metric}_estimated"
    return bool(rows[col].fillna(False).astype(bool).any()) if col in rows else None


def _shared_before(rows: pd.DataFrame, metric: str) -> pd.Series:
    """Each task's original, averaged over every configuration's measurement of it (the paper's
    "shared averaged baseline"): one figure per task, the same in every configuration's row."""
    values = _num(rows[f"orig_{metric}"])
    finite = pd.Series(values, index=rows.index)[np.isfinite(values)]
    return finite.groupby(rows.loc[finite.index, "task_id"]).mean()


def table2(df: pd.DataFrame, metrics: Sequence[str] = METRIC_NAMES) -> pd.DataFrame:
    """Per configuration and metric over the N tasks every configuration got right (the Hydra paper's
    Table II, "computed on common successful tasks"): mean before, mean after and three ratios, each
    oriented so > 1 is better (before/after; after/before for throughput).

    * ``before``: the paper's caption says "before values use a shared averaged baseline". With the real
      profiler the original is measured beside each candidate (interleaved, so drift cancels), so a task
      has one original median per configuration; its shared baseline is their mean, and ``before`` is the
      mean of that over the N tasks, the same in every configuration's row. ``before_paired`` is the
      mean of the originals as measured beside this configuration's candidates.
    * ``ratio``: the mean over tasks of each task's ratio. The paper does not define its ratio; this is our
      reading of its numbers (its Table II reports runtime before 203.338 ms, after 147.616 ms as 1.412,
      not 203.338 / 147.616 = 1.377, so it is not the ratio of the averages). Each task's ratio is taken
      within its interleaved pair (original and candidate timed side by side), not against the shared
      baseline: a departure (README, Differences from the paper), since a ratio across two separately
      timed runs carries the machine's drift between them;
    * ``gmean_ratio``: the geometric mean of the same per-task ratios (symmetric in speed-ups and
      slow-downs, so one large ratio does not dominate; the fairer summary);
    * ``ratio_of_means``: ``before`` / ``after`` (shared baseline over the mean candidate).

    A task whose per-task ratio is not finite (an "after" of 0) is left out of ``ratio`` and
    ``gmean_ratio``; ``n_ratio`` counts the tasks that entered them.

    N differs from the paper's (README, Differences from the paper): the paper's N changes with the prompt
    configuration and is shared by its two models (tasks both models solved under that configuration);
    one run has one model, so here N is the tasks every configuration of the run got right.
    """
    best = select_best(df)
    configs = sorted(best["config"].unique()) if not best.empty else []
    common = common_correct_tasks(best, configs)
    in_common = best[best["task_id"].isin(common)]
    rows = []
    for m in metrics:
        shared = _shared_before(in_common, m)
        for config in configs:
            b = in_common[in_common["config"] == config]
            paired, after = _num(b[f"orig_{m}"]), _num(b[f"cand_{m}"])
            keep = np.isfinite(paired) & np.isfinite(after)
            before = b["task_id"].map(shared).to_numpy(dtype=float)
            mb = float(before[keep].mean()) if keep.any() else float("nan")
            ma = float(after[keep].mean()) if keep.any() else float("nan")
            mp = float(paired[keep].mean()) if keep.any() else float("nan")
            spec = BY_NAME[m]
            ratio_of_means = (ma / mb if spec.higher_is_better else mb / ma) if keep.any() and ma and mb else float("nan")
            with np.errstate(divide="ignore", invalid="ignore"):
                per_task = after[keep] / paired[keep] if spec.higher_is_better else paired[keep] / after[keep]
            per_task = per_task[np.isfinite(per_task) & (per_task > 0)]
            rows.append({"config": config, "metric": m, "unit": spec.unit, "N": int(keep.sum()),
                         "before": mb, "after": ma,
                         "ratio": float(per_task.mean()) if per_task.size else float("nan"),
                         "ratio_of_means": ratio_of_means, "gmean_ratio": st.geomean(per_task),
                         "n_ratio": int(per_task.size), "before_paired": mp,
                         "estimated": any_estimated(best[best["config"] == config], m)})
    order = {c: i for i, c in enumerate(configs)}
    rows.sort(key=lambda r: order[r["config"]])   # per configuration, metrics in the order asked
    return pd.DataFrame(rows, columns=TABLE2_COLUMNS)


def steer(df: pd.DataFrame, cfg: Any) -> list[dict[str, Any]]:
    """Steerability per metric, when the configurations carry at least two distinct weight vectors."""
    best = select_best(df)
    best = best[best["correct"] & best["weights"].notna()]
    if best.empty or best["weights"].map(tuple).nunique() < 2:
        return []
    w = np.array(best["weights"].map(list).tolist(), dtype=float)
    out = []
    for k, m in enumerate(METRIC_NAMES):
        r = _num(best[f"ratio_{m}"])
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.log(r)
        s = st.steerability(m, w[:, k], d, best["task_id"].tolist(), n_boot=cfg.n_boot, level=cfg.level,
                            seed=cfg.seed)
        if s.n_obs:
            out.append({"metric": m, "spearman": s.rho, "lo": s.lo, "hi": s.hi, "n_obs": s.n_obs,
                        "n_tasks": s.n_groups})
    return out
