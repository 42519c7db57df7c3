n, q = map(int, input().split())
a = list(map(int, input().split()))
queries = list(map(int, input().split()))
hits = 0
for x in queries:
    if x in a:
        hits += 1
print(hits)
