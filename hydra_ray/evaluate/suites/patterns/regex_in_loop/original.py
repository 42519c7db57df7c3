import re
import sys

count = total = 0
for line in sys.stdin:
    pattern = re.compile(r"([a-z]+)=(\d+)$", re.ASCII)
    m = pattern.match(line.rstrip("\n"))
    if m:
        count += 1
        total += int(m.group(2))
print(count)
print(total)
