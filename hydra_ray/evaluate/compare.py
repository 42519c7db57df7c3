"""``hydra-ray evaluate compare A B``: two evaluation runs side by side.

Per configuration present in both: correctness, %Opt and geometric-mean speedup of each run; and,
over the tasks both runs got right, the paired geometric mean of speedup_B / speedup_A with a
bootstrap interval over tasks (> 1: B is faster). Runs on different suites or held-out splits are
compared but flagged, since their numbers are not about the same tasks.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hydra_ray.evaluate import aggregate
from hydra_ray.evaluate import stats as st
from hydra_ray.evaluate.report import fmt, md_table, pct


@dataclass
class Comparison:
    rows: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    markdown: str = ""


def load_run(path: str | Path) -> tuple[dict[str, Any], pd.DataFrame]:
    p = Path(path)
    missing = [n for n in ("summary.json", "results.parquet") if not (p / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{p} is not an evaluation output directory: {', '.join(missing)} missing "
                                "(run `hydra-ray evaluate … --output DIR` first)")
    return json.loads((p / "summary.json").read_text()), pd.read_parquet(p / "results.parquet")


def compare(dir_a: str | Path, dir_b: str | Path, *, n_boot: int = 2000, level: float = 0.95,
            seed: int = 0) -> Comparison:
    sa, da = load_run(dir_a)
    sb, db = load_run(dir_b)
    warnings = []
    if sa.get("suite") != sb.get("suite"):
        warnings.append(f"different suites: {sa.get('suite')!r} vs {sb.get('suite')!r}")
    ha, hb = (sa.get("split") or {}).get("sha256"), (sb.get("split") or {}).get("sha256")
    if ha != hb:
        warnings.append(f"different held-out splits: {ha} vs {hb}")
    ma, mb = _modes(sa, da), _modes(sb, db)
    if ma != mb:   # in-process and fresh-interpreter timings differ by themselves: a ratio would show the mode
        warnings.append(f"different measurement modes: {ma or 'unknown'} vs {mb or 'unknown'}; the paired ratios "
                        "reflect the mode as much as the optimiser (rerun one with the other's measure.mode)")
    ta, tb = set(da["task_id"]), set(db["task_id"])
    if ta != tb:
        warnings.append(f"different task sets: A has {len(ta)}, B has {len(tb)}, {len(ta & tb)} in common; the "
                        "paired ratios cover only the common ones")
    ca = {c["config"]: c for c in sa.get("configs", [])}
    cb = {c["config"]: c for c in sb.get("configs", [])}
    ba, bb = aggregate.select_best(da), aggregate.select_best(db)
    rows = []
    for config in sorted(set(ca) & set(cb)):
        xa = ba[(ba["config"] == config) & ba["correct"]].set_index("task_id")["ratio_latency"]
        xb = bb[(bb["config"] == config) & bb["correct"]].set_index("task_id")["ratio_latency"]
        common = sorted(set(xa.index) & set(xb.index))
        paired = (pd.to_numeric(xb[common], errors="coerce") / pd.to_numeric(xa[common], errors="coerce")).to_numpy(float)
        g, lo, hi = st.geomean_ci(paired, n_boot=n_boot, level=level, seed=seed) if common else (None,) * 3
        if len(common) == 1:   # one task: a bootstrap over tasks has nothing to resample
            lo = hi = None
        g, lo, hi = (_finite(v) for v in (g, lo, hi))
        rows.append({
            "config": config,
            "correct_a": ca[config]["correctness_rate"], "correct_b": cb[config]["correctness_rate"],
            "pct_opt_a": ca[config]["pct_optimized"], "pct_opt_b": cb[config]["pct_optimized"],
            "speedup_a": ca[config]["gmean_speedup"], "speedup_b": cb[config]["gmean_speedup"],
            "n_common_correct": len(common), "paired_b_over_a": g, "paired_lo": lo, "paired_hi": hi,
        })
    if rows and not any(r["n_common_correct"] for r in rows):
        warnings.append("no task both runs got right in any configuration: there is no paired ratio")
    only = sorted(set(ca) ^ set(cb))
    if only:
        warnings.append(f"configurations in only one run (not compared): {only}")
    md = [f"# Compare: A = `{dir_a}`, B = `{dir_b}`", ""]
    md += [f"- warning: {w}" for w in warnings] + ([""] if warnings else [])
    md.append(md_table(
        ["config", "correct A", "correct B", "%Opt A", "%Opt B", "speedup A", "speedup B", "N both correct",
         "B/A paired [95% CI]"],
        [[r["config"], pct(r["correct_a"]), pct(r["correct_b"]), fmt(r["pct_opt_a"], 3),
          fmt(r["pct_opt_b"], 3), fmt(r["speedup_a"], 3), fmt(r["speedup_b"], 3), r["n_common_correct"],
          _paired_cell(r)] for r in rows]))
    return Comparison(rows, warnings, "\n".join(md) + "\n")


def paired_significant(c: dict[str, Any]) -> bool:
    """Whether the paired interval excludes 1."""
    lo, hi = c.get("paired_lo"), c.get("paired_hi")
    return lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi) and (lo > 1 or hi < 1)


def _modes(summary: dict[str, Any], df: pd.DataFrame) -> str:
    """The measurement mode(s) of a run: from its rows, else from its configuration."""
    if "measure_mode" in df:
        found = sorted({str(m) for m in df["measure_mode"].dropna() if m})
        if found:
            return "/".join(found)
    return str(((summary.get("config") or {}).get("measure") or {}).get("mode") or "")


def _finite(x: Any) -> float | None:
    """A number for compare.json (which must stay valid JSON: no NaN), None where there is none."""
    return float(x) if x is not None and np.isfinite(x) else None


def _paired_cell(r: dict[str, Any]) -> str:
    if r["paired_b_over_a"] is None:
        return "– (no common task)"
    if r["paired_lo"] is None:
        return f"{fmt(r['paired_b_over_a'], 3)} (one task: no interval)"
    return f"{fmt(r['paired_b_over_a'], 3)} [{fmt(r['paired_lo'], 3)}, {fmt(r['paired_hi'], 3)}]"
