#!/usr/bin/env python3
"""scripts/check-layers.py on synthetic trees: a clean tree passes, and each kind of violation
fails naming the file, the line and both folders with their layers."""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKER = os.path.join(HERE, "..", "..", "scripts", "check-layers.py")
DOC = """# Architecture

| Layer | Folders | Owns |
| --- | --- | --- |
| 1 | `cli` | commands |
| 2 | `server`, `kbs` | services |
| 3 | `model` | the model |
| 4 | `util` | infrastructure |
"""
failures = 0


def tree(files, doc=DOC):
    root = tempfile.mkdtemp(prefix="teelm-layers-")
    os.makedirs(os.path.join(root, "docs"))
    with open(os.path.join(root, "docs", "architecture.md"), "w") as f:
        f.write(doc)
    base = {
        "src/cli/main.c": '#include "cli/args.h"\n#include "server/server.h"\n#include "util/err.h"\n',
        "src/cli/args.h": "/* Argument parsing. */\n",
        "src/server/server.h": '/* The server. */\n#include "model/model.h"\n',
        "src/kbs/broker.c": '#include <stdio.h>\n#include "model/model.h"\n',
        "src/model/model.h": '/* The model. */\n#include "util/err.h"\n',
        "src/model/simd.h": "/* Vectors.\n * Internal to src/model/. */\n",
        "src/model/model.c": '#include "model/model.h"\n#include "model/simd.h"\n',
        "src/util/err.h": "/* Errors. */\n",
    }
    base.update(files)
    for rel, text in base.items():
        if text is None:
            continue
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    return root


def run(root):
    p = subprocess.run([sys.executable, CHECKER, root], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def expect(what, files, rc_want, *needles, doc=DOC):
    global failures
    root = tree(files, doc)
    try:
        rc, out = run(root)
    finally:
        shutil.rmtree(root)
    missing = [n for n in needles if n not in out]
    if rc != rc_want or missing:
        failures += 1
        print(f"FAIL {what}: exit {rc} (want {rc_want}), missing {missing}\n{out}")
    else:
        print(f"ok   {what}")


expect("clean tree passes", {}, 0, "every include follows")
expect("upward include", {"src/model/model.c": '#include "model/model.h"\n\n#include "kbs/broker.h"\n',
                          "src/kbs/broker.h": "/* Broker. */\n"}, 1,
       "src/model/model.c:3: upward include", "model (layer 3)", '"kbs/broker.h"', "kbs (layer 2)")
expect("sibling include", {"src/kbs/broker.c": '#include "server/server.h"\n'}, 1,
       "src/kbs/broker.c:1: sibling include", "kbs (layer 2)", "server (layer 2)")
expect("private header from another folder", {"src/server/server.c": '#include "model/simd.h"\n'}, 1,
       "src/server/server.c:1:", '"model/simd.h"', "private to src/model/")
expect("*_internal.h is private", {"src/util/io_internal.h": "/* shared by io files */\n",
                                   "src/model/io.c": '#include "util/io_internal.h"\n'}, 1,
       "src/model/io.c:1:", "private to src/util/")
expect("folder missing from the table", {"src/extra/x.c": '#include "util/err.h"\n'}, 1,
       "src/extra/: folder not in the layer table")
expect("table folder missing from src", {"src/kbs/broker.c": None}, 1,
       "layer 2 names kbs, but src/kbs/ does not exist")
expect("include without its folder", {"src/util/err.c": '#include "err.h"\n'}, 1,
       "src/util/err.c:1:", "folder/file.h")
expect("include of a header that does not exist", {"src/util/err.c": '#include "util/nope.h"\n'}, 1,
       "no such header src/util/nope.h")
expect("no table in the doc", {}, 1, "no layer table", doc="# Architecture\n\nnothing here\n")

# the real table parses and names every folder of the real tree
rc, out = run(os.path.join(HERE, "..", ".."))
if rc != 0:
    failures += 1
    print(f"FAIL the real tree: {out}")

print(f"{failures} failure(s)" if failures else "all checks passed")
sys.exit(1 if failures else 0)
