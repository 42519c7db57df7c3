"""A regular expression compiled inside the loop that uses it instead of once, outside.

``re`` caches compiled patterns, so the cost is the cache lookup and argument handling on every line
plus the attribute lookups; with a flag argument it is a noticeable share of a short match.
Input: lines of "key=value" records, some malformed. Output: number of valid records and the sum of
their values.
"""
import random
import string

TITLE = "regex compiled in a loop"
TABLE_III = False
SIZES = {"small": 2_000, "medium": 60_000, "large": 400_000}


def generate(size: int, rng: random.Random) -> str:
    lines = []
    for _ in range(size):
        key = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(1, 6)))
        if rng.random() < 0.8:
            lines.append(f"{key}={rng.randrange(1000)}")
        else:
            lines.append(f"{key}:{rng.randrange(1000)}")
    return "\n".join(lines) + "\n"


def reference(stdin: str) -> str:
    count = total = 0
    for line in stdin.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.isalpha() and key.islower() and value.isdigit():
            count += 1
            total += int(value)
    return f"{count}\n{total}\n"
