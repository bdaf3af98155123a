#!/usr/bin/python3
"""Prints the path of a cl100k_base.tiktoken file: ../shared's ($TEELM_SHARED/data), or else one
rebuilt in DIR from npm tiktoken's cl100k_base.json (MIT; the same ranks: its "! OFFSET TOKEN..."
lines give each base64 token its rank). The rebuilt file must be byte-identical to the published
one (SHA-256 below), so tests see the same file either way. Exits 1 (saying why) when neither
source is there.

Usage: cl100k.py DIR       (also importable: path(dir) -> str or None)
"""
import hashlib
import json
import os
import sys

SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"


def _from_npm(js, out):
    with open(js) as f:
        ranks = json.load(f)["bpe_ranks"]
    lines = []
    for ln in ranks.split("\n"):
        if not ln:
            continue
        parts = ln.split(" ")
        if parts[0] != "!" or len(parts) < 2:
            raise ValueError("%s: bpe_ranks line is not '! OFFSET TOKEN...'" % js)
        off = int(parts[1])
        lines.extend("%s %d\n" % (t, off + k) for k, t in enumerate(parts[2:]))
    data = "".join(lines).encode()
    if hashlib.sha256(data).hexdigest() != SHA256:
        raise ValueError("%s does not rebuild the published cl100k_base.tiktoken" % js)
    with open(out, "wb") as f:
        f.write(data)
    return out


def path(dir):
    shared = os.path.join(os.environ.get("TEELM_SHARED", "../shared"), "data", "cl100k_base.tiktoken")
    if os.path.isfile(shared):
        return shared
    js = os.path.join(os.environ.get("TEELM_SRC", "."), "node_modules", "tiktoken", "encoders", "cl100k_base.json")
    if not os.path.isfile(js):
        print("no cl100k_base: neither %s nor %s" % (shared, js), file=sys.stderr)
        return None
    try:
        return _from_npm(js, os.path.join(dir, "cl100k_base.tiktoken"))
    except (OSError, ValueError, KeyError) as e:
        print("cl100k_base from npm tiktoken: %s" % e, file=sys.stderr)
        return None


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: cl100k.py DIR", file=sys.stderr)
        sys.exit(2)
    p = path(sys.argv[1])
    if not p:
        sys.exit(1)
    print(p)
