"""Does one problem dominate the labelled pairs? A note for ``label`` when a few groups make up most
of them.

A group of n candidates gives n(n−1)/2 pairs: on ``pie_python_problems_cn.jsonl`` one problem (92
candidates) gives 4,186 of 17,636 pairs (24%), and 4 of 167 problems half of them. A model trained on
that mostly learns those few problems. The paper samples pairs per problem ("During training, we
sample code-submission pairs for the same problem") and says nothing of enumerating them all, so
``max_pairs_per_group`` (default 100, :mod:`hydra_ray.prefs.config`) caps each group; this note says
when the pairs are lopsided anyway (the cap set to 0 or high, or very uneven groups) and which setting
to change. Counted over labelled pairs (those that gave at least one example): what the dataset
holds, and what the cap counts (:mod:`hydra_ray.prefs.pairs`, "The cap"), so a capped group shows as at
most ``max_pairs_per_group`` pairs here, as in the dataset.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable

# "A few groups make up most of the pairs": at most this share of the groups (and at least one) hold
# half of the pairs. With fewer groups than MIN_GROUPS any group is a large share: nothing to say.
FEW_GROUPS_SHARE = 0.05
MIN_GROUPS = 10
SHOWN = 3
SUGGESTED_CAP = 100   # LabelConfig.max_pairs_per_group's default


def dominance_note(group_ids: Iterable[str], cap: int) -> str | None:
    """``group_ids``: the group (``pair_id``) of every labelled pair; ``cap``: ``max_pairs_per_group``."""
    per_group = Counter(group_ids)
    total = sum(per_group.values())
    if len(per_group) < MIN_GROUPS or total == 0:
        return None
    ranked = per_group.most_common()
    held, k = 0, 0
    while held * 2 < total:
        held += ranked[k][1]
        k += 1
    if k > max(1, int(FEW_GROUPS_SHARE * len(per_group))):
        return None
    top = ", ".join(f"{g} {n} pairs ({n / total:.0%})" for g, n in ranked[:SHOWN])
    setting = f"max_pairs_per_group={cap}" if cap else "max_pairs_per_group=0 (all pairs)"
    # The default cap, unless the cap is already at or below it: then a quarter of it.
    smaller = SUGGESTED_CAP if not cap or cap > SUGGESTED_CAP else max(1, cap // 4)
    return (f"note: {k} of {len(per_group)} groups make up {held / total:.0%} of the {total} pairs "
            f"(largest: {top}): a group of n candidates gives n(n-1)/2 pairs, so the labelled set mostly "
            f"teaches those problems. With {setting} now, set e.g. max_pairs_per_group={smaller} "
            f"to sample at most that many pairs per group")
