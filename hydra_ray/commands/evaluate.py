"""``hydra-ray evaluate``: measure an optimiser on a suite and write tables, plots and a summary."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "evaluate an optimiser (reference, identity, openai, hydra) on a benchmark suite"
DESCRIPTION = """\
Evaluate an optimiser on a suite and write OUTPUT/{table.md,table.csv,table2.csv,summary.json,
pareto.png,sizes.png,results.parquet,candidates.jsonl,config.yaml}. Each task's results are kept as
soon as it is measured (OUTPUT/partial_rows.jsonl), so a stopped run resumes: rerun the same command.
A finished run keeps its rows (OUTPUT/rows.jsonl): the same command again measures nothing and only
writes the report; other settings into a finished OUTPUT are refused unless --overwrite.

Suites: patterns (built-in inefficiency patterns at three input sizes), pie-heldout (PIE pairs of
the held-out problems; the split's hash is recorded), humaneval, or PATH to a JSONL suite
(format: hydra_ray/evaluate/suites/jsonl.py; PIE pair files work as they are).

examples:
  hydra-ray evaluate --suite patterns --optimizer reference --output runs/eval/patterns-ref
  hydra-ray evaluate --suite humaneval --optimizer openai --output runs/eval/he-gpt \\
      --config configs/evaluate/humaneval_openai.yaml openai.model=gpt-4o-mini
  hydra-ray evaluate --suite pie-heldout --optimizer hydra --output runs/eval/pie-hydra \\
      --config configs/evaluate/hydra_steer.yaml
  hydra-ray evaluate compare runs/eval/he-gpt runs/eval/he-hydra [--output runs/eval/cmp]
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rest", nargs="*", metavar="key=value | compare A B",
                        help="configuration overrides (e.g. measure.repeats=7), or `compare DIR_A DIR_B`")
    parser.add_argument("--suite", help="patterns | pie-heldout | humaneval | PATH to a JSONL suite")
    parser.add_argument("--optimizer", choices=["reference", "identity", "openai", "hydra"])
    parser.add_argument("--output", help="output directory (for compare: where compare.md/json go)")
    parser.add_argument("--config", help="YAML preset, e.g. configs/evaluate/default.yaml")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a finished evaluation in OUTPUT made with other settings or candidates "
                             "(without it such a rerun is refused; the same run is never measured twice)")
    parser.add_argument("--dry-run", action="store_true",
                        help="only load the suite and collect candidates (candidates.jsonl); measure nothing")


def _run_compare(args: argparse.Namespace) -> int:
    from hydra_ray.evaluate.compare import compare

    if len(args.rest) != 3:
        print("hydra-ray evaluate compare: expected two output directories: compare DIR_A DIR_B", file=sys.stderr)
        return 2
    result = compare(args.rest[1], args.rest[2])
    print(result.markdown, end="")
    if args.output:
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        (out / "compare.md").write_text(result.markdown)
        # allow_nan=False: a NaN would make the file unreadable as JSON (compare writes null for "none").
        (out / "compare.json").write_text(json.dumps({"rows": result.rows, "warnings": result.warnings},
                                                     indent=2, default=float, allow_nan=False))
    return 0


def _write_candidates(path: Path, proposals: dict) -> int:
    n = 0
    with open(path, "w") as f:
        for task_id, cands in proposals.items():
            for c in cands:
                f.write(json.dumps({"task_id": task_id, "config": c.config, "candidate": c.index,
                                    "weights": c.weights, "code": c.code, "detail": c.detail,
                                    "cached": c.cached, "raw": c.raw}) + "\n")
                n += 1
    return n


def _num(x, digits: int) -> str:
    return f"{x:.{digits}f}" if isinstance(x, (int, float)) else str(x)


def _no_code_report(name: str, proposals: dict) -> bool:
    """Say on the terminal why candidates came back without code (the reasons are otherwise only in
    candidates.jsonl); True when every request of the optimiser failed (a key, an address: a setup
    problem, not a result worth measuring and tabulating)."""
    from collections import Counter

    mine = [c for cands in proposals.values() for c in cands if c.config != "identity"]
    reasons = Counter(c.detail or "no code" for c in mine if c.code is None)
    if not reasons:
        return False
    top = "; ".join(f"{why} ({k}x)" for why, k in reasons.most_common(3))
    print(f"{name}: {sum(reasons.values())} of {len(mine)} candidate(s) have no code: {top}", file=sys.stderr)
    return bool(mine) and all(c.code is None and c.detail.startswith("request failed") for c in mine)


