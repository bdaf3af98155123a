# shellcheck shell=bash
# Skip calls for shell tests, the same protocol as tests/util/test.h: source this file, then
#   skip "why"          a tool or reference is missing: fails `make test` unless TEELM_ALLOW_SKIP=1
#   skip_shared "why"   ../shared is absent: never fails the run
#   fixture REL         prints tests/fixtures/REL if the repository carries it, else
#                       $TEELM_SHARED/fixtures/REL (which may not exist)
#   cl100k DIR          prints ../shared's cl100k_base.tiktoken, else one rebuilt in DIR from npm
#                       tiktoken's (byte-identical; tests/util/cl100k.py); fails when neither exists
# Each skip prints "SKIP: why", writes "kind<TAB>why" to $TEELM_SKIP_DIR/$TEELM_TEST_NAME and exits 77.

_teelm_skip_record() {
  if [ -n "${TEELM_SKIP_DIR:-}" ] && [ -n "${TEELM_TEST_NAME:-}" ] && [[ "$TEELM_TEST_NAME" != */* ]]; then
    mkdir -p "$TEELM_SKIP_DIR" 2>/dev/null
    printf '%s\t%s\n' "$1" "$(printf '%s' "$2" | tr '\n\t' '  ')" >"$TEELM_SKIP_DIR/$TEELM_TEST_NAME" ||
      echo "cannot record the skip in $TEELM_SKIP_DIR" >&2
  fi
}

skip() {
  echo "SKIP: $*"
  _teelm_skip_record skip "$*"
  exit 77
}

skip_shared() {
  local root=${TEELM_SHARED:-../shared}
  if [ -e "$root" ]; then
    skip "$* ($root exists but lacks it)"
  fi
  echo "SKIP (../shared absent): $*"
  _teelm_skip_record shared "$*"
  exit 77
}

fixture() {
  if [ -n "${TEELM_SRC:-}" ] && [ -e "$TEELM_SRC/tests/fixtures/$1" ]; then
    printf '%s\n' "$TEELM_SRC/tests/fixtures/$1"
  else
    printf '%s\n' "${TEELM_SHARED:-../shared}/fixtures/$1"
  fi
}

cl100k() { # cl100k DIR
  /usr/bin/python3 "${TEELM_SRC:?}/tests/util/cl100k.py" "$1"
}
