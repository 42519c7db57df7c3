import os
import sys
import tempfile

tmp = tempfile.mkdtemp()
path = os.path.join(tmp, "data.txt")
with open(path, "w") as f:
    f.write(sys.stdin.read())

with open(path) as f:
    rows = [line.split() for line in f]
values = [int(value) for _, value in rows]
total = sum(values)
best_name = rows[values.index(max(values))][0]
print(total)
print(best_name)
os.remove(path)
os.rmdir(tmp)
