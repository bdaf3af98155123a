"""What the two Unicode table generators (gen-tokenizer-unicode.py, gen-hf-unicode.py) share: both
write sets of code points as the sorted inclusive [first, last] ranges the C tables hold."""


def ranges(cps):
    out = []
    for c in sorted(cps):
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return out
