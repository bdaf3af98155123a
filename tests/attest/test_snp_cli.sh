#!/usr/bin/env bash
# `teelm attest verify` on the real SEV-SNP fixtures reaches the verdicts tests/fixtures/snp/SOURCES.txt
# states (gsg: signature good, refused by default for DEBUG; the others accepted; the VLEK accepted
# before 2025-12-10 and "expired" after), with the JSON fields the CLI promises; `attest show`
# prints every field; `attest policy-template --snp-measurement` writes a policy that accepts.
set -u
bin=${TEELM_BIN:?}
src=$(cd "$(dirname "$0")/../.." && pwd)
D=$src/tests/fixtures/snp
[ -f "$D/SOURCES.txt" ] || { echo "SKIP: $D is absent"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0; pass=0
bad() { echo "FAIL: $*"; fail=$((fail+1)); }
expect() { # want_exit what grep_pattern cmd...
  local want=$1 what=$2 pat=$3; shift 3
  "$@" >"$tmp/out" 2>"$tmp/err"; local got=$?
  if [ "$got" -ne "$want" ]; then bad "$what: exit $got, want $want"; cat "$tmp/out" "$tmp/err"; return; fi
  if [ -n "$pat" ] && ! grep -q -- "$pat" "$tmp/out" "$tmp/err"; then bad "$what: no '$pat'"; cat "$tmp/out" "$tmp/err"; return; fi
  pass=$((pass+1))
}
T=2025-06-01T00:00:00Z
expect 1 "gsg refused for DEBUG" "debug" "$bin" attest verify "$D/milan_v2_gsg.report" --snp-certs "$D/milan_v2_gsg.vcek.der" "$D/milan_ask_ark_asvk.pem" --now $T
expect 0 "virtee accepted" "ACCEPTED" "$bin" attest verify "$D/milan_v2_virtee.report" --snp-certs "$D/milan_v2_virtee.vcek.der" "$D/milan_ask_ark_asvk.pem" --now $T
expect 0 "trustee accepted" "ACCEPTED" "$bin" attest verify "$D/milan_v2_trustee.report" --snp-certs "$D/milan_v2_trustee.vcek.der" --now $T
expect 0 "genoa accepted" "ACCEPTED" "$bin" attest verify "$D/genoa_v3_azure.report" --snp-certs "$D/genoa_ask_ark_asvk.pem" "$D/genoa_v3_azure.vcek.pem" --now $T
expect 0 "vlek accepted in its validity" "ACCEPTED" "$bin" attest verify "$D/milan_vlek_v3_trustee.report" --snp-certs "$D/milan_vlek_v3_trustee.vlek.der" --now $T
expect 1 "vlek expired today" "expired" "$bin" attest verify "$D/milan_vlek_v3_trustee.report" --snp-certs "$D/milan_vlek_v3_trustee.vlek.der" "$D/milan_ask_ark_asvk.pem"
expect 1 "a VCEK from another chip" "another chip" "$bin" attest verify "$D/milan_v2_virtee.report" --snp-certs "$D/milan_v2_trustee.vcek.der" --now $T
expect 1 "a Turin bundle does not help a Milan VCEK" "" "$bin" attest verify "$D/genoa_v3_azure.report" --snp-certs "$D/milan_v2_virtee.vcek.der" "$D/turin_ask_ark_asvk.pem" --now $T
# JSON fields
"$bin" attest verify "$D/genoa_v3_azure.report" --snp-certs "$D/genoa_v3_azure.vcek.pem" --now $T --json >"$tmp/j.json" 2>/dev/null
/usr/bin/python3 - "$tmp/j.json" <<'PY' || bad "JSON fields"
import json, sys
j = json.load(open(sys.argv[1]))
want = {"tee": "sev-snp", "product": "Genoa", "signer": "vcek", "version": 3, "reported_tcb": "0x541700000000000a",
        "vmpl": 0, "debug": False, "verdict": "accepted"}
for k, v in want.items():
    assert j.get(k) == v, (k, j.get(k), v)
assert len(j["measurement"]) == 96 and len(j["report_data"]) == 128
PY
# shellcheck disable=SC2181  # the status of the heredoc Python above
[ $? -eq 0 ] && pass=$((pass+1))
# show prints every field
"$bin" attest show "$D/milan_vlek_v3_trustee.report" >"$tmp/show" 2>&1
for f in version guest_svn policy family_id image_id vmpl signature_algo current_tcb reported_tcb committed_tcb launch_tcb \
         platform_info signer_info measurement host_data id_key_digest author_key_digest report_id report_id_ma cpuid chip_id \
         current_version committed_version report_data signature_r signature_s; do
  grep -q "^$f " "$tmp/show" || bad "show lacks $f"
done
pass=$((pass+1))
# a policy from the template accepts the report and names the measurement when it differs
m=$(/usr/bin/python3 -c "import sys; print(open(sys.argv[1],'rb').read()[0x90:0xC0].hex())" "$D/milan_v2_virtee.report")
"$bin" attest policy-template --snp-measurement "$m" --snp-product Milan --snp-min-tcb snp=8 >"$tmp/p.json" || bad "policy-template"
expect 0 "policy accepts" "satisfied" "$bin" attest verify "$D/milan_v2_virtee.report" --snp-certs "$D/milan_v2_virtee.vcek.der" --policy "$tmp/p.json" --now $T
expect 1 "policy refuses another measurement" "sev_snp.measurement" "$bin" attest verify "$D/milan_v2_trustee.report" --snp-certs "$D/milan_v2_trustee.vcek.der" --policy "$tmp/p.json" --now $T
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
