#!/usr/bin/env bash
# `teelm serve --kbs trustee+https://... --kbs-resource REPO/TYPE/TAG` against the reference Trustee
# KBS (tests/reference/trustee_kbs.py, written from Trustee's kbs_attestation_protocol.md with
# Python's cryptography for the JOSE), over HTTPS on loopback, sim evidence:
#   - a sealed seed model whose raw data key is the Trustee resource: serve starts, and its greedy
#     completion equals the same sealed model served with the key file;
#   - the server checked the evidence with `teelm attest verify` under a policy naming the sim
#     MRENCLAVE of serve's configuration document, and the SHA-384 JCS runtime-data binding;
#   - the configuration document names the Trustee key source (kind, url, resource, pinned CA);
#   - refusals, each a non-zero exit with a message naming the check: wrong binding, bad JWE tag,
#     wrong kid, wrong alg, wrong enc, a JWE to another key, an aad member, an expired session, no
#     session cookie, an unknown resource, a resource that is not 32 bytes, an unpinned KBS;
#   - usage errors: --kbs-resource without a trustee URL, malformed resources;
#   - the SEV-SNP flags (--snp-certs FILE..., --snp-vcek-url, --snp-vcek-cache) parse, are refused
#     with --tee sim, and do not change the configuration document.
set -u
SRC=${TEELM_SRC:?}
# shellcheck source=tests/util/serve.sh
. "$SRC/tests/util/serve.sh"
"$PY" -c "import cryptography.hazmat.primitives.keywrap" 2>/dev/null || skip "$PY has no cryptography (python3-cryptography)"
command -v openssl >/dev/null || skip "openssl CLI absent"
require_helper
T=$(mktemp -d /tmp/teelm-trustee-XXXXXX)
TIK=$(cl100k "$T") || skip "no cl100k_base (../shared/data/cl100k_base.tiktoken or npm tiktoken; scripts/install-deps.sh)"
PIDS=()
fail=0 pass=0
# shellcheck disable=SC2317  # invoked through the EXIT trap
cleanup() { serve_cleanup "${PIDS[@]}"; }
trap cleanup EXIT
ok() { pass=$((pass + 1)); echo "ok: $1"; }
bad() { fail=$((fail + 1)); echo "FAIL: $1"; }
# counting passes as well as failures, in place of serve.sh's check
check() { local d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }

# 1. a sealed seed model, its raw key as the Trustee resource, a short resource for a refusal
"$HELPER" "$T/model" "$TIK" 100070 4242 >/dev/null || { bad "tl_make_model"; exit 1; }
"$BIN" seal --model "$T/model" --out "$T/m.sealed" --key-out "$T/m.key" --key-id trustee-e2e >/dev/null ||
  { bad "seal"; exit 1; }
sed -n 's/^key: //p' "$T/m.key" | "$PY" -c "import sys; sys.stdout.buffer.write(bytes.fromhex(sys.stdin.read().strip()))" >"$T/key.bin"
check "raw key is 32 bytes" test "$(stat -c %s "$T/key.bin")" -eq 32
head -c 31 "$T/key.bin" >"$T/short.bin"

# 2. the KBS's TLS certificate (pinned with --kbs-ca)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$T/kbs.key" -out "$T/kbs.pem" 2>/dev/null || { bad "openssl req"; exit 1; }

