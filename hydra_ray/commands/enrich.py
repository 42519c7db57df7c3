"""`hydra-ray enrich`: measure every candidate of every program set, on a local or remote Ray."""
from __future__ import annotations

HELP = "measure program pairs/sets in the sandbox (verdicts + 5 metrics) with Ray Data → Parquet"
DESCRIPTION = """Measure every candidate of every program set in the sandbox and write one row per
candidate (verdict, five metrics with unit, source and repeat statistics) to OUTPUT/data/part-*.parquet
(one file per output.sets_per_file sets or output.seconds_per_file seconds), plus OUTPUT/summary.json
and OUTPUT/rejected.jsonl (a run stopped by Ctrl-C, SIGTERM or an error writes both with what it found
so far; its summary says "finished": false). The input streams through Ray Data. Rerunning with the
same OUTPUT resumes.
OUTPUT may be a directory or an s3://, gs:// or file:// URI.

Starts an embedded local Ray unless ray.address or $RAY_ADDRESS is set (as under `ray job submit`).

examples:
  hydra-ray enrich --input hydra_ray/sample_data/pie_sample.jsonl --output runs/enrich
  hydra-ray enrich --input pairs.jsonl --output out --config configs/enrich/cluster.yaml profile.repeats=9
  hydra-ray enrich --input s3://bucket/pairs/ --output s3://bucket/enriched --config configs/enrich/cluster.yaml
"""


def add_arguments(p) -> None:
    p.add_argument("--input", required=True, help="JSONL/Parquet file or directory, or a URI (formats: README)")
    p.add_argument("--output", required=True, help="output directory or s3://, gs://, file:// URI (resumed if it exists)")
    p.add_argument("--config", help="YAML preset, e.g. configs/enrich/local.yaml")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted overrides, e.g. profile.repeats=7")


def run(args) -> int:
    from hydra_ray.config import load_config
    from hydra_ray.data.loaders import InputError
    from hydra_ray.enrich.config import EnrichConfig
    from hydra_ray.enrich.pipeline import run_enrich
    from hydra_ray.enrich.storage import StorageError
    from hydra_ray.paths import resolve_path

    cfg = load_config(EnrichConfig, args.config, args.overrides)
    try:
        summary = run_enrich(resolve_path(args.input), resolve_path(args.output), cfg)
    except (InputError, StorageError) as e:
        print(f"hydra-ray enrich: {e}")
        for note in getattr(e, "__notes__", None) or []:   # a run stopped by it: what was kept
            print(note)
        return 2
    if not summary["sets_total"]:
        reasons = ", ".join(f"{why} {k}" for why, k in (summary.get("rejected_by_reason") or {}).items())
        where = (f"; each rejected record and why is in {args.output}/rejected.jsonl" if summary["rejected_rows"]
                 else "; the input holds no record")
        print(f"hydra-ray enrich: nothing to measure: {summary.get('records_read', 0)} record(s) read from "
              f"{args.input}, {summary['rejected_rows']} rejected" + (f" ({reasons})" if reasons else "")
              + where + " (input formats: README, Input formats)")
        return 2
    print(f"[enrich] done: {summary['sets_total']} sets, verdicts {summary['verdicts']}, "
          f"{summary['rejected_rows']} rejected rows; {summary['wall_s_this_run']} s this run "
          f"({summary['sets_per_s_this_run']} sets/s). Estimated metrics: {summary['estimated_metrics']}")
    if summary["sets_timed_on_unsteady_cpu"]:
        print(f"[enrich] {summary['sets_timed_on_unsteady_cpu']} of {summary['sets_timed']} timed sets were timed while "
              f"the CPU's speed swung (speed probe CV > {summary['steady_cv_max']:.0%}, after re-timing); their "
              "rows say so (cpu_speed_cv), and their latency spreads are partly the machine's")
    if summary.get("pairs_timed_longer"):
        print(f"[enrich] {summary['pairs_timed_longer']} pair(s) inconclusive in latency after profile.repeats rounds "
              "were timed profile.extra_repeats rounds more and compared again (rows: timing_rounds)")
    if summary.get("sets_with_same_program"):
        print(f"[enrich] {summary['sets_with_same_program']} set(s) hold the same program twice (the same syntax "
              "tree: only formatting or comments differ; rows: program_key); label skips those pairs (same_program)")
    print(f"[enrich] outputs: {args.output}/data/*.parquet, {args.output}/summary.json, {args.output}/rejected.jsonl")
    return 0
