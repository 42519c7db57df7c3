"""Primes counted by trial division of every number instead of a sieve of Eratosthenes.

Input: q / q lines n. Output: the number of primes <= n for each. ``size`` is the largest n.
"""
import random

TITLE = "trial division instead of a sieve"
TABLE_III = False
SIZES = {"small": 2_000, "medium": 30_000, "large": 150_000}


def generate(size: int, rng: random.Random) -> str:
    ns = [size, rng.randint(0, size), rng.randint(0, 30)]
    return f"{len(ns)}\n" + "".join(f"{n}\n" for n in ns)


def reference(stdin: str) -> str:
    q, *ns = map(int, stdin.split())
    top = max(ns[:q] + [2])
    primes: list[int] = []
    for c in range(2, top + 1):  # incremental: test only against primes found so far, up to sqrt
        for p in primes:
            if p * p > c:
                primes.append(c)
                break
            if c % p == 0:
                break
        else:
            primes.append(c)
    import bisect

    return "".join(f"{bisect.bisect_right(primes, n)}\n" for n in ns[:q])
