"""``LabelConfig``: how ``hydra-ray label`` turns measured candidates into preference pairs.

Presets live in ``configs/label/*.yaml``; every field can be overridden as ``key=value``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

from hydra_ray.config import Config, integer_at_least, one_of, positive
from hydra_ray.metrics.names import METRIC_NAMES
from hydra_ray.prefs.dirichlet import PRESETS, resolve_alpha
from hydra_ray.prefs.normalize import NORMALIZERS
from hydra_ray.prefs.prompt import CONDITIONINGS

NORMALIZATIONS = tuple(NORMALIZERS)
PAPER_SPACES = ("log", "raw")



def _open_unit(errors: list[str], name: str, value: object) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1
    if not ok:
        errors.append(f"{name}: expected a number in (0, 1), got {value!r}")


@dataclass
class LabelConfig(Config):
    # Dirichlet α: a preset name (see hydra_ray.prefs.dirichlet.PRESETS), one α per metric
    # (order latency, memory, cycles, throughput, energy), or one number used for every metric.
    alpha: Union[str, float, list[float]] = "intermediate"
    # A weight vector belongs to region k when w_k > region_threshold, else to "balanced".
    region_threshold: float = 0.5
    # log_ratio (scale-free, default) or paper (sigmoid of dataset-standardised values).
    normalization: str = "log_ratio"
    # paper only: standardise log values (default; metrics are heavy-tailed) or raw values.
    paper_space: str = "log"
    # Pairs whose reward gap |R_a - R_b| is below epsilon are dropped and counted.
    epsilon: float = 0.005
    seed: int = 0
    # Weight vectors drawn per candidate pair: one pair can yield several differently-weighted examples.
    samples_per_pair: int = 1
    # Groups with many candidates give n(n-1)/2 pairs; at most this many labelled pairs (pairs that give an
    # example) per group (0 = all), taken in an order set by seed (hydra_ray.prefs.pairs, "The cap"). 100
    # keeps every pair of a group of up to 14 candidates (PIE pairs: 1) and stops one 92-candidate
    # problem from being a quarter of the data (hydra_ray.prefs.group_balance).
    max_pairs_per_group: int = 100
    write_jsonl: bool = False
    # Significance (hydra_ray.metrics.stats.compare_samples) when the enriched *_significant is null.
    significance_alpha: float = 0.05
    significance_min_effect: float = 0.02
    # weights (ours: the weights are written into every prompt) | none (the paper's unconditioned prompt).
    # Recorded in labeler.json; train, serve and evaluate read it from there (hydra_ray.prefs.prompt).
    prompt_conditioning: str = "weights"
    # Skip pairs timed while the CPU's speed swung: enriched cpu_speed_cv above this (null: keep all).
    max_cpu_speed_cv: Optional[float] = None

    def _check(self, errors: list[str]) -> None:
        if isinstance(self.alpha, str):
            one_of(errors, "alpha", self.alpha, sorted(PRESETS))
        elif isinstance(self.alpha, (list, tuple, int, float)) and not isinstance(self.alpha, bool):
            try:
                self.alpha_vector()
            except (TypeError, ValueError) as e:
                errors.append(f"alpha: {e}")
        else:
            errors.append(f"alpha: expected a preset name {sorted(PRESETS)} or a list of {len(METRIC_NAMES)} "
                          f"numbers > 0 (order {list(METRIC_NAMES)}), got {self.alpha!r}")
        _open_unit(errors, "region_threshold", self.region_threshold)
        one_of(errors, "normalization", self.normalization, NORMALIZATIONS)
        one_of(errors, "paper_space", self.paper_space, PAPER_SPACES)
        positive(errors, "epsilon", self.epsilon, allow_zero=True)
        integer_at_least(errors, "seed", self.seed, 0)
        integer_at_least(errors, "samples_per_pair", self.samples_per_pair, 1)
        integer_at_least(errors, "max_pairs_per_group", self.max_pairs_per_group, 0)
        if not isinstance(self.write_jsonl, bool):
            errors.append(f"write_jsonl: expected true or false, got {self.write_jsonl!r}")
        _open_unit(errors, "significance_alpha", self.significance_alpha)
        positive(errors, "significance_min_effect", self.significance_min_effect, allow_zero=True)
        one_of(errors, "prompt_conditioning", self.prompt_conditioning, CONDITIONINGS)
        if self.max_cpu_speed_cv is not None and (isinstance(self.max_cpu_speed_cv, bool) or not isinstance(
                self.max_cpu_speed_cv, (int, float)) or self.max_cpu_speed_cv <= 0):
            errors.append(f"max_cpu_speed_cv: expected null or a number > 0 (a coefficient of variation, e.g. 0.05), "
                          f"got {self.max_cpu_speed_cv!r}")

    def alpha_vector(self) -> np.ndarray:
        """α as M floats, whether given by preset name or explicitly."""
        if isinstance(self.alpha, (list, tuple)):
            if any(isinstance(a, bool) or not isinstance(a, (int, float)) for a in self.alpha):
                raise ValueError(f"every α must be a number, got {list(self.alpha)!r}")
            return resolve_alpha([float(a) for a in self.alpha])
        return resolve_alpha(self.alpha)
