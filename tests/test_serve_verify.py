"""The verification engine on the real sandbox (no Serve): differential testing, ranking, hostile code.

Speed differences come from ``time.sleep`` so that they hold on a loaded machine: a sleeping program
is slower in wall time whatever else runs, which is what the latency metric measures.
"""
from __future__ import annotations

import time

import pytest

from hydra_ray.data.schema import TestCase as Case
from hydra_ray.metrics.profile_config import ProfileConfig
from hydra_ray.prefs.config import LabelConfig
from hydra_ray.prefs.labels import Labeler
from hydra_ray.sandbox.limits import SandboxLimits
from hydra_ray.data.programs import syntax_problem
from hydra_ray.serve.verify import OriginalFailed, VerificationEngine

ORIGINAL = "import time\nn = int(input())\ntime.sleep(0.25)\nprint(sum(range(n)))\n"
FAST = "n = int(input())\nprint(n * (n - 1) // 2)\n"
SLOWER = "import time\nn = int(input())\ntime.sleep(0.5)\nprint(sum(range(n)))\n"
WRONG_FAST = "n = int(input())\nprint(n)\n"
RUNTIME = [1.0, 0.0, 0.0, 0.0, 0.0]
INPUTS = ["1000\n"]

HOSTILE = {
    "endless loop": ("while True:\n    pass\n", {"timeout"}),
    "fork bomb": ("import os\nwhile True:\n    os.fork()\n", {"runtime_error", "timeout", "memory_limit"}),
    "memory hog": ("x = []\nwhile True:\n    x.append(bytearray(10**7))\n", {"memory_limit"}),
    "output flood": ("while True:\n    print('x' * 1000)\n", {"output_limit"}),
    "kills its supervisor": ("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nprint(0)\n",
                             {"runtime_error", "wrong_answer"}),
}


@pytest.fixture(scope="module")
def engine():
    limits = SandboxLimits(wall_time_s=2.0, cpu_time_s=2.0, memory_mb=512)
    return VerificationEngine(ProfileConfig(warmup=0, repeats=5, throughput_bursts=4, sandbox=limits),
                              Labeler(LabelConfig()))


def test_differential_expectations_come_from_the_original(engine):
    p = engine.prepare(ORIGINAL, inputs=["10\n", "4\n"])
    assert [(t.input, t.expected) for t in p.tests] == [("10\n", "45\n"), ("4\n", "6\n")]
    assert (p.n_given, p.n_differential) == (0, 2)
    empty = engine.prepare("print('hello')\n")
    assert [(t.input, t.expected) for t in empty.tests] == [("", "hello\n")]


def test_given_tests_are_kept_and_checked_on_the_original(engine):
    p = engine.prepare(ORIGINAL, tests=[Case("5\n", "10\n")], inputs=["3\n"])
    assert [(t.input, t.expected) for t in p.tests] == [("5\n", "10\n"), ("3\n", "3\n")]
    with pytest.raises(OriginalFailed, match=r"fails test 1/1: wrong_answer"):
        engine.prepare(ORIGINAL, tests=[Case("5\n", "11\n")])
    with pytest.raises(OriginalFailed, match=r"fails on input 2/2: runtime_error"):
        engine.prepare(ORIGINAL, inputs=["3\n", "not a number\n"])