# 3. the policy: the sim MRENCLAVE of serve's configuration document for these flags
SERVE=(serve --tee sim --model "$T/m.sealed" --listen 127.0.0.1:0 --handshake-timeout 60 --quiet --threads 1)
TRUSTEE=(--kbs-resource teelm/key/trustee-e2e --kbs-ca "$T/kbs.pem")
# kbs_start NAME [faults...]: the reference KBS; sets KBS (the trustee+https URL)
kbs_start() {
  local name=$1; shift
  "$PY" "$SRC/tests/reference/trustee_kbs.py" "$T/$name.port" "$T/kbs.pem" "$T/kbs.key" "$BIN" "$T/policy.json" \
    "teelm/key/trustee-e2e=$T/key.bin" "teelm/key/short=$T/short.bin" "$@" 2>"$T/$name.kbs.err" &
  PIDS+=($!)
  for _ in $(seq 1 100); do [ -s "$T/$name.port" ] && break; sleep 0.1; done
  [ -s "$T/$name.port" ] || { cat "$T/$name.kbs.err"; bad "reference KBS $name did not start"; exit 1; }
  KBS="trustee+https://127.0.0.1:$(cat "$T/$name.port")/"
}
kbs_start doc
"$BIN" "${SERVE[@]}" --kbs "$KBS" "${TRUSTEE[@]}" --print-config >"$T/doc.json" || bad "--print-config"
check "document: trustee key source" grep -q '"key_source":{"ca":"sha256:[0-9a-f]\{64\}","kind":"trustee","resource":"teelm/key/trustee-e2e","url":"https://127.0.0.1:[0-9]*/"}' "$T/doc.json"
# admit ARGS...: the KBS policy admits the sim MRENCLAVE of serve with these flags (the document
# names the KBS URL, so each reference KBS's port gives another identity); POLICY_FIXED=1 keeps it
admit() {
  [ -n "${POLICY_FIXED:-}" ] && return
  "$BIN" "${SERVE[@]}" "$@" --print-config >"$T/admit.json" || { bad "--print-config $*"; return; }
  printf '{"mrenclave":"%s","allow_simulation":true}\n' "$("$BIN" attest measure --serve-config "$T/admit.json" | head -1)" \
    >"$T/policy.json"
}
# start NAME ARGS...: serve in the background; sets URL ("" when it exited)
start() {
  local name=$1; shift
  admit "$@"
  "$BIN" "${SERVE[@]}" "$@" >"$T/$name.out" 2>"$T/$name.err" &
  local pid=$!
  PIDS+=("$pid")
  URL=$(serve_url "$T/$name.out" https 300 0.1 "$pid" || true)
}
complete() { curl -sk --max-time 60 "$1/v1/completions" -H 'Content-Type: application/json' \
  -d '{"prompt":"The sales team","max_tokens":12,"temperature":0}' | "$PY" -c "import json,sys; print(json.load(sys.stdin)['choices'][0]['text'])"; }

# 4. the key through Trustee; the same text as with the key file
start trustee --kbs "$KBS" "${TRUSTEE[@]}"
if [ -n "$URL" ]; then
  ok "serve started with the key from the Trustee resource"
  complete "$URL" >"$T/trustee.txt"
  start keyfile --key-file "$T/m.key"
  complete "$URL" >"$T/keyfile.txt"
  check "completion is not empty" test -s "$T/trustee.txt"
  check "Trustee-keyed completion equals the key-file one" cmp -s "$T/trustee.txt" "$T/keyfile.txt"
  check "KBS saw auth, attest, resource" grep -q "GET /kbs/v0/resource/teelm/key/trustee-e2e" "$T/doc.port.log"
  check "the key is not in serve's output" bash -c "! grep -qi '$(xxd -p -c 64 "$T/key.bin")' '$T/trustee.out' '$T/trustee.err'"
else
  cat "$T/trustee.err"; bad "serve with the Trustee key did not start"
fi

# refuse NAME PATTERN ARGS...: serve must exit non-zero at start with PATTERN in its error
refuse() {
  local name=$1 pat=$2; shift 2
  admit "$@"
  "$BIN" "${SERVE[@]}" "$@" >"$T/$name.out" 2>"$T/$name.err"
  local rc=$?
  if [ $rc -ne 0 ] && grep -q -- "$pat" "$T/$name.err"; then ok "$name refused: $(tail -1 "$T/$name.err" | cut -c1-400)"
  else bad "$name: exit $rc, want an error matching '$pat', got: $(cat "$T/$name.err")"; fi
}
# 5. refusals from the KBS side and from the JWE
for f in "bind-other-nonce:attest refused (HTTP 401 AttestationError): verify TEE evidence failed: report_data does not bind" \
         "bad-tag:A256GCM authentication failed" \
         "wrong-kid:kid 'not-your-key' does not name our tee-pubkey" \
         "wrong-alg:alg 'RSA-OAEP-256' is not ECDH-ES+A256KW" \
         "wrong-enc:enc 'A128GCM' is not A256GCM" \
         "other-key:does not unwrap" \
         "aad-member:member 'aad' is not supported" \
         "no-cookie:set no kbs-session-id cookie"; do
  kbs_start "${f%%:*}" --fault "${f%%:*}"
  refuse "${f%%:*}" "${f#*:}" --kbs "$KBS" "${TRUSTEE[@]}"
