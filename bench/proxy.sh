#!/usr/bin/env bash
# What `teelm proxy` costs: chat completions (32 tokens, temperature 1, a different seed per request)
# from 1, 8 and 32 concurrent wrk connections, straight to `teelm serve` (HTTPS, sim TEE, seed-size
# model with random weights unless BENCH_MODEL) and through the proxy (plain HTTP on loopback, which
# verifies the server's RA-TLS evidence on each new upstream connection), against the same server.
# Each level alternates direct and proxied runs (ROUNDS of each, BENCH_SECONDS long), so a
# change in the machine's load hits both alike; it prints requests/s, p50/p99 latency, the proxy's
# CPU time per request (also as a share of the server's CPU time in the same runs: what the proxy
# would cost a CPU-bound machine, whatever else runs on it) and the overhead 1 - proxied/direct
# (target <= 5 % at 32 clients).
# Environment: TEELM_BIN (default build/teelm), BENCH_SECONDS (10), ROUNDS (2; BENCH_ROUNDS is
# also read), BENCH_MODEL.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/common.sh
. bench/common.sh
serve_bench_setup proxy 10 2
[ -x "$bin" ] || { echo "bench/proxy.sh: build teelm first (make build)"; exit 1; }

model=${BENCH_MODEL:-}
if [ -z "$model" ]; then
  [ -f "$tik" ] || tik=$(TEELM_SRC=$PWD /usr/bin/python3 tests/util/cl100k.py "$tmp") ||
    { echo "bench/proxy.sh: needs cl100k_base (../shared or npm tiktoken) or BENCH_MODEL"; exit 1; }
  [ -x "$helper" ] || { echo "bench/proxy.sh: $helper is not built (make build)"; exit 1; }
  model=$tmp/model
  "$helper" "$model" "$tik" 100070 1337 >/dev/null
fi

bench_machine
flags=(--model "$model" --tee sim --model-name seed --max-batch 32 --max-queue 256 --max-connections 256 --quiet)
"$bin" serve "${flags[@]}" --listen 127.0.0.1:0 >"$tmp/serve.out" 2>"$tmp/serve.err" &
srv=$!
direct=$(listen_url "$tmp/serve.out" https 0.2) || { echo "server did not start"; cat "$tmp/serve.err"; exit 1; }
"$bin" serve "${flags[@]}" --print-config >"$tmp/config.json"
echo "{\"mrenclave\":\"$("$bin" attest measure --serve-config "$tmp/config.json")\",\"allow_simulation\":true}" >"$tmp/policy.json"
"$bin" proxy --server "$direct" --policy "$tmp/policy.json" --listen 127.0.0.1:0 --max-inflight 256 --quiet \
  >"$tmp/proxy.out" 2>"$tmp/proxy.err" &
prx=$!
proxied=$(listen_url "$tmp/proxy.out" http 0.1) || { echo "proxy did not start"; cat "$tmp/proxy.err"; exit 1; }

wrk_post_lua "$tmp/post.lua" \
  '{"model":"seed","messages":[{"role":"user","content":"The sales team"}],"max_tokens":32,"temperature":1.0,"seed":%d}'
# both ways answer the same, and the completions have their 32 tokens (the plain template's turn
# marker, a stop, does not come up with these weights)
body='{"model":"seed","messages":[{"role":"user","content":"The sales team"}],"max_tokens":32,"temperature":1.0,"seed":7}'
a=$(curl -sk "$direct/v1/chat/completions" -d "$body" | jq -c '[.choices[0].message.content, .usage.completion_tokens]')
b=$(curl -s "$proxied/v1/chat/completions" -d "$body" | jq -c '[.choices[0].message.content, .usage.completion_tokens]')
[ "$a" = "$b" ] || { echo "bench/proxy.sh: direct and proxied answers differ: $a / $b"; exit 1; }
[ "$(jq '.[1]' <<<"$a")" = 32 ] || { echo "bench/proxy.sh: expected 32 completion tokens: $a"; exit 1; }

tick=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() { # run URL CLIENTS OUT
  wrk -t"$(( $2 < 2 ? 1 : 2 ))" -c"$2" -d"${secs}s" --latency --timeout 30s -s "$tmp/post.lua" "$1/v1/chat/completions" >"$3"
  if grep -q "Non-2xx\|Socket errors" "$3"; then cat "$3"; echo "bench/proxy.sh: errors"; exit 1; fi
}
printf "%-8s %-7s %10s %10s %10s %16s %18s\n" clients path "req/s" "p50 ms" "p99 ms" "proxy CPU us/req" "proxy/server CPU"
for c in 1 8 32; do
  sd=0 sp=0
  for r in $(seq 1 "$rounds"); do
    run "$direct" "$c" "$tmp/d.$c.$r"
    p0=$(cpu "$prx") s0=$(cpu "$srv")
    run "$proxied" "$c" "$tmp/p.$c.$r"
    p1=$(cpu "$prx") s1=$(cpu "$srv")
    rd=$(awk '/^Requests\/sec/ {print $2}' "$tmp/d.$c.$r")
    rp=$(awk '/^Requests\/sec/ {print $2}' "$tmp/p.$c.$r")
    nreq=$(awk '/requests in/ {print $1}' "$tmp/p.$c.$r")
    printf "%-8s %-7s %10.2f %10s %10s %16s %18s\n" "$c" direct "$rd" "$(wrk_ms 50% "$tmp/d.$c.$r")" "$(wrk_ms 99% "$tmp/d.$c.$r")" - -
    printf "%-8s %-7s %10.2f %10s %10s %16.0f %17.1f%%\n" "$c" proxy "$rp" "$(wrk_ms 50% "$tmp/p.$c.$r")" "$(wrk_ms 99% "$tmp/p.$c.$r")" \
      "$(echo "($p1 - $p0) / $tick * 1000000 / $nreq" | bc -l)" "$(echo "($p1 - $p0) * 100 / ($s1 - $s0)" | bc -l)"
    sd=$(echo "$sd + $rd" | bc -l)
    sp=$(echo "$sp + $rp" | bc -l)
  done
  printf "%-8s overhead 1 - proxied/direct = %.1f %% (mean of %d rounds)\n" "$c" "$(echo "(1 - $sp / $sd) * 100" | bc -l)" "$rounds"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
