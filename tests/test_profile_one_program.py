"""`hydra-ray profile prog.py --input in.txt profile.repeats=3`: one program, nothing compared.

The power check (each look must be able to reach its level: with 3 samples a side the smallest
two-sided Mann-Whitney p is 0.1) belongs to the commands that compare candidates. It refused this
command too, which measures a single program; now it applies where a comparison is planned: enrich
and serve refuse repeats=3 with the check's message, evaluate with its own (measure.repeats >= 4).
Everything runs the real CLI as a user would, from a folder of their own, with relative paths.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The check's own words (hydra_ray.metrics.profile_config.ProfileConfig.comparison_problems).
POWER = ("profile.repeats: with 3 samples per candidate a two-sided Mann-Whitney test cannot reach p < 0.04 "
         "(smallest p is 0.1), so no difference could ever be significant at that look; expected more samples "
         "(or a larger significance_alpha / extra_alpha_share)")


def _cli(cwd: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hydra_ray", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(REPO)})


def _program(d: Path) -> None:
    (d / "prog.py").write_text("n = int(input())\nprint(sum(i * i for i in range(n)))\n")
    (d / "in.txt").write_text("3000\n")
    (d / "out.txt").write_text(f"{sum(i * i for i in range(3000))}\n")


def test_one_program_is_profiled_with_three_repeats_and_says_so(tmp_path):
    _program(tmp_path)
    r = _cli(tmp_path, "profile", "prog.py", "--input", "in.txt", "--expected", "out.txt", "profile.repeats=3")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("prog.py: passed  (tests 1/1"), r.stdout
    lines = {line.split()[0]: line for line in r.stdout.splitlines()[2:] if line.startswith("  ") and "median of" in line}
    # repeats sets the timed rounds; throughput is its own bursts (profile.throughput_bursts, 5)
    assert {m: "median of 3," in lines[m] for m in ("latency", "memory", "cycles", "energy")} == \
        {"latency": True, "memory": True, "cycles": True, "energy": True}, r.stdout
    assert "median of 5," in lines["throughput"], r.stdout

    r = _cli(tmp_path, "profile", "prog.py", "--input", "in.txt", "--json", "profile.repeats=3")
    assert r.returncode == 0, r.stdout + r.stderr
    row = json.loads(r.stdout)
    assert row["verdict"] == "passed" and row["timing_rounds"] == 3
    assert row["latency_ms_n"] == len(row["latency_ms_samples"]) == 3
    # one program: nothing was compared, and no significance is claimed
    assert all(row[k] is None for k in row if k.endswith("_significant")), row


def test_the_commands_that_compare_still_refuse_three_repeats(tmp_path):
    (tmp_path / "sets.jsonl").write_text(json.dumps(
        {"id": "s", "candidates": ["print(1)", "print(1 + 0)"], "tests": [{"input": "", "expected": "1\n"}]}) + "\n")
    r = _cli(tmp_path, "enrich", "--input", "sets.jsonl", "--output", "enriched", "profile.repeats=3", timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"EnrichConfig.{POWER} (command-line override profile.repeats=3)" in r.stderr, r.stderr
    assert not (tmp_path / "enriched").exists()

    shutil.copy(REPO / "configs" / "serve" / "recorded-demo.yaml", tmp_path / "serve.yaml")
    r = _cli(tmp_path, "serve", "--config", "serve.yaml", "verification.profile.repeats=3", timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"verification: VerificationSection.{POWER} (command-line override verification.profile.repeats=3)" \
        in r.stderr, r.stderr

    r = _cli(tmp_path, "evaluate", "--suite", "patterns", "--optimizer", "reference", "--output", "eval",
             "measure.repeats=3", timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "measure.repeats=4 or more (command-line override measure.repeats=3)" in r.stderr, r.stderr
    assert not (tmp_path / "eval").exists()
