"""``hydra-ray simulate-alpha``: the paper's isolated simulation of the adaptive Dirichlet α (Appendix E)."""
from __future__ import annotations

import argparse

HELP = "simulate the adaptive α with the paper's Appendix E setup (no model): Fig. 10 and Fig. 11"
DESCRIPTION = HELP + """

Every epoch draws weight vectors from the current α, gives each example its region's loss (plus
noise) and applies one α update with the paper's loss rule. Defaults are Appendix E's setup: memory,
CPU cycles and energy hard (high DPO loss), runtime and throughput easy, balanced moderate; α starts at
1 everywhere; α_max = 10; 100 epochs. A region's loss falls as it is sampled more:
L(n) = floor + (start − floor)·exp(−n/scale) after n examples (hydra_ray/train/simulate.py).

Writes OUTPUT/alpha_simulation.png (Fig. 10), OUTPUT/region_losses.png (Fig. 11),
OUTPUT/alpha_simulation.json, and prints each qualitative statement of Appendix E with ✓ or ✗, or –
when the run is too short to judge it (a trend needs 10 epochs; "by epoch 50" needs 50 unless reached).
Exit status 0 whatever the checks say (custom losses are meant to differ from the paper).

Examples:
  hydra-ray simulate-alpha --output out/sim
  hydra-ray simulate-alpha --output out/sim --losses latency=0.9,memory=0.4:0.3 --lr 0.05 --alpha-max 1.5
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", required=True, help="directory for the PNGs and JSON")
    parser.add_argument("--losses", default="",
                        help="region=start[:floor],… overriding the paper's setup (regions: the metrics and "
                             "'balanced'); one number is a fixed loss, start:floor falls with exposure")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--per-epoch", type=int, default=256, help="weight draws per epoch")
    parser.add_argument("--lr", type=float, default=0.3, help="α learning rate η (the paper gives none)")
    parser.add_argument("--alpha-min", type=float, default=0.1, help="lower clip (the paper gives none)")
    parser.add_argument("--alpha-max", type=float, default=10.0, help="upper clip (the paper's: 10)")
    parser.add_argument("--noise", type=float, default=0.05, help="sd of the per-example loss noise")
    parser.add_argument("--seed", type=int, default=0)


def parse_losses(text: str):
    """``region=start[:floor],…`` on top of the paper's losses."""
    from hydra_ray.config import ConfigError
    from hydra_ray.prefs.dirichlet import REGIONS
    from hydra_ray.train.simulate import PAPER_LOSSES, RegionLoss

    out = dict(PAPER_LOSSES)
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, sep, val = item.partition("=")
        if not sep or key not in REGIONS:
            raise ConfigError([f"--losses item {item!r}: expected region=start[:floor] with region in {list(REGIONS)}"])
        start, _, floor = val.partition(":")
        try:
            out[key] = RegionLoss(float(start), float(floor) if floor else None)
        except ValueError as e:
            raise ConfigError([f"--losses item {item!r}: {e}" if "RegionLoss" in str(e) else
                               f"--losses item {item!r}: {val!r} is not start or start:floor (numbers)"]) from None
    return out


def run(args: argparse.Namespace) -> int:
    from hydra_ray.config import ConfigError
    from hydra_ray.paths import check_output_dir, resolve_path
    from hydra_ray.train.alpha import AlphaSettings
    from hydra_ray.train.simulate import SimulationConfig, check_mark, simulate, write_simulation

    losses = parse_losses(args.losses)
    try:
        settings = AlphaSettings(lr=args.lr, alpha_min=args.alpha_min, alpha_max=args.alpha_max)
        sim = SimulationConfig(epochs=args.epochs, n_per_epoch=args.per_epoch, noise=args.noise, seed=args.seed)
    except ValueError as e:
        raise ConfigError([str(e)]) from e
    out = resolve_path(args.output)
    check_output_dir(out)
    data = write_simulation(simulate(losses, settings, sim), out)
    final = ", ".join(f"{r} {a:.3f}" for r, a in data["alpha"].items())
    print(f"final α: {final}")
    for c in data["checks"]:
        print(f"  {check_mark(c['ok'])} {c['statement']}: {c['observed']}")
    print(f"wrote {out}/alpha_simulation.png (Fig. 10), {out}/region_losses.png (Fig. 11)")
    return 0
