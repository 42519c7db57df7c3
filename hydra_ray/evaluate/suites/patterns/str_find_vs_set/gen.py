"""Whole-word lookups done with ``str.find`` over a long text (a scan per query) instead of a set.

Input: n q / a text of n words / q query words. Output: how many query words occur in the text.
"""
import random

TITLE = "repeated str.find instead of a set"
TABLE_III = False
SIZES = {"small": 2_000, "medium": 20_000, "large": 100_000}


def _word(rng: random.Random) -> str:
    return "".join(rng.choices("abcdefghij", k=rng.randint(3, 7)))


def generate(size: int, rng: random.Random) -> str:
    q = max(10, size // 50)
    text = [_word(rng) for _ in range(size)]
    queries = [_word(rng) for _ in range(q)]
    return f"{size} {q}\n{' '.join(text)}\n{' '.join(queries)}\n"


def reference(stdin: str) -> str:
    lines = stdin.split("\n")
    words = sorted(set(lines[1].split()))
    import bisect

    hits = 0
    for w in lines[2].split():
        i = bisect.bisect_left(words, w)
        hits += i < len(words) and words[i] == w
    return f"{hits}\n"
