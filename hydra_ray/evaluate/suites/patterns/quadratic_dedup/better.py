n = int(input())
xs = map(int, input().split())
print(" ".join(map(str, dict.fromkeys(xs))))
