# shellcheck shell=bash disable=SC2154,SC2034  # $T and $fail are the sourcing test's, PY and HELPER its to use
# For the shell tests that run `teelm serve` or `teelm proxy` in the background on loopback. Source
# it (it sources skip.sh too); it sets BIN ($TEELM_BIN, required), PY ($TEELM_PYTHON, default
# /usr/bin/python3) and HELPER (tl_make_model, beside BIN), and gives:
#   require_helper         fails the test when HELPER is not built
#   check WHAT CMD...      runs CMD and prints "ok: WHAT", or "FAIL: WHAT" and sets fail=1; counts
#                          the checks in $checks
#   serve_url OUT SCHEME TRIES PAUSE [PID]
#                          waits, TRIES times PAUSE seconds at most (less when process PID exits),
#                          for a server started with --listen 127.0.0.1:... to say "listening on" in
#                          the file OUT, then prints the address it took, SCHEME://127.0.0.1:PORT;
#                          fails when OUT names none (the caller says what did not start)
#   serve_cleanup PID...   for the EXIT trap: stops each PID, then removes $T, unless a check failed
#                          ($fail is not 0) and KEEP is set, when it says where $T was kept
# shellcheck source=tests/util/skip.sh
. "$(dirname "${BASH_SOURCE[0]}")/skip.sh"
BIN=${TEELM_BIN:?}
PY=${TEELM_PYTHON:-/usr/bin/python3}
HELPER=$(dirname "$BIN")/tests/server/tl_make_model
checks=0

require_helper() { [ -x "$HELPER" ] || { echo "FAIL: $HELPER not built"; exit 1; }; }

check() {
  local d=$1
  shift
  checks=$((checks + 1))
  if "$@"; then echo "ok: $d"; else echo "FAIL: $d"; fail=1; fi
}

serve_url() {
  local out=$1 scheme=$2 tries=$3 pause=$4 pid=${5:-}
  for _ in $(seq 1 "$tries"); do
    grep -q "listening on" "$out" 2>/dev/null && break
    [ -z "$pid" ] || kill -0 "$pid" 2>/dev/null || break
    sleep "$pause"
  done
  grep -o "$scheme://127.0.0.1:[0-9]*" "$out"
}

serve_cleanup() {
  local p
  for p in "$@"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  if [ "$fail" = 0 ] || [ -z "${KEEP:-}" ]; then rm -rf "$T"; else echo "kept $T"; fi
}
