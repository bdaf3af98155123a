# shellcheck shell=bash
# Sourced by the bench scripts. bench_setup HELPER..., for those that run helpers from the build
# tree, sets root (the repository), build ($BUILD, default root/build), teelm and tmp (a scratch
# directory removed at exit), and stops with "build first" when teelm or a HELPER (a path under
# build) is not built.
bench_setup() {
  root=$(cd "$(dirname "${BASH_SOURCE[1]}")/.." && pwd)
  build=${BUILD:-$root/build}
  teelm=$build/teelm
  local x
  for x in "$teelm" "${@/#/$build/}"; do
    [ -x "$x" ] || { echo "build first: make build ($x is missing)"; exit 1; }
  done
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
}

# The load tests of `teelm serve` with wrk (server.sh, proxy.sh, receipts.sh) share what follows.
# serve_bench_setup NAME SECONDS [ROUNDS] sets bin ($TEELM_BIN, default build/teelm), helper
# (tl_make_model, beside it), tik (../shared's cl100k_base), secs ($BENCH_SECONDS, default SECONDS),
# rounds ($ROUNDS, or $BENCH_ROUNDS, default ROUNDS, else 1: the benches' one name for it) and tmp
# (/tmp/teelm-bench-NAME.XXXXXX), stops when wrk is not
# installed, and at exit stops the server and the proxy the script started ($srv, $prx: their
# pids, empty while none runs) before removing tmp: a bench stopped half-way must not leave a
# server holding the cores.
# shellcheck disable=SC2034  # helper, tik, secs and rounds are the sourcing script's
serve_bench_setup() {
  bin=${TEELM_BIN:-build/teelm}
  secs=${BENCH_SECONDS:-$2}
  rounds=${ROUNDS:-${BENCH_ROUNDS:-${3:-1}}}
  helper=$(dirname "$bin")/tests/server/tl_make_model
  tik=${TEELM_SHARED:-../shared}/data/cl100k_base.tiktoken
  command -v wrk >/dev/null || { echo "bench/$1.sh: wrk is not installed (scripts/install-deps.sh --test)"; exit 1; }
  tmp=$(mktemp -d "/tmp/teelm-bench-$1.XXXXXX")
  srv=
  prx=
  trap serve_bench_cleanup EXIT
}
serve_bench_cleanup() {
  local p
  for p in $prx $srv; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}

# bench_machine: what the numbers were measured on, and the load they started under.
bench_machine() {
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# listen_url OUT SCHEME PAUSE: waits (100 times PAUSE seconds at most) for a `teelm serve` or
# `teelm proxy` started with --listen 127.0.0.1:0 to say "listening on" in OUT, and prints the
# address it took (SCHEME://127.0.0.1:PORT); fails when it never said one.
listen_url() {
  for _ in $(seq 1 100); do grep -q "listening on" "$1" 2>/dev/null && break; sleep "$3"; done
  grep -o "$2://127.0.0.1:[0-9]*" "$1"
}

# wrk_post_lua FILE JSON: a wrk script POSTing JSON with its %d replaced by 1, 2, ... (a different
# seed per request, as independent clients would send).
wrk_post_lua() {
  cat >"$1" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, string.format('$2', n))
end
LUA
}

# wrk_ms PCT FILE: wrk's latency at PCT ("50%", "99%") in FILE, in milliseconds.
wrk_ms() {
  awk -v p="$1" '$1 == p { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }; printf "%.1f", v }' "$2"
}
