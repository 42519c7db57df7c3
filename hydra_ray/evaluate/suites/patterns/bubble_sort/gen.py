"""A hand-written bubble sort (quadratic, interpreted) instead of the built-in ``sorted``.

Input: n / n ints. Output: the ints in ascending order, space-separated.
"""
import random

TITLE = "bubble sort instead of sorted()"
TABLE_III = False
SIZES = {"small": 100, "medium": 600, "large": 1_800}


def generate(size: int, rng: random.Random) -> str:
    return f"{size}\n" + " ".join(str(rng.randrange(-10**6, 10**6)) for _ in range(size)) + "\n"


def reference(stdin: str) -> str:
    import heapq

    _, *xs = map(int, stdin.split())
    heapq.heapify(xs)
    out = [heapq.heappop(xs) for _ in range(len(xs))]
    return " ".join(map(str, out)) + "\n"
