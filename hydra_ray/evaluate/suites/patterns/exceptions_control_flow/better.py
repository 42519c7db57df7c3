import sys

data = sys.stdin.read().split("\n")
m, q = map(int, data[0].split())
table = {}
for line in data[1:1 + m]:
    key, value = line.split()
    table[key] = int(value)
queries = data[1 + m:1 + m + q]
get = table.get
found = [v for v in map(get, queries) if v is not None]
print(sum(found))
print(q - len(found))
