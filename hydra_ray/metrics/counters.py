"""What ``perf``/``valgrind`` count in each measurement mode: the program, not the interpreter (issue #13).

Both count a whole process, and a fresh ``python`` spends ~144M instructions starting up before the
first line of a program runs (cachegrind, Python 3.11, an empty program): more than 63% of the PIE
sample runs in ``bench_measure.py``'s ``work_cn`` records do themselves (median ~10M). Counted as it is, a pair whose loops are 3× apart counts 1.2× apart
(``tests/test_counters.py``: 3.0× in the two warm modes). So each mode counts
what its latency measures, as the difference of two counted processes:

- ``process``: the whole run, start-up included (like its latency);
- ``inprocess``: the run minus an empty program's run (one per round), i.e. compiling and running the
  program (inprocess latency leaves the compile out, which this count keeps);
- ``function``: per call, ``(count of 1 + N calls − count of 1 call) / N`` of the entry point, called
  as function mode calls it (:func:`call_harness`); the first call, which runs the imports of a whole
  program, is in both, so like the function-mode latency (and ``timeit``) a call leaves them out.

valgrind counts are exact and repeatable (the sandbox fixes ``PYTHONHASHSEED``), so the difference is
too. perf counts are not; their difference carries both runs' noise, hence ``N`` > 1. A difference
below zero (noise around a program that does next to nothing) is recorded as 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

EMPTY_PROGRAM = "__counter_empty__"
EMPTY_SOURCE = "pass\n"

# The entry point called `calls` times the way the warm runner's function mode calls it
# (hydra_ray/sandbox/_warm.py, _run_function), in a process of its own that the counter wraps.
# Placeholders rather than str.format: the program's source is full of braces.
_HARNESS = '''\
# hydra-ray counter harness (hydra_ray/metrics/counters.py): the program below, called __HYDRA_CALLS__
# time(s) as function mode calls it, so that perf/valgrind count its calls and not the interpreter.
import builtins as _builtins, io as _io, os as _os, sys as _sys, types as _types

_PATH = __HYDRA_PATH__
_CALL = __HYDRA_CALL__
_SOURCE = __HYDRA_SOURCE__


def _calls():
    # Outputs are checked by the correctness phase, not here: every call writes into a dropped buffer.
    _sys.stdout = _io.TextIOWrapper(_io.BytesIO(), encoding="utf-8")
    if _CALL is not None:   # setup (defines the function, calls it once), then the entry point
        main = _types.ModuleType("__main__")
        main.__file__, main.__builtins__ = _PATH, _builtins
        _sys.modules["__main__"] = main
        exec(compile(_SOURCE, _PATH, "exec"), main.__dict__)
        expr = compile(_CALL, "<entry point>", "eval")
        return lambda: eval(expr, main.__dict__)
    code = compile(_SOURCE, _PATH, "exec")
    stdin_copy = _os.dup(0)   # a program may close fd 0; each call gets it back, rewound

    def call():
        _os.dup2(stdin_copy, 0)
        _os.lseek(0, 0, _os.SEEK_SET)
        _sys.stdin = open(0, "r", encoding="utf-8", closefd=False)
        try:
            exec(code, {"__name__": "__main__", "__builtins__": _builtins, "__file__": _PATH})
        except SystemExit as e:
            if e.code not in (None, 0):
                raise
        _sys.stdout.flush()
    return call


_call = _calls()
for _ in range(__HYDRA_CALLS__ - (1 if _CALL is not None else 0)):   # with a call, setup made the first
    _call()
'''


def call_harness(source: str, call: str | None, calls: int, path: str = "prog.py") -> str:
    """A program that runs ``source`` and calls its entry point ``call`` (an expression; None: the whole
    program, stdin rewound each call) ``calls`` times in all, as function mode does."""
    if calls < 1:
        raise ValueError(f"call_harness: calls must be >= 1, got {calls!r}")
    # A program built with a call appends that call, so its setup already makes the first one.
    return (_HARNESS.replace("__HYDRA_CALLS__", str(int(calls))).replace("__HYDRA_PATH__", repr(path))
            .replace("__HYDRA_CALL__", repr(call)).replace("__HYDRA_SOURCE__", repr(source)))


@dataclass(frozen=True)
class Part:
    """One counted process of a candidate's figure: ``program`` (a key of the counted programs), its
    ``weight`` in the figure, and whether it runs once per test (else once per round, with no input)."""
    program: str
    weight: float
    per_test: bool = True


def counted_programs(programs: dict[str, str], names: list[str], mode: str, call: str | None,
                     extra_calls: int) -> tuple[dict[str, str], dict[str, list[Part]]]:
    """(the programs to run under the counter, each candidate's parts: its figure is Σ weight × count)."""
    if mode == "process":
        return dict(programs), {n: [Part(n, 1.0)] for n in names}
    if mode == "inprocess":
        return ({**programs, EMPTY_PROGRAM: EMPTY_SOURCE},
                {n: [Part(n, 1.0), Part(EMPTY_PROGRAM, -1.0, per_test=False)] for n in names})
    if mode == "function":
        if extra_calls < 1:
            raise ValueError(f"counted_programs: extra_calls must be >= 1, got {extra_calls!r}")
        out, parts = {}, {}
        for n in names:
            one, many = f"{n}@calls1", f"{n}@calls{1 + extra_calls}"
            out[one] = call_harness(programs[n], call, 1)
            out[many] = call_harness(programs[n], call, 1 + extra_calls)
            parts[n] = [Part(many, 1.0 / extra_calls), Part(one, -1.0 / extra_calls)]
        return out, parts
    raise ValueError(f"counted_programs: unknown mode {mode!r}")


def net_count(counts: list[tuple[Part, float]], n_tests: int) -> float:
    """A candidate's figure for one round from its parts' counts; a part run once per round stands for
    every test (an empty program's start-up is the same whatever the input). Never below 0."""
    total = 0.0
    for part, count in counts:
        total += part.weight * count * (1 if part.per_test else n_tests)
    return max(0.0, total)


def count_rounds(sandbox, ps, programs: dict[str, str], rounds: Sequence[Sequence[str]], mode: str, extra_calls: int,
                 prefix: Sequence[str], limits, parse: Callable[[str], float]) -> dict[str, list[float]]:
    """Each candidate's count per round (``rounds``: the candidates' order in each round) of what ``mode``
    measures, run under the counter ``prefix`` in ``sandbox``; ``parse`` reads a count from a run's stderr
    (ValueError: none). A round in which one of a candidate's runs failed yields no sample for it."""
    from hydra_ray.sandbox.runner import RunSpec

    names = list(rounds[0]) if rounds else []
    counted, parts = counted_programs(programs, names, mode, ps.function_call, extra_calls)
    specs, owners = [], []
    for rnd, order in enumerate(rounds):
        shared: set[str] = set()   # a part run once a round (the empty program) serves every candidate
        for name in order:
            for part in parts[name]:
                if not part.per_test and part.program in shared:
                    continue
                shared.add(part.program)
                for t in (ps.tests if part.per_test else [None]):
                    specs.append(RunSpec(part.program, t.input if t else "", argv_prefix=prefix,
                                         want_stdout=False, limits=limits))
                    owners.append((rnd, part.program))
    counts: dict[tuple[int, str], list[float]] = {}
    for key, run in zip(owners, sandbox.run_batch(counted, specs)):
        try:
            if not run.verdict.ok:
                raise ValueError(run.detail)
            count = parse(run.stderr_tail)
        except ValueError:
            count = math.nan  # that round yields no sample; n tells how many did
        counts.setdefault(key, []).append(count)
    out: dict[str, list[float]] = {n: [] for n in names}
    for rnd in range(len(rounds)):
        for name in names:
            got = [(part, c) for part in parts[name] for c in counts.get((rnd, part.program), [math.nan])]
            if not any(math.isnan(c) for _, c in got):
                out[name].append(net_count(got, len(ps.tests)))
    return out
