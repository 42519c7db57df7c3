import sys
from itertools import accumulate

q, *ns = map(int, sys.stdin.read().split())
top = max(ns + [1])
sieve = bytearray([1]) * (top + 1)
sieve[0] = 0
sieve[1] = 0
for p in range(2, int(top ** 0.5) + 1):
    if sieve[p]:
        sieve[p * p::p] = bytes(len(range(p * p, top + 1, p)))
prefix = list(accumulate(sieve))
print("\n".join(str(prefix[n]) for n in ns))
