"""``hydra-ray label``: measured candidates → DPO preference dataset under sampled objective weights."""
from __future__ import annotations

import argparse
import sys

HELP = "label measured program pairs with Dirichlet-weighted preferences (DPO dataset)"
DESCRIPTION = """\
Turn an enriched dataset (hydra-ray enrich) into a DPO-ready preference dataset.

For every pair of candidates that both passed all tests, weight vectors w are drawn from Dirichlet(α);
each candidate's metrics are normalised to ṽ (higher = better; metrics whose difference is not
significant given the repeat samples count as ties) and the candidate with the higher reward R = w·ṽ
is `chosen`. Pairs whose reward gap is below ε are dropped and counted, never labelled at random.

Writes OUTPUT/labels.parquet (+ labels.jsonl with --jsonl), labeler.json, stats.json, plots/*.png.

examples:
  hydra-ray label --input runs/enriched --output runs/labelled
  hydra-ray label --input runs/enriched --output runs/rt --config configs/label/runtime-focused.yaml samples_per_pair=4
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", required=True, metavar="ENRICHED_DIR",
                   help="output folder of `hydra-ray enrich` (Parquet files under ENRICHED_DIR/data/)")
    p.add_argument("--output", required=True, metavar="DIR", help="folder for the labelled dataset")
    p.add_argument("--config", metavar="YAML", default=None,
                   help="label preset, e.g. configs/label/default.yaml (defaults apply without one)")
    p.add_argument("--jsonl", action="store_true", help="also write labels.jsonl (same as write_jsonl=true)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing labelled dataset in DIR made from other input or config")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="config overrides, e.g. alpha=balanced epsilon=0.01 seed=3")


def run(args: argparse.Namespace) -> int:
    from hydra_ray.config import load_config
    from hydra_ray.prefs.config import LabelConfig
    from hydra_ray.prefs.pairs import EnrichedInputError
    from hydra_ray.prefs.run import OutputExistsError, label_directory

    overrides = list(args.overrides) + (["write_jsonl=true"] if args.jsonl else [])
    config = load_config(LabelConfig, args.config, overrides)
    try:
        report = label_directory(args.input, args.output, config, overwrite=args.overwrite)
    except (EnrichedInputError, OutputExistsError) as e:
        print(f"hydra-ray label: {e}", file=sys.stderr)
        return 2
    if report.stats["examples"]["labelled"] == 0:
        print("hydra-ray label: warning: no example was labelled; see stats.json for why "
              "(skipped pairs and dropped draws are counted by reason)", file=sys.stderr)
    return 0
