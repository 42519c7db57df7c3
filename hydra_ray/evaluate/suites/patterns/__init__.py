"""The ``patterns`` suite: small stdin→stdout programs, each with one well-known inefficiency.

Every pattern is a folder ``<name>/`` holding ``original.py`` (the inefficient program), ``better.py``
(a known better version) and ``gen.py``, which defines

- ``TITLE`` (one line), ``TABLE_III`` (True for the inefficiencies of the Hydra paper's Table III),
- ``SIZES`` = {"small": n, "medium": n, "large": n},
- ``generate(size, rng) -> str``: a test input of that size from a seeded ``random.Random``,
- ``reference(stdin) -> str``: the expected output, computed by code independent of both programs,
  so a broken original or candidate fails its tests instead of defining them.

The large size is chosen so that the original takes roughly 0.1 s or more on a laptop-class core.
"""
from __future__ import annotations

import importlib
import random
import zlib
from pathlib import Path
from types import ModuleType
from typing import Iterator, Sequence

from hydra_ray.evaluate.tasks import Task, TestCase

ROOT = Path(__file__).resolve().parent
SIZE_NAMES = ("small", "medium", "large")


def pattern_names() -> list[str]:
    return sorted(p.name for p in ROOT.iterdir() if (p / "gen.py").is_file())


def load_generator(name: str) -> ModuleType:
    if name not in pattern_names():
        raise KeyError(f"unknown pattern {name!r}; known: {', '.join(pattern_names())}")
    return importlib.import_module(f"{__name__}.{name}.gen")


def seed_for(name: str, size: int, index: int, base_seed: int = 0) -> int:
    """A stable seed per (pattern, size, test) — crc32, not hash(), which is salted per process."""
    return zlib.crc32(f"{name}:{size}:{index}:{base_seed}".encode())


def make_tests(name: str, size: int, count: int, base_seed: int = 0) -> list[TestCase]:
    gen = load_generator(name)
    tests = []
    for i in range(count):
        stdin = gen.generate(size, random.Random(seed_for(name, size, i, base_seed)))
        tests.append(TestCase(stdin, gen.reference(stdin), size))
    return tests


def load_pattern(name: str, *, tests_per_size: int = 2, sizes: Sequence[str] = SIZE_NAMES,
                 base_seed: int = 0) -> Task:
    gen = load_generator(name)
    unknown = [s for s in sizes if s not in gen.SIZES]
    if unknown:
        raise KeyError(f"pattern {name!r}: unknown size name(s) {unknown}; known: {list(gen.SIZES)}")
    chosen = {s: gen.SIZES[s] for s in sizes}
    tests = [t for n in chosen.values() for t in make_tests(name, n, tests_per_size, base_seed)]
    folder = ROOT / name
    return Task(
        id=f"patterns/{name}",
        original_code=(folder / "original.py").read_text(),
        better_code=(folder / "better.py").read_text(),
        tests=tests,
        sizes=tuple(chosen.values()),
        meta={"pattern": name, "title": gen.TITLE, "table_iii": bool(gen.TABLE_III),
              "size_labels": {str(n): s for s, n in chosen.items()}, "seed": base_seed},
        suite="patterns",
    )


def load_suite(*, names: Sequence[str] | None = None, tests_per_size: int = 2,
               sizes: Sequence[str] = SIZE_NAMES, base_seed: int = 0) -> Iterator[Task]:
    for name in names or pattern_names():
        yield load_pattern(name, tests_per_size=tests_per_size, sizes=sizes, base_seed=base_seed)
