"""Naive doubly recursive Fibonacci without memoisation (exponential) instead of a linear iteration.

Input: q, then q lines n. Output: F(n) for each (F(0)=0, F(1)=1). ``size`` is the largest n.
"""
import random

TITLE = "recursion without memoisation"
TABLE_III = False
SIZES = {"small": 12, "medium": 22, "large": 31}


def generate(size: int, rng: random.Random) -> str:
    ns = [size] + [rng.randint(0, size) for _ in range(2)]
    rng.shuffle(ns)
    return f"{len(ns)}\n" + "".join(f"{n}\n" for n in ns)


def reference(stdin: str) -> str:
    q, *ns = map(int, stdin.split())

    def fib(n: int) -> int:  # fast doubling: F(2k) = F(k)(2F(k+1) - F(k)), F(2k+1) = F(k)^2 + F(k+1)^2
        if n == 0:
            return 0
        a, b = 0, 1
        for bit in bin(n)[2:]:
            a, b = a * (2 * b - a), a * a + b * b
            if bit == "1":
                a, b = b, a + b
        return a

    return "".join(f"{fib(n)}\n" for n in ns[:q])
