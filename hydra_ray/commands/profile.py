"""`hydra-ray profile`: run one program in the sandbox and print its verdict and five metrics."""
from __future__ import annotations

HELP = "run one program in the sandbox; print its verdict and measured metrics"
DESCRIPTION = """Run PROGRAM.py in the sandbox on the given stdin file(s), check the output when
--expected is given, and measure latency, peak memory, CPU cycles, throughput and energy with
repeat statistics. Each value says its unit and source; estimates are marked.

examples:
  hydra-ray profile prog.py --input in.txt --expected out.txt
  hydra-ray profile prog.py --input in1.txt --input in2.txt --json profile.repeats=9
  hydra-ray profile prog.py profile.mode=function --input in.txt

profile.mode: process (a fresh interpreter per run: figures include its start-up), inprocess (the
default: forked from a warm runner in the same sandbox), function (the program called in a
timeit-style loop; per-call figures). The output says which mode was used and its floor.
"""


def _tolerance(text: str) -> float:
    """A finite tolerance >= 0: -1 or nan compared exactly, without a word, and inf matched any number."""
    import argparse
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0 such as 1e-6, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0 such as 1e-6, got {text}")
    return value


def add_arguments(p) -> None:
    p.add_argument("program", help="Python source file")
    p.add_argument("--input", action="append", default=[], help="stdin file (repeatable; default: empty stdin)")
    p.add_argument("--expected", action="append", default=[], help="expected stdout file, one per --input")
    p.add_argument("--float-tol", type=_tolerance, default=None, help="tolerance for float tokens (e.g. 1e-6)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--config", help="YAML preset with a `profile:` section (e.g. configs/enrich/local.yaml)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="e.g. profile.repeats=9")


class _Unreadable(Exception):
    pass


def _read(path, what: str) -> str:
    """A file's text, or an error that says what is wrong with it (exit status 2, not "did not pass")."""
    from hydra_ray.paths import UnreadableFile, read_python_source, read_text_file

    try:
        return (read_python_source if what == "program" else read_text_file)(path)
    except UnreadableFile as e:
        raise _Unreadable(f"{what} {path} {e.why}" + ("; expected a file" if e.kind == "directory" else "")) from None


def run(args) -> int:
    import json
    import sys
    from pathlib import Path

    from hydra_ray.config import load_config
    from hydra_ray.data.programs import syntax_problem
    from hydra_ray.data.schema import Candidate, ProgramSet, TestCase
    from hydra_ray.enrich.config import OneProgramConfig
    from hydra_ray.enrich.rows import candidate_rows
    from hydra_ray.metrics.names import METRICS
    from hydra_ray.metrics.profiler import Profiler

    from hydra_ray.sandbox.hints import hints, not_timed_line
    from hydra_ray.paths import resolve_path

    given = (getattr(args, "typed_paths", None) or {}).get("program") or args.program   # what the report names
    args.program, args.config = resolve_path(args.program), resolve_path(args.config)
    args.input = [resolve_path(i) for i in args.input]
    args.expected = [resolve_path(e) for e in args.expected]
    cfg = load_config(OneProgramConfig, args.config, args.overrides).profile   # one program: nothing compared
    src = Path(args.program)
    # One --expected and no --input: the expected output on empty stdin (the default input).
    if args.expected and len(args.expected) != max(len(args.input), 1):
        print(f"hydra-ray profile: {len(args.expected)} --expected for {len(args.input)} --input; give one "
              "expected file per input, in the same order", file=sys.stderr)
        return 2
    try:
        code = _read(src, "program")
        inputs = [_read(Path(i), "--input") for i in args.input] or [""]
        expected = [_read(Path(e), "--expected") for e in args.expected] or [None] * len(inputs)
    except _Unreadable as e:
        print(f"hydra-ray profile: {e}", file=sys.stderr)
        return 2
    problem = syntax_problem(code)
    if problem:   # nothing to run: say why, as enrich's rejections do (syntax_error)
        if args.json:
            print(json.dumps({"program": given, **_unrun_row(src, code, "syntax_error", problem, len(inputs))},
                             indent=2))
        else:
            print(f"{given}: syntax_error — does not parse as Python 3: {problem}")
        return 1
    ps = ProgramSet(src.stem, src.stem, [Candidate(src.name, code)],
                    [TestCase(i, e) for i, e in zip(inputs, expected)], args.float_tol, str(src))
    profiler = Profiler(cfg)
    row = candidate_rows(ps, profiler.profile(ps), {"isolation": profiler.baseline["isolation"]},
                         profiler.baseline["floors"])[0]
    if args.json:   # "program": the path as given, the one thing the row did not say
        print(json.dumps({"program": given, **row}, indent=2, default=str))
        return 0 if row["verdict"] == "passed" else 1
    print(f"{given}: {row['verdict']}" + (f" — {row['verdict_detail']}" if row["verdict_detail"] else "")
          + f"  (tests {row['tests_passed']}/{row['tests_total']}, isolation: {row['isolation']})")
    timed = row["latency_ms"] is not None
    print(f"  mode: {row['measure_mode']}" + (f" ({row['measure_mode_reason']})" if row["measure_mode_reason"] else "")
          + (f"; floor of this mode on this node: {row['floor_latency_ms']:.4g} ms "
             f"(IQR {row['floor_latency_iqr_ms']:.2g}), {_kb(row['floor_memory_kb'])} KB {row['memory_kind']}"
             "; a figure near it is mostly this mode's own cost, not the program's" if timed else ""))
    if row["stderr_tail"]:
        print("stderr (tail):\n  " + "\n  ".join(row["stderr_tail"].strip().splitlines()[-8:]))
    if not timed:
        for line in [not_timed_line(row["verdict"]),
                     *hints(row["verdict"], row["verdict_detail"], row["stderr_tail"], bool(args.input),
                            bool(args.expected))]:
            print(line)
    for m in METRICS:
        c = m.column
        if row[c] is None:
            continue
        est = "  ESTIMATE" if row[f"{c}_estimated"] else ""
        # One sample has no spread: "IQR 0" read as a perfectly steady measurement.
        stats = (f"median of {row[f'{c}_n']}, IQR {row[f'{c}_spread']:.3g}" if row[f"{c}_n"] > 1
                 else "1 sample, no spread (more: profile.repeats=N)")
        print(f"  {m.name:<11} {row[c]:>14.6g} {row[f'{c}_unit']:<12} {stats}  [{row[f'{c}_source']}]{est}")
    if row["peak_memory_net_kb"] is not None and row["measure_mode"] == "process":
        print(f"  memory net of the interpreter's baseline ({profiler.baseline['interpreter_rss_kb']:.0f} KB): "
              f"{row['peak_memory_net_kb']:.0f} KB")
    elif row["peak_memory_net_kb"] is not None:
        print(f"  memory ({row['memory_kind']}) net of this mode's floor: {row['peak_memory_net_kb']:.4g} KB")
    if row["tracemalloc_peak_kb"] is not None and row["memory_kind"] != "tracemalloc_peak":   # else: the memory line
        print(f"  tracemalloc peak (Python allocations): {row['tracemalloc_peak_kb']:.4g} KB")
    if row["cpu_speed_cv"] is not None:
        spread = (row["latency_ms_spread"] / row["latency_ms"]) if row["latency_ms"] else None
        print("  " + steadiness_line(row["cpu_speed_cv"], row["timing_attempts"], cfg.steady_cv_max, row["measure_mode"],
                                     spread))
    return 0 if row["verdict"] == "passed" else 1


def _unrun_row(src, code: str, verdict: str, detail: str, tests: int) -> dict:
    """A --json row for a program that never ran, with every key a run's row has (nulls where nothing
    was measured): it printed 3 keys, so a script reading tests_total or latency_ms met a KeyError."""
    from hydra_ray.enrich.rows import arrow_schema
    from hydra_ray.metrics.names import METRICS

    node_only = {"node_id", "cpu_model", "cpu_id", "clock_hz", "interpreter_rss_kb", "interpreter_ms"}
    row: dict = {name: None for name in arrow_schema().names if name not in node_only}
    row.update(pair_id=src.stem, problem_id=src.stem, candidate=src.name, code=code, verdict=verdict,
               verdict_detail=detail, stderr_tail="", tests_passed=0, tests_total=tests)
    for spec in METRICS:
        row.update({f"{spec.column}_unit": spec.unit, f"{spec.column}_n": 0, f"{spec.column}_samples": []})
    return row


def _kb(value: float) -> str:
    """KB as a reader takes them: 13440, not 1.344e+04 (the interpreter's RSS floor in process mode)."""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.4g}"


