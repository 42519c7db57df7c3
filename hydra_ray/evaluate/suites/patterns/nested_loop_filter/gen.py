"""Keep the items of ``a`` that occur in ``b`` with a nested loop instead of a set (Hydra, Table III).

Input: n m / a / b. Output: the kept items of a, in order, space-separated (empty line if none).
"""
import random

TITLE = "nested-loop filter"
TABLE_III = True
SIZES = {"small": 200, "medium": 1_000, "large": 3_500}


def generate(size: int, rng: random.Random) -> str:
    a = [rng.randrange(4 * size) for _ in range(size)]
    b = [rng.randrange(4 * size) for _ in range(size)]
    return f"{size} {size}\n{' '.join(map(str, a))}\n{' '.join(map(str, b))}\n"


def reference(stdin: str) -> str:
    lines = stdin.split("\n")
    a = lines[1].split()
    present = frozenset(lines[2].split())
    return " ".join(x for x in a if x in present) + "\n"
