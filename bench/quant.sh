#!/usr/bin/env bash
# Quantized decoding beside llama.cpp, same GGUF file, 2 threads, one run: the 135M Llama shape
# (d 576, 30 layers, 9 heads / 3 KV, FF 1536; the vocabulary of make_hf_tokenizers.py's smollm
# tokenizer, not 49152) in Q8_0 and Q4_0 written by tests/reference/make_gguf.py; teelm through
# `teelm generate --stats`, llama.cpp through bench/llama_cpp_decode.mjs (node-llama-cpp 3.21.1).
# Then lm_bench (in-memory weights, the full 49152 vocabulary) in F32, Q8_0, Q4_0 and Q4_K (Q4_K
# where rows are whole 256-blocks, Q4_0 elsewhere). Prints the load average with each line.
# PROMPT (default 128) prompt tokens; ROUNDS (default 1) alternating teelm / llama.cpp runs per type.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${TEELM_PYTHON:-/usr/bin/python3}
bin=${TEELM_BIN:-build/teelm}
tmp=$(mktemp -d /tmp/teelm-quant-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cat docs/*.md >"$tmp/corpus.txt"
TMPDIR=$tmp "$py" tests/reference/make_hf_tokenizers.py "$tmp/tok" "$tmp/corpus.txt" 1500 >/dev/null
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%Y-%m-%dT%H:%MZ)"
np=${PROMPT:-128}
ids=$(seq -s, 1 "$np")
for t in Q8_0 Q4_0; do
  f=$tmp/m135-$t.gguf
  "$py" tests/reference/make_gguf.py "$f" --tokenizer "$tmp/tok/smollm/tokenizer.json" --pre gpt-2 --arch llama \
    --d 576 --heads 9 --kv-heads 3 --ff 1536 --layers 30 --ctx 1024 --dtype "$t" --seed 1
  for _ in $(seq 1 "${ROUNDS:-1}"); do # alternating, so both sides see the same load
    echo "$t teelm (load $(cut -d' ' -f1-3 /proc/loadavg)): $("$bin" generate --model "$f" --prompt-ids "$ids" --ids \
      --max-tokens 64 --temperature 0 --threads 2 --ctx 1024 --stats 2>&1 >/dev/null | tail -2 | xargs)"
    echo "$t llama.cpp (load $(cut -d' ' -f1-3 /proc/loadavg)): $(node bench/llama_cpp_decode.mjs "$f" "$np" 64)"
  done
done
# shellcheck disable=SC2046
gcc -std=c11 -O2 -march=native -D_GNU_SOURCE -Isrc bench/lm_bench.c "${LIB:-build/libteelm_core.a}" \
  $(pkg-config --libs jansson openssl libevent libcurl libzip libpcre2-8) -fopenmp -lm -lpthread -o "$tmp/lm_bench"
for t in F32 Q8_0 Q4_0 Q4_K; do
  "$tmp/lm_bench" smollm135 "$t" 2 128 64 "${RUNS:-2}"
done