def test_faster_candidate_wins_and_failing_ones_never_do(engine):
    p = engine.prepare(ORIGINAL, inputs=INPUTS)
    reformatted_original = "import time  # the same program\nn=int(input())\ntime.sleep((0.25))\nprint(sum(range(n)))\n"
    reformatted_fast = "n = int(input())\n\nprint((n * (n - 1)) // 2)  # closed form\n"
    codes = [WRONG_FAST, FAST, None, "def f(:\n", ORIGINAL, FAST + "\n", reformatted_original, reformatted_fast]
    ev = engine.evaluate(p, codes, RUNTIME)
    by = {r.index: r for r in ev.candidates}
    assert ev.original.verdict == "passed"
    assert ev.best == 1, ev.reason
    assert by[1].score.beats_original and by[1].score.significant["latency"]
    assert by[1].score.ratios["latency"] < 0.8
    assert by[0].verdict == "wrong_answer" and by[0].score is None
    assert by[2].verdict == "rejected" and "no complete" in by[2].detail
    assert by[3].verdict == "rejected" and "does not parse" in by[3].detail and "line 1" in by[3].detail
    assert by[4].verdict == "unchanged"
    assert by[5].duplicate_of == 1 and by[5].verdict == "passed"
    assert by[5].cpu_speed_cv == by[1].cpu_speed_cv is not None   # all its first occurrence measured
    # Formatting, comments and redundant parentheses leave the syntax tree, and so the program, as it was.
    assert by[6].verdict == "unchanged" and "reformatted" in by[6].detail and by[6].score is None
    assert by[7].duplicate_of == 1 and "same syntax tree" in by[7].detail
    assert ev.order[0] == 1 and set(ev.order[1:3]) == {5, 7}
    assert set(ev.order) == set(range(len(codes)))
    assert by[1].metrics["latency_ms"]["unit"] == "ms" and by[1].metrics["latency_ms"]["n"] == 5


def test_when_nothing_beats_the_original_there_is_no_best(engine):
    p = engine.prepare(ORIGINAL, inputs=INPUTS)
    ev = engine.evaluate(p, [SLOWER, WRONG_FAST], RUNTIME)
    assert ev.best is None
    assert ev.reason.startswith("no candidate is better than the original")
    slower = next(r for r in ev.candidates if r.index == 0)
    assert slower.verdict == "passed" and not slower.score.beats_original
    assert slower.score.margin < 0


def test_hostile_candidates_are_contained(engine):
    p = engine.prepare(ORIGINAL, inputs=INPUTS)
    names = list(HOSTILE)
    t0 = time.monotonic()
    ev = engine.evaluate(p, [HOSTILE[n][0] for n in names] + [FAST], RUNTIME)
    elapsed = time.monotonic() - t0
    by = {r.index: r for r in ev.candidates}
    for i, name in enumerate(names):
        assert by[i].verdict in HOSTILE[name][1], (name, by[i].verdict, by[i].detail)
        assert by[i].score is None
    assert by[len(names)].verdict == "passed"
    assert ev.best == len(names), ev.reason
    assert elapsed < 120, f"hostile candidates took {elapsed:.0f} s"
    # The engine (and its sandbox) still works afterwards.
    assert engine.prepare("print(1)\n").tests[0].expected == "1\n"


def test_profile_one_reports_five_metrics(engine):
    rep = engine.profile_one(FAST, tests=[Case("4\n", "6\n")], inputs=["7\n"])
    assert rep.verdict == "passed" and rep.tests_total == 2
    assert set(rep.metrics) == {"latency_ms", "peak_memory_kb", "cpu_cycles", "throughput_per_s", "energy_j"}
    bad = engine.profile_one(FAST, tests=[Case("4\n", "7\n")])
    assert bad.verdict == "wrong_answer" and "expected '7', got '6'" in bad.detail


def test_syntax_problem_names_the_place():
    assert syntax_problem("print(1)\n") is None
    assert "line 2" in syntax_problem("x = 1\nprint 'hi'\n")
    assert "Python 2" in syntax_problem("print 'hi'\n")
    assert "null" in syntax_problem("x = 1\x00\n")


def test_reports_say_how_they_were_measured(engine):
    info = engine.describe()
    assert info["mode"] == "inprocess" and set(info["floors"]) == {"process", "inprocess", "function", "function_program"}
    p = engine.prepare(FAST, inputs=INPUTS)
    uses_fork = "import os\nn = int(input())\nprint(n * (n - 1) // 2 if os.fork else 0)\n"
    ev = engine.evaluate(p, ["n = int(input())\nprint((n - 1) * n // 2)\n", uses_fork], RUNTIME)
    assert ev.original.mode == "process"          # the set falls back as a whole: one mode per comparison
    assert all(c.mode == "process" and "os.fork" in c.mode_reason for c in ev.candidates)
    from hydra_ray.serve.views import program_view
    assert program_view(ev.candidates[0])["measure_mode"] == "process"
    alone = engine.profile_one(FAST, inputs=INPUTS)
    assert alone.mode == "inprocess" and alone.mode_reason == ""
