#!/usr/bin/python3
"""Writes a deterministic mixed-script text of about SIZE bytes (default 10 MB) for
bench/tokenizer.sh: prose from the seed corpus when given, plus generated words in Latin,
Cyrillic, Greek, Arabic, Hebrew, Devanagari, CJK, Hangul and Thai, numbers, punctuation, emoji,
code-like lines and mixed line endings. Same arguments, same bytes."""
import random
import sys

out, size = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10_000_000
seed_text = open(sys.argv[3], encoding="utf-8").read().split() if len(sys.argv) > 3 else []
rng = random.Random(20240601)
scripts = [
    (0x61, 0x7A), (0x430, 0x44F), (0x3B1, 0x3C9), (0x627, 0x64A), (0x5D0, 0x5EA), (0x915, 0x939),
    (0x4E00, 0x9FA5), (0xAC00, 0xD7A3), (0xE01, 0xE2E), (0x3041, 0x3096),
]
emoji = ["😀", "👍🏽", "🚀", "❤️", "👨‍👩‍👧", "🇯🇵", "✅"]
punct = [", ", ". ", "; ", ": ", "! ", "? ", " - ", " (", ") ", "\"", "'s ", "n't "]


def word():
    lo, hi = scripts[rng.randrange(len(scripts))]
    n = rng.randint(1, 4) if hi > 0x3000 else rng.randint(2, 10)
    return "".join(chr(rng.randint(lo, hi)) for _ in range(n))


parts, total = [], 0
while total < size:
    r = rng.random()
    if r < 0.45 and seed_text:
        i = rng.randrange(len(seed_text) - 40)
        s = " ".join(seed_text[i:i + rng.randint(3, 40)])
    elif r < 0.80:
        s = " ".join(word() for _ in range(rng.randint(2, 12)))
    elif r < 0.88:
        s = " ".join(str(rng.randint(0, 10 ** rng.randint(1, 9))) for _ in range(rng.randint(1, 6)))
    elif r < 0.93:
        s = "    if (x%d != %d) { return f(\"%s\", %d); }" % (rng.randint(0, 99), rng.randint(0, 999), word(), rng.randint(0, 9))
    else:
        s = " ".join(rng.choice(emoji) for _ in range(rng.randint(1, 4)))
    s += rng.choice(punct) + rng.choice(["", "", "", "\n", "\r\n", "\n\n", "  "])
    parts.append(s)
    total += len(s.encode("utf-8"))
data = "".join(parts).encode("utf-8")[:size]
# cut back to a whole character
while data and (data[-1] & 0xC0) == 0x80:
    data = data[:-1]
if data and data[-1] >= 0xC0:
    data = data[:-1]
open(out, "wb").write(data)
