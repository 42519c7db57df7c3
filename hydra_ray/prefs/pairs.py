"""Enriched candidates → candidate pairs to label (pure: pandas/numpy, no Ray).

Input: the enriched Parquet files under ``ENRICHED_DIR/data/`` (one row per candidate, grouped by
``pair_id``; see the data contract). Rules, in order:

* **Pairs within a group.** A group of n candidates gives every unordered pair, n(n−1)/2 of them
  (per-problem candidate sets have n > 2), optionally capped by ``max_pairs_per_group`` (below, "The
  cap"). Side a is the earlier candidate: ``slow`` before ``fast`` for PIE groups, otherwise
  candidate ids in numeric order. Which side wins is decided by the labeller, not by the order.
* **The original program** shown in the prompt is one per group: the ``slow`` candidate for PIE groups,
  otherwise the candidate with the worst (highest) median latency; with no latency at all, the first.
* **Eligibility.** Only pairs whose two candidates both have verdict ``passed`` with every test
  passed (``tests_passed == tests_total > 0``) are labelled; the rest are counted by reason
  (the failing verdicts, ``incomplete_tests``, ``no_tests``, ``identical_code``, ``same_program``,
  ``single_candidate``). ``same_program``: the two sources differ only in formatting or comments (the
  same syntax tree, the enriched ``program_key``; computed from ``code`` for rows enriched before the
  column existed), so any difference measured between them is noise (:mod:`hydra_ray.data.programs`).
* **Significance** per metric: the enriched ``C_significant`` for 2-candidate groups when not null,
  else ``compare_samples(C_samples of a, C_samples of b)``; None (unknown, scored as a tie) when either
  side has no samples or no value.
* **A CPU that swung while timing** (optional, ``max_cpu_speed_cv``): a pair with a candidate whose
  enriched ``cpu_speed_cv`` (the profiler's CPU speed probe) is above it is skipped
  (``unsteady_cpu``): its wall-clock figures are partly the machine's. Rows without the column
  (enriched before it existed) are kept.
* **Roles for statistics.** ``fast``/``slow`` from PIE names, else the side with the lower median
  latency is ``fast`` (no roles when latency is missing or equal).
* **The cap** (``max_pairs_per_group``, 0 = none) counts *usable* pairs, so "at most 100 pairs per
  group" means at most 100 labelled pairs, not 100 combinations of which some are then skipped.
  Usable: eligible (above) and, when ``form_pairs`` is given a ``usable`` test, passing it (``label``
  passes "gives at least one example": a pair whose every weight draw is dropped, ``all_tied`` or
  ``below_epsilon``, is not usable). A group with more eligible pairs than the cap is walked in a
  seeded order (:func:`cap_rank`: a hash of ``seed`` and the pair's key, so it does not depend on
  the input's row order, its files, or the group's other pairs) and pairs are taken until
  ``max_pairs_per_group`` usable ones are in. Unusable pairs met on the way stay in (their draws
  are dropped and counted like any other's); the eligible pairs after that point are counted as
  ``over_group_cap``: not labelled because their group already had its cap. The walk stops there
  rather than testing every pair, since a test computes significance from samples (up to five rank
  tests, ~2 ms each on a 2-core VM) and the largest PIE problem alone has 4,186 pairs; so ``over_group_cap``
  counts eligible pairs, a few of which might have given no example. Ineligible pairs are counted
  by their reason in every group, capped or not. Raising the cap keeps every pair a lower one kept.
"""
from __future__ import annotations

import hashlib
import itertools
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from hydra_ray.data.programs import program_key
from hydra_ray.metrics.names import METRICS
from hydra_ray.metrics.stats import compare_samples
from hydra_ray.prefs.normalize import valid_value

REQUIRED_COLUMNS = ("pair_id", "problem_id", "candidate", "code", "verdict", "tests_passed", "tests_total",
                    *(m.column for m in METRICS))
ENRICH_HINT = ("expected Parquet files under ENRICHED_DIR/data/ with one row per candidate "
               "(pair_id, problem_id, candidate, code, verdict, metric columns …), as written by "
               "`hydra-ray enrich --output ENRICHED_DIR`")


class EnrichedInputError(ValueError):
    """The enriched input is missing, empty or lacks required columns."""


@dataclass
class Candidate:
    pair_id: str
    problem_id: str
    candidate: str
    code: str
    verdict: str
    tests_passed: int
    tests_total: int
    raw: dict[str, float | None]                     # metric name → median
    samples: dict[str, list[float] | None]
    significant: dict[str, bool | None]              # the enriched *_significant column
    source: dict[str, str | None] = field(default_factory=dict)
    estimated: dict[str, bool | None] = field(default_factory=dict)
    cpu_speed_cv: float | None = None                # the profiler's CPU speed probe while timing
    program_key: str | None = None                   # hash of the syntax tree (None: does not parse)

    @property
    def fully_passed(self) -> bool:
        return self.verdict == "passed" and self.tests_total > 0 and self.tests_passed == self.tests_total


