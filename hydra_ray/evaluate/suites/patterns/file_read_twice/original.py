import os
import sys
import tempfile

tmp = tempfile.mkdtemp()
path = os.path.join(tmp, "data.txt")
with open(path, "w") as f:
    f.write(sys.stdin.read())


def load(path):
    with open(path) as f:
        return [line.split() for line in f]


total = sum(int(value) for _, value in load(path))
best_name = max(load(path), key=lambda row: int(row[1]))[0]
print(total)
print(best_name)
os.remove(path)
os.rmdir(tmp)
