"""The batch collator: (enhanced) draw weights from the shared α, re-label, re-prompt; then TRL's padding.

TRL tokenizes the labelled dataset once (``prompt_ids``/``chosen_ids``/``rejected_ids`` of the stored
example). The completions do not depend on the weights, so the collator reuses the stored completion ids
for sides a and b and only tokenizes the re-rendered prompt, the way TRL does (chat template with the
generation prompt). Padding and truncation are TRL's own :class:`DataCollatorForPreference`.

Besides TRL's tensors, each batch carries ``hydra_meta`` (a plain dict of lists: example ids, regions,
per-metric advantages, whether the label is fresh), which the trainer pops before the forward pass.
That extra key is why the trainer needs ``remove_unused_columns=False``.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from trl.trainer.dpo_trainer import DataCollatorForPreference

from hydra_ray.prefs.dirichlet import rng_for
from hydra_ray.train.relabel import Relabeler, stored_label

META_KEY = "hydra_meta"


class HydraPreferenceCollator:
    def __init__(self, tokenizer, padder: DataCollatorForPreference, *, framework: str,
                 relabeler: Relabeler | None = None, concentration: Callable[[], Sequence[float]] | None = None,
                 seed: int = 0, rank: int = 0):
        if framework not in ("enhanced", "base"):
            raise ValueError(f"framework must be 'enhanced' or 'base', got {framework!r}")
        if framework == "enhanced" and (relabeler is None or concentration is None):
            raise ValueError("the enhanced framework needs a relabeler and a concentration source")
        self.tokenizer = tokenizer
        self.padder = padder
        self.framework = framework
        self.relabeler = relabeler
        self.concentration = concentration
        self.seed = seed
        self.rank = rank
        self.calls = 0            # batches collated so far; a resumed run sets it to where it left off
        self.fallbacks = 0        # examples that kept their stored label (every fresh draw dropped)

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        out = self.tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True,
                                                 add_generation_prompt=True)
        return list(out["input_ids"])

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        if self.framework == "base":
            labels = [stored_label(r) for r in rows]
            examples = [{"prompt_ids": r["prompt_ids"], "chosen_ids": r["chosen_ids"],
                         "rejected_ids": r["rejected_ids"]} for r in rows]
        else:
            # The batch's draws depend only on (seed, rank, batch number): reproducible and resumable.
            rng = rng_for(self.seed, f"batch|{self.rank}|{self.calls}")
            labels = self.relabeler.relabel(rows, self.concentration(), rng)
            examples = []
            for r, lab in zip(rows, labels):
                stored_side = r["chosen_side"]
                completion = {stored_side: r["chosen_ids"], ("b" if stored_side == "a" else "a"): r["rejected_ids"]}
                loser = "b" if lab.chosen_side == "a" else "a"
                examples.append({"prompt_ids": self.prompt_ids(lab.prompt),
                                 "chosen_ids": completion[lab.chosen_side], "rejected_ids": completion[loser]})
            self.fallbacks += sum(not lab.fresh for lab in labels)
        self.calls += 1
        batch = self.padder(examples)
        batch[META_KEY] = {
            "example_id": [lab.example_id for lab in labels],
            "region": [lab.region for lab in labels],
            "advantage": [lab.advantage for lab in labels],
            "fresh": [lab.fresh for lab in labels],
            "weights": [lab.weights for lab in labels],
        }
        return batch
