#!/usr/bin/env bash
# Server load on loopback: 32-token completions on a seed-size model (vocab 100070) at 1, 8 and 32
# concurrent clients (wrk, keep-alive HTTPS), in one run. Prints requests/s, tokens/s, p50/p99
# latency and the throughput ratio of 32 clients to 1 (batched decode: one pass over the 25.6 MB
# output matrix serves every active sequence).
# Env: BUILD (default build), SECONDS_PER_LEVEL (default 15), THREADS (default 2).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${BUILD:-$root/build}/teelm
secs=${SECONDS_PER_LEVEL:-15}
threads=${THREADS:-2}
[ -x "$bin" ] || { echo "build first: make build"; exit 1; }
command -v wrk >/dev/null || { echo "wrk is not installed (scripts/install-deps.sh installs it)"; exit 1; }
tok=""
for t in "$root/../shared/data/cl100k_base.tiktoken" "$root/node_modules/tiktoken/encoders/cl100k_base.json"; do
  [ -f "$t" ] && { tok=$t; break; }
done
[ -n "$tok" ] || { echo "no cl100k_base tokenizer found"; exit 1; }
tmp=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg)"
# Seed config, vocab 100070 (ids up to 100069), one training step: the serving cost of the seed model.
python3 - "$tmp/ids.bin" <<'PY'
import random, struct, sys
random.seed(1)
ids = [random.randrange(100070) for _ in range(2000)] + [100069]
open(sys.argv[1], "wb").write(struct.pack("<%dI" % len(ids), *ids))
PY
"$bin" train --tokens "$tmp/ids.bin" --out "$tmp/model" --steps 1 --eval-interval 0 >/dev/null 2>&1
"$bin" serve --model "$tmp/model" --tokenizer "$tok" --tee sim --listen 127.0.0.1:0 --threads "$threads" \
  --max-batch 32 --max-queue 1024 --quiet >"$tmp/serve.log" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 150); do
  port=$(grep -o 'listening on https://[^ ]*' "$tmp/serve.log" | head -n 1 | sed 's/.*://' || true)
  [ -n "$port" ] && break
  sleep 0.2
done
[ -n "$port" ] || { cat "$tmp/serve.log"; exit 1; }
cat > "$tmp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, string.format(
    '{"prompt":"The","max_tokens":32,"temperature":0.8,"seed":%d}', n))
end
LUA
# warm-up
wrk -t1 -c4 -d3s -s "$tmp/post.lua" "https://127.0.0.1:$port/v1/completions" >/dev/null
to_ms() { awk '{ v=$1; if (v ~ /us$/) { sub(/us$/,"",v); v/=1000 } else if (v ~ /ms$/) { sub(/ms$/,"",v) } else if (v ~ /s$/) { sub(/s$/,"",v); v*=1000 } print v }'; }
printf '%-9s %12s %12s %12s %12s %8s\n' clients "requests/s" "tokens/s" "p50 ms" "p99 ms" errors
declare -A rps
for c in 1 8 32; do
  out=$(wrk -t"$(( c < 2 ? 1 : 2 ))" -c"$c" -d"${secs}s" --timeout 30s --latency -s "$tmp/post.lua" "https://127.0.0.1:$port/v1/completions")
  r=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out" | to_ms)
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out" | to_ms)
  errs=$(awk '/Non-2xx|Socket errors/ {s = s $0 "; "} END {print (s == "" ? "0" : s)}' <<<"$out")
  rps[$c]=$r
  printf '%-9s %12.2f %12.1f %12.1f %12.1f %8s\n' "$c" "$r" "$(awk -v r="$r" 'BEGIN {print r * 32}')" "$p50" "$p99" "$errs"
done
awk -v a="${rps[1]}" -v b="${rps[32]}" 'BEGIN { printf "throughput ratio, 32 clients / 1 client: %.2fx (goal >= 4x)\n", b / a }'
