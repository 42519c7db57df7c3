"""perf/valgrind in inprocess and function mode count the program, not the interpreter (metrics/counters.py).

The harness runs for real in the sandbox; the counts come from real valgrind runs when valgrind is here.
"""
import math
import shutil

import pytest

from hydra_ray.config import ConfigError, from_dict
from hydra_ray.data.schema import Candidate, ProgramSet, TestCase
from hydra_ray.metrics import counters
from hydra_ray.metrics.profiler import ProfileConfig, Profiler
from hydra_ray.sandbox.runner import RunSpec, Sandbox

# Each call writes one line to stderr (left alone by the harness), so the calls can be counted.
READS_STDIN = "import sys\nn = int(open(0).read())\nprint(n * 2)\nprint('call', n, file=sys.stderr)\n"
ENTRY_POINT = "import sys\ndef f(x):\n    print('call', x, file=sys.stderr)\n    return x * 2\n"


def test_net_count_weights_each_part():
    """Per round, a candidate's figure is Σ weight × count over its counted runs.

    inprocess, T tests: Σ_t I(program, t) − T · I(empty): the empty program runs once a round and stands
    for every test, so with I(p, t) = S + w_t (start-up S plus the program's work w_t) the figure is
    Σ_t (S + w_t) − T·S = Σ_t w_t.
    function, N extra calls: (I(1 + N calls) − I(1 call)) / N = ((S + s + (1 + N)c) − (S + s + c)) / N = c,
    the work of one call, whatever the start-up S and setup s.
    """
    S, w, s, c, N, T = 144e6, [3e6, 5e6], 2e6, 4e5, 3, 2
    empty = counters.Part(counters.EMPTY_PROGRAM, -1.0, per_test=False)
    inproc = [(counters.Part("a", 1.0), S + w[0]), (counters.Part("a", 1.0), S + w[1]), (empty, S)]
    assert counters.net_count(inproc, T) == pytest.approx(sum(w))
    many, one = counters.Part("a@many", 1 / N), counters.Part("a@one", -1 / N)
    assert counters.net_count([(many, S + s + (1 + N) * c), (one, S + s + c)], 1) == pytest.approx(c)
    # noise around a program that does nothing: never a negative count
    assert counters.net_count([(counters.Part("a", 1.0), S - 10), (empty, S)], 1) == 0.0


def test_counted_programs_per_mode():
    programs = {"a": READS_STDIN, "b": READS_STDIN}
    progs, parts = counters.counted_programs(programs, ["a", "b"], "process", None, 3)
    assert progs == programs and parts["a"] == [counters.Part("a", 1.0)]
    progs, parts = counters.counted_programs(programs, ["a", "b"], "inprocess", None, 3)
    assert progs[counters.EMPTY_PROGRAM] == counters.EMPTY_SOURCE
    assert [p.program for p in parts["b"]] == ["b", counters.EMPTY_PROGRAM]
    progs, parts = counters.counted_programs(programs, ["a", "b"], "function", None, 3)
    assert set(progs) == {"a@calls1", "a@calls4", "b@calls1", "b@calls4"}
    assert [(p.program, p.weight) for p in parts["a"]] == [("a@calls4", 1 / 3), ("a@calls1", -1 / 3)]
    with pytest.raises(ValueError, match="extra_calls"):
        counters.counted_programs(programs, ["a"], "function", None, 0)
    with pytest.raises(ValueError, match="calls must be >= 1"):
        counters.call_harness("pass\n", None, 0)


@pytest.fixture(scope="module")
def sandbox():
    return Sandbox()


@pytest.mark.parametrize("calls", [1, 4])
def test_the_harness_calls_a_whole_program_with_stdin_rewound_each_call(sandbox, calls):
    run = sandbox.run(counters.call_harness(READS_STDIN, None, calls), stdin="21\n")
    assert run.verdict.ok, run.detail
    assert run.stderr_tail.splitlines() == ["call 21"] * calls   # every call read the whole input again
    assert run.stdout == ""   # outputs go to a dropped buffer; correctness is checked elsewhere


