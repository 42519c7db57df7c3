"""Write constraints.txt: the exact versions installed here of hydra-ray's dependency closure.

    python scripts/freeze_constraints.py [--extras dev,deepspeed] [--output constraints.txt]

pyproject.toml states ranges known to work; this file records one set seen installing and passing the
tests together, which scripts/setup.sh and CI install with ``pip install -c constraints.txt``. Walks
the requirements of the installed hydra-ray (with the extras) through every installed distribution's
metadata, markers evaluated for this interpreter. Local version labels (torch's ``+cpu``) are dropped:
``torch==2.13.0`` admits both the CPU and the CUDA build, the index chooses (README "Install").
"""
from __future__ import annotations

import argparse
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = "hydra-ray"


def closure(extras: list[str]) -> dict[str, str]:
    seen: dict[str, str] = {}
    todo: list[tuple[str, tuple[str, ...]]] = [(ROOT, tuple(extras))]
    while todo:
        name, want = todo.pop()
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue   # a marker-excluded or optional requirement that is not installed here
        key = canonicalize_name(dist.metadata["Name"])
        first = key not in seen
        seen[key] = dist.version
        for raw in dist.requires or []:
            req = Requirement(raw)
            envs = [{"extra": e} for e in want] or [{"extra": ""}]
            if req.marker is not None and not any(req.marker.evaluate(env) for env in envs):
                continue
            if canonicalize_name(req.name) == key:   # self-referencing extras: hydra-ray[train,serve,gpu]
                todo.append((req.name, tuple(req.extras)))
            elif first or req.extras:
                todo.append((req.name, tuple(req.extras)))
    seen.pop(canonicalize_name(ROOT), None)
    return seen


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--extras", default="dev,deepspeed")
    ap.add_argument("--output", default=str(Path(__file__).resolve().parents[1] / "constraints.txt"))
    args = ap.parse_args()
    pins = closure([e for e in args.extras.split(",") if e])
    lines = [f"# Written by scripts/freeze_constraints.py --extras {args.extras} on Python "
             f"{sys.version_info.major}.{sys.version_info.minor}: versions seen installing together.",
             "# Used by scripts/setup.sh and CI: pip install -c constraints.txt -e \".[dev]\""]
    lines += [f"{name}=={version.split('+')[0]}" for name, version in sorted(pins.items())]
    Path(args.output).write_text("\n".join(lines) + "\n")
    print(f"{args.output}: {len(pins)} pins")
    return 0


if __name__ == "__main__":
    sys.exit(main())
