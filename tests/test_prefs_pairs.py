"""Pair formation from enriched rows (hydra_ray.prefs.pairs) and the statistics built on it.

The rows here are hand-made candidates with synthetic metric samples (not measurements): they pin
the pairing rules — which pairs exist, which are skipped and why, who is the original, and when
significance is recomputed from samples.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hydra_ray.metrics.names import METRICS
from hydra_ray.metrics.stats import compare_samples
from hydra_ray.prefs.pairs import (EnrichedInputError, candidates_from_frame, form_pairs, passed_values,
                                   read_enriched)
from hydra_ray.prefs.summary import fast_vs_slow, speedups


def row(pair_id, cand, latency, *, verdict="passed", passed=3, total=3, code=None, sig=None, seed=0,
        energy=True):
    rng = np.random.default_rng(seed)
    r = {"pair_id": pair_id, "problem_id": pair_id.split(":")[0], "candidate": cand,
         "code": code or f"print({latency})  # {pair_id} {cand}", "verdict": verdict,
         "verdict_detail": "", "tests_passed": passed, "tests_total": total}
    base = {"latency_ms": latency, "peak_memory_kb": 9000.0, "cpu_cycles": latency * 3e6,
            "throughput_per_s": 1000.0 / latency, "energy_j": latency * 0.015}
    for m in METRICS:
        ok = verdict == "passed" and (energy or m.name != "energy")
        samples = list(base[m.column] * (1 + 0.01 * rng.standard_normal(7))) if ok else None
        r[m.column] = float(np.median(samples)) if ok else None
        r[f"{m.column}_samples"] = samples
        r[f"{m.column}_significant"] = sig
        r[f"{m.column}_source"] = "synthetic" if ok else None
        r[f"{m.column}_estimated"] = False
    return r


def pairing_of(rows, **kw):
    return form_pairs(candidates_from_frame(pd.DataFrame(rows)), **kw)


def test_pie_pair_orders_slow_first_and_uses_slow_as_original():
    p = pairing_of([row("p1:x-y", "fast", 50.0, seed=1), row("p1:x-y", "slow", 100.0, seed=2)])
    (pair,) = p.pairs
    assert (pair.a.candidate, pair.b.candidate) == ("slow", "fast")
    assert pair.original.candidate == "slow" and pair.fast_side == "b"


def test_group_of_n_gives_all_pairs_and_worst_latency_is_original():
    rows = [row("p2:set", str(i), lat, seed=i) for i, lat in enumerate([40.0, 90.0, 60.0, 75.0])]
    p = pairing_of(rows)
    assert len(p.pairs) == 4 * 3 // 2
    assert {(x.a.candidate, x.b.candidate) for x in p.pairs} == {("0", "1"), ("0", "2"), ("0", "3"),
                                                                ("1", "2"), ("1", "3"), ("2", "3")}
    assert all(x.original.candidate == "1" for x in p.pairs)
    capped = pairing_of(rows, max_pairs_per_group=2, seed=5)
    assert len(capped.pairs) == 2 and capped.skipped["over_group_cap"] == 4
    assert [x.key for x in capped.pairs] == [x.key for x in pairing_of(rows, max_pairs_per_group=2, seed=5).pairs]


def _old_cap(rows, cap, seed):
    """The rule before the cap counted usable pairs (kept here to show what it did): a seeded sample of
    ``cap`` of ALL a group's combinations, then the ineligible ones among them skipped."""
    import itertools

    from hydra_ray.prefs.dirichlet import rng_for
    from hydra_ray.prefs.pairs import group_candidates, skip_reason

    (g,) = group_candidates(candidates_from_frame(pd.DataFrame(rows)))
    combos = list(itertools.combinations(g, 2))
    keep = rng_for(seed, f"cap|{g[0].pair_id}").choice(len(combos), cap, replace=False)
    return [combos[i] for i in sorted(int(k) for k in keep) if skip_reason(*combos[i]) is None]


def _cap_group():
    """One problem, 12 candidates (66 pairs): 8 pass (28 eligible pairs), 4 give a wrong answer."""
    return ([row("p9:set", str(i), 40.0 * 1.3 ** i, seed=i) for i in range(8)]
            + [row("p9:set", str(i), 40.0, verdict="wrong_answer", seed=i) for i in range(8, 12)])


def test_the_cap_counts_usable_pairs_not_combinations():
    """max_pairs_per_group=20 on a group with 28 eligible pairs among 66: exactly 20 pairs, where the
    old rule (20 of all 66 drawn, then the ineligible skipped) kept fewer although 28 could be used.
    The other 8 eligible pairs are the cap's (over_group_cap); the 38 with a failing side are counted
    by their reason, as without a cap."""
    rows, cap = _cap_group(), 20
    assert len(_old_cap(rows, cap, seed=3)) < cap          # the old rule: 9 here
    p = pairing_of(rows, max_pairs_per_group=cap, seed=3)
    assert len(p.pairs) == cap
    assert dict(p.skipped) == {"over_group_cap": 8, "wrong_answer": 38}
    assert all(x.a.fully_passed and x.b.fully_passed for x in p.pairs)


