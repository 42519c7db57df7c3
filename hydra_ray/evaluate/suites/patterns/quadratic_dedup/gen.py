"""De-duplication that checks ``x not in out`` against the output list (quadratic) instead of using
an order-preserving dict.

Input: n / n ints. Output: the distinct values in order of first occurrence, space-separated.
"""
import random

TITLE = "quadratic de-duplication"
TABLE_III = False
SIZES = {"small": 500, "medium": 3_000, "large": 12_000}


def generate(size: int, rng: random.Random) -> str:
    return f"{size}\n" + " ".join(str(rng.randrange(size)) for _ in range(size)) + "\n"


def reference(stdin: str) -> str:
    _, *xs = stdin.split()
    seen, out = set(), []
    for x in xs:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return " ".join(out) + "\n"
