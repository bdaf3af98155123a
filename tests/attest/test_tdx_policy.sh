#!/usr/bin/env bash
# Hostile-host item 2 through the CLI: a TDX policy that pins only MRTD (the firmware) is refused
# when loaded by `attest verify`, the key broker (default and per-key policy) and `teelm client`,
# unless it says allow_unmeasured_os; `attest policy-template` needs all four --rtmr; a real TDX quote
# (fixture set B) whose RTMR differs from the policy is refused naming the RTMR; and `attest rtmr3`
# prints the value docs/attestation.md defines, recomputed here with Python's hashlib.
set -u
bin=${TEELM_BIN:?}
py=${TEELM_PYTHON:-/usr/bin/python3}
# shellcheck source=tests/util/check.sh
. "${TEELM_SRC:?}/tests/util/check.sh"
dcap_fixtures
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

B=$D/tdx_v4_quote_phala.bin; BC=$D/tdx_v4_quote_phala_collateral.json
NOW=2025-07-01T00:00:00Z
MRTD=91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7
R0=44c0197b39157fdd7a4dcc44767f9d6b0bb3977c7a8e347b8492f827fe9d9e5c48aca29b220b80b6a540cf994b9bc9c0
R1=0084452c01668329d4bc06acdf58a7205c26743304509973949e5619bf81a6a7aea8c323c173019b3093d54e579e9378
R2=d833feef2cd945148aa38ead2c53e9b7f138190aaaebfc551dccd829fc207aa3ba80b70870d7330733642e01d48c3132
R3=000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000

# --- a policy naming MRTD alone: refused by every loader ---
echo "{\"tdx\": {\"mrtd\": \"$MRTD\"}}" > "$tmp/mrtd-only.json"
run 1 "verify, MRTD-only policy" -- "$bin" attest verify "$B" --collateral "$BC" --policy "$tmp/mrtd-only.json" --now $NOW
has err "mrtd-only.json: policy: tdx.rtmr0 is missing" "verify names the file and field"
has err "allow_unmeasured_os" "verify names the way out"
run 1 "broker, MRTD-only default policy" -- timeout 60 "$bin" kbs --listen 127.0.0.1:0 --store "$tmp/store" --policy "$tmp/mrtd-only.json"
has err "tdx.rtmr0 is missing" "broker names the field"
run 1 "broker, MRTD-only per-key policy" -- "$bin" kbs add-key --store "$tmp/store" --key-id k1 --generate --policy "$tmp/mrtd-only.json"
has err "tdx.rtmr0 is missing" "add-key names the field"
run 0 "no key was added" -- "$bin" kbs list --store "$tmp/store"
if grep -q k1 "$tmp/out"; then bad "k1 was stored"; else ok; fi
run 1 "client, MRTD-only policy" -- timeout 60 "$bin" client --server https://127.0.0.1:9 --policy "$tmp/mrtd-only.json" --prompt hi
has err "tdx.rtmr0 is missing" "client names the field"
if grep -qi "connect\|handshake" "$tmp/err"; then bad "client tried to connect"; else ok; fi
# three of four RTMRs: the missing one is named
echo "{\"tdx\": {\"mrtd\": \"$MRTD\", \"rtmr0\": \"$R0\", \"rtmr1\": \"$R1\", \"rtmr3\": \"$R3\"}}" > "$tmp/no-r2.json"
run 1 "verify, RTMR2 missing" -- "$bin" attest verify "$B" --collateral "$BC" --policy "$tmp/no-r2.json" --now $NOW
has err "tdx.rtmr2 is missing" "missing RTMR2 named"
# ... and the explicit opt-out admits the quote
echo "{\"tdx\": {\"mrtd\": \"$MRTD\", \"allow_unmeasured_os\": true}}" > "$tmp/unmeasured.json"
run 0 "verify, allow_unmeasured_os" -- "$bin" attest verify "$B" --collateral "$BC" --policy "$tmp/unmeasured.json" --now $NOW
has out "verdict *ACCEPTED" "unmeasured accepted"
run 0 "broker accepts the opt-out per key" -- "$bin" kbs add-key --store "$tmp/store" --key-id k2 --generate --policy "$tmp/unmeasured.json"

