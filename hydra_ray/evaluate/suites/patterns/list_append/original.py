n = int(input())
values = []
for i in range(n):
    values.append(i * i % 10007)
print(len(values))
print(sum(values))
