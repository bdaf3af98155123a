#!/usr/bin/env bash
# End to end over loopback in sim mode: `teelm serve` on a seed-shaped model with random weights,
# `teelm client` verifying its RA-TLS evidence against a policy, then:
#   greedy text == an independent PyTorch continuation (tests/reference/server_greedy_ref.py) with
#   prompt ids from npm tiktoken; streaming == non-streaming; seeds reproducible and distinct;
#   stop sequences cut exactly before their first occurrence; 20 concurrent clients with the same
#   seed get the one-client text while sharing forward passes (batch sizes > 1 in /metrics);
#   policy mismatches are refused naming the field, and the refused attempts never reach the
#   completions endpoint; every response carries the sim/plaintext warning; /attestation's evidence
#   verifies with `teelm attest verify` and binds the certificate's key (computed with openssl).
set -euo pipefail
SHARED=${TEELM_SHARED:-../shared}
SRC=${TEELM_SRC:-.}
# shellcheck source=tests/util/serve.sh
. "$SRC/tests/util/serve.sh"
require_helper

T=$(mktemp -d /tmp/teelm-e2e-XXXXXX)
TIK=$(cl100k "$T") || skip "no cl100k_base ($SHARED/data/cl100k_base.tiktoken or npm tiktoken; scripts/install-deps.sh)"
fail=0
SRV_PID=
# shellcheck disable=SC2317  # invoked through the EXIT trap
cleanup() { serve_cleanup ${SRV_PID:+"$SRV_PID"} ${SRV2_PID:+"$SRV2_PID"}; }
trap cleanup EXIT
# shellcheck disable=SC2317  # invoked through check
not() { ! "$@"; }

"$HELPER" "$T/model" "$TIK" 100070 4242
# a generous TLS handshake deadline: 20 concurrent handshakes in the sanitizer build on a loaded
# machine can take longer than the 5 s default (tests/net/test_net_slots.py tests the deadline)
"$BIN" serve --model "$T/model" --tee sim --listen 127.0.0.1:0 --max-batch 32 --model-name seed --handshake-timeout 60 \
  >"$T/serve.out" 2>"$T/serve.err" &
