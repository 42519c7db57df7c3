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
                        help="show the metric sources as with profile.cycles_backend=valgrind")
    parser.add_argument("--mode", choices=["process", "inprocess", "function"], default="inprocess",
                        help="show the metric sources of this profile.mode (default: inprocess, the default mode)")


def collect(use_valgrind: bool = False, mode: str = "inprocess") -> dict:
    from hydra_ray.metrics.backends import default_sources, detect_backends

    backends = detect_backends()
    metrics = default_sources(backends, use_valgrind, mode)
    return {
        "sections": [s for s in (_run_section(t, f) for t, f in SECTIONS) if s is not None],
        "mode": mode,
        "metrics": [asdict(m) for m in metrics],
        "cpu": asdict(backends.cpu),
        "advice": advice(backends, {m.metric for m in metrics if m.estimated}, mode),
    }


def advice(backends, estimated: set[str], mode: str) -> list[str]:
    """What to do about each estimated metric on this node. The report listed "(estimated)" and the
    missing counters, but not the setting or package that gives a counted figure, nor when none can."""
    out: list[str] = []
    if "cycles" in estimated:
        if backends.valgrind.available:
            out.append("cycles: counted instructions instead of CPU time x clock: profile.cycles_backend=valgrind "
                       "(~40x slower runs; doctor --valgrind shows the sources then)")
        else:
            out.append("cycles: no perf counters here; for counted instructions install valgrind "
                       "(apt-get install valgrind) and set profile.cycles_backend=valgrind")
    if "energy" in estimated:
        if mode == "function" and backends.rapl.available:
            out.append("energy: RAPL cannot isolate one call, so function mode estimates it; "
                       "profile.mode=inprocess or process reads RAPL")
        else:
            out.append("energy: stays an estimate (cycles x 2.5e-10 J) on this node: RAPL needs a readable "
                       "/sys/class/powercap (bare-metal Intel/AMD); compare it between programs, not as joules")
    return out


def render_text(report: dict) -> str:
    lines: list[str] = []
    # one column for every name: "network isolation" ran into its detail at a fixed 12
    width = max([12, *(len(c["name"]) for s in report["sections"] for c in s["capabilities"])])
    for section in report["sections"]:
        lines.append(f"{section['title']}:")
        for cap in section["capabilities"]:
            mark = "✓" if cap["available"] else "✗"
            lines.append(f"  {mark} {cap['name']:<{width}} {cap['detail']}")
    lines.append(f"metric sources (profile.mode={report.get('mode', 'inprocess')}; --mode for the others):")
    for m in report["metrics"]:
        flag = "  (estimated)" if m["estimated"] else ""
        lines.append(f"  {m['metric']:<11} {m['column']:<17} {m['source']}{flag}")
    if report.get("advice"):
        lines.append("to measure rather than estimate:")
        lines += [f"  - {a}" for a in report["advice"]]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    report = collect(use_valgrind=args.valgrind, mode=args.mode)
    print(json.dumps(report, indent=2, ensure_ascii=False) if args.json else render_text(report))
    return 0
