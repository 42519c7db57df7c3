from collections import Counter

n = int(input())
xs = list(map(int, input().split()))
counts = Counter(xs)
print(" ".join(str(x) for x in xs if counts[x] == 1))
