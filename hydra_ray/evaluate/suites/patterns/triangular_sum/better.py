q = int(input())
for _ in range(q):
    n = int(input())
    print(n * (n + 1) // 2)
