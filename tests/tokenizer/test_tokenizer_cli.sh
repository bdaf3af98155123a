#!/usr/bin/env bash
# teelm tokenize / detokenize / tokenizer train from the command line: ids equal npm tiktoken's,
# round trips, --count, --allow-special, --model DIR, the impostor warning and error exits.
set -u
bin=${TEELM_BIN:?}
src=${TEELM_SRC:?}
shared=${TEELM_SHARED:-../shared}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0; pass=0
ok() { pass=$((pass+1)); }
bad() { echo "FAIL: $*"; fail=$((fail+1)); }
check() { if "$@"; then ok; else bad "$*"; fi; }

stress=$src/tests/tokenizer/data/unicode_stress.txt
tok=$shared/data/cl100k_base.tiktoken
[ -f "$tok" ] || tok=$src/node_modules/tiktoken/encoders/cl100k_base.json
# shellcheck source=tests/util/skip.sh
. "$src/tests/util/skip.sh"
[ -f "$tok" ] || skip "no cl100k_base file in ../shared or node_modules (scripts/install-deps.sh)"
o200k=$src/node_modules/tiktoken/encoders/o200k_base.json

# ids of the stress text, compared with npm tiktoken when node is here
"$bin" tokenize --tokenizer "$tok" --input "$stress" >"$tmp/ids" 2>"$tmp/err"; check [ $? -eq 0 ]
check [ "$(wc -l <"$tmp/ids")" -eq 1 ]
if command -v node >/dev/null && [ -d "$src/node_modules/tiktoken" ]; then
  printf 'F cl100k_base %s\nF o200k_base %s\n' "$stress" "$stress" |
    (cd "$src/tests/reference" && node tiktoken_encode.js) >"$tmp/ref"
  check [ "$(sed -n 1p "$tmp/ref")" = "$(cat "$tmp/ids")" ]
  "$bin" tokenize --tokenizer "$o200k" <"$stress" >"$tmp/ids2"
  check [ "$(sed -n 2p "$tmp/ref")" = "$(cat "$tmp/ids2")" ]
  # invalid UTF-8 on stdin: U+FFFD repair, same as tiktoken on Buffer.toString
  printf 'ok \xff\xfe bad \xed\xa0\x80 end\xe2\x82' >"$tmp/bad.txt"
  printf 'E cl100k_base 0 %s\n' "$(base64 -w0 "$tmp/bad.txt")" | (cd "$src/tests/reference" && node tiktoken_encode.js) >"$tmp/badref"
  check [ "$("$bin" tokenize --tokenizer "$tok" <"$tmp/bad.txt")" = "$(cat "$tmp/badref")" ]
else
  echo "note: node/tiktoken absent, reference comparison skipped"
fi

# round trip, --count
"$bin" detokenize --tokenizer "$tok" --input "$tmp/ids" >"$tmp/back"; check [ $? -eq 0 ]
check cmp -s "$tmp/back" "$stress"
check [ "$("$bin" tokenize --tokenizer "$tok" --input "$stress" --count)" -eq "$(wc -w <"$tmp/ids")" ]
check [ "$(printf '' | "$bin" tokenize --tokenizer "$tok" --count)" -eq 0 ]
check [ "$(printf '' | "$bin" detokenize --tokenizer "$tok" | wc -c)" -eq 0 ]

# special tokens
printf 'a<|endoftext|>b' >"$tmp/sp.txt"
"$bin" tokenize --tokenizer "$tok" --input "$tmp/sp.txt" >"$tmp/out" 2>"$tmp/err"; check [ $? -eq 1 ]
check grep -q "special token <|endoftext|>" "$tmp/err"
check [ "$(wc -l <"$tmp/err")" -eq 1 ]
check [ ! -s "$tmp/out" ]
check [ "$("$bin" tokenize --tokenizer "$tok" --input "$tmp/sp.txt" --allow-special)" = "64 100257 65" ]
check [ "$(echo 64 100257 65 | "$bin" detokenize --tokenizer "$tok")" = "a<|endoftext|>b" ]

