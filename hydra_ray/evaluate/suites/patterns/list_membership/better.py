n, q = map(int, input().split())
a = set(map(int, input().split()))
print(sum(1 for x in map(int, input().split()) if x in a))
