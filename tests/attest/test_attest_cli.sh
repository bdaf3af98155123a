#!/usr/bin/env bash
# `teelm attest` end to end: fixture quotes through the CLI (exit code 0 only when accepted), policies,
# sim quote/measure/show, and collateral fetched from a stand-in PCCS on 127.0.0.1 (with its cache).
set -u
bin=${TEELM_BIN:?}
py=${TEELM_PYTHON:-/usr/bin/python3}
# shellcheck source=tests/util/check.sh
. "${TEELM_SRC:?}/tests/util/check.sh"
dcap_fixtures
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
srv=""
# shellcheck disable=SC2317  # invoked through the EXIT trap
cleanup() { [ -n "$srv" ] && kill "$srv" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
# expect DESCRIPTION -- CMD...: the command must succeed
expect() { local what=$1; shift 2; if "$@"; then ok; else bad "$what"; fi; }

A=$D/sgx_v3_quote_phala.bin; AC=$D/sgx_v3_quote_phala_collateral.json
B=$D/tdx_v4_quote_phala.bin; BC=$D/tdx_v4_quote_phala_collateral.json
head -c 4935 "$D/tdx_v4_quote_google_spr_e4.bin" > "$tmp/c.bin"; CC=$D/tdx_v4_quote_google_spr_e4_collateral.json

# set A: authentic, ConfigurationAndSWHardeningNeeded -> refused without a policy that accepts it
run 1 "A default" -- "$bin" attest verify "$A" --collateral "$AC" --now 2025-07-01T00:00:00Z
has out "tcb_status *ConfigurationAndSWHardeningNeeded" "A status"
has out "advisories *INTEL-SA-00289,INTEL-SA-00615" "A advisories"
has out "verification *ok (Intel SGX Root CA)" "A verified"
has out "verdict *REFUSED" "A verdict"
cat > "$tmp/pa.json" <<J
{"mrenclave": "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb",
 "tcb_statuses": ["UpToDate", "ConfigurationAndSWHardeningNeeded"]}
J
run 0 "A with policy" -- "$bin" attest verify "$A" --collateral "$AC" --policy "$tmp/pa.json" --now 2025-07-01T00:00:00Z --json
has out '"verdict": "accepted"' "A accepted"
has out '"tcb_status": "ConfigurationAndSWHardeningNeeded"' "A json status"
has out '"INTEL-SA-00615"' "A json advisories"
sed 's/33d8/44d8/' "$tmp/pa.json" > "$tmp/pa2.json"
run 1 "A wrong mrenclave" -- "$bin" attest verify "$A" --collateral "$AC" --policy "$tmp/pa2.json" --now 2025-07-01T00:00:00Z
has err "mrenclave 33d8736d.* is not in the allowed list \[44d8" "A policy message"
run 1 "A expired" -- "$bin" attest verify "$A" --collateral "$AC" --policy "$tmp/pa.json" --now 2025-08-01T00:00:00Z
has err "has expired" "A expired message"
# set B: TDX UpToDate -> accepted on the platform verdict
run 0 "B" -- "$bin" attest verify "$B" --collateral "$BC" --now 2025-07-01T00:00:00Z --json
has out '"tdx_module_status": "UpToDate"' "B module"
has out '"verdict": "accepted"' "B accepted"
# set C: no matching TCB level
run 1 "C" -- "$bin" attest verify "$tmp/c.bin" --collateral "$CC" --now 2023-07-01T01:00:00Z
has err "no matching TCB level" "C reason"
# set D: PPID certification data
run 1 "D" -- "$bin" attest verify "$D/intel_qvl_synthetic/quote.dat" --collateral "$AC" --now 2025-07-01T00:00:00Z
has err "certification data type 1" "D reason"
# usage
run 2 "verify no args" -- "$bin" attest verify
run 2 "bad --now" -- "$bin" attest verify "$A" --collateral "$AC" --now yesterday
run 2 "quote missing flags" -- "$bin" attest quote --tee sim
run 1 "bad policy file" -- "$bin" attest verify "$A" --collateral "$AC" --policy "$AC"
has err "unknown field" "bad policy names the field"

# sim: the measurement printed by `attest measure` is the one in the evidence
run 0 "measure" -- "$bin" attest measure --config-string "--model x --port 8443"
mr=$(cat "$tmp/out")
expect "measure printed '$mr'" -- grep -Eq '^[0-9a-f]{64}$' "$tmp/out"
run 0 "sim quote" -- "$bin" attest quote --tee sim --config-string "--model x --port 8443" --report-data 00ff --out "$tmp/sim.q"
has err "PROTECTS NOTHING" "sim warning"
run 0 "show" -- "$bin" attest show "$tmp/sim.q" --json
has out "\"mrenclave\": \"$mr\"" "sim mrenclave = measure"
has out '"report_data": "00ff0000' "sim report data"
run 0 "policy-template" -- "$bin" attest policy-template --mrenclave "$mr" --allow-simulation
cp "$tmp/out" "$tmp/psim.json"
run 0 "sim verify" -- "$bin" attest verify "$tmp/sim.q" --policy "$tmp/psim.json"
has out "kind *SGX (SIMULATED" "sim kind"
run 1 "sim refused by default" -- "$bin" attest verify "$tmp/sim.q"
has err "simulated" "sim refusal reason"
run 0 "sim debug quote" -- "$bin" attest quote --tee sim --config-string "--model x --port 8443" --report-data 00 --sim-debug --out "$tmp/simd.q"
run 1 "sim debug refused" -- "$bin" attest verify "$tmp/simd.q" --policy "$tmp/psim.json"
has err "debug is true" "debug refusal"
run 1 "auto refuses sim" -- "$bin" attest quote --tee auto --user-data 00 --out "$tmp/x.q" --device /nonexistent --tsm-root /nonexistent
has err "no TEE found" "auto message"
# raw report data only in the simulation: on a real backend it would let the host (in the enclave)
# quote teelm's own bindings (docs/bindings.md); refused before any backend is opened
for t in occlum tsm auto; do
  run 2 "--report-data on $t" -- "$bin" attest quote --tee "$t" --report-data 00ff --out "$tmp/x.q" --device "$tmp/nodev" --tsm-root "$tmp/notsm"
  has err "works only with --tee sim" "--report-data on $t message"
  expect "--report-data on $t wrote evidence" -- test ! -e "$tmp/x.q"
done
run 2 "both --report-data and --user-data" -- "$bin" attest quote --tee sim --report-data 00 --user-data 00 --out "$tmp/x.q"
# --user-data binds under purpose user-quote: report_data = SHA-512("teelm/user-quote/v1" NUL be32(2) 00ff)
run 0 "sim quote --user-data" -- "$bin" attest quote --tee sim --user-data 00ff --out "$tmp/ud.q"
want=$("$py" -c 'import hashlib; print(hashlib.sha512(b"teelm/user-quote/v1\0" + b"\0\0\0\2\0\xff").hexdigest())')
run 0 "show user-data quote" -- "$bin" attest show "$tmp/ud.q" --json
has out "\"report_data\": \"$want\"" "user-quote binding (python hashlib)"
run 2 "--user-data odd hex" -- "$bin" attest quote --tee sim --user-data 0 --out "$tmp/x.q"
# measure --serve-config: the document without its line end, and only a serve document
printf '{"teelm":"serve","version":1}\n' > "$tmp/doc.json"
run 0 "measure --serve-config" -- "$bin" attest measure --serve-config "$tmp/doc.json"
m1=$(cat "$tmp/out")
run 0 "measure --config-string doc" -- "$bin" attest measure --config-string '{"teelm":"serve","version":1}'
expect "serve-config measures the document without its newline" -- test "$m1" = "$(cat "$tmp/out")"
echo '{"version":1}' > "$tmp/notdoc.json"
run 1 "measure --serve-config on another file" -- "$bin" attest measure --serve-config "$tmp/notdoc.json"
has err "not a configuration document" "serve-config refusal"

# PCCS: a stand-in server on 127.0.0.1 with the fixture collateral
"$py" "$here/pccs_server.py" "$tmp/port" "$AC" "$BC" &
srv=$!
for _ in $(seq 100); do [ -f "$tmp/port" ] && break; sleep 0.1; done
[ -f "$tmp/port" ] || { bad "PCCS stand-in did not start"; echo "$pass passed, $fail failed"; exit 1; }
url="http://127.0.0.1:$(cat "$tmp/port")"
run 1 "A via PCCS" -- "$bin" attest verify "$A" --pccs "$url" --cache "$tmp/cache" --now 2025-07-01T00:00:00Z
has out "tcb_status *ConfigurationAndSWHardeningNeeded" "A via PCCS status"
has out "verification *ok" "A via PCCS verified"
run 0 "B via PCCS" -- "$bin" attest verify "$B" --pccs "$url/" --cache "$tmp/cache" --now 2025-07-01T00:00:00Z
n1=$(wc -l < "$tmp/port.log")
expect "expected 8 PCCS requests, saw $n1" -- [ "$n1" -eq 8 ]
has port.log "/sgx/certification/v4/tcb?fmspc=00A067110000" "SGX TCB path"
has port.log "/tdx/certification/v4/tcb?fmspc=B0C06F000000" "TDX TCB path"
has port.log "/sgx/certification/v4/pckcrl?ca=processor&encoding=der" "processor CRL path"
has port.log "/sgx/certification/v4/pckcrl?ca=platform&encoding=der" "platform CRL path"
has port.log "/sgx/certification/v4/qe/identity" "SGX QE identity path"
has port.log "/tdx/certification/v4/qe/identity" "TDX QE identity path"
has port.log "/sgx/certification/v4/rootcacrl" "root CA CRL path"
# second time: from the cache, no requests
run 0 "B from cache" -- "$bin" attest verify "$B" --pccs "$url" --cache "$tmp/cache" --now 2025-07-02T00:00:00Z
expect "cache not used" -- [ "$(wc -l < "$tmp/port.log")" -eq "$n1" ]
# past the cached collateral's nextUpdate the cache is refreshed (and the fixture is then expired)
run 1 "B stale cache" -- "$bin" attest verify "$B" --pccs "$url" --cache "$tmp/cache" --now 2025-08-01T00:00:00Z
expect "stale cache not refreshed" -- [ "$(wc -l < "$tmp/port.log")" -gt "$n1" ]
has err "expired" "stale collateral refused"
# save for offline use
run 0 "collateral" -- "$bin" attest collateral "$A" --pccs "$url" --out "$tmp/a-col.json"
run 1 "A offline from fetched file" -- "$bin" attest verify "$A" --collateral "$tmp/a-col.json" --now 2025-07-01T00:00:00Z
has out "tcb_status *ConfigurationAndSWHardeningNeeded" "fetched file"
# a platform the PCCS does not know
run 1 "C via PCCS" -- "$bin" attest verify "$tmp/c.bin" --pccs "$url" --now 2023-07-01T01:00:00Z
has err "HTTP status 404" "unknown FMSPC"
kill "$srv"; wait "$srv" 2>/dev/null; srv=""
run 0 "B from cache, server gone" -- "$bin" attest verify "$B" --pccs "$url" --cache "$tmp/cache" --now 2025-07-01T00:00:00Z
run 1 "server gone, no cache" -- "$bin" attest verify "$B" --pccs "$url" --now 2025-07-01T00:00:00Z
has err "PCCS" "connection error names PCCS"

finish
