#!/usr/bin/python3
"""Lists every skipped test of a CTest run with its reason, and decides whether the run passed.

Usage: test-summary.py JUNIT_XML SKIP_DIR [TITLE]
  JUNIT_XML  written by `ctest --output-junit`
  SKIP_DIR   the run's $TEELM_SKIP_DIR: one file per skipped test, "kind<TAB>reason" (tests/util/test.h)

A skip of kind "shared" (../shared, the prototype's text and checkpoints, is absent) never fails.
Any other skip fails unless TEELM_ALLOW_SKIP=1: after scripts/install-deps.sh nothing may be
missing. A test CTest reports as skipped without a record (it bypassed the skip helpers) counts as
an ordinary skip whose reason is its own "SKIP:" line. A test CTest could not run at all (e.g. its
executable is missing) always fails. Exit status: 0 when the run passes these rules, 1 otherwise.
"""
import os
import sys
import xml.etree.ElementTree as ET


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    junit, skip_dir = argv[1], argv[2]
    title = argv[3] if len(argv) == 4 else junit
    allow = os.environ.get("TEELM_ALLOW_SKIP") == "1"
    try:
        root = ET.parse(junit).getroot()
    except (OSError, ET.ParseError) as e:
        print("test-summary: cannot read %s: %s" % (junit, e), file=sys.stderr)
        return 1
    cases = root.iter("testcase")
    shared, other, notrun, ran = [], [], [], 0
    for tc in cases:
        name, status = tc.get("name", "?"), tc.get("status", "")
        if status in ("run", "fail"):
            ran += 1
            continue
        sk = tc.find("skipped")
        msg = sk.get("message", "") if sk is not None else status
        out = tc.findtext("system-out") or ""
        if status == "notrun" and msg.startswith("SKIP_RETURN_CODE"):
            rec = None
            if "/" not in name:
                try:
                    with open(os.path.join(skip_dir, name)) as f:
                        rec = f.readline().rstrip("\n")
                except OSError:
                    pass
            if rec and "\t" in rec:
                kind, why = rec.split("\t", 1)
            else:
                lines = [ln.strip() for ln in out.splitlines() if ln.strip().startswith("SKIP")]
                kind = "skip"
                why = "%s [skipped without recording why: use tests/util/test.h, skip.sh or skip.py]" % (
                    lines[-1] if lines else "no SKIP line printed")
            (shared if kind == "shared" else other).append((name, why))
        elif status == "disabled":
            other.append((name, "disabled in CMake"))
        else:
            notrun.append((name, msg or (out.strip().splitlines() or ["not run"])[0]))

    print("== test summary (%s): %d ran, %d skipped, %d not run" % (
        title, ran, len(shared) + len(other), len(notrun)))
    for name, why in shared:
        print("  skipped (../shared absent, allowed): %s: %s" % (name, why))
    for name, why in other:
        print("  skipped%s: %s: %s" % (" (allowed by TEELM_ALLOW_SKIP=1)" if allow else "", name, why))
    for name, why in notrun:
        print("  NOT RUN: %s: %s" % (name, why))
    bad = bool(notrun) or (bool(other) and not allow)
    if other and not allow:
        print("FAIL: %d test(s) skipped for a missing tool or reference; run scripts/install-deps.sh, "
              "or set TEELM_ALLOW_SKIP=1 to accept the skips" % len(other))
    if notrun:
        print("FAIL: %d test(s) could not be run" % len(notrun))
    if ran == 0 and not shared and not other:
        print("FAIL: no test ran")
        bad = True
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
