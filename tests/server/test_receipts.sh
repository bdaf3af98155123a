#!/usr/bin/env bash
# shellcheck disable=SC2317  # helpers called through traps and variables
# Receipts end to end (docs/receipts.md), sim backend (which protects nothing: only the logic is
# tested): a sealed model served with a key file; every completion and chat response (plain, streamed,
# n = 2, echo) carries a receipt that `teelm receipt verify` and the independent Python verifier
# (tests/reference/receipt_verify.py, written from the docs) both accept; tampering with one byte of
# the response text, the request, the model id, the counter, or a receipt moved to another response
# is refused by both, the C verifier naming the field; the streamed receipt equals the non-streamed
# one but for counter, time_ms and request_sha256 (the bodies differ by "stream"); a server with
# another configuration fails a policy for the original (mrenclave) and a policy's "require"; the
# client verifies and keeps receipts (--receipts DIR) that verify offline.
set -euo pipefail
SRC=${TEELM_SRC:-.}
# shellcheck source=tests/util/serve.sh
. "$SRC/tests/util/serve.sh"
require_helper
T=$(mktemp -d /tmp/teelm-receipts-XXXXXX)
TIK=$(cl100k "$T") || skip "no cl100k_base (scripts/install-deps.sh)"
"$PY" -c "import cryptography" 2>/dev/null || { echo "FAIL: $PY has no cryptography (python3-cryptography)"; exit 1; }
fail=0
PIDS=()
# shellcheck disable=SC2317  # invoked through the EXIT trap
cleanup() { serve_cleanup "${PIDS[@]}"; }
trap cleanup EXIT

"$HELPER" "$T/model" "$TIK" 100070 4242
"$BIN" seal --model "$T/model" --out "$T/m.sealed" --key-out "$T/m.key" >/dev/null

start() { # start NAME FLAGS...: a server; sets URL_NAME and writes T/NAME.{config,policy,att}
  local name=$1; shift
  "$BIN" serve --model "$T/m.sealed" --key-file "$T/m.key" --tee sim --model-name seed --handshake-timeout 60 "$@" \
    --print-config >"$T/$name.config"
  "$BIN" serve --model "$T/m.sealed" --key-file "$T/m.key" --tee sim --listen 127.0.0.1:0 --model-name seed \
    --handshake-timeout 60 "$@" >"$T/$name.out" 2>"$T/$name.err" &
  PIDS+=($!)
  local url
  url=$(serve_url "$T/$name.out" https 150 0.2) || { echo "server $name did not start"; cat "$T/$name.err"; exit 1; }
  printf -v "URL_$name" '%s' "$url"
  local mre
  mre=$("$BIN" attest measure --serve-config "$T/$name.config" --json | jq -r .mrenclave)
  echo "{\"mrenclave\":\"$mre\",\"allow_simulation\":true}" >"$T/$name.policy"
  curl -sk "$url/attestation" >"$T/$name.att"
}
start a
start b --max-tokens 500
URL_a=${URL_a:?}
URL_b=${URL_b:?}

post() { # post URL PATH REQFILE OUT
  curl -skN -H 'Content-Type: application/json' "$1$2" --data-binary @"$3" >"$4"
}
cv() { "$BIN" receipt verify --policy "$T/a.policy" --evidence "$T/a.att" "$@" >"$T/cv.out" 2>"$T/cv.err"; }
pv() { "$PY" "$SRC/tests/reference/receipt_verify.py" --attestation "$T/a.att" "$@" >"$T/pv.out"; }
both_ok() { # both_ok RESPONSE REQUEST
  cv --receipt "$1" --request "$2" && grep -q "request matches; response matches" "$T/cv.out" &&
    pv --receipt "$1" --request "$2" && grep -q '"ok": true' "$T/pv.out"
}
both_refuse() { # both_refuse WORDS RESPONSE [REQUEST]: C names WORDS, Python refuses too
  local words=$1 resp=$2 req=${3:-}
  local ra=() rp=()
  [ -n "$req" ] && ra=(--request "$req") && rp=(--request "$req")
  if cv --receipt "$resp" "${ra[@]}"; then echo "  C accepted $resp"; return 1; fi
  grep -q -- "$words" "$T/cv.err" || { echo "  C said: $(cat "$T/cv.err")"; return 1; }
  if pv --receipt "$resp" "${rp[@]}"; then echo "  Python accepted $resp"; return 1; fi
  grep -q '"ok": false' "$T/pv.out"
}

