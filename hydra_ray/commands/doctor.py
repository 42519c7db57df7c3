"""``hydra-ray doctor``: what this node can measure, why not, and which source each metric uses."""
from __future__ import annotations

import argparse
import importlib
import json
from dataclasses import asdict

HELP = "show what this node can measure (perf, valgrind, RAPL, clock, pinning) and why not"
DESCRIPTION = HELP + """

Each line is one capability: ✓/✗, its name, and what it is or why it is missing. The last
section names the source each of the five metrics uses on this node by default
(estimated sources are marked).
"""


# Each section: (title, "module:function" returning a list of objects with name/available/detail,
# e.g. hydra_ray.metrics.backends.Capability). Imported lazily; a section whose module does not
# exist is skipped. A new section is one line, e.g. (a function returning list[Capability]):
#     ("sandbox isolation", "hydra_ray.sandbox.isolation:isolation_capabilities"),
SECTIONS: list[tuple[str, str]] = [
    ("measurement backends", "hydra_ray.metrics.backends:node_capabilities"),
    ("sandbox isolation", "hydra_ray.sandbox.isolation:isolation_capabilities"),
]


def _run_section(title: str, target: str) -> dict | None:
    module_name, func_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name == module_name:      # not written yet; a broken import elsewhere still raises
            return None
        raise
    caps = getattr(module, func_name)()
    return {"title": title, "capabilities": [
        {"name": c.name, "available": bool(c.available), "detail": str(c.detail)} for c in caps]}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--valgrind", action="store_true",
                        help="show the metric sources as if valgrind were enabled in the enrich config")
    parser.add_argument("--mode", choices=["process", "inprocess", "function"], default="inprocess",
                        help="show the metric sources of this profile.mode (default: inprocess, the default mode)")


def collect(use_valgrind: bool = False, mode: str = "inprocess") -> dict:
    from hydra_ray.metrics.backends import default_sources, detect_backends

    backends = detect_backends()
    return {
        "sections": [s for s in (_run_section(t, f) for t, f in SECTIONS) if s is not None],
        "mode": mode,
        "metrics": [asdict(m) for m in default_sources(backends, use_valgrind, mode)],
        "cpu": asdict(backends.cpu),
    }


def render_text(report: dict) -> str:
    lines: list[str] = []
    for section in report["sections"]:
        lines.append(f"{section['title']}:")
        for cap in section["capabilities"]:
            mark = "✓" if cap["available"] else "✗"
            lines.append(f"  {mark} {cap['name']:<12} {cap['detail']}")
    lines.append(f"metric sources (profile.mode={report.get('mode', 'inprocess')}; --mode for the others):")
    for m in report["metrics"]:
        flag = "  (estimated)" if m["estimated"] else ""
        lines.append(f"  {m['metric']:<11} {m['column']:<17} {m['source']}{flag}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    report = collect(use_valgrind=args.valgrind, mode=args.mode)
    print(json.dumps(report, indent=2, ensure_ascii=False) if args.json else render_text(report))
    return 0
