"""Preference weights: Dirichlet sampling over the objective simplex, α presets, regions.

A weight vector ``w`` has one entry per metric, in :data:`METRIC_NAMES` order, with ``w_k >= 0`` and
``sum(w) == 1``. It is drawn from ``Dirichlet(α)``; the mean of ``w_k`` is ``α_k / sum(α)`` and the
concentration ``sum(α)`` sets how far draws stray from that mean:

* ``balanced``      α = 10 each: draws cluster near (0.2, …, 0.2), every objective matters about equally;
* ``intermediate``  α = 1 each: uniform over the simplex, mixed preferences of every shape;
* ``dominant``      α = 0.2 each: draws sit near the corners, one (random) objective dominates;
* ``<metric>-dominant`` α = 5 for that metric, 0.5 for the others: that metric usually carries most
  of the weight (mean 5/7 ≈ 0.71), e.g. ``latency-dominant`` for a runtime-focused dataset.

A vector's *region* is the metric ``k`` whose weight exceeds the region threshold (when several do,
which needs a threshold below 0.5, the largest wins; ties go to the earlier metric), else
``"balanced"``.
"""
from __future__ import annotations

import hashlib
from typing import Sequence, Union

import numpy as np

from hydra_ray.metrics.names import METRIC_NAMES

M = len(METRIC_NAMES)
BALANCED = "balanced"
REGIONS: tuple[str, ...] = METRIC_NAMES + (BALANCED,)

PRESETS: dict[str, tuple[float, ...]] = {
    "balanced": (10.0,) * M,
    "intermediate": (1.0,) * M,
    "dominant": (0.2,) * M,
    **{f"{m}-dominant": tuple(5.0 if j == i else 0.5 for j in range(M)) for i, m in enumerate(METRIC_NAMES)},
}

AlphaSpec = Union[str, float, Sequence[float]]


def resolve_alpha(alpha: AlphaSpec) -> np.ndarray:
    """A preset name, one number (the same α for every metric) or M numbers → α as an array of M."""
    if isinstance(alpha, str):
        if alpha not in PRESETS:
            raise ValueError(f"unknown α preset {alpha!r}; expected one of {sorted(PRESETS)} or {M} numbers")
        return np.asarray(PRESETS[alpha], dtype=float)
    if isinstance(alpha, (int, float)) and not isinstance(alpha, bool):
        arr = np.full(M, float(alpha))
    else:
        arr = np.asarray(list(alpha), dtype=float)
    if arr.shape != (M,):
        raise ValueError(f"α needs {M} values (one per metric, order {list(METRIC_NAMES)}), got {arr.shape[0]}")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"every α must be a finite number > 0, got {arr.tolist()}")
    return arr


def rng_for(seed: int, key: str) -> np.random.Generator:
    """A generator that depends only on (seed, key): draws for one pair do not change when other
    pairs are added, removed or reordered, or when the input is split into different files."""
    h = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "little")
    return np.random.default_rng([int(seed), h])


def sample_weights(alpha: AlphaSpec, n: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """``n`` weight vectors drawn from Dirichlet(α), shape (n, M), each row on the simplex.

    Seeded and reproducible: the same ``rng`` seed gives the same draws. For very small α a gamma
    draw can underflow to an all-zero row; such rows are drawn again rather than divided by zero.
    """
    a = resolve_alpha(alpha)
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be an integer >= 0, got {n!r}")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    w = gen.dirichlet(a, size=int(n))
    for _ in range(100):
        sums = w.sum(axis=1)
        bad = ~np.isfinite(sums) | (sums <= 0)
        if not bad.any():
            break
        w[bad] = gen.dirichlet(a, size=int(bad.sum()))
    else:  # pragma: no cover - needs α so small that every draw underflows
        raise ValueError(f"Dirichlet draws underflow for α={a.tolist()}; use larger α")
    return w / w.sum(axis=1, keepdims=True)


def region_of(weights: Sequence[float], threshold: float) -> str:
    """The metric whose weight exceeds ``threshold`` (largest if several), else ``"balanced"``."""
    w = np.asarray(weights, dtype=float)
    if w.shape != (M,):
        raise ValueError(f"weights need {M} values in order {list(METRIC_NAMES)}, got shape {w.shape}")
    k = int(np.argmax(w))  # argmax returns the first maximum: ties go to the earlier metric
    return METRIC_NAMES[k] if w[k] > threshold else BALANCED


def regions_of(weights: np.ndarray, threshold: float) -> list[str]:
    """:func:`region_of` for each row of an (n, M) array."""
    return [region_of(row, threshold) for row in np.atleast_2d(np.asarray(weights, dtype=float))]
