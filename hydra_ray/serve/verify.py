"""Verify and measure candidates in the sandbox, then score them against the original (no Ray).

The verification deployment holds one :class:`VerificationEngine`; tests use it directly too.

1. :meth:`VerificationEngine.prepare` runs the original once on the request's tests (its output must
   match: an original that fails its own tests cannot be optimised against them) and on the inputs
   (differential testing: the original's stdout *becomes* the expected output). With neither, the
   program's behaviour on empty stdin is what must be preserved.
2. :meth:`VerificationEngine.evaluate` settles what needs no sandbox (no code block in the completion,
   code that does not parse, the original returned unchanged, a duplicate of an earlier candidate; the
   last two by syntax tree, so a reformatted copy is one too: :mod:`hydra_ray.data.programs`),
   then profiles the original and the remaining candidates as one program set — one sandbox session
   per phase, timings interleaved — and scores each survivor against the original
   (:mod:`hydra_ray.serve.ranking`).

Hostile candidates (endless loops, fork bombs, memory hogs, floods of output, killing the runner)
end as verdicts from the sandbox's limits; nothing here runs candidate code outside it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from hydra_ray.data.programs import program_key, syntax_problem
from hydra_ray.data.schema import Candidate, ProgramSet, TestCase
from hydra_ray.metrics.names import BY_COLUMN
from hydra_ray.metrics.candidate_result import CandidateResult, MetricValue
from hydra_ray.metrics.profiler import ProfileConfig, Profiler
from hydra_ray.prefs.labels import Labeler
from hydra_ray.sandbox.runner import RunSpec
from hydra_ray.serve.ranking import Entry, Score, rank, score_against_original

REJECTED = "rejected"       # settled without running: no code, or code that does not parse
PASSED = "passed"


class OriginalFailed(ValueError):
    """The original program does not pass its own tests or crashes on an input."""


@dataclass
class Prepared:
    original: str
    tests: list[TestCase]
    n_given: int
    n_differential: int
    float_tol: float | None = None
    seconds: float = 0.0


@dataclass
class Report:
    """One program's outcome: verdict, metrics (by column) and, for candidates, its score."""

    index: int                    # -1 for the original
    code: str | None
    verdict: str
    detail: str = ""
    tests_passed: int = 0
    tests_total: int = 0
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)     # metric name -> samples (for scoring)
    measured: bool = False
    duplicate_of: int | None = None
    score: Score | None = None
    stderr_tail: str = ""
    peak_memory_net_kb: float | None = None
    mode: str = ""                # measurement mode used (profile.mode, or its fallback)
    mode_reason: str = ""
    cpu_speed_cv: float | None = None   # the profiler's CPU speed probe while this program was timed


@dataclass
class Evaluation:
    original: Report
    candidates: list[Report]
    order: list[int]
    best: int | None
    reason: str
    seconds: float


def metric_view(mv: MetricValue) -> dict[str, Any]:
    s = mv.summary
    return {"value": mv.value, "unit": mv.unit, "source": mv.source, "estimated": mv.estimated,
            "n": s.n if s else 0, "iqr": s.iqr if s else None}


def _report(index: int, res: CandidateResult) -> Report:
    return Report(index, res.code, res.verdict.value, res.detail, res.tests_passed, res.tests_total,
                  {c: metric_view(mv) for c, mv in res.metrics.items()},
                  {BY_COLUMN[c].name: list(mv.samples) for c, mv in res.metrics.items()},
                  measured=bool(res.metrics), stderr_tail=res.stderr_tail[-2000:],
                  peak_memory_net_kb=res.peak_memory_net_kb, mode=res.mode, mode_reason=res.mode_reason,
                  cpu_speed_cv=res.cpu_speed_cv)


