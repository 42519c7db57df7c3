import sys

words = sys.stdin.read().split()
counts = {}
for w in words:
    if w in counts:
        counts[w] += 1
    else:
        counts[w] = 1
top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
for w, c in top:
    print(w, c)