# --- policy-template ---
run 2 "template --mrtd alone" -- "$bin" attest policy-template --mrtd $MRTD
has err "missing: 0,1,2,3" "template names the missing RTMRs"
run 2 "template --mrtd, three RTMRs" -- "$bin" attest policy-template --mrtd $MRTD --rtmr 0=$R0 --rtmr 1=$R1 --rtmr 3=$R3
has err "missing: 2" "template names RTMR2"
run 2 "template --rtmr 4" -- "$bin" attest policy-template --mrtd $MRTD --rtmr 4=$R0
has err "N 0..3" "template rtmr index"
run 2 "template short rtmr" -- "$bin" attest policy-template --mrtd $MRTD --rtmr 0=abcd --rtmr 1=$R1 --rtmr 2=$R2 --rtmr 3=$R3
has err "96 hex digits" "template rtmr length"
run 2 "template rtmr twice" -- "$bin" attest policy-template --mrtd $MRTD --rtmr 0=$R0 --rtmr 0=$R0 --rtmr 2=$R2 --rtmr 3=$R3
has err "given twice" "template duplicate rtmr"
run 2 "template --rtmr without --mrtd" -- "$bin" attest policy-template --mrenclave 33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb --rtmr 0=$R0
run 0 "template, all four" -- "$bin" attest policy-template --mrtd $MRTD --rtmr 0=$R0 --rtmr 1=$R1 --rtmr 2=$R2 --rtmr 3=$R3
cp "$tmp/out" "$tmp/pinned.json"
run 0 "verify, all four pinned" -- "$bin" attest verify "$B" --collateral "$BC" --policy "$tmp/pinned.json" --now $NOW
has out "policy *satisfied" "pinned satisfied"
run 0 "template, opt-out" -- "$bin" attest policy-template --mrtd $MRTD --allow-unmeasured-os
has out '"allow_unmeasured_os": true' "template writes the opt-out"

# --- the real quote against an RTMR3 of a teelm measurement: refused by name ---
printf 'teelm serve v1 plaintext_model=0 host_key_file=0 api_keys=1' > "$tmp/config"
run 0 "rtmr3" -- "$bin" attest rtmr3 --exe "$bin" --config "$tmp/config"
mine=$(cat "$tmp/out")
want=$("$py" - "$bin" "$tmp/config" <<'P'
import hashlib, sys
r = bytes(48)
for path in sys.argv[1:3]:
    r = hashlib.sha384(r + hashlib.sha384(open(path, 'rb').read()).digest()).digest()
print(r.hex())
P
)
if [ "$mine" = "$want" ]; then ok; else bad "rtmr3 $mine, hashlib says $want"; fi
init=$(printf '%096d' 7)
run 0 "rtmr3 --initial --json" -- "$bin" attest rtmr3 --exe "$bin" --config "$tmp/config" --initial "$init" --json
want2=$("$py" - "$bin" "$tmp/config" "$init" <<'P'
import hashlib, sys
r = bytes.fromhex(sys.argv[3])
for path in sys.argv[1:3]:
    r = hashlib.sha384(r + hashlib.sha384(open(path, 'rb').read()).digest()).digest()
print(r.hex())
P
)
has out "\"rtmr3\": \"$want2\"" "rtmr3 from an initial value"
run 2 "rtmr3 without config" -- "$bin" attest rtmr3 --exe "$bin"
run 2 "rtmr3 bad initial" -- "$bin" attest rtmr3 --config "$tmp/config" --initial 00
run 1 "rtmr3 missing exe" -- "$bin" attest rtmr3 --exe "$tmp/nope" --config "$tmp/config"
has err "$tmp/nope" "rtmr3 names the executable"
run 0 "template with the teelm RTMR3" -- "$bin" attest policy-template --mrtd $MRTD --rtmr 0=$R0 --rtmr 1=$R1 --rtmr 2=$R2 --rtmr 3="$mine"
cp "$tmp/out" "$tmp/teelm.json"
run 1 "verify: this TD did not measure teelm" -- "$bin" attest verify "$B" --collateral "$BC" --policy "$tmp/teelm.json" --now $NOW
has err "tdx.rtmr3 $R3 differs from the required $mine" "RTMR3 mismatch named with both values"
sed "s/$R1/$R0/" "$tmp/pinned.json" > "$tmp/other-kernel.json"
run 1 "verify: another kernel" -- "$bin" attest verify "$B" --collateral "$BC" --policy "$tmp/other-kernel.json" --now $NOW
has err "tdx.rtmr1 $R1 differs from the required $R0" "RTMR1 mismatch named"

finish
