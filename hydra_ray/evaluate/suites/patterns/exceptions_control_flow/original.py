import sys

data = sys.stdin.read().split("\n")
m, q = map(int, data[0].split())
table = {}
for line in data[1:1 + m]:
    key, value = line.split()
    table[key] = int(value)
total = misses = 0
for key in data[1 + m:1 + m + q]:
    try:
        total += table[key]
    except KeyError:
        misses += 1
print(total)
print(misses)
