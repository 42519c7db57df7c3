n, q = map(int, input().split())
words = set(input().split())
print(sum(1 for w in input().split() if w in words))
