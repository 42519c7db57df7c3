"""The ``hydra-ray`` command: a thin dispatcher over ``hydra_ray.commands.*``."""
from __future__ import annotations

import argparse
import importlib
import os
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
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also show Ray's own logs, worker output and full tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name, module in _command_modules():
        p = sub.add_parser(name, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        # Also after the command (`hydra-ray train … -v`); SUPPRESS keeps a -v given before it.
        p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                       help="also show Ray's own logs, worker output and full tracebacks")
        p.set_defaults(_run=module.run, _parser=p)   # _parser: a stray option is reported with this command's usage
    return parser


# Arguments that name local files or directories, in any command: made absolute against the
# directory the command was run from, before anything reaches a Ray worker (URIs are kept).
PATH_ARGS = ("input", "output", "config", "program", "tests", "expected", "metrics")


def resolve_path_args(args: argparse.Namespace) -> None:
    from hydra_ray.paths import output_in_job_working_dir, resolve_path

    args.typed_paths = {name: getattr(args, name, None) for name in PATH_ARGS}   # as typed, for messages
    for name in PATH_ARGS:
        value = getattr(args, name, None)
        if isinstance(value, list):
            setattr(args, name, [resolve_path(v) for v in value])
        elif isinstance(value, str):
            setattr(args, name, resolve_path(value))
    warning = output_in_job_working_dir(args.typed_paths.get("output"), getattr(args, "output", None))
    if warning:
        print(f"hydra-ray {getattr(args, 'command', '')}: warning: {warning}", file=sys.stderr, flush=True)


def _report_error(command: str, error: BaseException) -> None:
    """The first cause, once, and where the rest is (no per-worker traceback walls)."""
    from hydra_ray.ray_runtime import error_line, last_session_dir, verbose

    print(f"hydra-ray {command}: error: {error_line(error)}", file=sys.stderr)
    if verbose():
        import traceback

        traceback.print_exception(error)
    else:
        logs = last_session_dir()
        where = f"Ray's logs of this run: {logs}/logs; " if logs else ""
        print(f"hydra-ray {command}: {where}rerun with -v for the full traceback", file=sys.stderr)
        _print_notes(error)   # (with -v, the traceback shows them)


def _print_notes(error: BaseException) -> None:
    """What the command added to the exception on its way out (PEP 678 notes; e.g. enrich: what a
    stopped run kept), as the last lines the user sees."""
    for note in getattr(error, "__notes__", None) or []:
        print(note, file=sys.stderr)


# Commands whose finished work survives a stop and which pick up from it when run again.
RESUMABLE = frozenset({"enrich", "train", "evaluate", "reproduce", "demo"})


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    # argparse stops taking positionals once options follow the first one (`profile prog.py --json
    # profile.repeats=9`): key=value overrides after options are collected here instead.
    args, extra = parser.parse_known_args(argv)
    target = next((n for n in ("overrides", "rest") if isinstance(getattr(args, n, None), list)), None)
    if extra:
        if target is None or any(e.startswith("-") or "=" not in e for e in extra):
            getattr(args, "_parser", parser).error(f"unrecognized arguments: {' '.join(extra)}")
        setattr(args, target, [*getattr(args, target), *extra])
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    from hydra_ray import ray_runtime
    from hydra_ray.config import ConfigError
    from hydra_ray.paths import OutputExistsError

    ray_runtime.set_verbose(bool(getattr(args, "verbose", False)))
    ray_runtime.handle_sigterm()   # SIGTERM (systemd, Kubernetes, timeout) stops like Ctrl-C
    resolve_path_args(args)
    try:
        return int(args._run(args) or 0)
    except (ConfigError, OutputExistsError) as e:
        print(f"hydra-ray {args.command}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:   # Ctrl-C, or SIGTERM (ray_runtime.Terminated, however it reached us)
        term = isinstance(e, ray_runtime.Terminated) or ray_runtime.terminated()
        kept = "; finished work is kept and a rerun resumes" if args.command in RESUMABLE else ""
        print(f"hydra-ray {args.command}: {'terminated (SIGTERM)' if term else 'interrupted'}{kept}.", file=sys.stderr)
        _print_notes(e)
        return 143 if term else 130
    except BrokenPipeError:   # `hydra-ray … | head`: the reader has what it wanted; not an error to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # Python's flush at exit would fail again
        return 141
    except Exception as e:  # noqa: BLE001 - the CLI's last line of defence: one readable message
        _report_error(args.command, e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
