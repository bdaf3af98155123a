#!/usr/bin/env bash
# Cost of receipts (docs/receipts.md): completion latency at 32 concurrent clients of the same
# server binary and model with receipts (the default) and with --no-receipts, side by side. The two
# servers run one at a time, alternating for ROUNDS rounds (a shared machine's load drifts; the
# alternation spreads it over both), each round BENCH_SECONDS of wrk with 32 connections, as
# bench/server.sh. Prints mean and p50 latency per setting and the ratio (target: <= 1.02).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/common.sh
. bench/common.sh
serve_bench_setup receipts 10 3
if ! { [ -x "$bin" ] && [ -x "$helper" ] && [ -f "$tik" ]; }; then echo "bench/receipts.sh: needs $bin, $helper and $tik"; exit 1; fi
"$helper" "$tmp/model" "$tik" 100070 1337
wrk_post_lua "$tmp/post.lua" '{"prompt":"The sales team","max_tokens":32,"temperature":1.0,"seed":%d}'
ms() { # ms FILE FIELD: wrk's latency line (Avg / 50%) in ms
  awk -v f="$2" '($1 == "Latency" && f == "avg" && $2 ~ /^[0-9]/) { v = $2 } ($1 == f) { v = $2 }
    END { if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) }
          else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }; printf "%.2f", v }' "$1"
}
run() { # run NAME FLAGS...: one round; appends "avg p50 rps" to tmp/NAME
  local name=$1; shift
  "$bin" serve --model "$tmp/model" --tee sim --listen 127.0.0.1:0 --max-batch 32 --max-queue 64 --max-connections-per-peer 64 --quiet "$@" \
    >"$tmp/serve.out" 2>"$tmp/serve.err" &
  srv=$!
  local url
  url=$(listen_url "$tmp/serve.out" https 0.2)/v1/completions
  local has
  has=$(curl -sk "$url" -d '{"prompt":"The sales team","max_tokens":32}' | jq 'has("teelm_receipt")')
  [ "$has" = "$([ "$name" = with ] && echo true || echo false)" ] || { echo "bench/receipts.sh: $name: teelm_receipt present = $has"; exit 1; }
  wrk -t2 -c32 -d"${secs}s" --latency --timeout 30s -s "$tmp/post.lua" "$url" >"$tmp/wrk"
  if grep -q "Non-2xx\|Socket errors" "$tmp/wrk"; then cat "$tmp/wrk"; echo "bench/receipts.sh: errors"; exit 1; fi
  echo "$(ms "$tmp/wrk" avg) $(ms "$tmp/wrk" 50%) $(awk '/^Requests\/sec/ {print $2}' "$tmp/wrk")" >>"$tmp/$name"
  kill "$srv"; wait "$srv" 2>/dev/null || true; srv=
}
bench_machine
for r in $(seq 1 "$rounds"); do
  run with
  run without --no-receipts
  echo "round $r: with $(tail -1 "$tmp/with") | without $(tail -1 "$tmp/without")  (mean ms, p50 ms, req/s)"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
# the direct cost, free of the load's noise: one receipt's CPU time beside a completion's latency
bench=$(dirname "$bin")/tests/server/tl_bench_receipt
[ -x "$bench" ] && "$bench"
mean() { awk -v c="$2" '{ s += $c } END { printf "%.2f", s / NR }' "$1"; }
printf "%-18s %10s %10s %10s\n" "32 clients" "mean ms" "p50 ms" "req/s"
printf "%-18s %10s %10s %10s\n" "receipts" "$(mean "$tmp/with" 1)" "$(mean "$tmp/with" 2)" "$(mean "$tmp/with" 3)"
printf "%-18s %10s %10s %10s\n" "--no-receipts" "$(mean "$tmp/without" 1)" "$(mean "$tmp/without" 2)" "$(mean "$tmp/without" 3)"
printf "latency ratio receipts / none: mean %.3f, p50 %.3f (target <= 1.02)\n" \
  "$(echo "$(mean "$tmp/with" 1) / $(mean "$tmp/without" 1)" | bc -l)" "$(echo "$(mean "$tmp/with" 2) / $(mean "$tmp/without" 2)" | bc -l)"
