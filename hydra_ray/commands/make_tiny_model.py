"""``hydra-ray make-tiny-model``: write the tiny random-weight Qwen2 model + tokenizer used by tests."""
from __future__ import annotations

import argparse

HELP = "write a tiny random-weight Qwen2 model and BPE tokenizer (offline, deterministic) to a directory"
DESCRIPTION = HELP + """

The directory loads with AutoModelForCausalLM/AutoTokenizer.from_pretrained, like a downloaded model,
so `hydra-ray train` and `hydra-ray serve` can run end to end without a GPU or network. The same seed
gives byte-identical files.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", required=True, help="directory to write (created if missing)")
    parser.add_argument("--seed", type=int, default=0, help="weight-initialisation seed (default 0)")
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--vocab-size", type=int, default=2048, help="at least 259 (bytes + special tokens)")


def _problems(args: argparse.Namespace) -> list[str]:
    from hydra_ray.train.tiny_model import MIN_VOCAB_SIZE

    problems = []
    if args.hidden_size <= 0 or args.hidden_size % 16:
        problems.append(f"--hidden-size: expected a positive multiple of 16, got {args.hidden_size}")
    if args.layers < 1:
        problems.append(f"--layers: expected an integer >= 1, got {args.layers}")
    if args.vocab_size < MIN_VOCAB_SIZE:
        # The byte-level tokenizer needs every byte and its special tokens whatever is asked.
        problems.append(f"--vocab-size: expected at least {MIN_VOCAB_SIZE} (256 byte tokens and the chat "
                        f"template's special tokens), got {args.vocab_size}")
    return problems


def run(args: argparse.Namespace) -> int:
    from hydra_ray.config import ConfigError
    from hydra_ray.paths import check_output_dir
    from hydra_ray.train.tiny_model import TinyModelSpec, build_tiny_model

    problems = _problems(args)
    if problems:
        raise ConfigError(problems, "make-tiny-model's options")
    check_output_dir(args.output)
    spec = TinyModelSpec(vocab_size=args.vocab_size, hidden_size=args.hidden_size,
                         intermediate_size=2 * args.hidden_size, num_hidden_layers=args.layers)
    out = build_tiny_model(args.output, seed=args.seed, spec=spec)
    print(f"wrote tiny Qwen2 model (hidden {spec.hidden_size}, {spec.num_hidden_layers} layer(s)) to {out}")
    return 0
