import re
import sys

match = re.compile(r"([a-z]+)=(\d+)$", re.ASCII).match
count = total = 0
for line in sys.stdin.read().splitlines():
    m = match(line)
    if m:
        count += 1
        total += int(m.group(2))
print(count)
print(total)
