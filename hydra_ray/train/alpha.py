"""The adaptive Dirichlet α controller: pure logic, shared by every training worker through a Ray actor.

There is one α per *region* (:data:`hydra_ray.prefs.dirichlet.REGIONS`: each metric, plus ``balanced``).
Workers draw preference weights for each batch from ``Dirichlet(c)`` with the concentration
(:meth:`AlphaController.concentration`)::

    c_k = α_k · α_balanced        for each of the M metrics k

so the metric α set the *mean* weight (``E[w_k] = α_k / Σ_j α_j``, independent of α_balanced) and
α_balanced scales the total concentration ``Σ c = α_balanced · Σ α``: raising it pulls draws toward the
mean (more vectors with no weight above the region threshold, i.e. more ``balanced`` examples), lowering
it pushes draws toward the simplex corners (more single-metric regions). With every α = 1 the draws are
uniform on the simplex, Dirichlet(1, …, 1).

Workers report ``(region, per-example DPO loss)`` — and, for the ``advantage`` rule, the per-metric
advantage Δ_k of the chosen over the rejected completion — after every batch. Every
``reports_per_update`` reports the controller updates α:

``loss`` rule (the paper's formula, Sec. IV-E): with L̄_r the mean loss of region r over the interval and L̄ the mean of the
L̄_r over the regions seen in it::

    α_r ← clip(α_r · exp(η (L̄_r − L̄)), α_min, α_max)

so regions the model finds hard (above-average loss) are sampled more often, easy ones less.

Two departures from Sec. IV-E (README, Differences from the paper), both forced by the interval:

* *When.* Sec. IV-E averages the losses "Over S samples in an epoch" and updates α for "the next epoch";
  Sec. V-B says α "is updated online". Training here updates every ``alpha.update_interval`` optimizer
  steps (the presets: every step); :mod:`hydra_ray.train.simulate` updates once per epoch, as IV-E.
* *L̄ over the regions seen.* Sec. IV-E defines L̄_global = (1/R) Σ_r L̄_r with "R is the total number of
  regions". A region with no example in the interval has no L̄_r: it keeps its α and does not enter L̄,
  which is the unweighted mean of the L̄_r of the regions that were seen (the paper's form otherwise).

``advantage`` rule (**ours**, not the paper's: its experiments say α "is updated online using per-metric
advantage signals" (Sec. V-B) and give no formula; the only formula in the paper is the ``loss`` rule of
Sec. IV-E, which is why the presets use ``loss``): Δ_k = ṽ_chosen,k − ṽ_rejected,k (normalised scores, higher is better; 0 for a tie).
Per metric, the consistency t_k = mean(Δ_k) / rms(Δ_k) = E[Δ] / sqrt(E[Δ]² + Var Δ) over the interval
(in [−1, 1]: +1 when Δ_k is always the same positive value, 0 when it averages out or is always a tie,
−1 when consistently negative; 0 when there is no signal at all), and::

    α_k ← clip(α_k · exp(η (t_k − mean_j t_j)), α_min, α_max)

so metrics whose advantage is consistently positive gain weight and noisy ones (often tied, or flipping
sign) lose it. α_balanced is left unchanged by this rule.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Mapping, Sequence

import numpy as np

from hydra_ray.metrics.names import METRIC_NAMES
from hydra_ray.prefs.dirichlet import BALANCED, REGIONS

STATE_FORMAT = "hydra-ray-alpha"
_RMS_EPS = 1e-12


class UpdateRule(str, Enum):
    LOSS = "loss"
    ADVANTAGE = "advantage"


@dataclass(frozen=True)
class AlphaSettings:
    lr: float = 0.002                       # η
    alpha_min: float = 0.75
    alpha_max: float = 1.5
    initial: float = 1.0
    rule: UpdateRule = UpdateRule.LOSS
    reports_per_update: int = 1             # batches (from all workers together) per α update

    def __post_init__(self) -> None:
        problems = []
        if not (self.lr >= 0 and math.isfinite(self.lr)):
            problems.append(f"lr: expected a finite number >= 0, got {self.lr!r}")
        if not (0 < self.alpha_min <= self.alpha_max and math.isfinite(self.alpha_max)):
            problems.append(f"alpha_min/alpha_max: expected 0 < alpha_min <= alpha_max, got "
                            f"{self.alpha_min!r}, {self.alpha_max!r}")
        elif not self.alpha_min <= self.initial <= self.alpha_max:
            problems.append(f"initial: expected within [alpha_min, alpha_max] = [{self.alpha_min}, "
                            f"{self.alpha_max}], got {self.initial!r}")
        if not isinstance(self.reports_per_update, int) or self.reports_per_update < 1:
            problems.append(f"reports_per_update: expected an integer >= 1, got {self.reports_per_update!r}")
        if problems:
            raise ValueError("AlphaSettings: " + "; ".join(problems))
        object.__setattr__(self, "rule", UpdateRule(self.rule))


@dataclass
class UpdateRecord:
    """What one α update saw and did (kept for alpha.json and the plots)."""
    update: int
    step: int | None
    alpha: dict[str, float]                         # after the update
    mean_loss: dict[str, float | None]              # L̄_r over the interval (None: no example)
    count: dict[str, int]
    advantage_mean: dict[str, float | None] = field(default_factory=dict)
    advantage_consistency: dict[str, float | None] = field(default_factory=dict)


class AlphaController:
    """Holds α over :data:`REGIONS`, buffers reported losses, applies the configured update rule."""

    def __init__(self, settings: AlphaSettings = AlphaSettings(), regions: Sequence[str] = REGIONS):
        if tuple(regions) != REGIONS:
            raise ValueError(f"regions must be {list(REGIONS)} (the metrics plus 'balanced'), got {list(regions)}")
        self.settings = settings
        self.alpha: dict[str, float] = {r: float(settings.initial) for r in REGIONS}
        self.updates: list[UpdateRecord] = []
        self.reports_by_worker: dict[str, int] = {}
        self.examples_total = 0
        self.last_step: int | None = None
        self._reset_buffer()
        self._reports_in_interval = 0

    # ---- sampling side ----------------------------------------------------------------------------
    def get_alpha(self) -> dict[str, float]:
        return dict(self.alpha)

    def concentration(self) -> list[float]:
        """Dirichlet concentration over the M metrics: c_k = α_k · α_balanced (see module doc)."""
        return [self.alpha[m] * self.alpha[BALANCED] for m in METRIC_NAMES]

    # ---- reporting side ---------------------------------------------------------------------------
    def report(self, regions: Sequence[str], losses: Sequence[float],
               advantages: Sequence[Sequence[float]] | None = None, *, worker: int | str = 0,
               step: int | None = None) -> bool:
        """Buffer one batch of per-example losses; returns True when this report triggered an update."""
        if len(regions) != len(losses):
            raise ValueError(f"report: {len(regions)} regions but {len(losses)} losses")
        if advantages is not None and len(advantages) != len(losses):
            raise ValueError(f"report: {len(advantages)} advantage rows but {len(losses)} losses")
        for i, (r, loss) in enumerate(zip(regions, losses)):
            if r not in self._losses:
                raise ValueError(f"report: unknown region {r!r} at position {i}; expected one of {list(REGIONS)}")
            if not math.isfinite(float(loss)):
                raise ValueError(f"report: loss {loss!r} of example {i} (region {r}) is not finite")
            self._losses[r].append(float(loss))
        if advantages is not None:
            for row in advantages:
                if len(row) != len(METRIC_NAMES):
                    raise ValueError(f"report: an advantage row needs {len(METRIC_NAMES)} values, got {len(row)}")
                self._advantages.append([float(x) for x in row])
        key = str(worker)
        self.reports_by_worker[key] = self.reports_by_worker.get(key, 0) + 1
        self.examples_total += len(losses)
        if step is not None:
            self.last_step = step if self.last_step is None else max(self.last_step, step)
        self._reports_in_interval += 1
        if self._reports_in_interval >= self.settings.reports_per_update:
            self.update()
            return True
        return False

    def update(self) -> UpdateRecord:
        """Apply the rule to the buffered interval, record it, clear the buffer."""
        s = self.settings
        means = {r: (float(np.mean(v)) if v else None) for r, v in self._losses.items()}
        counts = {r: len(v) for r, v in self._losses.items()}
        adv_mean: dict[str, float | None] = {}
        adv_t: dict[str, float | None] = {}
        if self._advantages:
            a = np.asarray(self._advantages, dtype=float)
            for k, m in enumerate(METRIC_NAMES):
                mu, rms = float(a[:, k].mean()), float(np.sqrt(np.mean(a[:, k] ** 2)))
                adv_mean[m], adv_t[m] = mu, (mu / rms if rms > _RMS_EPS else 0.0)
        if s.rule is UpdateRule.LOSS:
            self.alpha = loss_rule(self.alpha, means, s.lr, s.alpha_min, s.alpha_max)
        elif adv_t:
            self.alpha = advantage_rule(self.alpha, adv_t, s.lr, s.alpha_min, s.alpha_max)
        rec = UpdateRecord(len(self.updates) + 1, self.last_step, dict(self.alpha), means, counts, adv_mean, adv_t)
        self.updates.append(rec)
        self._reset_buffer()
        return rec

    def _reset_buffer(self) -> None:
        self._losses: dict[str, list[float]] = {r: [] for r in REGIONS}
        self._advantages: list[list[float]] = []
        self._reports_in_interval = 0

    # ---- history and checkpoints ------------------------------------------------------------------
    def trajectory(self) -> list[dict[str, Any]]:
        start = {"update": 0, "step": None, "alpha": {r: float(self.settings.initial) for r in REGIONS}}
        return [start] + [{"update": u.update, "step": u.step, "alpha": u.alpha} for u in self.updates]

    def summary(self) -> dict[str, Any]:
        return {"alpha": self.get_alpha(), "concentration": dict(zip(METRIC_NAMES, self.concentration())),
                "rule": self.settings.rule.value, "updates": len(self.updates),
                "examples": self.examples_total, "reports_by_worker": dict(self.reports_by_worker),
                "trajectory": self.trajectory(),
                "history": [u.__dict__ for u in self.updates]}

    def state_dict(self) -> dict[str, Any]:
        return {"format": STATE_FORMAT, "version": 1,
                "settings": {**self.settings.__dict__, "rule": self.settings.rule.value},
                "alpha": dict(self.alpha), "updates": [dict(u.__dict__) for u in self.updates],
                "reports_by_worker": dict(self.reports_by_worker), "examples_total": self.examples_total,
                "last_step": self.last_step, "buffer": {"losses": {r: list(v) for r, v in self._losses.items()},
                                                        "advantages": [list(x) for x in self._advantages],
                                                        "reports": self._reports_in_interval}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"not an α controller state: format {state.get('format')!r}, expected {STATE_FORMAT!r}")
        if set(state["alpha"]) != set(REGIONS):
            raise ValueError(f"α state has regions {sorted(state['alpha'])}, expected {sorted(REGIONS)}")
        # Settings come from the current config (a resumed run may change e.g. the interval); α and history
        # come from the checkpoint.
        self.alpha = {r: float(state["alpha"][r]) for r in REGIONS}
        self.updates = [UpdateRecord(**u) for u in state.get("updates", [])]
        self.reports_by_worker = dict(state.get("reports_by_worker", {}))
        self.examples_total = int(state.get("examples_total", 0))
        self.last_step = state.get("last_step")
        self._reset_buffer()
        buf = state.get("buffer") or {}
        for r, v in (buf.get("losses") or {}).items():
            self._losses[r] = [float(x) for x in v]
        self._advantages = [list(map(float, x)) for x in buf.get("advantages", [])]
        self._reports_in_interval = int(buf.get("reports", 0))


# ---- the two rules, as pure functions (unit-tested directly) ----------------------------------------

def loss_rule(alpha: Mapping[str, float], mean_loss: Mapping[str, float | None], lr: float,
              lo: float, hi: float) -> dict[str, float]:
    """α_r ← clip(α_r · exp(η (L̄_r − L̄)), lo, hi); L̄ = mean of the L̄_r that are not None."""
    seen = [v for v in mean_loss.values() if v is not None]
    if not seen:
        return dict(alpha)
    overall = float(np.mean(seen))
    out = dict(alpha)
    for r, lr_mean in mean_loss.items():
        if lr_mean is not None:
            out[r] = float(np.clip(alpha[r] * math.exp(lr * (lr_mean - overall)), lo, hi))
    return out


def advantage_rule(alpha: Mapping[str, float], consistency: Mapping[str, float | None], lr: float,
                   lo: float, hi: float) -> dict[str, float]:
    """α_k ← clip(α_k · exp(η (t_k − mean_j t_j)), lo, hi) over the metrics; α_balanced unchanged."""
    seen = {k: v for k, v in consistency.items() if v is not None and k in METRIC_NAMES}
    if not seen:
        return dict(alpha)
    centre = float(np.mean(list(seen.values())))
    out = dict(alpha)
    for k, t in seen.items():
        out[k] = float(np.clip(alpha[k] * math.exp(lr * (t - centre)), lo, hi))
    return out


def advantage_of(norm_chosen: Mapping[str, float], norm_rejected: Mapping[str, float]) -> list[float]:
    """Δ_k = ṽ_chosen,k − ṽ_rejected,k in METRIC_NAMES order (positive: the chosen program is better on k)."""
    return [float(norm_chosen[m]) - float(norm_rejected[m]) for m in METRIC_NAMES]