def run(args: argparse.Namespace) -> int:
    if args.rest and args.rest[0] == "compare":
        return _run_compare(args)
    from hydra_ray.config import ConfigError, dump_config, load_config
    from hydra_ray.evaluate.config import EvaluateConfig

    bad = [r for r in args.rest if "=" not in r]
    if bad:
        raise ConfigError([f"argument {b!r}: expected key=value (or `compare DIR_A DIR_B`)" for b in bad])
    cfg = load_config(EvaluateConfig, args.config, args.rest)
    flags = {k: v for k, v in (("suite", args.suite), ("optimizer", args.optimizer), ("output", args.output)) if v}
    cfg = cfg.replace(**flags)
    from hydra_ray.evaluate.config import SUITES
    from hydra_ray.paths import resolve_path

    if cfg.suite not in SUITES:   # a path to a JSONL suite, from the preset, an override or --suite
        cfg = cfg.replace(suite=resolve_path(cfg.suite))

    from hydra_ray.evaluate.harness import evaluate, rows_to_frame
    from hydra_ray.evaluate.optimizers import build_optimizer
    from hydra_ray.evaluate.report import write_report
    from hydra_ray.evaluate.suites import load_tasks

    out = Path(cfg.output)
    try:
        suite = load_tasks(cfg)
        optimizer = build_optimizer(cfg)
        out.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError, RuntimeError) as e:  # bad suite file, split, optimiser setup or output
        print(f"hydra-ray evaluate: {e}", file=sys.stderr)
        return 2
    print(f"suite {suite.name}: {len(suite.tasks)} task(s)", file=sys.stderr)
    proposals = optimizer.propose(suite.tasks)
    if cfg.identity_baseline and optimizer.name != "identity":
        # The noise floor is always reported beside the optimiser: the original against itself.
        from hydra_ray.evaluate.optimizers import IdentityOptimizer

        for task_id, cands in IdentityOptimizer().propose(suite.tasks).items():
            proposals.setdefault(task_id, []).extend(cands)
    from hydra_ray.evaluate.checkpoint import Checkpoint, Proposed

    log = lambda s: print(s, file=sys.stderr)  # noqa: E731
    # Each measured task is kept at once, so a stopped run (Ctrl-C, SIGTERM) resumes where it stopped; a
    # finished run in OUTPUT made from other settings is refused here, before any of its files is written.
    checkpoint = Checkpoint.for_run(out, cfg, proposals, log, overwrite=getattr(args, "overwrite", False))
    checkpoint.check()
    (out / "config.yaml").write_text(dump_config(cfg))
    n = _write_candidates(out / "candidates.jsonl", proposals)
    print(f"{optimizer.name}: {n} candidate(s) -> {out / 'candidates.jsonl'}", file=sys.stderr)
    if _no_code_report(optimizer.name, proposals) and not args.dry_run:
        print(f"hydra-ray evaluate: no request of the {optimizer.name} optimiser was answered, so there is nothing "
              "to measure; fix the cause above and run again (answers that did come back are cached)",
              file=sys.stderr)
        return 2
    if args.dry_run:
        return 0
    try:
        rows = evaluate(suite.tasks, Proposed(optimizer.name, proposals), cfg, log=log,
                        done=checkpoint.load(), on_task=checkpoint.add)
    except RuntimeError as e:  # the sandbox or profiler cannot run on this node
        print(f"hydra-ray evaluate: cannot measure: {e}", file=sys.stderr)
        return 3
    summary = write_report(rows_to_frame(rows), out, suite=suite.name, optimizer=optimizer.name,
                           stats_cfg=cfg.stats, config=cfg.to_dict(), split=suite.split)
    checkpoint.finish()
    for c in summary["configs"]:
        print(f"{c['config']}: correct {c['n_correct']}/{c['n_tasks']}, %Opt {_num(c['pct_optimized'], 1)}, "
              f"gmean speedup {_num(c['gmean_speedup'], 3)}", file=sys.stderr)
    print(f"report: {out / 'table.md'}", file=sys.stderr)
    return 0
