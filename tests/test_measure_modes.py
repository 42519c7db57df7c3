"""profile.mode on real sandboxed programs: floors, what each mode measures, fallbacks, rows."""
import pytest

from hydra_ray.config import ConfigError, from_dict
from hydra_ray.data.schema import Candidate, ProgramSet, TestCase
from hydra_ray.enrich.rows import arrow_schema, candidate_rows
from hydra_ray.metrics.profiler import ProfileConfig, Profiler
from hydra_ray.sandbox.modes import process_only_reason

SLOW = "n = int(input())\ns = 0\nfor i in range(n):\n    s += i * i\nprint(s)\n"
FAST = "n = int(input())\nprint((n - 1) * n * (2 * n - 1) // 6)\n"
N = 200_000
ANSWER = f"{(N - 1) * N * (2 * N - 1) // 6}\n"


@pytest.fixture(scope="module")
def profiler():
    p = Profiler(from_dict(ProfileConfig, {"warmup": 1, "repeats": 4, "throughput_bursts": 4, "extra_repeats": 4,
                                           "function_min_sample_ms": 5.0,
                                           "sandbox": {"wall_time_s": 5, "cpu_time_s": 5}}))
    if p.baseline["isolation"] != "bwrap":
        pytest.skip("bubblewrap unavailable")
    return p


def with_mode(profiler, mode):
    profiler.cfg = profiler.cfg.replace(mode=mode)
    return profiler


def pair(slow=SLOW, fast=FAST, tests=None):
    return ProgramSet("p", "p", [Candidate("slow", slow), Candidate("fast", fast)],
                      tests or [TestCase(f"{N}\n", ANSWER)])


def test_every_mode_has_a_floor_and_the_warm_ones_are_far_below_the_interpreter(profiler):
    floors = profiler.baseline["floors"]
    assert set(floors) == {"process", "inprocess", "function", "function_program"}
    proc, inproc, func = floors["process"], floors["inprocess"], floors["function"]
    assert proc["memory_kb"] > 5_000                      # the interpreter's own RSS
    assert inproc["latency_ms"] < proc["latency_ms"] / 3  # no interpreter start-up
    assert inproc["memory_kb"] < 1024                     # RSS growth of an empty program
    assert func["latency_ms"] < inproc["latency_ms"]      # a `pass` call, per call
    assert proc["memory_kind"] == "rss" and inproc["memory_kind"] == "rss_growth"
    assert func["memory_kind"] == "tracemalloc_peak"


@pytest.mark.parametrize("mode", ["inprocess", "function"])
def test_a_known_slower_program_is_slower_and_rows_record_the_mode(profiler, mode):
    results = with_mode(profiler, mode).profile(pair())
    slow, fast = results
    assert slow.verdict.ok and fast.verdict.ok, (slow.detail, fast.detail, slow.stderr_tail)
    assert slow.mode == fast.mode == mode and slow.mode_reason == ""
    assert slow.significant["latency_ms"]
    assert slow.metrics["latency_ms"].value > 3 * fast.metrics["latency_ms"].value
    rows = candidate_rows(pair(), results, {"isolation": "bwrap"}, profiler.baseline["floors"])
    for row in rows:
        assert row["measure_mode"] == mode
        key = "function_program" if mode == "function" else mode     # stdin programs called whole
        assert row["floor_latency_ms"] == profiler.baseline["floors"][key]["latency_ms"]
        assert row["memory_kind"] == {"inprocess": "rss_growth", "function": "tracemalloc_peak"}[mode]
        assert row["tracemalloc_peak_kb"] is not None and row["tracemalloc_peak_kb"] > 0
    names = set(arrow_schema().names)
    assert {"measure_mode", "measure_mode_reason", "memory_kind", "floor_latency_ms"} <= names
    if mode == "function":
        assert fast.function_calls > 1 and fast.metrics["throughput_per_s"].unit == "calls/s"
        assert fast.metrics["latency_ms"].source == "function_loop_clock"
    else:
        assert fast.metrics["peak_memory_kb"].source == "rusage_rss_growth"


