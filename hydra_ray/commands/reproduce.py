"""``hydra-ray reproduce``: every figure and table of the Hydra paper that runs without a GPU, beside its numbers."""
from __future__ import annotations

import argparse

HELP = "reproduce the Hydra paper's figures and tables that run without a GPU; write OUTPUT/REPORT.md"
DESCRIPTION = HELP + """

Runs on an embedded Ray, CPU only, offline, and writes OUTPUT/REPORT.md (for each paper figure and table:
the paper's numbers, ours, and a verdict: reproduced / reproduced in shape only / not reproducible here,
and why), OUTPUT/figures/*.png and OUTPUT/work/ (every stage's own outputs).

  Fig. 10/11  the α simulation with the paper's Appendix E setup (✓/✗ per statement)
  Fig. 7      coverage and fast-beats-slow rates (95% intervals, ties apart) from enriching PIE pairs
  Table III   the paper's seven programs (patterns suite, reference optimiser), the paper's values beside
  Table II    six prompt configurations on recorded completions (the paper's ratio definition), Fig. 2/3
  Fig. 5/6/8  training dynamics from a tiny training run, or from --metrics PATH (e.g. a GPU run)

Default: about 30 min on 2 cores (60 PIE pairs of ../shared/data when present, all seven Table III
programs at two sizes, 60 training steps; measured: 49 min with three sizes on a 2-core node shared with
four other jobs). --quick: within about 5 min (2 bundled pairs, 2 programs
at the small size, 6 steps), for CI.

examples:
  hydra-ray reproduce --output runs/reproduce
  hydra-ray reproduce --quick --output runs/reproduce-quick
  hydra-ray reproduce --output runs/repro-gpu --metrics runs/train-7b/metrics.jsonl --only training
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", required=True, help="output directory (REPORT.md, figures/, work/)")
    p.add_argument("--quick", action="store_true", help="the small CI run (within about 5 min on 2 cores)")
    p.add_argument("--metrics", help="a hydra-ray train metrics.jsonl to draw Fig. 5/6/8 from, instead of training")
    p.add_argument("--pie", help="PIE pairs (JSONL) to enrich for Fig. 7 (default: ../shared/data/"
                                 "pie_python_pairs_cn.jsonl when present, else the bundled sample)")
    p.add_argument("--pairs", type=int, help="how many PIE pairs to enrich for Fig. 7")
    p.add_argument("--steps", type=int, help="DPO steps of the tiny training run")
    p.add_argument("--profile-mode", choices=["process", "inprocess", "function"], default=None,
                   help="measurement mode passed to the evaluate configuration (measure.mode); default: the "
                        "evaluate default. 'function' gives per-call figures like the paper's Table III")
    p.add_argument("--only", action="append", choices=["simulation", "coverage", "evaluation", "training"],
                   help="run only this section (repeatable)")


def run(args: argparse.Namespace) -> int:
    from hydra_ray.config import ConfigError
    from hydra_ray.paths import resolve_path
    from hydra_ray.reproduce.runner import Plan, Reproduction

    if args.pairs is not None and args.pairs < 1:
        raise ConfigError([f"--pairs: expected an integer >= 1, got {args.pairs}"])
    if args.steps is not None and args.steps < 1:
        raise ConfigError([f"--steps: expected an integer >= 1, got {args.steps}"])
    output = resolve_path(args.output)
    metrics = resolve_path(args.metrics) if args.metrics else None
    pie = resolve_path(args.pie) if args.pie else None
    from pathlib import Path

    for flag, path in (("--metrics", metrics), ("--pie", pie)):
        if path and not Path(path).is_file():
            raise ConfigError([f"{flag} {path}: no such file"])
    if metrics:
        from hydra_ray.train.plots import read_metrics

        try:   # before anything runs, not as a traceback in the training section
            if not read_metrics(metrics):
                raise ValueError(f"{metrics}: no rows; expected a hydra-ray train metrics.jsonl")
        except ValueError as e:
            raise ConfigError([f"--metrics {e}"]) from None
    plan = Plan.make(args.quick, pie, pie_pairs=args.pairs, train_steps=args.steps, metrics=metrics,
                     profile_mode=args.profile_mode, only=list(args.only or []))
    if plan.profile_mode:
        # Fails here, before anything runs, when this build's evaluate config cannot take the mode.
        from hydra_ray.reproduce.evaluation import evaluate_config

        evaluate_config(plan.patterns, plan.sizes, plan.repeats, plan.n_boot, Path(output), plan.profile_mode)
    return Reproduction(plan, output).run()