class VerificationEngine:
    def __init__(self, profile: ProfileConfig, labeler: Labeler):
        # One look: a request ranks candidates by its own comparison against the original (ranking.py) on
        # the samples, which more rounds chosen by a first look would bias; and a reply should not wait on them.
        self.profile_cfg = profile.replace(extra_repeats=0)
        self.profiler = Profiler(self.profile_cfg)
        self.labeler = labeler

    @property
    def sandbox(self):
        return self.profiler.sandbox

    def describe(self) -> dict[str, Any]:
        return {"isolation": self.profiler.baseline["isolation"], "cycles_source": self.profiler.cycles_source,
                "energy_source": self.profiler.energy_source, "cpu_model": self.profiler.baseline["cpu_model"],
                "repeats": self.profile_cfg.repeats, "normalization": self.labeler.config.normalization,
                "mode": self.profile_cfg.mode, "floors": self.profiler.baseline["floors"]}

    # ---- 1. the original ---------------------------------------------------------------------
    def prepare(self, original: str, tests: Sequence[TestCase] = (), inputs: Sequence[str] = (),
                float_tol: float | None = None) -> Prepared:
        t0 = time.perf_counter()
        tests = list(tests)
        inputs = list(inputs) if (inputs or tests) else [""]
        specs = [RunSpec("original", t.input, t.expected, float_tol=float_tol) for t in tests]
        specs += [RunSpec("original", i) for i in inputs]
        runs = self.sandbox.run_batch({"original": original}, specs)
        for k, run in enumerate(runs[:len(tests)]):
            if not run.verdict.ok:
                raise OriginalFailed(f"the original program fails test {k + 1}/{len(tests)}: {run.verdict.value}"
                                     f" ({run.detail}); candidates are verified against these tests, so fix the "
                                     "program or the test first")
        differential = []
        for k, run in enumerate(runs[len(tests):]):
            if not run.verdict.ok:
                which = f"input {k + 1}/{len(inputs)}" if (len(inputs) > 1 or inputs[0]) else "empty stdin"
                raise OriginalFailed(f"the original program fails on {which}: {run.verdict.value} ({run.detail}); "
                                     "differential testing needs inputs on which it runs cleanly")
            differential.append(TestCase(inputs[k], run.stdout))
        return Prepared(original, tests + differential, len(tests), len(differential), float_tol,
                        time.perf_counter() - t0)

    # ---- 2. the candidates -------------------------------------------------------------------
    def evaluate(self, prepared: Prepared, codes: Sequence[str | None], weights: Sequence[float]) -> Evaluation:
        t0 = time.perf_counter()
        reports: list[Report | None] = [None] * len(codes)
        first_of: dict[str, int] = {}
        to_run: list[int] = []
        # The same syntax tree is the same program: formatting and comments change nothing to measure.
        original_key = program_key(prepared.original) or prepared.original.strip()
        for i, code in enumerate(codes):
            if code is None or not code.strip():
                reports[i] = Report(i, code, REJECTED, "no complete ```python code block in the completion")
                continue
            problem = syntax_problem(code)
            if problem:
                reports[i] = Report(i, code, REJECTED, f"does not parse as Python 3: {problem}")
                continue
            key = program_key(code) or code.strip()
            if key == original_key:
                reports[i] = Report(i, code, "unchanged", "identical to the original program"
                                    if code.strip() == prepared.original.strip() else
                                    "the original program reformatted: the same syntax tree, only formatting "
                                    "or comments differ")
                continue
            if key in first_of:
                reports[i] = Report(i, code, "duplicate", f"same program as candidate {first_of[key]}"
                                    + ("" if code.strip() == codes[first_of[key]].strip() else
                                       " (the same syntax tree; only formatting or comments differ)"),
                                    duplicate_of=first_of[key])
                continue
            first_of[key] = i
            to_run.append(i)
        ps = ProgramSet("request", "request",
                        [Candidate("original", prepared.original)] + [Candidate(f"c{i}", codes[i]) for i in to_run],
                        list(prepared.tests), prepared.float_tol)
        results = self.profiler.profile(ps)
        original = _report(-1, results[0])
        for i, res in zip(to_run, results[1:]):
            reports[i] = _report(i, res)
        cfg = self.profile_cfg
        if original.verdict == PASSED:
            for rep in reports:
                if rep is not None and rep.verdict == PASSED and rep.measured:
                    rep.score = score_against_original(rep.samples, original.samples, weights, self.labeler,
                                                       alpha=cfg.significance_alpha, min_effect=cfg.min_effect)
        final: list[Report] = []
        for rep in reports:
            assert rep is not None
            if rep.duplicate_of is not None:   # same outcome as its first occurrence; ties rank the first higher
                # Everything its first occurrence measured (a field added later included), under its own
                # index, code and detail.
                rep = replace(reports[rep.duplicate_of], index=rep.index, code=rep.code, detail=rep.detail,
                              duplicate_of=rep.duplicate_of)
            final.append(rep)
        ranking = rank([Entry(r.index, r.verdict, r.score, r.duplicate_of is not None) for r in final])
        reason = ranking.reason
        if original.verdict != PASSED:
            reason = (f"the original program did not pass when measured again ({original.verdict}: "
                      f"{original.detail}); nothing can be compared, returning the original")
        return Evaluation(original, final, ranking.order, ranking.best, reason, time.perf_counter() - t0)

    # ---- /v1/profile -------------------------------------------------------------------------
    def profile_one(self, code: str, tests: Sequence[TestCase] = (), inputs: Sequence[str] = (),
                    float_tol: float | None = None) -> Report:
        cases = list(tests) + [TestCase(i, None) for i in inputs]
        ps = ProgramSet("profile", "profile", [Candidate("program", code)], cases or [TestCase("", None)], float_tol)
        return _report(0, self.profiler.profile(ps)[0])

