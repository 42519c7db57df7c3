n = int(input())
xs = list(map(int, input().split()))
singles = []
for x in xs:
    if xs.count(x) == 1:
        singles.append(x)
print(" ".join(map(str, singles)))