SRV_PID=$!
URL=$(serve_url "$T/serve.out" https 100 0.2) || { echo "server did not start"; cat "$T/serve.err"; exit 1; }
PORT=${URL##*:}
echo "server on $URL"

# the sim MRENCLAVE of this binary with the server's configuration document (docs/bindings.md),
# as the owner computes it from the same flags, without starting a server
"$BIN" serve --model "$T/model" --tee sim --max-batch 32 --model-name seed --handshake-timeout 60 --print-config >"$T/config.json"
MRE=$("$BIN" attest measure --serve-config "$T/config.json" --json | jq -r .mrenclave)
echo "{\"mrenclave\":\"$MRE\",\"allow_simulation\":true}" >"$T/policy.json"
client() { "$BIN" client --server "$URL" --policy "$T/policy.json" --quiet "$@"; }
completions_count() {
  curl -sk "$URL/metrics" | awk '/^teelm_requests_total\{endpoint="\/v1\/completions"/ {s += $2} END {print s + 0}'
}

# --- greedy against PyTorch ---------------------------------------------------------------
PROMPT="The sales team"
if [ -d "$SRC/node_modules/tiktoken" ] && "$PY" -c "import torch" 2>/dev/null; then
  IDS=$(printf 'E cl100k_base 0 %s\n' "$(printf '%s' "$PROMPT" | base64 -w0)" | node "$SRC/tests/reference/tiktoken_encode.js")
  # shellcheck disable=SC2086
  "$PY" "$SRC/tests/reference/server_greedy_ref.py" "$T/model" "$TIK" 12 $IDS >"$T/ref.json"
  client --prompt "$PROMPT" --temperature 0 --max-tokens 12 --json >"$T/greedy.json"
  check "greedy completion equals the PyTorch reference" \
    test "$(jq -r '.choices[0].text' "$T/greedy.json")" == "$(jq -r .text "$T/ref.json")"
  check "usage counts prompt tokens like npm tiktoken" \
    test "$(jq .usage.prompt_tokens "$T/greedy.json")" == "$(wc -w <<<"$IDS")"
else
  echo "note: PyTorch or npm tiktoken absent: greedy reference comparison skipped"
fi

# --- echo with logprobs on the seed family (sliding window): scoring a text gives the logprobs
# generating it gave, past the 16-token window too (compared while the text's tokens are the generated
# ones: tokenizing the text again may merge differently, e.g. after a token that is half a character)
post() { curl -sk --max-time 120 "$URL/v1/completions" -H 'Content-Type: application/json' -d "$1"; }
EP="The product"
g=$(post "$(jq -nc --arg p "$EP" '{prompt:$p,max_tokens:24,temperature:0,logprobs:0}')")
e=$(post "$(jq -nc --arg p "$EP$(jq -r '.choices[0].text' <<<"$g")" '{prompt:$p,max_tokens:1,temperature:0,logprobs:0,echo:true}')")
np=$(jq '.usage.prompt_tokens' <<<"$g")
read -r same_len same_lp < <(jq -nr --argjson g "$(jq -c '.choices[0].logprobs' <<<"$g")" \
  --argjson e "$(jq -c '.choices[0].logprobs' <<<"$e")" --argjson n "$np" '
  ($g.tokens | length) as $m
  | (([range(0; $m) | select($g.tokens[.] != $e.tokens[$n + .])] | first) // $m) as $l
  | "\($l) \($g.token_logprobs[0:$l] == $e.token_logprobs[$n:$n + $l])"')
check "echo+logprobs (seed): the text it generated scores as generating it did ($same_len tokens, to position $((np + same_len)))" \
  test "$same_lp" = true -a "$((np + same_len))" -gt 17
check "echo+logprobs (seed): the first prompt token has a null logprob" \
  test "$(jq -c '.choices[0].logprobs.token_logprobs[0]' <<<"$e")" == null

# --- streaming, seeds -----------------------------------------------------------------------
client --prompt "$PROMPT" --seed 7 --max-tokens 24 >"$T/a.txt"
client --prompt "$PROMPT" --seed 7 --max-tokens 24 --stream >"$T/a_stream.txt"
client --prompt "$PROMPT" --seed 7 --max-tokens 24 >"$T/a2.txt"
client --prompt "$PROMPT" --seed 8 --max-tokens 24 >"$T/b.txt"
check "streamed text equals the non-streamed text" cmp -s "$T/a.txt" "$T/a_stream.txt"
check "the same seed gives the same text" cmp -s "$T/a.txt" "$T/a2.txt"
check "another seed gives another text" not cmp -s "$T/a.txt" "$T/b.txt"
check "the text is not empty" test "$(wc -c <"$T/a.txt")" -gt 5
client --prompt "$PROMPT" --seed 7 --max-tokens 24 --json >"$T/a.json"
check "finish_reason length and 24 completion tokens" \
  test "$(jq -r '.choices[0].finish_reason + " " + (.usage.completion_tokens|tostring)' "$T/a.json")" == "length 24"
check "response shape: object, id, model" \
  test "$(jq -r '.object + " " + (.id|startswith("cmpl-")|tostring) + " " + .model' "$T/a.json")" == "text_completion true seed"

# --- stop sequences: the reference is the seed-7 text cut before the stop's first occurrence ----
FULL=$(jq -r '.choices[0].text' "$T/a.json")
STOP=${FULL:12:3}
EXPECT=${FULL%%"$STOP"*}
client --prompt "$PROMPT" --seed 7 --max-tokens 24 --stop "$STOP" --json >"$T/s.json"
check "stop: text ends before the stop sequence" test "$(jq -r '.choices[0].text' "$T/s.json")" == "$EXPECT"
check "stop: finish_reason stop" test "$(jq -r '.choices[0].finish_reason' "$T/s.json")" == "stop"
client --prompt "$PROMPT" --seed 7 --max-tokens 24 --stop "$STOP" --stream >"$T/s_stream.txt"
check "stop: streamed text is the same" test "$(cat "$T/s_stream.txt")" == "$EXPECT"
STOP2=${FULL:5:2}
EXPECT2=$FULL
for st in "$STOP" "$STOP2"; do
  cut=${FULL%%"$st"*}
  [ ${#cut} -lt ${#EXPECT2} ] && EXPECT2=$cut
done
client --prompt "$PROMPT" --seed 7 --max-tokens 24 --stop "$STOP" --stop "$STOP2" --json >"$T/s2.json"
check "two stops: the earliest occurrence wins" test "$(jq -r '.choices[0].text' "$T/s2.json")" == "$EXPECT2"

# --- 20 concurrent clients, same seed: same text as one alone, in shared forward passes --------
client --prompt "$PROMPT" --seed 11 --max-tokens 32 >"$T/one.txt"
before_steps=$(curl -sk "$URL/metrics" | awk '/^teelm_decode_steps_total/ {print $2}')
for i in $(seq 1 20); do
  if [ $((i % 2)) -eq 0 ]; then s=--stream; else s=; fi
  # shellcheck disable=SC2086
  client --prompt "$PROMPT" --seed 11 --max-tokens 32 $s >"$T/c$i.txt" 2>"$T/c$i.err" &
done
wait_fail=0
for job in $(jobs -p); do [ "$job" = "$SRV_PID" ] && continue; wait "$job" || wait_fail=1; done
check "20 concurrent clients all succeeded" test $wait_fail -eq 0
[ $wait_fail -eq 0 ] || cat "$T"/c*.err
same=0
for i in $(seq 1 20); do cmp -s "$T/one.txt" "$T/c$i.txt" && same=$((same + 1)); done
check "20 concurrent clients got the one-client text ($same/20)" test $same -eq 20
after_steps=$(curl -sk "$URL/metrics" | awk '/^teelm_decode_steps_total/ {print $2}')
steps=$((after_steps - before_steps))
echo "20 x 32 tokens took $steps decode steps"
check "concurrent requests shared forward passes (< 640 steps for 640 tokens)" test "$steps" -lt 640

# --- policy mismatches: refused naming the field, and nothing reached /v1/completions ----------
n0=$(completions_count)
echo "{\"mrenclave\":\"$(printf '%064d' 1)\",\"allow_simulation\":true}" >"$T/wrong.json"
set +e
"$BIN" client --server "$URL" --policy "$T/wrong.json" --prompt "secret" >"$T/w.out" 2>"$T/w.err"
rc=$?
set -e
check "wrong measurement: exit 1" test $rc -eq 1
check "wrong measurement: names mrenclave" grep -q "mrenclave $MRE is not in the allowed list" "$T/w.err"
check "wrong measurement: no output" test ! -s "$T/w.out"
echo "{\"mrenclave\":\"$MRE\"}" >"$T/nosim.json"
set +e
"$BIN" client --server "$URL" --policy "$T/nosim.json" --prompt "secret" >"$T/n.out" 2>"$T/n.err"
rc=$?
set -e
check "simulation not allowed: exit 1 naming allow_simulation" test $rc -eq 1 -a -n "$(grep allow_simulation "$T/n.err")"
check "simulation not allowed: no simulation acceptance warning" not grep -q "SIMULATION mode" "$T/n.err"
check "refused clients sent no completion request" test "$(completions_count)" -eq "$n0"
# with allow_simulation the client warns (test_client_ratls shows it is printed before the request is sent)
"$BIN" client --server "$URL" --policy "$T/policy.json" --prompt "The" --max-tokens 1 >"$T/s.out" 2>"$T/s.err"
check "simulation warning printed" grep -q "WARNING: the server runs in SIMULATION mode" "$T/s.err"

# --- warnings, attestation ----------------------------------------------------------------
for p in /health /v1/models /nope; do
  check "X-Teelm-Warning on $p" grep -qi '^x-teelm-warning: simulated TEE (sim), no protection; plaintext model, no protection' \
    <(curl -sk -D - -o /dev/null "$URL$p")
done
curl -sk "$URL/attestation" >"$T/att.json"
jq -r .evidence "$T/att.json" | base64 -d >"$T/evidence.bin"
check "attestation evidence verifies against the policy" "$BIN" attest verify "$T/evidence.bin" --policy "$T/policy.json"
openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null | openssl x509 -outform PEM >"$T/cert.pem"
H=$(openssl x509 -in "$T/cert.pem" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64)
check "attestation pubkey_sha256 = SHA-256 of the served certificate's key" test "$(jq -r .pubkey_sha256 "$T/att.json")" == "$H"
# report data = SHA-512("teelm/ra-tls/v1" NUL be32(32) SHA-256(SPKI) be32(32) SHA-256(document)
# be32(32) receipt key), in Python (the receipt key as /attestation states it: test_receipts checks
# that receipts verify with it)
check "/attestation's configuration is the --print-config document" \
  test "$(jq -r .configuration "$T/att.json")" == "$(cat "$T/config.json")"
RD=$("$PY" -c 'import hashlib,struct,sys
k=bytes.fromhex(sys.argv[1]); c=hashlib.sha256(open(sys.argv[2],"rb").read().rstrip(b"\n")).digest()
r=bytes.fromhex(sys.argv[3])
print(hashlib.sha512(b"teelm/ra-tls/v1\0"+struct.pack(">I",32)+k+struct.pack(">I",32)+c+struct.pack(">I",32)+r).hexdigest())' \
  "$H" "$T/config.json" "$(jq -r .receipt_key "$T/att.json")")
check "the evidence's report data binds that key and the configuration document" \
  test "$("$BIN" attest show "$T/evidence.bin" --json | jq -r .report_data)" == "$RD"
check "client --expect-config accepts the owner's document" \
  "$BIN" client --server "$URL" --policy "$T/policy.json" --expect-config "$T/config.json" --verify-only
echo '{"teelm":"serve","version":1}' >"$T/other-config.json"
check "client --expect-config refuses another document" \
  not "$BIN" client --server "$URL" --policy "$T/policy.json" --expect-config "$T/other-config.json" --verify-only
# hostile host: the same binary with another model, key source or limits is another sim identity,
# so the owner's policy refuses it
"$HELPER" "$T/model2" "$TIK" 100070 4343
for alt in "--model $T/model2" "--model $T/model --max-tokens 4096" "--model $T/model --key-file $T/config.json" \
           "--model $T/model --api-key-file $T/config.json"; do
  # shellcheck disable=SC2086  # alt is a list of flags
  "$BIN" serve $alt --tee sim --max-batch 32 --model-name seed --handshake-timeout 60 --print-config >"$T/alt.json"
  check "$alt changes the configuration document" not cmp -s "$T/alt.json" "$T/config.json"
  check "$alt changes the sim MRENCLAVE" \
    test "$("$BIN" attest measure --serve-config "$T/alt.json")" != "$MRE"
done
# ... and a server the host actually starts with its own model is refused by the owner's policy
"$BIN" serve --model "$T/model2" --tee sim --listen 127.0.0.1:0 --max-batch 32 --model-name seed --handshake-timeout 60 \
  >"$T/serve2.out" 2>"$T/serve2.err" &
SRV2_PID=$!
URL2=$(serve_url "$T/serve2.out" https 100 0.2)
set +e
"$BIN" client --server "$URL2" --policy "$T/policy.json" --prompt "secret" >"$T/h.out" 2>"$T/h.err"
rc=$?
set -e
kill "$SRV2_PID" 2>/dev/null; wait "$SRV2_PID" 2>/dev/null || true
SRV2_PID=
check "host-chosen model: the owner's policy refuses it (exit 1, names mrenclave)" \
  test $rc -eq 1 -a -n "$(grep "is not in the allowed list" "$T/h.err")"
check "attestation says sim" test "$(jq -r '.tee + " " + (.simulated|tostring)' "$T/att.json")" == "sim true"
curl -sk "$URL/v1/models" >"$T/models.json"
check "/v1/models lists the model" test "$(jq -r '.data[0].id' "$T/models.json")" == "seed"

# --- graceful stop -------------------------------------------------------------------------
kill -TERM "$SRV_PID"
set +e
wait "$SRV_PID"
rc=$?
set -e
SRV_PID=
check "SIGTERM stops the server cleanly" test $rc -eq 0
check "prompts never reach the server log" test -z "$(grep -l "sales team\|secret" "$T/serve.err" "$T/serve.out")"
exit $fail
