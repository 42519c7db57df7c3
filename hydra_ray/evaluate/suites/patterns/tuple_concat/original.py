n = int(input())
xs = list(map(int, input().split()))
evens = ()
for x in xs:
    if x % 2 == 0:
        evens += (x,)
print(len(evens))
print(sum(evens))
print(evens[len(evens) // 2] if evens else -1)
