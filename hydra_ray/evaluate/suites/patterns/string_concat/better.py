import hashlib

n = int(input())
xs = list(map(int, input().split()))
s = "".join([f"{x * 3 + 1}," for x in xs])
print(len(s))
print(hashlib.md5(s.encode()).hexdigest())
