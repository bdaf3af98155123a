#!/usr/bin/env bash
# tokenizer.json encoding speed: teelm vs npm @huggingface/tokenizers 0.2.0, same files, same text,
# one run. Prints the ratio per layout. Usage: bench/hf_tokenizer.sh [BUILD_DIR] [TEXT]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
TEXT=${2:-../shared/data/sales_textbook.txt}
[ -f "$TEXT" ] || TEXT=tests/tokenizer/data/unicode_stress.txt
DIR=$(mktemp -d); trap 'rm -rf "$DIR"' EXIT
/usr/bin/python3 tests/reference/make_hf_tokenizers.py "$DIR" "$TEXT" 12000 >/dev/null
echo "text: $TEXT ($(wc -c <"$TEXT") bytes); best of 5 runs each, loading excluded"
for m in gpt2 llama3 qwen2 smollm llama2 mistral; do
  t=$("$BUILD/teelm" tokenize --tokenizer "$DIR/$m/tokenizer.json" --allow-special --input "$TEXT" --bench --repeat 5)
  ts=$(sed -E 's/.*seconds=([0-9.e-]+).*/\1/' <<<"$t"); tt=$(sed -E 's/.*tokens=([0-9]+).*/\1/' <<<"$t")
  r=$(echo "B n $TEXT 5" | node tests/reference/hf_tokenizer.js "$DIR/$m/tokenizer.json" "$DIR/$m/tokenizer_config.json")
  rs=$(awk '{print $1/1000}' <<<"$r"); rt=$(awk '{print $2}' <<<"$r")
  awk -v m="$m" -v a="$ts" -v b="$rs" -v ta="$tt" -v tb="$rt" 'BEGIN{printf "%-8s teelm %.4f s  npm %.4f s  ratio %.1fx  tokens %d/%d%s\n", m, a, b, b/a, ta, tb, ta==tb?"":"  MISMATCH"}'
done
