def fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


q = int(input())
for _ in range(q):
    print(fib(int(input())))