def test_the_cap_is_seeded_and_independent_of_input_order():
    rows = _cap_group()
    keys = [x.key for x in pairing_of(rows, max_pairs_per_group=10, seed=3).pairs]
    for k in range(5):
        shuffled = [rows[i] for i in np.random.default_rng(k).permutation(len(rows))]
        assert [x.key for x in pairing_of(shuffled, max_pairs_per_group=10, seed=3).pairs] == keys
    assert [x.key for x in pairing_of(rows, max_pairs_per_group=10, seed=4).pairs] != keys
    # a higher cap keeps every pair a lower one kept (the same walk, stopped later)
    assert set(keys) < {x.key for x in pairing_of(rows, max_pairs_per_group=15, seed=3).pairs}


def test_the_cap_counts_pairs_that_give_an_example():
    """With label's test (a pair is usable when a draw labels it): candidates 0-3 run within 1% of one
    another, so their 6 pairs tie on every metric and no draw labels them (all_tied). The capped group
    still gives exactly ``cap`` labelled pairs; the all-tied pairs met on the way stay in as dropped
    draws, and the eligible pairs after the walk stopped are over_group_cap."""
    from hydra_ray.prefs.config import LabelConfig
    from hydra_ray.prefs.dataset import gives_example, label_pairs
    from hydra_ray.prefs.labels import Labeler

    rows = ([row("p8:set", str(i), 40.0 * (1 + 0.003 * i), seed=i) for i in range(4)]
            + [row("p8:set", str(i), 40.0 * 1.3 ** i, seed=i) for i in range(4, 10)])
    labeler = Labeler(LabelConfig(samples_per_pair=2))
    everything = pairing_of(rows)
    assert len(everything.pairs) == 45
    usable = sum(gives_example(x, labeler) for x in everything.pairs)
    assert usable == 39                                     # 45 pairs, less the 6 that all tie
    cap = 30
    p = pairing_of(rows, max_pairs_per_group=cap, seed=1, usable=lambda x: gives_example(x, labeler))
    result = label_pairs(p.pairs, labeler)
    assert len({e.pair.key for e in result.meta}) == cap
    tied = len(p.pairs) - cap
    assert tied > 0                                         # (2 with seed 1)
    assert p.skipped["over_group_cap"] == 45 - len(p.pairs) and result.dropped["all_tied"] == 2 * tied
    # eligibility alone (no test given) would take 30 pairs and label fewer
    plain = pairing_of(rows, max_pairs_per_group=cap, seed=1)
    assert len(plain.pairs) == cap and len({e.pair.key for e in label_pairs(plain.pairs, labeler).meta}) < cap


def test_significance_is_recomputed_from_samples_when_missing():
    """40 vs 90 ms with 1 % noise: Mann–Whitney separates 7 vs 7 samples (p ≈ 0.0006) and the effect is
    125 %, so latency is significant; memory is 9000 KB ± 1 % on both sides, effect < 2 %, a tie."""
    rows = [row("p2:set", "0", 40.0, seed=1), row("p2:set", "1", 90.0, seed=2), row("p2:set", "2", 41.0, seed=3)]
    p = pairing_of(rows)
    by = {(x.a.candidate, x.b.candidate): x for x in p.pairs}
    assert by[("0", "1")].significant["latency"] is True
    assert by[("0", "1")].significant["memory"] is False
    a, b = rows[0]["latency_ms_samples"], rows[2]["latency_ms_samples"]
    assert by[("0", "2")].significant["latency"] == compare_samples(a, b).significant


def test_enriched_significance_is_used_for_two_candidate_groups():
    p = pairing_of([row("p1:x-y", "slow", 100.0, sig=False, seed=1), row("p1:x-y", "fast", 50.0, sig=False, seed=2)])
    assert all(v is False for v in p.pairs[0].significant.values())


def test_ineligible_pairs_are_counted_by_reason():
    """s:1's two sources differ only in parentheses and a comment: the same syntax tree, so whatever was
    measured between them is noise (same_program); d:1 is the same text."""
    rows = [row("a:1", "slow", 100.0), row("a:1", "fast", 50.0, verdict="wrong_answer"),
            row("b:1", "slow", 100.0, verdict="timeout"), row("b:1", "fast", 50.0, verdict="runtime_error"),
            row("c:1", "slow", 100.0), row("c:1", "fast", 50.0, passed=2),
            row("d:1", "slow", 100.0, code="same"), row("d:1", "fast", 50.0, code="same"),
            row("s:1", "slow", 100.0, code="print((1 + 2))\n"), row("s:1", "fast", 50.0, code="print(1+2)  # tidied\n"),
            row("e:1", "slow", 100.0, passed=0, total=0), row("e:1", "fast", 50.0, passed=0, total=0),
            row("f:1", "0", 100.0),
            row("g:1", "slow", 100.0), row("g:1", "fast", 50.0)]
    p = pairing_of(rows)
    assert [x.pair_id for x in p.pairs] == ["g:1"]
    assert dict(p.skipped) == {"wrong_answer": 1, "runtime_error+timeout": 1, "incomplete_tests": 1,
                               "identical_code": 1, "same_program": 1, "no_tests": 1, "single_candidate": 1}


