"""``hydra-ray simulate-alpha``: the paper's isolated simulation of the adaptive Dirichlet α."""
from __future__ import annotations

import argparse

HELP = "simulate the adaptive α under fixed per-region losses (no model) and plot its trajectory"
DESCRIPTION = HELP + """

Every epoch draws weight vectors from the current α, gives each the configured loss of its region
(plus noise) and applies one α update. Hard regions (above-average loss) should gain α, easy ones
lose it. Writes OUTPUT/alpha_simulation.png and OUTPUT/alpha_simulation.json.

Example:
  hydra-ray simulate-alpha --output out/sim --losses latency=0.9,memory=0.4 --lr 0.05
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", required=True, help="directory for the PNG and JSON")
    parser.add_argument("--losses", default="",
                        help="region=loss,… overriding the defaults (regions: the metrics and 'balanced')")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--per-epoch", type=int, default=256, help="weight draws per epoch")
    parser.add_argument("--lr", type=float, default=0.05, help="α learning rate η")
    parser.add_argument("--alpha-min", type=float, default=0.75)
    parser.add_argument("--alpha-max", type=float, default=1.5)
    parser.add_argument("--noise", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)


def _parse_losses(text: str) -> dict[str, float]:
    from hydra_ray.config import ConfigError
    from hydra_ray.prefs.dirichlet import REGIONS
    from hydra_ray.train.simulate import DEFAULT_LOSSES

    out = dict(DEFAULT_LOSSES)
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, sep, val = item.partition("=")
        if not sep or key not in REGIONS:
            raise ConfigError([f"--losses item {item!r}: expected region=number with region in {list(REGIONS)}"])
        try:
            out[key] = float(val)
        except ValueError:
            raise ConfigError([f"--losses item {item!r}: {val!r} is not a number"]) from None
    return out


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from hydra_ray.config import ConfigError
    from hydra_ray.train.alpha import AlphaSettings
    from hydra_ray.train.simulate import SimulationConfig, plot_alpha_trajectory, simulate

    losses = _parse_losses(args.losses)
    try:
        settings = AlphaSettings(lr=args.lr, alpha_min=args.alpha_min, alpha_max=args.alpha_max)
        sim = SimulationConfig(epochs=args.epochs, n_per_epoch=args.per_epoch, noise=args.noise, seed=args.seed)
    except ValueError as e:
        raise ConfigError([str(e)]) from e
    ctl = simulate(losses, settings, sim)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    png = plot_alpha_trajectory(ctl.trajectory(), out / "alpha_simulation.png",
                                title=f"simulated α ({args.epochs} epochs, η={args.lr})")
    (out / "alpha_simulation.json").write_text(json.dumps({"losses": losses, **ctl.summary()}, indent=2) + "\n")
    final = ", ".join(f"{r} {a:.3f}" for r, a in ctl.get_alpha().items())
    print(f"final α: {final}\nwrote {png}")
    return 0
