#!/usr/bin/env bash
# Sealed models, in one run:
#  1. AES-256-GCM decryption speed on one thread as the sealed reader does it (1 MiB chunks,
#     in place), next to `openssl speed -decrypt -evp aes-256-gcm` on 1 MiB blocks (reference);
#  2. loading the seed model (vocab 100070, 12.96 M parameters, ~51 MB) with tl_model_open from
#     the plaintext model.safetensors versus from the sealed file (key from a key file), the two
#     loads alternating on warm page cache; wall-clock medians/best and CPU-time medians, with one
#     thread and with the default threads (the sealed reader splits the chunks across threads).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
reps=${REPS:-31}
teelm=$build/teelm
helper=$build/tests/seal/bench_seal
if [ ! -x "$teelm" ] || [ ! -x "$helper" ]; then echo "build first: make build"; exit 1; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg)"

# 1. decryption throughput
ossl=$(openssl speed -decrypt -seconds 3 -bytes 1048576 -evp aes-256-gcm 2>/dev/null | awk '/^AES-256-GCM/ { sub(/k$/, "", $2); printf "%.2f", $2 * 1000 / 1e9 }')
read -r cmed cbest <<<"$("$helper" decrypt 4 101)"
read -r dmed dbest <<<"$("$helper" decrypt 256 9)"
printf '%-66s %6s GB/s\n' "openssl speed -decrypt aes-256-gcm, 1 MiB blocks, in cache (reference)" "$ossl"
printf '%-66s %6s GB/s (best %s)\n' "teelm chunk decryption, 1 thread, 4 MiB in cache, median" "$cmed" "$cbest"
printf '%-66s %6s GB/s (best %s)\n' "teelm chunk decryption, 1 thread, 256 MiB from DRAM, median" "$dmed" "$dbest"
awk -v o="$ossl" -v c="$cmed" 'BEGIN { printf "  ratio teelm/openssl (in cache): %.2f\n", c / o }'

# 2. load of the seed model: plaintext vs sealed
"$helper" make "$tmp/plain" 100070
"$teelm" seal --model "$tmp/plain" --out "$tmp/seed.sealed" --key-out "$tmp/k.key" >/dev/null
for f in "$tmp/plain/model.safetensors" "$tmp/seed.sealed"; do echo "  $(stat -c %s "$f") bytes  $(basename "$f")"; done
printf '%-34s %10s %10s %10s   %10s %10s %10s\n' "tl_model_open of the seed model" "plain med" "best" "cpu" "sealed med" "best" "cpu"
for threads in 1 default; do
  if [ "$threads" = 1 ]; then out=$(OMP_NUM_THREADS=1 "$helper" compare "$tmp/plain" "$tmp/seed.sealed" "$tmp/k.key" "$reps")
  else out=$("$helper" compare "$tmp/plain" "$tmp/seed.sealed" "$tmp/k.key" "$reps"); threads="$(nproc) (default)"; fi
  read -r pm pb pc sm sb sc <<<"$out"
  printf '%-34s %10s %10s %10s   %10s %10s %10s\n' "  ms, sealed reader threads: $threads" "$pm" "$pb" "$pc" "$sm" "$sb" "$sc"
  awk -v pm="$pm" -v pb="$pb" -v pc="$pc" -v sm="$sm" -v sb="$sb" -v sc="$sc" -v t="$threads" 'BEGIN {
    printf "  ratio sealed/plain (threads %s): wall median %.2fx, wall best %.2fx, CPU time %.2fx\n", t, sm / pm, sb / pb, sc / pc }'
done
