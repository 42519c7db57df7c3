from collections import deque

n, k = map(int, input().split())
queue = deque(range(1, n + 1))
order = []
while queue:
    queue.rotate(1 - k)
    order.append(queue.popleft())
print(order[-1])
print(sum(i * p for i, p in enumerate(order, 1)) % 1_000_000_007)
