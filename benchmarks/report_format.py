"""What every section of the benchmarks README shares: reading a result file and formatting its figures."""
from __future__ import annotations

import json
from pathlib import Path


HERE = Path(__file__).resolve().parent


def load(name: str, results: Path = HERE / "results") -> dict | None:
    f = results / f"{name}.json"
    return json.loads(f.read_text()) if f.exists() else None


def fmt(x, nd=3):
    return "–" if x is None else (f"{x:.{nd}g}" if isinstance(x, float) else str(x))


def gib(x) -> str:
    return "–" if x is None else f"{x:.1f} GiB"


def pct(x) -> str:
    return "–" if x is None else f"{x:.0%}"


def wilson(share: float | None, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """95% Wilson score interval of a proportion ``share`` observed over ``n`` trials.

    p̂ = share; centre = (p̂ + z²/2n) / (1 + z²/n); half = z·sqrt(p̂(1-p̂)/n + z²/4n²) / (1 + z²/n).
    Unlike p̂ ± z·sqrt(p̂(1-p̂)/n) it stays inside [0, 1] and is not zero-width at 0% or 100%."""
    if share is None or n <= 0:
        return None
    d = 1 + z * z / n
    centre = (share + z * z / (2 * n)) / d
    half = z * ((share * (1 - share) / n + z * z / (4 * n * n)) ** 0.5) / d
    return max(0.0, centre - half), min(1.0, centre + half)


def interval(share: float | None, n: int) -> str:
    w = wilson(share, n)
    return "–" if w is None else f"{w[0]:.0%}–{w[1]:.0%}"


def conditions(section: dict) -> str:
    """The machine around a measurement section: load average, and the CPU's steadiness when recorded."""
    text = f"Load average before/after: {fmt(section['loadavg_before'][0])} / {fmt(section['loadavg_after'][0])}"
    a, b = section.get("cpu_steadiness_before"), section.get("cpu_steadiness_after")
    if a and b:
        text += f"; CPU steadiness (CV of a fixed loop) before/after: {pct(a['cv'])} / {pct(b['cv'])}"
    elif "cpu_steadiness_before" not in section:
        text += "; CPU steadiness not recorded (measured before the script recorded it)"
    w = section.get("waited_for_steady_cpu")
    if w:
        text += (f"; waited {fmt(w['waited_s'])} s for a steady CPU first"
                 + ("" if w["steady"] else " (it did not settle; measured anyway)"))
    return text + "."


# The targets the figures are held to, in one place: (comparison, value). The report prints each target
# beside its figure with a verdict computed from the figure, never a verdict typed in.
TARGETS = {
    "sandbox_ratio": ("<=", 1.10),          # bench_enrich.py overhead: measured inside ÷ bare
    "label_agreement_latency": (">=", 0.99),  # bench_enrich.py stability
    "label_agreement_instructions": (">=", 1.0),
    "scaling_ratio": (">=", 1.8),            # bench_enrich.py scaling: 2 actors ÷ 1 on 2 cores
    "train_ratio": ("<=", 1.10),             # bench_train.py: hydra ÷ plain step time
    "inprocess_floor_ms": ("<=", 1.0),       # bench_measure.py floors
    "inprocess_floor_kb": ("<=", 1024.0),
    "pairs_conclusive": (">=", 0.90),        # bench_measure.py pairs
    "pairs_agreement": (">=", 0.99),
    "humaneval_function_share": (">=", 0.90),  # bench_measure.py humaneval, function mode
    "gpu_generation_hf_over_vllm": (">=", 5.0),  # benchmarks/gpu
    "gpu_train_ratio": ("<=", 1.05),
}


def meets(value, target: tuple[str, float]) -> bool | None:
    """Whether ``value`` meets ``target`` ((op, bound)); None when there is no figure."""
    if value is None:
        return None
    op, bound = target
    return value <= bound if op == "<=" else value >= bound


def target_text(name: str, value, fmt_bound=None) -> str:
    """'target ≤ 1.1×: met' / 'target ≥ 1.8×: NOT met' / 'target …: no figure', computed from ``value``."""
    op, bound = TARGETS[name]
    shown = fmt_bound(bound) if fmt_bound else fmt(bound)
    ok = meets(value, TARGETS[name])
    verdict = "no figure" if ok is None else ("met" if ok else "**not met**")
    return f"target {'≤' if op == '<=' else '≥'} {shown}: {verdict}"


def load_at_start(machine: dict) -> str:
    """The load average a result recorded, named for when it was read. Results written before
    ``loadavg_at_end`` existed read the load once, when the result was written (at the end of the run),
    though the field was called ``loadavg_at_start``."""
    if not machine or not machine.get("loadavg_at_start"):
        return "load average not recorded"
    if "loadavg_at_end" in machine:
        return (f"load average at start {fmt(machine['loadavg_at_start'][0])}, at the end "
                f"{fmt(machine['loadavg_at_end'][0])}")
    return (f"load average {fmt(machine['loadavg_at_start'][0])}, read when the result was written (at the end "
            "of the run; this result predates recording it at the start)")
