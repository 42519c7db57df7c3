"""``list.count`` called once per element (a full scan each time) instead of counting once.

Input: n / n ints. Output: the values that occur exactly once, in input order, space-separated.
"""
import random

TITLE = "list.count in a loop"
TABLE_III = False
SIZES = {"small": 500, "medium": 3_000, "large": 9_000}


def generate(size: int, rng: random.Random) -> str:
    return f"{size}\n" + " ".join(str(rng.randrange(2 * size)) for _ in range(size)) + "\n"


def reference(stdin: str) -> str:
    _, *xs = stdin.split()
    first, repeated = {}, set()
    for i, x in enumerate(xs):
        if x in first:
            repeated.add(x)
        else:
            first[x] = i
    return " ".join(x for x in xs if x not in repeated) + "\n"
