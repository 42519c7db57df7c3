"""Sum of 1..n computed by a Python loop instead of the closed form n(n+1)/2 (Hydra, Table III).

Input: q, then q lines each holding n. Output: one sum per line. ``size`` is the total of the n's.
"""
import random

TITLE = "closed-form triangular sum"
TABLE_III = True
SIZES = {"small": 3_000, "medium": 300_000, "large": 6_000_000}


def generate(size: int, rng: random.Random) -> str:
    q = 3
    ns = [rng.randint(size // (2 * q), size // q) for _ in range(q)]
    return f"{q}\n" + "".join(f"{n}\n" for n in ns)


def reference(stdin: str) -> str:
    q, *ns = map(int, stdin.split())
    # Gauss pairing, stated differently from better.py: (n choose 2) + n.
    return "".join(f"{n * (n - 1) // 2 + n}\n" for n in ns[:q])
