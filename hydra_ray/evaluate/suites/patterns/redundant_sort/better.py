import sys

n, q = map(int, input().split())
ordered = sorted(map(int, input().split()))
print("\n".join(str(ordered[int(k)]) for k in sys.stdin.read().split()))
