"""Evaluation suites: ``patterns``, ``pie-heldout``, ``humaneval``, or a JSONL file of one's own.

``load_tasks(cfg)`` resolves ``cfg.suite`` (an EvaluateConfig) and returns the tasks plus what the
outputs must record about where they came from (the held-out split's identity for ``pie-heldout``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra_ray.evaluate.tasks import Task

NAMED = ("patterns", "pie-heldout", "humaneval")


@dataclass(frozen=True)
class LoadedSuite:
    name: str
    tasks: list[Task]
    split: dict[str, Any] | None = None   # Split.record() for pie-heldout


def load_tasks(cfg: Any) -> LoadedSuite:
    suite = cfg.suite
    if suite == "patterns":
        from hydra_ray.evaluate.suites.patterns import load_suite

        p = cfg.patterns
        _check_pattern_names(p.names or [])
        tasks = list(load_suite(names=p.names or None, tests_per_size=p.tests_per_size, sizes=p.sizes,
                                base_seed=p.seed))
        return LoadedSuite(suite, tasks)
    if suite == "pie-heldout":
        from hydra_ray.evaluate.suites.pie import load_pairs, load_split

        split = load_split(cfg.pie.split)
        tasks = list(load_pairs(cfg.pie.path, split=split, max_pairs_per_problem=cfg.pie.max_pairs_per_problem,
                                max_tasks=cfg.pie.max_tasks, suite=suite))
        if not tasks:
            raise ValueError(f"pie-heldout: no pair with tests in {cfg.pie.path} belongs to a held-out problem "
                             f"of {cfg.pie.split}")
        return LoadedSuite(suite, tasks, split.record())
    if suite == "humaneval":
        from hydra_ray.evaluate.suites.humaneval import load_humaneval

        return LoadedSuite(suite, list(load_humaneval(cfg.humaneval.path, max_tasks=cfg.humaneval.max_tasks)))
    path = Path(suite)
    if path.suffix in (".jsonl", ".json") or path.exists():
        from hydra_ray.evaluate.suites.jsonl import load_jsonl_suite

        return LoadedSuite(path.stem, load_jsonl_suite(path))
    raise ValueError(f"suite: expected one of {list(NAMED)} or a path to a JSONL suite file, got {suite!r}"
                     f"{_did_you_mean(path.name, NAMED)}")


def _did_you_mean(name: str, known) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_pattern_names(names) -> None:
    from hydra_ray.evaluate.suites.patterns import pattern_names

    known = pattern_names()
    bad = [n for n in names if n not in known]
    if bad:
        raise ValueError("; ".join(f"patterns.names: unknown pattern {n!r}{_did_you_mean(n, known)}" for n in bad)
                         + f"; known: {', '.join(known)}")