def _pct(cv: float, cv_max: float) -> str:
    """The CV with enough digits that it visibly falls on its side of the threshold ("5.0% (> 5%)" did not)."""
    for digits in (1, 2, 3):
        text = f"{cv:.{digits}%}"
        if (float(text[:-1]) / 100 > cv_max) == (cv > cv_max):
            return text
    return f"{cv:.4%}"


WIDE_SPREAD = 0.2   # latency IQR over its median above which "steady" would mislead


def steadiness_line(cv: float, attempts: int, cv_max: float, mode: str = "inprocess",
                    latency_spread: float | None = None) -> str:
    """How steady the CPU was while timing, in words (the profiler's CPU speed probe). ``latency_spread``:
    the latency's IQR ÷ median; a wide one is said, since the probe (taken before each run) misses load
    that arrives during a run."""
    again = f", timed {attempts} times, the steadiest kept" if attempts > 1 else ""
    if cv <= cv_max and latency_spread is not None and latency_spread > WIDE_SPREAD:
        return (f"CPU speed probe steady (CV {_pct(cv, cv_max)} <= {cv_max:.0%}){again}, but the latency samples spread "
                f"widely (IQR {latency_spread:.0%} of the median): the probe runs before each run, so load that "
                "came during the runs is not in it; a quieter machine or more repeats (profile.repeats=N)")
    if cv <= cv_max:
        return f"CPU steady while timing: speed probe CV {_pct(cv, cv_max)} (<= {cv_max:.0%}){again}"
    if mode == "function":   # one probe per run, before loops spread over ~2/3 s: it says little here
        return (f"CPU UNSTEADY before timing: speed probe CV {_pct(cv, cv_max)} (> {cv_max:.0%}){again}; in function mode "
                "each sample is the fastest of many spread loops, so the latency spread above says more "
                "(more tries: profile.remeasure_unsteady=N)")
    return (f"CPU UNSTEADY while timing: speed probe CV {_pct(cv, cv_max)} (> {cv_max:.0%}){again}; the host's speed swung, "
            "so the spread above is partly the machine's (more tries: profile.remeasure_unsteady=N)")
