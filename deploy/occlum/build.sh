#!/usr/bin/env bash
# Builds an Occlum enclave that serves a sealed teelm model, and writes the key broker policy that
# admits exactly this enclave (its MRENCLAVE and MRSIGNER, debug refused).
#
# The enclave runs exactly one measured command: entry_points is /bin/teelm alone, env.default sets
# TEELM_ENCLAVE_CONFIG=/etc/teelm/serve.json (the serve flags, written here into the image, so the
# broker URL, model and limits are part of MRENCLAVE), env.untrusted is empty and the image has no
# hostfs mount. The host chooses only --listen (run.sh). docs/deploy-occlum.md lists every input.
#
# Run it inside Occlum's development image (occlum/occlum:*-ubuntu20.04): Occlum executes the binary
# on the glibc it ships (2.31), so teelm must be built there, with that image's packages — a binary
# built on Debian 12 (glibc 2.36) can need newer symbols. This script builds teelm itself unless
# --teelm-bin names one already built in that image.
#
# usage: deploy/occlum/build.sh --model SEALED_DIR --kbs URL --kbs-ca PEM [--out DIR] [--sgx-mode HW|SIM]
#            [--teelm-bin PATH] [--threads N] [--max-batch B] [--product-id N] [--version N]
#            [--serve-flag ARG]...   (more measured `teelm serve` arguments, e.g. --serve-flag --max-tokens
#                                     --serve-flag 512)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
model="" kbs="" kbs_ca="" out="occlum_instance" sgx_mode="HW" teelm_bin="" threads=4 max_batch=8
product_id=1 version=1 extra=()

die() { echo "occlum build: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model=${2:?}; shift 2 ;;
    --kbs) kbs=${2:?}; shift 2 ;;
    --kbs-ca) kbs_ca=${2:?}; shift 2 ;;
    --serve-flag) extra+=("${2:?}"); shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --sgx-mode) sgx_mode=${2:?}; shift 2 ;;
    --teelm-bin) teelm_bin=${2:?}; shift 2 ;;
    --threads) threads=${2:?}; shift 2 ;;
    --max-batch) max_batch=${2:?}; shift 2 ;;
    --product-id) product_id=${2:?}; shift 2 ;;
    --version) version=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) die "unknown flag '$1' (see --help)" ;;
  esac
done
[ -n "$model" ] || die "--model SEALED_DIR is required (the output of 'teelm seal')"
[ -e "$model" ] || die "sealed model '$model' not found"
[ -n "$kbs" ] || die "--kbs URL is required (the model owner's key broker; it is measured into the enclave)"
case "$kbs" in https://*) ;; *) die "--kbs must be an https:// URL" ;; esac
for f in ${extra[@]+"${extra[@]}"}; do
  case "$f" in --listen*|--model*|--kbs*|--key-file*|--tee*|--print-config*) die "--serve-flag $f: build.sh sets that itself (or it is the host's: --listen)" ;; esac
done
[ -n "$kbs_ca" ] || die "--kbs-ca PEM is required (the key broker's certificate, pinned by the enclave)"
[ -f "$kbs_ca" ] || die "key broker certificate '$kbs_ca' not found"
case "$sgx_mode" in HW|SIM) ;; *) die "--sgx-mode must be HW or SIM" ;; esac
for tool in occlum copy_bom jq; do
  command -v "$tool" >/dev/null || die "'$tool' not found: run this inside Occlum's development image (see docs/deploy-occlum.md)"
done

echo "==> building teelm for Occlum's glibc"
if [ -z "$teelm_bin" ]; then
  cmake -S "$root" -B "$root/build-occlum" -DCMAKE_BUILD_TYPE=Release -DTEELM_NATIVE=OFF >/dev/null
  cmake --build "$root/build-occlum" -j "$(nproc)"
  teelm_bin="$root/build-occlum/teelm"
fi
[ -x "$teelm_bin" ] || die "teelm binary '$teelm_bin' is missing or not executable"
file -L "$teelm_bin" | grep -Eq "pie executable|shared object" || die "$teelm_bin is not PIE; Occlum needs position-independent executables"

