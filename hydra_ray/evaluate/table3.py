"""The paper's Table III, re-measured: the ``patterns`` suite's Table III rows in ``function`` mode.

Table III of the Hydra paper ("BEFORE/AFTER INFERENCE-TIME PERFORMANCE COMPARISON BETWEEN THE ORIGINAL
PYTHON PROGRAMS AND THE PROGRAMS OPTIMIZED BY OUR MODEL ... ENERGY IS ESTIMATED AS CYCLES × 2.5 × 10^-10 J")
reports per-call figures; its authors write that they produced it "using `perf stat` and
`tracemalloc`", and its note says "≈ 0 indicates execution time below the timer resolution".
:data:`PAPER` holds its values as printed (strings, e.g. ``"≈ 0"``, ``"< 1"``, ``"39M ops/s"``).

:func:`measure_table_iii` measures our patterns that stand for those rows (``TABLE_III = True`` in
their ``gen.py``): the original against ``better.py`` (the reference rewrite, not the paper's model's
output, and not the paper's exact programs, which it does not publish), one program pair per row,
interleaved in one profiler session, in ``function`` mode: latency per call, ``tracemalloc`` peak,
cycles (estimated from CPU time unless perf counters work or ``cycles_backend="valgrind"``; counters
count one call: ``metrics/counters.py``), calls/s and energy (cycles × 2.5e-10 J
unless RAPL is readable). Each row says its mode, since a set can fall back (see the profiler).

Used by ``benchmarks/bench_measure.py``; ``hydra-ray reproduce`` can call it the same way::

    from hydra_ray.evaluate.table3 import measure_table_iii
    rows = measure_table_iii(size="large", repeats=5)
"""
from __future__ import annotations

from typing import Any

# Pattern folder -> (the paper's row label, its values as printed: orig / opt for each column).
PAPER: dict[str, dict[str, Any]] = {
    "triangular_sum": {"sample": "Triangular Sum", "latency_ms": ("220.4", "≈ 0"), "memory_kb": ("< 1", "< 1"),
                       "cycles": ("380M", "26M"), "throughput": ("136 ops/s", "39M ops/s"),
                       "energy_mj": ("95.0", "6.5")},
    "nested_loop_filter": {"sample": "Nested Loop Filter", "latency_ms": ("871.5", "1.1"), "memory_kb": ("71", "71"),
                           "cycles": ("1.15G", "29M"), "throughput": ("6 ops/s", "5K ops/s"),
                           "energy_mj": ("287.5", "7.3")},
    "file_read_twice": {"sample": "File Lines (2 reads)", "latency_ms": ("11.1", "3.2"),
                        "memory_kb": ("1217", "615"), "cycles": ("45M", "36M"),
                        "throughput": ("2K ops/s", "6K ops/s"), "energy_mj": ("11.3", "9.0")},
    "string_concat": {"sample": "String Concatenation", "latency_ms": ("25.3", "15.0"), "memory_kb": ("107", "1163"),
                      "cycles": ("62M", "56M"), "throughput": ("790 ops/s", "1K ops/s"),
                      "energy_mj": ("15.5", "14.0")},
    "list_append": {"sample": "List Comprehension", "latency_ms": ("276.9", "245.2"),
                    "memory_kb": ("19694", "19694"), "cycles": ("338M", "282M"),
                    "throughput": ("72 ops/s", "82 ops/s"), "energy_mj": ("84.5", "70.5")},
    "redundant_sort": {"sample": "Redundant Sort", "latency_ms": ("79.7", "75.1"), "memory_kb": ("10931", "9368"),
                       "cycles": ("99M", "90M"), "throughput": ("251 ops/s", "266 ops/s"),
                       "energy_mj": ("24.8", "22.5")},
    "dict_histogram": {"sample": "Dict Histogram", "latency_ms": ("144.1", "147.8"), "memory_kb": ("6284", "6303"),
                       "cycles": ("360M", "336M"), "throughput": ("139 ops/s", "135 ops/s"),
                       "energy_mj": ("90.0", "84.0")},
}
PAPER_SUMMARY = {"latency": "46.7% latency reduction", "memory": "9.1% memory reduction",
                 "cycles": "36.0% cycles reduction", "throughput": "improved in most cases",
                 "energy": "36.0% energy reduction"}


def measure_table_iii(*, size: str = "large", repeats: int = 5, mode: str = "function", names=None,
                      timeout_s: float = 60.0, min_sample_ms: float | None = None, seed: int = 0,
                      cycles_backend: str = "auto", log=lambda s: None) -> list[dict[str, Any]]:
    """One row per Table III pattern: our medians for original and better beside the paper's values."""
    import numpy as np

    from hydra_ray.config import load_config
    from hydra_ray.evaluate import harness
    from hydra_ray.evaluate.config import EvaluateConfig
    from hydra_ray.evaluate.suites.patterns import load_pattern

    overrides = ["suite=patterns", f"measure.repeats={repeats}", f"measure.mode={mode}", f"measure.timeout_s={timeout_s}",
                 f"measure.cycles_backend={cycles_backend}"]
    if min_sample_ms is not None:   # else the profiler's default
        overrides.append(f"measure.function_min_sample_ms={min_sample_ms}")
    cfg = load_config(EvaluateConfig, None, overrides)
    rows = []
    for name in names or list(PAPER):
        task = load_pattern(name, tests_per_size=1, sizes=[size], base_seed=seed)
        unit = task.at_size(task.sizes[0])
        orig, opt = harness.measure_pair(unit, task.original_code, task.better_code, cfg)
        row: dict[str, Any] = {"pattern": name, "sample": PAPER[name]["sample"] if name in PAPER else name,
                               "size": size, "input_size": task.sizes[0], "mode": opt.mode or orig.mode,
                               "mode_reason": opt.mode_reason or orig.mode_reason,
                               "verdicts": [orig.verdict, opt.verdict], "paper": PAPER.get(name)}
        for label, m in (("orig", orig), ("opt", opt)):
            med = {k: (float(np.median(v)) if v else None) for k, v in m.samples.items()}
            row[label] = {"latency_ms": med.get("latency"), "memory_kb": med.get("memory"),
                          "memory_source": m.sources.get("memory"), "cycles": med.get("cycles"),
                          "cycles_estimated": m.estimated.get("cycles"), "cycles_source": m.sources.get("cycles"),
                          "throughput_per_s": med.get("throughput"), "throughput_unit": m.units.get("throughput"),
                          "energy_mj": med["energy"] * 1e3 if med.get("energy") is not None else None,
                          "energy_estimated": m.estimated.get("energy"), "n": len(m.samples.get("latency") or [])}
        if orig.samples and opt.samples:
            from hydra_ray.evaluate.stats import improvement

            row["latency_ratio"] = row["orig"]["latency_ms"] / row["opt"]["latency_ms"] \
                if row["opt"]["latency_ms"] else None
            sig = improvement("latency", orig.samples["latency"], opt.samples["latency"], n_boot=500)
            row["latency_significant"] = bool(sig.significant)
        log(f"{name}: {row.get('latency_ratio')}")
        rows.append(row)
    return rows
