"""What the training run shares across workers, served by one named Ray actor (pure Python, no Ray import).

``AlphaHub`` wraps the :class:`~hydra_ray.train.alpha.AlphaController` and adds what a run needs around
it: the per-region losses and per-metric advantages since the last logged step (for ``metrics.jsonl``),
the rows of ``metrics.jsonl`` themselves (written by the hub, which runs on the driver's node, so the
file lands in the output directory whatever node rank 0 is on), and what each worker said about itself
(world size, a checksum of its trainable weights) so a test can prove the workers trained one model.
The driver launches it with ``ray.remote(AlphaHub).options(name=...)``.

It outlives the worker group: when Ray Train restarts a failed group (``max_failures``), the new rank 0
calls :meth:`begin_attempt` and then, from a checkpoint, :meth:`restore`; the hub records each restart
(which step it resumed from, how far the failed attempt had got) in ``alpha.json``'s ``restarts``.

It also exports the training metrics of :mod:`hydra_ray.observability` (``hydra_train_alpha``,
``hydra_train_loss``, ``hydra_train_region_loss``, ``hydra_train_step_seconds``); outside Ray (unit
tests) those calls do nothing.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from hydra_ray import observability as obs
from hydra_ray.metrics.names import METRIC_NAMES
from hydra_ray.prefs.dirichlet import REGIONS
from hydra_ray.train.alpha import AlphaController, AlphaSettings


class AlphaHub:
    def __init__(self, settings: AlphaSettings, metrics_path: str | None = None, adaptive: bool = True):
        self.controller = AlphaController(settings)
        # Base framework: α is not used for sampling, but per-region losses are still worth logging.
        self.adaptive = adaptive
        self.metrics_path = Path(metrics_path) if metrics_path else None
        self.workers: dict[str, dict[str, Any]] = {}
        self.resumed_from: dict[str, Any] | None = None
        self.attempts = 0                              # worker-group starts that called begin_attempt
        self.restarts: list[dict[str, Any]] = []
        self._reached: int | None = None               # highest step reported in this attempt
        self._restarting = False                       # this attempt restarts a failed one of this run
        self._step_clock: tuple[int, float] | None = None   # (step, arrival) of rank 0's first report of it
        self._since_log_losses: dict[str, list[float]] = {r: [] for r in REGIONS}
        self._since_log_adv: list[list[float]] = []
        self._fatal: dict[str, Any] | None = None       # a worker's ConfigError (see set_fatal)
        self._export_alpha()

    # ---- hot path -------------------------------------------------------------------------------
    def concentration(self) -> list[float]:
        return self.controller.concentration()

    def get_alpha(self) -> dict[str, float]:
        return self.controller.get_alpha()

    def report(self, regions: Sequence[str], losses: Sequence[float], advantages: Sequence[Sequence[float]],
               worker: int, step: int) -> bool:
        self._clock(worker, step)
        for r, loss in zip(regions, losses):
            if r in self._since_log_losses:
                self._since_log_losses[r].append(float(loss))
        self._since_log_adv.extend([list(map(float, a)) for a in advantages])
        if not self.adaptive:
            # Counts and history are kept, α is not moved.
            self.controller.reports_by_worker[str(worker)] = self.controller.reports_by_worker.get(str(worker), 0) + 1
            self.controller.examples_total += len(losses)
            return False
        updated = self.controller.report(regions, losses, advantages, worker=worker, step=step)
        if updated:
            self._export_alpha()
        return updated

    def _clock(self, worker: int, step: int) -> None:
        """Step wall time from rank 0's reports: its first report of step s+1 arrives one optimizer step
        (checkpoint saving included) after its first report of step s (fire-and-forget calls, sent as made)."""
        step = int(step)
        self._reached = step if self._reached is None else max(self._reached, step)
        if int(worker) != 0:
            return
        now = time.monotonic()
        last = self._step_clock
        if last is None or step > last[0]:
            if last is not None and step == last[0] + 1:
                obs.observe(obs.TRAIN_STEP_SECONDS, now - last[1])
            self._step_clock = (step, now)

    def _export_alpha(self) -> None:
        for r, a in self.controller.get_alpha().items():
            obs.set_gauge(obs.TRAIN_ALPHA, a, region=r)

    def set_fatal(self, problems: Sequence[str], source: str | None) -> None:
        """A worker's configuration problem: kept (the first one) for the driver to raise once."""
        if self._fatal is None:
            self._fatal = {"problems": list(problems), "source": source, "attempt": self.attempts}

    def fatal(self) -> dict[str, Any] | None:
        return self._fatal

    def ping(self) -> bool:
        """Returns once every call this caller made before it has been processed (actor calls are ordered)."""
        return True

    # ---- metrics.jsonl --------------------------------------------------------------------------
    def log_metrics(self, row: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(row)
        out.update({f"alpha/{r}": a for r, a in self.controller.get_alpha().items()})
        for r, v in self._since_log_losses.items():
            out[f"region_loss/{r}"] = float(np.mean(v)) if v else None
            out[f"region_count/{r}"] = len(v)
        if self._since_log_adv:
            adv = np.asarray(self._since_log_adv, dtype=float).mean(axis=0)
            out.update({f"advantage/{m}": float(x) for m, x in zip(METRIC_NAMES, adv)})
            # Preference rate (Fig. 6 of the paper): share of examples whose chosen side is better on m;
            # ties (Δ = 0: not significantly different) are counted apart, not as losses.
            raw = np.asarray(self._since_log_adv, dtype=float)
            out.update({f"pref_rate/{m}": float((raw[:, k] > 0).mean()) for k, m in enumerate(METRIC_NAMES)})
            out.update({f"tie_rate/{m}": float((raw[:, k] == 0).mean()) for k, m in enumerate(METRIC_NAMES)})
        self._clear_since_log()
        if isinstance(out.get("loss"), (int, float)):
            obs.set_gauge(obs.TRAIN_LOSS, out["loss"])
        for r in REGIONS:
            if out[f"region_loss/{r}"] is not None:
                obs.set_gauge(obs.TRAIN_REGION_LOSS, out[f"region_loss/{r}"], region=r)
        if self.metrics_path is not None:
            with self.metrics_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(out) + "\n")
        return out

    # ---- workers --------------------------------------------------------------------------------
    def note_worker(self, rank: int, info: Mapping[str, Any]) -> None:
        self.workers.setdefault(str(rank), {}).update(info)

    def worker_info(self) -> dict[str, dict[str, Any]]:
        return dict(self.workers)

    # ---- attempts, checkpoints and restarts ------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return self.controller.state_dict()

    def begin_attempt(self, from_checkpoint: bool) -> int:
        """Called by rank 0 as each worker group starts, before any rank draws weights.

        A restart with no checkpoint to go back to (the group failed before its first save) starts over
        from step 0: α, counts and metrics rows of the failed attempt are dropped, as a restore drops
        those after its step. With a checkpoint, :meth:`restore` follows and does the same from there."""
        self.attempts += 1
        # A second start within this run is a restart, even when the failed group reported no step
        # (e.g. a health check failed while the model loaded): it must still show in `restarts`.
        self._restarting = self.attempts > 1
        if self._restarting and not from_checkpoint:
            self.controller = type(self.controller)(self.controller.settings)
            self._truncate_rows(0)
            self._note_restart(0)
        return self.attempts

    def restore(self, state: Mapping[str, Any], step: int) -> dict[str, float]:
        """Load α from a checkpoint taken at ``step``; drop metrics rows logged after it (they are redone)."""
        self.controller.load_state_dict(state)
        self.resumed_from = {"step": int(step), "alpha": self.controller.get_alpha(),
                             "updates": len(self.controller.updates)}
        self._truncate_rows(step)
        if self._restarting:               # a restart within this run (not a rerun's resume)
            self._note_restart(step)
        self._export_alpha()
        return self.controller.get_alpha()

    def _truncate_rows(self, step: int) -> None:
        if self.metrics_path is not None and self.metrics_path.exists():
            kept = [line for line in self.metrics_path.read_text().splitlines()
                    if line.strip() and json.loads(line).get("step", 0) <= step]
            self.metrics_path.write_text("".join(line + "\n" for line in kept))

    def _note_restart(self, step: int) -> None:
        reached = int(self._reached or 0)
        # Steps the failed attempt had started after the checkpoint: computed again by the next one.
        self.restarts.append({"attempt": self.attempts, "from_step": int(step), "reached_step": reached,
                              "steps_repeated": max(0, reached - int(step)), "alpha": self.controller.get_alpha()})
        self._reached = None
        self._restarting = False
        self._step_clock = None
        self._clear_since_log()
        self._export_alpha()

    def _clear_since_log(self) -> None:
        self._since_log_losses = {r: [] for r in REGIONS}
        self._since_log_adv = []

    def summary(self) -> dict[str, Any]:
        return {**self.controller.summary(), "adaptive": self.adaptive, "resumed_from": self.resumed_from,
                "attempts": self.attempts, "restarts": list(self.restarts)}
