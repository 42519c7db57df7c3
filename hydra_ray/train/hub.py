"""What the training run shares across workers, served by one named Ray actor (pure Python, no Ray import).

``AlphaHub`` wraps the :class:`~hydra_ray.train.alpha.AlphaController` and adds what a run needs around
it: the per-region losses and per-metric advantages since the last logged step (for ``metrics.jsonl``),
the rows of ``metrics.jsonl`` themselves (written by the hub, which runs on the driver's node, so the
file lands in the output directory whatever node rank 0 is on), and what each worker said about itself
(world size, a checksum of its trainable weights) so a test can prove the workers trained one model.
The driver launches it with ``ray.remote(AlphaHub).options(name=...)``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

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
        self._since_log_losses: dict[str, list[float]] = {r: [] for r in REGIONS}
        self._since_log_adv: list[list[float]] = []

    # ---- hot path -------------------------------------------------------------------------------
    def concentration(self) -> list[float]:
        return self.controller.concentration()

    def get_alpha(self) -> dict[str, float]:
        return self.controller.get_alpha()

    def report(self, regions: Sequence[str], losses: Sequence[float], advantages: Sequence[Sequence[float]],
               worker: int, step: int) -> bool:
        for r, loss in zip(regions, losses):
            if r in self._since_log_losses:
                self._since_log_losses[r].append(float(loss))
        self._since_log_adv.extend([list(map(float, a)) for a in advantages])
        if not self.adaptive:
            # Counts and history are kept, α is not moved.
            self.controller.reports_by_worker[str(worker)] = self.controller.reports_by_worker.get(str(worker), 0) + 1
            self.controller.examples_total += len(losses)
            return False
        return self.controller.report(regions, losses, advantages, worker=worker, step=step)

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
        self._since_log_losses = {r: [] for r in REGIONS}
        self._since_log_adv = []
        if self.metrics_path is not None:
            with self.metrics_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(out) + "\n")
        return out

    # ---- workers --------------------------------------------------------------------------------
    def note_worker(self, rank: int, info: Mapping[str, Any]) -> None:
        self.workers.setdefault(str(rank), {}).update(info)

    def worker_info(self) -> dict[str, dict[str, Any]]:
        return dict(self.workers)

    # ---- checkpoints ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return self.controller.state_dict()

    def restore(self, state: Mapping[str, Any], step: int) -> dict[str, float]:
        """Load α from a checkpoint taken at ``step``; drop metrics rows logged after it (they are redone)."""
        self.controller.load_state_dict(state)
        self.resumed_from = {"step": int(step), "alpha": self.controller.get_alpha(),
                             "updates": len(self.controller.updates)}
        if self.metrics_path is not None and self.metrics_path.exists():
            kept = [line for line in self.metrics_path.read_text().splitlines()
                    if line.strip() and json.loads(line).get("step", 0) <= step]
            self.metrics_path.write_text("".join(line + "\n" for line in kept))
        return self.controller.get_alpha()

    def summary(self) -> dict[str, Any]:
        return {**self.controller.summary(), "adaptive": self.adaptive, "resumed_from": self.resumed_from}
