"""Word counts kept by hand in a dict (``if w in d: ... else: ...``) instead of ``collections.Counter``
(Hydra, Table III).

Input: words separated by spaces. Output: the ten most frequent words as "word count", most frequent
first, ties broken alphabetically.
"""
import random

TITLE = "hand-written dict histogram"
TABLE_III = True
SIZES = {"small": 5_000, "medium": 100_000, "large": 1_000_000}


def generate(size: int, rng: random.Random) -> str:
    vocab = [f"w{i}" for i in range(2000)]
    # Zipf-like weights so the top ten are well separated from the tail.
    weights = [1.0 / (r + 1) for r in range(len(vocab))]
    return " ".join(rng.choices(vocab, weights, k=size)) + "\n"


def reference(stdin: str) -> str:
    import itertools

    words = sorted(stdin.split())
    counts = [(w, sum(1 for _ in g)) for w, g in itertools.groupby(words)]
    counts.sort(key=lambda wc: (-wc[1], wc[0]))
    return "".join(f"{w} {c}\n" for w, c in counts[:10])
