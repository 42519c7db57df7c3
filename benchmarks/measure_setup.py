"""What every section of bench_measure.py shares: the data, the machine, a profiler per mode, the CPU's
steadiness and the seeded PIE pair samples."""
from __future__ import annotations

import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
MODES = ("process", "inprocess", "function")
# --pairs-source: which shared PIE pair file the pairs/identical/work sections sample. "pie" is the file as
# the pairs come (about 28% fail their tests); "cn" holds 729 pairs that all pass, tests from CodeNet's
# problem statements. Sections run on "cn" are recorded under "<section>_cn".
PAIR_SOURCES = {"pie": "pie_python_pairs.jsonl", "cn": "pie_python_pairs_cn.jsonl"}
STEADY_CV_MAX = 0.05   # ProfileConfig.steady_cv_max's default: the CPU speed probe's CV on a steady CPU
sys.path.insert(0, str(ROOT))   # run as a script: hydra_ray from this checkout


def machine() -> dict:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "loadavg_at_start": os.getloadavg()}


def profiler(mode: str, repeats: int = 5):
    from hydra_ray.config import from_dict
    from hydra_ray.metrics.profiler import ProfileConfig, Profiler

    return Profiler(from_dict(ProfileConfig, {"mode": mode, "warmup": 1, "repeats": repeats,
                                              "throughput_bursts": 4,
                                              "sandbox": {"wall_time_s": 10, "cpu_time_s": 10}}))


def cpu_steadiness(samples: int = 20) -> dict:
    """How steady this CPU's speed is right now: a fixed pure-Python loop (~1 ms), fastest of 5, taken
    ``samples`` times 50 ms apart. The load average only sees this VM; on a shared host the CPU itself
    slows by up to ~1.5x for stretches of 100s of ms (a neighbour on the sibling hyperthread), which
    no measurement inside the VM can remove. A CV of a few % here is the floor of every CV below."""
    def loop() -> int:
        total = 0
        for i in range(20_000):
            total += i
        return total

    best = []
    for _ in range(samples):
        times = []
        for _ in range(5):
            t0 = time.perf_counter_ns()
            loop()
            times.append(time.perf_counter_ns() - t0)
        best.append(min(times) / 1e6)
        time.sleep(0.05)
    return {"loop_ms_median": round(statistics.median(best), 4), "loop_ms_min": round(min(best), 4),
            "loop_ms_max": round(max(best), 4), "cv": round(statistics.stdev(best) / statistics.mean(best), 4)}


def wait_until_steady(max_s: float, cv_max: float = 0.03) -> dict:
    """Probe :func:`cpu_steadiness` every 10 s until its CV is at most ``cv_max`` or ``max_s`` has passed
    (then the section runs anyway, and the figures it records say how steady the CPU was)."""
    t0 = time.monotonic()
    while True:
        probe = cpu_steadiness()
        waited = time.monotonic() - t0
        if probe["cv"] <= cv_max or waited >= max_s:
            return {"waited_s": round(waited, 1), "steady": probe["cv"] <= cv_max, "probe": probe}
        print(f"waiting for a steady CPU: loop CV {probe['cv']:.1%} > {cv_max:.0%} ({waited:.0f}/{max_s:.0f} s)",
              flush=True)
        time.sleep(10)


def _eligible(source: str) -> list[str]:
    """The pair file's lines whose PIE-reported speedup is at least 1.2x, in file order."""
    lines = [l for l in (DATA / PAIR_SOURCES[source]).read_text().splitlines() if l.strip()]
    return [l for l in lines if json.loads(l)["reported_speedup"] >= 1.2]


def pie_sample(n: int, seed: int = 0, source: str = "pie", only: list[str] | None = None):
    """A seeded sample of ``n`` eligible pairs, or (``only``) the eligible pairs with these ids."""
    from hydra_ray.data.loaders import load_program_sets

    src = DATA / PAIR_SOURCES[source]
    lines = [l for l in src.read_text().splitlines() if l.strip()]
    speed = {json.loads(l)["pair_id"]: json.loads(l)["reported_speedup"] for l in lines}
    if only is not None:
        chosen = [l for l in _eligible(source) if json.loads(l)["pair_id"] in set(only)]
    else:
        chosen = random.Random(seed).sample(_eligible(source), n)
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "sample.jsonl"
        f.write_text("\n".join(chosen) + "\n")
        records = load_program_sets(f).records
    return records, speed, src.name
