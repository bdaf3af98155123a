#!/usr/bin/env bash
# teelm import against PyTorch: the prototype's eight published block files and a seed-config model
# saved both ways the prototype saves it (model.pth and per-layer files) import to safetensors whose
# tensors equal what torch.load reads, bit for bit (checked by tests/reference/weights_ref.py, which
# parses the safetensors itself). Export converts between layouts without changing a bit, and
# inspect's checksums agree across .pth, full and split layouts.
set -u
bin=${TEELM_BIN:?}
py=${TEELM_PYTHON:-/usr/bin/python3}
ref=${TEELM_SRC:?}/tests/reference/weights_ref.py
seed=${TEELM_SHARED:-../shared}/fixtures/seed_pth
# shellcheck source=tests/util/skip.sh
. "${TEELM_SRC:?}/tests/util/skip.sh"
"$py" -c 'import torch' 2>/dev/null || skip "$py has no torch (scripts/install-deps.sh installs python3-torch)"
[ -d "$seed" ] || skip_shared "the prototype's checkpoints $seed are absent"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if "$@"; then :; else echo "FAIL: $*"; fail=$((fail+1)); fi; }
total() { "$bin" inspect "$1" | sed -n 's/^total sha256: //p'; }

# 1. the eight real block files: a partial model, split files with the same keys, bit-exact
check "$bin" import "$seed" --out "$tmp/seed" 2>"$tmp/err"
grep -q "warning: the model is incomplete" "$tmp/err" || { echo "FAIL: no incomplete warning"; cat "$tmp/err"; fail=$((fail+1)); }
grep -q "lacks token_embedding, final_linear" "$tmp/err" || { echo "FAIL: warning does not name the missing parts"; fail=$((fail+1)); }
check test "$(find "$tmp/seed" -name 'transformer_block_*.safetensors' | wc -l)" -eq 8
check test ! -e "$tmp/seed/model.safetensors"
check "$py" "$ref" compare "$seed" "$tmp/seed"
check test "$(total "$seed")" = "$(total "$tmp/seed")"
# one file at a time gives the same file
check "$bin" import "$seed/transformer_block_3.pth" --out "$tmp/one" 2>/dev/null
check "$py" "$ref" compare "$seed/transformer_block_3.pth" "$tmp/one/transformer_block_3.safetensors"
# a partial model cannot be loaded: the error names what is missing
"$bin" export --model "$tmp/seed" --out "$tmp/x" 2>"$tmp/err"
check test $? -eq 1
grep -q "token_embedding_table.weight is missing" "$tmp/err" || { echo "FAIL: load of partial model:"; cat "$tmp/err"; fail=$((fail+1)); }

# 2. a seed-config model saved the prototype's two ways
check "$py" "$ref" make-model "$tmp/m" --vocab 1000
check "$bin" import "$tmp/m/full/model.pth" --out "$tmp/full" 2>"$tmp/err"
grep -q "config inferred from tensor shapes: vocab_size=1000 d_model=64 n_layer=8 n_head=4 d_ff=256 context_length=16" "$tmp/err" ||
  { echo "FAIL: inferred config not reported"; cat "$tmp/err"; fail=$((fail+1)); }
check "$bin" import "$tmp/m/split" --out "$tmp/split" --split 2>/dev/null
check "$py" "$ref" compare "$tmp/m/full/model.pth" "$tmp/full"
check "$py" "$ref" compare "$tmp/m/split" "$tmp/split"
check test -e "$tmp/full/model.safetensors"
check test -e "$tmp/split/transformer_block_7.safetensors"
check test -e "$tmp/split/token_embedding.safetensors"
check test -e "$tmp/split/final_linear.safetensors"
t=$(total "$tmp/m/full/model.pth")
check test -n "$t"
for x in "$tmp/m/split" "$tmp/full" "$tmp/split" "$tmp/full/model.safetensors"; do
  check test "$(total "$x")" = "$t"
done
# a .pth file loads directly (same reader interface as import), with the same weights
check "$bin" export --model "$tmp/m/full/model.pth" --out "$tmp/direct" >/dev/null 2>"$tmp/err"
grep -q "config inferred from tensor shapes: vocab_size=1000" "$tmp/err" || { echo "FAIL: direct .pth load:"; cat "$tmp/err"; fail=$((fail+1)); }
check test "$(total "$tmp/direct")" = "$t"
# the config was inferred once and is now in the metadata
"$bin" inspect "$tmp/full" | grep -q '^config (metadata): {"vocab_size":1000,' || { echo "FAIL: config not stored"; fail=$((fail+1)); }

# 3. export: full -> split -> full -> both, bit-exact against the original .pth each time
check "$bin" export --model "$tmp/full" --out "$tmp/e1" --layout split >/dev/null
check test ! -e "$tmp/e1/model.safetensors"
check "$py" "$ref" compare "$tmp/m/split" "$tmp/e1"
check "$bin" export --model "$tmp/e1" --out "$tmp/e2" --layout full >/dev/null
check "$py" "$ref" compare "$tmp/m/full/model.pth" "$tmp/e2/model.safetensors"
check "$bin" export --model "$tmp/e2/model.safetensors" --out "$tmp/e3" --layout both >/dev/null
check test -e "$tmp/e3/model.safetensors"
check test -e "$tmp/e3/transformer_block_0.safetensors"
for x in "$tmp/e1" "$tmp/e2" "$tmp/e3"; do check test "$(total "$x")" = "$t"; done
# the tokenizer travels with an export
echo "dGVzdA== 0" >"$tmp/e2/tokenizer.tiktoken"
check "$bin" export --model "$tmp/e2" --out "$tmp/e4" >/dev/null
check cmp "$tmp/e2/tokenizer.tiktoken" "$tmp/e4/tokenizer.tiktoken"

# 4. inspect --json is JSON with the same total
"$bin" inspect --json "$tmp/split" >"$tmp/j.json"
check "$py" -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['total_sha256']==sys.argv[2] and d['config_source']=='metadata' and len(d['tensors'])==211, d['total_sha256']" "$tmp/j.json" "$t"

# 5. usage errors
"$bin" import "$seed" 2>/dev/null; check test $? -eq 2
"$bin" export --model "$tmp/full" --out "$tmp/e5" --layout diagonal 2>/dev/null; check test $? -eq 2
"$bin" inspect "$tmp/nonexistent" 2>/dev/null; check test $? -eq 1

echo "$fail failed"
[ "$fail" -eq 0 ]
