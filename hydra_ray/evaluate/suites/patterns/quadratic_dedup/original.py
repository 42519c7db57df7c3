n = int(input())
xs = list(map(int, input().split()))
unique = []
for x in xs:
    if x not in unique:
        unique.append(x)
print(" ".join(map(str, unique)))
