"""The same list sorted again for every query instead of once (Hydra, Table III).

Input: n q / a / q lines k. Output: the k-th smallest (0-based) of a for each query.
"""
import random

TITLE = "redundant sort"
TABLE_III = True
SIZES = {"small": 500, "medium": 5_000, "large": 30_000}


def generate(size: int, rng: random.Random) -> str:
    q = max(5, size // 100)
    a = [rng.randrange(10**9) for _ in range(size)]
    ks = [rng.randrange(size) for _ in range(q)]
    return f"{size} {q}\n{' '.join(map(str, a))}\n" + "".join(f"{k}\n" for k in ks)


def reference(stdin: str) -> str:
    import heapq

    tokens = stdin.split()
    n, q = int(tokens[0]), int(tokens[1])
    a = list(map(int, tokens[2:2 + n]))
    ks = map(int, tokens[2 + n:2 + n + q])
    return "".join(f"{heapq.nsmallest(k + 1, a)[-1]}\n" for k in ks)
