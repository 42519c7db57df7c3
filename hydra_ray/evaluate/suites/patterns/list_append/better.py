n = int(input())
values = [i * i % 10007 for i in range(n)]
print(len(values))
print(sum(values))
