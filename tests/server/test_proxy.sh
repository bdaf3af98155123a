#!/usr/bin/env bash
# `teelm proxy` end to end over loopback, driven by the official `openai` npm package
# (tests/server/proxy_sdk.mjs) against `teelm serve` (sim TEE, seed-shaped model with random
# weights, API keys required):
#   - models, completions (plain, streamed), chat (plain, streamed) through the proxy equal the same
#     requests sent straight to the server; a wrong key gets the server's 401 (Authorization is
#     forwarded); 20 concurrent chat streams equal the same requests made one at a time;
#   - a proxy whose policy the server fails (another mrenclave; simulation not allowed) answers 502
#     attestation_failed naming the field, and the server's /metrics count no request at all;
#   - an application that disconnects mid-stream closes the upstream connection: the server
#     counts a cancelled completion and stops generating;
#   - the certificate swapped mid-run: the server restarted on the same port with the same
#     configuration (a new key) is verified afresh and accepted; restarted with another
#     configuration (another sim MRENCLAVE) it is refused naming mrenclave and gets no request;
#   - a non-loopback --listen is refused unless --allow-remote; the proxy exits 0 on SIGTERM with
#     no sanitizer report.
set -euo pipefail
SRC=${TEELM_SRC:-.}
# shellcheck source=tests/util/serve.sh
. "$SRC/tests/util/serve.sh"
require_helper
[ -d "$SRC/node_modules/openai" ] || skip "npm openai absent (scripts/install-deps.sh --test)"
command -v node >/dev/null || skip "node absent (scripts/install-deps.sh --test)"
T=$(mktemp -d /tmp/teelm-proxy-XXXXXX)
TIK=$(cl100k "$T") || skip "no cl100k_base (../shared or npm tiktoken; scripts/install-deps.sh --test)"
fail=0
SRV=
PROXIES=()
# shellcheck disable=SC2317  # invoked through the EXIT trap
cleanup() { serve_cleanup ${SRV:+"$SRV"} "${PROXIES[@]}"; }
trap cleanup EXIT
sdk() { NODE_TLS_REJECT_UNAUTHORIZED=0 NODE_NO_WARNINGS=1 node "$SRC/tests/server/proxy_sdk.mjs" "$@" || fail=1; }

"$HELPER" "$T/model" "$TIK" 100070 4242 >/dev/null
KEY=sk-test-$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
(umask 077 && echo "$KEY" >"$T/keys") # key files must be 0600
FLAGS=(--model "$T/model" --tee sim --model-name seed --max-batch 32 --api-key-file "$T/keys" --handshake-timeout 60 --quiet)
start_server() { # start_server LOG PORT [extra flags]: sets SRV and URL
  local log=$1 port=$2; shift 2
  "$BIN" serve "${FLAGS[@]}" "$@" --listen "127.0.0.1:$port" >"$log.out" 2>"$log.err" &
  SRV=$!
  URL=$(serve_url "$log.out" https 150 0.2) || { echo "FAIL: server did not start"; cat "$log.err"; exit 1; }
}
stop_server() {
  kill "$SRV" 2>/dev/null || true
  wait "$SRV" 2>/dev/null || true
  SRV=
}
start_proxy() { # start_proxy NAME POLICY [flags]: sets PROXY (its base URL)
  local name=$1 pol=$2; shift 2
  "$BIN" proxy --server "$URL" --policy "$pol" --listen 127.0.0.1:0 "$@" >"$T/$name.out" 2>"$T/$name.err" &
  PROXIES+=($!)
  PROXY=$(serve_url "$T/$name.out" http 100 0.1) || { echo "FAIL: proxy did not start"; cat "$T/$name.err"; exit 1; }
  PROXY=$PROXY/v1
}
# requests the server answered, all endpoints but /metrics itself (read straight from the server)
served() {
  curl -sk -H "Authorization: Bearer $KEY" "$URL/metrics" |
    awk '/^teelm_requests_total\{/ && !/endpoint="\/metrics"/ {s += $2} END {print s + 0}'
}
metric() { curl -sk -H "Authorization: Bearer $KEY" "$URL/metrics" | awk -v m="$1" 'index($0, m) == 1 {print $2}'; }