def test_pairs_timed_on_an_unsteady_cpu_are_skipped_only_when_asked():
    """max_cpu_speed_cv: a pair with a candidate above it is skipped as unsteady_cpu; rows without the
    column (enriched before the probe existed) and rows at or below it are kept; None keeps all."""
    def with_cv(r, cv):
        return {**r, "cpu_speed_cv": cv}
    rows = [with_cv(row("a:1", "slow", 100.0), 0.02), with_cv(row("a:1", "fast", 50.0), 0.02),
            with_cv(row("b:1", "slow", 100.0), 0.02), with_cv(row("b:1", "fast", 50.0), 0.12),
            with_cv(row("c:1", "slow", 100.0), None), with_cv(row("c:1", "fast", 50.0), None),
            with_cv(row("d:1", "slow", 100.0), 0.05), with_cv(row("d:1", "fast", 50.0), 0.05)]
    strict = pairing_of(rows, max_cpu_speed_cv=0.05)
    assert [x.pair_id for x in strict.pairs] == ["a:1", "c:1", "d:1"]
    assert dict(strict.skipped) == {"unsteady_cpu": 1}
    assert len(pairing_of(rows).pairs) == 4
    assert len(pairing_of([row("e:1", "slow", 100.0), row("e:1", "fast", 50.0)], max_cpu_speed_cv=0.05).pairs) == 1


def test_missing_metric_is_unknown_significance_and_excluded_from_speedups():
    p = pairing_of([row("p1:x-y", "slow", 100.0, seed=1), row("p1:x-y", "fast", 50.0, seed=2, energy=False)])
    (pair,) = p.pairs
    assert pair.b.raw["energy"] is None and pair.significant["energy"] is None
    sp = speedups(p.pairs)
    assert sp["energy"].size == 0
    assert sp["latency"][0] == pytest.approx(pair.a.raw["latency"] / pair.b.raw["latency"])
    fv = fast_vs_slow(p.pairs)
    assert fv["energy"]["missing"] == 1 and fv["latency"]["fast_better"] == 1
    assert fv["throughput"]["fast_better"] == 1      # higher-is-better orientation
    assert passed_values(p.groups)["energy"] == [pair.a.raw["energy"]]


def test_speedups_are_clipped_to_a_tenth_and_ten():
    p = pairing_of([row("p1:x-y", "slow", 5000.0, seed=1), row("p1:x-y", "fast", 5.0, seed=2)])
    assert speedups(p.pairs)["latency"][0] == 10.0


def test_a_zero_memory_value_sits_at_the_clip_and_two_zeros_are_a_tie():
    """No net memory (0 KB) is a measured value: fast 0 vs slow 9000 is 'fast better, beyond 10x' (10),
    the reverse 0.1, and 0 vs 0 a tie (1). They were left out of speedup.png before."""
    def with_memory(r, kb):
        return {**r, "peak_memory_kb": kb, "peak_memory_kb_samples": [kb] * 7}

    for fast_kb, slow_kb, want in ((0.0, 9000.0, 10.0), (9000.0, 0.0, 0.1), (0.0, 0.0, 1.0)):
        p = pairing_of([with_memory(row("p1:x-y", "slow", 100.0, seed=1), slow_kb),
                        with_memory(row("p1:x-y", "fast", 50.0, seed=2), fast_kb)])
        assert speedups(p.pairs)["memory"].tolist() == [want], (fast_kb, slow_kb)


def test_read_enriched_explains_what_is_expected(tmp_path):
    with pytest.raises(EnrichedInputError, match="is not a directory"):
        read_enriched(tmp_path / "nope")
    with pytest.raises(EnrichedInputError, match="hydra-ray enrich"):
        read_enriched(tmp_path)
    (tmp_path / "data").mkdir()
    pd.DataFrame([{"pair_id": "x"}]).to_parquet(tmp_path / "data" / "part.parquet")
    with pytest.raises(EnrichedInputError, match="lacks columns"):
        read_enriched(tmp_path)


def test_same_program_uses_the_enriched_key_and_computes_it_for_rows_enriched_before_it():
    """With a ``program_key`` column the enriched key decides (here two different texts given one key);
    a null key (a row from an older file in the same read) is computed from the code."""
    a, b = row("k:1", "slow", 100.0, code="x = 1\n"), row("k:1", "fast", 50.0, code="x = 2\n")
    p = pairing_of([{**a, "program_key": "k"}, {**b, "program_key": "k"}])
    assert dict(p.skipped) == {"same_program": 1}
    c, d = row("m:1", "slow", 100.0, code="x = (1)\n"), row("m:1", "fast", 50.0, code="x = 1\n")
    p = pairing_of([{**c, "program_key": None}, {**d, "program_key": None}])
    assert dict(p.skipped) == {"same_program": 1}
    assert [x.pair_id for x in pairing_of([a, b]).pairs] == ["k:1"]
