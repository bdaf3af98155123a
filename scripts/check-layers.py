#!/usr/bin/env python3
"""Checks the include graph of src/ against the layer table of docs/architecture.md.

Usage: check-layers.py [ROOT]   (ROOT: the checkout, default: this script's parent folder)

The table (rows "| N | `folder`, `folder` | ... |", layer 1 at the top) is the source of truth.
A file in src/A/ may include A/x.h and headers of folders in lower layers (larger N); a header
marked private ("Internal to src/A" in its opening comment, or named *_internal.h) only from
src/A/. Every violation is printed as file:line with both folders and layers; exit 1 if any.
"""
import os
import re
import sys

ROW = re.compile(r"^\|\s*(\d+)\s*\|([^|]*)\|")
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]*)"')
FOLDER = re.compile(r"`([A-Za-z0-9_]+)`")


def read_table(doc):
    """{folder: layer} from the first table whose header row starts with | Layer | Folders |."""
    layers, in_table = {}, False
    with open(doc, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if re.match(r"^\|\s*Layer\s*\|\s*Folders\s*\|", line):
                in_table = True
                continue
            if not in_table:
                continue
            if not line.startswith("|"):
                if layers:
                    break
                continue
            m = ROW.match(line)
            if not m:
                continue  # the |---| separator
            n = int(m.group(1))
            names = FOLDER.findall(m.group(2))
            if not names:
                raise SystemExit(f"{doc}:{lineno}: layer {n} names no folder (write them as `folder`)")
            for name in names:
                if name in layers:
                    raise SystemExit(f"{doc}:{lineno}: folder {name} is in layers {layers[name]} and {n}")
                layers[name] = n
    if not layers:
        raise SystemExit(f"{doc}: no layer table (a table with the header | Layer | Folders | ... |)")
    return layers


def private_owner(path, folder):
    """The folder a header is private to, or None."""
    if path.endswith("_internal.h"):
        return folder
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read(8192)
    opening = re.match(r"\s*/\*(.*?)\*/", text, re.S)
    m = re.search(r"Internal to src/([A-Za-z0-9_]+)", opening.group(1)) if opening else None
    return m.group(1) if m else None


def check(root):
    doc = os.path.join(root, "docs", "architecture.md")
    src = os.path.join(root, "src")
    layers = read_table(doc)
    errors = []
    present = sorted(d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d)))
    for d in present:
        if d not in layers:
            errors.append(f"src/{d}/: folder not in the layer table of docs/architecture.md")
    for d in sorted(set(layers) - set(present)):
        errors.append(f"docs/architecture.md: layer {layers[d]} names {d}, but src/{d}/ does not exist")

    def describe(folder):
        return f"{folder} (layer {layers[folder]})" if folder in layers else f"{folder} (no layer)"

    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        for name in sorted(filenames):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            folder = os.path.relpath(path, src).split(os.sep)[0]
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.readlines()
            for lineno, line in enumerate(lines, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                target = m.group(1)
                where = f"{rel}:{lineno}"
                parts = target.split("/")
                if len(parts) != 2:
                    errors.append(f'{where}: #include "{target}": project headers are included as "folder/file.h"')
                    continue
                dep = parts[0]
                header = os.path.join(src, dep, parts[1])
                if not os.path.isfile(header):
                    errors.append(f'{where}: #include "{target}": no such header src/{target}')
                    continue
                if dep not in layers or folder not in layers:
                    continue  # already reported as a folder missing from the table
                if dep != folder:
                    if layers[dep] < layers[folder]:
                        errors.append(f'{where}: upward include: {describe(folder)} includes "{target}" from '
                                      f"{describe(dep)}")
                    elif layers[dep] == layers[folder]:
                        errors.append(f'{where}: sibling include: {describe(folder)} includes "{target}" from '
                                      f"{describe(dep)} (siblings in one layer may not include each other)")
                owner = private_owner(header, dep)
                if owner and owner != folder:
                    errors.append(f'{where}: {describe(folder)} includes "{target}", which is private to src/{owner}/')
    return errors


def main(argv):
    root = argv[1] if len(argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    errors = check(root)
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        print(f"check-layers: {len(errors)} violation(s) of the layer rules (docs/architecture.md)", file=sys.stderr)
        return 1
    print("check-layers: every include follows docs/architecture.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