def test_programs_that_need_their_own_process_fall_back_and_say_why(profiler):
    pool = ("from multiprocessing import Pool\nn = int(input())\n"
            "print(sum(i * i for i in range(n)))\n")
    assert "multiprocessing" in process_only_reason(pool)
    slow, fast = with_mode(profiler, "inprocess").profile(pair(slow=pool))
    assert slow.mode == fast.mode == "process"
    assert "candidate slow imports multiprocessing" in slow.mode_reason
    assert process_only_reason(FAST) is None
    assert "sys.executable" in process_only_reason("import os, sys\nos.execv(sys.executable, ['x'])\n") or \
        "os.execv" in process_only_reason("import os, sys\nos.execv(sys.executable, ['x'])\n")


def test_a_program_failing_in_process_but_passing_as_a_process_falls_back(profiler):
    # The warm runner has `selectors` loaded; a fresh interpreter does not. Real programs differ
    # like this in subtler ways (module state, recursion depth); the set is then measured as a process.
    picky = "import sys\nassert 'selectors' not in sys.modules, 'warm interpreter'\n" + FAST
    slow, fast = with_mode(profiler, "inprocess").profile(pair(fast=picky))
    assert slow.verdict.ok and fast.verdict.ok, fast.detail
    assert slow.mode == fast.mode == "process"
    assert "fails in-process" in fast.mode_reason and "passes as a process" in fast.mode_reason


def test_a_timeout_in_process_is_not_run_again_as_a_process(profiler):
    """A program out of time in-process (no interpreter start-up) is out of time as a process too: running
    it again would only double the wait. A crash is tried again (the warm interpreter may be the cause)."""
    checked = []
    run = profiler._correctness_runs
    profiler._correctness_runs = lambda ps, programs, names, mode: checked.append((tuple(names), mode)) or run(
        ps, programs, names, mode)
    try:
        slow, fast = with_mode(profiler, "inprocess").profile(pair(slow="while True:\n    pass\n",
                                                                   fast="raise SystemExit(3)\n"))
    finally:
        del profiler._correctness_runs
    assert slow.verdict.value == "timeout" and fast.verdict.value == "runtime_error"
    assert checked == [(("slow", "fast"), "inprocess"), (("fast",), "process")]
    assert slow.mode == "inprocess"


def test_a_program_failing_when_called_again_falls_back_to_inprocess(profiler):
    once = "import builtins\nassert not hasattr(builtins, 'ran_before')\nbuiltins.ran_before = 1\n" + FAST
    slow, fast = with_mode(profiler, "function").profile(pair(fast=once))
    assert slow.verdict.ok and fast.verdict.ok, fast.detail
    assert slow.mode == fast.mode == "inprocess"
    assert "fails as a function call" in fast.mode_reason


def test_a_function_task_times_only_the_entry_point_call(profiler):
    code = "def add(a, b):\n    return a + b\n\ndef check(f):\n    assert f(2, 3) == 5\n"
    ps = ProgramSet("t", "t", [Candidate("a", code), Candidate("b", code.replace("a + b", "sum((a, b))"))],
                    [TestCase("", "")], function_call="check(add)")
    a, b = with_mode(profiler, "function").profile(ps)
    assert a.verdict.ok and b.verdict.ok and a.mode == "function"
    assert a.metrics["latency_ms"].value < 0.05          # microseconds per call, not an interpreter
    wrong = ProgramSet("t", "t", [Candidate("a", code.replace("a + b", "a - b")), Candidate("b", code)],
                       [TestCase("", "")], function_call="check(add)")
    bad, good = profiler.profile(wrong)
    assert bad.verdict.value == "runtime_error" and "AssertionError" in bad.stderr_tail and good.verdict.ok


def test_differences_below_the_floor_are_not_significant(profiler):
    """The same program twice: whatever the test says, no ratio is claimed within the floor's spread."""
    slow, fast = with_mode(profiler, "inprocess").profile(pair(slow=FAST))
    assert not slow.significant["latency_ms"]
    assert not slow.significant["peak_memory_kb"]


