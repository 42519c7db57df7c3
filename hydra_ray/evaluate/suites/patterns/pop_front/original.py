n, k = map(int, input().split())
queue = list(range(1, n + 1))
order = []
while queue:
    for _ in range(k - 1):
        queue.append(queue.pop(0))
    order.append(queue.pop(0))
print(order[-1])
print(sum(i * p for i, p in enumerate(order, 1)) % 1_000_000_007)
