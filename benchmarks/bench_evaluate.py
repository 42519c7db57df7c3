"""Evaluation throughput: tasks per minute by suite and where the time goes.

    python benchmarks/bench_evaluate.py     # writes benchmarks/results/evaluate.json
    python benchmarks/bench_evaluate.py --suites humaneval --output /tmp/quick/evaluate.json   # a quick look

Each suite runs through the real loop (verification and interleaved measurement in the sandbox,
bootstrap statistics): `patterns` and `pie-heldout` with the `reference` optimizer, `humaneval`
with `identity` (HumanEval has no reference program). Subsets keep it to a few minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RUNS = [
    ("patterns", "reference", ["patterns.sizes=[small]"]),
    ("pie-heldout", "reference", ["pie.max_tasks=8", f"pie.path={ROOT.parent / 'shared/data/pie_python_pairs_cn.jsonl'}",
                                  f"pie.split={ROOT / 'configs/evaluate/splits/pie_heldout.txt'}"]),
    ("humaneval", "identity", ["humaneval.max_tasks=20", f"humaneval.path={ROOT.parent / 'shared/data/HumanEval.jsonl.gz'}"]),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suites", nargs="+", choices=[r[0] for r in RUNS], default=[r[0] for r in RUNS])
    ap.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "evaluate.json",
                    help="the result file (default benchmarks/results/evaluate.json; quick runs elsewhere)")
    args = ap.parse_args()
    load_start = os.getloadavg()
    from hydra_ray.config import load_config
    from hydra_ray.evaluate import harness
    from hydra_ray.evaluate.config import EvaluateConfig
    from hydra_ray.evaluate.optimizers import IdentityOptimizer, ReferenceOptimizer
    from hydra_ray.evaluate.suites import load_tasks

    results = []
    for suite, optimizer, overrides in [r for r in RUNS if r[0] in args.suites]:
        cfg = load_config(EvaluateConfig, None, [f"suite={suite}", f"optimizer={optimizer}", "measure.repeats=5",
                                                 *overrides])
        tasks = load_tasks(cfg).tasks
        opt = ReferenceOptimizer() if optimizer == "reference" else IdentityOptimizer()
        before = harness.phase_seconds()
        t0 = time.perf_counter()
        rows = harness.evaluate(tasks, opt, cfg)
        wall = time.perf_counter() - t0
        after = harness.phase_seconds()
        spent = {k: after[k] - before[k] for k in after}
        other = max(0.0, wall - sum(spent.values()))
        results.append({
            "suite": suite, "optimizer": optimizer,
            "settings": ["measure.repeats=5",   # paths relative to the checkout
                         *(o.replace(f"{ROOT}/", "").replace(f"{ROOT.parent}/", "../") for o in overrides)],
            "tasks": len(tasks), "rows": len(rows),
            "correct": sum(r["correct"] for r in rows), "wall_s": round(wall, 2),
            "tasks_per_minute": round(len(tasks) / wall * 60, 2),
            "share": {k: round(v / wall, 3) for k, v in {**spent, "other": other}.items()},
        })
        print(json.dumps(results[-1]), flush=True)
    out = {"benchmark": "evaluation throughput by suite", "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                       "loadavg_at_start": load_start, "loadavg_at_end": os.getloadavg()},
           "note": "one process, sequential tasks; verification = correctness runs of original and candidate, "
                   "measurement = interleaved timing/throughput runs, statistics = bootstrap intervals and tests",
           "suites": results}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