done
kbs_start expired --session-timeout 0
refuse "expired session" "attest refused (HTTP 401 AttestationError): session expired" --kbs "$KBS" "${TRUSTEE[@]}"
kbs_start plain
refuse "unknown resource" "resource refused (HTTP 404" --kbs "$KBS" --kbs-resource teelm/key/nothing --kbs-ca "$T/kbs.pem"
refuse "short resource" "31 bytes, but a data key is exactly 32" --kbs "$KBS" --kbs-resource teelm/key/short --kbs-ca "$T/kbs.pem"
refuse "unpinned KBS" "Trustee KBS auth" --kbs "$KBS" --kbs-resource teelm/key/trustee-e2e
# a policy that does not admit this configuration: the evidence is refused by the KBS
printf '{"mrenclave":"%064d","allow_simulation":true}\n' 0 >"$T/policy.json"
kbs_start policy
POLICY_FIXED=1
refuse "evidence refused by the KBS policy" "verify TEE evidence failed: evidence refused" --kbs "$KBS" "${TRUSTEE[@]}"

# 6. usage errors
usage() {
  local name=$1 pat=$2; shift 2
  "$BIN" "${SERVE[@]}" "$@" >"$T/u.out" 2>"$T/u.err"
  local rc=$?
  if [ $rc -eq 2 ] && grep -q -- "$pat" "$T/u.err"; then ok "usage: $name"; else bad "usage $name: exit $rc: $(cat "$T/u.err")"; fi
}
usage "trustee without resource" "needs --kbs-resource" --kbs "$KBS"
usage "resource without trustee" "needs --kbs trustee+https" --kbs https://127.0.0.1:1 --kbs-resource a/b/c
for r in a/b a/b/c/d a//c ../b/c "a/b/c/" "a/b/c d" "a/./c"; do
  usage "resource '$r'" "kbs-resource" --kbs "$KBS" --kbs-resource "$r"
done

# 7. the SEV-SNP certificate flags
usage "--snp-certs with --tee sim" "are for --tee tsm" --snp-certs "$T/kbs.pem"
SNP=(serve --tee tsm --model "$T/m.sealed" --key-file "$T/m.key")
"$BIN" "${SNP[@]}" --print-config >"$T/snp0.json"
"$BIN" "${SNP[@]}" --snp-certs "$T/kbs.pem" "$T/m.key" --snp-vcek-url https://kds.example --snp-vcek-cache "$T/cache" \
  --print-config >"$T/snp1.json" 2>"$T/snp1.err"
check "serve parses --snp-certs A B --snp-vcek-url --snp-vcek-cache" test -s "$T/snp1.json"
check "the SEV-SNP certificate sources are not in the document" cmp -s "$T/snp0.json" "$T/snp1.json"
"$BIN" "${SNP[@]}" --snp-certs "$T/kbs.pem" --tsm-root "$T/none" >"$T/snp2.out" 2>"$T/snp2.err"
check "serve --tee tsm --tsm-root without configfs fails naming it" grep -q "$T/none" "$T/snp2.err"

# the sanitizer build: no finding in any run of serve
check "no sanitizer findings in serve's stderr" bash -c "! grep -l 'Sanitizer\|runtime error' '$T'/*.err"

echo "$pass checks passed, $fail failed"
[ "$pass" -gt 0 ] && [ "$fail" -eq 0 ]
