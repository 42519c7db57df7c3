"""The profiler's settings (``profile:`` in every preset), validated on construction.

Two looks (sequential testing; not in the paper, README "Differences from the paper"): a 2-candidate
set is compared after its ``repeats`` rounds at level ``(1 - extra_alpha_share) * significance_alpha``.
When its latency difference is inconclusive there, ``extra_repeats`` more rounds are timed (ABBA order
continued, usually on a different stretch of a swinging CPU) and every metric is compared again over
all the samples at ``extra_alpha_share * significance_alpha``. A metric is significant at either look;
the two levels add up to ``significance_alpha``, so under "no difference" the chance of a false claim
stays at most ``significance_alpha`` (a union bound, whatever the dependence between the looks). At 5
rounds the first level (0.04 of 0.05) decides exactly as 0.05 would: no two-sided Mann-Whitney p of 5
against 5 lies in between. Rows record ``timing_rounds``.

Enough samples to compare (:meth:`ProfileConfig.comparison_problems`): at each look, ``n`` samples a
side must be able to reach its level at all (two-sided Mann-Whitney, n against n, smallest p =
2 / C(2n, n)). That is checked where a comparison is planned, not on construction: by
``EnrichConfig`` (the two candidates of a pair are compared in these looks, larger sets by ``label``
from the same samples) and by serve's ``VerificationSection`` (candidates against the original).
``hydra-ray profile`` measures one program and compares nothing, so ``profile.repeats=3`` is fine
there (:class:`hydra_ray.enrich.config.OneProgramConfig`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from hydra_ray.config import Config, in_range, one_of, positive
from hydra_ray.sandbox.limits import SandboxLimits
from hydra_ray.sandbox.modes import MODES


@dataclass
class ProfileConfig(Config):
    warmup: int = 1
    repeats: int = 5
    throughput_bursts: int = 5
    throughput_burst_runs: int = 1        # back-to-back passes over all tests per burst
    cycles_backend: str = "auto"          # auto | perf | valgrind | estimate
    energy_backend: str = "auto"          # auto | rapl | estimate
    valgrind_time_factor: float = 80.0    # valgrind runs ~40x slower; its time limits scale by this
    significance_alpha: float = 0.05
    min_effect: float = 0.02              # relative difference of medians below this is never "significant"
    mode: str = "inprocess"               # process | inprocess | function (see the module docstring)
    function_min_calls: int = 1           # function mode: each sample is at least this many calls ...
    function_min_sample_ms: float = 0.5   # ... and at least this long (timeit-style auto-ranging)
    function_loops: int = 120             # loops per run; the fastest is the run's sample (timeit.repeat):
    #                                       short loops, many of them, so that some fit in a fast stretch ...
    function_loop_gap_ms: float = 5.0     # ... and this far apart, so they span ~2/3 s of a swinging host CPU
    floor_multiple: float = 3.0           # a difference must exceed this × the spread of the mode's floor
    steady_cv_max: float = 0.05           # the CPU speed probe's CV at most this: the set was timed on a steady CPU
    remeasure_unsteady: int | None = None  # time a set again (at most this often) when the probe was above that;
    #                                       None: 1, but 0 in function mode (its many spread loops already ride the swing)
    extra_repeats: int = 10               # a pair inconclusive in latency after `repeats` rounds: this many more, once
    extra_alpha_share: float = 0.2        # of significance_alpha, spent on that second look (the first gets the rest)
    counter_calls: int = 3                # function mode, perf/valgrind: (count of 1 + this many calls - 1 call) / this
    sandbox: SandboxLimits = field(default_factory=SandboxLimits)

    def _check(self, errors: list[str]) -> None:
        positive(errors, "warmup", self.warmup, allow_zero=True)
        positive(errors, "repeats", self.repeats)
        positive(errors, "throughput_bursts", self.throughput_bursts)
        positive(errors, "extra_repeats", self.extra_repeats, allow_zero=True)
        in_range(errors, "extra_alpha_share", self.extra_alpha_share, 0.01, 0.99)
        positive(errors, "throughput_burst_runs", self.throughput_burst_runs)
        one_of(errors, "cycles_backend", self.cycles_backend, ("auto", "perf", "valgrind", "estimate"))
        one_of(errors, "energy_backend", self.energy_backend, ("auto", "rapl", "estimate"))
        positive(errors, "valgrind_time_factor", self.valgrind_time_factor)
        in_range(errors, "significance_alpha", self.significance_alpha, 1e-6, 0.5)
        in_range(errors, "min_effect", self.min_effect, 0.0, 10.0)
        one_of(errors, "mode", self.mode, MODES)
        positive(errors, "function_min_calls", self.function_min_calls)
        positive(errors, "function_min_sample_ms", self.function_min_sample_ms)
        positive(errors, "function_loops", self.function_loops)
        positive(errors, "counter_calls", self.counter_calls)
        positive(errors, "function_loop_gap_ms", self.function_loop_gap_ms, allow_zero=True)
        positive(errors, "floor_multiple", self.floor_multiple, allow_zero=True)
        in_range(errors, "steady_cv_max", self.steady_cv_max, 0.0, 1.0)
        if self.remeasure_unsteady is not None:
            positive(errors, "remeasure_unsteady", self.remeasure_unsteady, allow_zero=True)

    def comparison_problems(self, second_look: bool = True) -> list[str]:
        """``field: why`` for each look (module doc) at which no difference could ever be significant:
        too few samples a side for a two-sided Mann-Whitney test to reach the look's level. For the
        configs that plan comparisons (enrich, serve) to add to their checks; empty when the counts or
        levels are themselves invalid (their own checks say so). ``second_look=False``: for a caller
        that measures without ``extra_repeats`` (serve), whose one look gets all of ``significance_alpha``."""
        counts = (self.repeats, self.throughput_bursts, self.extra_repeats)
        valid_counts = all(isinstance(n, int) and not isinstance(n, bool) for n in counts) and (
            min(counts[:2]) >= 1 and counts[2] >= 0)
        levels: list[str] = []
        in_range(levels, "significance_alpha", self.significance_alpha, 1e-6, 0.5)
        in_range(levels, "extra_alpha_share", self.extra_alpha_share, 0.01, 0.99)
        if not valid_counts or levels:
            return []
        problems = []
        first, second = self.look_alphas() if second_look else (self.significance_alpha, 0.0)
        looks = [("repeats", self.repeats, first), ("throughput_bursts", self.throughput_bursts, first)]
        if self.extra_repeats and second_look:
            looks.append(("extra_repeats", self.repeats + self.extra_repeats, second))
        for name, n, alpha in looks:
            smallest_p = 2 / math.comb(2 * n, n)  # two-sided Mann-Whitney, n vs n, complete separation
            if smallest_p >= alpha:
                what = "" if name != "extra_repeats" else f"repeats + {name} = "
                problems.append(f"{name}: with {what}{n} samples per candidate a two-sided Mann-Whitney test cannot "
                                f"reach p < {alpha:.3g} (smallest p is {smallest_p:.3g}), so no difference could "
                                f"ever be significant at that look; expected more samples (or a larger "
                                f"significance_alpha{' / extra_alpha_share' if second else ''})")
        return problems

    def look_alphas(self) -> tuple[float, float]:
        """The significance levels of the two looks at a pair (module doc, "Two looks"): the first after
        ``repeats`` rounds, the second after ``extra_repeats`` more. They add up to ``significance_alpha``
        (a union bound), so stopping early never inflates the false-positive rate; no second look, no split."""
        if not self.extra_repeats:
            return self.significance_alpha, 0.0
        second = self.significance_alpha * self.extra_alpha_share
        return self.significance_alpha - second, second

    def retimings(self, mode: str) -> int:
        """How often a set timed on an unsteady CPU is timed again in ``mode`` (``remeasure_unsteady``)."""
        if self.remeasure_unsteady is not None:
            return self.remeasure_unsteady
        return 0 if mode == "function" else 1
