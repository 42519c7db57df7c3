"""The ``patterns`` suite: programs really pass their independently computed tests, broken versions
fail them, and (slow) the large size is slow for the original and clearly faster for the better one.

Programs are run with plain ``subprocess.run`` — a correctness check, not the project's sandbox."""
from __future__ import annotations

import random
import resource
import subprocess
import sys

import pytest

from hydra_ray.evaluate.suites import patterns as P

NAMES = P.pattern_names()


def run_program(code: str, stdin: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], input=stdin, capture_output=True, text=True,
                          timeout=timeout)


def same_output(out: str, expected: str) -> bool:
    strip = lambda s: [line.rstrip() for line in s.rstrip().splitlines()]  # noqa: E731
    return strip(out) == strip(expected)


def passes(code: str, tests) -> bool:
    for t in tests:
        r = run_program(code, t.input)
        if r.returncode != 0 or not same_output(r.stdout, t.expected):
            return False
    return True


def test_catalogue_covers_table_iii_and_more():
    gens = {n: P.load_generator(n) for n in NAMES}
    table3 = [n for n, g in gens.items() if g.TABLE_III]
    assert len(table3) == 7, table3
    assert len(NAMES) - len(table3) >= 8
    for n, g in gens.items():
        assert set(g.SIZES) == {"small", "medium", "large"}, n
        assert g.SIZES["small"] < g.SIZES["medium"] < g.SIZES["large"], n
        assert g.TITLE and g.__doc__, n
        folder = P.ROOT / n
        assert (folder / "original.py").is_file() and (folder / "better.py").is_file()


def test_tasks_carry_three_sizes_and_deterministic_inputs():
    a = P.load_pattern("bubble_sort", tests_per_size=2)
    b = P.load_pattern("bubble_sort", tests_per_size=2)
    assert a.tests == b.tests                       # same seed, same tests
    assert len(a.sizes) == 3 and len(a.tests) == 6
    assert a.at_size(a.sizes[0]).tests == a.tests[:2]
    c = P.load_pattern("bubble_sort", tests_per_size=2, base_seed=1)
    assert c.tests != a.tests                       # the seed matters
    assert a.size_label(a.largest_size) == "large"


@pytest.mark.parametrize("name", NAMES)
def test_expected_outputs_discriminate_between_inputs(name):
    """A program that ignores its input (prints a constant) cannot pass: the expected outputs of a
    size's test inputs differ."""
    gen = P.load_generator(name)
    size = gen.SIZES["medium"]
    outs = {gen.reference(gen.generate(size, random.Random(P.seed_for(name, size, i)))) for i in range(3)}
    assert len(outs) > 1


@pytest.mark.parametrize("name", NAMES)
def test_original_and_better_pass_small_tests(name):
    task = P.load_pattern(name, tests_per_size=2, sizes=["small"])
    assert passes(task.original_code, task.tests), "original fails its tests"
    assert passes(task.better_code, task.tests), "better fails its tests"


MUTANTS = [
    ("triangular_sum", "original.py", "range(1, n + 1)", "range(1, n)"),
    ("bubble_sort", "original.py", "range(len(a) - 1 - i)", "range(len(a) - 2 - i)"),
    ("fib_no_memo", "original.py", "if n < 2:", "if n < 3:"),
    ("redundant_sort", "original.py", "print(ordered[k])", "print(ordered[k - 1])"),
    ("str_find_vs_set", "original.py", 'text.find(" " + w + " ")', "text.find(w)"),
    ("nested_loop_filter", "original.py", "            break\n", ""),
    ("quadratic_dedup", "better.py", "dict.fromkeys(xs)", "set(xs)"),
    ("pop_front", "better.py", "queue.rotate(1 - k)", "queue.rotate(-k)"),
    ("count_in_loop", "better.py", "counts[x] == 1", "counts[x] <= 2"),
]


@pytest.mark.parametrize("name, file, old, new", MUTANTS, ids=[m[0] for m in MUTANTS])
def test_broken_programs_fail(name, file, old, new):
    """Expected outputs come from each pattern's own reference, not from running the original, so
    a subtly wrong program fails."""
    code = (P.ROOT / name / file).read_text()
    assert old in code
    task = P.load_pattern(name, tests_per_size=3, sizes=["small"])
    assert not passes(code.replace(old, new, 1), task.tests)


def best_cpu_time(code: str, stdin: str, runs: int = 3) -> float:
    """Least user+system CPU seconds of the child over ``runs`` runs. CPU time, not wall time, so
    other work on a busy machine does not blur the comparison."""
    times = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        r = run_program(code, stdin)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        assert r.returncode == 0, r.stderr[-500:]
    return min(times)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_all_sizes_pass_and_large_size_separates(name):
    """At the large size the original takes ≥ ~0.1 s and the better version is clearly faster
    (best of three runs' CPU time, interpreter start-up included, so the margin is conservative)."""
    task = P.load_pattern(name, tests_per_size=1)
    assert passes(task.original_code, task.tests)
    assert passes(task.better_code, task.tests)
    large = task.at_size(task.largest_size).tests[0].input
    t_orig = best_cpu_time(task.original_code, large)
    t_better = best_cpu_time(task.better_code, large)
    assert t_orig >= 0.09, f"original takes only {t_orig:.3f} s at the large size"
    assert t_better <= 0.85 * t_orig, f"better {t_better:.3f} s vs original {t_orig:.3f} s"
