import hashlib

n = int(input())
xs = list(map(int, input().split()))
s = ""
for x in xs:
    s = s + str(x * 3 + 1) + ","
print(len(s))
print(hashlib.md5(s.encode()).hexdigest())