def test_a_pair_inconclusive_at_the_first_look_is_timed_longer_and_a_clear_one_is_not(profiler):
    """Two looks (profiler docstring): the same program twice is inconclusive after ``repeats`` rounds, so
    it gets ``extra_repeats`` more and every metric is compared again over all samples; a 5x difference is
    decided at the first look. Rows and the enrich summary say how many rounds the samples hold."""
    original = profiler.cfg
    try:
        profiler.cfg = original.replace(mode="inprocess")
        same = pair(slow=FAST)
        a, b = results = profiler.profile(same)
        n = original.repeats + original.extra_repeats
        assert a.significant_first_look["latency_ms"] is False and a.significant["latency_ms"] is False
        assert a.timing_rounds == b.timing_rounds == n == len(a.metrics["latency_ms"].samples)
        assert len(b.metrics["peak_memory_kb"].samples) == n
        assert candidate_rows(same, results, {}, profiler.baseline["floors"])[0]["timing_rounds"] == n
        assert "timing_rounds" in arrow_schema().names
        slow, fast = profiler.profile(pair())
        assert slow.significant_first_look["latency_ms"] and slow.significant["latency_ms"]
        assert slow.timing_rounds == original.repeats == len(slow.metrics["latency_ms"].samples)
        profiler.cfg = original.replace(mode="inprocess", extra_repeats=0)
        a, _ = profiler.profile(same)
        assert a.timing_rounds == original.repeats and a.significant["latency_ms"] is False
    finally:
        profiler.cfg = original


def test_the_cpu_speed_probe_is_recorded_and_an_unsteady_cpu_is_timed_again(profiler):
    """Every timed set carries the CV of the CPU speed probe over its measured rounds. A measured CV is
    never exactly 0, so ``steady_cv_max=0`` makes every CPU unsteady: the timing phase runs
    1 + ``remeasure_unsteady`` times and the attempt with the lowest probe CV is kept (its samples, not
    a mix). ``steady_cv_max=1`` accepts the first attempt. A candidate that fails is never timed."""
    original = profiler.cfg
    try:
        profiler.cfg = original.replace(mode="inprocess", steady_cv_max=0.0, remeasure_unsteady=2)
        wrong = "n = int(input())\nprint(n)\n"
        results = profiler.profile(pair(fast=wrong))
        slow, bad = results
        assert slow.verdict.ok and not bad.verdict.ok
        assert slow.timing_attempts == 3 and len(slow.cpu_speed_cv_each) == 3
        assert all(cv is not None and 0 < cv < 1 for cv in slow.cpu_speed_cv_each), slow.cpu_speed_cv_each
        assert slow.cpu_speed_cv == min(slow.cpu_speed_cv_each)
        assert len(slow.metrics["latency_ms"].samples) == original.repeats   # one attempt's samples
        assert bad.cpu_speed_cv is None and bad.timing_attempts == 0
        rows = candidate_rows(pair(fast=wrong), results, {"isolation": "bwrap"}, profiler.baseline["floors"])
        assert rows[0]["cpu_speed_cv"] == slow.cpu_speed_cv and rows[0]["timing_attempts"] == 3
        assert rows[1]["cpu_speed_cv"] is None
        assert {"cpu_speed_cv", "timing_attempts"} <= set(arrow_schema().names)

        profiler.cfg = original.replace(mode="function", steady_cv_max=1.0, remeasure_unsteady=2)
        slow, fast = profiler.profile(pair())
        assert slow.timing_attempts == fast.timing_attempts == 1 and slow.cpu_speed_cv is not None
        profiler.cfg = original.replace(mode="process", steady_cv_max=0.0, remeasure_unsteady=0)
        slow, fast = profiler.profile(pair())
        assert slow.timing_attempts == 1 and slow.cpu_speed_cv is not None   # probed in process mode too
        # Unset, it re-times once outside function mode and never inside it (README, "A CPU whose speed swings").
        profiler.cfg = original.replace(mode="function", steady_cv_max=0.0, remeasure_unsteady=None)
        slow, fast = profiler.profile(pair())
        assert slow.mode == "function" and slow.timing_attempts == 1 and len(slow.cpu_speed_cv_each) == 1
        profiler.cfg = original.replace(mode="inprocess", steady_cv_max=0.0, remeasure_unsteady=None)
        slow, fast = profiler.profile(pair())
        assert slow.timing_attempts == 2
    finally:
        profiler.cfg = original