# --model DIR
mkdir "$tmp/model" && cp "$tok" "$tmp/model/tokenizer.${tok##*.}"
check [ "$("$bin" tokenize --model "$tmp/model" --input "$stress")" = "$(cat "$tmp/ids")" ]
"$bin" tokenize --model "$tmp" --input "$stress" >/dev/null 2>"$tmp/err"; check [ $? -eq 1 ]
check grep -q "tokenizer.tiktoken" "$tmp/err"

# usage and file errors
"$bin" tokenize --input "$stress" >/dev/null 2>"$tmp/err"; check [ $? -eq 2 ]
"$bin" tokenize --tokenizer "$tok" --model "$tmp/model" >/dev/null 2>"$tmp/err"; check [ $? -eq 2 ]
"$bin" tokenize --tokenizer "$tmp/nope.tiktoken" </dev/null >/dev/null 2>"$tmp/err"; check [ $? -eq 1 ]
check grep -q "nope.tiktoken" "$tmp/err"
printf 'QQ== 0\nQg==\n' >"$tmp/broken.tiktoken"
"$bin" tokenize --tokenizer "$tmp/broken.tiktoken" </dev/null >/dev/null 2>"$tmp/err"; check [ $? -eq 1 ]
check grep -q "broken.tiktoken: line 2" "$tmp/err"
"$bin" tokenize --tokenizer "$tok" --pattern nope </dev/null >/dev/null 2>"$tmp/err"; check [ $? -eq 1 ]
check grep -q "unknown pattern 'nope'" "$tmp/err"
echo "1 2 x" | "$bin" detokenize --tokenizer "$tok" >/dev/null 2>"$tmp/err"; check [ $? -eq 1 ]
check grep -q "item 3" "$tmp/err"
echo "1 4000000000" | "$bin" detokenize --tokenizer "$tok" >"$tmp/out" 2>"$tmp/err"; check [ $? -eq 1 ]
check [ ! -s "$tmp/out" ]
echo "99999999999" | "$bin" detokenize --tokenizer "$tok" >/dev/null 2>"$tmp/err"; check [ $? -eq 1 ]

# training, then the trained file through the same commands; an impostor name warns
corpus=$shared/data/sales_textbook.txt
[ -f "$corpus" ] || corpus=$stress
"$bin" tokenizer train --vocab 500 --out "$tmp/mine.tiktoken" "$corpus" 2>"$tmp/err"; check [ $? -eq 0 ]
check grep -q "500 tokens" "$tmp/err"
check [ "$(wc -l <"$tmp/mine.tiktoken")" -eq 500 ]
"$bin" tokenize --tokenizer "$tmp/mine.tiktoken" --input "$corpus" | "$bin" detokenize --tokenizer "$tmp/mine.tiktoken" >"$tmp/back2"
check cmp -s "$tmp/back2" "$corpus"
check [ "$("$bin" tokenize --tokenizer "$tmp/mine.tiktoken" --input "$corpus" --count)" -lt "$(wc -c <"$corpus")" ]
cp "$tmp/mine.tiktoken" "$tmp/cl100k_base.tiktoken"
"$bin" tokenize --tokenizer "$tmp/cl100k_base.tiktoken" --input "$stress" --count >/dev/null 2>"$tmp/err"; check [ $? -eq 0 ]
check grep -q "warning: .*cl100k_base.tiktoken.*SHA-256" "$tmp/err"
"$bin" tokenizer train --vocab 300 --pattern o200k --out "$tmp/o.tiktoken" "$corpus" 2>"$tmp/err"; check [ $? -eq 0 ]
check grep -q -- "--pattern o200k" "$tmp/err"
"$bin" tokenizer train --vocab 300 "$corpus" >/dev/null 2>&1; check [ $? -eq 2 ]
"$bin" tokenizer train --vocab 300 --out "$tmp/x.tiktoken" "$tmp/missing.txt" 2>"$tmp/err"; check [ $? -eq 1 ]
check grep -q "missing.txt" "$tmp/err"
check [ ! -e "$tmp/x.tiktoken" ]

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
