"""Membership tests ``x in some_list`` in a loop instead of against a set.

Input: n q / a (n ints) / queries (q ints). Output: how many queries occur in a.
"""
import random

TITLE = "membership tests on a list"
TABLE_III = False
SIZES = {"small": 300, "medium": 2_000, "large": 6_000}


def generate(size: int, rng: random.Random) -> str:
    a = [rng.randrange(8 * size) for _ in range(size)]
    qs = [rng.randrange(8 * size) for _ in range(size)]
    return f"{size} {size}\n{' '.join(map(str, a))}\n{' '.join(map(str, qs))}\n"


def reference(stdin: str) -> str:
    lines = stdin.split("\n")
    a = sorted(map(int, lines[1].split()))
    import bisect

    hits = 0
    for x in map(int, lines[2].split()):
        i = bisect.bisect_left(a, x)
        hits += i < len(a) and a[i] == x
    return f"{hits}\n"
