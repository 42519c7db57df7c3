q = int(input())
for _ in range(q):
    n = int(input())
    total = 0
    for i in range(1, n + 1):
        total += i
    print(total)
