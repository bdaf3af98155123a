#!/usr/bin/env bash
# End to end over loopback with the real binary: train a tiny model, start the key broker
# (port 0, read the port it prints), seal the model registering its key with the broker, then
# generate from the sealed model in sim mode through attestation — the text must equal the
# plaintext model's. Then the refusals an operator meets: revoked key, a key whose policy forbids
# simulation, an unpinned broker, a stopped broker. The broker's log must hold decisions, never keys.
set -u
bin=${TEELM_BIN:?}
shared=${TEELM_SHARED:-../shared}
text="$shared/data/sales_textbook.txt"
# shellcheck source=tests/util/check.sh
. "${TEELM_SRC:?}/tests/util/check.sh"
tmp=$(mktemp -d /tmp/teelm-kbs-e2e-XXXXXX)
tok=$(cl100k "$tmp") || skip "no cl100k_base ($shared/data/cl100k_base.tiktoken or npm tiktoken; scripts/install-deps.sh)"
kbs_pid=
# shellcheck disable=SC2317  # invoked through the EXIT trap
cleanup() {
  if [ -n "$kbs_pid" ]; then kill "$kbs_pid" 2>/dev/null; wait "$kbs_pid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
# expect WHAT CMD...: CMD must succeed
expect() { local what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }
# refuse WHAT CMD...: CMD must fail
refuse() { local what=$1; shift; if "$@"; then bad "$what"; else ok; fi; }

# 1. a tiny trained model and its plaintext generation
# the prototype's text when ../shared has it, else the repository's own docs (any English text
# will do; their technical words need cl100k_base's whole vocabulary, not the seed model's 100070)
vocab=100070
if [ -f "$text" ]; then head -c 20000 "$text"; else vocab=100277; cat "${TEELM_SRC:?}"/docs/*.md | head -c 20000; fi > "$tmp/t.txt"
echo '{"context_length":8,"d_model":16,"n_layer":2,"n_head":2,"d_ff":32,"vocab_size":'$vocab'}' > "$tmp/c.json"
"$bin" train --data "$tmp/t.txt" --tokenizer "$tok" --out "$tmp/m" --steps 30 --config "$tmp/c.json" \
  --eval-interval 0 --threads 1 >"$tmp/train.log" 2>&1 || { cat "$tmp/train.log"; bad "train"; exit 1; }
gen=(generate --prompt "The sales" --max-tokens 40 --seed 11 --threads 1)
"$bin" "${gen[@]}" --model "$tmp/m" >"$tmp/plain.txt" 2>"$tmp/plain.err" || { cat "$tmp/plain.err"; bad "plaintext generate"; }
expect "plaintext generation is empty" test -s "$tmp/plain.txt"

# 2. the broker, admitting the sim measurement of this binary (no configuration)
mr=$("$bin" attest measure | head -1)
expect "attest measure printed '$mr'" test ${#mr} -eq 64
printf '{"mrenclave":"%s","allow_simulation":true}\n' "$mr" > "$tmp/policy.json"
"$bin" kbs --listen 127.0.0.1:0 --store "$tmp/store" --policy "$tmp/policy.json" >"$tmp/kbs.out" 2>"$tmp/kbs.log" &
kbs_pid=$!
port=
for _ in $(seq 100); do
  port=$(sed -n 's|^kbs: listening on https://127.0.0.1:\([0-9]*\)$|\1|p' "$tmp/kbs.out" 2>/dev/null)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { cat "$tmp/kbs.out" "$tmp/kbs.log"; bad "broker did not print its port"; exit 1; }
url="https://127.0.0.1:$port"
ca="$tmp/store/tls-cert.pem"
expect "broker did not print its certificate fingerprint" grep -q "SHA-256 [0-9a-f:]\{95\}" "$tmp/kbs.out"

# 3. seal, registering a fresh key with the running broker (admin endpoint)
expect "seal --kbs" "$bin" seal --model "$tmp/m" --out "$tmp/m.sealed" --kbs "$url" --kbs-ca "$ca" --key-id e2e-full \
  --admin-token "$tmp/store/admin.token"
expect "seal --split --kbs" "$bin" seal --model "$tmp/m" --out "$tmp/ms" --split --kbs "$url" --kbs-ca "$ca" \
  --key-id e2e-split --admin-token "$tmp/store/admin.token"
"$bin" kbs list --store "$tmp/store" > "$tmp/list.txt"
expect "kbs list: e2e-full" grep -q "^e2e-full .*active" "$tmp/list.txt"
expect "kbs list: e2e-split" grep -q "^e2e-split .*active" "$tmp/list.txt"

# 4. generate from the sealed models through attestation: identical text
for model in "$tmp/m.sealed" "$tmp/ms"; do
  "$bin" "${gen[@]}" --model "$model" --kbs "$url" --kbs-ca "$ca" --tee sim >"$tmp/sealed.txt" 2>"$tmp/sealed.err"
  if cmp -s "$tmp/plain.txt" "$tmp/sealed.txt"; then ok; else cat "$tmp/sealed.err"; bad "$model: sealed generation differs"; fi
done
expect "broker did not log two releases" test "$(grep -c "verdict=released" "$tmp/kbs.log")" -eq 2

# 5. refusals
"$bin" kbs revoke --store "$tmp/store" --key-id e2e-full >/dev/null
if "$bin" "${gen[@]}" --model "$tmp/m.sealed" --kbs "$url" --kbs-ca "$ca" --tee sim >"$tmp/out" 2>"$tmp/err"; then
  bad "revoked key was released"
else
  expect "revocation message: $(cat "$tmp/err")" grep -q "refused.*key broker's log" "$tmp/err"
  expect "revocation not logged" grep -q "decision key_id=e2e-full .*verdict=refused code=key_revoked" "$tmp/kbs.log"
fi
refuse "output despite refusal" test -s "$tmp/out"
printf '{"mrenclave":"%s","allow_simulation":false}\n' "$mr" > "$tmp/nosim.json"
expect "add-key --generate" "$bin" kbs add-key --store "$tmp/store" --key-id e2e-nosim --generate \
  --key-out "$tmp/nosim.key" --policy "$tmp/nosim.json"
expect "seal --key-file" "$bin" seal --model "$tmp/m" --out "$tmp/nosim.sealed" --key-file "$tmp/nosim.key"
if "$bin" "${gen[@]}" --model "$tmp/nosim.sealed" --kbs "$url" --kbs-ca "$ca" --tee sim >/dev/null 2>"$tmp/err"; then
  bad "sim evidence released a key whose policy forbids simulation"
else
  expect "no-sim message: $(cat "$tmp/err")" grep -q "refused.*key broker's log" "$tmp/err"
  expect "no-sim refusal not logged" grep -q "decision key_id=e2e-nosim .*code=policy_refused.*simulated" "$tmp/kbs.log"
fi
# ... while the owner, with the key file, still can
"$bin" "${gen[@]}" --model "$tmp/nosim.sealed" --key-file "$tmp/nosim.key" >"$tmp/owner.txt" 2>/dev/null
expect "owner generation with the key file differs" cmp -s "$tmp/plain.txt" "$tmp/owner.txt"
# no pin: the broker's self-signed certificate is not trusted
if "$bin" "${gen[@]}" --model "$tmp/ms" --kbs "$url" --tee sim >/dev/null 2>"$tmp/err"; then
  bad "unpinned broker accepted"
else
  expect "unpinned message: $(cat "$tmp/err")" grep -qi "certificate" "$tmp/err"
fi

# an independent client written from docs/attestation-protocol.md gets the same key
py=${TEELM_PYTHON:-/usr/bin/python3}
if "$py" -c 'import cryptography' 2>/dev/null; then
  expect "add-key --generate (ref)" "$bin" kbs add-key --store "$tmp/store" --key-id e2e-ref --generate --key-out "$tmp/ref.key"
  got=$("$py" "${TEELM_SRC:?}/tests/reference/kbs_ref_client.py" "$url" "$ca" e2e-ref "$bin" 2>"$tmp/ref.err")
  expect "reference client: $(cat "$tmp/ref.err")" test "$got" = "$(sed -n 's/^key: //p' "$tmp/ref.key")"
  refuse "reference client got a revoked key" "$py" "$TEELM_SRC/tests/reference/kbs_ref_client.py" "$url" "$ca" e2e-full "$bin"
  # hostile host: evidence over caller-chosen data (attest quote --user-data), or bound the old
  # raw way, must not release the key even from the admitted measurement (docs/bindings.md)
  for mode in user-quote old; do
    refuse "key released to $mode evidence" "$py" "$TEELM_SRC/tests/reference/kbs_ref_client.py" "$url" "$ca" e2e-ref "$bin" "$mode" 2>"$tmp/ref.err"
    # the TEE gets the generic refusal; the broker's log keeps the reason
    expect "$mode refusal: $(cat "$tmp/ref.err")" grep -q '"code":"refused"' "$tmp/ref.err"
    before=${mismatches:-0}
    mismatches=$(grep -c "decision key_id=e2e-ref .*code=binding_mismatch" "$tmp/kbs.log" || true)
    expect "$mode refusal not logged as binding_mismatch" test "$mismatches" -gt "$before"
  done
else
  echo "note: python3-cryptography absent, reference client skipped"
fi

# the store is authenticated: a policy edited to allow simulation is refused, and `kbs list` says so
sed -i 's/"allow_simulation": false/"allow_simulation": true/' "$tmp/store/keys/e2e-nosim.json"
if "$bin" "${gen[@]}" --model "$tmp/nosim.sealed" --kbs "$url" --kbs-ca "$ca" --tee sim >/dev/null 2>"$tmp/err"; then
  bad "an edited policy released the key"
else
  expect "edited policy not logged" grep -q "decision key_id=e2e-nosim .*code=store_integrity.*does not match the manifest" "$tmp/kbs.log"
fi
refuse "kbs list accepted an edited record" "$bin" kbs list --store "$tmp/store" >"$tmp/list2.txt" 2>"$tmp/list2.err"
expect "kbs list: $(cat "$tmp/list2.err")" grep -q "^e2e-nosim .*INVALID" "$tmp/list2.txt"
expect "kbs list names the problem" grep -q "e2e-nosim: .*does not match the manifest" "$tmp/list2.err"
expect "kbs list prints the generation" grep -q "^store generation [0-9][0-9]*$" "$tmp/list2.txt"

# 6. the broker's log: decisions with key id and measurement, never key material
expect "release not logged" grep -q "decision key_id=e2e-split mrenclave=$mr (sim) verdict=released" "$tmp/kbs.log"
expect "refusal not logged" grep -q "decision key_id=e2e-nosim .*verdict=refused code=policy_refused" "$tmp/kbs.log"
keyhex=$(sed -n 's/^key: //p' "$tmp/nosim.key")
refuse "key material in the broker's output" grep -q "$keyhex" "$tmp/kbs.log" "$tmp/kbs.out"
# the sealed files hold no plaintext: not a tokenizer line, not the config or tensor names
needle=$(sed -n 5000p "$tok")
for f in "$tmp/m.sealed" "$tmp/ms"/*.sealed; do
  refuse "$f holds tokenizer text" env LC_ALL=C grep -qaF "$needle" "$f"
  refuse "$f holds the config" env LC_ALL=C grep -qaE "vocab_size|token_embedding_table" "$f"
done

# 7. stop the broker (SIGTERM: graceful) — then a load fails cleanly
kill -TERM "$kbs_pid"; wait "$kbs_pid"; st=$?; kbs_pid=
expect "broker exit status $st after SIGTERM" test "$st" -eq 0
expect "broker did not stop gracefully" grep -q "kbs: stopped" "$tmp/kbs.out"
if "$bin" "${gen[@]}" --model "$tmp/ms" --kbs "$url" --kbs-ca "$ca" --tee sim >/dev/null 2>"$tmp/err"; then
  bad "load succeeded with the broker down"
else
  expect "broker-down message: $(cat "$tmp/err")" grep -q "key broker" "$tmp/err"
fi
# 8. a store of the previous version (records, no manifest) is refused until upgraded
rm "$tmp/store/manifest.json"
refuse "broker started on an unauthenticated store" "$bin" kbs --listen 127.0.0.1:0 --store "$tmp/store" \
  --policy "$tmp/policy.json" >/dev/null 2>"$tmp/err"
expect "upgrade message: $(cat "$tmp/err")" grep -q "teelm kbs upgrade --store" "$tmp/err"
sed -i 's/"allow_simulation": true/"allow_simulation": false/' "$tmp/store/keys/e2e-nosim.json"
# a record whose key material belongs to another id (copied and renamed) is not upgraded
sed 's/"e2e-split"/"e2e-copy"/' "$tmp/store/keys/e2e-split.json" > "$tmp/store/keys/e2e-copy.json"
refuse "upgrade accepted a copied record" "$bin" kbs upgrade --store "$tmp/store" >/dev/null 2>"$tmp/err"
expect "upgrade refusal: $(cat "$tmp/err")" grep -q "e2e-copy.json: wrapped key does not authenticate" "$tmp/err"
rm "$tmp/store/keys/e2e-copy.json"
"$bin" kbs upgrade --store "$tmp/store" --dry-run >"$tmp/up.txt" 2>"$tmp/err" || bad "upgrade --dry-run: $(cat "$tmp/err")"
expect "dry run wrote a manifest" test ! -e "$tmp/store/manifest.json"
expect "upgrade lists policies" grep -q "^e2e-nosim .*policy {" "$tmp/up.txt"
expect "upgrade" "$bin" kbs upgrade --store "$tmp/store"
expect "kbs list after upgrade" "$bin" kbs list --store "$tmp/store"
finish