start_server "$T/a" 0
PORT=${URL##*:}
echo "server on $URL"
# the owner's policy: the sim MRENCLAVE of these flags (docs/bindings.md)
"$BIN" serve "${FLAGS[@]}" --print-config >"$T/config.json"
MRE=$("$BIN" attest measure --serve-config "$T/config.json" --json | jq -r .mrenclave)
echo "{\"mrenclave\":\"$MRE\",\"allow_simulation\":true}" >"$T/policy.json"
echo "{\"mrenclave\":\"$(printf '%064d' 1)\",\"allow_simulation\":true}" >"$T/wrong.json"
echo "{\"mrenclave\":\"$MRE\"}" >"$T/nosim.json"

# --- listen address ------------------------------------------------------------------------
set +e
"$BIN" proxy --server "$URL" --policy "$T/policy.json" --listen 0.0.0.0:0 >"$T/r.out" 2>"$T/r.err"
rc=$?
set -e
check "a non-loopback --listen is a usage error (exit 2) naming --allow-remote" \
  test $rc -eq 2 -a -n "$(grep -e '--allow-remote' "$T/r.err")"
for addr in 127.0.0.2:0 '[::1]:0' localhost:0; do
  timeout 10 "$BIN" proxy --server "$URL" --policy "$T/policy.json" --listen "$addr" >"$T/l.out" 2>"$T/l.err" &
  lp=$!
  for _ in $(seq 1 50); do grep -q "listening on" "$T/l.out" 2>/dev/null && break; sleep 0.1; done
  check "--listen $addr is accepted" grep -q "listening on" "$T/l.out"
  kill "$lp" 2>/dev/null; wait "$lp" 2>/dev/null || true
done

# --- the same API through the proxy ----------------------------------------------------------
start_proxy good "$T/policy.json"
GOOD=$PROXY
sdk same "$GOOD" "$URL/v1" seed "$KEY"
check "the proxy logged the verified identity with the simulation warning" \
  grep -q "verified: tee sim (sgx)" "$T/good.err"
grep -q "SIMULATION mode" "$T/good.err" || { echo "FAIL: no simulation warning"; fail=1; }
sdk concurrent "$GOOD" seed "$KEY" 20

# --- a server that fails the policy gets nothing --------------------------------------------
n0=$(served)
start_proxy wrong "$T/wrong.json"
sdk refused "$PROXY" seed "$KEY" mrenclave
start_proxy nosim "$T/nosim.json"
sdk refused "$PROXY" seed "$KEY" simulated
check "the refused proxies sent the server no request ($n0 before, $(served) after)" test "$(served)" -eq "$n0"
check "the refusal is logged naming mrenclave" grep -q "refused https://127.0.0.1:$PORT (no request sent): policy: mrenclave $MRE is not in the allowed list" "$T/wrong.err"

# --- an application that leaves mid-stream cancels the completion upstream -------------------
c0=$(metric 'teelm_completion_events_total{event="cancelled"}')
t0=$(metric 'teelm_completion_tokens_total')
set +e
curl -sN --max-time 60 "$GOOD/completions" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
  -d '{"model":"seed","prompt":"The sales team","max_tokens":1000,"stream":true}' | head -c 600 >"$T/part.txt"
set -e
check "the stream started through the proxy" grep -q '^data: {' "$T/part.txt"
for _ in $(seq 1 50); do [ "$(metric 'teelm_completion_events_total{event="cancelled"}')" -gt "$c0" ] && break; sleep 0.2; done
check "the server cancelled the completion the application left" \
  test "$(metric 'teelm_completion_events_total{event="cancelled"}')" -eq $((c0 + 1))
sleep 1
t1=$(metric 'teelm_completion_tokens_total')
sleep 1
check "and generates no more tokens for it ($((t1 - t0)) of 1000)" test "$(metric 'teelm_completion_tokens_total')" -eq "$t1" -a $((t1 - t0)) -lt 1000

# --- the certificate swapped mid-run -----------------------------------------------------------
KEY0=$(openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null | openssl x509 -pubkey -noout | sha256sum)
stop_server
code=$(curl -s -o "$T/down.json" -w '%{http_code}' "$GOOD/models" -H "Authorization: Bearer $KEY")
check "server down: 502 upstream_unreachable" test "$code $(jq -r .error.code "$T/down.json")" == "502 upstream_unreachable"
start_server "$T/b" "$PORT"
KEY1=$(openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null | openssl x509 -pubkey -noout | sha256sum)
check "the restarted server has another TLS key" test "$KEY0" != "$KEY1"
sdk ok "$GOOD" seed "$KEY"
check "same configuration, new certificate: verified again and accepted" \
  grep -q "verified again: its certificate changed" "$T/good.err"
stop_server
start_server "$T/c" "$PORT" --max-tokens 4096
"$BIN" serve "${FLAGS[@]}" --max-tokens 4096 --print-config >"$T/config_c.json"
MRE_C=$("$BIN" attest measure --serve-config "$T/config_c.json" --json | jq -r .mrenclave)
check "another configuration is another sim MRENCLAVE" test "$MRE_C" != "$MRE"
n0=$(served)
sdk refused "$GOOD" seed "$KEY" mrenclave
check "the swapped-in server was refused naming its mrenclave" \
  grep -q "refused https://127.0.0.1:$PORT (no request sent): policy: mrenclave $MRE_C is not in the allowed list" "$T/good.err"
check "the swapped-in server received no request ($n0 before, $(served) after)" test "$(served)" -eq "$n0"
stop_server
start_server "$T/d" "$PORT"
sdk ok "$GOOD" seed "$KEY"

# --- shutdown ------------------------------------------------------------------------------------
for p in "${PROXIES[@]}"; do
  kill "$p"
  set +e
  wait "$p"
  rc=$?
  set -e
  check "proxy $p exits 0 on SIGTERM" test $rc -eq 0
done
PROXIES=()
for f in "$T"/*.err; do
  if grep -q "ERROR: \(Address\|Leak\)Sanitizer\|runtime error:" "$f"; then
    echo "FAIL: sanitizer report in $f:"; grep -A20 "Sanitizer\|runtime error" "$f" | head -60; fail=1
  fi
done
exit $fail
