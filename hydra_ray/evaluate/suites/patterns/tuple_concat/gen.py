"""A tuple grown with ``t += (x,)`` (a full copy per step, quadratic) instead of building a list once.

Input: n / n ints. Output: the number of even values, their sum, and the middle even value (or -1).
"""
import random

TITLE = "+= on tuples"
TABLE_III = False
SIZES = {"small": 1_000, "medium": 10_000, "large": 50_000}


def generate(size: int, rng: random.Random) -> str:
    return f"{size}\n" + " ".join(str(rng.randrange(10**6)) for _ in range(size)) + "\n"


def reference(stdin: str) -> str:
    _, *xs = map(int, stdin.split())
    evens = list(filter(lambda v: v % 2 == 0, xs))
    mid = evens[len(evens) // 2] if evens else -1
    return f"{len(evens)}\n{sum(evens)}\n{mid}\n"
