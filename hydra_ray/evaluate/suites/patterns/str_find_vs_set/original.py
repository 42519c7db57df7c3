n, q = map(int, input().split())
text = " " + input().strip() + " "
queries = input().split()
hits = 0
for w in queries:
    if text.find(" " + w + " ") != -1:
        hits += 1
print(hits)
