#!/usr/bin/env bash
# Tokenizer throughput, teelm vs npm tiktoken, side by side in one run, one thread each.
# Texts: the seed corpus (../shared/data/sales_textbook.txt) and a 10 MB mixed-script text generated
# here (bench/gen_mixed_text.py, deterministic, never checked in). Each side encodes a text REPEAT
# times inside one process and reports its fastest encode, loading excluded (node: tiktoken's
# encode() timed in process; teelm: `teelm tokenize --bench`). Token counts must agree.
# Prints a markdown table for bench/RESULTS.md and exits non-zero if a ratio is below 2.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${TEELM_BIN:-build/teelm}
shared=${TEELM_SHARED:-../shared}
repeat=${REPEAT:-5}
[ -x "$bin" ] || { echo "tokenizer bench: $bin missing (make build)"; exit 1; }
[ -d node_modules/tiktoken ] || { echo "tokenizer bench: node_modules/tiktoken missing (bash scripts/install-deps.sh)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

corpus=$shared/data/sales_textbook.txt
texts=()
if [ -f "$corpus" ]; then texts+=("seed:$corpus"); else echo "note: $corpus absent, seed text skipped"; corpus=""; fi
/usr/bin/python3 bench/gen_mixed_text.py "$tmp/mixed.txt" 10000000 ${corpus:+"$corpus"}
texts+=("mixed:$tmp/mixed.txt")

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
echo "tokenizer bench: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "node $(node --version), tiktoken $(node -p "require('./node_modules/tiktoken/package.json').version"), teelm $("$bin" --version | cut -d' ' -f2)"
echo
echo "| encoding | text | MB | tokens | npm tiktoken MB/s | teelm MB/s | ratio |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
status=0
for enc in cl100k_base o200k_base; do
  for t in "${texts[@]}"; do
    name=${t%%:*} file=${t#*:}
    r=$repeat
    [ "$name" = mixed ] && r=$(( repeat > 3 ? 3 : repeat ))
    abs=$(realpath "$file")
    ref=$(cd bench && node tiktoken_bench.js "$enc" "$abs" "$r")
    mine=$(OMP_NUM_THREADS=1 "$bin" tokenize --tokenizer "node_modules/tiktoken/encoders/$enc.json" --input "$file" --bench --repeat "$r")
    rt=$(echo "$ref" | field tokens) mt=$(echo "$mine" | field tokens)
    rs=$(echo "$ref" | field mb_per_s) ms=$(echo "$mine" | field mb_per_s)
    bytes=$(echo "$mine" | field bytes)
    if [ "$rt" != "$mt" ]; then echo "tokenizer bench: $enc $name: token counts differ (tiktoken $rt, teelm $mt)"; status=1; fi
    ratio=$(awk -v a="$ms" -v b="$rs" 'BEGIN { printf "%.1f", a / b }')
    awk -v x="$ratio" 'BEGIN { exit !(x < 2) }' && status=1
    printf '| %s | %s | %.1f | %s | %.2f | %.2f | %s× |\n' "$enc" "$name" "$(awk -v b="$bytes" 'BEGIN { print b / 1e6 }')" "$mt" "$rs" "$ms" "$ratio"
  done
done
exit $status
