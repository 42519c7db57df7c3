"""A string built by repeated concatenation ``s = s + piece`` instead of ``str.join`` (Hydra, Table III).

``s = s + a + b`` copies the growing string on every iteration (CPython's in-place append only
helps the last ``+``), so the build is quadratic. Input: n, then n integers.
Output: length of the comma-terminated record string and its MD5.
"""
import hashlib
import random

TITLE = "string concatenation in a loop"
TABLE_III = True
SIZES = {"small": 1_000, "medium": 6_000, "large": 25_000}


def generate(size: int, rng: random.Random) -> str:
    return f"{size}\n" + " ".join(str(rng.randrange(10**6)) for _ in range(size)) + "\n"


def reference(stdin: str) -> str:
    _, *xs = stdin.split()
    parts = []
    for x in xs:
        parts.append(f"{int(x) * 3 + 1},")
    s = "".join(parts)
    return f"{len(s)}\n{hashlib.md5(s.encode()).hexdigest()}\n"
