"""Skip calls for Python tests, the same protocol as tests/util/test.h:
skip(why) -- a tool or reference is missing: fails `make test` unless TEELM_ALLOW_SKIP=1;
skip_shared(why) -- ../shared is absent: never fails the run. Each prints "SKIP: why", writes
"kind<TAB>why" to $TEELM_SKIP_DIR/$TEELM_TEST_NAME and exits 77."""
import os
import sys


def _record(kind, why):
    d, name = os.environ.get("TEELM_SKIP_DIR"), os.environ.get("TEELM_TEST_NAME")
    if not d or not name or "/" in name:
        return
    try:
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, name), "w") as f:
            f.write("%s\t%s\n" % (kind, " ".join(why.split())))
    except OSError as e:
        print("cannot record the skip in %s: %s" % (d, e), file=sys.stderr)


def skip(why):
    print("SKIP: %s" % why, flush=True)
    _record("skip", why)
    sys.exit(77)


def skip_shared(why):
    root = os.environ.get("TEELM_SHARED", "../shared")
    if os.path.exists(root):
        skip("%s (%s exists but lacks it)" % (why, root))
    print("SKIP (../shared absent): %s" % why, flush=True)
    _record("shared", why)
    sys.exit(77)


def fixture(rel):
    """tests/fixtures/REL if the repository carries it, else $TEELM_SHARED/fixtures/REL."""
    src = os.environ.get("TEELM_SRC")
    if src and os.path.exists(os.path.join(src, "tests", "fixtures", rel)):
        return os.path.join(src, "tests", "fixtures", rel)
    return os.path.join(os.environ.get("TEELM_SHARED", "../shared"), "fixtures", rel)


def cl100k(dir):
    """../shared's cl100k_base.tiktoken, else one rebuilt in DIR from npm tiktoken's (cl100k.py), else None."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import cl100k as c
    return c.path(dir)
