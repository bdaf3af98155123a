#!/usr/bin/env bash
# teelm's Hugging Face loader and engine against tests/reference/hf_models.py (CTest test_hf_generate):
#   1. a matrix of random-weight models (Llama GQA 1/2/4, tied/untied, odd vocabularies, head_dim
#      != d/H, rope llama3 and linear, attention_bias, Mistral, Qwen2, GPT-2 with and without the
#      transformer. prefix, F32/F16/BF16, single-file and sharded): 64 greedy tokens from
#      `teelm generate --temperature 0 --ids` must equal the reference's (EOS honoured on both sides);
#      the same through the sealed model (full or --split) opened with its key file;
#      the sanitizer build runs the first four (the reference's PyTorch dominates the time);
#   2. every make_hf_model.py --hostile mode: teelm must exit 1 (not crash: no signal, no ASan
#      report) with a message naming the field or tensor involved.
# Per-position logits (1e-4 relative) are checked by tests/model/test_lm_hf against the same reference.
# Environment: TEELM_BIN, TEELM_PYTHON (default /usr/bin/python3), TEELM_SANITIZE.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${TEELM_BIN:-$here/../../build/teelm}
py=${TEELM_PYTHON:-/usr/bin/python3}
# shellcheck source=tests/util/skip.sh
. "$here/../util/skip.sh"
"$py" -c "import torch, numpy" 2>/dev/null || skip "$py has no torch/numpy (Debian python3-torch)"
[ -x "$bin" ] || { echo "FAIL: $bin is absent"; exit 1; }
tmp=$(mktemp -d /tmp/teelm-hfcheck.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mk="$py $here/make_hf_model.py"
ref="$py $here/hf_models.py"

fail=0
prompt=3,17,5,96,42,7,11,64
# The matrix is read once; the models and the references are made in one Python process each (a
# process per model spent most of this test importing torch), then teelm runs model by model.
names=()
n=0
while read -r name args; do
  [ -z "$name" ] && continue
  n=$((n + 1))
  [ "${TEELM_SANITIZE:-0}" = 1 ] && [ "$n" -gt 4 ] && continue
  names[n]=$name
  echo "$tmp/m$n $args --seed $n" >>"$tmp/make.txt"
  echo "generate $tmp/m$n --ids $prompt --new 64 --out $tmp/ref$n.json" >>"$tmp/ref.txt"
done <<'MATRIX'
llama-mha-tied-oddvocab     --family llama --d 64 --heads 4 --kv-heads 4 --vocab 1001
llama-gqa2-untied           --family llama --d 96 --heads 6 --kv-heads 3 --vocab 777 --untied --layers 3
llama-gqa4-headdim          --family llama --d 80 --heads 8 --kv-heads 2 --head-dim 16 --vocab 613
llama-llama3-rope           --family llama --d 64 --heads 4 --kv-heads 1 --vocab 509 --rope-scaling llama3:8,1,4,64 --rope-theta 500000
llama-linear-rope-bias      --family llama --d 64 --heads 4 --kv-heads 2 --vocab 333 --rope-scaling linear:4 --attention-bias
llama-bf16-sharded          --family llama --d 64 --heads 4 --kv-heads 2 --vocab 1000 --dtype BF16 --shards 3
llama-f16                   --family llama --d 64 --heads 4 --kv-heads 2 --vocab 257 --dtype F16
mistral-untied              --family mistral --d 64 --heads 8 --kv-heads 2 --vocab 1003 --untied
qwen2-tied                  --family qwen2 --d 64 --heads 4 --kv-heads 2 --vocab 1001
qwen2-untied-bf16-sharded   --family qwen2 --d 96 --heads 6 --kv-heads 2 --vocab 791 --untied --dtype BF16 --shards 2
gpt2-bare                   --family gpt2 --d 64 --heads 4 --vocab 1001 --ctx 128
gpt2-prefix-buffers-f16     --family gpt2 --d 96 --heads 3 --vocab 503 --ctx 128 --gpt2-prefix --gpt2-buffers --dtype F16
MATRIX

$mk --batch "$tmp/make.txt" >/dev/null || echo "make_hf_model --batch: a line failed (its model FAILs below)"
$ref batch "$tmp/ref.txt" || echo "hf_models.py batch: a line failed (its model FAILs below)"
for n in "${!names[@]}"; do
  name=${names[n]}
  d="$tmp/m$n"
  [ -f "$d/config.json" ] || { echo "FAIL $name: make_hf_model"; fail=1; continue; }
  [ -f "$tmp/ref$n.json" ] || { echo "FAIL $name: reference"; fail=1; continue; }
  want=$("$py" -c "import json,sys; print(' '.join(map(str, [3,17,5,96,42,7,11,64] + json.load(open(sys.argv[1]))['tokens'])))" \
    "$tmp/ref$n.json")
  got=$("$bin" generate --model "$d" --prompt-ids "$prompt" --ids --max-tokens 64 --temperature 0 \
    --threads 2 2>"$tmp/err" | xargs)
  # the same model sealed (full, or split for every other entry) and opened with its key file
  split=""; [ $((n % 2)) = 0 ] && split=--split
  sealed=""
  if "$bin" seal --model "$d" --out "$d.sealed" $split --key-out "$d.key" >/dev/null 2>"$tmp/err"; then
    sealed=$("$bin" generate --model "$d.sealed" --key-file "$d.key" --prompt-ids "$prompt" --ids --max-tokens 64 \
      --temperature 0 --threads 2 2>>"$tmp/err" | xargs)
  fi
  if [ "$got" = "$want" ] && [ "$sealed" = "$want" ]; then
    echo "ok   $name: 64 greedy tokens identical (plaintext and sealed${split:+ split})"
  elif [ "$got" = "$want" ]; then
    echo "FAIL $name: sealed${split:+ split} model gives other tokens: $sealed"
    sed 's/^/  /' "$tmp/err" | head -3
    fail=1
  else
    echo "FAIL $name: greedy tokens differ (reference's smallest top-1/top-2 logit margin:" \
      "$("$py" -c "import json,sys; print(json.load(open(sys.argv[1]))['min_margin'])" "$tmp/ref$n.json"))"
    echo "  reference: $want"; echo "  teelm:     $got"
    sed 's/^/  /' "$tmp/err" | head -3
    fail=1
  fi
done

# mode, family, a fragment (grep -E, case-insensitive) the message must contain
hostile=()
while read -r mode fam frag; do
  [ -z "$mode" ] && continue
  hostile+=("$mode $fam $frag")
  echo "$tmp/h-$mode-$fam/model --family $fam --d 32 --heads 4 --kv-heads 2 --vocab 97 --ctx 64 --hostile $mode" \
    >>"$tmp/hmake.txt"
done <<'HOSTILE'
missing-tensor   llama  up_proj
missing-lm-head  llama  lm_head
extra-tensor     llama  extra_proj
extra-layer      llama  layers\.1|num_hidden_layers
wrong-shape      llama  q_proj
config-vocab     llama  embed_tokens|vocab_size
config-kv-heads  llama  k_proj|num_key_value_heads
huge-dim         llama  hidden_size
huge-product     llama  parameters|vocab_size|hidden_size
shard-escape     llama  escape
shard-absolute   llama  abs\.safetensors
shard-missing    llama  model-00003-of-00002
shard-duplicate  llama  embed_tokens
index-mismatch   llama  embed_tokens
dtype-mismatch   llama  torch_dtype|dtype
truncated        llama  truncat|short|offset
unknown-arch     llama  FalconForCausalLM
sliding-window   mistral sliding_window
sliding-window   qwen2  sliding_window
rope-type        llama  yarn
gqa-indivisible  llama  num_key_value_heads
eos-range        llama  eos_token_id
missing-tensor   gpt2   c_fc
wrong-shape      gpt2   c_attn
HOSTILE

$mk --batch "$tmp/hmake.txt" >/dev/null || echo "make_hf_model --batch: a hostile line failed"
for h in "${hostile[@]}"; do
  read -r mode fam frag <<<"$h"
  d="$tmp/h-$mode-$fam/model"
  "$bin" generate --model "$d" --prompt-ids 1,2 --ids --max-tokens 2 --temperature 0 >/dev/null 2>"$tmp/err"
  rc=$?
  if [ "$rc" = 1 ] && grep -qiE "$frag" "$tmp/err" && ! grep -q "Sanitizer" "$tmp/err"; then
    echo "ok   hostile $mode: $(head -1 "$tmp/err")"
  else
    echo "FAIL hostile $mode: exit $rc, message: $(head -1 "$tmp/err") (want /$frag/)"
    fail=1
  fi
done
exit $fail
