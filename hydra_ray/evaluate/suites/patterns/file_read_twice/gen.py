"""A data file opened and parsed twice, once per statistic, instead of once (Hydra, Table III).

Both programs first save stdin to a temporary file (the "data file"); the original then reads it
twice. Input: lines "name value". Output: the total of the values and the name with the largest value.
"""
import random

TITLE = "file read twice"
TABLE_III = True
SIZES = {"small": 1_000, "medium": 40_000, "large": 250_000}


def generate(size: int, rng: random.Random) -> str:
    rows = [f"item{rng.randrange(10 * size)} {rng.randrange(-10**6, 10**6)}\n" for _ in range(size)]
    return "".join(rows)


def reference(stdin: str) -> str:
    total, best, best_name = 0, None, ""
    for line in stdin.splitlines():
        name, value = line.split()
        v = int(value)
        total += v
        if best is None or v > best:  # first maximum wins
            best, best_name = v, name
    return f"{total}\n{best_name}\n"
