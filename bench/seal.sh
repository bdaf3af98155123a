#!/usr/bin/env bash
# Sealed models, in one run:
#  1. AES-256-GCM decryption speed on one thread as the sealed reader does it (1 MiB chunks,
#     in place), next to `openssl speed -decrypt -evp aes-256-gcm` on 1 MiB blocks (reference);
#  2. loading the seed model (vocab 100070, 12.96 M parameters, ~51 MB) with tl_model_open from
#     the plaintext model.safetensors versus from the sealed file (key from a key file), the two
#     loads alternating on warm page cache; wall-clock medians/best and CPU-time medians, with one
#     thread and with the default threads (the sealed reader splits the chunks across threads);
#     each load starts after a 10 ms pause (GAP_MS; see tests/seal/bench_seal.c); a last row
#     spaces the loads 50 ms apart, where the second core has gone idle and is slow to wake;
#  3. the floor on this machine: OpenSSL's AES-256-GCM speed with 1 and 2 processes at once, and
#     one thread's memcpy / page-cache read bandwidth; from them the fastest a sealed load can be
#     (the plaintext load plus one GCM pass spread over all cores) and the GCM speed 1.2x needs.
set -euo pipefail
# shellcheck source=bench/common.sh
. "$(dirname "$0")/common.sh"
bench_setup tests/seal/bench_seal
helper=$build/tests/seal/bench_seal
reps=${REPS:-31}
# share of both cores other processes used in the second before the run (load averages lag)
busy() { read -r _ u n s i w _ </proc/stat; sleep 1; read -r _ u2 n2 s2 i2 w2 _ </proc/stat
  awk -v b=$((u2 + n2 + s2 - u - n - s)) -v t=$((u2 + n2 + s2 + i2 + w2 - u - n - s - i - w)) 'BEGIN { printf "%.0f%%", 100 * b / t }'; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg), CPU busy in the last second $(busy)"

# 1. decryption throughput
ossl_gbs() { openssl speed -decrypt -seconds 3 -bytes 1048576 -evp aes-256-gcm "$@" 2>/dev/null |
  awk '/^AES-256-GCM/ { sub(/k$/, "", $2); printf "%.2f", $2 * 1000 / 1e9 }'; }
ossl=$(ossl_gbs)
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
for threads in 1 default idle; do
  if [ "$threads" = 1 ]; then out=$(OMP_NUM_THREADS=1 "$helper" compare "$tmp/plain" "$tmp/seed.sealed" "$tmp/k.key" "$reps")
  elif [ "$threads" = idle ]; then
    out=$(GAP_MS=50 "$helper" compare "$tmp/plain" "$tmp/seed.sealed" "$tmp/k.key" "$reps"); threads="$(nproc), loads 50 ms apart"
  else out=$("$helper" compare "$tmp/plain" "$tmp/seed.sealed" "$tmp/k.key" "$reps"); threads="$(nproc) (default)"; fi
  read -r pm pb pc sm sb sc <<<"$out"
  printf '%-34s %10s %10s %10s   %10s %10s %10s\n' "  ms, sealed reader threads: $threads" "$pm" "$pb" "$pc" "$sm" "$sb" "$sc"
  if [ "$threads" = "$(nproc) (default)" ]; then last_pm=$pm last_sm=$sm last_pb=$pb last_sb=$sb; fi
  awk -v pm="$pm" -v pb="$pb" -v pc="$pc" -v sm="$sm" -v sb="$sb" -v sc="$sc" -v t="$threads" 'BEGIN {
    printf "  ratio sealed/plain (threads %s): wall median %.2fx, wall best %.2fx, CPU time %.2fx\n", t, sm / pm, sb / pb, sc / pc }'
done

# 3. the floor
ossl2=$(ossl_gbs -multi "$(nproc)")
read -r mcpy prd pfresh <<<"$("$helper" bw "$tmp/seed.sealed" 100070 21)"
bytes=$(stat -c %s "$tmp/seed.sealed")
printf '%-66s %6s GB/s\n' "openssl speed -decrypt aes-256-gcm, 1 process" "$ossl" \
  "openssl speed -decrypt aes-256-gcm, $(nproc) processes at once, total" "$ossl2" \
  "memcpy, 1 thread, 51 MB between faulted buffers" "$mcpy" \
  "pread from page cache, 1 thread, into a faulted buffer" "$prd" \
  "pread from page cache, 1 thread, into a fresh huge-page arena" "$pfresh"
awk -v b="$bytes" -v g1="$ossl" -v g2="$ossl2" -v pm="$last_pm" -v sm="$last_sm" -v pb="$last_pb" -v sb="$last_sb" \
    -v n="$(nproc)" 'BEGIN {
  gcm = b / (g2 * 1e6)
  printf "  one GCM pass over the %.1f MB on %d cores: %.2f ms; on one core: %.2f ms\n", b / 1e6, n, gcm, b / (g1 * 1e6)
  printf "  floor: sealed >= plaintext load + that GCM pass, %d threads:\n", n
  printf "    medians: %.2f + %.2f = %.2f ms -> ratio >= %.2fx (measured %.2fx)\n", pm, gcm, pm + gcm, (pm + gcm) / pm, sm / pm
  printf "    bests:   %.2f + %.2f = %.2f ms -> ratio >= %.2fx (measured %.2fx)\n", pb, gcm, pb + gcm, (pb + gcm) / pb, sb / pb
  printf "  1.2x (best plaintext load) leaves %.2f ms for the GCM pass: %.1f GB/s total, %.1f GB/s per core (OpenSSL: %.2f)\n",
    0.2 * pb, b / (0.2 * pb * 1e6), b / (0.2 * pb * 1e6) / n, g1
  printf "  even with the copy and page zeroing free, GCM alone on %d cores takes %.2fx the best plaintext load\n", n, gcm / pb }'
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
