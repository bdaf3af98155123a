#!/usr/bin/env bash
# teelm occlum-config's limits must cover what `teelm serve` really uses on the same model with the
# same settings (docs/deploy-occlum.md): a seed-size model (vocab 100070) is served under concurrent
# load, then its peak resident memory (VmHWM), peak mapped memory (VmPeak: Occlum's user space must
# hold every mapping, touched or not) and thread count are compared with the computed limits.
set -u
bin=${TEELM_BIN:?}
shared=${TEELM_SHARED:-../shared}
src=${TEELM_SRC:?}
# shellcheck source=tests/util/skip.sh
. "$src/tests/util/skip.sh"
command -v curl >/dev/null || skip "curl is not installed"
# A sanitizer build reserves terabytes of shadow memory and doubles heap use: its memory says
# nothing about what `teelm serve` needs in an enclave. The normal build runs this test; the
# sanitizer build does not register it (label nosan), so reaching here with one is a mistake.
if readelf -d "$bin" 2>/dev/null | grep -q 'libasan\|libubsan'; then
  skip "$bin is a sanitizer build; its memory use is not teelm's (run this test in the normal build)"
fi

tmp=$(mktemp -d)
tok=$(cl100k "$tmp") || skip "no cl100k_base tokenizer ($shared/data/cl100k_base.tiktoken or npm tiktoken; scripts/install-deps.sh)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail=0; pass=0
# check NAME: judges the exit status of the test command run just before it
check() { if [ "$?" -eq 0 ]; then pass=$((pass+1)); else echo "FAIL: $1"; fail=$((fail+1)); fi; }

# A seed-config model with the seed's vocabulary: token ids up to 100069 make vocab_size 100070.
python3 - "$tmp/ids.bin" <<'PY'
import random, struct, sys
random.seed(7)
ids = [random.randrange(100070) for _ in range(4000)] + [100069]
open(sys.argv[1], "wb").write(struct.pack("<%dI" % len(ids), *ids))
PY
"$bin" train --tokens "$tmp/ids.bin" --out "$tmp/model" --config seed --steps 1 --eval-interval 0 >/dev/null 2>"$tmp/train.err" \
  || { cat "$tmp/train.err"; echo "FAIL: could not build the model"; exit 1; }

threads=2 batch=8 conns=64
MALLOC_ARENA_MAX=2 OMP_STACKSIZE=1M "$bin" serve --model "$tmp/model" --tokenizer "$tok" --tee sim \
  --listen 127.0.0.1:0 --threads $threads --max-batch $batch --max-connections $conns --quiet >"$tmp/serve.log" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 150); do
  port=$(grep -o 'listening on https://[^ ]*' "$tmp/serve.log" | head -n 1 | sed 's/.*://')
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.2
done
[ -n "$port" ] || { cat "$tmp/serve.log"; echo "FAIL: serve did not start"; exit 1; }

# Load: 3 waves of 2*batch concurrent 32-token completions with long prompts.
prompt=$(printf 'The buyer asked the seller about the price of the product again and again. %.0s' $(seq 1 20))
for wave in 1 2 3; do
  for i in $(seq 1 $((2 * batch))); do
    curl -sk "https://127.0.0.1:$port/v1/completions" -H 'content-type: application/json' \
      -d "{\"prompt\":\"$prompt\",\"max_tokens\":32,\"temperature\":0.9,\"seed\":$((wave * 100 + i))}" \
      -o "$tmp/r.$wave.$i" -w '%{http_code}\n' >>"$tmp/codes" &
  done
  for j in $(jobs -p); do [ "$j" = "$pid" ] || wait "$j"; done
done
[ "$(grep -c "^200$" "$tmp/codes")" -eq $((3 * 2 * batch)) ]; check "all completions answered 200"

status=/proc/$pid/status
hwm=$(( $(awk '/^VmHWM/ {print $2}' "$status") * 1024 ))
peak=$(( $(awk '/^VmPeak/ {print $2}' "$status") * 1024 ))
nthreads=$(awk '/^Threads/ {print $2}' "$status")

limits=$("$bin" occlum-config --model "$tmp/model" --tokenizer "$tok" --threads $threads --max-batch $batch \
  --max-connections $conns --json) || { echo "FAIL: occlum-config"; exit 1; }
mb() { python3 -c 'import json,sys; v=json.load(sys.stdin)["resource_limits"][sys.argv[1]]; print(int(v[:-2]) * 1048576 if isinstance(v, str) else v)' "$1"; }
user=$(echo "$limits" | mb user_space_size)
maxthr=$(echo "$limits" | mb max_num_of_threads)
echo "serve peak: resident $((hwm >> 20)) MiB, mapped $((peak >> 20)) MiB, $nthreads threads;" \
     "occlum-config: user_space_size $((user >> 20)) MiB, max_num_of_threads $maxthr"

[ "$user" -ge $((hwm * 5 / 4)) ]; check "user_space_size covers peak resident memory with the documented 25% headroom"
[ "$user" -ge "$peak" ]; check "user_space_size covers every mapping serve made (VmPeak)"
[ "$user" -lt $((hwm * 6)) ]; check "user_space_size is computed, not a blind over-reservation (< 6x peak resident)"
[ "$maxthr" -ge "$nthreads" ]; check "max_num_of_threads covers serve's threads"
echo "$limits" | grep -q "\"debuggable\": false"; check "debuggable is false"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