@dataclass
class CandidatePair:
    pair_id: str
    problem_id: str
    a: Candidate
    b: Candidate
    original: Candidate
    significant: dict[str, bool | None]
    fast_side: str | None                            # "a"/"b": which side is the fast one, for stats

    @property
    def key(self) -> str:
        return f"{self.pair_id}|{self.a.candidate}|{self.b.candidate}"


@dataclass
class Pairing:
    groups: list[list[Candidate]]
    pairs: list[CandidatePair]
    skipped: Counter                                 # reason → number of pairs (or groups) not labelled


# ---- reading ------------------------------------------------------------------------------------

def enriched_files(input_dir: str | Path) -> list[Path]:
    d = Path(input_dir)
    if not d.is_dir():
        raise EnrichedInputError(f"{d} is not a directory; {ENRICH_HINT}")
    files = sorted((d / "data").glob("**/*.parquet")) if (d / "data").is_dir() else []
    if not files:
        raise EnrichedInputError(f"no Parquet files under {d / 'data'}; {ENRICH_HINT}")
    return files


def read_enriched(input_dir: str | Path):
    """All enriched rows as one pandas DataFrame; errors name what is missing and how to produce it."""
    import pandas as pd
    import pyarrow.parquet as pq

    frames = [pq.read_table(f).to_pandas() for f in enriched_files(input_dir)]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if df.empty:
        raise EnrichedInputError(f"the Parquet files under {Path(input_dir) / 'data'} hold no rows; {ENRICH_HINT}")
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise EnrichedInputError(f"enriched data in {input_dir} lacks columns {missing}; {ENRICH_HINT}")
    return df


def _opt_bool(v: Any) -> bool | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    try:
        import pandas as pd
        if v is pd.NA:
            return None
    except ImportError:  # pragma: no cover
        pass
    return bool(v)


def _samples(v: Any) -> list[float] | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    xs = [float(x) for x in v if x is not None and math.isfinite(float(x))]
    return xs or None


def _count(v: Any) -> int:
    return 0 if v is None or (isinstance(v, float) and math.isnan(v)) else int(v)


def _program_key(enriched: Any, code: Any) -> str | None:
    """The enriched ``program_key``, or (rows enriched before the column, or null) computed from the code."""
    return enriched if isinstance(enriched, str) else program_key(str(code or ""))


def candidates_from_frame(df) -> list[Candidate]:
    cols = set(df.columns)
    out = []
    for rec in df.to_dict("records"):
        def get(c: str) -> Any:
            return rec.get(c) if c in cols else None
        out.append(Candidate(
            pair_id=str(rec["pair_id"]), problem_id=str(rec["problem_id"]), candidate=str(rec["candidate"]),
            code=str(rec["code"] or ""), verdict=str(rec["verdict"]),
            tests_passed=_count(rec["tests_passed"]), tests_total=_count(rec["tests_total"]),
            raw={m.name: valid_value(get(m.column)) for m in METRICS},
            samples={m.name: _samples(get(f"{m.column}_samples")) for m in METRICS},
            significant={m.name: _opt_bool(get(f"{m.column}_significant")) for m in METRICS},
            source={m.name: (None if get(f"{m.column}_source") is None else str(get(f"{m.column}_source")))
                    for m in METRICS},
            estimated={m.name: _opt_bool(get(f"{m.column}_estimated")) for m in METRICS},
            cpu_speed_cv=valid_value(get("cpu_speed_cv")),
            program_key=_program_key(get("program_key"), rec["code"]),
        ))
    return out


# ---- pairing ------------------------------------------------------------------------------------

def _order_key(c: Candidate) -> tuple:
    pie = {"slow": 0, "fast": 1}
    if c.candidate in pie:
        return (0, pie[c.candidate], "")
    if c.candidate.isdigit():
        return (1, int(c.candidate), "")
    return (2, 0, c.candidate)


def group_candidates(cands: Iterable[Candidate]) -> list[list[Candidate]]:
    groups: dict[str, list[Candidate]] = {}
    for c in cands:
        groups.setdefault(c.pair_id, []).append(c)
    return [sorted(groups[k], key=_order_key) for k in sorted(groups)]


def original_of(group: list[Candidate]) -> Candidate:
    for c in group:
        if c.candidate == "slow":
            return c
    timed = [c for c in group if c.raw["latency"] is not None]
    return max(timed, key=lambda c: c.raw["latency"]) if timed else group[0]