@pytest.mark.parametrize("calls", [1, 3])
def test_the_harness_calls_an_entry_point(sandbox, calls):
    # a function task's program is its code with the call appended (ProgramSet.program): setup calls once
    ps = ProgramSet("f", "f", [Candidate("a", ENTRY_POINT)], [TestCase("", "")], function_call="f(5)")
    run = sandbox.run(counters.call_harness(ps.program(ENTRY_POINT), ps.function_call, calls))
    assert run.verdict.ok, run.detail
    assert run.stderr_tail.splitlines() == ["call 5"] * calls


def test_a_failing_call_fails_the_counted_run(sandbox):
    bad = "import sys\nn = int(input())\nsys.exit(3)\n"
    run = sandbox.run(counters.call_harness(bad, None, 2), stdin="1\n")
    assert not run.verdict.ok


def test_counter_calls_is_validated_naming_the_field():
    with pytest.raises(ConfigError, match="counter_calls"):
        from_dict(ProfileConfig, {"counter_calls": 0})


# ---- real valgrind counts ------------------------------------------------------------------------
# `slow` does exactly 3x the loop of `fast`; as processes both also pay ~144M instructions of start-up.
LOOP = "n = int(input())\ns = 0\nfor i in range(n * {k}):\n    s += i\nprint(n)\n"


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind not installed")
def test_valgrind_counts_the_program_in_warm_modes_and_the_process_in_process_mode():
    ps = ProgramSet("loop", "loop", [Candidate("slow", LOOP.format(k=3)), Candidate("fast", LOOP.format(k=1))],
                    [TestCase("20000\n", "20000\n"), TestCase("10000\n", "10000\n")])
    ratios, counts = {}, {}
    for mode in ("process", "inprocess", "function"):
        prof = Profiler(from_dict(ProfileConfig, {
            "mode": mode, "repeats": 4, "extra_repeats": 0, "throughput_bursts": 4, "cycles_backend": "valgrind",
            "function_loops": 2, "function_loop_gap_ms": 0, "function_min_sample_ms": 1.0}))
        slow, fast = prof.profile(ps)
        assert slow.mode == mode and slow.verdict.ok and fast.verdict.ok
        m = slow.metrics["cpu_cycles"]
        assert (m.unit, m.source, m.estimated) == ("instructions", "valgrind_instructions", False)
        counts[mode] = (slow.metrics["cpu_cycles"].value, fast.metrics["cpu_cycles"].value)
        ratios[mode] = counts[mode][0] / counts[mode][1]
        # energy is estimated from these counts, so it leaves start-up out too
        assert slow.metrics["energy_j"].value / fast.metrics["energy_j"].value == pytest.approx(ratios[mode])
    # The loops are 3x apart: the warm modes see it; a process is mostly start-up and sees far less.
    assert ratios["inprocess"] == pytest.approx(3.0, rel=0.1)
    assert ratios["function"] == pytest.approx(3.0, rel=0.1)
    assert ratios["process"] < 1.6
    # what was left out is the interpreter: two tests' worth of an empty program's start-up (~144M each)
    startup = (counts["process"][0] - counts["inprocess"][0]) / 2
    assert 0.5e8 < startup < 5e8 and not math.isclose(startup, 0)


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind not installed")
def test_table_iii_with_valgrind_counts_one_call_of_each_pattern():
    """Table III's cycles column, as its authors took it with a counter: ``measure.cycles_backend`` reaches
    the profiler from the evaluate config, and the counts are per call (far below a process's start-up)."""
    from hydra_ray.evaluate.table3 import measure_table_iii

    row, = measure_table_iii(size="small", repeats=4, names=["triangular_sum"], cycles_backend="valgrind")
    assert row["mode"] == "function" and row["verdicts"] == ["passed", "passed"]
    for side in ("orig", "opt"):
        assert row[side]["cycles_estimated"] is False and row[side]["energy_estimated"] is True
    # the loop against the closed form: many more instructions per call, and both far below ~144M of start-up
    assert row["orig"]["cycles"] > 5 * row["opt"]["cycles"]
    assert row["opt"]["cycles"] < 1e7
