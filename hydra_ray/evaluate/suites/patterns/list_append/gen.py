"""A list built element by element with ``append`` in a loop instead of a comprehension (Hydra, Table III).

Input: n. The program builds v_i = i^2 mod 10007 for i < n and prints how many values it built
and their sum.
"""
import random

TITLE = "list built by append"
TABLE_III = True
SIZES = {"small": 10_000, "medium": 300_000, "large": 2_500_000}


def generate(size: int, rng: random.Random) -> str:
    return f"{size - rng.randrange(max(1, size // 10))}\n"


def reference(stdin: str) -> str:
    n = int(stdin)
    # Sum by full periods of i^2 mod p (period p), independently of the programs' loop.
    p = 10007
    period = [pow(i, 2, p) for i in range(min(n, p))]
    full, rest = divmod(n, p)
    total = full * sum(period) + sum(period[:rest]) if n >= p else sum(period)
    return f"{n}\n{total}\n"