def pair_significance(a: Candidate, b: Candidate, two_candidate_group: bool, *, alpha: float,
                      min_effect: float) -> dict[str, bool | None]:
    out: dict[str, bool | None] = {}
    for m in METRICS:
        given = a.significant[m.name] if a.significant[m.name] is not None else b.significant[m.name]
        if a.raw[m.name] is None or b.raw[m.name] is None:
            out[m.name] = None
        elif two_candidate_group and given is not None:
            out[m.name] = given
        elif a.samples[m.name] and b.samples[m.name]:
            out[m.name] = compare_samples(a.samples[m.name], b.samples[m.name], alpha=alpha,
                                          min_effect=min_effect).significant
        else:
            out[m.name] = None
    return out


def _fast_side(a: Candidate, b: Candidate) -> str | None:
    if {a.candidate, b.candidate} == {"slow", "fast"}:
        return "a" if a.candidate == "fast" else "b"
    la, lb = a.raw["latency"], b.raw["latency"]
    if la is None or lb is None or la == lb:
        return None
    return "a" if la < lb else "b"


def skip_reason(a: Candidate, b: Candidate, max_cpu_speed_cv: float | None = None) -> str | None:
    bad = sorted({c.verdict for c in (a, b) if c.verdict != "passed"})
    if bad:
        return "+".join(bad)
    if a.tests_total == 0 or b.tests_total == 0:
        return "no_tests"
    if not (a.fully_passed and b.fully_passed):
        return "incomplete_tests"
    if a.code.strip() == b.code.strip():
        return "identical_code"
    if a.program_key is not None and a.program_key == b.program_key:
        return "same_program"
    if max_cpu_speed_cv is not None and any(c.cpu_speed_cv is not None and c.cpu_speed_cv > max_cpu_speed_cv
                                            for c in (a, b)):
        return "unsteady_cpu"
    return None


def cap_rank(seed: int, key: str) -> bytes:
    """Where a pair (its :attr:`CandidatePair.key`) comes in a capped group's walk (module doc, "The
    cap"): a hash of ``seed`` and the key alone, so the order is the same whatever the input order."""
    return hashlib.sha256(f"{seed}|cap|{key}".encode("utf-8")).digest()


def form_pairs(cands: Iterable[Candidate], *, significance_alpha: float = 0.05,
               significance_min_effect: float = 0.02, max_pairs_per_group: int = 0,
               seed: int = 0, max_cpu_speed_cv: float | None = None,
               usable: Callable[[CandidatePair], bool] | None = None) -> Pairing:
    """Pairs to label (module doc). ``usable``: which eligible pairs count against
    ``max_pairs_per_group`` (None: every eligible pair); it is asked only in groups with more eligible
    pairs than the cap, once per pair walked."""
    groups = group_candidates(cands)
    pairs: list[CandidatePair] = []
    skipped: Counter = Counter()
    for g in groups:
        if len(g) < 2:
            skipped["single_candidate"] += 1
            continue
        original = original_of(g)

        def pair_of(a: Candidate, b: Candidate) -> CandidatePair:
            sig = pair_significance(a, b, len(g) == 2, alpha=significance_alpha,
                                    min_effect=significance_min_effect)
            return CandidatePair(a.pair_id, a.problem_id, a, b, original, sig, _fast_side(a, b))

        eligible = []                      # (a, b) in combination order
        for a, b in itertools.combinations(g, 2):
            reason = skip_reason(a, b, max_cpu_speed_cv)
            if reason:
                skipped[reason] += 1
            else:
                eligible.append((a, b))
        if not max_pairs_per_group or len(eligible) <= max_pairs_per_group:
            pairs.extend(pair_of(a, b) for a, b in eligible)
            continue
        walk = sorted(range(len(eligible)), key=lambda i: cap_rank(
            seed, f"{eligible[i][0].pair_id}|{eligible[i][0].candidate}|{eligible[i][1].candidate}"))
        taken: dict[int, CandidatePair] = {}
        n_usable = 0
        for step, i in enumerate(walk):
            if n_usable == max_pairs_per_group:
                skipped["over_group_cap"] += len(walk) - step
                break
            taken[i] = pair = pair_of(*eligible[i])
            n_usable += usable is None or bool(usable(pair))
        pairs.extend(taken[i] for i in sorted(taken))
    return Pairing(groups, pairs, skipped)


def passed_values(groups: list[list[Candidate]]) -> dict[str, list[float]]:
    """Metric → raw medians of every fully-passed candidate (what a dataset-fitted normaliser sees)."""
    out: dict[str, list[float]] = {m.name: [] for m in METRICS}
    for g in groups:
        for c in g:
            if c.fully_passed:
                for m in METRICS:
                    if c.raw[m.name] is not None:
                        out[m.name].append(float(c.raw[m.name]))
    return out


__all__ = ["Candidate", "CandidatePair", "Pairing", "EnrichedInputError", "read_enriched", "enriched_files",
           "candidates_from_frame", "form_pairs", "passed_values", "original_of", "skip_reason", "cap_rank",
           "group_candidates"]
