#!/usr/bin/env bash
# A sealed GGUF file of several GB against the AES-GCM floor, in one run (issue #14): a 1.1B
# TinyLlama-shaped file in F16 (d 2048, 22 layers, 32 heads / 4 KV, FF 5632; ~2.1 GB; written by
# tests/reference/make_gguf.py), sealed with a key file. Each run is `teelm generate --max-tokens 1`
# from one prompt id, plaintext and sealed alternating on a warm page cache (ROUNDS, default 3):
# the plaintext run maps the file and reads every weight once in its one forward pass; the sealed
# run also decrypts every byte. The floor is the plaintext run plus one AES-256-GCM pass over the
# sealed bytes at `openssl speed -multi NPROC` (all cores); the ratio is sealed / floor.
# That floor leaves out one cost only the sealed run has: the plaintext run maps the page cache,
# while the sealed run must first read the ciphertext into fresh private memory (the kernel zeroes,
# and on a VM the host backs, every page). `bench_seal fresh` measures that read alone in each
# round (as the reader does it: huge pages, locked on fault, all cores); the last line sets the
# sealed run's excess over the floor against it. (Adding it to the floor would count twice what
# the two runs share: the plaintext run's page-cache mapping and the fresh read overlap in memory
# traffic with GCM and the forward pass.)
set -euo pipefail
# shellcheck source=bench/common.sh
. "$(dirname "$0")/common.sh"
bench_setup tests/seal/bench_seal
cd "$root"
py=${TEELM_PYTHON:-/usr/bin/python3}
bin=${TEELM_BIN:-$teelm}
cat docs/*.md >"$tmp/corpus.txt"
TMPDIR=$tmp "$py" tests/reference/make_hf_tokenizers.py "$tmp/tok" "$tmp/corpus.txt" 1500 >/dev/null
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1 /proc/loadavg)"
f=$tmp/m.gguf
"$py" tests/reference/make_gguf.py "$f" --tokenizer "$tmp/tok/smollm/tokenizer.json" --pre gpt-2 --arch llama \
  --d 2048 --heads 32 --kv-heads 4 --ff 5632 --layers 22 --ctx 256 --dtype "${DTYPE:-F16}" --seed 1
"$bin" seal --model "$f" --out "$tmp/m.sealed" --key-out "$tmp/m.key" >/dev/null
bytes=$(stat -c %s "$tmp/m.sealed")
gcm=$(openssl speed -multi "$(nproc)" -decrypt -seconds 3 -bytes 1048576 -evp aes-256-gcm 2>/dev/null |
  awk '/^aes-256-gcm|^AES-256-GCM/ { sub(/k$/, "", $2); printf "%.3f", $2 * 1000 / 1e9 }' | tail -1)
run() { /usr/bin/time -f %e -o "$tmp/t" "$bin" generate "$@" --prompt-ids 1 --ids --max-tokens 1 --temperature 0 \
  --threads "$(nproc)" >/dev/null 2>&1; cat "$tmp/t"; }
run --model "$f" >/dev/null; run --model "$tmp/m.sealed" --key-file "$tmp/m.key" >/dev/null # warm the page cache
p=() s=() r=()
for _ in $(seq 1 "${ROUNDS:-3}"); do
  p+=("$(run --model "$f")")
  r+=("$("$build/tests/seal/bench_seal" fresh "$tmp/m.sealed")")
  s+=("$(run --model "$tmp/m.sealed" --key-file "$tmp/m.key")")
done
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
pm=$(median "${p[@]}") sm=$(median "${s[@]}") rm=$(median "${r[@]}")
awk -v b="$bytes" -v g="$gcm" -v pm="$pm" -v sm="$sm" -v rm="$rm" -v ps="${p[*]}" -v ss="${s[*]}" -v rs="${r[*]}" \
  -v ld="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
  pass = b / (g * 1e9)
  printf "sealed file %.2f GB; AES-256-GCM on all cores %.2f GB/s: one pass %.2f s\n", b / 1e9, g, pass
  printf "plaintext runs %s s (median %.2f); sealed runs %s s (median %.2f)\n", ps, pm, ss, sm
  printf "fresh private read of the sealed file %s s (median %.3f)\n", rs, rm
  printf "floor = plaintext + GCM pass = %.2f s; sealed / floor = %.3fx\n", pm + pass, sm / (pm + pass)
  printf "excess over the floor %.3f s, against %.3f s for the fresh read alone (load after: %s)\n", sm - pm - pass, rm, ld }'
