"""The ``hydra-ray`` command: a thin dispatcher over ``hydra_ray.commands.*``."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import Sequence

from hydra_ray import __version__, commands


def _command_modules():
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            yield info.name.replace("_", "-"), importlib.import_module(f"{commands.__name__}.{info.name}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hydra-ray",
        description="Measure, label, train and serve a code LLM that optimises Python programs "
        "for runtime, memory, CPU cycles, throughput and energy, steered by preference weights.",
    )
    parser.add_argument("--version", action="version", version=f"hydra-ray {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name, module in _command_modules():
        p = sub.add_parser(name, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    from hydra_ray.config import ConfigError

    try:
        return int(args._run(args) or 0)
    except ConfigError as e:
        print(f"hydra-ray {args.command}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hydra-ray {args.command}: interrupted; finished work is kept and a rerun resumes.",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
