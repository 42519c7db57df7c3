"""Missing dictionary keys handled by raising and catching ``KeyError`` on most lookups instead of
``dict.get``.

Input: m q / m lines "key value" / q query keys, one a line (most are missing).
Output: the sum of the values found (missing keys count 0) and the number of misses.
"""
import random

TITLE = "exceptions as control flow"
TABLE_III = False
SIZES = {"small": 2_000, "medium": 50_000, "large": 400_000}


def generate(size: int, rng: random.Random) -> str:
    m = max(10, size // 10)
    keys = [f"k{i}" for i in range(m)]
    rows = "".join(f"{k} {rng.randrange(1000)}\n" for k in keys)
    queries = "".join(f"k{rng.randrange(8 * m)}\n" for _ in range(size))
    return f"{m} {size}\n{rows}{queries}"


def reference(stdin: str) -> str:
    tokens = stdin.split()
    m, q = int(tokens[0]), int(tokens[1])
    table = {tokens[2 + 2 * i]: int(tokens[3 + 2 * i]) for i in range(m)}
    queries = tokens[2 + 2 * m:2 + 2 * m + q]
    found = [table[k] for k in queries if k in table]
    return f"{sum(found)}\n{q - len(found)}\n"
