import sys
from collections import Counter

counts = Counter(sys.stdin.read().split())
top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
print("\n".join(f"{w} {c}" for w, c in top))
