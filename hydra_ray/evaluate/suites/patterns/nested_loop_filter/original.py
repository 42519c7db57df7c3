n, m = map(int, input().split())
a = list(map(int, input().split()))
b = list(map(int, input().split()))
kept = []
for x in a:
    for y in b:
        if x == y:
            kept.append(x)
            break
print(" ".join(map(str, kept)))
