#!/usr/bin/env bash
# Enclave mode (docs/deploy-occlum.md, "What the host controls"): with TEELM_ENCLAVE_CONFIG set, as the
# measured Occlum.json sets it, the binary runs only the serve command of that measured file. The
# host's other commands (attest quote: a genuine quote over chosen data), its own --model, --kbs,
# --key-file or any other flag are refused before anything runs; only --listen is the host's.
set -u
bin=${TEELM_BIN:?}
# shellcheck source=tests/util/check.sh
. "${TEELM_SRC:?}/tests/util/check.sh"
model_inputs
tmp=$(mktemp -d /tmp/teelm-enclave-XXXXXX)
srv=
# shellcheck disable=SC2317  # invoked through the EXIT trap
cleanup() { [ -n "$srv" ] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
# erun WANT_EXIT DESCRIPTION CMD...: run (tests/util/check.sh) in enclave mode
erun() { local want=$1 what=$2; shift 2; run "$want" "$what" env TEELM_ENCLAVE_CONFIG="$tmp/serve.json" "$@"; }

"$helper" "$tmp/model" "$tik" 100070 4242 >/dev/null
"$helper" "$tmp/other" "$tik" 100070 4343 >/dev/null
printf 'not a key\n' > "$tmp/host.key"
cat > "$tmp/serve.json" <<J
{"version": 1, "serve": ["--model", "$tmp/model", "--tee", "sim", "--model-name", "measured", "--listen", "127.0.0.1:1"]}
J

# the host's other commands never run inside the enclave
erun 2 "attest quote" "$bin" attest quote --tee sim --report-data 00ff --out "$tmp/q.bin"
has err "runs only its measured 'teelm serve'" "attest quote refusal names the rule"
if [ -e "$tmp/q.bin" ]; then bad "attest quote produced evidence in enclave mode"; else ok; fi
erun 2 "attest quote --user-data" "$bin" attest quote --tee sim --user-data 00 --out "$tmp/q.bin"
erun 2 "generate" "$bin" generate --model "$tmp/other" --prompt x
erun 2 "kbs" "$bin" kbs --listen 127.0.0.1:0 --store "$tmp/s" --policy "$tmp/serve.json"
erun 2 "--version" "$bin" --version
# host-chosen serve settings other than --listen
erun 2 "host --model" "$bin" serve --model "$tmp/other" --listen 127.0.0.1:0
has err "not '--model'" "--model refusal names the flag"
erun 2 "host --model=" "$bin" serve "--model=$tmp/other"
erun 2 "host --kbs" "$bin" serve --kbs https://127.0.0.1:1
erun 2 "host --key-file" "$bin" serve --key-file "$tmp/host.key"
erun 2 "host --tee" "$bin" serve --tee sim
erun 2 "host --print-config" "$bin" serve --print-config
erun 2 "host --listen twice" "$bin" serve --listen 127.0.0.1:0 --listen 127.0.0.1:1
erun 2 "host --listen without a value" "$bin" serve --listen
# a broken or absent measured file refuses to start (never falls back to the host's arguments)
echo '{"version": 1, "serve": ["--model", 7]}' > "$tmp/bad.json"
TEELM_ENCLAVE_CONFIG=$tmp/bad.json "$bin" serve >"$tmp/out" 2>"$tmp/err"
if [ $? -eq 1 ] && grep -q "strings only" "$tmp/err"; then ok; else bad "malformed measured file"; cat "$tmp/err"; fi
TEELM_ENCLAVE_CONFIG=$tmp/absent.json "$bin" serve >"$tmp/out" 2>"$tmp/err"
if [ $? -eq 1 ]; then ok; else bad "absent measured file did not refuse"; fi

# only the measured serve runs, with the host's --listen: its model and name are the file's
TEELM_ENCLAVE_CONFIG=$tmp/serve.json "$bin" serve --listen 127.0.0.1:0 >"$tmp/out" 2>"$tmp/err" &
srv=$!
for _ in $(seq 1 100); do grep -q "listening on" "$tmp/out" 2>/dev/null && break; sleep 0.2; done
port=$(grep -o 'https://127.0.0.1:[0-9]*' "$tmp/out" | sed 's/.*://')
if [ -n "$port" ]; then ok; else bad "the measured serve did not start"; cat "$tmp/err"; fi
if [ -n "$port" ]; then
  models=$(curl -sk "https://127.0.0.1:$port/v1/models")
  case "$models" in *'"measured"'*) ok ;; *) bad "served model is not the measured one: $models" ;; esac
  # the configuration it attests is the measured file's (model digest of model, not of other)
  curl -sk "https://127.0.0.1:$port/attestation" | jq -r .configuration > "$tmp/attested.json"
  "$bin" serve --model "$tmp/model" --tee sim --model-name measured --print-config > "$tmp/want.json"
  if cmp -s "$tmp/attested.json" "$tmp/want.json"; then ok; else bad "attested configuration differs from the measured one"; fi
fi
kill "$srv" 2>/dev/null; wait "$srv" 2>/dev/null; srv=
finish
