#!/usr/bin/env bash
# Loopback load test of `teelm serve` (sim TEE, TLS) on the seed model shape (vocab 100070, random
# weights unless BENCH_MODEL names a model directory): wrk with a Lua body sends 32-token
# completions (temperature 1, no stop) from 1, 8 and 32 concurrent connections, one after the
# other in ONE run against the same server, and prints requests/s, tokens/s, p50/p99 latency and
# the throughput ratio 32 clients : 1 client (batched decode shares each forward pass).
# Connection limits: 64 in all, all of them allowed from 127.0.0.1 (see the serve line).
# Environment: TEELM_BIN (default build/teelm), BENCH_SECONDS per level (15), BENCH_MODEL.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/common.sh
. bench/common.sh
serve_bench_setup server 15
[ -x "$bin" ] || { echo "bench/server.sh: build teelm first (make build)"; exit 1; }

model=${BENCH_MODEL:-}
if [ -z "$model" ]; then
  if [ ! -x "$helper" ] || [ ! -f "$tik" ]; then echo "bench/server.sh: needs $helper and $tik (or BENCH_MODEL)"; exit 1; fi
  model=$tmp/model
  "$helper" "$model" "$tik" 100070 1337
fi

bench_machine
# All of wrk's connections come from 127.0.0.1, like clients behind one balancer: the per-address
# cap (default max(4, max-connections / 2) = 32 since session 3) would equal the 32-client level
# and refuse the metrics probes and any reconnect, measuring the cap instead of throughput. Give
# the one address every slot, as docs/scale-out.md says for a balancer.
"$bin" serve --model "$model" --tee sim --listen 127.0.0.1:0 --max-batch 32 --max-queue 64 --quiet \
  --max-connections 64 --max-connections-per-peer 64 >"$tmp/serve.out" 2>"$tmp/serve.err" &
srv=$!
base=$(listen_url "$tmp/serve.out" https 0.2) || { echo "server did not start"; cat "$tmp/serve.err"; exit 1; }
port=${base##*:}
url=$base/v1/completions

body='{"prompt":"The sales team","max_tokens":32,"temperature":1.0}'
# a different seed per request (wrk's request() hook), as independent clients would send
wrk_post_lua "$tmp/post.lua" '{"prompt":"The sales team","max_tokens":32,"temperature":1.0,"seed":%d}'
# every completion really has 32 tokens (no stop sequence, no special token in this vocabulary)
n=$(curl -sk "$url" -d "$body" | jq .usage.completion_tokens)
[ "$n" = 32 ] || { echo "bench/server.sh: expected 32 completion tokens, got $n"; exit 1; }
curl -sk "$url" -d "$body" >/dev/null # warm-up

cpu() { awk '{print $14 + $15}' "/proc/$srv/stat"; } # server CPU time, clock ticks
tick=$(getconf CLK_TCK)
batch() { curl -sk "https://127.0.0.1:$port/metrics" | awk '/^teelm_batch_size_(sum|count)/ {print $2}' | paste -sd' '; }
printf "%-8s %10s %10s %10s %10s %12s %16s\n" clients "req/s" "tokens/s" "p50 ms" "p99 ms" "mean batch" "tokens/CPU-s"
declare -A rps eff
for c in 1 8 32; do
  read -r s0 n0 <<<"$(batch)"
  c0=$(cpu)
  wrk -t"$(( c < 2 ? 1 : 2 ))" -c"$c" -d"${secs}s" --latency --timeout 30s -s "$tmp/post.lua" "$url" >"$tmp/wrk.$c"
  if grep -q "Non-2xx\|Socket errors" "$tmp/wrk.$c"; then cat "$tmp/wrk.$c"; echo "bench/server.sh: errors at $c clients"; exit 1; fi
  r=$(awk '/^Requests\/sec/ {print $2}' "$tmp/wrk.$c")
  c1=$(cpu)
  rps[$c]=$r
  read -r s1 n1 <<<"$(batch)"
  # tokens per second of server CPU time: what batching saves, whatever else runs on the machine
  eff[$c]=$(echo "$r * 32 * $secs / (($c1 - $c0) / $tick)" | bc -l)
  printf "%-8s %10.2f %10.0f %10s %10s %12.1f %16.0f\n" "$c" "$r" "$(echo "$r * 32" | bc -l)" "$(wrk_ms 50% "$tmp/wrk.$c")" "$(wrk_ms 99% "$tmp/wrk.$c")" \
    "$(echo "($s1 - $s0) / ($n1 - $n0)" | bc -l)" "${eff[$c]}"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf "throughput ratio 8:1 = %.2f, 32:1 = %.2f (target >= 4 at 32)\n" \
  "$(echo "${rps[8]} / ${rps[1]}" | bc -l)" "$(echo "${rps[32]} / ${rps[1]}" | bc -l)"
printf "tokens per server CPU-second, 32:1 = %.2f\n" "$(echo "${eff[32]} / ${eff[1]}" | bc -l)"
