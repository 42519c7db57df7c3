"""Fault tolerance as figures: what each failure scenario lost, repeated or failed.

Runs the slow fault tests (each kills a real process of its own Ray) with $HYDRA_FAULT_FIGURES set,
so every scenario writes what it measured, and collects them into
benchmarks/results/fault_tolerance.json:

* enrich_node_death (tests/test_cluster_ops.py): a worker node SIGKILLed mid-enrichment of 8 program
  sets; pairs lost and measurement rows duplicated (target 0 and 0);
* train_worker_death (tests/test_fault_tolerance.py): a Ray Train worker SIGKILLed after the first
  checkpoint; steps lost (target 0) and steps repeated (computed again after the restart);
* serve_replica_death (tests/test_fault_tolerance.py): the Verifier replica SIGKILLed under 48
  /v1/profile requests from 4 clients; failed requests (in flight on it: at most 4, each a 503) and
  failures after the kill (target 0).

A scenario whose test fails is recorded with passed=false and the end of its output.

    python benchmarks/bench_faults.py [--only enrich,train,serve] [--output FILE]

Each scenario is a slow test of a minute or so; a quick look at one: ``--only serve --output /tmp/quick/faults.json``
(a scenario not run is kept from the file at --output, when there).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULT = REPO / "benchmarks" / "results" / "fault_tolerance.json"
SCENARIOS = {
    "enrich": ("enrich_node_death",
               "tests/test_cluster_ops.py::test_worker_node_death_mid_enrichment_loses_and_duplicates_nothing"),
    "train": ("train_worker_death",
              "tests/test_fault_tolerance.py::test_training_worker_killed_after_checkpoint_restarts_from_it"),
    "serve": ("serve_replica_death", "tests/test_fault_tolerance.py::test_verifier_replica_killed_under_load"),
}
HEADLINE = {  # the one figure per scenario the issue asks for, and its target
    "enrich_node_death": (("pairs_lost", "rows_duplicated"), "0 and 0"),
    "train_worker_death": (("steps_lost", "steps_repeated"), "0 lost; repeated ≤ save_steps"),
    "serve_replica_death": (("failed_requests", "failed_after_kill"), "≤ clients in flight; 0 after"),
}


def run_scenario(name: str, test_id: str, figures_dir: Path) -> dict:
    env = {**os.environ, "HYDRA_FAULT_FIGURES": str(figures_dir)}
    env.pop("RAY_ADDRESS", None)      # every scenario starts its own Ray
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", test_id, "-m", "slow", "-s", "-q", "-p", "no:cacheprovider"],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=1800)
    out = {"test": test_id, "passed": proc.returncode == 0, "wall_s": round(time.monotonic() - t0, 1)}
    f = figures_dir / f"{name}.json"
    if f.exists():
        out["figures"] = json.loads(f.read_text())
    if proc.returncode != 0:
        out["output_tail"] = (proc.stdout + proc.stderr)[-3000:]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated subset of: " + ", ".join(SCENARIOS))
    ap.add_argument("--output", type=Path, default=RESULT,
                    help="the result file (default benchmarks/results/fault_tolerance.json; quick runs elsewhere)")
    args = ap.parse_args()
    out_file = args.output
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        ap.error(f"--only: unknown scenario(s) {unknown}; choose from {list(SCENARIOS)}")
    previous = json.loads(out_file.read_text()) if out_file.exists() else {}
    result = {"benchmark": "fault tolerance: real processes killed mid-run",
              "scenarios": dict(previous.get("scenarios", {})),
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "loadavg_before": list(os.getloadavg())},
              "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with tempfile.TemporaryDirectory(prefix="hydra-faults-") as tmp:
        for key in chosen:
            name, test_id = SCENARIOS[key]
            print(f"== {name}: {test_id}", flush=True)
            res = run_scenario(name, test_id, Path(tmp))
            keys, target = HEADLINE[name]
            figs = res.get("figures", {})
            res["headline"] = {k: figs.get(k) for k in keys} | {"target": target}
            result["scenarios"][name] = res
            print(f"   passed={res['passed']} {res['headline']} ({res['wall_s']} s)", flush=True)
    result["machine"]["loadavg_after"] = list(os.getloadavg())
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {out_file}")
    return 0 if all(r["passed"] for r in result["scenarios"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
