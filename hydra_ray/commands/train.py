"""``hydra-ray train``: DPO + LoRA under Ray Train with a shared adaptive Dirichlet α."""
from __future__ import annotations

import argparse

HELP = "train a LoRA adapter with DPO under Ray Train, sampling preference weights from an adaptive α"
DESCRIPTION = HELP + """

Reads LABELLED_DIR (labels.parquet + labeler.json from `hydra-ray label`). With framework=enhanced
(default) every batch draws fresh weights from the shared α, re-labels the pair from its stored raw
metrics and re-renders the prompt; framework=base trains on the stored labels as they are.
The node is checked before Ray starts (QLoRA needs CUDA and bitsandbytes, etc.).

Writes OUTPUT/adapter (peft), alpha.json, metrics.jsonl, workers.json, plots/, config.yaml and
run.json (what defines the run: the labelled data's digest and the training fields of the config).
Checkpoints go to OUTPUT/ray through Ray Train: rerunning the same command after an interruption
resumes model, optimizer, step and α from the latest one. A rerun with other input or other training
fields (not logging_steps, save_steps, max_failures and such) is refused before Ray starts, naming what
changed; --overwrite deletes the earlier run and starts over.

Examples:
  hydra-ray make-tiny-model --output runs/tiny-model
  hydra-ray train --input runs/labelled --output runs/train --config configs/train/tiny-cpu.yaml \\
      model.name_or_path=runs/tiny-model dpo.max_steps=40
  # warm start (the paper's): continue an earlier run's adapter
  hydra-ray train --input runs/labelled2 --output runs/train2 --config configs/train/tiny-cpu.yaml \\
      model.name_or_path=runs/tiny-model model.init_adapter=runs/train/adapter
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="labelled dataset directory (LABELLED_DIR)")
    parser.add_argument("--output", required=True, help="output directory (rerun the same to resume)")
    parser.add_argument("--config", default=None, help="preset YAML, e.g. configs/train/tiny-cpu.yaml")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a run in OUTPUT made from other input or config: delete its checkpoints "
                             "and outputs and start over")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="config overrides, e.g. dpo.max_steps=40 alpha.rule=advantage")


def run(args: argparse.Namespace) -> int:
    from hydra_ray.config import load_config
    from hydra_ray.train.config import TrainConfig
    from hydra_ray.train.driver import run_training

    # Path fields (model.init_adapter too) come back absolute from load_config; --input/--output from the CLI.
    cfg = load_config(TrainConfig, args.config, args.overrides)
    outcome = run_training(cfg, args.input, args.output, overwrite=args.overwrite)
    if outcome.skipped:
        print(f"{outcome.output_dir} already holds this finished run ({outcome.steps} steps, same input and "
              "config); use another --output to train again")
        return 0
    alpha = ", ".join(f"{r} {a:.3f}" for r, a in outcome.alpha.items())
    resumed = f" (resumed from step {outcome.resumed_from_step})" if outcome.resumed_from_step else ""
    # A worker group that failed and was restarted (max_failures) is part of the run's story: say so.
    restarted = (f"; the worker group was restarted {outcome.restarts}× after a failure (alpha.json "
                 "`restarts`; Ray's logs say why)" if outcome.restarts else "")
    print(f"trained {outcome.steps} steps{resumed}{restarted}; final α: {alpha}\n"
          f"adapter: {outcome.output_dir / 'adapter'}")
    return 0
