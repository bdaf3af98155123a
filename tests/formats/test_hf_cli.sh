#!/usr/bin/env bash
# teelm inspect / import / export on Hugging Face model directories, against the PyTorch reference
# (tests/reference/hf_models.py; tests/formats/hf_sums.py prints the float32 values it reads):
#   inspect reports the architecture, dimensions, dtypes, parameter count and files, and its total
#     checksum is the same for the single-file, sharded, prefixed and unprefixed forms;
#   import writes one normalized model.safetensors (+ config.json, generation_config.json, the
#     tokenizer files copied byte for byte) that the reference reads to the same values;
#   export --dtype/--shards writes what torch's rounding gives (hf_sums.py --as), and the reference
#     loads it; hostile directories make every command exit 1 naming the problem.
set -u
bin=${TEELM_BIN:?}
py=${TEELM_PYTHON:-/usr/bin/python3}
src=${TEELM_SRC:?}
# shellcheck source=tests/util/skip.sh
. "$src/tests/util/skip.sh"
"$py" -c 'import torch' 2>/dev/null || skip "$py has no torch (scripts/install-deps.sh installs python3-torch)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if "$@"; then :; else echo "FAIL: $*"; fail=$((fail+1)); fi; }
mk() { "$py" "$src/tests/reference/make_hf_model.py" "$@"; }
sums() { "$py" "$src/tests/formats/hf_sums.py" "$@"; }
# shellcheck disable=SC2317  # called through check()
refcheck() { "$py" "$src/tests/reference/hf_models.py" check "$@"; }
total() { "$bin" inspect "$1" | sed -n 's/^total sha256: //p'; }

# a Llama with GQA and an untied head, BF16, sharded, with tokenizer files beside it
mk "$tmp/l" --family llama --d 64 --heads 4 --kv-heads 2 --vocab 301 --untied --dtype BF16 --shards 3 --eos 2,7 >/dev/null
printf '{"model": {"type": "BPE"}}' >"$tmp/l/tokenizer.json"
printf '{"add_bos_token": true}' >"$tmp/l/tokenizer_config.json"
"$bin" inspect "$tmp/l" >"$tmp/insp" 2>&1 || { echo "FAIL: inspect"; cat "$tmp/insp"; fail=$((fail+1)); }
for want in "Hugging Face model: LlamaForCausalLM" "vocab 301, d 64, layers 2, heads 4, kv heads 2, head_dim 16" \
            "untied head" "dtypes      BF16 21 (config.json torch_dtype bfloat16)" \
            "files       3 shards (model.safetensors.index.json)" "eos ids     2 7"; do
  grep -qF "$want" "$tmp/insp" || { echo "FAIL: inspect lacks '$want'"; cat "$tmp/insp"; fail=$((fail+1)); }
