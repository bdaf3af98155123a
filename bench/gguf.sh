#!/usr/bin/env bash
# GGUF files beside llama.cpp, side by side in one run (issue #14's table): the same file for both,
# written by tests/reference/make_gguf.py (random weights; the 1500-token tokenizer of
# make_hf_tokenizers.py), 2 threads, a 256-token prompt and 64 greedy tokens. Rows: the 135M Llama
# shape (d 576, 30 layers, 9 heads / 3 KV, FF 1536) in F32, Q8_0 and Q4_K_M (llama.cpp's mix: Q6_K
# for attn_v / ffn_down / token_embd, Q4_K elsewhere, Q4_0 where rows of 576 are not whole 256-blocks)
# and a 1.1B TinyLlama shape (d 2048, 22 layers, 32 heads / 4 KV, FF 5632) in Q4_0 (SKIP_BIG=1 leaves
# it out). teelm: `teelm generate --stats`; llama.cpp: bench/llama_cpp_decode.mjs (node-llama-cpp
# 3.21.1); load time and peak RSS from /usr/bin/time around each whole run. ROUNDS (default 2)
# alternating runs per row; each line has the generation bound BW / file size (BW, bytes/s, default
# 19e9: the machine's DRAM read rate on both cores).
set -euo pipefail
cd "$(dirname "$0")/.."
py=${TEELM_PYTHON:-/usr/bin/python3}
bin=${TEELM_BIN:-build/teelm}
bw=${BW:-19e9}
tmp=$(mktemp -d /tmp/teelm-gguf-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cat docs/*.md >"$tmp/corpus.txt"
TMPDIR=$tmp "$py" tests/reference/make_hf_tokenizers.py "$tmp/tok" "$tmp/corpus.txt" 1500 >/dev/null
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%Y-%m-%dT%H:%MZ)"
ids=$(seq -s, 1 256)
small="--d 576 --heads 9 --kv-heads 3 --ff 1536 --layers 30 --ctx 1024"
big="--d 2048 --heads 32 --kv-heads 4 --ff 5632 --layers 22 --ctx 1024"
rows="135M:F32:$small 135M:Q8_0:$small 135M:Q4_K_M:$small"
[ "${SKIP_BIG:-0}" = 1 ] || rows="$rows 1.1B:Q4_0:$big"
IFS=' ' read -ra R <<<"$rows"
i=0
while [ $i -lt ${#R[@]} ]; do
  # a row is "NAME:TYPE:--d ..." split over words; gather until the next NAME:TYPE: word
  row=${R[$i]}; i=$((i + 1))
  while [ $i -lt ${#R[@]} ] && [[ "${R[$i]}" != *:*:* ]]; do row="$row ${R[$i]}"; i=$((i + 1)); done
  name=${row%%:*}; rest=${row#*:}; t=${rest%%:*}; args=${rest#*:}
  f=$tmp/$name-$t.gguf
  # shellcheck disable=SC2086
  "$py" tests/reference/make_gguf.py "$f" --tokenizer "$tmp/tok/smollm/tokenizer.json" --pre gpt-2 --arch llama \
    $args --dtype "$t" --seed 1
  size=$(stat -c %s "$f")
  bound=$(awk -v b="$bw" -v s="$size" 'BEGIN { printf "%.1f", b / s }')
  for _ in $(seq 1 "${ROUNDS:-2}"); do
    /usr/bin/time -f "%e %M" -o "$tmp/t" "$bin" generate --model "$f" --prompt-ids "$ids" --ids --max-tokens 64 \
      --temperature 0 --threads 2 --ctx 1024 --stats 2>"$tmp/err" >/dev/null
    te=$(tail -2 "$tmp/err" | xargs) # "prompt: N tokens in T ms: R tokens/s" "generated ... R tokens/s (after the first)"
    tp=$(sed -n 's/.*ms: \([0-9.]*\) tokens\/s generated.*/\1/p' <<<"$te")
    tg=$(sed -n 's/.* \([0-9.]*\) tokens\/s (after the first).*/\1/p' <<<"$te")
    read -r twall trss <"$tmp/t"
    /usr/bin/time -f "%e %M" -o "$tmp/t" node bench/llama_cpp_decode.mjs "$f" 256 64 >"$tmp/l" 2>/dev/null
    read -r _ lrss <"$tmp/t"
    lp=$(jq -r .prompt_tokens_per_s "$tmp/l"); lg=$(jq -r .generated_tokens_per_s "$tmp/l"); ll=$(jq -r .load_s "$tmp/l")
    awk -v n="$name $t" -v tp="$tp" -v tg="$tg" -v lp="$lp" -v lg="$lg" -v tw="$twall" -v ll="$ll" -v tr="$trss" \
      -v lr="$lrss" -v bd="$bound" -v ld="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
      printf "%s: teelm prompt %.1f gen %.1f tok/s (whole run %.2f s, RSS %.0f MB) | llama.cpp prompt %.1f gen %.1f " \
             "(load %.2f s, RSS %.0f MB) | prompt %.2fx gen %.2fx | gen bound %s tok/s: teelm %.0f%%, llama.cpp %.0f%% | load %s\n",
             n, tp, tg, tw, tr / 1024, lp, lg, ll, lr / 1024, tp / lp, tg / lg, bd, 100 * tg / bd, 100 * lg / bd, ld }'
  done
done
