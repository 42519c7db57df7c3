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
    # The service takes one look (no extra_repeats), at the whole significance_alpha.
    one_look = POWER.replace("p < 0.04", "p < 0.05").replace(" / extra_alpha_share", "")
    assert f"verification: VerificationSection.{one_look} (command-line override verification.profile.repeats=3)" \
        in r.stderr, r.stderr

    r = _cli(tmp_path, "evaluate", "--suite", "patterns", "--optimizer", "reference", "--output", "eval",
             "measure.repeats=3", timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "measure.repeats=4 or more (command-line override measure.repeats=3)" in r.stderr, r.stderr
    assert not (tmp_path / "eval").exists()


def test_a_program_that_fails_says_it_was_not_timed_and_what_to_change(tmp_path):
    """A failed run printed the mode's floor and "differences below a few times that spread are reported
    as not significant", then no metric and no reason; a limit without the setting that raises it; and a
    file beside the program (there, in the user's folder) as FileNotFoundError with nothing saying the
    sandbox shows no host files."""
    (tmp_path / "data.txt").write_text("42\n")
    (tmp_path / "reads.py").write_text("print(open('data.txt').read())\n")
    (tmp_path / "spins.py").write_text("while True:\n    pass\n")
    (tmp_path / "asks.py").write_text("print(int(input()) * 2)\n")
    (tmp_path / "one.txt").write_text("1\n")
    cases = [(["reads.py"], "runtime_error", "hint: 'data.txt': the sandbox shows a program no host files"),
             (["spins.py", "profile.sandbox.wall_time_s=1"], "timeout",
              "hint: a longer or bigger run needs a higher limit: profile.sandbox.wall_time_s=N"),
             (["asks.py"], "runtime_error", "hint: stdin was empty (no --input given); --input FILE"),
             (["asks.py", "--input", "one.txt", "--expected", "one.txt"], "wrong_answer",
              "hint: without --expected a program that runs cleanly counts as passed and is timed")]
    for args, verdict, hint in cases:
        r = _cli(tmp_path, "profile", *args, "profile.repeats=3", timeout=120)
        assert r.returncode == 1, (args, r.stdout + r.stderr)
        assert r.stdout.startswith(f"{args[0]}: {verdict} "), r.stdout
        assert f"  not timed: only a program that passes is measured (this one: {verdict})" in r.stdout, r.stdout
        assert hint in r.stdout, (args, r.stdout)
        assert "not significant" not in r.stdout and "median of" not in r.stdout, r.stdout


def test_one_sample_is_not_shown_as_a_spread_of_zero(tmp_path):
    _program(tmp_path)
    r = _cli(tmp_path, "profile", "prog.py", "--input", "in.txt", "profile.repeats=1")
    assert r.returncode == 0, r.stdout + r.stderr
    latency = next(line for line in r.stdout.splitlines() if line.startswith("  latency"))
    assert "1 sample, no spread (more: profile.repeats=N)" in latency and "IQR" not in latency, r.stdout


def test_the_cpu_verdict_shows_enough_digits_to_fall_on_its_side():
    from hydra_ray.commands.profile import steadiness_line

    # "CPU UNSTEADY ... CV 5.0% (> 5%)" read as a contradiction
    assert "speed probe CV 5.04% (> 5%)" in steadiness_line(0.0504, 1, 0.05)
    assert "speed probe CV 5.0% (<= 5%)" in steadiness_line(0.0496, 1, 0.05)
    assert "speed probe CV 2.3% (<= 5%)" in steadiness_line(0.023, 1, 0.05)


def test_json_rows_have_the_same_keys_whatever_the_verdict(tmp_path):
    """A syntax error printed {"program", "verdict", "verdict_detail"} and a run printed 69 other keys
    (without "program"): a script reading either met a KeyError."""
    _program(tmp_path)
    (tmp_path / "broken.py").write_text("x = (\n")
    ran = _cli(tmp_path, "profile", "prog.py", "--input", "in.txt", "--json", "profile.repeats=1")
    broken = _cli(tmp_path, "profile", "broken.py", "--input", "in.txt", "--json")
    assert (ran.returncode, broken.returncode) == (0, 1), ran.stderr + broken.stderr
    ran_row, broken_row = json.loads(ran.stdout), json.loads(broken.stdout)
    assert list(broken_row) == list(ran_row)
    assert (ran_row["program"], broken_row["program"]) == ("prog.py", "broken.py")
    assert broken_row["verdict"] == "syntax_error" and "never closed" in broken_row["verdict_detail"]
    assert broken_row["tests_total"] == 1 and broken_row["latency_ms"] is None and broken_row["latency_ms_n"] == 0


def test_a_float_tolerance_that_cannot_be_one_is_refused(tmp_path):
    """--float-tol -1 or nan compared exactly without a word (wrong_answer for 0.1 + 0.2 vs 0.3)."""
    (tmp_path / "f.py").write_text("print(0.1 + 0.2)\n")
    (tmp_path / "f.out").write_text("0.3\n")
    for bad in ("-1", "nan", "inf"):
        r = _cli(tmp_path, "profile", "f.py", "--expected", "f.out", f"--float-tol={bad}")
        assert r.returncode == 2 and "argument --float-tol: expected a finite number >= 0" in r.stderr, (bad, r.stderr)


def test_a_program_saved_with_a_byte_order_mark_runs_as_python_runs_it(tmp_path):
    """Windows editors save UTF-8 with a BOM; Python runs such a file, profile called it a syntax_error
    ("invalid non-printable character U+FEFF"). A coding declaration other than UTF-8 is refused by name."""
    (tmp_path / "bom.py").write_bytes(b"\xef\xbb\xbfprint('bom')\n")
    (tmp_path / "bom.out").write_text("bom\n")
    r = _cli(tmp_path, "profile", "bom.py", "--expected", "bom.out", "profile.repeats=1")
    assert r.returncode == 0 and r.stdout.startswith("bom.py: passed"), r.stdout + r.stderr
    (tmp_path / "latin.py").write_bytes(b"# -*- coding: latin-1 -*-\nprint('caf\xe9')\n")
    r = _cli(tmp_path, "profile", "latin.py")
    assert r.returncode == 2 and "it declares coding latin-1, and programs are taken as UTF-8 only" in r.stderr, \
        r.stderr
