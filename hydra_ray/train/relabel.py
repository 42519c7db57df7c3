"""Per-batch re-labelling for the enhanced framework (pure: numpy + hydra_ray.prefs, no torch).

For each example of a batch, a fresh weight vector is drawn from the current concentration, the stored
raw medians are labelled again with the dataset's own :class:`~hydra_ray.prefs.labels.Labeler` (so
winner and loser may swap), and the prompt is rendered again with the new weights. A draw the labeller
drops (every metric tied, or a reward gap below ε) is redrawn up to ``max_tries`` times; after that the
example keeps the weights and label stored in the dataset, which the labeller accepted when it was built.

The paper (Sec. V-B): "preference labels are recomputed at each step using the current weights". The
redraws and the fallback are ours (README, Differences from the paper): the weights trained on are draws
from Dirichlet(c) conditioned on the labeller deciding the pair, and a fallback example carries the
weights, region and label drawn at labelling time, not the current α.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from hydra_ray.prefs.dirichlet import sample_weights
from hydra_ray.prefs.labels import Labeler
from hydra_ray.prefs.prompt import render_messages
from hydra_ray.train.alpha import advantage_of


@dataclass(frozen=True)
class Relabelled:
    example_id: str
    weights: list[float]
    region: str
    chosen_side: str                 # "a" or "b"
    prompt: list[dict[str, str]]     # rendered with ``weights``
    advantage: list[float]           # Δ_k, METRIC_NAMES order
    fresh: bool                      # False: fell back to the stored label


def stored_label(row: Mapping[str, Any]) -> Relabelled:
    """The example as the labelled dataset stores it (the base framework's fixed labels)."""
    side = row["chosen_side"]
    norm_c, norm_r = (row["norm_a"], row["norm_b"]) if side == "a" else (row["norm_b"], row["norm_a"])
    return Relabelled(row["example_id"], [float(x) for x in row["weights"]], row["region"], side,
                      list(row["prompt"]), advantage_of(norm_c, norm_r), fresh=False)


class Relabeler:
    def __init__(self, labeler: Labeler, max_tries: int = 4):
        if max_tries < 1:
            raise ValueError(f"max_tries must be >= 1, got {max_tries}")
        self.labeler = labeler
        self.max_tries = max_tries

    def relabel(self, rows: Sequence[Mapping[str, Any]], concentration: Sequence[float],
                rng: np.random.Generator) -> list[Relabelled]:
        """One fresh draw per row (redrawn while the labeller drops it), in one vectorised Dirichlet call."""
        out: list[Relabelled | None] = [None] * len(rows)
        pending = list(range(len(rows)))
        for _ in range(self.max_tries):
            if not pending:
                break
            draws = sample_weights(list(concentration), len(pending), rng)
            still = []
            for i, w in zip(pending, draws):
                row = rows[i]
                lab = self.labeler.label(row["raw_a"], row["raw_b"], row["significant"], w)
                if lab.winner is None:
                    still.append(i)
                    continue
                norm_c, norm_r = (lab.norm_a, lab.norm_b) if lab.winner == "a" else (lab.norm_b, lab.norm_a)
                wl = [float(x) for x in w]
                out[i] = Relabelled(row["example_id"], wl, self.labeler.region(wl), lab.winner,
                                    render_messages(row["original_code"], wl, self.labeler.config.prompt_conditioning), advantage_of(norm_c, norm_r),
                                    fresh=True)
            pending = still
        for i in pending:
            out[i] = stored_label(rows[i])
        return out  # type: ignore[return-value]