# Occlum runs the binary on its own glibc (2.31): a symbol versioned above that fails at load time
# inside the enclave with a confusing error, so refuse it here with a clear one.
max_glibc=${OCCLUM_GLIBC_VERSION:-2.31}
need=$(objdump -T "$teelm_bin" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n 1)
if [ -n "$need" ] && [ "$(printf '%s\n%s\n' "$need" "$max_glibc" | sort -V | tail -n 1)" != "$max_glibc" ]; then
  die "$teelm_bin needs glibc $need but Occlum provides $max_glibc: build teelm inside Occlum's development image (see docs/deploy-occlum.md)"
fi

echo "==> computing resource limits from the model"
limits=$("$teelm_bin" occlum-config --model "$model" --threads "$threads" --max-batch "$max_batch" \
  --product-id "$product_id" --version "$version" --json) || die "teelm occlum-config failed"

echo "==> creating the Occlum instance in $out"
rm -rf "$out"
occlum new "$out" >/dev/null
mkdir -p "$out/staging"
cp "$teelm_bin" "$out/staging/teelm"
cp -r "$model" "$out/staging/model"
cp "$kbs_ca" "$out/staging/kbs-ca.pem"
# the one command the enclave runs (read through TEELM_ENCLAVE_CONFIG, set in env.default below)
serve_args=(--model /models/model --kbs "$kbs" --kbs-ca /etc/teelm/kbs-ca.pem --tee occlum
            --threads "$threads" --max-batch "$max_batch" ${extra[@]+"${extra[@]}"})
jq -n --args '{version: 1, serve: $ARGS.positional}' "${serve_args[@]}" > "$out/staging/serve.json"
# the configuration document that enclave will attest (it records identities, not paths, so the
# build machine's paths give the same document); clients pin it with teelm client --expect-config
host_args=(--model "$model" --kbs "$kbs" --kbs-ca "$kbs_ca" --tee occlum --threads "$threads"
           --max-batch "$max_batch" ${extra[@]+"${extra[@]}"})
"$teelm_bin" serve "${host_args[@]}" --print-config > "$out/teelm-config.json" \
  || die "teelm serve --print-config refused these settings"
mkdir -p "$out/bom" && cp "$here/teelm.yaml" "$out/bom/teelm.yaml"
cd "$out"
rm -rf image
copy_bom -f bom/teelm.yaml --root image --include-dir /opt/occlum/etc/template

echo "==> writing Occlum.json (debuggable: false, one entry point, no host mount, no host environment)"
jq --argjson l "$limits" -f "$here/occlum.jq" Occlum.json > Occlum.json.new
mv Occlum.json.new Occlum.json
[ "$(jq .metadata.debuggable Occlum.json)" = "false" ] || die "Occlum.json is still debuggable"
[ "$(jq -c .entry_points Occlum.json)" = '["/bin/teelm"]' ] || die "Occlum.json entry_points is not /bin/teelm alone"
[ "$(jq '[.mount[] | select(.type == "hostfs")] | length' Occlum.json)" = 0 ] || die "Occlum.json still mounts the host's file system"
[ "$(jq '.env.untrusted | length' Occlum.json)" = 0 ] || die "Occlum.json still takes environment variables from the host"

echo "==> occlum build --sgx-mode $sgx_mode"
occlum build --sgx-mode "$sgx_mode"

echo "==> writing the key broker policy for this enclave"
mrenclave=$(occlum print mrenclave | tr -d '[:space:]')
mrsigner=$(occlum print mrsigner | tr -d '[:space:]')
[[ "$mrenclave" =~ ^[0-9a-f]{64}$ ]] || die "could not read MRENCLAVE ('$mrenclave')"
"$teelm_bin" attest policy-template --mrenclave "$mrenclave" --mrsigner "$mrsigner" \
  --isv-prod-id "$product_id" --min-isv-svn "$version" > teelm-policy.json \
  || die "could not write the broker policy"
echo "MRENCLAVE $mrenclave"
echo "broker policy: $(pwd)/teelm-policy.json"
echo "configuration document: $(pwd)/teelm-config.json (clients: teelm client --expect-config)"
echo "next: teelm kbs add-key ... --policy $(pwd)/teelm-policy.json; then deploy/occlum/run.sh $out [--listen ADDR]"
