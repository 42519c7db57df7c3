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
    w = section.get("waited_for_steady_cpu")
    if w:
        text += (f"; waited {fmt(w['waited_s'])} s for a steady CPU first"
                 + ("" if w["steady"] else " (it did not settle; measured anyway)"))
    return text + "."