# --- every kind of response verifies, in both verifiers ------------------------------------
printf '%s' '{"prompt":"The sales team","max_tokens":12,"seed":11}' >"$T/q1.json"
printf '%s' '{"prompt":"The sales team","max_tokens":12,"seed":11,"stream":true}' >"$T/q1s.json"
printf '%s' '{"prompt":"Zwölf Boxkämpfer \"jagen\"\n","max_tokens":8,"n":2,"echo":true,"temperature":0.7}' >"$T/q2.json"
printf '%s' '{"messages":[{"role":"user","content":"Hello there"}],"max_tokens":6,"seed":5}' >"$T/q3.json"
printf '%s' '{"messages":[{"role":"user","content":"Hello there"}],"max_tokens":6,"seed":5,"n":2,"stream":true}' >"$T/q3s.json"
post "$URL_a" /v1/completions "$T/q1.json" "$T/r1.json"
post "$URL_a" /v1/completions "$T/q1s.json" "$T/r1s.txt"
post "$URL_a" /v1/completions "$T/q2.json" "$T/r2.json"
post "$URL_a" /v1/chat/completions "$T/q3.json" "$T/r3.json"
post "$URL_a" /v1/chat/completions "$T/q3s.json" "$T/r3s.txt"
for r in 1:r1.json 1s:r1s.txt 2:r2.json 3:r3.json 3s:r3s.txt; do
  check "receipt of ${r#*:} verifies (C and Python)" both_ok "$T/${r#*:}" "$T/q${r%%:*}.json"
done
check "the receipt names the sealed model and a server-drawn seed when none was given" \
  test "$(jq -r '.teelm_receipt.receipt | [.model.kind, (.model.model_id|length), .sampling.seed_source, .sampling.temperature] | join(" ")' "$T/r2.json")" = "sealed 64 server 0.7"
check "nothing of the prompt or output in clear in the receipt" \
  bash -c "! jq -c .teelm_receipt '$T/r1.json' | grep -q -e 'sales' -e \"\$(jq -r '.choices[0].text' '$T/r1.json' | head -c 8)\""
check "counters increase by one per response" \
  test "$(for f in r1.json r2.json r3.json; do jq .teelm_receipt.receipt.counter "$T/$f"; done | tr '\n' ' ')" = "1 3 4 "

# --- streamed == non-streamed but counter, time_ms, request_sha256 ---------------------------
jq -c '.teelm_receipt.receipt | del(.counter, .time_ms, .request_sha256)' "$T/r1.json" >"$T/n.rec"
grep '"teelm_receipt"' "$T/r1s.txt" | sed 's/^data: //' | jq -c '.teelm_receipt.receipt | del(.counter, .time_ms, .request_sha256)' >"$T/s.rec"
check "streamed receipt equals the non-streamed one (same seed) but counter, time_ms, request_sha256" cmp -s "$T/n.rec" "$T/s.rec"
check "the streamed receipt is in the last event before [DONE]" \
  bash -c "grep '^data: ' '$T/r1s.txt' | tail -2 | head -1 | grep -q teelm_receipt && tail -3 '$T/r1s.txt' | grep -q '\[DONE\]'"

# --- tampering -------------------------------------------------------------------------------
# one byte of the response text
"$PY" - "$T/r1.json" "$T/t_text.json" <<'PYEOF'
import json, sys
o = json.load(open(sys.argv[1]))
t = o["choices"][0]["text"].encode()
b = bytearray(t); b[0] ^= 1
o["choices"][0]["text"] = b.decode("utf-8", "replace")
open(sys.argv[2], "w").write(json.dumps(o))
PYEOF
check "one byte of the response text changed: refused, naming response_sha256" both_refuse response_sha256 "$T/t_text.json" "$T/q1.json"
sed 's/"text":"\([^"]\)/"text":"\1\1/' "$T/r1s.txt" >"$T/t_stext.txt"
check "a streamed text changed: refused, naming response_sha256" both_refuse response_sha256 "$T/t_stext.txt" "$T/q1s.json"
sed 's/"max_tokens":12/"max_tokens":13/' "$T/q1.json" >"$T/t_req.json"
check "one byte of the request changed: refused, naming request_sha256" both_refuse request_sha256 "$T/r1.json" "$T/t_req.json"
MID=$(jq -r .teelm_receipt.receipt.model.model_id "$T/r1.json")
OTHER=$(printf '%s' "$MID" | sed 's/^./f/;t' | sed 's/^f/e/;t')
[ "$OTHER" != "$MID" ] || OTHER=$(printf '%s' "$MID" | sed 's/^./0/')
jq -c --arg m "$OTHER" '.teelm_receipt.receipt.model.model_id = $m' "$T/r1.json" >"$T/t_model.json"
check "the model id changed: refused, naming model.model_id" both_refuse model.model_id "$T/t_model.json" "$T/q1.json"
jq -c '.teelm_receipt.receipt.counter += 1' "$T/r1.json" >"$T/t_counter.json"
check "the counter changed: refused, naming the signature" both_refuse "signature does not verify" "$T/t_counter.json" "$T/q1.json"
jq -c --slurpfile o "$T/r1.json" '.teelm_receipt = $o[0].teelm_receipt' "$T/r3.json" >"$T/t_reuse.json"
check "a receipt reused with another response: refused, naming response_sha256" both_refuse response_sha256 "$T/t_reuse.json"
jq -c '.teelm_receipt.receipt.sampling.temperature = "0.5"' "$T/r1.json" >"$T/t_temp.json"
check "the temperature changed: refused, naming the signature" both_refuse "signature does not verify" "$T/t_temp.json"
jq -c '.teelm_receipt.receipt.time_ms = 1.5' "$T/r1.json" >"$T/t_real.json"
check "a real number in the receipt: refused" both_refuse "time_ms is missing or not an integer" "$T/t_real.json"

