"""A queue kept in a list and consumed with ``list.pop(0)`` (each pop shifts the whole list) instead of
``collections.deque``.

Josephus elimination: n people in a circle, every k-th is removed. Input: "n k".
Output: the survivor and a checksum sum(position * person) of the elimination order mod 1e9+7.
"""
import random

TITLE = "repeated list.pop(0)"
TABLE_III = False
SIZES = {"small": 1_000, "medium": 10_000, "large": 60_000}


def generate(size: int, rng: random.Random) -> str:
    return f"{size - rng.randrange(max(1, size // 10))} {rng.randint(2, 4)}\n"


def reference(stdin: str) -> str:
    n, k = map(int, stdin.split())
    people, order, idx = list(range(1, n + 1)), [], 0
    while people:  # index arithmetic instead of rotating the circle
        idx = (idx + k - 1) % len(people)
        order.append(people.pop(idx))
    checksum = sum(i * p for i, p in enumerate(order, 1)) % 1_000_000_007
    return f"{order[-1]}\n{checksum}\n"
