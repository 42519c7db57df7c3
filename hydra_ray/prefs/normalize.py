"""Normalisation of raw metric medians into comparable scores ṽ in (0, 1), higher = better.

The reward of a candidate under weights ``w`` is ``R = w · ṽ`` (see :mod:`hydra_ray.prefs.labels`), so
each metric must first be put on one scale and one direction. Two normalisers, chosen by
``LabelConfig.normalization``; both give 0.5 to a metric with no information (a tie or a missing value).

``log_ratio`` (default) — pairwise, scale-free, symmetric. For metric k with raw values ``x_a, x_b``::

    ṽ_a,k = σ(s_k · log(x_b / x_a)),   s_k = +1 if lower is better, −1 if higher is better
    σ(log r) = r / (1 + r)   ⇒   ṽ_a,k = x_b / (x_a + x_b)   (lower is better)
                                 ṽ_a,k = x_a / (x_a + x_b)   (higher is better)

  so ``ṽ_a,k + ṽ_b,k = 1``; multiplying both values by any unit factor changes nothing; swapping the
  candidates swaps the scores; 2× faster gives 2/3 vs 1/3 whether the program takes 2 ms or 2 s.
  The closed form is what is computed (no log/exp round trip); ``x_a = x_b = 0`` gives 0.5 each.

``paper`` — element-wise sigmoid, after the Hydra paper (Sec. IV-C: "ṽ_i = σ(v_i)", on the metric vector
as it stands); ours standardises and orients the values first (README, Differences), per candidate::

    z_k = (f(x_k) − μ_k) / σ_k,    ṽ_k = σ(s'_k · z_k),   s'_k = −1 if lower is better, +1 otherwise

  with ``μ_k, σ_k`` the mean and standard deviation of ``f(x_k)`` over every passed candidate of the
  dataset (fitted once, saved with the labeller). Standardising first is required: a raw sigmoid of
  220 ms is σ(−220) ≈ 0 (or σ(220) ≈ 1 unoriented) for every program, so nothing could be compared.
  ``f = log`` by default (``paper_space: log``) because the metrics are heavy-tailed and multiplicative:
  one 10-s program would otherwise squash every other z-score toward the mean; ``paper_space: raw``
  uses ``f(x) = x``. The scores depend on the dataset, unlike ``log_ratio``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from hydra_ray.metrics.names import BY_NAME, METRIC_NAMES

NEUTRAL = 0.5
_LOG_FLOOR = 1e-12  # log of a zero reading (e.g. 0 J from a coarse counter) stays finite


def _sigmoid(z: float) -> float:
    # Two branches so neither exp overflows for large |z|.
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class LogRatioNormalizer:
    """ṽ_a = x_b/(x_a+x_b) (lower better) or x_a/(x_a+x_b) (higher better); see module docstring."""

    name = "log_ratio"

    def pair(self, metric: str, xa: float, xb: float) -> tuple[float, float]:
        total = xa + xb
        if total <= 0:
            return NEUTRAL, NEUTRAL
        if BY_NAME[metric].higher_is_better:
            return xa / total, xb / total
        return xb / total, xa / total

    @classmethod
    def fit(cls, values: Mapping[str, Iterable[float | None]], space: str = "log") -> "LogRatioNormalizer":
        return cls()  # pairwise: needs no dataset statistics

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "LogRatioNormalizer":
        return cls()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name}


@dataclass
class PaperNormalizer:
    """ṽ = σ(s'·(f(x) − μ)/σ) with dataset statistics ``center`` (μ) and ``scale`` (σ) per metric."""

    center: dict[str, float] = field(default_factory=dict)
    scale: dict[str, float] = field(default_factory=dict)
    space: str = "log"
    name: str = "paper"

    def _f(self, x: float) -> float:
        return math.log(max(x, _LOG_FLOOR)) if self.space == "log" else x

    def value(self, metric: str, x: float) -> float:
        mu, sd = self.center.get(metric, 0.0), self.scale.get(metric, 1.0)
        z = (self._f(x) - mu) / (sd if sd > 0 else 1.0)
        return _sigmoid(z if BY_NAME[metric].higher_is_better else -z)

    def pair(self, metric: str, xa: float, xb: float) -> tuple[float, float]:
        return self.value(metric, xa), self.value(metric, xb)

    @classmethod
    def fit(cls, values: Mapping[str, Iterable[float | None]], space: str = "log") -> "PaperNormalizer":
        """μ and σ (population) of f(x) per metric over the given raw values; invalid ones skipped.

        A metric with no valid value gets μ=0, σ=1 (never used: its pairs are all ties); one whose
        values are all equal gets σ=1 so every candidate scores 0.5 on it.
        """
        norm = cls(space=space)
        for m in METRIC_NAMES:
            xs = [norm._f(x) for x in (valid_value(v) for v in values.get(m, ())) if x is not None]
            if not xs:
                norm.center[m], norm.scale[m] = 0.0, 1.0
                continue
            mu = math.fsum(xs) / len(xs)
            sd = math.sqrt(math.fsum((x - mu) ** 2 for x in xs) / len(xs))
            norm.center[m], norm.scale[m] = mu, (sd if sd > 0 else 1.0)
        return norm

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "space": self.space, "center": dict(self.center), "scale": dict(self.scale)}


    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "PaperNormalizer":
        missing = [m for m in METRIC_NAMES if m not in d.get("center", {}) or m not in d.get("scale", {})]
        if missing:
            raise ValueError(f"paper normaliser state lacks center/scale for {missing}")
        return cls({m: float(d["center"][m]) for m in METRIC_NAMES},
                   {m: float(d["scale"][m]) for m in METRIC_NAMES}, str(d.get("space", "log")))


Normalizer = LogRatioNormalizer | PaperNormalizer

# The plug-in point: a normaliser has ``name``, ``pair(metric, x_a, x_b) -> (ṽ_a, ṽ_b)``,
# ``fit(values, space)``, ``from_dict``/``to_dict``; register it here and document its formula above.
NORMALIZERS: dict[str, type] = {"log_ratio": LogRatioNormalizer, "paper": PaperNormalizer}


def fit_normalizer(name: str, values: Mapping[str, Iterable[float | None]], space: str = "log") -> Normalizer:
    if name not in NORMALIZERS:
        raise ValueError(f"unknown normaliser {name!r}; expected one of {sorted(NORMALIZERS)}")
    return NORMALIZERS[name].fit(values, space)


def normalizer_from_dict(d: Mapping[str, Any]) -> Normalizer:
    name = d.get("name")
    if name not in NORMALIZERS:
        raise ValueError(f"unknown normaliser {name!r}; expected one of {sorted(NORMALIZERS)}")
    return NORMALIZERS[name].from_dict(d)


def valid_value(x: Any) -> float | None:
    """A usable raw metric value: a finite number >= 0; anything else (None, NaN, negative) is missing."""
    if x is None or isinstance(x, bool):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v >= 0 else None
