n, m = map(int, input().split())
a = list(map(int, input().split()))
b = set(map(int, input().split()))
print(" ".join(str(x) for x in a if x in b))