def test_retimings_default_depends_on_the_mode_and_an_explicit_value_wins():
    assert [ProfileConfig(mode=m).retimings(m) for m in ("process", "inprocess", "function")] == [1, 1, 0]
    assert ProfileConfig(remeasure_unsteady=3).retimings("function") == 3
    assert ProfileConfig(remeasure_unsteady=0).retimings("inprocess") == 0
    with pytest.raises(ConfigError, match="remeasure_unsteady: expected >= 0, got -1"):
        ProfileConfig(remeasure_unsteady=-1)


def test_mode_is_validated_naming_the_field():
    with pytest.raises(ConfigError) as e:
        ProfileConfig(mode="thread", function_min_sample_ms=0, function_loop_gap_ms=-5)
    assert "mode" in str(e.value) and "thread" in str(e.value) and "function_min_sample_ms" in str(e.value)
    assert "function_loop_gap_ms: expected >= 0, got -5" in str(e.value)


HUMANEVAL = __import__("pathlib").Path(__file__).resolve().parents[1].parent / "shared" / "data" / "HumanEval.jsonl.gz"


@pytest.mark.slow
@pytest.mark.skipif(not HUMANEVAL.is_file(), reason="shared data not present at ../shared/data")
def test_humaneval_in_function_mode_times_check_per_call(profiler):
    from hydra_ray.evaluate import harness
    from hydra_ray.evaluate.config import EvaluateConfig
    from hydra_ray.evaluate.suites.humaneval import load_humaneval

    task = next(load_humaneval(HUMANEVAL, max_tasks=1))
    cfg = EvaluateConfig()
    cfg.measure.mode, cfg.measure.repeats = "function", 4
    broken = task.original_code.replace("return True", "return False")
    orig, cand = harness.measure_pair(task, task.original_code, broken, cfg)
    assert orig.verdict == "passed" and cand.verdict != "passed"       # the task's own assertions decide
    same, again = harness.measure_pair(task, task.original_code, task.original_code, cfg)
    assert same.mode == "function" and same.units["throughput"] == "calls/s"
    assert max(same.samples["latency"]) < 5.0                           # ms per call, not an interpreter
    assert same.tracemalloc_peak_kb is not None


@pytest.mark.slow
def test_users_jsonl_function_task_checks_results_and_times_the_call(tmp_path, profiler):
    import json

    from hydra_ray.evaluate import harness
    from hydra_ray.evaluate.config import EvaluateConfig
    from hydra_ray.evaluate.suites.jsonl import SuiteFormatError, load_jsonl_suite

    code = "def sq(xs):\n    out = []\n    for x in xs:\n        out.append(x * x)\n    return out\n"
    f = tmp_path / "fn.jsonl"
    f.write_text(json.dumps({"id": "sq", "original_code": code, "entry_point": "sq",
                             "better_code": "def sq(xs):\n    return [x * x for x in xs]\n",
                             "tests": [{"args": [[1, 2, 3]], "expected": [1, 4, 9]}]}) + "\n")
    (task,) = load_jsonl_suite(f)
    cfg = EvaluateConfig()
    cfg.measure.mode, cfg.measure.repeats = "function", 4
    orig, cand = harness.measure_pair(task, task.original_code, task.better_code, cfg)
    assert orig.verdict == cand.verdict == "passed" and orig.mode == "function"
    wrong, _ = harness.measure_pair(task, code.replace("x * x", "x + x"), task.better_code, cfg)
    assert wrong.verdict == "wrong_answer"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "b", "original_code": code, "entry_point": "not a name",
                               "tests": [{"args": 3}]}) + "\n")
    with pytest.raises(SuiteFormatError) as e:
        load_jsonl_suite(bad)
    msg = str(e.value)
    assert "entry_point" in msg and "tests[0].args" in msg and "tests[0].expected" in msg