done
# the parameter count is the reference's (sum of its expected shapes)
want=$("$py" -c "
import sys; sys.path.insert(0, '$src/tests/reference'); import hf_models as H, math
s, _, w = H.load_dir('$tmp/l'); print(sum(math.prod(v) for v in H.expected_tensors(s).values()))")
grep -q "parameters  $want\$" "$tmp/insp" || { echo "FAIL: parameter count, reference $want"; grep parameters "$tmp/insp"; fail=$((fail+1)); }
"$bin" inspect "$tmp/l" --json >"$tmp/insp.json" || { echo "FAIL: inspect --json"; fail=$((fail+1)); }
check "$py" -c "
import json,sys; r=json.load(open('$tmp/insp.json')); h=r['hugging_face']
assert h['architecture']=='LlamaForCausalLM' and h['parameters']==$want and h['files']==3 and h['sharded'], h
assert len(r['tensors'])==21 and all(t['dtype']=='BF16' for t in r['tensors'])"

# import: one normalized file, same values, tokenizer files copied
check "$bin" import "$tmp/l" --out "$tmp/imp" >/dev/null
check test -f "$tmp/imp/model.safetensors"
check test ! -e "$tmp/imp/model.safetensors.index.json"
check cmp -s "$tmp/l/tokenizer.json" "$tmp/imp/tokenizer.json"
check cmp -s "$tmp/l/tokenizer_config.json" "$tmp/imp/tokenizer_config.json"
check cmp -s "$tmp/l/generation_config.json" "$tmp/imp/generation_config.json"
check refcheck "$tmp/imp" >/dev/null
sums "$tmp/l" >"$tmp/a.sums"; sums "$tmp/imp" >"$tmp/b.sums"
check cmp -s "$tmp/a.sums" "$tmp/b.sums"
check test "$(total "$tmp/l")" = "$(total "$tmp/imp")"
# logits of the reference on the original and on the import are identical
$py "$src/tests/reference/hf_models.py" logits "$tmp/l" --ids 1,5,9,300 --out "$tmp/la" >/dev/null
$py "$src/tests/reference/hf_models.py" logits "$tmp/imp" --ids 1,5,9,300 --out "$tmp/lb" >/dev/null
check cmp -s "$tmp/la.bin" "$tmp/lb.bin"

# export: dtype conversion and shards, as torch rounds
for dt in F16 F32; do
  check "$bin" export --model "$tmp/l" --out "$tmp/e$dt" --dtype $dt --shards 2 >/dev/null
  check refcheck "$tmp/e$dt" >/dev/null
  sums "$tmp/l" --as $dt >"$tmp/want.sums"; sums "$tmp/e$dt" >"$tmp/got.sums"
  check cmp -s "$tmp/want.sums" "$tmp/got.sums"
done
"$bin" inspect "$tmp/eF16" | grep -qF "F16 21 (config.json torch_dtype float16)" || { echo "FAIL: export F16 dtype"; fail=$((fail+1)); }
shards=("$tmp"/eF16/model-0000[12]-of-00002.safetensors)
check test "${#shards[@]}" -eq 2 -a -f "${shards[1]}"

# GPT-2: the prefixed form with its buffers imports to the bare form, same checksum
mk "$tmp/g" --family gpt2 --d 48 --heads 3 --vocab 211 --ctx 64 --gpt2-prefix --gpt2-buffers --dtype F16 >/dev/null
mk "$tmp/gb" --family gpt2 --d 48 --heads 3 --vocab 211 --ctx 64 --dtype F16 >/dev/null
check test "$(total "$tmp/g")" = "$(total "$tmp/gb")"
"$bin" inspect "$tmp/g" | grep -q "ignored     4 buffers" || { echo "FAIL: GPT-2 buffers not reported"; fail=$((fail+1)); }
check "$bin" import "$tmp/g" --out "$tmp/gi" >/dev/null
check test "$(total "$tmp/gi")" = "$(total "$tmp/g")"
check refcheck "$tmp/gi" >/dev/null
"$py" -c "
import json,struct,sys; f=open('$tmp/gi/model.safetensors','rb'); n=struct.unpack('<Q',f.read(8))[0]; h=json.loads(f.read(n))
sys.exit(any(k.startswith('transformer.') or k.endswith('.attn.bias') or k.endswith('.masked_bias') for k in h))" || { echo "FAIL: import kept prefix/buffers"; fail=$((fail+1)); }

# usage errors and hostile directories: exit codes and messages
"$bin" export --model "$tmp/l" --out "$tmp/x" --layout split 2>"$tmp/err"; check test $? -eq 2
"$bin" export --model "$tmp/l" --out "$tmp/x" --dtype F8 2>"$tmp/err"; check test $? -eq 2
mk "$tmp/h/model" --family llama --d 32 --heads 4 --kv-heads 2 --vocab 97 --hostile shard-escape >/dev/null
for cmd in "inspect $tmp/h/model" "import $tmp/h/model --out $tmp/x" "export --model $tmp/h/model --out $tmp/x"; do
  # shellcheck disable=SC2086
  "$bin" $cmd >/dev/null 2>"$tmp/err"; rc=$?
  if [ $rc -ne 1 ] || ! grep -qF "shard '../escape.safetensors' is not a plain .safetensors file name" "$tmp/err"; then
    echo "FAIL: $cmd: exit $rc: $(cat "$tmp/err")"; fail=$((fail+1))
  fi
done
check test ! -e "$tmp/x"
[ $fail -eq 0 ] && echo "test_hf_cli: all checks passed"
exit $((fail > 0))
