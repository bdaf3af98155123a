# shellcheck shell=bash disable=SC2119,SC2154  # ok without WHAT; $tmp is the sourcing test's
# Checks for shell tests that drive the teelm binary, the counterpart of tests/util/test.h's CHECK.
# Source it (it sources skip.sh too) once $tmp, the test's scratch directory, is set:
#   ok [WHAT] / bad WHAT       count a passed / failed check (printed as "ok: WHAT", "FAIL: WHAT")
#   run WANT WHAT [--] CMD...  runs CMD, stdout to $tmp/out and stderr to $tmp/err, and checks that
#                              it exits with status WANT (on a mismatch both outputs are printed)
#   has FILE PATTERN WHAT      checks that $tmp/FILE contains PATTERN (grep)
#   model_inputs               sets helper (tl_make_model, to make a random seed-size model) and tik
#                              (the cl100k ranks), skipping when either is missing
#   dcap_fixtures              sets D to the DCAP quote fixtures (tests/fixtures/dcap), skipping when absent
#   finish                     prints "N passed, M failed" and exits 0 only when something was
#                              checked and nothing failed (a script that checked nothing has not passed)
# shellcheck source=tests/util/skip.sh
. "$(dirname "${BASH_SOURCE[0]}")/skip.sh"
fail=0
pass=0

# shellcheck disable=SC2120  # WHAT is optional
ok() { pass=$((pass + 1)); [ $# -eq 0 ] || echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

run() {
  local want=$1 what=$2 got
  shift 2
  [ "${1:-}" = -- ] && shift
  "$@" >"$tmp/out" 2>"$tmp/err"
  got=$?
  if [ "$got" -ne "$want" ]; then bad "$what: exit $got, want $want"; cat "$tmp/out" "$tmp/err"; else ok; fi
}

has() { if grep -q -- "$2" "$tmp/$1"; then ok; else bad "$3: '$2' not in $1"; cat "$tmp/$1"; fi; }

model_inputs() {
  helper=$(dirname "${bin:?}")/tests/server/tl_make_model
  tik=${TEELM_SHARED:-../shared}/data/cl100k_base.tiktoken
  [ -f "$tik" ] || skip_shared "$tik is absent"
  [ -x "$helper" ] || skip "$helper is not built"
}

dcap_fixtures() {
  D=$(fixture dcap)
  [ -f "$D/SOURCES.txt" ] || skip "$D is absent (tests/fixtures/dcap is part of the repository)"
}

finish() {
  echo "$pass passed, $fail failed"
  if [ "$pass" -eq 0 ] && [ "$fail" -eq 0 ]; then echo "FAIL: no check ran"; exit 1; fi
  [ "$fail" -eq 0 ]
  exit
}