def test_the_profile_command_words_an_unsteady_probe_by_mode():
    """In function mode the probe runs once before loops spread over ~2/3 s, so an unsteady probe there
    does not mean the latency spread is the machine's; the command says which."""
    from hydra_ray.commands.profile import steadiness_line

    assert steadiness_line(0.01, 1, 0.05).startswith("CPU steady while timing: speed probe CV 1.0%")
    assert steadiness_line(0.01, 1, 0.05, "inprocess", 0.1).startswith("CPU steady while timing")
    wide = steadiness_line(0.03, 1, 0.05, "inprocess", 49.5 / 13.25)   # seen: IQR 49.5 ms on a 13 ms median
    assert not wide.startswith("CPU steady while timing") and "spread widely (IQR 374% of the median)" in wide
    inproc = steadiness_line(0.09, 2, 0.05, "inprocess")
    assert "CPU UNSTEADY while timing" in inproc and "timed 2 times" in inproc and "partly the machine's" in inproc
    func = steadiness_line(0.09, 1, 0.05, "function")
    assert "CPU UNSTEADY before timing" in func and "spread loops" in func and "times" not in func
    assert "profile.remeasure_unsteady=N" in func


def test_the_profile_command_in_function_mode_as_a_user_runs_it(tmp_path):
    """`hydra-ray profile prog.py … profile.mode=function` from the program's folder, relative paths;
    steady_cv_max=0 makes every probe "unsteady", so the function-mode wording is printed and the set
    is timed once (no re-timing by default in function mode)."""
    import subprocess
    import sys

    (tmp_path / "prog.py").write_text("n = int(input())\nprint(sum(range(n)))\n")
    (tmp_path / "in.txt").write_text("20000\n")
    (tmp_path / "out.txt").write_text(f"{sum(range(20000))}\n")
    r = subprocess.run([sys.executable, "-m", "hydra_ray.cli", "profile", "prog.py", "--input", "in.txt",
                        "--expected", "out.txt", "profile.mode=function", "profile.steady_cv_max=0"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert r.stdout.startswith("prog.py: passed")   # named as typed
    assert "passed" in r.stdout and "mode: function" in r.stdout
    assert "CPU UNSTEADY before timing" in r.stdout and "timed 2 times" not in r.stdout, r.stdout
    # the memory metric is the tracemalloc peak here: said once, on its own line, not again below
    assert "[tracemalloc_peak]" in r.stdout and "tracemalloc peak (Python allocations)" not in r.stdout, r.stdout


@pytest.mark.parametrize("args, says", [
    (["prog.py", "--input", "nope.txt"], "--input {d}/nope.txt does not exist"),
    (["prog.py", "--input", "in.txt", "--expected", "nope.txt"], "--expected {d}/nope.txt does not exist"),
    ([".", "--input", "in.txt"], "program {d} is a directory; expected a file"),
    (["binary.py"], "program {d}/binary.py is not UTF-8 text"),
])
def test_the_profile_command_names_a_bad_file_and_exits_2_not_1(tmp_path, args, says):
    """Exit status 1 means "the program did not pass"; a file that cannot be read is a usage error (2)."""
    import subprocess
    import sys

    (tmp_path / "prog.py").write_text("print(input())\n")
    (tmp_path / "in.txt").write_text("7\n")
    (tmp_path / "binary.py").write_bytes(b"\xe5\xff\x00print(1)\n")
    r = subprocess.run([sys.executable, "-m", "hydra_ray.cli", "profile", *args], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert says.format(d=tmp_path) in r.stderr and "Traceback" not in r.stderr and "rerun with -v" not in r.stderr


def test_the_profile_command_reports_a_program_that_does_not_parse_without_running_it(tmp_path):
    """The verdict enrich gives such a program (syntax_error), where, and that it is Python 2: exit 1."""
    import subprocess
    import sys

    (tmp_path / "old.py").write_text("n = int(input())\nprint n * 2\n")
    r = subprocess.run([sys.executable, "-m", "hydra_ray.cli", "profile", "old.py"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stdout.startswith("old.py: syntax_error — does not parse as Python 3:")
    assert "line 2" in r.stdout and "(Python 2 syntax?)" in r.stdout


def test_a_reader_that_stops_early_is_not_an_error(tmp_path):
    """`hydra-ray profile prog.py | head -1`: once the reader is gone, nothing more to say (no traceback)."""
    import os
    import subprocess
    import sys

    (tmp_path / "prog.py").write_text("print(1)\n")
    read, write = os.pipe()
    os.close(read)   # the reader is gone before the first line
    try:
        r = subprocess.run([sys.executable, "-m", "hydra_ray.cli", "profile", "prog.py"], cwd=tmp_path,
                           stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert r.returncode == 141 and r.stderr == "", r.stderr
