"""The floor of every measurement mode on this node, and the smallest difference each floor resolves.

The floor of every mode (an empty program; in function mode a ``pass`` function called through its
entry point, ``function``, and an empty program called whole, ``function_program``) is measured on the
node when the profiler starts; a latency or memory difference is significant only when it is also at
least ``floor_multiple`` × the spread (IQR) of that mode's floor (and, for memory, two pages for RSS
or 512 bytes for tracemalloc): a ratio is never claimed from a difference the node cannot resolve.
"""
from __future__ import annotations

from typing import Any

from hydra_ray.data.schema import ProgramSet
from hydra_ray.metrics.backends import NodeBackends
from hydra_ray.metrics.profile_config import ProfileConfig
from hydra_ray.metrics.run_readings import MEMORY_KIND, run_latency_ms, run_memory_kb
from hydra_ray.metrics.stats import summarize
from hydra_ray.sandbox.modes import MODES
from hydra_ray.sandbox.runner import RunSpec, Sandbox


def calibrate(sandbox: Sandbox, cfg: ProfileConfig, backends: NodeBackends) -> dict[str, Any]:
    """The floor of every mode on this node (an empty program; a ``pass`` function), recorded in every
    row; ``interpreter_*`` is the process floor, subtracted for ``peak_memory_net_kb``."""
    n = 5
    # "function": a `pass` function called through its entry point (function tasks, e.g. HumanEval);
    # "function_program": an empty program called whole, stdin rewound (stdin programs in function mode).
    kinds = [(m, m, None) for m in MODES] + [("function_program", "function", None)]
    kinds[2] = ("function", "function", "f()")
    # The pauses between loops cost ~0.4 s a run; only a function-mode profiler uses function floors.
    gap_ms = cfg.function_loop_gap_ms if cfg.mode == "function" else 0.0
    empty = [RunSpec("empty" if call is None else "pass_function", want_stdout=False, mode=mode, call=call,
                     min_calls=cfg.function_min_calls, min_sample_ms=cfg.function_min_sample_ms,
                     loops=cfg.function_loops, loop_gap_ms=gap_ms)
             for _, mode, call in kinds for _ in range(n)]
    runs = sandbox.run_batch({"empty": "pass\n", "pass_function": "def f():\n    pass\n"}, empty)
    floors: dict[str, dict[str, Any]] = {}
    for k, (name, mode, _) in enumerate(kinds):
        mine = runs[k * n:(k + 1) * n]
        ok = [r for r in mine if r.verdict.ok]
        if not ok:
            bad = mine[0] if mine else None
            raise RuntimeError(f"calibration failed: an empty program does not run in the sandbox in mode "
                               f"{name!r}: {bad.verdict.value if bad else 'no result'} "
                               f"{bad.detail if bad else ''} {bad.stderr_tail[-500:] if bad else ''}")
        lat = [run_latency_ms(r, mode) for r in ok]
        mem = [run_memory_kb(r, mode) for r in ok]
        floors[name] = {"latency_ms": summarize(lat).median, "latency_iqr_ms": summarize(lat).iqr,
                        "memory_kb": summarize(mem).median, "memory_iqr_kb": summarize(mem).iqr,
                        "memory_kind": MEMORY_KIND[mode], "n": len(ok)}
    return {"interpreter_rss_kb": floors["process"]["memory_kb"],
            "interpreter_ms": floors["process"]["latency_ms"], "floors": floors,
            "isolation": sandbox.info.mechanism, "cpu_model": backends.cpu.model,
            "clock_hz": backends.cpu.clock_hz}


def floor_key(mode: str, ps: ProgramSet) -> str:
    """Which calibrated floor applies to ``ps`` measured in ``mode`` (a key of the baseline's ``floors``)."""
    return "function_program" if mode == "function" and not ps.function_call else mode


def resolvable(floor: dict[str, Any], floor_multiple: float) -> dict[str, float]:
    """The smallest latency and memory difference the node resolves in the mode of ``floor`` (module doc)."""
    mode = next(m for m, kind in MEMORY_KIND.items() if kind == floor["memory_kind"])
    return {"latency_ms": floor_multiple * floor["latency_iqr_ms"],
            "peak_memory_kb": max(floor_multiple * floor["memory_iqr_kb"], 0.5 if mode == "function" else 8.0)}