# --- another configuration ---------------------------------------------------------------------
post "$URL_b" /v1/completions "$T/q1.json" "$T/rb.json"
check "server b's receipt verifies against b's evidence and policy" \
  "$BIN" receipt verify --receipt "$T/rb.json" --request "$T/q1.json" --policy "$T/b.policy" --evidence "$T/b.att"
check "server b's receipt fails a policy for a's configuration (mrenclave)" \
  bash -c "! '$BIN' receipt verify --receipt '$T/rb.json' --policy '$T/a.policy' --evidence '$T/b.att' 2>'$T/e' && grep -q mrenclave '$T/e'"
MA=$(jq -r .mrenclave "$T/a.policy"); MB=$(jq -r .mrenclave "$T/b.policy")
echo "{\"mrenclave\":[\"$MA\",\"$MB\"],\"allow_simulation\":true,\"require\":{\"limits.max_tokens\":1024,\"api_keys\":false}}" >"$T/req.policy"
check "a policy requiring a's limits.max_tokens refuses b, naming the field" \
  bash -c "! '$BIN' receipt verify --receipt '$T/rb.json' --policy '$T/req.policy' --evidence '$T/b.att' 2>'$T/e' && grep -q 'require.limits.max_tokens' '$T/e'"
check "the same policy accepts a's receipt" \
  "$BIN" receipt verify --receipt "$T/r1.json" --policy "$T/req.policy" --evidence "$T/a.att"
check "b's receipt with a's evidence: refused, naming signing_key" \
  bash -c "! '$BIN' receipt verify --receipt '$T/rb.json' --policy '$T/a.policy' --evidence '$T/a.att' 2>'$T/e' && grep -q signing_key '$T/e'"

# --- teelm client verifies and keeps receipts ---------------------------------------------------
mkdir -p "$T/keep"
cl() { "$BIN" client --server "$URL_a" --policy "$T/a.policy" --quiet "$@"; }
check "client verifies a receipt (plain)" bash -c "'$BIN' client --server '$URL_a' --policy '$T/a.policy' --prompt Hi --max-tokens 4 --seed 2 --receipts '$T/keep' 2>'$T/cl.err' >/dev/null && grep -q 'receipt verified' '$T/cl.err'"
check "client verifies a receipt (stream)" cl --prompt Hi --max-tokens 4 --seed 2 --stream --receipts "$T/keep"
n=0
for f in "$T"/keep/receipt-*.response; do
  n=$((n + 1))
  check "kept $(basename "$f") verifies offline (certificate kept beside it)" \
    "$BIN" receipt verify --receipt "$f" --request "${f%.response}.request.json" --policy "$T/a.policy"
done
check "the client kept two receipts and one certificate" test "$n:$(find "$T/keep" -maxdepth 1 -name "evidence-*.pem" | wc -l)" = "2:1"
W=$(jq -r .teelm_receipt.receipt.model.weights_sha256 "$T/r1.json")
echo "{\"mrenclave\":\"$MA\",\"allow_simulation\":true,\"require\":{\"model_sha256\":\"$W\"}}" >"$T/w.policy"
check "require.model_sha256 of the served weights: accepted" \
  "$BIN" client --server "$URL_a" --policy "$T/w.policy" --quiet --prompt Hi --max-tokens 2
echo "{\"mrenclave\":\"$MA\",\"allow_simulation\":true,\"require\":{\"model_sha256\":\"$(printf '%064d' 0)\"}}" >"$T/w0.policy"
check "require.model_sha256 of other weights: refused, naming the field" \
  bash -c "! '$BIN' client --server '$URL_a' --policy '$T/w0.policy' --quiet --prompt Hi --max-tokens 2 2>'$T/e' && grep -q require.model_sha256 '$T/e'"
echo "{\"mrenclave\":\"$MA\",\"allow_simulation\":true,\"require\":{\"api_keys\":true}}" >"$T/k.policy"
check "require.api_keys true: the client refuses before sending, naming the field" \
  bash -c "! '$BIN' client --server '$URL_a' --policy '$T/k.policy' --quiet --prompt Hi 2>'$T/e' && grep -q 'require.api_keys' '$T/e'"

[ "$checks" -gt 0 ] || { echo "FAIL: no checks ran"; exit 1; }
[ "$fail" = 0 ] && echo "all $checks receipt checks passed"
exit "$fail"
